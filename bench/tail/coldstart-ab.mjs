// Start-up A/B: `node bench/coldstart.mjs <row>` in fresh processes, configurations alternating
// (rotating order per rep). Each configuration: 'NAME=ROW' or 'NAME=ROW=OPTS-JSON' (sluice rows);
// 'NAME@DIR=...' runs DIR's bench/coldstart.mjs in DIR (another checkout: a before/after A/B).
//   node bench/tail/coldstart-ab.mjs <reps> 'dflt=sluice-dist' 'nowarm=sluice-dist={"warmUp":false}' 'piscina=piscina'
//   node bench/tail/coldstart-ab.mjs 6 'before@/tmp/base=sluice-src' 'after=sluice-src' 'piscina=piscina'
import { execFileSync } from 'node:child_process';
const [repsArg, ...specs] = process.argv.slice(2);
const cfgs = specs.map((s) => {
  const [label, row, ...o] = s.split('=');
  const [name, dir] = label.split('@');
  return { name, row, opts: o.join('=') || '{}', cwd: dir ?? process.cwd() };
});
const res = Object.fromEntries(cfgs.map((c) => [c.name, []]));
for (let r = 0; r < Number(repsArg); r++) {
  for (let i = 0; i < cfgs.length; i++) {
    const c = cfgs[(i + r) % cfgs.length];
    const args = [...(c.row === 'sluice-src' ? ['--import', 'tsx'] : []), 'bench/coldstart.mjs', c.row];
    const o = execFileSync(process.execPath, args, { cwd: c.cwd, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '', SLUICE_COLDSTART_OPTS: c.opts } });
    const m = JSON.parse(o.trim().split('\n').pop());
    res[c.name].push(m.firstResultMs);
  }
}
const med = (xs) => { const a = [...xs].sort((x, y) => x - y); const n = a.length; return n % 2 ? a[(n - 1) / 2] : (a[n / 2 - 1] + a[n / 2]) / 2; };
// Per rep, each configuration over the last one's process of the same rep (e.g. piscina last):
// the load of that moment weighs on both.
const ref = res[cfgs[cfgs.length - 1].name];
for (const c of cfgs) {
  const ratios = res[c.name].map((x, i) => x / ref[i]);
  console.log(`${c.name.padEnd(16)} first result ${med(res[c.name]).toFixed(1)} ms median  (${res[c.name].map((x) => x.toFixed(0)).join(' ')})  ÷ last per rep: median ${med(ratios).toFixed(2)}`);
}
