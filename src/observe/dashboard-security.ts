/**
 * The dashboard's security pieces (docs/design.md §4.17), pure and separately tested
 * (test/observe/dashboard-security.test.ts): which Host and Origin a request may carry, the
 * constant-time password check, and the failed-login limits.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/** Names a loopback listener answers to (DNS rebinding: any other name is refused). */
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/** Lower-cased host names, with IPv6 literals bracketed as a Host header writes them. */
function hostName(h: string): string {
  const l = h.toLowerCase();
  return l.includes(':') && !l.startsWith('[') ? `[${l}]` : l;
}

/**
 * The `host:port` values the Host header may carry: the listening address's own name, the
 * loopback names when it listens on loopback, and each of `extra` (a name, meaning that name at
 * this port, or an exact `name:port`). Lower case.
 */
export function allowedHostSet(host: string, port: number, extra: readonly string[] = []): Set<string> {
  const out = new Set<string>();
  const add = (name: string): void => { out.add(`${hostName(name)}:${port}`); };
  add(host);
  // Loopback, or every interface (then the names users type must come in `extra`).
  const h = host.toLowerCase();
  if (LOOPBACK.has(h) || h === '0.0.0.0' || h === '::') for (const n of LOOPBACK) if (n !== '::1') add(n);
  for (const e of extra) {
    const l = e.toLowerCase();
    // "name:port" (or "[v6]:port") exactly; otherwise a bare name at this port.
    if (/^(\[[0-9a-f:.]+\]|[^:[\]]+):\d{1,5}$/.test(l)) out.add(l);
    else add(l);
  }
  return out;
}

/** Whether a Host header names this server (DNS rebinding defence): exact match, case-insensitive. */
export function hostAllowed(header: string | undefined, allowed: ReadonlySet<string>): boolean {
  if (typeof header !== 'string' || header.length === 0 || header.length > 300) return false;
  return allowed.has(header.toLowerCase());
}

/**
 * Whether an Origin header may open the WebSocket (cross-site WebSocket hijacking defence): a
 * browser always sends Origin, and it must be this server's own `http://host:port`. A request
 * without Origin is not from a web page (e.g. `sluice top`) and is let through; the header
 * 'null' (sandboxed frames, file: pages) is refused.
 */
export function originAllowed(header: string | undefined, allowed: ReadonlySet<string>): boolean {
  if (header === undefined) return true;
  if (typeof header !== 'string' || header.length > 300) return false;
  const m = /^http:\/\/([^/?#@]+)$/i.exec(header);
  return m !== null && allowed.has(m[1]!.toLowerCase());
}

/**
 * The password check: both sides are hashed first (SHA-256), so the buffers compared by
 * timingSafeEqual always have equal length and the time taken says nothing about the password,
 * not even its length.
 */
export class PasswordCheck {
  private readonly digest: Buffer;
  constructor(password: string) {
    this.digest = createHash('sha256').update(password, 'utf8').digest();
  }
  matches(candidate: unknown): boolean {
    if (typeof candidate !== 'string') return false;
    const d = createHash('sha256').update(candidate, 'utf8').digest();
    return timingSafeEqual(d, this.digest);
  }
}

/** Failed-login limits (DashboardOptions.login). */
export interface LoginLimits {
  /** Failed logins one connection may make; at this many the socket is closed. Default 3. */
  perConnection: number;
  /** Failed logins all connections together may make per `windowMs`; then every login is refused until the window passes. Default 10. */
  global: number;
  /** The global window in ms. Default 60000. */
  windowMs: number;
}

export const DEFAULT_LOGIN_LIMITS: Readonly<LoginLimits> = Object.freeze({ perConnection: 3, global: 10, windowMs: 60_000 });

/**
 * The global failed-login limit: at most `global` failures in any `windowMs` (a sliding window
 * of failure times). While it is full, logins are refused without looking at the password, so
 * guessing costs an attacker the window whatever the number of connections.
 */
export class LoginLimiter {
  private readonly failures: number[] = [];
  constructor(readonly limits: Readonly<LoginLimits> = DEFAULT_LOGIN_LIMITS, private readonly now: () => number = Date.now) {}

  private prune(t: number): void {
    while (this.failures.length > 0 && t - this.failures[0]! >= this.limits.windowMs) this.failures.shift();
  }

  /** May a login be checked now? */
  allow(): boolean {
    this.prune(this.now());
    return this.failures.length < this.limits.global;
  }

  /** A failed login (counted in the window). */
  fail(): void {
    const t = this.now();
    this.prune(t);
    this.failures.push(t);
  }

  /** Ms until a login may be checked again (0: now). */
  retryAfterMs(): number {
    const t = this.now();
    this.prune(t);
    if (this.failures.length < this.limits.global) return 0;
    return Math.max(0, this.limits.windowMs - (t - this.failures[0]!));
  }
}
