// The JS codec against the golden frames shared with Python (tests/fixtures/golden), typed
// array round trips of every dtype, and hostile input (only FrameError may come out).

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";

import {
  DEFAULT_LIMITS,
  EncodeError,
  FrameError,
  PREAMBLE_SIZE,
  createMessage,
  decodeFrame,
  encodeFrame,
  valueOf,
} from "../src/codec.js";
import { NDArray, arrayTypeOf } from "../src/ndarray.js";
import { rng } from "../test-helpers/rng.js";

const GOLDEN = fileURLToPath(new URL("../../tests/fixtures/golden/", import.meta.url));
const manifestText = readFileSync(GOLDEN + "manifest.json", "utf-8");
const MANIFEST = JSON.parse(manifestText);
const utf8 = new TextEncoder();

// JS numbers do not tell 1.0 from 1, but Python's JSON writes "1.0" for a float. To encode
// the manifest's values byte for byte, floats are read from the manifest's text with their
// spelling kept and spliced into the JSON payload as written.
const FLOAT_MARK = "@@float:";
const FLOATED = JSON.parse(
  manifestText.replace(/"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g, (tok) =>
    tok[0] !== '"' && /[.eE]/.test(tok) ? `{"$float":"${tok}"}` : tok,
  ),
);

/** Manifest value → JS value to send (arrays as NDArrays, floats as marked strings). */
function fromManifest(v) {
  if (Array.isArray(v)) return v.map(fromManifest);
  if (v === null || typeof v !== "object") return v;
  if ("$float" in v) return FLOAT_MARK + v.$float;
  if (v.$type === "bytes") return Uint8Array.from(Buffer.from(v.bytes_hex, "hex"));
  if (v.$type === "array") {
    const flat = v.data.flat().map((x) => (typeof x === "object" && x !== null ? Number(x.$float) : x));
    const Type = arrayTypeOf(v.dtype);
    const data = Type === BigInt64Array || Type === BigUint64Array
      ? Type.from(flat.map(BigInt))
      : Type.from(flat.map(Number));
    return new NDArray(v.dtype, v.shape, data);
  }
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fromManifest(x)]));
}

/** Decoded JS value → manifest form. */
function toManifest(v) {
  if (v instanceof NDArray) {
    const kind = v.dtype.slice(1, 2);
    let data = Array.from(v.data, (x) => (typeof x === "bigint" ? Number(x) : x));
    if (kind === "b") data = data.map(Boolean);
    if (kind === "c") data = data.flatMap((x, i) => (i % 2 ? [] : [[x, data[i + 1]]]));
    return { $type: "array", dtype: v.dtype, shape: v.shape, data };
  }
  if (v instanceof Uint8Array) return { $type: "bytes", bytes_hex: Buffer.from(v).toString("hex") };
  if (Array.isArray(v)) return v.map(toManifest);
  if (v !== null && typeof v === "object") {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toManifest(x)]));
  }
  return v;
}

/** Build the messages a manifest entry describes, keeping Python's float spelling. */
function buildMessages(described) {
  return described.map((m) => {
    const msg = createMessage(m.kind, m.channel, fromManifest(m.value), m);
    const text = new TextDecoder().decode(msg.payload);
    const fixed = text.replace(/"@@float:([^"]+)"/g, "$1");
    const out = { ...msg, payload: utf8.encode(fixed) };
    if (m.count !== undefined) out.count = m.count; // a segment: the value is its items
    return out;
  });
}

const read = (name) => new Uint8Array(readFileSync(GOLDEN + name));

describe("golden frames", () => {
  test("the manifest lists every .bin file and speaks version 2", () => {
    assert.equal(MANIFEST.wire_version, 2);
    const files = readdirSync(GOLDEN).filter((f) => f.endsWith(".bin")).sort();
    assert.deepEqual(MANIFEST.frames.map((f) => f.file).sort(), files);
    assert.ok(files.length >= 6);
  });

  for (const [i, c] of MANIFEST.frames.entries()) {
    test(`${c.file}: file matches its size and hash`, () => {
      const data = read(c.file);
      assert.equal(data.length, c.nbytes);
      assert.equal(createHash("sha256").update(data).digest("hex"), c.sha256);
    });

    test(`${c.file}: decoding gives the manifest (${c.about})`, () => {
      const decoded = decodeFrame(read(c.file)).map((m) => ({
        kind: m.kind,
        channel: m.channel,
        scope: m.scope,
        key: m.key,
        offset: m.offset,
        epoch: m.epoch,
        ...(m.count !== undefined ? { count: m.count } : {}),
        value: toManifest(valueOf(m)),
      }));
      assert.deepEqual(decoded, c.messages);
      // and the same key order
      assert.equal(JSON.stringify(decoded), JSON.stringify(c.messages));
    });

    test(`${c.file}: encoding the manifest reproduces the bytes`, () => {
      const frame = encodeFrame(buildMessages(FLOATED.frames[i].messages));
      assert.deepEqual(Buffer.from(frame).toString("hex"), Buffer.from(read(c.file)).toString("hex"));
    });

    test(`${c.file}: decode → encode reproduces the bytes`, () => {
      const data = read(c.file);
      assert.deepEqual(encodeFrame(decodeFrame(data)), data);
    });
  }

  test("a decoded ArrayBuffer and a Uint8Array at an odd offset give the same values", () => {
    const data = read("mixed-arrays.bin");
    const shifted = new Uint8Array(data.length + 3);
    shifted.set(data, 3);
    const a = decodeFrame(data.buffer.slice(data.byteOffset, data.byteOffset + data.length)).map(valueOf);
    const b = decodeFrame(shifted.subarray(3)).map(valueOf);
    assert.deepEqual(toManifest(a), toManifest(b));
  });
});

// -- round trips ---------------------------------------------------------------------------

const Float16 = globalThis.Float16Array;
const DTYPES = {
  "|b1": [1, 0, 1, 1, 0, 0],
  "|i1": [-128, 0, 127, 5, -5, 1],
  "<i2": [-32768, 0, 32767, 7, -7, 1],
  "<i4": [-(2 ** 31), 0, 2 ** 31 - 1, 9, -9, 1],
  "<i8": [-(2n ** 63n), 0n, 2n ** 63n - 1n, 11n, -11n, 1n],
  "|u1": [0, 255, 1, 2, 3, 4],
  "<u2": [0, 65535, 1, 2, 3, 4],
  "<u4": [0, 2 ** 32 - 1, 1, 2, 3, 4],
  "<u8": [0n, 2n ** 64n - 1n, 1n, 2n, 3n, 4n],
  "<f2": Float16 ? [0.5, -1, 65504, 0, 1, 2] : [0x3800, 0xbc00, 0x7bff, 0, 0x3c00, 0x4000],
  "<f4": [0.5, -1.25, 3e38, 0, -0, Infinity],
  "<f8": [0.1, -1e300, Number.MIN_VALUE, NaN, -Infinity, 1],
  "<c8": [1, -1, 0.5, 2, 3, 4, 5, 6, 7, 8, 9, 10], // 6 complex numbers, interleaved
  "<c16": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2],
};

describe("round trips", () => {
  for (const [dtype, values] of Object.entries(DTYPES)) {
    test(`NDArray ${dtype} with shape [2, 3]`, () => {
      const Type = arrayTypeOf(dtype);
      const arr = new NDArray(dtype, [2, 3], Type.from(values));
      const frame = encodeFrame([createMessage("publish", "c", { pad: "x", a: [arr] })]);
      const [m] = decodeFrame(frame);
      assert.equal(m.buffers[0].dtype, dtype);
      assert.deepEqual(m.buffers[0].shape, [2, 3]);
      const got = valueOf(m);
      assert.equal(got.pad, "x");
      assert.ok(got.a[0] instanceof NDArray);
      assert.equal(got.a[0].dtype, dtype);
      assert.deepEqual(got.a[0].shape, [2, 3]);
      assert.equal(got.a[0].data.constructor, Type);
      assert.deepEqual(Array.from(got.a[0].data), Array.from(Type.from(values)));
    });
  }

  test("bare typed arrays travel as 1-D arrays of their dtype", () => {
    const cases = [
      [new Float64Array([1.5, 2.5]), "<f8"],
      [new Float32Array([1.5]), "<f4"],
      [new Int32Array([-1, 2]), "<i4"],
      [new Uint32Array([1]), "<u4"],
      [new Int16Array([-1]), "<i2"],
      [new Uint16Array([1]), "<u2"],
      [new Int8Array([-1]), "|i1"],
      [new Uint8ClampedArray([300]), "|u1"],
      [new BigInt64Array([-1n]), "<i8"],
      [new BigUint64Array([1n]), "<u8"],
    ];
    for (const [ta, dtype] of cases) {
      const [m] = decodeFrame(encodeFrame([createMessage("event", "c", { v: ta }, { scope: "k", key: "e" })]));
      const v = valueOf(m).v;
      assert.equal(v.dtype, dtype, dtype);
      assert.deepEqual(v.shape, [ta.length]);
      assert.deepEqual(Array.from(v.data), Array.from(ta));
    }
  });

  test("Uint8Array, ArrayBuffer and DataView travel as raw bytes", () => {
    const bytes = Uint8Array.from([1, 2, 3, 250]);
    const value = { u: bytes, ab: bytes.buffer.slice(1), dv: new DataView(bytes.buffer, 2, 2) };
    const [m] = decodeFrame(encodeFrame([createMessage("publish", "c", value)]));
    assert.deepEqual(m.buffers.map((b) => [b.path, b.dtype, b.shape]), [
      [["u"], null, null],
      [["ab"], null, null],
      [["dv"], null, null],
    ]);
    const v = valueOf(m);
    assert.deepEqual([...v.u], [1, 2, 3, 250]);
    assert.deepEqual([...v.ab], [2, 3, 250]);
    assert.deepEqual([...v.dv], [3, 250]);
  });

  test("a buffer as the whole payload, JSON around buffers, and paths in order", () => {
    const whole = valueOf(decodeFrame(encodeFrame([createMessage("publish", "c", new Float64Array([3]))]))[0]);
    assert.deepEqual(Array.from(whole.data), [3]);
    const value = { b: [1, new Uint8Array([9]), { c: new Int16Array([4]) }], a: "s", z: null };
    const m = createMessage("publish", "c", value);
    assert.deepEqual(m.buffers.map((b) => b.path), [["b", 1], ["b", 2, "c"]]);
    assert.equal(new TextDecoder().decode(m.payload), '{"b":[1,null,{"c":null}],"a":"s","z":null}');
    assert.ok(value.b[1] instanceof Uint8Array, "the caller's value is not modified");
    const back = valueOf(decodeFrame(encodeFrame([m]))[0]);
    assert.equal(back.a, "s");
    assert.deepEqual([...back.b[1]], [9]);
    assert.deepEqual([...back.b[2].c.data], [4]);
  });

  test("buffers are copied when the message is made", () => {
    const ta = new Float64Array([1]);
    const m = createMessage("event", "c", ta, { scope: "k", key: "e" });
    ta[0] = 2;
    assert.deepEqual(Array.from(valueOf(decodeFrame(encodeFrame([m]))[0]).data), [1]);
  });

  test("null and undefined give an empty payload; header fields follow Python's rules", () => {
    const m = createMessage("sub", "sensor", undefined, { scope: "", offset: 0, epoch: 0 });
    assert.equal(m.payload.length, 0);
    const frame = encodeFrame([m, createMessage("x", "", null)]);
    const hlen = new DataView(frame.buffer).getUint32(4, true);
    const header = new TextDecoder().decode(frame.subarray(PREAMBLE_SIZE, PREAMBLE_SIZE + hlen));
    assert.equal(header, '[{"k":"sub","c":"sensor","s":"","o":0,"e":0},{"k":"x"}]');
    const [a, b] = decodeFrame(frame);
    assert.deepEqual([a.scope, a.offset, a.epoch, valueOf(a)], ["", 0, 0, null]);
    assert.deepEqual([b.channel, b.scope, b.key], ["", null, null]);
  });

  test("large aligned buffers are views of the frame; small ones are copies", () => {
    const big = new Float64Array(1000).map((_, i) => i);
    const frame = encodeFrame([createMessage("publish", "c", { big, small: new Float64Array(2) })]);
    const [m] = decodeFrame(frame);
    const v = valueOf(m);
    assert.equal(v.big.data.buffer, frame.buffer, "zero copy");
    assert.notEqual(v.small.data.buffer, frame.buffer);
    assert.equal(v.big.data[999], 999);
  });

  test("misaligned array data is copied into a typed array", () => {
    const frame = encodeFrame([createMessage("publish", "c", new Float64Array(100).fill(1.5))]);
    const shifted = new Uint8Array(frame.length + 1);
    shifted.set(frame, 1);
    const v = valueOf(decodeFrame(shifted.subarray(1))[0]);
    assert.ok(v.data instanceof Float64Array);
    assert.deepEqual(Array.from(v.data.slice(0, 2)), [1.5, 1.5]);
  });

  test("big-endian arrays are byte-swapped", () => {
    const be = new Uint8Array([0, 0, 1, 2, 0xff, 0xff, 0xff, 0xfe]);
    const msg = { kind: "publish", channel: "c", scope: null, key: null, offset: null, epoch: null,
      payload: new Uint8Array(0), buffers: [{ path: [], dtype: ">i4", shape: [2], data: be }] };
    const v = valueOf(decodeFrame(encodeFrame([msg]))[0]);
    assert.deepEqual(Array.from(v.data), [258, -2]);
  });

  test("unicode in routing fields and payloads", () => {
    const m = createMessage("append", "plot ✓", { s: "naïve 🌡" }, { scope: "tab-✓", key: "温度" });
    const [d] = decodeFrame(encodeFrame([m]));
    assert.deepEqual([d.channel, d.scope, d.key, valueOf(d).s], ["plot ✓", "tab-✓", "温度", "naïve 🌡"]);
  });

  test("values JSON cannot carry raise EncodeError", () => {
    assert.throws(() => createMessage("e", "c", { n: 1n }), EncodeError);
    const cyclic = { a: [] };
    cyclic.a.push(cyclic);
    assert.throws(() => createMessage("e", "c", cyclic), (e) => e instanceof EncodeError && /contains itself/.test(e.message));
    assert.throws(() => createMessage("e", "c", () => 1), EncodeError);
    assert.throws(() => encodeFrame([]), EncodeError);
  });

  test("an object's own __proto__ key stays a plain key", () => {
    const payload = utf8.encode('{"__proto__":null}');
    const msg = { kind: "publish", channel: "c", scope: null, key: null, offset: null, epoch: null,
      payload, buffers: [{ path: ["__proto__"], dtype: null, shape: null, data: new Uint8Array([1]) }] };
    const v = valueOf(decodeFrame(encodeFrame([msg]))[0]);
    assert.equal(Object.getPrototypeOf(v), Object.prototype);
    assert.ok(Object.hasOwn(v, "__proto__"));
    assert.equal(({}).polluted, undefined);
  });
});

// -- hostile input -------------------------------------------------------------------------

/** Assert `fn` throws a FrameError (with `code` if given) and nothing else. */
function throwsFrameError(fn, code) {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof FrameError, `expected FrameError, got ${e?.constructor?.name}: ${e?.message}`);
    if (code) assert.equal(e.code, code, e.message);
    return true;
  });
}

/** Decode and unpack; anything thrown must be a FrameError. */
function decodeOrFrameError(data, limits) {
  try {
    for (const m of decodeFrame(data, limits)) valueOf(m);
    return true;
  } catch (e) {
    if (!(e instanceof FrameError)) throw new Error(`non-FrameError escaped: ${e?.constructor?.name}: ${e?.message}`);
    assert.ok(["malformed-frame", "unsupported-version", "frame-too-large"].includes(e.code));
    return false;
  }
}

/** A frame with this header text and body, with correct lengths unless overridden. */
function frameOf(header, body = new Uint8Array(0), { version = 2, hlen, blen } = {}) {
  const h = utf8.encode(header);
  const start = (PREAMBLE_SIZE + h.length + 7) & ~7;
  const out = new Uint8Array(start + body.length);
  out.set([0x4e, 0x42, 0x43, version]);
  const dv = new DataView(out.buffer);
  dv.setUint32(4, hlen ?? h.length, true);
  dv.setUint32(8, blen ?? body.length, true);
  out.set(h, PREAMBLE_SIZE);
  out.set(body, start);
  return out;
}


describe("malformed input", () => {
  const goldens = MANIFEST.frames.map((c) => read(c.file));

  test("every truncation of every golden frame", () => {
    for (const data of goldens) {
      for (let n = 0; n < data.length; n++) throwsFrameError(() => decodeFrame(data.slice(0, n)), "malformed-frame");
    }
  });

  test("trailing bytes", () => {
    for (const data of goldens) {
      const longer = new Uint8Array(data.length + 8);
      longer.set(data);
      throwsFrameError(() => decodeFrame(longer), "malformed-frame");
    }
  });

  test("every single-byte corruption of every golden frame", () => {
    for (const data of goldens) {
      for (let i = 0; i < data.length; i++) {
        for (const x of [0xff, 0x01, 0x80]) {
          const bad = data.slice();
          bad[i] ^= x;
          decodeOrFrameError(bad);
        }
      }
    }
  });

  test("random bytes, with and without a valid preamble", () => {
    const r = rng(1234);
    for (let i = 0; i < 3000; i++) {
      const n = Math.floor(r() * 200);
      const data = new Uint8Array(n).map(() => Math.floor(r() * 256));
      if (i % 2 && n >= 12) {
        data.set([0x4e, 0x42, 0x43, 1]);
        const hlen = Math.floor(r() * (n - 12));
        const dv = new DataView(data.buffer);
        dv.setUint32(4, hlen, true);
        dv.setUint32(8, Math.max(0, n - ((12 + hlen + 7) & ~7)), true);
      }
      decodeOrFrameError(data);
    }
  });

  test("random JSON-ish headers", () => {
    const r = rng(99);
    const atoms = ['"k"', '"p"', '"b"', '"n"', '"t"', '"s"', '"<f8"', "0", "8", "-1", "1.5", "null", "true", "[]", "{}", '"x"', "99999999999"];
    for (let i = 0; i < 3000; i++) {
      const pick = () => atoms[Math.floor(r() * atoms.length)];
      const desc = `{"p":[${pick()}],"n":${pick()},"t":${pick()},"s":[${pick()}]}`;
      const entry = `{"k":${pick()},"p":${pick()},"b":${r() < 0.5 ? `[${desc}]` : pick()}}`;
      const body = new Uint8Array(Math.floor(r() * 24));
      decodeOrFrameError(frameOf(`[${entry}]`, body));
    }
  });

  test("lying lengths and limits", () => {
    const ok = encodeFrame([createMessage("publish", "c", { a: new Float64Array(4) })]);
    const lie = (off, value) => {
      const bad = ok.slice();
      new DataView(bad.buffer).setUint32(off, value, true);
      return bad;
    };
    throwsFrameError(() => decodeFrame(lie(4, 0xffffffff)), "frame-too-large");
    throwsFrameError(() => decodeFrame(lie(8, 0xffffffff)), "frame-too-large");
    throwsFrameError(() => decodeFrame(lie(8, 8)), "malformed-frame");
    throwsFrameError(() => decodeFrame(lie(4, 3)), "malformed-frame");
    throwsFrameError(() => decodeFrame(ok, { maxFrameBytes: ok.length - 1 }), "frame-too-large");
    throwsFrameError(() => decodeFrame(ok, { maxHeaderBytes: 10 }), "frame-too-large");
    const many = encodeFrame([1, 2, 3].map((i) => createMessage("publish", "c", i)));
    throwsFrameError(() => decodeFrame(many, { maxMessages: 2 }), "frame-too-large");
    assert.equal(decodeFrame(many, { maxMessages: 3 }).length, 3);
    const bufs = encodeFrame([createMessage("publish", "c", [new Uint8Array(1), new Uint8Array(1)])]);
    throwsFrameError(() => decodeFrame(bufs, { maxBuffers: 1 }), "frame-too-large");
    assert.equal(DEFAULT_LIMITS.maxFrameBytes, 64 * 1024 * 1024);
  });

  test("preamble: magic and version", () => {
    const ok = encodeFrame([createMessage("publish", "c", 1)]);
    const bad = ok.slice();
    bad[0] = 0x58;
    throwsFrameError(() => decodeFrame(bad), "malformed-frame");
    const v1 = ok.slice();
    v1[3] = 1;
    throwsFrameError(() => decodeFrame(v1), "unsupported-version");
    throwsFrameError(() => decodeFrame(new Uint8Array(5)), "malformed-frame");
    throwsFrameError(() => decodeFrame(/** @type {any} */ ("NBC")), "malformed-frame");
  });

  const cases = {
    "header not JSON": ["[{", undefined],
    "header not UTF-8": [null, undefined],
    "header not an array": ['{"k":"x"}', undefined],
    "empty header": ["[]", undefined],
    "entry not an object": ["[1]", undefined],
    "entry an array": ["[[]]", undefined],
    "no kind": ['[{"c":"x"}]', undefined],
    "empty kind": ['[{"k":""}]', undefined],
    "kind not a string": ['[{"k":1}]', undefined],
    "negative payload length": ['[{"k":"x","p":-1}]', undefined],
    "fractional payload length": ['[{"k":"x","p":1.5}]', new Uint8Array(8)],
    "null payload length": ['[{"k":"x","p":null}]', undefined],
    "payload past the end": ['[{"k":"x","p":9}]', new Uint8Array(8)],
    "channel not a string": ['[{"k":"x","c":1}]', undefined],
    "scope not a string": ['[{"k":"x","s":[]}]', undefined],
    "key not a string": ['[{"k":"x","y":true}]', undefined],
    "negative offset": ['[{"k":"x","o":-1}]', undefined],
    "epoch not an integer": ['[{"k":"x","e":"1"}]', undefined],
    "buffers not a list": ['[{"k":"x","b":{}}]', undefined],
    "descriptor not an object": ['[{"k":"x","b":[1]}]', undefined],
    "path not a list": ['[{"k":"x","b":[{"p":"a","n":0}]}]', undefined],
    "path too long": [`[{"k":"x","b":[{"p":${JSON.stringify(Array(65).fill(0))},"n":0}]}]`, undefined],
    "path step negative": ['[{"k":"x","b":[{"p":[-1],"n":0}]}]', undefined],
    "path step bool": ['[{"k":"x","b":[{"p":[true],"n":0}]}]', undefined],
    "nbytes missing": ['[{"k":"x","b":[{"p":[]}]}]', undefined],
    "unknown dtype": ['[{"k":"x","b":[{"p":[],"n":8,"t":"<f16","s":[1]}]}]', new Uint8Array(8)],
    "dtype not a string": ['[{"k":"x","b":[{"p":[],"n":8,"t":8,"s":[1]}]}]', new Uint8Array(8)],
    "shape missing": ['[{"k":"x","b":[{"p":[],"n":8,"t":"<f8"}]}]', new Uint8Array(8)],
    "shape too long": [`[{"k":"x","b":[{"p":[],"n":8,"t":"<f8","s":${JSON.stringify(Array(33).fill(1))}}]}]`, new Uint8Array(8)],
    "shape negative": ['[{"k":"x","b":[{"p":[],"n":8,"t":"<f8","s":[-1]}]}]', new Uint8Array(8)],
    "shape does not match nbytes": ['[{"k":"x","b":[{"p":[],"n":8,"t":"<f8","s":[2]}]}]', new Uint8Array(8)],
    "buffer past the end": ['[{"k":"x","b":[{"p":[],"n":16}]}]', new Uint8Array(8)],
    "segment of no items": ['[{"k":"append","n":0,"p":8}]', utf8.encode("[]      ")],
    "segment count negative": ['[{"k":"append","n":-2,"p":8}]', utf8.encode("[1,2]   ")],
    "segment count a string": ['[{"k":"append","n":"2","p":8}]', utf8.encode("[1,2]   ")],
    "segment count fractional": ['[{"k":"append","n":1.5,"p":8}]', utf8.encode("[1,2]   ")],
    "segment of another kind": ['[{"k":"publish","n":2,"p":8}]', utf8.encode("[1,2]   ")],
    "segment count past its payload": ['[{"k":"append","n":1000000,"p":8}]', utf8.encode("[1,2]   ")],
  };
  for (const [name, [header, body]] of Object.entries(cases)) {
    test(`header: ${name}`, () => {
      const data = header === null ? frameOf("[]") : frameOf(header, body);
      if (header === null) data.set([0x5b, 0xff], PREAMBLE_SIZE); // "[\xff"
      throwsFrameError(() => decodeFrame(data), "malformed-frame");
    });
  }

  test("a segment decodes to its items; its count is its own", () => {
    const seg = { ...createMessage("append", "c", [1, { a: [2] }, null], { offset: 40, epoch: 9 }), count: 3 };
    const [got] = decodeFrame(encodeFrame([seg]));
    assert.equal(got.count, 3);
    assert.equal(got.offset, 40);
    assert.deepEqual(valueOf(got), [1, { a: [2] }, null]);
    const [plain] = decodeFrame(encodeFrame([createMessage("append", "c", [1, 2], { offset: 1 })]));
    assert.equal(plain.count, undefined, "an item whose value is a list is not a segment");
  });

  test("payloads that are not JSON or do not fit their buffer paths", () => {
    const msg = (payload, path) => ({ kind: "publish", channel: "c", scope: null, key: null, offset: null, epoch: null,
      payload: utf8.encode(payload), buffers: path ? [{ path, dtype: null, shape: null, data: new Uint8Array(1) }] : [] });
    const check = (m) => throwsFrameError(() => valueOf(decodeFrame(encodeFrame([m]))[0]), "malformed-frame");
    check(msg("{"));
    check(msg("[1] x"));
    check(msg('{"a":1}', ["b"]));
    check(msg('{"a":1}', [0]));
    check(msg("[1]", [1]));
    check(msg("[1]", ["0"]));
    check(msg('{"a":{"b":1}}', ["a", "b", "c"]));
    check(msg('{"a":1}', ["toString"]));
    const bad = utf8.encode('"x"');
    const m = msg('"x"');
    m.payload = new Uint8Array([...bad.subarray(0, 1), 0xff, ...bad.subarray(1)]);
    check(m);
  });
});
