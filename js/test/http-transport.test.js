// The HTTP transports (js/src/transports/http.js) against a fake server speaking
// docs/http-transports.md through a fake fetch and EventSource: sessions, heartbeats,
// numbered POSTs sent again when their answer is lost, and the resume order after a cut.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { createMessage, decodeFrame, encodeFrame, valueOf } from "../src/codec.js";
import { FrameSplitter, HttpTransport, xsrfCookie } from "../src/transports/http.js";

const HEARTBEAT = 0.05; // seconds: the watchdog fires after 100 ms without one

const heartbeat = (end) => encodeFrame([createMessage("heartbeat", "", end ? { interval: HEARTBEAT, end } : { interval: HEARTBEAT })]);
const data = (...offsets) => encodeFrame(offsets.map((o) => createMessage("append", "c", o, { scope: "k", offset: o })));
const kinds = (frame) => decodeFrame(frame).map((m) => [m.kind, m.channel, m.offset]);

async function until(pred, what = "condition", ms = 3000) {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** A readable body the test writes to; aborting the request errors it, like fetch does. */
function body(signal) {
  let controller;
  const stream = new ReadableStream({ start: (c) => (controller = c) });
  const pipe = {
    stream,
    open: true,
    write(bytes) {
      if (pipe.open) controller.enqueue(bytes);
    },
    end() {
      if (pipe.open) controller.close();
      pipe.open = false;
    },
  };
  signal?.addEventListener("abort", () => {
    if (pipe.open) controller.error(Object.assign(new Error("aborted"), { name: "AbortError" }));
    pipe.open = false;
  });
  return pipe;
}

/** Plays the server: records requests; streams and polls are driven by the test. */
class FakeServer {
  constructor() {
    this.requests = [];
    this.posts = []; // {session, seq, msgs}
    this.sessions = 0;
    this.streams = []; // {url, pipe, respond}
    this.polls = []; // {url, resolve}
    this.sendFailures = 0; // next POSTs whose answer is "lost"
    this.sendStatus = [];
    this.lastSeq = new Map();
    this.fetch = async (url, init = {}) => {
      const u = new URL(url);
      const method = init.method ?? "GET";
      this.requests.push({ method, path: u.pathname, query: Object.fromEntries(u.searchParams), headers: init.headers ?? {} });
      if (u.pathname.endsWith("/nbchannel/session")) {
        this.sessions += 1;
        return json(200, { session: `s${this.sessions}`, heartbeat: HEARTBEAT, expires: 60 });
      }
      if (u.pathname.endsWith("/nbchannel/send")) {
        const seq = Number(u.searchParams.get("seq"));
        const session = u.searchParams.get("session");
        this.posts.push({ session, seq, msgs: kinds(init.body) });
        const status = this.sendStatus.shift();
        if (status) return json(status, { error: `status ${status}` });
        if (this.sendFailures > 0) {
          this.sendFailures -= 1;
          throw new TypeError("Failed to fetch"); // applied, but the answer was lost
        }
        const last = this.lastSeq.get(session) ?? 0;
        if (seq <= last) return json(200, { seq, duplicate: true });
        this.lastSeq.set(session, seq);
        return json(200, { seq });
      }
      if (u.pathname.endsWith("/nbchannel/stream")) {
        return new Promise((resolve, reject) => {
          init.signal?.addEventListener("abort", () => reject(Object.assign(new Error("aborted"), { name: "AbortError" })));
          const pipe = body(init.signal);
          this.streams.push({ url, query: Object.fromEntries(u.searchParams), pipe, respond: (status = 200) => resolve(status === 200 ? { status, body: pipe.stream } : json(status, {})) });
        });
      }
      if (u.pathname.endsWith("/nbchannel/poll")) {
        return new Promise((resolve, reject) => {
          init.signal?.addEventListener("abort", () => reject(Object.assign(new Error("aborted"), { name: "AbortError" })));
          this.polls.push({ query: Object.fromEntries(u.searchParams), answer: (status, bytes) => resolve({ status, arrayBuffer: async () => (bytes ?? new Uint8Array(0)).buffer.slice(0), text: async () => "" }) });
        });
      }
      return json(404, { error: "no such route" });
    };
  }
  get stream() {
    return this.streams.at(-1);
  }
}

function json(status, value) {
  return { status, json: async () => value, text: async () => JSON.stringify(value) };
}

function transport(kind, server, extra = {}) {
  const t = new HttpTransport(kind, { base: "http://h/base/", heartbeat: HEARTBEAT, fetch: server.fetch, xsrf: () => "X1", retryDelay: 5, ...extra });
  const got = { frames: [], opens: 0, closes: [], errors: [] };
  t.onmessage = (f) => got.frames.push(...kinds(f).map((k) => k[2]));
  t.onclose = (info) => got.closes.push(info);
  t.onerror = (m) => got.errors.push(m);
  return { t, got };
}

/** The client's part: on every open, send the subscriptions first (with a marker offset). */
function resubscribeOnOpen(t, got, offset = () => 0) {
  t.onopen = () => {
    got.opens += 1;
    t.send(encodeFrame([createMessage("sub", "c", null, { scope: "k", epoch: 1, offset: offset() })]));
  };
}

describe("FrameSplitter", () => {
  test("splits concatenated frames at any chunk boundary and sets heartbeats apart", () => {
    const bytes = new Uint8Array([...heartbeat(), ...data(0, 1), ...data(2), ...heartbeat("replaced")]);
    for (const step of [1, 3, 7, 64, bytes.length]) {
      const frames = [];
      const beats = [];
      const s = new FrameSplitter((f) => frames.push(...kinds(f).map((k) => k[2])), (v) => beats.push(v.end ?? "beat"));
      for (let i = 0; i < bytes.length; i += step) s.feed(bytes.subarray(i, i + step));
      assert.deepEqual(frames, [0, 1, 2], `chunks of ${step}`);
      assert.deepEqual(beats, ["beat", "replaced"]);
      assert.equal(s.pending, 0);
    }
  });

  test("a stream that is not frames is refused", () => {
    const s = new FrameSplitter(() => {}, () => {});
    assert.throws(() => s.feed(new TextEncoder().encode("<html>proxy error page</html>")), (e) => e.code === "malformed-frame");
  });

  test("xsrfCookie reads the _xsrf cookie", () => {
    assert.equal(xsrfCookie({ cookie: "a=1; _xsrf=2%7Cab; b=3" }), "2|ab");
    assert.equal(xsrfCookie({ cookie: "a=1" }), null);
    assert.equal(xsrfCookie(undefined), null);
  });
});

describe("stream", () => {
  test("session, attach, first heartbeat opens, subscriptions are POST 1, frames flow", async () => {
    const server = new FakeServer();
    const { t, got } = transport("stream", server);
    resubscribeOnOpen(t, got);
    t.connect();
    await until(() => server.streams.length === 1, "stream");
    assert.deepEqual(server.stream.query, { session: "s1", after: "1" });
    server.stream.respond();
    t.send(data(99)); // sent before the stream is up: goes after the subscriptions
    assert.equal(got.opens, 0);
    server.stream.pipe.write(heartbeat());
    await until(() => server.posts.length === 2, "posts");
    assert.deepEqual(server.posts.map((p) => [p.seq, p.msgs[0][0]]), [[1, "sub"], [2, "append"]]);
    const both = new Uint8Array([...data(0), ...data(1, 2)]);
    server.stream.pipe.write(both.subarray(0, 20));
    server.stream.pipe.write(both.subarray(20));
    await until(() => got.frames.length === 3, "frames");
    assert.deepEqual(got.frames, [0, 1, 2]);
    // XSRF header on the GET and the POSTs (JupyterHub asks it on GETs too)
    assert.ok(server.requests.every((r) => r.headers["X-XSRFToken"] === "X1"));
    assert.equal(t.resumes, 0);
    t.close();
  });

  test("a cut stream reattaches with after=N and POST N is the resubscribe", async () => {
    const server = new FakeServer();
    const { t, got } = transport("stream", server);
    let next = 0;
    t.onmessage = (f) => {
      for (const [, , o] of kinds(f)) {
        got.frames.push(o);
        next = o + 1;
      }
    };
    resubscribeOnOpen(t, got, () => next);
    t.connect();
    await until(() => server.streams.length === 1);
    server.stream.respond();
    server.stream.pipe.write(heartbeat());
    server.stream.pipe.write(data(0, 1));
    await until(() => got.frames.length === 2 && server.posts.length === 1);
    server.stream.pipe.end(); // cut: no "end" heartbeat, frames may be lost
    await until(() => server.streams.length === 2, "reattach");
    assert.deepEqual(server.stream.query, { session: "s1", after: "2" });
    t.send(data(50)); // an event sent while reattaching waits behind the resubscribe
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(server.posts.length, 1);
    server.stream.respond();
    server.stream.pipe.write(heartbeat());
    await until(() => server.posts.length === 3);
    assert.deepEqual(server.posts.map((p) => [p.seq, p.msgs[0][0], p.msgs[0][2]]), [[1, "sub", 0], [2, "sub", 2], [3, "append", 50]]);
    assert.equal(got.opens, 2);
    assert.equal(t.resumes, 1);
    assert.deepEqual(got.closes, []);
    t.close();
  });

  test("a POST whose answer is lost goes again with the same seq and body", async () => {
    const server = new FakeServer();
    const { t, got } = transport("stream", server);
    resubscribeOnOpen(t, got);
    t.connect();
    await until(() => server.streams.length === 1);
    server.stream.respond();
    server.sendFailures = 2;
    server.stream.pipe.write(heartbeat());
    await until(() => server.posts.length === 3);
    t.send(data(7));
    await until(() => server.posts.length === 4 && t.seq === 2);
    assert.deepEqual(server.posts.map((p) => [p.seq, p.msgs[0][0]]), [[1, "sub"], [1, "sub"], [1, "sub"], [2, "append"]]);
    assert.equal(t.seq, 2);
    t.close();
  });

  test("a session gone (410) is replaced: new session, after=1, resubscribe as POST 1", async () => {
    const server = new FakeServer();
    const { t, got } = transport("stream", server);
    resubscribeOnOpen(t, got);
    t.connect();
    await until(() => server.streams.length === 1);
    server.stream.respond();
    server.stream.pipe.write(heartbeat());
    await until(() => server.posts.length === 1);
    server.stream.pipe.write(heartbeat("expired"));
    await until(() => server.streams.length === 2);
    assert.deepEqual(server.stream.query, { session: "s2", after: "1" });
    server.stream.respond(410); // and that one is gone at once too
    await until(() => server.streams.length === 3);
    assert.deepEqual(server.stream.query, { session: "s3", after: "1" });
    server.stream.respond();
    server.stream.pipe.write(heartbeat());
    await until(() => server.posts.length === 2);
    assert.deepEqual(server.posts.map((p) => [p.session, p.seq]), [["s1", 1], ["s3", 1]]);
    t.close();
  });

  test("no heartbeat within twice the interval: a proxy buffers it, the transport gives up", async () => {
    const server = new FakeServer();
    const { t, got } = transport("stream", server);
    resubscribeOnOpen(t, got);
    t.connect();
    await until(() => server.streams.length === 1);
    // the proxy holds even the headers back
    await until(() => got.closes.length === 1, "close", 2000);
    assert.equal(got.closes[0].code, 4001);
    assert.match(got.closes[0].reason, /no heartbeat on the stream within 100 ms/);
    assert.equal(got.opens, 0);
  });

  test("heartbeats that stop on a stream that worked: cut, and resumed", async () => {
    const server = new FakeServer();
    const { t, got } = transport("stream", server);
    resubscribeOnOpen(t, got);
    t.connect();
    await until(() => server.streams.length === 1);
    server.stream.respond();
    server.stream.pipe.write(heartbeat());
    await until(() => server.streams.length === 2, "watchdog reattach", 2000);
    assert.equal(server.stream.query.after, "2");
    t.close();
  });
});

describe("poll", () => {
  test("polls again at once; 204 is an empty answer; a proxy error resumes with after=N", async () => {
    const server = new FakeServer();
    const { t, got } = transport("poll", server);
    resubscribeOnOpen(t, got);
    t.connect();
    await until(() => server.polls.length === 1 && server.posts.length === 1);
    assert.deepEqual(server.polls[0].query, { session: "s1", after: "1" });
    assert.equal(got.opens, 1, "a poll is attached once its request is sent");
    server.polls[0].answer(200, new Uint8Array([...data(0), ...data(1, 2)]));
    await until(() => server.polls.length === 2);
    assert.deepEqual(server.polls[1].query, { session: "s1" });
    server.polls[1].answer(204);
    await until(() => server.polls.length === 3);
    server.polls[2].answer(504);
    await until(() => server.polls.length === 4);
    assert.deepEqual(server.polls[3].query, { session: "s1", after: "2" });
    await until(() => server.posts.length === 2);
    assert.equal(server.posts[1].seq, 2);
    assert.deepEqual(got.frames, [0, 1, 2]);
    t.close();
  });
});

describe("sse", () => {
  test("EventSource with _xsrf in the URL, base64 frames, error reattaches with after=N", async () => {
    const server = new FakeServer();
    const sources = [];
    class FakeEventSource {
      constructor(url) {
        this.url = url;
        this.listeners = {};
        this.closed = false;
        sources.push(this);
      }
      addEventListener(name, fn) {
        this.listeners[name] = fn;
      }
      close() {
        this.closed = true;
      }
      emit(name, data) {
        this.listeners[name]({ data });
      }
    }
    const { t, got } = transport("sse", server, { EventSource: FakeEventSource, token: "tok" });
    resubscribeOnOpen(t, got);
    t.connect();
    await until(() => sources.length === 1);
    const q = Object.fromEntries(new URL(sources[0].url).searchParams);
    assert.deepEqual(q, { session: "s1", after: "1", format: "sse", _xsrf: "X1", token: "tok" });
    sources[0].emit("heartbeat", JSON.stringify({ interval: HEARTBEAT }));
    await until(() => server.posts.length === 1);
    sources[0].emit("frame", Buffer.from(data(0, 1)).toString("base64"));
    assert.deepEqual(got.frames, [0, 1]);
    sources[0].onerror();
    assert.ok(sources[0].closed, "EventSource's own reconnect (which cannot resume) is stopped");
    await until(() => sources.length === 2);
    assert.equal(new URL(sources[1].url).searchParams.get("after"), "2");
    t.close();
    assert.ok(sources[1].closed);
  });
});
