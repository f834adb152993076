import assert from "node:assert/strict";
import { test } from "node:test";

import { WebSocketTransport } from "../src/transport.js";

class FakeWebSocket {
  static last = null;
  constructor(url) {
    if (url.startsWith("bad")) throw new SyntaxError("invalid URL");
    this.url = url;
    this.sent = [];
    this.closedWith = null;
    this.binaryType = "blob";
    this.bufferedAmount = 7;
    FakeWebSocket.last = this;
  }
  send(data) {
    this.sent.push(data);
  }
  close(code) {
    this.closedWith = code;
  }
}

test("WebSocketTransport: binary frames in and out, callbacks, close", () => {
  const t = new WebSocketTransport("ws://h/nbchannel/ws", { WebSocket: /** @type {any} */ (FakeWebSocket) });
  const events = [];
  t.onopen = () => events.push("open");
  t.onmessage = (d) => events.push(["message", d.byteLength]);
  t.onerror = (m) => events.push(["error", m]);
  t.onclose = (info) => events.push(["close", info]);
  t.connect();
  const ws = FakeWebSocket.last;
  assert.equal(ws.url, "ws://h/nbchannel/ws");
  assert.equal(ws.binaryType, "arraybuffer");
  ws.onopen();
  ws.onmessage({ data: new ArrayBuffer(16) });
  ws.onmessage({ data: "text" });
  t.send(new Uint8Array(3));
  assert.equal(ws.sent.length, 1);
  assert.equal(t.bufferedAmount, 7);
  ws.onclose({ code: 1006, reason: "", wasClean: false });
  assert.deepEqual(events, [
    "open",
    ["message", 16],
    ["error", "text message ignored: nbchannel speaks binary frames"],
    ["close", { code: 1006, reason: "", wasClean: false }],
  ]);
  assert.equal(t.bufferedAmount, 0);
});

test("WebSocketTransport: close() detaches, so no callback fires afterwards", () => {
  const t = new WebSocketTransport("ws://h/", { WebSocket: /** @type {any} */ (FakeWebSocket) });
  let calls = 0;
  t.onclose = () => calls++;
  t.connect();
  const ws = FakeWebSocket.last;
  t.close();
  assert.equal(ws.closedWith, 1000);
  assert.equal(ws.onclose, null);
  t.close();
  assert.equal(calls, 0);
});

test("WebSocketTransport: a URL the browser refuses is a failed attempt", async () => {
  const t = new WebSocketTransport("bad url", { WebSocket: /** @type {any} */ (FakeWebSocket) });
  const closed = new Promise((resolve) => (t.onclose = resolve));
  t.connect();
  assert.deepEqual(await closed, { code: 1006, reason: "invalid URL", wasClean: false });
});
