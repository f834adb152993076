// The HTTP fallbacks as ChannelClient transports: a stream (fetch + ReadableStream) or SSE
// (EventSource, base64 frames) down, or long-polling down; POST up. docs/http-transports.md
// is the protocol; nbchannel/testing/http_viewer.py is the Python client of the same.
//
// One transport is one HTTP *session* (the equivalent of one WebSocket). Its reader is
// attached, cut, re-attached and replaced without the client noticing anything but a new
// `onopen`, which means what it means on a fresh WebSocket: send every subscription with
// its epoch and next offset now. The resume order of the protocol is kept here:
//
//   1. wait until no POST is in flight; N = the seq the next POST will carry;
//   2. attach the reader with `after=N` (it takes nothing until POST N is applied);
//   3. once it is up (a stream: its first heartbeat; a poll: its request sent), call
//      `onopen`; whatever the client sends in that call is POST N, ahead of anything queued.
//
// POSTs go one at a time, numbered; a POST whose answer is lost goes again with the same
// number (the server applies it once). A session that is gone (410) is replaced by a new
// one the same way. The transport gives up (`onclose`) when a stream shows no heartbeat
// within twice the interval (a proxy buffers it), or when reattaching keeps failing; the
// client then falls back or reconnects.

import { DEFAULT_LIMITS, PREAMBLE_SIZE, checkPreamble, decodeFrame, valueOf } from "../codec.js";

/**
 * @typedef {import("../transport.js").CloseInfo} CloseInfo
 * @typedef {"stream" | "sse" | "poll"} HttpKind
 *
 * @typedef {object} HttpOptions
 * @property {string} base  the server's base URL, ending in "/" (`http://host/user/x/`)
 * @property {number} [heartbeat]  the server's heartbeat interval, seconds (api/info; 5)
 * @property {string | null} [token]  sent as `Authorization: token …` (`?token=` for SSE)
 * @property {() => string | null} [xsrf]  the `_xsrf` cookie's value (default: document.cookie)
 * @property {typeof fetch} [fetch]
 * @property {any} [EventSource]  an EventSource class (SSE)
 * @property {{setTimeout: (fn: () => void, ms: number) => any, clearTimeout: (id: any) => void}} [timers]
 * @property {number} [maxRetries]  consecutive failed POSTs or attaches before giving up (6)
 * @property {number} [retryDelay]  first retry delay, ms (doubles up to 4 s; 100)
 */

const MAX_FRAME = 2 ** 40;
/** A heartbeat frame is tiny; bigger frames are data and are not decoded here. */
const HEARTBEAT_MAX_BYTES = 512;
/** The server bounds what it sends; the client takes any size. */
const LIMITS = { ...DEFAULT_LIMITS, maxFrameBytes: MAX_FRAME, maxHeaderBytes: MAX_FRAME };

/** The `_xsrf` cookie of the page, or null. */
export function xsrfCookie(doc = globalThis.document) {
  const m = /(?:^|;\s*)_xsrf=([^;]*)/.exec(doc?.cookie ?? "");
  return m ? decodeURIComponent(m[1]) : null;
}

/**
 * Cuts concatenated v1 frames apart by their preambles; chunk boundaries mean nothing.
 * Heartbeats (one `heartbeat` message, no channel) go to `onHeartbeat`, frames to `onFrame`.
 */
export class FrameSplitter {
  /**
   * @param {(frame: Uint8Array) => void} onFrame
   * @param {(value: Record<string, any>) => void} onHeartbeat
   */
  constructor(onFrame, onHeartbeat) {
    this.onFrame = onFrame;
    this.onHeartbeat = onHeartbeat;
    /** @type {Uint8Array[]} */
    this._chunks = [];
    this._size = 0;
  }

  /** @param {Uint8Array} chunk */
  feed(chunk) {
    if (!chunk.byteLength) return;
    this._chunks.push(chunk);
    this._size += chunk.byteLength;
    while (this._size >= PREAMBLE_SIZE) {
      const total = checkPreamble(this._peek(PREAMBLE_SIZE), LIMITS);
      if (this._size < total) return;
      this.frame(this._take(total));
    }
  }

  /**
   * One whole frame (a poll's body, an SSE event, or cut from the stream).
   * @param {Uint8Array} frame
   */
  frame(frame) {
    if (frame.byteLength <= HEARTBEAT_MAX_BYTES) {
      const msgs = decodeFrame(frame, LIMITS);
      if (msgs.length === 1 && msgs[0].kind === "heartbeat" && !msgs[0].channel) {
        const value = valueOf(msgs[0]);
        this.onHeartbeat(typeof value === "object" && value !== null ? value : {});
        return;
      }
    }
    this.onFrame(frame);
  }

  /** Bytes left over that are not a whole frame. */
  get pending() {
    return this._size;
  }

  /** @param {number} n */
  _peek(n) {
    const first = this._chunks[0];
    if (first.byteLength >= n) return first.subarray(0, n);
    const out = new Uint8Array(n);
    let pos = 0;
    for (const c of this._chunks) {
      const k = Math.min(c.byteLength, n - pos);
      out.set(c.subarray(0, k), pos);
      pos += k;
      if (pos === n) break;
    }
    return out;
  }

  /** @param {number} n */
  _take(n) {
    const first = this._chunks[0];
    if (first.byteLength >= n) {
      // A frame inside one chunk is a view of it (no copy); the rest stays queued.
      const out = first.subarray(0, n);
      if (first.byteLength === n) this._chunks.shift();
      else this._chunks[0] = first.subarray(n);
      this._size -= n;
      return out;
    }
    const out = new Uint8Array(n);
    let pos = 0;
    while (pos < n) {
      const c = this._chunks[0];
      const k = Math.min(c.byteLength, n - pos);
      out.set(c.subarray(0, k), pos);
      pos += k;
      if (k === c.byteLength) this._chunks.shift();
      else this._chunks[0] = c.subarray(k);
    }
    this._size -= n;
    return out;
  }
}

/** An HTTP answer with an error status; `status` and the server's sentence. */
export class HttpError extends Error {
  /**
   * @param {number} status
   * @param {string} message
   */
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/**
 * How one read of the session ended: `ok` (a poll answered), `cut` (frames may be lost:
 * resume), `gone` (410 or the session closed: new session), `replaced`, or `failed` (a
 * stream with no heartbeat in time: a proxy holds it back).
 * @typedef {"ok" | "cut" | "gone" | "replaced" | "failed"} ReadEnd
 */

/**
 * A session-based HTTP transport; `kind` picks the reader. Implements the Transport
 * interface of ../transport.js.
 */
export class HttpTransport {
  /**
   * @param {HttpKind} kind
   * @param {HttpOptions} options
   */
  constructor(kind, options) {
    /** @type {HttpKind} */
    this.kind = kind;
    this.base = options.base.endsWith("/") ? options.base : options.base + "/";
    this.heartbeat = (options.heartbeat ?? 5) * 1000;
    this.token = options.token || null;
    this._xsrf = options.xsrf ?? (() => xsrfCookie());
    this._fetch = options.fetch ?? ((/** @type {any} */ input, /** @type {any} */ init) => globalThis.fetch(input, init));
    this.EventSource = options.EventSource ?? /** @type {any} */ (globalThis).EventSource;
    this._timers = options.timers ?? {
      setTimeout: (/** @type {() => void} */ fn, /** @type {number} */ ms) => setTimeout(fn, ms),
      clearTimeout: (/** @type {any} */ id) => clearTimeout(id),
    };
    this._maxRetries = options.maxRetries ?? 6;
    this._retryDelay = options.retryDelay ?? 100;
    /** @type {((data: ArrayBuffer | Uint8Array) => void) | null} */
    this.onmessage = null;
    /** @type {(() => void) | null} */
    this.onopen = null;
    /** @type {((info: CloseInfo) => void) | null} */
    this.onclose = null;
    /** @type {((message: string) => void) | null} */
    this.onerror = null;

    /** The session id ("" before one is made). */
    this.session = "";
    /** Seq of the last POST applied. */
    this.seq = 0;
    /** Bodies waiting to be POSTed, in order. @type {Uint8Array[]} */
    this._queue = [];
    this._posting = false;
    /** No new POST starts while the reader reattaches (its first POST must be the resubscribe). */
    this._paused = true;
    /** Frames sent during `onopen` (the resubscribe) go ahead of the queue. @type {Uint8Array[] | null} */
    this._front = null;
    this._closed = false;
    this._opened = false;
    /** Whether the current reader is up (heartbeat seen, or poll sent). */
    this._up = false;
    /** Reader generation: callbacks of an older reader are ignored. */
    this._gen = 0;
    /** @type {AbortController | null} */
    this._abort = null;
    /** @type {any} */
    this._source = null;
    /** @type {any} */
    this._watchdog = null;
    /** @type {(() => void)[]} */
    this._idleWaiters = [];
    // Figures for tests and the status page of a curious user.
    this.sessions = 0;
    this.attaches = 0;
    this.resumes = 0;
    this.heartbeats = 0;
    /** @type {string[]} */
    this.ends = [];
  }

  connect() {
    this._run().catch((exc) => this._fail(exc instanceof HttpError ? 4000 + exc.status : 1006, errorText(exc)));
  }

  /** Whether frames are still waiting to be POSTed or on their way. */
  get busy() {
    return this._posting || this._queue.length > 0;
  }

  /** @param {Uint8Array} frame */
  send(frame) {
    if (this._closed) return;
    if (this._front) this._front.push(frame);
    else this._queue.push(frame);
    this._pump();
  }

  close() {
    this._closed = true;
    this.onopen = this.onmessage = this.onclose = this.onerror = null;
    this._stopReader();
    for (const w of this._idleWaiters.splice(0)) w();
  }

  // -- the reader ------------------------------------------------------------------------

  async _run() {
    await this._newSession();
    let failures = 0;
    /** @type {ReadEnd} */
    let end = "cut";
    let first = true;
    while (!this._closed) {
      end = await this._attach(!first);
      first = false;
      if (this._closed) return;
      this.ends.push(end);
      if (end === "ok") {
        failures = 0;
        // a poll answered: poll again at once, no resume needed
        while (!this._closed && end === "ok") {
          end = await this._read(0, null);
          if (end !== "ok") this.ends.push(end);
        }
        if (this._closed) return;
      }
      if (end === "failed") {
        this._fail(4001, `no heartbeat on the ${this.kind} within ${this.heartbeat * 2} ms: a proxy holds the response back`);
        return;
      }
      if (end === "replaced") {
        this._fail(4002, "another reader attached to this session");
        return;
      }
      if (this._up) failures = 0;
      failures += 1;
      if (failures > this._maxRetries) {
        this._fail(1006, `the ${this.kind} keeps failing (${end})`);
        return;
      }
      if (end === "gone") await this._newSession();
      else await this._sleep(Math.min(4000, this._retryDelay * 2 ** (failures - 1)));
    }
  }

  /**
   * Attach a reader (after the in-flight POST settled) and bring the client back in sync;
   * resolves with how the first read ended.
   * @param {boolean} resume
   * @returns {Promise<ReadEnd>}
   */
  async _attach(resume) {
    this._paused = true;
    await this._settled();
    if (this._closed) return "cut";
    if (resume) this.resumes += 1;
    const after = this.seq + 1;
    this._up = false;
    return this._read(after, () => {
      this._up = true;
      this._front = [];
      try {
        this._opened = true;
        this.onopen?.();
      } finally {
        const front = this._front;
        this._front = null;
        this._queue = [...front, ...this._queue];
        this._paused = false;
      }
      this._pump();
    });
  }

  /**
   * One stream, SSE or poll request.
   * @param {number} after
   * @param {(() => void) | null} onUp
   * @returns {Promise<ReadEnd>}
   */
  _read(after, onUp) {
    this.attaches += 1;
    const gen = ++this._gen;
    if (this.kind === "sse") return this._readSse(gen, after, onUp);
    return this.kind === "poll" ? this._readPoll(gen, after, onUp) : this._readStream(gen, after, onUp);
  }

  /**
   * @param {number} gen
   * @param {number} after
   * @param {(() => void) | null} onUp
   * @returns {Promise<ReadEnd>}
   */
  async _readStream(gen, after, onUp) {
    const abort = (this._abort = new AbortController());
    /** @type {string | null} */
    let end = null;
    let beats = 0;
    /** @type {"failed" | "cut" | null} */
    let timedOut = null;
    const arm = () => {
      this._timers.clearTimeout(this._watchdog);
      this._watchdog = this._timers.setTimeout(() => {
        if (gen !== this._gen) return;
        // none at all: a proxy buffers the stream; none for a while: the stream is dead
        timedOut = beats === 0 ? "failed" : "cut";
        abort.abort();
      }, 2 * this.heartbeat);
    };
    arm();
    const splitter = new FrameSplitter(
      (frame) => {
        if (gen === this._gen) this.onmessage?.(frame);
      },
      (value) => {
        if (gen !== this._gen) return;
        this.heartbeats += 1;
        beats += 1;
        arm();
        if (typeof value.end === "string") end = value.end;
        else if (beats === 1 && onUp) onUp();
      },
    );
    try {
      const resp = await this._fetch(this._url("nbchannel/stream", { session: this.session, after: after || null }), {
        headers: this._headers(),
        signal: abort.signal,
        cache: "no-store",
        credentials: "same-origin",
      });
      if (resp.status === 410) return "gone";
      if (resp.status !== 200 || !resp.body) {
        this.onerror?.(`stream: HTTP ${resp.status}`);
        return beats ? "cut" : "failed";
      }
      const reader = resp.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done || gen !== this._gen) break;
        splitter.feed(value);
        if (end !== null) break;
      }
    } catch (exc) {
      if (timedOut) return timedOut;
      if (gen !== this._gen) return "cut";
      this.onerror?.(`stream: ${errorText(exc)}`);
      return beats ? "cut" : "failed";
    } finally {
      if (gen === this._gen) this._timers.clearTimeout(this._watchdog);
      abort.abort();
    }
    if (timedOut) return timedOut;
    return endOf(end);
  }

  /**
   * @param {number} gen
   * @param {number} after
   * @param {(() => void) | null} onUp
   * @returns {Promise<ReadEnd>}
   */
  _readSse(gen, after, onUp) {
    return new Promise((resolve) => {
      const query = { session: this.session, after: after || null, format: "sse", _xsrf: this._xsrf(), token: this.token };
      /** @type {any} */
      let src;
      try {
        src = this._source = new this.EventSource(this._url("nbchannel/stream", query), { withCredentials: false });
      } catch (exc) {
        this.onerror?.(`sse: ${errorText(exc)}`);
        resolve("failed");
        return;
      }
      let beats = 0;
      /** @param {ReadEnd} how */
      const finish = (how) => {
        this._timers.clearTimeout(this._watchdog);
        src.close();
        if (this._source === src) this._source = null;
        resolve(how);
      };
      const arm = () => {
        this._timers.clearTimeout(this._watchdog);
        this._watchdog = this._timers.setTimeout(() => finish(beats === 0 ? "failed" : "cut"), 2 * this.heartbeat);
      };
      arm();
      const splitter = new FrameSplitter((frame) => this.onmessage?.(frame), () => {});
      src.addEventListener("heartbeat", (/** @type {MessageEvent} */ ev) => {
        if (gen !== this._gen) return finish("cut");
        let value;
        try {
          value = JSON.parse(ev.data);
        } catch {
          value = {};
        }
        this.heartbeats += 1;
        beats += 1;
        arm();
        if (typeof value.end === "string") finish(endOf(value.end));
        else if (beats === 1 && onUp) onUp();
      });
      src.addEventListener("frame", (/** @type {MessageEvent} */ ev) => {
        if (gen !== this._gen) return finish("cut");
        try {
          splitter.frame(base64Bytes(ev.data));
        } catch (exc) {
          this.onerror?.(`sse: bad frame: ${errorText(exc)}`);
        }
      });
      // EventSource would reconnect by itself without resuming: close it and reattach.
      src.onerror = () => finish(beats ? "cut" : "failed");
    });
  }

  /**
   * @param {number} gen
   * @param {number} after
   * @param {(() => void) | null} onUp
   * @returns {Promise<ReadEnd>}
   */
  async _readPoll(gen, after, onUp) {
    const abort = (this._abort = new AbortController());
    const pending = this._fetch(this._url("nbchannel/poll", { session: this.session, after: after || null }), {
      headers: this._headers(),
      signal: abort.signal,
      cache: "no-store",
      credentials: "same-origin",
    });
    // A poll is attached once its request is sent.
    if (onUp) onUp();
    try {
      const resp = await pending;
      if (resp.status === 204) return "ok";
      if (resp.status === 410) return "gone";
      if (resp.status !== 200) {
        this.onerror?.(`poll: HTTP ${resp.status}`);
        return "cut";
      }
      const body = new Uint8Array(await resp.arrayBuffer());
      if (gen !== this._gen) return "cut";
      const splitter = new FrameSplitter((frame) => this.onmessage?.(frame), () => {});
      splitter.feed(body);
      if (splitter.pending) {
        this.onerror?.(`poll: ${splitter.pending} bytes of a cut frame`);
        return "cut";
      }
      return "ok";
    } catch (exc) {
      if (gen === this._gen) this.onerror?.(`poll: ${errorText(exc)}`);
      return "cut";
    }
  }

  _stopReader() {
    this._gen += 1;
    this._timers.clearTimeout(this._watchdog);
    this._abort?.abort();
    this._abort = null;
    this._source?.close();
    this._source = null;
  }

  // -- session and POSTs -----------------------------------------------------------------

  async _newSession() {
    const resp = await this._fetch(this._url("nbchannel/session", {}), {
      method: "POST",
      headers: this._headers(),
      body: new Uint8Array(0),
      cache: "no-store",
      credentials: "same-origin",
    });
    if (resp.status !== 200) throw new HttpError(resp.status, `POST session: HTTP ${resp.status}: ${await errorBody(resp)}`);
    const info = await resp.json();
    this.session = String(info.session);
    this.seq = 0;
    this.sessions += 1;
    if (typeof info.heartbeat === "number" && info.heartbeat > 0) this.heartbeat = info.heartbeat * 1000;
  }

  _pump() {
    if (this._posting || this._paused || this._closed || !this._queue.length) return;
    this._posting = true;
    this._post(this._queue[0], this.seq + 1).then(
      (ok) => {
        this._posting = false;
        if (this._closed) return;
        // applied, or refused for good (a bad frame): either way it is done
        if (ok !== "again") this._queue.shift();
        if (ok === "applied") this.seq += 1;
        for (const w of this._idleWaiters.splice(0)) w();
        this._pump();
      },
      (exc) => {
        this._posting = false;
        for (const w of this._idleWaiters.splice(0)) w();
        this._fail(exc instanceof HttpError ? 4000 + exc.status : 1006, `POST send: ${errorText(exc)}`);
      },
    );
  }

  /**
   * POST one body as `seq`, again with the same number while the answer is lost.
   * @param {Uint8Array} body
   * @param {number} seq
   * @returns {Promise<"applied" | "refused" | "again">}
   */
  async _post(body, seq) {
    for (let attempt = 0; ; attempt++) {
      /** @type {Response | null} */
      let resp = null;
      try {
        resp = await this._fetch(this._url("nbchannel/send", { session: this.session, seq }), {
          method: "POST",
          headers: { ...this._headers(), "Content-Type": "application/octet-stream" },
          body: /** @type {BodyInit} */ (/** @type {unknown} */ (body)),
          cache: "no-store",
          credentials: "same-origin",
        });
      } catch (exc) {
        if (this._closed) return "again";
        if (attempt >= this._maxRetries) throw exc;
      }
      if (resp !== null) {
        if (resp.status === 200) return "applied";
        if (resp.status === 410) {
          // The session is gone: the reader finds out too and makes a new one, whose
          // resubscribe goes first; this body waits for it.
          this._paused = true;
          this._stopReader();
          return "again";
        }
        if (resp.status === 400 || resp.status === 413) {
          this.onerror?.(`the server refused a frame: ${await errorBody(resp)}`);
          return "refused";
        }
        if (resp.status < 500 && resp.status !== 429 && resp.status !== 408) {
          throw new HttpError(resp.status, `HTTP ${resp.status}: ${await errorBody(resp)}`);
        }
        if (attempt >= this._maxRetries) throw new HttpError(resp.status, `HTTP ${resp.status}`);
      }
      await this._sleep(Math.min(4000, this._retryDelay * 2 ** attempt));
      if (this._closed) return "again";
    }
  }

  /** Resolves once no POST is in flight. */
  _settled() {
    if (!this._posting) return Promise.resolve();
    return new Promise((resolve) => this._idleWaiters.push(() => resolve(undefined)));
  }

  // -- helpers ---------------------------------------------------------------------------

  /**
   * @param {number} code
   * @param {string} reason
   */
  _fail(code, reason) {
    if (this._closed) return;
    const cb = this.onclose;
    this.close();
    cb?.({ code, reason, wasClean: false });
  }

  /** @param {number} ms */
  _sleep(ms) {
    return new Promise((resolve) => this._timers.setTimeout(() => resolve(undefined), ms));
  }

  /**
   * @param {string} path
   * @param {Record<string, string | number | null>} query
   */
  _url(path, query) {
    const q = Object.entries(query)
      .filter(([, v]) => v !== null && v !== undefined && v !== "")
      .map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`)
      .join("&");
    return this.base + path + (q ? `?${q}` : "");
  }

  /** @returns {Record<string, string>} */
  _headers() {
    /** @type {Record<string, string>} */
    const h = {};
    const xsrf = this._xsrf();
    // JupyterHub asks the XSRF token on cookie-authenticated GETs too.
    if (xsrf) h["X-XSRFToken"] = xsrf;
    if (this.token) h.Authorization = `token ${this.token}`;
    return h;
  }
}

/** @param {string | null} end */
function endOf(end) {
  if (end === "closed" || end === "expired") return "gone";
  if (end === "replaced") return "replaced";
  return "cut";
}

/** @param {string} text */
function base64Bytes(text) {
  const bin = atob(text.trim());
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** @param {unknown} exc */
function errorText(exc) {
  return exc instanceof Error ? exc.message : String(exc);
}

/** @param {Response} resp */
async function errorBody(resp) {
  try {
    const text = await resp.text();
    try {
      const j = JSON.parse(text);
      return String(j?.error ?? text);
    } catch {
      return text.slice(0, 200);
    }
  } catch {
    return "";
  }
}
