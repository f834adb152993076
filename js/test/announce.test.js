// The page's connection announcements (js/src/widgets/announce.js): what is said for each
// change of the client's status, and that many widgets watching one client say it once.

import assert from "node:assert/strict";
import { test } from "node:test";

import { ConnectionAnnouncer, connectionMessage } from "../src/widgets/announce.js";

/** A ChannelClient as far as the announcer sees it: a status and its change handlers. */
class FakeClient {
  constructor(status = "connecting") {
    this.status = status;
    /** @type {Set<(status: string) => void>} */
    this.handlers = new Set();
  }

  /** @param {(status: string) => void} cb */
  onStatus(cb) {
    this.handlers.add(cb);
    return () => void this.handlers.delete(cb);
  }

  /** Like ChannelClient._setStatus: "reconnecting" repeats for every attempt. */
  set(status) {
    if (status === this.status && status !== "reconnecting") return;
    this.status = status;
    for (const h of this.handlers) h(status);
  }
}

const LOST = "Live widgets: connection to the Jupyter server lost, reconnecting.";
const RESTORED = "Live widgets: connection restored.";

test("the first connection is silent; a drop and its end are said", () => {
  assert.equal(connectionMessage("connecting", "connected"), null);
  assert.equal(connectionMessage("connected", "reconnecting"), LOST);
  assert.equal(connectionMessage("reconnecting", "reconnecting"), null);
  assert.equal(connectionMessage("reconnecting", "connected"), RESTORED);
  assert.match(String(connectionMessage("connecting", "unavailable")), /not reachable/);
  assert.equal(connectionMessage("unavailable", "connected"), RESTORED);
  assert.equal(connectionMessage("connected", "connecting"), null);
});

test("twelve widgets on one client: each change is announced once", () => {
  /** @type {string[]} */
  const said = [];
  const announcer = new ConnectionAnnouncer((m) => said.push(m));
  const client = new FakeClient();
  for (let i = 0; i < 12; i++) announcer.watch(client);
  assert.equal(client.handlers.size, 1);

  client.set("connected");
  assert.deepEqual(said, []);
  client.set("reconnecting");
  client.set("reconnecting"); // a second attempt
  client.set("reconnecting");
  client.set("connected");
  assert.deepEqual(said, [LOST, RESTORED]);

  client.set("reconnecting");
  client.set("connected");
  assert.deepEqual(said, [LOST, RESTORED, LOST, RESTORED]);
});

test("a widget created while the page is reconnecting does not repeat the drop", () => {
  /** @type {string[]} */
  const said = [];
  const announcer = new ConnectionAnnouncer((m) => said.push(m));
  const client = new FakeClient("reconnecting");
  announcer.watch(client);
  client.set("reconnecting");
  assert.deepEqual(said, []);
  client.set("connected");
  assert.deepEqual(said, [RESTORED]);
});
