/**
 * Splitting sequences into per-engine blocks (scatter, map, parallel) and joining the
 * blocks back in target order (gather, map, parallel).
 */
import { NDArray, type TypedArray } from '../serialize/ndarray.js';

/** What scatter, map and parallel split: arrays, typed arrays and NDArrays (along the first axis). */
export type Sequence = readonly unknown[] | TypedArray | NDArray;

export function isTypedArray(v: unknown): v is TypedArray {
  return ArrayBuffer.isView(v) && !(v instanceof DataView);
}

export function isSequence(v: unknown): v is Sequence {
  return Array.isArray(v) || isTypedArray(v) || (v instanceof NDArray && v.ndim >= 1);
}

/** Length along the axis that is split. */
export function sequenceLength(seq: Sequence): number {
  if (seq instanceof NDArray) return seq.shape[0];
  return seq.length;
}

/** Block sizes for `parts` engines: contiguous, differing by at most 1, the first ones taking the extra. */
export function blockSizes(length: number, parts: number): number[] {
  if (!Number.isInteger(parts) || parts < 1) throw new RangeError(`cannot split into ${parts} parts`);
  const base = Math.floor(length / parts);
  const extra = length % parts;
  return Array.from({ length: parts }, (_, i) => base + (i < extra ? 1 : 0));
}

/** [start, end) of each block. */
export function blockBounds(length: number, parts: number): [number, number][] {
  let start = 0;
  return blockSizes(length, parts).map((n) => {
    const b: [number, number] = [start, start + n];
    start += n;
    return b;
  });
}

/** The slice [start, end) of a sequence: typed arrays as views (no copy), arrays as arrays, NDArrays by rows. */
export function sliceSequence<S extends Sequence>(seq: S, start: number, end: number): S {
  if (seq instanceof NDArray) {
    const row = seq.shape.slice(1).reduce((a, b) => a * b, 1);
    return new NDArray(seq.data.subarray(start * row, end * row), [end - start, ...seq.shape.slice(1)]) as S;
  }
  if (isTypedArray(seq)) return seq.subarray(start, end) as S;
  return (seq as readonly unknown[]).slice(start, end) as unknown as S;
}

/** Splits `seq` into `parts` contiguous blocks in order. */
export function partition<S extends Sequence>(seq: S, parts: number): S[] {
  return blockBounds(sequenceLength(seq), parts).map(([s, e]) => sliceSequence(seq, s, e));
}

function typeTag(v: unknown): string {
  return Object.prototype.toString.call(v).slice(8, -1);
}

/**
 * Joins per-engine blocks in order, as gather does: typed arrays of one type into one typed
 * array of that type, NDArrays of one dtype and row shape along the first axis, strings by
 * concatenation, and everything else flattened one level (arrays spread, other values kept).
 */
export function concatenate(blocks: readonly unknown[]): unknown {
  if (blocks.length === 0) return [];
  const first = blocks[0];
  if (isTypedArray(first)) {
    const tag = typeTag(first);
    if (blocks.every((b) => isTypedArray(b) && typeTag(b) === tag)) return concatTyped(blocks as TypedArray[]);
  } else if (first instanceof NDArray && first.ndim >= 1) {
    const rowShape = first.shape.slice(1).join(',');
    const ok = blocks.every((b) => b instanceof NDArray && b.ndim >= 1 && b.dtype === first.dtype && b.shape.slice(1).join(',') === rowShape && typeTag(b.data) === typeTag(first.data));
    if (ok) {
      const arrays = blocks as NDArray[];
      const rows = arrays.reduce((n, a) => n + a.shape[0], 0);
      return new NDArray(concatTyped(arrays.map((a) => a.data)), [rows, ...first.shape.slice(1)]);
    }
  } else if (typeof first === 'string' && blocks.every((b) => typeof b === 'string')) {
    return (blocks as string[]).join('');
  }
  return flattenOnce(blocks);
}

/** Arrays (and typed arrays, NDArray rows) spread into one plain array; other values kept as elements. */
export function flattenOnce(blocks: readonly unknown[]): unknown[] {
  const out: unknown[] = [];
  for (const b of blocks) {
    if (Array.isArray(b) || isTypedArray(b)) {
      const n = b.length;
      for (let i = 0; i < n; i++) out.push(b[i]);
    } else if (b instanceof NDArray && b.ndim >= 1) {
      if (b.ndim === 1) for (let i = 0; i < b.size; i++) out.push(b.data[i]);
      else {
        const rest = b.shape.slice(1);
        const row = rest.reduce((x, y) => x * y, 1);
        for (let i = 0; i < b.shape[0]; i++) out.push(new NDArray(b.data.subarray(i * row, (i + 1) * row), rest));
      }
    } else {
      out.push(b);
    }
  }
  return out;
}

function concatTyped(parts: TypedArray[]): TypedArray {
  const total = parts.reduce((n, p) => n + p.length, 0);
  // Blocks received in place (GatherTarget) are already one array: a view of it, no copy.
  if (parts.every((p, i) => p.buffer === parts[0].buffer && (i === 0 || p.byteOffset === parts[i - 1].byteOffset + parts[i - 1].byteLength))) {
    const View = parts[0].constructor as new (b: ArrayBufferLike, off: number, n: number) => TypedArray;
    return new View(parts[0].buffer, parts[0].byteOffset, total);
  }
  const Ctor = parts[0].constructor as new (n: number) => TypedArray;
  const out = new Ctor(total);
  let off = 0;
  for (const p of parts) {
    (out as unknown as { set(a: ArrayLike<unknown>, o: number): void }).set(p as ArrayLike<unknown>, off);
    off += p.length;
  }
  return out;
}

/** Rows become columns: [[a0, b0], [a1, b1]] -> [[a0, a1], [b0, b1]]; `width` is the number of columns. */
export function transpose(rows: readonly (readonly unknown[])[], width: number): unknown[][] {
  return Array.from({ length: width }, (_, j) => rows.map((r) => r[j]));
}
