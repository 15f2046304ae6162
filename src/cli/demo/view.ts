/**
 * Terminal rendering for the demo: a table redrawn in place (TTY), or a compact progress line at
 * most every few seconds (pipes, CI), and the final summary.
 */
import type { WriteStream } from 'node:tty';

export interface Style {
  bold(s: string): string;
  dim(s: string): string;
  green(s: string): string;
  red(s: string): string;
  yellow(s: string): string;
}

const wrap = (open: number, close: number) => (s: string): string => `\x1b[${open}m${s}\x1b[${close}m`;
const plain = (s: string): string => s;

export function makeStyle(color: boolean): Style {
  if (!color) return { bold: plain, dim: plain, green: plain, red: plain, yellow: plain };
  return { bold: wrap(1, 22), dim: wrap(2, 22), green: wrap(32, 39), red: wrap(31, 39), yellow: wrap(33, 39) };
}

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

/** Printed width of a string (ANSI escapes take none; our glyphs are all one column wide). */
export function width(s: string): number {
  return s.replace(ANSI, '').length;
}

export function padEnd(s: string, n: number): string {
  return s + ' '.repeat(Math.max(0, n - width(s)));
}

export function padStart(s: string, n: number): string {
  return ' '.repeat(Math.max(0, n - width(s))) + s;
}

/** Cut a line to `cols` printed columns, keeping escapes intact (then reset styles). */
export function truncate(s: string, cols: number): string {
  if (width(s) <= cols) return s;
  let out = '';
  let seen = 0;
  for (let i = 0; i < s.length && seen < cols - 1; ) {
    if (s[i] === '\x1b') {
      ANSI.lastIndex = i;
      const m = ANSI.exec(s);
      if (m !== null && m.index === i) { out += m[0]; i += m[0].length; continue; }
    }
    out += s[i];
    seen++;
    i++;
  }
  return `${out}…\x1b[0m`;
}

/** A table: header row and body rows, columns aligned; the given columns right-aligned. */
export function table(header: string[], rows: string[][], rightAligned: ReadonlySet<number>, gap = 2): {
  lines: string[];
  /** Where each column starts, and how wide it is (printed columns). */
  starts: number[];
  widths: number[];
} {
  const widths = header.map((h, c) => Math.max(width(h), ...rows.map((r) => width(r[c] ?? ''))));
  const starts = widths.map((_, c) => widths.slice(0, c).reduce((a, w) => a + w + gap, 0));
  const line = (cells: string[]): string =>
    cells.map((cell, c) => (rightAligned.has(c) ? padStart(cell, widths[c]!) : padEnd(cell, widths[c]!))).join(' '.repeat(gap)).trimEnd();
  return { lines: [line(header), ...rows.map(line)], starts, widths };
}

/**
 * A line of labels, each centred in rules over a span of table columns:
 * `spans` are [first column, last column, label].
 */
export function groupLabels(starts: number[], widths: number[], spans: [number, number, string][]): string {
  let out = '';
  for (const [a, b, label] of spans) {
    const from = starts[a]!;
    const to = starts[b]! + widths[b]!;
    const text = ` ${label} `;
    const rule = Math.max(0, to - from - text.length);
    out = padEnd(out, from) + '─'.repeat(Math.floor(rule / 2)) + text + '─'.repeat(Math.ceil(rule / 2));
  }
  return out;
}

export function bar(fraction: number, cols: number): string {
  const f = Math.min(1, Math.max(0, fraction));
  const full = Math.floor(f * cols);
  const partial = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'][Math.floor((f * cols - full) * 8)] ?? '';
  return '█'.repeat(full) + partial + ' '.repeat(Math.max(0, cols - full - (partial ? 1 : 0)));
}

/** Integer with thin grouping: 12345678 -> 12,345,678. */
export function int(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** Compact count: 950, 12.3k, 4.56M. */
export function compact(n: number): string {
  if (n < 10_000) return String(Math.round(n));
  if (n < 1_000_000) return `${(n / 1000).toFixed(n < 100_000 ? 1 : 0)}k`;
  return `${(n / 1_000_000).toFixed(2)}M`;
}

/** Microseconds as milliseconds with sensible precision; '-' for no data. */
export function ms(us: number): string {
  if (!Number.isFinite(us)) return '-';
  const m = us / 1000;
  return m < 10 ? m.toFixed(2) : m < 100 ? m.toFixed(1) : m.toFixed(0);
}

/**
 * Live output. On a TTY, each frame replaces the previous one (cursor up, clear, rewrite), and
 * the cursor is hidden while it runs. Elsewhere, frames are dropped and only the caller's
 * occasional progress lines are written.
 */
export class LiveView {
  private lines = 0;
  private cursorHidden = false;

  constructor(private readonly out: NodeJS.WriteStream, readonly tty: boolean) {}

  get columns(): number {
    return (this.out as WriteStream).columns || 120;
  }

  frame(lines: string[]): void {
    if (!this.tty) return;
    const cols = this.columns;
    let s = '';
    if (!this.cursorHidden) { s += '\x1b[?25l'; this.cursorHidden = true; }
    if (this.lines > 0) s += `\x1b[${this.lines}A\r`;
    for (const l of lines) s += `\x1b[2K${truncate(l, cols)}\n`;
    s += '\x1b[J'; // the previous frame may have been taller
    this.out.write(s);
    this.lines = lines.length;
  }

  /** A line that stays (progress on a pipe, or a message above the live frame). */
  line(text: string): void {
    if (this.tty && this.lines > 0) {
      this.out.write(`\x1b[${this.lines}A\r\x1b[J${text}\n`);
      this.lines = 0;
    } else {
      this.out.write(`${text}\n`);
    }
  }

  /** Stop redrawing: the last frame stays on screen; restore the cursor. */
  end(): void {
    if (this.cursorHidden) this.out.write('\x1b[?25h');
    this.cursorHidden = false;
    this.lines = 0;
  }

  /** Erase the live frame (the final summary replaces it). */
  clear(): void {
    if (this.tty && this.lines > 0) this.out.write(`\x1b[${this.lines}A\r\x1b[J`);
    this.lines = 0;
    this.end();
  }
}
