"""A peer's bounded send queue: coalesces state, drops stream items with a gap marker.

This is what keeps one slow browser from costing the kernel or the other browsers anything:
the hub never waits for a peer, it puts into that peer's outbox and moves on. The outbox
holds at most ``max_bytes`` of droppable traffic; beyond that:

* **state** (``set``/``unset``) and **presence** are coalesced by key — a newer value
  replaces the queued one in place, so they never grow the queue beyond one entry per key;
* **stream** (``append``) and **transient** (``publish``) messages, and ``event`` and
  ``error`` messages, are dropped and counted; a ``gap`` marker is queued in their place
  (before the channel's next delivered item, or when the queue drains), so loss is never
  silent;
* the stream items of a ``flow="latest"`` channel (``put(msg, latest=True)``) are
  coalesced per channel: the newest replaces the one queued, so a viewer that falls behind
  gets the newest item next, never a backlog;
* control messages (``subscribed``, ``closed``, ``opened`` …) are always queued; there is at
  most one of each per channel in flight because re-subscribing purges the channel first.

A kernel's plain stream items (:meth:`Outbox.put_item`: JSON without buffers, on a
``flow="drop"`` channel) are packed: consecutive ones of a channel join the segment at the
queue's tail, one ``bytearray`` growing by each item's JSON, and :meth:`Outbox.take` seals it
into one :class:`~nbchannel.core.message.Segment`. Items written while the sender is busy
travel together, and a lone item still leaves at once.

A message that alone exceeds the bound is still accepted when no other droppable message
is queued (control and state may be: a replay starts with ``subscribed`` and the state), so
a large item is delayed, never starved; the queue then holds at most that one message over
its bound.

No I/O, no asyncio: the owner of the outbox is told through ``on_ready`` when the queue
goes from empty to non-empty.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from . import protocol as P
from .message import Message, Segment

__all__ = ["Outbox"]

_COALESCED = frozenset({P.SET, P.UNSET, P.PRESENCE})
_DROPPABLE = frozenset({P.APPEND, P.PUBLISH, P.EVENT, P.ERROR})
_LATEST = "latest"  # the coalescing key's tag for a flow="latest" channel's stream item
#: A segment being packed takes no more items once its JSON reaches this size (bytes).
PACK_BYTES = 64 * 1024
#: Bytes an item is counted for beyond its JSON in a segment (its share of the header).
_ITEM_OVERHEAD = 8


class _Pack:
    """A segment being packed at the tail of the queue: the items' JSON array so far."""

    __slots__ = ("channel", "count", "data", "scope", "size")

    def __init__(self, scope: str | None, channel: str) -> None:
        self.scope = scope
        self.channel = channel
        self.data = bytearray(b"[")
        self.count = 0
        self.size = len(channel) + 24

    def seal(self) -> Message:
        """The packed items as one message: a segment, or the item alone."""
        data = self.data
        if self.count == 1:
            payload = bytes(data[1:-1])
            return Message(P.APPEND, self.channel, scope=self.scope, payload=payload)
        data[-1] = 0x5D  # the last comma becomes the closing bracket
        return Segment(self.channel, self.count, scope=self.scope, payload=bytes(data))


class _Slot:
    """A coalesced (state or presence) entry: a newer message for its key replaces ``msg``."""

    __slots__ = ("key", "msg", "size")

    def __init__(self, msg: Message, key: Any) -> None:
        self.msg = msg
        self.key = key
        self.size = msg.nbytes


class _Gap:
    __slots__ = ("count", "end", "first")

    def __init__(self, first: int | None) -> None:
        self.first = first
        self.end = first
        self.count = 0


class Outbox:
    """Bounded queue of messages waiting to be sent to one peer."""

    def __init__(self, max_bytes: int, on_ready: Callable[[], None] | None = None) -> None:
        self.max_bytes = max_bytes
        self.on_ready = on_ready
        # Messages in order; coalesced ones wrapped in a _Slot (everything else is queued
        # as is, so the common case allocates nothing per message).
        self._queue: deque[Message | _Slot | _Pack] = deque()
        #: The segment being packed, while it is the last thing queued.
        self._pack: _Pack | None = None
        self._coalesce: dict[Any, _Slot] = {}
        self._gaps: dict[tuple[str, str | None, str], _Gap] = {}
        #: Bytes currently queued (approximate wire size).
        self.bytes = 0
        self._droppable = 0  # droppable messages queued
        #: Messages dropped because the queue was full, and state updates coalesced away.
        self.dropped = 0
        self.coalesced = 0
        #: Largest value ``bytes`` has reached.
        self.peak_bytes = 0

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def pending_gaps(self) -> int:
        """Gap markers waiting to be delivered."""
        return len(self._gaps)

    def put(self, msg: Message, flow: str = "drop") -> bool:
        """Queue ``msg``; return False if it was dropped (and counted) instead.

        ``flow`` is the flow control of the channel ``msg`` belongs to, for stream items:
        ``"latest"``: the item replaces the channel's item still queued, if any, in place
        (counted in ``coalesced``), so such a channel never queues more than one;
        ``"block"``: the item is queued whatever the bound (the channel's owner waits for
        credit, so its items in the queue are bounded by the channel's window)."""
        kind = msg.kind
        if kind == P.APPEND and flow != "drop":
            if flow == "block":
                self._droppable += 1
                self._push(msg, msg.nbytes)
                return True
            key: tuple[Any, ...] = (_LATEST, msg.scope, msg.channel, None)
        elif kind in _COALESCED:
            key = (kind == P.PRESENCE, msg.scope, msg.channel, msg.key)
        elif kind == P.CREDIT:
            key = (P.CREDIT, msg.scope, msg.channel, None)
        else:
            key = ()
        if key:
            slot = self._coalesce.get(key)
            if slot is not None:
                size = msg.nbytes
                self.bytes += size - slot.size
                self.coalesced += slot.msg.count
                slot.msg, slot.size = msg, size
                return True
            slot = _Slot(msg, key)
            self._coalesce[key] = slot
            self._push(slot, slot.size)
            return True
        size = msg.nbytes
        if kind in _DROPPABLE and not self._admit(
            (kind, msg.scope, msg.channel), size, msg.count, msg.offset
        ):
            return False
        self._push(msg, size)
        return True

    def _admit(
        self, gkey: tuple[str, str | None, str], size: int, count: int, offset: int | None
    ) -> bool:
        """Whether a droppable message of ``size`` bytes (``count`` items from ``offset``)
        fits: if not, it is counted in its gap; if so, the gap pending for ``gkey`` is
        queued first, so the marker comes before the next item delivered."""
        if self._droppable and self.bytes + size > self.max_bytes:
            gap = self._gaps.get(gkey)
            if gap is None:
                gap = self._gaps[gkey] = _Gap(offset)
            gap.count += count
            if offset is not None:
                gap.end = offset + count
            self.dropped += count
            return False
        if self._gaps:
            gap = self._gaps.pop(gkey, None)
            if gap is not None:
                marker = _gap_message(gkey, gap)
                self._push(marker, marker.nbytes)
        self._droppable += 1
        return True

    def put_item(self, scope: str | None, channel: str, payload: bytes) -> bool:
        """Queue one plain stream item (its JSON, ``payload``) of a ``flow="drop"`` channel,
        packed into the segment at the tail when that is the channel's; False if it was
        dropped (counted, with a gap marker as in :meth:`put`)."""
        size = len(payload) + _ITEM_OVERHEAD
        pack = self._pack
        if (
            pack is None
            or pack.channel != channel
            or pack.scope != scope
            or pack.size >= PACK_BYTES
            or self.bytes + size > self.max_bytes
            or self._gaps
        ):
            return self._put_new_pack(scope, channel, payload, size)
        data = pack.data
        data += payload
        data.append(0x2C)  # ","
        pack.count += 1
        pack.size += size
        self.bytes += size
        if self.bytes > self.peak_bytes:
            self.peak_bytes = self.bytes
        return True

    def _put_new_pack(self, scope: str | None, channel: str, payload: bytes, size: int) -> bool:
        if not self._admit((P.APPEND, scope, channel), size, 1, None):
            return False
        pack = _Pack(scope, channel)
        data = pack.data
        data += payload
        data.append(0x2C)
        pack.count = 1
        pack.size += size
        self._push(pack, pack.size)
        self._pack = pack
        return True

    def _push(self, item: Message | _Slot | _Pack, size: int) -> None:
        self._pack = None  # anything queued after a segment ends it
        queue = self._queue
        was_empty = not queue
        queue.append(item)
        self.bytes += size
        if self.bytes > self.peak_bytes:
            self.peak_bytes = self.bytes
        if was_empty and self.on_ready is not None:
            self.on_ready()

    def take(
        self, max_bytes: int, max_messages: int = 4096, max_header_bytes: int = 256 * 1024
    ) -> list[Message]:
        """Remove and return queued messages for one frame (at least one message).

        A batch stops at about ``max_bytes`` of messages, ``max_messages`` messages, or
        ``max_header_bytes`` of estimated frame header — comfortably inside the decoder's
        :class:`~nbchannel.core.codec.Limits`, so a burst of tiny messages never makes a
        frame the other side must refuse. When the queue runs empty, pending gap markers
        are appended so the peer learns of drops even if nothing else is sent on that
        channel.
        """
        out: list[Message] = []
        taken = 0
        header = 0
        count = 0
        queue = self._queue
        coalesce = self._coalesce
        while queue and (
            (taken < max_bytes and count < max_messages and header < max_header_bytes) or not out
        ):
            item = queue.popleft()
            if isinstance(item, _Slot):
                del coalesce[item.key]
                taken += item.size
                msg = item.msg
            elif isinstance(item, _Pack):
                if item is self._pack:
                    self._pack = None
                taken += item.size
                self._droppable -= 1
                msg = item.seal()
            else:
                msg = item
                taken += msg.nbytes
                if msg.kind in _DROPPABLE:
                    self._droppable -= 1
            n = msg.entries
            header += (48 + len(msg.channel) + len(msg.key or "")) * n + 64 * len(msg.buffers)
            count += n
            out.append(msg)
        self.bytes -= taken
        if not queue and self._gaps:
            out.extend(_gap_message(k, g) for k, g in self._gaps.items())
            self._gaps.clear()
        return out

    def clear(self) -> None:
        """Forget everything queued (the peer is gone): its memory is freed at once, not
        whenever the connection objects that referred to it are collected."""
        self._queue.clear()
        self._pack = None
        self._coalesce.clear()
        self._gaps.clear()
        self.bytes = 0
        self._droppable = 0

    def purge(self, scope: str | None, channel: str) -> int:
        """Forget everything queued for one channel (it is about to be replayed afresh)."""
        keep: deque[Message | _Slot | _Pack] = deque()
        removed = 0
        for item in self._queue:
            m = item.msg if isinstance(item, _Slot) else item
            if m.channel == channel and m.scope == scope:
                if isinstance(item, _Pack):
                    removed += item.count
                    self.bytes -= item.size
                    self._droppable -= 1
                    if item is self._pack:
                        self._pack = None
                elif isinstance(item, _Slot):
                    removed += item.msg.count
                    self.bytes -= item.size
                    del self._coalesce[item.key]
                else:
                    removed += item.count
                    self.bytes -= item.nbytes
                    if item.kind in _DROPPABLE:
                        self._droppable -= 1
            else:
                keep.append(item)
        self._queue = keep
        for gkey in [k for k in self._gaps if k[1] == scope and k[2] == channel]:
            del self._gaps[gkey]
        return removed


def _gap_message(gkey: tuple[str, str | None, str], gap: _Gap) -> Message:
    kind, scope, channel = gkey
    payload: dict[str, Any] = {"kind": kind, "count": gap.count, "reason": "dropped"}
    if gap.first is not None:
        payload["end"] = gap.end
    return Message.create(P.GAP, channel, payload, scope=scope, offset=gap.first)
