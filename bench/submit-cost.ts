// "Admission-free submit": the submit-side cost of producer.submitCallback on a running runtime
// whose gates never refuse (globalSlots and ring capacity above the burst): a burst of N submits
// timed on the main thread, then the time until all N callbacks ran, both per task. One worker
// consumes meanwhile, so on 2 cores the submitting thread keeps a core to itself.
import { performance } from 'node:perf_hooks';
import { repeated, type MicroResult } from './benchjs.js';
import { startSluiceReady } from './e2e/sluice.js';

export const SUBMIT_COST = 'sluice submitCallback burst';

export async function submitCost(quick: boolean): Promise<MicroResult[]> {
  const n = quick ? 16384 : 32768;
  process.stderr.write(`[micro] ${SUBMIT_COST} (${n} per burst)\n`);
  const rt = await startSluiceReady({ workers: 1, globalSlots: Math.min(0xffff, 2 * n), ringCapacity: 2 * n, maxAttachments: 1 });
  try {
    const inc = rt.task('inc');
    const producer = rt.producer('burst');
    let left = 0;
    let failed: unknown = null;
    let allDone: () => void = () => {};
    const callback = (err: unknown): void => {
      if (err !== undefined) failed = err;
      if (--left === 0) allDone();
    };
    const burst = async (): Promise<[number, number]> => {
      left = n;
      const finished = new Promise<void>((r) => (allDone = r));
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        const r = producer.submitCallback(inc, i, callback, i);
        if (r !== null) throw new Error(`${SUBMIT_COST}: refused (${r.reason}) at ${i}: the gates were meant never to refuse`);
      }
      const t1 = performance.now();
      await finished;
      const t2 = performance.now();
      if (failed !== null) throw failed;
      return [((t1 - t0) * 1e6) / n, ((t2 - t0) * 1e6) / n];
    };
    await burst(); // warm-up
    const submitSide: number[] = [];
    const endToEnd: number[] = [];
    for (let rep = 0; rep < (quick ? 7 : 11); rep++) {
      const [s, e] = await burst();
      submitSide.push(s);
      endToEnd.push(e);
    }
    return [
      repeated(`${SUBMIT_COST}: submit side, per task`, submitSide, `bursts of ${n}, 1 worker consuming meanwhile`),
      repeated(`${SUBMIT_COST}: submit + drain, per task`, endToEnd, 'first submit to last callback'),
    ];
  } finally {
    await rt.close();
  }
}
