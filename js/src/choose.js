// Which client serves a widget's view: the page's shared ChannelClient (the server's hub)
// or a client of its own over the widget's comm (the kernel serves the view itself).
//
// The kernel says what it offers in the model's `_transport` trait:
//   "hub"       only the server's hub
//   "comm"      only the comm (no hub: VS Code, Colab, standalone Voilà, no extension)
//   "hub+comm"  both: the hub where the page reaches it, else the comm (VS Code attached
//               to a remote server, whose webview has no Jupyter page config)
// For "hub+comm" the page's client decides: no page config, or api/info answering 404,
// means no hub here (ChannelClient.hubAbsent), and the view moves to the comm at once.
//
// A hub-wide channel (`_scope` "hub": LiveChannel(name, scope="hub")) is served by the
// relay (python -m nbchannel.relay), not by the page's server. The page's server names
// the relay in its api/info (`relay`: "/services/nbchannel/" under JupyterHub, on the
// page's origin); the page opens one more client, to `{relay}ws`, shared by every
// hub-wide view of the page. Its first request, `GET {relay}api/info`, logs the browser
// in to the relay through JupyterHub's OAuth (redirects that set the relay's cookie) and
// says whether this user may watch; a user who may not gets the reason in every view.

import { ChannelClient, getClient } from "./client.js";
import { CommTransport } from "./transports/comm.js";

/**
 * @typedef {import("./transports/comm.js").CommModel} CommModel
 * @typedef {CommModel & {get: (name: string) => any}} ChoosingModel
 * @typedef {{client: ChannelClient, via: "hub" | "comm" | "relay", release: () => void}} Lease
 * @typedef {import("./client.js").ServerInfo} ServerInfo
 * @typedef {import("./client.js").Target} Target
 */

/**
 * @typedef {{client: ChannelClient, views: number, timer: any}} CommEntry
 */

/**
 * Page-wide tables, on globalThis: anywidget may import this bundle more than once in a
 * page (a module instance per model, or per render), and they must all see the same.
 * @param {string} name
 * @returns {Map<any, any>}
 */
function pageTable(name) {
  const g = /** @type {Record<string, any>} */ (globalThis);
  const key = `__nbchannel_${name}_v1__`;
  return (g[key] ??= new Map());
}

/** Comm clients by widget (`_uid`): every view of one widget in this page shares one. */
/** @type {Map<unknown, CommEntry>} */
const COMM_CLIENTS = pageTable("comm_clients");
/**
 * The model wrapper anywidget handed `initialize` for each widget (`_uid`). anywidget
 * gives every view its own wrapper and removes the listeners added through it when the
 * view goes; listeners added through this one last as long as the model.
 * @type {Map<string, CommModel>}
 */
const MODELS = pageTable("comm_models");

/**
 * How long a widget's comm client outlives its last view (ms). Front ends re-create a
 * widget's view when its output is updated (nbchannel refreshes an output's static
 * snapshot when a cell ends): the new view then gets the state and the stream from the
 * client's memory, instead of only what the kernel's history still holds.
 */
export const LINGER_MS = 10_000;

/**
 * The relay client of each page client (the page's server names one relay), on globalThis.
 * @type {Map<ChannelClient, ChannelClient>}
 */
const RELAYS = pageTable("relay_clients");

/** The scope of hub-wide channels on the wire (nbchannel/relay/wire.py HUB_SCOPE). */
export const HUB_SCOPE = "hub";

/** @param {ChoosingModel} model */
function uidOf(model) {
  const uid = model.get("_uid");
  return typeof uid === "string" && uid ? uid : null;
}

/**
 * anywidget's `initialize({model})`: remember the model's lasting wrapper; the returned
 * cleanup (the model is gone) closes its comm client.
 * @param {ChoosingModel} model
 * @returns {() => void}
 */
export function adoptModel(model) {
  const uid = uidOf(model);
  if (uid === null) return () => {};
  MODELS.set(uid, model);
  return () => {
    if (MODELS.get(uid) === model) MODELS.delete(uid);
    const entry = COMM_CLIENTS.get(uid);
    if (entry !== undefined) {
      COMM_CLIENTS.delete(uid);
      entry.client.close();
    }
  };
}

/**
 * Where this model's views should get their data now.
 * @param {ChoosingModel} model
 * @param {() => ChannelClient} [page] the page's client (default: getClient)
 * @returns {"hub" | "comm"}
 */
export function transportFor(model, page = getClient) {
  const offered = String(model.get("_transport") ?? "");
  if (offered === "comm") return "comm";
  if (offered === "hub+comm") return page().hubAbsent ? "comm" : "hub";
  return "hub";
}

/**
 * A client for one view of `model`; `release()` when the view goes (the last view of a
 * widget over the comm says goodbye to the kernel, a while later: see LINGER_MS).
 * @param {ChoosingModel} model
 * @param {{page?: () => ChannelClient, makeComm?: (model: CommModel) => ChannelClient, makeRelay?: (target: Promise<Target>) => ChannelClient, location?: Location, linger?: number, timers?: {setTimeout: (fn: () => void, ms: number) => any, clearTimeout: (id: any) => void}}} [options]
 * @returns {Lease}
 */
export function leaseClient(model, options = {}) {
  const page = options.page ?? getClient;
  if (String(model.get("_scope") ?? "") === HUB_SCOPE) {
    return { client: relayClient(page(), options), via: "relay", release() {} };
  }
  if (transportFor(model, page) === "hub") return { client: page(), via: "hub", release() {} };
  const timers = options.timers ?? globalThis;
  const uid = uidOf(model);
  const lasting = uid === null ? undefined : MODELS.get(uid);
  /** @type {unknown} */
  const key = uid ?? model;
  let entry = COMM_CLIENTS.get(key);
  if (entry === undefined) {
    const client = (options.makeComm ?? commClient)(lasting ?? model);
    entry = { client, views: 0, timer: null };
    COMM_CLIENTS.set(key, entry);
  }
  if (entry.timer !== null) timers.clearTimeout(entry.timer);
  entry.timer = null;
  entry.views += 1;
  const held = entry;
  const close = () => {
    held.timer = null;
    if (held.views > 0) return;
    if (COMM_CLIENTS.get(key) === held) COMM_CLIENTS.delete(key);
    held.client.close();
  };
  let released = false;
  return {
    client: held.client,
    via: "comm",
    release() {
      if (released) return;
      released = true;
      held.views -= 1;
      if (held.views > 0) return;
      // Without the lasting wrapper the client hears nothing once its view is gone.
      if (lasting === undefined) close();
      else held.timer = timers.setTimeout(close, options.linger ?? LINGER_MS);
    },
  };
}

/**
 * A ChannelClient whose only transport is `model`'s comm.
 * @param {CommModel} model
 * @returns {ChannelClient}
 */
export function commClient(model) {
  const client = new ChannelClient({
    config: null,
    url: "comm:",
    httpUrl: null,
    fetch: null,
    sessionStorage: null,
    localStorage: null,
    transport: "comm",
    transports: { comm: () => new CommTransport(model) },
  });
  client.connect();
  return client;
}

/** @typedef {{protocol: string, host: string}} Location */

/**
 * The page's client of the relay that `page`'s server names (created on first use).
 * @param {ChannelClient} page
 * @param {{makeRelay?: (target: Promise<Target>) => ChannelClient, location?: Location}} [options]
 * @returns {ChannelClient}
 */
export function relayClient(page, options = {}) {
  let client = RELAYS.get(page);
  if (client === undefined) {
    const location = options.location ?? globalThis.location;
    const target = page.whenInfo().then((info) => relayTarget(info, location));
    client = (options.makeRelay ?? makeRelayClient)(target);
    RELAYS.set(page, client);
  }
  return client;
}

/**
 * Where the relay is, from the page server's info (`relay`: a path on the page's origin,
 * or an absolute URL), or why it is not known.
 * @param {ServerInfo | null} info
 * @param {Location | undefined} location
 * @returns {Target}
 */
export function relayTarget(info, location) {
  if (info === null) {
    return { reason: "hub-wide channels need nbchannel's server extension, which is not reachable from this page (it names the relay)" };
  }
  const relay = typeof info.relay === "string" ? info.relay.trim() : "";
  if (!relay) {
    return {
      reason: "this Jupyter server names no relay for hub-wide channels: set NBCHANNEL_RELAY_URL in the single-user servers' environment (c.Spawner.environment) and restart them",
    };
  }
  let base = relay.endsWith("/") ? relay : relay + "/";
  /** @type {string} */
  let origin;
  if (/^(https?|wss?):\/\//i.test(base)) {
    const u = new URL(base);
    const secure = u.protocol === "https:" || u.protocol === "wss:";
    origin = `${secure ? "https:" : "http:"}//${u.host}`;
    base = u.pathname.endsWith("/") ? u.pathname : u.pathname + "/";
  } else if (location && location.host) {
    origin = `${location.protocol === "https:" ? "https:" : "http:"}//${location.host}`;
    if (!base.startsWith("/")) base = "/" + base;
  } else {
    return { reason: `no page location to reach the relay at ${relay}` };
  }
  return { url: `${origin.replace(/^http/, "ws")}${base}ws`, infoUrl: `${origin}${base}api/info` };
}

/**
 * A client of the relay at `target` (WebSocket only: the relay serves no HTTP fallback).
 * The relay is on the page's origin (JupyterHub's proxy serves both): its info request is
 * a same-origin "no-cors" GET, on which JupyterHub takes the relay's cookie without an
 * XSRF token, and whose OAuth redirects the page follows.
 * @param {Promise<Target>} target
 * @param {import("./client.js").ClientOptions} [extra] more options (tests: fetch, transportFactory)
 * @returns {ChannelClient}
 */
export function makeRelayClient(target, extra = {}) {
  const client = new ChannelClient({
    config: null,
    url: null,
    httpUrl: null,
    target,
    infoInit: { headers: {}, mode: "no-cors" },
    transport: "websocket",
    sessionStorage: null,
    localStorage: null,
    ...extra,
  });
  client.connect();
  return client;
}
