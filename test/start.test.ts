import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { Runtime } from '../src/index.js';
import { runChild } from './helpers/child.js';
import { lastStartWarmUp } from '../src/runtime/start-warm-up.js';

// Runtime.start resolves on its first ready worker (docs/design.md 4.7 "Start"); what the other
// workers do after that is a slot's life like any other (§4.8). The fixture's later loads wait,
// throw, disagree or hang, as taskData's mode word says.
const tasks = new URL('./fixtures/start/staggered.mjs', import.meta.url);
const GATED = 0;
const THROWS = 1;
const DIFFERS = 2;
const HANGS = 3;
const COLLIDES = 4;

function words(mode: number): Int32Array {
  const w = new Int32Array(new SharedArrayBuffer(12));
  w[2] = mode;
  return w;
}

describe('Runtime.start resolves on its first ready worker', () => {
  it('a worker still loading holds up neither start nor the first tasks: they run on the ready one; allWorkersReady waits for the other', async () => {
    const w = words(GATED);
    // Without the first-ready rule this start would wait for the gated worker until startTimeoutMs.
    const rt = await Runtime.start({ tasks, workers: 2, taskData: w, warmUp: false, startTimeoutMs: 60_000 });
    try {
      let all = false;
      const allReady = rt.allWorkersReady().then(() => { all = true; });
      // Routing sends work to ready workers (routing.ts, the starting bias): sequential and
      // concurrent tasks alike run on the one thread that is ready, none waits for the gated one.
      for (let i = 0; i < 30; i++) expect(await rt.run('inc', i)).toBe(i + 1);
      const threads = await Promise.all(Array.from({ length: 30 }, () => rt.run('where')));
      expect(new Set(threads).size).toBe(1);
      expect(all).toBe(false);
      expect(Atomics.load(w, 0)).toBeLessThanOrEqual(2);
      Atomics.store(w, 1, 1); // open the gate
      await allReady;
      expect(rt.stats().workers.every((x) => !x.failed && x.restarts === 0)).toBe(true);
      // Both workers take work now: a burst deep enough to reach both rings.
      const burst = await Promise.all(Array.from({ length: 2000 }, () => rt.run('where')));
      expect(new Set(burst).size).toBe(2);
    } finally {
      await rt.close();
    }
  });

  const late: Array<[string, number, Record<string, unknown>, RegExp, string[]]> = [
    ['throws at import', THROWS, {}, /worker \d could not start: the task module /, ['inc', 'where']],
    // The thread's own check (the task table's hash), before it reports ready and takes a task.
    ['exports other functions (the workers disagree)', DIFFERS, {}, /could not start: the workers disagree/, ['inc', 'where']],
    // A hash collision: the thread reports ready; the supervisor's comparison of the lists ends it.
    ['exports other functions whose table hash collides', COLLIDES, {}, /worker \d: workers disagree/, ['c22z5', 'inc', 'where']],
    ['never finishes loading (startTimeoutMs)', HANGS, { startTimeoutMs: 2000 }, /did not become ready within 2000 ms/, ['inc', 'where']],
  ];
  for (const [what, mode, options, reason, names] of late) {
    it(`a worker that ${what} after start resolved is a death of its slot: respawned, then retired; the runtime runs on`, async () => {
      const w = words(mode);
      const rt = await Runtime.start({ tasks, workers: 2, taskData: w, warmUp: false, maxRestarts: 1, ...options });
      try {
        expect(rt.names).toEqual(names);
        expect(await rt.run('inc', 1)).toBe(2);
        Atomics.store(w, 1, 1); // the later loads go on (and fail) only now, after start resolved
        await rt.allWorkersReady(); // resolves once the bad slot is retired
        const s = rt.stats();
        const bad = s.workers.filter((x) => x.failed);
        expect(bad).toHaveLength(1);
        expect(bad[0]!.restarts).toBe(2); // its first thread and one replacement (maxRestarts: 1)
        expect(s.events.some((e) => reason.test(e)), s.events.join("\n")).toBe(true);
        expect(s.events.some((e) => /keeps dying: retired/.test(e))).toBe(true);
        // Everything still runs, on the good slot; nothing was lost on the way.
        const out = await Promise.all(Array.from({ length: 500 }, (_, i) => rt.run('inc', i)));
        expect(out).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
      } finally {
        await rt.close();
      }
    });
  }

  it('destroy() while a worker is still loading ends it too, and allWorkersReady calls waiting then resolve', async () => {
    const w = words(GATED);
    const rt = await Runtime.start({ tasks, workers: 2, taskData: w, warmUp: false });
    expect(await rt.run('inc', 1)).toBe(2);
    const waiting = rt.allWorkersReady();
    await rt.destroy(); // the gate never opens: the loading thread is terminated
    await waiting;
    expect(rt.stats().state).toBe('closed');
    expect(Atomics.load(w, 0)).toBeLessThanOrEqual(2); // no replacement was started for it
  });

  it('close() while a worker is still loading waits for it to load, and it exits by itself', async () => {
    const w = words(GATED);
    const rt = await Runtime.start({ tasks, workers: 2, taskData: w, warmUp: false });
    expect(await rt.run('inc', 1)).toBe(2);
    const closing = rt.close();
    Atomics.store(w, 1, 1);
    await closing;
    expect(rt.stats().state).toBe('closed');
    await rt.allWorkersReady(); // closed: at once
  });

  it("the starting thread's warm-up (warmUp) runs its calls on scratch memory while the workers boot, and touches nothing of the runtime", async () => {
    const rt = await Runtime.start({ tasks, workers: 2, taskData: words(GATED), startTimeoutMs: 60_000 });
    try {
      // Done by now: its scratch calls completed synchronously, their promises settled before
      // the first worker's 'ready' could be handled.
      expect(lastStartWarmUp).toEqual({ calls: 6, completed: 6, settled: 6 });
      const s = rt.stats();
      expect(s.producers).toEqual([]);
      expect(s.global.inFlight).toBe(0);
      expect(s.workers.map((w) => [w.executed, w.queued])).toEqual([[0, 0], [0, 0]]);
      expect(await rt.run('inc', 1)).toBe(2);
      expect(rt.stats().producers.map((p) => p.name)).toEqual(['default']);
    } finally {
      await rt.destroy();
    }
    lastStartWarmUp.calls = lastStartWarmUp.completed = lastStartWarmUp.settled = 0;
    const off = await Runtime.start({ tasks, workers: 1, taskData: words(GATED), warmUp: false });
    expect(lastStartWarmUp).toEqual({ calls: 0, completed: 0, settled: 0 });
    await off.close();
  });

  // A slot between two attempts holds only its back-off timer, unref'd (an idle runtime does not
  // keep the process alive). A program whose only pending work was `await rt.allWorkersReady()`
  // reached its end there: the process exited under the await, closing the runtime (exit 13, or
  // 'runtime is closed' on the next call). In a child: that is the program a user writes.
  it('allWorkersReady holds the process while a slot keeps failing to start, until the slot is retired', async () => {
    const r = await runChild(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./fixtures/await-all-ready.ts', import.meta.url))], { timeout: 60_000 });
    expect([r.status, r.stdout.trim()], r.stderr).toEqual([0, JSON.stringify({ resolved: true, failed: [true, false], value: 42 })]);
  });
});
