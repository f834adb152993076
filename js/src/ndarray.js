// NDArray: a numpy array as it arrives in the browser, and the dtype ↔ TypedArray mapping.
//
// A wire dtype is numpy's `dtype.str`: byte order (`<` little, `>` big, `|` not
// applicable), kind and item size, e.g. "<f8", "|u1", "<c16". The element types map to
// typed arrays as follows (js/README.md):
//
//   b1 → Uint8Array                 i1/i2/i4/i8 → Int8/Int16/Int32/BigInt64Array
//   u1/u2/u4/u8 → Uint8/Uint16/Uint32/BigUint64Array
//   f2 → Float16Array where the engine has it, else Uint16Array (raw half-float bits)
//   f4/f8 → Float32/Float64Array    c8/c16 → Float32/Float64Array of interleaved (re, im)
//
// Every browser runs little-endian, so "<" arrays are viewed as they are and ">" arrays
// (which nbchannel's own encoders never send) are byte-swapped into a copy.

/** @typedef {Int8Array | Uint8Array | Uint8ClampedArray | Int16Array | Uint16Array | Int32Array | Uint32Array | Float32Array | Float64Array | BigInt64Array | BigUint64Array} TypedArray */
/** @typedef {{ new (buffer: ArrayBufferLike, byteOffset?: number, length?: number): TypedArray, new (length: number): TypedArray, BYTES_PER_ELEMENT: number }} TypedArrayConstructor */

/** Dtype strings accepted on the wire (same as Python's `DTYPE_RE`). */
export const DTYPE_RE = /^[<>|](b1|i1|i2|i4|i8|u1|u2|u4|u8|f2|f4|f8|c8|c16)$/;

/** @type {TypedArrayConstructor | undefined} */
const Float16 = /** @type {any} */ (globalThis).Float16Array;

/** @type {Record<string, TypedArrayConstructor>} */
const ARRAY_TYPES = {
  b1: Uint8Array,
  i1: Int8Array,
  i2: Int16Array,
  i4: Int32Array,
  i8: BigInt64Array,
  u1: Uint8Array,
  u2: Uint16Array,
  u4: Uint32Array,
  u8: BigUint64Array,
  f2: Float16 ?? Uint16Array,
  f4: Float32Array,
  f8: Float64Array,
  c8: Float32Array,
  c16: Float64Array,
};

/**
 * Item size in bytes of a wire dtype ("<f8" → 8, "<c16" → 16), or 0 if it is not one.
 * @param {unknown} dtype
 * @returns {number}
 */
export function dtypeItemsize(dtype) {
  if (typeof dtype !== "string" || !DTYPE_RE.test(dtype)) return 0;
  return Number(dtype.slice(2));
}

/**
 * The typed-array class that holds elements of `dtype`.
 * @param {string} dtype a wire dtype such as "<f4"
 * @returns {TypedArrayConstructor}
 */
export function arrayTypeOf(dtype) {
  const t = ARRAY_TYPES[dtype.slice(1)];
  if (t === undefined || !DTYPE_RE.test(dtype)) throw new TypeError(`unsupported dtype ${JSON.stringify(dtype)}`);
  return t;
}

/**
 * The wire dtype of a typed array's elements (Uint8ClampedArray counts as "|u1").
 * @param {ArrayBufferView} view
 * @returns {string | null} null for DataView and unknown views
 */
export function dtypeOf(view) {
  if (view instanceof Float64Array) return "<f8";
  if (view instanceof Float32Array) return "<f4";
  if (view instanceof Int32Array) return "<i4";
  if (view instanceof Uint32Array) return "<u4";
  if (view instanceof Int16Array) return "<i2";
  if (view instanceof Uint16Array) return "<u2";
  if (view instanceof Int8Array) return "|i1";
  if (view instanceof Uint8Array || view instanceof Uint8ClampedArray) return "|u1";
  if (view instanceof BigInt64Array) return "<i8";
  if (view instanceof BigUint64Array) return "<u8";
  if (Float16 !== undefined && view instanceof Float16) return "<f2";
  return null;
}

/**
 * Number of elements of `shape`.
 * @param {readonly number[]} shape
 */
export function shapeSize(shape) {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

// Widgets may load this module more than once (anywidget imports each model's ESM on its
// own), so `instanceof NDArray` checks a shared brand instead of the class identity.
const BRAND = Symbol.for("nbchannel.NDArray");

/** A numpy array: wire `dtype`, `shape`, and a typed array of its elements in C order. */
export class NDArray {
  /**
   * True for NDArrays made by any copy of this module.
   * @param {unknown} x
   */
  static [Symbol.hasInstance](x) {
    return typeof x === "object" && x !== null && /** @type {any} */ (x)[BRAND] === true;
  }

  /**
   * @param {string} dtype wire dtype, e.g. "<f8" or "|u1"
   * @param {number[]} shape sizes per dimension ([] for a scalar array)
   * @param {TypedArray} data the elements, flattened in C order (complex: interleaved re, im)
   */
  constructor(dtype, shape, data) {
    const size = dtypeItemsize(dtype);
    if (!size) throw new TypeError(`unsupported dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new TypeError(`shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
    }
    if (!ArrayBuffer.isView(data) || data.byteLength !== shapeSize(shape) * size) {
      throw new TypeError(
        `data of ${ArrayBuffer.isView(data) ? data.byteLength : "?"} bytes does not fit dtype ${dtype} and shape [${shape}]`,
      );
    }
    /** @readonly */ this.dtype = dtype;
    /** @readonly */ this.shape = shape;
    /** @readonly */ this.data = data;
  }

  /** @returns {true} */
  get [BRAND]() {
    return true;
  }

  /** Number of elements (product of the shape). */
  get size() {
    return shapeSize(this.shape);
  }

  /** Number of dimensions. */
  get ndim() {
    return this.shape.length;
  }

  /**
   * A 1-D array viewing (not copying) a typed array.
   * @param {TypedArray} data
   */
  static from(data) {
    const dtype = dtypeOf(data);
    if (dtype === null) throw new TypeError("NDArray.from needs a typed array");
    return new NDArray(dtype, [data.length], data);
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * View raw bytes as an NDArray; no copy when the bytes are aligned to the element size and
 * in the host's byte order, else a copy.
 * @param {string} dtype wire dtype (already validated)
 * @param {number[]} shape
 * @param {Uint8Array} bytes exactly `size * itemsize` bytes
 * @returns {NDArray}
 */
export function ndarrayFromBytes(dtype, shape, bytes) {
  const Type = arrayTypeOf(dtype);
  const width = Type.BYTES_PER_ELEMENT;
  const length = bytes.byteLength / width;
  const swap = width > 1 && (dtype[0] === ">" ? LITTLE_ENDIAN : dtype[0] === "<" && !LITTLE_ENDIAN);
  let data;
  if (!swap && bytes.byteOffset % width === 0) {
    data = new Type(bytes.buffer, bytes.byteOffset, length);
  } else {
    const copy = bytes.slice();
    if (swap) {
      for (let i = 0; i < copy.length; i += width) copy.subarray(i, i + width).reverse();
    }
    data = new Type(copy.buffer, 0, length);
  }
  return new NDArray(dtype, shape, data);
}

/**
 * Decode IEEE half-precision bits into a number.
 * @param {number} h 16-bit pattern
 */
function halfToNumber(h) {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/**
 * Numbers for plotting: an NDArray, a typed array or a plain array becomes a Float64Array
 * (plain arrays are returned as they are, nulls included, since uPlot accepts them).
 * 64-bit integers lose precision beyond 2**53; half floats stored as raw bits are decoded;
 * complex arrays give their interleaved (re, im) parts.
 * @param {NDArray | ArrayBufferView | ArrayLike<number | null> | null | undefined} x
 * @returns {Float64Array | (number | null)[]}
 */
export function toNumberArray(x) {
  if (x == null) return [];
  if (x instanceof NDArray) {
    if (x.dtype.endsWith("f2") && x.data instanceof Uint16Array) {
      const out = new Float64Array(x.data.length);
      for (let i = 0; i < out.length; i++) out[i] = halfToNumber(x.data[i]);
      return out;
    }
    return toNumberArray(x.data);
  }
  if (x instanceof Float64Array) return x;
  if (x instanceof BigInt64Array || x instanceof BigUint64Array) {
    const out = new Float64Array(x.length);
    for (let i = 0; i < out.length; i++) out[i] = Number(x[i]);
    return out;
  }
  if (ArrayBuffer.isView(x)) {
    if (x instanceof DataView) return [];
    return Float64Array.from(/** @type {ArrayLike<number>} */ (/** @type {unknown} */ (x)));
  }
  if (Array.isArray(x)) return x;
  return Array.from(/** @type {ArrayLike<number | null>} */ (x));
}
