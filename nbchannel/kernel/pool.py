"""Reusable send buffers for the arrays a kernel streams.

``LiveChannel.append(array)`` copies the array, because the caller may change it as soon as
the call returns. A fresh 1 MiB copy per append costs more than the copy itself: glibc
hands large blocks back to the system when they are freed, so every new one is faulted in
again page by page (~250 page faults per MiB, several times the cost of copying). Copies
of stream items are taken from this pool instead, and the I/O thread gives them back once
the hub has acknowledged their frame (until then they may have to be sent again, to a
restarted hub), so a loop that streams same-sized arrays reuses the same few blocks.

Only stream messages (``append``, ``publish``) are given back: retained state is kept by
its channel to be re-sent after a reconnect, and a message dropped from a full queue is
simply left to the garbage collector.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from ..core import protocol as P
from ..core.message import Buffer, Message

__all__ = ["SendPool", "send_pool"]

#: Message kinds whose buffers nothing keeps once they are sent.
_RECYCLABLE = frozenset({P.APPEND, P.PUBLISH})


class _Pooled(bytearray):
    """A block that belongs to a :class:`SendPool` (recognised when given back)."""

    __slots__ = ()


class SendPool:
    """Blocks for copies of large buffers, reused by size; thread-safe.

    Buffers smaller than ``min_bytes`` are copied into plain ``bytes``; the pool keeps at
    most ``max_bytes`` of idle blocks and ``per_size`` blocks of one size.
    """

    def __init__(
        self, *, min_bytes: int = 64 * 1024, max_bytes: int = 64 << 20, per_size: int = 16
    ) -> None:
        self.min_bytes = min_bytes
        self.max_bytes = max_bytes
        self.per_size = per_size
        self._free: dict[int, list[_Pooled]] = {}
        self._idle = 0
        self._lock = threading.Lock()
        #: Copies served from an idle block, and copies that needed a new one.
        self.reused = 0
        self.allocated = 0

    @property
    def idle_bytes(self) -> int:
        """Bytes held in idle blocks."""
        return self._idle

    def copy(self, data: memoryview) -> memoryview:
        """A private copy of ``data`` (bytes), in a pooled block when it is large."""
        n = data.nbytes
        if n < self.min_bytes:
            return memoryview(bytes(data))
        block = None
        with self._lock:
            free = self._free.get(n)
            if free:
                block = free.pop()
                self._idle -= n
                self.reused += 1
            else:
                self.allocated += 1
        if block is None:
            block = _Pooled(n)
        view = memoryview(block)
        view[:] = data if data.format == "B" and data.ndim == 1 else data.cast("B")
        return view

    def owned(self, buf: Buffer) -> Buffer:
        """``buf`` with data that no caller can change: its own copy, unless it is ``bytes``."""
        if isinstance(buf.data.obj, bytes):
            return buf
        return Buffer(buf.path, buf.dtype, buf.shape, self.copy(buf.data))

    def recycle(self, messages: Iterable[Message]) -> None:
        """Take back the pooled blocks of stream messages the hub has acknowledged."""
        for msg in messages:
            if not msg.buffers or msg.kind not in _RECYCLABLE:
                continue
            for buf in msg.buffers:
                block = buf.data.obj
                if type(block) is not _Pooled:
                    continue
                n = len(block)
                with self._lock:
                    free = self._free.setdefault(n, [])
                    if len(free) < self.per_size and self._idle + n <= self.max_bytes:
                        free.append(block)
                        self._idle += n


#: The pool every LiveChannel of this process copies into.
send_pool = SendPool()
