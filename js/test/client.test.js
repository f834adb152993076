// ChannelClient against a fake transport and fake timers: what it sends, how it applies the
// hub's replay, and how it reconnects and resumes.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { ChannelClient, channelUrl, getClient, readPageConfig } from "../src/client.js";
import { createMessage, decodeFrame, encodeFrame, valueOf } from "../src/codec.js";
import { NDArray } from "../src/ndarray.js";

const tick = () => new Promise((resolve) => setImmediate(resolve));

class FakeTransport {
  constructor(url) {
    this.url = url;
    this.onopen = this.onmessage = this.onclose = this.onerror = null;
    this.connected = false;
    this.closed = false;
    /** Frames sent, each decoded to [{kind, channel, scope, key, offset, epoch, value}]. */
    this.frames = [];
  }
  connect() {
    this.connected = true;
  }
  send(frame) {
    this.frames.push(decodeFrame(frame).map((m) => ({
      kind: m.kind, channel: m.channel, scope: m.scope, key: m.key, offset: m.offset, epoch: m.epoch, value: valueOf(m),
    })));
  }
  close() {
    this.closed = true;
  }
  // -- driven by the test, playing the server --
  open() {
    this.onopen();
  }
  /** Deliver one frame of messages [kind, channel, value, fields]. */
  deliver(...msgs) {
    this.onmessage(encodeFrame(msgs.map(([kind, channel, value, fields]) => createMessage(kind, channel, value, { scope: "k1", ...fields }))));
  }
  drop(code = 1006) {
    this.onclose({ code, reason: "gone", wasClean: false });
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
  /** Run the next timer; returns its delay. */
  fire() {
    const t = this.pending.shift();
    assert.ok(t, "no timer pending");
    t.fn();
    return t.ms;
  }
}

/** A client wired to fakes; `net.transports` holds one transport per connection attempt. */
function setup(options = {}) {
  const transports = [];
  const timers = new FakeTimers();
  const logs = [];
  let now = 0;
  const client = new ChannelClient({
    url: "ws://test/nbchannel/ws",
    config: null,
    transportFactory: (url) => {
      const t = new FakeTransport(url);
      transports.push(t);
      return t;
    },
    timers,
    random: () => 1,
    now: () => now,
    lingerMs: 0,
    log: { warn: (...a) => logs.push(["warn", ...a]), error: (...a) => logs.push(["error", ...a]) },
    ...options,
  });
  const statuses = [];
  client.onStatus((s, d) => statuses.push([s, d]));
  return {
    client, transports, timers, logs, statuses,
    get t() {
      return transports[transports.length - 1];
    },
    advance(ms) {
      now += ms;
    },
  };
}

/** Handlers that record every call as [name, ...args]. */
function recorder() {
  const calls = [];
  const h = {};
  for (const name of ["onReset", "onState", "onUnset", "onAppend", "onPublish", "onGap", "onClosed", "onError"]) {
    h[name] = (...args) => calls.push([name, ...args]);
  }
  return { h, calls };
}

const info = (epoch, { head = 0, tail = 0, reset = true, waiting = false, state } = {}) =>
  state === undefined ? { epoch, head, tail, reset, waiting } : { epoch, head, tail, reset, waiting, state };

describe("subscribing", () => {
  test("subscribe connects lazily and sends `sub` once the socket is open", async () => {
    const s = setup();
    assert.equal(s.transports.length, 0);
    assert.equal(s.client.status, "connecting");
    s.client.subscribe("k1", "sensor", {});
    assert.equal(s.transports.length, 1);
    assert.equal(s.t.url, "ws://test/nbchannel/ws");
    assert.ok(s.t.connected);
    assert.equal(s.t.frames.length, 0);
    s.t.open();
    assert.deepEqual(s.t.sent, [{ kind: "sub", channel: "sensor", scope: "k1", key: null, offset: null, epoch: null, value: null }]);
    assert.equal(s.client.status, "connected");
    // a subscription made while open goes out at the end of the task
    s.client.subscribe("server", "shared", {});
    assert.equal(s.t.frames.length, 1);
    await tick();
    assert.deepEqual(s.t.frames[1].map((m) => [m.kind, m.scope, m.channel]), [["sub", "server", "shared"]]);
  });

  test("bad arguments are refused", () => {
    const s = setup();
    assert.throws(() => s.client.subscribe("", "x"), TypeError);
    assert.throws(() => s.client.subscribe("k", ""), TypeError);
  });

  test("the replay applies reset, state and stream; live messages follow", () => {
    const s = setup();
    const r = recorder();
    const sub = s.client.subscribe("k1", "sensor", r.h);
    s.t.open();
    s.t.deliver(
      ["subscribed", "sensor", info(7, { head: 2, tail: 0 })],
      ["set", "sensor", "Temperature", { key: "title" }],
      ["append", "sensor", { v: 1 }, { offset: 0 }],
      ["append", "sensor", { v: new Float64Array([2, 3]) }, { offset: 1 }],
    );
    s.t.deliver(["publish", "sensor", "hi"], ["unset", "sensor", null, { key: "title" }], ["set", "sensor", 3, { key: "n" }]);
    assert.deepEqual(r.calls.map((c) => c[0]), ["onReset", "onState", "onAppend", "onAppend", "onPublish", "onUnset", "onState"]);
    assert.deepEqual(r.calls[0], ["onReset", info(7, { head: 2 })]);
    assert.deepEqual(r.calls[1], ["onState", "title", "Temperature"]);
    assert.deepEqual(r.calls[2], ["onAppend", { v: 1 }, 0]);
    assert.ok(r.calls[3][1].v instanceof NDArray);
    assert.deepEqual(Array.from(r.calls[3][1].v.data), [2, 3]);
    assert.equal(r.calls[3][2], 1);
    assert.deepEqual([...sub.state], [["n", 3]]);
  });

  test("messages before `subscribed` (from an earlier subscription) are ignored", () => {
    const s = setup();
    const r = recorder();
    s.client.subscribe("k1", "sensor", r.h);
    s.t.open();
    s.t.deliver(["append", "sensor", 1, { offset: 4 }], ["set", "sensor", 1, { key: "a" }]);
    assert.deepEqual(r.calls, []);
    s.t.deliver(["subscribed", "sensor", info(1)], ["append", "sensor", 2, { offset: 0 }]);
    assert.deepEqual(r.calls.map((c) => c[0]), ["onReset", "onAppend"]);
  });

  test("messages for channels not subscribed are ignored", () => {
    const s = setup();
    s.client.subscribe("k1", "a", {});
    s.t.open();
    s.t.deliver(["subscribed", "other", info(1)], ["append", "other", 1, { offset: 0 }]);
    assert.deepEqual(s.logs, []);
  });

  test("a waiting channel, then the kernel opens it, closes it and opens it again", () => {
    const s = setup();
    const r = recorder();
    const sub = s.client.subscribe("k1", "sensor", r.h);
    s.t.open();
    s.t.deliver(["subscribed", "sensor", info(null, { waiting: true })]);
    s.t.deliver(["subscribed", "sensor", info(5)], ["set", "sensor", 1, { key: "a" }]);
    s.t.deliver(["closed", "sensor", null]);
    assert.deepEqual([...sub.state], [["a", 1]], "the last state stays shown until a re-open");
    s.t.deliver(["subscribed", "sensor", info(6)]);
    assert.deepEqual(r.calls.map((c) => c[0]), ["onReset", "onReset", "onState", "onClosed", "onReset"]);
    assert.equal(r.calls[0][1].waiting, true);
    assert.equal(sub.state.size, 0);
  });
});

describe("several subscribers on one channel", () => {
  test("share one subscription on the wire and each get every callback", async () => {
    const s = setup();
    const a = recorder();
    const b = recorder();
    const sa = s.client.subscribe("k1", "sensor", a.h);
    const sb = s.client.subscribe("k1", "sensor", b.h); // before the replay arrived
    s.t.open();
    assert.equal(s.t.sent.filter((m) => m.kind === "sub").length, 1);
    s.t.deliver(["subscribed", "sensor", info(3)], ["append", "sensor", "x", { offset: 0 }]);
    assert.deepEqual(a.calls, b.calls);
    assert.equal(a.calls.length, 2);
    sa.close();
    await tick();
    assert.equal(s.t.sent.filter((m) => m.kind === "unsub").length, 0, "b still subscribed");
    s.t.deliver(["append", "sensor", "y", { offset: 1 }]);
    assert.equal(a.calls.length, 2);
    assert.equal(b.calls.length, 3);
    sb.close();
    sb.close();
    await tick();
    assert.deepEqual(s.t.sent.filter((m) => m.kind === "unsub").map((m) => [m.scope, m.channel]), [["k1", "sensor"]]);
    s.t.deliver(["append", "sensor", "z", { offset: 2 }]);
    assert.equal(b.calls.length, 3);
  });

  test("a late subscriber gets reset, state and the recent stream from memory", async () => {
    const s = setup();
    const first = recorder();
    s.client.subscribe("k1", "sensor", first.h);
    s.t.open();
    s.t.deliver(
      ["subscribed", "sensor", info(9, { head: 5, tail: 3 })],
      ["set", "sensor", "T", { key: "title" }],
      ["append", "sensor", 3, { offset: 3 }],
      ["append", "sensor", 4, { offset: 4 }],
      ["gap", "sensor", { kind: "append", count: 2, end: 7, reason: "dropped" }, { offset: 5 }],
      ["append", "sensor", 7, { offset: 7 }],
      ["publish", "sensor", "transient"],
    );
    const late = recorder();
    const sub = s.client.subscribe("k1", "sensor", late.h);
    assert.deepEqual(late.calls, [], "replayed after subscribe() returns");
    await tick();
    assert.deepEqual(late.calls, [
      ["onReset", info(9, { head: 5, tail: 3 })],
      ["onState", "title", "T"],
      ["onAppend", 3, 3],
      ["onAppend", 4, 4],
      ["onGap", { kind: "append", count: 2, end: 7, reason: "dropped", offset: 5 }],
      ["onAppend", 7, 7],
    ]);
    assert.equal(sub.state.get("title"), "T");
    assert.equal(s.t.sent.filter((m) => m.kind === "sub").length, 1, "no second sub on the wire");
    s.t.deliver(["append", "sensor", 8, { offset: 8 }]);
    assert.deepEqual(late.calls.at(-1), ["onAppend", 8, 8]);
    assert.deepEqual(first.calls.at(-1), ["onAppend", 8, 8]);
  });

  test("the local stream log is bounded and says what it dropped", async () => {
    const s = setup({ streamBufferItems: 2 });
    s.client.subscribe("k1", "sensor", {});
    s.t.open();
    s.t.deliver(["subscribed", "sensor", info(1)], ...[0, 1, 2, 3, 4].map((i) => ["append", "sensor", i, { offset: i }]));
    const late = recorder();
    s.client.subscribe("k1", "sensor", late.h);
    await tick();
    assert.deepEqual(late.calls.slice(1), [
      ["onGap", { kind: "append", count: 3, reason: "history", offset: 0, end: 3 }],
      ["onAppend", 3, 3],
      ["onAppend", 4, 4],
    ]);
  });

  test("a late subscriber of a closed channel learns it is closed", async () => {
    const s = setup();
    s.client.subscribe("k1", "sensor", {});
    s.t.open();
    s.t.deliver(["subscribed", "sensor", info(1)], ["closed", "sensor", null]);
    const late = recorder();
    s.client.subscribe("k1", "sensor", late.h);
    await tick();
    assert.deepEqual(late.calls.map((c) => c[0]), ["onReset", "onClosed"]);
  });

  test("closing and re-subscribing in one task sends unsub then sub", async () => {
    const s = setup();
    s.client.subscribe("k1", "sensor", {}).close();
    s.t.open();
    assert.equal(s.t.frames.length, 0, "nothing to send for a channel closed before the socket opened");
    const sub = s.client.subscribe("k1", "sensor", {});
    await tick();
    sub.close();
    s.client.subscribe("k1", "sensor", {});
    await tick();
    assert.deepEqual(s.t.frames.map((f) => f.map((m) => m.kind)), [["sub"], ["unsub", "sub"]]);
  });
});

describe("a channel outlives its last subscriber a while (lingerMs)", () => {
  test("a view re-created within the linger finds the stream in memory; after it, unsub", async () => {
    const s = setup({ lingerMs: 5000 });
    const a = recorder();
    const first = s.client.subscribe("k1", "sensor", a.h);
    s.t.open();
    s.t.deliver(["subscribed", "sensor", info(3)], ["append", "sensor", "x", { offset: 0 }], ["append", "sensor", "y", { offset: 1 }]);
    first.close();
    assert.deepEqual(s.timers.pending.map((t) => t.ms), [5000]);
    s.t.deliver(["append", "sensor", "z", { offset: 2 }]); // still subscribed on the wire
    const b = recorder();
    const again = s.client.subscribe("k1", "sensor", b.h);
    assert.equal(s.timers.pending.length, 0, "the linger is cancelled");
    await tick();
    assert.deepEqual(b.calls.filter((c) => c[0] === "onAppend").map((c) => c[1]), ["x", "y", "z"]);
    assert.equal(s.t.sent.filter((m) => m.kind === "sub").length, 1, "no second sub: it came from memory");
    again.close();
    s.timers.fire();
    await tick();
    assert.deepEqual(s.t.sent.filter((m) => m.kind === "unsub").map((m) => m.channel), ["sensor"]);
  });
});

describe("reconnecting", () => {
  test("re-subscribes every channel with its epoch and next offset", () => {
    const s = setup();
    const r = recorder();
    s.client.subscribe("k1", "a", r.h);
    s.client.subscribe("k1", "fresh", {});
    s.t.open();
    s.t.deliver(["subscribed", "a", info(42, { head: 3 })], ...[0, 1, 2].map((i) => ["append", "a", i, { offset: i }]));
    const first = s.t;
    first.drop();
    assert.equal(s.client.status, "reconnecting");
    assert.equal(s.timers.pending.length, 1);
    s.timers.fire();
    assert.notEqual(s.t, first);
    s.t.open();
    assert.deepEqual(s.t.frames.length, 1, "all subscriptions in one frame");
    assert.deepEqual(s.t.sent.map((m) => [m.kind, m.channel, m.epoch, m.offset]), [
      ["sub", "a", 42, 3],
      ["sub", "fresh", null, null],
    ]);
    // the hub resumes: no reset, the state again, then the missed items
    s.t.deliver(["subscribed", "a", info(42, { head: 5, reset: false, state: 1 })], ["set", "a", 1, { key: "x" }], ["append", "a", 3, { offset: 3 }]);
    assert.deepEqual(r.calls.slice(4).map((c) => c.slice(0, 2)), [["onState", "x"], ["onAppend", 3]]);
    assert.equal(r.calls.filter((c) => c[0] === "onReset").length, 1);
  });

  test("a resume drops the keys deleted while away (the replay names every key left)", () => {
    const s = setup();
    const r = recorder();
    const sub = s.client.subscribe("k1", "t", r.h);
    s.t.open();
    s.t.deliver(
      ["subscribed", "t", info(7, { state: 3 })],
      ["set", "t", "A", { key: "row:a" }],
      ["set", "t", "B", { key: "row:b" }],
      ["set", "t", "C", { key: "row:c" }],
    );
    s.t.drop();
    s.timers.fire();
    s.t.open();
    // row:b was deleted while the page was away; the hub replays the two rows left
    s.t.deliver(
      ["subscribed", "t", info(7, { reset: false, state: 2 })],
      ["set", "t", "A", { key: "row:a" }],
      ["set", "t", "C2", { key: "row:c" }],
    );
    assert.deepEqual([...sub.state.entries()], [["row:a", "A"], ["row:c", "C2"]]);
    assert.deepEqual(r.calls.filter((c) => c[0] === "onUnset").map((c) => c[1]), ["row:b"]);
  });

  test("a new epoch after reconnecting resets", () => {
    const s = setup();
    const r = recorder();
    const sub = s.client.subscribe("k1", "a", r.h);
    s.t.open();
    s.t.deliver(["subscribed", "a", info(1)], ["set", "a", 1, { key: "old" }], ["append", "a", 0, { offset: 0 }]);
    s.t.drop();
    s.timers.fire();
    s.t.open();
    assert.deepEqual([s.t.sent[0].epoch, s.t.sent[0].offset], [1, 1]);
    s.t.deliver(["subscribed", "a", info(2, { head: 0 })], ["set", "a", 2, { key: "new" }]);
    assert.deepEqual([...sub.state], [["new", 2]]);
    assert.deepEqual(r.calls.map((c) => c[0]), ["onReset", "onState", "onAppend", "onReset", "onState"]);
  });

  test("gap markers advance the resume offset", () => {
    const s = setup();
    const r = recorder();
    s.client.subscribe("k1", "a", r.h);
    s.t.open();
    s.t.deliver(
      ["subscribed", "a", info(5, { head: 3 })],
      ["append", "a", 0, { offset: 2 }],
      ["gap", "a", { kind: "append", count: 7, end: 10, reason: "dropped" }, { offset: 3 }],
      ["gap", "a", { kind: "publish", count: 4, reason: "dropped" }],
      ["gap", "a", { kind: "append", count: 1, end: 2, reason: "dropped" }, { offset: 1 }],
    );
    assert.deepEqual(r.calls.filter((c) => c[0] === "onGap").map((c) => c[1]), [
      { kind: "append", count: 7, end: 10, reason: "dropped", offset: 3 },
      { kind: "publish", count: 4, reason: "dropped" },
      { kind: "append", count: 1, end: 2, reason: "dropped", offset: 1 },
    ]);
    s.t.drop();
    s.timers.fire();
    s.t.open();
    assert.deepEqual([s.t.sent[0].epoch, s.t.sent[0].offset], [5, 10]);
    // the hub could not resume from 10 any more: a history gap, then what it kept
    s.t.deliver(
      ["subscribed", "a", info(5, { head: 30, tail: 20, reset: false })],
      ["gap", "a", { kind: "append", count: 10, end: 20, reason: "history" }, { offset: 10 }],
      ["append", "a", 20, { offset: 20 }],
    );
    s.t.drop();
    s.timers.fire();
    s.t.open();
    assert.deepEqual([s.t.sent[0].epoch, s.t.sent[0].offset], [5, 21]);
  });

  test("status transitions and backoff from 0.25 s up to 5 s", () => {
    const s = setup();
    s.client.subscribe("k1", "a", {});
    s.t.open();
    s.t.drop(1001);
    const delays = [];
    for (let i = 0; i < 7; i++) {
      delays.push(s.timers.fire()); // attempt fails at once
      s.t.drop();
    }
    delays.push(s.timers.fire());
    assert.deepEqual(delays, [250, 500, 1000, 2000, 4000, 5000, 5000, 5000]);
    s.t.open();
    const seq = s.statuses.map(([st]) => st);
    assert.deepEqual(seq, ["connected", ...Array(8).fill("reconnecting"), "connected"]);
    assert.deepEqual(s.statuses[1][1], { attempt: 1, delay: 250, code: 1001, reason: "gone" });
    // a connection that dropped quickly keeps the backoff; one that lasted resets it
    s.t.drop();
    assert.equal(s.timers.pending[0].ms, 5000);
    s.timers.fire();
    s.t.open();
    s.advance(10_000);
    s.t.drop();
    assert.equal(s.timers.pending[0].ms, 250);
  });

  test("backoff is jittered between half and all of the step", () => {
    for (const [random, ms] of [[0, 125], [0.5, 188], [0.999, 250]]) {
      const s = setup({ random: () => random });
      s.client.subscribe("k1", "a", {});
      s.t.drop();
      assert.equal(s.timers.pending[0].ms, ms);
    }
  });

  test("events sent while disconnected go out after the re-subscriptions", () => {
    const s = setup({ maxPendingEvents: 2 });
    const sub = s.client.subscribe("k1", "a", {});
    assert.equal(sub.send("click", { n: 1 }), true);
    sub.send("click", { n: 2 });
    sub.send("click", { n: 3 }); // over the bound: the oldest goes
    s.t.open();
    assert.deepEqual(s.t.frames.map((f) => f.map((m) => [m.kind, m.key, m.value?.n])), [
      [["sub", null, undefined], ["event", "click", 2], ["event", "click", 3]],
    ]);
    assert.equal(s.logs.length, 1);
  });

  test("the old transport is closed by close() and its late callbacks are ignored", () => {
    const s = setup();
    const r = recorder();
    s.client.subscribe("k1", "a", r.h);
    const t = s.t;
    t.open();
    s.client.close();
    assert.ok(t.closed);
    assert.equal(s.client.status, "unavailable");
    t.deliver(["subscribed", "a", info(1)]);
    t.drop();
    assert.deepEqual(r.calls, []);
    assert.equal(s.timers.pending.length, 0);
  });

  test("a transport factory or connect() that throws counts as a failed attempt", () => {
    let n = 0;
    const s = setup({
      transportFactory: () => {
        n += 1;
        if (n === 1) throw new Error("blocked");
        return { connect() { throw new Error("nope"); }, send() {}, close() {}, onopen: null, onmessage: null, onclose: null };
      },
    });
    s.client.connect();
    assert.equal(s.client.status, "reconnecting");
    s.timers.fire();
    assert.equal(s.client.status, "reconnecting");
    assert.equal(s.timers.pending.length, 1);
    assert.equal(s.logs.filter((l) => l[0] === "error").length, 2);
  });
});

describe("events", () => {
  test("events of one task go out in one frame, arrays as buffers", async () => {
    const s = setup();
    const sub = s.client.subscribe("k1", "ctl", {});
    s.t.open();
    sub.send("click", {});
    sub.send("change", { value: 0.5 });
    sub.send("pointer", { xy: new Float32Array([1, 2]) });
    assert.equal(s.t.frames.length, 1, "only the sub so far");
    await tick();
    assert.equal(s.t.frames.length, 2);
    const [click, change, pointer] = s.t.frames[1];
    assert.deepEqual([click.kind, click.scope, click.channel, click.key, click.value], ["event", "k1", "ctl", "click", {}]);
    assert.deepEqual(change.value, { value: 0.5 });
    assert.equal(pointer.value.xy.dtype, "<f4");
    assert.deepEqual(Array.from(pointer.value.xy.data), [1, 2]);
  });

  test("large batches are split into several frames", async () => {
    const s = setup();
    const sub = s.client.subscribe("k1", "ctl", {});
    s.t.open();
    for (let i = 0; i < 2500; i++) sub.send("tick", i);
    await tick();
    assert.deepEqual(s.t.frames.slice(1).map((f) => f.length), [1000, 1000, 500]);
    assert.deepEqual(s.t.frames.slice(1).flat().map((m) => m.value), [...Array(2500).keys()]);
  });

  test("bad events throw to the caller; closed subscriptions send nothing", () => {
    const s = setup();
    const sub = s.client.subscribe("k1", "ctl", {});
    assert.throws(() => sub.send("", 1), TypeError);
    assert.throws(() => sub.send("x", { n: 1n }), (e) => e.code === "encode");
    sub.close();
    assert.equal(sub.send("x", 1), false);
  });
});

describe("errors never escape", () => {
  test("hub errors about a channel go to its subscribers; others to the client", () => {
    const s = setup();
    const r = recorder();
    s.client.subscribe("k1", "a", r.h);
    const errs = [];
    s.t.open();
    s.t.deliver(["error", "", { code: "malformed-frame", message: "bad" }, { scope: null }]);
    assert.equal(s.logs.length, 1, "no handler: console.warn");
    assert.match(s.logs[0][1], /malformed-frame: bad/);
    const off = s.client.onError((e) => errs.push(e));
    s.t.deliver(
      ["error", "a", { code: "unknown-channel", message: "no kernel" }, { key: "event" }],
      ["error", "zzz", { code: "limit-exceeded", message: "too many" }, { key: "sub" }],
    );
    assert.deepEqual(r.calls, [["onError", { code: "unknown-channel", message: "no kernel", about: "event" }]]);
    assert.deepEqual(errs, [{ code: "limit-exceeded", message: "too many", about: "sub" }]);
    off();
  });

  test("a bad frame is reported and the next one still works", () => {
    const s = setup();
    const r = recorder();
    s.client.subscribe("k1", "a", r.h);
    s.t.open();
    s.t.onmessage(new Uint8Array([1, 2, 3]));
    s.t.onmessage(new ArrayBuffer(0));
    const payloadBroken = createMessage("append", "a", 1, { scope: "k1", offset: 0 });
    payloadBroken.payload = new Uint8Array([0x7b]);
    s.t.deliver(["subscribed", "a", info(1)]);
    s.t.onmessage(encodeFrame([payloadBroken, createMessage("append", "a", 2, { scope: "k1", offset: 1 })]));
    assert.deepEqual(r.calls.map((c) => c.slice(0, 2)), [["onReset", info(1)], ["onAppend", 2]]);
    assert.equal(s.logs.length, 3);
    assert.ok(s.logs.slice(0, 2).every((l) => l[0] === "warn" && /malformed-frame/.test(l[1])));
    assert.match(s.logs[2][1], /could not apply a append message/);
  });

  test("a throwing widget callback does not stop the others", () => {
    const s = setup();
    const good = recorder();
    s.client.subscribe("k1", "a", { onReset() { throw new Error("boom"); }, onAppend() { throw new Error("boom"); } });
    s.client.subscribe("k1", "a", good.h);
    s.client.onStatus(() => { throw new Error("status boom"); });
    s.t.open();
    s.t.deliver(["subscribed", "a", info(1)], ["append", "a", 1, { offset: 0 }]);
    assert.deepEqual(good.calls.map((c) => c[0]), ["onReset", "onAppend"]);
    assert.equal(s.logs.filter((l) => l[0] === "error").length, 3);
  });
});

describe("page config and the singleton", () => {
  test("no jupyter-config-data element: unavailable, subscriptions stay quiet", () => {
    const client = new ChannelClient({ log: { warn() {}, error() {} } }); // node has no document
    const statuses = [];
    client.onStatus((s) => statuses.push(s));
    assert.equal(client.status, "unavailable");
    const errs = [];
    const sub = client.subscribe("k1", "a", { onError: (e) => errs.push(e) });
    assert.equal(client.status, "unavailable");
    assert.equal(sub.send("click", {}), false);
    assert.equal(errs[0].code, "unavailable");
    assert.deepEqual(statuses, []);
  });

  test("readPageConfig reads the script element", () => {
    const doc = (text) => ({ getElementById: (id) => (id === "jupyter-config-data" ? { textContent: text } : null) });
    assert.deepEqual(readPageConfig(doc('{"baseUrl": "/user/a/", "token": "t"}')), { baseUrl: "/user/a/", token: "t" });
    assert.equal(readPageConfig(doc("not json")), null);
    assert.equal(readPageConfig({ getElementById: () => null }), null);
    assert.equal(readPageConfig(undefined), null);
  });

  test("channelUrl builds {wsUrl or ws(s)://host}{baseUrl}nbchannel/ws", () => {
    const http = { protocol: "http:", host: "localhost:8888" };
    const https = { protocol: "https:", host: "hub.example.org" };
    assert.equal(channelUrl({ baseUrl: "/" }, http), "ws://localhost:8888/nbchannel/ws");
    assert.equal(channelUrl({ baseUrl: "/user/ann/" }, https), "wss://hub.example.org/user/ann/nbchannel/ws");
    assert.equal(channelUrl({ baseUrl: "/user/ann", token: "a b" }, http), "ws://localhost:8888/user/ann/nbchannel/ws?token=a%20b");
    assert.equal(channelUrl({ baseUrl: "/b/", wsUrl: "wss://ws.example.org/", token: "" }, http), "wss://ws.example.org/b/nbchannel/ws");
    assert.equal(channelUrl({ baseUrl: "/b/", wsUrl: "ws://h:1/b" }, http), "ws://h:1/b/nbchannel/ws");
    assert.equal(channelUrl({ baseUrl: "https://h.org/x/" }, undefined), "wss://h.org/x/nbchannel/ws");
    assert.equal(channelUrl({}, http), "ws://localhost:8888/nbchannel/ws");
    assert.equal(channelUrl({ baseUrl: "/" }, undefined), null);
  });

  test("a page config in the document gives the URL", async () => {
    const saved = globalThis.document;
    const savedLoc = globalThis.location;
    globalThis.document = { getElementById: () => ({ textContent: '{"baseUrl": "/lab/", "wsUrl": "", "token": ""}' }) };
    Object.defineProperty(globalThis, "location", { value: { protocol: "http:", host: "127.0.0.1:9" }, configurable: true });
    try {
      const urls = [];
      const asked = [];
      const fetch = async (url) => (asked.push(url), { status: 200, json: async () => ({ transports: ["websocket"] }) });
      const client = new ChannelClient({ fetch, transportFactory: (u) => (urls.push(u), new FakeTransport(u)) });
      client.connect();
      await tick();
      assert.deepEqual(asked, ["http://127.0.0.1:9/lab/nbchannel/api/info"]);
      assert.deepEqual(urls, ["ws://127.0.0.1:9/lab/nbchannel/ws"]);
      const withToken = new ChannelClient({ config: { baseUrl: "/", token: "secret" }, transportFactory: (u) => new FakeTransport(u) });
      assert.equal(withToken.url, "ws://127.0.0.1:9/nbchannel/ws?token=secret");
      assert.equal(withToken.statusDetail.url, "ws://127.0.0.1:9/nbchannel/ws?token=…", "no token in what widgets may show");
      client.close();
    } finally {
      globalThis.document = saved;
      if (savedLoc === undefined) delete globalThis.location;
      else Object.defineProperty(globalThis, "location", { value: savedLoc, configurable: true });
    }
  });

  test("getClient returns one client per page, kept on globalThis", () => {
    const key = "__nbchannel_client_v1__";
    delete globalThis[key];
    try {
      const a = getClient({ config: null, log: { warn() {}, error() {} } });
      const b = getClient();
      assert.equal(a, b);
      assert.equal(globalThis[key], a);
      assert.equal(a.status, "unavailable");
    } finally {
      delete globalThis[key];
    }
  });
});

describe("flow control", () => {
  test("a flow: block view reports what it consumed every quarter window, and the rest after the batch", async () => {
    const s = setup();
    const r = recorder();
    s.client.subscribe("k1", "bulk", r.h);
    s.t.open();
    await tick();
    const consumed = () => s.t.sent.filter((m) => m.kind === "consumed").map((m) => [m.channel, m.scope, m.offset]);
    s.t.deliver(
      ["subscribed", "bulk", { ...info(7), flow: "block", window: 8 }],
      ...[0, 1, 2, 3, 4].map((i) => ["append", "bulk", i, { offset: i }]),
    );
    await tick();
    assert.deepEqual(consumed(), [["bulk", "k1", 2], ["bulk", "k1", 4]]);
    while (s.timers.pending.length) s.timers.fire();
    await tick();
    assert.deepEqual(consumed().at(-1), ["bulk", "k1", 5]);
    assert.equal(r.calls.filter((c) => c[0] === "onAppend").length, 5);
  });

  test("other channels never report consumption", async () => {
    const s = setup();
    s.client.subscribe("k1", "plain", recorder().h);
    s.t.open();
    await tick();
    s.t.deliver(["subscribed", "plain", info(7)], ...[0, 1, 2].map((i) => ["append", "plain", i, { offset: i }]));
    while (s.timers.pending.length) s.timers.fire();
    await tick();
    assert.equal(s.t.sent.filter((m) => m.kind === "consumed").length, 0);
  });
});
