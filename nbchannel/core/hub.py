"""The hub: the in-server router between kernels (owners) and browsers (subscribers).

The hub holds every :class:`~nbchannel.core.channel.Channel` and routes messages between
:class:`~nbchannel.core.peer.Peer` objects. It never does I/O and never waits: transports
feed it decoded messages with :meth:`Hub.receive` and write whatever lands in each peer's
outbox. Because every send is a bounded, non-blocking ``put``, a stalled browser costs the
kernel and the other browsers nothing, and its memory stays under its queue bound.

Everything a peer does wrong — an unknown channel, a foreign scope, a write it may not
make, an oversized event — is answered with an ``error`` message to that peer and nothing
else changes; :meth:`Hub.receive` does not raise.

The hub is single-threaded: call it from the server's event loop only.

Example, with a fake owner and subscriber::

    hub = Hub()
    kernel = hub.connect_owner("kernel-1")
    browser = hub.connect_subscriber()
    hub.receive(kernel, [Message.create("open", "sensor")])
    hub.receive(kernel, [Message.create("set", "sensor", "Temperature", key="title")])
    hub.receive(browser, [Message.create("sub", "sensor", scope="kernel-1")])
    browser.take()   # [subscribed, set title]
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypedDict

from ..errors import (
    ChannelError,
    LimitExceeded,
    MalformedFrame,
    NbChannelError,
    NotPermitted,
    UnknownChannel,
)
from . import protocol as P
from .channel import Channel, ChannelKey
from .codec import Limits, encode_frame
from .message import Message, MessageRun
from .peer import FrameBudget, Peer, Role

__all__ = ["ChannelInfo", "Hub", "HubConfig", "PeerInfo"]

log = logging.getLogger("nbchannel.hub")
_MiB = 1024 * 1024


@dataclass(frozen=True)
class HubConfig:
    """Bounds and defaults of a hub. On the server each is a ``c.NbChannel`` trait."""

    #: Default stream history per channel, by items and by bytes (owners may ask for less).
    history_items: int = 10_000
    history_bytes: int = 32 * _MiB
    #: Most bytes of retained state per channel.
    state_bytes: int = P.DEFAULT_STATE_BYTES
    #: Queue bound of each subscriber (browser) and each owner (kernel).
    subscriber_queue_bytes: int = 8 * _MiB
    owner_queue_bytes: int = 32 * _MiB
    #: Most channels one subscriber may subscribe to.
    max_subscriptions: int = 1_000
    #: Largest event a subscriber may send.
    max_event_bytes: int = 1 * _MiB
    #: Target size of one outgoing frame when a queue is drained.
    batch_bytes: int = 256 * 1024
    #: WebSocket frames per second shared by all viewers (see :class:`FrameBudget`); 0: no cap.
    frames_per_second: int = 20_000
    #: Appends in one frame from a kernel to a channel with at least this many viewers are
    #: queued for each viewer as one run (and encoded once for all the viewers that keep
    #: up), not one by one.
    run_viewers: int = 8
    #: Seconds such appends wait to be fanned out together with the ones that follow (when
    #: the hub has a clock: :attr:`Hub.defer`): a kernel's frames come about a millisecond
    #: apart, and a fan-out to 1,000 viewers costs one send per viewer whatever it holds.
    #: While a fan-out runs, what arrives meanwhile waits for the next. 0: at once.
    run_delay: float = 0.002
    #: Frame limits for decoding.
    limits: Limits = field(default_factory=Limits)


class ChannelInfo(TypedDict):
    """One channel as reported by :meth:`Hub.channels_info`."""

    scope: str
    name: str
    open: bool
    epoch: int | None
    owners: int
    viewers: int
    state_keys: int
    state_bytes: int
    history_items: int
    history_bytes: int
    head: int
    tail: int
    messages_in: int
    bytes_in: int
    messages_out: int
    bytes_out: int
    dropped: int
    events: int
    rate_in: float
    rate_out: float


class PeerInfo(TypedDict):
    """One connection as reported by :meth:`Hub.peers_info`."""

    id: int
    role: str
    name: str
    scope: str | None
    channels: int
    queued_bytes: int
    peak_queued_bytes: int
    dropped: int


class Hub:
    """Channel registry and router. See the module docstring."""

    #: The scope of channels that every owner may open and that several owners share
    #: (``"server"`` in the Jupyter server; a relay serving hub-wide channels uses its own).
    shared_scope: str = P.SERVER_SCOPE

    def __init__(
        self, config: HubConfig | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config or HubConfig()
        self.clock = clock
        self.channels: dict[ChannelKey, Channel] = {}
        self.peers: set[Peer] = set()
        #: Paces the subscribers' writers when many are busy at once.
        self.frame_budget = FrameBudget(self.config.frames_per_second)
        #: ``defer(seconds, callback)`` runs ``callback`` later on the hub's thread (the
        #: server sets its event loop's ``call_later``); None: appends are never held back.
        self.defer: Callable[[float, Callable[[], None]], object] | None = None

    # -- connections -----------------------------------------------------------------------

    def connect_owner(self, scope: str, name: str = "kernel") -> Peer:
        """Register a kernel connection; its kernel-scoped channels live in ``scope``."""
        return self._connect("owner", scope, name, self.config.owner_queue_bytes)

    def connect_subscriber(self, name: str = "viewer") -> Peer:
        """Register a browser (or browser-protocol) connection."""
        return self._connect("subscriber", None, name, self.config.subscriber_queue_bytes)

    def _connect(self, role: Role, scope: str | None, name: str, queue_bytes: int) -> Peer:
        peer = Peer(
            role,
            scope=scope,
            name=name,
            queue_bytes=queue_bytes,
            batch_bytes=self.config.batch_bytes,
        )
        self.peers.add(peer)
        return peer

    def disconnect(self, peer: Peer) -> None:
        """Forget a connection. An owner's channels stay open (it may come back and resume)."""
        if peer not in self.peers:
            return
        self.peers.discard(peer)
        for key in list(peer.channels):
            ch = self.channels.get(key)
            if ch is None:
                continue
            if peer.role == "owner":
                ch.owners.discard(peer)
                ch.received.pop(peer, None)
            else:
                ch.subscribers.discard(peer)
                self._forget_consumer(ch, peer)
                self._presence(ch)
            self._collect(ch)
        peer.channels.clear()
        peer.close()

    # -- input -----------------------------------------------------------------------------

    def receive(self, peer: Peer, messages: Iterable[Message]) -> None:
        """Act on messages that arrived from ``peer``. Errors go back to the peer as messages."""
        if peer.role == "owner":
            self._receive_owner(peer, messages)
            return
        for msg in messages:
            try:
                self._subscriber_message(peer, msg)
            except NbChannelError as exc:
                self.send_error(peer, exc, msg)
            except Exception:  # one bad message must not take the hub down
                log.exception("nbchannel hub: unexpected error handling %r from %r", msg, peer)
                self.send_error(peer, ChannelError("internal error; see the server log"), msg)

    def _receive_owner(self, peer: Peer, messages: Iterable[Message]) -> None:
        # A kernel's frame is mostly a run of writes to one channel: look the channel up
        # (and check ownership) once per run. Only this loop can change the channel's
        # owners or open state, and any other kind of message ends the run.
        # The rate meters read the clock: they are fed once per run, not once per message.
        run: Channel | None = None
        run_name: str | None = None
        run_scope: str | None = None
        run_in = run_out = 0
        credit: set[Channel] = set()
        # Appends to a channel with many viewers are collected and fanned out as one
        # MessageRun per viewer (one queue entry, one frame encoded for all that keep up).
        items: list[Message] = []
        write_kinds = P.WRITE_KINDS
        for msg in messages:
            try:
                if msg.kind in write_kinds:
                    if run is None or msg.channel != run_name or msg.scope != run_scope:
                        if run is not None:
                            if items:
                                run_out += self._append_items(run, items)
                            _count_rates(run, run_in, run_out)
                            run_in = run_out = 0
                        run = None  # stays None if the lookup raises
                        run = self._owned(peer, msg)
                        run_name, run_scope = msg.channel, msg.scope
                    run_in += msg.count
                    if msg.kind == P.APPEND:
                        if run.flow == "block":
                            run.received[peer] = run.received.get(peer, 0) + msg.count
                            credit.add(run)
                        elif (
                            run.flow == "drop"
                            and not msg.buffers
                            and len(run.subscribers) >= self.config.run_viewers
                        ):
                            items.append(msg)
                            continue
                    if items:
                        run_out += self._append_items(run, items)
                    run_out += self._write(run, msg)
                else:
                    if run is not None:
                        if items:
                            run_out += self._append_items(run, items)
                        _count_rates(run, run_in, run_out)
                        run_in = run_out = 0
                    run = None
                    self._owner_message(peer, msg)
            except NbChannelError as exc:
                items.clear()
                self.send_error(peer, exc, msg)
            except Exception:  # one bad message must not take the hub down
                items.clear()
                log.exception("nbchannel hub: unexpected error handling %r from %r", msg, peer)
                self.send_error(peer, ChannelError("internal error; see the server log"), msg)
        if run is not None:
            if items:
                run_out += self._append_items(run, items)
            _count_rates(run, run_in, run_out)
        for ch in credit:
            self._credit(ch, (peer,))

    def _credit(self, ch: Channel, owners: Iterable[Peer] | None = None) -> None:
        """Tell the owners of a ``flow="block"`` channel where its slowest subscriber is
        and how many of their items the hub has taken (coalesced: one queued per owner)."""
        behind, viewers = ch.behind(), len(ch.consumed)
        for owner in ch.owners if owners is None else owners:
            info = {"received": ch.received.get(owner, 0), "behind": behind, "viewers": viewers}
            owner.outbox.put(Message.create(P.CREDIT, ch.name, info, scope=_reply_scope(self, ch)))

    def send_error(self, peer: Peer, exc: NbChannelError, about: Message | None = None) -> None:
        """Queue an ``error`` message for ``peer``."""
        payload: P.ErrorPayload = {"code": exc.code, "message": str(exc)}
        channel, scope = (about.channel, about.scope) if about is not None else ("", None)
        if len(channel) > P.MAX_NAME_LENGTH or (scope and len(scope) > P.MAX_NAME_LENGTH):
            channel, scope = "", None  # never echo an oversized name back
        err = Message.create(
            P.ERROR, channel, payload, scope=scope, key=about.kind if about is not None else None
        )
        peer.outbox.put(err)

    # -- owners ----------------------------------------------------------------------------

    def _owner_scope(self, peer: Peer, msg: Message) -> str:
        scope = msg.scope
        if scope is None or scope == peer.scope:
            assert peer.scope is not None
            return peer.scope
        if scope == self.shared_scope:
            return scope
        raise NotPermitted(
            f"a kernel may open channels in its own scope or in {self.shared_scope!r}, "
            f"not {scope!r}"
        )

    def _owner_message(self, peer: Peer, msg: Message) -> None:
        kind = msg.kind
        if kind == P.OPEN:
            self._open(peer, msg)
            return
        if kind == P.MARK:
            # every message before it on this connection is processed: say so
            peer.outbox.put(Message(P.ACK, offset=msg.offset))
            return
        ch = self._owned(peer, msg)
        if kind in P.WRITE_KINDS:
            _count_rates(ch, msg.count, self._write(ch, msg))
        elif kind == P.CLOSE:
            self._close_by(peer, ch)
        elif kind == P.REFUSED:
            self._refused(ch, msg)
        else:
            raise NotPermitted(f"a kernel cannot send {kind!r} messages")

    def _owned(self, peer: Peer, msg: Message) -> Channel:
        key = (self._owner_scope(peer, msg), msg.channel)
        ch = self.channels.get(key)
        if ch is None or peer not in ch.owners or not ch.is_open:
            raise UnknownChannel(
                f"channel {msg.channel!r} is not open on this connection; open it first"
            )
        return ch

    def _open(self, peer: Peer, msg: Message) -> None:
        _check_address(msg)
        scope = self._owner_scope(peer, msg)
        options = msg.value() or {}
        if not isinstance(options, dict):
            raise MalformedFrame("'open' payload must be an object")
        cfg = self.config
        items = min(_opt_int(options, "history_items", cfg.history_items), cfg.history_items)
        nbytes = min(_opt_int(options, "history_bytes", cfg.history_bytes), cfg.history_bytes)
        flow = options.get("flow", "drop")
        if flow not in P.FLOWS:
            raise MalformedFrame(f"'open' option 'flow' must be one of {P.FLOWS}, not {flow!r}")
        window = _opt_int(options, "window", 64) if flow == "block" else 0
        want_epoch = options.get("epoch")
        ch = self._channel(scope, msg.channel)
        if ch.staged:
            self._fan_out_staged(ch)  # before the reply's head, and before any new epoch
        # `reset`: the owner cleared the channel; it starts afresh even if shared
        clear = options.get("reset") is True
        resumed = not clear and ch.is_open and want_epoch is not None and want_epoch == ch.epoch
        # A kernel-scoped channel opened again without its epoch (a re-run cell, a restarted
        # kernel) starts afresh; a server-scoped channel is shared, so a second owner joins it.
        if clear or (not resumed and not (ch.is_open and scope == self.shared_scope)):
            ch.open(history_items=items, history_bytes=nbytes)
            ch.flow, ch.window = flow, window
            for sub in ch.subscribers:
                self._replay(sub, ch, None, None)
        ch.owners.add(peer)
        peer.channels.add(ch.key)
        ch.received[peer] = 0  # the owner counts its items from its open on
        assert ch.epoch is not None
        opened: P.OpenedPayload = {
            "epoch": ch.epoch,
            "head": ch.head,
            "resumed": resumed,
            "viewers": len(ch.subscribers),
        }
        peer.outbox.put(Message.create(P.OPENED, ch.name, opened, scope=_reply_scope(self, ch)))
        if ch.flow == "block":
            self._credit(ch, (peer,))

    def _write(self, ch: Channel, msg: Message) -> int:
        """Apply one write to ``ch`` and queue it for its subscribers; how many deliveries
        (subscribers that took it × its items: a segment holds several).

        Counts everything but the rate meters, which the caller feeds."""
        if ch.staged:
            self._fan_out_staged(ch)  # what was written before goes first
        kind = msg.kind
        if kind == P.APPEND:
            out = ch.append(msg)
        elif kind == P.PUBLISH or kind == P.GAP:
            out = ch.publish(msg)
        elif msg.key is None:
            raise MalformedFrame(f"{kind!r} needs a key")
        elif kind == P.SET:
            out = ch.set(msg)
        else:
            out = ch.unset(msg)
        stats = ch.stats
        size = out.nbytes
        n = out.count
        stats.messages_in += n
        stats.bytes_in += size
        sent = 0
        # A subscriber still being replayed the history reads this item from there, in
        # order, when its cursor reaches it.
        cursors = ch.cursors if kind == P.APPEND else None
        flow = ch.flow if kind == P.APPEND else "drop"
        for sub in ch.subscribers:
            if (cursors and sub in cursors) or sub.outbox.put(out, flow):
                sent += 1
            else:
                stats.dropped += n
        if sent:
            stats.messages_out += sent * n
            stats.bytes_out += sent * size
        return sent * n

    def _append_items(self, ch: Channel, items: list[Message]) -> int:
        """Fan out the appends collected from an owner's frame (then forget them); how many
        deliveries (items × viewers that took them). With a clock (:attr:`defer`) they are
        held back up to ``run_delay`` to go with the ones that follow (0 deliveries now;
        :meth:`_fan_out_staged` counts them)."""
        delay = self.config.run_delay
        if self.defer is not None and delay > 0:
            if not ch.staged:
                self.defer(delay, functools.partial(self._fan_out_staged, ch))
            ch.staged.extend(items)
            items.clear()
            return 0
        return self._append_now(ch, items)

    def _fan_out_staged(self, ch: Channel) -> None:
        """Append and fan out the items held back for ``ch`` (before anything else is
        written to it, and when their delay is up)."""
        if ch.staged:
            items, ch.staged = ch.staged, []
            _count_rates(ch, 0, self._append_now(ch, items))

    def _append_now(self, ch: Channel, items: list[Message]) -> int:
        sent = self._append_run(ch, items) if len(items) > 1 else self._write(ch, items[0])
        items.clear()
        return sent

    def _append_run(self, ch: Channel, msgs: list[Message]) -> int:
        """Append consecutive stream items to ``ch`` and queue them for its subscribers as
        one :class:`~nbchannel.core.message.MessageRun` each (items with buffers go one by
        one); how many deliveries (items × subscribers that took them). A replica (the
        relay's) uses this when a batch of items arrives at once for a channel with many
        viewers."""
        run = self._stamp_run(ch, msgs)
        if run is None:
            return sum(self._write(ch, m) for m in msgs)
        return self._fan_out_run(ch, run, ch.subscribers) * run.count

    def _stamp_run(self, ch: Channel, msgs: list[Message]) -> MessageRun | None:
        """Append ``msgs`` to ``ch`` as one run, to be fanned out with
        :meth:`_fan_out_run`; None (nothing appended) when they cannot go as one: fewer
        than two, items with buffers, or a flow policy other than ``drop``."""
        if len(msgs) < 2 or ch.flow != "drop" or any(m.buffers for m in msgs):
            return None
        run = MessageRun([ch.append(m) for m in msgs])
        ch.stats.messages_in += run.count
        ch.stats.bytes_in += run.nbytes
        return run

    def _fan_out_run(
        self, ch: Channel, run: MessageRun, subscribers: Iterable[Peer], frame: bytes | None = None
    ) -> int:
        """Give ``run`` (stamped by :meth:`_stamp_run`) to ``subscribers`` of ``ch``: straight
        to the sockets that keep up (``frame``: its encoding, made here when None), queued
        for the others; how many took it. A subscriber replaying history gets it from
        there."""
        stats = ch.stats
        n, size = run.count, run.nbytes
        sent = 0
        cursors = ch.cursors
        for sub in subscribers:
            if cursors and sub in cursors:
                sent += 1
                continue
            if sub.send_now is not None and not sub.pending:
                if frame is None:
                    frame = encode_frame([run])
                if sub.send_now(frame):
                    sent += 1
                    continue
            if sub.outbox.put(run):
                sent += 1
            else:
                stats.dropped += n
        if sent:
            stats.messages_out += sent * n
            stats.bytes_out += sent * size
        return sent

    def _close_by(self, peer: Peer, ch: Channel) -> None:
        ch.owners.discard(peer)
        peer.channels.discard(ch.key)
        if not ch.owners:
            self._close(ch)

    def _close(self, ch: Channel) -> None:
        if ch.staged:
            self._fan_out_staged(ch)
        # What was written before the close still reaches each subscriber, then `closed`:
        # a history still being replayed is queued now (the channel's data goes with the
        # close), and a queue that cannot take it drops with gap markers, as always.
        for sub in ch.subscribers:
            if sub in ch.cursors:
                rest, _ = ch.take_replay(sub, 1 << 62, 1 << 62)
                for m in rest:
                    sub.outbox.put(m)
            sub.stop_replay(ch)
        ch.close()
        for sub in ch.subscribers:
            sub.outbox.put(Message.create(P.CLOSED, ch.name, scope=ch.scope))
        self._collect(ch)

    def close_scope(self, scope: str, *, only_orphaned: bool = False) -> int:
        """Close every channel of ``scope`` (its kernel shut down or restarted).

        Subscribers get ``closed`` and keep waiting: when the restarted kernel opens the
        channel again they receive a fresh replay with a new epoch. With ``only_orphaned``,
        channels that a connected owner holds (a restarted kernel already re-opened them)
        are kept. Returns how many channels were closed.
        """
        closed = 0
        for ch in [c for c in self.channels.values() if c.scope == scope]:
            if only_orphaned and ch.owners:
                continue
            for owner in ch.owners:
                owner.channels.discard(ch.key)
            ch.owners.clear()
            if ch.is_open:
                closed += 1
            self._close(ch)
        return closed

    def _refused(self, ch: Channel, msg: Message) -> None:
        """The kernel dropped events it could not keep up with: tell the channel's viewers."""
        info = msg.value()
        if not isinstance(info, dict):
            raise MalformedFrame("'refused' payload must be an object")
        count, limit = info.get("count"), info.get("limit")
        if info.get("kind") != P.EVENT or type(count) is not int or type(limit) is not int:
            raise MalformedFrame("'refused' needs kind 'event' and integer count and limit")
        dropped = f"{count} event{'s' if count != 1 else ''} dropped"
        error: P.ErrorPayload = {
            "code": LimitExceeded.code,
            "message": f"the kernel is not keeping up with events on channel {ch.name!r}: "
            f"{dropped} (its handler is slower than events arrive; at most {limit} events "
            "wait for it)",
        }
        notice = Message.create(P.ERROR, ch.name, error, scope=ch.scope, key=P.EVENT)
        for sub in ch.subscribers:
            sub.outbox.put(notice)

    # -- subscribers -----------------------------------------------------------------------

    def _subscriber_message(self, peer: Peer, msg: Message) -> None:
        kind = msg.kind
        if msg.scope is None:
            raise UnknownChannel(
                f"{kind!r} needs a scope: the kernel id, or {self.shared_scope!r} for shared "
                "channels"
            )
        _check_address(msg)
        key = (msg.scope, msg.channel)
        if kind == P.SUBSCRIBE:
            self._subscribe(peer, key, msg)
        elif kind == P.UNSUBSCRIBE:
            self._unsubscribe(peer, key)
        elif kind == P.EVENT:
            self._event(peer, key, msg)
        elif kind == P.CONSUMED:
            self._consumed(peer, key, msg)
        else:
            raise NotPermitted(f"a viewer cannot send {kind!r} messages")

    def _consumed(self, peer: Peer, key: ChannelKey, msg: Message) -> None:
        """A subscriber of a ``flow="block"`` channel consumed every item before
        ``msg.offset``: the owners get more credit once the slowest moves."""
        ch = self.channels.get(key)
        if ch is None or ch.flow != "block" or peer not in ch.consumed:
            return  # unsubscribed meanwhile, or re-opened with another flow: nothing to do
        offset = msg.offset
        if type(offset) is not int:
            raise MalformedFrame("'consumed' needs an offset (the next offset not consumed)")
        was = ch.consumed[peer]
        if offset <= was:
            return
        before = ch.behind()
        ch.consumed[peer] = min(offset, ch.head)
        if ch.behind() != before:
            self._credit(ch)

    def _subscribe(self, peer: Peer, key: ChannelKey, msg: Message) -> None:
        if key not in peer.channels and len(peer.channels) >= self.config.max_subscriptions:
            raise LimitExceeded(
                f"this connection already has {len(peer.channels)} subscriptions, the limit "
                "(c.NbChannel.max_subscriptions); unsubscribe from some first"
            )
        ch = self._channel(*key)
        is_new = peer not in ch.subscribers
        ch.subscribers.add(peer)
        peer.channels.add(key)
        self._replay(peer, ch, msg.epoch, msg.offset)
        if is_new:
            self._presence(ch)

    def _replay(self, peer: Peer, ch: Channel, epoch: int | None, since: int | None) -> None:
        # State goes into the outbox now (it is bounded by c.NbChannel.state_bytes); the
        # stream follows from the history a frame at a time as the peer reads, so a
        # subscribe costs the event loop the same however long the history is.
        peer.stop_replay(ch)
        peer.outbox.purge(ch.scope, ch.name)
        put = peer.outbox.put
        msgs, start = ch.replay_start(epoch, since)
        for m in msgs:
            put(m)
        peer.replay(ch, start)
        if ch.flow == "block" and ch.is_open:
            ch.consumed[peer] = ch.head if start is None else start
            self._credit(ch)

    def _unsubscribe(self, peer: Peer, key: ChannelKey) -> None:
        ch = self.channels.get(key)
        peer.channels.discard(key)
        peer.outbox.purge(*key)
        if ch is not None:
            peer.stop_replay(ch)
        if ch is not None and peer in ch.subscribers:
            ch.subscribers.discard(peer)
            self._forget_consumer(ch, peer)
            self._presence(ch)
            self._collect(ch)

    def _forget_consumer(self, ch: Channel, peer: Peer) -> None:
        """A subscriber left: on a ``flow="block"`` channel, the owners may go on."""
        if ch.consumed.pop(peer, None) is not None:
            self._credit(ch)

    def _event(self, peer: Peer, key: ChannelKey, msg: Message) -> None:
        ch = self.channels.get(key)
        if ch is None or not ch.is_open or not ch.owners:
            raise UnknownChannel(
                f"channel {msg.channel!r} has no kernel attached; the event was not delivered"
            )
        if msg.nbytes > self.config.max_event_bytes:
            raise LimitExceeded(
                f"event of {msg.nbytes} bytes exceeds max_event_bytes "
                f"({self.config.max_event_bytes}, c.NbChannel.max_event_bytes)"
            )
        if msg.key is None:
            raise MalformedFrame("an event needs a name (the 'y' key field)")
        msg.value()  # a browser's payload is checked here, so a kernel never gets bad JSON
        # Owner-facing messages name the scope only for shared channels; a kernel knows its own.
        scope = _reply_scope(self, ch)
        event = msg.replace(scope=scope, offset=None, epoch=None)
        ch.stats.events += 1
        refused = 0
        frame = None
        for owner in ch.owners:
            if owner.send_now is not None and not owner.pending:
                # an idle kernel connection: written now, a turn of the event loop sooner
                if frame is None:
                    frame = encode_frame([event])
                if owner.send_now(frame):
                    continue
            if not owner.outbox.put(event):
                refused += 1
        if refused:
            # every other owner got it; the sender learns that some kernel did not
            ch.stats.dropped += refused
            of = f"{refused} of {len(ch.owners)} kernels" if len(ch.owners) > 1 else "the kernel"
            raise LimitExceeded(
                f"{of} on channel {msg.channel!r} did not take this event: its event queue "
                "is full (it is not reading events as fast as they are sent)"
            )

    def _presence(self, ch: Channel) -> None:
        if not ch.owners:
            return
        payload: P.PresencePayload = {"viewers": len(ch.subscribers)}
        scope = _reply_scope(self, ch)
        for owner in ch.owners:
            owner.outbox.put(Message.create(P.PRESENCE, ch.name, payload, scope=scope))

    # -- registry --------------------------------------------------------------------------

    def _channel(self, scope: str, name: str) -> Channel:
        key = (scope, name)
        ch = self.channels.get(key)
        if ch is None:
            cfg = self.config
            ch = self.channels[key] = Channel(
                scope,
                name,
                history_items=cfg.history_items,
                history_bytes=cfg.history_bytes,
                state_bytes=cfg.state_bytes,
                clock=self.clock,
            )
        return ch

    def _collect(self, ch: Channel) -> None:
        """Drop the record of a channel nobody owns, opened or watches."""
        if not ch.is_open and not ch.owners and not ch.subscribers:
            self.channels.pop(ch.key, None)

    # -- observability ---------------------------------------------------------------------

    def channels_info(self) -> list[ChannelInfo]:
        """Every channel with its size, traffic and rates."""
        out: list[ChannelInfo] = []
        for ch in self.channels.values():
            s = ch.stats
            out.append(
                {
                    "scope": ch.scope,
                    "name": ch.name,
                    "open": ch.is_open,
                    "epoch": ch.epoch,
                    "owners": len(ch.owners),
                    "viewers": len(ch.subscribers),
                    "state_keys": len(ch.state),
                    "state_bytes": ch.state_bytes,
                    "history_items": ch.head - ch.tail,
                    "history_bytes": ch.history_bytes,
                    "head": ch.head,
                    "tail": ch.tail,
                    "messages_in": s.messages_in,
                    "bytes_in": s.bytes_in,
                    "messages_out": s.messages_out,
                    "bytes_out": s.bytes_out,
                    "dropped": s.dropped,
                    "events": s.events,
                    "rate_in": s.rate_in.rate(),
                    "rate_out": s.rate_out.rate(),
                }
            )
        return out

    def peers_info(self) -> list[PeerInfo]:
        """Every connection with its queue size and drops."""
        return [
            {
                "id": p.id,
                "role": p.role,
                "name": p.name,
                "scope": p.scope,
                "channels": len(p.channels),
                "queued_bytes": p.outbox.bytes,
                "peak_queued_bytes": p.outbox.peak_bytes,
                "dropped": p.outbox.dropped,
            }
            for p in self.peers
        ]


def _check_address(msg: Message) -> None:
    """Refuse channel names, scopes and keys beyond the protocol's bounds (any peer)."""
    problem = P.name_problem(msg.channel)
    if problem is not None:
        raise (UnknownChannel if not msg.channel else LimitExceeded)(problem)
    if msg.scope is not None and len(msg.scope) > P.MAX_NAME_LENGTH:
        raise LimitExceeded(f"a scope has at most {P.MAX_NAME_LENGTH} characters")
    if msg.key is not None and len(msg.key) > P.MAX_KEY_LENGTH:
        raise LimitExceeded(f"a key or event name has at most {P.MAX_KEY_LENGTH} characters")


def _reply_scope(hub: Hub, ch: Channel) -> str | None:
    """The scope owner-facing messages name: only a shared channel's (a kernel knows its own)."""
    return ch.scope if ch.scope == hub.shared_scope else None


def _opt_int(options: dict[str, Any], name: str, default: int) -> int:
    v = options.get(name, default)
    if type(v) is not int or v < 1:
        raise MalformedFrame(f"'open' option {name!r} must be a positive integer")
    return v


def _count_rates(ch: Channel, messages_in: int, messages_out: int) -> None:
    """Feed a channel's rate meters with a run of writes."""
    stats = ch.stats
    stats.rate_in.add(messages_in)
    if messages_out:
        stats.rate_out.add(messages_out)
