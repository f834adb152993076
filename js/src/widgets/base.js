// What every view shares: the view context, the widget frame (title, status badge, notes),
// the subscription wrapper that drives the badge, and the small schedulers and observers
// (animation frames, resize, theme) that are all tied to the view's AbortSignal, so a
// view's cleanup is one `abort()`.

import { pageAnnouncer } from "./announce.js";
import baseCss from "./base.css";

/**
 * The part of ChannelClient (../client.js) the views use; structural, so the views do not
 * depend on the client's internals.
 * @typedef {object} ViewClient
 * @property {string} status "connecting" | "connected" | "reconnecting" | "unavailable"
 * @property {(cb: (status: string, detail?: unknown) => void) => () => void} onStatus
 * @property {(scope: string, name: string, handlers: SubscriptionHandlers) => ViewSubscription} subscribe
 * @property {string | null} [transport] the transport in use ("websocket", …, "comm")
 * @property {boolean | null} [eventsLive] over the comm: whether events reach a running cell
 */

/**
 * @typedef {object} ViewSubscription
 * @property {Map<string, unknown>} state the channel's current retained state
 * @property {(event: string, value?: unknown) => unknown} send an event to the kernel
 * @property {() => void} close unsubscribe
 */

/**
 * Callbacks of `client.subscribe` (js/README.md); every one is optional.
 * @typedef {object} SubscriptionHandlers
 * @property {(info?: any) => void} [onReset] new epoch or first subscribe: drop everything shown
 * @property {(key: string, value: any) => void} [onState]
 * @property {(key: string) => void} [onUnset]
 * @property {(value: any, offset?: number) => void} [onAppend]
 * @property {(value: any) => void} [onPublish]
 * @property {(info: GapInfo) => void} [onGap]
 * @property {() => void} [onClosed]
 * @property {(err: {code?: string, message?: string}) => void} [onError]
 */

/**
 * @typedef {object} GapInfo
 * @property {string} [kind] kind of the missing messages ("append", "publish", …)
 * @property {number} [count] how many
 * @property {string} [reason] "history" (older than the hub keeps) or "dropped" (queue full)
 * @property {number} [offset]
 * @property {number} [end]
 */

/**
 * The anywidget model, as far as the views use it.
 * @typedef {object} AnyModel
 * @property {(name: string) => any} get
 * @property {(name: string, cb: (...args: any[]) => void) => void} on
 * @property {(name?: string | null, cb?: ((...args: any[]) => void) | null) => void} off
 */

/**
 * What index.js hands every view's `render`.
 * @typedef {object} ViewContext
 * @property {HTMLElement} el the element anywidget gave us; the view appends its root to it
 * @property {AnyModel} model
 * @property {ViewClient} client
 * @property {string} scope kernel id, or "server"
 * @property {string} channel channel name
 * @property {Record<string, any>} config the widget's `_config`
 * @property {AbortSignal} signal aborted when the view is removed
 */

/** @typedef {(ctx: ViewContext) => () => void} RenderView */

/** Badge states, in the words the user sees. */
export const STATUS_TEXT = {
  connecting: "connecting",
  live: "live",
  reconnecting: "reconnecting",
  unavailable: "unavailable",
  waiting: "waiting for the kernel",
  closed: "kernel stopped",
};

/** The badge's words while live over the widget's comm (the kernel serves the view). */
export const VIA_KERNEL = "live · via the kernel";
export const EVENTS_AFTER_CELL = "events after the cell ends";

/** @type {Record<string, string>} */
const STATUS_HELP = {
  connecting: "Connecting to the nbchannel hub…",
  live: "Live: receiving updates from the kernel through the nbchannel hub.",
  reconnecting: "The connection to the Jupyter server was lost; reconnecting…",
  unavailable: "The nbchannel server extension is not reachable from this page.",
  waiting:
    "No kernel has this channel open yet: the view fills in as soon as the kernel opens it. If the kernel that made this output has stopped, re-run the cell.",
  closed:
    "The kernel closed this channel (it stopped or restarted, or the widget was closed); the last content stays. Re-run the cell to reconnect.",
};

const HELP_COMM =
  "Live: no nbchannel server is reachable from this page, so the kernel serves this view itself over the widget's comm (paced to stay under Jupyter's message-rate limits).";
const HELP_COMM_LATE = `${HELP_COMM} This front end delivers widget messages to the kernel only between cells: clicks and changes reach Python when the running cell ends.`;

/**
 * Inject a stylesheet into document.head once per page.
 * @param {string} name
 * @param {string} css
 */
export function injectStyle(name, css) {
  if (typeof document === "undefined") return;
  if (document.head.querySelector(`style[data-nbchannel="${name}"]`)) return;
  const style = document.createElement("style");
  style.dataset.nbchannel = name;
  style.textContent = css;
  document.head.append(style);
}

/**
 * Create an element with classes, attributes and children (text children become text nodes;
 * nothing is ever parsed as HTML).
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, string | number | boolean | null | undefined>} [attrs] `class` sets className
 * @param {...(Node | string | null | undefined | false)} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === "class") el.className = String(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) {
    if (c == null || c === false) continue;
    el.append(c);
  }
  return el;
}

/**
 * Short text for an error-ish value (Error, {message}, string, anything).
 * @param {unknown} detail
 * @returns {string}
 */
export function describe(detail) {
  if (detail == null) return "";
  if (typeof detail === "string") return detail;
  if (detail instanceof Error) return detail.message || String(detail);
  if (typeof detail === "object") {
    const d = /** @type {{message?: unknown, code?: unknown, reason?: unknown}} */ (detail);
    const msg = d.message ?? d.reason;
    if (msg != null) return d.code != null ? `${d.code}: ${msg}` : String(msg);
    try {
      return JSON.stringify(detail);
    } catch {
      return String(detail);
    }
  }
  return String(detail);
}

/**
 * Words for the client's status detail ({url, attempt, delay, code, reason} or anything).
 * @param {unknown} detail
 * @returns {string}
 */
function statusDetail(detail) {
  if (detail == null || typeof detail !== "object" || detail instanceof Error) return describe(detail);
  const d = /** @type {Record<string, unknown>} */ (detail);
  const parts = [];
  if (d.reason) parts.push(String(d.reason));
  if (typeof d.code === "number" && d.code !== 1000) parts.push(`close code ${d.code}`);
  if (typeof d.attempt === "number" && d.attempt > 0) parts.push(`attempt ${d.attempt}`);
  if (typeof d.delay === "number") parts.push(`next try in ${(d.delay / 1000).toFixed(1)} s`);
  if (d.message) parts.push(String(d.message));
  if (typeof d.url === "string" && d.url) parts.push(d.url);
  if (typeof d.transport === "string") parts.unshift(`over ${{ websocket: "the WebSocket", stream: "the HTTP stream", sse: "server-sent events", poll: "long-polling" }[d.transport] ?? d.transport}`);
  return parts.join(" · ");
}

/**
 * The status badge: the client's connection status combined with the channel's own
 * (closed by the kernel). Mirrors its state on the widget root as `data-status`.
 *
 * The badge is plain text, not a live region: a change of the page's connection is spoken
 * once for the whole page by the shared live region of ./announce.js, which every badge
 * registers its client with.
 */
export class StatusBadge {
  /**
   * @param {HTMLElement} root the widget root (gets `data-status`)
   * @param {ViewClient} client
   * @param {AbortSignal} signal
   * @param {{compact?: boolean}} [options] compact: a dot only, the word in the tooltip
   */
  constructor(root, client, signal, { compact = false } = {}) {
    this.root = root;
    this.client = client;
    this.el = h("span", { class: compact ? "nbc-badge nbc-badge-compact" : "nbc-badge" });
    this.label = h("span", { class: "nbc-badge-text" });
    this.el.append(this.label);
    /** @type {string} */
    this.clientStatus = client.status ?? "connecting";
    /** @type {string} */
    this.detail = "";
    this.closed = false;
    /** the hub knows the channel but no kernel has opened it (yet) */
    this.waiting = false;
    /** @type {string} */
    this.status = "";
    const off = client.onStatus((status, detail) => {
      this.clientStatus = status;
      this.detail = statusDetail(detail);
      this.update();
    });
    signal.addEventListener("abort", () => off?.(), { once: true });
    pageAnnouncer()?.watch(client);
    this.update();
  }

  /** @param {boolean} closed whether the kernel closed the channel */
  setClosed(closed) {
    if (this.closed === closed) return;
    this.closed = closed;
    this.update();
  }

  /** @param {boolean} waiting whether no kernel has opened the channel yet */
  setWaiting(waiting) {
    if (this.waiting === waiting) return;
    this.waiting = waiting;
    this.update();
  }

  update() {
    const s = this.clientStatus;
    const status =
      s === "connected"
        ? this.closed
          ? "closed"
          : this.waiting
            ? "waiting"
            : "live"
        : s in STATUS_TEXT
          ? s
          : "connecting";
    this.status = status;
    this.el.dataset.status = status;
    this.root.dataset.status = status;
    this.label.textContent = STATUS_TEXT[/** @type {keyof STATUS_TEXT} */ (status)];
    let help = STATUS_HELP[status] ?? "";
    if (status === "live" && this.client.transport === "comm") {
      const late = this.client.eventsLive === false;
      this.label.textContent = late ? `${VIA_KERNEL} · ${EVENTS_AFTER_CELL}` : VIA_KERNEL;
      this.el.dataset.transport = "comm";
      help = late ? HELP_COMM_LATE : HELP_COMM;
    } else {
      delete this.el.dataset.transport;
    }
    this.el.title = this.detail ? `${help}\n${this.detail}` : help;
  }
}

/**
 * The widget's frame: root `div.nbc-widget.nbc-<kind>` with an optional header (title,
 * notes, badge) and a body. The root is removed and the subscription closed when `signal`
 * aborts.
 */
export class ViewFrame {
  /**
   * @param {ViewContext} ctx
   * @param {string} kind
   * @param {{title?: string, header?: boolean, compactBadge?: boolean}} [options]
   *   header: false → no header row; the view places `badge.el` itself
   */
  constructor(ctx, kind, { title = "", header = true, compactBadge = false } = {}) {
    injectStyle("base", baseCss);
    this.ctx = ctx;
    this.root = h("div", {
      class: `nbc-widget nbc-${kind}`,
      "data-kind": kind,
      "data-channel": ctx.channel,
      // Keys pressed inside a widget are the widget's: JupyterLab must not read them as
      // notebook shortcuts (arrow keys on a slider, letters typed into a text field).
      "data-lm-suppress-shortcuts": "true",
    });
    // The notebook also handles some keys itself (it swallows ArrowLeft/Right from inputs in
    // outputs): keep key events inside the widget, except Escape, which leaves it.
    this.root.addEventListener(
      "keydown",
      (e) => {
        if (e.key !== "Escape") e.stopPropagation();
      },
      { signal: ctx.signal },
    );
    this.badge = new StatusBadge(this.root, ctx.client, ctx.signal, { compact: compactBadge });
    this.titleEl = h("div", { class: "nbc-title" });
    this.notesEl = h("div", { class: "nbc-notes" });
    /** @type {Map<string, HTMLElement>} */
    this.notes = new Map();
    /** stream items skipped since the last reset */
    this.gapCount = 0;
    this.header = h("div", { class: "nbc-header" }, this.titleEl, this.notesEl, this.badge.el);
    this.body = h("div", { class: "nbc-body" });
    if (header) this.root.append(this.header);
    this.root.append(this.body);
    this.setTitle(title);
    ctx.el.append(this.root);
    ctx.signal.addEventListener("abort", () => this.root.remove(), { once: true });
  }

  /** @param {string | null | undefined} title */
  setTitle(title) {
    this.titleEl.textContent = title ?? "";
    this.titleEl.hidden = !title;
  }

  /**
   * Show (or replace) a small note in the header, e.g. about skipped data.
   * @param {string} key
   * @param {string} text
   * @param {string} [help] tooltip
   */
  note(key, text, help = "") {
    let el = this.notes.get(key);
    if (!el) {
      el = h("span", { class: "nbc-note", "data-note": key });
      this.notes.set(key, el);
      this.notesEl.append(el);
    }
    el.textContent = text;
    el.title = help;
  }

  /** @param {string} [key] one note, or all of them */
  clearNote(key) {
    for (const [k, el] of this.notes) {
      if (key === undefined || k === key) {
        el.remove();
        this.notes.delete(k);
      }
    }
  }

  /**
   * Subscribe to the view's channel; the badge follows the channel (closed / open again)
   * and the subscription closes when the view is removed.
   * @param {SubscriptionHandlers} handlers
   * @returns {ViewSubscription}
   */
  subscribe(handlers) {
    const { client, scope, channel, signal } = this.ctx;
    const open = () => {
      this.badge.setClosed(false);
      this.badge.setWaiting(false);
    };
    const sub = client.subscribe(scope, channel, {
      onReset: (info) => {
        open();
        // `waiting`: the hub has no open channel of that name (its kernel has not opened it
        // yet, or stopped before this page subscribed); a later reset brings the content.
        this.badge.setWaiting(Boolean(info?.waiting));
        this.clearNote("gap");
        this.clearNote("error");
        this.body.querySelector(":scope > .nbc-refused")?.remove();
        guard(this, () => handlers.onReset?.(info));
      },
      onState: (key, value) => {
        open();
        guard(this, () => handlers.onState?.(key, value));
      },
      onUnset: (key) => guard(this, () => handlers.onUnset?.(key)),
      onAppend: (value, offset) => {
        open();
        guard(this, () => handlers.onAppend?.(value, offset));
      },
      onPublish: (value) => {
        open();
        guard(this, () => handlers.onPublish?.(value));
      },
      onGap: (info) => guard(this, () => (handlers.onGap ? handlers.onGap(info) : this.gapNote(info))),
      onClosed: () => {
        this.badge.setClosed(true);
        guard(this, () => handlers.onClosed?.());
      },
      onError: (err) => {
        this.note("error", "⚠ channel error", describe(err));
        // Refused for good (this user may not watch, or there is no server to ask): the
        // reason is all the view will show, so it goes in the body, not only the tooltip.
        // (A refused event leaves the view as it is: the note says it.)
        const about = /** @type {{about?: unknown}} */ (err)?.about;
        if ((err?.code === "not-permitted" && about !== "event") || err?.code === "unavailable") this.refusal(err);
        guard(this, () => handlers.onError?.(err));
      },
    });
    signal.addEventListener("abort", () => sub.close(), { once: true });
    return sub;
  }

  /**
   * Say in the body why the view gets nothing (one box; replaced by the next refusal).
   * @param {{code?: string, message?: string}} err
   */
  refusal(err) {
    this.body.querySelector(":scope > .nbc-refused")?.remove();
    const box = errorBox("nbchannel: this view gets no data", err?.message ?? describe(err));
    box.classList.add("nbc-refused");
    this.body.prepend(box);
  }

  /**
   * Default gap handling: a small cumulative note (not an error: the view keeps going).
   * @param {GapInfo} info
   * @param {string} [unit] what was skipped, in the user's words
   */
  gapNote(info, unit = "updates") {
    this.gapCount += Number(info?.count) || 0;
    const why =
      info?.reason === "history"
        ? "older than the history the hub keeps"
        : "dropped because this page fell behind the data rate";
    this.note(
      "gap",
      `${this.gapCount ? this.gapCount.toLocaleString("en-US") + " " : "some "}${unit} skipped`,
      `Some ${unit} never reached this page (${why}). Later data is shown as usual.`,
    );
  }

  /** Forget the gap count (after a reset). */
  resetGaps() {
    this.gapCount = 0;
    this.clearNote("gap");
  }
}

/**
 * Run a view callback; an exception becomes a note instead of breaking the client's
 * dispatch loop.
 * @param {ViewFrame} frame
 * @param {() => void} fn
 */
function guard(frame, fn) {
  try {
    fn();
  } catch (err) {
    console.error("nbchannel view:", err);
    frame.note("error", "⚠ display error", describe(err));
  }
}

/**
 * A readable error box (no HTML is interpreted).
 * @param {string} title
 * @param {unknown} err
 * @returns {HTMLElement}
 */
export function errorBox(title, err) {
  const detail =
    err instanceof Error ? (err.stack && err.stack.includes(err.message) ? err.stack : `${err.name}: ${err.message}\n${err.stack ?? ""}`) : describe(err);
  return h("div", { class: "nbc-error", role: "alert" }, h("div", { class: "nbc-error-title" }, title), h("pre", {}, detail.trim()));
}

/**
 * Coalesce work into animation frames: the returned `request()` schedules `draw` for the
 * next frame unless it is already scheduled; abort cancels it.
 * @param {(time: number) => void} draw
 * @param {AbortSignal} signal
 * @returns {() => void}
 */
export function frameScheduler(draw, signal) {
  let id = 0;
  /** @param {number} t */
  const run = (t) => {
    id = 0;
    if (!signal.aborted) draw(t);
  };
  signal.addEventListener(
    "abort",
    () => {
      if (id) cancelAnimationFrame(id);
      id = 0;
    },
    { once: true },
  );
  return () => {
    if (!id && !signal.aborted) id = requestAnimationFrame(run);
  };
}

/**
 * Call `cb(width, height)` (content box, CSS px) when `el` resizes.
 * @param {Element} el
 * @param {(width: number, height: number) => void} cb
 * @param {AbortSignal} signal
 */
export function observeResize(el, cb, signal) {
  if (typeof ResizeObserver === "undefined") return;
  const ro = new ResizeObserver((entries) => {
    const r = entries[entries.length - 1].contentRect;
    if (!signal.aborted) cb(r.width, r.height);
  });
  ro.observe(el);
  signal.addEventListener("abort", () => ro.disconnect(), { once: true });
}

/**
 * Colors and fonts of the current theme, read from the widget's CSS custom properties
 * (themselves JupyterLab's `--jp-*` variables with fallbacks; see base.css).
 * @typedef {object} Theme
 * @property {string} fg text
 * @property {string} fg0 strong text
 * @property {string} fg2 muted text
 * @property {string} bg
 * @property {string} border
 * @property {string} grid
 * @property {string} accent
 * @property {string} font ui font family
 * @property {string} mono code font family
 * @property {boolean} dark whether the background is dark
 */

/**
 * @param {HTMLElement} root an element inside the widget (it must be in the document)
 * @returns {Theme}
 */
export function readTheme(root) {
  const cs = getComputedStyle(root);
  /** @param {string} name @param {string} fallback */
  const v = (name, fallback) => cs.getPropertyValue(name).trim() || fallback;
  const bg = v("--nbc-bg", "#ffffff");
  return {
    fg: v("--nbc-fg", "rgba(0, 0, 0, 0.87)"),
    fg0: v("--nbc-fg0", "rgba(0, 0, 0, 1)"),
    fg2: v("--nbc-fg2", "rgba(0, 0, 0, 0.54)"),
    bg,
    border: v("--nbc-border", "#bdbdbd"),
    grid: v("--nbc-grid", "rgba(0, 0, 0, 0.08)"),
    accent: v("--nbc-accent", "#1976d2"),
    font: v("--nbc-font", "system-ui, sans-serif"),
    mono: v("--nbc-mono", "monospace"),
    dark: isDark(root, bg),
  };
}

/**
 * Whether a CSS color is dark, resolved by the browser (works for names, hex, rgb(), …).
 * @param {HTMLElement} root
 * @param {string} color
 */
function isDark(root, color) {
  const probe = document.createElement("span");
  probe.style.display = "none";
  probe.style.color = color;
  root.append(probe);
  const rgb = getComputedStyle(probe).color;
  probe.remove();
  const m = rgb.match(/[\d.]+/g);
  if (!m || m.length < 3) return false;
  const alpha = m.length > 3 ? Number(m[3]) : 1;
  if (alpha < 0.5) return document.body?.dataset.jpThemeLight === "false";
  const [r, g, b] = m.slice(0, 3).map(Number);
  return 0.2126 * r + 0.7152 * g + 0.0722 * b < 128;
}

/**
 * Call `cb` when the page's theme changes (JupyterLab sets `data-jp-theme-light` and
 * `data-jp-theme-name` on <body>; VS Code swaps body classes). Fires only when the
 * resolved colors actually changed, and once more a moment later because a new theme's
 * stylesheet may land after the attribute flips.
 * @param {HTMLElement} root
 * @param {() => void} cb
 * @param {AbortSignal} signal
 */
export function onThemeChange(root, cb, signal) {
  const signature = () => {
    const cs = getComputedStyle(root);
    return ["--nbc-bg", "--nbc-fg", "--nbc-grid", "--nbc-font"].map((n) => cs.getPropertyValue(n)).join("|");
  };
  let last = signature();
  const check = () => {
    if (signal.aborted || !root.isConnected) return;
    const now = signature();
    if (now !== last) {
      last = now;
      cb();
    }
  };
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  const changed = () => {
    check();
    clearTimeout(timer);
    timer = setTimeout(check, 300);
  };
  const mo = new MutationObserver(changed);
  const targets = [document.body, document.documentElement].filter(Boolean);
  for (const t of targets) {
    mo.observe(t, { attributes: true, attributeFilter: ["data-jp-theme-light", "data-jp-theme-name", "class", "style"] });
  }
  const mq = typeof matchMedia === "function" ? matchMedia("(prefers-color-scheme: dark)") : null;
  mq?.addEventListener("change", changed, { signal });
  signal.addEventListener(
    "abort",
    () => {
      mo.disconnect();
      clearTimeout(timer);
    },
    { once: true },
  );
}

/**
 * A repeating timer tied to `signal`.
 * @param {() => void} fn
 * @param {number} ms
 * @param {AbortSignal} signal
 */
export function every(fn, ms, signal) {
  const id = setInterval(() => {
    if (!signal.aborted) fn();
  }, ms);
  signal.addEventListener("abort", () => clearInterval(id), { once: true });
}

/**
 * Format a number for display: integers as they are (optionally grouped), other values
 * with 6 significant digits, very large or small ones in exponent form.
 * @param {number} v
 * @param {{group?: boolean, digits?: number}} [options]
 * @returns {string}
 */
export function formatNumber(v, { group = false, digits = 6 } = {}) {
  if (typeof v !== "number") return String(v);
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "∞" : "−∞";
  const a = Math.abs(v);
  if (Number.isInteger(v) && a < 1e15) return group ? v.toLocaleString("en-US") : String(v);
  if (a !== 0 && (a >= 1e9 || a < 1e-4)) {
    return v.toExponential(Math.max(0, digits - 3)).replace(/\.?0+e/, "e");
  }
  const s = String(Number(v.toPrecision(digits)));
  if (!group) return s;
  const [int, frac] = s.split(".");
  return Number(int).toLocaleString("en-US") + (frac ? `.${frac}` : "");
}

/**
 * Text for any payload value in a cell (numbers formatted, arrays summarized, objects as
 * JSON).
 * @param {unknown} v
 * @returns {string}
 */
export function formatValue(v) {
  if (v == null) return "";
  if (typeof v === "number") return formatNumber(v);
  if (typeof v === "string") return v;
  if (typeof v === "boolean" || typeof v === "bigint") return String(v);
  if (ArrayBuffer.isView(v)) return `<${v.constructor.name} ${v.byteLength} bytes>`;
  if (typeof v === "object" && "dtype" in v && "shape" in v && "data" in v) {
    const a = /** @type {{dtype: string, shape: number[]}} */ (v);
    return `array(${a.shape.join("×")}, ${a.dtype})`;
  }
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}

/**
 * Value of a `data-*` attribute for any payload value.
 * @param {unknown} v
 */
export function dataValue(v) {
  if (v == null) return "";
  if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") return String(v);
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}
