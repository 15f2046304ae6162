#!/usr/bin/env python3
# Why the workers left their CPUs inside a measured window: each sched_switch of a worker thread,
# classed by the call stack it was switched out with (docs/performance.md, nineteenth session).
#
#   MARK=1 perf record -k CLOCK_MONOTONIC -e sched:sched_switch -g -o sw.data -- \
#     node --perf-basic-prof --expose-gc --import tsx bench/tail/u4-split.ts 3 2000 submit spinArr
#   python3 bench/tail/switch-causes.py sw.data START,END [START,END ...]
#
# START,END: seconds on CLOCK_MONOTONIC, as u4-split.ts prints them with MARK=1 ("=== MEASURE
# START 69395.604891"). The workers are the two threads whose stacks show the task function most
# often (TASK, default spinArr). Classes: the owner woken (Atomics.notify), a scavenge or other GC,
# a compile job queued, inside the task, a park (futex), other. State R: preempted; S: slept.
import collections
import os
import re
import subprocess
import sys

task = os.environ.get('TASK', 'spinArr')


def classify(stack: str) -> str:
    if 'AtomicsNotify' in stack:
        return 'woke the owner (Atomics.notify)'
    if 'QueueForOptimiz' in stack:
        return 'queued a compile job'
    if 'Scaveng' in stack or 'CollectGarbage' in stack:
        return 'gc'
    if f'JS:*{task}' in stack or f'JS:^{task}' in stack:
        return 'inside the task'
    if 'futex' in stack or 'Futex' in stack:
        return 'park (futex)'
    return 'other'


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit('usage: switch-causes.py perf.data START,END ...  (START,END: CLOCK_MONOTONIC seconds, from MARK=1 u4-split.ts)')
    data = sys.argv[1]
    for window in sys.argv[2:]:
        out = subprocess.run(['perf', 'script', '-i', data, '--time', window, '-F', 'tid,time,event,trace,ip,sym'],
                             capture_output=True, text=True, check=True).stdout
        switches = []
        for block in out.split('\n\n'):
            lines = [line for line in block.split('\n') if line.strip()]
            if not lines:
                continue
            m = re.match(r'\s*(\d+)\s+([\d.]+):\s+sched:sched_switch:\s+(.*)', lines[0])
            if m:
                switches.append((m.group(1), m.group(3), '\n'.join(lines[1:])))
        seen = collections.Counter(tid for tid, _, stack in switches if task in stack)
        workers = [tid for tid, _ in seen.most_common(2)]
        classes: collections.Counter = collections.Counter()
        for tid, trace, stack in switches:
            if tid not in workers:
                continue
            state = re.search(r'prev_state=(\S+)', trace)
            classes[(state.group(1) if state else '?', classify(stack))] += 1
        print(f'{window}: workers {", ".join(workers)} ({len(workers)})')
        for (state, cls), n in sorted(classes.items(), key=lambda kv: -kv[1]):
            print(f'  {n:4d}  {state}  {cls}')


if __name__ == '__main__':
    main()
