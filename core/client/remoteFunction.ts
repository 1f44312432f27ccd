/**
 * Functions that run on engines. A function travels as its source text (a string of source
 * is accepted too, which is how Python engines get theirs) and is evaluated in the engine's
 * namespace, so free names resolve there.
 */
import type { Json } from '../protocol/messages.js';
import { pythonBlock } from '../kernels/python.js';
import { functionSource, SerializationError } from '../serialize/serialize.js';
import { checkModules, show } from './validate.js';

/** A function to ship, or its source text in the engine's language. */
export type RemoteFn = ((...args: never[]) => unknown) | string;

const REMOTE = Symbol.for('multiengine.remoteFunction');

interface RemoteInfo {
  src: string;
  name: string;
  require: string[];
  /** The engine kernel its source is written for, when that can be told (a function object: node). */
  kernel?: string;
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
    const info: RemoteInfo = { src: inner.src, name: inner.name, require: [...new Set([...inner.require, ...mods])], kernel: inner.kernel };
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
    return { src: fn, name: sourceName(fn), require: [], kernel: sourceKernel(fn) };
  }
  if (typeof fn !== 'function') throw new TypeError(`${method}: expected a function or a string of function source, got ${show(fn)}`);
  const info = (fn as unknown as { [REMOTE]?: RemoteInfo })[REMOTE];
  if (info) return info;
  const src = functionSource(fn as (...a: unknown[]) => unknown);
  if (src === null) throw new SerializationError(`${method}.fn`, `function ${fn.name || '(anonymous)'} is native or bound and has no source to ship`);
  return { src, name: fn.name, require: [], kernel: 'node' };
}

/** A JavaScript function expression: `function`, `async`, an arrow's parameters. */
const JS_SOURCE = /^\s*(?:async\b|function\b|\([^)]*\)\s*=>|[\p{ID_Start}_$][\p{ID_Continue}$]*\s*=>)/u;

/** The kernel function source is written for: python (a def, a block, a lambda), node (a function expression), or undefined. */
export function sourceKernel(src: string): string | undefined {
  if (JS_SOURCE.test(src)) return 'node';
  return /^\s*lambda\b/.test(src) || pythonBlock(src) !== null ? 'python' : undefined;
}

/** The wire form of a function passed as an argument (what encodeValue makes of a function). */
export function functionValue(info: RemoteInfo): Json {
  return { $t: 'function', src: info.src, name: info.name };
}

/** A JavaScript function with a name. */
const JS_FUNCTION = /^\s*(?:async\s+)?function\s*\*?\s*([\p{ID_Start}_$][\p{ID_Continue}$]*)/u;

/** The name a function's source text gives it: a Python def's (the last one), a named JavaScript function's; else ''. */
export function sourceName(src: string): string {
  const block = pythonBlock(src);
  if (block?.name !== undefined) return block.name;
  return JS_FUNCTION.exec(src)?.[1] ?? '';
}
