// What the npm package ships points only at what it ships (issue 19 item 8). Cheap: the file list
// is `npm pack --dry-run --json --ignore-scripts` (nothing is built or installed). Checked:
//   - the package ships README.md, LICENSE (MIT, the copyright line), CHANGELOG.md and docs/*.md,
//     and its metadata (repository, homepage, bugs, keywords, author, license) is filled in;
//   - every relative link of every shipped markdown file (inline, image, reference definition,
//     HTML href/src) resolves to a file (or a directory holding files) in the package, and a
//     #fragment on a link to a shipped markdown file names one of its headings (GitHub's anchors).
import { readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { runChild } from './helpers/child.js';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Paths (relative, '/'-separated) of the files `npm pack` would put in the tarball. */
async function packedFiles(): Promise<string[]> {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('npm_')) delete env[k];
  const r = await runChild('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, env, timeout: 120_000 });
  expect(r.status, r.stderr).toBe(0);
  const out = JSON.parse(r.stdout) as { files: { path: string }[] }[];
  return out[0]!.files.map((f) => f.path);
}

/** Relative link targets of a markdown text (code blocks and code spans excluded), with their line. */
export function links(md: string): { target: string; line: number }[] {
  const out: { target: string; line: number }[] = [];
  const text = md.replace(/```[\s\S]*?```/g, (b) => b.replace(/[^\n]/g, ' ')).replace(/`[^`\n]*`/g, (c) => ' '.repeat(c.length));
  const add = (target: string, index: number): void => {
    const t = target.trim().replace(/^<(.*)>$/, '$1');
    if (t === '' || /^[a-z][a-z0-9+.-]*:/i.test(t) || t.startsWith('//')) return; // absolute URL, mailto:, ...
    out.push({ target: t, line: text.slice(0, index).split('\n').length });
  };
  for (const m of text.matchAll(/!?\[[^\]]*\]\(\s*(<[^>]*>|[^\s)]+)(?:\s+"[^"]*")?\s*\)/g)) add(m[1]!, m.index!);
  for (const m of text.matchAll(/^\s{0,3}\[[^\]]+\]:\s*(\S+)/gm)) add(m[1]!, m.index!);
  for (const m of text.matchAll(/\b(?:href|src)\s*=\s*"([^"]*)"/g)) add(m[1]!, m.index!);
  return out;
}

/** GitHub's heading anchors of a markdown text (lowercase; punctuation dropped; spaces to '-'; -1, -2 for repeats). */
export function anchors(md: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  const text = md.replace(/```[\s\S]*?```/g, '');
  for (const m of text.matchAll(/^#{1,6}\s+(.*?)\s*#*\s*$/gm)) {
    const base = m[1]!.toLowerCase().replace(/<[^>]*>/g, '').replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

describe('the package ships what its documents link to', () => {
  let files: string[] = [];
  beforeAll(async () => { files = await packedFiles(); }, 120_000);

  it('ships README.md, LICENSE, CHANGELOG.md and docs/, with its metadata', () => {
    expect(files).toEqual(expect.arrayContaining(['README.md', 'LICENSE', 'CHANGELOG.md', 'package.json', 'docs/api.md', 'docs/piscina.md']));
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(pkg.license).toBe('MIT');
    expect(pkg.author).toBe('the sluice authors');
    expect(pkg.repository).toMatchObject({ type: 'git', url: expect.stringMatching(/^git\+https:\/\/.+\.git$/) });
    expect(pkg.homepage).toMatch(/^https:\/\//);
    expect(pkg.bugs).toMatchObject({ url: expect.stringMatching(/^https:\/\//) });
    expect((pkg.keywords as string[]).length).toBeGreaterThan(3);
    const license = readFileSync(join(root, 'LICENSE'), 'utf8');
    expect(license).toMatch(/^MIT License/);
    expect(license).toContain('Copyright (c) 2026 the sluice authors');
  });

  it('every relative link in the shipped markdown resolves inside the package', () => {
    const shipped = new Set(files);
    const isDir = (p: string): boolean => files.some((f) => f.startsWith(`${p.replace(/\/$/, '')}/`));
    const md = files.filter((f) => f.endsWith('.md'));
    expect(md.length).toBeGreaterThan(3);
    const broken: string[] = [];
    let checked = 0;
    for (const doc of md) {
      const text = readFileSync(join(root, doc), 'utf8');
      for (const { target, line } of links(text)) {
        checked++;
        const [pathPart, fragment] = target.split('#', 2) as [string, string | undefined];
        const path = pathPart.split('?')[0]!;
        const resolved = path === '' ? doc : normalize(join(dirname(doc), decodeURIComponent(path))).replace(/\\/g, '/');
        if (resolved.startsWith('..') || (!shipped.has(resolved) && !isDir(resolved))) {
          broken.push(`${doc}:${line}: ${target} (not in the package)`);
          continue;
        }
        if (fragment !== undefined && resolved.endsWith('.md') && !anchors(readFileSync(join(root, resolved), 'utf8')).has(fragment)) {
          broken.push(`${doc}:${line}: ${target} (no heading '#${fragment}' in ${resolved})`);
        }
      }
    }
    expect(checked).toBeGreaterThan(10);
    expect(broken).toEqual([]);
  });

  it('the link and anchor extraction finds what GitHub would', () => {
    const md = '# A `Title`: x.y()\n[a](docs/a.md) ![i](img/p.png "t") `[not](a link)`\n[r]: ./x.md#frag\n<a href="y.md">y</a> [w](https://e.org) [s](#a-title-xy)\n## A Title: x.y()\n';
    expect(links(md).map((l) => l.target)).toEqual(['docs/a.md', 'img/p.png', '#a-title-xy', './x.md#frag', 'y.md']);
    expect([...anchors(md)]).toEqual(['a-title-xy', 'a-title-xy-1']);
  });
});
