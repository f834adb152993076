"""Several relays sharing hub-wide channels through Redis.

Each relay keeps a replica of the channels its viewers watch in its own core hub, and Redis
is the channels' one source of truth (the layout Centrifugo uses)::

    nbc:{name}:meta    HASH   epoch, seq (every write), top (next stream offset), owners
    nbc:{name}:stream  STREAM one entry per append, id <offset+1>-0, bounded by MAXLEN
    nbc:{name}:state   HASH   retained state, key -> encoded message
    nbc:{name}:pres    HASH   relay id -> {"n": viewers, "users": [...], "t": time}
    nbc:live           PUB/SUB every write, open, close, event and presence change
    nbc:gen            a random generation: gone or changed = Redis lost its data

Owner writes go in batches, one Lua script per run of writes to one channel (``seq`` and
offset increments, ``XADD`` with the explicit id or ``HSET`` for each, one ``PUBLISH`` of
them all), so writes are atomic and totally ordered, and a kernel streaming small items
costs Redis and every relay one call and one published message per batch, not per item;
an owner whose frames queue up while a batch is stored gets them stored as one batch. A relay
subscribes to ``nbc:live`` before it reads anything, loads a channel (meta, state and
stream in one script) when a viewer first asks for it, then applies the live messages in
order, dropping those whose ``seq`` it has already applied. A missed ``seq`` (the
subscription broke, or Redis dropped a slow subscriber) makes the relay resynchronise the
channel from Redis: the appends it lacks from the stream, or a ``gap`` to its viewers for
those trimmed meanwhile, and the whole state. Redis restarted or flushed (``nbc:gen``
changed) ends every kernel connection: kernels reconnect, re-open with a new epoch and
re-send their state, and viewers are reset.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import secrets
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson
import redis.asyncio as aioredis

from ..core import protocol as P
from ..core.channel import Channel, new_epoch
from ..core.codec import decode_frame, encode_frame
from ..core.message import Message, Segment
from ..core.peer import Peer
from ..errors import LimitExceeded, MalformedFrame, NbChannelError, UnknownChannel
from .wire import HUB_SCOPE

if TYPE_CHECKING:
    from .app import Relay

__all__ = ["RedisEngine"]

log = logging.getLogger("nbchannel.relay")
LIVE = "nbc:live"
#: Most appends fanned out as one run (well inside a frame's message limit).
_MAX_RUN = 1024
#: Viewers a fan-out serves before it lets the relay's event loop run other work.
FAN_OUT_SLICE = 50
#: Longest a subscribe that resumes ahead of this replica waits for it to catch up.
HOLD_SECONDS = 2.0
GEN = "nbc:gen"
#: What a Redis restarting (or out of reach for a moment) raises.
_UNREACHABLE = (aioredis.ConnectionError, aioredis.TimeoutError)

_OPEN = """
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if epoch and ARGV[2] ~= '1' then
  redis.call('HINCRBY', KEYS[1], 'owners', 1)
  local top = redis.call('HGET', KEYS[1], 'top')
  local resumed = 0
  if ARGV[1] == epoch then resumed = 1 end
  return {epoch, top, resumed}
end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('HSET', KEYS[1], 'epoch', ARGV[3], 'top', 0, 'seq', 0, 'items', ARGV[4], 'owners', 1)
redis.call('PUBLISH', KEYS[4], 'o|' .. ARGV[3] .. '|0|-1|' .. ARGV[5])
return {ARGV[3], '0', 0}
"""

_WRITE = """
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if (not epoch) or epoch ~= ARGV[1] then return -1 end
local n = (#ARGV - 1) / 3
local seq0 = redis.call('HINCRBY', KEYS[1], 'seq', n) - n + 1
local items = redis.call('HGET', KEYS[1], 'items')
local index, datas = {}, {}
for i = 0, n - 1 do
  local kind, key, data = ARGV[2 + 3 * i], ARGV[3 + 3 * i], ARGV[4 + 3 * i]
  local off = -1
  if kind == 'append' then
    off = redis.call('HINCRBY', KEYS[1], 'top', 1) - 1
    redis.call('XADD', KEYS[2], 'MAXLEN', items, tostring(off + 1) .. '-0', 'd', data)
  elseif kind == 'set' then
    redis.call('HSET', KEYS[3], key, data)
  elseif kind == 'unset' then
    redis.call('HDEL', KEYS[3], key)
  end
  index[i + 1] = off .. ':' .. #data
  datas[i + 1] = data
end
redis.call('PUBLISH', KEYS[4],
  'w|' .. epoch .. '|' .. seq0 .. '|' .. table.concat(index, ',') .. '|' .. table.concat(datas))
return seq0
"""

_CLOSE = """
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if (not epoch) or epoch ~= ARGV[1] then return 0 end
local owners = redis.call('HINCRBY', KEYS[1], 'owners', -1)
if owners > 0 then return owners end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('PUBLISH', KEYS[4], 'c|' .. epoch .. '|0|-1|' .. ARGV[2])
return 0
"""

_LEAVE = """
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if epoch and epoch == ARGV[1] then redis.call('HINCRBY', KEYS[1], 'owners', -1) end
return 0
"""

_SNAPSHOT = """
local meta = redis.call('HMGET', KEYS[1], 'epoch', 'seq', 'top', 'items')
if not meta[1] then return {false} end
local state = redis.call('HGETALL', KEYS[3])
local stream = redis.call('XRANGE', KEYS[2], ARGV[1], '+')
return {meta[1], meta[2], meta[3], meta[4], state, stream}
"""


def _keys(name: str) -> list[str]:
    base = f"nbc:{{{name}}}"
    return [f"{base}:meta", f"{base}:stream", f"{base}:state", LIVE]


def _frame(msg: Message) -> bytes:
    return encode_frame([msg])


def _one(data: bytes) -> Message:
    return decode_frame(data)[0]


class _Outage:
    """One line for the first failure of a repeated Redis call, then one at most every
    ``every`` seconds with how many failed since, and one when it works again: an outage
    does not fill the log with a line per retry."""

    def __init__(self, what: str, every: float = 30.0) -> None:
        self.what = what
        self.every = every
        self.failures = 0
        self._logged = 0
        self._logged_at = 0.0

    def failed(self, exc: BaseException) -> None:
        self.failures += 1
        now = time.monotonic()
        if self.failures == 1 or now - self._logged_at >= self.every:
            more = self.failures - self._logged - 1
            since = f" ({more} more failures since the last report)" if more > 0 else ""
            log.warning("%s failed: %s; retrying%s", self.what, exc, since)
            self._logged, self._logged_at = self.failures, now

    def worked(self) -> None:
        if self.failures:
            log.warning("%s works again after %d failures", self.what, self.failures)
            self.failures = self._logged = 0


class RedisEngine:
    """Shares this relay's hub-wide channels with other relays through Redis."""

    def __init__(
        self,
        relay: Relay,
        url: str,
        *,
        relay_id: str | None = None,
        presence_ttl: float = 10.0,
        check_interval: float = 0.5,
        batch_delay: float = 0.01,
        busy_viewers: int = 32,
    ) -> None:
        self.relay = relay
        self.hub = relay.hub
        self.url = url
        self.relay_id = relay_id or f"relay-{os.getpid()}-{secrets.token_hex(3)}"
        self.presence_ttl = presence_ttl
        self.check_interval = check_interval
        #: An owner's writes to a channel watched by ``busy_viewers`` or more (over all
        #: relays) wait ``batch_delay`` seconds for more to join their batch: every relay
        #: then fans out one run of items per viewer instead of each item.
        self.batch_delay = batch_delay
        self.busy_viewers = busy_viewers
        self._watchers: dict[str, int] = {}
        #: Sizes of the state keys owners on this relay wrote, by channel.
        self._state_sizes: dict[str, dict[str, int]] = {}
        self.redis: aioredis.Redis = aioredis.from_url(url)
        self._open_sha = self.redis.register_script(_OPEN)
        self._write = self.redis.register_script(_WRITE)
        self._close = self.redis.register_script(_CLOSE)
        self._leave = self.redis.register_script(_LEAVE)
        self._snapshot = self.redis.register_script(_SNAPSHOT)
        #: Channels replicated here, and the last ``seq`` applied to each.
        self.applied: dict[str, int] = {}
        #: Owners connected to this relay, by channel name, with the epoch they opened.
        self.owners: dict[str, dict[Peer, int]] = {}
        #: An owner's frames (when each arrived, its messages) waiting to be stored; None: gone.
        self._owner_queues: dict[Peer, asyncio.Queue[tuple[float, list[Message]] | None]] = {}
        self._owner_tasks: dict[Peer, asyncio.Task[None]] = {}
        self._jobs: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._pending_subs: dict[str, list[tuple[Peer, Message]]] = {}
        #: Subscribes that resume past what this replica has applied (the viewer came from
        #: a relay further ahead), with when they came: held until the replica catches up.
        self._held_subs: dict[str, list[tuple[Peer, Message, float]]] = {}
        self.held = 0
        #: Viewers that (re)subscribed to a channel while a fan-out to it is under way.
        self._joined: dict[str, set[Peer]] = {}
        self._load_outage = _Outage("redis load of a channel for its viewers")
        self._load_retries: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._running: set[asyncio.Future[Any]] = set()
        self.gen = ""
        self.resyncs = 0
        self.generations = 0
        self.applied_messages = 0
        self.duplicates = 0

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Subscribe to the live channel, then start applying and checking."""
        await self._check_generation(first=True)
        ready = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._listen(ready)),
            asyncio.create_task(self._apply_loop()),
            asyncio.create_task(self._watch()),
        ]
        await asyncio.wait_for(ready.wait(), 10)

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        with contextlib.suppress(Exception):
            await self.redis.aclose()

    def info(self) -> dict[str, Any]:
        return {
            "relay_id": self.relay_id,
            "channels": len(self.applied),
            "resyncs": self.resyncs,
            "generations": self.generations,
            "applied": self.applied_messages,
            "duplicates": self.duplicates,
            "held": self.held,
        }

    async def _listen(self, ready: asyncio.Event) -> None:
        """Subscribed before anything is read; every message goes to the apply queue."""
        outage = _Outage("redis subscription")
        while True:
            try:
                pubsub = self.redis.pubsub()
                await pubsub.subscribe(LIVE)
                outage.worked()
                if ready.is_set():
                    # subscribed again after a break: what was missed is resynchronised
                    self._jobs.put_nowait(("resync-all", None))
                ready.set()
                async for item in pubsub.listen():
                    if item.get("type") == "message":
                        self._jobs.put_nowait(("live", item["data"]))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                outage.failed(exc)
                await asyncio.sleep(0.2)

    async def _watch(self) -> None:
        """Notice Redis losing its data; refresh presence."""
        last_presence = 0.0
        outage = _Outage("redis check")
        while True:
            await asyncio.sleep(self.check_interval)
            try:
                for name in list(self._held_subs):
                    self._release_held(name)  # (needs no Redis)
                await self._check_generation()
                outage.worked()
                now = time.time()
                if now - last_presence > self.presence_ttl / 3:
                    last_presence = now
                    for name in list(self.applied):
                        await self._write_presence(name)
                    for name in list(self.owners):
                        await self._send_presence(name)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                outage.failed(exc)

    async def _check_generation(self, first: bool = False) -> None:
        gen = await self.redis.get(GEN)
        if gen is None:
            await self.redis.set(GEN, secrets.token_hex(8), nx=True)
            gen = await self.redis.get(GEN)
        text = gen.decode() if isinstance(gen, bytes) else str(gen)
        if first or not self.gen:
            self.gen = text
            return
        if text != self.gen:
            self.gen = text
            self._jobs.put_nowait(("lost", None))

    # -- viewers -----------------------------------------------------------------------

    def receive_viewer(self, peer: Peer, msgs: Sequence[Message]) -> None:
        for m in msgs:
            try:
                if m.kind in (P.SUBSCRIBE, P.UNSUBSCRIBE):
                    self._forget_held(peer, m.channel)  # the newest request wins
                if m.kind == P.SUBSCRIBE:
                    self._subscribe(peer, m)
                elif m.kind == P.EVENT:
                    self._event(peer, m)
                else:
                    self.hub.receive(peer, [m])
                    if m.kind == P.UNSUBSCRIBE:
                        self._presence_changed(m.channel)
            except NbChannelError as exc:
                self.hub.send_error(peer, exc, m)

    def _subscribe(
        self, peer: Peer, m: Message, *, hold: bool = True, presence: bool = True
    ) -> None:
        """A viewer's subscribe: now, once the channel is loaded here, or (resuming past
        what this replica has applied: it came from a relay further ahead, and a replay
        from here would repeat what it has; unless not ``hold``) once the replica catches
        up."""
        name = m.channel
        if name not in self.applied:
            self._pending_subs.setdefault(name, []).append((peer, m))
            self._jobs.put_nowait(("load", name))
        elif hold and self._ahead(m):
            now = asyncio.get_running_loop().time()
            self._held_subs.setdefault(name, []).append((peer, m, now))
            self.held += 1
        else:
            self.hub.receive(peer, [m])
            joined = self._joined.get(name)
            if joined is not None:
                joined.add(peer)  # a fan-out under way skips it: its replay has the run
            if presence:
                self._presence_changed(name)

    def _forget_held(self, peer: Peer, name: str) -> None:
        held = self._held_subs.get(name)
        if held:
            self._held_subs[name] = [h for h in held if h[0] is not peer]

    def _ahead(self, m: Message) -> bool:
        """Whether subscribe ``m`` resumes past the stream this replica has applied."""
        ch = self.hub.channels.get((HUB_SCOPE, m.channel))
        return (
            ch is not None
            and ch.is_open
            and m.epoch == ch.epoch
            and m.offset is not None
            and m.offset > ch.head
        )

    def _release_held(self, name: str) -> None:
        """Subscribe the held viewers of ``name`` this replica has caught up with (or that
        waited :data:`HOLD_SECONDS`: Redis may have lost what they saw)."""
        held = self._held_subs.pop(name, None)
        if not held:
            return
        now = asyncio.get_running_loop().time()
        still = []
        for peer, m, since in held:
            if peer.closed:
                continue
            if self._ahead(m) and now - since < HOLD_SECONDS:
                still.append((peer, m, since))
                continue
            try:
                self._subscribe(peer, m, hold=False)
            except NbChannelError as exc:
                self.hub.send_error(peer, exc, m)
        if still:
            self._held_subs[name] = still

    def _event(self, peer: Peer, m: Message) -> None:
        ch = self.hub.channels.get((HUB_SCOPE, m.channel))
        if ch is None or not ch.is_open:
            raise UnknownChannel(f"channel {m.channel!r} has no kernel attached")
        if m.nbytes > self.hub.config.max_event_bytes:
            raise LimitExceeded(f"event of {m.nbytes} bytes exceeds max_event_bytes")
        if m.key is None:
            raise MalformedFrame("an event needs a name")
        self._background(self.redis.publish(LIVE, b"e|0|0|-1|" + _frame(m)))

    def _background(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._running.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Future[Any]) -> None:
        self._running.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.warning("redis call failed: %s", exc)  # one line; the next refresh retries

    def _presence_changed(self, name: str) -> None:
        self._jobs.put_nowait(("presence", name))

    def disconnect(self, peer: Peer) -> None:
        if peer.role == "owner":
            q = self._owner_queues.pop(peer, None)
            if q is not None:
                q.put_nowait(None)
            for name, owners in list(self.owners.items()):
                epoch = owners.pop(peer, None)
                if epoch is not None:
                    self._background(self._leave(keys=_keys(name), args=[str(epoch)]))
                if not owners:
                    del self.owners[name]
        else:
            for _, name in list(peer.channels):
                self._presence_changed(name)

    # -- owners: every write through Redis, in order -----------------------------------

    def receive_owner(self, peer: Peer, msgs: Sequence[Message]) -> None:
        q = self._owner_queues.get(peer)
        if q is None:
            q = self._owner_queues[peer] = asyncio.Queue()
            self._owner_tasks[peer] = asyncio.create_task(self._owner_loop(peer, q))
        # Redis keeps one stream entry per item: a kernel's segments are stored item by item
        # (one whose payload does not hold its items is refused alone).
        items: list[Message] = []
        for m in msgs:
            if isinstance(m, Segment):
                try:
                    items += m.items()
                except NbChannelError as exc:
                    self.hub.send_error(peer, exc, m)
            else:
                items.append(m)
        q.put_nowait((asyncio.get_running_loop().time(), items))

    async def _owner_loop(
        self, peer: Peer, q: asyncio.Queue[tuple[float, list[Message]] | None]
    ) -> None:
        loop = asyncio.get_running_loop()
        closing = False
        while not closing and (job := await q.get()) is not None:
            arrived, msgs = job
            if self.batch_delay > 0 and self._busy(msgs):
                # a batch waits batch_delay from its first write's arrival, not from now:
                # writes that queued while the last batch was being stored have waited
                # already, and go at once if they waited that long
                wait = arrived + self.batch_delay - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
            # the frames that arrived while the last batch was being stored go as one
            while not q.empty():
                more = q.get_nowait()
                if more is None:
                    closing = True
                    break
                msgs.extend(more[1])
            try:
                await self._owner_frame(peer, msgs)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis unreachable: the kernel reconnects, re-sends
                log.warning("owner %s: redis failed (%s); closing its connection", peer, exc)
                self.relay.hub.send_error(peer, NbChannelError(f"relay storage failed: {exc}"))
                self.close_owner(peer)
                return

    def _busy(self, msgs: list[Message]) -> bool:
        """Whether ``msgs`` write to a channel with many viewers."""
        watchers = self._watchers
        return any(
            watchers.get(m.channel, 0) >= self.busy_viewers for m in msgs if m.kind in P.WRITE_KINDS
        )

    def close_owner(self, peer: Peer) -> None:
        """End an owner's connection (its kernel reconnects and restores its channels)."""
        closer = self.relay.closers.get(peer)
        if closer is not None:
            closer()

    async def _owner_frame(self, peer: Peer, msgs: list[Message]) -> None:
        # a run of writes to one channel: (name, epoch, [kind, key, data, ...])
        run: tuple[str, int, list[str | bytes]] | None = None
        for m in msgs:
            kind = m.kind
            if kind in P.WRITE_KINDS:
                epoch = self.owners.get(m.channel, {}).get(peer)
                if epoch is None:
                    self.hub.send_error(
                        peer, UnknownChannel(f"channel {m.channel!r} is not open"), m
                    )
                    continue
                if kind in P.STATE_KINDS:
                    if m.key is None:
                        self.hub.send_error(peer, MalformedFrame(f"{kind!r} needs a key"), m)
                        continue
                    try:
                        self._count_state(m)
                    except LimitExceeded as exc:
                        self.hub.send_error(peer, exc, m)
                        continue
                if run is not None and (run[0] != m.channel or run[1] != epoch):
                    await self._store(*run)
                    run = None
                if run is None:
                    run = (m.channel, epoch, [])
                run[2].extend((kind, m.key or "", _frame(m)))
                continue
            if run is not None:
                await self._store(*run)
                run = None
            if kind == P.OPEN:
                await self._owner_open(peer, m)
            elif kind == P.MARK:
                peer.outbox.put(Message(P.ACK, offset=m.offset))
            elif kind == P.CLOSE:
                epoch = self.owners.get(m.channel, {}).pop(peer, None)
                if epoch is not None:
                    closed = Message(P.CLOSE, m.channel, scope=HUB_SCOPE)
                    await self._close(keys=_keys(m.channel), args=[str(epoch), _frame(closed)])
            elif kind == P.REFUSED:
                self.hub.receive(peer, [m])
        if run is not None:
            await self._store(*run)

    def _count_state(self, m: Message) -> None:
        """Keep the state an owner writes within the hub's ``state_bytes``, as the server's
        hub does: checked here, before Redis, since every relay's replica must take it."""
        sizes = self._state_sizes.setdefault(m.channel, {})
        key = m.key or ""
        if m.kind == P.UNSET:
            sizes.pop(key, None)
            return
        limit = self.hub.config.state_bytes
        total = sum(sizes.values()) - sizes.get(key, 0) + m.nbytes
        if total > limit:
            raise LimitExceeded(
                f"channel {m.channel!r}: state would grow to {total} bytes, over the relay's "
                f"limit of {limit} (--state-bytes); keep fewer or smaller keys, or use "
                "append() for growing data"
            )
        sizes[key] = m.nbytes

    async def _store(self, name: str, epoch: int, writes: list[str | bytes]) -> None:
        """Store a run of writes to one channel and publish them, in one script call."""
        if await self._write(keys=_keys(name), args=[str(epoch), *writes]) == -1:
            # Redis no longer has this epoch (restarted or flushed): nothing was stored, so
            # the owner's connection ends unacknowledged and its kernel writes them again
            # after it re-opens the channel
            await self._check_generation()
            raise NbChannelError(f"channel {name!r}: epoch {epoch} is gone from redis")

    async def _owner_open(self, peer: Peer, m: Message) -> None:
        options = m.value() or {}
        if not isinstance(options, dict):
            self.hub.send_error(peer, MalformedFrame("'open' payload must be an object"), m)
            return
        want = options.get("epoch")
        items = min(int(options.get("history_items") or 10**9), self.hub.config.history_items)
        announce = Message.create(P.OPEN, m.channel, {"history_items": items}, scope=HUB_SCOPE)
        epoch_b, top_b, resumed = await self._open_sha(
            keys=_keys(m.channel),
            args=[
                str(want) if want is not None else "",
                "1" if options.get("reset") is True else "0",
                str(new_epoch()),
                str(items),
                _frame(announce),
            ],
        )
        epoch, top = int(epoch_b), int(top_b)
        if not resumed:
            self._state_sizes.pop(m.channel, None)  # a new epoch: the state is sent afresh
        self.owners.setdefault(m.channel, {})[peer] = epoch
        peer.channels.add((HUB_SCOPE, m.channel))
        opened: P.OpenedPayload = {
            "epoch": epoch,
            "head": top,
            "resumed": bool(resumed),
            "viewers": 0,
        }
        peer.outbox.put(Message.create(P.OPENED, m.channel, opened, scope=HUB_SCOPE))
        await self._send_presence(m.channel)

    # -- replicas: one task applies everything, in order ---------------------------------

    async def _apply_loop(self) -> None:
        carry: tuple[str, Any] | None = None
        while True:
            if carry is not None:
                (job, arg), carry = carry, None
            else:
                job, arg = await self._jobs.get()
            try:
                if job == "live" and arg.startswith(b"w|"):
                    # the writes that queued behind these (this relay was busy fanning out)
                    # go with them: one frame per viewer for all of them, so a busy relay
                    # sends fewer, fuller frames instead of falling further behind
                    batches = [arg]
                    while not self._jobs.empty():
                        nxt = self._jobs.get_nowait()
                        if nxt[0] != "live" or not nxt[1].startswith(b"w|"):
                            carry = nxt
                            break
                        batches.append(nxt[1])
                    await self._live_writes(batches)
                    for name in list(self._held_subs):
                        self._release_held(name)
                elif job == "live":
                    await self._live(arg)
                elif job == "load":
                    if arg not in self.applied:
                        try:
                            await self._load(arg)
                        except _UNREACHABLE as exc:
                            # Redis is down: the viewers wait, and the load is tried again
                            self._load_outage.failed(exc)
                            if arg not in self._load_retries:
                                self._load_retries.add(arg)
                                asyncio.get_running_loop().call_later(0.5, self._retry_load, arg)
                            continue
                    self._load_outage.worked()  # (loaded by this job or by a resync meanwhile)
                    self._release_subs(arg)
                elif job == "presence":
                    try:
                        await self._write_presence(arg)
                        await self.redis.publish(
                            LIVE, b"p|0|0|-1|" + _frame(Message(P.PRESENCE, arg))
                        )
                    except _UNREACHABLE as exc:
                        # Redis restarting: every relay's next refresh (_watch) shares it
                        log.warning("presence of %r not shared: redis unreachable (%s)", arg, exc)
                elif job == "resync-all":
                    for name in list(self.applied):
                        await self._load(name)
                elif job == "lost":
                    await self._lost()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("relay engine: %s %r failed", job, arg)

    def _retry_load(self, name: str) -> None:
        self._load_retries.discard(name)
        self._jobs.put_nowait(("load", name))

    def _release_subs(self, name: str) -> None:
        for peer, m in self._pending_subs.pop(name, []):
            if not peer.closed:
                try:
                    self._subscribe(peer, m, presence=False)
                except NbChannelError as exc:
                    self.hub.send_error(peer, exc, m)
        self._presence_changed(name)

    async def _live(self, data: bytes) -> None:
        """One message other than writes (``kind|epoch|seq|offset|frame``)."""
        kind, epoch_s, _, _, frame = data.split(b"|", 4)
        msg = _one(frame)
        name = msg.channel
        if kind == b"e":
            for owner in self.owners.get(name, {}):
                owner.outbox.put(msg.replace(scope=HUB_SCOPE, offset=None, epoch=None))
            return
        if kind == b"p":
            if name in self.owners:
                await self._send_presence(name)
            return
        ch = self.hub.channels.get((HUB_SCOPE, name))
        if ch is None:
            self.applied.pop(name, None)
            return
        epoch = int(epoch_s)
        if kind == b"o":
            self._reopen(ch, epoch, int(msg.value().get("history_items", ch.history_items)))
            self.applied[name] = 0
            return
        if kind == b"c" and ch.epoch == epoch:
            self.hub._close(ch)
            self.applied[name] = 0

    async def _live_writes(self, batches: list[bytes]) -> None:
        """Batches of writes (``w|epoch|seq|index|frames``), each published by the script
        that stored it, in order: consecutive appends to one channel go to the viewers as
        one :class:`MessageRun`, across batches."""
        ch: Channel | None = None
        run: list[Message] = []
        for batch in batches:
            _, epoch_s, seq_s, index, data = batch.split(b"|", 4)
            epoch, seq = int(epoch_s), int(seq_s)
            pos = 0
            first = True
            for entry in index.split(b","):
                off_s, _, size_s = entry.partition(b":")
                size = int(size_s)
                msg = _one(data[pos : pos + size])
                pos += size
                if first:
                    first = False
                    name = msg.channel
                    if ch is not None and ch.name != name:
                        await self._apply_run(ch, run)
                    ch = self.hub.channels.get((HUB_SCOPE, name))
                    if ch is None:
                        self.applied.pop(name, None)
                        break
                    if name not in self.applied:
                        ch = None
                        break  # not replicated here
                assert ch is not None
                applied = self.applied[ch.name]
                if ch.epoch != epoch or seq > applied + 1:
                    await self._apply_run(ch, run)
                    await self._load(ch.name)  # missed something: Redis has it (this too)
                    ch = None
                    break
                off = int(off_s)
                if seq <= applied:
                    self.duplicates += 1
                elif msg.kind == P.APPEND and (not run or off == ch.head + len(run)):
                    if not run:
                        ch.head = off
                    run.append(msg)
                    self.applied[ch.name] = seq
                    if len(run) >= _MAX_RUN:
                        await self._apply_run(ch, run)
                else:
                    await self._apply_run(ch, run)
                    self._apply(ch, msg, off)
                    self.applied[ch.name] = seq
                seq += 1
        if ch is not None:
            await self._apply_run(ch, run)

    async def _apply_run(self, ch: Channel, run: list[Message]) -> None:
        """Fan out the appends collected from a batch (then forget them).

        The run is appended at once; its fan-out lets the event loop run between slices
        of :data:`FAN_OUT_SLICE` viewers, so an owner's frames, Redis's replies and the
        viewers' own messages are not held up behind a fan-out to every viewer (at 500
        viewers that took ~13 ms, and each stage before it waited for it)."""
        if not run:
            return
        msgs = run.copy()
        run.clear()
        self.applied_messages += len(msgs)
        stamped = self.hub._stamp_run(ch, msgs)
        if stamped is None:
            for m in msgs:
                self.hub._write(ch, m)
            return
        # who is replaying history now gets the run from there (counted here); of the
        # others, who leaves meanwhile is skipped, and who (re)subscribes meanwhile has it
        # in the replay
        cursors = ch.cursors
        live = [s for s in ch.subscribers if s not in cursors]
        if len(live) < len(ch.subscribers):
            self.hub._fan_out_run(ch, stamped, [s for s in ch.subscribers if s in cursors])
        if not live:
            return
        frame = encode_frame([stamped])
        joined = self._joined[ch.name] = set()
        try:
            for i in range(0, len(live), FAN_OUT_SLICE):
                part = live[i : i + FAN_OUT_SLICE]
                if i:
                    await asyncio.sleep(0)
                    current = ch.subscribers
                    part = [s for s in part if s in current and s not in joined]
                self.hub._fan_out_run(ch, stamped, part, frame)
        finally:
            del self._joined[ch.name]

    def _apply(self, ch: Channel, msg: Message, off: int) -> None:
        if msg.kind == P.APPEND:
            ch.head = off
        try:
            self.hub._write(ch, msg.replace(offset=None) if msg.kind != P.APPEND else msg)
        except NbChannelError as exc:  # over this relay's limits: skip it, keep the rest
            log.warning("channel %r: %s not applied: %s", ch.name, msg.kind, exc)
            return
        self.applied_messages += 1

    def _reopen(self, ch: Channel, epoch: int, items: int) -> None:
        ch.open(history_items=items)
        ch.epoch = epoch
        for sub in ch.subscribers:
            self.hub._replay(sub, ch, None, None)

    async def _load(self, name: str) -> None:
        """Bring the replica of ``name`` level with Redis (first load, or a resync)."""
        ch = self.hub._channel(HUB_SCOPE, name)
        start = f"{ch.head + 1}-0" if ch.is_open else "-"
        res = await self._snapshot(keys=_keys(name), args=[start])
        if not res or res[0] is None:
            if ch.is_open:
                self.hub._close(ch)
            self.applied[name] = 0
            return
        epoch, seq, top, items = int(res[0]), int(res[1]), int(res[2]), int(res[3])
        state_flat, stream = res[4], res[5]
        if name in self.applied:
            self.resyncs += 1
        if ch.epoch != epoch:
            self._reopen(ch, epoch, items)
            stream = stream if start == "-" else await self.redis.xrange(_keys(name)[1])
        # state: Redis's is the truth
        state = {
            state_flat[i].decode(): _one(state_flat[i + 1]) for i in range(0, len(state_flat), 2)
        }
        for key in [k for k in ch.state if k not in state]:
            self.hub._write(ch, Message(P.UNSET, name, key=key))
        for key, m in state.items():
            old = ch.state.get(key)
            if old is None or bytes(old.payload) != bytes(m.payload) or old.buffers != m.buffers:
                self.hub._write(ch, m)
        for entry_id, fields in stream:
            eid = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
            off = int(eid.split("-")[0]) - 1
            if off < ch.head:
                continue
            if off > ch.head:
                self._gap(ch, off)
            m = _one(fields[b"d"] if isinstance(fields, dict) else fields[1])
            ch.head = off
            self.hub._write(ch, m)
        if top > ch.head:
            self._gap(ch, top)
        self.applied[name] = seq

    def _gap(self, ch: Channel, end: int) -> None:
        info: P.GapPayload = {
            "kind": P.APPEND,
            "count": end - ch.head,
            "end": end,
            "reason": "history",
        }
        gap = Message.create(P.GAP, ch.name, info, scope=HUB_SCOPE, offset=ch.head)
        for sub in ch.subscribers:
            sub.outbox.put(gap)
        ch.head = end

    async def _lost(self) -> None:
        """Redis lost its data: every kernel reconnects and starts a new epoch."""
        self.generations += 1
        log.warning("redis lost its data (restarted or flushed): kernels restore the channels")
        for name in list(self.applied):
            self.applied[name] = 0
        for owners in list(self.owners.values()):
            for peer in list(owners):
                self.close_owner(peer)

    # -- presence ----------------------------------------------------------------------

    async def _write_presence(self, name: str) -> None:
        ch = self.hub.channels.get((HUB_SCOPE, name))
        key = f"nbc:{{{name}}}:pres"
        if ch is None or not ch.subscribers:
            await self.redis.hdel(key, self.relay_id)
            return
        users = sorted({p.name for p in ch.subscribers})
        value = orjson.dumps({"n": len(ch.subscribers), "users": users, "t": time.time()})
        # the key outlives its last writer by a few ttl (every relay refreshes it each ttl/3)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(key, self.relay_id, value)
        pipe.expire(key, max(1, math.ceil(self.presence_ttl * 3)))
        await pipe.execute()

    async def _send_presence(self, name: str) -> None:
        owners = self.owners.get(name)
        if not owners:
            return
        try:
            entries = await self.redis.hgetall(f"nbc:{{{name}}}:pres")
        except _UNREACHABLE as exc:
            # Redis restarting: the owners keep the last count until the next refresh
            log.warning("presence of %r not read: redis unreachable (%s)", name, exc)
            return
        now = time.time()
        count, users = 0, set()
        stale = []
        for relay_id, value in entries.items():
            info = orjson.loads(value)
            if now - info["t"] <= self.presence_ttl:
                count += int(info["n"])
                users.update(info["users"])
            elif now - info["t"] > 3 * self.presence_ttl:
                stale.append(relay_id)  # a relay that died long ago: forget its entry
        if stale:
            self._background(self.redis.hdel(f"nbc:{{{name}}}:pres", *stale))
        self._watchers[name] = count
        payload = {"viewers": count, "users": sorted(users)}
        for owner in owners:
            owner.outbox.put(Message.create(P.PRESENCE, name, payload, scope=HUB_SCOPE))
