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
    return { src: fn, name: sourceName(fn), require: [] };
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
    fn: (src) => {
      const block = pythonBlock(src);
      // A block (a def, or statements then an expression) stays a block and ends with the helper applied
      // to its function: the engine runs it as apply runs a block (the last expression is the function).
      if (block === null) return `${PY_MAP}(${src.trim()})`;
      return block.name !== undefined ? `${block.src}\n${PY_MAP}(${block.name})` : `${block.head}\n${PY_MAP}(${block.tail})`;
    },
    passFunction: false,
  },
};

const PY_MAP = '(lambda f: lambda *seqs: [f(*a) for a in zip(*seqs)])';

/** A statement that starts a Python definition, and the name it binds. */
const PY_DEF = /^(?:async\s+def|def|class)\s+([A-Za-z_]\w*)/;
/** A line that starts a Python statement (not an expression): a definition, a decorator, an import, an assignment. */
const PY_STATEMENT = /^(?:(?:async\s+def|def|class|import|from)\s|@|[A-Za-z_][\w.]*\s*=(?!=))/;
/** A JavaScript function with a name. */
const JS_FUNCTION = /^\s*(?:async\s+)?function\s*\*?\s*([\p{ID_Start}_$][\p{ID_Continue}$]*)/u;

/**
 * Python source that is a block rather than one expression: several top-level lines, or a def.
 * `name` when its last top-level statement is a def (or class); else `head` (the statements)
 * and `tail` (the last one, an expression). Top-level lines are found by their first column,
 * as the engine's parser would; null for a single expression such as a lambda.
 */
function pythonBlock(src: string): { src: string; name?: string; head: string; tail: string } | null {
  const lines = src.replace(/\s+$/, '').split('\n');
  const top = lines.flatMap((l, i) => (/^[^\s#]/.test(l) ? [i] : []));
  if (top.length === 0) return null;
  // Column-0 lines that only continue an expression (a closing bracket) do not make a block: a statement must be there.
  if (!top.some((i) => PY_STATEMENT.test(lines[i]))) return null;
  const last = top[top.length - 1];
  const def = PY_DEF.exec(lines[last]);
  if (def === null && top.length === 1) return null;
  return { src: lines.join('\n'), name: def?.[1], head: lines.slice(0, last).join('\n'), tail: lines.slice(last).join('\n') };
}

/** The name a function's source text gives it: a Python def's (the last one), a named JavaScript function's; else ''. */
export function sourceName(src: string): string {
  const block = pythonBlock(src);
  if (block?.name !== undefined) return block.name;
  return JS_FUNCTION.exec(src)?.[1] ?? '';
}

export function mapHelper(kernel: KernelKind | undefined): { fn(src: string): string; passFunction: boolean } {
  return MAP_HELPERS[kernel ?? 'node'] ?? MAP_HELPERS.node;
}
