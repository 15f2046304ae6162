// Class 3 of issue 16: user listeners and callbacks that throw never corrupt the books, never stop
// the pump, close, or another callback; their errors arrive as uncaught exceptions. Run in a
// child process (test/fixtures/user-callbacks.ts), which collects the uncaught exceptions.
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { runChild } from './helpers/child.js';

type Books = { global: number; exact: boolean; producers: Record<string, { inFlight: number; admitted: number; resolved: number }> };
type Scenario = { scenario: string; uncaught: string[]; books: Books } & Record<string, unknown>;

describe('user callbacks that throw', () => {
  const out = new Map<string, Scenario>();
  beforeAll(async () => {
    const fixture = fileURLToPath(new URL('./fixtures/user-callbacks.ts', import.meta.url));
    const r = await runChild(process.execPath, ['--import', 'tsx', fixture], { timeout: 120_000 });
    expect(r.signal, `the fixture hung\n${r.stdout}\n${r.stderr}`).toBeNull();
    expect(r.status, r.stderr).toBe(0);
    for (const line of r.stdout.trim().split('\n')) {
      const s = JSON.parse(line) as Scenario;
      out.set(s.scenario, s);
    }
  }, 150_000);
  const scenario = (name: string): Scenario => {
    const s = out.get(name);
    expect(s, `scenario ${name} did not report`).toBeDefined();
    // In every scenario the books are exact afterwards: no slot held, admitted = resolved.
    expect(s!.books.global).toBe(0);
    expect(s!.books.exact, JSON.stringify(s!.books)).toBe(true);
    return s!;
  };

  it("a 'saturated' listener that throws: submit still returns its Rejection, the next listener runs, the error is uncaught", () => {
    const s = scenario('edges-pump');
    expect(s.refused).toEqual({ admitted: false, reason: 'producer-slots' });
    expect([...(s.afterSaturated as string[])].sort()).toEqual(['saturated listener', 'second saturated listener ran']);
  });

  it("a 'clear' listener that throws from the pump: reported uncaught, and the pump keeps draining (200 more tasks)", () => {
    const s = scenario('edges-pump');
    expect(s.uncaught).toContain('clear listener (pump)');
    expect(s.sum).toBe(Array.from({ length: 200 }, (_, i) => i + 1).reduce((a, b) => a + b, 0));
    expect(s.books.producers.edges).toEqual({ inFlight: 0, admitted: 201, resolved: 201 });
  });

  it("a 'clear' listener that throws from submit: submit returns the admitted token (tracked first), which resolves", () => {
    const s = scenario('edges-submit');
    expect(s.uncaught).toEqual(['clear listener (submit)']);
    expect(s.refused).toEqual({ admitted: false, reason: 'rate', retryAfterMs: expect.any(Number) });
    expect(s).toMatchObject({ admitted: true, value: 4, saturated: false });
    expect(s.books.producers.rated).toEqual({ inFlight: 0, admitted: 2, resolved: 2 });
  });

  it("a 'clear' listener that throws from token.cancel(): cancel still returns true and the token is retracted", () => {
    const s = scenario('edges-cancel');
    expect(s.uncaught).toEqual(['clear listener (cancel)']);
    expect(s).toMatchObject({ cancelled: true, outcome: 'retracted' });
  });

  it('submitCallback callbacks that throw on fulfilled and rejected: each runs once, both errors uncaught, the pump carries on', () => {
    const s = scenario('callbacks-drain');
    expect(s.calls).toEqual(['1:value 2', '2:TypeError']);
    expect([...s.uncaught].sort()).toEqual(['callback 1', 'callback 2']);
    expect(s.after).toBe(42);
  });

  it('callbacks that throw while close() retracts and abandons their tasks: close completes and the books are exact', () => {
    const s = scenario('callbacks-close');
    expect([...(s.calls as string[])].sort()).toEqual(['3:AbandonedError', '4:RetractedError']);
    expect([...s.uncaught].sort()).toEqual(['callback 3', 'callback 4']);
    expect(s).toMatchObject({ token: 'retracted', state: 'closed' });
    expect(s.books.producers.cb).toEqual({ inFlight: 0, admitted: 5, resolved: 5 });
  });

  it('a hostile AbortSignal (overriding aborted, reason and the listener methods) is used only through the intrinsics', () => {
    const s = scenario('signals');
    expect(s.uncaught).toEqual([]); // none of the hostile methods ran
    expect(s.pending).toBe('retracted'); // aborting it still retracts the queued task
    expect(s).toMatchObject({ kept: true, keptValue: 3 });
  });

  it("a retried task whose payload's getter throws when it is encoded again: abandoned with that reason, from the pump, which carries on", () => {
    const s = scenario('retry-payload');
    expect(s.outcome).toBe('abandoned');
    expect(s.err).toMatch(/^AbandonedError: its worker died and the retry could not encode the payload again: payload cannot be cloned: it contains an object whose getter threw/);
    expect(s.after).toBe(2);
    expect(s.uncaught).toEqual([]);
  });

  it("a listener that drains the runtime from inside rt.run's queue flush: each waiter settles once, the admitted one with its value", () => {
    const s = scenario('reentrant-flush');
    expect(s.results).toEqual(['value q1', 'value 2', 'RejectedError: draining']);
    expect(s.state).toBe('draining');
  });

  it('a Proxy, a lookalike, a throwing options getter or an aborted signal: submit throws with nothing taken', () => {
    const s = scenario('signals');
    expect(s.thrown).toEqual([
      'ConfigError: submit: signal must be an AbortSignal; got an object',
      'ConfigError: submit: signal must be an AbortSignal; got an object',
      "ConfigError: submit: reading option 'signal' threw",
      'Error: already aborted',
    ]);
    expect(s.unchanged).toBe(true);
  });

  it('a Proxy or lookalike TaskRef, a tag whose valueOf throws, a callback or listener that is no function: ConfigError before admission, no trap run', () => {
    const s = scenario('signals');
    expect(s.inputs).toEqual([
      'ConfigError: task must be a TaskRef from rt.task() or a task name; got an object',
      'ConfigError: task must be a TaskRef from rt.task() or a task name; got an object',
      'ConfigError: submitCallback: tag must be an int32; got an object',
      'ConfigError: submitCallback: callback must be a function; got a string (14 chars)',
      'ConfigError: producer.on: listener must be a function; got 42',
    ]);
    expect(s.uncaught).toEqual([]);
    expect(s.unchanged).toBe(true);
  });
});
