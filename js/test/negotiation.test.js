// How ChannelClient chooses and switches transports: api/info first (404: unavailable, no
// retries), the WebSocket once a frame comes back, else the stream, else the poll; the
// choice remembered for the page session; the WebSocket probed again while on a fallback;
// a forced transport; and every switch resuming each channel with 0 lost, 0 duplicated.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { ChannelClient, TRANSPORT_KEY } from "../src/client.js";
import { createMessage, decodeFrame, encodeFrame, valueOf } from "../src/codec.js";

const tick = async (n = 3) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

class FakeTransport {
  constructor(kind) {
    this.kind = kind;
    this.onopen = this.onmessage = this.onclose = this.onerror = null;
    this.connected = false;
    this.closed = false;
    this.frames = [];
  }
  connect() {
    this.connected = true;
  }
  send(frame) {
    this.frames.push(decodeFrame(frame).map((m) => ({ kind: m.kind, channel: m.channel, epoch: m.epoch, offset: m.offset, key: m.key, value: valueOf(m) })));
  }
  close() {
    this.closed = true;
  }
  open() {
    this.onopen();
  }
  deliver(...msgs) {
    this.onmessage(encodeFrame(msgs.map(([kind, value, fields]) => createMessage(kind, "log", value, { scope: "k1", ...fields }))));
  }
  fail(reason = "refused") {
    this.onclose({ code: 1006, reason, wasClean: false });
  }
  get sent() {
    return this.frames.flat();
  }
}

class FakeTimers {
  constructor() {
    this.pending = [];
  }
  setTimeout = (fn, ms) => {
    const t = { fn, ms };
    this.pending.push(t);
    return t;
  };
  clearTimeout = (t) => {
    this.pending = this.pending.filter((x) => x !== t);
  };
  /** Run the pending timer of `ms` milliseconds. */
  fire(ms) {
    const t = this.pending.find((x) => x.ms === ms);
    assert.ok(t, `no ${ms} ms timer pending (have ${this.pending.map((x) => x.ms)})`);
    this.pending = this.pending.filter((x) => x !== t);
    t.fn();
  }
  has(ms) {
    return this.pending.some((x) => x.ms === ms);
  }
}

class MemoryStore {
  constructor(init = {}) {
    this.map = new Map(Object.entries(init));
  }
  getItem(k) {
    return this.map.has(k) ? this.map.get(k) : null;
  }
  setItem(k, v) {
    this.map.set(k, String(v));
  }
}

const INFO = { version: "0.1", transports: ["websocket", "stream", "sse", "poll"], heartbeat: 5 };

function setup({ info = INFO, status = 200, redirected = false, session = {}, local = {}, ...options } = {}) {
  const made = [];
  const transports = {};
  for (const kind of ["websocket", "stream", "sse", "poll"]) {
    transports[kind] = () => {
      const t = new FakeTransport(kind);
      made.push(t);
      return t;
    };
  }
  const asked = [];
  const timers = new FakeTimers();
  const logs = [];
  const sessionStorage = new MemoryStore(session);
  const client = new ChannelClient({
    config: { baseUrl: "/base/" },
    location: { protocol: "http:", host: "h:1" },
    fetch: async (url) => (asked.push(url), { status, redirected, json: async () => info }),
    transports,
    timers,
    random: () => 1,
    now: () => 0,
    sessionStorage,
    localStorage: new MemoryStore(local),
    log: { warn: (...a) => logs.push(["warn", ...a]), error: (...a) => logs.push(["error", ...a]) },
    ...options,
  });
  const statuses = [];
  client.onStatus((s, d) => statuses.push([s, d.transport ?? null]));
  return {
    client, made, asked, timers, logs, statuses, sessionStorage,
    get t() {
      return made[made.length - 1];
    },
    kinds: () => made.map((t) => t.kind),
  };
}

/** Records what a widget sees: every item offset, in order. */
function widget() {
  const seen = [];
  const resets = [];
  return { seen, resets, h: { onAppend: (v, o) => seen.push(o), onReset: (i) => resets.push(i) } };
}

const subscribed = (epoch, { reset = true, tail = 0, head = 0 } = {}) => ["subscribed", { epoch, head, tail, reset, waiting: false, state: 0 }];
const append = (o) => ["append", `line ${o}`, { offset: o }];

describe("negotiation", () => {
  test("api/info 404: unavailable with the reason, nothing else tried, no retry", async () => {
    const s = setup({ status: 404 });
    const errs = [];
    const sub = s.client.subscribe("k1", "log", { onError: (e) => errs.push(e) });
    await tick();
    assert.deepEqual(s.asked, ["http://h:1/base/nbchannel/api/info"]);
    assert.equal(s.client.status, "unavailable");
    assert.match(s.client.statusDetail.reason, /no nbchannel extension .*404/);
    assert.equal(s.made.length, 0);
    assert.equal(s.timers.pending.length, 0);
    assert.equal(sub.send("click"), false);
    assert.equal(errs[0].code, "unavailable");
  });

  test("api/info refused after a redirect (standalone Voilà's file handler): unavailable, no retry", async () => {
    const s = setup({ status: 403, redirected: true });
    s.client.subscribe("k1", "log", {});
    await tick();
    assert.equal(s.asked.length, 1);
    assert.equal(s.client.status, "unavailable");
    assert.equal(s.client.hubAbsent, true);
    assert.match(s.client.statusDetail.reason, /403 after a redirect/);
    assert.equal(s.timers.pending.length, 0);
  });

  test("a plain 403 on api/info (a refusal, no redirect) is retried", async () => {
    const s = setup({ status: 403 });
    s.client.connect();
    await tick();
    assert.equal(s.client.status, "reconnecting");
    assert.equal(s.client.hubAbsent, false);
  });

  test("api/info unreachable: reconnecting with backoff, asked again", async () => {
    const s = setup({ status: 502 });
    s.client.connect();
    await tick();
    assert.equal(s.client.status, "reconnecting");
    s.timers.fire(250);
    await tick();
    assert.equal(s.asked.length, 2);
  });

  test("the WebSocket counts once a frame comes back; the choice is remembered", async () => {
    const s = setup();
    s.client.subscribe("k1", "log", {});
    await tick();
    assert.deepEqual(s.kinds(), ["websocket"]);
    s.t.open();
    assert.equal(s.client.status, "connecting", "open is not enough");
    assert.ok(s.timers.has(3000));
    s.t.deliver(subscribed(1));
    assert.equal(s.client.status, "connected");
    assert.equal(s.client.statusDetail.transport, "websocket");
    assert.equal(s.sessionStorage.getItem(TRANSPORT_KEY), "websocket");
    assert.ok(!s.timers.has(3000));
    assert.ok(!s.timers.has(45_000), "no probe while on the WebSocket");
  });

  test("a WebSocket refused → the stream; one refused too → the poll", async () => {
    const s = setup();
    s.client.subscribe("k1", "log", {});
    await tick();
    s.t.fail();
    assert.deepEqual(s.kinds(), ["websocket", "stream"]);
    s.t.fail("no heartbeat within 10 s");
    assert.deepEqual(s.kinds(), ["websocket", "stream", "poll"]);
    s.t.open();
    assert.equal(s.client.status, "connected");
    assert.equal(s.client.statusDetail.transport, "poll");
    assert.deepEqual(s.t.sent.map((m) => m.kind), ["sub"]);
    assert.equal(s.sessionStorage.getItem(TRANSPORT_KEY), "poll");
  });

  test("a WebSocket that opens but carries nothing back within 3 s → the stream", async () => {
    const s = setup();
    s.client.subscribe("k1", "log", {});
    await tick();
    const ws = s.t;
    ws.open();
    s.timers.fire(3000);
    assert.ok(ws.closed);
    assert.deepEqual(s.kinds(), ["websocket", "stream"]);
    s.t.open();
    assert.deepEqual([s.client.status, s.client.statusDetail.transport], ["connected", "stream"]);
    assert.deepEqual(s.statuses, [["connected", "stream"]]);
  });

  test("every transport failing: a round again after the backoff, from the top", async () => {
    const s = setup();
    s.client.subscribe("k1", "log", {});
    await tick();
    s.t.fail();
    s.t.fail();
    s.t.fail();
    assert.equal(s.client.status, "reconnecting");
    s.timers.fire(250);
    assert.deepEqual(s.kinds(), ["websocket", "stream", "poll", "websocket"]);
    assert.equal(s.asked.length, 1, "api/info is asked once");
  });

  test("the remembered choice goes first; the WebSocket is probed later and taken when it works", async () => {
    const s = setup({ session: { [TRANSPORT_KEY]: "stream" } });
    const w = widget();
    s.client.subscribe("k1", "log", w.h);
    await tick();
    assert.deepEqual(s.kinds(), ["stream"]);
    const stream = s.t;
    stream.open();
    stream.deliver(subscribed(7), append(0), append(1), append(2));
    assert.deepEqual(s.statuses, [["connected", "stream"]]);
    // a probe that fails leaves the stream alone and tries again later
    s.timers.fire(45_000);
    s.t.fail();
    assert.ok(!stream.closed);
    s.timers.fire(45_000);
    const ws = s.t;
    assert.equal(ws.kind, "websocket");
    ws.open();
    assert.ok(stream.closed, "the old transport is closed once the WebSocket is open");
    assert.deepEqual(ws.sent.map((m) => [m.kind, m.epoch, m.offset]), [["sub", 7, 3]]);
    // frames of the old transport still on their way are ignored
    stream.deliver(append(3));
    // the hub resumes (overlapping one item, which is dropped) and the WebSocket counts
    ws.deliver(subscribed(7, { reset: false, head: 6 }), append(2), append(3), append(4), append(5));
    assert.deepEqual(w.seen, [0, 1, 2, 3, 4, 5], "0 lost, 0 duplicated");
    assert.equal(w.resets.length, 1);
    assert.deepEqual(s.statuses, [["connected", "stream"], ["connected", "websocket"]]);
    assert.equal(s.sessionStorage.getItem(TRANSPORT_KEY), "websocket");
    assert.equal(s.client.switches, 1);
    assert.equal(s.client.probes, 2);
  });

  test("a probed WebSocket that carries nothing back: back to the stream, resumed", async () => {
    const s = setup({ session: { [TRANSPORT_KEY]: "stream" } });
    const w = widget();
    s.client.subscribe("k1", "log", w.h);
    await tick();
    s.t.open();
    s.t.deliver(subscribed(7), append(0));
    s.timers.fire(45_000);
    s.t.open();
    s.timers.fire(3000);
    assert.deepEqual(s.kinds(), ["stream", "websocket", "stream"]);
    s.t.open();
    assert.deepEqual(s.t.sent.map((m) => [m.kind, m.epoch, m.offset]), [["sub", 7, 1]]);
    s.t.deliver(subscribed(7, { reset: false }), append(1));
    assert.deepEqual(w.seen, [0, 1]);
  });

  test("a WebSocket killed mid-stream: the stream takes over where it stopped", async () => {
    const s = setup();
    const w = widget();
    const sub = s.client.subscribe("k1", "log", w.h);
    await tick();
    s.t.open();
    s.t.deliver(subscribed(3), append(0), append(1));
    sub.send("click", { n: 1 });
    s.t.fail("killed"); // before the event's frame went out
    assert.equal(s.client.status, "reconnecting");
    s.timers.fire(250);
    s.t.fail(); // the WebSocket is refused now
    s.t.open();
    assert.equal(s.t.kind, "stream");
    assert.deepEqual(s.t.sent.map((m) => [m.kind, m.epoch, m.offset, m.key]), [["sub", 3, 2, null], ["event", null, null, "click"]]);
    s.t.deliver(subscribed(3, { reset: false }), append(2), append(3));
    assert.deepEqual(w.seen, [0, 1, 2, 3]);
    assert.deepEqual(s.client.statusDetail.transport, "stream");
    assert.ok(s.timers.has(45_000), "the WebSocket is probed again later");
  });

  test("an HTTP transport's reattach (a new onopen) re-subscribes, nothing else changes", async () => {
    const s = setup({ session: { [TRANSPORT_KEY]: "poll" } });
    const w = widget();
    s.client.subscribe("k1", "log", w.h);
    await tick();
    s.t.open();
    s.t.deliver(subscribed(4), append(0), append(1));
    s.t.open();
    assert.deepEqual(s.t.sent.map((m) => [m.kind, m.offset]), [["sub", null], ["sub", 2]]);
    s.t.deliver(subscribed(4, { reset: false }), append(2));
    assert.deepEqual(w.seen, [0, 1, 2]);
    assert.equal(s.statuses.length, 1);
  });

  test("forced by localStorage: that transport alone, no probe", async () => {
    const s = setup({ local: { [TRANSPORT_KEY]: "poll" } });
    s.client.subscribe("k1", "log", {});
    await tick();
    assert.deepEqual(s.kinds(), ["poll"]);
    s.t.open();
    assert.deepEqual([s.client.status, s.client.statusDetail.transport], ["connected", "poll"]);
    assert.equal(s.timers.pending.length, 0);
    s.t.fail();
    s.timers.fire(250);
    assert.deepEqual(s.kinds(), ["poll", "poll"]);
  });

  test("forced by the page config or an option; an unknown name is ignored with a warning", async () => {
    const s = setup({ config: { baseUrl: "/", nbchannelTransport: "sse" } });
    s.client.connect();
    await tick();
    assert.deepEqual(s.kinds(), ["sse"]);
    const bad = setup({ transport: "carrier-pigeon" });
    assert.equal(bad.client.forced, null);
    assert.match(bad.logs[0][1], /unknown transport "carrier-pigeon"/);
  });

  test("no HTTP fetch: the WebSocket alone, counted at open", async () => {
    const s = setup({ fetch: null });
    s.client.subscribe("k1", "log", {});
    await tick();
    assert.deepEqual(s.asked, []);
    s.t.open();
    assert.equal(s.client.status, "connected");
  });
});
