"""``LiveChannel``: a named, live channel from this kernel to every browser watching it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import traceback
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal, TypedDict, TypeVar, overload

import orjson

from ..core import protocol as P
from ..core.message import Message, pack_value, plain_only
from ..core.protocol import MAX_KEY_LENGTH, check_channel_name
from ..errors import (
    ChannelError,
    EncodeError,
    EventsNotLive,
    FlowTimeout,
    FrameError,
    LimitExceeded,
)
from ..relay.wire import HUB_SCOPE, open_envelope
from .dispatch import HANDLER_THREAD_NAME
from .pool import send_pool
from .port import LANE_ITEM_BYTES, Event, EventSink, Transport, TransportStats
from .transport import (
    COMM_THREAD_NAME,
    COMM_TRANSPORT,
    IO_THREAD_NAME,
    default_transport,
    events_not_live_message,
    relay_transport,
    warn_stale_read,
)

__all__ = ["ChannelStats", "Event", "LiveChannel"]

log = logging.getLogger("nbchannel")
Handler = Callable[["Event"], Any]
H = TypeVar("H", bound=Handler)
_ANY = "*"
_dumps = orjson.dumps
_NEWLINE = orjson.OPT_APPEND_NEWLINE
#: Stream items whose JSON is shorter than this are packed into segments without the full
#: size check (far below any frame limit).
_PACKED_BELOW = 64 * 1024
#: How long a cell waiting for an event gives a view just displayed to show that its
#: messages reach the kernel while a cell runs, before calling the wait hopeless.
_LIVE_GRACE = 1.5


class ChannelStats(TypedDict):
    """Counters of one channel, plus its transport's."""

    name: str
    scope: str
    epoch: int | None
    viewers: int
    sent: int
    dropped: int
    #: Events received from browsers (including those whose handlers did not run).
    events: int
    #: Events refused because the queue of events waiting for handlers was full (their
    #: handlers are slower than events arrive); the viewers are told.
    events_dropped: int
    #: Viewers by the transport that carries them: ``{"hub": 2, "comm": 1}``.
    views: dict[str, int]
    #: Which transport carries the views, in words ("via the kernel (comm)").
    via: str
    transport: TransportStats


class _Waiter:
    __slots__ = ("done", "event", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.done = threading.Event()
        self.event: Event | None = None


class LiveChannel:
    """A live channel: state, a stream and messages to browsers; events back from them.

    ::

        ch = LiveChannel("sensor")                  # kernel-scoped: this notebook's channel
        ch.set("title", "Temperature")              # retained state, replayed to late joiners
        ch.append({"t": 1.0, "v": 21.5})            # stream item, replayed on reconnect
        ch.publish({"cursor": [3, 4]})              # transient, to current viewers only

        @ch.on("click")                             # runs while a cell is busy
        def clicked(event):
            print("clicked at", event.value)

        event = ch.wait("click", timeout=10)        # or block the cell until the user acts

    Writes are encoded at once (numpy arrays are copied, so the caller may reuse them) and
    queued; the connection's I/O thread sends them in batches. State updates always
    coalesce to the latest value per key. What happens to stream items when a viewer (or
    the hub) falls behind is the channel's **flow control**, ``flow=``:

    * ``"drop"`` (default): ``append`` never blocks; a queue that is full drops items,
      counted in :attr:`stats`, and the viewers are told with a gap marker. For live
      metrics and logs, where the newest data matters and the cell must never wait.
    * ``"latest"``: each viewer gets the newest item and never a backlog — a queued item
      is replaced by the next one (the history keeps the newest item unless ``history``
      says otherwise). For frames and snapshots: video, a simulation's current state.
    * ``"block"``: nothing is dropped. ``append`` waits while the slowest viewer is
      ``window`` items behind (viewers report what they consumed; the hub passes it on),
      and raises :class:`~nbchannel.errors.FlowTimeout` after ``block_timeout`` seconds
      (``None``: no limit). With no viewer attached it does not wait for one: the items
      go to the hub, whose history bounds apply. Over the comm beside a hub, only the
      hub's viewers hold it. Not for ``scope="hub"``. For data that must arrive whole:
      arrays for analysis, a recording, a file in chunks.

    **Threads.** Every method is thread-safe. Handlers registered with :meth:`on` run on
    nbchannel's event thread (``nbchannel-events``, one per process), not on the cell's
    thread, one at a time in arrival order, so they run while a cell is executing. A slow
    handler delays only other handlers: the channels keep sending, and ``wait()`` and
    ``events()`` still see events at once. Events wait for their handlers in a bounded
    queue (10,000 events or 32 MiB by default); beyond that they are dropped, counted in
    ``stats["events_dropped"]`` and the viewers are told. Keep handlers short and hand long
    work to another thread.

    **Scope.** ``scope="kernel"`` (default) makes a channel private to this kernel's
    notebook; ``scope="server"`` shares it, by name, with every kernel of the server;
    ``scope="hub"`` shares it with every user of a JupyterHub, through the relay named by
    ``NBCHANNEL_RELAY_URL`` (:mod:`nbchannel.relay`), and events name their sender
    (``Event.user``).

    Creating a second ``LiveChannel`` with the same name and scope in one kernel replaces the
    first (re-running a cell starts the channel afresh); the old object is closed.

    Where no hub is reachable (plain ``python``, VS Code, Colab) the channel still works
    locally and warns once that nothing reaches a browser.
    """

    def __init__(
        self,
        name: str,
        *,
        scope: Literal["kernel", "server", "hub"] = "kernel",
        history: int | None = None,
        history_bytes: int | None = None,
        flow: Literal["drop", "latest", "block"] = "drop",
        window: int = 64,
        block_timeout: float | None = 30.0,
        transport: Transport | None = None,
    ) -> None:
        check_channel_name(name)
        if flow not in P.FLOWS:
            raise ValueError(
                f"LiveChannel(flow=...) must be 'drop', 'latest' or 'block', not {flow!r}"
            )
        if type(window) is not int or window < 1:
            raise ValueError(f"LiveChannel(window=...) must be a positive integer, got {window!r}")
        if block_timeout is not None and (
            isinstance(block_timeout, bool)
            or not isinstance(block_timeout, (int, float))
            or not block_timeout > 0
        ):
            raise ValueError(
                f"LiveChannel(block_timeout=...) must be a positive number of seconds or None, "
                f"got {block_timeout!r}"
            )
        if flow == "block" and scope == "hub":
            raise ValueError(
                "LiveChannel(flow='block') is not available with scope='hub' (relays do not "
                "pass viewers' credit to kernels): use flow='drop' or 'latest'"
            )
        if scope not in ("kernel", "server", "hub"):
            raise ValueError(
                f"LiveChannel(scope=...) must be 'kernel' or 'server' (or 'hub', shared across "
                f"a JupyterHub through a relay), not {scope!r}"
            )
        for label, v in (("history", history), ("history_bytes", history_bytes)):
            # a bool is an int to Python; history=True is a mistake, not a history of 1
            if v is not None and (type(v) is not int or v < 1):
                raise ValueError(
                    f"LiveChannel({label}=...) must be a positive integer or None, got {v!r}"
                )
        self.name = name
        self.scope: Literal["kernel", "server", "hub"] = scope
        #: The scope on the wire (None: the kernel's own scope).
        self.wire_scope: str | None = (
            P.SERVER_SCOPE if scope == "server" else HUB_SCOPE if scope == "hub" else None
        )
        #: Flow control: what happens when a viewer falls behind (see the class docs).
        self.flow: Literal["drop", "latest", "block"] = flow
        self.window = window
        self.block_timeout = block_timeout
        # a "latest" channel's history is its newest item, unless asked otherwise
        self._history = 1 if history is None and flow == "latest" else history
        self._history_bytes = history_bytes
        # flow="block": stream items sent since the open, and the hub's last credit
        # (items of ours it has taken, how far behind the slowest viewer is, viewers)
        self._appended = 0
        self._credit: tuple[int, int, int] = (0, 0, 0)
        self._lock = threading.RLock()
        self._credited = threading.Condition(self._lock)
        self._state: dict[str, Any] = {}
        self._state_msgs: dict[str, Message] = {}
        self._state_bytes = 0  # wire size of the retained state, bounded by the hub's limit
        self._handlers: dict[str, list[Handler]] = {}
        self._waiters: list[_Waiter] = []
        self._streams: list[tuple[str, asyncio.AbstractEventLoop, asyncio.Queue[Event]]] = []
        self._epoch: int | None = None
        self._viewers = 0
        self._other_views: dict[str, int] = {}  # viewers reached by a second transport
        self._closed: str | None = None
        self._opened = threading.Event()
        self._sent = 0
        self._dropped = 0
        self._events = 0
        self._events_dropped = 0
        self.last_error = ""
        self._viewer_users: list[str] | None = None
        if transport is None:
            transport = relay_transport() if scope == "hub" else default_transport()
        self._transport = transport
        self._transport.register(self)
        #: Where plain stream items go without a lock (see :class:`~.port.Lane`); a
        #: transport written before lanes and segments has neither method.
        lane_of = getattr(transport, "lane", None)
        self._lane = lane_of(self) if flow == "drop" and lane_of is not None else None
        self._packs = callable(getattr(transport, "send_item", None))

    def __repr__(self) -> str:
        state = "closed" if self._closed else self._transport.status
        return (
            f"<LiveChannel {self.name!r} scope={self.scope} {state} viewers={self.viewers} "
            f"{self.via}>"
        )

    # -- writing -------------------------------------------------------------------------

    def set(self, key: str, value: Any) -> None:
        """Set retained state ``key`` to ``value``; every current and future viewer sees it."""
        _check_key(key)
        msg = self._message(P.SET, value, key=key)
        with self._lock:
            old = self._state_msgs.get(key)
            total = self._state_bytes + msg.nbytes - (old.nbytes if old is not None else 0)
            limit = self._transport.max_state_bytes
            if total > limit:
                setting = (
                    "the relay's --state-bytes"
                    if self.scope == "hub"
                    else "the server's c.NbChannel.state_bytes"
                )
                raise LimitExceeded(
                    f"channel {self.name!r}: set({key!r}, ...) would make its retained state "
                    f"{total} bytes, over the limit of {limit} ({setting}); keep fewer or "
                    "smaller keys, or use append() for growing data"
                )
            self._state[key] = value
            self._state_msgs[key] = msg
            self._state_bytes = total
        self._send(msg)

    def unset(self, key: str) -> None:
        """Remove retained state ``key``."""
        _check_key(key)
        self._check_open()
        msg = Message(P.UNSET, self.name, scope=self.wire_scope, key=key)
        with self._lock:
            self._state.pop(key, None)
            old = self._state_msgs.pop(key, None)
            if old is not None:
                self._state_bytes -= old.nbytes
        self._send(msg)

    def clear(self) -> None:
        """Start the channel afresh: no state, no stream history, a new epoch.

        Every viewer resets what it shows (a plot empties, a table loses its rows). For a
        shared (``scope="server"``) channel this clears it for every notebook.
        """
        self._check_open()
        with self._lock:
            self._state.clear()
            self._state_msgs.clear()
            self._state_bytes = 0
        options = {"reset": True}
        self._send(Message.create(P.OPEN, self.name, options, scope=self.wire_scope))

    def get(self, key: str, default: Any = None) -> Any:
        """The value last :meth:`set` for ``key`` in this kernel."""
        with self._lock:
            return self._state.get(key, default)

    @property
    def state(self) -> dict[str, Any]:
        """A copy of the retained state as this kernel set it."""
        with self._lock:
            return dict(self._state)

    def append(self, item: Any) -> None:
        """Append ``item`` to the channel's stream (kept in a bounded history, replayed).

        With ``flow="block"`` this waits, when the slowest viewer is ``window`` items
        behind, until it catches up; :class:`~nbchannel.errors.FlowTimeout` after
        ``block_timeout`` seconds (nothing sent)."""
        lane = self._lane
        if lane is not None or (self.flow == "drop" and self._packs):
            # The common case, kept short: plain JSON is encoded here once and handed to
            # the transport's I/O thread through the channel's lane (no lock, counted
            # there), or packed in its queue, with the items written just before it, into
            # one segment.
            if self._closed:
                self._check_open()
            try:
                # orjson's result sits in a block far larger than it: kept in a lane, a
                # few hundred of them made each dumps() five times slower. The slice is
                # an exact copy, and the original is freed at once.
                payload = _dumps(item, default=plain_only, option=_NEWLINE)[:-1]
            except TypeError:
                pass  # arrays, bytes, numpy scalars, or not JSON: the full path says which
            else:
                if lane is not None and len(payload) < LANE_ITEM_BYTES:
                    items = lane.items
                    if len(items) < lane.max_items:
                        items.append(payload)
                        owner = lane.owner
                        if owner.sleeping:
                            owner.wake()
                        return
                if len(payload) < _PACKED_BELOW:
                    if self._transport.send_item(self, payload):
                        self._sent += 1
                    else:
                        self._dropped += 1
                    return
        msg = self._message(P.APPEND, item)
        if self.flow == "block":
            self._wait_for_credit()
            with self._lock:
                self._appended += 1
        self._send(msg)

    def _outstanding(self) -> int:
        """Items sent that the slowest viewer has not consumed (as far as the hub said)."""
        received, behind, _ = self._credit
        return max(0, self._appended - received) + behind

    def _wait_for_credit(self) -> None:
        if threading.current_thread().name in (IO_THREAD_NAME, COMM_THREAD_NAME):
            return  # never on the threads that bring the credit
        deadline = None if self.block_timeout is None else time.monotonic() + self.block_timeout
        with self._credited:
            while self._outstanding() >= self.window:
                if self._closed or self._transport.status == "unavailable":
                    return  # no hub to wait for: the bounded queues apply
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    _, behind, viewers = self._credit
                    raise FlowTimeout(
                        f"LiveChannel {self.name!r}: append waited {self.block_timeout:g} s "
                        f"for its viewers: the slowest of {viewers} is {behind} items behind "
                        f"(window={self.window}); nothing was sent. A hidden or stalled page "
                        "holds a flow='block' channel: close it, raise block_timeout (None "
                        "waits without limit), or use flow='latest' or 'drop'"
                    )
                self._credited.wait(0.5 if left is None else min(left, 0.5))

    def publish(self, message: Any) -> None:
        """Send a transient ``message`` to the viewers connected right now."""
        self._send(self._message(P.PUBLISH, message))

    def _message(self, kind: str, value: Any, key: str | None = None) -> Message:
        self._check_open()
        payload, buffers = pack_value(value)
        if buffers:
            # The caller may reuse its array as soon as we return: freeze what was sent.
            buffers = tuple(send_pool.owned(b) for b in buffers)
        msg = Message(
            kind, self.name, scope=self.wire_scope, key=key, payload=payload, buffers=buffers
        )
        # A value no frame can carry fails here, at the call that made it: sent, it would
        # cost the connection every other channel of this kernel shares.
        self._transport.limits.check_message(msg)
        return msg

    def _send(self, msg: Message) -> None:
        if self._transport.send(self, msg):
            self._sent += 1
        else:
            self._dropped += 1

    def _check_open(self) -> None:
        if self._closed:
            raise ChannelError(f"LiveChannel {self.name!r} is closed ({self._closed})")

    # -- events --------------------------------------------------------------------------

    @overload
    def on(self, event: str) -> Callable[[H], H]: ...

    @overload
    def on(self, event: str, handler: H) -> H: ...

    def on(self, event: str, handler: H | None = None) -> H | Callable[[H], H]:
        """Call ``handler(event)`` for every event named ``event`` (``"*"``: every event).

        Usable as a decorator. The handler runs on nbchannel's event thread while cells run,
        one event at a time in arrival order; an exception in it is printed and does not stop
        later events. Events that arrive faster than the handlers run wait in a bounded queue;
        beyond it they are dropped and counted in ``stats["events_dropped"]``.
        """

        def register(h: H) -> H:
            with self._lock:
                self._handlers.setdefault(event, []).append(h)
            return h

        return register if handler is None else register(handler)

    def off(self, event: str, handler: Handler | None = None) -> None:
        """Remove ``handler`` (or every handler) for ``event``."""
        with self._lock:
            if handler is None:
                self._handlers.pop(event, None)
            elif handler in self._handlers.get(event, []):
                self._handlers[event].remove(handler)

    def wait(self, event: str = _ANY, timeout: float | None = None) -> Event:
        """Block until the next event named ``event`` arrives and return it.

        Works inside a running cell (events arrive on another thread). Raises
        ``TimeoutError`` after ``timeout`` seconds, and ``ChannelError`` if the channel is
        closed meanwhile; a kernel interrupt stops the wait. Not usable inside an event
        handler: handlers run on the thread that delivers events.

        Only events that arrive while waiting are seen: in a burst (a pointer's move, down
        and up), the ones that arrive between two ``wait()`` calls are missed. To see every
        event, use :meth:`on` or :meth:`events`.
        """
        self._check_open()
        if threading.current_thread().name in (
            IO_THREAD_NAME,
            HANDLER_THREAD_NAME,
            COMM_THREAD_NAME,
        ):
            raise RuntimeError(
                "wait() cannot be called from an event handler: handlers run on the thread "
                "that delivers events, so the event would never arrive. Use on() instead."
            )
        w = _Waiter(event)
        with self._lock:
            self._waiters.append(w)
        try:
            started = time.monotonic()
            self.check_events_can_arrive(f"wait({event!r})", timeout)
            left = None if timeout is None else max(0.0, timeout - (time.monotonic() - started))
            if not w.done.wait(left):
                raise TimeoutError(
                    f"no {event!r} event on channel {self.name!r} within {timeout} s"
                )
        finally:
            with self._lock:
                if w in self._waiters:
                    self._waiters.remove(w)
        if w.event is None:
            self._check_open()
            raise ChannelError(f"LiveChannel {self.name!r} stopped waiting")  # pragma: no cover
        return w.event

    async def events(self, event: str = _ANY, *, maxsize: int = 1000) -> AsyncIterator[Event]:
        """Iterate over events as they arrive: ``async for ev in ch.events("click"): ...``.

        At most ``maxsize`` unread events are kept; older ones are dropped first.
        """
        self._check_open()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)
        entry = (event, loop, queue)
        with self._lock:
            self._streams.append(entry)
        try:
            while True:
                yield await queue.get()
        finally:
            with self._lock:
                if entry in self._streams:
                    self._streams.remove(entry)

    # -- status --------------------------------------------------------------------------

    @property
    def address(self) -> tuple[str | None, str]:
        """``(scope, name)`` as browsers address this channel: the scope is this kernel's
        id (None where no hub is reachable) or ``"server"`` for a shared channel."""
        if self.wire_scope is not None:
            return self.wire_scope, self.name
        return self._transport.kernel_id, self.name

    @property
    def transport(self) -> Transport:
        """What carries this channel (the process-wide transport unless one was given)."""
        return self._transport

    @property
    def viewers(self) -> int:
        """How many browser connections watch this channel right now (every transport)."""
        return self._viewers + sum(self._other_views.values())

    @property
    def viewer_users(self) -> list[str] | None:
        """Which users watch this ``scope="hub"`` channel (the relay tells its owners; None
        on other scopes)."""
        return self._viewer_users

    @property
    def views(self) -> dict[str, int]:
        """Viewers by the transport that carries them: ``{"hub": 2}``, ``{"comm": 1}`` …"""
        main = "comm" if self._transport.stats()["transport"] == COMM_TRANSPORT else "hub"
        views = {main: self._viewers} if self._viewers else {}
        views.update((k, n) for k, n in self._other_views.items() if n)
        return views

    @property
    def via(self) -> str:
        """Which transport carries this channel's views, in words: ``"via the server's hub"``,
        ``"via the kernel (comm)"``, both, or ``"no viewer"``."""
        words = {"hub": "via the server's hub", "comm": "via the kernel (comm)"}
        views = self.views
        if not views:
            return "no viewer"
        return " and ".join(f"{n} {words.get(k, k)}" for k, n in views.items())

    @property
    def events_live(self) -> bool:
        """Whether browser events reach this kernel while a cell runs.

        False only where the kernel serves the views over the comm and the front end has
        not (yet) shown that it sends comm messages while a cell runs: there events arrive
        when the cell ends."""
        return bool(getattr(self._transport, "events_live", True))

    def check_events_can_arrive(self, what: str, timeout: float | None = None) -> None:
        """Raise :class:`~nbchannel.errors.EventsNotLive` at once if a cell waiting on the
        main thread for an event cannot get one (see :attr:`events_live`).

        A view that has just been displayed may not have spoken yet: up to ``grace`` seconds
        (at most ``timeout``) are given to it to show that its messages arrive mid-cell.
        """
        if self.events_live or threading.current_thread() is not threading.main_thread():
            return
        grace = _LIVE_GRACE if timeout is None else min(_LIVE_GRACE, timeout)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            time.sleep(0.02)
            if self.events_live:
                return
        raise EventsNotLive(events_not_live_message(f"{what} on channel {self.name!r}"))

    def note_read(self, what: str) -> None:
        """A cell reads a value that events change (``Button.clicked``): warn once per
        process when those events cannot arrive while the cell runs."""
        if not self.events_live and threading.current_thread() is threading.main_thread():
            warn_stale_read(what)

    @property
    def epoch(self) -> int | None:
        """The hub's epoch of this channel (None until the hub has opened it)."""
        return self._epoch

    @property
    def connected(self) -> bool:
        """Whether the hub has opened this channel on a live connection."""
        return self._opened.is_set()

    @property
    def status(self) -> str:
        """``connected``, ``connecting``, ``reconnecting``, ``unavailable`` or ``closed``."""
        return "closed" if self._closed else self._transport.status

    def wait_connected(self, timeout: float | None = 10.0) -> bool:
        """Block until the hub has opened the channel; False on timeout, and at once where
        no hub is reachable (status ``unavailable``)."""
        if self._transport.status == "unavailable":
            return False
        return self._opened.wait(timeout)

    def flush(self, timeout: float = 5.0) -> bool:
        """Block until everything written so far has reached the hub; False on timeout."""
        return self._transport.flush(timeout)

    @property
    def stats(self) -> ChannelStats:
        """Counters: messages sent and dropped, events received and dropped, viewers (by
        transport), transport."""
        lane = self._lane
        return {
            "name": self.name,
            "scope": self.scope,
            "epoch": self._epoch,
            "viewers": self._viewers,
            "sent": self._sent + (lane.sent if lane is not None else 0),
            "dropped": self._dropped + (lane.dropped if lane is not None else 0),
            "events": self._events,
            "events_dropped": self._events_dropped,
            "views": self.views,
            "via": self.via,
            "transport": self._transport.stats(),
        }

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what was written, then close the channel at the hub; viewers are told.

        Waits up to ``timeout`` seconds for everything written before the call to reach the
        hub (as :meth:`flush`); what could not be delivered by then is counted in
        :attr:`stats` (``dropped``) and reported to the viewers as a gap. Leaving a
        ``with LiveChannel(...)`` block closes the same way. Further writes raise.
        """
        if self._closed:
            return
        self._closed = "closed by close()"
        # Not from the threads that deliver to the hub: they would wait for themselves.
        if threading.current_thread().name not in (IO_THREAD_NAME, COMM_THREAD_NAME):
            self._transport.flush(timeout)
        self._opened.clear()
        self._wake_waiters()
        with self._credited:
            self._credited.notify_all()
        self._transport.unregister(self)

    def __enter__(self) -> LiveChannel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the ChannelPort interface: called by the transports -------------------------------

    def open_message(self) -> Message:
        """The ``open`` that (re)opens this channel, with its epoch once it has one."""
        options: dict[str, int | str] = {}
        if self._epoch is not None:
            options["epoch"] = self._epoch
        if self.flow != "drop":
            options["flow"] = self.flow
            if self.flow == "block":
                options["window"] = self.window
                with self._lock:  # items are counted from this open on, as the hub does
                    self._appended, self._credit = 0, (0, 0, 0)
        if self._history is not None:
            options["history_items"] = self._history
        if self._history_bytes is not None:
            options["history_bytes"] = self._history_bytes
        return Message.create(P.OPEN, self.name, options or None, scope=self.wire_scope)

    def state_messages(self) -> list[Message]:
        """The retained state as messages, to re-send after a reconnect."""
        with self._lock:
            return list(self._state_msgs.values())

    def superseded(self) -> None:
        """A newer channel of the same name and scope replaced this one: it is closed."""
        self._closed = "replaced by a newer LiveChannel of the same name"
        self._opened.clear()
        self._wake_waiters()

    def disconnected(self) -> None:
        """The transport lost its connection; the channel will be re-opened."""
        self._opened.clear()

    def lost(self, count: int) -> None:
        """``count`` messages written never reached the hub (counted as dropped)."""
        self._dropped += count

    def views_changed(self, via: str, count: int) -> None:
        """``count`` viewers watch this channel through a second transport ``via``."""
        self._other_views[via] = count

    # Older names, kept for code written against them.
    _open_message = open_message
    _state_messages = state_messages
    _superseded = superseded
    _disconnected = disconnected

    def _wake_waiters(self) -> None:
        """Release every wait(): the channel is closed, so it raises ChannelError."""
        with self._lock:
            waiters, self._waiters = self._waiters, []
        for w in waiters:
            w.done.set()

    def receive(self, msg: Message, events: EventSink | None = None) -> None:
        """Act on a message from the hub. Handlers of an event run on ``events``' thread,
        or here, on the calling thread, without one."""
        kind = msg.kind
        try:
            if kind == P.EVENT:
                value, user = msg.value(), None
                if self.scope == "hub":
                    user, value = open_envelope(value)
                self._deliver(Event(msg.key or "", value, self.name, user=user), events, msg.nbytes)
            elif kind == P.OPENED:
                info = msg.value()
                self._epoch = info["epoch"]
                self._viewers = info["viewers"]
                self._opened.set()
            elif kind == P.PRESENCE:
                info = msg.value()
                self._viewers = info["viewers"]
                if isinstance(info.get("users"), list):
                    self._viewer_users = [str(u) for u in info["users"]]
            elif kind == P.ERROR:
                info = msg.value()
                self.last_error = str(info.get("message"))
                log.warning("nbchannel: channel %r: %s", self.name, self.last_error)
            elif kind == P.GAP:
                self._dropped += int((msg.value() or {}).get("count", 0))
            elif kind == P.CREDIT:
                info = msg.value()
                credit = (int(info["received"]), int(info["behind"]), int(info["viewers"]))
                with self._credited:
                    self._credit = credit
                    self._credited.notify_all()
        except (FrameError, KeyError, TypeError, AttributeError, ValueError, EncodeError) as exc:
            log.warning("nbchannel: channel %r: ignored a bad %r message: %s", self.name, kind, exc)

    _receive = receive

    def _deliver(self, ev: Event, events: EventSink | None = None, nbytes: int = 0) -> None:
        """Release waiters and ``events()`` iterators now; queue the handlers on ``events``
        (run them here without one)."""
        self._events += 1
        with self._lock:
            handled = bool(self._handlers.get(ev.name) or self._handlers.get(_ANY))
            waiters = [w for w in self._waiters if w.name in (ev.name, _ANY)]
            for w in waiters:
                self._waiters.remove(w)
            streams = [s for s in self._streams if s[0] in (ev.name, _ANY)]
        for w in waiters:
            w.event = ev
            w.done.set()
        for _, loop, queue in streams:
            with contextlib.suppress(RuntimeError):  # RuntimeError: that loop is closed
                loop.call_soon_threadsafe(_put_latest, queue, ev)
        if not handled:
            return
        if events is None:
            self.run_handlers(ev)
        elif not events.submit(self, ev, nbytes):
            self._events_dropped += 1

    def run_handlers(self, ev: Event) -> None:
        """Call the handlers registered for ``ev`` now (those removed meanwhile are not)."""
        with self._lock:
            handlers = [*self._handlers.get(ev.name, ()), *self._handlers.get(_ANY, ())]
        for h in handlers:
            try:
                h(ev)
            except Exception:
                log.error("nbchannel: handler for %r on %r failed", ev.name, self.name)
                traceback.print_exc()

    _run_handlers = run_handlers


def _check_key(key: object) -> None:
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
        raise ValueError(
            f"a state key is a non-empty string of at most {MAX_KEY_LENGTH} characters, "
            f"got {key!r:.60}"
        )


def _put_latest(queue: asyncio.Queue[Event], ev: Event) -> None:
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(ev)
