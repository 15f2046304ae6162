/**
 * A seeded, reproducible chaos run (invariants 1, 4, 7): several producers in several threads,
 * tasks that succeed, throw, run async, kill their worker, hang past their deadline or get
 * cancelled, and an attached producer thread terminated mid-flood. Checks that every admitted
 * token resolved exactly once with the right outcome and value, that no task body ran twice
 * (executions counted in shared memory), that counters are zero at quiescence, and that close
 * completes. Used by test/chaos.test.ts (short) and `npm run stress` (long).
 */
import { Worker } from 'node:worker_threads';
import { Runtime, type Token } from '../../src/index.js';
import { AWAITING_FIX, ENTRY, NEVER_DEADLINE_MS, TASK_ENTRIES, checkItem, descOf, summarize, type Item } from '../helpers/hostile.js';

export interface ChaosConfig {
  seed: number;
  /** Tasks submitted by the main thread. */
  tasks: number;
  /** Tasks each attached checker thread submits. */
  threadTasks: number;
  /** Attached checker threads. */
  threads: number;
  workers: number;
  /** How many tasks kill their worker, and how many hang past their deadline. */
  exits: number;
  hangs: number;
  /** Share of main-thread tasks drawn from the hostile-value catalogue (0..1; default 0.03). */
  hostileShare?: number;
  /** Record the run to this trace file (Runtime.start({ trace: { mode: 'file', path } })). */
  tracePath?: string;
  onProgress?: (done: number, total: number) => void;
}

export interface ChaosReport {
  seed: number;
  submitted: number;
  outcomes: Record<string, number>;
  kinds: Record<Kind, number>;
  /** Hostile-catalogue tasks by entry (test/helpers/hostile.ts), and how many resolved as their entry requires. */
  hostile: Record<string, number>;
  hostileOk: number;
  threadTasks: number;
  victimAdmitted: number;
  restarts: number;
  closeMs: number;
  elapsedMs: number;
  failures: string[];
}

type Kind = 'normal' | 'throws' | 'later' | 'exits' | 'hangs' | 'cancel' | 'hostile';

/** The catalogue entries the chaos mix draws from: every hostile task entry whose containment has landed. */
const HOSTILE_MIX = TASK_ENTRIES.filter((e) => e.how !== '' && !(e.name in AWAITING_FIX));
/** Larger than the chaos runtime's spillBytes (the default, 1 MiB): a 'huge' value cannot be carried. */
const HUGE_BYTES = (1 << 20) + 1;

/** mulberry32: small, fast, good enough to make a run reproducible from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const bootstrap = new URL('../fixtures/ts-bootstrap.mjs', import.meta.url);
const threadEntry = new URL('../fixtures/chaos-thread.ts', import.meta.url).href;

function spawnThread(data: Record<string, unknown>): Worker {
  return new Worker(bootstrap, { workerData: { entry: threadEntry, ...data } });
}

export async function runChaos(cfg: ChaosConfig): Promise<ChaosReport> {
  const t0 = performance.now();
  const rand = prng(cfg.seed);
  const failures: string[] = [];
  const fail = (m: string): void => { if (failures.length < 50) failures.push(m); };
  const VICTIM_TASKS = 1_000_000; // floods until terminated
  const mainIds = cfg.tasks;
  // Each exit and hang is a main-thread task of its own (below): more than there are never places.
  if (cfg.exits + cfg.hangs > mainIds) throw new RangeError(`chaos: exits + hangs (${cfg.exits + cfg.hangs}) must be at most tasks (${mainIds})`);
  const threadBase = mainIds;
  const victimBase = threadBase + cfg.threads * cfg.threadTasks;
  const exec = new SharedArrayBuffer(4 * (victimBase + VICTIM_TASKS));
  const execView = new Int32Array(exec);

  const rt = await Runtime.start({
    tasks: new URL('../fixtures/chaos-tasks.mjs', import.meta.url),
    workers: cfg.workers,
    globalSlots: 512,
    maxRestarts: 1_000_000,
    taskData: { exec },
    largeValues: 'refuse', // 'huge' values test the arena's bound: no message path
    ...(cfg.tracePath === undefined ? {} : { trace: { mode: 'file' as const, path: cfg.tracePath, records: 1 << 16 } }),
  });

  // Which main-thread ids kill their worker or hang: seeded positions.
  const special = new Map<number, Kind>();
  while (special.size < cfg.exits) special.set(Math.floor(rand() * mainIds), 'exits');
  while (special.size < cfg.exits + cfg.hangs) {
    const id = Math.floor(rand() * mainIds);
    if (!special.has(id)) special.set(id, 'hangs');
  }
  const refs = {
    normal: rt.task('normal'),
    throws: rt.task('throws'),
    later: rt.task('later'),
    exits: rt.task('exits'),
    hangs: rt.task('hangs', { deadlineMs: 20 }),
    hostile: rt.task('hostile'),
    never: rt.task('hostile', { deadlineMs: NEVER_DEADLINE_MS }),
  };
  const hostileShare = cfg.hostileShare ?? 0.03;
  const hostileItems = new Map<number, Item>();
  const hostileCounts: Record<string, number> = {};
  let hostileOk = 0;
  const producers = [rt.producer('main-a'), rt.producer('main-b', { slots: 96 }), rt.producer('main-c', { rate: 200_000, burst: 512 })];

  // Attached threads: checkers (report their own verdict) and one victim, killed mid-flood.
  const checkers = Array.from({ length: cfg.threads }, (_, k) => {
    const w = spawnThread({ handle: rt.handle, from: threadBase + k * cfg.threadTasks, to: threadBase + (k + 1) * cfg.threadTasks, producer: `thread-${k}`, exec });
    return new Promise<{ done: number; wrong: number }>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
  });
  const victim = spawnThread({ handle: rt.handle, from: victimBase, to: victimBase + VICTIM_TASKS, producer: 'victim', exec });
  const victimGone = new Promise((r) => victim.once('exit', r));
  const killVictimAt = Math.floor(mainIds * (0.2 + 0.6 * rand()));
  // Mid-flood: once it has admitted something (it attaches asynchronously), at a seeded point.
  let victimKill: Promise<unknown> | null = null;
  const killVictim = (): Promise<unknown> => (victimKill ??= (async () => {
    while ((rt.stats().producers.find((p) => p.name === 'victim')?.admitted ?? 0) === 0) {
      await new Promise((r) => setTimeout(r, 1));
    }
    await victim.terminate();
  })());

  const kinds: Record<Kind, number> = { normal: 0, throws: 0, later: 0, exits: 0, hangs: 0, cancel: 0, hostile: 0 };
  const outcomes: Record<string, number> = {};
  const expected = new Map<number, { kind: Kind; cancelled: boolean }>();
  let next = 0;
  let done = 0;
  let inFlight = 0;

  const check = (id: number, t: Token<number>): void => {
    const e = expected.get(id)!;
    const o = t.outcome!;
    outcomes[o] = (outcomes[o] ?? 0) + 1;
    const v = t.outcome === 'fulfilled' ? t.value : t.error;
    const ok = (() => {
      switch (e.kind) {
        case 'hostile': {
          const it = hostileItems.get(id)!;
          // An async job (an async task, or a returned thenable, which the worker adopts with a
          // promise) in flight on a worker that an 'exits' or 'hangs' task ended is taken along,
          // as 'later' is: abandoned with that worker's ending as the reason.
          const asyncJob = /^(resolve|reject):|^return:(then-throws|then-twice|then-nested|never)$/.test(it.entry);
          const s = summarize(o, v);
          const takenAlong = o === 'abandoned' && asyncJob && /^worker \d+ (exited with code|stopped: a task overran its deadline)/.test(s.error?.message ?? '');
          const bad = takenAlong ? null : checkItem(it, s);
          if (bad === null) { hostileOk++; return true; }
          fail(`id ${id} (hostile ${it.entry}${it.param !== undefined ? ` ${String(it.param)}` : ''}): ${bad}${s.error ? ` [${s.error.name}: ${s.error.message.slice(0, 160)}]` : ''}`);
          return true; // reported above, with the entry's own words
        }
        case 'normal': return o === 'fulfilled' && v === id + 1;
        case 'throws': return o === 'rejected' && v instanceof Error && v.message === `boom ${id}`;
        case 'later': return (o === 'fulfilled' && v === id + 1) || o === 'abandoned'; // async: a worker death can take it along
        case 'exits': return o === 'abandoned';
        case 'hangs': return o === 'abandoned' && /deadline/.test(String((v as Error).message));
        case 'cancel': return e.cancelled ? o === 'retracted' : o === 'fulfilled' && v === id + 1;
      }
    })();
    if (!ok) fail(`id ${id} (${e.kind}${e.cancelled ? ', cancelled' : ''}): outcome ${o}, value ${String(v instanceof Error ? v.message : v)}`);
  };

  await new Promise<void>((resolve) => {
    const pump = (): void => {
      while (next < mainIds && inFlight < 256) {
        const id = next;
        const kind: Kind = special.get(id) ?? (() => {
          // The hostile share is drawn first, with its own number, so a run's other kinds keep their proportions.
          if (hostileShare > 0 && HOSTILE_MIX.length > 0 && rand() < hostileShare) return 'hostile';
          const r = rand();
          return r < 0.8 ? 'normal' : r < 0.88 ? 'throws' : r < 0.96 ? 'later' : 'cancel';
        })();
        const producer = producers[id % producers.length]!;
        let a;
        if (kind === 'hostile') {
          let it = hostileItems.get(id);
          if (it === undefined) {
            const e = HOSTILE_MIX[Math.floor(rand() * HOSTILE_MIX.length)]!;
            it = { id, entry: e.name, param: e.params[Math.floor(rand() * e.params.length)], via: 'token', producer: 0 };
            hostileItems.set(id, it); // a capacity retry resubmits the same item
          }
          a = producer.submit<number>(ENTRY.get(it.entry)!.kind === 'never' ? refs.never : refs.hostile, descOf(it, HUGE_BYTES));
          if (a.admitted) hostileCounts[it.entry] = (hostileCounts[it.entry] ?? 0) + 1;
        } else {
          a = producer.submit<number>(kind === 'cancel' ? refs.normal : refs[kind], id);
        }
        if (!a.admitted) break; // capacity: retry this id when something completes
        next++;
        inFlight++;
        kinds[kind]++;
        const cancelled = kind === 'cancel' ? a.cancel() : false;
        expected.set(id, { kind, cancelled });
        if (id === killVictimAt) void killVictim();
        const finish = (): void => {
          check(id, a);
          inFlight--;
          if (++done === mainIds) resolve();
          else {
            cfg.onProgress?.(done, mainIds);
            pump();
          }
        };
        a.then(finish, finish);
      }
      if (next < mainIds && inFlight === 0) setImmediate(pump);
    };
    pump();
  });
  await killVictim();

  const threadResults = await Promise.all(checkers);
  threadResults.forEach((r, k) => {
    if (r.wrong !== 0) fail(`thread ${k}: ${r.wrong} wrong results`);
    if (r.done !== cfg.threadTasks) fail(`thread ${k}: ${r.done} of ${cfg.threadTasks} resolved`);
  });
  await victimGone;
  // Quiescence: the victim's admitted tasks still run; the supervisor drains them.
  rt.testing?.checkAttachments();
  const deadline = performance.now() + 30_000;
  while (rt.stats().global.inFlight !== 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));

  // Executions: each main-thread body ran exactly once, or never if it was retracted.
  for (const [id, e] of expected) {
    const want = e.cancelled ? 0 : 1;
    if (execView[id] !== want) fail(`id ${id} (${e.kind}) ran ${execView[id]} times, expected ${want}`);
  }
  let victimAdmitted = 0;
  for (let id = victimBase; id < victimBase + VICTIM_TASKS; id++) {
    if (execView[id]! > 1) fail(`victim id ${id} ran ${execView[id]} times`);
  }
  const s = rt.stats();
  if (s.global.inFlight !== 0) fail(`global in flight ${s.global.inFlight} at quiescence`);
  for (const p of s.producers) {
    const resolved = p.resolved.fulfilled + p.resolved.rejected + p.resolved.retracted + p.resolved.abandoned;
    if (p.inFlight !== 0) fail(`producer ${p.name}: in flight ${p.inFlight} at quiescence`);
    if (resolved !== p.admitted) fail(`producer ${p.name}: admitted ${p.admitted}, resolved ${resolved}`);
    if (p.name === 'victim') victimAdmitted = p.admitted;
  }
  const restarts = s.workers.reduce((a, w) => a + w.restarts, 0);
  if (restarts < cfg.exits + cfg.hangs) fail(`only ${restarts} worker restarts for ${cfg.exits} exits and ${cfg.hangs} hangs`);
  const c0 = performance.now();
  await rt.close({ timeoutMs: 10_000 });
  const closeMs = performance.now() - c0;
  return {
    seed: cfg.seed, submitted: mainIds, outcomes, kinds, hostile: hostileCounts, hostileOk, threadTasks: cfg.threads * cfg.threadTasks, victimAdmitted,
    restarts, closeMs, elapsedMs: performance.now() - t0, failures,
  };
}
