// The widget's comm as a transport: where no nbchannel server is reachable (VS Code,
// Colab, standalone Voilà, a Jupyter server without the extension) the kernel serves each
// view itself (nbchannel/kernel/comm.py) and the frames travel as the anywidget model's
// custom messages, one frame per message, as a binary buffer:
//
//   view → kernel   {"nbc": 1, "cid": CID}              buffers [frame]
//                   {"nbc": 1, "cid": CID, "bye": true} (the view is gone)
//                   {"nbc": 1, "cid": CID, "ping": true} (say again whether events are live)
//   kernel → view   {"nbc": 1, "to": CID, "events": "live" | "after-cell"}  buffers [frame]
//
// CID names this connection (every front end showing the model receives every custom
// message; a view ignores frames addressed to another). Nothing is sent before the view
// exists, so the client's usual (re)subscribe with epoch and offset is the pull that makes
// the kernel replay what the view missed.
//
// "events" says whether the view's messages reach the kernel on a subshell (so events
// reach a running cell). A front end may send the first message on the main shell and
// open the subshell later, so a view told "after-cell" pings a few times (PING_AFTER_MS).

/**
 * @typedef {import("../transport.js").Transport} Transport
 * @typedef {import("../transport.js").CloseInfo} CloseInfo
 *
 * The anywidget model, as far as the comm transport uses it.
 * @typedef {object} CommModel
 * @property {(name: string, cb: (...args: any[]) => void) => void} on
 * @property {(name?: string | null, cb?: ((...args: any[]) => void) | null) => void} off
 * @property {(content: any, callbacks?: any, buffers?: (ArrayBuffer | ArrayBufferView)[]) => void} send
 */

/** When a view told "after-cell" asks again (ms after it was told). */
export const PING_AFTER_MS = [1000, 4000, 15000];

/** The marker and wire version every nbchannel custom message carries. */
export const WIRE_KEY = "nbc";
export const WIRE_VERSION = 1;

/**
 * A random connection id (crypto.randomUUID needs a secure context; http:// pages have none).
 * @param {() => number} [random]
 * @returns {string}
 */
export function newCid(random = Math.random) {
  let s = "";
  for (let i = 0; i < 4; i++) s += Math.floor(random() * 0x100000000).toString(16).padStart(8, "0");
  return s;
}

/**
 * Bytes of a received buffer (ipywidgets hands DataViews; tests may pass anything binary).
 * @param {unknown} b
 * @returns {Uint8Array | null}
 */
function bytesOf(b) {
  if (b instanceof Uint8Array) return b;
  if (ArrayBuffer.isView(b)) return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  if (b instanceof ArrayBuffer) return new Uint8Array(b);
  return null;
}

/**
 * One view's connection to the kernel over its widget's comm.
 * @implements {Transport}
 */
export class CommTransport {
  /**
   * @param {CommModel} model the widget's model
   * @param {{cid?: string, log?: {warn: (...args: any[]) => void}, timers?: {setTimeout: (fn: () => void, ms: number) => any, clearTimeout: (id: any) => void}}} [options]
   */
  constructor(model, options = {}) {
    this.model = model;
    this.cid = options.cid ?? newCid();
    this.log = options.log ?? console;
    /** Whether the kernel receives this view's events while a cell runs (null: not known yet). @type {boolean | null} */
    this.eventsLive = null;
    /** @type {((data: ArrayBuffer | Uint8Array) => void) | null} */
    this.onmessage = null;
    /** @type {(() => void) | null} */
    this.onopen = null;
    /** @type {((info: CloseInfo) => void) | null} */
    this.onclose = null;
    /** @type {((message: string) => void) | null} */
    this.onerror = null;
    /** @type {((live: boolean) => void) | null} the kernel said whether events reach a running cell */
    this.onevents = null;
    this._open = false;
    this._timers = options.timers ?? globalThis;
    /** @type {any} */
    this._pingTimer = null;
    this._pings = 0;
    this._handler = (/** @type {any} */ msg, /** @type {unknown[] | undefined} */ buffers) => this._received(msg, buffers);
  }

  connect() {
    this.model.on("msg:custom", this._handler);
    this._open = true;
    queueMicrotask(() => {
      if (this._open) this.onopen?.();
    });
  }

  /** @param {Uint8Array} frame */
  send(frame) {
    if (!this._open) return;
    // A view of a slice of a larger buffer would send the whole buffer: copy exactly.
    const buf = frame.byteOffset === 0 && frame.byteLength === frame.buffer.byteLength ? frame.buffer : frame.slice().buffer;
    this.model.send({ [WIRE_KEY]: WIRE_VERSION, cid: this.cid }, undefined, [/** @type {ArrayBuffer} */ (buf)]);
  }

  /** Nothing is buffered on this side of the comm. */
  get bufferedAmount() {
    return 0;
  }

  close() {
    if (!this._open) return;
    this._open = false;
    if (this._pingTimer !== null) this._timers.clearTimeout(this._pingTimer);
    this._pingTimer = null;
    this.model.off("msg:custom", this._handler);
    this.onopen = this.onmessage = this.onclose = this.onerror = this.onevents = null;
    try {
      this.model.send({ [WIRE_KEY]: WIRE_VERSION, cid: this.cid, bye: true });
    } catch {
      // the comm is already closed (the kernel went away)
    }
  }

  /** Ask the kernel again whether events are live, a few times at most. */
  _schedulePing() {
    if (this._pingTimer !== null || this._pings >= PING_AFTER_MS.length) return;
    const delay = PING_AFTER_MS[this._pings];
    this._pings += 1;
    this._pingTimer = this._timers.setTimeout(() => {
      this._pingTimer = null;
      if (this._open && this.eventsLive === false) this.model.send({ [WIRE_KEY]: WIRE_VERSION, cid: this.cid, ping: true });
    }, delay);
  }

  /**
   * @param {any} msg
   * @param {unknown[] | undefined} buffers
   */
  _received(msg, buffers) {
    if (!this._open || msg === null || typeof msg !== "object" || msg[WIRE_KEY] !== WIRE_VERSION || msg.to !== this.cid) return;
    if (msg.events === "live" || msg.events === "after-cell") {
      const live = msg.events === "live";
      if (live !== this.eventsLive) {
        this.eventsLive = live;
        this.onevents?.(live);
      }
      if (!live) this._schedulePing();
    }
    const data = bytesOf(buffers?.[0]);
    if (data === null) {
      this.onerror?.("a custom message from the kernel carried no frame");
      return;
    }
    this.onmessage?.(data);
  }
}
