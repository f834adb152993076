// LiveCustom: the user's own view, bound to a channel.
//
// `_config.render` is the source of an ES module whose default export is
// `render({el, channel, signal})`; it may return a cleanup function (or a promise of one).
// `channel` is:
//
//   channel.state                  Map of the channel's retained state (current at render time)
//   channel.on(kind, cb) → off()   kind: state (key, value) | unset (key) | append (value, offset)
//                                        | publish (value) | reset (info) | gap (info) | closed ()
//   channel.send(event, value)     an event to the kernel
//   channel.name, channel.scope
//
// The subscription starts at once; what arrives while the module loads is queued and
// delivered, in order, right after render() returns, so a view sees every update. Errors
// (loading, render, callbacks) are shown in the widget instead of disappearing into the
// console.

import { ViewFrame, errorBox, h } from "./base.js";

/**
 * Events queued while the module loads, at most (as many stream items as the page's client
 * keeps per channel); beyond it the oldest stream items are dropped and the module gets a
 * `gap` for them before the rest.
 */
const MAX_QUEUED = 100_000;

const KINDS = /** @type {const} */ (["state", "unset", "append", "publish", "reset", "gap", "closed"]);

/** @typedef {(typeof KINDS)[number]} EventKind */

/**
 * Import a module from source text: a blob: URL, or a data: URL where a content security
 * policy refuses blob: scripts.
 * @param {string} src
 * @returns {Promise<any>}
 */
async function importSource(src) {
  const url = URL.createObjectURL(new Blob([src], { type: "text/javascript" }));
  try {
    return await import(/* webpackIgnore: true */ /* @vite-ignore */ url);
  } catch (err) {
    if (err instanceof SyntaxError) throw err;
    try {
      const b64 = btoa(String.fromCharCode(...new TextEncoder().encode(src)));
      return await import(/* webpackIgnore: true */ /* @vite-ignore */ `data:text/javascript;base64,${b64}`);
    } catch {
      throw err;
    }
  } finally {
    URL.revokeObjectURL(url);
  }
}

/** @type {import("./base.js").RenderView} */
export function render(ctx) {
  const { config, signal } = ctx;
  const frame = new ViewFrame(ctx, "custom", { title: config.title });
  const root = frame.root;
  const errors = h("div", { class: "nbc-custom-errors" });
  const host = h("div", { class: "nbc-custom-host" });
  frame.body.append(errors, host);

  /** @type {Record<EventKind, Set<(...args: any[]) => void>>} */
  const listeners = /** @type {any} */ (Object.fromEntries(KINDS.map((k) => [k, new Set()])));
  /** @type {[EventKind, any[]][]} */
  let queue = [];
  /** Stream items dropped from the queue while the module loaded. */
  let dropped = 0;
  let ready = false;
  /** @type {(() => void) | null} */
  let userCleanup = null;
  /** @type {Map<string, unknown>} */
  const state = new Map();

  /**
   * @param {string} title
   * @param {unknown} err
   */
  const fail = (title, err) => {
    console.error(`nbchannel custom view (${ctx.channel}): ${title}`, err);
    // Keep the newest few errors: a callback that throws on every update must not flood.
    while (errors.childElementCount >= 3) errors.firstElementChild?.remove();
    errors.append(errorBox(title, err));
    root.dataset.error = err instanceof Error ? err.message : String(err);
  };

  /**
   * @param {EventKind} kind
   * @param {any[]} args
   */
  const emit = (kind, args) => {
    if (!ready) {
      queue.push([kind, args]);
      if (queue.length > MAX_QUEUED) {
        // Drop the oldest stream item; state stays complete in channel.state anyway.
        const i = queue.findIndex(([k]) => k === "append" || k === "publish");
        queue.splice(i >= 0 ? i : 0, 1);
        dropped += 1;
      }
      return;
    }
    for (const cb of listeners[kind]) {
      try {
        cb(...args);
      } catch (err) {
        fail(`channel.on("${kind}") callback threw`, err);
      }
    }
  };

  const sub = frame.subscribe({
    onReset(info) {
      state.clear();
      frame.resetGaps();
      emit("reset", [info]);
    },
    onState(key, value) {
      state.set(key, value);
      emit("state", [key, value]);
    },
    onUnset(key) {
      state.delete(key);
      emit("unset", [key]);
    },
    onAppend(value, offset) {
      emit("append", [value, offset]);
    },
    onPublish(value) {
      emit("publish", [value]);
    },
    onGap(info) {
      frame.gapNote(info, "updates");
      emit("gap", [info]);
    },
    onClosed() {
      emit("closed", []);
    },
  });

  const channel = Object.freeze({
    name: ctx.channel,
    scope: ctx.scope,
    state,
    /**
     * @param {EventKind} kind
     * @param {(...args: any[]) => void} cb
     * @returns {() => void} removes the callback
     */
    on(kind, cb) {
      if (!(kind in listeners)) throw new TypeError(`channel.on: unknown kind ${JSON.stringify(kind)}; use one of ${KINDS.join(", ")}`);
      if (typeof cb !== "function") throw new TypeError("channel.on: the callback must be a function");
      listeners[kind].add(cb);
      return () => listeners[kind].delete(cb);
    },
    /**
     * @param {string} event
     * @param {unknown} [value]
     */
    send(event, value = {}) {
      if (typeof event !== "string" || !event) throw new TypeError("channel.send: the event name must be a non-empty string");
      if (signal.aborted) return;
      sub.send(event, value);
    },
  });

  const start = async () => {
    const src = config.render;
    if (typeof src !== "string" || !src.trim()) {
      fail("No render function", "This custom view has no JavaScript: pass the source of an ES module whose default export is render({el, channel}).");
      return;
    }
    let mod;
    try {
      mod = await importSource(src);
    } catch (err) {
      fail("The custom view's module failed to load", err);
      return;
    }
    if (signal.aborted) return;
    const fn = mod?.default ?? mod?.render;
    if (typeof fn !== "function") {
      fail("No render function", "The module must `export default function render({el, channel}) { … }`.");
      return;
    }
    try {
      const result = await fn({ el: host, channel, signal });
      if (typeof result === "function") {
        if (signal.aborted) result();
        else userCleanup = result;
      }
    } catch (err) {
      fail("The custom view's render() threw", err);
    }
    if (signal.aborted) return;
    ready = true;
    root.dataset.ready = "1";
    const pending = queue;
    queue = [];
    if (dropped > 0) {
      /** @type {import("./base.js").GapInfo} */
      const info = { kind: "append", count: dropped, reason: "dropped" };
      dropped = 0;
      frame.gapNote(info, "updates");
      emit("gap", [info]);
    }
    for (const [kind, args] of pending) emit(kind, args);
  };
  start();

  return () => {
    queue = [];
    for (const set of Object.values(listeners)) set.clear();
    if (userCleanup) {
      try {
        userCleanup();
      } catch (err) {
        console.error("nbchannel custom view cleanup threw", err);
      }
      userCleanup = null;
    }
  };
}
