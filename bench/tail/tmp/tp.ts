import { startSluice, tokenSession, callbackSession, CALLBACK_OPTIONS } from '../../e2e/sluice.js';
import { pipelined } from '../../workload.js';
const id = (i: number) => i;
const out: Record<string, number[]> = { tok: [], cb: [] };
const rt1 = await startSluice(); const tok = tokenSession(rt1, rt1.producer('a'));
const rt2 = await startSluice(CALLBACK_OPTIONS); const cb = callbackSession(rt2, rt2.producer('b'));
await pipelined(tok, 'inc', 50000, id); await pipelined(cb, 'inc', 50000, id);
for (let r = 0; r < 5; r++) {
  out.tok!.push(100000 / (await pipelined(tok, 'inc', 100000, id)).wallMs * 1000);
  out.cb!.push(100000 / (await pipelined(cb, 'inc', 100000, id)).wallMs * 1000);
}
const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
console.log(JSON.stringify({ tok: med(out.tok!), cb: med(out.cb!) }));
await tok.close(); await cb.close();
