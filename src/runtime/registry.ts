/**
 * The producer table (docs/design.md §2.1): named admission identities shared by every thread of
 * a runtime. `producer('tenant-a')` in any attached thread finds the same entry: the limits
 * belong to the producer, not to the thread.
 *
 * Registration (rare) claims the lowest free entry with a CAS FREE -> BUSY, writes name and
 * limits, then stores READY. Every registering thread scans from entry 0 and waits out a BUSY
 * entry before passing it, so two threads registering the same name always meet at the same
 * entry. Owner of an entry's name and limits: the thread that won its claim, once; after READY
 * they are read-only. (Its PACKED and EARNED words belong to the gate: src/shm/words/gate.ts.)
 *
 * It sits in runtime/ rather than admission/ because it reads the caller's limits object once
 * (options.ts), which is the runtime's boundary with user values.
 */
import {
  Memory, NAME_BYTES, P_BURST, P_CLAIM, P_CLAIM_BUSY, P_CLAIM_FREE, P_CLAIM_READY, P_NAME_LEN, P_RATE, P_SLOTS,
} from '../shm/layout.js';
import { initProducerGate, type Limits } from '../admission/gate.js';
import { GATE_FIELD_MAX } from '../shm/words/gate.js';
import { ConfigError, describe } from '../errors.js';
import { snapshot } from './options.js';

/** A producer's limits, as rt.producer(name, limits) takes them. */
export interface ProducerLimits {
  /** Tokens per second (integer); omitted or Infinity: no rate limit. */
  rate?: number;
  /** Bucket capacity (integer 1..65535); default min(rate, 65535). Only with a rate. */
  burst?: number;
  /** Concurrency slots: admitted and unresolved at once (integer 1..65535); default: globalSlots. */
  slots?: number;
}

/**
 * The limits a producer has (producer.limits, ProducerStats.limits), in the form
 * rt.producer(name, limits) takes: passing them back finds the same producer. `rate` and
 * `burst` are present only when it has a rate limit; `slots` always is.
 */
export interface EffectiveLimits extends ProducerLimits {
  readonly rate?: number;
  readonly burst?: number;
  readonly slots: number;
}

/** @internal The gate's limits (rate 0 = none, burst 0 without a rate) as the public form, frozen. */
export function effectiveLimits(l: Limits): EffectiveLimits {
  return Object.freeze(l.rate === 0 ? { slots: l.slots } : { rate: l.rate, burst: l.burst, slots: l.slots });
}

const LIMIT_KEYS = ['rate', 'burst', 'slots'] as const;

/** @internal Limits, read once (options.ts snapshot) and checked. `name` is already validated. */
export function normalizeLimits(name: string, given: ProducerLimits | undefined, globalSlots: number): Limits {
  const l = snapshot(`producer '${name}'`, 'limits', given, LIMIT_KEYS) as ProducerLimits;
  const int = (key: string, v: unknown, max: number): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) {
      throw new ConfigError(`producer '${name}': ${key} must be an integer from 1 to ${max}; got ${describe(v)}`);
    }
    return v;
  };
  let rate = 0;
  if (l.rate !== undefined && l.rate !== Infinity) rate = int('rate', l.rate, 2 ** 31 - 1);
  if (rate === 0 && l.burst !== undefined) throw new ConfigError(`producer '${name}': burst needs a rate`);
  const burst = rate === 0 ? 0 : l.burst === undefined ? Math.min(rate, GATE_FIELD_MAX) : int('burst', l.burst, GATE_FIELD_MAX);
  const slots = l.slots === undefined ? Math.min(globalSlots, GATE_FIELD_MAX) : int('slots', l.slots, GATE_FIELD_MAX);
  return { rate, burst, slots };
}

const sameLimits = (a: Limits, b: Limits): boolean => a.rate === b.rate && a.burst === b.burst && a.slots === b.slots;

/**
 * @internal Find `name` in the producer table, or register it with `limits`. Returns its index and
 * limits. Asking again with different explicit limits is a ConfigError.
 */
export function lookupOrRegister(
  mem: Memory, name: string, given: ProducerLimits | undefined, now: number,
): { index: number; limits: Limits } {
  if (typeof name !== 'string' || name.length === 0) throw new ConfigError(`producer name must be a non-empty string; got ${describe(name)}`);
  // UTF-8 turns every lone surrogate into U+FFFD: two such names would share one entry.
  if (!name.isWellFormed()) throw new ConfigError('producer name must be well-formed Unicode (it has a lone surrogate)');
  const encoded = Buffer.from(name, 'utf8');
  if (encoded.length > NAME_BYTES) throw new ConfigError(`producer name is ${encoded.length} UTF-8 bytes; at most ${NAME_BYTES}`);
  const wanted = normalizeLimits(name, given, mem.layout.globalSlots);
  const i32 = mem.i32;
  for (let p = 0; p < mem.layout.maxProducers; p++) {
    const claimW = mem.producerWord(p, P_CLAIM);
    for (;;) {
      const s = Atomics.load(i32, claimW);
      if (s === P_CLAIM_READY) {
        if (!nameMatches(mem, p, encoded)) break;
        const limits = readLimits(mem, p);
        if (given !== undefined && !sameLimits(limits, wanted)) {
          throw new ConfigError(
            `producer '${name}' already exists with limits ${JSON.stringify(limits)}; asked for ${JSON.stringify(wanted)}`,
          );
        }
        return { index: p, limits };
      }
      if (s === P_CLAIM_BUSY) { Atomics.wait(i32, claimW, P_CLAIM_BUSY, 1); continue; }
      if (Atomics.compareExchange(i32, claimW, P_CLAIM_FREE, P_CLAIM_BUSY) !== P_CLAIM_FREE) continue;
      mem.u8.set(encoded, mem.nameByte(p));
      i32[mem.producerWord(p, P_NAME_LEN)] = encoded.length;
      i32[mem.producerWord(p, P_RATE)] = wanted.rate;
      i32[mem.producerWord(p, P_BURST)] = wanted.burst;
      i32[mem.producerWord(p, P_SLOTS)] = wanted.slots;
      // The bucket starts full, with its refill function anchored at `now`.
      initProducerGate(mem, p, wanted, now);
      Atomics.store(i32, claimW, P_CLAIM_READY);
      Atomics.notify(i32, claimW);
      return { index: p, limits: wanted };
    }
  }
  throw new ConfigError(`producer table is full (${mem.layout.maxProducers} producers); raise Runtime.start({ maxProducers })`);
}

function nameMatches(mem: Memory, p: number, encoded: Buffer): boolean {
  if (mem.i32[mem.producerWord(p, P_NAME_LEN)] !== encoded.length) return false;
  return mem.buf.compare(encoded, 0, encoded.length, mem.nameByte(p), mem.nameByte(p) + encoded.length) === 0;
}

/** @internal */
export function readLimits(mem: Memory, p: number): Limits {
  const i32 = mem.i32;
  return { rate: i32[mem.producerWord(p, P_RATE)]!, burst: i32[mem.producerWord(p, P_BURST)]!, slots: i32[mem.producerWord(p, P_SLOTS)]! };
}

/**
 * @internal Indices of the producers registered from entry `from` on, up to the first entry that
 * is not (yet): entries are registered in index order (a registering thread takes the lowest free
 * entry and waits out a busy one before passing it), so these follow each other.
 */
export function registeredFrom(mem: Memory, from: number): number[] {
  const out: number[] = [];
  for (let p = from; p < mem.layout.maxProducers; p++) {
    if (Atomics.load(mem.i32, mem.producerWord(p, P_CLAIM)) !== P_CLAIM_READY) break;
    out.push(p);
  }
  return out;
}

/** @internal Indices of every registered producer. */
export function registeredProducers(mem: Memory): number[] {
  const out: number[] = [];
  for (let p = 0; p < mem.layout.maxProducers; p++) {
    if (Atomics.load(mem.i32, mem.producerWord(p, P_CLAIM)) === P_CLAIM_READY) out.push(p);
  }
  return out;
}
