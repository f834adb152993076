// The hub's status page, {base_url}nbchannel/ (served by nbchannel/server/status.py, which
// embeds the configuration below in the page). It polls the JSON API
// (nbchannel/api/channels) once a second with the page's login cookie, and Jupyter's own
// api/kernels and api/sessions every few seconds to name the kernels, then updates the
// summary cards and the tables of channels and connections in place.
//
// Every figure is in the DOM twice: as text for people (1.2k, 3.4 MiB) and as the exact
// number in the cell's data-value attribute, next to data-field (the JSON API's field name).

import css from "./status.css";
import { RateTracker, formatBytes, formatCount, formatExact, formatRate } from "./status-format.js";

/**
 * The page's configuration (status.py).
 * @typedef {object} StatusConfig
 * @property {string} baseUrl
 * @property {string} apiUrl
 * @property {string} metricsUrl
 * @property {number} intervalMs
 * @property {string} version
 * @property {{owner: number, subscriber: number}} queueBounds
 */

/**
 * One channel as the JSON API reports it (nbchannel/core/hub.py, ChannelInfo).
 * @typedef {object} ChannelInfo
 * @property {string} scope
 * @property {string} name
 * @property {boolean} open
 * @property {number | null} epoch
 * @property {number} owners
 * @property {number} viewers
 * @property {number} state_keys
 * @property {number} state_bytes
 * @property {number} history_items
 * @property {number} history_bytes
 * @property {number} head
 * @property {number} tail
 * @property {number} messages_in
 * @property {number} bytes_in
 * @property {number} messages_out
 * @property {number} bytes_out
 * @property {number} dropped
 * @property {number} events
 * @property {number} rate_in
 * @property {number} rate_out
 */

/**
 * One connection (PeerInfo).
 * @typedef {object} PeerInfo
 * @property {number} id
 * @property {string} role "owner" (a kernel) or "subscriber" (a browser page)
 * @property {string} name
 * @property {string | null} scope
 * @property {number} channels
 * @property {number} queued_bytes
 * @property {number} peak_queued_bytes
 * @property {number} dropped
 */

/**
 * @typedef {object} ApiReply
 * @property {string} version
 * @property {ChannelInfo[]} channels
 * @property {PeerInfo[]} peers
 * @property {{address: string | null, refused: number}} kernel_listener
 */

/**
 * What the page shows in one table cell.
 * @typedef {object} Cell
 * @property {string} field the JSON API's field (data-field)
 * @property {string} text
 * @property {number} [value] the exact figure (data-value)
 * @property {string} [sub] a second, muted line
 * @property {string} [title] tooltip
 * @property {string} [cls] extra classes
 * @property {string} [pill] a badge after the text
 * @property {string} [pillCls]
 * @property {number} [bar] a fill bar, 0..1
 */

/** @typedef {{key: string, cls?: string, attrs?: Record<string, string>, cells: Cell[]}} Row */
/** @typedef {{name: string, path?: string, state?: string}} KernelName */

const CONFIG_ID = "nbchannel-status-config";
const ROOT_ID = "nbc-status";
const THEME_KEY = "nbchannel-status-theme";
const KERNELS_EVERY_MS = 5000;

/**
 * Create an element.
 * @param {string} tag
 * @param {Record<string, string>} [attrs]
 * @param {(Node | string)[]} [children]
 * @returns {HTMLElement}
 */
function h(tag, attrs = {}, children = []) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") el.className = v;
    else el.setAttribute(k, v);
  }
  el.append(...children);
  return el;
}

/**
 * Cells of one channel row.
 * @param {ChannelInfo} c
 * @param {number[] | null} byteRates [in, out] bytes per second, null until known
 * @param {Map<string, KernelName>} kernels
 * @returns {Cell[]}
 */
function channelCells(c, byteRates, kernels) {
  const k = kernels.get(c.scope);
  const kernelCell =
    c.scope === "server"
      ? { field: "scope", text: "shared", sub: "server scope", title: "Channels shared by every kernel" }
      : {
          field: "scope",
          text: k?.path ? basename(k.path) : (k?.name ?? "kernel"),
          sub: shortId(c.scope) + (k?.path ? ` · ${k.name}` : ""),
          title: `${k?.path ? `${k.path}\n` : ""}kernel ${c.scope}`,
          pill: k?.state,
          pillCls: k?.state === "busy" ? "busy" : k?.state === "idle" ? "ok" : "",
        };
  return [
    kernelCell,
    {
      field: "name",
      text: c.name,
      cls: "name-cell",
      title: `channel ${JSON.stringify(c.name)}${c.epoch != null ? `, epoch ${c.epoch}` : ""}; stream offsets ${c.tail}–${c.head}`,
      pill: c.open ? (c.owners ? "" : "no kernel") : "closed",
      pillCls: "warn",
    },
    count("viewers", c.viewers),
    rate("rate_in", c.rate_in, "gs"),
    byteRate("byte_rate_in", byteRates ? byteRates[0] : NaN),
    count("messages_in", c.messages_in),
    bytes("bytes_in", c.bytes_in),
    rate("rate_out", c.rate_out, "gs"),
    byteRate("byte_rate_out", byteRates ? byteRates[1] : NaN),
    count("messages_out", c.messages_out),
    bytes("bytes_out", c.bytes_out),
    { ...count("dropped", c.dropped, "gs"), cls: `num gs ${c.dropped ? "alert" : "zero"}` },
    count("events", c.events),
    {
      ...bytes("history_bytes", c.history_bytes, "gs"),
      sub: `${formatCount(c.history_items)} items`,
      title: `${formatExact(c.history_items)} items (offsets ${c.tail}–${c.head}), ${formatExact(c.history_bytes)} bytes`,
    },
    {
      ...bytes("state_bytes", c.state_bytes),
      sub: `${formatCount(c.state_keys)} keys`,
      title: `${formatExact(c.state_keys)} keys, ${formatExact(c.state_bytes)} bytes`,
    },
  ];
}

/**
 * Cells of one connection row.
 * @param {PeerInfo} p
 * @param {Map<string, KernelName>} kernels
 * @param {StatusConfig} cfg
 * @returns {Cell[]}
 */
function peerCells(p, kernels, cfg) {
  const kernel = p.role === "owner";
  const bound = kernel ? cfg.queueBounds.owner : cfg.queueBounds.subscriber;
  const fill = bound > 0 ? Math.min(1, p.queued_bytes / bound) : 0;
  const k = p.scope ? kernels.get(p.scope) : undefined;
  return [
    { field: "id", text: String(p.id), value: p.id, cls: "num zero" },
    {
      field: "role",
      text: "",
      pill: kernel ? "kernel" : "viewer",
      pillCls: kernel ? "accent" : "ok",
      title: kernel ? "a kernel process (owner of its channels)" : "a browser page (subscriber)",
    },
    { field: "name", text: p.name, cls: "mono" },
    p.scope
      ? {
          field: "scope",
          text: k?.path ? basename(k.path) : shortId(p.scope),
          sub: k?.path ? shortId(p.scope) : "",
          title: p.scope,
        }
      : { field: "scope", text: "—", cls: "zero" },
    count("channels", p.channels),
    {
      field: "queued_bytes",
      value: p.queued_bytes,
      text: `${formatBytes(p.queued_bytes)} / ${formatBytes(bound)}`,
      title: `${formatExact(p.queued_bytes)} bytes queued; the bound is ${formatExact(bound)}`,
      bar: fill,
      cls: "num gs",
    },
    bytes("peak_queued_bytes", p.peak_queued_bytes),
    { ...count("dropped", p.dropped), cls: `num ${p.dropped ? "alert" : "zero"}` },
  ];
}

/**
 * @param {string} field
 * @param {number} n
 * @param {string} [extra]
 * @returns {Cell}
 */
function count(field, n, extra = "") {
  return { field, value: n, text: formatCount(n), title: formatExact(n), cls: `num ${extra}` };
}

/**
 * @param {string} field
 * @param {number} n
 * @param {string} [extra]
 * @returns {Cell}
 */
function bytes(field, n, extra = "") {
  return {
    field,
    value: n,
    text: formatBytes(n),
    title: `${formatExact(n)} bytes`,
    cls: `num ${extra}`,
  };
}

/**
 * @param {string} field
 * @param {number} r
 * @param {string} [extra]
 * @returns {Cell}
 */
function rate(field, r, extra = "") {
  return {
    field,
    value: r,
    text: formatRate(r),
    title: `${r.toFixed(2)} messages/s, mean of the last 9 seconds`,
    cls: `num ${extra} ${r ? "" : "zero"}`,
  };
}

/**
 * @param {string} field
 * @param {number} r
 * @returns {Cell}
 */
function byteRate(field, r) {
  if (!Number.isFinite(r)) return { field, text: "…", title: "measuring", cls: "num zero" };
  return {
    field,
    value: Math.round(r),
    text: `${formatBytes(r)}/s`,
    title: `${formatExact(r)} bytes/s over the last ~10 seconds`,
    cls: `num ${r ? "" : "zero"}`,
  };
}

/** @param {string} id */
function shortId(id) {
  return id.length > 13 ? `${id.slice(0, 8)}…` : id;
}

/** @param {string} path */
function basename(path) {
  return path.split("/").pop() || path;
}

/** Cell contents last drawn, to touch the DOM only where something changed. */
/** @type {WeakMap<Element, string>} */
const drawn = new WeakMap();

/**
 * Draw `cell` into `td` unless it already shows it.
 * @param {HTMLTableCellElement} td
 * @param {Cell} cell
 */
function drawCell(td, cell) {
  const sig = JSON.stringify(cell);
  if (drawn.get(td) === sig) return;
  drawn.set(td, sig);
  td.className = cell.cls ?? "";
  td.dataset.field = cell.field;
  if (cell.value !== undefined) td.dataset.value = String(cell.value);
  else delete td.dataset.value;
  if (cell.title) td.title = cell.title;
  else td.removeAttribute("title");
  /** @type {(Node | string)[]} */
  const parts = [];
  if (cell.text) parts.push(h("span", { class: "text" }, [cell.text]));
  if (cell.pill) parts.push(h("span", { class: `pill ${cell.pillCls ?? ""}` }, [cell.pill]));
  if (cell.sub) parts.push(h("span", { class: "sub" }, [cell.sub]));
  if (cell.bar !== undefined) {
    const bar = h("span", { class: `bar ${cell.bar > 0.75 ? "high" : ""}` }, [
      h("i", { style: `width: ${(cell.bar * 100).toFixed(1)}%` }),
    ]);
    parts.push(bar);
  }
  td.replaceChildren(...parts);
}

/**
 * Make `tbody` show `rows` in order, reusing the rows it has by key.
 * @param {HTMLTableSectionElement} tbody
 * @param {Row[]} rows
 * @param {number} columns
 * @param {string} empty what to say when there are no rows
 */
function syncRows(tbody, rows, columns, empty) {
  if (rows.length === 0) {
    if (!tbody.querySelector("td.empty")) {
      tbody.replaceChildren(h("tr", {}, [h("td", { class: "empty", colspan: String(columns) }, [empty])]));
    }
    return;
  }
  /** @type {Map<string, HTMLTableRowElement>} */
  const existing = new Map();
  for (const tr of Array.from(tbody.rows)) {
    if (tr.dataset.key !== undefined) existing.set(tr.dataset.key, tr);
    else tr.remove();
  }
  let at = 0;
  for (const row of rows) {
    let tr = existing.get(row.key);
    existing.delete(row.key);
    if (tr === undefined) {
      tr = document.createElement("tr");
      tr.dataset.key = row.key;
    }
    tr.className = row.cls ?? "";
    for (const [k, v] of Object.entries(row.attrs ?? {})) tr.setAttribute(k, v);
    while (tr.cells.length < row.cells.length) tr.insertCell();
    row.cells.forEach((cell, i) => drawCell(/** @type {HTMLTableCellElement} */ (tr.cells[i]), cell));
    if (tbody.rows[at] !== tr) tbody.insertBefore(tr, tbody.rows[at] ?? null);
    at += 1;
  }
  for (const tr of existing.values()) tr.remove();
}

/**
 * A summary card.
 * @param {string} field
 * @param {string} label
 * @returns {{el: HTMLElement, set: (value: number, text: string, unit?: string, sub?: string, level?: string) => void}}
 */
function card(field, label) {
  const value = h("div", { class: "value" });
  const sub = h("div", { class: "sub" });
  const el = h("div", { class: "nbc-status-card", "data-field": field }, [
    h("div", { class: "label" }, [label]),
    value,
    sub,
  ]);
  return {
    el,
    set(v, text, unit = "", subText = "", level = "") {
      el.dataset.value = String(v);
      el.className = `nbc-status-card ${level}`;
      value.replaceChildren(text, ...(unit ? [h("span", { class: "unit" }, [unit])] : []));
      sub.textContent = subText || "\u00a0";
    },
  };
}

/**
 * Build a table with a header.
 * @param {string} id
 * @param {(string | [string, string])[]} heads column titles, or [title, classes]
 * @param {[string, number, string][]} [groups] a row of group titles above: [title, colspan, classes]
 * @returns {{wrap: HTMLElement, tbody: HTMLTableSectionElement, columns: number}}
 */
function table(id, heads, groups) {
  const thead = h("thead");
  if (groups) {
    thead.append(h("tr", { class: "group" }, groups.map(([t, span, cls]) => h("th", { colspan: String(span), class: cls }, [t]))));
  }
  thead.append(
    h(
      "tr",
      {},
      heads.map((x) => (Array.isArray(x) ? h("th", { class: x[1] }, [x[0]]) : h("th", {}, [x]))),
    ),
  );
  const tbody = /** @type {HTMLTableSectionElement} */ (h("tbody"));
  const t = h("table", { id }, [thead, tbody]);
  return { wrap: h("div", { class: "nbc-status-tablewrap" }, [t]), tbody, columns: heads.length };
}

/**
 * The theme toggle: Auto (the system's), Light, Dark; remembered in localStorage.
 * @returns {HTMLElement}
 */
function themeToggle() {
  const root = document.documentElement;
  /** @param {string} theme */
  const apply = (theme) => {
    if (theme === "light" || theme === "dark") root.dataset.theme = theme;
    else delete root.dataset.theme;
    for (const b of Array.from(box.querySelectorAll("button"))) {
      b.setAttribute("aria-pressed", String(b.dataset.theme === (root.dataset.theme ?? "auto")));
    }
  };
  const box = h("div", { class: "nbc-status-theme", role: "group", "aria-label": "Theme" });
  for (const [theme, label] of [
    ["auto", "Auto"],
    ["light", "Light"],
    ["dark", "Dark"],
  ]) {
    const b = h("button", { type: "button", "data-theme": theme, title: `${label} theme` }, [label]);
    b.addEventListener("click", () => {
      try {
        localStorage.setItem(THEME_KEY, theme);
      } catch {
        // storage may be off; the choice then lasts for this page only
      }
      apply(theme);
    });
    box.append(b);
  }
  let saved = "auto";
  try {
    saved = localStorage.getItem(THEME_KEY) ?? "auto";
  } catch {
    // no storage: follow the system
  }
  apply(saved);
  return box;
}

/**
 * Read the configuration the server embedded in the page.
 * @returns {StatusConfig}
 */
function readConfig() {
  const el = document.getElementById(CONFIG_ID);
  if (!el || !el.textContent) throw new Error(`nbchannel status: no #${CONFIG_ID} in the page`);
  return JSON.parse(el.textContent);
}

/**
 * Mount the page into #nbc-status and start polling; returns a function that stops it.
 * @param {StatusConfig} cfg
 * @returns {() => void}
 */
export function start(cfg) {
  const root = /** @type {HTMLElement} */ (document.getElementById(ROOT_ID));
  document.head.append(h("style", {}, [css]));

  const live = h("span", { class: "nbc-status-live", "data-state": "connecting" }, [
    h("span", { class: "dot" }),
    h("span", { class: "state" }, ["connecting"]),
    h("span", { class: "when" }),
  ]);
  const liveState = /** @type {HTMLElement} */ (live.querySelector(".state"));
  const liveWhen = /** @type {HTMLElement} */ (live.querySelector(".when"));
  const address = h("code", {}, ["…"]);
  const banner = h("div", { class: "nbc-status-banner", role: "alert" });
  banner.hidden = true;

  const cards = {
    channels: card("channels", "Channels"),
    kernels: card("kernels", "Kernels"),
    viewers: card("viewers", "Viewers"),
    in: card("rate_in", "In"),
    out: card("rate_out", "Out"),
    dropped: card("dropped", "Dropped"),
    queued: card("queued_bytes", "Queued"),
    refused: card("refused", "Refused"),
  };

  const channels = table(
    "nbc-channels",
    [
      "Kernel",
      "Channel",
      ["Viewers", "num"],
      ["msg/s", "num gs"],
      ["bytes/s", "num"],
      ["messages", "num"],
      ["bytes", "num"],
      ["msg/s", "num gs"],
      ["bytes/s", "num"],
      ["messages", "num"],
      ["bytes", "num"],
      ["Dropped", "num gs"],
      ["Events", "num"],
      ["history", "num gs"],
      ["state", "num"],
    ],
    [
      ["", 3, ""],
      ["In · from the kernel", 4, "g gs"],
      ["Out · to viewers", 4, "g gs"],
      ["", 2, "gs"],
      ["Retained", 2, "g gs"],
    ],
  );
  const peers = table("nbc-peers", [
    ["#", "num"],
    "Role",
    "Name",
    "Kernel",
    ["Channels", "num"],
    ["Queued / bound", "num gs"],
    ["Peak queued", "num"],
    ["Dropped", "num"],
  ]);
  const channelCount = h("span", { class: "count" });
  const peerCount = h("span", { class: "count" });

  root.replaceChildren(
    h("header", { class: "nbc-status-header" }, [
      h("h1", {}, ["nbchannel", h("span", { class: "sub" }, ["hub status"])]),
      h("span", { class: "nbc-status-spacer" }),
      live,
      themeToggle(),
    ]),
    h("div", { class: "nbc-status-meta" }, [
      `version ${cfg.version}`,
      h("span", { class: "sep" }, ["·"]),
      "kernels connect at ",
      address,
      h("span", { class: "sep" }, ["·"]),
      h("a", { href: cfg.apiUrl }, ["JSON API"]),
      h("span", { class: "sep" }, ["·"]),
      h("a", { href: cfg.metricsUrl }, ["Prometheus metrics"]),
    ]),
    banner,
    h("section", { class: "nbc-status-cards" }, Object.values(cards).map((c) => c.el)),
    h("section", { class: "nbc-status-section" }, [
      h("h2", {}, [
        "Channels",
        channelCount,
        h("span", { class: "note" }, ["rates: mean of the last ~10 s · hover a figure for the exact value"]),
      ]),
      channels.wrap,
    ]),
    h("section", { class: "nbc-status-section" }, [
      h("h2", {}, ["Connections", peerCount]),
      peers.wrap,
    ]),
    h("footer", { class: "nbc-status-footer" }, [
      `Updated every ${(cfg.intervalMs / 1000).toFixed(cfg.intervalMs % 1000 ? 1 : 0)} s from `,
      h("code", {}, [cfg.apiUrl]),
      ".",
    ]),
  );

  const rates = new RateTracker();
  /** @type {Map<string, KernelName>} */
  let kernels = new Map();
  let kernelsAt = -Infinity;
  let updates = 0;
  let stopped = false;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;

  /** @param {ApiReply} data */
  const render = (data) => {
    const now = performance.now();
    const keep = new Set();
    const byName = (/** @type {ChannelInfo} */ a, /** @type {ChannelInfo} */ b) =>
      a.scope === b.scope ? (a.name < b.name ? -1 : 1) : a.scope < b.scope ? -1 : 1;
    const chans = data.channels.slice().sort(byName);
    let bytesIn = 0;
    let bytesOut = 0;
    let bytesKnown = true;
    const rows = chans.map((c) => {
      const key = `${c.scope}\u0000${c.name}`;
      keep.add(key);
      const br = rates.update(key, now, [c.bytes_in, c.bytes_out]);
      if (br) {
        bytesIn += br[0];
        bytesOut += br[1];
      } else bytesKnown = false;
      return {
        key,
        cls: c.open ? "" : "closed",
        attrs: { "data-scope": c.scope, "data-name": c.name },
        cells: channelCells(c, br, kernels),
      };
    });
    rates.retain(keep);
    syncRows(
      channels.tbody,
      rows,
      channels.columns,
      "No channels yet. A kernel opens one with LiveChannel(\"name\") or a live widget.",
    );
    const peerRows = data.peers
      .slice()
      .sort((a, b) => (a.role === b.role ? a.id - b.id : a.role === "owner" ? -1 : 1))
      .map((p) => ({ key: String(p.id), attrs: { "data-role": p.role }, cells: peerCells(p, kernels, cfg) }));
    syncRows(peers.tbody, peerRows, peers.columns, "No connections.");

    const open = chans.filter((c) => c.open).length;
    const owners = data.peers.filter((p) => p.role === "owner");
    const viewers = data.peers.filter((p) => p.role !== "owner");
    const rateIn = chans.reduce((s, c) => s + c.rate_in, 0);
    const rateOut = chans.reduce((s, c) => s + c.rate_out, 0);
    const dropped = chans.reduce((s, c) => s + c.dropped, 0);
    const queued = viewers.reduce((s, p) => s + p.queued_bytes, 0);
    const fullest = viewers.reduce((m, p) => Math.max(m, p.queued_bytes), 0);
    const refused = data.kernel_listener.refused;
    const bound = cfg.queueBounds.subscriber;
    cards.channels.set(chans.length, formatCount(chans.length), "", `${formatCount(open)} open`);
    cards.kernels.set(owners.length, formatCount(owners.length), "", "connected");
    cards.viewers.set(
      viewers.length,
      formatCount(viewers.length),
      "",
      `${formatCount(chans.reduce((s, c) => s + c.viewers, 0))} subscriptions`,
    );
    cards.in.set(rateIn, formatRate(rateIn), "msg/s", bytesKnown ? `${formatBytes(bytesIn)}/s` : "measuring…");
    cards.out.set(rateOut, formatRate(rateOut), "msg/s", bytesKnown ? `${formatBytes(bytesOut)}/s` : "measuring…");
    cards.dropped.set(dropped, formatCount(dropped), "", "items, full queues", dropped ? "warn" : "");
    cards.queued.set(
      queued,
      formatBytes(queued),
      "",
      viewers.length ? `fullest ${((fullest / bound) * 100).toFixed(0)}% of ${formatBytes(bound)}` : "no viewers",
      bound && fullest > 0.75 * bound ? "warn" : "",
    );
    cards.refused.set(refused, formatCount(refused), "", "kernel connections", refused ? "bad" : "");
    channelCount.textContent = String(chans.length);
    peerCount.textContent = String(data.peers.length);
    address.textContent = data.kernel_listener.address ?? "(not listening)";
  };

  /** @param {unknown} err */
  const showError = (err) => {
    live.dataset.state = "error";
    liveState.textContent = "offline";
    const status = err instanceof HttpError ? err.status : 0;
    banner.hidden = false;
    if (status === 401 || status === 403) {
      const login = `${cfg.baseUrl}login?next=${encodeURIComponent(location.pathname)}`;
      banner.replaceChildren(
        `Not allowed to read the hub's status (HTTP ${status}): your Jupyter login may have expired. `,
        h("a", { href: login }, ["Log in again"]),
        ".",
      );
    } else {
      banner.textContent = `Cannot reach the hub (${status ? `HTTP ${status}` : String(err)}); retrying every ${cfg.intervalMs / 1000} s.`;
    }
  };

  const refreshKernels = async () => {
    kernelsAt = performance.now();
    try {
      const [ks, ss] = await Promise.all([getJson(`${cfg.baseUrl}api/kernels`), getJson(`${cfg.baseUrl}api/sessions`)]);
      /** @type {Map<string, KernelName>} */
      const next = new Map();
      for (const k of /** @type {any[]} */ (ks)) next.set(k.id, { name: k.name, state: k.execution_state });
      for (const s of /** @type {any[]} */ (ss)) {
        const k = s.kernel && next.get(s.kernel.id);
        if (k && s.path) k.path = s.path;
      }
      kernels = next;
    } catch {
      // names are a nicety: the authorizer may not let this user list kernels
    }
  };

  const poll = async () => {
    if (stopped) return;
    if (!document.hidden) {
      if (performance.now() - kernelsAt > KERNELS_EVERY_MS) await refreshKernels();
      try {
        const data = /** @type {ApiReply} */ (await getJson(cfg.apiUrl));
        render(data);
        updates += 1;
        root.dataset.updates = String(updates);
        live.dataset.state = "live";
        liveState.textContent = "live";
        liveWhen.textContent = `· updated ${new Date().toLocaleTimeString("en-GB")}`;
        banner.hidden = true;
      } catch (err) {
        showError(err);
      }
    }
    if (!stopped) timer = setTimeout(poll, cfg.intervalMs);
  };
  poll();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

class HttpError extends Error {
  /** @param {number} status */
  constructor(status) {
    super(`HTTP ${status}`);
    this.status = status;
  }
}

/**
 * GET a JSON document with the page's cookies (same origin).
 * @param {string} url
 * @returns {Promise<unknown>}
 */
async function getJson(url) {
  const res = await fetch(url, {
    credentials: "same-origin",
    cache: "no-store",
    headers: { Accept: "application/json" },
  });
  if (!res.ok) throw new HttpError(res.status);
  return res.json();
}

if (typeof document !== "undefined" && document.getElementById(CONFIG_ID)) {
  start(readConfig());
}
