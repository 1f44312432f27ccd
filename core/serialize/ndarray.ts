/**
 * NDArray: an n-dimensional array as numpy ships it (dtype, shape, flat C-order data).
 * Python engines return numpy arrays as NDArray; pushing an NDArray gives numpy an array
 * of the same dtype and shape, with the bytes copied once and never encoded per element.
 */

export type DType =
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'float32'
  | 'float64';

export type TypedArray =
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | Float32Array
  | Float64Array;

type TypedArrayCtor = { new (buffer: ArrayBufferLike, byteOffset: number, length: number): TypedArray; BYTES_PER_ELEMENT: number };

export const TYPED_ARRAY_BY_DTYPE: Record<DType, TypedArrayCtor> = {
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  float32: Float32Array,
  float64: Float64Array,
};

/** Tag names as Object.prototype.toString reports them, which works across vm realms. */
const DTYPE_BY_TAG: Record<string, DType> = {
  Int8Array: 'int8',
  Uint8Array: 'uint8',
  Uint8ClampedArray: 'uint8',
  Int16Array: 'int16',
  Uint16Array: 'uint16',
  Int32Array: 'int32',
  Uint32Array: 'uint32',
  BigInt64Array: 'int64',
  BigUint64Array: 'uint64',
  Float32Array: 'float32',
  Float64Array: 'float64',
};

export function dtypeOf(ta: ArrayBufferView): DType | undefined {
  return DTYPE_BY_TAG[Object.prototype.toString.call(ta).slice(8, -1)];
}

export function isDType(s: unknown): s is DType {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(TYPED_ARRAY_BY_DTYPE, s);
}

/** A typed array view of `bytes`, copied only when the bytes are not aligned for the element size. */
export function typedArrayFromBytes(dtype: DType, bytes: Uint8Array): TypedArray {
  const Ctor = TYPED_ARRAY_BY_DTYPE[dtype];
  const size = Ctor.BYTES_PER_ELEMENT;
  if (bytes.byteLength % size !== 0) {
    throw new TypeError(`buffer of ${bytes.byteLength} bytes is not a whole number of ${dtype} elements`);
  }
  let src = bytes;
  if (bytes.byteOffset % size !== 0) src = new Uint8Array(bytes);
  return new Ctor(src.buffer, src.byteOffset, src.byteLength / size);
}

export class NDArray<T extends TypedArray = TypedArray> {
  readonly dtype: DType;
  readonly shape: number[];
  readonly data: T;

  constructor(data: T, shape?: number[]) {
    const dtype = dtypeOf(data);
    if (dtype === undefined) throw new TypeError('NDArray data must be a typed array');
    const s = shape ?? [data.length];
    const size = s.reduce((a, b) => a * b, 1);
    if (!s.every((d) => Number.isInteger(d) && d >= 0)) throw new TypeError(`bad NDArray shape [${s.join(', ')}]`);
    if (size !== data.length) {
      throw new TypeError(`NDArray shape [${s.join(', ')}] needs ${size} elements, data has ${data.length}`);
    }
    this.dtype = dtype;
    this.shape = s;
    this.data = data;
  }

  get size(): number {
    return this.data.length;
  }

  get ndim(): number {
    return this.shape.length;
  }

  /** Nested arrays, for display and for comparing in tests. */
  toArray(): unknown[] {
    const build = (dim: number, offset: number): unknown[] => {
      const n = this.shape[dim];
      if (dim === this.shape.length - 1) return Array.from(this.data.subarray(offset, offset + n) as ArrayLike<unknown>);
      const stride = this.shape.slice(dim + 1).reduce((a, b) => a * b, 1);
      return Array.from({ length: n }, (_, i) => build(dim + 1, offset + i * stride));
    };
    return this.shape.length === 0 ? [this.data[0]] : build(0, 0);
  }
}
