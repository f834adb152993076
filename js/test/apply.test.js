// The browser's ChannelView against the recorded hub sequences that the Python viewer runs
// too (tests/fixtures/apply; tests/testing/test_apply_fixtures.py), so the two stay alike.

import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";

import { ChannelView, StreamLog } from "../src/apply.js";
import { createMessage, decodeFrame, encodeFrame } from "../src/codec.js";

const DIR = fileURLToPath(new URL("../../tests/fixtures/apply/", import.meta.url));
const CASES = readdirSync(DIR).filter((f) => f.endsWith(".json")).sort();

/** The case's messages, through the codec as the client receives them. */
function messages(c) {
  const msgs = c.messages.map((m) => {
    const msg = createMessage(m.kind, m.channel ?? c.channel, m.value ?? null, {
      scope: c.scope,
      key: m.key ?? null,
      offset: m.offset ?? null,
      epoch: m.epoch ?? null,
    });
    if (m.count !== undefined) msg.count = m.count; // a segment: the value is its items
    return msg;
  });
  return decodeFrame(encodeFrame(msgs));
}

/** Run a case; the view's outcome in the fixture's shape. */
function run(c) {
  const view = new ChannelView(c.scope, c.channel);
  const gaps = [];
  const published = [];
  const emit = (name, arg) => {
    if (name === "onGap") gaps.push({ ...arg, offset: arg.offset ?? null });
    if (name === "onPublish") published.push(arg);
  };
  for (const m of messages(c)) if (m.kind !== "error") view.apply(m, emit);
  return {
    epoch: view.epoch,
    waiting: view.waiting,
    closed: view.closed,
    resets: view.resets,
    next_offset: view.nextOffset,
    state: Object.fromEntries(view.state),
    items: view.log.items().filter((i) => !i.gap).map((i) => [i.offset, i.value]),
    gaps,
    published,
    duplicates: view.duplicates,
  };
}

describe("recorded sequences shared with the Python viewer", () => {
  test("there are some", () => assert.ok(CASES.length >= 8));
  for (const file of CASES) {
    const c = JSON.parse(readFileSync(DIR + file, "utf8"));
    test(`${file}: ${c.description}`, () => {
      assert.deepEqual(run(c), c.expect);
    });
  }
});

describe("ChannelView", () => {
  test("emits what changed, in order, for the widgets", () => {
    const view = new ChannelView("k", "c");
    const calls = [];
    const emit = (...a) => calls.push(a);
    const m = (kind, value, fields = {}) => createMessage(kind, "c", value, { scope: "k", ...fields });
    view.apply(m("subscribed", { epoch: 1, head: 0, tail: 0, reset: true, waiting: false, state: 2 }), emit);
    view.apply(m("set", 1, { key: "a" }), emit);
    view.apply(m("set", 2, { key: "b" }), emit);
    view.apply(m("append", "x", { offset: 0 }), emit);
    view.apply(m("subscribed", { epoch: 1, head: 1, tail: 0, reset: false, waiting: false, state: 1 }), emit);
    view.apply(m("set", 1, { key: "a" }), emit);
    view.apply(m("append", "x", { offset: 0 }), emit);
    assert.deepEqual(calls.map((c) => c.slice(0, 2)), [
      ["onReset", { epoch: 1, head: 0, tail: 0, reset: true, waiting: false, state: 2 }],
      ["onState", "a"],
      ["onState", "b"],
      ["onAppend", "x"],
      ["onState", "a"],
      ["onUnset", "b"],
    ]);
    assert.equal(view.duplicates, 1);
    assert.deepEqual(view.resumeFrom(), { epoch: 1, offset: 1 });
    assert.deepEqual(new ChannelView("k", "d").resumeFrom(), { epoch: null, offset: null });
  });

  test("replayTo brings one more widget up to date, with a gap for what the log dropped", () => {
    const view = new ChannelView("k", "c", { bufferItems: 2 });
    const m = (kind, value, fields = {}) => createMessage(kind, "c", value, { scope: "k", ...fields });
    view.apply(m("subscribed", { epoch: 1, head: 0, tail: 0, reset: true, waiting: false }));
    for (let i = 0; i < 4; i++) view.apply(m("append", i, { offset: i }));
    view.apply(m("closed", null));
    const calls = [];
    view.replayTo((...a) => calls.push(a));
    assert.deepEqual(calls.slice(1), [
      ["onGap", { kind: "append", count: 2, reason: "history", offset: 0, end: 2 }],
      ["onAppend", 2, 2],
      ["onAppend", 3, 3],
      ["onClosed"],
    ]);
  });

  test("StreamLog is bounded by items and bytes", () => {
    const log = new StreamLog(3, 100);
    for (let i = 0; i < 5; i++) log.push({ offset: i, value: i, gap: null }, 10);
    assert.deepEqual(log.items().map((i) => i.offset), [2, 3, 4]);
    assert.equal(log.from, 2);
    log.push({ offset: 5, value: 5, gap: null }, 95);
    assert.deepEqual(log.items().map((i) => i.offset), [5]);
    assert.equal(log.from, 5);
  });
});
