// Runtime.start({ trace }): the runtime records its own decisions through the recording seam
// into per-thread rings, a flight recorder saved on demand (also after a worker died) or a full
// recording streamed to a file; what `sluice trace show|explain|export` read.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AttachError, ConfigError, Runtime, type Token } from '../../src/index.js';
import { readTrace, type TraceFile } from '../../src/trace/file.js';
import { RecordKind, WRITER_ATTACHMENT, WRITER_WORKER, type TraceRecord } from '../../src/trace/records.js';
import { toChromeTrace, validateChromeTrace } from '../../src/trace/chrome.js';
import { notReplayable, replay } from '../../src/trace/replay.js';
import { OUTCOMES } from '../../src/admission/outcomes.js';
import { fileURLToPath } from 'node:url';
import { runChild } from '../helpers/child.js';
import { execFileSync, spawn } from 'node:child_process';

const tasks = new URL('../fixtures/tasks.mjs', import.meta.url);
const faults = new URL('../fixtures/faults.mjs', import.meta.url);
const nested = new URL('../fixtures/nested-tasks.mjs', import.meta.url);
const dir = mkdtempSync(join(tmpdir(), 'sluice-rec-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const kind = (f: TraceFile, k: number): TraceRecord[] => f.records.filter((r) => r.kind === k);
const key = (r: TraceRecord): string => `${r.tokenAtt}:${r.token}:${r.gen}`;

describe('a full recording streamed to a file', () => {
  it('holds one record per decision: admitted, rejected, started, run end and release for every token, as the stats count them', async () => {
    const path = join(dir, 'run.trace');
    const rt = await Runtime.start({ tasks, workers: 2, trace: { mode: 'file', path } });
    const p = rt.producer('tenant', { slots: 2 });
    const tokens: Token[] = [];
    let rejected = 0;
    for (let i = 0; i < 30; i++) {
      const a = p.submit(rt.task(i % 7 === 3 ? 'fail' : 'inc'), i);
      if (a.admitted) tokens.push(a); else rejected++;
    }
    const waiting = p.submit(rt.task('inc'), 0);
    await Promise.allSettled(tokens);
    if (waiting.admitted) await waiting;
    for (let i = 0; i < 5; i++) await rt.run('inc', i);
    const stats = rt.stats();
    await rt.close();

    const f = readTrace(path);
    expect(f.complete).toBe(true);
    expect([f.bad, f.missing, f.lost]).toEqual([0, 0, 0]);
    const admitted = stats.producers.reduce((n, x) => n + x.admitted, 0);
    expect(kind(f, RecordKind.SUBMIT_ADMITTED)).toHaveLength(admitted);
    expect(kind(f, RecordKind.SUBMIT_REJECTED)).toHaveLength(rejected + (waiting.admitted ? 0 : 1));
    const released = kind(f, RecordKind.RELEASE);
    expect(released).toHaveLength(admitted);
    // Every admitted token: started and run on a worker (its own ring), released by the main thread.
    const started = new Set(kind(f, RecordKind.START).map(key));
    const ran = new Map(kind(f, RecordKind.RESOLVE).map((r) => [key(r), r]));
    for (const r of kind(f, RecordKind.SUBMIT_ADMITTED)) {
      expect(r.writerClass).toBe(WRITER_ATTACHMENT);
      expect(started.has(key(r)), key(r)).toBe(true);
      const end = ran.get(key(r))!;
      expect(end.writerClass).toBe(WRITER_WORKER);
      expect(end.writerIndex).toBe(end.worker);
    }
    const failed = released.filter((r) => OUTCOMES[r.aux] === 'rejected');
    expect(failed).toHaveLength(tokens.filter((t) => t.outcome === 'rejected').length);
    // The producer table made after the header was written is in the trailer.
    expect(f.meta.producers.map((x) => x.name)).toEqual(expect.arrayContaining(['tenant', 'default']));
    // Export: a valid Chrome trace; replay re-makes every decision, bit for bit.
    expect(validateChromeTrace(toChromeTrace(f.records, { taskNames: f.meta.tasks.map((t) => t.name) }))).toEqual([]);
    expect(notReplayable(f)).toBeNull();
    const res = replay(f);
    expect(res.divergence).toBeNull();
    expect(res.identical).toBe(true);
    expect(res.decisions).toBe(kind(f, RecordKind.SUBMIT_ADMITTED).length * 2 + kind(f, RecordKind.SUBMIT_REJECTED).length);
  }, 60_000);
});

describe('a full recording at full speed', () => {
  it('loses nothing with a 4,096-record ring: 40,000 pipelined tasks, and the file has every START and RELEASE', async () => {
    // The owner writes two records per task and its workers two more; the drain timer alone
    // runs between event-loop turns, so a busy owner used to overwrite its own ring before the
    // timer came (~40% of the records lost at ~500k tasks/s). Its seam now drains the rings
    // itself every quarter ring (RecordingSeam.flush).
    const path = join(dir, 'fast.trace');
    const rt = await Runtime.start({ tasks, workers: 2, trace: { mode: 'file', path, records: 4096 } });
    const p = rt.producer('fast');
    const inc = rt.task('inc');
    const N = 40_000;
    const inFlight: Token[] = [];
    let head = 0;
    for (let i = 0; i < N; i++) {
      let a = p.submit(inc, i);
      while (!a.admitted) { await inFlight[head++]; a = p.submit(inc, i); }
      inFlight.push(a);
      if (inFlight.length - head >= 512) await inFlight[head++];
    }
    await Promise.all(inFlight.slice(head));
    await rt.close();
    const f = readTrace(path);
    expect([f.complete, f.lost, f.bad, f.missing]).toEqual([true, 0, 0, 0]);
    expect(kind(f, RecordKind.START).length).toBe(N);
    expect(kind(f, RecordKind.RELEASE).length).toBe(N);
    // One submitting thread, one unrated producer: nobody else moves its gate words, and its own
    // releases move its read log's view as replay moves its memory (record version 5), so the
    // only SEEN records are the first decision's (the view starts at 0). It was ~1 per task.
    expect(kind(f, RecordKind.SEEN).length).toBeLessThanOrEqual(4);
    expect(notReplayable(f)).toBeNull();
    expect(replay(f)).toMatchObject({ identical: true });
  });

  // A process that never calls close(): its file is finished at exit all the same (the records
  // up to the end and the trailer), and one killed outright keeps what was drained, with the
  // producer table (table frames): either replays.
  /** Runs test/fixtures/forget-close-recording.ts to its `ending`; its result and its file. */
  const recordAndEnd = async (ending: string): Promise<{ r: Awaited<ReturnType<typeof runChild>>; f: TraceFile }> => {
    const path = join(dir, `forgot-${ending}.trace`);
    const r = await runChild(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('../fixtures/forget-close-recording.ts', import.meta.url)), path, ending], { timeout: 60_000 });
    return { r, f: readTrace(path) };
  };
  /** The producer registered after start is in the file with its limits, and the file replays. */
  const expectReplayable = (f: TraceFile): void => {
    // Registered after the header was written (before file version 2, only the trailer had it).
    expect(f.meta.producers.find((p) => p.name === 'forgetful')).toMatchObject({ rate: 0, slots: 300 });
    expect(notReplayable(f)).toBeNull();
    expect(replay(f)).toMatchObject({ identical: true });
  };

  for (const ending of ['forget', 'exit', 'throw'] as const) {
    it(`a process that never closes its runtime and ends ${ending === 'forget' ? 'by itself' : ending === 'exit' ? 'with process.exit()' : 'on an uncaught exception'}: the file is finished at exit, every record and the trailer, and replays`, async () => {
      const { r, f } = await recordAndEnd(ending);
      expect(r.signal, r.stderr).toBeNull();
      expect([r.status, r.stdout.trim()]).toEqual([ending === 'throw' ? 1 : 0, '{"ran":6000}']);
      expect([f.complete, f.lost, f.bad, f.missing]).toEqual([true, 0, 0, 0]);
      expect(kind(f, RecordKind.RELEASE).length).toBe(6000);
      expectReplayable(f);
    }, 90_000);
  }

  it('a process killed outright (SIGKILL): the file holds whole frames up to its last drain, no trailer, the producers registered after start, and replays as far as it goes', async () => {
    const { r, f } = await recordAndEnd('kill');
    expect(r.signal).toBe('SIGKILL');
    expect([f.complete, f.bad, f.missing]).toEqual([false, 0, 0]); // no trailer; no hole an unfinished asynchronous write could leave
    // 1,024-record rings: the starting thread drained them itself at least every 256 of its records.
    expect(kind(f, RecordKind.RELEASE).length).toBeGreaterThan(1000);
    expectReplayable(f);
  }, 90_000);

  it('two runtimes of one process recording to one file: the second start is a ConfigError (nothing left running), the first\'s file intact; once it closed, the file may be reused', async () => {
    const path = join(dir, 'shared.trace');
    const a = await Runtime.start({ tasks, workers: 1, trace: { mode: 'file', path } });
    try {
      const err = await Runtime.start({ tasks, workers: 1, trace: { mode: 'file', path: join(dir, '.', 'shared.trace') } }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(/is the file of another runtime of this process that still records/);
      expect(await a.run('inc', 1)).toBe(2);
    } finally {
      await a.close();
    }
    expect([readTrace(path).complete, notReplayable(readTrace(path))]).toEqual([true, null]);
    const b = await Runtime.start({ tasks, workers: 1, trace: { mode: 'file', path } });
    await b.run('inc', 2);
    await b.close();
    expect(readTrace(path).complete).toBe(true);
  });

  it('a path that cannot be opened or written is a ConfigError from Runtime.start, which leaves no thread running', async () => {
    const threads = (): number => readdirSync('/proc/self/task').length;
    const fail = (path: string): Promise<unknown> => Runtime.start({ tasks, workers: 2, trace: { mode: 'file', path } }).catch((e: unknown) => e);
    await fail(join(dir, 'no-such-dir', 'first.trace')); // the first start creates what a process keeps (libuv's pool)
    const before = threads();
    for (let i = 0; i < 3; i++) await fail(join(dir, 'no-such-dir', 'x.trace'));
    expect(threads()).toBe(before); // each failed start used to leave its two workers running
    for (const path of [join(dir, 'no-such-dir', 'x.trace'), '/dev/full']) {
      const err = await fail(path);
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toContain(JSON.stringify(path));
    }
  });

  it('a FIFO or a pipe is a ConfigError at once: the stream writes at offsets (a FIFO nobody reads blocked the start in open(), for good)', async () => {
    const fifo = join(dir, 'recording.fifo');
    execFileSync('mkfifo', [fifo]);
    // Nobody reads it: in a child, so that the code before this (which blocked its thread in
    // open(), timers and all) ends in the child's timeout instead of the test's worker.
    const code = `import { Runtime } from ${JSON.stringify(new URL('../../src/index.ts', import.meta.url).href)};
      try { await Runtime.start({ tasks: new URL(${JSON.stringify(tasks.href)}), workers: 1, execArgv: [], trace: { mode: 'file', path: ${JSON.stringify(fifo)} } }); console.log('started'); }
      catch (e) { console.log(e.name + ': ' + e.message); }`;
    const r = await runChild(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { timeout: 30_000 });
    expect([r.status, r.signal], r.stderr).toEqual([0, null]);
    expect(r.stdout.trim()).toBe(`ConfigError: Runtime.start: trace.path ${JSON.stringify(fifo)} could not be opened and written (ENXIO: no such device or address, open '${fifo}'); a full recording writes at offsets: give it a regular file, not a pipe, a FIFO or a terminal`);
    // Someone reads it: the header's positional write fails, and the start with it.
    const reader = spawn('sh', ['-c', 'exec cat "$0" > /dev/null', fifo], { stdio: 'ignore' });
    try {
      const err = await Runtime.start({ tasks, workers: 1, trace: { mode: 'file', path: fifo } }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(/\(ESPIPE: invalid seek, write\); a full recording writes at offsets/);
    } finally {
      reader.kill('SIGKILL');
    }
  });
});

describe('a flight recorder', () => {
  // trace.records is up to 2^20 per thread: the rings are reserved, not committed, and a region
  // too large to index is refused before anything is allocated.
  it('the largest rings are reserved, not touched: a thread\'s ring costs memory once it records', async () => {
    const path = join(dir, 'big-region.trace');
    const r = await runChild(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('../fixtures/big-trace-region.ts', import.meta.url)), path], { timeout: 120_000 });
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout.trim()) as { reserved: number; growth: number; value: number; records: number };
    expect(out.value).toBe(42);
    expect(out.reserved).toBe(18 * 64 * 2 ** 20); // 1.2 GB
    // Two workers' boot and the run take tens of MB; laying the rings out by writing every word
    // took all 1.2 GB (and ~5 s) here.
    expect(out.growth).toBeLessThan(out.reserved / 4);
    // Saved, it reads back whole: what each thread recorded, from its META on.
    expect(out.records).toBeGreaterThan(0);
    expect(readTrace(path).records.length).toBe(out.records);
    await expect(Runtime.start({ tasks, workers: 2, maxAttachments: 255, trace: { mode: 'flight', records: 2 ** 20 } }))
      .rejects.toThrow(/trace rings would take 17247010944 bytes .*at most 8589934592.*lower trace\.records or maxAttachments/);
  }, 120_000);

  it('saved after a worker died, it still has that worker\'s last records, then its death and respawn', async () => {
    const rt = await Runtime.start({ tasks: faults, workers: 1, trace: { mode: 'flight', records: 64 } });
    try {
      const crash = rt.producer('p').submit(rt.task('exitOnce'), join(dir, 'once')) as Token;
      await crash.then(() => {}, () => {});
      expect(await rt.run('exitOnce', join(dir, 'once'))).toBe(2); // the replacement runs
      const path = join(dir, 'flight.trace');
      const saved = rt.saveTrace(path);
      const f = readTrace(path);
      expect(f.meta.mode).toBe('flight');
      expect(f.bad).toBe(0);
      expect(saved.records).toBe(f.records.length);
      const id = `0:${(crash as unknown as { _index: number })._index}:${(crash as unknown as { _gen: number })._gen}`;
      // The dead thread's START for the token it died running, read from its slot's ring.
      const start = f.records.find((r) => r.kind === RecordKind.START && key(r) === id);
      expect(start?.writerClass).toBe(WRITER_WORKER);
      const died = f.records.findIndex((r) => r.kind === RecordKind.WORKER_DIED);
      const respawned = f.records.findIndex((r) => r.kind === RecordKind.WORKER_RESPAWNED);
      expect(died).toBeGreaterThanOrEqual(0);
      expect(respawned).toBeGreaterThan(died);
      expect(f.records.filter((r) => r.kind === RecordKind.RELEASE && key(r) === id).map((r) => OUTCOMES[r.aux])).toEqual(['abandoned']);
    } finally {
      await rt.close();
    }
  }, 60_000);

  it('nested tasks: a child admitted by a worker names its parent, in the worker attachment\'s own ring', async () => {
    const rt = await Runtime.start({ tasks: nested, workers: 2, trace: { mode: 'flight', records: 1024 }, taskData: { sab: new SharedArrayBuffer(16) } });
    try {
      const parent = rt.producer('tree').submit(rt.task('parent'), { n: 2, m: 1 }) as Token;
      await parent;
      const path = join(dir, 'nested.trace');
      rt.saveTrace(path);
      const f = readTrace(path);
      const admitted = kind(f, RecordKind.SUBMIT_ADMITTED);
      const top = admitted.find((r) => r.tokenAtt === 0)!;
      const children = admitted.filter((r) => r.parentAtt === top.tokenAtt && r.parent === top.token && r.parentGen === top.gen);
      expect(children).toHaveLength(2);
      for (const c of children) {
        expect(c.writerClass).toBe(WRITER_ATTACHMENT);
        expect(c.writerIndex).toBeGreaterThan(0); // a worker's own attachment
        const grandchildren = admitted.filter((r) => r.parentAtt === c.tokenAtt && r.parent === c.token && r.parentGen === c.gen);
        expect(grandchildren).toHaveLength(1);
      }
      const chrome = toChromeTrace(f.records);
      expect(validateChromeTrace(chrome)).toEqual([]);
    } finally {
      await rt.close();
    }
  }, 60_000);
});

describe('the trace option and saveTrace, checked', () => {
  it('bad trace options are ConfigErrors; saveTrace without recording is one', async () => {
    for (const trace of [null, 'flight', { mode: 'x' }, { mode: 'flight', records: 3 }, { mode: 'flight', records: 1 }, { mode: 'file' }, { mode: 'file', path: '' }, { mode: 'flight', path: 'x' }, { mode: 'flight', extra: 1 }]) {
      await expect(Runtime.start({ tasks, workers: 1, trace: trace as never })).rejects.toBeInstanceOf(ConfigError);
    }
    const rt = await Runtime.start({ tasks, workers: 1 });
    try {
      expect(() => rt.saveTrace(join(dir, 'none.trace'))).toThrow(ConfigError);
    } finally {
      await rt.close();
    }
  }, 60_000);
});

describe('an attached thread records into its own ring; a forged trace region is refused', () => {
  it('attach with the handle: its records are in ring a; a region of the wrong size or shape is an AttachError with no slot taken', async () => {
    const rt = await Runtime.start({ tasks, workers: 1, trace: { mode: 'flight', records: 64 } });
    try {
      const h = rt.handle as unknown as Record<string, unknown> & { trace: Record<string, unknown> };
      for (const trace of [
        { ...h.trace, sab: new SharedArrayBuffer(64) },
        { ...h.trace, attachments: 1 },
        { ...h.trace, records: 3 },
        { ...h.trace, workers: -1 },
        { ...h.trace, sab: new ArrayBuffer(64) },
        'not an object',
      ]) {
        await expect(Runtime.attach({ ...h, trace } as never)).rejects.toBeInstanceOf(AttachError);
      }
      const att = await Runtime.attach(rt.handle);
      await att.run('inc', 1);
      await att.close();
      const path = join(dir, 'attached.trace');
      rt.saveTrace(path);
      const f = readTrace(path);
      const mine = f.records.filter((r) => r.writerClass === WRITER_ATTACHMENT && r.writerIndex === 1);
      expect(mine.map((r) => r.kind)).toEqual(expect.arrayContaining([RecordKind.META, RecordKind.SUBMIT_ADMITTED, RecordKind.RELEASE]));
      // The refused handles took no slot: the one attach that worked got slot 1.
      expect(mine.find((r) => r.kind === RecordKind.SUBMIT_ADMITTED)!.tokenAtt).toBe(1);
    } finally {
      await rt.close();
    }
  }, 60_000);
});
