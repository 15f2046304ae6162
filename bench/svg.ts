// Hand-written SVG (no dependency) for the scaling section: throughput vs producer threads, one
// line per worker count, and throughput vs payload size on a log2 axis.
import { formatBytes, type ScalingResult } from './scaling.js';
import { fmt } from './report.js';

interface Series {
  name: string;
  color: string;
  points: readonly (readonly [number, number])[];
}

interface Chart {
  title: string;
  xLabel: string;
  /** Tick positions (data units) and their labels. */
  ticks: readonly (readonly [number, string])[];
  log2: boolean;
  series: readonly Series[];
}

const W = 460;
const H = 320;
const M = { left: 86, right: 34, top: 40, bottom: 50 };
const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728'];

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const text = (x: number, y: number, s: string, extra = ''): string =>
  `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${extra}>${esc(s)}</text>`;

/** A "nice" upper bound for the y axis and its step (1, 2 or 5 × 10^k). */
function niceMax(v: number): [number, number] {
  const step0 = Math.max(v, 1) / 4;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((k) => k * mag).find((s) => s >= step0)!;
  return [Math.ceil(v / step) * step, step];
}

function chart(c: Chart, dx: number): string {
  const xs = c.ticks.map(([v]) => (c.log2 ? Math.log2(v) : v));
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const ys = c.series.flatMap((s) => s.points.map(([, y]) => y));
  const [yMax, yStep] = niceMax(Math.max(1, ...ys));
  const px = (v: number): number => dx + M.left + (((c.log2 ? Math.log2(v) : v) - x0) / (x1 - x0 || 1)) * (W - M.left - M.right);
  const py = (v: number): number => M.top + (1 - v / yMax) * (H - M.top - M.bottom);
  const parts: string[] = [text(dx + W / 2, 22, c.title, 'text-anchor="middle" font-weight="bold"')];
  for (let y = 0; y <= yMax + 1e-9; y += yStep) {
    parts.push(`<line x1="${dx + M.left}" x2="${dx + W - M.right}" y1="${py(y).toFixed(1)}" y2="${py(y).toFixed(1)}" stroke="#ddd"/>`);
    parts.push(text(dx + M.left - 6, py(y) + 4, fmt(y, 0), 'text-anchor="end"'));
  }
  for (const [v, label] of c.ticks) parts.push(text(px(v), H - M.bottom + 18, label, 'text-anchor="middle"'));
  parts.push(text(dx + M.left + (W - M.left - M.right) / 2, H - 12, c.xLabel, 'text-anchor="middle"'));
  const mid = M.top + (H - M.top - M.bottom) / 2;
  parts.push(text(dx + 14, mid, 'tasks/s', `text-anchor="middle" transform="rotate(-90 ${dx + 14} ${mid})"`));
  parts.push(`<rect x="${dx + M.left}" y="${M.top}" width="${W - M.left - M.right}" height="${H - M.top - M.bottom}" fill="none" stroke="#888"/>`);
  c.series.forEach((s, i) => {
    const pts = s.points.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ');
    parts.push(`<polyline points="${pts}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    for (const [x, y] of s.points) parts.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${s.color}"><title>${esc(`${s.name}: ${fmt(y, 0)} tasks/s`)}</title></circle>`);
    parts.push(`<rect x="${dx + W - M.right - 110}" y="${M.top + 8 + i * 16}" width="10" height="10" fill="${s.color}"/>`);
    parts.push(text(dx + W - M.right - 96, M.top + 17 + i * 16, s.name));
  });
  return parts.join('\n');
}

export function scalingSvg(r: ScalingResult, subtitle: string): string {
  const workers = [...new Set(r.threads.map((t) => t.workers))];
  const threads: Chart = {
    title: 'throughput vs producer threads',
    xLabel: 'producer threads (Runtime.attach + submitCallback)',
    ticks: [...new Set(r.threads.map((t) => t.producers))].map((p) => [p, String(p)] as const),
    log2: true,
    series: workers.map((w, i) => ({
      name: `${w} worker${w === 1 ? '' : 's'}`,
      color: COLORS[i % COLORS.length]!,
      points: r.threads.filter((t) => t.workers === w).map((t) => [t.producers, t.tasksPerSec] as const),
    })),
  };
  const payload: Chart = {
    title: 'throughput vs payload size (echo)',
    xLabel: 'payload bytes (log scale; ≤ 92 B inline, larger spilled)',
    ticks: r.payload.map((p) => [p.bytes, formatBytes(p.bytes)] as const),
    log2: true,
    series: [{ name: '2 workers', color: COLORS[1]!, points: r.payload.map((p) => [p.bytes, p.tasksPerSec] as const) }],
  };
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W}" height="${H + 20}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    chart(threads, 0),
    chart(payload, W),
    text(W, H + 12, subtitle, 'text-anchor="middle" fill="#666"'),
    '</svg>',
    '',
  ].join('\n');
}
