// The page's one screen-reader announcement of connection changes.
//
// Every widget shows a status badge, but the connection is the page's (one ChannelClient,
// one WebSocket): a live region per badge would make a screen reader repeat each reconnect
// once per widget. So badges are plain text, and one polite live region on document.body,
// shared by every widget (and every copy of this module: anywidget loads each model's
// module separately), says "connection lost" and "restored" once per change.
//
// No DOM is needed to decide what to say (`connectionMessage`, `ConnectionAnnouncer`), so
// that part is unit-tested in node.

/** Id of the live region element. */
export const LIVE_REGION_ID = "nbc-live-region";

const GLOBAL_KEY = "__nbchannel_announcer_v1__";

/**
 * What to announce when the page's connection goes from `previous` to `status`, or null
 * for nothing. Only changes a user must know about are spoken: the first connection of a
 * page is silent (each badge shows it), a drop is announced once however many reconnect
 * attempts follow, and so is its end.
 * @param {string} previous
 * @param {string} status "connecting" | "connected" | "reconnecting" | "unavailable"
 * @returns {string | null}
 */
export function connectionMessage(previous, status) {
  if (status === previous) return null;
  if (status === "reconnecting") return "Live widgets: connection to the Jupyter server lost, reconnecting.";
  if (status === "connected") {
    return previous === "reconnecting" || previous === "unavailable" ? "Live widgets: connection restored." : null;
  }
  if (status === "unavailable") return "Live widgets: the nbchannel server extension is not reachable; live updates stopped.";
  return null;
}

/**
 * @typedef {object} StatusSource the part of ChannelClient the announcer uses
 * @property {string} status
 * @property {(cb: (status: string, detail?: unknown) => void) => () => void} onStatus
 */

/** Follows clients' status changes and says each change once, whoever asks to watch. */
export class ConnectionAnnouncer {
  /** @param {(message: string) => void} say */
  constructor(say) {
    this.say = say;
    /** @type {WeakSet<StatusSource>} */
    this.watched = new WeakSet();
  }

  /**
   * Announce `client`'s connection changes from now on; watching a client again (one call
   * per widget) changes nothing.
   * @param {StatusSource} client
   */
  watch(client) {
    if (this.watched.has(client)) return;
    this.watched.add(client);
    let last = client.status;
    client.onStatus((status) => {
      const message = connectionMessage(last, status);
      last = status;
      if (message) this.say(message);
    });
  }
}

/**
 * The page's polite live region (created on first use), visually hidden.
 * @param {Document} doc
 * @returns {HTMLElement}
 */
export function liveRegion(doc) {
  const found = doc.getElementById(LIVE_REGION_ID);
  if (found) return found;
  const region = doc.createElement("div");
  region.id = LIVE_REGION_ID;
  region.className = "nbc-live-region";
  region.setAttribute("role", "status");
  region.setAttribute("aria-live", "polite");
  region.setAttribute("aria-atomic", "true");
  // Visually hidden but read by screen readers (inline: no stylesheet needed on body).
  region.style.cssText =
    "position:absolute;width:1px;height:1px;margin:-1px;padding:0;overflow:hidden;clip:rect(0 0 0 0);clip-path:inset(50%);white-space:nowrap;border:0";
  doc.body.append(region);
  return region;
}

/**
 * Put `message` into the page's live region, if any nbchannel widget is on the page.
 * @param {Document} doc
 * @param {string} message
 */
function announce(doc, message) {
  if (!doc.body || !doc.querySelector(".nbc-widget")) return;
  const region = liveRegion(doc);
  if (region.textContent !== message) {
    region.textContent = message;
    return;
  }
  // The same words again (a second drop): empty the region first so they are read again.
  region.textContent = "";
  setTimeout(() => {
    region.textContent = message;
  }, 100);
}

/**
 * The page's announcer (one per page, kept on globalThis), or null without a document.
 * @returns {ConnectionAnnouncer | null}
 */
export function pageAnnouncer() {
  if (typeof document === "undefined") return null;
  const g = /** @type {Record<string, any>} */ (globalThis);
  if (!g[GLOBAL_KEY]) {
    const doc = document;
    g[GLOBAL_KEY] = new ConnectionAnnouncer((message) => announce(doc, message));
    if (doc.body) liveRegion(doc);
  }
  return g[GLOBAL_KEY];
}
