#!/usr/bin/env python3
"""What the slow trips of bench/tail/trip-times.ts waited for, from the kernel's scheduler trace.

  python3 bench/tail/stall-classes.py TRIPS.txt SCHED.txt [--list N]

TRIPS.txt: trip-times.ts's OUT (one rep); SCHED.txt: `perf script -F cpu,time,tid,event,trace` of
`perf record -e sched:sched_switch -e sched:sched_wakeup -a -k CLOCK_MONOTONIC` around it (both
clocks are CLOCK_MONOTONIC). For each slow trip, the share of its time the main thread and the
pool's threads spent runnable but not running (R), and how much of both CPUs was idle or ran a
thread that is neither (V8's compiler and GC helpers, libuv, other processes):

  A  main runnable > half the trip while a CPU idles (it waits behind another thread on its CPU)
  B  a worker runnable > half the trip while a CPU idles (pinned: it cannot move to the idle CPU)
  C  main or a worker runnable > half the trip, both CPUs busy with other threads
  D  main or a worker runnable > half the trip, otherwise
  E  neither waited runnable for half the trip (main ran, or slept while a wake was in flight)

--list N prints the first N trips of each class with the threads' state shares.
"""
import bisect
import collections
import re
import sys


def load_trips(path):
    role, slow = {}, []
    for line in open(path):
        if line.startswith('rep'):
            for tok in line.split('threads ')[1].split():
                t, r = tok.split(':')
                role[int(t)] = r
        elif line.startswith('slow'):
            _, i, st, us = line.split()
            slow.append((int(i), int(st) / 1e9, float(us) / 1e6))
    return role, slow


def load_sched(path):
    runs = collections.defaultdict(list)   # cpu -> [(t, pid now running)]
    state = collections.defaultdict(list)  # pid -> [(t, 'run' | 'R' | 'S')]
    pat = re.compile(r'\s*(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+sched:(\w+):\s+(.*)')
    for line in open(path):
        m = pat.match(line)
        if not m:
            continue
        t, cpu, kind, rest = float(m.group(3)), int(m.group(2)), m.group(4), m.group(5)
        if kind == 'sched_switch':
            s = re.search(r'prev_pid=(\d+) .*prev_state=(\S+) ==> next_comm=.*? next_pid=(\d+)', rest)
            prev, nxt = int(s.group(1)), int(s.group(3))
            runs[cpu].append((t, nxt))
            state[prev].append((t, 'R' if s.group(2).startswith('R') else 'S'))
            state[nxt].append((t, 'run'))
        elif kind == 'sched_wakeup':
            s = re.search(r' pid=(\d+)', rest)
            state[int(s.group(1))].append((t, 'R'))
    return runs, state


def shares(events, a, b, initial):
    """Time in [a, b] per value of a step function given as sorted (t, value) events."""
    ts = [e[0] for e in events]
    k = bisect.bisect_right(ts, a) - 1
    cur = events[k][1] if k >= 0 else initial
    out, t = collections.Counter(), a
    for j in range(k + 1, len(events)):
        if events[j][0] > b:
            break
        out[cur] += events[j][0] - t
        t, cur = events[j][0], events[j][1]
    out[cur] += b - t
    return out


def main():
    role, slow = load_trips(sys.argv[1])
    runs, state = load_sched(sys.argv[2])
    listing = int(sys.argv[sys.argv.index('--list') + 1]) if '--list' in sys.argv else 0
    main_tid = next(t for t, r in role.items() if r == 'main')
    pool = {t for t, r in role.items() if r == 'new'}
    count, ms, shown = collections.Counter(), collections.Counter(), collections.Counter()
    for i, start, dur in slow:
        a, b = start, start + dur
        idle = sum(shares(runs[c], a, b, -1)[0] for c in runs) / dur
        other = sum(v for c in runs for p, v in shares(runs[c], a, b, -1).items()
                    if p not in pool and p not in (main_tid, 0, -1)) / dur
        m = shares(state[main_tid], a, b, '?')
        w = collections.Counter()
        for t in pool:
            w.update(shares(state[t], a, b, '?'))
        m_r, w_r = m['R'] / dur, w['R'] / dur
        if m_r > 0.5 and idle > 0.3:
            c = 'A main runnable, a CPU idle'
        elif w_r > 0.5 and idle > 0.3:
            c = 'B worker runnable, a CPU idle'
        elif (m_r > 0.5 or w_r > 0.5) and other > 1.3:
            c = 'C runnable, both CPUs busy with other threads'
        elif m_r > 0.5 or w_r > 0.5:
            c = 'D runnable, otherwise'
        else:
            c = 'E neither waited runnable'
        count[c] += 1
        ms[c] += dur * 1e3
        if shown[c] < listing:
            shown[c] += 1
            seen = lambda c: {k: round(v / dur, 2) for k, v in c.items() if k != '?'}  # '?': no event yet (another rep's thread)
            print(f'{c[0]} trip {i} {dur * 1e6:.0f} µs: main {seen(m)} pool {seen(w)} (shares of the trip; the pool summed over its threads)'
                  f' idle {idle:.2f} other {other:.2f} (trip-lengths of CPU time, both CPUs summed)')
    print(f'{len(slow)} slow trips')
    for c in sorted(count):
        print(f'{count[c]:6d} {ms[c]:9.1f} ms  {c}')


if __name__ == '__main__':
    main()
