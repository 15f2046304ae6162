/**
 * Bad input, as a table: every public call x every kind of bad value -> a typed error with its
 * stable code, nothing taken (rt.stats() unchanged: global, producers, queued per worker), no
 * thread or file descriptor leaked, and never the bad value's text in the message.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import {
  AttachError, ConfigError, PayloadError, Runtime, SluiceError, UnknownTaskError, VirtualClock, WorkerStartError, type TaskRef, type Token,
} from '../src/index.js';

const tasks = new URL('./fixtures/tasks.mjs', import.meta.url);
const SECRET = `hunter2-${randomUUID()}`;

type Cls = new (...a: never[]) => SluiceError;
interface Row { call: string; kind: string; run: () => unknown; cls: Cls; code: string }

const fds = (): number => readdirSync('/proc/self/fd').length;
const threads = (): number => readdirSync('/proc/self/task').length;

/** Proxy whose every trap throws an Error carrying the secret. */
const trapsThrow = (): object => {
  const boom = (): never => { throw new Error(SECRET); };
  return new Proxy({}, { get: boom, has: boom, ownKeys: boom, getOwnPropertyDescriptor: boom, getPrototypeOf: boom });
};
/** An object whose `key` getter throws. */
const getterThrows = (key: string): object => Object.defineProperty({}, key, { enumerable: true, get() { throw new Error(SECRET); } });
/** The payload that once printed the whole environment: secrets plus something uncloneable. */
const envPayload = (): unknown => ({ env: { SECRET, PATH: SECRET }, f() { return SECRET; } });

/** Where an object belongs: null, a number, a string, an array, a function, a throwing Proxy, a throwing getter, an unknown key. */
function objectKinds(probeKey: string, allowUndefined: boolean): Array<[string, unknown]> {
  const kinds: Array<[string, unknown]> = [
    ['null', null], ['a number', 5], ['a string', SECRET], ['an array', [SECRET]], ['a function', () => SECRET],
    ['a Proxy whose traps throw', trapsThrow()], [`a throwing getter (${probeKey})`, getterThrows(probeKey)],
    ['an unknown key', { [`x${SECRET}`]: 1 }],
  ];
  if (!allowUndefined) kinds.unshift(['undefined', undefined]);
  return kinds;
}

/** Bad numbers for an integer option, plus the value just past each bound. */
function numberKinds(min: number, max: number): Array<[string, unknown]> {
  return [
    ['NaN', NaN], ['Infinity', Infinity], ['-Infinity', -Infinity], ['1.5', 1.5], ['2**53', 2 ** 53], ['a numeric string', '5'],
    [`min - 1 (${min - 1})`, min - 1], [`max + 1 (${max + 1})`, max + 1],
  ];
}

function statsKey(rt: Runtime): unknown {
  const s = rt.stats();
  return {
    state: s.state,
    global: s.global,
    producers: s.producers.map((p) => ({ name: p.name, limits: p.limits, inFlight: p.inFlight, admitted: p.admitted, rejected: p.rejected, resolved: p.resolved })),
    queued: s.workers.map((w) => w.queued),
  };
}

async function outcome(run: () => unknown): Promise<unknown> {
  try {
    const r = run();
    if (r instanceof Promise) await r;
    return { returned: r };
  } catch (err) {
    return err;
  }
}

describe('every public call refuses bad input with a typed error, taking nothing', () => {
  let rt: Runtime;
  let other: Runtime;
  let dir: string;
  let done: Token<number>;
  const started: Runtime[] = [];

  beforeAll(async () => {
    rt = await Runtime.start({ tasks, workers: 2, maxAttachments: 4, spillBytes: 1 << 16, largeValues: 'refuse' });
    other = await Runtime.start({ tasks, workers: 1, maxAttachments: 2, spillBytes: 1 << 16 });
    rt.producer('p', { slots: 8 });
    await rt.run('inc', 1); // the default producer exists before the table
    done = rt.producer('p').submit(rt.task('inc'), 1) as Token<number>;
    await done;
    dir = mkdtempSync(join(tmpdir(), 'sluice-bad-'));
    writeFileSync(join(dir, 'no-functions.mjs'), 'export const x = 1;\n');
    writeFileSync(join(dir, 'syntax.mjs'), 'export function a() {}\n\nexport const b = ;\n');
    // Warm whatever a first failed start creates once per process (libuv pool, module caches).
    await Runtime.start({ tasks: join(dir, 'no-functions.mjs'), workers: 1 }).catch(() => undefined);
  });
  afterAll(async () => {
    await Promise.all([rt.close(), other.close(), ...started.map((r) => r.close())]);
  });

  function table(): Row[] {
    const rows: Row[] = [];
    const add = (call: string, kind: string, run: () => unknown, cls: Cls = ConfigError, code = 'ERR_SLUICE_CONFIG'): void => {
      rows.push({ call, kind, run, cls, code });
    };
    const p = rt.producer('p');
    const inc = rt.task('inc');
    const start = (o: unknown): Promise<Runtime> => Runtime.start(o as never).then((r) => { started.push(r); return r; });

    // ---- Runtime.start ----
    for (const [k, v] of objectKinds('workers', false)) add('Runtime.start(options)', k, () => start(v));
    for (const [opt, min, max] of [
      ['workers', 1, 255], ['globalSlots', 1, 65535], ['spinUs', 0, 1_000_000], ['asyncConcurrency', 1, 65536],
      ['maxProducers', 1, 4096], ['maxAttachments', 1, 255], ['runQueueLimit', 0, 2 ** 31 - 1], ['watchdogMs', 1, 60_000],
      ['maxRestarts', 0, 1_000_000],
    ] as const) {
      for (const [k, v] of numberKinds(min, max)) add(`Runtime.start({ ${opt} })`, k, () => start({ tasks, [opt]: v }));
    }
    for (const [k, v] of [...numberKinds(2, 65536), ['not a power of two', 3], ['2**17', 2 ** 17]] as Array<[string, unknown]>) {
      add('Runtime.start({ ringCapacity })', k, () => start({ tasks, ringCapacity: v }));
    }
    for (const [k, v] of [...numberKinds(1024, 2 ** 30), ['not a power of two', 3000], ['2**31', 2 ** 31]] as Array<[string, unknown]>) {
      add('Runtime.start({ spillBytes })', k, () => start({ tasks, spillBytes: v }));
    }
    // The layout's real limit: (maxAttachments + workers) x spillBytes must fit in 2^31 bytes.
    add('Runtime.start({ spillBytes })', 'past the layout limit (2 x 2^30)', () => start({ tasks, workers: 1, maxAttachments: 1, spillBytes: 2 ** 30 }));
    add('Runtime.start({ spillBytes })', 'past the layout limit (default 16 attachments x 2^27)', () => start({ tasks, workers: 2, spillBytes: 2 ** 27 }));
    for (const [k, v] of [['a number', 5], ['null', null], ['an object', {}], ['an empty string', ''], ['a lone surrogate', '\uD800']] as Array<[string, unknown]>) {
      add('Runtime.start({ tasks })', k, () => start({ tasks: v }));
    }
    for (const [k, v] of [['a string', SECRET], ['true', true], ['an object', {}], ['a short map', []], ['a bad CPU', [[-1], [0]]], ['a non-array entry', [SECRET, [0]]]] as Array<[string, unknown]>) {
      add('Runtime.start({ affinity })', k, () => start({ tasks, workers: 2, affinity: v }));
    }
    for (const opt of ['steal', 'warmUp', 'testHooks']) {
      for (const [k, v] of [['a string', SECRET], ['1', 1], ['null', null]] as Array<[string, unknown]>) add(`Runtime.start({ ${opt} })`, k, () => start({ tasks, [opt]: v }));
    }
    for (const [k, v] of [...objectKinds('maxOldGenerationSizeMb', true), ['NaN', { maxOldGenerationSizeMb: NaN }], ['-1', { stackSizeMb: -1 }], ['Infinity', { codeRangeSizeMb: Infinity }]] as Array<[string, unknown]>) {
      add('Runtime.start({ resourceLimits })', k, () => start({ tasks, resourceLimits: v }));
    }
    for (const [k, v] of [
      ['null', null], ['a number', 5], ['an object without now', {}], ['now not a function', { now: 5 }], ['now throws', { now() { throw new Error(SECRET); } }],
      ['now returns NaN', { now: () => NaN }], ['now returns Infinity', { now: () => Infinity }], ['now returns a string', { now: () => SECRET }],
      ['now returns -1', { now: () => -1 }], ['a Proxy whose traps throw', trapsThrow()],
    ] as Array<[string, unknown]>) {
      add('Runtime.start({ clock })', k, () => start({ tasks, clock: v }));
    }
    for (const [k, v] of [['a string', SECRET], ['null', null], ['an object', {}], ['a number entry', [5]], ['a Proxy whose traps throw', trapsThrow()]] as Array<[string, unknown]>) {
      add('Runtime.start({ execArgv })', k, () => start({ tasks, execArgv: v }));
    }
    for (const [k, v] of [['a string', SECRET], ['null', null], ['an array', [SECRET]], ['a number value', { A: 5 }], ['a throwing getter', getterThrows('A')], ['a Proxy whose traps throw', trapsThrow()]] as Array<[string, unknown]>) {
      add('Runtime.start({ env })', k, () => start({ tasks, env: v }));
    }
    const errorKinds: Array<[string, unknown]> = [
      ['a string', SECRET], ['null', null], ['an object', {}], ['a string entry', [SECRET]], ['a non-Error class', [class {}]], ['an arrow function', [() => SECRET]],
      ['a built-in name', [Object.defineProperty(class extends Error {}, 'name', { value: 'RangeError' })]], ['a Proxy entry whose traps throw', [new Proxy(class extends Error {}, { getOwnPropertyDescriptor() { throw new Error(SECRET); } })]],
    ];
    for (const [k, v] of errorKinds) add('Runtime.start({ errors })', k, () => start({ tasks, errors: v }));
    add('Runtime.start({ taskData })', 'environment plus a function', () => start({ tasks, taskData: envPayload() }));
    add('Runtime.start({ taskData })', 'a MessagePort', () => start({ tasks, taskData: { port: new MessageChannel().port1 } }));
    add('Runtime.start({ taskData })', 'a symbol', () => start({ tasks, taskData: Symbol(SECRET) }));
    add('Runtime.start(module)', 'no functions', () => start({ tasks: join(dir, 'no-functions.mjs'), workers: 1 }), WorkerStartError, 'ERR_SLUICE_WORKER_START');
    add('Runtime.start(module)', 'a syntax error', () => start({ tasks: join(dir, 'syntax.mjs'), workers: 2 }), WorkerStartError, 'ERR_SLUICE_WORKER_START');
    add('Runtime.start(module)', 'missing', () => start({ tasks: join(dir, 'missing.mjs'), workers: 1 }), WorkerStartError, 'ERR_SLUICE_WORKER_START');

    // ---- rt.task ----
    for (const [k, v] of [['a number', 5], ['null', null], ['undefined', undefined], ['an object', {}]] as Array<[string, unknown]>) {
      add('rt.task(name)', k, () => rt.task(v as string));
    }
    add('rt.task(name)', 'unknown', () => rt.task(SECRET), UnknownTaskError, 'ERR_SLUICE_UNKNOWN_TASK');
    add('rt.task(name)', 'unknown, huge', () => rt.task(SECRET.repeat(1000)), UnknownTaskError, 'ERR_SLUICE_UNKNOWN_TASK');
    for (const [k, v] of objectKinds('deadlineMs', true)) add('rt.task(name, options)', k, () => rt.task('inc', v as never));
    for (const opt of ['deadlineMs', 'queueTimeoutMs']) {
      for (const [k, v] of numberKinds(0, 2 ** 31 - 1)) add(`rt.task(name, { ${opt} })`, k, () => rt.task('inc', { [opt]: v }));
    }
    for (const [k, v] of numberKinds(0, 100)) add('rt.task(name, { retries })', k, () => rt.task('inc', { retries: v as number }));
    for (const [k, v] of [['a string', SECRET], ['a number', 1], ['null', null]] as Array<[string, unknown]>) add('rt.task(name, { weight })', k, () => rt.task('inc', { weight: v as never }));

    // ---- rt.producer ----
    for (const [k, v] of [
      ['a number', 5], ['null', null], ['undefined', undefined], ['empty', ''], ['a lone high surrogate', '\uD800'], ['a lone low surrogate', 'x\uDC00'],
      ['65 bytes', 'x'.repeat(65)], ['33 two-byte chars', 'é'.repeat(33)],
    ] as Array<[string, unknown]>) {
      add('rt.producer(name)', k, () => rt.producer(v as string));
    }
    for (const [k, v] of objectKinds('slots', true)) add('rt.producer(name, limits)', k, () => rt.producer('fresh', v as never));
    for (const [k, v] of numberKinds(1, 2 ** 31 - 1).filter(([n]) => n !== 'Infinity')) add('rt.producer(name, { rate })', k, () => rt.producer('fresh', { rate: v as number }));
    for (const [k, v] of numberKinds(1, 65535)) add('rt.producer(name, { slots })', k, () => rt.producer('fresh', { slots: v as number }));
    for (const [k, v] of numberKinds(1, 65535)) add('rt.producer(name, { burst })', k, () => rt.producer('fresh', { rate: 10, burst: v as number }));
    add('rt.producer(name, { burst })', 'without a rate', () => rt.producer('fresh', { burst: 5 }));
    add('rt.producer(name, limits)', 'differs from the registered ones', () => rt.producer('p', { slots: 9 }));

    // ---- producer.submit ----
    const lookAlike = { name: 'inc', id: 0, weight: null, weightIndex: 3, deadlineMs: 0, queueTimeoutMs: 0, retries: 0 };
    const foreign = other.task('inc');
    const taskKinds: Array<[string, unknown]> = [
      ['a number', 5], ['null', null], ['undefined', undefined], ['a look-alike object', lookAlike],
      ['a TaskRef of another runtime', foreign], ['a Proxy whose traps throw', trapsThrow()],
    ];
    for (const [k, v] of taskKinds) add('producer.submit(task)', k, () => p.submit(v as TaskRef, 1));
    add('producer.submit(task)', 'an unknown name', () => p.submit(SECRET, 1), UnknownTaskError, 'ERR_SLUICE_UNKNOWN_TASK');
    for (const [k, v] of [
      ['environment plus a function', envPayload()], ['a symbol', Symbol(SECRET)], ['a function', () => SECRET],
      ['a MessagePort', { port: new MessageChannel().port1 }], ['a WeakMap', new WeakMap()], ['a Promise', Promise.resolve(SECRET)],
    ] as Array<[string, unknown]>) {
      add('producer.submit(payload)', k, () => p.submit(inc, v), PayloadError, 'ERR_SLUICE_PAYLOAD');
    }
    add('producer.submit(payload)', 'larger than the spill arena', () => p.submit(inc, 'x'.repeat(1 << 17)), PayloadError, 'ERR_SLUICE_PAYLOAD');
    for (const [k, v] of objectKinds('deadlineMs', true)) add('producer.submit(options)', k, () => p.submit(inc, 1, v as never));
    for (const opt of ['deadlineMs', 'queueTimeoutMs']) {
      for (const [k, v] of numberKinds(0, 2 ** 31 - 1)) add(`producer.submit({ ${opt} })`, k, () => p.submit(inc, 1, { [opt]: v }));
    }
    for (const [k, v] of [['a look-alike signal', { aborted: false, addEventListener() {} }], ['a string', SECRET], ['an EventTarget', new EventTarget()]] as Array<[string, unknown]>) {
      add('producer.submit({ signal })', k, () => p.submit(inc, 1, { signal: v as AbortSignal }));
    }

    // ---- producer.submitCallback ----
    const cb = (): void => {};
    for (const [k, v] of taskKinds) add('producer.submitCallback(task)', k, () => p.submitCallback(v as TaskRef, 1, cb));
    for (const [k, v] of [['null', null], ['undefined', undefined], ['a number', 5], ['a string', SECRET], ['an object', {}]] as Array<[string, unknown]>) {
      add('producer.submitCallback(callback)', k, () => p.submitCallback(inc, 1, v as never));
    }
    for (const [k, v] of [...numberKinds(-(2 ** 31), 2 ** 31 - 1), ['null', null]] as Array<[string, unknown]>) {
      add('producer.submitCallback(tag)', k, () => p.submitCallback(inc, 1, cb, v as number));
    }
    add('producer.submitCallback(payload)', 'environment plus a function', () => p.submitCallback(inc, envPayload(), cb), PayloadError, 'ERR_SLUICE_PAYLOAD');

    // ---- rt.run ----
    for (const [k, v] of taskKinds) add('rt.run(task)', k, () => rt.run(v as TaskRef, 1));
    for (const [k, v] of objectKinds('deadlineMs', true)) add('rt.run(options)', k, () => rt.run(inc, 1, v as never));
    add('rt.run(options)', 'deadlineMs NaN', () => rt.run(inc, 1, { deadlineMs: NaN }));
    add('rt.run(payload)', 'environment plus a function', () => rt.run(inc, envPayload()), PayloadError, 'ERR_SLUICE_PAYLOAD');

    // ---- producer.on / off ----
    for (const m of ['on', 'off'] as const) {
      add(`producer.${m}(event)`, 'unknown event', () => p[m](SECRET as never, cb));
      for (const [k, v] of [['null', null], ['undefined', undefined], ['a number', 5], ['a string', SECRET], ['an object', {}]] as Array<[string, unknown]>) {
        add(`producer.${m}(listener)`, k, () => p[m]('saturated', v as never));
      }
    }

    // ---- token.cancel ----
    for (const [k, v] of [...objectKinds('force', true), ['force: 1', { force: 1 }], ['force: a string', { force: SECRET }]] as Array<[string, unknown]>) {
      add('token.cancel(options)', k, () => done.cancel(v as never));
    }

    // ---- close / drain (refused before anything happens: the runtime keeps running) ----
    for (const m of ['close', 'drain'] as const) {
      for (const [k, v] of objectKinds('timeoutMs', true)) add(`rt.${m}(options)`, k, () => rt[m](v as never));
      for (const [k, v] of numberKinds(0, 2 ** 31 - 1).filter(([n]) => m === 'close' || n !== 'Infinity')) add(`rt.${m}({ timeoutMs })`, k, () => rt[m]({ timeoutMs: v as number }));
    }

    // ---- Runtime.attach ----
    for (const [k, v] of objectKinds('sab', false)) add('Runtime.attach(handle)', k, () => Runtime.attach(v as never), AttachError, 'ERR_SLUICE_ATTACH');
    for (const [k, v] of objectKinds('clock', true)) add('Runtime.attach(handle, options)', k, () => Runtime.attach(rt.handle, v as never));
    for (const [k, v] of [['now throws', { now() { throw new Error(SECRET); } }], ['now returns NaN', { now: () => NaN }], ['a number', 5]] as Array<[string, unknown]>) {
      add('Runtime.attach(handle, { clock })', k, () => Runtime.attach(rt.handle, { clock: v as never }));
    }
    for (const [k, v] of errorKinds) add('Runtime.attach(handle, { errors })', k, () => Runtime.attach(rt.handle, { errors: v as never }));
    return rows;
  }

  it('the table: class and code, nothing taken, no message quoting the value, no thread or fd leaked', async () => {
    const rows = table();
    const threadsBefore = threads();
    const fdsBefore = fds();
    const failures: string[] = [];
    for (const row of rows) {
      const before = statsKey(rt);
      const err = await outcome(row.run);
      const label = `${row.call} with ${row.kind}`;
      if (!(err instanceof row.cls)) {
        failures.push(`${label}: expected ${row.cls.name}, got ${err instanceof Error ? `${err.name}: ${err.message}` : 'a return'}`);
        continue;
      }
      if ((err as SluiceError).code !== row.code) failures.push(`${label}: code ${(err as SluiceError).code}`);
      if (err.message.includes('hunter2')) failures.push(`${label}: the message quotes the value`);
      expect(statsKey(rt), label).toEqual(before);
    }
    expect(failures).toEqual([]);
    expect(rows.length).toBeGreaterThan(300);
    expect(started).toEqual([]); // no bad start succeeded
    expect(rt.stats().state).toBe('running');
    expect(await rt.run('inc', 41)).toBe(42);
    // Every refused attach took no slot: maxAttachments (4) - 1 attaches still succeed.
    const atts = await Promise.all([1, 2, 3].map(() => Runtime.attach(rt.handle)));
    await expect(Runtime.attach(rt.handle)).rejects.toThrow(/no free attachment slot/);
    await Promise.all(atts.map((a) => a.close()));
    expect(threads()).toBe(threadsBefore);
    expect(fds()).toBe(fdsBefore);
  });

  it('a throw while reading an option is a ConfigError naming the option, with the thrown value as its cause', async () => {
    const thrown = new Error('from the getter');
    const o = Object.defineProperty({ tasks }, 'workers', { enumerable: true, get() { throw thrown; } });
    const err = await Runtime.start(o as never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/'workers'/);
    expect((err as Error).cause).toBe(thrown);
    const err2 = (() => { try { rt.task('inc', getterThrows('retries') as never); } catch (e) { return e; } })();
    expect((err2 as Error).message).toMatch(/'retries'/);
    expect((err2 as Error & { cause: Error }).cause.message).toBe(SECRET);
  });

  it('every option is read exactly once: a getter that turns bad on its second read is never read twice', async () => {
    const flip = <T>(key: string, good: T, bad: unknown, extra: object = {}): { o: object; reads: () => number } => {
      let n = 0;
      const o = Object.defineProperty({ ...extra }, key, { enumerable: true, get() { return n++ === 0 ? good : bad; } });
      return { o, reads: () => n };
    };
    const a = flip('deadlineMs', 1000, -1);
    const ref = rt.task('inc', a.o as never);
    expect(ref.deadlineMs).toBe(1000);
    expect(a.reads()).toBe(1);
    const b = flip('queueTimeoutMs', 5000, NaN);
    expect(await (rt.producer('p').submit(ref, 1, b.o as never) as PromiseLike<number>)).toBe(2);
    expect(b.reads()).toBe(1);
    const c = flip('slots', 3, 0);
    expect(rt.producer('flip', c.o as never).limits.slots).toBe(3);
    expect(c.reads()).toBe(1);
    const d = flip('deadlineMs', 1000, 'x');
    expect(await rt.run('inc', 2, d.o as never)).toBe(3);
    expect(d.reads()).toBe(1);
    const e = flip('timeoutMs', 1000, -5);
    const att = await Runtime.attach(rt.handle);
    await att.close(e.o as never);
    expect(e.reads()).toBe(1);
    const f = flip('workers', 1, 1e9, { tasks, spillBytes: 1 << 16 });
    const r = await Runtime.start(f.o as never);
    expect(f.reads()).toBe(1);
    expect(r.stats().workers.length).toBe(1);
    await r.close();
    // taskData's getters too: every worker gets a clone of the one clone taken at start. Read
    // again, this getter would hand the threads a flag that makes the task module refuse to load.
    const flagged = new Int32Array(new SharedArrayBuffer(4));
    flagged[0] = 1;
    const g = flip('flag', new SharedArrayBuffer(4), flagged.buffer);
    const r2 = await Runtime.start({ tasks: new URL('./fixtures/fail-when-flagged.mjs', import.meta.url), workers: 2, taskData: g.o, warmUp: false });
    try {
      expect(await r2.run('inc', 1)).toBe(2);
      await r2.allWorkersReady();
      expect(r2.stats().workers.every((x) => !x.failed && x.restarts === 0)).toBe(true);
    } finally {
      await r2.close();
    }
    expect(g.reads()).toBe(1);
  });

  it('values at each bound are accepted; -0 is 0', async () => {
    const ref = rt.task('inc', { deadlineMs: 2 ** 31 - 1, queueTimeoutMs: -0, retries: 100 });
    expect(Object.is(ref.queueTimeoutMs, 0)).toBe(true);
    expect(rt.producer('bounds', { rate: 2 ** 31 - 1, burst: 65535, slots: 65535 }).limits).toEqual({ rate: 2 ** 31 - 1, burst: 65535, slots: 65535 });
    const tags: number[] = [];
    await new Promise<void>((resolve) => {
      let n = 0;
      for (const tag of [-(2 ** 31), 2 ** 31 - 1, -0]) {
        expect(rt.producer('p').submitCallback(rt.task('inc'), 1, (_e, _v, t) => { tags.push(t); if (++n === 3) resolve(); }, tag)).toBeNull();
      }
    });
    expect(tags.sort((x, y) => x - y)).toEqual([-(2 ** 31), 0, 2 ** 31 - 1]);
  });

  it('the layout at its real limit starts and runs; one step past it is a ConfigError naming the total and the options to lower', async () => {
    // (1 attachment + 1 worker) x 2^29 spill bytes: ~1 GiB, under the 2^31 the word indices allow.
    const big = await Runtime.start({ tasks, workers: 1, maxAttachments: 1, spillBytes: 2 ** 29, warmUp: false });
    try {
      expect(await big.run('inc', 1)).toBe(2);
    } finally {
      await big.close();
    }
    const err = await Runtime.start({ tasks, workers: 1, maxAttachments: 1, spillBytes: 2 ** 30 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/need \d+ bytes/);
    expect((err as Error).message).toMatch(/lower spillBytes, maxAttachments, workers/);
  });

  it('a user clock that throws, returns NaN or goes backwards never breaks admission: last good reading, reported once', async () => {
    const clock = new VirtualClock(1_000_000);
    let mode: 'ok' | 'throw' | 'nan' | 'back' = 'ok';
    const hostile = {
      now(): number {
        if (mode === 'throw') throw new Error('clock broke');
        if (mode === 'nan') return NaN;
        if (mode === 'back') return 5;
        return clock.now();
      },
    };
    const reported: unknown[] = [];
    const onUncaught = (e: unknown): void => { reported.push(e); };
    const listeners = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    process.on('uncaughtException', onUncaught);
    const r = await Runtime.start({ tasks, workers: 1, clock: hostile, spillBytes: 1 << 16 });
    try {
      const pr = r.producer('rated', { rate: 1, burst: 2 });
      const t = r.task('inc');
      for (const m of ['throw', 'nan', 'back', 'ok'] as const) {
        mode = m;
        const a = pr.submit(t, 1);
        if (a.admitted) expect(await a).toBe(2);
        else expect(a.reason).toBe('rate');
        const s = r.stats();
        expect(s.global.inFlight).toBe(0);
        expect(s.producers.find((p) => p.name === 'rated')!.tokens).toBeGreaterThanOrEqual(0);
      }
      // The bucket was never corrupted: a second later (1 token/s) exactly one more is admitted.
      clock.advance(1_000_000);
      mode = 'ok';
      const a = pr.submit(t, 1);
      expect(a.admitted).toBe(true);
      await a;
      // Crash recovery still works (no window was left open by a clock throw).
      expect(await r.run('inc', 7)).toBe(8);
      await new Promise((res) => setImmediate(res));
      expect(reported).toHaveLength(1);
      expect((reported[0] as SluiceError).code).toBe('ERR_SLUICE_CLOCK');
    } finally {
      await r.close();
      process.off('uncaughtException', onUncaught);
      for (const l of listeners) process.on('uncaughtException', l);
    }
  });
});
