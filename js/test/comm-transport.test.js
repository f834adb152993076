// The widget's comm as a transport (src/transports/comm.js) and the choice between it and
// the page's hub client (src/choose.js), against a fake anywidget model that records what
// the view sends and delivers what the kernel would.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { ChannelClient } from "../src/client.js";
import { adoptModel, commClient, leaseClient, transportFor } from "../src/choose.js";
import { createMessage, decodeFrame, encodeFrame, valueOf } from "../src/codec.js";
import { CommTransport, newCid } from "../src/transports/comm.js";

const tick = () => new Promise((resolve) => setImmediate(resolve));

/** What anywidget hands a view: traits, custom messages both ways. */
class FakeModel {
  constructor(traits = {}) {
    this.traits = traits;
    /** @type {Map<string, Set<Function>>} */
    this.handlers = new Map();
    /** [content, buffers] the view sent */
    this.sent = [];
  }
  get(name) {
    return this.traits[name];
  }
  on(name, cb) {
    if (!this.handlers.has(name)) this.handlers.set(name, new Set());
    this.handlers.get(name).add(cb);
  }
  off(name, cb) {
    this.handlers.get(name)?.delete(cb);
  }
  send(content, _callbacks, buffers) {
    this.sent.push([content, buffers ?? []]);
  }
  /** The kernel sends a custom message (ipywidgets hands buffers as DataViews). */
  custom(content, buffers = []) {
    for (const cb of this.handlers.get("msg:custom") ?? []) cb(content, buffers.map((b) => new DataView(b.buffer, b.byteOffset, b.byteLength)));
  }
  /** Frames the view sent, decoded. */
  frames() {
    return this.sent.filter(([c, b]) => c.nbc === 1 && b.length).map(([c, b]) => ({ cid: c.cid, msgs: decodeFrame(new Uint8Array(b[0])).map((m) => ({ kind: m.kind, channel: m.channel, scope: m.scope, value: valueOf(m) })) }));
  }
}

const frame = (...msgs) => encodeFrame(msgs.map(([kind, channel, value, fields]) => createMessage(kind, channel, value, { scope: "k1", ...fields })));

describe("CommTransport", () => {
  test("opens at once, sends frames as binary custom messages tagged with its id", async () => {
    const model = new FakeModel();
    const t = new CommTransport(model, { cid: "abc" });
    let opened = 0;
    t.onopen = () => opened++;
    t.connect();
    await tick();
    assert.equal(opened, 1);
    t.send(frame(["sub", "ch", null]));
    const [content, buffers] = model.sent[0];
    assert.deepEqual(content, { nbc: 1, cid: "abc" });
    assert.ok(buffers[0] instanceof ArrayBuffer);
    assert.equal(decodeFrame(new Uint8Array(buffers[0]))[0].kind, "sub");
  });

  test("a slice of a larger buffer is sent as exactly its bytes", () => {
    const model = new FakeModel();
    const t = new CommTransport(model, { cid: "abc" });
    t.connect();
    const whole = new Uint8Array(100).fill(7);
    t.send(whole.subarray(10, 20));
    assert.equal(model.sent[0][1][0].byteLength, 10);
  });

  test("receives only frames addressed to it, and learns whether events are live", () => {
    const model = new FakeModel();
    const t = new CommTransport(model, { cid: "me" });
    const got = [];
    const live = [];
    t.onmessage = (data) => got.push(decodeFrame(data)[0].kind);
    t.onevents = (v) => live.push(v);
    t.connect();
    model.custom({ nbc: 1, to: "someone-else", events: "live" }, [frame(["state", "ch", 1, { key: "a" }])]);
    model.custom({ other: "anywidget message" }, []);
    model.custom({ nbc: 1, to: "me", events: "after-cell" }, [frame(["state", "ch", 1, { key: "a" }])]);
    model.custom({ nbc: 1, to: "me", events: "after-cell" }, [frame(["state", "ch", 2, { key: "a" }])]);
    model.custom({ nbc: 1, to: "me", events: "live" }, [frame(["append", "ch", 3])]);
    assert.deepEqual(got, ["state", "state", "append"]);
    assert.deepEqual(live, [false, true]);
    assert.equal(t.eventsLive, true);
  });

  test("told events wait for the cell's end, it asks again a few times, then stops", () => {
    const model = new FakeModel();
    const pending = [];
    const timers = { setTimeout: (fn, ms) => (pending.push({ fn, ms }), pending.at(-1)), clearTimeout: (t) => pending.splice(pending.indexOf(t), 1) };
    const t = new CommTransport(model, { cid: "me", timers });
    const live = [];
    t.onevents = (v) => live.push(v);
    t.onmessage = () => {};
    t.connect();
    const heartbeat = frame(["heartbeat", "", null]);
    for (const ms of [1000, 4000, 15000]) {
      model.custom({ nbc: 1, to: "me", events: "after-cell" }, [heartbeat]);
      assert.deepEqual(pending.map((p) => p.ms), [ms]);
      pending.shift().fn();
      assert.deepEqual(model.sent.at(-1), [{ nbc: 1, cid: "me", ping: true }, []]);
    }
    model.custom({ nbc: 1, to: "me", events: "after-cell" }, [heartbeat]);
    assert.equal(pending.length, 0, "three pings at most");
    model.custom({ nbc: 1, to: "me", events: "live" }, [heartbeat]);
    assert.deepEqual(live, [false, true]);
  });

  test("close says goodbye once and hears nothing more", () => {
    const model = new FakeModel();
    const t = new CommTransport(model, { cid: "me" });
    const got = [];
    t.onmessage = () => got.push(1);
    t.connect();
    t.close();
    t.close();
    model.custom({ nbc: 1, to: "me" }, [frame(["append", "ch", 3])]);
    assert.deepEqual(got, []);
    assert.deepEqual(model.sent, [[{ nbc: 1, cid: "me", bye: true }, []]]);
  });

  test("connection ids are 32 hex digits and differ", () => {
    const a = newCid();
    assert.match(a, /^[0-9a-f]{32}$/);
    assert.notEqual(a, newCid());
  });
});

describe("a client over the comm", () => {
  test("subscribes with the kernel's scope, applies the replay, sends events, says the transport", async () => {
    const model = new FakeModel({ _transport: "comm" });
    const client = commClient(model);
    const seen = [];
    const sub = client.subscribe("k1", "ch", {
      onState: (k, v) => seen.push(["state", k, v]),
      onAppend: (v, o) => seen.push(["append", v, o]),
    });
    await tick();
    const [first] = model.frames();
    assert.deepEqual(first.msgs.map((m) => [m.kind, m.channel, m.scope]), [["sub", "ch", "k1"]]);
    const cid = first.cid;
    model.custom({ nbc: 1, to: cid, events: "after-cell" }, [
      frame(["subscribed", "ch", { epoch: 1, head: 1, tail: 0, reset: true, waiting: false }], ["set", "ch", "hello", { key: "title" }], ["append", "ch", 5, { offset: 0 }]),
    ]);
    assert.deepEqual(seen, [["state", "title", "hello"], ["append", 5, 0]]);
    assert.equal(client.status, "connected");
    assert.equal(client.transport, "comm");
    assert.equal(client.statusDetail.events, "after-cell");
    sub.send("click", { n: 1 });
    await tick();
    const events = model.frames().flatMap((f) => f.msgs).filter((m) => m.kind === "event");
    assert.equal(events.length, 1);
    assert.equal(events[0].channel, "ch");
    assert.equal(events[0].scope, "k1");
    assert.deepEqual(events[0].value, { n: 1 });
    client.close();
    assert.deepEqual(model.sent.at(-1)[0], { nbc: 1, cid, bye: true });
  });
});

describe("choosing the hub or the comm", () => {
  const page = (absent) => () => /** @type {ChannelClient} */ (/** @type {unknown} */ ({ hubAbsent: absent, tag: "page" }));

  test("the kernel's offer decides, and hub+comm follows whether the page reaches a hub", () => {
    assert.equal(transportFor(new FakeModel({ _transport: "comm" }), page(false)), "comm");
    assert.equal(transportFor(new FakeModel({ _transport: "hub" }), page(true)), "hub");
    assert.equal(transportFor(new FakeModel({ _transport: "hub+comm" }), page(false)), "hub");
    assert.equal(transportFor(new FakeModel({ _transport: "hub+comm" }), page(true)), "comm");
    assert.equal(transportFor(new FakeModel({}), page(false)), "hub");
  });

  test("views of one widget share one comm client; it outlives the last view a while", () => {
    const lasting = new FakeModel({ _transport: "comm", _uid: "w1" });
    const forget = adoptModel(lasting);
    // anywidget hands every view its own wrapper of the model
    const model = new FakeModel({ _transport: "comm", _uid: "w1" });
    let through = null;
    let made = 0;
    let closed = 0;
    const makeComm = (m) => {
      made++;
      through = m;
      return /** @type {any} */ ({ close: () => closed++ });
    };
    const pending = [];
    const timers = {
      setTimeout: (fn, ms) => {
        const t = { fn, ms };
        pending.push(t);
        return t;
      },
      clearTimeout: (t) => pending.splice(pending.indexOf(t), 1),
    };
    const lease = () => leaseClient(model, { page: page(false), makeComm, timers });
    const a = lease();
    const b = lease();
    assert.equal(a.via, "comm");
    assert.equal(a.client, b.client);
    assert.equal(made, 1);
    a.release();
    a.release();
    assert.equal(pending.length, 0);
    b.release();
    assert.equal(closed, 0, "the client lingers for a view that comes back (an output re-rendered)");
    assert.deepEqual(pending.map((t) => t.ms), [10_000]);
    const again = lease();
    assert.equal(made, 1, "a view back within the linger reuses the client (and its memory)");
    assert.equal(pending.length, 0);
    again.release();
    pending.shift().fn();
    assert.equal(closed, 1);
    assert.equal(through, lasting, "the client listens through the wrapper that lasts");
    const c = lease();
    assert.equal(made, 2);
    forget(); // the model is gone: its client closes at once
    assert.equal(closed, 2);
    c.release();
    const hub = leaseClient(new FakeModel({ _transport: "hub" }), { page: page(false), makeComm });
    assert.equal(hub.via, "hub");
    assert.equal(/** @type {any} */ (hub.client).tag, "page");
  });

  test("without a lasting wrapper the client closes with its last view", () => {
    const model = new FakeModel({ _transport: "comm", _uid: "w2" });
    let closed = 0;
    const lease = leaseClient(model, { page: page(false), makeComm: () => /** @type {any} */ ({ close: () => closed++ }) });
    lease.release();
    assert.equal(closed, 1);
  });

  test("a page without a Jupyter config has no hub", () => {
    const client = new ChannelClient({ config: null, fetch: null });
    assert.equal(client.hubAbsent, true);
  });
});
