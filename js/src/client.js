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
// Three parts, one file each: ./apply.js holds how a channel's view applies the hub's
// messages (the rules of nbchannel/testing/viewer.py, checked against the same recorded
// sequences); the transports (./transport.js: WebSocket; ./transports/http.js: the HTTP
// stream, SSE and long-polling of docs/http-transports.md) move frames; this client
// chooses a transport, subscribes, resumes and hands each message to its channel's view.
//
// Choosing a transport: `GET nbchannel/api/info` once (404, or 403 after a redirect: the
// server has no nbchannel, status "unavailable", no retries); then the WebSocket, which
// counts as up once a frame comes back within `confirmTimeout` of subscribing; else the
// HTTP stream, up once its first heartbeat arrives within twice the heartbeat interval;
// else long-polling. The choice is remembered for the page session (sessionStorage), and
// while the page runs on a fallback the WebSocket is probed again every `probeInterval`
// and taken when it works.
// `localStorage["nbchannel.transport"] = "poll"` (or "websocket", "stream", "sse") forces
// one. Every (re)connect and every switch re-subscribes each channel with its epoch and
// next offset, so the hub sends exactly what was missed; an append already seen is dropped.
//
// Several widgets on one channel share one subscription on the wire. The client keeps each
// channel's state and a bounded log of recent stream items, so a widget that subscribes
// later gets onReset, the state and the recent stream at once, from memory.
//
// Handling incoming data never throws: a bad frame or a failing widget callback is caught
// and logged, and nothing else is affected.

import { ChannelView } from "./apply.js";
import { createMessage, decodeFrame, encodeFrame, messageBytes, valueOf } from "./codec.js";
import { WebSocketTransport } from "./transport.js";
import { HttpTransport, xsrfCookie } from "./transports/http.js";

/**
 * @typedef {import("./codec.js").Message} Message
 * @typedef {import("./codec.js").Limits} Limits
 * @typedef {import("./transport.js").Transport} Transport
 * @typedef {import("./transport.js").TransportFactory} TransportFactory
 * @typedef {import("./transport.js").CloseInfo} CloseInfo
 * @typedef {import("./apply.js").SubscribedInfo} SubscribedInfo
 * @typedef {import("./apply.js").GapInfo} GapInfo
 *
 * @typedef {"connecting" | "connected" | "reconnecting" | "unavailable"} Status
 * @typedef {"websocket" | "stream" | "sse" | "poll" | "comm"} TransportKind
 * @typedef {{url?: string, transport?: TransportKind, events?: "live" | "after-cell", attempt?: number, delay?: number, code?: number, reason?: string}} StatusDetail
 * @typedef {{baseUrl?: string, wsUrl?: string, token?: string, nbchannelTransport?: string}} PageConfig
 * @typedef {{version?: string, transports?: string[], heartbeat?: number, poll_wait?: number, relay?: string | null, refused?: string}} ServerInfo
 * @typedef {{url: string, infoUrl?: string | null} | {reason: string}} Target  where to connect, or why nowhere
 *
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
 * @typedef {{getItem(key: string): string | null, setItem(key: string, value: string): void}} KeyValueStore
 * @typedef {{setTimeout: (fn: () => void, ms: number) => any, clearTimeout: (id: any) => void}} Timers
 *
 * @typedef {object} ClientOptions
 * @property {PageConfig | null} [config]  default: read from <script id="jupyter-config-data">
 * @property {string | null} [url]  the WebSocket URL, overriding config
 * @property {string | null} [httpUrl]  the server's base URL for the HTTP routes (`http://host/base/`), overriding config
 * @property {string | null} [infoUrl]  where to `GET` the server's info first (default: `{httpUrl}nbchannel/api/info`; null: not asked)
 * @property {RequestInit} [infoInit]  fetch options for that request (a relay's: `{mode: "no-cors"}`, see choose.js)
 * @property {Promise<Target>} [target]  where to connect, known only later (the relay the page's server names): "connecting" until then
 * @property {{protocol: string, host: string}} [location]  default: the page's
 * @property {TransportFactory} [transportFactory]  the WebSocket transport; default: a WebSocketTransport per attempt
 * @property {Partial<Record<TransportKind, () => Transport>>} [transports]  transports by kind (tests)
 * @property {TransportKind | null} [transport]  force one transport (default: page config `nbchannelTransport`, then localStorage "nbchannel.transport")
 * @property {typeof fetch | null} [fetch]  for api/info and the HTTP transports (null: WebSocket only)
 * @property {KeyValueStore | null} [sessionStorage]  where the choice is remembered
 * @property {KeyValueStore | null} [localStorage]  where a forced transport is read
 * @property {number} [confirmTimeout]  ms for a first frame on a new WebSocket before falling back (3000)
 * @property {number} [probeInterval]  ms between WebSocket probes while on a fallback (45,000)
 * @property {Partial<Limits>} [limits]  frame limits for decoding
 * @property {number} [minDelay]  first reconnect delay, ms (250)
 * @property {number} [maxDelay]  largest reconnect delay, ms (5000)
 * @property {number} [streamBufferItems]  stream items kept per channel for late local subscribers (100,000)
 * @property {number} [streamBufferBytes]  ... and their approximate bytes (64 MiB)
 * @property {number} [maxPendingEvents]  events kept while disconnected (1,000)
 * @property {number} [lingerMs]  how long a channel stays subscribed after its last local subscriber left (10,000; 0: unsubscribe at once)
 * @property {Timers} [timers]
 * @property {() => number} [random]
 * @property {() => number} [now]
 * @property {Logger} [log]
 */

const GLOBAL_KEY = "__nbchannel_client_v1__";
const MiB = 1024 * 1024;
/** Outgoing frames stay well under the hub's limits (10,000 messages, 64 MiB). */
const MAX_BATCH_MESSAGES = 1000;
const MAX_BATCH_BYTES = 1 * MiB;
/** Where the transport in use is remembered, and where one is forced. */
export const TRANSPORT_KEY = "nbchannel.transport";
/** @type {readonly TransportKind[]} */
export const TRANSPORT_KINDS = Object.freeze(["websocket", "stream", "sse", "poll"]);

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


/**
 * The server's base URL for the HTTP routes: `{http(s)://host}{baseUrl}`.
 * @param {PageConfig} config
 * @param {{protocol: string, host: string} | undefined} [location]
 * @returns {string | null} null when no page location says where the server is
 */
export function httpBaseUrl(config, location = globalThis.location) {
  let base = config.baseUrl || "/";
  /** @type {string | null} */
  let origin = null;
  if (/^https?:\/\//i.test(base)) {
    const u = new URL(base);
    origin = `${u.protocol}//${u.host}`;
    base = u.pathname;
  } else if (location && location.host) {
    origin = `${location.protocol === "https:" ? "https:" : "http:"}//${location.host}`;
  }
  if (origin === null) return null;
  if (!base.startsWith("/")) base = "/" + base;
  if (!base.endsWith("/")) base += "/";
  return origin + base;
}

/** The connection to the hub, its status, and every channel subscribed on this page. */
export class ChannelClient {
  /** @param {ClientOptions} [options] */
  constructor(options = {}) {
    const config = options.config === undefined ? readPageConfig() : options.config;
    const location = options.location ?? globalThis.location;
    /** @type {string | null} */
    this.url = options.url ?? (config ? channelUrl(config, location) : null);
    /** The server's base URL for the HTTP routes (api/info, fallbacks); null: WebSocket only. */
    this.httpUrl = options.httpUrl ?? (config && options.url == null ? httpBaseUrl(config, location) : null);
    this._token = config?.token || null;
    /** Where the server's info is asked first (null: not asked). @type {string | null} */
    this.infoUrl = options.infoUrl !== undefined ? options.infoUrl : this.httpUrl ? `${this.httpUrl}nbchannel/api/info` : null;
    this._infoInit = options.infoInit ?? {};
    /** Where to connect, while it is not known yet. @type {Promise<Target> | null} */
    this._target = this.url ? null : (options.target ?? null);
    /** Why this client gets nothing, told to every view (the server refused this user, or there is nowhere to connect), or null. @type {ErrorInfo | null} */
    this.blocked = null;
    this._factory = options.transportFactory ?? ((/** @type {string} */ url) => new WebSocketTransport(url));
    this._transports = options.transports ?? {};
    /** @type {typeof fetch | null} */
    this._fetch = options.fetch === undefined ? (typeof globalThis.fetch === "function" ? globalThis.fetch.bind(globalThis) : null) : options.fetch;
    this._session = options.sessionStorage === undefined ? storage("sessionStorage") : options.sessionStorage;
    const local = options.localStorage === undefined ? storage("localStorage") : options.localStorage;
    this._limits = options.limits;
    this._minDelay = options.minDelay ?? 250;
    this._maxDelay = options.maxDelay ?? 5000;
    this._confirmTimeout = options.confirmTimeout ?? 3000;
    this._probeInterval = options.probeInterval ?? 45_000;
    this._bufferItems = options.streamBufferItems ?? 100_000;
    this._bufferBytes = options.streamBufferBytes ?? 64 * MiB;
    this._maxPending = options.maxPendingEvents ?? 1000;
    // Front ends re-create a view when its output is updated (a snapshot refreshed at a
    // cell's end): the new view then finds the channel in memory, with its stream.
    this._linger = options.lingerMs ?? 10_000;
    /** @type {Timers} */
    this._timers = options.timers ?? {
      setTimeout: (/** @type {() => void} */ fn, /** @type {number} */ ms) => setTimeout(fn, ms),
      clearTimeout: (/** @type {any} */ id) => clearTimeout(id),
    };
    this._random = options.random ?? Math.random;
    this._now = options.now ?? Date.now;
    /** @type {Logger} */
    this.log = options.log ?? console;
    /** A transport forced by the page (tests, proxies known to be hostile), or null. */
    this.forced = options.transport === "comm" && this._transports.comm ? "comm" : pickKind(options.transport ?? config?.nbchannelTransport ?? safeGet(local, TRANSPORT_KEY), this.log);

    /** @type {Status} */
    this.status = this.url || this._target ? "connecting" : "unavailable";
    /** @type {StatusDetail} */
    this.statusDetail = this.url ? { url: redact(this.url) } : this._target ? {} : { reason: "no Jupyter page config: nbchannel's server extension is not reachable here" };
    /** Callbacks waiting for the info (see whenInfo). @type {((info: ServerInfo | null) => void)[]} */
    this._infoWaiters = [];
    /** What `GET nbchannel/api/info` answered (null: not asked, or no HTTP here). @type {ServerInfo | null} */
    this.info = null;
    /** The kind of the transport in use (or being tried). @type {TransportKind | null} */
    this.transport = null;
    /** @type {Map<string, ChannelRecord>} */
    this._channels = new Map();
    /** @type {Set<(status: Status, detail: StatusDetail) => void>} */
    this._statusHandlers = new Set();
    /** @type {Set<(err: ErrorInfo) => void>} */
    this._errorHandlers = new Set();
    /** @type {Transport | null} */
    this._transport = null;
    this._open = false;
    /** Whether the transport in use proved it works (see the file's comment). */
    this._up = false;
    this._started = false;
    this._stopped = false;
    /** The server answered api/info with 404: no nbchannel here. */
    this._absent = false;
    this._failures = 0;
    this._openedAt = 0;
    /** Transports left to try in this round. @type {TransportKind[]} */
    this._candidates = [];
    /** @type {CloseInfo | null} */
    this._lastFailure = null;
    /** @type {any} */
    this._timer = null;
    /** @type {any} */
    this._confirmTimer = null;
    /** @type {any} */
    this._probeTimer = null;
    /** @type {Transport | null} */
    this._probe = null;
    /** Messages for the next frame. @type {Message[]} */
    this._out = [];
    this._flushScheduled = false;
    /** Events waiting for a connection. @type {Message[]} */
    this._pending = [];
    /** Transport switches and WebSocket probes made (for tests and curious users). */
    this.switches = 0;
    this.probes = 0;
    /** Over the comm: whether the kernel receives events while a cell runs (null: not known). @type {boolean | null} */
    this.eventsLive = null;
  }

  /**
   * No nbchannel server is reachable from this page: it has no Jupyter page config (VS
   * Code, Colab), or the server answered api/info with 404 (no extension), or with 403
   * after a redirect (standalone Voilà). Views that can be served over their widget's comm
   * then use it.
   */
  get hubAbsent() {
    return (!this.url && !this._target) || this._absent;
  }

  /**
   * What the server's info answered, once it did: null when it will not be asked (no HTTP
   * here) or the server has no nbchannel (404). Connects the client if it was not yet.
   * @returns {Promise<ServerInfo | null>}
   */
  whenInfo() {
    if (this.info !== null) return Promise.resolve(this.info);
    if (this._absent || this._stopped || !this.infoUrl || !this._fetch) return Promise.resolve(null);
    const waiting = new Promise((resolve) => this._infoWaiters.push(resolve));
    this.connect();
    return /** @type {Promise<ServerInfo | null>} */ (waiting);
  }

  /** @param {ServerInfo | null} info */
  _infoKnown(info) {
    const waiters = this._infoWaiters;
    this._infoWaiters = [];
    for (const w of waiters) w(info);
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
    if (!this.url && this._target) {
      this._awaitTarget(this._target);
      return;
    }
    if (!this.url) {
      this._setStatus("unavailable", this.statusDetail);
      this._infoKnown(null);
      return;
    }
    this._round();
  }

  /**
   * Connect once `target` says where (or say why nowhere).
   * @param {Promise<Target>} target
   */
  _awaitTarget(target) {
    const nowhere = (/** @type {string} */ reason) => {
      this._target = null;
      this._block({ code: "unavailable", message: reason });
    };
    target.then(
      (t) => {
        if (this._stopped) return;
        if (t && "url" in t && typeof t.url === "string" && t.url) {
          this.url = t.url;
          if (t.infoUrl !== undefined) this.infoUrl = t.infoUrl;
          this._target = null;
          this._setStatus("connecting", { url: redact(this.url) });
          this._round();
        } else {
          nowhere(t && "reason" in t ? String(t.reason) : "nowhere to connect");
        }
      },
      (exc) => {
        if (!this._stopped) nowhere(`nowhere to connect: ${exc instanceof Error ? exc.message : exc}`);
      },
    );
  }

  /**
   * Get nothing, for good, and tell every view why (and every view that comes later).
   * @param {ErrorInfo} err
   */
  _block(err) {
    this.blocked = err;
    this._setStatus("unavailable", { reason: err.message });
    for (const rec of this._channels.values()) rec.emit(this.log, "onError", err);
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
    if (rec.linger !== null) {
      this._timers.clearTimeout(rec.linger);
      rec.linger = null;
    }
    const sub = new Subscription(this, rec, handlers);
    rec.subscribers.add(sub);
    if (fresh) {
      sub.live = true;
      if (this._open) {
        this._queue(subMessage(rec));
        this._armConfirm();
      }
    } else if (!rec.ready) {
      sub.live = true; // the replay is still on its way from the hub
    } else {
      // Replay from memory after subscribe() returns, so the caller holds `sub` first.
      queueMicrotask(() => this._replayLocal(rec, sub));
    }
    const blocked = this.blocked;
    if (blocked) queueMicrotask(() => call(this.log, sub, "onError", blocked));
    this.connect();
    return sub;
  }

  /** Close the connection for good (tests, teardown). Subscriptions stop receiving. */
  close() {
    this._stopped = true;
    this._clearTimers();
    const t = this._transport;
    this._transport = null;
    this._open = false;
    if (t) t.close();
    this._probe?.close();
    this._probe = null;
    this._setStatus("unavailable", { reason: "closed" });
    this._infoKnown(null);
  }

  // -- choosing a transport --------------------------------------------------------------

  /** Start a round: ask api/info if not yet known, then try the transports in order. */
  _round() {
    this._timer = null;
    if (this._stopped || !this.url) return;
    if (this.info === null && this.infoUrl && this._fetch) {
      this._askInfo();
      return;
    }
    this._candidates = this._order();
    this._next();
  }

  /** The transports to try, best first, from the remembered one on. @returns {TransportKind[]} */
  _order() {
    if (this.forced) return [this.forced];
    const offered = this._offered();
    const chain = /** @type {TransportKind[]} */ (["websocket", streamKind(), "poll"].filter((k) => offered.includes(/** @type {TransportKind} */ (k))));
    const remembered = /** @type {TransportKind | null} */ (safeGet(this._session, TRANSPORT_KEY));
    const at = remembered ? chain.indexOf(remembered) : -1;
    return at > 0 ? chain.slice(at) : chain;
  }

  /** The transports this page can use with this server. @returns {TransportKind[]} */
  _offered() {
    if (!this.info || !this.httpUrl || !this._fetch) return ["websocket"];
    const listed = Array.isArray(this.info.transports) ? this.info.transports : ["websocket"];
    return TRANSPORT_KINDS.filter((k) => listed.includes(k));
  }

  async _askInfo() {
    const url = /** @type {string} */ (this.infoUrl);
    // the page's own server: "nbchannel/api/info"; elsewhere (a relay) the URL's path
    const what = this.httpUrl && url === `${this.httpUrl}nbchannel/api/info` ? "nbchannel/api/info" : url.replace(/^[a-z]+:\/\/[^/]+/i, "");
    /** @type {Response} */
    let resp;
    try {
      resp = await /** @type {typeof fetch} */ (this._fetch)(url, { headers: this._headers(), cache: "no-store", credentials: "same-origin", ...this._infoInit });
    } catch (exc) {
      this._retry({ code: 1006, reason: `GET ${what} failed: ${exc instanceof Error ? exc.message : exc}`, wasClean: false });
      return;
    }
    if (this._stopped) return;
    // 404, or a redirect to a refusal: standalone Voilà sends paths it does not serve to its
    // file handler (302 to voila/files/…), which answers 403. Neither is worth retrying.
    if (resp.status === 404 || (resp.redirected && resp.status === 403)) {
      const answered = `answered ${resp.status}${resp.status === 404 ? "" : " after a redirect"}`;
      this._absent = true;
      this._setStatus("unavailable", {
        reason: this.httpUrl
          ? `this Jupyter server has no nbchannel extension (GET nbchannel/api/info ${answered}); install nbchannel in the server's environment and restart it`
          : `nothing serves nbchannel at ${url} (GET ${answered})`,
      });
      this._infoKnown(null);
      return;
    }
    if (resp.status !== 200) {
      this._retry({ code: 4000 + resp.status, reason: `GET ${what} answered ${resp.status}`, wasClean: false });
      return;
    }
    try {
      const info = await resp.json();
      this.info = typeof info === "object" && info !== null ? info : {};
    } catch {
      this.info = {};
    }
    const info = /** @type {ServerInfo} */ (this.info);
    this._infoKnown(info);
    if (typeof info.refused === "string" && info.refused) {
      // This user may not watch here (a relay without the subscribe permission): say so
      // in every view, and do not knock on the WebSocket, which would be refused too.
      this._block({ code: "not-permitted", message: info.refused });
      return;
    }
    this._round();
  }

  /** Try the next transport of the round; when none is left, wait and start again. */
  _next() {
    const kind = this._candidates.shift();
    if (kind === undefined) {
      this._retry(this._lastFailure ?? { code: 1006, reason: "no transport worked", wasClean: false });
      return;
    }
    /** @type {Transport} */
    let t;
    try {
      t = this._make(kind);
    } catch (exc) {
      this.log.error(`nbchannel: cannot create the ${kind} transport:`, exc);
      this._lastFailure = { code: 1006, reason: String(exc), wasClean: false };
      this._next();
      return;
    }
    this._use(t, kind);
    try {
      t.connect();
    } catch (exc) {
      this._transport = null;
      this.log.error("nbchannel: connect failed:", exc);
      this._lastFailure = { code: 1006, reason: String(exc), wasClean: false };
      this._next();
    }
  }

  /**
   * @param {TransportKind} kind
   * @returns {Transport}
   */
  _make(kind) {
    const custom = this._transports[kind];
    if (custom) return custom();
    if (kind === "websocket") return this._factory(/** @type {string} */ (this.url));
    if (kind === "comm") throw new Error("the comm transport needs the widget's model (see choose.js)");
    return new HttpTransport(kind, {
      base: /** @type {string} */ (this.httpUrl),
      heartbeat: typeof this.info?.heartbeat === "number" ? this.info.heartbeat : 5,
      token: this._token,
      fetch: this._fetch ?? undefined,
      timers: this._timers,
    });
  }

  /**
   * Make `t` the transport in use.
   * @param {Transport} t
   * @param {TransportKind} kind
   */
  _use(t, kind) {
    this._transport = t;
    this.transport = kind;
    this._open = false;
    this._up = false;
    t.onopen = () => {
      if (t === this._transport) this._onOpen();
    };
    t.onmessage = (data) => {
      if (t === this._transport) this._onFrame(data);
    };
    t.onclose = (info) => {
      if (t === this._transport) this._onClose(info);
    };
    t.onerror = (message) => this.log.warn(`nbchannel (${kind}): ${message}`);
    if ("onevents" in t) {
      /** @type {{onevents: ((live: boolean) => void) | null}} */ (t).onevents = (live) => {
        if (t !== this._transport) return;
        this.eventsLive = live;
        if (this._up) this._setStatus("connected", this._connectedDetail());
      };
    }
  }

  /** The status detail while connected: which transport, where, and (comm) whether events are live. @returns {StatusDetail} */
  _connectedDetail() {
    const kind = /** @type {TransportKind} */ (this.transport);
    if (kind === "comm") return this.eventsLive === null ? { transport: kind } : { transport: kind, events: this.eventsLive ? "live" : "after-cell" };
    return { url: redact(kind === "websocket" ? (this.url ?? "") : `${this.httpUrl}nbchannel/${kind === "sse" ? "stream" : kind}`), transport: kind };
  }

  /** The transport opened (or, over HTTP, its reader attached again): re-subscribe first. */
  _onOpen() {
    const first = !this._open;
    this._open = true;
    if (first) this._openedAt = this._now();
    // Re-subscribe (resuming where each channel left off) before anything else is sent.
    const subs = [...this._channels.values()].map(subMessage);
    this._out = [...subs, ...this._pending, ...this._out.filter((m) => m.kind !== "sub")];
    this._pending = [];
    if (first && this.transport !== "websocket") this._confirmed();
    else if (first) this._armConfirm();
    this._flush();
  }

  /**
   * A new WebSocket counts once a frame comes back; with nothing subscribed there is
   * nothing to wait for. Without a fallback there is nothing to fall back to either.
   */
  _armConfirm() {
    if (this._up || this._confirmTimer !== null || !this._open) return;
    const fallback = this._offered().length > 1 && !this.forced;
    if (!fallback || this._channels.size === 0) {
      this._confirmed();
      return;
    }
    const t = this._transport;
    this._confirmTimer = this._timers.setTimeout(() => {
      this._confirmTimer = null;
      if (t !== this._transport || this._up) return;
      this.log.warn(`nbchannel: the WebSocket opened but nothing came back within ${this._confirmTimeout} ms; trying the HTTP fallbacks`);
      this._drop(t);
      this._lastFailure = { code: 4408, reason: "the WebSocket carried nothing back", wasClean: false };
      this._candidates = this._order().filter((k) => k !== "websocket");
      this._next();
    }, this._confirmTimeout);
  }

  /** The transport in use works: say so, remember it, and look for a better one later. */
  _confirmed() {
    if (this._up) return;
    this._up = true;
    if (this._confirmTimer !== null) this._timers.clearTimeout(this._confirmTimer);
    this._confirmTimer = null;
    this._candidates = [];
    const kind = /** @type {TransportKind} */ (this.transport);
    if (this.httpUrl) safeSet(this._session, TRANSPORT_KEY, kind);
    this._setStatus("connected", this._connectedDetail());
    this._scheduleProbe();
  }

  /** @param {CloseInfo} info */
  _onClose(info) {
    const wasUp = this._up;
    this._drop(this._transport);
    this._lastFailure = info;
    if (!wasUp) {
      // this transport did not work: the next one of the round
      this._next();
      return;
    }
    // A connection that lasted resets the backoff; one that drops at once keeps growing it.
    if (this._now() - this._openedAt >= this._maxDelay) this._failures = 0;
    this._retry(info);
  }

  /**
   * Forget the transport in use (closing it); events not yet sent wait for the next one.
   * @param {Transport | null} t
   */
  _drop(t) {
    if (t === this._transport) {
      this._transport = null;
      this._open = false;
      this._up = false;
      // Subscriptions are re-sent from the channel table on the next open; events wait.
      for (const m of this._out) if (m.kind === "event") this._keepPending(m);
      this._out = [];
    }
    if (this._confirmTimer !== null) this._timers.clearTimeout(this._confirmTimer);
    this._confirmTimer = null;
    if (this._probeTimer !== null) this._timers.clearTimeout(this._probeTimer);
    this._probeTimer = null;
    t?.close();
  }

  /** @param {CloseInfo} info */
  _retry(info) {
    if (this._stopped) return;
    const base = Math.min(this._maxDelay, this._minDelay * 2 ** this._failures);
    this._failures += 1;
    const delay = Math.round(base * (0.5 + 0.5 * this._random()));
    this._setStatus("reconnecting", { attempt: this._failures, delay, code: info.code, reason: info.reason });
    this._timer = this._timers.setTimeout(() => this._round(), delay);
  }

  /** While on a fallback, try the WebSocket again now and then. */
  _scheduleProbe() {
    if (this._probeTimer !== null || this._stopped || this.forced || this.transport === "websocket") return;
    if (!this._offered().includes("websocket")) return;
    this._probeTimer = this._timers.setTimeout(() => {
      this._probeTimer = null;
      this._probeWebSocket();
    }, this._probeInterval);
  }

  _probeWebSocket() {
    if (this._stopped || !this._up || this.transport === "websocket" || this._probe) return;
    /** @type {Transport} */
    let p;
    try {
      p = this._probe = this._make("websocket");
    } catch {
      this._scheduleProbe();
      return;
    }
    this.probes += 1;
    const failed = () => {
      if (this._probe !== p) return;
      this._probe = null;
      p.close();
      this._scheduleProbe();
    };
    p.onclose = failed;
    p.onmessage = null;
    p.onopen = () => {
      if (this._probe !== p) return;
      this._probe = null;
      const old = this._transport;
      if (!this._up || (old && /** @type {any} */ (old).busy)) {
        // POSTs still on their way: switch at the next probe
        p.close();
        this._scheduleProbe();
        return;
      }
      // Switch: the WebSocket takes over, every channel resumes from its epoch and next
      // offset; what the old transport had in flight is replayed by the hub.
      this.switches += 1;
      this._drop(old);
      this._use(p, "websocket");
      this._candidates = this._order().filter((k) => k !== "websocket");
      this._onOpen();
    };
    try {
      p.connect();
    } catch {
      failed();
    }
  }

  _clearTimers() {
    for (const name of /** @type {const} */ (["_timer", "_confirmTimer", "_probeTimer"])) {
      if (this[name] !== null) this._timers.clearTimeout(this[name]);
      this[name] = null;
    }
  }

  /** Headers for the HTTP routes: the XSRF cookie echoed, the token when the page has one. */
  _headers() {
    /** @type {Record<string, string>} */
    const h = {};
    const xsrf = xsrfCookie();
    if (xsrf) h["X-XSRFToken"] = xsrf;
    if (this._token) h.Authorization = `token ${this._token}`;
    return h;
  }

  /**
   * @param {Status} status
   * @param {StatusDetail} detail
   */
  _setStatus(status, detail) {
    if (status === this.status && status !== "reconnecting" && detail.transport === this.statusDetail.transport && detail.events === this.statusDetail.events) return;
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
    if (this._stopped || (!this.url && !this._target) || this._absent || this.blocked) {
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
    if (this._linger > 0 && !this._stopped) {
      if (rec.linger === null) {
        rec.linger = this._timers.setTimeout(() => {
          rec.linger = null;
          if (!rec.subscribers.size) this._forget(rec);
        }, this._linger);
      }
      return;
    }
    this._forget(rec);
  }

  /**
   * Unsubscribe from a channel no one here watches any longer.
   * @param {ChannelRecord} rec
   */
  _forget(rec) {
    if (this._channels.get(rec.key) !== rec) return;
    this._channels.delete(rec.key);
    if (this._open) this._queue(createMessage("unsub", rec.name, null, { scope: rec.scope }));
  }

  // -- incoming --------------------------------------------------------------------------

  /** @param {ArrayBuffer | Uint8Array} data */
  _onFrame(data) {
    // A frame back on a new WebSocket is the round trip that proves it works.
    if (!this._up) this._confirmed();
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

  /** Hand one message from the hub to its channel's view (./apply.js). @param {Message} m */
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
    if (rec === undefined) return; // unsubscribed meanwhile, or no channel (a heartbeat)
    rec.apply(m, rec.emitter(this.log));
    if (m.kind === "append" && rec.info?.flow === "block") this._consumed(rec);
  }

  /**
   * On a `flow: "block"` channel the kernel waits for its slowest view: say what this view
   * has consumed (its handlers ran), every quarter window, and the rest once the messages
   * that arrived together are applied.
   * @param {ChannelRecord} rec
   */
  _consumed(rec) {
    const step = Math.max(1, Math.floor((rec.info?.window ?? 64) / 4));
    if (rec.nextOffset - rec.consumedSent >= step) this._sendConsumed(rec);
    else if (rec.consumedTimer === null) {
      rec.consumedTimer = this._timers.setTimeout(() => {
        rec.consumedTimer = null;
        this._sendConsumed(rec);
      }, 0);
    }
  }

  /** @param {ChannelRecord} rec */
  _sendConsumed(rec) {
    if (rec.nextOffset <= rec.consumedSent || !this._open || this._channels.get(rec.key) !== rec) return;
    rec.consumedSent = rec.nextOffset;
    this._queue(createMessage("consumed", rec.name, null, { scope: rec.scope, offset: rec.nextOffset }));
  }

  /**
   * Bring a subscriber that joined an existing subscription up to date from memory.
   * @param {ChannelRecord} rec
   * @param {Subscription} sub
   */
  _replayLocal(rec, sub) {
    if (sub.closed || sub.live) return;
    sub.live = true;
    rec.replayTo((name, ...args) => call(this.log, sub, name, ...args));
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

/** What the page knows of one channel (./apply.js), and the widgets subscribed to it. */
class ChannelRecord extends ChannelView {
  /**
   * @param {string} scope
   * @param {string} name
   * @param {number} bufferItems
   * @param {number} bufferBytes
   */
  constructor(scope, name, bufferItems, bufferBytes) {
    super(scope, name, { bufferItems, bufferBytes });
    this.key = channelKey(scope, name);
    /** @type {Set<Subscription>} */
    this.subscribers = new Set();
    /** The timer that unsubscribes once no one came back (see ClientOptions.lingerMs). @type {any} */
    this.linger = null;
    /** The timer that reports the rest of what a `flow: "block"` view consumed. @type {any} */
    this.consumedTimer = null;
  }

  /**
   * What the view emits, for every live subscriber.
   * @param {Logger} log
   * @returns {import("./apply.js").Emit}
   */
  emitter(log) {
    return (name, ...args) => this.emit(log, name, ...args);
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
  return createMessage("sub", rec.name, null, { scope: rec.scope, ...rec.resumeFrom() });
}

/** The streaming kind this browser can read: fetch with a readable body, else SSE. */
function streamKind() {
  const g = /** @type {any} */ (globalThis);
  if (typeof g.ReadableStream === "function" || typeof g.EventSource !== "function") return "stream";
  return "sse";
}

/**
 * @param {unknown} value
 * @param {Logger} log
 * @returns {TransportKind | null}
 */
function pickKind(value, log) {
  if (value == null || value === "") return null;
  if (TRANSPORT_KINDS.includes(/** @type {TransportKind} */ (value))) return /** @type {TransportKind} */ (value);
  log.warn(`nbchannel: unknown transport ${JSON.stringify(value)} (${TRANSPORT_KEY}); use one of ${TRANSPORT_KINDS.join(", ")}`);
  return null;
}

/**
 * The page's storage, or null where there is none or it is refused (sandboxed frames).
 * @param {"sessionStorage" | "localStorage"} name
 * @returns {KeyValueStore | null}
 */
function storage(name) {
  try {
    return /** @type {any} */ (globalThis)[name] ?? null;
  } catch {
    return null;
  }
}

/**
 * @param {KeyValueStore | null} store
 * @param {string} key
 */
function safeGet(store, key) {
  try {
    return store?.getItem(key) ?? null;
  } catch {
    return null;
  }
}

/**
 * @param {KeyValueStore | null} store
 * @param {string} key
 * @param {string} value
 */
function safeSet(store, key, value) {
  try {
    store?.setItem(key, value);
  } catch {
    // private mode or a full store: the choice is not remembered, nothing else changes
  }
}
