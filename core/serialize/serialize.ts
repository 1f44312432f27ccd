/**
 * Values <-> JSON trees plus raw buffers, the one encoding both engine runtimes share.
 * Plain data is JSON; everything else is a tagged object {"$t": kind, ...}. Binary data
 * (bytes, typed arrays, NDArrays) goes into the message's buffer list and is referenced
 * by index, so arrays never travel as JSON numbers. docs/protocol.md has the table.
 */
import { types } from 'node:util';
import type { Json } from '../protocol/messages.js';
import { dtypeOf, isDType, NDArray, typedArrayFromBytes, type DType } from './ndarray.js';

export class SerializationError extends TypeError {
  constructor(
    readonly path: string,
    readonly why: string,
  ) {
    super(`cannot serialize ${path}: ${why}`);
    this.name = 'SerializationError';
  }
}

export interface Encoder {
  buffers: Uint8Array[];
}

/** Encodes `value` into a JSON tree, appending binary data to `enc.buffers`. `path` names the value in errors. */
export function encodeValue(value: unknown, enc: Encoder, path = 'value'): Json {
  return encodeAt(value, enc, path, new Set());
}

function encodeAt(v: unknown, enc: Encoder, path: string, seen: Set<object>): Json {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return v;
    case 'number':
      // JSON has no -0 (JSON.stringify writes 0): it travels as a tag, like NaN and the infinities.
      if (Number.isFinite(v)) return v !== 0 || 1 / v > 0 ? v : { $t: 'float', v: '-0' };
      return { $t: 'float', v: Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf' };
    case 'undefined':
      return { $t: 'undefined' };
    case 'bigint':
      return { $t: 'bigint', v: v.toString() };
    case 'symbol':
      throw new SerializationError(path, `a symbol (${String(v)}) has no wire form`);
    case 'function':
      return encodeFunction(v as (...a: unknown[]) => unknown, path);
  }
  if (v === null) return null;
  const o = v as object;
  if (seen.has(o)) throw new SerializationError(path, 'it refers to itself (circular reference)');
  if (ArrayBuffer.isView(o)) return encodeBinary(o, enc, path);
  if (o instanceof NDArray) return encodeNDArray(o, enc, path);
  if (types.isArrayBuffer(o)) return encodeBinary(new Uint8Array(o), enc, path);
  if (types.isDate(o)) {
    const t = (o as Date).getTime();
    return { $t: 'date', v: Number.isNaN(t) ? null : (o as Date).toISOString() };
  }
  if (types.isPromise(o)) throw new SerializationError(path, 'a Promise (await it before returning or pushing it)');
  seen.add(o);
  try {
    if (Array.isArray(o)) {
      const out: Json[] = new Array(o.length);
      for (let i = 0; i < o.length; i++) out[i] = encodeAt(o[i], enc, `${path}[${i}]`, seen);
      return out;
    }
    if (types.isMap(o)) {
      const entries: Json[] = [];
      let i = 0;
      for (const [k, val] of o as Map<unknown, unknown>) {
        entries.push([encodeAt(k, enc, `${path}.key(${i})`, seen), encodeAt(val, enc, `${path}.get(${String(k)})`, seen)]);
        i++;
      }
      return { $t: 'map', v: entries };
    }
    if (types.isSet(o)) {
      const items: Json[] = [];
      let i = 0;
      for (const item of o as Set<unknown>) items.push(encodeAt(item, enc, `${path}.item(${i++})`, seen));
      return { $t: 'set', v: items };
    }
    if (types.isNativeError(o) || o instanceof Error) {
      const e = o as Error;
      return { $t: 'error', name: e.name, message: e.message, stack: e.stack ?? '' };
    }
    if (types.isRegExp(o)) return { $t: 'regexp', source: (o as RegExp).source, flags: (o as RegExp).flags };
    if (!isPlainObject(o)) throw new SerializationError(path, `${describe(o)} is not plain data (only plain objects, arrays, typed arrays, Map, Set, Date, Error and functions cross the wire)`);
    const rec = o as Record<string, unknown>;
    const keys = Object.keys(rec);
    if (keys.includes('$t')) {
      return { $t: 'object', v: keys.map((k) => [k, encodeAt(rec[k], enc, `${path}.${k}`, seen)]) };
    }
    const out: { [k: string]: Json } = {};
    for (const k of keys) out[k] = encodeAt(rec[k], enc, `${path}.${k}`, seen);
    return out;
  } finally {
    seen.delete(o);
  }
}

/** True for {} and Object.create(null), from any vm realm; false for class instances. */
export function isPlainObject(o: object): boolean {
  const proto = Object.getPrototypeOf(o);
  return proto === null || Object.getPrototypeOf(proto) === null;
}

function describe(o: object): string {
  const name = (o as { constructor?: { name?: string } }).constructor?.name;
  return name ? `an instance of ${name}` : 'an object with a custom prototype';
}

function encodeBinary(view: ArrayBufferView, enc: Encoder, path: string): Json {
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  const tag = Object.prototype.toString.call(view).slice(8, -1);
  if (tag === 'Uint8Array') {
    enc.buffers.push(bytes);
    return Buffer.isBuffer(view) ? { $t: 'bytes', buf: enc.buffers.length - 1, node: 'Buffer' } : { $t: 'bytes', buf: enc.buffers.length - 1 };
  }
  if (tag === 'DataView') {
    enc.buffers.push(bytes);
    return { $t: 'bytes', buf: enc.buffers.length - 1 };
  }
  const dtype = dtypeOf(view);
  if (dtype === undefined) throw new SerializationError(path, `${tag} is not a supported typed array`);
  enc.buffers.push(bytes);
  const out: { [k: string]: Json } = {
    $t: 'ndarray',
    dtype,
    shape: [view.byteLength / (view as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT],
    buf: enc.buffers.length - 1,
    typed: true,
  };
  if (tag === 'Uint8ClampedArray') out.clamped = true;
  return out;
}

function encodeNDArray(a: NDArray, enc: Encoder, path: string): Json {
  const d = a.data;
  if (dtypeOf(d) === undefined) throw new SerializationError(path, 'NDArray data is not a typed array');
  enc.buffers.push(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  return { $t: 'ndarray', dtype: a.dtype, shape: a.shape, buf: enc.buffers.length - 1 };
}

function encodeFunction(fn: (...a: unknown[]) => unknown, path: string): Json {
  const src = functionSource(fn);
  if (src === null) throw new SerializationError(path, `function ${fn.name || '(anonymous)'} is native or bound and has no source to ship`);
  return { $t: 'function', src, name: fn.name };
}

/** Source text of a function that can be shipped, or null for native and bound functions. */
export function functionSource(fn: (...a: unknown[]) => unknown): string | null {
  const src = Function.prototype.toString.call(fn);
  if (/\{\s*\[native code\]\s*\}$/.test(src)) return null;
  return src;
}

/**
 * Turns a function's source back into an expression. Method shorthand such as
 * `f(x) { ... }` is not an expression on its own, so it is wrapped in an object.
 */
export function functionExpression(src: string, name = ''): string {
  const s = src.trim();
  if (/^(async\s+)?function\b/.test(s) || /^class\b/.test(s)) return `(${s})`;
  if (/^(async\s*)?(\([^)]*\)|[A-Za-z_$][\w$]*)\s*=>/.test(s)) return `(${s})`;
  // method shorthand, getter-less: `name(args) {}` or `async name() {}` or `*gen() {}`
  const key = name || (s.match(/^(?:async\s+)?\*?\s*([A-Za-z_$][\w$]*)/)?.[1] ?? 'f');
  return `({ ${s} })[${JSON.stringify(key)}]`;
}

export interface DecodeOptions {
  /** Builds a callable from function source; where it is evaluated decides what free names mean. */
  makeFunction(src: string, name: string): unknown;
}

const defaultDecode: DecodeOptions = {
  makeFunction: (src, name) => (0, eval)(functionExpression(src, name)),
};

export function decodeValue(tree: Json, buffers: readonly Uint8Array[], opts: DecodeOptions = defaultDecode): unknown {
  if (tree === null || typeof tree !== 'object') return tree;
  if (Array.isArray(tree)) return tree.map((t) => decodeValue(t, buffers, opts));
  const tag = (tree as { $t?: unknown }).$t;
  if (tag === undefined) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(tree)) setOwn(out, k, decodeValue(tree[k], buffers, opts));
    return out;
  }
  const t = tree as Record<string, Json>;
  switch (tag) {
    case 'float':
      return t.v === 'nan' ? NaN : t.v === 'inf' ? Infinity : t.v === '-0' ? -0 : -Infinity;
    case 'undefined':
      return undefined;
    case 'bigint':
      return BigInt(String(t.v));
    case 'date':
      return new Date(t.v === null ? NaN : String(t.v));
    case 'bytes': {
      const b = bufferAt(buffers, t.buf);
      return t.node === 'Buffer' ? Buffer.from(b.buffer, b.byteOffset, b.byteLength) : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    }
    case 'ndarray': {
      if (!isDType(t.dtype)) throw new TypeError(`unknown dtype ${JSON.stringify(t.dtype)}`);
      const data = typedArrayFromBytes(t.dtype as DType, bufferAt(buffers, t.buf));
      const shape = Array.isArray(t.shape) ? (t.shape as number[]) : [data.length];
      if (t.typed === true && shape.length === 1) {
        return t.clamped === true ? new Uint8ClampedArray(data.buffer, data.byteOffset, data.length) : data;
      }
      return new NDArray(data, shape);
    }
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const [k, val] of t.v as [string, Json][]) setOwn(out, String(k), decodeValue(val, buffers, opts));
      return out;
    }
    case 'map':
      return new Map((t.v as [Json, Json][]).map(([k, val]) => [decodeValue(k, buffers, opts), decodeValue(val, buffers, opts)]));
    case 'set':
      return new Set((t.v as Json[]).map((x) => decodeValue(x, buffers, opts)));
    case 'error': {
      const e = new Error(String(t.message));
      e.name = String(t.name);
      if (typeof t.stack === 'string' && t.stack) e.stack = t.stack;
      return e;
    }
    case 'regexp':
      return new RegExp(String(t.source), String(t.flags));
    case 'function':
      return opts.makeFunction(String(t.src), typeof t.name === 'string' ? t.name : '');
    case 'repr':
      // A value that has no mapping on the sending side, shipped as text for display.
      return { $repr: String(t.text), type: String(t.type) };
    default:
      throw new TypeError(`unknown value tag ${JSON.stringify(tag)}`);
  }
}

/** Assigns an own property even for keys such as `__proto__`, which plain assignment would treat as the prototype. */
function setOwn(o: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}

function bufferAt(buffers: readonly Uint8Array[], index: Json): Uint8Array {
  if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= buffers.length) {
    throw new TypeError(`value refers to buffer ${JSON.stringify(index)}, message has ${buffers.length}`);
  }
  return buffers[index];
}
