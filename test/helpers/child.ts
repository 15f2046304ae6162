/**
 * Child processes for tests, without blocking the test worker's event loop: spawnSync would
 * freeze it for the child's lifetime, and vitest's RPC to its worker times out after 60 s of
 * that on a loaded machine. Same fields as spawnSync's result.
 */
import { spawn } from 'node:child_process';

export interface ChildResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  error?: Error;
}

export interface ChildOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Kill the child (SIGKILL) after this many ms; its result then has signal 'SIGKILL'. */
  timeout?: number;
  /** Written to the child's stdin, which is then closed (default: no stdin). */
  input?: string;
}

export function runChild(cmd: string, args: readonly string[], options: ChildOptions = {}): Promise<ChildResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: options.cwd, env: options.env, stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    if (options.input !== undefined) {
      child.stdin!.on('error', () => { /* the child exited early: its status says why */ });
      child.stdin!.end(options.input);
    }
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = options.timeout === undefined ? null : setTimeout(() => child.kill('SIGKILL'), options.timeout);
    let error: Error | undefined;
    let done = false;
    const finish = (status: number | null, signal: NodeJS.Signals | null): void => {
      if (done) return;
      done = true;
      if (timer !== null) clearTimeout(timer);
      resolve(error === undefined ? { status, signal, stdout, stderr } : { status, signal, stdout, stderr, error });
    };
    child.on('error', (e) => {
      error = e;
      if (child.pid === undefined) finish(null, null); // never started (ENOENT): no 'close' to wait for
    });
    child.on('close', finish);
  });
}
