// Protocol steps: numbered once in docs/design.md, cited where implemented as `§4.1 step 5`
// (also `§4.1 steps 2-5`, `§4.1 steps 2 and 3`, `§4.4 step 2a`). Shared by test/citations.test.ts.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

/** Sections whose numbered lists are protocol steps: the substrate (§3) and the protocols (§4). */
const STEP_SECTIONS = /^### ([34]\.\d+[a-z]?)\b/;

/** Every numbered step of docs/design.md §3-§4, as "4.1.5" (section, step), with its line. */
export function documentedSteps(designMd: string): Map<string, number> {
  const steps = new Map<string, number>();
  let section: string | null = null;
  let inFence = false;
  designMd.split('\n').forEach((line, i) => {
    if (line.startsWith('```')) inFence = !inFence;
    if (inFence) return;
    if (line.startsWith('#')) {
      const m = STEP_SECTIONS.exec(line);
      section = m ? m[1]! : null;
      return;
    }
    if (section === null) return;
    const m = /^ {0,3}(\d+[a-z]?)\. \S/.exec(line);
    if (m) steps.set(`${section}.${m[1]}`, i + 1);
  });
  return steps;
}

export interface Citation { step: string; file: string; line: number; text: string }

/** Expand "2-5" / "2 and 3" / "2, 3" / "2a" into step labels. */
function expand(list: string): string[] {
  const out: string[] = [];
  for (const part of list.split(/\s*(?:,|and)\s*/)) {
    const r = /^(\d+)\s*[-–]\s*(\d+)$/.exec(part);
    if (r) for (let k = Number(r[1]); k <= Number(r[2]); k++) out.push(String(k));
    else if (/^\d+[a-z]?$/.test(part)) out.push(part);
  }
  return out;
}

const CITE = /§(\d+\.\d+[a-z]?) steps? ((?:\d+[a-z]?)(?:\s*(?:[-–]|,|and)\s*\d+[a-z]?)*)/g;

/** Each line of the TypeScript and JavaScript sources under `dirs`, with its file (relative to root) and number. */
function eachLine(root: string, dirs: readonly string[], fn: (text: string, file: string, line: number) => void): void {
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.(ts|mts|mjs|cjs)$/.test(name)) readFileSync(p, 'utf8').split('\n').forEach((text, i) => fn(text, relative(root, p), i + 1));
    }
  };
  for (const d of dirs) walk(join(root, d));
}

/** Every step citation in the files under `dirs` (TypeScript and JavaScript sources). */
export function citations(root: string, dirs: readonly string[]): Citation[] {
  const out: Citation[] = [];
  eachLine(root, dirs, (text, file, line) => {
    for (const m of text.matchAll(CITE)) for (const s of expand(m[2]!)) out.push({ step: `${m[1]}.${s}`, file, line, text: m[0] });
  });
  return out;
}

/** Section numbers of docs/design.md headings ("2", "2.0", "4.2a", ...). */
export function documentedSections(designMd: string): Set<string> {
  const out = new Set<string>();
  for (const line of designMd.split('\n')) {
    const m = /^#{2,4} (\d+(?:\.\d+[a-z]?)?)\.? /.exec(line);
    if (m) out.add(m[1]!);
  }
  return out;
}

/** Every `§N.M` section reference in the files (with or without a step), and every design.md reference written `design.md N.M`. */
export function sectionReferences(root: string, dirs: readonly string[]): Citation[] {
  const out: Citation[] = [];
  eachLine(root, dirs, (text, file, line) => {
    for (const m of text.matchAll(/(?:§|design\.md,? )(\d+\.\d+[a-z]?)\b/g)) out.push({ step: m[1]!, file, line, text: m[0] });
  });
  return out;
}

/** Every repository path docs/design.md names (`src/...`, `test/...`, `bench/...`). */
export function namedPaths(designMd: string): string[] {
  return [...new Set([...designMd.matchAll(/\b((?:src|test|bench)\/[\w./-]+\.(?:ts|mjs|md|rs))\b/g)].map((m) => m[1]!))];
}
