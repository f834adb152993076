// The labextension renderer's fallback: which saved snapshot an output shows while no kernel
// serves its channel, and when the renderer shows it instead of the live view.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { ChannelClient } from "../src/client.js";
import { createMessage, encodeFrame } from "../src/codec.js";
import { SNAPSHOT_TEXT, ViewWatch, snapshotOf } from "../labextension/src/snapshot.js";

const VIEW = "application/vnd.nbchannel.view+json";
const view = { version: 1, kind: "plot", channel: "plot-1", scope: "k1" };

describe("snapshotOf", () => {
  test("a plot's SVG becomes a data: URL for an <img>, preferred over text", () => {
    const svg = '<svg xmlns="http://www.w3.org/2000/svg"><text>y</text></svg>';
    const snap = snapshotOf({ [VIEW]: view, "image/svg+xml": svg, "text/plain": "LivePlot" });
    assert.equal(snap?.type, "image");
    assert.ok(snap?.type === "image" && snap.src.startsWith("data:image/svg+xml;charset=utf-8,"));
    assert.equal(decodeURIComponent(snap.type === "image" ? snap.src.split(",").slice(1).join(",") : ""), svg);
  });

  test("an SVG saved as a list of lines is joined", () => {
    const snap = snapshotOf({ "image/svg+xml": ["<svg>\n", "</svg>"] });
    assert.ok(snap?.type === "image" && decodeURIComponent(snap.src).endsWith("<svg>\n</svg>"));
  });

  test("a PNG (base64, line breaks allowed) becomes a base64 data: URL", () => {
    const snap = snapshotOf({ "image/png": "iVBORw0K\nGgo=\n", "text/html": "<b>x</b>" });
    assert.deepEqual(snap, { type: "image", mime: "image/png", src: "data:image/png;base64,iVBORw0KGgo=" });
  });

  test("a PNG that is not base64 is not put in a URL", () => {
    const snap = snapshotOf({ "image/png": 'x" onerror="alert(1)', "text/html": "<p>frame</p>" });
    assert.deepEqual(snap, { type: "html", html: "<p>frame</p>" });
    assert.equal(snapshotOf({ "image/png": "<svg onload=alert(1)>", "text/plain": "LiveImage" }), null);
  });

  test("a log's HTML is handed on as HTML (the renderer sanitizes it), before its text", () => {
    const html = '<div class="nbchannel-snapshot nbchannel-log"><pre>step 1</pre></div>';
    assert.deepEqual(snapshotOf({ "text/html": html, "text/plain": "step 1" }), { type: "html", html });
  });

  test("text only (a widget that had no content) is no snapshot: the live view says more", () => {
    assert.equal(snapshotOf({ [VIEW]: view, "text/plain": "(empty log)" }), null);
    assert.equal(snapshotOf({ [VIEW]: view }), null);
    assert.equal(snapshotOf({ [VIEW]: view, "text/html": "  ", "image/svg+xml": "" }), null);
  });
});

/** A client whose one subscriber's handlers the test calls. */
class FakeClient {
  constructor() {
    /** @type {any} */
    this.handlers = null;
    this.closed = 0;
  }
  subscribe(scope, name, handlers) {
    this.address = [scope, name];
    this.handlers = handlers;
    return { close: () => (this.closed += 1) };
  }
}

const info = (waiting) => ({ epoch: waiting ? null : 1, head: 0, tail: 0, reset: true, waiting });

describe("ViewWatch", () => {
  test("live view until the hub answers; the snapshot while no kernel has the channel", () => {
    const client = new FakeClient();
    const seen = [];
    const watch = new ViewWatch(client, "k1", "plot-1", (s) => seen.push(s));
    assert.deepEqual(client.address, ["k1", "plot-1"]);
    assert.equal(watch.state, "pending");
    assert.equal(watch.fallback, false, "connecting: the live view, as always");
    client.handlers.onReset(info(true));
    assert.equal(watch.state, "waiting");
    assert.equal(watch.fallback, true);
    // a kernel re-runs the cell: the channel opens and fills
    client.handlers.onReset(info(false));
    assert.equal(watch.fallback, false);
    client.handlers.onAppend([1, 2], 0);
    assert.deepEqual(seen, ["waiting", "live"]);
    watch.close();
    assert.equal(client.closed, 1);
  });

  test("content that arrived stays shown when the kernel stops (the live view says so)", () => {
    const client = new FakeClient();
    const watch = new ViewWatch(client, "k1", "log-1", () => {});
    client.handlers.onReset(info(false));
    client.handlers.onState("lines", ["a"]);
    client.handlers.onClosed();
    assert.equal(watch.state, "live");
    assert.equal(watch.fallback, false);
  });

  test("a channel closed before anything arrived, and a server restart, fall back", () => {
    const client = new FakeClient();
    const watch = new ViewWatch(client, "k1", "log-1", () => {});
    client.handlers.onReset({ ...info(false), waiting: true, epoch: 1 }); // odd but possible
    client.handlers.onClosed();
    assert.equal(watch.state, "closed");
    assert.equal(watch.fallback, true);
    // the kernel opens it: live, and a restarted hub that forgot it: the snapshot again
    client.handlers.onReset(info(false));
    client.handlers.onState("lines", ["a"]);
    assert.equal(watch.fallback, false);
    client.handlers.onReset(info(true));
    assert.equal(watch.state, "waiting");
    assert.equal(watch.fallback, true);
  });

  test("badge words name the snapshot and why", () => {
    assert.match(SNAPSHOT_TEXT.waiting, /last saved content · kernel not running/);
    assert.match(SNAPSHOT_TEXT.closed, /last saved content · kernel stopped/);
  });

  test("beside a view on the page's client: the hub's replay reaches both", async () => {
    /** @type {any} */
    let transport = null;
    const client = new ChannelClient({
      config: null,
      url: "ws://h/nbchannel/ws",
      fetch: null,
      sessionStorage: null,
      localStorage: null,
      transportFactory: () => {
        transport = {
          onopen: null,
          onmessage: null,
          onclose: null,
          onerror: null,
          connect() {
            queueMicrotask(() => this.onopen?.());
          },
          send() {},
          close() {},
        };
        return transport;
      },
    });
    const deliver = (kind, value, fields = {}) =>
      transport.onmessage(encodeFrame([createMessage(kind, "plot-1", value, { scope: "k1", ...fields })]));
    const viewEvents = [];
    client.subscribe("k1", "plot-1", { onReset: (i) => viewEvents.push(["reset", i.waiting]) });
    const watch = new ViewWatch(client, "k1", "plot-1", () => {});
    await new Promise((r) => setImmediate(r));
    deliver("subscribed", info(true));
    assert.deepEqual(viewEvents, [["reset", true]]);
    assert.equal(watch.state, "waiting");
    deliver("subscribed", info(false));
    deliver("append", [1, 2], { offset: 0 });
    assert.equal(watch.state, "live");
    watch.close();
    client.close();
  });
});
