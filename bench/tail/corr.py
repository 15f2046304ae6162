import json, re, sys, bisect, collections
probe = json.load(open(sys.argv[1])); txt = sys.argv[2]
main = probe['mainTid']; w0, w1 = probe['tids']
mine = set(int(t) for t in probe['threads'])
name = lambda t: 'main' if t == main else 'w0' if t == w0 else 'w1' if t == w1 else ('node-thr' if t in mine else ('idle' if t == 0 else 'other'))
sw = collections.defaultdict(list)  # cpu -> [(t_ns, prev, state, next)]
rx = re.compile(r'\[(\d+)\]\s+(\d+)\.(\d+):\s+sched:sched_switch:.*prev_pid=(\d+) .*prev_state=(\S+) ==> next_comm=.* next_pid=(\d+)')
for line in open(txt):
    m = rx.search(line)
    if not m: continue
    cpu = int(m[1]); t = int(m[2]) * 10**9 + int(m[3].ljust(9, '0'))
    sw[cpu].append((t, int(m[4]), m[5], int(m[6])))
times = {c: [x[0] for x in v] for c, v in sw.items()}
S = probe['samples']
rts = sorted((s['cont'] - s['t0']) / 1000 for s in S)
p50 = rts[len(rts) // 2]; thr = 2 * p50
print('p50', round(p50, 1), 'thr', round(thr, 1))
cls = collections.Counter(); allc = collections.Counter(); who = collections.Counter()
for s in S:
    rt = (s['cont'] - s['t0']) / 1000
    a, b = s['t0'], s['cont']
    ev = []
    for c in sw:
        i = bisect.bisect_left(times[c], a); j = bisect.bisect_right(times[c], b)
        for k in range(i, j):
            t, p, st, n = sw[c][k]; ev.append((c, name(p), st, name(n)))
    shared = s['mcpu0'] == s['wcpu'] or s['mcpu1'] == s['wcpu']
    key = 'main on w0 cpu' if shared else ('switch on a cpu' if ev else 'no switch')
    if key == 'switch on a cpu':
        intruders = sorted(set(x[3] for x in ev if x[3] not in ('main', 'w0', 'idle')) | set(x[1] for x in ev if x[1] not in ('main', 'w0', 'idle')))
        key += ': ' + (','.join(intruders) or 'main/w0 only')
    allc[key] += 1
    if rt > thr:
        cls[key] += 1
        for x in ev: who[x] += 1
slow = sum(cls.values())
print('slow', slow, 'of', len(S))
for k, v in sorted(allc.items(), key=lambda kv: -kv[1]): print(f'  {k:40s} all {v:6d}  slow {cls[k]:6d} ({100*cls[k]/max(1,v):.0f}% of these slow; {100*cls[k]/max(1,slow):.0f}% of slow)')
print('switch events in slow samples (cpu, prev, state, next):')
for k, v in who.most_common(15): print('  ', k, v)
# detail for no-switch samples
def seg(s): return ((s['run']-s['t0'])/1000, (s['seen']-s['run'])/1000, (s['cont']-s['seen'])/1000)
ns = []
for s in S:
    a, b = s['t0'], s['cont']
    ev = any(bisect.bisect_right(times[c], b) > bisect.bisect_left(times[c], a) for c in sw)
    if not ev and not (s['mcpu0'] == s['wcpu'] or s['mcpu1'] == s['wcpu']): ns.append(s)
def pct(v, p): v = sorted(v); return v[int(p*(len(v)-1))]
rt = [(s['cont']-s['t0'])/1000 for s in ns]
print('no-switch samples', len(ns), 'rt p50 %.1f p90 %.1f p99 %.1f p99.9 %.1f' % (pct(rt,.5), pct(rt,.9), pct(rt,.99), pct(rt,.999)))
for i, k in enumerate(['sub', 'ret', 'cont']):
    v = [seg(s)[i] for s in ns]; print('  ', k, 'p50 %.1f p90 %.1f p99 %.1f' % (pct(v,.5), pct(v,.9), pct(v,.99)))
for k in ['ticks', 'pauses']:
    v = [s[k] for s in ns]; print('  ', k, 'p50', pct(v,.5), 'p90', pct(v,.9), 'p99', pct(v,.99))
# correlation: rt by ticks
by = collections.defaultdict(list)
for s in ns: by[(s['ticks'], s['pauses'])].append((s['cont']-s['t0'])/1000)
for k in sorted(by): 
    if len(by[k]) > 20: print('   ticks,pauses', k, 'n', len(by[k]), 'rt p50 %.1f p99 %.1f' % (pct(by[k], .5), pct(by[k], .99)))
# cause classification of slow samples
print('--- slow-sample causes (first match wins)')
gcs = probe['gcs']
cause = collections.Counter()
for s in S:
    rt = (s['cont'] - s['t0']) / 1000
    if rt <= thr: continue
    a, b = s['t0'], s['cont']
    ev = []
    for c in sw:
        i = bisect.bisect_left(times[c], a); j = bisect.bisect_right(times[c], b)
        ev += [(c,) + tuple(sw[c][k][1:]) for k in range(i, j)]
    names_ = set(name(e[1]) for e in ev) | set(name(e[3]) for e in ev)
    if any(g[0] < b and g[0] + g[1] > a for g in gcs): k = 'main GC'
    elif s['mcpu0'] == s['wcpu'] or s['mcpu1'] == s['wcpu']: k = 'main on w0 cpu'
    elif any(name(e[1]) == 'w0' and e[2] != 'R' for e in ev): k = 'w0 slept (parked)'
    elif any(name(e[1]) == 'w0' for e in ev): k = 'w0 preempted by ' + ','.join(sorted(set(name(e[3]) for e in ev if name(e[1]) == 'w0')))
    elif any(name(e[1]) == 'main' and e[2] != 'R' for e in ev): k = 'main slept (parked)'
    elif any(name(e[1]) == 'main' for e in ev): k = 'main preempted by ' + ','.join(sorted(set(name(e[3]) for e in ev if name(e[1]) == 'main')))
    elif ev: k = 'switches elsewhere'
    elif s['ticks'] > 1: k = 'no switch, pump needed a 2nd look'
    else: k = 'no switch, first look'
    cause[k] += 1
for k, v in cause.most_common(): print(f'  {k:45s} {v:5d}')
