// The nbchannel wire format, version 2 — the browser's copy of nbchannel/core/codec.py and
// nbchannel/core/message.py. Both are tested against the same golden frames
// (tests/fixtures/golden), so the bytes stay identical.
//
//   offset  size  field
//   0       3     magic "NBC"
//   3       1     version, 2
//   4       4     H: header length, uint32 little-endian
//   8       4     B: body length, uint32 little-endian
//   12      H     header: UTF-8 JSON array, one object per message
//   12+H    pad   zero bytes up to the next multiple of 8
//   ...     B     body: per message its JSON payload, then its buffers, each buffer at a
//                 multiple of 8 from the frame start
//
// A header entry is {"k": kind, "c": channel, "s": scope, "y": key, "o": offset,
// "e": epoch, "n": count, "p": payload length, "b": [buffer, ...]} with absent fields
// omitted, in that key order; a buffer is {"p": path, "n": nbytes} plus "t": dtype,
// "s": shape for arrays. An "append" with "n" is a segment: n consecutive stream items
// (offsets o … o + n - 1) whose payload is the JSON array of the items, and whose buffers'
// paths begin with the item's index.
//
// decodeFrame never trusts a length field and throws FrameError, and nothing else, for any
// input that is not a valid frame within the limits.

import { DTYPE_RE, NDArray, dtypeItemsize, dtypeOf, ndarrayFromBytes } from "./ndarray.js";

/**
 * @typedef {(string | number)[]} Path  dict keys and list indices locating a buffer
 * @typedef {{path: Path, dtype: string | null, shape: number[] | null, data: Uint8Array}} Buffer
 * @typedef {{
 *   kind: string, channel: string, scope: string | null, key: string | null,
 *   offset: number | null, epoch: number | null, payload: Uint8Array, buffers: Buffer[],
 *   count?: number
 * }} Message  `count` is set on a segment only (its number of items)
 * @typedef {{maxFrameBytes: number, maxHeaderBytes: number, maxMessages: number, maxBuffers: number}} Limits
 * @typedef {{scope?: string | null, key?: string | null, offset?: number | null, epoch?: number | null}} RoutingFields
 */

export const VERSION = 2;
export const PREAMBLE_SIZE = 12;
const MAGIC = [0x4e, 0x42, 0x43]; // "NBC"
const MAX_PATH = 64;
const MAX_NDIM = 32;
const MiB = 1024 * 1024;

/** Bounds enforced when decoding; the same defaults as Python's `Limits`. @type {Readonly<Limits>} */
export const DEFAULT_LIMITS = Object.freeze({
  maxFrameBytes: 64 * MiB,
  maxHeaderBytes: 1 * MiB,
  maxMessages: 10_000,
  maxBuffers: 1024,
});

/** Base of nbchannel's JS errors; `code` is the same string the Python side uses. */
export class NbChannelError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   */
  constructor(code, message) {
    super(message);
    this.name = "NbChannelError";
    this.code = code;
  }
}

/**
 * A peer sent bytes that are not a valid frame. `code` is "malformed-frame",
 * "unsupported-version" or "frame-too-large", as in Python's FrameError subclasses.
 */
export class FrameError extends NbChannelError {
  /**
   * @param {"malformed-frame" | "unsupported-version" | "frame-too-large"} code
   * @param {string} message
   */
  constructor(code, message) {
    super(code, message);
    this.name = "FrameError";
  }
}

/** A value cannot be sent (a type JSON cannot carry, a cycle …): the caller's mistake. */
export class EncodeError extends NbChannelError {
  /** @param {string} message */
  constructor(message) {
    super("encode", message);
    this.name = "EncodeError";
  }
}

/** @param {string} msg */
const malformed = (msg) => new FrameError("malformed-frame", msg);

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** @param {number} n */
const align8 = (n) => (n + 7) & ~7;

/** @param {number} n */
const mib = (n) => (n >= MiB ? `${(n / MiB).toFixed(1)} MiB` : `${n} bytes`);

/** @param {unknown} v @returns {v is Record<string, unknown>} */
const isObject = (v) => typeof v === "object" && v !== null && !Array.isArray(v);

/** @param {unknown} v @returns {v is number} */
const isCount = (v) => typeof v === "number" && Number.isInteger(v) && v >= 0;

/**
 * Validate a frame's 12-byte preamble and return the frame's total length.
 * @param {Uint8Array} bytes at least 12 bytes
 * @param {Limits} limits
 */
export function checkPreamble(bytes, limits = DEFAULT_LIMITS) {
  if (bytes[0] !== MAGIC[0] || bytes[1] !== MAGIC[1] || bytes[2] !== MAGIC[2]) {
    throw malformed("not an nbchannel frame: bad magic bytes");
  }
  const version = bytes[3];
  if (version !== VERSION) {
    throw new FrameError(
      "unsupported-version",
      `frame is wire-format version ${version}; this side speaks version ${VERSION}. ` +
        "Upgrade nbchannel so the kernel, server and browser use the same version.",
    );
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, PREAMBLE_SIZE);
  const hlen = dv.getUint32(4, true);
  const blen = dv.getUint32(8, true);
  if (hlen > limits.maxHeaderBytes) {
    throw new FrameError(
      "frame-too-large",
      `frame header of ${mib(hlen)} exceeds max_header_bytes (${mib(limits.maxHeaderBytes)})`,
    );
  }
  const total = align8(PREAMBLE_SIZE + hlen) + blen;
  if (total > limits.maxFrameBytes) {
    throw new FrameError(
      "frame-too-large",
      `frame of ${mib(total)} exceeds max_frame_bytes (${mib(limits.maxFrameBytes)}); ` +
        "send smaller pieces or raise the limit (c.NbChannel.max_frame_bytes)",
    );
  }
  return total;
}

/**
 * Decode one frame into its messages.
 *
 * Payloads stay raw JSON bytes (see {@link valueOf}). A buffer holding at least half of the
 * frame is a view into `data` (no copy); smaller ones are copied so that a retained value
 * does not pin the whole frame.
 *
 * @param {ArrayBuffer | Uint8Array} data one complete frame
 * @param {Partial<Limits>} [limits]
 * @returns {Message[]}
 * @throws {FrameError} for anything that is not a valid frame within `limits`
 */
export function decodeFrame(data, limits) {
  const lim = limits ? { ...DEFAULT_LIMITS, ...limits } : DEFAULT_LIMITS;
  /** @type {Uint8Array} */
  let mv;
  if (data instanceof Uint8Array) mv = data;
  else if (data instanceof ArrayBuffer) mv = new Uint8Array(data);
  else throw malformed("a frame must be an ArrayBuffer or a Uint8Array");
  const n = mv.byteLength;
  if (n < PREAMBLE_SIZE) {
    throw malformed(`frame of ${n} bytes is shorter than the ${PREAMBLE_SIZE}-byte preamble`);
  }
  const total = checkPreamble(mv, lim);
  if (total !== n) throw malformed(`frame is ${n} bytes but its preamble says ${total}`);
  const hlen = new DataView(mv.buffer, mv.byteOffset, PREAMBLE_SIZE).getUint32(4, true);
  /** @type {unknown} */
  let header;
  try {
    header = JSON.parse(strictUtf8.decode(mv.subarray(PREAMBLE_SIZE, PREAMBLE_SIZE + hlen)));
  } catch (exc) {
    throw malformed(`frame header is not valid JSON: ${errorText(exc)}`);
  }
  if (!Array.isArray(header) || header.length === 0) {
    throw malformed("frame header must be a non-empty JSON array");
  }
  if (header.length > lim.maxMessages) {
    throw new FrameError(
      "frame-too-large",
      `frame holds ${header.length} messages, over max_messages (${lim.maxMessages})`,
    );
  }
  let pos = align8(PREAMBLE_SIZE + hlen);
  let nbuf = 0;
  /** @type {Message[]} */
  const out = [];
  for (const entry of header) {
    if (!isObject(entry)) throw malformed("each frame header entry must be a JSON object");
    const kind = entry.k;
    if (typeof kind !== "string" || !kind) throw malformed("message without a kind ('k')");
    const plen = field(entry, "p", 0);
    const end = pos + plen;
    if (end > n) throw malformed("payload runs past the end of the frame");
    // The payload is parsed (valueOf) long before a frame could be released, so a view will do.
    const payload = mv.subarray(pos, end);
    pos = end;
    /** @type {Buffer[]} */
    const buffers = [];
    const descs = entry.b;
    if (descs !== undefined && descs !== null) {
      if (!Array.isArray(descs)) throw malformed("buffer list ('b') must be an array");
      nbuf += descs.length;
      if (nbuf > lim.maxBuffers) {
        throw new FrameError("frame-too-large", `frame holds over max_buffers (${lim.maxBuffers}) buffers`);
      }
      for (const d of descs) pos = readBuffer(d, mv, pos, n, buffers);
    }
    /** @type {Message} */
    const m = {
      kind,
      channel: optString(entry, "c") ?? "",
      scope: optString(entry, "s"),
      key: optString(entry, "y"),
      offset: optInt(entry, "o"),
      epoch: optInt(entry, "e"),
      payload,
      buffers,
    };
    if (entry.n !== undefined && entry.n !== null) {
      const count = entry.n;
      if (!isCount(count) || count < 1 || kind !== "append") {
        throw malformed("'n' (a segment's item count) must be a positive integer, on 'append'");
      }
      if (2 * count + 1 > plen) throw malformed(`a segment of ${count} items needs a longer payload`);
      m.count = count;
    }
    out.push(m);
  }
  if (pos !== n) throw malformed(`frame has ${n - pos} bytes after its last message`);
  return out;
}

/**
 * @param {unknown} d
 * @param {Uint8Array} mv
 * @param {number} pos
 * @param {number} n
 * @param {Buffer[]} out
 * @returns {number} position after the buffer
 */
function readBuffer(d, mv, pos, n, out) {
  if (!isObject(d)) throw malformed("buffer descriptor must be a JSON object");
  const path = d.p;
  if (!Array.isArray(path) || path.length > MAX_PATH) {
    throw malformed("buffer path ('p') must be an array of at most 64 keys");
  }
  for (const step of path) {
    if (typeof step !== "string" && !isCount(step)) {
      throw malformed("buffer path steps must be strings or non-negative integers");
    }
  }
  const nbytes = field(d, "n", undefined);
  const dtype = d.t;
  /** @type {number[] | null} */
  let shape = null;
  if (dtype !== undefined && dtype !== null) {
    const size = dtypeItemsize(dtype);
    if (!size) throw malformed(`unsupported buffer dtype ${JSON.stringify(dtype)}`);
    const raw = d.s;
    if (!Array.isArray(raw) || raw.length > MAX_NDIM) {
      throw malformed("array shape ('s') must be an array of at most 32 sizes");
    }
    let count = 1;
    for (const dim of raw) {
      if (!isCount(dim)) throw malformed("array shape sizes must be non-negative integers");
      count *= dim;
    }
    shape = raw;
    if (count * size !== nbytes) {
      throw malformed(`array of dtype ${dtype} and shape [${raw.join(", ")}] cannot be ${nbytes} bytes`);
    }
  }
  pos = align8(pos);
  const end = pos + nbytes;
  if (end > n) throw malformed("buffer runs past the end of the frame");
  const view = mv.subarray(pos, end);
  // Keep big buffers as views (no copy); copy small ones so they do not pin the frame.
  const data = 2 * nbytes >= n ? view : view.slice();
  out.push({ path, dtype: shape ? /** @type {string} */ (dtype) : null, shape, data });
  return end;
}

/**
 * A required (or defaulted) non-negative integer field, as Python's `_int`.
 * @param {Record<string, unknown>} entry
 * @param {string} name
 * @param {number | undefined} dflt
 * @returns {number}
 */
function field(entry, name, dflt) {
  const v = Object.hasOwn(entry, name) ? entry[name] : dflt;
  if (!isCount(v)) throw malformed(`field '${name}' must be a non-negative integer`);
  return v;
}

/**
 * @param {Record<string, unknown>} entry
 * @param {string} name
 * @returns {number | null}
 */
function optInt(entry, name) {
  const v = entry[name];
  if (v === undefined || v === null) return null;
  if (!isCount(v) || v > 2 ** 63) throw malformed(`field '${name}' must be a non-negative integer`);
  return v;
}

/**
 * @param {Record<string, unknown>} entry
 * @param {string} name
 * @returns {string | null}
 */
function optString(entry, name) {
  const v = entry[name];
  if (v === undefined || v === null) return null;
  if (typeof v !== "string") throw malformed(`field '${name}' must be a string`);
  return v;
}

/** @param {unknown} exc */
function errorText(exc) {
  return exc instanceof Error ? exc.message : String(exc);
}

// -- values ------------------------------------------------------------------------------

/**
 * The message's payload as a JS value: JSON with each buffer placed at its path — an
 * {@link NDArray} for arrays, a Uint8Array for raw bytes. An empty payload is `null`.
 * @param {Message} msg
 * @returns {any}
 * @throws {FrameError} "malformed-frame" if the payload is not JSON or a path does not fit
 */
export function valueOf(msg) {
  /** @type {any} */
  let value = null;
  if (msg.payload.byteLength) {
    try {
      value = JSON.parse(strictUtf8.decode(msg.payload));
    } catch (exc) {
      throw malformed(`payload is not valid JSON: ${errorText(exc)}`);
    }
  }
  for (const buf of msg.buffers) {
    const item = bufferValue(buf);
    const path = buf.path;
    if (path.length === 0) {
      value = item;
      continue;
    }
    let target = value;
    for (let i = 0; i < path.length - 1; i++) target = step(target, path[i], path);
    const last = path[path.length - 1];
    step(target, last, path); // the slot must exist, as in Python
    // defineProperty, not assignment: a "__proto__" key must stay a plain property.
    Object.defineProperty(target, last, { value: item, writable: true, enumerable: true, configurable: true });
  }
  return value;
}

/**
 * @param {Buffer} buf
 * @returns {NDArray | Uint8Array}
 */
export function bufferValue(buf) {
  if (buf.dtype === null || buf.shape === null) return buf.data;
  return ndarrayFromBytes(buf.dtype, buf.shape, buf.data);
}

/**
 * @param {any} container
 * @param {string | number} key
 * @param {Path} path
 */
function step(container, key, path) {
  if (typeof key === "string" ? isObject(container) && Object.hasOwn(container, key)
      : Array.isArray(container) && key < container.length) {
    return container[key];
  }
  throw malformed(`buffer path ${JSON.stringify(path)} does not fit the payload`);
}

/**
 * Split a JS value into JSON bytes and binary buffers (the inverse of {@link valueOf}).
 *
 * NDArrays and typed arrays anywhere in plain objects and arrays become array buffers
 * (a typed array as a 1-D array of its dtype); Uint8Array, ArrayBuffer and DataView become
 * raw bytes. Their place in the JSON holds `null`. Buffer contents are copied, so the
 * caller may reuse its arrays at once. `null`/`undefined` give an empty payload. Other
 * objects are left to JSON.stringify (a Date becomes its ISO string).
 *
 * @param {unknown} value
 * @returns {{payload: Uint8Array, buffers: Buffer[]}}
 * @throws {EncodeError} for values JSON cannot carry (BigInt, cycles, …)
 */
export function packValue(value) {
  if (value === null || value === undefined) return { payload: new Uint8Array(0), buffers: [] };
  /** @type {Buffer[]} */
  const buffers = [];
  const stripped = strip(value, [], buffers, new Set());
  /** @type {string | undefined} */
  let text;
  try {
    text = JSON.stringify(stripped);
  } catch (exc) {
    throw new EncodeError(
      `cannot send this value: ${errorText(exc)}. Payloads are JSON values (objects, arrays, ` +
        "strings, numbers, booleans, null) with typed arrays, NDArrays or bytes anywhere inside.",
    );
  }
  // JSON.stringify gives undefined for a function or symbol; Python would refuse those too.
  if (text === undefined) throw new EncodeError(`cannot send a value of type ${typeof value}`);
  return { payload: utf8.encode(text), buffers };
}

/**
 * Return `obj` with buffers replaced by null, copying containers only where needed.
 * @param {any} obj
 * @param {Path} path
 * @param {Buffer[]} out
 * @param {Set<object>} open containers on the current path (cycle check)
 * @returns {any}
 */
function strip(obj, path, out, open) {
  if (typeof obj !== "object" || obj === null) return obj;
  if (obj instanceof NDArray) {
    out.push(arrayBuffer(path, obj.dtype, obj.shape, obj.data));
    return null;
  }
  if (ArrayBuffer.isView(obj)) {
    const dtype = obj instanceof Uint8Array || obj instanceof DataView ? null : dtypeOf(obj);
    if (dtype === null) {
      out.push({ path, dtype: null, shape: null, data: bytesOf(obj).slice() });
    } else {
      out.push(arrayBuffer(path, dtype, [/** @type {any} */ (obj).length], obj));
    }
    return null;
  }
  if (obj instanceof ArrayBuffer) {
    out.push({ path, dtype: null, shape: null, data: new Uint8Array(obj.slice(0)) });
    return null;
  }
  const isArray = Array.isArray(obj);
  const proto = Object.getPrototypeOf(obj);
  if (!isArray && proto !== Object.prototype && proto !== null) return obj; // Date etc.: JSON.stringify decides
  if (open.has(obj)) throw new EncodeError(`cannot send a value that contains itself (at ${fmtPath(path)})`);
  open.add(obj);
  /** @type {any} */
  let copy = null;
  if (isArray) {
    for (let i = 0; i < obj.length; i++) {
      const v = obj[i];
      if (typeof v !== "object" || v === null) continue;
      const nv = strip(v, [...path, i], out, open);
      if (nv !== v) (copy ??= obj.slice())[i] = nv;
    }
  } else {
    for (const k of Object.keys(obj)) {
      const v = obj[k];
      if (typeof v !== "object" || v === null) continue;
      const nv = strip(v, [...path, k], out, open);
      if (nv !== v) {
        copy ??= { ...obj };
        Object.defineProperty(copy, k, { value: nv, writable: true, enumerable: true, configurable: true });
      }
    }
  }
  open.delete(obj);
  return copy ?? obj;
}

/**
 * @param {Path} path
 * @param {string} dtype
 * @param {number[]} shape
 * @param {ArrayBufferView} data
 * @returns {Buffer}
 */
function arrayBuffer(path, dtype, shape, data) {
  if (!DTYPE_RE.test(dtype) || dtype[0] === ">") {
    throw new EncodeError(`cannot send an array of dtype ${JSON.stringify(dtype)} at ${fmtPath(path)}`);
  }
  return { path, dtype, shape: [...shape], data: bytesOf(data).slice() };
}

/** @param {ArrayBufferView} v */
function bytesOf(v) {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

/** @param {Path} path */
function fmtPath(path) {
  return "payload" + path.map((p) => `[${JSON.stringify(p)}]`).join("");
}

/**
 * Build a message whose payload is `value` (see {@link packValue}).
 * @param {string} kind
 * @param {string} channel
 * @param {unknown} [value]
 * @param {RoutingFields} [fields]
 * @returns {Message}
 */
export function createMessage(kind, channel, value, fields = {}) {
  const { payload, buffers } = packValue(value);
  return {
    kind,
    channel,
    scope: fields.scope ?? null,
    key: fields.key ?? null,
    offset: fields.offset ?? null,
    epoch: fields.epoch ?? null,
    payload,
    buffers,
  };
}

/**
 * A message's entry in a frame header: the same keys, order and compact JSON as Python's
 * `Message.header()`.
 * @param {Message} m
 */
export function headerJSON(m) {
  /** @type {Record<string, unknown>} */
  const d = { k: m.kind };
  if (m.channel) d.c = m.channel;
  if (m.scope != null) d.s = m.scope;
  if (m.key != null) d.y = m.key;
  if (m.offset != null) d.o = m.offset;
  if (m.epoch != null) d.e = m.epoch;
  if (m.count != null) d.n = m.count;
  if (m.payload && m.payload.byteLength) d.p = m.payload.byteLength;
  if (m.buffers && m.buffers.length) {
    d.b = m.buffers.map((b) => {
      /** @type {Record<string, unknown>} */
      const desc = { p: b.path, n: b.data.byteLength };
      if (b.dtype != null) {
        desc.t = b.dtype;
        desc.s = b.shape ?? [];
      }
      return desc;
    });
  }
  return JSON.stringify(d);
}

/**
 * Encode messages into one frame (byte-identical to Python's `encode_frame`).
 * @param {Message[]} messages at least one
 * @returns {Uint8Array}
 */
export function encodeFrame(messages) {
  if (!messages.length) throw new EncodeError("a frame holds at least one message");
  const header = utf8.encode("[" + messages.map(headerJSON).join(",") + "]");
  const hlen = header.byteLength;
  const start = align8(PREAMBLE_SIZE + hlen);
  let pos = start;
  for (const m of messages) {
    pos += m.payload ? m.payload.byteLength : 0;
    for (const b of m.buffers ?? []) pos = align8(pos) + b.data.byteLength;
  }
  const frame = new Uint8Array(pos); // zero-filled: the padding needs no writes
  frame.set(MAGIC, 0);
  frame[3] = VERSION;
  const dv = new DataView(frame.buffer);
  dv.setUint32(4, hlen, true);
  dv.setUint32(8, pos - start, true);
  frame.set(header, PREAMBLE_SIZE);
  pos = start;
  for (const m of messages) {
    if (m.payload && m.payload.byteLength) {
      frame.set(m.payload, pos);
      pos += m.payload.byteLength;
    }
    for (const b of m.buffers ?? []) {
      pos = align8(pos);
      frame.set(b.data, pos);
      pos += b.data.byteLength;
    }
  }
  return frame;
}

/**
 * Approximate bytes a message occupies on the wire (Python's `Message.nbytes`).
 * @param {Message} m
 */
export function messageBytes(m) {
  let n = m.payload.byteLength + m.channel.length + 24;
  if (m.key != null) n += m.key.length;
  for (const b of m.buffers) n += b.data.byteLength + 40;
  return n;
}
