"""The kernel's connection to the hub, run by its own I/O thread.

One :class:`HubClient` per kernel process carries every ``LiveChannel``. Writers (the cell,
or any thread) only encode a message and put it into a bounded :class:`Outbox` under a lock;
the I/O thread batches what is queued into frames and writes them to the socket, and reads
events from the hub while the main thread is busy running a cell. It releases ``wait()``
and ``events()`` at once and hands events with handlers to the event thread
(:class:`~nbchannel.kernel.dispatch.EventDispatcher`) through a bounded queue, so a slow
handler never holds up the other channels. Events refused because that queue is full are
reported to the channel's viewers with a ``refused`` notice (at most one per channel every
half second, with the count), which the hub turns into a ``limit-exceeded`` error.

When the queue is full, state updates still coalesce (the latest value per key wins) while
stream and transient messages are dropped and counted, and a ``gap`` marker tells the
browsers; a cell is never blocked by a slow or absent hub.

When the connection breaks (the Jupyter server restarted under the kernel) the thread
reconnects with exponential backoff, re-reading the hub file for a new address or secret,
and re-opens every channel — resuming it if the hub still knows its epoch, otherwise
restoring its state.

Nothing written is lost silently on the way. Frames end now and then with a ``mark`` that
the hub answers with an ``ack`` once it has processed everything before it; the stream
messages (``append``, ``publish``, ``gap``) of frames not yet acknowledged are kept. After
a reconnect, the queue waits until the hub has answered each re-opened channel: a channel
the hub opened afresh (a new server: nothing of the old connection reached it, or it
is gone with the old epoch) gets those messages again, in order, before anything newer; a
channel the hub resumed (the same server, which may have processed part of them) gets a
``gap`` for them instead, and they are counted in ``dropped`` and ``lost_in_flight``.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import json
import logging
import os
import random
import selectors
import socket
import sys
import threading
import time
import weakref
from collections import deque
from typing import Any

from .._version import __version__
from ..core import protocol as P
from ..core.address import (
    ENV_ADDRESS,
    ENV_HUB_FILE,
    ENV_KERNEL_ID,
    ENV_SECRET,
    HubAddress,
    kernel_id_from_connection_file,
)
from ..core.codec import DEFAULT_LIMITS, FrameReader, Limits, encode_frame, encode_frame_parts
from ..core.message import Message
from ..core.outbox import Outbox
from ..core.protocol import DEFAULT_STATE_BYTES
from ..errors import FrameError, LimitExceeded
from .dispatch import DEFAULT_EVENT_QUEUE, DEFAULT_EVENT_QUEUE_BYTES, EventDispatcher, handoff
from .pool import send_pool
from .port import LANE_ITEM_BYTES, ChannelPort, Lane, Status, TransportStats
from .transport import IO_THREAD_NAME

__all__ = ["HubClient", "find_kernel_id"]

log = logging.getLogger("nbchannel")
_MiB = 1024 * 1024
_IOV_MAX = 512
#: Items a channel's lane holds before its writer goes through the bounded queue instead.
_LANE_ITEMS = 16_384
#: After writing a frame, how long the I/O thread waits for more stream items before it
#: sleeps until woken (s): a lone item still leaves at once, a loop's go in segments.
_LINGER = 0.0002
#: While the I/O thread sleeps with nothing to send, the thread switch interval is at most
#: this (s): an event that arrives while a cell computes in pure Python gets read after at
#: most this long, not a whole interval (1 ms in a kernel). While there is something to
#: send the interval is the usual one, so a loop that appends pays nothing for it.
IDLE_SWITCH_INTERVAL = 0.0002
_SOCKET_BUFFER = 4 * _MiB
#: A connection that lasted this long (seconds) had worked: after it drops, reconnect at once.
_STABLE = 2.0
ChannelKey = tuple["str | None", str]
#: Kinds kept until the hub acknowledges them, to be re-sent or reported after a reconnect
#: (state is re-sent whole on every reconnect anyway).
_RESENDABLE = frozenset({P.APPEND, P.PUBLISH, P.GAP})
#: Least time between two marks; what is written meanwhile is acknowledged by the next one.
_MARK_INTERVAL = 0.005
#: Least time between two notices of refused events on one channel.
NOTICE_INTERVAL = 0.5
#: How long after a reconnect the queue waits for the hub to answer the re-opened channels
#: before it reports what it held back as lost and carries on.
_HOLD_TIMEOUT = 10.0


#: Hub clients of this process, delivered to at interpreter exit.
_open_clients: weakref.WeakSet[HubClient] = weakref.WeakSet()
#: Seconds the interpreter's exit waits for writes to reach a connected hub.
ENV_EXIT_FLUSH = "NBCHANNEL_EXIT_FLUSH"


def _deliver_at_exit() -> None:
    """At interpreter exit, give every connected hub client up to ``NBCHANNEL_EXIT_FLUSH``
    seconds (5 by default) to deliver what was written: a script that appends and ends, or
    a kernel shut down, loses nothing its hub could still take."""
    try:
        timeout = float(os.environ.get(ENV_EXIT_FLUSH, "5"))
    except ValueError:
        timeout = 5.0
    deadline = time.monotonic() + timeout
    for client in list(_open_clients):
        # connecting (a script that ends at once) or connected; a hub found unreachable
        # ("reconnecting") is not waited for
        while client.status in ("connecting", "connected") and client.pending():
            left = deadline - time.monotonic()
            if left <= 0 or client.flush(min(left, 0.05)):
                break


atexit.register(_deliver_at_exit)


def find_kernel_id() -> str:
    """This kernel's id: ``NBCHANNEL_KERNEL_ID``, else the id in its connection file name."""
    kid = os.environ.get(ENV_KERNEL_ID)
    if kid:
        return kid
    candidates: list[str] = []
    with contextlib.suppress(Exception):
        from ipykernel.connect import get_connection_file

        candidates.append(get_connection_file())
    argv = sys.argv
    for i, arg in enumerate(argv):
        if arg == "-f" and i + 1 < len(argv):
            candidates.append(argv[i + 1])
        elif arg.startswith("--f="):
            candidates.append(arg[4:])
    for path in candidates:
        kid = kernel_id_from_connection_file(path)
        if kid:
            return kid
    return f"pid-{os.getpid()}"


class HubClient:
    """Carries every channel of this process to the hub (see the module docstring)."""

    def __init__(
        self,
        address: HubAddress,
        secret: str,
        kernel_id: str,
        *,
        hub_file: str | None = None,
        queue_bytes: int = 64 * _MiB,
        batch_bytes: int = 1 * _MiB,
        event_queue: int = DEFAULT_EVENT_QUEUE,
        event_queue_bytes: int = DEFAULT_EVENT_QUEUE_BYTES,
    ) -> None:
        """Connect (from a new I/O thread) to the hub at ``address``.

        ``queue_bytes`` bounds the writes waiting to be sent; ``event_queue`` and
        ``event_queue_bytes`` bound the events waiting for their handlers (beyond them,
        events are dropped, counted in the channel's ``stats["events_dropped"]`` and
        reported to its viewers).
        """
        self.address = address
        self.secret = secret
        self.kernel_id = kernel_id
        self.hub_file = hub_file
        self.batch_bytes = batch_bytes
        self._lock = threading.Lock()
        self._outbox = Outbox(queue_bytes, on_ready=self._wake)
        self._control: deque[Message] = deque()
        self._channels: dict[ChannelKey, ChannelPort] = {}
        self._lanes: dict[ChannelKey, Lane] = {}
        #: True while the I/O thread waits with nothing to write (see :class:`Lane`).
        self.sleeping = False
        self._status: Status = "connecting"
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._woken = False
        self._stopping = False
        self._idle = threading.Condition(self._lock)
        self._busy = False  # a frame is being written
        # True while a socket is up and every registered channel's open is queued on it;
        # guarded by _lock so a channel registered concurrently is opened exactly once.
        self._linked = False
        self.sent_messages = 0
        #: Messages written that the connection broke under before the hub confirmed them,
        #: and that could not be re-sent (reported to the viewers as a gap).
        self.lost_in_flight = 0
        #: Messages (a segment: its items) written again after a reconnect because the hub had
        #: not confirmed them.
        self.resent = 0
        self._inflight = 0
        #: Events waiting for their handlers, and the thread that runs them.
        self.event_queue = EventDispatcher(
            event_queue, event_queue_bytes, on_refused=self._event_refused
        )
        self._refusals: dict[ChannelPort, int] = {}  # refused since the last notice
        self._noticed: dict[ChannelPort, float] = {}  # when the last notice was queued
        self._notice_due: float | None = None
        # Acknowledgements (I/O thread; _batch_no, _stale and _unconfirmed under _lock).
        self._acks_on = True  # False: the hub does not know marks (an older server)
        self._batch_no = 0
        self._unacked: deque[tuple[int, list[Message]]] = deque()
        self._mark_out: int | None = None  # batch number of the unanswered mark
        self._mark_time = float("-inf")
        self._stale: dict[ChannelKey, int] = {}  # replaced channel -> last batch of the old
        #: Unconfirmed stream messages of the last connection, by channel, until the hub
        #: answers the channel's re-open; newer writes wait meanwhile.
        self._unconfirmed: dict[ChannelKey, list[Message]] = {}
        self._hold_until: float | None = None
        self.sent_bytes = 0
        self.reconnects = 0
        self.last_error = ""
        #: The hub's bounds, as its ``welcome`` states them (defaults until then).
        self._limits = DEFAULT_LIMITS
        self._max_state_bytes = DEFAULT_STATE_BYTES
        #: Give the copies of streamed arrays back to the pool once the hub has them; False
        #: while something else in this process keeps the messages (the kernel's own hub).
        self.recycle_buffers = True
        self._thread = threading.Thread(target=self._run, name=IO_THREAD_NAME, daemon=True)
        self._thread.start()
        _open_clients.add(self)

    @classmethod
    def from_environment(cls, **options: Any) -> HubClient:
        """Build from ``NBCHANNEL_ADDRESS`` / ``NBCHANNEL_SECRET`` / ``NBCHANNEL_HUB_FILE``;
        ``options`` are the keyword arguments of the constructor (``event_queue`` …)."""
        address = HubAddress.parse(os.environ[ENV_ADDRESS])
        return cls(
            address,
            os.environ.get(ENV_SECRET, ""),
            find_kernel_id(),
            hub_file=os.environ.get(ENV_HUB_FILE) or None,
            **options,
        )

    # -- the Transport interface (any thread) --------------------------------------------

    @property
    def status(self) -> Status:
        return self._status

    @property
    def limits(self) -> Limits:
        return self._limits

    @property
    def max_state_bytes(self) -> int:
        return self._max_state_bytes

    def register(self, channel: ChannelPort) -> None:
        key = (channel.wire_scope, channel.name)
        with self._lock:
            old = self._channels.get(key)
            self._channels[key] = channel
            if old is not None and old is not channel:
                old.superseded()
                # what the old object queued must not land in the new channel
                lane = self._lanes.pop(key, None)
                if lane is not None:
                    lane.items.clear()
                self._outbox.purge(channel.wire_scope, channel.name)
                self._forget_unconfirmed(key)
            if self._linked:
                self._control.append(channel.open_message())
                self._wake_locked()
            # otherwise the connect step opens every registered channel

    def unregister(self, channel: ChannelPort) -> None:
        key = (channel.wire_scope, channel.name)
        with self._lock:
            if self._channels.get(key) is not channel:
                return
            del self._channels[key]
            lane = self._lanes.pop(key, None)
            if lane is not None:
                self._put_lane(lane)
            # What is still queued for it was not delivered (close() waited for it first):
            # counted, and the viewers are told before the channel closes.
            purged = self._outbox.purge(channel.wire_scope, channel.name)
            if purged:
                channel.lost(purged)
                self.lost_in_flight += purged
            self._forget_unconfirmed(key)
            if self._linked:
                if purged:
                    gap = {"kind": P.APPEND, "count": purged, "reason": "closed"}
                    self._control.append(
                        Message.create(P.GAP, channel.name, gap, scope=channel.wire_scope)
                    )
                self._control.append(Message(P.CLOSE, channel.name, scope=channel.wire_scope))
                self._wake_locked()

    def send(self, channel: ChannelPort, msg: Message) -> bool:
        with self._lock:
            if self._lanes:
                self._lanes_first()
            return self._outbox.put(msg, channel.flow)

    def lane(self, channel: ChannelPort) -> Lane | None:
        key = (channel.wire_scope, channel.name)
        with self._lock:
            if self._channels.get(key) is not channel:
                return None
            # A lane holds a part of what the queue may: past it, items meet the queue's bound.
            items = min(_LANE_ITEMS, self._outbox.max_bytes // 2 // LANE_ITEM_BYTES)
            lane = self._lanes[key] = Lane(self, channel.wire_scope, channel.name, items)
            return lane

    def wake(self) -> None:
        """Wake the I/O thread (a lane has items; any thread, no lock)."""
        self.sleeping = False
        with contextlib.suppress(BlockingIOError, OSError):
            self._wake_w.send(b"x")

    def _put_lane(self, lane: Lane) -> None:
        """Move ``lane``'s items into the queue as segments (under ``_lock``)."""
        put = self._outbox.put
        while True:
            msg = lane.take()
            if msg is None:
                return
            if not put(msg):
                lane.dropped += msg.count
            if lane.tee is not None:
                lane.tee(msg)

    def _lanes_waiting(self) -> bool:
        return any(lane.items for lane in tuple(self._lanes.values()))

    def send_item(self, channel: ChannelPort, payload: bytes) -> bool:
        with self._lock:
            if self._lanes:
                self._lanes_first()
            return self._outbox.put_item(channel.wire_scope, channel.name, payload)

    def _lanes_first(self) -> None:
        """Queue what the lanes hold before any other write (under ``_lock``), so writes
        leave in the order they were made, across channels too."""
        for lane in self._lanes.values():
            if lane.items:
                self._put_lane(lane)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued so far is written to the socket and the hub has
        confirmed it processed it (where the hub confirms: see the module docstring)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while (
                self._outbox
                or self._lanes_waiting()
                or self._control
                or self._busy
                or not self._linked
                or (self._unacked and self._acks_on)
            ):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(min(left, 0.05))
        return True

    def stats(self) -> TransportStats:
        return {
            "transport": f"hub ({self.address.kind})",
            "status": self._status,
            "queued_bytes": self._outbox.bytes,
            "sent_messages": self.sent_messages,
            "sent_bytes": self.sent_bytes,
            "dropped": self._outbox.dropped + self.lost_in_flight,
            "reconnects": self.reconnects,
        }

    def pending(self) -> bool:
        """Whether anything written is not yet confirmed by the hub."""
        with self._lock:
            return bool(
                self._outbox
                or self._lanes_waiting()
                or self._control
                or self._busy
                or (self._unacked and self._acks_on)
            )

    def close(self) -> None:
        """Stop the I/O thread and the event thread (the process is exiting, or a test is
        done)."""
        _open_clients.discard(self)
        self._stopping = True
        with self._lock:
            self._wake_locked()
        self._thread.join(timeout=2)
        self.event_queue.close()
        for sock in (self._wake_r, self._wake_w):
            sock.close()

    def _recycle(self, batch: list[Message]) -> None:
        if self.recycle_buffers:
            send_pool.recycle(batch)

    # -- waking the I/O thread -------------------------------------------------------------

    def _wake(self) -> None:  # called by the outbox under self._lock
        self._wake_locked()

    def _wake_locked(self) -> None:
        if not self._woken:
            self._woken = True
            with contextlib.suppress(BlockingIOError, OSError):
                self._wake_w.send(b"x")

    def _drain_wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            while self._wake_r.recv(4096):
                pass
        with self._lock:
            self._woken = False

    # -- the I/O thread ------------------------------------------------------------------

    def _run(self) -> None:
        delay = 0.05
        while not self._stopping:
            try:
                sock = self._connect()
            except OSError as exc:
                self._set_status("reconnecting", f"cannot reach the nbchannel hub: {exc}")
                self._sleep(delay)
                delay = min(delay * 2, 5.0) * random.uniform(0.8, 1.2)
                continue
            connected_at = time.monotonic()
            try:
                self._pump(sock)
            except (OSError, FrameError, ConnectionError) as exc:
                if not self._acks_on:
                    # A frame cut short is not delivered: count its messages as lost.
                    self.lost_in_flight += self._inflight
                self._inflight = 0
                if not self._stopping:
                    self.last_error = f"connection to the hub lost: {exc}"
                    log.info("nbchannel: %s; reconnecting", self.last_error)
            finally:
                with contextlib.suppress(OSError):
                    sock.close()
                with self._lock:
                    self._busy = False
                    self._linked = False
                    self._collect_unconfirmed()
                    self._idle.notify_all()
                for ch in list(self._channels.values()):
                    ch.disconnected()
            if not self._stopping:
                self.reconnects += 1
                self._set_status("reconnecting", self.last_error)
                if time.monotonic() - connected_at > _STABLE:
                    delay = 0.05  # it had worked: try again at once
                self._sleep(delay)
                # a hub that accepts and drops at once (its storage down) is not hammered
                delay = min(delay * 2, 5.0) * random.uniform(0.8, 1.2)

    def _set_status(self, status: Status, error: str = "") -> None:
        with self._lock:
            self._status = status
            if error:
                self.last_error = error
            self._idle.notify_all()

    def _sleep(self, seconds: float) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self._wake_r, selectors.EVENT_READ)
        sel.select(seconds)
        sel.close()
        self._drain_wake()

    def _reload_address(self) -> None:
        """A restarted server may have written a new address or secret to the hub file."""
        if not self.hub_file:
            return
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            with open(self.hub_file) as f:
                data = json.load(f)
            self.address = HubAddress.parse(data["address"])
            self.secret = str(data["secret"])

    def _connect(self) -> socket.socket:
        sock = self._dial()
        self._link()
        return sock

    def _dial(self) -> socket.socket:
        """Connect to the hub and send the hello: a non-blocking socket ready for frames."""
        self._reload_address()
        addr = self.address
        if addr.kind == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            target: Any = addr.path
        else:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            target = (addr.host, addr.port)
        sock.settimeout(5.0)
        try:
            sock.connect(target)
            hello = {
                "secret": self.secret,
                "kernel_id": self.kernel_id,
                "pid": os.getpid(),
                "version": __version__,
            }
            sock.sendall(encode_frame([Message.create(P.HELLO, "", hello)]))
        except OSError:
            sock.close()
            raise
        with contextlib.suppress(OSError):
            # A deeper socket buffer than the default (~200 KiB) lets a large frame go out
            # in a few writes instead of dozens of wake-ups of the hub and of this thread;
            # the kernel caps it at net.core.wmem_max.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SOCKET_BUFFER)
        sock.setblocking(False)
        return sock

    def _link(self) -> None:
        """A connection is up: queue every channel's re-open before anything else."""
        with self._lock:
            # Re-open every channel before anything queued for it is written.
            self._control.clear()
            for ch in self._channels.values():
                self._control.append(ch.open_message())
                self._control.extend(ch.state_messages())
            self._linked = True
            self._acks_on = True
            self._mark_out = None
            self._mark_time = float("-inf")
            # Newer writes wait until the hub says, per channel, whether it is new.
            self._hold_until = time.monotonic() + _HOLD_TIMEOUT if self._unconfirmed else None

    def _take(self) -> list[Message]:
        with self._lock:
            self._lanes_first()
            while True:
                # After a reconnect, newer writes wait until the unconfirmed ones are settled.
                hold = bool(self._unconfirmed)
                if self._control:
                    msgs = self._take_control()
                    if not self._control and self._outbox and not hold:
                        msgs.extend(self._outbox.take(self.batch_bytes))
                elif self._outbox and not hold:
                    msgs = self._outbox.take(self.batch_bytes)
                elif self._mark_due(time.monotonic()):
                    # nothing to write, but what was written still needs its mark
                    self._busy = True
                    return self._tracked([])
                else:
                    self._busy = False
                    self._idle.notify_all()
                    return []
                msgs = self._fitting(msgs)
                if msgs:
                    self._busy = True
                    return self._tracked(msgs)

    # -- acknowledgements (I/O thread) ------------------------------------------------------

    def _mark_due(self, now: float) -> bool:
        """Whether frames await a mark that may be sent now."""
        return (
            self._acks_on
            and self._mark_out is None
            and bool(self._unacked)
            and now - self._mark_time >= _MARK_INTERVAL
        )

    def _tracked(self, msgs: list[Message]) -> list[Message]:
        """Keep ``msgs`` (a frame about to be written) until the hub acknowledges it, ending
        it with a mark when none is unanswered (under ``_lock``)."""
        if not self._acks_on:
            return msgs
        self._batch_no += 1
        n = self._batch_no
        now = time.monotonic()
        if self._mark_out is None and now - self._mark_time >= _MARK_INTERVAL:
            msgs.append(Message(P.MARK, offset=n))
            self._mark_out = n
            self._mark_time = now
        self._unacked.append((n, msgs))
        return msgs

    def _acked(self, msg: Message) -> None:
        """The hub processed every frame up to the one the answered mark ended."""
        n = msg.offset
        if n is None or n != self._mark_out:
            return
        self._mark_out = None
        unacked = self._unacked
        while unacked and unacked[0][0] <= n:
            self._recycle(unacked.popleft()[1])  # confirmed: their copies can be reused
        if not unacked:
            with self._lock:
                self._stale.clear()
                self._idle.notify_all()  # flush() waits for this

    def _acks_refused(self) -> None:
        """The hub does not know marks (an older server): write without acknowledgements."""
        if not self._acks_on:
            return
        log.info("nbchannel: the hub does not acknowledge frames; writing without")
        self._acks_on = False
        self._mark_out = None
        # Not given back to the pool: the frame being written may still be among them.
        self._unacked.clear()
        with self._lock:
            self._idle.notify_all()

    def _forget_unconfirmed(self, key: ChannelKey) -> None:
        """The channel at ``key`` was closed or replaced: nothing of it is re-sent (under
        ``_lock``)."""
        self._unconfirmed.pop(key, None)
        if self._unacked:
            self._stale[key] = self._batch_no

    def _collect_unconfirmed(self) -> None:
        """The connection broke: keep its unacknowledged stream messages by channel, to be
        re-sent or reported once the hub answers the re-open (under ``_lock``)."""
        channels, stale, held = self._channels, self._stale, self._unconfirmed
        if self._acks_on:
            for n, batch in self._unacked:
                for m in batch:
                    if m.kind not in _RESENDABLE:
                        continue
                    key = (m.scope, m.channel)
                    if key in channels and n > stale.get(key, 0):
                        held.setdefault(key, []).append(m)
        # Messages re-sent or reported after the last reconnect and not yet written: newer
        # than any of their channel's taken above (the control queue goes out first).
        for m in self._control:
            if m.kind in _RESENDABLE and (m.scope, m.channel) in channels:
                held.setdefault((m.scope, m.channel), []).append(m)
        self._unacked.clear()
        self._stale.clear()
        self._mark_out = None

    def _settle(self, key: ChannelKey, ch: ChannelPort, msg: Message) -> None:
        """The hub answered the re-open of a channel that has unconfirmed messages."""
        with self._lock:
            held = self._unconfirmed.pop(key, None)
            if held is None:
                return
            resumed = True  # unless the hub says it opened the channel afresh
            if msg.kind == P.OPENED:
                with contextlib.suppress(FrameError, AttributeError, TypeError):
                    resumed = msg.value().get("resumed") is not False
            if msg.kind == P.OPENED and not resumed:
                # A new hub, or a new epoch: none of them is in it; send them first, in order.
                self._control.extend(held)
                self.resent += sum(m.count for m in held)
            else:
                self._report_lost(ch, held, to_viewers=msg.kind == P.OPENED)
            if not self._unconfirmed:
                self._hold_until = None
                self._wake_locked()

    def _report_lost(self, ch: ChannelPort, held: list[Message], *, to_viewers: bool) -> None:
        """Count unconfirmed messages as lost and queue a ``gap`` for each kind (under
        ``_lock``). The hub may have processed some of them: this is an upper bound."""
        counts: dict[str, int] = {}
        for m in held:
            if m.kind == P.GAP:
                with contextlib.suppress(FrameError, AttributeError, TypeError, ValueError):
                    info = m.value()
                    kind = str(info["kind"])
                    counts[kind] = counts.get(kind, 0) + int(info["count"])
            else:
                counts[m.kind] = counts.get(m.kind, 0) + m.count
        items = counts.get(P.APPEND, 0) + counts.get(P.PUBLISH, 0)
        if items:
            ch.lost(items)
            self.lost_in_flight += items
            self.last_error = (
                f"channel {ch.name!r}: the connection to the hub broke before it confirmed "
                f"{items} messages; its viewers are told they may be missing"
            )
            log.warning("nbchannel: %s", self.last_error)
        if not to_viewers:
            return
        for kind, count in counts.items():
            gap: P.GapPayload = {"kind": kind, "count": count, "reason": "dropped"}
            self._control.append(Message.create(P.GAP, ch.name, gap, scope=ch.wire_scope))

    def _expire_hold(self, now: float) -> None:
        """No answer to some re-opens in time: report what they held back, carry on."""
        if self._hold_until is None or now < self._hold_until:
            return  # (the common case, without taking the lock)
        with self._lock:
            if self._hold_until is None or now < self._hold_until:
                return
            self._hold_until = None
            for key, held in self._unconfirmed.items():
                ch = self._channels.get(key)
                if ch is not None:
                    self._report_lost(ch, held, to_viewers=True)
            self._unconfirmed.clear()
            self._wake_locked()

    # -- refused events (I/O thread) ------------------------------------------------------

    def _event_refused(self, ch: ChannelPort) -> None:
        """The event queue refused an event of ``ch``: tell its viewers, coalesced."""
        self._refusals[ch] = self._refusals.get(ch, 0) + 1
        now = time.monotonic()
        last = self._noticed.get(ch)
        if last is None or now - last >= NOTICE_INTERVAL:
            self._notify_refused(ch, now)
        elif self._notice_due is None or last + NOTICE_INTERVAL < self._notice_due:
            self._notice_due = last + NOTICE_INTERVAL

    def _send_notices(self, now: float) -> None:
        """Queue the notices that are due."""
        if self._notice_due is None or now < self._notice_due:
            return
        self._notice_due = None
        for ch in list(self._refusals):
            due = self._noticed.get(ch, float("-inf")) + NOTICE_INTERVAL
            if now >= due:
                self._notify_refused(ch, now)
            elif self._notice_due is None or due < self._notice_due:
                self._notice_due = due
        for ch in [c for c, t in self._noticed.items() if now - t >= NOTICE_INTERVAL]:
            if ch not in self._refusals:
                del self._noticed[ch]

    def _notify_refused(self, ch: ChannelPort, now: float) -> None:
        count = self._refusals.pop(ch, 0)
        self._noticed[ch] = now
        if not count:
            return
        limit = self.event_queue.max_events
        about = f"the kernel is not keeping up with events on channel {ch.name!r}"
        if not ch.last_error.startswith(about):  # say it once, not every half second
            log.warning(
                "nbchannel: %s: its handlers are slower than events arrive; events beyond "
                "the %d waiting are dropped (stats['events_dropped']) and the viewers are told",
                about,
                limit,
            )
        ch.last_error = f"{about}: {count} more events dropped"
        notice: P.RefusedPayload = {"kind": P.EVENT, "count": count, "limit": limit}
        msg = Message.create(P.REFUSED, ch.name, notice, scope=ch.wire_scope)
        with self._lock:
            if self._channels.get((ch.wire_scope, ch.name)) is ch:
                self._outbox.put(msg)

    def _timeout(self, now: float, writing: bool) -> float | None:
        """How long the I/O thread may wait for the socket: until the next thing due."""
        due = self._notice_due
        if self._hold_until is not None and (due is None or self._hold_until < due):
            due = self._hold_until
        if not writing and self._acks_on and self._mark_out is None and self._unacked:
            mark = self._mark_time + _MARK_INTERVAL
            if due is None or mark < due:
                due = mark
        return None if due is None else max(0.0, due - now)

    def _take_control(self) -> list[Message]:
        """Control messages for one frame (under ``_lock``): re-opens and re-sent state.

        After a reconnect every channel's open and retained state is queued here at once;
        one frame of all of it could exceed the hub's frame limit, and the hub would close
        the connection again on every reconnect. So it goes out in batches.
        """
        control = self._control
        msgs: list[Message] = []
        taken = 0
        while control and (not msgs or (taken < self.batch_bytes and len(msgs) < 4096)):
            m = control.popleft()
            taken += m.nbytes
            msgs.append(m)
        return msgs

    def _fitting(self, msgs: list[Message]) -> list[Message]:
        """Drop (and report) messages the hub's limits do not allow.

        Writes are checked when they are made, against the limits known then; a server
        restarted with lower limits could still refuse one queued or retained earlier. It
        is dropped here rather than sent, since a refused frame costs the connection.
        """
        check = self._limits.check_message
        kept: list[Message] = []
        for m in msgs:
            try:
                check(m)
            except LimitExceeded as exc:
                self.lost_in_flight += m.count
                self.last_error = f"dropped a {m.kind!r} on channel {m.channel!r}: {exc}"
                log.warning("nbchannel: %s", self.last_error)
                continue
            kept.append(m)
        return kept

    def _pump(self, sock: socket.socket) -> None:
        reader = FrameReader(Limits(max_frame_bytes=1 << 31))
        sel = selectors.DefaultSelector()
        sel.register(sock, selectors.EVENT_READ)
        sel.register(self._wake_r, selectors.EVENT_READ)
        pending: list[memoryview] = []
        batch: list[Message] = []
        writing = False
        lingered = True  # since the last frame, waited _LINGER once for more items
        try:
            while not self._stopping:
                now = time.monotonic()
                self._send_notices(now)
                self._expire_hold(now)
                if not pending:
                    batch = self._take()  # marks the client idle when nothing is left
                    if batch:
                        lingered = False
                        pending = [memoryview(p).cast("B") for p in encode_frame_parts(batch)]
                        self._inflight = len(batch) - (batch[-1].kind == P.MARK)
                if pending:
                    try:
                        n = sock.sendmsg(pending[:_IOV_MAX])
                    except (BlockingIOError, InterruptedError):
                        n = 0
                    self.sent_bytes += n
                    pending = _advance(pending, n)
                    if not pending:
                        self.sent_messages += self._inflight
                        self._inflight = 0
                        if not self._acks_on:
                            self._recycle(batch)  # written out: their copies can be reused
                        # (otherwise they are given back once the hub acknowledges them)
                        batch = []
                    if n:
                        # The socket took data: keep writing (or take the next batch)
                        # until it would block, but still read what arrived meanwhile.
                        self._poll(sel, sock, reader, 0)
                        continue
                if pending and not writing:
                    sel.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
                    writing = True
                elif not pending and writing:
                    sel.modify(sock, selectors.EVENT_READ)
                    writing = False
                timeout = self._timeout(time.monotonic(), bool(pending))
                if not pending:
                    if not lingered:
                        # Right after a frame, wait a moment for more items before being
                        # woken: a writer in a loop fills a segment meanwhile, instead of
                        # waking this thread (and taking turns for the GIL) per few items.
                        lingered = True
                        if timeout is None or timeout > _LINGER:
                            timeout = _LINGER
                    else:
                        # Writers wake this thread only while it sleeps: say so, then look
                        # once more at the lanes (an item added just before is seen here).
                        self.sleeping = True
                        if self._lanes_waiting():
                            self.sleeping = False
                            continue
                if self.sleeping:
                    handoff(True, IDLE_SWITCH_INTERVAL)
                    try:
                        self._poll(sel, sock, reader, timeout)
                    finally:
                        handoff(False, IDLE_SWITCH_INTERVAL)
                else:
                    self._poll(sel, sock, reader, timeout)
                self.sleeping = False
        finally:
            self.sleeping = False  # disconnected: writers fill their lanes until it is back
            sel.close()

    def _poll(
        self,
        sel: selectors.BaseSelector,
        sock: socket.socket,
        reader: FrameReader,
        timeout: float | None,
    ) -> None:
        for key, events in sel.select(timeout):
            if key.fileobj is self._wake_r:
                self._drain_wake()
            elif events & selectors.EVENT_READ:
                data = sock.recv(1 << 20)
                if not data:
                    raise ConnectionError("the hub closed the connection")
                for batch in reader.feed(data):
                    self._dispatch(batch)

    def _dispatch(self, msgs: list[Message]) -> None:
        for msg in msgs:
            kind = msg.kind
            if kind == P.ACK:
                self._acked(msg)
                continue
            if kind == P.WELCOME:
                self._welcome(msg)
                continue
            if kind == P.ERROR:
                if not msg.channel and self._status != "connected":
                    info = msg.value() or {}
                    self._stopping_error(str(info.get("message", "refused")))
                    continue
                if msg.key == P.MARK:
                    self._acks_refused()
                    continue
            key = (msg.scope, msg.channel)
            ch = self._channels.get(key)
            if ch is None:
                if kind == P.ERROR:
                    log.warning("nbchannel: hub error: %s", (msg.value() or {}).get("message"))
                continue
            if self._unconfirmed and (kind == P.OPENED or (kind == P.ERROR and msg.key == P.OPEN)):
                self._settle(key, ch, msg)
            ch.receive(msg, self.event_queue)

    def _welcome(self, msg: Message) -> None:
        info = msg.value() or {}
        with contextlib.suppress(TypeError, ValueError):
            frame = int(info.get("max_frame_bytes", DEFAULT_LIMITS.max_frame_bytes))
            if frame > 0:
                self._limits = dataclasses.replace(DEFAULT_LIMITS, max_frame_bytes=frame)
            state = int(info.get("state_bytes", DEFAULT_STATE_BYTES))
            if state > 0:
                self._max_state_bytes = state
        self._set_status("connected")
        self.last_error = ""

    def _stopping_error(self, message: str) -> None:
        self.last_error = f"the hub refused this kernel: {message}"
        log.warning("nbchannel: %s", self.last_error)
        raise ConnectionError(self.last_error)


def _advance(parts: list[memoryview], n: int) -> list[memoryview]:
    """Drop ``n`` sent bytes from the front of ``parts``."""
    i = 0
    while n and i < len(parts):
        size = parts[i].nbytes
        if n >= size:
            n -= size
            i += 1
        else:
            parts[i] = parts[i][n:]
            n = 0
    return parts[i:]
