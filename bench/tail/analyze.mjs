import { readFileSync } from 'node:fs';
const d = JSON.parse(readFileSync(process.argv[2] ?? '/tmp/probe.json', 'utf8'));
const s = d.samples;
const us = (a, b) => (b - a) / 1000;
const rows = s.map((x) => ({ ...x, rt: us(x.t0, x.cont), sub: us(x.t0, x.run), ret: us(x.run, x.seen), cont: us(x.seen, x.cont) }));
const q = (arr, p) => { const a = [...arr].sort((x, y) => x - y); return a[Math.floor(p * (a.length - 1))]; };
const rtp50 = q(rows.map((r) => r.rt), 0.5);
console.log('p50 rt', rtp50.toFixed(1), 'p99', q(rows.map((r) => r.rt), 0.99).toFixed(1));
for (const k of ['sub', 'ret', 'cont', 'ticks', 'pauses', 'parked']) console.log(k.padEnd(6), 'p50', q(rows.map((r) => r[k]), 0.5).toFixed(1), 'p90', q(rows.map((r) => r[k]), 0.9).toFixed(1), 'p99', q(rows.map((r) => r[k]), 0.99).toFixed(1));
const thr = 2 * rtp50;
const slow = rows.filter((r) => r.rt > thr);
console.log(`slow (> ${thr.toFixed(1)} µs): ${slow.length} of ${rows.length}`);
// which segment dominates
const dom = { sub: 0, ret: 0, cont: 0 };
for (const r of slow) { const m = Math.max(r.sub, r.ret, r.cont); dom[m === r.sub ? 'sub' : m === r.ret ? 'ret' : 'cont']++; }
console.log('dominant segment in slow samples', dom);
const cpus = {}; for (const r of rows) { const k = `w${r.w}@${r.wcpu} main@${r.mcpu0}->${r.mcpu1}`; cpus[k] ??= [0, 0]; cpus[k][0]++; if (r.rt > thr) cpus[k][1]++; }
console.log('placement [all, slow]', cpus);
// GC overlap
let gcHit = 0; for (const r of slow) if (d.gcs.some(([st, dur]) => st < r.cont && st + dur > r.t0)) gcHit++;
console.log('slow samples overlapping a GC', gcHit, 'gcs', d.gcs.length, 'gc durations us', d.gcs.map((g) => (g[1] / 1000).toFixed(0)).join(','));
const pk = slow.filter((r) => r.parked > 0).length; console.log('slow samples where main parked', pk, 'all parked', rows.filter((r) => r.parked > 0).length);
