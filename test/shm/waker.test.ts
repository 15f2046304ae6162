import { afterEach, describe, expect, it, vi } from 'vitest';
import { BLOCK_WORDS } from '../../src/shm/layout.js';
import { WAKER_PARKED, WAKER_RUNNING, WAKER_SPINNING, Waker, useNativeFutex, wake, type NativeFutex } from '../../src/shm/waker.js';
import { nativeFutex } from '../../src/runtime/native/affinity.js';
import { fixture, runThreads } from '../helpers/shm.js';

const futex = nativeFutex();

/** A buffer of `blocks` 128-byte blocks; block b starts at word b * BLOCK_WORDS. */
function blocks(n: number): { sab: SharedArrayBuffer; i32: Int32Array; block: (b: number) => number } {
  const sab = new SharedArrayBuffer(n * BLOCK_WORDS * 4);
  return { sab, i32: new Int32Array(sab), block: (b) => b * BLOCK_WORDS };
}

/** Parks with parkAsync, wakes, and checks it resolves "ok" with the word RUNNING. */
async function parkAsyncThenWake(): Promise<void> {
  const { i32 } = blocks(1);
  const w = new Waker(i32, 0);
  w.announcePark();
  const parked = w.parkAsync();
  expect(parked).not.toBeNull();
  expect(wake(i32, 0)).toBe(true);
  await expect(parked).resolves.toBe('ok');
  expect(i32[0]).toBe(WAKER_RUNNING);
}

afterEach(() => {
  vi.restoreAllMocks();
  useNativeFutex(null);
});

describe('Waker: single thread', () => {
  it('the consumer moves RUNNING -> SPINNING -> PARKED and back to RUNNING', () => {
    const { i32 } = blocks(1);
    const w = new Waker(i32, 0);
    expect(i32[0]).toBe(WAKER_RUNNING);
    w.spinning();
    expect(i32[0]).toBe(WAKER_SPINNING);
    w.announcePark();
    expect(i32[0]).toBe(WAKER_PARKED);
    w.running();
    expect(i32[0]).toBe(WAKER_RUNNING);
  });

  it('wake() returns true only when it wins PARKED -> RUNNING, and only then makes the notify call', () => {
    const { i32 } = blocks(1);
    const notify = vi.spyOn(Atomics, 'notify');
    for (const state of [WAKER_RUNNING, WAKER_SPINNING]) {
      i32[0] = state;
      expect(wake(i32, 0)).toBe(false);
      expect(i32[0]).toBe(state);
    }
    expect(notify).not.toHaveBeenCalled();
    i32[0] = WAKER_PARKED;
    expect(wake(i32, 0)).toBe(true);
    expect(i32[0]).toBe(WAKER_RUNNING);
    expect(notify).toHaveBeenCalledTimes(1);
    expect(wake(i32, 0)).toBe(false); // already woken: a second wake is free
    expect(notify).toHaveBeenCalledTimes(1);
  });

  it('a wake that lands between the re-check and parkSync() makes the wait return at once', () => {
    const { i32 } = blocks(1);
    const w = new Waker(i32, 0);
    const wait = vi.spyOn(Atomics, 'wait');
    w.announcePark();
    expect(wake(i32, 0)).toBe(true);
    w.parkSync();
    expect(wait).toHaveBeenCalledTimes(1);
    expect(wait.mock.results[0]!.value).toBe('not-equal');
    expect(i32[0]).toBe(WAKER_RUNNING);
  });

  it('a parkSync() that times out leaves the word RUNNING, so a later wake() makes no notify call', () => {
    const { i32 } = blocks(1);
    const w = new Waker(i32, 0);
    const wait = vi.spyOn(Atomics, 'wait');
    w.announcePark();
    w.parkSync(0);
    expect(wait.mock.results[0]!.value).toBe('timed-out');
    expect(i32[0]).toBe(WAKER_RUNNING);
    const notify = vi.spyOn(Atomics, 'notify');
    expect(wake(i32, 0)).toBe(false);
    expect(notify).not.toHaveBeenCalled();
  });

  it('parkAsync() on a word a wake already flipped returns null and leaves it RUNNING', () => {
    const { i32 } = blocks(1);
    const w = new Waker(i32, 0);
    w.announcePark();
    expect(wake(i32, 0)).toBe(true);
    expect(w.parkAsync()).toBeNull();
    expect(i32[0]).toBe(WAKER_RUNNING);
  });

  it('parkAsync() resolves "ok" when woken, with the word RUNNING', async () => {
    await parkAsyncThenWake();
  }, 10_000);
});

describe.skipIf(futex === null)('Waker: the native futex (addon)', () => {
  /** The addon's pair with every call recorded (results and the timeouts asked for). */
  function recorded(): { f: NativeFutex; waits: number[]; asked: number[]; wakes: number } {
    const log = { waits: [] as number[], asked: [] as number[], wakes: 0 };
    const f: NativeFutex = {
      futexWait: (i32, index, expected, ms) => {
        log.asked.push(ms);
        const r = futex!.futexWait(i32, index, expected, ms);
        log.waits.push(r);
        return r;
      },
      futexWake: (i32, index, count) => { log.wakes++; return futex!.futexWake(i32, index, count); },
    };
    return { f, waits: log.waits, asked: log.asked, get wakes() { return log.wakes; } };
  }

  it('parkSync() sleeps in the futex instead of Atomics.wait; a wake before it makes it return at once', () => {
    const { i32 } = blocks(1);
    const rec = recorded();
    useNativeFutex(rec.f);
    const wait = vi.spyOn(Atomics, 'wait');
    const w = new Waker(i32, 0);
    w.announcePark();
    expect(wake(i32, 0)).toBe(true);
    expect(rec.wakes).toBe(1); // notify woke no V8 waiter, so the native wake was issued
    w.parkSync();
    expect(rec.waits).toEqual([1]); // the word no longer read PARKED
    expect(wait).not.toHaveBeenCalled();
    expect(i32[0]).toBe(WAKER_RUNNING);
  });

  it('a timed parkSync() ends after its time, in slices no longer than the slice, RUNNING', () => {
    const { i32 } = blocks(1);
    const rec = recorded();
    useNativeFutex(rec.f, 20);
    const w = new Waker(i32, 0);
    w.announcePark();
    w.parkSync(50);
    // 50 ms in slices of at most 20: at least two sleeps (however late each one ends), none longer.
    expect(rec.asked.length).toBeGreaterThanOrEqual(2);
    expect(Math.max(...rec.asked)).toBeLessThanOrEqual(20);
    expect(rec.waits.every((r) => r === 2)).toBe(true); // each slice timed out
    expect(i32[0]).toBe(WAKER_RUNNING);
  });

  it('a wake from a thread without the native futex still ends the sleep (at the end of a slice)', async () => {
    // The sleeper is another thread with the futex installed; this one wakes with notify only.
    const { sab, i32, block } = blocks(3);
    const [wakerW, queueW, consumerW] = [block(0), block(1), block(2)];
    const sleeper = fixture('waker-consumer.mjs', { sab, wakerW, queueW, consumerW, total: 1, native: true, sliceMs: 20 });
    try {
      // Until it has decided to sleep (its park counter, +3, is bumped right before parkSync).
      while (Atomics.load(i32, consumerW + 3) !== 1) await new Promise((r) => setTimeout(r, 1));
      Atomics.store(i32, queueW, 1); // the item
      expect(wake(i32, wakerW)).toBe(true); // no native futex in this thread: a notify that wakes nobody
      await new Promise<void>((resolve, reject) => { sleeper.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`exit ${code}`)))); });
      expect(i32[consumerW]).toBe(1); // it took the item
    } finally {
      await sleeper.terminate();
    }
  }, 10_000);

  it('wake() with a V8 waiter on the word issues no native wake', async () => {
    const rec = recorded();
    useNativeFutex(rec.f);
    await parkAsyncThenWake();
    expect(rec.wakes).toBe(0);
  }, 10_000);
});

describe('Waker: real threads', () => {
  it.each([
    { how: 'Atomics.wait/notify', native: false, plain: false },
    ...(futex === null ? [] : [{ how: 'the native futex', native: true, plain: false }]),
    // The asymmetric protocol (layout.ts plainPublish): CI has the addon, so this case is never left out.
    // End to end with the real Waker and barrier; the race it guards is nanoseconds wide, so this
    // case passed with the barrier removed too: what fails then is the asymmetric litmus in
    // test/shm/order.test.ts and the explorer's 'tso' model (test/explore/waker.test.ts).
    { how: 'plain publishes and the consumer\'s process barrier, native futex', native: true, plain: true },
  ])('no lost wake-up ($how): a parking consumer sees every item of 20k burst/silence cycles, with at most one notify per park', async ({ native, plain }) => {
    const CYCLES = 20_000;
    let total = 0;
    for (let c = 0; c < CYCLES; c++) total += 1 + (c % 3);
    // Blocks: 0 waker word, 1 item counter (producer), 2 consumer counters, 3 producer counters.
    const { sab, i32, block } = blocks(4);
    const [wakerW, queueW, consumerW, producerW] = [block(0), block(1), block(2), block(3)];
    const words = { sab, wakerW, queueW, consumerW, producerW };
    const threads = [
      fixture('waker-consumer.mjs', { ...words, total, native, plain }),
      fixture('waker-producer.mjs', { ...words, cycles: CYCLES, jitter: 2048, native, plain }),
    ];
    await runThreads(threads, 60_000, () =>
      `stalled in cycle ${i32[producerW + 1]} of ${CYCLES}: pushed ${i32[queueW]}, consumed ${i32[consumerW]}, ` +
      `waker state ${i32[wakerW]} (2 = parked), parks ${i32[consumerW + 3]}, wakes ${i32[producerW]}`);

    const consumed = i32[consumerW]!;
    const announces = i32[consumerW + 2]!;
    const parks = i32[consumerW + 3]!;
    const wakes = i32[producerW]!;
    expect({ pushed: i32[queueW], consumed }).toEqual({ pushed: total, consumed: total });
    // Every 4th cycle (after the first) starts only once the consumer has decided to sleep.
    expect(parks).toBeGreaterThanOrEqual(Math.floor((CYCLES - 1) / 4));
    // Each parkSync() returned, so a wake() won for it; and a wake() wins only against an
    // announced park: one notify per sleep at most, none for the pushes that found it awake.
    expect(wakes).toBeGreaterThanOrEqual(parks);
    expect(wakes).toBeLessThanOrEqual(announces);
  });

  it('of two threads racing wake() on one parked word, exactly one wins, 20k times', async () => {
    const ROUNDS = 20_000;
    // Blocks: 0 waker word, 1 round (opener), 2 rival (ready, +1 done), 3 wins, 4 verdict (opener).
    const { sab, i32, block } = blocks(5);
    const words = {
      sab, rounds: ROUNDS, jitter: 16, wakerW: block(0), roundW: block(1), readyW: block(2), rivalDoneW: block(2) + 1,
      winsW: block(3), verdictW: block(4),
    };
    const threads = [fixture('waker-duel.mjs', { ...words, role: 'opener' }), fixture('waker-duel.mjs', { ...words, role: 'rival' })];
    await runThreads(threads, 60_000, () => `stalled in round ${i32[block(1)]}: wins ${i32[block(3)]}, rival done ${i32[block(2) + 1]}`);
    expect({ firstBadRound: i32[block(4)], wins: i32[block(3)] }).toEqual({ firstBadRound: 0, wins: ROUNDS });
  });
});
