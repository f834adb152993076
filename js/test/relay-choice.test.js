// Hub-wide channels in the page: a view of a `_scope: "hub"` widget gets its data from the
// relay its page's server names (api/info `relay`), through one more page-wide client; the
// relay's info logs the browser in and says whether this user may watch.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { ChannelClient } from "../src/client.js";
import { leaseClient, makeRelayClient, relayClient, relayTarget } from "../src/choose.js";
import { createMessage, decodeFrame, encodeFrame, valueOf } from "../src/codec.js";

const tick = async (n = 5) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

class FakeModel {
  constructor(traits) {
    this.traits = traits;
  }
  get(name) {
    return this.traits[name];
  }
}

class FakeTransport {
  constructor(url) {
    this.url = url;
    this.onopen = this.onmessage = this.onclose = this.onerror = null;
    this.frames = [];
  }
  connect() {
    queueMicrotask(() => this.onopen?.());
  }
  send(frame) {
    this.frames.push(...decodeFrame(frame).map((m) => ({ kind: m.kind, scope: m.scope, channel: m.channel, key: m.key, value: valueOf(m) })));
  }
  close() {}
  deliver(kind, channel, value, fields = {}) {
    this.onmessage(encodeFrame([createMessage(kind, channel, value, { scope: "hub", ...fields })]));
  }
}

const quiet = { warn() {}, error() {} };
const location = { protocol: "http:", host: "127.0.0.1:8000" };

/** A page's client (its server at /user/ann/) and a relay's, with fake networks. */
function setup({ pageInfo = { transports: ["websocket"], relay: "/services/nbchannel/" }, relayInfo = { user: "ann", may: { own: false, subscribe: true, event: true } } } = {}) {
  const asked = [];
  const sockets = [];
  const fetch = async (url, init) => {
    asked.push({ url, init });
    const body = url.includes("/user/ann/") ? pageInfo : relayInfo;
    return body === 404 ? { status: 404, json: async () => ({}) } : { status: 200, json: async () => body };
  };
  const transportFactory = (url) => {
    const t = new FakeTransport(url);
    sockets.push(t);
    return t;
  };
  const page = new ChannelClient({ config: { baseUrl: "/user/ann/" }, location, fetch, transportFactory, sessionStorage: null, localStorage: null, log: quiet });
  const makeRelay = (target) => makeRelayClient(target, { fetch, transportFactory, log: quiet });
  const lease = (traits) => leaseClient(new FakeModel(traits), { page: () => page, makeRelay, location });
  return { page, asked, sockets, lease };
}

describe("views of hub-wide channels", () => {
  test("go to the relay the page's server names, one client for every such view of the page", async () => {
    const { page, asked, sockets, lease } = setup();
    const a = lease({ _scope: "hub", _channel: "quiz", _transport: "hub" });
    const b = lease({ _scope: "hub", _channel: "quiz/answer", _transport: "hub" });
    const kernelView = lease({ _scope: "k1", _channel: "log", _transport: "hub" });
    assert.equal(a.via, "relay");
    assert.equal(a.client, b.client);
    assert.notEqual(a.client, page);
    assert.equal(kernelView.via, "hub");
    assert.equal(kernelView.client, page);
    assert.equal(a.client.status, "connecting", "while the page's server has not named the relay yet");

    const seen = [];
    const errors = [];
    const sub = a.client.subscribe("hub", "quiz", { onAppend: (v, o) => seen.push([o, v]), onState: (k, v) => seen.push([k, v]), onError: (e) => errors.push(e) });
    await tick();
    // the page's server first, then the relay's info: same origin, "no-cors" (JupyterHub
    // takes the relay's cookie on it without an XSRF token), none of the page's headers
    assert.deepEqual(
      asked.map((r) => r.url),
      ["http://127.0.0.1:8000/user/ann/nbchannel/api/info", "http://127.0.0.1:8000/services/nbchannel/api/info"],
    );
    assert.equal(asked[1].init.mode, "no-cors");
    assert.equal(asked[1].init.credentials, "same-origin");
    assert.deepEqual(asked[1].init.headers, {});
    assert.deepEqual(
      sockets.map((t) => t.url),
      ["ws://127.0.0.1:8000/user/ann/nbchannel/ws", "ws://127.0.0.1:8000/services/nbchannel/ws"],
    );
    const relay = sockets[1];
    assert.equal(a.client.status, "connected");
    assert.equal(a.client.transport, "websocket");
    assert.deepEqual(relay.frames.filter((m) => m.kind === "sub").map((m) => [m.scope, m.channel]), [["hub", "quiz"]]);

    relay.deliver("subscribed", "quiz", { epoch: 7, head: 0, tail: 0, reset: true, waiting: false });
    relay.deliver("set", "quiz", "2 + 2 = ?", { key: "question" });
    relay.deliver("append", "quiz", { n: 1 }, { offset: 0 });
    await tick();
    assert.deepEqual(seen, [["question", "2 + 2 = ?"], [0, { n: 1 }]]);
    assert.equal(sub.send("answer", { choice: 4 }), true);
    await tick();
    assert.deepEqual(relay.frames.filter((m) => m.kind === "event").map((m) => [m.scope, m.channel, m.key, m.value]), [["hub", "quiz", "answer", { choice: 4 }]]);
    assert.deepEqual(errors, []);
    assert.equal(relayClient(page), a.client, "kept page-wide");
    a.client.close();
    page.close();
  });

  test("a user who may not watch gets the relay's reason in every view, and no WebSocket", async () => {
    const refused = "user 'eve' may not watch hub-wide channels (needs the JupyterHub scope custom:nbchannel:subscribe)";
    const { page, sockets, lease } = setup({ relayInfo: { user: "eve", may: { own: false, subscribe: false, event: false }, refused } });
    const { client } = lease({ _scope: "hub", _channel: "quiz", _transport: "hub" });
    const errors = [];
    const sub = client.subscribe("hub", "quiz", { onError: (e) => errors.push(e) });
    await tick();
    assert.equal(client.status, "unavailable");
    assert.equal(client.statusDetail.reason, refused);
    assert.deepEqual(errors, [{ code: "not-permitted", message: refused }]);
    assert.deepEqual(sockets.map((t) => t.url), ["ws://127.0.0.1:8000/user/ann/nbchannel/ws"], "only the page's own server");
    const later = [];
    client.subscribe("hub", "other", { onError: (e) => later.push(e.code) });
    await tick();
    assert.deepEqual(later, ["not-permitted"], "a view that comes later is told too");
    const sendErrors = [];
    const sub2 = client.subscribe("hub", "quiz", { onError: (e) => sendErrors.push(e.about) });
    await tick();
    assert.equal(sub2.send("answer", 1), false);
    sub.close();
    page.close();
  });

  test("a server that names no relay: the views say what to configure", async () => {
    const { page, sockets, lease } = setup({ pageInfo: { transports: ["websocket"], relay: null } });
    const { client } = lease({ _scope: "hub", _channel: "quiz", _transport: "hub" });
    const errors = [];
    client.subscribe("hub", "quiz", { onError: (e) => errors.push(e) });
    await tick();
    assert.equal(client.status, "unavailable");
    assert.equal(errors.length, 1);
    assert.equal(errors[0].code, "unavailable");
    assert.match(errors[0].message, /NBCHANNEL_RELAY_URL/);
    assert.equal(sockets.length, 1);
    page.close();
  });

  test("a page whose server has no nbchannel cannot find the relay", async () => {
    const { page, lease } = setup({ pageInfo: 404 });
    const { client } = lease({ _scope: "hub", _channel: "quiz", _transport: "hub+comm" });
    await tick();
    assert.equal(client.status, "unavailable");
    assert.match(client.statusDetail.reason, /server extension/);
    page.close();
  });
});

describe("relayTarget", () => {
  test("a path is on the page's origin; absolute URLs keep their host; ws and api/info below it", () => {
    assert.deepEqual(relayTarget({ relay: "/services/nbchannel/" }, location), {
      url: "ws://127.0.0.1:8000/services/nbchannel/ws",
      infoUrl: "http://127.0.0.1:8000/services/nbchannel/api/info",
    });
    assert.deepEqual(relayTarget({ relay: "/jh/services/relay" }, { protocol: "https:", host: "hub.example.org" }), {
      url: "wss://hub.example.org/jh/services/relay/ws",
      infoUrl: "https://hub.example.org/jh/services/relay/api/info",
    });
    assert.deepEqual(relayTarget({ relay: "https://relay.example.org/r/" }, location), {
      url: "wss://relay.example.org/r/ws",
      infoUrl: "https://relay.example.org/r/api/info",
    });
    assert.match(/** @type {any} */ (relayTarget({}, location)).reason, /NBCHANNEL_RELAY_URL/);
    assert.match(/** @type {any} */ (relayTarget(null, location)).reason, /server extension/);
    assert.match(/** @type {any} */ (relayTarget({ relay: "/r/" }, undefined)).reason, /no page location/);
  });
});
