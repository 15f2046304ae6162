// Microbenchmarks: Atomics on a SharedArrayBuffer, sluice's building blocks on a bare Memory
// (micro-sluice.ts), the producer gate under contention from a second thread (contention.ts) and
// the submit-side cost of submitCallback on a running runtime (submit-cost.ts).
// `npx tsx bench/micro.ts [--quick]` runs them alone. Adding a case is one entry in a cases list.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { measureCase, microTable, type Case, type MicroResult } from './benchjs.js';

const i32 = new Int32Array(new SharedArrayBuffer(256));
let sink = 0;

const atomicsCases: readonly Case[] = [
  ['empty function (harness floor)', () => {}],
  ['SAB Int32Array plain increment', () => { i32[0]!++; }],
  ['Atomics.load', () => { sink += Atomics.load(i32, 32); }],
  ['Atomics.store', () => { Atomics.store(i32, 32, sink); }],
  ['Atomics.add', () => { Atomics.add(i32, 32, 1); }],
  // always succeeds: a real locked cmpxchg
  ['Atomics.compareExchange', () => { sink += Atomics.compareExchange(i32, 33, 0, 0); }],
];

export interface MicroOptions {
  quick?: boolean;
  only?: string;
  log?: (msg: string) => void;
}

export async function runMicro(opts: MicroOptions = {}): Promise<MicroResult[]> {
  const quick = opts.quick ?? false;
  const log = opts.log ?? ((msg: string) => process.stderr.write(`${msg}\n`));
  const keep = (name: string): boolean => opts.only === undefined || name.includes(opts.only);
  const results = atomicsCases.filter(([n]) => keep(n)).map((c) => measureCase(c, quick));
  let sluice: [typeof import('./micro-sluice.js'), typeof import('./contention.js'), typeof import('./submit-cost.js')];
  try {
    sluice = await Promise.all([import('./micro-sluice.js'), import('./contention.js'), import('./submit-cost.js')]);
  } catch (err) {
    log(`note: sluice micro rows skipped, runtime not loadable: ${String(err).split('\n')[0]}`);
    return results;
  }
  const [bare, contention, submitCost] = sluice;
  results.push(...bare.sluiceCases().filter(([n]) => keep(n)).map((c) => measureCase(c, quick)));
  if (keep(contention.CONTENDED)) results.push(...(await contention.gateContention(quick)));
  if (keep(submitCost.SUBMIT_COST)) results.push(...(await submitCost.submitCost(quick)));
  if (sink === 0.5) console.log(sink); // keep the sink observable
  return results;
}

const invokedDirectly = process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) console.log(microTable(await runMicro({ quick: process.argv.includes('--quick') })));
