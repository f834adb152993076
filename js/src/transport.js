// How the ChannelClient moves frames: the Transport interface and its WebSocket version.
//
// A transport is one connection attempt: the client makes a new one (through its
// transport factory) for every (re)connect, calls connect(), and forgets it after onclose.
// Everything else — frames, subscriptions, reconnecting — is the client's business, so a
// second transport (the widget's comm, for pages without the server extension) is a few
// lines more, not a fork of the client.

/**
 * @typedef {{code: number, reason: string, wasClean: boolean}} CloseInfo
 *
 * @typedef {object} Transport
 * @property {() => void} connect            start connecting; onopen or onclose follows
 * @property {(frame: Uint8Array) => void} send  send one binary frame (only while open)
 * @property {() => void} close              close; no callback fires after this
 * @property {((data: ArrayBuffer | Uint8Array) => void) | null} onmessage  one frame received
 * @property {(() => void) | null} onopen
 * @property {((info: CloseInfo) => void) | null} onclose  the connection failed or ended
 * @property {((message: string) => void) | null} [onerror]  something odd that does not close
 *
 * @typedef {(url: string) => Transport} TransportFactory
 */

/**
 * One browser WebSocket carrying binary frames.
 * @implements {Transport}
 */
export class WebSocketTransport {
  /**
   * @param {string} url ws:// or wss:// URL
   * @param {{WebSocket?: typeof WebSocket}} [options] a WebSocket class (tests, non-browser hosts)
   */
  constructor(url, options = {}) {
    this.url = url;
    this.WebSocket = options.WebSocket ?? globalThis.WebSocket;
    /** @type {WebSocket | null} */
    this.ws = null;
    /** @type {((data: ArrayBuffer | Uint8Array) => void) | null} */
    this.onmessage = null;
    /** @type {(() => void) | null} */
    this.onopen = null;
    /** @type {((info: CloseInfo) => void) | null} */
    this.onclose = null;
    /** @type {((message: string) => void) | null} */
    this.onerror = null;
  }

  connect() {
    /** @type {WebSocket} */
    let ws;
    try {
      ws = new this.WebSocket(this.url);
    } catch (exc) {
      // A malformed URL or a blocked port throws synchronously; report it as a failed attempt.
      const reason = exc instanceof Error ? exc.message : String(exc);
      queueMicrotask(() => this.onclose?.({ code: 1006, reason, wasClean: false }));
      return;
    }
    ws.binaryType = "arraybuffer";
    ws.onopen = () => this.onopen?.();
    ws.onmessage = (ev) => {
      if (typeof ev.data === "string") this.onerror?.("text message ignored: nbchannel speaks binary frames");
      else this.onmessage?.(ev.data);
    };
    ws.onclose = (ev) => {
      this.ws = null;
      this.onclose?.({ code: ev.code, reason: ev.reason, wasClean: ev.wasClean });
    };
    this.ws = ws;
  }

  /** @param {Uint8Array} frame */
  send(frame) {
    this.ws?.send(frame);
  }

  /** Bytes queued by the browser but not yet sent. */
  get bufferedAmount() {
    return this.ws?.bufferedAmount ?? 0;
  }

  close() {
    const ws = this.ws;
    this.ws = null;
    this.onopen = this.onmessage = this.onclose = this.onerror = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = null;
      try {
        ws.close(1000);
      } catch {
        // already closed
      }
    }
  }
}
