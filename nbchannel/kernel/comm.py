"""The kernel serves its views itself, over each widget's comm, where no hub is reachable.

VS Code, Colab, standalone Voilà, or a Jupyter server without the nbchannel extension give
a kernel no hub to connect to. There the kernel runs the hub's core itself: one
:class:`~nbchannel.core.hub.Hub` in this process, the kernel's channels writing into it as
an in-process owner, and one subscriber :class:`~nbchannel.core.peer.Peer` per view
connection. So views get exactly what the server's hub gives them — retained state replayed
to late joiners, bounded history, coalescing of state and gap markers when a view falls
behind, epochs, resume from an offset — only the pipe differs.

**The pipe.** Frames travel as the anywidget model's custom messages, one v1 frame (many
channel messages) per comm message, as a raw binary buffer::

    view → kernel   content {"nbc": 1, "cid": CID}              buffers [frame]
                    content {"nbc": 1, "cid": CID, "bye": true} (the view is gone)
                    content {"nbc": 1, "cid": CID, "ping": true} (answer with E)
    kernel → view   content {"nbc": 1, "to": CID, "events": E}  buffers [frame]

``E`` is ``"live"`` once the view's messages reach the kernel on a subshell's thread (so
its events reach a running cell) and ``"after-cell"`` while they arrive on the main
thread, between cells: the view says so in its status. A front end may send a view's first
message on the main thread and later ones on a subshell (it opens the subshell lazily), so
a view told ``"after-cell"`` pings a few times; a ping is answered with a heartbeat.

``CID`` names one view connection (a random id the view picks), since every front end
showing the model receives every custom message: a view ignores frames addressed to
another. Custom messages sent before a view exists are lost, so views pull: on render (and
after a reload) a view sends ``sub`` with its epoch and offset, and the kernel replays.

**The IOPub limits.** jupyter-server silently drops a kernel's IOPub messages beyond 1,000
per second averaged over 3 s, and a comm message counts as one whatever it carries. So
frames carry many messages each, and all views share one budget of comm messages per
second (:attr:`CommConfig.messages_per_second`, 100 by default, ``NBCHANNEL_COMM_RATE``);
what cannot go out meanwhile waits in the view's bounded outbox, where state coalesces and,
when it is full, stream items are dropped with a ``gap`` marker the view shows.

**Events.** A view's events arrive as comm messages, on whatever thread the kernel handles
them: the main thread between cells in most front ends, or a subshell thread while a cell
runs (JupyterLab >= 4.4 with ipykernel >= 7 sends comms over subshells). Once one has
arrived on another thread than the main one, :attr:`CommTransport.events_live` is True;
until then a running cell cannot see events, and the controls say so rather than pretend.

Only one I/O thread (``nbchannel-comm``) touches the hub; writers and comm callbacks only
queue and wake it.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import threading
import time
import warnings
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..core import protocol as P
from ..core.codec import DEFAULT_LIMITS, Limits, decode_frame, encode_frame_parts
from ..core.message import Message
from ..core.outbox import Outbox
from ..core.protocol import DEFAULT_STATE_BYTES
from ..errors import FrameError
from .dispatch import EventDispatcher
from .port import (
    ChannelPort,
    Event,
    EventSink,
    Lane,
    NbChannelWarning,
    Status,
    TransportStats,
)
from .transport import COMM_THREAD_NAME, COMM_TRANSPORT

if TYPE_CHECKING:
    from ..core.hub import Hub
    from ..core.peer import Peer

__all__ = [
    "COMM_THREAD_NAME",
    "CommConfig",
    "CommTransport",
    "FanOutTransport",
    "ViewConnection",
]

log = logging.getLogger("nbchannel")

#: Environment variable overriding :attr:`CommConfig.messages_per_second`.
ENV_COMM_RATE = "NBCHANNEL_COMM_RATE"
#: The marker every nbchannel custom message carries (and its wire version).
WIRE_KEY = "nbc"
WIRE_VERSION = 1
_MiB = 1024 * 1024
ChannelKey = tuple["str | None", str]
#: ``send(widget, content, frame, parent)``: write one custom message to a widget's comm.
CommSender = Callable[[Any, dict[str, Any], bytes, "dict[str, Any] | None"], None]


@dataclass(frozen=True)
class CommConfig:
    """Bounds and pacing of the comm transport."""

    #: Comm messages per second all views share (jupyter-server drops IOPub messages
    #: beyond 1,000/s averaged over 3 s; this leaves room for the cells' own output).
    messages_per_second: float = 100.0
    #: Comm messages that may go out at once after a quiet spell.
    burst: int = 10
    #: Target size of one comm message's frame.
    batch_bytes: int = 256 * 1024
    #: Queue bound of each view (beyond it state coalesces and stream items are dropped).
    view_queue_bytes: int = 8 * _MiB
    #: Queue bound of the kernel's writes waiting for the I/O thread.
    queue_bytes: int = 64 * _MiB
    #: Stream history kept per channel for views that render late or reload.
    history_items: int = 10_000
    history_bytes: int = 32 * _MiB
    #: Most view connections per widget, and in all (the least recently heard go first).
    views_per_widget: int = 4
    max_views: int = 64

    @classmethod
    def from_environment(cls) -> CommConfig:
        """The defaults, with ``NBCHANNEL_COMM_RATE`` applied when set to a positive number."""
        raw = os.environ.get(ENV_COMM_RATE, "")
        try:
            rate = float(raw) if raw else cls.messages_per_second
        except ValueError:
            rate = cls.messages_per_second
        if not rate > 0 or rate == float("inf"):
            rate = cls.messages_per_second
        return cls(messages_per_second=rate)


class TokenBucket:
    """Paces comm messages: ``rate`` per second on average, ``burst`` at once.

    No clock of its own: callers pass ``now``. ::

        bucket = TokenBucket(100, burst=10)
        if bucket.take(now):
            send()
        else:
            sleep(bucket.wait(now))
    """

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self._tokens = float(self.burst)
        self._at: float | None = None

    def _fill(self, now: float) -> None:
        if self._at is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now

    def take(self, now: float) -> bool:
        """Spend one token if there is one."""
        self._fill(now)
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    def wait(self, now: float) -> float:
        """Seconds until a token is available."""
        self._fill(now)
        return 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate


class ViewConnection:
    """One view (a widget's view in one page) served over its widget's comm."""

    __slots__ = (
        "answer",
        "cid",
        "events_live",
        "heard",
        "parent",
        "peer",
        "sent_bytes",
        "sent_frames",
        "widget",
    )

    def __init__(self, widget: Any, cid: str, peer: Peer) -> None:
        self.widget = widget
        self.cid = cid
        self.peer = peer
        #: The kernel message that carried the view's latest frame (its reply's parent).
        self.parent: dict[str, Any] | None = None
        self.heard = time.monotonic()
        #: Whether this view's messages reach the kernel on a subshell's thread.
        self.events_live = False
        #: The view pinged: write to it even with nothing queued.
        self.answer = False
        self.sent_frames = 0
        self.sent_bytes = 0


def send_custom(widget: Any, content: dict[str, Any], frame: bytes, parent: Any) -> None:
    """Write one custom message with ``frame`` as its buffer to ``widget``'s comm.

    With ipykernel the message is sent straight on IOPub with ``parent`` (the view's last
    message) as its parent: ``Comm.publish_msg`` would take the parent of whatever request
    the kernel handled last and, from ipykernel 7.4 on, pin the comm's replies to that
    request's subshell — sending the view's events to the busy main shell.
    """
    comm = getattr(widget, "comm", None)
    kernel: Any = getattr(comm, "kernel", None)
    session = getattr(kernel, "session", None)
    if comm is None:
        return  # the widget is closed
    if session is None or not hasattr(kernel, "iopub_socket"):
        widget.send(content, buffers=[frame])
        return
    data = {"method": "custom", "content": content}
    session.send(
        kernel.iopub_socket,
        "comm_msg",
        {"data": data, "comm_id": comm.comm_id},
        metadata={},
        parent=parent if parent is not None else kernel.get_parent(),
        ident=comm.topic,
        buffers=[frame],
    )


def _session_of(parent: Any) -> str:
    """The front-end session (one page's kernel connection) a kernel message came from."""
    try:
        return str(parent["header"]["session"])
    except (TypeError, KeyError):
        return ""


def unpin_replies(widget: Any) -> None:
    """Let the view's messages reach the kernel on the subshell the front end sends them on.

    ipykernel >= 7.4 routes a front end's messages on a comm to the subshell of the request
    during which the kernel last wrote to that comm; for a widget that is the cell that
    created it (the main shell), where they would wait for the running cell to end.
    """
    comm = getattr(widget, "comm", None)
    lock = getattr(comm, "_reply_subshell_lock", None)
    if comm is None or lock is None:
        return
    with lock:
        if "_reply_subshell_id" in vars(comm):
            del comm._reply_subshell_id


class CommTransport:
    """Serves this kernel's channels to views over their widgets' comms (see the module).

    Starts dormant: until the first widget is attached (:meth:`attach`), nothing is kept
    or sent (writes are dropped and counted, as with no transport at all) and, unless
    ``quiet``, the first channel warns once that nothing reaches a browser yet. The first
    widget starts the kernel's own hub: every channel is opened in it with its retained
    state, and from then on writes are kept and served.

    ``events`` is the event thread's queue for handlers (a new one by default); ``sender``
    writes one custom message to a widget's comm (tests pass a fake).
    """

    def __init__(
        self,
        *,
        kernel_id: str | None = None,
        config: CommConfig | None = None,
        events: EventDispatcher | None = None,
        sender: CommSender = send_custom,
        quiet: bool = False,
        reason: str = "",
        on_activate: Callable[[], None] | None = None,
        activate_on_attach: bool = True,
    ) -> None:
        if kernel_id is None:
            from .client import find_kernel_id  # (a module without I/O at import)

            kernel_id = find_kernel_id()
        self._kernel_id = kernel_id
        self.config = config or CommConfig.from_environment()
        self.event_queue = events if events is not None else EventDispatcher()
        self.sender = sender
        self.quiet = quiet
        self.reason = reason
        self.on_activate = on_activate
        #: Start the kernel's hub when the first widget is attached (no hub: views render
        #: late, so history must be kept from the start), or only when a view first asks
        #: over a comm (next to a hub, which most views reach).
        self.activate_on_attach = activate_on_attach
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        self._idle = threading.Condition(self._lock)
        self._channels: dict[ChannelKey, ChannelPort] = {}
        self._control: deque[Message] = deque()
        self._outbox = Outbox(self.config.queue_bytes)
        self._inbound: deque[tuple[Any, str, list[Message] | None, Any, bool]] = deque()
        self._active = False
        self._warned = False
        self._stopping = False
        self._busy = False
        self._thread: threading.Thread | None = None
        self._attached: dict[int, Any] = {}
        #: Views by (widget comm, connection id), least recently heard first (I/O thread).
        self._views: OrderedDict[tuple[int, str], ViewConnection] = OrderedDict()
        #: Front-end sessions whose comm messages arrived on a subshell (I/O thread).
        self._live_sessions: set[str] = set()
        self._hub: Hub | None = None
        self._owner: Peer | None = None
        self._bucket = TokenBucket(self.config.messages_per_second, self.config.burst)
        self._rr = itertools.count()
        #: Whether a view's message has reached this kernel on another thread than the main
        #: one (comms over subshells): then events reach a running cell.
        self.events_live = False
        self.sent_messages = 0  # channel messages written to views
        self.sent_frames = 0  # comm messages
        self.sent_bytes = 0
        self.dropped = 0  # writes dropped (dormant, or the writes' queue full)
        self.bad_frames = 0
        self.last_error = ""

    # -- the Transport interface (any thread) --------------------------------------------

    @property
    def status(self) -> Status:
        return "connected" if self._active else "unavailable"

    @property
    def kernel_id(self) -> str | None:
        return self._kernel_id

    @property
    def limits(self) -> Limits:
        return DEFAULT_LIMITS

    @property
    def max_state_bytes(self) -> int:
        return DEFAULT_STATE_BYTES

    @property
    def active(self) -> bool:
        """Whether the kernel's hub runs (a widget has been attached)."""
        return self._active

    @property
    def views(self) -> int:
        """View connections served right now."""
        return len(self._views)

    def register(self, channel: ChannelPort) -> None:
        key = (channel.wire_scope, channel.name)
        with self._lock:
            old = self._channels.get(key)
            self._channels[key] = channel
            if old is not None and old is not channel:
                old.superseded()
                self._outbox.purge(channel.wire_scope, channel.name)
            if self._active:
                self._control.append(channel.open_message())
                self._control.extend(channel.state_messages())
                self._wakeup.notify()
            warn = not self._active and not self._warned and not self.quiet
            self._warned = self._warned or warn
        if warn:
            why = f" ({self.reason})" if self.reason else ""
            warnings.warn(
                f"nbchannel: no live connection to a browser{why}. Until an nbchannel widget "
                f"is shown in this kernel, LiveChannel {channel.name!r} keeps its state in "
                "this process and nothing reaches a browser; widgets are then served over "
                "their comm by the kernel itself. For the full side channel (events while a "
                "cell runs in every front end, no IOPub pacing) run the notebook in "
                "JupyterLab or Notebook 7 with nbchannel installed in the Jupyter server's "
                "environment (check with `jupyter server extension list`).",
                NbChannelWarning,
                stacklevel=4,
            )

    def unregister(self, channel: ChannelPort) -> None:
        key = (channel.wire_scope, channel.name)
        with self._lock:
            if self._channels.get(key) is not channel:
                return
            del self._channels[key]
            self._outbox.purge(channel.wire_scope, channel.name)
            if self._active:
                self._control.append(Message(P.CLOSE, channel.name, scope=channel.wire_scope))
                self._wakeup.notify()

    def send(self, channel: ChannelPort, msg: Message) -> bool:
        with self._lock:
            if not self._active:
                self.dropped += 1
                return False
            ok = self._outbox.put(msg, channel.flow)
            if not ok:
                self.dropped += 1
            self._wakeup.notify()
            return ok

    def send_item(self, channel: ChannelPort, payload: bytes) -> bool:
        with self._lock:
            if not self._active:
                self.dropped += 1
                return False
            ok = self._outbox.put_item(channel.wire_scope, channel.name, payload)
            if not ok:
                self.dropped += 1
            self._wakeup.notify()
            return ok

    def lane(self, channel: ChannelPort) -> Lane | None:
        return None  # items are packed in the queue (send_item)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until the kernel's hub has taken every write so far and every view's queue
        is written to its comm (paced: this can take a while for a large backlog)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._active and (
                self._outbox or self._control or self._inbound or self._busy or self._pending()
            ):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._wakeup.notify()
                self._idle.wait(min(left, 0.05))
        return True

    def _pending(self) -> bool:
        return any(v.peer.pending for v in list(self._views.values()))

    def stats(self) -> TransportStats:
        return {
            "transport": COMM_TRANSPORT,
            "status": self.status,
            "queued_bytes": self._outbox.bytes
            + sum(v.peer.outbox.bytes for v in self._views_now()),
            "sent_messages": self.sent_messages,
            "sent_bytes": self.sent_bytes,
            "dropped": self.dropped + self._outbox.dropped,
            "reconnects": 0,
        }

    def _views_now(self) -> list[ViewConnection]:
        with self._lock:
            return list(self._views.values())

    # -- widgets (any thread) --------------------------------------------------------------

    def attach(self, widget: Any) -> None:
        """Serve views of ``widget`` (an ipywidgets/anywidget model with a comm): its custom
        messages marked ``nbc`` carry view frames. Starts the kernel's hub on first use."""
        with self._lock:
            if id(widget) in self._attached:
                return
            self._attached[id(widget)] = widget
        widget.on_msg(self._on_widget_msg)
        unpin_replies(widget)
        if self.activate_on_attach:
            self.activate()

    def detach(self, widget: Any) -> None:
        """The widget is closed: its views are gone."""
        with self._lock:
            if self._attached.pop(id(widget), None) is None:
                return
            self._inbound.append((widget, "", None, None, False))
            self._wakeup.notify()

    def activate(self) -> None:
        """Start the kernel's hub and open every channel in it (idempotent)."""
        with self._lock:
            if self._active:
                return
            self._active = True
            for ch in self._channels.values():
                self._control.append(ch.open_message())
                self._control.extend(ch.state_messages())
            self._thread = threading.Thread(target=self._run, name=COMM_THREAD_NAME, daemon=True)
        if self.on_activate is not None:
            self.on_activate()
        self._thread.start()

    def _on_widget_msg(self, widget: Any, content: Any, buffers: Any) -> None:
        """A custom message from a view (on the shell's thread, or a subshell's)."""
        if not isinstance(content, dict) or content.get(WIRE_KEY) != WIRE_VERSION:
            return
        cid = content.get("cid")
        if not isinstance(cid, str) or not cid or len(cid) > 64:
            return
        live = threading.current_thread() is not threading.main_thread()
        if live:
            self.events_live = True
        parent = None
        with contextlib.suppress(Exception):
            parent = widget.comm.kernel.get_parent()
        msgs: list[Message] | None = []
        if content.get("bye") is True:
            msgs = None
        elif content.get("ping") is True:
            msgs = [Message(P.HEARTBEAT)]
        elif buffers:
            try:
                msgs = decode_frame(bytes(buffers[0]), DEFAULT_LIMITS)
            except FrameError as exc:
                self.bad_frames += 1
                self.last_error = f"a view sent a bad frame: {exc}"
                log.warning("nbchannel: %s", self.last_error)
                return
        if not self._active:
            self.activate()
        with self._lock:
            self._inbound.append((widget, cid, msgs, parent, live))
            self._wakeup.notify()

    def close(self) -> None:
        """Stop the I/O thread (the process is exiting, or a test is done)."""
        with self._lock:
            self._stopping = True
            self._wakeup.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2)

    # -- the I/O thread -------------------------------------------------------------------

    def _run(self) -> None:
        from ..core.hub import Hub, HubConfig  # only a kernel serving views needs the hub

        cfg = self.config
        self._hub = hub = Hub(
            HubConfig(
                history_items=cfg.history_items,
                history_bytes=cfg.history_bytes,
                subscriber_queue_bytes=cfg.view_queue_bytes,
                owner_queue_bytes=cfg.queue_bytes,
                batch_bytes=cfg.batch_bytes,
                frames_per_second=0,
            )
        )
        self._owner = owner = hub.connect_owner(self._kernel_id, name="kernel")
        while True:
            with self._lock:
                if self._stopping:
                    return
                control = list(self._control)
                self._control.clear()
                writes = self._outbox.take(cfg.batch_bytes) if self._outbox else []
                inbound = list(self._inbound)
                self._inbound.clear()
                self._busy = True
            try:
                if control or writes:
                    hub.receive(owner, control + writes)
                for widget, cid, msgs, parent, live in inbound:
                    self._from_view(hub, widget, cid, msgs, parent, live)
                while owner.outbox:
                    self._to_channels(owner.take())
                wait = self._write_views(time.monotonic())
            except Exception:  # the thread must survive whatever one message does
                log.exception("nbchannel: the comm transport failed on a message")
                wait = 0.05
            with self._lock:
                self._busy = False
                if self._stopping:
                    return
                if not (self._control or self._outbox or self._inbound):
                    self._idle.notify_all()
                    self._wakeup.wait(wait)

    def _from_view(
        self,
        hub: Hub,
        widget: Any,
        cid: str,
        msgs: list[Message] | None,
        parent: Any,
        live: bool = False,
    ) -> None:
        views = self._views
        if not cid:  # the widget was closed: every view of it goes
            for key in [k for k in views if k[0] == id(widget)]:
                self._drop_view(hub, key)
            return
        key = (id(widget), cid)
        view = views.get(key)
        if msgs is None:  # the view said goodbye
            if view is not None:
                self._drop_view(hub, key)
            return
        if view is None:
            with self._lock:
                if id(widget) not in self._attached:
                    return
            view = ViewConnection(widget, cid, hub.connect_subscriber(f"comm:{cid}"))
            with self._lock:
                views[key] = view
            self._bound_views(hub, id(widget))
        else:
            with self._lock:
                views.move_to_end(key)
        view.heard = time.monotonic()
        view.parent = parent
        session = _session_of(parent)
        if live and session and session not in self._live_sessions:
            # One front end (page) uses subshells for its comms: tell all its views at once.
            self._live_sessions.add(session)
            for other in views.values():
                if not other.events_live and _session_of(other.parent) == session:
                    other.events_live = other.answer = True
        view.events_live = view.events_live or live or session in self._live_sessions
        if msgs and msgs[0].kind == P.HEARTBEAT and len(msgs) == 1:
            view.answer = True
            return
        if msgs:
            hub.receive(view.peer, msgs)

    def _bound_views(self, hub: Hub, widget_id: int) -> None:
        """Forget the least recently heard views beyond the bounds (reloaded pages that
        never said goodbye keep no queue forever)."""
        cfg = self.config
        mine = [k for k in self._views if k[0] == widget_id]
        for key in mine[: max(0, len(mine) - cfg.views_per_widget)]:
            self._drop_view(hub, key)
        while len(self._views) > cfg.max_views:
            self._drop_view(hub, next(iter(self._views)))

    def _drop_view(self, hub: Hub, key: tuple[int, str]) -> None:
        with self._lock:
            view = self._views.pop(key, None)
        if view is not None:
            hub.disconnect(view.peer)

    def _to_channels(self, msgs: list[Message]) -> None:
        """Messages of the kernel's hub for its owner: opened, presence, events, errors."""
        channels = self._channels
        for msg in msgs:
            ch = channels.get((msg.scope, msg.channel))
            if ch is None:
                if msg.kind == P.ERROR:
                    log.warning("nbchannel: %s", (msg.value() or {}).get("message"))
                continue
            ch.receive(msg, self.event_queue)

    def _write_views(self, now: float) -> float | None:
        """Write what the views have queued, a frame per comm message, as the pace allows;
        how long to wait before the next try (None: until woken)."""
        views = [v for v in list(self._views.values()) if v.peer.pending or v.answer]
        if not views:
            return None
        start = next(self._rr) % len(views)
        bucket = self._bucket
        for view in views[start:] + views[:start]:
            if not bucket.take(now):
                return bucket.wait(now)
            msgs = view.peer.take() if view.peer.pending else []
            if view.answer and not msgs:
                msgs = [Message(P.HEARTBEAT)]
            view.answer = False
            if not msgs:
                continue
            frame = b"".join(encode_frame_parts(msgs))
            try:
                content = {
                    WIRE_KEY: WIRE_VERSION,
                    "to": view.cid,
                    "events": "live" if view.events_live else "after-cell",
                }
                self.sender(view.widget, content, frame, view.parent)
            except Exception as exc:  # a closed comm, a kernel shutting down …
                self.last_error = f"writing to a view failed: {exc}"
                log.debug("nbchannel: %s", self.last_error)
                continue
            view.sent_frames += 1
            view.sent_bytes += len(frame)
            self.sent_frames += 1
            self.sent_bytes += len(frame)
            self.sent_messages += len(msgs)
        return 0.0 if any(v.peer.pending for v in views) else None


class _Leg:
    """A channel as the comm side of a :class:`FanOutTransport` sees it: the hub side owns
    its epoch and viewer count, so the comm side's answers are kept apart."""

    __slots__ = ("channel",)

    def __init__(self, channel: Any) -> None:
        self.channel = channel

    @property
    def name(self) -> str:
        return str(self.channel.name)

    @property
    def wire_scope(self) -> str | None:
        scope: str | None = self.channel.wire_scope
        return scope

    @property
    def flow(self) -> P.Flow:
        # flow="block" waits for the hub's viewers; the views on the comm beside them are
        # served as "drop" (bounded, with gap markers), never holding the kernel
        flow: P.Flow = self.channel.flow
        return "drop" if flow == "block" else flow

    @property
    def last_error(self) -> str:
        return str(self.channel.last_error)

    @last_error.setter
    def last_error(self, text: str) -> None:
        self.channel.last_error = text

    def open_message(self) -> Message:
        msg: Message = self.channel.open_message()
        options = msg.value()
        if isinstance(options, dict) and options.get("flow") == "block":
            del options["flow"], options["window"]
            msg = Message.create(P.OPEN, msg.channel, options or None, scope=msg.scope)
        return msg

    def state_messages(self) -> list[Message]:
        msgs: list[Message] = self.channel.state_messages()
        return msgs

    def receive(self, msg: Message, events: EventSink | None = None) -> None:
        kind = msg.kind
        if kind == P.CREDIT:
            return  # the hub's credit governs a flow="block" channel (see flow)
        if kind in (P.OPENED, P.PRESENCE):
            with contextlib.suppress(FrameError, KeyError, TypeError, AttributeError):
                self.channel.views_changed("comm", int(msg.value()["viewers"]))
            return
        self.channel.receive(msg, events)

    def run_handlers(self, event: Event) -> None:
        self.channel.run_handlers(event)

    def disconnected(self) -> None:
        pass  # the kernel's own hub never goes away

    def superseded(self) -> None:
        pass  # the hub side tells the channel

    def lost(self, count: int) -> None:
        pass  # counted by the comm side, shown to its views as gaps


class FanOutTransport:
    """Two transports at once: the hub client, and the kernel's own hub over the comms for
    views that cannot reach the server's hub (VS Code attached to a remote server).

    The hub client is the primary: its status, limits, epoch and acknowledgements are the
    channel's. The comm side starts serving when a view first asks over a comm; its
    history starts then.
    """

    def __init__(self, hub: Any, comm: CommTransport) -> None:
        self.hub = hub
        self.comm = comm
        self._legs: dict[int, _Leg] = {}
        self._lanes: weakref.WeakSet[Lane] = weakref.WeakSet()
        self._lock = threading.Lock()
        comm.quiet = True
        comm.activate_on_attach = False
        previous = comm.on_activate

        def activated() -> None:
            # The kernel's hub keeps written messages in its history: the hub client must not
            # hand their buffers back to the pool once the server acknowledged them.
            hub.recycle_buffers = False
            # A view over a comm must not wait for the hub client's I/O thread (it may be
            # reconnecting): from now on writers take the path that serves both at once.
            with self._lock:
                for lane in self._lanes:
                    lane.max_items = 0
            if previous is not None:
                previous()

        comm.on_activate = activated

    @property
    def status(self) -> Status:
        status: Status = self.hub.status
        return status

    @property
    def kernel_id(self) -> str | None:
        kid: str | None = self.hub.kernel_id
        return kid

    @property
    def limits(self) -> Limits:
        limits: Limits = self.hub.limits
        return limits

    @property
    def max_state_bytes(self) -> int:
        return int(self.hub.max_state_bytes)

    @property
    def events_live(self) -> bool:
        return True  # the hub side delivers events at once

    @property
    def event_queue(self) -> EventDispatcher:
        queue: EventDispatcher = self.hub.event_queue
        return queue

    def attach(self, widget: Any) -> None:
        """Let ``widget``'s views use the comm when they cannot reach the hub."""
        self.comm.attach(widget)

    def detach(self, widget: Any) -> None:
        self.comm.detach(widget)

    def register(self, channel: ChannelPort) -> None:
        leg = _Leg(channel)
        with self._lock:
            self._legs[id(channel)] = leg
        self.hub.register(channel)
        self.comm.register(leg)

    def unregister(self, channel: ChannelPort) -> None:
        self.hub.unregister(channel)  # what its lane holds still reaches the comm side
        with self._lock:
            leg = self._legs.pop(id(channel), None)
        if leg is not None:
            self.comm.unregister(leg)

    def _active_leg(self, channel: ChannelPort) -> _Leg | None:
        """``channel``'s comm side, once a view has asked over a comm (None before)."""
        return self._legs.get(id(channel)) if self.comm.active else None

    def send(self, channel: ChannelPort, msg: Message) -> bool:
        ok: bool = self.hub.send(channel, msg)
        leg = self._active_leg(channel)
        if leg is not None:
            self.comm.send(leg, msg)
        return ok

    def lane(self, channel: ChannelPort) -> Lane | None:
        """The hub client's lane, whose segments also go to the comm side. Once a view asks
        over a comm, the lane takes no more items: writes go to both sides at once."""
        lane: Lane | None = self.hub.lane(channel)
        if lane is not None:

            def tee(msg: Message) -> None:
                leg = self._active_leg(channel)
                if leg is not None:
                    self.comm.send(leg, msg)

            lane.tee = tee
            with self._lock:
                self._lanes.add(lane)
                if self.comm.active:
                    lane.max_items = 0
        return lane

    def send_item(self, channel: ChannelPort, payload: bytes) -> bool:
        ok: bool = self.hub.send_item(channel, payload)
        leg = self._active_leg(channel)
        if leg is not None:
            self.comm.send_item(leg, payload)
        return ok

    def flush(self, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        ok: bool = self.hub.flush(timeout)
        return self.comm.flush(max(0.0, deadline - time.monotonic())) and ok

    def stats(self) -> TransportStats:
        hub: TransportStats = self.hub.stats()
        if not self.comm.active:
            return hub
        comm = self.comm.stats()
        return {
            "transport": f"{hub['transport']} + {comm['transport']}",
            "status": hub["status"],
            "queued_bytes": hub["queued_bytes"] + comm["queued_bytes"],
            "sent_messages": hub["sent_messages"] + comm["sent_messages"],
            "sent_bytes": hub["sent_bytes"] + comm["sent_bytes"],
            "dropped": hub["dropped"] + comm["dropped"],
            "reconnects": hub["reconnects"],
        }

    def close(self) -> None:
        """Stop both sides."""
        self.comm.close()
        self.hub.close()
