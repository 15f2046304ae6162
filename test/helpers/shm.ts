// Shared set-up for the shm substrate tests: standalone rings in their own buffer, a small
// Memory, and a way to run worker threads under a watchdog that fails the test on a hang.
import { Worker } from 'node:worker_threads';
import { BLOCK_BYTES, BLOCK_WORDS, C_SEQ, Memory, type LayoutConfig } from '../../src/shm/layout.js';
import { Ring } from '../../src/shm/ring.js';

/**
 * One ring in a buffer of its own:
 *
 *   block 0            tail
 *   block 1            head
 *   next C blocks      control blocks for the test (counters, one writer per block)
 *   cells              capacity x 128 bytes
 */
export interface RingBuffer {
  sab: SharedArrayBuffer;
  i32: Int32Array;
  ring: Ring;
  id: number;
  capacity: number;
  tailW: number;
  headW: number;
  cellsByte: number;
  /** Word index of control block b. */
  ctlW(block: number): number;
}

export function ringBuffer(capacity: number, opts: { ctlBlocks?: number; id?: number } = {}): RingBuffer {
  const ctlBlocks = opts.ctlBlocks ?? 0;
  const id = opts.id ?? 7;
  const cellsByte = (2 + ctlBlocks) * BLOCK_BYTES;
  const sab = new SharedArrayBuffer(cellsByte + Ring.cellBytes(capacity));
  const i32 = new Int32Array(sab);
  const tailW = 0;
  const headW = BLOCK_WORDS;
  return {
    sab, i32, id, capacity, tailW, headW, cellsByte,
    ring: new Ring(i32, id, tailW, headW, cellsByte, capacity),
    ctlW: (b: number): number => (2 + b) * BLOCK_WORDS,
  };
}

/**
 * Put an empty ring in the state it would be in after carrying `start` items: tail = head =
 * start, and every cell holding the publication word of the last position that used it. (A
 * fresh zeroed ring only ever starts at 0; starting elsewhere with zeroed cells would make
 * position -1 look published, since its publication word is (-1 + 1) | 0 = 0.)
 */
export function fastForward(rb: RingBuffer, start: number): void {
  for (let k = 1; k <= rb.capacity; k++) {
    const p = (start - k) | 0;
    rb.i32[rb.ring.cellWord(p) + C_SEQ] = (p + 1) | 0;
  }
  rb.i32[rb.tailW] = start | 0;
  rb.i32[rb.headW] = start | 0;
}

/** The smallest sensible runtime memory; override what a test needs. */
export function smallMemory(over: Partial<LayoutConfig> = {}): Memory {
  return Memory.create({
    workers: 1, ringCapacity: 4, globalSlots: 4, maxProducers: 1, maxAttachments: 1,
    spillBytes: 1024, taskCount: 0, spinMicros: 0, asyncLimit: 1, ...over,
  });
}

/** Start a fixture under test/fixtures/shm/ as a worker thread. */
export function fixture(name: string, workerData: unknown): Worker {
  return new Worker(new URL(`../fixtures/shm/${name}`, import.meta.url), { workerData });
}

/**
 * Wait for every worker to exit with code 0. A worker that throws or exits non-zero fails the
 * run at once. If they have not all exited after `watchdogMs` (a hang: a lost wake-up, a lost
 * item), every worker is terminated and the run fails with `progress()` in the message, so the
 * failure says where it stalled instead of showing up as a bare test timeout.
 */
export async function runThreads(workers: Worker[], watchdogMs: number, progress: () => string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const exits = workers.map((w, i) => new Promise<void>((resolve, reject) => {
    w.once('error', (err) => reject(new Error(`thread ${i} threw: ${err.stack ?? String(err)}`)));
    w.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`thread ${i} exited with code ${code}; ${progress()}`))));
  }));
  const watchdog = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const state = progress();
      for (const w of workers) void w.terminate();
      reject(new Error(`watchdog: threads still running after ${watchdogMs} ms (a hang); ${state}`));
    }, watchdogMs);
  });
  try {
    await Promise.race([Promise.all(exits), watchdog]);
  } catch (err) {
    for (const w of workers) void w.terminate();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}
