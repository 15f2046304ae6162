/**
 * All of a runtime's trace rings in one region: one ring per attachment slot (0..A-1) and one per
 * worker slot (0..W-1), each of `capacity` slots, laid out back to back (ring.ts: each a whole
 * number of 128-byte blocks, so every ring starts on a block when the region does). What the
 * layout reserves when tracing is on (`TraceRings.words`), what every thread opens its own ring
 * and Recorder from, and what saveFlight and TraceStream read (`threads()`).
 *
 * A ring belongs to a slot, not to a thread: a replacement worker (or a thread that takes a freed
 * attachment slot) gets the same ring and calls adopt() before recording.
 */
import { Recorder } from './recorder.js';
import { WRITER_ATTACHMENT, WRITER_WORKER, type WriterClass } from './records.js';
import type { ThreadRing, ThreadInfo } from './file.js';
import { TraceRing } from './ring.js';

export class TraceRings {
  /** Words the region takes (a multiple of 32: 128-byte blocks). */
  static words(attachments: number, workers: number, capacity: number): number {
    return (attachments + workers) * TraceRing.words(capacity);
  }

  /**
   * A view of the region at word `base` of `i32` (128-byte aligned: the layout's job). `init`
   * lays every ring out: once, by the thread that starts the runtime, before any other uses it;
   * `zeroed`: the region's words are all zero already (TraceRing's constructor: only the headers
   * are written, so a ring's pages are touched only once its thread records).
   */
  constructor(
    readonly i32: Int32Array, readonly base: number, readonly attachments: number, readonly workers: number,
    readonly capacity: number, init = false, zeroed = false,
  ) {
    if (!Number.isInteger(attachments) || attachments < 1 || attachments > 255 || !Number.isInteger(workers) || workers < 0 || workers > 255) {
      throw new RangeError(`trace rings: attachments must be in [1, 255] and workers in [0, 255]; got ${attachments} and ${workers}`);
    }
    if (base < 0 || base + TraceRings.words(attachments, workers, capacity) > i32.length) {
      throw new RangeError(`trace rings: ${attachments + workers} rings of ${capacity} slots at word ${base} do not fit in ${i32.length} words`);
    }
    if (init) for (let k = 0; k < attachments + workers; k++) new TraceRing(i32, base + k * TraceRing.words(capacity), capacity, true, zeroed);
  }

  /** Word index of the ring of attachment a (class 0) or worker slot w (class 1). */
  ringBase(writerClass: WriterClass, index: number): number {
    const limit = writerClass === WRITER_WORKER ? this.workers : this.attachments;
    if (!Number.isInteger(index) || index < 0 || index >= limit) throw new RangeError(`no trace ring for ${writerClass === WRITER_WORKER ? 'worker' : 'attachment'} ${index}`);
    return this.base + (writerClass === WRITER_WORKER ? this.attachments + index : index) * TraceRing.words(this.capacity);
  }

  /** A view of one ring (any thread: readers; the owning thread: its writer). */
  ring(writerClass: WriterClass, index: number): TraceRing {
    return new TraceRing(this.i32, this.ringBase(writerClass, index), this.capacity);
  }

  /**
   * The Recorder of the calling thread, for slot `index` of `writerClass`: it takes the ring
   * over where its last writer left it (adopt), so a replacement thread continues a dead one's
   * positions and no reader sees a position twice.
   */
  recorder(writerClass: WriterClass, index: number): Recorder {
    const ring = this.ring(writerClass, index);
    ring.adopt();
    return new Recorder(ring, writerClass, index);
  }

  /**
   * Every ring with its thread's identity, for saveFlight and TraceStream. `name` labels a slot
   * (default: 'main', 'attached a', 'worker w').
   */
  threads(name: (writerClass: WriterClass, index: number) => string = defaultName): ThreadRing[] {
    const out: ThreadRing[] = [];
    for (let a = 0; a < this.attachments; a++) {
      const kind: ThreadInfo['kind'] = a === 0 ? 'main' : 'attached';
      out.push({ ring: this.ring(WRITER_ATTACHMENT, a), writerClass: WRITER_ATTACHMENT, writerIndex: a, kind, name: name(WRITER_ATTACHMENT, a) });
    }
    for (let w = 0; w < this.workers; w++) {
      out.push({ ring: this.ring(WRITER_WORKER, w), writerClass: WRITER_WORKER, writerIndex: w, kind: 'worker', name: name(WRITER_WORKER, w) });
    }
    return out;
  }
}

function defaultName(writerClass: WriterClass, index: number): string {
  return writerClass === WRITER_WORKER ? `worker ${index}` : index === 0 ? 'main' : `attached ${index}`;
}
