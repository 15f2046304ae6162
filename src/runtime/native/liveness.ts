/**
 * Thread identity for liveness checks: the kernel tid and start time of the calling thread,
 * read from /proc (Linux). A thread is alive while /proc/self/task/<tid>/stat exists with the
 * same start time (the start time guards against tid reuse). Elsewhere: { tid: 0 } = unknown,
 * and dead attachments are only found when they detach or at close.
 */
import { readFileSync, readlinkSync } from 'node:fs';

export interface ThreadIdentity { tid: number; start: number }

function startTimeOf(statText: string): number {
  // Field 22 (starttime); fields after the ')' closing the command name start at field 3.
  const rest = statText.slice(statText.lastIndexOf(')') + 2).split(' ');
  return Number(rest[19]) | 0;
}

export function currentThreadIdentity(): ThreadIdentity {
  try {
    const link = readlinkSync('/proc/thread-self'); // "<pid>/task/<tid>"
    const tid = Number(link.slice(link.lastIndexOf('/') + 1));
    return { tid, start: startTimeOf(readFileSync(`/proc/self/task/${tid}/stat`, 'utf8')) };
  } catch {
    return { tid: 0, start: 0 };
  }
}

/** true: alive; false: gone; null: cannot tell (no identity recorded, or no /proc). */
export function threadAlive(id: ThreadIdentity): boolean | null {
  if (id.tid === 0) return null;
  try {
    return startTimeOf(readFileSync(`/proc/self/task/${id.tid}/stat`, 'utf8')) === id.start;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? false : null;
  }
}
