// docs/piscina.md's two apps (examples/piscina/): the same job written with piscina 5.3.2 and with
// sluice. Each runs as a child process (tsx) and both must print the same lines: every hash right
// (checked against node:crypto here, so two equally wrong apps fail too), and the one task that
// runs far past its timeout reported as timed out (piscina: an AbortSignal.timeout stops it;
// sluice: deadlineMs abandons it). No timing is measured: the task spins 60 s against a 2 s limit.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runChild } from './helpers/child.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsx = join(root, 'node_modules', '.bin', 'tsx');

async function app(file: string): Promise<string[]> {
  const r = await runChild(tsx, [join('examples', 'piscina', file)], { cwd: root, timeout: 120_000 });
  expect(r.error).toBeUndefined();
  expect(r.status, `${file}\n${r.stdout}\n${r.stderr}`).toBe(0);
  return r.stdout.trim().split('\n');
}

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const EXPECTED = [
  ...['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta'].map((s) => `hash(${s}): ${sha(s)}`),
  'spin(60000): timed out',
  ...['eta', 'theta', 'iota', 'kappa'].map((s) => `hash(${s}): ${sha(s)}`),
  '10 done, 1 timed out',
];

describe('coming from piscina: the same app in both', () => {
  it('the piscina app and the sluice app print the same, right results', async () => {
    const piscina = await app('piscina-app.ts');
    const sluice = await app('sluice-app.ts');
    expect(piscina).toEqual(EXPECTED);
    expect(sluice).toEqual(piscina);
  });
});
