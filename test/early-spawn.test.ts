import { describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import { Runtime } from '../src/index.js';
import { ConfigError } from '../src/errors.js';
import { EarlySpawn } from '../src/runtime/supervisor/early.js';
import { Supervisor } from '../src/runtime/supervisor/supervisor.js';
import { Memory } from '../src/shm/layout.js';

// Runtime.start's step 0 (docs/design.md §4.7 "Start"; src/runtime/supervisor/early.ts): the
// threads are spawned before the memory exists and get their WorkerData as a first message. What
// a thread does before the supervisor takes it is handed over; a start refused after the spawn
// sends the threads `abort` and they end by themselves.
const tasks = new URL('./fixtures/tasks.mjs', import.meta.url);
const ENTRY = new URL('../src/runtime/worker/main-dev.mjs', import.meta.url);
const threads = (): number => readdirSync('/proc/self/task').length;
const fds = (): number => readdirSync('/proc/self/fd').length;

function supervisorFor(early: EarlySpawn): { supervisor: Supervisor; mem: Memory } {
  const mem = Memory.create({ workers: 1, ringCapacity: 8, globalSlots: 8, maxProducers: 2, maxAttachments: 1, spillBytes: 1 << 12, taskCount: 1, spinMicros: 0, asyncLimit: 1 });
  const supervisor = new Supervisor(mem, ENTRY, () => { throw new Error('not used: the thread is early'); }, {
    watchdogMs: 50, startTimeoutMs: 10_000, maxRestarts: 0, stallMs: 0, restartWindowMs: 60_000, resourceLimits: undefined,
  });
  supervisor.early = early;
  return { supervisor, mem };
}

describe('the early spawn (§4.7 "Start" step 0)', () => {
  it("a thread's error and exit before the supervisor takes it fail that slot's spawn with its own error", async () => {
    const early = new EarlySpawn(new URL('./fixtures/early-throws.mjs', import.meta.url), 1, {}, null);
    const worker = early.peek(0)!;
    await new Promise((r) => worker.once('exit', r)); // nobody has taken it: the early listeners heard both
    expect(early.peek(0)).toBe(worker);
    const { supervisor } = supervisorFor(early);
    // The data callback throws if called: a spawn that took the early thread never builds another.
    (supervisor as unknown as { data: () => unknown }).data = () => ({ sluiceWorker: true });
    try {
      await expect(supervisor.spawn(0)).rejects.toThrow(/boom at load/);
      // The exit was handed over too: the supervisor's own listener ended the slot's thread (retired: maxRestarts 0).
      expect(supervisor.workers[0]).toBeNull();
    } finally {
      supervisor.stop();
    }
  });

  it('a thread not taken is sent abort and ends by itself once its modules are loaded (exit code 0, not terminated)', async () => {
    const early = new EarlySpawn(ENTRY, 2, {}, { some: 'task data' });
    const left = early.abort();
    expect(left).toHaveLength(2);
    const codes = await Promise.all(left.map(async (w) => (await once(w, 'exit'))[0] as number));
    expect(codes).toEqual([0, 0]);
    expect(early.take(0)).toBeUndefined();
  });

  it('a start refused after its threads were spawned (an affinity map naming no CPU it may run on) ends them: no thread or fd is left', async () => {
    const threadsBefore = threads();
    const fdsBefore = fds();
    const err = await Runtime.start({ tasks, workers: 2, affinity: [[1023], [1023]] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(threads()).toBe(threadsBefore);
    expect(fds()).toBe(fdsBefore);
  });
});
