"""The two small interfaces between a channel and what carries it, and nothing else.

A :class:`~nbchannel.kernel.channel.LiveChannel` talks to its carrier through a
:class:`Transport`; a transport talks back to the channel through its :class:`ChannelPort`.
Both sides depend on this module and on nothing of each other, so the channel, the hub
client, the comm transport and the event thread import no one in a circle::

    channel.py ──▶ port.py ◀── client.py (HubClient)
                     ▲    ◀── comm.py (CommTransport, FanOutTransport)
                     └─────── dispatch.py (EventDispatcher)

The :class:`Event` a browser sends lives here too, since every side hands it around.
Nothing here does I/O or imports more than the shared core's message type.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypedDict

from ..core.message import Message, Segment

if TYPE_CHECKING:
    from ..core import protocol as P
    from ..core.codec import Limits

__all__ = [
    "LANE_ITEM_BYTES",
    "ChannelPort",
    "Event",
    "EventSink",
    "Lane",
    "LaneOwner",
    "NbChannelWarning",
    "Status",
    "Transport",
    "TransportStats",
]

Status = Literal["connecting", "connected", "reconnecting", "unavailable"]


class NbChannelWarning(UserWarning):
    """A degraded mode the user should know about (no hub, dropped messages …)."""


@dataclass(frozen=True)
class Event:
    """An event a browser sent to a channel, e.g. a click.

    ``name`` is the event's name (``"click"``), ``value`` its payload (numpy arrays and bytes
    included), ``channel`` the channel's name and ``received`` the ``time.time()`` at which
    the kernel received it; ``user`` names the sender on ``scope="hub"`` channels.
    """

    name: str
    value: Any
    channel: str
    received: float = field(default_factory=time.time)
    #: The JupyterHub user who sent it, on hub-wide channels (None elsewhere).
    user: str | None = None


class TransportStats(TypedDict):
    """What a transport reports about itself."""

    transport: str
    status: str
    queued_bytes: int
    sent_messages: int
    sent_bytes: int
    dropped: int
    reconnects: int


class EventSink(Protocol):
    """Where a transport hands events that have handlers (the event thread's queue)."""

    def submit(self, channel: ChannelPort, event: Event, nbytes: int = 0) -> bool:
        """Queue ``event`` for ``channel``'s handlers; False if it was refused (full)."""
        ...


class ChannelPort(Protocol):
    """What a transport sees of a channel: its address, what to (re)send, and callbacks.

    Every callback is cheap and never blocks: transports call them from their I/O thread.
    """

    @property
    def name(self) -> str:
        """The channel's name."""
        ...

    @property
    def wire_scope(self) -> str | None:
        """The channel's scope on the wire (None: the kernel's own scope)."""
        ...

    @property
    def flow(self) -> P.Flow:
        """The channel's flow control (``"drop"``, ``"latest"`` or ``"block"``)."""
        ...

    #: The last problem reported for this channel (transports may set it).
    last_error: str

    def open_message(self) -> Message:
        """The ``open`` that (re)opens the channel, with its epoch once it has one."""
        ...

    def state_messages(self) -> list[Message]:
        """The retained state, to re-send after a reconnect."""
        ...

    def receive(self, msg: Message, events: EventSink | None = None) -> None:
        """Act on a message for this channel (opened, presence, event, error, gap …).

        Handlers of an event are queued on ``events``, or run on the calling thread
        without one."""
        ...

    def run_handlers(self, event: Event) -> None:
        """Call the handlers registered for ``event`` now (the event thread does)."""
        ...

    def disconnected(self) -> None:
        """The connection carrying the channel broke; it will be re-opened."""
        ...

    def superseded(self) -> None:
        """A newer channel of the same address took this one's place: it is closed."""
        ...

    def lost(self, count: int) -> None:
        """``count`` messages written to the channel never reached the other side."""
        ...


class LaneOwner(Protocol):
    """The side that takes a :class:`Lane`'s items: its I/O thread."""

    #: True while the I/O thread waits with nothing to write; a writer that adds to a lane
    #: then calls :meth:`wake`.
    sleeping: bool

    def wake(self) -> None:
        """Wake the I/O thread (any thread; no lock)."""
        ...


class Lane:
    """The stream items of one ``flow="drop"`` channel on their way to its transport.

    The channel's writer appends each item's JSON (under :data:`LANE_ITEM_BYTES`) and the
    transport's I/O thread takes them, without a lock: ``deque.append`` and ``popleft`` are
    atomic, and each counter has one writer (``taken`` and ``dropped``: the thread taking).
    The I/O thread takes them as segments (:meth:`take`) into its bounded queue, and so
    does any other write of the channel first (a ``set``, an item with arrays), under the
    transport's lock, so the channel's order holds. A writer finding ``max_items`` waiting
    goes the slow way, through the queue and its drop rules.
    """

    __slots__ = (
        "__weakref__",
        "channel",
        "dropped",
        "items",
        "max_items",
        "owner",
        "scope",
        "taken",
        "tee",
    )

    def __init__(self, owner: LaneOwner, scope: str | None, channel: str, max_items: int) -> None:
        self.owner = owner
        self.scope = scope
        self.channel = channel
        self.max_items = max_items
        self.items: deque[bytes] = deque()
        #: Items taken so far, and of those, items the transport's bounded queue then
        #: dropped (with a gap marker).
        self.taken = 0
        self.dropped = 0
        #: Called with each segment taken (under the transport's lock): a second carrier.
        self.tee: Callable[[Message], None] | None = None

    @property
    def sent(self) -> int:
        """Items written into the lane and not dropped."""
        return self.taken + len(self.items) - self.dropped

    def take(self) -> Message | None:
        """The items waiting, up to :data:`SEGMENT_BYTES` of JSON: one segment, or the
        item alone; None when there is none."""
        items = self.items
        n = min(len(items), SEGMENT_BYTES // LANE_ITEM_BYTES)
        if not n:
            return None
        # popleft called n times from C (no bytecode per item): the items present now
        parts: list[bytes] = list(islice(iter(items.popleft, None), n))
        size = sum(map(len, parts))
        while size < SEGMENT_BYTES // 2 and items:  # small items: take more of them
            more = list(islice(iter(items.popleft, None), min(len(items), n)))
            size += sum(map(len, more))
            parts += more
        n = len(parts)
        self.taken += n
        if n == 1:
            return Message("append", self.channel, scope=self.scope, payload=parts[0])
        return Segment.from_payloads(self.channel, parts, scope=self.scope)


#: Items whose JSON is shorter than this may go through a :class:`Lane` (bytes).
LANE_ITEM_BYTES = 1024
#: About the most JSON a lane's :meth:`~Lane.take` puts in one segment (bytes).
SEGMENT_BYTES = 64 * 1024


class Transport(Protocol):
    """What a :class:`~nbchannel.kernel.channel.LiveChannel` needs from its carrier.

    Every method is thread-safe and never blocks on the network.
    """

    @property
    def status(self) -> Status:
        """``connected``, ``connecting``, ``reconnecting`` or ``unavailable``."""
        ...

    @property
    def kernel_id(self) -> str | None:
        """The scope browsers use for this kernel's channels (None: not reachable)."""
        ...

    @property
    def limits(self) -> Limits:
        """The frame limits of the other side: every message is checked against them."""
        ...

    @property
    def max_state_bytes(self) -> int:
        """The most retained state one channel may hold (``c.NbChannel.state_bytes``)."""
        ...

    def register(self, channel: ChannelPort) -> None:
        """Start carrying ``channel`` (opens it at the hub, now or on connect)."""
        ...

    def unregister(self, channel: ChannelPort) -> None:
        """Stop carrying ``channel`` and close it at the hub."""
        ...

    def send(self, channel: ChannelPort, msg: Message) -> bool:
        """Queue ``msg``; False if the bounded queue dropped it."""
        ...

    def send_item(self, channel: ChannelPort, payload: bytes) -> bool:
        """Queue one stream item of a ``flow="drop"`` channel given as its JSON (no
        buffers), packed with the channel's items queued just before it into one segment;
        False if the bounded queue dropped it."""
        ...

    def lane(self, channel: ChannelPort) -> Lane | None:
        """A :class:`Lane` for ``channel``'s plain stream items (a ``flow="drop"`` channel),
        or None where items go through :meth:`send_item`."""
        ...

    def flush(self, timeout: float) -> bool:
        """Wait until everything queued so far has been written; False on timeout."""
        ...

    def stats(self) -> TransportStats:
        """Counters of this transport."""
        ...
