/**
 * Typed task modules (issue 19 item 2), as a user's compiler sees the published declarations:
 * `Runtime.start<typeof import('./tasks.js')>` makes task names, payloads and results reach call
 * sites; untyped use stays as it was. Each `@ts-expect-error` line is a refused form (if it
 * compiled, the directive itself would be an error); test/types.test.ts also compiles this file
 * with the type argument removed and checks the typed refusals then stop biting. Never run.
 */
import { Runtime } from 'sluice';
import type {
  Admission, Producer, ResultCast, SubmitArgs, SubmitCallback, SubmitOptions, TaskName, TaskPayload, TaskRef, TaskResult, Token,
} from 'sluice';

type Tasks = typeof import('./tasks.js');
type Equal<A, B> = (<X>() => X extends A ? 1 : 2) extends (<X>() => X extends B ? 1 : 2) ? true : false;
function assertType<T extends true>(_: T): void {}

export async function typed(): Promise<void> {
  await using rt = await Runtime.start<Tasks>({ tasks: new URL('./tasks.js', import.meta.url) });

  // Names: only the module's functions.
  const hash: TaskRef<'hash'> = rt.task('hash', { deadlineMs: 5 });
  const name: 'hash' = hash.name;
  // @ts-expect-error an unknown task name does not compile
  rt.task('hsah');
  // @ts-expect-error a non-function export is not a task
  rt.task('notATask');
  // @ts-expect-error nor is a class
  rt.task('NotATaskEither');
  void name;

  // Payloads and results through a producer: TaskRef or name.
  const p = rt.producer('tenant', { slots: 4 });
  assertType<Equal<typeof p, Producer<Tasks>>>(true);
  const a = p.submit(hash, 'text');
  assertType<Equal<typeof a, Admission<string>>>(true);
  if (a.admitted) {
    const token = a.token;
    assertType<Equal<typeof token, Token<string>>>(true);
    const value: string = await token;
    const maybe: string | undefined = token.value;
    // @ts-expect-error the token resolves to the task's awaited return type (string)
    const wrong: number = await token;
    void value; void maybe; void wrong;
  }
  const options: SubmitOptions = { deadlineMs: 5 };
  p.submit('hash', 'text', options);
  p.submit('pair', { a: 1, b: 'x' });
  p.submit('none');
  p.submit('opt');
  p.submit('opt', 2);
  // @ts-expect-error a payload of the wrong type
  p.submit(hash, 42);
  // @ts-expect-error by name too
  p.submit('hash', 42);
  // @ts-expect-error a required payload missing
  p.submit(hash);
  // @ts-expect-error a payload missing a field
  p.submit('pair', { a: 1 });
  // @ts-expect-error a task that takes none
  p.submit('none', 1);
  // @ts-expect-error an unknown name
  p.submit('hsah', 'text');
  // @ts-expect-error options are still checked
  p.submit(hash, 'text', { deadline: 5 });
  // @ts-expect-error no <T> cast on a typed runtime: the result type is the task's
  p.submit<string>(hash, 'text');

  // rt.run: checked payload, awaited return type (an async task's too).
  const ms: number = await rt.run('slow', 5);
  const digest: string = await rt.run(hash, 'text');
  const both: [number, string] = await rt.run('pair', { a: 1, b: 'x' }, { queueTimeoutMs: 10 });
  // @ts-expect-error the awaited type is number, not string
  const notString: string = await rt.run('slow', 5);
  // @ts-expect-error a payload of the wrong type
  await rt.run('slow', '5');
  // @ts-expect-error the issue's example: an unknown name and a wrong payload under a cast
  await rt.run<string>('hsah', 42);
  // @ts-expect-error no cast, even with a right name
  await rt.run<string>('hash', 'text');
  void ms; void digest; void both; void notString;

  // submitCallback: the payload and the callback's value.
  const cb: SubmitCallback<string> = (err, value, tag) => { void err; void value; void tag; };
  p.submitCallback(hash, 'text', cb, 7);
  p.submitCallback('slow', 1, (err, value: number) => { void err; void value; });
  // @ts-expect-error the callback's value is the task's result (number)
  p.submitCallback('slow', 1, (err: unknown, value: string) => { void err; void value; });
  // @ts-expect-error a payload of the wrong type
  p.submitCallback('hash', 1, cb);

  // The helper types.
  assertType<Equal<TaskName<Tasks>, 'hash' | 'slow' | 'none' | 'opt' | 'pair'>>(true);
  assertType<Equal<TaskPayload<Tasks, 'hash'>, string>>(true);
  assertType<Equal<TaskPayload<Tasks, 'opt'>, number | undefined>>(true);
  assertType<Equal<TaskResult<Tasks, 'slow'>, number>>(true);
  assertType<Equal<ResultCast<Tasks>, never>>(true);
  const args: SubmitArgs<Tasks, 'hash', SubmitOptions> = ['text', { deadlineMs: 1 }];
  void args;

  // A module type written by hand, and default exports (an object of functions; a function).
  const d = await Runtime.start<{ default: { a(x: number): string } }>({ tasks: 'x.js' });
  const fromDefault: string = await d.run('a', 1);
  // @ts-expect-error the default object's functions are the tasks, not `default`
  await d.run('default', 1);
  const f = await Runtime.start<{ default: (x: string) => Promise<number> }>({ tasks: 'x.js' });
  const fromFunction: number = await f.run('default', 'x');
  void fromDefault; void fromFunction;

  // Attached threads are typed the same way; a typed runtime is still a Runtime.
  const remote = await Runtime.attach<Tasks>(rt.handle);
  const remoteHash: string = await remote.run('hash', 'x');
  const plain: Runtime = rt;
  void remoteHash; void plain;
}

export async function untyped(): Promise<void> {
  // Without a type argument: names are strings, payloads and results unknown, <T> a declaration.
  await using rt = await Runtime.start({ tasks: 'x.js' });
  const r = await rt.run('anything', { any: 'payload' });
  assertType<Equal<typeof r, unknown>>(true);
  const n: number = await rt.run<number>('inc', 1);
  const ref: TaskRef = rt.task('whatever');
  const a = rt.producer('p').submit(ref);
  if (a.admitted) assertType<Equal<typeof a.token, Token<unknown>>>(true);
  const b = rt.producer('p').submit<string>('hash', 1, { deadlineMs: 1 });
  if (b.admitted) assertType<Equal<typeof b.token, Token<string>>>(true);
  rt.producer('p').submitCallback('hash', 1, (err, value: number) => { void err; void value; });
  assertType<Equal<TaskName<unknown>, never>>(true);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  assertType<Equal<TaskName<any>, string>>(true);
  void n;
}
