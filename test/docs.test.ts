// docs/api.md is complete (issue 19 item 8): every name, option, stats field, event, error code and
// reject reason the code has is documented there. The expected lists are derived from the code,
// never written by hand, so whatever is added later fails this test until it is documented:
//   - the exports of src/index.ts (TypeScript compiler API), each under a heading of its own;
//   - for each exported class, interface and object type, its public members and properties
//     (recursively into anonymous object types, e.g. RuntimeStats.global), in its section;
//   - for each exported string-literal union (RejectReason, Outcome, TokenState, ProducerEvent,
//     Weight, SluiceErrorCode, ...), each literal, in its section;
//   - the reject reasons and outcomes from their tables at runtime (admission/reasons.ts, outcomes.ts);
//   - every error class in src/errors.ts, under a heading, with its `code` in its section;
//   - every option key the option parser reads (each snapshot(...) call's key list in src/);
//   - every SLUICE_* environment switch src/ and the shipped install script read;
//   - the defaults and bounds of each option (intOption/boolOption calls) in its table row;
//   - every command of package.json's `bin`, under a heading.
// "Documented" means: in a `code span` (whole identifier), and for sections, under the heading
// that names the export in a code span, up to the next heading of the same or a higher level.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { REJECT_REASONS } from '../src/admission/reasons.js';
import { OUTCOMES } from '../src/admission/outcomes.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const src = join(root, 'src');
const doc = readFileSync(join(root, 'docs', 'api.md'), 'utf8');

// ---------------------------------------------------------------------------------------------
// The document: headings, sections, code spans.
// ---------------------------------------------------------------------------------------------

interface Section { level: number; heading: string; body: string }

function sections(md: string): Section[] {
  const lines = md.replace(/```[\s\S]*?```/g, (b) => b.replace(/^#/gm, ' #')).split('\n');
  const heads: { level: number; heading: string; line: number }[] = [];
  lines.forEach((l, i) => {
    const m = /^(#{1,6})\s+(.*)$/.exec(l);
    if (m) heads.push({ level: m[1]!.length, heading: m[2]!, line: i });
  });
  return heads.map((h, k) => {
    let end = lines.length;
    for (let j = k + 1; j < heads.length; j++) if (heads[j]!.level <= h.level) { end = heads[j]!.line; break; }
    return { level: h.level, heading: h.heading, body: lines.slice(h.line, end).join('\n') };
  });
}

/** The text of every inline code span (and fenced block) of `md`. */
function codeSpans(md: string): string[] {
  const out: string[] = [];
  const rest = md.replace(/```[^\n]*\n([\s\S]*?)```/g, (_, body: string) => { out.push(body); return ''; });
  for (const m of rest.matchAll(/(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)/g)) out.push(m[2]!);
  return out;
}

const word = (name: string): RegExp => new RegExp(`(^|[^\\w$])${name.replace(/[$.*+?^()[\]{}|\\]/g, '\\$&')}($|[^\\w$])`);
const mentions = (md: string, name: string): boolean => codeSpans(md).some((c) => word(name).test(c));

/** The section of `md` whose heading has `name` as a code span of its own (e.g. "## `RuntimeStats`"). */
function sectionOf(md: string, name: string): Section | undefined {
  return sections(md).find((s) => codeSpans(s.heading).some((c) => c === name));
}

// ---------------------------------------------------------------------------------------------
// The code: a TypeScript program over every file of src/.
// ---------------------------------------------------------------------------------------------

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return tsFiles(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

const srcFiles = tsFiles(src);
const program = ts.createProgram(srcFiles, {
  target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, strict: true,
  lib: ['lib.es2022.d.ts', 'lib.es2024.sharedmemory.d.ts', 'lib.es2024.string.d.ts'], types: ['node'], noEmit: true, skipLibCheck: true,
});
const checker = program.getTypeChecker();
const inSrc = (d: ts.Node): boolean => !relative(src, d.getSourceFile().fileName).startsWith('..');
const isInternal = (d: ts.Node): boolean => ts.getJSDocTags(d).some((t) => t.tagName.text === 'internal')
  || /\/\*\*[^]*?@internal/.test(d.getFullText().slice(0, d.getLeadingTriviaWidth()));

const indexFile = program.getSourceFile(join(src, 'index.ts'))!;
const exported = checker.getExportsOfModule(checker.getSymbolAtLocation(indexFile)!).map((s) => ({
  name: s.getName(),
  sym: s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s,
}));

/** String literals of a union type (empty when it is not a union of string literals only). */
function literals(t: ts.Type): string[] {
  const parts = t.isUnion() ? t.types : [t];
  return parts.every((p) => p.isStringLiteral()) ? parts.map((p) => (p as ts.StringLiteralType).value) : [];
}

/** A member's name as a reader sees it: `[Symbol.asyncDispose]` for well-known symbols. */
function memberName(p: ts.Symbol): string | null {
  const n = p.getName();
  if (n.startsWith('__@')) return `Symbol.${n.slice(3).replace(/@\d+$/, '')}`;
  if (n.startsWith('_') || n.startsWith('#') || n === 'prototype') return null;
  return n;
}

/** Whether a member is part of the public surface: declared in src/, not private/protected, not @internal. */
function isPublic(p: ts.Symbol): boolean {
  const decls = p.getDeclarations() ?? [];
  if (decls.length === 0 || !decls.some(inSrc)) return false;
  return decls.every((d) => {
    if (isInternal(d)) return false;
    const flags = ts.getCombinedModifierFlags(d as ts.Declaration);
    if (flags & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) return false;
    if ((d as ts.NamedDeclaration).name && ts.isPrivateIdentifier((d as ts.NamedDeclaration).name!)) return false;
    return true;
  });
}

/** Public property names of `t`, and of the anonymous object types (declared in src/) it holds. */
function properties(t: ts.Type, seen = new Set<ts.Type>()): string[] {
  if (seen.has(t)) return [];
  seen.add(t);
  const out: string[] = [];
  for (const p of checker.getPropertiesOfType(t)) {
    if (!isPublic(p)) continue;
    const name = memberName(p);
    if (name === null) continue;
    out.push(name);
    const decl = p.getDeclarations()![0]!;
    const pt = checker.getNonNullableType(checker.getTypeOfSymbolAtLocation(p, decl));
    for (const part of pt.isUnion() ? pt.types : [pt]) {
      const s = part.getSymbol();
      if (s && s.flags & ts.SymbolFlags.TypeLiteral && (s.getDeclarations() ?? []).some(inSrc)) out.push(...properties(part, seen));
    }
  }
  return out;
}

interface Expect { export: string; kind: string; members: string[]; literals: string[] }

const surface: Expect[] = exported.map(({ name, sym }) => {
  const decl = sym.getDeclarations()![0]!;
  if (ts.isClassDeclaration(decl)) {
    const instance = checker.getDeclaredTypeOfSymbol(sym);
    const statics = checker.getTypeOfSymbolAtLocation(sym, decl);
    const members = [...properties(instance), ...properties(statics)];
    return { export: name, kind: 'class', members: [...new Set(members)], literals: [] };
  }
  if (ts.isInterfaceDeclaration(decl) || ts.isTypeAliasDeclaration(decl)) {
    const t = checker.getDeclaredTypeOfSymbol(sym);
    const lits = literals(t);
    const obj = lits.length === 0 && !t.isUnion() && (t.flags & ts.TypeFlags.Object) !== 0 && t.getCallSignatures().length === 0;
    return { export: name, kind: 'type', members: obj ? [...new Set(properties(t))] : [], literals: lits };
  }
  return { export: name, kind: 'value', members: [], literals: [] };
});

/** Every class of src/errors.ts that extends (transitively) SluiceError, with its `code` literal. */
const errorsFile = program.getSourceFile(join(src, 'errors.ts'))!;
const errorClasses: { name: string; code: string[] }[] = [];
ts.forEachChild(errorsFile, (n) => {
  if (!ts.isClassDeclaration(n) || !n.name) return;
  const t = checker.getDeclaredTypeOfSymbol(checker.getSymbolAtLocation(n.name)!);
  const code = t.getProperty('code');
  if (!code) return;
  errorClasses.push({ name: n.name.text, code: literals(checker.getTypeOfSymbolAtLocation(code, n)) });
});

/** The keys each options parser reads: the key list of every snapshot(where, what, value, KEYS) call in src/. */
function parserKeys(): { keys: string[]; calls: number; unread: string[] } {
  const keys: string[] = [];
  const unread: string[] = [];
  let calls = 0;
  const arrayOf = (e: ts.Expression): ts.ArrayLiteralExpression | null => {
    while (ts.isAsExpression(e) || ts.isSatisfiesExpression(e) || ts.isParenthesizedExpression(e)) e = e.expression;
    if (ts.isArrayLiteralExpression(e)) return e;
    if (ts.isIdentifier(e)) {
      let s = checker.getSymbolAtLocation(e);
      if (s && s.flags & ts.SymbolFlags.Alias) s = checker.getAliasedSymbol(s);
      const d = s?.getDeclarations()?.[0];
      if (d && ts.isVariableDeclaration(d) && d.initializer) return arrayOf(d.initializer);
    }
    return null;
  };
  for (const f of srcFiles) {
    const sf = program.getSourceFile(f)!;
    const visit = (n: ts.Node): void => {
      if (ts.isCallExpression(n) && ts.isIdentifier(n.expression) && n.expression.text === 'snapshot' && n.arguments.length >= 4) {
        calls++;
        const arr = arrayOf(n.arguments[3]!);
        const where = `${relative(root, f)}:${sf.getLineAndCharacterOfPosition(n.getStart()).line + 1}`;
        if (arr === null) unread.push(where);
        else for (const el of arr.elements) if (ts.isStringLiteralLike(el)) keys.push(el.text); else unread.push(where);
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  return { keys: [...new Set(keys)], calls, unread };
}

/** A constant numeric expression of the source (1 << 20, 2 ** 31 - 1, 0xffff, 30_000), or undefined. */
function constant(e: ts.Expression): number | boolean | undefined {
  if (ts.isNumericLiteral(e)) return Number(e.text.replace(/_/g, ''));
  if (e.kind === ts.SyntaxKind.TrueKeyword) return true;
  if (e.kind === ts.SyntaxKind.FalseKeyword) return false;
  if (ts.isParenthesizedExpression(e)) return constant(e.expression);
  if (ts.isPrefixUnaryExpression(e) && e.operator === ts.SyntaxKind.MinusToken) {
    const v = constant(e.operand);
    return typeof v === 'number' ? -v : undefined;
  }
  if (ts.isBinaryExpression(e)) {
    const a = constant(e.left);
    const b = constant(e.right);
    if (typeof a !== 'number' || typeof b !== 'number') return undefined;
    switch (e.operatorToken.kind) {
      case ts.SyntaxKind.LessThanLessThanToken: return a * 2 ** b;
      case ts.SyntaxKind.AsteriskAsteriskToken: return a ** b;
      case ts.SyntaxKind.MinusToken: return a - b;
      case ts.SyntaxKind.PlusToken: return a + b;
      case ts.SyntaxKind.AsteriskToken: return a * b;
      default: return undefined;
    }
  }
  return undefined;
}

/**
 * Defaults and bounds as the parsers state them: every intOption(where, o, key, default, min, max, pow2?)
 * and boolOption(where, o, key, default) call in src/ (a default that is not a constant, such as
 * os.availableParallelism(), is left out).
 */
interface Bound { key: string; where: string; dflt?: number | boolean; min?: number; max?: number; pow2: boolean }
function parserBounds(): Bound[] {
  const out: Bound[] = [];
  for (const f of srcFiles) {
    const sf = program.getSourceFile(f)!;
    const visit = (n: ts.Node): void => {
      if (ts.isCallExpression(n) && ts.isIdentifier(n.expression) && ['intOption', 'boolOption'].includes(n.expression.text)) {
        const [, , key, dflt, min, max, pow2] = n.arguments;
        if (key && ts.isStringLiteralLike(key)) {
          const c = (e: ts.Expression | undefined): number | boolean | undefined => (e === undefined ? undefined : constant(e));
          out.push({
            key: key.text, where: `${relative(root, f)}:${sf.getLineAndCharacterOfPosition(n.getStart()).line + 1}`, dflt: c(dflt),
            min: c(min) as number | undefined, max: c(max) as number | undefined, pow2: c(pow2) === true,
          });
        }
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  return out;
}

/** The numbers a table row states: 65535, 1048576, 30_000, 65,536, "1..255", "2^31−1", "2^30", and true/false. */
function rowValues(row: string): (number | boolean)[] {
  const out: (number | boolean)[] = [];
  const rest = row.replace(/2\^(\d+)(\s*[−-]\s*1)?/g, (_, e: string, m?: string) => { out.push(2 ** Number(e) - (m ? 1 : 0)); return ' '; });
  for (const m of rest.matchAll(/(?<!\w)\d(?:[\d_]|,(?=\d{3}))*/g)) out.push(Number(m[0].replace(/[_,]/g, '')));
  for (const m of rest.matchAll(/\b(true|false)\b/g)) out.push(m[1] === 'true');
  return out;
}

/** The options table row (| `key` | ...) of `key` in `md`, the first one. */
const rowOf = (md: string, key: string): string | undefined => md.split('\n').find((l) => l.startsWith(`| \`${key}\` |`));

/** Names of properties declared @internal anywhere in src/ (e.g. the test-only `testHooks` option). */
const internalProps = new Set<string>();
for (const f of srcFiles) {
  const visit = (n: ts.Node): void => {
    if ((ts.isPropertySignature(n) || ts.isPropertyDeclaration(n)) && ts.isIdentifier(n.name) && isInternal(n)) internalProps.add(n.name.text);
    ts.forEachChild(n, visit);
  };
  visit(program.getSourceFile(f)!);
}

/** SLUICE_* environment switches read by src/ and by the install script the package ships. */
function envSwitches(): string[] {
  const files = [...srcFiles, join(root, 'scripts', 'build-native.mjs')];
  const found = new Set<string>();
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(/\benv(?:\.|\[['"])(SLUICE_[A-Z0-9_]+)/g)) found.add(m[1]!);
  }
  return [...found].sort();
}

// ---------------------------------------------------------------------------------------------
// The checks, on any text of the document (so the test can show each one fails on an omission).
// ---------------------------------------------------------------------------------------------

const missingHeadings = (md: string): string[] => exported.map((e) => e.name).filter((n) => sectionOf(md, n) === undefined);

function missingMembers(md: string): string[] {
  const missing: string[] = [];
  for (const s of surface) {
    const sec = sectionOf(md, s.export);
    if (!sec) continue; // reported by missingHeadings
    for (const m of s.members) if (!mentions(sec.body, m)) missing.push(`${s.export}.${m}`);
  }
  return missing;
}

function missingLiterals(md: string): string[] {
  const missing: string[] = [];
  for (const s of surface) {
    const sec = sectionOf(md, s.export);
    if (!sec) continue;
    for (const l of s.literals) if (!mentions(sec.body, l)) missing.push(`${s.export}: '${l}'`);
  }
  return missing;
}

function missingReasonsAndOutcomes(md: string): string[] {
  const reasons = sectionOf(md, 'RejectReason')?.body ?? '';
  const outcomes = sectionOf(md, 'Outcome')?.body ?? '';
  return [
    ...REJECT_REASONS.filter((r) => !mentions(reasons, r)).map((r) => `reason '${r}'`),
    ...OUTCOMES.filter((o) => !mentions(outcomes, o)).map((o) => `outcome '${o}'`),
  ];
}

function missingErrors(md: string): string[] {
  const missing: string[] = [];
  for (const e of errorClasses) {
    const sec = sectionOf(md, e.name);
    if (!sec) { missing.push(`${e.name} (no heading)`); continue; }
    for (const c of e.code) if (!mentions(sec.body, c)) missing.push(`${e.name}: ${c}`);
  }
  return missing;
}

const PARSER = parserKeys();
const missingOptionKeys = (md: string): string[] => PARSER.keys.filter((k) => !internalProps.has(k) && !mentions(md, k));
const ENV = envSwitches();
const missingEnv = (md: string): string[] => ENV.filter((e) => !mentions(md, e));

/** `md` with every code span (and heading) that names `name` made plain text: as if it were never documented. */
function without(md: string, name: string): string {
  return md.replace(/(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)/g, (span: string, _t: string, body: string) => (word(name).test(body) ? body.replace(new RegExp(name.replace(/[$.*+?^()[\]{}|\\]/g, '\\$&'), 'g'), 'X') : span));
}

const BOUNDS = parserBounds();
/** Options whose row does not state the parser's default, bounds or power-of-two rule. */
function wrongBounds(md: string): string[] {
  const wrong: string[] = [];
  for (const b of BOUNDS) {
    if (internalProps.has(b.key)) continue;
    const row = rowOf(md, b.key);
    if (row === undefined) { wrong.push(`${b.key} (${b.where}): no table row`); continue; }
    const values = rowValues(row);
    for (const [what, v] of [['default', b.dflt], ['min', b.min], ['max', b.max]] as const) {
      if (v !== undefined && !values.includes(v)) wrong.push(`${b.key} (${b.where}): its ${what} ${String(v)} is not in its row`);
    }
    if (b.pow2 && !/power of two/.test(row)) wrong.push(`${b.key} (${b.where}): its row does not say "power of two"`);
  }
  return wrong;
}

describe('docs/api.md documents the whole public surface (lists derived from the code)', () => {
  it('the derivation found the surface (a refactor that hides it from this test fails here)', () => {
    expect(exported.length).toBeGreaterThan(30);
    expect(surface.find((s) => s.export === 'Runtime')!.members).toEqual(expect.arrayContaining(['start', 'run', 'stats', 'close']));
    expect(surface.find((s) => s.export === 'RuntimeOptions')!.members).toContain('workers');
    expect(surface.find((s) => s.export === 'RuntimeOptions')!.members).not.toContain('testHooks');
    expect(surface.find((s) => s.export === 'RuntimeStats')!.members).toContain('inFlight'); // nested: global.inFlight
    expect(errorClasses.length).toBeGreaterThan(5);
    expect(PARSER.calls).toBeGreaterThan(5);
    expect(PARSER.unread, 'snapshot(...) calls whose key list this test cannot read').toEqual([]);
    expect(ENV.length).toBeGreaterThan(3);
    expect(BOUNDS.length).toBeGreaterThan(10);
    expect(BOUNDS.find((b) => b.key === 'spillBytes')).toMatchObject({ dflt: 2 ** 20, min: 2 ** 10, max: 2 ** 30, pow2: true });
  });

  it('every export of src/index.ts has a heading of its own', () => {
    expect(missingHeadings(doc), 'exports without a "## `Name`" heading in docs/api.md').toEqual([]);
  });

  it('every public member, property and stats field is in its section', () => {
    expect(missingMembers(doc), 'members not mentioned (in a code span) in their section of docs/api.md').toEqual([]);
  });

  it('every literal of every exported union (reasons, outcomes, states, events, weights, codes) is in its section', () => {
    expect(missingLiterals(doc)).toEqual([]);
  });

  it('every reject reason and outcome (the runtime tables) is documented', () => {
    expect(missingReasonsAndOutcomes(doc)).toEqual([]);
  });

  it('every error class of src/errors.ts has a heading, with its code in its section', () => {
    expect(missingErrors(doc)).toEqual([]);
  });

  it('every option key the option parsers read is documented', () => {
    expect(missingOptionKeys(doc), 'option keys read by snapshot(...) in src/ but not documented').toEqual([]);
  });

  it("every option row states the parser's default and bounds (intOption/boolOption calls)", () => {
    expect(wrongBounds(doc)).toEqual([]);
  });

  it("every command of package.json's bin has a heading of its own (none yet: the CLI is coming)", () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; bin?: string | Record<string, string> };
    const commands = pkg.bin === undefined ? [] : typeof pkg.bin === 'string' ? [pkg.name] : Object.keys(pkg.bin);
    expect(commands.filter((c) => sectionOf(doc, c) === undefined), 'commands without a "## `name`" heading').toEqual([]);
  });

  it('every SLUICE_* environment switch is documented', () => {
    expect(missingEnv(doc)).toEqual([]);
  });

  it('each check fails when one item of its list is left out of the document', () => {
    // One item of each kind: a class member, a nested stats field, an option (parser key), a nested
    // option, a reason, an outcome, an error code, an environment switch, an export.
    const cases: [string, (md: string) => string[]][] = [
      ['submitCallback', missingMembers], ['asyncInFlight', missingMembers], ['inFlight', missingMembers],
      ['runQueueLimit', missingOptionKeys], ['stackSizeMb', missingOptionKeys], ['arena-full', missingReasonsAndOutcomes],
      ['retracted', missingReasonsAndOutcomes], ['ERR_SLUICE_CLOCK', missingErrors], ['SLUICE_NO_FUTEX', missingEnv],
      ['TICKS_PER_SECOND', missingHeadings],
    ];
    for (const [name, check] of cases) {
      expect(check(doc), name).toEqual([]);
      expect(check(without(doc, name)).length, `leaving out ${name}`).toBeGreaterThan(0);
    }
    // A default or bound that the document states wrongly.
    expect(wrongBounds(doc.replace(/^(\| `globalSlots` .*?)\| 512 \|/m, '$1| 256 |'))).toEqual([expect.stringMatching(/globalSlots.*default 512/)]);
    expect(wrongBounds(doc.replace(/^(\| `ringCapacity` .*?)power of two/m, '$1integer'))).toEqual([expect.stringMatching(/ringCapacity.*power of two/)]);
  });
});
// DUMP_SURFACE=1 npx vitest run test/docs.test.ts prints what this test expects docs/api.md to document.
if (process.env.DUMP_SURFACE) console.log(JSON.stringify({ surface, errorClasses }, null, 0).replace(/\},\{/g, '},\n{'));
