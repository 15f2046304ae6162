// Pump step 2 (docs/design.md 4.4): past the first 5 µs of a wait the pump sched_yields only when
// step 2a reports that this thread still shares its CPU with an awake worker (or cannot tell). A
// yield is a system call (~2.5 µs on this project's VM): with no worker of ours on this CPU it
// only delays the pump's next look (docs/performance.md, sixteenth session).
//
// Step 2a's own answers are tested on real CPUs in affinity.test.ts; here it is a stub, and the
// yields are counted. No timing: the pump spins for its whole budget (20 ms here, far past 5 µs) before it
// parks, and the test waits until it has parked.
import { describe, expect, it } from 'vitest';
import { Runtime, type Token } from '../src/index.js';
import { internals } from '../src/runtime/testing/testing.js';
import { A_WAKER } from '../src/shm/layout.js';
import { WAKER_PARKED } from '../src/shm/waker.js';
import { Signals } from './helpers/signals.js';

const tasks = new URL('./fixtures/tasks.mjs', import.meta.url);

interface PumpStubs { pause: () => void; cores: { leaveBusyCore(): boolean; moves: number } }

async function yieldsWhile(shared: boolean): Promise<{ yields: number; looks: number }> {
  const sig = new Signals();
  // A long spin budget: the pump's first ticks on a fresh runtime are cold and may come late, and
  // step 2 needs a tick between 5 µs and the budget's end.
  const rt = await Runtime.start({ tasks, workers: 1, spinUs: 20_000 });
  try {
    const att = internals(rt).att;
    const pump = att.pump as unknown as PumpStubs;
    const counts = { yields: 0, looks: 0 };
    pump.pause = () => { counts.yields++; };
    pump.cores = { leaveBusyCore: () => { counts.looks++; return shared; }, moves: 0 };
    const key = `pump-yield-${shared}`;
    const token = rt.producer('p').submit(rt.task('blockUntil'), key) as Token;
    await sig.started(key);
    // The pump spins (setImmediate ticks) for its budget, then parks: by then step 2 has run.
    const waker = att.mem.attachWord(att.index, A_WAKER);
    while (Atomics.load(att.i32, waker) !== WAKER_PARKED) await new Promise((r) => setImmediate(r));
    sig.release(key);
    expect(await token).toBe(key);
    return counts;
  } finally {
    sig.close();
    await rt.close();
  }
}

describe('pump step 2: a yield only where an awake worker shares the CPU', () => {
  it('does not yield when step 2a reports no awake worker on this CPU', async () => {
    const { yields, looks } = await yieldsWhile(false);
    expect(looks).toBeGreaterThan(0); // step 2 ran
    expect(yields).toBe(0);
  });

  it('yields after each look when step 2a reports this CPU shared', async () => {
    const { yields, looks } = await yieldsWhile(true);
    expect(looks).toBeGreaterThan(0);
    expect(yields).toBe(looks);
  });
});
