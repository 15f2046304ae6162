// Baselines: one worker and a SharedArrayBuffer ping-pong (cells as in fixtures/raw-sab.mjs).
// The worker either parks in Atomics.wait or spins on Atomics.load; the main thread waits for the
// reply with a blocking Atomics.wait, with Atomics.waitAsync, by spinning, by polling from
// setImmediate (the shape of any design that never blocks the event loop for long), or by
// polling for up to 5 µs first and then from setImmediate (sluice's default path: the one-task
// poll, docs/design.md §4.4 step 0, then its pump; that row is the floor of that design, with
// nothing else in it). Latency only.
// The "same CPU" row pins both threads to the CPU the main thread is on (native addon): on a VM
// a wake across CPUs is an interrupt into an idle vCPU, a wake on the same CPU a context switch,
// and the unpinned row lands in either regime depending on where the scheduler put the threads.
import { once } from 'node:events';
import { addonPath, loadAffinity } from '../../src/runtime/native/affinity.js';
import { POLL_ONE_MS, POLL_TURN_MS, SPIN_POLLS } from '../../src/runtime/native/spin.js';
import type { RowDef, Session } from '../workload.js';
import { spawn } from './spawn.js';

const REQ = 0;
const REPLY = 1;
const ARG = 2;
const RESULT = 3;
const PARKED = 4;
type Main = 'block' | 'async' | 'spin' | 'poll' | 'pollFirst';

/**
 * parks: the worker spins for 50 µs (sluice's default spin budget) and then parks, as sluice's
 * workers do (for measurements alternating with sluice, where a forever-spinning worker would
 * take a CPU from it). Only with main 'poll' or 'pollFirst'.
 */
function sabRow(name: string, main: Main, sameCpu = false, parks = false): RowDef {
  const mode = parks ? 'spin-park' : main === 'spin' || main === 'poll' || main === 'pollFirst' ? 'spin' : 'wait';
  return {
    name,
    kinds: ['latency'],
    async open(): Promise<Session> {
      const cells = new Int32Array(new SharedArrayBuffer(5 * Int32Array.BYTES_PER_ELEMENT));
      const addon = sameCpu ? loadAffinity().addon : null;
      if (sameCpu && addon === null) throw new Error('needs the native addon');
      const mine = addon?.getAffinity() ?? null;
      const cpu = addon?.currentCpu() ?? null;
      if (addon !== null) addon.setAffinity([cpu!]);
      let worker;
      try {
        worker = await spawn('raw-sab.mjs', { sab: cells.buffer, mode, pin: addon === null ? null : { cpu, addon: addonPath() } });
      } catch (err) {
        if (mine !== null) addon!.setAffinity(mine); // never leave this thread pinned
        throw err;
      }
      let seq = 0;
      const request = (arg: number): void => {
        cells[ARG] = arg;
        Atomics.store(cells, REQ, ++seq);
        if (mode === 'wait' || (parks && Atomics.load(cells, PARKED) === 1)) Atomics.notify(cells, REQ);
      };
      const roundTrip = (arg: number): number => {
        request(arg);
        for (let v = Atomics.load(cells, REPLY); v !== seq; v = Atomics.load(cells, REPLY)) {
          if (main === 'block') Atomics.wait(cells, REPLY, v);
        }
        return cells[RESULT]!;
      };
      const awaitReply = (done: (value: number) => void): void => {
        const v = Atomics.load(cells, REPLY);
        if (v === seq) {
          const result = cells[RESULT]!;
          queueMicrotask(() => done(result));
        } else {
          const w = Atomics.waitAsync(cells, REPLY, v);
          if (w.async) void w.value.then(() => awaitReply(done));
          else awaitReply(done);
        }
      };
      let turnAt = performance.now();
      const pollReply = (done: (value: number) => void): void => {
        const poll = (): void => {
          turnAt = performance.now();
          if (Atomics.load(cells, REPLY) === seq) done(cells[RESULT]!);
          else setImmediate(poll);
        };
        setImmediate(poll);
      };
      // As sluice's one-task poll: up to POLL_ONE_MS synchronously, unless the event loop has
      // not had a turn for POLL_TURN_MS; then from setImmediate.
      const pollFirst = (done: (value: number) => void): void => {
        const start = performance.now();
        if (start - turnAt <= POLL_TURN_MS) {
          const until = start + POLL_ONE_MS;
          for (;;) {
            for (let i = 0; i < SPIN_POLLS; i++) {
              if (Atomics.load(cells, REPLY) === seq) {
                const result = cells[RESULT]!;
                queueMicrotask(() => done(result));
                return;
              }
            }
            if (performance.now() >= until) break;
          }
        }
        pollReply(done);
      };
      return {
        roundTrip: main === 'async' || main === 'poll' || main === 'pollFirst' ? undefined : roundTrip,
        start(_task, arg, done) {
          if (main === 'async') {
            request(arg);
            awaitReply(done);
          } else if (main === 'poll') {
            request(arg);
            pollReply(done);
          } else if (main === 'pollFirst') {
            request(arg);
            pollFirst(done);
          } else queueMicrotask(() => done(roundTrip(arg)));
          return true;
        },
        async close() {
          Atomics.store(cells, REQ, -1);
          Atomics.notify(cells, REQ);
          await once(worker, 'exit');
          if (mine !== null) addon!.setAffinity(mine);
        },
      };
    },
  };
}

export const sabWait = sabRow('raw SAB wait/notify', 'block');
export const sabWaitSameCpu = sabRow('raw SAB wait/notify, same CPU', 'block', true);
export const sabWaitAsync = sabRow('raw SAB waitAsync', 'async');
export const sabSpin = sabRow('raw SAB spin (floor)', 'spin');
export const sabPoll = sabRow('raw SAB spin, main polls from setImmediate', 'poll');
export const sabPollFirst = sabRow('raw SAB spin, main polls ≤5 µs, then from setImmediate', 'pollFirst');
/** The same pattern with a worker that parks after 50 µs idle (bench/paired.ts). */
export const sabPollParking = sabRow('raw SAB spin then park, main polls ≤5 µs, then from setImmediate', 'pollFirst', false, true);
