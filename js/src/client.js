// ChannelClient: the page's one connection to the nbchannel hub, shared by every widget.
//
//   const client = getClient();                      // page singleton, connects lazily
//   const sub = client.subscribe(kernelId, "sensor", {
//     onReset(info) { clear(); },                    // first subscribe, or a new epoch
//     onState(key, value) { show(key, value); },     // retained state, replayed to late joiners
//     onAppend(value, offset) { plot(value); },      // stream items in offset order
//   });
//   sub.send("click", { x: 1 });                     // event to the kernel, even while it is busy
//   sub.close();
//
// The client applies the hub's messages exactly as nbchannel/testing/viewer.py does:
// `subscribed` with reset clears a channel; set/unset edit its state; append advances its
// next offset; a gap marker may advance it further; `closed` means the kernel went away.
// After a drop it reconnects with exponential backoff and re-subscribes every channel with
// its epoch and next offset, so the hub sends only what was missed.
//
// Several widgets on one channel share one subscription on the wire. The client keeps each
// channel's state and a bounded log of recent stream items, so a widget that subscribes
// later gets onReset, the state and the recent stream at once, from memory.
//
// Handling incoming data never throws: a bad frame or a failing widget callback is caught
// and logged, and nothing else is affected.

import { createMessage, decodeFrame, encodeFrame, messageBytes, valueOf } from "./codec.js";
import { WebSocketTransport } from "./transport.js";

/**
 * @typedef {import("./codec.js").Message} Message
 * @typedef {import("./codec.js").Limits} Limits
 * @typedef {import("./transport.js").Transport} Transport
 * @typedef {import("./transport.js").TransportFactory} TransportFactory
 * @typedef {import("./transport.js").CloseInfo} CloseInfo
 *
 * @typedef {"connecting" | "connected" | "reconnecting" | "unavailable"} Status
 * @typedef {{url?: string, attempt?: number, delay?: number, code?: number, reason?: string}} StatusDetail
 * @typedef {{baseUrl?: string, wsUrl?: string, token?: string}} PageConfig
 *
 * @typedef {{epoch: number | null, head: number, tail: number, reset: boolean, waiting: boolean, state?: number}} SubscribedInfo
 * @typedef {{kind: string, count: number, reason: string, offset?: number, end?: number}} GapInfo
 * @typedef {{code: string, message: string, about?: string | null}} ErrorInfo
 *
 * @typedef {object} Handlers  callbacks of one subscriber; all optional
 * @property {(info: SubscribedInfo) => void} [onReset]  first subscribe or new epoch: drop everything shown
 * @property {(key: string, value: any) => void} [onState]  retained state (also for every key on replay)
 * @property {(key: string) => void} [onUnset]
 * @property {(value: any, offset: number) => void} [onAppend]  stream items, in offset order
 * @property {(value: any) => void} [onPublish]  transient messages
 * @property {(info: GapInfo) => void} [onGap]  items that will not arrive
 * @property {() => void} [onClosed]  the kernel closed the channel or went away; wait for a re-open
 * @property {(err: ErrorInfo) => void} [onError]  the hub refused something about this channel
 *
 * @typedef {object} Logger
 * @property {(...args: any[]) => void} warn
 * @property {(...args: any[]) => void} error
 *
 * @typedef {object} ClientOptions
 * @property {PageConfig | null} [config]  default: read from <script id="jupyter-config-data">
 * @property {string | null} [url]  the WebSocket URL, overriding config
 * @property {TransportFactory} [transportFactory]  default: a WebSocketTransport per attempt
 * @property {Partial<Limits>} [limits]  frame limits for decoding
 * @property {number} [minDelay]  first reconnect delay, ms (250)
 * @property {number} [maxDelay]  largest reconnect delay, ms (5000)
 * @property {number} [streamBufferItems]  stream items kept per channel for late local subscribers (100,000)
 * @property {number} [streamBufferBytes]  ... and their approximate bytes (64 MiB)
 * @property {number} [maxPendingEvents]  events kept while disconnected (1,000)
 * @property {{setTimeout: (fn: () => void, ms: number) => any, clearTimeout: (id: any) => void}} [timers]
 * @property {() => number} [random]
 * @property {() => number} [now]
 * @property {Logger} [log]
 */

const GLOBAL_KEY = "__nbchannel_client_v1__";
const MiB = 1024 * 1024;
/** Outgoing frames stay well under the hub's limits (10,000 messages, 64 MiB). */
const MAX_BATCH_MESSAGES = 1000;
const MAX_BATCH_BYTES = 1 * MiB;

/**
 * The page's shared client, created (and connecting) on first use. It lives on globalThis
 * so that widget modules loaded separately (anywidget imports each model's ESM on its own)
 * share one WebSocket.
 * @param {ClientOptions} [options] used only when the client is created
 * @returns {ChannelClient}
 */
export function getClient(options) {
  const g = /** @type {Record<string, any>} */ (globalThis);
  let client = g[GLOBAL_KEY];
  if (!client) {
    client = g[GLOBAL_KEY] = new ChannelClient(options);
    client.connect();
  }
  return client;
}

/**
 * The page config JupyterLab and Notebook 7 embed as `<script id="jupyter-config-data">`,
 * or null when there is none (VS Code, Colab) or it is not JSON.
 * @param {{getElementById(id: string): {textContent: string | null} | null} | undefined} [doc]
 * @returns {PageConfig | null}
 */
export function readPageConfig(doc = globalThis.document) {
  const el = doc?.getElementById?.("jupyter-config-data");
  if (!el) return null;
  try {
    const cfg = JSON.parse(el.textContent || "");
    return typeof cfg === "object" && cfg !== null ? cfg : null;
  } catch {
    return null;
  }
}

/**
 * The hub's WebSocket URL: `{wsUrl or ws(s)://host}{baseUrl}nbchannel/ws`, with
 * `?token=` only when the page config carries a token (the login cookie normally suffices).
 * @param {PageConfig} config
 * @param {{protocol: string, host: string} | undefined} [location]
 * @returns {string | null} null when neither wsUrl nor a page location says where the server is
 */
export function channelUrl(config, location = globalThis.location) {
  let base = config.baseUrl || "/";
  /** @type {string | null} */
  let origin = null;
  if (/^https?:\/\//i.test(base)) {
    const u = new URL(base);
    origin = `${u.protocol === "https:" ? "wss:" : "ws:"}//${u.host}`;
    base = u.pathname;
  } else if (location && location.host) {
    origin = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}`;
  }
  if (!base.startsWith("/")) base = "/" + base;
  if (!base.endsWith("/")) base += "/";
  let root = origin;
  if (config.wsUrl) {
    // jupyter-server's websocket_url is ws[s]://host[:port]; tolerate one that already ends
    // with the base path.
    root = config.wsUrl.replace(/\/+$/, "");
    if (base !== "/" && root.endsWith(base.slice(0, -1))) base = "/";
  }
  if (root === null) return null;
  let url = `${root}${base}nbchannel/ws`;
  if (config.token) url += `?token=${encodeURIComponent(config.token)}`;
  return url;
}

/** The connection to the hub, its status, and every channel subscribed on this page. */
export class ChannelClient {
  /** @param {ClientOptions} [options] */
  constructor(options = {}) {
    const config = options.config === undefined ? readPageConfig() : options.config;
    /** @type {string | null} */
    this.url = options.url ?? (config ? channelUrl(config) : null);
    this._factory = options.transportFactory ?? ((/** @type {string} */ url) => new WebSocketTransport(url));
    this._limits = options.limits;
    this._minDelay = options.minDelay ?? 250;
    this._maxDelay = options.maxDelay ?? 5000;
    this._bufferItems = options.streamBufferItems ?? 100_000;
    this._bufferBytes = options.streamBufferBytes ?? 64 * MiB;
    this._maxPending = options.maxPendingEvents ?? 1000;
    this._timers = options.timers ?? {
      setTimeout: (/** @type {() => void} */ fn, /** @type {number} */ ms) => setTimeout(fn, ms),
      clearTimeout: (/** @type {any} */ id) => clearTimeout(id),
    };
    this._random = options.random ?? Math.random;
    this._now = options.now ?? Date.now;
    /** @type {Logger} */
    this.log = options.log ?? console;

    /** @type {Status} */
    this.status = this.url ? "connecting" : "unavailable";
    /** @type {StatusDetail} */
    this.statusDetail = this.url ? { url: redact(this.url) } : { reason: "no Jupyter page config: nbchannel's server extension is not reachable here" };
    /** @type {Map<string, ChannelRecord>} */
    this._channels = new Map();
    /** @type {Set<(status: Status, detail: StatusDetail) => void>} */
    this._statusHandlers = new Set();
    /** @type {Set<(err: ErrorInfo) => void>} */
    this._errorHandlers = new Set();
    /** @type {Transport | null} */
    this._transport = null;
    this._open = false;
    this._started = false;
    this._stopped = false;
    this._failures = 0;
    this._openedAt = 0;
    /** @type {any} */
    this._timer = null;
    /** Messages for the next frame. @type {Message[]} */
    this._out = [];
    this._flushScheduled = false;
    /** Events waiting for a connection. @type {Message[]} */
    this._pending = [];
  }

  /**
   * Call `handler(status, detail)` on every status change (and on every reconnect attempt
   * scheduled while "reconnecting"). Returns a function that removes it.
   * @param {(status: Status, detail: StatusDetail) => void} handler
   */
  onStatus(handler) {
    this._statusHandlers.add(handler);
    return () => void this._statusHandlers.delete(handler);
  }

  /**
   * Call `handler(err)` for errors that concern no subscribed channel (a malformed frame,
   * a refused message). Without handlers they are logged with console.warn.
   * @param {(err: ErrorInfo) => void} handler
   */
  onError(handler) {
    this._errorHandlers.add(handler);
    return () => void this._errorHandlers.delete(handler);
  }

  /** Start connecting (subscribe() does this too). */
  connect() {
    if (this._started || this._stopped) return;
    this._started = true;
    if (!this.url) {
      this._setStatus("unavailable", this.statusDetail);
      return;
    }
    this._attempt();
  }

  /**
   * Subscribe to the channel `name` of `scope` (a kernel id, or "server").
   * @param {string} scope
   * @param {string} name
   * @param {Handlers} [handlers]
   * @returns {Subscription}
   */
  subscribe(scope, name, handlers = {}) {
    if (typeof scope !== "string" || !scope || typeof name !== "string" || !name) {
      throw new TypeError("subscribe(scope, name): both must be non-empty strings");
    }
    const key = channelKey(scope, name);
    let rec = this._channels.get(key);
    const fresh = rec === undefined;
    if (rec === undefined) {
      rec = new ChannelRecord(scope, name, this._bufferItems, this._bufferBytes);
      this._channels.set(key, rec);
    }
    const sub = new Subscription(this, rec, handlers);
    rec.subscribers.add(sub);
    if (fresh) {
      sub.live = true;
      if (this._open) this._queue(subMessage(rec));
    } else if (!rec.ready) {
      sub.live = true; // the replay is still on its way from the hub
    } else {
      // Replay from memory after subscribe() returns, so the caller holds `sub` first.
      queueMicrotask(() => this._replayLocal(rec, sub));
    }
    this.connect();
    return sub;
  }

  /** Close the connection for good (tests, teardown). Subscriptions stop receiving. */
  close() {
    this._stopped = true;
    if (this._timer !== null) this._timers.clearTimeout(this._timer);
    this._timer = null;
    const t = this._transport;
    this._transport = null;
    this._open = false;
    if (t) t.close();
    this._setStatus("unavailable", { reason: "closed" });
  }

  // -- connection ------------------------------------------------------------------------

  _attempt() {
    this._timer = null;
    if (this._stopped || !this.url) return;
    /** @type {Transport} */
    let t;
    try {
      t = this._factory(this.url);
    } catch (exc) {
      this.log.error("nbchannel: cannot create a transport:", exc);
      this._retry({ code: 1006, reason: String(exc), wasClean: false });
      return;
    }
    this._transport = t;
    t.onopen = () => {
      if (t === this._transport) this._onOpen();
    };
    t.onmessage = (data) => {
      if (t === this._transport) this._onFrame(data);
    };
    t.onclose = (info) => {
      if (t === this._transport) this._onClose(info);
    };
    t.onerror = (message) => this.log.warn(`nbchannel: ${message}`);
    try {
      t.connect();
    } catch (exc) {
      this._transport = null;
      this.log.error("nbchannel: connect failed:", exc);
      this._retry({ code: 1006, reason: String(exc), wasClean: false });
    }
  }

  _onOpen() {
    this._open = true;
    this._openedAt = this._now();
    // Re-subscribe (resuming where each channel left off) before anything else is sent.
    const subs = [...this._channels.values()].map(subMessage);
    this._out = [...subs, ...this._pending];
    this._pending = [];
    this._setStatus("connected", { url: redact(this.url ?? "") });
    this._flush();
  }

  /** @param {CloseInfo} info */
  _onClose(info) {
    const wasOpen = this._open;
    this._transport = null;
    this._open = false;
    // Subscriptions are re-sent from the channel table on the next open; events wait.
    for (const m of this._out) if (m.kind === "event") this._keepPending(m);
    this._out = [];
    // A connection that lasted resets the backoff; one that drops at once keeps growing it.
    if (wasOpen && this._now() - this._openedAt >= this._maxDelay) this._failures = 0;
    this._retry(info);
  }

  /** @param {CloseInfo} info */
  _retry(info) {
    if (this._stopped) return;
    const base = Math.min(this._maxDelay, this._minDelay * 2 ** this._failures);
    this._failures += 1;
    const delay = Math.round(base * (0.5 + 0.5 * this._random()));
    this._setStatus("reconnecting", { attempt: this._failures, delay, code: info.code, reason: info.reason });
    this._timer = this._timers.setTimeout(() => this._attempt(), delay);
  }

  /**
   * @param {Status} status
   * @param {StatusDetail} detail
   */
  _setStatus(status, detail) {
    if (status === this.status && status !== "reconnecting") return;
    this.status = status;
    this.statusDetail = detail;
    for (const h of [...this._statusHandlers]) {
      try {
        h(status, detail);
      } catch (exc) {
        this.log.error("nbchannel: a status handler failed:", exc);
      }
    }
  }

  // -- outgoing --------------------------------------------------------------------------

  /** @param {Message} msg */
  _queue(msg) {
    this._out.push(msg);
    if (!this._flushScheduled) {
      this._flushScheduled = true;
      // Everything queued in the same task goes out in one frame.
      queueMicrotask(() => this._flush());
    }
  }

  /** @param {Message} msg */
  _keepPending(msg) {
    this._pending.push(msg);
    if (this._pending.length > this._maxPending) {
      this._pending.shift();
      this.log.warn(`nbchannel: more than ${this._maxPending} events waiting for a connection; dropped the oldest`);
    }
  }

  _flush() {
    this._flushScheduled = false;
    const t = this._transport;
    if (!this._open || t === null || !this._out.length) return;
    const queue = this._out;
    this._out = [];
    let start = 0;
    let bytes = 0;
    for (let i = 0; i <= queue.length; i++) {
      const size = i < queue.length ? messageBytes(queue[i]) : 0;
      const full = i - start >= MAX_BATCH_MESSAGES || (i > start && bytes + size > MAX_BATCH_BYTES);
      if (i === queue.length || full) {
        try {
          t.send(encodeFrame(queue.slice(start, i)));
        } catch (exc) {
          this.log.error("nbchannel: sending a frame failed:", exc);
        }
        start = i;
        bytes = 0;
      }
      bytes += size;
    }
  }

  /**
   * @param {ChannelRecord} rec
   * @param {Subscription} sub
   * @param {string} event
   * @param {unknown} value
   */
  _sendEvent(rec, sub, event, value) {
    if (typeof event !== "string" || !event) throw new TypeError("send(event, value): event must be a non-empty string");
    const msg = createMessage("event", rec.name, value, { scope: rec.scope, key: event });
    if (this._stopped || !this.url) {
      call(this.log, sub, "onError", { code: "unavailable", message: "no connection to the nbchannel server; the event was not sent", about: "event" });
      return false;
    }
    if (this._open) this._queue(msg);
    else this._keepPending(msg);
    return true;
  }

  /** @param {Subscription} sub */
  _unsubscribe(sub) {
    const rec = sub.record;
    rec.subscribers.delete(sub);
    if (rec.subscribers.size) return;
    this._channels.delete(rec.key);
    if (this._open) this._queue(createMessage("unsub", rec.name, null, { scope: rec.scope }));
  }

  // -- incoming --------------------------------------------------------------------------

  /** @param {ArrayBuffer | Uint8Array} data */
  _onFrame(data) {
    /** @type {Message[]} */
    let msgs;
    try {
      msgs = decodeFrame(data, this._limits);
    } catch (exc) {
      const e = /** @type {any} */ (exc);
      this._clientError({ code: e?.code ?? "bad-frame", message: `bad frame from the server: ${e?.message ?? e}` });
      return;
    }
    for (const m of msgs) {
      try {
        this._apply(m);
      } catch (exc) {
        this.log.error(`nbchannel: could not apply a ${m.kind} message on ${JSON.stringify(m.channel)}:`, exc);
      }
    }
  }

  /** @param {ErrorInfo} err */
  _clientError(err) {
    if (!this._errorHandlers.size) {
      this.log.warn(`nbchannel: ${err.code}: ${err.message}`);
      return;
    }
    for (const h of [...this._errorHandlers]) {
      try {
        h(err);
      } catch (exc) {
        this.log.error("nbchannel: an error handler failed:", exc);
      }
    }
  }

  /** Apply one message from the hub, as ChannelView.apply in nbchannel/testing/viewer.py. @param {Message} m */
  _apply(m) {
    const rec = m.scope !== null ? this._channels.get(channelKey(m.scope, m.channel)) : undefined;
    if (m.kind === "error") {
      const v = valueOf(m) ?? {};
      /** @type {ErrorInfo} */
      const err = { code: String(v.code ?? "error"), message: String(v.message ?? ""), about: m.key };
      if (rec && m.channel) rec.emit(this.log, "onError", err);
      else this._clientError(err);
      return;
    }
    if (rec === undefined) return; // unsubscribed meanwhile
    if (m.kind === "subscribed") {
      rec.subscribed(this.log, valueOf(m));
      return;
    }
    // Until `subscribed` arrives, anything else belongs to an earlier subscription.
    if (!rec.ready) return;
    const isState = m.kind === "set" || m.kind === "unset";
    if (!isState) rec.dropStale(this.log);
    switch (m.kind) {
      case "set": {
        if (m.key === null) return;
        const value = valueOf(m);
        rec.state.set(m.key, value);
        rec.emit(this.log, "onState", m.key, value);
        rec.replayed(this.log, m.key);
        break;
      }
      case "unset":
        if (m.key === null) return;
        rec.state.delete(m.key);
        rec.emit(this.log, "onUnset", m.key);
        rec.replayed(this.log, m.key);
        break;
      case "append": {
        if (m.offset === null) return;
        const value = valueOf(m);
        rec.nextOffset = m.offset + 1;
        rec.log.push({ offset: m.offset, value, gap: null }, messageBytes(m));
        rec.emit(this.log, "onAppend", value, m.offset);
        break;
      }
      case "publish":
        rec.emit(this.log, "onPublish", valueOf(m));
        break;
      case "gap": {
        /** @type {GapInfo} */
        const info = { ...valueOf(m) };
        if (m.offset !== null) info.offset = m.offset;
        if (m.offset !== null && typeof info.end === "number" && info.end > rec.nextOffset) rec.nextOffset = info.end;
        if (info.kind === "append") rec.log.push({ offset: m.offset ?? -1, value: null, gap: info }, 64);
        rec.emit(this.log, "onGap", info);
        break;
      }
      case "closed":
        rec.closed = true;
        rec.emit(this.log, "onClosed");
        break;
      default:
        // A kind this client does not know (a newer hub): ignore it.
        break;
    }
  }

  /**
   * Bring a subscriber that joined an existing subscription up to date from memory.
   * @param {ChannelRecord} rec
   * @param {Subscription} sub
   */
  _replayLocal(rec, sub) {
    if (sub.closed || sub.live) return;
    sub.live = true;
    if (!rec.info) return;
    const log = this.log;
    call(log, sub, "onReset", rec.info);
    for (const [key, value] of rec.state) call(log, sub, "onState", key, value);
    if (rec.log.from > rec.info.tail) {
      const count = rec.log.from - rec.info.tail;
      call(log, sub, "onGap", { kind: "append", count, reason: "history", offset: rec.info.tail, end: rec.log.from });
    }
    for (const item of rec.log.items()) {
      if (item.gap) call(log, sub, "onGap", item.gap);
      else call(log, sub, "onAppend", item.value, item.offset);
    }
    if (rec.closed) call(log, sub, "onClosed");
  }
}

/**
 * One widget's subscription to a channel. Several may share one subscription on the wire.
 */
export class Subscription {
  /**
   * @param {ChannelClient} client
   * @param {ChannelRecord} record
   * @param {Handlers} handlers
   */
  constructor(client, record, handlers) {
    this.client = client;
    this.record = record;
    this.handlers = handlers;
    this.scope = record.scope;
    this.name = record.name;
    /** Whether this subscriber receives live messages (false until its local replay ran). */
    this.live = false;
    this.closed = false;
  }

  /** The channel's current state (shared by every subscriber: read, don't modify). */
  get state() {
    return this.record.state;
  }

  /**
   * Send an event to the channel's kernel. Typed arrays and NDArrays inside `value` travel
   * as binary buffers. Returns false if there is no server to send it to.
   * @param {string} event
   * @param {unknown} [value]
   * @returns {boolean}
   */
  send(event, value = null) {
    if (this.closed) return false;
    return this.client._sendEvent(this.record, this, event, value);
  }

  /** Stop receiving; the last subscriber of a channel unsubscribes on the wire. */
  close() {
    if (this.closed) return;
    this.closed = true;
    this.client._unsubscribe(this);
  }
}

/** @typedef {{offset: number, value: any, gap: GapInfo | null}} LogItem */

/** A bounded log of recent stream items (and stream gaps), oldest dropped first. */
class StreamLog {
  /**
   * @param {number} maxItems
   * @param {number} maxBytes
   */
  constructor(maxItems, maxBytes) {
    this.maxItems = maxItems;
    this.maxBytes = maxBytes;
    /** @type {LogItem[]} */
    this._items = [];
    /** @type {number[]} */
    this._sizes = [];
    this._start = 0;
    this.bytes = 0;
    /** Offset from which the log is complete (moves up as old items are dropped). */
    this.from = 0;
  }

  get length() {
    return this._items.length - this._start;
  }

  /** @param {number} from */
  clear(from) {
    this._items = [];
    this._sizes = [];
    this._start = 0;
    this.bytes = 0;
    this.from = from;
  }

  /**
   * @param {LogItem} item
   * @param {number} size
   */
  push(item, size) {
    this._items.push(item);
    this._sizes.push(size);
    this.bytes += size;
    while (this.length > 0 && (this.length > this.maxItems || this.bytes > this.maxBytes)) {
      const old = this._items[this._start];
      this.bytes -= this._sizes[this._start];
      this._start += 1;
      if (!old.gap) this.from = Math.max(this.from, old.offset + 1);
      else if (old.gap.end !== undefined) this.from = Math.max(this.from, old.gap.end);
    }
    if (this._start > 1024 && this._start * 2 > this._items.length) {
      this._items = this._items.slice(this._start);
      this._sizes = this._sizes.slice(this._start);
      this._start = 0;
    }
  }

  /** @returns {LogItem[]} */
  items() {
    return this._items.slice(this._start);
  }
}

/** What the page knows of one channel: shared by its local subscribers. */
class ChannelRecord {
  /**
   * @param {string} scope
   * @param {string} name
   * @param {number} bufferItems
   * @param {number} bufferBytes
   */
  constructor(scope, name, bufferItems, bufferBytes) {
    this.scope = scope;
    this.name = name;
    this.key = channelKey(scope, name);
    /** @type {Set<Subscription>} */
    this.subscribers = new Set();
    /** @type {Map<string, any>} */
    this.state = new Map();
    /** @type {number | null} */
    this.epoch = null;
    /** Offset of the next stream item expected. */
    this.nextOffset = 0;
    /** Whether a `subscribed` arrived (the hub's replay has begun). */
    this.ready = false;
    this.closed = false;
    /** The `subscribed` info of the last reset. @type {SubscribedInfo | null} */
    this.info = null;
    /**
     * On a resume, the keys held before it that the hub's state replay has not named yet;
     * whatever is left once `pendingState` replayed state messages arrived was deleted.
     * @type {Set<string> | null}
     */
    this.staleKeys = null;
    this.pendingState = 0;
    this.log = new StreamLog(bufferItems, bufferBytes);
  }

  /**
   * @param {Logger} log
   * @param {SubscribedInfo} info
   */
  subscribed(log, info) {
    this.ready = true;
    this.closed = false;
    if (info.reset) {
      this.state.clear();
      this.nextOffset = info.tail;
      this.log.clear(info.tail);
      this.info = info;
      this.epoch = info.epoch;
      this.emit(log, "onReset", info);
    } else {
      this.epoch = info.epoch;
      if (this.info) this.info = { ...this.info, epoch: info.epoch, waiting: info.waiting };
      // The hub replays the whole state next: keys it does not name were deleted meanwhile.
      this.staleKeys = new Set(this.state.keys());
      this.pendingState = info.state ?? 0;
      if (this.pendingState <= 0) this.dropStale(log);
    }
  }

  /**
   * Count one replayed state message of a resume.
   * @param {Logger} log
   * @param {string} key
   */
  replayed(log, key) {
    if (this.staleKeys === null) return;
    this.staleKeys.delete(key);
    this.pendingState -= 1;
    if (this.pendingState <= 0) this.dropStale(log);
  }

  /**
   * End a resume's state replay: forget (and report as unset) the keys it did not name.
   * @param {Logger} log
   */
  dropStale(log) {
    const stale = this.staleKeys;
    if (stale === null) return;
    this.staleKeys = null;
    this.pendingState = 0;
    for (const key of stale) {
      this.state.delete(key);
      this.emit(log, "onUnset", key);
    }
  }

  /**
   * Call a handler of every live subscriber.
   * @param {Logger} log
   * @param {keyof Handlers} name
   * @param {...any} args
   */
  emit(log, name, ...args) {
    for (const sub of this.subscribers) {
      if (sub.live && !sub.closed) call(log, sub, name, ...args);
    }
  }
}

/**
 * Call one handler; a throwing widget must not break the client or the other widgets.
 * @param {Logger} log
 * @param {Subscription} sub
 * @param {keyof Handlers} name
 * @param {...any} args
 */
function call(log, sub, name, ...args) {
  const fn = sub.handlers[name];
  if (typeof fn !== "function") return;
  try {
    /** @type {Function} */ (fn).apply(sub.handlers, args);
  } catch (exc) {
    log.error(`nbchannel: ${name} handler for channel ${JSON.stringify(sub.name)} failed:`, exc);
  }
}

/**
 * The URL without its token, for status details that a widget may show.
 * @param {string} url
 */
function redact(url) {
  return url.replace(/([?&]token=)[^&]*/, "$1…");
}

/**
 * @param {string} scope
 * @param {string} name
 */
function channelKey(scope, name) {
  return `${scope}\u0000${name}`;
}

/**
 * The `sub` message for a channel: with its epoch and next offset once it has an epoch,
 * so the hub resumes instead of replaying everything.
 * @param {ChannelRecord} rec
 * @returns {Message}
 */
function subMessage(rec) {
  const resume = rec.epoch !== null;
  return createMessage("sub", rec.name, null, {
    scope: rec.scope,
    epoch: resume ? rec.epoch : null,
    offset: resume ? rec.nextOffset : null,
  });
}
