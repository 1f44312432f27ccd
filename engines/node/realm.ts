/**
 * Decoded values are built in the engine's realm; user code runs in the vm context's realm,
 * where `x instanceof Array` or `instanceof Float64Array` would be false for them. adopt()
 * rebuilds containers with the context's constructors. Typed arrays are re-viewed over the
 * same memory (no copy); Buffers, NDArrays and functions (already made in the context) pass through.
 */
import vm from 'node:vm';
import { isPlainObject } from '../../core/serialize/serialize.js';

type Ctor = new (...args: never[]) => unknown;
interface Intrinsics {
  Array: ArrayConstructor;
  Object: ObjectConstructor;
  Map: MapConstructor;
  Set: SetConstructor;
  Date: DateConstructor;
  RegExp: RegExpConstructor;
  Error: ErrorConstructor;
  typed: Record<string, new (buffer: ArrayBufferLike, byteOffset: number, length: number) => ArrayBufferView>;
}

const INTRINSICS_SOURCE = `({ Array, Object, Map, Set, Date, RegExp, Error, typed: { Int8Array, Uint8Array, Uint8ClampedArray,
  Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array } })`;

export function realmAdopter(ctx: vm.Context): (value: unknown) => unknown {
  const I = vm.runInContext(INTRINSICS_SOURCE, ctx) as Intrinsics;
  const adopt = (v: unknown): unknown => {
    if (typeof v !== 'object' || v === null) return v;
    if (ArrayBuffer.isView(v)) {
      if (Buffer.isBuffer(v)) return v; // the context shares this realm's Buffer
      const Typed = I.typed[Object.prototype.toString.call(v).slice(8, -1)] as Ctor | undefined;
      if (Typed === undefined) return v;
      const t = v as unknown as { buffer: ArrayBufferLike; byteOffset: number; length: number };
      return new (Typed as Intrinsics['typed'][string])(t.buffer, t.byteOffset, t.length);
    }
    if (Array.isArray(v)) return I.Array.from(v, (x: unknown) => adopt(x));
    if (v instanceof Map) return new I.Map([...v].map(([k, x]) => [adopt(k), adopt(x)]));
    if (v instanceof Set) return new I.Set([...v].map(adopt));
    if (v instanceof Date) return new I.Date(v.getTime());
    if (v instanceof RegExp) return new I.RegExp(v.source, v.flags);
    if (v instanceof Error) {
      const e = new I.Error(v.message);
      e.name = v.name;
      if (v.stack !== undefined) e.stack = v.stack;
      return e;
    }
    if (Object.getPrototypeOf(v) === Object.prototype && isPlainObject(v)) {
      const out = new I.Object() as Record<string, unknown>;
      // defineProperty, so a key named "__proto__" stays a key.
      for (const k of Object.keys(v)) {
        Object.defineProperty(out, k, { value: adopt((v as Record<string, unknown>)[k]), writable: true, enumerable: true, configurable: true });
      }
      return out;
    }
    return v;
  };
  return adopt;
}
