import assert from "node:assert/strict";
import { test } from "node:test";

import { NDArray, arrayTypeOf, dtypeItemsize, dtypeOf, ndarrayFromBytes, toNumberArray } from "../src/ndarray.js";

test("dtype ↔ typed array mapping follows js/README.md", () => {
  const expected = {
    "|b1": Uint8Array, "|i1": Int8Array, "<i2": Int16Array, "<i4": Int32Array, "<i8": BigInt64Array,
    "|u1": Uint8Array, "<u2": Uint16Array, "<u4": Uint32Array, "<u8": BigUint64Array,
    "<f2": globalThis.Float16Array ?? Uint16Array, "<f4": Float32Array, "<f8": Float64Array,
    "<c8": Float32Array, "<c16": Float64Array,
  };
  for (const [dtype, Type] of Object.entries(expected)) assert.equal(arrayTypeOf(dtype), Type, dtype);
  assert.throws(() => arrayTypeOf("<f16"), TypeError);
  assert.throws(() => arrayTypeOf("f8"), TypeError);
  assert.equal(dtypeItemsize("<c16"), 16);
  assert.equal(dtypeItemsize("|b1"), 1);
  assert.equal(dtypeItemsize("<x8"), 0);
  assert.equal(dtypeItemsize(8), 0);
  assert.equal(dtypeOf(new Float32Array(1)), "<f4");
  assert.equal(dtypeOf(new Uint8ClampedArray(1)), "|u1");
  assert.equal(dtypeOf(new BigUint64Array(1)), "<u8");
  assert.equal(dtypeOf(new DataView(new ArrayBuffer(1))), null);
});

test("NDArray validates its parts", () => {
  const a = new NDArray("<c8", [2], new Float32Array(4));
  assert.equal(a.size, 2);
  assert.equal(a.ndim, 1);
  assert.throws(() => new NDArray("<f8", [3], new Float64Array(2)), TypeError);
  assert.throws(() => new NDArray("<f9", [1], new Float64Array(1)), TypeError);
  assert.throws(() => new NDArray("<f8", [-1], new Float64Array(1)), TypeError);
  assert.deepEqual(NDArray.from(new Int16Array([1, 2])).shape, [2]);
  assert.equal(new NDArray("<f8", [], new Float64Array(1)).size, 1);
});

test("instanceof NDArray holds for arrays from another copy of the module", async () => {
  const other = await import(`../src/ndarray.js?copy=${Date.now()}`);
  assert.notEqual(other.NDArray, NDArray);
  const a = new other.NDArray("<f8", [1], new Float64Array(1));
  assert.ok(a instanceof NDArray);
  assert.ok(!({ dtype: "<f8", shape: [1], data: new Float64Array(1) } instanceof NDArray));
  assert.ok(!(null instanceof NDArray));
});

test("ndarrayFromBytes views aligned bytes and copies misaligned ones", () => {
  const buf = new Uint8Array(24);
  new Float64Array(buf.buffer).set([1, 2, 3]);
  const aligned = ndarrayFromBytes("<f8", [2], buf.subarray(8, 24));
  assert.equal(aligned.data.buffer, buf.buffer);
  assert.deepEqual(Array.from(aligned.data), [2, 3]);
  const odd = new Uint8Array(17);
  odd.set(buf.subarray(8, 24), 1);
  const copied = ndarrayFromBytes("<f8", [2], odd.subarray(1));
  assert.notEqual(copied.data.buffer, odd.buffer);
  assert.deepEqual(Array.from(copied.data), [2, 3]);
});

test("toNumberArray gives numbers for plotting", () => {
  const f64 = new Float64Array([1, 2]);
  assert.equal(toNumberArray(f64), f64);
  assert.deepEqual(toNumberArray(new NDArray("<f8", [2], f64)), f64);
  assert.deepEqual(toNumberArray(new Int32Array([-1, 5])), new Float64Array([-1, 5]));
  assert.deepEqual(toNumberArray(new BigInt64Array([-3n, 2n ** 40n])), new Float64Array([-3, 2 ** 40]));
  const plain = [1, null, 3];
  assert.equal(toNumberArray(plain), plain);
  assert.deepEqual(toNumberArray(null), []);
  assert.deepEqual(toNumberArray(new NDArray("|b1", [2], new Uint8Array([1, 0]))), new Float64Array([1, 0]));
  // half floats held as raw bits (engines without Float16Array)
  const half = new NDArray("<f2", [4], new Uint16Array([0x3c00, 0xc000, 0x3800, 0x7c00]));
  assert.deepEqual(toNumberArray(half), new Float64Array([1, -2, 0.5, Infinity]));
});
