// A small hand-written recorded run, for explain, the CLI and the export tests: one worker, a
// producer with 2 slots, a task that spawns a child, a refusal, a queue.
import type { Workload } from './workload.js';

export const CRAFTED: Workload = {
  workers: 2, ringCapacity: 8, globalSlots: 8, attachments: 1,
  producers: [{ rate: 0, burst: 0, slots: 2 }, { rate: 10, burst: 1, slots: 4 }, { rate: 0, burst: 0, slots: 4 }],
  tasks: ['heavy', null],
  workerCpus: [0, 1], cpuTie: false,
  ops: [
    { op: 'submit', att: 0, producer: 0, task: 0, cpu: 0, child: false }, // 0:0#1 -> worker 0
    { op: 'submit', att: 0, producer: 0, task: 0, cpu: 0, child: false }, // 0:1#1 -> worker 1
    { op: 'submit', att: 0, producer: 0, task: 0, cpu: 0, child: false }, // refused: producer-slots
    { op: 'submit', att: 0, producer: 1, task: 1, cpu: 0, child: false }, // 0:2#1 -> worker 0 (ties to the first)
    { op: 'submit', att: 0, producer: 1, task: 1, cpu: 0, child: false }, // refused: rate (burst 1)
    { op: 'advance', ticks: 250 },
    { op: 'pop', worker: 0 }, // 0:0#1 starts on worker 0
    { op: 'submit', att: 0, producer: 2, task: 1, cpu: 1, child: true }, // child of 0:0#1: 1:0#1 (worker 0 submits as attachment 1)
    { op: 'advance', ticks: 100 },
    { op: 'finish', worker: 0, outcome: 0 },
    { op: 'release', owner: 0, pick: 0 }, // 0:0#1 resolved
    { op: 'pop', worker: 0 }, // 0:2#1 starts after queueing
    { op: 'steal', worker: 0, victim: 1 }, // worker 0 steals 0:1#1 from worker 1's ring
    { op: 'pop', worker: 1 }, // 0:1#1's cell in worker 1's ring: passed over
    { op: 'pop', worker: 1 }, // the child 1:0#1 starts on worker 1
    { op: 'finish', worker: 1, outcome: 0 }, // the child ends
    { op: 'finish', worker: 0, outcome: 1 }, // 0:2#1 ends 'rejected'
    { op: 'die', worker: 0 }, // while running 0:1#1
    { op: 'release', owner: 0, pick: 0 },
    { op: 'release', owner: 0, pick: 0 },
    { op: 'release', owner: 1, pick: 0 },
  ],
};
