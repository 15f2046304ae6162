// The producer gate under contention: a second thread (threads/gate-hammer.ts) hammers
// admitProducer/releaseSlots on the same producer word while this thread measures its own ns/op
// for the same operation; uncontended and contended runs alternate, reported as a per-rep ratio.
import { once } from 'node:events';
import { releaseSlots, ADMITTED, admitProducer } from '../src/admission/gate.js';
import { measureCase, repeated, type MicroResult } from './benchjs.js';
import { spawnTs } from './e2e/spawn.js';
import { bareMemory, gateOf } from './micro-sluice.js';
import { fmt } from './report.js';
import { CTL_IDLE, CTL_RUN, CTL_STOP, type HammerData } from './threads/protocol.js';
import { median } from './stats.js';

export const CONTENDED = 'sluice gate: admitProducer + releaseSlots, 2 threads';

export async function gateContention(quick: boolean): Promise<MicroResult[]> {
  const mem = bareMemory();
  const i32 = mem.i32;
  const gate = gateOf(mem, 'shared');
  const data: HammerData = {
    sab: mem.sab, ctl: mem.attachWord(0, 0), word: gate.word, limits: gate.limits, scratch: mem.attachWord(1, 0),
    count: mem.attachWord(1, 1),
  };
  const mine = mem.workerWord(0, 0);
  const guess = new Int32Array(2); // this thread's guesses; the hammer keeps its own
  const op = (): void => {
    if (admitProducer(i32, gate.word, gate.limits, guess, 0) === ADMITTED) releaseSlots(i32, gate.word, mine, guess, 0, 1);
  };
  const hammer = await spawnTs('gate-hammer', { ...data });
  const set = (c: number): void => {
    Atomics.store(i32, data.ctl, c);
    Atomics.notify(i32, data.ctl);
  };
  const alone: number[] = [];
  const contended: number[] = [];
  const ratios: number[] = [];
  try {
    for (let rep = 0; rep < (quick ? 2 : 3); rep++) {
      const a = measureCase([`${CONTENDED} (uncontended, rep ${rep + 1})`, op], quick).nsPerOp;
      set(CTL_RUN);
      while (Atomics.load(i32, data.count) === 0) Atomics.wait(i32, data.count, 0, 1); // the hammer is running
      const c = measureCase([`${CONTENDED} (contended, rep ${rep + 1})`, op], quick).nsPerOp;
      set(CTL_IDLE);
      Atomics.store(i32, data.count, 0);
      alone.push(a);
      contended.push(c);
      ratios.push(c / a);
    }
  } finally {
    set(CTL_STOP);
    await once(hammer, 'exit');
  }
  return [
    repeated(`${CONTENDED}: one thread alone`, alone),
    repeated(`${CONTENDED}: contended`, contended, `× ${fmt(median(ratios), 2)} uncontended (median of per-rep ratios)`),
  ];
}
