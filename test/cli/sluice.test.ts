// The `sluice` command as a user runs it: a child process (`npx tsx src/cli/sluice.ts`), its
// output and its exit status: 0 done (replay identical), 1 a finding (a divergence, a token not in
// the trace), 2 bad arguments (unknown command, missing file, not a trace, bad token id).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChild, type ChildResult } from '../helpers/child.js';
import { mergeThreads, validateChromeTrace, type ChromeTrace } from '../../src/trace/chrome.js';
import { TraceStream, readTrace, saveFlight, type ThreadRing, type TraceMeta } from '../../src/trace/file.js';
import { RECORD_VERSION, emptyRecord, type TraceRecord } from '../../src/trace/records.js';
import { TraceRing } from '../../src/trace/ring.js';
import { CRAFTED } from '../trace/crafted.js';
import { record } from '../trace/workload.js';
import { parseArgs as parseDemoArgs } from '../../src/cli/demo/args.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'sluice-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const at = (name: string): string => join(dir, name);

function sluice(...args: string[]): Promise<ChildResult> {
  return runChild('npx', ['tsx', 'src/cli/sluice.ts', ...args], { cwd: root, timeout: 60_000 });
}

/** The same with the child's data capped at 2 GB (ulimit -d): for sources without end, so that a regression aborts the child, not the machine. */
function sluiceCapped(...args: string[]): Promise<ChildResult> {
  return runChild('sh', ['-c', 'ulimit -d 2000000; exec npx tsx src/cli/sluice.ts "$@"', 'sh', ...args], { cwd: root, timeout: 60_000 });
}

/** Write `records` (each thread's in its order) as a stream file with header `meta`. */
function writeStream(path: string, meta: Omit<TraceMeta, 'mode' | 'recordVersion' | 'threads'>, records: readonly TraceRecord[]): void {
  const rings = new Map<number, ThreadRing>();
  const merged = mergeThreads(records);
  for (const rec of merged) {
    const key = rec.writerClass * 256 + rec.writerIndex;
    if (rings.has(key)) continue;
    const ring = new TraceRing(new Int32Array(new SharedArrayBuffer(TraceRing.words(1024) * 4)), 0, 1024, true);
    rings.set(key, { ring, writerClass: rec.writerClass, writerIndex: rec.writerIndex, kind: rec.writerClass === 1 ? 'worker' : 'main', name: `t${key}` });
  }
  const stream = new TraceStream(path, [...rings.values()], meta); // opened first: it records from where the rings are
  const r = emptyRecord();
  for (const rec of merged) {
    Object.assign(r, emptyRecord(), rec);
    rings.get(rec.writerClass * 256 + rec.writerIndex)!.ring.append(r);
  }
  stream.close();
}

let crafted = '';
beforeAll(() => {
  crafted = at('crafted.trace');
  const rec = record(CRAFTED, { path: crafted });
  rec.stream!.close();
  const f = readTrace(crafted);
  const { mode: _m, recordVersion: _v, threads: _t, ...meta } = f.meta;
  // The same records under a header whose producer 'p0' had 3 slots: its third submit, refused
  // 'producer-slots' in the recording, would have been admitted.
  writeStream(at('mutated.trace'), { ...meta, producers: meta.producers.map((p, i) => (i === 0 ? { ...p, slots: 3 } : p)) }, f.records);
  saveFlight(at('flight.trace'), rec.threads, meta);
  writeFileSync(at('not-a-trace.trace'), 'hello');
});

describe('sluice --help', () => {
  it('each command has its help, exit 0', async () => {
    const [main, trace, show, explain, replay, exp, demo] = await Promise.all([
      sluice('--help'), sluice('trace', '--help'), sluice('trace', 'show', '--help'), sluice('trace', 'explain', '-h'),
      sluice('trace', 'replay', '--help'), sluice('trace', 'export', '--help'), sluice('demo', '--help'),
    ]);
    expect([main, trace, show, explain, replay, exp, demo].map((r) => r.status)).toEqual([0, 0, 0, 0, 0, 0, 0]);
    expect(main.stdout).toMatch(/^usage: sluice <command> \[options\]/);
    expect(main.stdout).toMatch(/trace replay FILE/);
    expect(trace.stdout).toMatch(/^usage: sluice trace <show\|explain\|replay\|export> FILE/);
    expect(show.stdout).toMatch(/^usage: sluice trace show FILE \[--limit N\]/);
    expect(explain.stdout).toMatch(/^usage: sluice trace explain FILE --token ID/);
    expect(replay.stdout).toMatch(/^usage: sluice trace replay FILE/);
    expect(exp.stdout).toMatch(/^usage: sluice trace export FILE --chrome OUT.json/);
    expect(demo.stdout).toMatch(/^usage: sluice demo \[--duration <seconds>\]/);
  }, 120_000);
});

describe('sluice demo arguments', () => {
  it('a value out of range is named with the range, a missing one as missing (exit 2, nothing run)', () => {
    expect(() => parseDemoArgs(['--duration', '-1'])).toThrow(/--duration must be a number of seconds from 1 to 86400; got '-1'/);
    expect(() => parseDemoArgs(['--duration', '0'])).toThrow(/got '0'/);
    expect(() => parseDemoArgs(['--duration'])).toThrow(/--duration needs a value/);
    expect(() => parseDemoArgs(['--duration', '--no-hostile'])).toThrow(/--duration needs a value/);
    expect(parseDemoArgs(['--duration', '2', '--no-hostile'])).toEqual({ durationS: 2, hostile: false, json: null });
  });
});

describe('sluice trace', () => {
  it('show: the header, the counts, the records numbered in order', async () => {
    const r = await sluice('trace', 'show', crafted, '--limit', '8');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^full recording \\(record version ${RECORD_VERSION}\\)`));
    expect(r.stdout).toMatch(/producers: 'p0' \(slots 2\), 'p1' \(rate 10\/s, burst 1, slots 4\), 'p2' \(slots 4\)/);
    expect(r.stdout).toMatch(/read: 28 records, 0 bad frames, 0 missing, 0 lost/);
    expect(r.stdout).toMatch(/#7 t=0 a0 SUBMIT_REJECTED producer=0 task=0 cpu=0 reason="producer-slots" producerWord=2 globalWord=2 earnedWord=0 limit=2/);
    expect(r.stdout).toMatch(/… 20 more \(--limit\)/);
  }, 60_000);

  it('explain: a token (0), a rejection by record number (0), a token not in the trace (1), a bad token id (2)', async () => {
    const [tok, rej, missing, bad, both] = await Promise.all([
      sluice('trace', 'explain', crafted, '--token', '1:0'), sluice('trace', 'explain', crafted, '--record', '7'),
      sluice('trace', 'explain', crafted, '--token', '0:99'), sluice('trace', 'explain', crafted, '--token', 'seven'),
      sluice('trace', 'explain', crafted, '--token', '1', '--record', '2'),
    ]);
    expect(tok.status, tok.stderr).toBe(0);
    expect(tok.stdout).toMatch(/spawned by: 0:0#1 \(task 'task0'\)/);
    expect(tok.stdout).toMatch(/started at tick 354 \(record #20\) on worker 1, CPU 1, after queueing 103 µs/);
    expect(rej.status).toBe(0);
    expect(rej.stdout).toMatch(/REJECTED 'producer-slots'[\s\S]*its limit \(slots\) is 2/);
    expect([missing.status, missing.stderr]).toEqual([1, 'sluice trace explain: token 0:99 is not in this trace\n']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^sluice: bad token id 'seven'/);
    expect(bad.stderr).toMatch(/usage: sluice trace explain/);
    expect(both.status).toBe(2);
    expect(both.stderr).toMatch(/give exactly one of --token ID and --record N/);
  }, 120_000);

  it('replay: identical (0); one input changed (1, the first divergence with both versions); a flight file (2)', async () => {
    const [same, changed, flight] = await Promise.all([
      sluice('trace', 'replay', crafted), sluice('trace', 'replay', at('mutated.trace')), sluice('trace', 'replay', at('flight.trace')),
    ]);
    expect(same.status, same.stderr).toBe(0);
    expect(same.stdout).toMatch(/^identical: 10 decisions replayed from 13 inputs, hash [0-9a-f]{16}\n$/);
    expect(changed.status).toBe(1);
    expect(changed.stdout).toMatch(/^DIVERGED: 4 decisions identical, then:\nfirst divergence at record #7 \(after 4 identical decisions\), tick 0, thread attachment 0, producer 'p0'/);
    expect(changed.stdout).toMatch(/ {2}recorded: SUBMIT_REJECTED \(producer-slots\)\n {2}replayed: SUBMIT_ADMITTED\n/);
    expect(changed.stdout).toMatch(/ {2}kind: recorded 3, replayed 2/);
    expect(changed.stdout).toMatch(/hash of the replayed decisions [0-9a-f]{16}, of the recorded ones [0-9a-f]{16}/);
    expect(flight.status).toBe(2);
    expect(flight.stderr).toMatch(/a flight-recorder window cannot be replayed/);
  }, 120_000);

  it('a damaged trailer (producers that are not, threads that are null): every command reads the file as one cut short, none fails on it', async () => {
    const buf = readFileSync(crafted);
    const body = buf.subarray(0, buf.length - 12 - buf.readUInt32LE(buf.length - 12));
    for (const [i, json] of ['{"frames":1,"threads":[],"producers":[null]}', '{"frames":1,"threads":null}'].entries()) {
      const j = Buffer.from(json);
      const tail = Buffer.alloc(12);
      tail.writeUInt32LE(j.length, 0);
      tail.write('SLTRAILR', 4, 'latin1');
      const path = at(`damaged-trailer-${i}.trace`);
      writeFileSync(path, Buffer.concat([body, j, tail]));
      const [show, replay, explain, exp] = await Promise.all([
        sluice('trace', 'show', path), sluice('trace', 'replay', path), sluice('trace', 'explain', path, '--record', '7'),
        sluice('trace', 'export', path, '--chrome', at(`damaged-trailer-${i}.json`)),
      ]);
      for (const r of [show, replay, explain, exp]) {
        expect(r.status, r.stdout + r.stderr).toBe(0);
        expect(r.stderr).not.toMatch(/TypeError/);
      }
      expect(show.stdout).toMatch(/INCOMPLETE: the writer did not finish \(no trailer\)/);
      expect(replay.stdout).toMatch(/^identical: 10 decisions replayed from 13 inputs, hash [0-9a-f]{16} \(the recording ends where the file was cut\)\n$/);
    }
  }, 120_000);

  it('export of a file too large for the heap: exit 2 with the --max-old-space-size to run with, before building any event', async () => {
    const ring = new TraceRing(new Int32Array(new SharedArrayBuffer(TraceRing.words(4096) * 4)), 0, 4096, true);
    const path = at('export-large.trace');
    const { mode: _m, recordVersion: _v, threads: _t, ...meta } = readTrace(crafted).meta;
    const stream = new TraceStream(path, [{ ring, writerClass: 1, writerIndex: 0, kind: 'worker', name: 'w0' }], meta);
    const r = emptyRecord();
    for (let i = 0; i < 150_000; i++) {
      Object.assign(r, { kind: 5, writerClass: 1, writerIndex: 0, worker: 0, tick: i });
      ring.append(r);
      if ((i & 1023) === 1023) stream.poll();
    }
    stream.close();
    // node itself, not npx: NODE_OPTIONS would reach the tsx launcher's own process too.
    const small = await runChild(process.execPath, ['--max-old-space-size=64', '--import', 'tsx', 'src/cli/sluice.ts', 'trace', 'export', path, '--chrome', at('export-large.json')], {
      cwd: root, timeout: 60_000,
    });
    expect(small.status, small.stdout).toBe(2);
    expect(small.stderr).toMatch(/exporting its 150000 records takes about 0\.1 GiB of JavaScript heap and this process may use 0\.\d GiB more: run it with NODE_OPTIONS=--max-old-space-size=\d+/);
    expect((await sluice('trace', 'export', path, '--chrome', at('export-large.json'))).status).toBe(0); // with the default heap
  }, 120_000);

  it('export: a valid Chrome trace with the lineage arrow', async () => {
    const out = at('crafted.json');
    const r = await sluice('trace', 'export', crafted, '--chrome', out);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^wrote \d+ events from 28 records to .*crafted\.json: open it in https:\/\/ui\.perfetto\.dev/);
    const trace = JSON.parse(readFileSync(out, 'utf8')) as ChromeTrace;
    expect(validateChromeTrace(trace)).toEqual([]);
    expect(trace.traceEvents.filter((e) => e.name === 'child').map((e) => e.ph)).toEqual(['s', 'f']);
  }, 60_000);

  it('bad arguments: exit 2 with the usage', async () => {
    const runs = await Promise.all([
      sluice(), sluice('bogus'), sluice('trace'), sluice('trace', 'frobnicate', crafted), sluice('trace', 'show', at('nope.trace')),
      sluice('trace', 'show', at('not-a-trace.trace')), sluice('trace', 'show', crafted, '--limit', '-1'), sluice('trace', 'export', crafted),
      sluice('trace', 'show', crafted, '--colour', 'red'), sluice('demo', '--frobnicate'),
      // Endless devices: refused by their first chunk (both read until memory ran out before).
      sluiceCapped('trace', 'show', '/dev/zero'), sluiceCapped('quarantine', 'list', '/dev/zero'),
    ]);
    expect(runs.map((r) => r.status)).toEqual([2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]);
    expect(runs.map((r) => r.stderr.split('\n')[0])).toEqual([
      'sluice: a command is needed', "sluice: unknown command 'bogus'", 'sluice: a trace subcommand is needed',
      "sluice: unknown trace subcommand 'frobnicate'", `sluice: no such file: ${at('nope.trace')}`,
      `sluice: ${at('not-a-trace.trace')}: not a sluice trace file (bad magic)`, '--limit must be a non-negative integer; got \'-1\''.replace(/^/, 'sluice: '),
      'sluice: --chrome OUT.json is needed (the only format)', "sluice: unknown option '--colour'",
      "isolation demo: unknown argument '--frobnicate'",
      'sluice: /dev/zero: not a sluice trace file (bad magic)', 'sluice: /dev/zero is not a quarantine file (rt.quarantine.save writes one)',
    ]);
  }, 180_000);
});
