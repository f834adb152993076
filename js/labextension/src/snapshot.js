// The saved snapshot in place of a live view that has nothing to show.
//
// Beside nbchannel's view data, every widget output carries what the widget showed last
// (nbchannel/widgets/snapshot.py): a plot as `image/svg+xml`, an image as `image/png` or
// `image/jpeg`, a log, table or value as `text/html`, and always `text/plain`. A notebook
// reopened after its kernel stopped (or after the server restarted) addresses channels
// that no kernel has open: the hub answers `waiting` and sends no content, so the live
// view would be an empty frame saying "waiting for the kernel". The renderer shows the
// snapshot instead, under a badge saying what it is, until the channel has content again
// (a kernel re-runs the cell), and then the live view.
//
// Nothing here touches the DOM or the network: the decision (ViewWatch) and the choice of
// format (snapshotOf) are tested in node (js/test/labextension-snapshot.test.js).

/**
 * What a snapshot shows, in the safest form its format allows: images as a `data:` URL
 * for an <img> (an SVG drawn by <img> runs no script), HTML to be sanitized before it is
 * shown.
 * @typedef {{type: "image", mime: string, src: string} | {type: "html", html: string}} Snapshot
 */

/** Image formats, best first. */
const IMAGES = ["image/svg+xml", "image/png", "image/jpeg"];

/** Base64 as nbformat stores it (line breaks allowed). */
const BASE64 = /^[A-Za-z0-9+/=\s]+$/;

/**
 * An output's field as one string (nbformat may store text as a list of lines).
 * @param {unknown} value
 * @returns {string | null}
 */
function text(value) {
  if (typeof value === "string") return value;
  if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value.join("");
  return null;
}

/**
 * The snapshot an output's mime bundle carries, or null when it has none worth showing.
 * @param {Record<string, unknown>} data the output's data (every mimetype)
 * @returns {Snapshot | null}
 */
export function snapshotOf(data) {
  for (const mime of IMAGES) {
    const value = text(data[mime]);
    if (!value) continue;
    if (mime === "image/svg+xml") {
      return { type: "image", mime, src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(value)}` };
    }
    if (BASE64.test(value)) return { type: "image", mime, src: `data:${mime};base64,${value.replace(/\s+/g, "")}` };
  }
  const html = text(data["text/html"]);
  if (html && html.trim()) return { type: "html", html };
  // `text/plain` alone is what a widget with no content saves ("(empty log)", "LiveImage
  // (no frame yet)") or a custom view's repr: the live view's own "waiting for the kernel"
  // says more.
  return null;
}

/** The badge over a snapshot, by what the hub said of the channel. */
export const SNAPSHOT_TEXT = {
  waiting: "last saved content · kernel not running",
  closed: "last saved content · kernel stopped",
};

/** The badge's tooltip. */
export const SNAPSHOT_HELP =
  "No running kernel has this widget's channel open, so this is the content saved with the notebook, not a live view. Run the cell again to see it live.";

/**
 * @typedef {import("../../src/apply.js").SubscribedInfo} SubscribedInfo
 * @typedef {{subscribe: (scope: string, name: string, handlers: import("../../src/client.js").Handlers) => {close: () => void}}} Subscribable
 * @typedef {"pending" | "live" | "waiting" | "closed"} ChannelState
 */

/**
 * Follows one channel, as a second subscriber beside the live view (both share the page's
 * subscription), and says whether the view has anything to show:
 *
 * - `pending`: nothing heard yet (connecting): the live view, as always;
 * - `live`: a kernel has the channel open, or content arrived since the last reset;
 * - `waiting`: the hub knows no open channel of that name (no kernel has it: reopened
 *   notebook, restarted server) and nothing arrived;
 * - `closed`: the kernel closed the channel before anything arrived.
 *
 * A view that has content keeps it when the kernel stops (the live view says "kernel
 * stopped" itself): only a view with nothing to show falls back to the snapshot.
 */
export class ViewWatch {
  /**
   * @param {Subscribable} client
   * @param {string} scope
   * @param {string} channel
   * @param {(state: ChannelState) => void} onChange called when `state` changes
   */
  constructor(client, scope, channel, onChange) {
    /** @type {ChannelState} */
    this.state = "pending";
    /** Whether the view got content (or an open channel) since the last reset. */
    this.content = false;
    this._onChange = onChange;
    const filled = () => {
      this.content = true;
      this._set("live");
    };
    this._sub = client.subscribe(scope, channel, {
      onReset: (info) => {
        // An open channel is live even while empty: its kernel is there and fills it.
        this.content = !info?.waiting;
        this._set(this.content ? "live" : "waiting");
      },
      onState: filled,
      onAppend: filled,
      onPublish: filled,
      onClosed: () => {
        if (!this.content) this._set("closed");
      },
    });
  }

  /** Whether the snapshot should be shown instead of the live view. */
  get fallback() {
    return this.state === "waiting" || this.state === "closed";
  }

  /** @param {ChannelState} state */
  _set(state) {
    if (state === this.state) return;
    this.state = state;
    this._onChange(state);
  }

  close() {
    this._sub.close();
  }
}
