// nbchannel's JupyterLab 4 / Notebook 7 mime renderer: draws a widget's output straight from
// the hub, with no kernel round trip.
//
// Every nbchannel widget's output carries, beside the ipywidgets widget-view, the mimetype
// `application/vnd.nbchannel.view+json` whose data only addresses the view:
//
//   {"version": 1, "kind": "plot", "channel": "plot-1a2b…", "scope": "<kernel id>" | "server" | "hub",
//    "kernel_id": "<kernel id>", "config": {...}}
//
// JupyterLab draws the mimetype whose renderer has the lowest rank. The widget manager's
// widget-view renderer has rank -10 and restores its model by asking the kernel over the
// shell channel, which a running cell holds: a page reloaded (or a second tab opened) while
// a cell runs would show "Loading widget..." until the cell ends. This renderer (rank -20)
// wins where it is installed and needs only the page's ChannelClient (the same globalThis
// singleton the anywidget views use, so both share one connection): the hub replays the
// channel's state and history at once. Front ends without it (VS Code, Colab) draw the
// widget-view as before.
//
// The views themselves are the anywidget entry point's (../../src/index.js): the renderer
// hands it an object with the part of anywidget's model it reads (`get` of `_kind`,
// `_channel`, `_scope`, `_config`, `_transport`; `on`/`off`), built from the mime data.
//
// A view whose channel no kernel has open (a notebook reopened after its kernel stopped, or
// after the server restarted) has nothing to show: the renderer shows the output's saved
// snapshot instead (./snapshot.js), under a badge saying so, and the live view as soon as
// the channel has content again.

import { Widget } from "@lumino/widgets";

import { leaseClient } from "../../src/choose.js";
import { getClient } from "../../src/client.js";
import entry from "../../src/index.js";
import { SNAPSHOT_HELP, SNAPSHOT_TEXT, ViewWatch, snapshotOf } from "./snapshot.js";

/** The mimetype this renderer draws (nbchannel/widgets/base.py writes it). */
export const MIME_TYPE = "application/vnd.nbchannel.view+json";

/** Versions of the mime data this renderer understands. */
const VERSION = 1;

/** Below the widget manager's widget-view renderer (-10), so this one is chosen. */
export const RANK = -20;

/**
 * The mime data: what addresses a view.
 * @typedef {object} ViewData
 * @property {number} version
 * @property {string} kind the view (plot, log, table, button, …)
 * @property {string} channel the channel's name
 * @property {string} scope the kernel id, "server" for a shared channel, or "hub" for a hub-wide one (drawn from the relay: ../../src/choose.js)
 * @property {string} [kernel_id] the kernel that displayed the output
 * @property {Record<string, any>} [config] the view's settings (title, series, columns …)
 */

/**
 * What anywidget's model gives the views, built from the mime data. The data never
 * changes (a new output is a new renderModel), so `on`/`off` have nothing to report.
 * @param {ViewData} data
 * @returns {import("../../src/widgets/base.js").AnyModel & {send: () => void}}
 */
export function modelFromData(data) {
  /** @type {Record<string, unknown>} */
  const traits = {
    _kind: String(data.kind ?? ""),
    _channel: String(data.channel ?? ""),
    _scope: String(data.scope ?? ""),
    _config: data.config && typeof data.config === "object" ? data.config : {},
    // the kernel writes this mimetype only where its channels reach the hub
    _transport: "hub",
  };
  return {
    get: (name) => traits[name],
    on() {},
    off() {},
    send() {},
  };
}

/**
 * A short plain-text note in place of a view (not an error box: these are normal states).
 * @param {HTMLElement} el
 * @param {string} kind
 * @param {string} status `data-status` of the note: "untrusted" or "other-version"
 * @param {string} text
 */
function note(el, kind, status, text) {
  const box = document.createElement("div");
  box.className = "nbc-widget nbc-note-only";
  box.dataset.kind = kind;
  box.dataset.status = status;
  box.textContent = text;
  box.style.cssText = "padding: 4px 8px; color: var(--jp-ui-font-color2, #666); font-size: var(--jp-ui-font-size1, 13px);";
  el.append(box);
  return () => box.remove();
}

/**
 * The snapshot pane: a badge in words and the snapshot (an <img> of a data: URL, or HTML
 * through JupyterLab's sanitizer).
 * @param {import("./snapshot.js").Snapshot} snapshot
 * @param {"waiting" | "closed"} state
 * @param {string} kind
 * @param {{sanitize: (dirty: string) => string} | null} sanitizer
 * @returns {HTMLElement}
 */
function snapshotPane(snapshot, state, kind, sanitizer) {
  const pane = document.createElement("div");
  pane.className = "nbc-snapshot-view";
  pane.dataset.kind = kind;
  pane.dataset.status = state;
  pane.dataset.snapshot = snapshot.type;
  const badge = document.createElement("div");
  badge.className = "nbc-snapshot-badge";
  badge.textContent = SNAPSHOT_TEXT[state];
  badge.title = SNAPSHOT_HELP;
  badge.style.cssText =
    "display: inline-block; margin: 0 0 4px; padding: 1px 8px; border-radius: 9px; font-size: var(--jp-ui-font-size0, 11px); color: var(--jp-ui-font-color1, #333); background: var(--jp-layout-color2, #eee); border: 1px solid var(--jp-border-color2, #ddd);";
  const body = document.createElement("div");
  body.className = "nbc-snapshot-body";
  if (snapshot.type === "image") {
    const img = document.createElement("img");
    img.src = snapshot.src;
    img.alt = `last saved ${kind || "widget"} content`;
    img.style.maxWidth = "100%";
    body.append(img);
  } else if (sanitizer) {
    body.innerHTML = sanitizer.sanitize(snapshot.html);
  } else {
    // no sanitizer given: the markup as text, never parsed
    const pre = document.createElement("pre");
    pre.style.cssText = "margin: 0; white-space: pre-wrap;";
    pre.textContent = snapshot.html;
    body.append(pre);
  }
  pane.append(badge, body);
  return pane;
}

/** One output's view: a Lumino widget whose node hosts the nbchannel view. */
export class NbChannelRenderer extends Widget {
  /** @param {{mimeType: string, sanitizer?: {sanitize: (dirty: string) => string}}} options */
  constructor(options) {
    super();
    this.mimeType = options.mimeType;
    /** JupyterLab's HTML sanitizer (IRenderMime.IRendererOptions.sanitizer). */
    this.sanitizer = options.sanitizer ?? null;
    this.addClass("nbc-mime-view");
    /** @type {string | null} */
    this._key = null;
    /** @type {(() => void) | null} */
    this._unmount = null;
    /** The live view's host (hidden while the snapshot is shown). @type {HTMLElement | null} */
    this._live = null;
    /** @type {ViewWatch | null} */
    this._watch = null;
    /** The output's snapshot. @type {import("./snapshot.js").Snapshot | null} */
    this._snapshot = null;
    /** @type {HTMLElement | null} */
    this._pane = null;
    /** What the pane shows (to redraw it only when that changes). @type {string} */
    this._paneKey = "";
  }

  /**
   * Mount the view the output addresses (again only when the address or config changed).
   * @param {{data: Record<string, unknown>, trusted: boolean}} model the output's mime model
   * @returns {Promise<void>}
   */
  renderModel(model) {
    const data = /** @type {ViewData} */ (model.data[this.mimeType] ?? {});
    // The snapshot changes with every cell end (update_display); the view does not.
    this._snapshot = snapshotOf(model.data);
    const key = JSON.stringify([data, model.trusted]);
    if (key === this._key) {
      this._showFallback();
      return Promise.resolve();
    }
    this._key = key;
    this._clear();
    const kind = String(data.kind ?? "");
    this.node.dataset.kind = kind;
    if (data.version !== VERSION) {
      this._unmount = note(
        this.node,
        kind,
        "other-version",
        `This output was made by a different version of nbchannel (view format ${data.version}, this page reads ${VERSION}); re-run the cell to show it.`,
      );
    } else if (kind === "custom" && !model.trusted) {
      // A custom view runs JavaScript taken from the output: only in a trusted notebook.
      this._unmount = note(
        this.node,
        kind,
        "untrusted",
        "This custom view runs code saved in the notebook, so it is shown only once the notebook is trusted or the cell is run again.",
      );
    } else {
      const viewModel = modelFromData(data);
      const live = document.createElement("div");
      live.className = "nbc-live-view";
      this.node.append(live);
      this._live = live;
      this._unmount = entry.render({ model: viewModel, el: live });
      this._watchChannel(viewModel);
    }
    return Promise.resolve();
  }

  /**
   * Follow the view's channel beside the view, to show the snapshot while it has nothing.
   * @param {ReturnType<typeof modelFromData>} viewModel
   */
  _watchChannel(viewModel) {
    const channel = String(viewModel.get("_channel") ?? "");
    const scope = String(viewModel.get("_scope") ?? "");
    if (!channel || !scope) return; // the view says what is wrong
    try {
      const lease = leaseClient(/** @type {any} */ (viewModel));
      this._watch = new ViewWatch(lease.client, scope, channel, () => this._showFallback());
      const watch = this._watch;
      const unmount = this._unmount;
      this._unmount = () => {
        watch.close();
        lease.release();
        unmount?.();
      };
    } catch (err) {
      console.error("nbchannel: cannot follow the view's channel; the snapshot will not be shown", err);
    }
  }

  /** Show the snapshot or the live view, whichever the channel's state asks for. */
  _showFallback() {
    const watch = this._watch;
    const live = this._live;
    if (!watch || !live) return;
    const state = watch.state;
    const snapshot = watch.fallback ? this._snapshot : null;
    const paneKey = snapshot ? JSON.stringify([state, snapshot]) : "";
    live.hidden = snapshot !== null;
    if (snapshot) this.node.dataset.snapshot = state;
    else delete this.node.dataset.snapshot;
    if (paneKey === this._paneKey) return;
    this._paneKey = paneKey;
    this._pane?.remove();
    this._pane = null;
    if (snapshot && (state === "waiting" || state === "closed")) {
      this._pane = snapshotPane(snapshot, state, String(this.node.dataset.kind ?? ""), this.sanitizer);
      this.node.append(this._pane);
    }
  }

  _clear() {
    const unmount = this._unmount;
    this._unmount = null;
    this._watch = null;
    this._live?.remove();
    this._live = null;
    this._pane?.remove();
    this._pane = null;
    this._paneKey = "";
    delete this.node.dataset.snapshot;
    try {
      unmount?.();
    } catch (err) {
      console.error("nbchannel: removing a view failed", err);
    }
  }

  dispose() {
    if (this.isDisposed) return;
    this._clear();
    super.dispose();
  }
}

/**
 * Connect as the application starts rather than when the first output renders: JupyterLab
 * loads this module seconds before it has restored a notebook's outputs, so by then the
 * connection is open and a view only waits for its channel's replay. The cost is one idle
 * connection per page that shows no nbchannel output (none where the server has no
 * nbchannel: the client learns that from its first request and stops).
 */
export function connectEarly() {
  if (typeof document !== "undefined" && document.getElementById("jupyter-config-data")) getClient();
}

connectEarly();

/**
 * The renderer factory: safe (the view data only names a channel, and the snapshot shown
 * while no kernel serves it is an <img> of a data: URL or HTML through the sanitizer).
 */
export const rendererFactory = {
  safe: true,
  mimeTypes: [MIME_TYPE],
  defaultRank: RANK,
  /** @param {{mimeType: string, sanitizer?: {sanitize: (dirty: string) => string}}} options */
  createRenderer: (options) => new NbChannelRenderer(options),
};

/** The mime extension JupyterLab and Notebook 7 load. */
const extension = {
  id: "nbchannel:view-renderer",
  description: "Draws nbchannel widget outputs from the nbchannel hub, without the kernel.",
  rendererFactory,
  rank: RANK,
  dataType: /** @type {const} */ ("json"),
};

export default extension;
