/**
 * The histogram words (src/shm/words/histogram.ts): every value falls in the bucket whose
 * bounds hold it, buckets are contiguous and at most 1/8 of their lower bound wide, percentiles
 * come from the right bucket, and adds from several threads at once are all counted.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Worker } from 'node:worker_threads';
import {
  HIST_BUCKETS, HIST_MAX, HIST_SUB, HIST_WORDS, bucketHigh, bucketLow, bucketOf, copyHistogram, recordUs, resetHistogram, summarize,
} from '../../src/shm/words/histogram.js';

describe('histogram buckets', () => {
  it('are contiguous from 0 to 2^32, exact below 8, at most 12.5% wide above', () => {
    expect(bucketLow(0)).toBe(0);
    for (let b = 0; b < HIST_BUCKETS; b++) {
      expect(bucketHigh(b)).toBeGreaterThan(bucketLow(b));
      if (b + 1 < HIST_BUCKETS) expect(bucketLow(b + 1)).toBe(bucketHigh(b));
      if (bucketLow(b) < HIST_SUB) expect(bucketHigh(b) - bucketLow(b)).toBe(1);
      else expect(bucketHigh(b) - bucketLow(b)).toBeLessThanOrEqual(bucketLow(b) / HIST_SUB);
    }
    expect(bucketHigh(HIST_BUCKETS - 1)).toBe(2 ** 32);
    expect(HIST_MAX).toBeLessThan(HIST_WORDS);
  });

  it('put every value in the bucket whose bounds hold it', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), (v) => {
      const b = bucketOf(v);
      expect(b).toBeGreaterThanOrEqual(0);
      expect(b).toBeLessThan(HIST_BUCKETS);
      expect(bucketLow(b)).toBeLessThanOrEqual(v);
      expect(v).toBeLessThan(bucketHigh(b));
    }), { numRuns: 2000 });
  });

  it('count negative, NaN and fractional values as 0 / truncated, and too large ones in the last bucket', () => {
    expect(bucketOf(-5)).toBe(0);
    expect(bucketOf(Number.NaN)).toBe(0);
    expect(bucketOf(7.9)).toBe(7);
    expect(bucketOf(2 ** 40)).toBe(HIST_BUCKETS - 1);
  });
});

describe('histogram words', () => {
  it('record counts and the exact max; summarize reports percentiles from the holding bucket; reset zeroes', () => {
    const i32 = new Int32Array(new SharedArrayBuffer(HIST_WORDS * 4 * 2));
    const base = HIST_WORDS; // the second histogram: the first stays untouched
    for (let v = 1; v <= 1000; v++) recordUs(i32, base, v);
    const h = copyHistogram(i32, base);
    const s = summarize(h);
    expect(s.count).toBe(1000);
    expect(s.max).toBe(1000);
    // The p-th percentile is within one bucket above the true one, never above max.
    for (const [q, got] of [[500, s.p50], [900, s.p90], [990, s.p99], [999, s.p999]] as const) {
      expect(got).toBeGreaterThanOrEqual(q);
      expect(got).toBeLessThan(bucketHigh(bucketOf(q)));
      expect(got).toBeLessThanOrEqual(s.max);
    }
    expect(copyHistogram(i32, 0).counts.every((c) => c === 0)).toBe(true);
    resetHistogram(i32, base);
    expect(summarize(copyHistogram(i32, base))).toEqual({ count: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 });
  });

  it('max keeps the largest value whatever the order (unsigned compare past 2^31)', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 2 ** 32 - 1 }), { minLength: 1, maxLength: 50 }), (vs) => {
      const i32 = new Int32Array(HIST_WORDS);
      for (const v of vs) recordUs(i32, 0, v);
      expect(copyHistogram(i32, 0).max).toBe(Math.max(...vs));
      expect(summarize(copyHistogram(i32, 0)).count).toBe(vs.length);
    }));
  });

  it('count every add of several threads adding at once', async () => {
    const sab = new SharedArrayBuffer(HIST_WORDS * 4 + 4);
    const i32 = new Int32Array(sab);
    const go = HIST_WORDS; // start flag: every thread waits on it, so their adds overlap
    const N = 20_000;
    const boot = new URL('../fixtures/ts-bootstrap.mjs', import.meta.url);
    const entry = new URL('../fixtures/shm/histogram-adder.ts', import.meta.url).href;
    const workers = [0, 1, 2].map((k) => new Worker(boot, { workerData: { entry, sab, go, n: N, k } }));
    // A thread that has not reached its wait yet sees the flag set and goes straight on: the adds overlap either way.
    Atomics.store(i32, go, 1);
    Atomics.notify(i32, go);
    const codes = await Promise.all(workers.map((w) => new Promise((r) => { w.once('error', r); w.once('exit', r); })));
    expect(codes).toEqual([0, 0, 0]);
    const s = summarize(copyHistogram(i32, 0));
    expect(s.count).toBe(3 * N);
    expect(s.max).toBe(63 + 2);
  });
});
