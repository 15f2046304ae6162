/**
 * Typed task modules (types only: nothing here exists at run time, and no call path changes).
 *
 * `Runtime.start<typeof import('./tasks.js')>({ tasks })` gives a `Runtime<M>`: its task names,
 * payloads and results come from the module type M. The tasks of M are what the runtime finds
 * (tasks-module.ts): its function-valued named exports, plus the function-valued properties of
 * an object default export, or `default` when the default export is a function. Without a type
 * argument M is `any`: the untyped runtime, where names are strings, payloads and results
 * `unknown`, and `<T>` on submit/run/submitCallback declares the result (an unchecked cast).
 */

/** Whether M is `any` (the untyped runtime). */
type IsAny<M> = 0 extends 1 & M ? true : false;

/** Keys of O whose values are callable. */
type CallableKeys<O> = { [K in keyof O]-?: O[K] extends (...args: never[]) => unknown ? K : never }[keyof O];

/** The tasks of module type M, by name: what the runtime finds in the module (see the file comment). */
type Tasks<M> = Pick<M, Exclude<CallableKeys<M>, 'default'>> & (
  M extends { default: infer D }
    ? D extends (...args: never[]) => unknown ? { default: D } : D extends object ? Pick<D, CallableKeys<D>> : unknown
    : unknown
);

/** The task names of module type M (any string on an untyped runtime). */
export type TaskName<M> = IsAny<M> extends true ? string : Extract<keyof Tasks<M>, string>;

/** The function of task N of module type M. */
type TaskFn<M, N> = N extends keyof Tasks<M> ? Tasks<M>[N] : never;

/**
 * The payload argument of task N as a tuple: `[payload: P]` when its first parameter is required,
 * `[payload?: P]` when it is optional, `[payload?: undefined]` when it takes none; `[payload?:
 * unknown]` on an untyped runtime.
 */
type PayloadTuple<M, N> = IsAny<M> extends true ? [payload?: unknown]
  : TaskFn<M, N> extends (...args: infer A) => unknown
    ? A extends readonly [] ? [payload?: undefined] : [] extends A ? [payload?: A[0]] : [payload: A[0]]
    : [payload?: unknown];

/** The payload task N of module type M takes: its first parameter (`unknown` on an untyped runtime). */
export type TaskPayload<M, N extends string> = PayloadTuple<M, N>[0];

/**
 * The arguments after the task in `producer.submit(task, ...args)` and `rt.run(task, ...args)`:
 * the payload (required when task N's first parameter is) and the SubmitOptions.
 */
export type SubmitArgs<M, N extends string, O> = [...PayloadTuple<M, N>, options?: O] & [payload?: unknown, options?: O];
// (The second tuple changes nothing for a caller; it tells the compiler these arguments fit the
// implementations' plain (task, payload?, options?) parameters, which have no rest array.)

/**
 * What the `<T>` of submit, submitCallback and rt.run may be: anything on an untyped runtime
 * (`unknown`: T declares the result, unchecked); nothing on a typed one (`never`: the result type
 * is the task's, so `rt.run<string>(...)` does not compile there).
 */
export type ResultCast<M> = IsAny<M> extends true ? unknown : never;

/**
 * The value task N of module type M resolves to: its function's awaited return type. On an
 * untyped runtime, T (what the caller declared, `unknown` by default).
 */
export type TaskResult<M, N extends string, T = unknown> = IsAny<M> extends true ? T
  : TaskFn<M, N> extends (...args: never[]) => infer R ? Awaited<R> : unknown;
