// sluice's hot-path building blocks, single thread, on a bare Memory (no runtime, no workers).
import { ADMITTED, admitGlobal, admitProducer, refill, releaseSlots, type Limits } from '../src/admission/gate.js';
import { Codec } from '../src/runtime/codec.js';
import { lookupOrRegister } from '../src/runtime/producer.js';
import { C_DATA_WORD, Memory, P_PACKED, W_HEAD, W_WAKER } from '../src/shm/layout.js';
import { Ring } from '../src/shm/ring.js';
import { wake } from '../src/shm/waker.js';
import type { Case } from './benchjs.js';

/** A small runtime memory: 1 worker ring of 64 cells, 1024 global slots, 64 KiB spill arenas. */
export function bareMemory(): Memory {
  return Memory.create({
    workers: 1, ringCapacity: 64, globalSlots: 1024, maxProducers: 4, maxAttachments: 2,
    spillBytes: 1 << 16, taskCount: 1, spinMicros: 0, asyncLimit: 1,
  });
}

/** A producer registered the way Runtime.producer does it; its gate word and limits. */
export function gateOf(mem: Memory, name: string, limits?: { rate: number; burst: number; slots: number }) {
  const { index, limits: l } = lookupOrRegister(mem, name, limits, 0);
  return { index, limits: l as Limits, word: mem.producerWord(index, P_PACKED) };
}

/** Rate of the rated gate rows: with one fake tick per call the bucket refills on every call. */
const RATE = 10_000_000;

function gateCases(): Case[] {
  const mem = bareMemory();
  const i32 = mem.i32;
  const free = gateOf(mem, 'free');
  const rated = gateOf(mem, 'rated', { rate: RATE, burst: 65535, slots: 1024 });
  // The producer-only rows release into a scratch word, so the real global count stays balanced.
  const scratch = mem.attachWord(1, 0);
  const global = mem.globalWord;
  let tick = 0;
  const admit = (g: typeof free): void => {
    if (admitProducer(i32, g.word, g.limits) !== ADMITTED) throw new Error('gate refused');
  };
  const both = (g: typeof free): void => {
    admit(g);
    if (!admitGlobal(i32, global, 1024)) throw new Error('global gate refused');
    releaseSlots(i32, g.word, global);
  };
  return [
    ['sluice gate: admitProducer + releaseSlots', () => {
      admit(free);
      releaseSlots(i32, free.word, scratch);
    }],
    ['sluice gate: admitProducer + admitGlobal + releaseSlots', () => both(free)],
    ['sluice gate: rated (refill + admitProducer) + releaseSlots', () => {
      refill(i32, mem, rated.index, rated.limits, ++tick);
      admit(rated);
      releaseSlots(i32, rated.word, scratch);
    }],
    ['sluice gate: rated, + admitGlobal (full decision)', () => {
      refill(i32, mem, rated.index, rated.limits, ++tick);
      both(rated);
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
