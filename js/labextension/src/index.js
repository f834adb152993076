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

import { Widget } from "@lumino/widgets";

import { getClient } from "../../src/client.js";
import entry from "../../src/index.js";

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

/** One output's view: a Lumino widget whose node hosts the nbchannel view. */
export class NbChannelRenderer extends Widget {
  /** @param {{mimeType: string}} options */
  constructor(options) {
    super();
    this.mimeType = options.mimeType;
    this.addClass("nbc-mime-view");
    /** @type {string | null} */
    this._key = null;
    /** @type {(() => void) | null} */
    this._unmount = null;
  }

  /**
   * Mount the view the output addresses (again only when the address or config changed).
   * @param {{data: Record<string, unknown>, trusted: boolean}} model the output's mime model
   * @returns {Promise<void>}
   */
  renderModel(model) {
    const data = /** @type {ViewData} */ (model.data[this.mimeType] ?? {});
    const key = JSON.stringify([data, model.trusted]);
    if (key === this._key) return Promise.resolve();
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
      this._unmount = entry.render({ model: modelFromData(data), el: this.node });
    }
    return Promise.resolve();
  }

  _clear() {
    const unmount = this._unmount;
    this._unmount = null;
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

/** The renderer factory: safe (the data only names a channel; nothing in it is HTML). */
export const rendererFactory = {
  safe: true,
  mimeTypes: [MIME_TYPE],
  defaultRank: RANK,
  /** @param {{mimeType: string}} options */
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
