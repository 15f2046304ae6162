// The bench's paired tail section alone (bench/paired.ts): sluice and the bare pattern in
// alternating blocks. npx tsx bench/tail/paired.ts [--quick]
import { pairedLines, runPaired } from '../paired.js';

const r = await runPaired(process.argv.includes('--quick'), 3000, (m) => process.stderr.write(`${m}\n`));
console.log(pairedLines(r).join('\n'));
