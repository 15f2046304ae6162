/**
 * A user's program against the published declarations (dist/*.d.ts), compiled with `tsc --noEmit`
 * under test/types/tsconfig.json ("lib": ["ES2022"], skipLibCheck false, strict). It names every
 * public type (so one that is not exported fails to compile), and each `@ts-expect-error` line
 * proves that something internal is NOT part of the surface: if it compiled, the directive itself
 * would be an error. Never run; only type-checked (test/types.test.ts).
 */
import {
  AbandonedError, AbortedError, AttachError, ClockError, ConfigError, MonotonicClock, PayloadError, Producer, RejectedError,
  RetractedError, Runtime, SluiceError, TaskRef, TICKS_PER_SECOND, Token, UnknownTaskError, VirtualClock, WorkerStartError,
  Quarantine, GuardControl, QUARANTINE_LIMIT,
} from 'sluice';
import type {
  Admission, AffinityInfo, AttachOptions, CancelOptions, Clock, CloseOptions, EffectiveLimits, Outcome, ProducerEvent,
  ProducerLimits, ProducerStats, RejectReason, Rejection, RunRejectReason, RuntimeHandle, RuntimeOptions, RuntimeState,
  RuntimeStats, SluiceErrorCode, SubmitCallback, SubmitOptions, TaskOptions, TokenKey, TokenState, Weight, WorkerStats,
  IoClass, IoClassName, IoClassStats,
  LatencyStats, TaskLatency, TaskStats,
  GuardOptions, BreakerStats, BreakerState, HealthClass, QuarantineEntry,
} from 'sluice';
import { LE_MICROS, histogramSnapshot, metricsHandler, metricsSnapshot, prometheusRegistry, serveMetrics } from 'sluice/observe';
import type {
  HistogramSnapshot, MetricsServer, MetricsSnapshot, ProducerSnapshot, PrometheusOptions, ServeMetricsOptions, TaskSnapshot, WorkerSnapshot,
} from 'sluice/observe';
import { runtime } from 'sluice/task';
import type { TaskRuntime } from 'sluice/task';
import { calibrateIo, formatCalibration } from 'sluice/io';
import type { CalibrateIoOptions, IoCalibration, IoLevel } from 'sluice/io';

type Equal<A, B> = (<X>() => X extends A ? 1 : 2) extends (<X>() => X extends B ? 1 : 2) ? true : false;
function assertType<T extends true>(_: T): void {}
function never(x: never): never { throw new Error(String(x)); }

export async function consumer(): Promise<void> {
  const clock: Clock = new VirtualClock(0);
  const options: RuntimeOptions = {
    tasks: new URL('./tasks.js', import.meta.url), workers: 2, globalSlots: 64, ringCapacity: 64, affinity: 'auto', spinUs: 50,
    asyncConcurrency: 8, maxProducers: 8, maxAttachments: 2, spillBytes: 1 << 16, runQueueLimit: 16, clock, watchdogMs: 10,
    maxRestarts: 3, stallMs: 1000, resourceLimits: { maxOldGenerationSizeMb: 64 }, taskData: { n: 1 }, steal: true, warmUp: false,
    startTimeoutMs: 5000, signal: new AbortController().signal, largeValues: 'message', ioLimits: { slow: 4 },
  };
  // @ts-expect-error `spin` was renamed `spinUs` (every other duration is ...Ms; this one says µs)
  const old: RuntimeOptions = { tasks: 'x', spin: 50 };
  // @ts-expect-error test-only switches are not part of the surface
  const hooks: RuntimeOptions = { tasks: 'x', testHooks: true };
  void old; void hooks;

  await using rt = await Runtime.start(options);
  // @ts-expect-error a Runtime comes from Runtime.start or Runtime.attach
  new Runtime();
  // @ts-expect-error internals of the runtime are not visible
  void rt.att;
  // @ts-expect-error test-only controls are not part of the surface
  void rt.testing;
  // @ts-expect-error nor the instance id
  void rt.instance;

  const affinity: Readonly<AffinityInfo> = rt.affinity;
  // @ts-expect-error rt.affinity is read-only
  rt.affinity.pinned = true;
  // @ts-expect-error and so is the property
  rt.affinity = affinity;
  const names: readonly string[] = rt.names;
  void names;

  const taskOptions: TaskOptions = { weight: 'heavy', deadlineMs: 10, queueTimeoutMs: 10, retries: 1 };
  const task: TaskRef = rt.task('inc', taskOptions);
  const ioName: IoClassName = 'slow';
  const io: IoClass = { limit: 4 };
  const ioTask = rt.task('inc', { io: ioName });
  const declared: IoClass | null = ioTask.io;
  // @ts-expect-error an I/O class is a name or { limit }
  rt.task('inc', { io: 'turbo' });
  // @ts-expect-error a TaskRef's class binding is internal
  void ioTask._io;
  const ioStats: IoClassStats[] = rt.stats().io;
  void io; void declared; void ioStats;
  const calOptions: CalibrateIoOptions = { bytes: 4096, maxConcurrency: 8, durationMs: 100, onLevel: (l: IoLevel) => { void l.mbPerSec; } };
  const cal: IoCalibration = await calibrateIo('/tmp', calOptions);
  const lines: string[] = formatCalibration(cal);
  const knee: number = cal.recommended;
  void lines; void knee;
  const weight: Weight | null = task.weight;
  const id: number = task.id;
  void weight; void id;
  // @ts-expect-error a TaskRef comes from rt.task()
  new TaskRef();
  // @ts-expect-error its fields are read-only
  task.id = 3;

  const limits: ProducerLimits = { rate: 100, burst: 10, slots: 4 };
  const p: Producer = rt.producer('tenant', limits);
  const eff: EffectiveLimits = p.limits;
  // producer.limits registers (finds) the same producer: it is a ProducerLimits
  const same: Producer = rt.producer('tenant', p.limits);
  const asGiven: ProducerLimits = eff;
  const slots: number = eff.slots;
  void same; void asGiven; void slots;
  // @ts-expect-error producer.limits is read-only
  p.limits.slots = 5;
  // @ts-expect-error a Producer comes from rt.producer()
  new Producer();
  // @ts-expect-error nor with the internal host argument
  new Producer({}, 'x', 0, { rate: 0, burst: 0, slots: 1 });
  // @ts-expect-error internals of a producer are not visible
  void p.index;
  // @ts-expect-error nor its gate
  void p.gate;
  // @ts-expect-error nor the internal submit path
  void p._submitParsed;

  const event: ProducerEvent = 'saturated';
  p.on(event, () => {}).off('clear', () => {});
  // @ts-expect-error only two events
  p.on('drained', () => {});

  const submitOptions: SubmitOptions = {
    deadlineMs: 5, queueTimeoutMs: 5, signal: new AbortController().signal, abandonOnAbort: true, transfer: [new ArrayBuffer(8)],
  };
  const a: Admission<number> = p.submit<number>(task, 1, submitOptions);
  if (a.admitted) {
    const token: Token<number> = a.token;
    const state: TokenState = token.state;
    const outcome: Outcome | undefined = token.outcome;
    const value: number | undefined = token.value;
    assertType<Equal<typeof token.value, number | undefined>>(true);
    const error: unknown = token.error;
    const result: number = token.result();
    const cancelOptions: CancelOptions = { force: true };
    const cancelled: boolean = token.cancel(cancelOptions);
    const awaited: number = await token;
    const promised: Promise<number> = token.promise();
    void state; void outcome; void value; void error; void result; void cancelled; void awaited; void promised;
    // Lineage (sluice/task, docs/design.md §4.14).
    const key: TokenKey = token.key;
    const parent: TokenKey | null = token.parent;
    const chained: SubmitOptions = { parent: token };
    const numbers: [number, number, number] = [key.attachment, key.index, key.generation];
    void parent; void chained; void numbers;
    // @ts-expect-error a key is read-only
    key.index = 1;
    // @ts-expect-error the brand check is internal
    void Token._is;
    const inTask: TaskRuntime = runtime;
    const current: TokenKey | null = inTask.current;
    const child: Admission<number> = inTask.submit<number>(task, 1, { parent: token });
    const ran: Promise<number> = inTask.run<number>('inc', 1);
    const named: Producer = inTask.producer('tenant', { slots: 2 });
    const ref: TaskRef = inTask.task('inc');
    void current; void child; void ran; void named; void ref;
    // @ts-expect-error a Token comes from submit
    new Token();
    // @ts-expect-error nor with the internal arguments
    new Token({}, 0, 0, 0, 0, 1);
    // @ts-expect-error its attachment is not visible
    void token._att;
    // @ts-expect-error nor its generation
    void token._gen;
    // @ts-expect-error nor its raw outcome
    void token._outcome;
    // @ts-expect-error nor the settle hook
    token._settle(0, 1);
    // @ts-expect-error the id is read-only
    token.id = 5;
    // @ts-expect-error the state is read-only
    token.state = 'resolved';
  } else {
    const r: Rejection = a;
    const retryAfterMs: number | undefined = r.retryAfterMs; // 'rate' only
    void retryAfterMs;
    // @ts-expect-error a Rejection is read-only
    r.retryAfterMs = 5;
    const reason: RejectReason = r.reason;
    switch (reason) {
      case 'rate': case 'producer-slots': case 'global-slots': case 'ring-full': case 'arena-full': case 'no-workers':
      case 'draining': case 'closed': case 'quarantined': case 'io-class':
        break;
      default:
        never(reason); // every reason is listed: the union is closed
    }
  }

  const callback: SubmitCallback<number> = (err, value, tag) => { void err; void value; void tag; };
  const rejected: Rejection | null = p.submitCallback(task, 1, callback, 7);
  void rejected;

  const v: number = await rt.run<number>('inc', 1, submitOptions);
  void v;

  // The Guard House: a breaker per task function, health, quarantine.
  const guarded = rt.task('inc', { guard: { failureRatio: 0.5, minVolume: 20, windowMs: 10_000, coolDownMs: 5_000, probes: 3, mode: 'observe' } satisfies GuardOptions });
  void guarded;
  const bs: BreakerStats | null = rt.guard.state('inc');
  const bstate: BreakerState | undefined = bs?.state;
  void bstate;
  const left: BreakerState = rt.guard.isolate('inc', 'maintenance');
  const released: boolean = rt.guard.release('inc');
  void left; void released;
  const ts: TaskStats | undefined = rt.stats().tasks[0];
  const hc: HealthClass | undefined = ts?.health;
  void hc;
  const q: Quarantine = rt.quarantine;
  const entries: QuarantineEntry[] = q.list();
  const limit: number = QUARANTINE_LIMIT;
  void limit;
  if (entries[0] !== undefined) void q.resubmit(entries[0].id, p);
  const gc: GuardControl = rt.guard;
  void gc;

  const stats: RuntimeStats = rt.stats();
  const runtimeState: RuntimeState = stats.state;
  const ps: ProducerStats | undefined = stats.producers[0];
  const ws: WorkerStats | undefined = stats.workers[0];
  if (ps !== undefined) {
    const back: Producer = rt.producer(ps.name, ps.limits); // ProducerStats.limits round-trips too
    const byReason: number = ps.rejected['arena-full'];
    const byOutcome: number = ps.resolved.abandoned;
    void back; void byReason; void byOutcome;
  }
  if (ws !== undefined) { const heavy: number = ws.routed.heavy; void heavy; }
  void runtimeState;

  // Metrics (Runtime.start({ metrics: true })): percentiles in µs, utilization, a window.
  const metered = await Runtime.start({ tasks: new URL('./tasks.js', import.meta.url), metrics: true });
  const ms: RuntimeStats = metered.stats();
  const latency: TaskLatency | null = ms.producers[0]?.latency ?? null;
  const p99: number | undefined = latency?.queueWait.p99;
  const ls: LatencyStats | undefined = latency?.run;
  const perTask: TaskStats | undefined = ms.tasks[0];
  const util: number | null | undefined = ms.workers[0]?.utilization;
  const window: number | null = ms.windowSeconds;
  metered.resetStats();
  void p99; void ls; void perTask; void util; void window;
  // @ts-expect-error the raw histogram copy is sluice/observe's, not the surface
  metered.rawMetrics();
  const snap: MetricsSnapshot = metricsSnapshot(metered);
  const ps2: ProducerSnapshot | undefined = snap.producers[0];
  const hs: HistogramSnapshot | null | undefined = ps2?.run;
  const ts2: TaskSnapshot | undefined = snap.tasks[0];
  const wsn: WorkerSnapshot | undefined = snap.workers[0];
  const bounds: readonly number[] = LE_MICROS;
  void hs; void ts2; void wsn; void bounds; void histogramSnapshot;
  const promOptions: PrometheusOptions = { processMetrics: true };
  const registry = prometheusRegistry(metered, promOptions);
  const text: string = await registry.metrics();
  void text; void metricsHandler(registry);
  const serveOptions: ServeMetricsOptions = { port: 0, host: '127.0.0.1' };
  const server: MetricsServer = await serveMetrics(metered, serveOptions);
  const url: string = server.url;
  void url;
  await server.close();
  await metered.close();

  const handle: RuntimeHandle = rt.handle;
  const attachOptions: AttachOptions = { clock: new VirtualClock(5) };
  const remote: Runtime = await Runtime.attach(handle, attachOptions);
  const closeOptions: CloseOptions = { timeoutMs: 100 };
  await remote.drain(closeOptions);
  await remote.close(closeOptions);

  // Errors: a literal code per class, a typed union on the base.
  const codes: SluiceErrorCode[] = [
    new ConfigError('x').code, new UnknownTaskError('t', []).code, new PayloadError('x').code, new RetractedError().code,
    new AbandonedError('x').code, new RejectedError('closed', 'x').code, new WorkerStartError('x').code, new AttachError('x').code,
    new ClockError('x').code, new AbortedError('x').code,
  ];
  assertType<Equal<ConfigError['code'], 'ERR_SLUICE_CONFIG'>>(true);
  assertType<Equal<RejectedError['code'], 'ERR_SLUICE_REJECTED'>>(true);
  // @ts-expect-error a PayloadError's code is not the config code
  const wrong: 'ERR_SLUICE_CONFIG' = new PayloadError('x').code;
  const runReason: RunRejectReason = new RejectedError('queue-full', 'x').reason;
  // @ts-expect-error a reason outside the union
  new RejectedError('because', 'x');
  const err: unknown = new Error();
  if (err instanceof SluiceError) {
    const code: SluiceErrorCode = err.code;
    void code;
  }
  void codes; void wrong; void runReason;

  const ticks: number = new MonotonicClock(0).now() + TICKS_PER_SECOND;
  void ticks;
}
