// How a page's view of one channel applies the hub's messages — no I/O, no timers.
//
// This is the browser's copy of ChannelView.apply in nbchannel/testing/viewer.py; both run
// the recorded message sequences in tests/fixtures/apply/*.json (js/test/apply.test.js and
// tests/testing/test_apply_fixtures.py), so the two cannot drift apart. The rules:
//
// * nothing counts before the first `subscribed` (it belongs to an earlier subscription);
// * `subscribed` with `reset` drops the state and the stream (new subscriber or new epoch);
//   without it (a resume on the same epoch) the whole state is replayed next and keys it
//   does not name were deleted meanwhile;
// * `set`/`unset` edit the state; `append` keeps the item (each item of a segment) and
//   advances the next offset;
//   an append below the next offset was already seen (a replay overlapping a transport
//   switch) and is dropped, counted in `duplicates`;
// * a `gap` marker may advance the next offset past items that will never come;
// * `closed`: the kernel went away; the state stays shown until a new `subscribed`.
//
// The view also keeps a bounded log of recent stream items, so a widget that subscribes
// later is brought up to date from memory.

import { messageBytes, valueOf } from "./codec.js";

/**
 * @typedef {import("./codec.js").Message} Message
 * @typedef {{epoch: number | null, head: number, tail: number, reset: boolean, waiting: boolean, state?: number, flow?: string, window?: number}} SubscribedInfo
 * @typedef {{kind: string, count: number, reason: string, offset?: number, end?: number}} GapInfo
 * @typedef {{offset: number, value: any, gap: GapInfo | null}} LogItem
 *
 * @typedef {"onReset" | "onState" | "onUnset" | "onAppend" | "onPublish" | "onGap" | "onClosed"} ViewEvent
 * What a view tells its widgets, in order; the client calls each subscriber's handler.
 * @typedef {(name: ViewEvent, ...args: any[]) => void} Emit
 */

/** A bounded log of recent stream items (and stream gaps), oldest dropped first. */
export class StreamLog {
  /**
   * @param {number} maxItems
   * @param {number} maxBytes
   */
  constructor(maxItems, maxBytes) {
    this.maxItems = maxItems;
    this.maxBytes = maxBytes;
    /** @type {LogItem[]} */
    this._items = [];
    /** @type {number[]} */
    this._sizes = [];
    this._start = 0;
    this.bytes = 0;
    /** Offset from which the log is complete (moves up as old items are dropped). */
    this.from = 0;
  }

  get length() {
    return this._items.length - this._start;
  }

  /** @param {number} from */
  clear(from) {
    this._items = [];
    this._sizes = [];
    this._start = 0;
    this.bytes = 0;
    this.from = from;
  }

  /**
   * @param {LogItem} item
   * @param {number} size
   */
  push(item, size) {
    this._items.push(item);
    this._sizes.push(size);
    this.bytes += size;
    while (this.length > 0 && (this.length > this.maxItems || this.bytes > this.maxBytes)) {
      const old = this._items[this._start];
      this.bytes -= this._sizes[this._start];
      this._start += 1;
      if (!old.gap) this.from = Math.max(this.from, old.offset + 1);
      else if (old.gap.end !== undefined) this.from = Math.max(this.from, old.gap.end);
    }
    if (this._start > 1024 && this._start * 2 > this._items.length) {
      this._items = this._items.slice(this._start);
      this._sizes = this._sizes.slice(this._start);
      this._start = 0;
    }
  }

  /** @returns {LogItem[]} */
  items() {
    return this._items.slice(this._start);
  }
}

const MiB = 1024 * 1024;

/** What the page knows of one channel, and the rules that update it. */
export class ChannelView {
  /**
   * @param {string} scope
   * @param {string} name
   * @param {{bufferItems?: number, bufferBytes?: number}} [options] bounds of the stream log
   */
  constructor(scope, name, { bufferItems = 100_000, bufferBytes = 64 * MiB } = {}) {
    this.scope = scope;
    this.name = name;
    /** @type {Map<string, any>} */
    this.state = new Map();
    /** @type {number | null} */
    this.epoch = null;
    /** Offset of the next stream item expected. */
    this.nextOffset = 0;
    /** On a `flow: "block"` channel, the offset last reported as consumed to the hub. */
    this.consumedSent = 0;
    /** Whether a `subscribed` arrived (the hub's replay has begun). */
    this.ready = false;
    /** No kernel has the channel open (yet, or any more). */
    this.waiting = true;
    this.closed = false;
    /** How many times the view was reset (first subscribe, new epoch). */
    this.resets = 0;
    /** Appends dropped because their offset was already seen. */
    this.duplicates = 0;
    /** The `subscribed` info of the last reset. @type {SubscribedInfo | null} */
    this.info = null;
    /**
     * On a resume, the keys held before it that the hub's state replay has not named yet;
     * whatever is left once `pendingState` replayed state messages arrived was deleted.
     * @type {Set<string> | null}
     */
    this.staleKeys = null;
    this.pendingState = 0;
    this.log = new StreamLog(bufferItems, bufferBytes);
  }

  /**
   * Apply one message from the hub; `emit` is told what changed, for the widgets.
   * Messages of other kinds (`error`, kinds of a newer hub) are ignored here.
   * @param {Message} m
   * @param {Emit} [emit]
   */
  apply(m, emit = noop) {
    if (m.kind === "subscribed") {
      this._subscribed(valueOf(m), emit);
      return;
    }
    // Until `subscribed` arrives, anything else belongs to an earlier subscription.
    if (!this.ready) return;
    const isState = m.kind === "set" || m.kind === "unset";
    if (!isState) this.dropStale(emit);
    switch (m.kind) {
      case "set": {
        if (m.key === null) return;
        const value = valueOf(m);
        this.state.set(m.key, value);
        emit("onState", m.key, value);
        this._replayed(m.key, emit);
        break;
      }
      case "unset":
        if (m.key === null) return;
        this.state.delete(m.key);
        emit("onUnset", m.key);
        this._replayed(m.key, emit);
        break;
      case "append": {
        if (m.offset === null) return;
        const count = m.count ?? 1;
        if (m.offset + count <= this.nextOffset) {
          this.duplicates += count;
          return;
        }
        if (m.count === undefined) {
          const value = valueOf(m);
          this.nextOffset = m.offset + 1;
          this.log.push({ offset: m.offset, value, gap: null }, messageBytes(m));
          emit("onAppend", value, m.offset);
          break;
        }
        // A segment: its items in one parse, each kept and told as if it came alone.
        const values = valueOf(m);
        if (!Array.isArray(values) || values.length !== count) return;
        const skip = Math.max(0, this.nextOffset - m.offset);
        this.duplicates += skip;
        const size = Math.ceil(messageBytes(m) / count);
        this.nextOffset = m.offset + count;
        for (let i = skip; i < count; i++) {
          const offset = m.offset + i;
          this.log.push({ offset, value: values[i], gap: null }, size);
          emit("onAppend", values[i], offset);
        }
        break;
      }
      case "publish":
        emit("onPublish", valueOf(m));
        break;
      case "gap": {
        /** @type {GapInfo} */
        const info = { ...valueOf(m) };
        if (m.offset !== null) info.offset = m.offset;
        if (m.offset !== null && typeof info.end === "number" && info.end > this.nextOffset) this.nextOffset = info.end;
        if (info.kind === "append") this.log.push({ offset: m.offset ?? -1, value: null, gap: info }, 64);
        emit("onGap", info);
        break;
      }
      case "closed":
        this.closed = true;
        this.waiting = true;
        emit("onClosed");
        break;
      default:
        // A kind this client does not know (a newer hub): ignore it.
        break;
    }
  }

  /**
   * @param {SubscribedInfo} info
   * @param {Emit} emit
   */
  _subscribed(info, emit) {
    this.ready = true;
    this.closed = false;
    this.waiting = !!info.waiting;
    if (info.reset) {
      this.staleKeys = null;
      this.pendingState = 0;
      this.state.clear();
      this.nextOffset = info.tail;
      this.consumedSent = 0;
      this.log.clear(info.tail);
      this.info = info;
      this.epoch = info.epoch;
      this.resets += 1;
      emit("onReset", info);
    } else {
      this.epoch = info.epoch;
      if (this.info) this.info = { ...this.info, epoch: info.epoch, waiting: info.waiting };
      // The hub replays the whole state next: keys it does not name were deleted meanwhile.
      this.staleKeys = new Set(this.state.keys());
      this.pendingState = info.state ?? 0;
      if (this.pendingState <= 0) this.dropStale(emit);
    }
  }

  /**
   * Count one replayed state message of a resume.
   * @param {string} key
   * @param {Emit} emit
   */
  _replayed(key, emit) {
    if (this.staleKeys === null) return;
    this.staleKeys.delete(key);
    this.pendingState -= 1;
    if (this.pendingState <= 0) this.dropStale(emit);
  }

  /**
   * End a resume's state replay: forget (and report as unset) the keys it did not name.
   * @param {Emit} [emit]
   */
  dropStale(emit = noop) {
    const stale = this.staleKeys;
    if (stale === null) return;
    this.staleKeys = null;
    this.pendingState = 0;
    for (const key of stale) {
      this.state.delete(key);
      emit("onUnset", key);
    }
  }

  /**
   * Where to resume from: the `sub` fields that ask the hub for only what was missed
   * (epoch and next offset once the view has an epoch; nothing before).
   * @returns {{epoch: number | null, offset: number | null}}
   */
  resumeFrom() {
    const resume = this.epoch !== null;
    return { epoch: resume ? this.epoch : null, offset: resume ? this.nextOffset : null };
  }

  /**
   * Replay what the view holds to one more widget: reset, the state, the recent stream
   * (with a gap for what the bounded log no longer holds), closed.
   * @param {Emit} emit
   */
  replayTo(emit) {
    if (!this.info) return;
    emit("onReset", this.info);
    for (const [key, value] of this.state) emit("onState", key, value);
    if (this.log.from > this.info.tail) {
      const count = this.log.from - this.info.tail;
      emit("onGap", { kind: "append", count, reason: "history", offset: this.info.tail, end: this.log.from });
    }
    for (const item of this.log.items()) {
      if (item.gap) emit("onGap", item.gap);
      else emit("onAppend", item.value, item.offset);
    }
    if (this.closed) emit("onClosed");
  }
}

function noop() {}
