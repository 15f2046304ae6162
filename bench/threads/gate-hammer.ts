// Contention thread for the gate microbenchmark: while ctl reads RUN it takes and gives back a
// slot on the same producer gate word as the main thread (admitProducer + releaseSlots), releasing
// the global count into a word of its own; it sleeps while ctl reads IDLE and exits on STOP.
import { parentPort, workerData } from 'node:worker_threads';
import { ADMITTED, admitProducer, releaseSlots } from '../../src/admission/gate.js';
import { CTL_IDLE, CTL_STOP, type HammerData } from './protocol.js';

const { sab, ctl, word, scratch, count, limits } = workerData as HammerData;
const i32 = new Int32Array(sab);
const guess = new Int32Array(2); // this thread's guesses of the gate words, as every runtime thread keeps
parentPort!.postMessage('ready');
for (;;) {
  const c = Atomics.load(i32, ctl);
  if (c === CTL_STOP) break;
  if (c === CTL_IDLE) {
    Atomics.wait(i32, ctl, CTL_IDLE);
    continue;
  }
  for (let k = 0; k < 1024; k++) {
    if (admitProducer(i32, word, limits, guess, 0) === ADMITTED) releaseSlots(i32, word, scratch, guess, 0, 1);
  }
  Atomics.add(i32, count, 1024);
}
