// Back-pressure that does not stall (issue 19 item 5): a 'rate' Rejection says when the bucket
// earns its next token (retryAfterMs), and 'clear' fires when the bucket has refilled, with
// nobody submitting or polling: a timer armed at the 'rate' refusal. Time is driven by hand:
// the admission clock is a VirtualClock, the timer runs under vitest's fake setTimeout.
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { REJECTIONS, R_PRODUCER_SLOTS } from '../src/admission/reasons.js';
import { earnedBy, retryAfterMs, ticksToNextToken } from '../src/admission/bucket.js';
import { Runtime, VirtualClock, type Producer, type Rejection } from '../src/index.js';

const tasks = new URL('./fixtures/tasks.mjs', import.meta.url);

describe('ticksToNextToken: exactly when the bucket earns its next token', () => {
  it('is the first tick at which E(t) grows (property, over now and rate)', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 1, max: 2 ** 20 }), (now, rate) => {
      const d = ticksToNextToken(now, rate);
      expect(d).toBeGreaterThanOrEqual(1);
      expect(earnedBy(now + d, rate)).toBeGreaterThan(earnedBy(now, rate));
      expect(earnedBy(now + d - 1, rate)).toBe(earnedBy(now, rate));
      const ms = retryAfterMs(now, rate);
      expect(Number.isInteger(ms) && ms >= 1 && ms * 1000 >= d && (ms - 1) * 1000 < Math.max(d, 1000)).toBe(true);
    }), { numRuns: 2000 });
  });

  it('examples: 10/s from tick 0 is 100 ms; 30 ms later 70 ms; rates above 1000/s round up to 1 ms', () => {
    expect(retryAfterMs(0, 10)).toBe(100);
    expect(retryAfterMs(30_000, 10)).toBe(70);
    expect(retryAfterMs(0, 1_000_000)).toBe(1);
    expect(ticksToNextToken(999_999, 1)).toBe(1); // the second's boundary
  });
});

describe("a runtime's producers: retryAfterMs and the 'clear' timer", () => {
  let rt: Runtime;
  const clock = new VirtualClock(0);
  beforeAll(async () => {
    rt = await Runtime.start({ tasks, workers: 1, clock });
  });
  afterEach(() => { vi.useRealTimers(); });
  afterAll(async () => { await rt.close(); });

  /** Take the bucket's one token and wait for its task: the next submit is refused 'rate'. */
  async function empty(p: Producer): Promise<void> {
    const a = p.submit('inc', 1);
    expect(a.admitted).toBe(true);
    if (a.admitted) await a.token;
  }

  it("a 'rate' Rejection carries retryAfterMs from the bucket's refill; it is the handle's one frozen object, the other reasons stay preallocated", async () => {
    const p = rt.producer('r10', { rate: 10, burst: 1, slots: 1 });
    clock.set(1_000_000); // a second boundary: the next token is 100 ms away
    await empty(p);
    const r1 = p.submit('inc', 1) as Rejection;
    expect(r1).toEqual({ admitted: false, reason: 'rate', retryAfterMs: 100 });
    clock.advance(30_000);
    const r2 = p.submit('inc', 1) as Rejection;
    expect(r2).toBe(r1); // no allocation per refusal
    expect(r2.retryAfterMs).toBe(70);
    expect(Object.isFrozen(r2)).toBe(true);
    expect(JSON.parse(JSON.stringify(r2))).toEqual({ admitted: false, reason: 'rate', retryAfterMs: 70 });
    // Its value is exact: one tick before it, still refused; at it, admitted.
    clock.advance(70_000 - 1);
    expect((p.submit('inc', 1) as Rejection).retryAfterMs).toBe(1);
    clock.advance(1);
    const a = p.submit('inc', 1);
    expect(a.admitted).toBe(true);
    if (a.admitted) await a.token;
    // Another reason: the shared frozen Rejection, no retryAfterMs.
    const q = rt.producer('slots1', { slots: 1 });
    const held = q.submit('inc', 1); // in flight until this thread drains it
    expect(held.admitted).toBe(true);
    const s = q.submit('inc', 1);
    expect(s).toBe(REJECTIONS[R_PRODUCER_SLOTS]);
    expect('retryAfterMs' in s).toBe(false);
    if (held.admitted) await held.token;
  });

  it("'clear' fires when the bucket has refilled, with nobody submitting or polling; not before", async () => {
    const p = rt.producer('r10-clear', { rate: 10, burst: 1, slots: 8 });
    clock.set(Math.ceil(clock.now() / 1_000_000 + 1) * 1_000_000);
    await empty(p);
    const events: string[] = [];
    p.on('saturated', () => events.push('saturated')).on('clear', () => events.push('clear'));
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const timers = vi.getTimerCount();
    const r = p.submit('inc', 1) as Rejection;
    expect(r.retryAfterMs).toBe(100);
    expect(events).toEqual(['saturated']);
    for (let i = 0; i < 10; i++) p.submit('inc', 1); // more refusals: still one timer
    expect(vi.getTimerCount()).toBe(timers + 1);
    // The timer fires at 100 ms, but the admission clock has not moved: no token, no 'clear';
    // armed again for the bucket's time.
    vi.advanceTimersByTime(100);
    expect(events).toEqual(['saturated']);
    expect(p.saturated).toBe(true);
    expect(vi.getTimerCount()).toBe(timers + 1);
    // The bucket's time passes: the timer refills it and 'clear' fires, no submit in between.
    clock.advance(100_000);
    vi.advanceTimersByTime(99);
    expect(events).toEqual(['saturated']);
    vi.advanceTimersByTime(1);
    expect(events).toEqual(['saturated', 'clear']);
    expect(p.saturated).toBe(false);
    expect(vi.getTimerCount()).toBe(timers); // cleared when 'clear' fired
    expect(p.stats().tokens).toBe(1); // the timer's refill
    vi.useRealTimers();
    const a = p.submit('inc', 1);
    expect(a.admitted).toBe(true);
    if (a.admitted) await a.token;
  });

  it("a 'clear' that arrives another way (a drain) clears the timer", async () => {
    const p = rt.producer('r10-slots', { rate: 10, burst: 2, slots: 8 });
    clock.set(Math.ceil(clock.now() / 1_000_000 + 1) * 1_000_000);
    await empty(p);
    await empty(p);
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const timers = vi.getTimerCount();
    expect((p.submit('inc', 1) as Rejection).reason).toBe('rate');
    expect(vi.getTimerCount()).toBe(timers + 1);
    // The clock moves and a submit is admitted: the edge clears at that admission.
    clock.advance(100_000);
    const a = p.submit('inc', 1);
    expect(a.admitted).toBe(true);
    expect(p.saturated).toBe(false);
    expect(vi.getTimerCount()).toBe(timers);
    vi.useRealTimers();
    if (a.admitted) await a.token;
  });
});

describe("the 'clear' timer ends with its runtime handle", () => {
  it('close() clears a pending timer (it was unref\'d: it never kept the process alive)', async () => {
    const clock = new VirtualClock(0);
    const rt = await Runtime.start({ tasks, workers: 1, clock });
    const p = rt.producer('closing', { rate: 1, burst: 1 });
    const a = p.submit('inc', 1);
    if (a.admitted) await a.token;
    expect(p.submit('inc', 1).admitted).toBe(false);
    const timer = (p as unknown as { clearTimer: NodeJS.Timeout | null }).clearTimer;
    expect(timer).not.toBeNull();
    expect(timer!.hasRef()).toBe(false); // nobody listens for 'clear': it never keeps the process alive
    const listener = (): void => {};
    p.on('clear', listener);
    expect(timer!.hasRef()).toBe(true); // someone waits for 'clear': it keeps the process alive until it fires
    p.off('clear', listener);
    expect(timer!.hasRef()).toBe(false);
    await rt.close();
    expect((p as unknown as { clearTimer: NodeJS.Timeout | null }).clearTimer).toBeNull();
  });
});
