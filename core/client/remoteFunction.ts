/**
 * Functions that run on engines. A function travels as its source text (a string of source
 * is accepted too, which is how Python engines get theirs) and is evaluated in the engine's
 * namespace, so free names resolve there.
 */
import type { Json, KernelKind } from '../protocol/messages.js';
import { functionSource, SerializationError } from '../serialize/serialize.js';
import { checkModules, show } from './validate.js';

/** A function to ship, or its source text in the engine's language. */
export type RemoteFn = ((...args: never[]) => unknown) | string;

const REMOTE = Symbol.for('multiengine.remoteFunction');

interface RemoteInfo {
  src: string;
  name: string;
  require: string[];
}

/**
 * requireModules('node:os')(fn): a function that, when applied on engines, has each module
 * imported (and bound by name) first. A module that cannot be imported makes the call fail
 * with a RemoteError whose ename is 'UnmetDependencyError'. Called locally it runs `fn`.
 */
export function requireModules(...modules: string[]) {
  const mods = checkModules('requireModules', modules);
  return <F extends (...args: never[]) => unknown>(fn: F | string): F => {
    const inner = describeFunction('requireModules', fn);
    const info: RemoteInfo = { src: inner.src, name: inner.name, require: [...new Set([...inner.require, ...mods])] };
    const wrapped = function (this: unknown, ...args: unknown[]) {
      if (typeof fn !== 'function') throw new TypeError('this function is source text for the engines; it cannot run locally');
      return (fn as unknown as (...a: unknown[]) => unknown).apply(this, args);
    };
    Object.defineProperty(wrapped, 'name', { value: inner.name });
    Object.defineProperty(wrapped, REMOTE, { value: info });
    return wrapped as unknown as F;
  };
}

/** The source, name and required modules of something `apply` accepts; throws naming the problem. */
export function describeFunction(method: string, fn: unknown): RemoteInfo {
  if (typeof fn === 'string') {
    if (fn.trim() === '') throw new TypeError(`${method}: the function source is an empty string`);
    return { src: fn, name: '', require: [] };
  }
  if (typeof fn !== 'function') throw new TypeError(`${method}: expected a function or a string of function source, got ${show(fn)}`);
  const info = (fn as unknown as { [REMOTE]?: RemoteInfo })[REMOTE];
  if (info) return info;
  const src = functionSource(fn as (...a: unknown[]) => unknown);
  if (src === null) throw new SerializationError(`${method}.fn`, `function ${fn.name || '(anonymous)'} is native or bound and has no source to ship`);
  return { src, name: fn.name, require: [] };
}

/** The wire form of a function passed as an argument (what encodeValue makes of a function). */
export function functionValue(info: RemoteInfo): Json {
  return { $t: 'function', src: info.src, name: info.name };
}

/**
 * The element-wise map each engine runs over its blocks: map(f, ...seqs) sends one
 * apply_request per engine whose fn is the helper of the engine's kernel. Node engines get
 * the user's function as the first argument (a function value, evaluated in the namespace);
 * python engines cannot run function values, so theirs is the helper applied to the source.
 */
export const MAP_HELPERS: Record<KernelKind, { fn(src: string): string; passFunction: boolean }> = {
  node: {
    fn: () => `(f, ...seqs) => {
  const n = seqs.length === 0 ? 0 : Math.min(...seqs.map((s) => s.length));
  const out = new Array(n);
  let thenable = false;
  for (let i = 0; i < n; i++) {
    const r = f(...seqs.map((s) => s[i]));
    if (r !== null && typeof r === 'object' && typeof r.then === 'function') thenable = true;
    out[i] = r;
  }
  return thenable ? Promise.all(out) : out;
}`,
    passFunction: true,
  },
  python: {
    fn: (src) => `(lambda f: lambda *seqs: [f(*a) for a in zip(*seqs)])(${src.trim()})`,
    passFunction: false,
  },
};

export function mapHelper(kernel: KernelKind | undefined): { fn(src: string): string; passFunction: boolean } {
  return MAP_HELPERS[kernel ?? 'node'] ?? MAP_HELPERS.node;
}
