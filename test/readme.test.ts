// The code in README.md and docs/*.md compiles and runs as written (issue 19 item 8). Every fenced
// ```ts block is extracted into a scratch directory inside the repository (so `import … from
// 'sluice'` resolves, through a tsconfig `paths` entry, to src/index.ts, and node_modules is
// found), type-checked with the TypeScript compiler API (strict), and run when it is a program.
// The info string after `ts` says what a block is:
//   ```ts                  a complete program: type-checked, then run (tsx, in a child process);
//                          it must exit 0.
//   ```ts fragment         part of a program: type-checked as a module, after one line that
//                          declares the names such snippets use without defining them (rt,
//                          tenant, hash, payload) unless the block declares them itself. Not run.
//   ```ts file=NAME        a module the programs of that document use (e.g. file=tasks.ts, which a
//                          program loads as './tasks.js'): written as NAME, type-checked, and
//                          also emitted as JavaScript next to it.
//   ```<any> file=examples/PATH   must be exactly the repository's file examples/PATH (the doc
//                          shows the file that test/piscina-example.test.ts runs and tsc checks).
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { runChild } from './helpers/child.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const DOCS = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

interface Block { doc: string; line: number; lang: string; info: string[]; code: string }

/** Fenced blocks (fences at column 0) of a markdown file, with the line their code starts at. */
function blocks(doc: string): Block[] {
  const lines = readFileSync(join(root, doc), 'utf8').split('\n');
  const out: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*(.*)$/.exec(lines[i]!);
    if (!open) continue;
    let j = i + 1;
    while (j < lines.length && !/^```\s*$/.test(lines[j]!)) j++;
    out.push({ doc, line: i + 2, lang: open[1]!, info: open[2]!.split(/\s+/).filter(Boolean), code: lines.slice(i + 1, j).join('\n') + '\n' });
    i = j;
  }
  return out;
}

const fileOf = (b: Block): string | undefined => b.info.find((w) => w.startsWith('file='))?.slice(5);
const isTs = (b: Block): boolean => b.lang === 'ts' || b.lang === 'typescript';

/** Names a fragment may use without declaring them, and their types. */
const PRELUDE: Record<string, string> = {
  rt: 'import("sluice").Runtime', tenant: 'import("sluice").Producer', hash: 'import("sluice").TaskRef', payload: 'unknown',
};

/** Names a block declares at its top level (imports, variables, functions, classes). */
function declared(code: string): Set<string> {
  const sf = ts.createSourceFile('x.ts', code, ts.ScriptTarget.ES2022, true);
  const names = new Set<string>();
  const bind = (n: ts.BindingName): void => {
    if (ts.isIdentifier(n)) names.add(n.text);
    else for (const e of n.elements) if (!ts.isOmittedExpression(e)) bind(e.name);
  };
  for (const s of sf.statements) {
    if (ts.isVariableStatement(s)) for (const d of s.declarationList.declarations) bind(d.name);
    else if ((ts.isFunctionDeclaration(s) || ts.isClassDeclaration(s)) && s.name) names.add(s.name.text);
    else if (ts.isImportDeclaration(s) && s.importClause) {
      const c = s.importClause;
      if (c.name) names.add(c.name.text);
      const nb = c.namedBindings;
      if (nb && ts.isNamespaceImport(nb)) names.add(nb.name.text);
      else if (nb) for (const e of nb.elements) names.add(e.name.text);
    }
  }
  return names;
}

const scratch = mkdtempSync(join(root, '.docs-check-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const COMPILER: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, strict: true,
  lib: ['lib.es2022.d.ts', 'lib.es2024.sharedmemory.d.ts', 'lib.es2024.string.d.ts'], types: ['node'], skipLibCheck: true, noEmit: true,
  esModuleInterop: true, paths: { sluice: [join(root, 'src', 'index.ts')], 'sluice/observe': [join(root, 'src', 'observe', 'index.ts')] },
};

interface Prepared { dir: string; programs: { block: Block; file: string }[]; checked: { block: Block; file: string; offset: number }[] }

/** Writes a document's ts blocks into its own scratch directory. */
function prepare(doc: string): Prepared {
  const dir = join(scratch, doc.replace(/[^\w]/g, '_'));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module', private: true }));
  // tsx reads this (from the cwd) to map 'sluice' to the sources when a program runs.
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, paths: { sluice: [join(root, 'src', 'index.ts')], 'sluice/observe': [join(root, 'src', 'observe', 'index.ts')] } },
  }));
  const p: Prepared = { dir, programs: [], checked: [] };
  blocks(doc).filter(isTs).forEach((b, k) => {
    const name = fileOf(b);
    if (name?.startsWith('examples/')) return; // compared with the repository's file, below
    if (name !== undefined) {
      const file = join(dir, name);
      mkdirSync(join(file, '..'), { recursive: true });
      writeFileSync(file, b.code);
      writeFileSync(file.replace(/\.ts$/, '.js'), ts.transpileModule(b.code, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText);
      p.checked.push({ block: b, file, offset: 0 });
    } else if (b.info.includes('fragment')) {
      const own = declared(b.code);
      const prelude = Object.entries(PRELUDE).filter(([n]) => !own.has(n)).map(([n, t]) => `declare const ${n}: ${t};`).join(' ');
      const file = join(dir, `fragment-${k}.ts`);
      writeFileSync(file, `${prelude}\n${b.code}export {};\n`);
      p.checked.push({ block: b, file, offset: 1 });
    } else {
      const file = join(dir, `program-${k}.ts`);
      writeFileSync(file, b.code);
      p.checked.push({ block: b, file, offset: 0 });
      p.programs.push({ block: b, file });
    }
  });
  return p;
}

/** Type errors of the given files, each as "doc:line: message". */
function typeErrors(files: Prepared['checked']): string[] {
  const program = ts.createProgram(files.map((f) => f.file), COMPILER);
  const out: string[] = [];
  for (const f of files) {
    const sf = program.getSourceFile(f.file)!;
    for (const d of [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)]) {
      const line = d.start === undefined ? 0 : sf.getLineAndCharacterOfPosition(d.start).line - f.offset;
      out.push(`${f.block.doc}:${f.block.line + line}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
    }
  }
  return out;
}

const prepared = new Map(DOCS.map((d) => [d, prepare(d)]));

describe('the code blocks of README.md and docs/*.md', () => {
  it('there are blocks to check (README has programs and fragments)', () => {
    const readme = prepared.get('README.md')!;
    expect(readme.programs.length).toBeGreaterThan(0);
    expect(readme.checked.length).toBeGreaterThan(readme.programs.length);
  });

  it('every ts block type-checks (strict), against the sources', () => {
    const all = [...prepared.values()].flatMap((p) => p.checked);
    expect(typeErrors(all)).toEqual([]);
  });

  it('a type error in a block is caught and reported at its line in the document', () => {
    // The check itself: a block calling a method that does not exist fails, at the right line.
    const p = prepared.get('README.md')!;
    const f = p.checked[0]!;
    const bad = { ...f, file: join(p.dir, 'broken.ts') };
    writeFileSync(bad.file, `${readFileSync(f.file, 'utf8')}\n;(0 as unknown as import('sluice').Runtime).noSuchMethod();\n`);
    const errors = typeErrors([bad]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/noSuchMethod/);
    rmSync(bad.file);
  });

  it('every block marked file=examples/... is exactly that file of the repository', () => {
    const examples = DOCS.flatMap((d) => blocks(d)).filter((b) => fileOf(b)?.startsWith('examples/'));
    expect(examples.length).toBeGreaterThan(0);
    for (const b of examples) {
      const path = join(root, fileOf(b)!);
      expect(existsSync(path), `${b.doc}:${b.line}: ${fileOf(b)} does not exist`).toBe(true);
      expect(b.code, `${b.doc}:${b.line}: differs from ${fileOf(b)}`).toBe(readFileSync(path, 'utf8'));
    }
  });

  for (const [doc, p] of prepared) {
    for (const { block, file } of p.programs) {
      it(`the program at ${doc}:${block.line} runs and exits 0`, async () => {
        const r = await runChild(join(root, 'node_modules', '.bin', 'tsx'), [relative(p.dir, file)], { cwd: p.dir, timeout: 120_000 });
        expect(r.error).toBeUndefined();
        expect(r.status, `${doc}:${block.line}\n${r.stdout}\n${r.stderr}`).toBe(0);
      });
    }
  }
});
