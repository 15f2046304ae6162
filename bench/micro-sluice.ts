// sluice's hot-path building blocks, single thread, on a bare Memory (no runtime, no workers).
import { ADMITTED, ProducerGate, admitProducer, releaseSlots, type Limits } from '../src/admission/gate.js';
import { MonotonicClock, hrtimeMicros } from '../src/admission/clock.js';
import { TickSource } from '../src/admission/tick.js';
import { wasmDecide } from '../src/admission/wasm-gate.js';
import { Codec } from '../src/runtime/codec.js';
import { lookupOrRegister, type ProducerLimits } from '../src/runtime/registry.js';
import { C_DATA_WORD, Memory, P_PACKED, W_HEAD, W_WAKER } from '../src/shm/layout.js';
import { Ring } from '../src/shm/ring.js';
import { wake } from '../src/shm/waker.js';
import type { Case } from './benchjs.js';
import { GUARD_REJECT, guardAdmit, guardIsolate } from '../src/admission/guard.js';
import { BLOCK_WORDS, G_BREAKER } from '../src/shm/layout.js';
import { BR_STATE_MASK } from '../src/shm/words/breaker.js';

/** A small runtime memory: 1 worker ring of 64 cells, 1024 global slots, 64 KiB spill arenas. */
export function bareMemory(): Memory {
  return Memory.create({
    workers: 1, ringCapacity: 64, globalSlots: 1024, maxProducers: 4, maxAttachments: 2,
    spillBytes: 1 << 16, taskCount: 1, spinMicros: 0, asyncLimit: 1,
  });
}

/** A producer registered the way Runtime.producer does it; its gate word and limits. */
export function gateOf(mem: Memory, name: string, limits?: ProducerLimits) {
  const { index, limits: l } = lookupOrRegister(mem, name, limits, 0);
  return { index, limits: l as Limits, word: mem.producerWord(index, P_PACKED) };
}

/** A rate no decision loop can outrun: the bucket never refuses, every refill is real work. */
const RATE = 2 ** 31 - 1;
/**
 * Decisions per timed call: the completions are given back in bulk after each batch, and the
 * harness's per-call cost is spread over the batch, so the rows time the decision alone.
 */
const BATCH = 512;

export const DECISION_UNRATED = 'sluice admission decision: unrated (producer slots + global)';
export const DECISION_RATED = 'sluice admission decision: rated, tick reused (a submit loop)';
export const DECISION_FRESH = 'sluice admission decision: rated, clock read every decision';
export const DECISION_JS = 'sluice admission decision: unrated, JavaScript path (no WebAssembly)';
export const CLOCK_ROW = 'clock: MonotonicClock.now()';
export const DECISION_GUARDED = 'sluice admission decision: unrated + breaker check (the Guard House, closed)';
export const DECISION_QUARANTINED = "sluice admission decision: refused 'quarantined' (isolated task)";

/**
 * The decision as Producer.admit makes it (steps 2-3 in one call, ProducerGate.admitWithGlobal):
 * the bucket at the admission tick, then the producer CAS and the global CAS with this
 * thread's guesses, through the WebAssembly fast path unless `js`. `reuse`: the tick source
 * may reuse a reading (as in one turn of a submit loop: a fresh reading every TICK_REUSE
 * decisions), or must read the clock every time. Each case has its own memory and guesses.
 */
function decisionCase(label: string, limits: ProducerLimits | undefined, reuse: boolean, js = false, guard: 'none' | 'closed' | 'isolated' = 'none'): Case {
  const mem = bareMemory();
  const i32 = mem.i32;
  const G = mem.layout.maxProducers;
  const guess = new Int32Array(mem.sab, mem.guessByte(0), G + 1);
  const reg = gateOf(mem, 'p', limits);
  const ticks = new TickSource(new MonotonicClock(hrtimeMicros()));
  ticks.reusable = reuse;
  const fast = js ? null : wasmDecide(mem.wasm);
  if (!js && fast === null) throw new Error(`${label}: no WebAssembly on this platform`);
  const gate = new ProducerGate(i32, mem, reg.index, reg.limits, guess, ticks, fast);
  const global = mem.globalWord;
  const p = reg.index;
  const word = gate.word;
  if (guard !== 'none') {
    // The submit path's breaker check (Producer.admit, §4.16 step 1): one plain load of the task's
    // breaker word; a closed breaker goes on to the gates, an isolated one refuses before them.
    const base = mem.guardWord(0, G_BREAKER);
    if (guard === 'isolated') guardIsolate(i32, base, base + 1, 0, 0, null);
    const task = 0;
    const slow = (): number => guardAdmit(i32, base, base + 1, null, ticks.value, task, null); // as Producer.admit calls GuardView.admit
    const refuses = guard === 'isolated';
    return [label, () => {
      for (let i = 0; i < BATCH; i++) {
        if ((i32[base + task * BLOCK_WORDS]! & BR_STATE_MASK) !== 0 && slow() === GUARD_REJECT) continue; // a plain load, as Producer.admit
        if (gate.admitWithGlobal(global, 1024, G) !== ADMITTED) throw new Error(`${label}: refused`);
      }
      if (refuses) return;
      guess[G] = Atomics.sub(i32, global, BATCH) - BATCH;
      guess[p] = Atomics.sub(i32, word, BATCH) - BATCH;
    }, BATCH];
  }
  return [label, () => {
    for (let i = 0; i < BATCH; i++) {
      if (gate.admitWithGlobal(global, 1024, G) !== ADMITTED) throw new Error(`${label}: refused`);
    }
    guess[G] = Atomics.sub(i32, global, BATCH) - BATCH;
    guess[p] = Atomics.sub(i32, word, BATCH) - BATCH;
  }, BATCH];
}

function gateCases(): Case[] {
  const mem = bareMemory();
  const rated = { rate: RATE, burst: 65535, slots: 1024 };
  const clock = new MonotonicClock(hrtimeMicros());
  const guess = new Int32Array(2);
  const free = gateOf(mem, 'release');
  const scratch = mem.attachWord(1, 0);
  return [
    decisionCase(DECISION_UNRATED, undefined, true),
    decisionCase(DECISION_RATED, rated, true),
    decisionCase(DECISION_FRESH, rated, false),
    decisionCase(DECISION_JS, undefined, true, true),
    decisionCase(DECISION_GUARDED, undefined, true, false, 'closed'),
    decisionCase(DECISION_QUARANTINED, undefined, true, false, 'isolated'),
    [CLOCK_ROW, () => { sink += clock.now(); }],
    // The completion side, for comparison: one slot taken and given back (into a scratch global word).
    ['sluice gate: admitProducer + releaseSlots', () => {
      if (admitProducer(mem.i32, free.word, free.limits, guess, 0) !== ADMITTED) throw new Error('gate refused');
      releaseSlots(mem.i32, free.word, scratch, guess, 0, 1);
    }],
  ];
}

let sink = 0;

/**
 * The ring's producer calls, whether or not they take claim-record words (words of an unused
 * attachment block here; a ring without claim records ignores the extra arguments).
 */
interface ProducerCalls {
  claim(recordRingWord: number, recordPosWord: number): number;
  publish(pos: number, recordRingWord: number): void;
}

function ringCase(): Case {
  const mem = bareMemory();
  const i32 = mem.i32;
  const ring = new Ring(i32, 0, mem.tailWord(0), mem.workerWord(0, W_HEAD), mem.subRingByte(0), mem.layout.ringCapacity);
  const producer = ring as unknown as ProducerCalls;
  const recRing = mem.attachWord(1, 8);
  const recPos = mem.attachWord(1, 9);
  let head = ring.head();
  return ['sluice ring: claim + write + publish + readable + release', () => {
    const pos = producer.claim(recRing, recPos);
    i32[ring.cellWord(pos) + C_DATA_WORD] = pos;
    producer.publish(pos, recRing);
    if (!ring.readable(head)) throw new Error('ring: published cell not readable');
    sink += i32[ring.cellWord(head) + C_DATA_WORD]!;
    head = (head + 1) | 0;
    ring.release(head);
  }];
}

/** Round-trip values by type: prepare + write into a cell + read back (spilled values go through the arena). */
const CODEC_VALUES: readonly [string, unknown][] = [
  ['int', 12345],
  ['double', 3.14159],
  ['bigint', 1n << 40n],
  ['string, 10 chars', 'abcdefghij'],
  ['string, 80 bytes', 'x'.repeat(80)],
  ["object {a:1,b:'x'}", { a: 1, b: 'x' }],
  ['Uint8Array 1 KiB (spilled)', new Uint8Array(1024).fill(7)],
];

function codecCases(): Case[] {
  const mem = bareMemory();
  const codec = new Codec(mem, 0);
  const cell = mem.subRingByte(0) >> 2;
  return CODEC_VALUES.map(([label, value]): Case => [`sluice codec: ${label}`, () => {
    codec.prepare(value);
    codec.write(cell, 0);
    if (codec.read(cell, 0) === undefined) sink++;
  }]);
}

function wakerCase(): Case {
  const mem = bareMemory();
  const word = mem.workerWord(0, W_WAKER); // RUNNING: the consumer is awake
  return ['sluice waker: wake() with the consumer not parked', () => {
    if (wake(mem.i32, word)) sink++;
  }];
}

export function sluiceCases(): Case[] {
  if (sink === 0.5) console.log(sink);
  return [ringCase(), ...gateCases(), ...codecCases(), wakerCase()];
}
