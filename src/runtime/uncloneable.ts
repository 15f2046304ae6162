/**
 * What structured clone refuses in a value, for error messages (Runtime.start's taskData check in
 * options.ts, and the codec's payloads). In its own module so that a worker, whose codec needs it,
 * does not load options.ts and what options.ts loads (start-up cost, docs/performance.md).
 */
import * as types from 'node:util/types'; // not node:util: a worker need not load util.js (start-up)

/**
 * What structured clone refuses in `v`, without its contents: the kind of the deepest value that
 * cannot be cloned (a function, a symbol, a Proxy, a Promise, a MessagePort, an instance of a
 * class with private state...) and its depth, or that it is nested too deeply to clone (the
 * serializer's stack overflow, past a few thousand levels). Only called after a clone failed; walks own
 * enumerable data properties (no getter is run by the walk itself). Never throws.
 */
export function uncloneable(v: unknown, clone: (x: unknown) => unknown = structuredClone): string {
  const seen = new Set<object>();
  const walk = (x: unknown, depth: number): string | null => {
    if (typeof x === 'function') return `it contains a function${at(depth)}`;
    if (typeof x === 'symbol') return `it contains a symbol${at(depth)}`;
    if (typeof x !== 'object' || x === null || seen.has(x) || depth > MAX_DEPTH) return null;
    seen.add(x);
    let failure: unknown;
    try {
      clone(x);
      return null; // this subtree clones: the culprit is elsewhere
    } catch (e) {
      failure = e; // look inside
    }
    if (types.isProxy(x)) return `it contains a Proxy${at(depth)}`;
    let getter = false;
    try {
      if (types.isMap(x) || types.isSet(x)) {
        for (const e of (x as Map<unknown, unknown>).entries()) {
          const r = walk(e[0], depth + 1) ?? walk(e[1], depth + 1);
          if (r) return r;
        }
      } else {
        for (const d of Object.values(Object.getOwnPropertyDescriptors(x))) {
          if (!d.enumerable) continue;
          if (d.get !== undefined || d.set !== undefined) { getter = true; continue; }
          const r = walk(d.value, depth + 1);
          if (r) return r;
        }
      }
    } catch {
      return `it contains an object that cannot be inspected${at(depth)}`;
    }
    if (types.isPromise(x)) return `it contains a Promise${at(depth)}`;
    if (types.isWeakMap(x) || types.isWeakSet(x)) return `it contains a WeakMap or WeakSet${at(depth)}`;
    if (getter) return `it contains an object whose getter threw or returned something uncloneable${at(depth)}`;
    if (isPortLike(x)) return `it contains a MessagePort or another handle that must be transferred, not cloned${at(depth)}`;
    // Nothing found inside, yet this subtree ran the serializer out of stack: it is nested deeper
    // than a clone can go (a few thousand levels), not a value of a refused class.
    if (failure instanceof RangeError && /call stack/.test(failure.message)) return 'it is nested too deeply: the serializer ran out of stack';
    if (depth === MAX_DEPTH) return `it contains something structured clone refuses, deeper than ${MAX_DEPTH} levels`;
    return `it contains an instance of a class structured clone refuses (private state or a host object)${at(depth)}`;
  };
  try {
    return walk(v, 0) ?? 'structured clone refused it';
  } catch {
    return 'structured clone refused it';
  }
}

/** How deep the walk looks. */
const MAX_DEPTH = 64;
const at = (depth: number): string => (depth === 0 ? ' (the value itself)' : ` (at depth ${depth})`);

function isPortLike(x: object): boolean {
  try {
    const ctor = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(x) ?? {}, 'constructor')?.value as { name?: unknown } | undefined;
    const name = ctor === undefined ? undefined : Object.getOwnPropertyDescriptor(ctor, 'name')?.value;
    return name === 'MessagePort' || name === 'BroadcastChannel' || name === 'Worker' || name === 'FileHandle';
  } catch {
    return false;
  }
}
