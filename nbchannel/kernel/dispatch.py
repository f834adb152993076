"""The event thread: runs ``LiveChannel.on`` handlers, off the I/O thread, from a bounded queue.

The I/O thread reads events from the hub and must never wait for user code: a handler that
takes 10 ms would otherwise hold up every other channel of the kernel (their writes would
not be sent) while the browser's events pile up in the hub. So the I/O thread releases
``wait()``-ers and ``events()`` iterators at once (cheap) and hands each event that has
handlers to this thread through a bounded queue. Handlers run here one at a time, in
arrival order.

When the queue is full (the handlers are slower than events arrive), the event is refused:
``submit`` returns False, ``on_refused`` is called, and the channel counts it in
``stats["events_dropped"]``; the hub client then tells the channel's viewers.

::

    events = EventDispatcher(max_events=10_000, max_bytes=32 << 20)
    if not events.submit(channel, event, nbytes):
        ...  # refused: the queue is full

**The hand-off.** While a cell computes in pure Python, the woken handler thread must take
the GIL from it, and CPython gives it over only after the thread switch interval (1 ms in
a kernel with live channels, see :mod:`~nbchannel.kernel.transport`): the I/O thread has
already waited that long for its own turn to read the event. So from the moment an event is
queued until the handler thread takes it, the interval is lowered to
:data:`HANDOFF_SWITCH_INTERVAL` (:func:`handoff`), then put back. A computation pays for
that window only (well under a millisecond per event); without events nothing changes.
Hand-offs happen where nbchannel sets the interval, in kernels, and not with
``NBCHANNEL_SWITCH_INTERVAL=off`` (Python's interval left alone); a plain script's interval
is never touched.
"""

from __future__ import annotations

import logging
import math
import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .port import ChannelPort, Event

__all__ = [
    "DEFAULT_EVENT_QUEUE",
    "DEFAULT_EVENT_QUEUE_BYTES",
    "HANDLER_THREAD_NAME",
    "HANDOFF_SWITCH_INTERVAL",
    "EventDispatcher",
    "allow_handoffs",
    "handoff",
]

log = logging.getLogger("nbchannel")

#: Name of the thread that runs event handlers (one per process, started on first use).
HANDLER_THREAD_NAME = "nbchannel-events"
#: Default bounds of the events waiting for their handlers: at most this many events …
DEFAULT_EVENT_QUEUE = 10_000
#: … and at most this many bytes of them (as they arrived on the wire).
DEFAULT_EVENT_QUEUE_BYTES = 32 * 1024 * 1024
#: The thread switch interval (seconds) while an event waits for the handler thread.
HANDOFF_SWITCH_INTERVAL = 0.00005

_handoff_lock = threading.Lock()
#: The levels of the hand-offs under way (the interval is at most the lowest).
_levels: list[float] = []
#: The interval to put back once none is under way, and the one last set here (None: none).
_saved_interval = 0.0
_applied: float | None = None
_handoffs_allowed = False


def allow_handoffs(allowed: bool) -> bool:
    """Whether :func:`handoff` may lower the thread switch interval; returns what it was.

    Off by default: the interval is this process's to set. A kernel with live channels
    allows them (:func:`~nbchannel.kernel.transport.apply_switch_interval`), unless
    ``NBCHANNEL_SWITCH_INTERVAL=off``; a plain ``python`` script keeps its interval."""
    global _handoffs_allowed
    before, _handoffs_allowed = _handoffs_allowed, allowed
    return before


def handoff(start: bool, interval: float = HANDOFF_SWITCH_INTERVAL) -> None:
    """Begin (``start``) or end one hand-off of level ``interval``.

    While hand-offs are under way the interpreter's thread switch interval is at most the
    lowest of their levels; when the last ends, the interval from before the first is put
    back. An interval someone else sets meanwhile is kept (and put back in the end)."""
    global _saved_interval, _applied
    with _handoff_lock:
        current = sys.getswitchinterval()
        if _applied is None:
            _saved_interval = current
        elif not math.isclose(current, _applied, abs_tol=1e-7):
            _saved_interval = current  # changed by someone else: theirs is the one to keep
        if start:
            _levels.append(interval)
        elif interval in _levels:
            _levels.remove(interval)
        if not _levels:
            wanted, _applied = _saved_interval, None
        else:
            lowest = min(_levels) if _handoffs_allowed else _saved_interval
            wanted = _applied = min(lowest, _saved_interval)
        if not math.isclose(current, wanted, abs_tol=1e-7):
            sys.setswitchinterval(wanted)


class EventDispatcher:
    """A bounded queue of events and the thread that runs their handlers (thread-safe)."""

    def __init__(
        self,
        max_events: int = DEFAULT_EVENT_QUEUE,
        max_bytes: int = DEFAULT_EVENT_QUEUE_BYTES,
        *,
        on_refused: Callable[[ChannelPort], None] | None = None,
    ) -> None:
        if max_events < 1 or max_bytes < 1:
            raise ValueError("the event queue needs room for at least one event")
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.on_refused = on_refused
        self._queue: deque[tuple[ChannelPort, Event, int]] = deque()
        self._bytes = 0
        self._cond = threading.Condition(threading.Lock())
        self._thread: threading.Thread | None = None
        self._stopping = False
        #: Whether this queue holds a hand-off (:func:`handoff`) for its next event.
        self._handing_off = False
        #: Most events that were ever waiting at once, and events refused (queue full).
        self.peak = 0
        self.refused = 0

    @property
    def queued(self) -> int:
        """Events waiting for their handlers right now."""
        return len(self._queue)

    def submit(self, channel: ChannelPort, event: Event, nbytes: int = 0) -> bool:
        """Queue ``event`` for ``channel``'s handlers; False (and refused) when full.

        An event larger than the byte bound is still taken when nothing else waits, so a
        big event is delayed, never refused forever.
        """
        with self._cond:
            if self._stopping:
                return False
            n = len(self._queue)
            if n >= self.max_events or (n and self._bytes + nbytes > self.max_bytes):
                self.refused += 1
                refused = True
            else:
                refused = False
                self._queue.append((channel, event, nbytes))
                self._bytes += nbytes
                if n + 1 > self.peak:
                    self.peak = n + 1
                if not self._handing_off:
                    self._handing_off = True
                    handoff(True)
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name=HANDLER_THREAD_NAME, daemon=True
                    )
                    self._thread.start()
                elif n == 0:
                    self._cond.notify()
        if refused and self.on_refused is not None:
            self.on_refused(channel)
        return not refused

    def close(self, timeout: float = 2.0) -> None:
        """Stop the thread once the handler running now returns; queued events are dropped."""
        with self._cond:
            self._stopping = True
            self._queue.clear()
            self._bytes = 0
            self._end_handoff()
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _end_handoff(self) -> None:  # under self._cond
        if self._handing_off:
            self._handing_off = False
            handoff(False)

    def _run(self) -> None:
        cond = self._cond
        queue = self._queue
        while True:
            with cond:
                while not queue and not self._stopping:
                    cond.wait()
                if self._stopping:
                    return
                channel, event, nbytes = queue.popleft()
                self._bytes -= nbytes
                self._end_handoff()  # this thread holds the GIL: the handler runs now
            try:
                channel.run_handlers(event)
            except Exception:  # pragma: no cover - _run_handlers reports handlers' errors
                log.exception("nbchannel: delivering an event to %r failed", channel.name)
