"""One channel's data: epoch, retained state, bounded stream history. No I/O, no asyncio.

The hub keeps one :class:`Channel` per ``(scope, name)``. A channel is *open* while it has
an epoch: an owner opened it and nobody closed it. Its data has three parts:

* ``state`` — the latest ``set`` message per key, replayed to every new subscriber;
* ``history`` — the most recent ``append`` messages with consecutive offsets, bounded by
  item count and by bytes; the oldest fall off first;
* ``epoch`` — a random number fixed when the channel is (re)created, so a subscriber that
  resumes can tell "same channel, continue from my offset" from "new channel, start over".

:meth:`Channel.replay` computes what a (re)subscribing peer must receive.
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Callable, Iterator
from itertools import islice
from typing import TYPE_CHECKING, Literal

from ..errors import LimitExceeded, MalformedFrame
from . import protocol as P
from .message import Message, Segment, join_items
from .stats import ChannelStats

if TYPE_CHECKING:
    from .peer import Peer

__all__ = ["Channel", "new_epoch"]

ChannelKey = tuple[str, str]


def new_epoch(previous: int | None = None) -> int:
    """A fresh random epoch: 48 bits, so it is exact in JavaScript numbers too."""
    while True:
        e = secrets.randbits(48)
        if e and e != previous:
            return e


class Channel:
    """State, history and membership of one channel."""

    def __init__(
        self,
        scope: str,
        name: str,
        *,
        history_items: int,
        history_bytes: int,
        state_bytes: int,
        clock: Callable[[], float],
    ) -> None:
        self.scope = scope
        self.name = name
        self.epoch: int | None = None
        self.history_items = history_items
        self.history_bytes_max = history_bytes
        self.state_bytes_max = state_bytes
        self.state: dict[str, Message] = {}
        self.state_bytes = 0
        self.history: deque[Message] = deque()
        #: Stream items in ``history`` (a segment is one entry of several items).
        self.history_count = 0
        self.history_bytes = 0
        #: Offset the next appended item gets.
        self.head = 0
        self.owners: set[Peer] = set()
        self.subscribers: set[Peer] = set()
        #: Subscribers still being sent the history, and the next offset each is due.
        #: Appends are not queued for them: :meth:`take_replay` reads them from history.
        self.cursors: dict[Peer, int] = {}
        #: Appends the hub holds back to fan out with the next ones (a channel with many
        #: viewers, see ``HubConfig.run_delay``): not yet appended, so not in history.
        self.staged: list[Message] = []
        self.stats = ChannelStats(clock)
        #: How a subscriber that falls behind is served (the opening owner's choice):
        #: ``"drop"`` queues up to its bound, then drops with gap markers; ``"latest"``
        #: queues only the newest stream item; ``"block"`` never drops (the owner waits
        #: for credit: see :mod:`nbchannel.core.flow`).
        self.flow: P.Flow = "drop"
        #: For ``"block"``: stream items the slowest subscriber may be behind.
        self.window = 0
        #: For ``"block"``: each subscriber's next offset not yet consumed (it says so with
        #: ``consumed``), and each owner's stream items taken since it opened the channel.
        self.consumed: dict[Peer, int] = {}
        self.received: dict[Peer, int] = {}

    @property
    def key(self) -> ChannelKey:
        """``(scope, name)``."""
        return (self.scope, self.name)

    @property
    def is_open(self) -> bool:
        """Whether an owner has opened the channel (it has an epoch)."""
        return self.epoch is not None

    @property
    def tail(self) -> int:
        """Offset of the oldest retained stream item (``head`` when history is empty): at
        most ``history_items`` back, even where the oldest segment kept starts earlier."""
        if not self.history:
            return self.head
        first: int = self.history[0].offset  # type: ignore[assignment]
        return max(first, self.head - self.history_items)

    def open(self, *, history_items: int | None = None, history_bytes: int | None = None) -> int:
        """(Re)create the channel with a new epoch and no data; return the epoch."""
        self.epoch = new_epoch(self.epoch)
        if history_items is not None:
            self.history_items = history_items
        if history_bytes is not None:
            self.history_bytes_max = history_bytes
        self._clear()
        return self.epoch

    def close(self) -> None:
        """Drop the epoch and all data; subscribers stay (they wait for a re-open)."""
        self.cursors.clear()
        self.epoch = None
        self._clear()

    def _clear(self) -> None:
        self.state.clear()
        self.state_bytes = 0
        self.history.clear()
        self.history_count = 0
        self.history_bytes = 0
        self.head = 0
        self.consumed.clear()

    # -- writes (each returns the message to fan out) ---------------------------------

    def set(self, msg: Message) -> Message:
        """Retain ``msg`` as the value of its key."""
        key = msg.key
        if key is None:
            raise LimitExceeded("'set' needs a key")  # pragma: no cover - hub checks first
        stamped = msg.routed(self.scope, msg.offset)
        old = self.state.get(key)
        size = stamped.nbytes - (old.nbytes if old is not None else 0)
        if self.state_bytes + size > self.state_bytes_max:
            raise LimitExceeded(
                f"channel {self.name!r}: state would grow to {self.state_bytes + size} bytes, over "
                f"the limit of {self.state_bytes_max} (c.NbChannel.state_bytes); keep fewer or "
                "smaller keys, or use append() for growing data"
            )
        self.state[key] = stamped
        self.state_bytes += size
        return stamped

    def unset(self, msg: Message) -> Message:
        """Forget a key."""
        old = self.state.pop(msg.key or "", None)
        if old is not None:
            self.state_bytes -= old.nbytes
        return msg.routed(self.scope, msg.offset)

    def behind(self) -> int:
        """For ``flow="block"``: how many stream items the slowest subscriber has still to
        consume (0 with no subscriber)."""
        return self.head - min(self.consumed.values()) if self.consumed else 0

    def append(self, msg: Message) -> Message:
        """Give ``msg`` the next offset (a segment: the next ``count``) and retain it in the
        bounded history (a segment is one entry)."""
        stamped = msg.routed(self.scope, self.head)
        n = msg.count
        self.head += n
        hist = self.history
        hist.append(stamped)
        count = self.history_count + n
        size = self.history_bytes + stamped.nbytes
        items, max_bytes = self.history_items, self.history_bytes_max
        # Whole entries fall off while the rest still holds `items`; the oldest retained
        # may start before head - items (see `tail`, which replay starts from).
        while hist and (count - hist[0].count >= items or size > max_bytes):
            old = hist.popleft()
            count -= old.count
            size -= old.nbytes
        if not hist and isinstance(stamped, Segment):
            # a segment over the byte bound by itself: keep its newest items that fit
            kept = _newest_within(stamped, max_bytes)
            if kept is not None:
                hist.append(kept)
                count, size = kept.count, kept.nbytes
        self.history_count = count
        self.history_bytes = size
        return stamped

    def publish(self, msg: Message) -> Message:
        """A transient message: not retained."""
        return msg.routed(self.scope, msg.offset)

    # -- reads ---------------------------------------------------------------------------

    def replay(self, epoch: int | None, since: int | None) -> list[Message]:
        """Everything a subscriber that had ``epoch`` and wants offsets from ``since`` gets.

        :meth:`replay_start` followed by the whole stream from its offset; the hub sends
        the stream piece by piece instead (:meth:`take_replay`), this is the reference.
        """
        out, start = self.replay_start(epoch, since)
        if start is not None:
            out.extend(self._stream_from(start, None, None))
        return out

    def replay_start(
        self, epoch: int | None, since: int | None
    ) -> tuple[list[Message], int | None]:
        """What a (re)subscribing peer gets at once, and the stream offset it is due next.

        Always starts with ``subscribed``, then all retained state. A subscriber with the
        current epoch is due only the items it missed (from ``since``); anyone else (new, or
        from another epoch) gets ``reset`` and is due everything retained. The offset is
        None when the channel is not open (nothing to stream yet). The stream itself comes
        from :meth:`take_replay`, a batch at a time, so a long history never holds the
        server's event loop; an offset older than the history yields a ``gap`` marker.
        """
        if not self.is_open:
            info: P.SubscribedPayload = {
                "epoch": None,
                "head": 0,
                "tail": 0,
                "reset": True,
                "waiting": True,
                "state": 0,
            }
            return [Message.create(P.SUBSCRIBED, self.name, info, scope=self.scope)], None
        tail, head = self.tail, self.head
        reset = since is None or epoch != self.epoch
        info = {
            "epoch": self.epoch,
            "head": head,
            "tail": tail,
            "reset": reset,
            "waiting": False,
            "state": len(self.state),
        }
        if self.flow != "drop":
            info["flow"] = self.flow
            if self.flow == "block":
                info["window"] = self.window
        out = [Message.create(P.SUBSCRIBED, self.name, info, scope=self.scope)]
        out.extend(self.state.values())
        start = tail if reset else min(since, head)  # type: ignore[type-var]
        return out, start

    def take_replay(
        self, peer: Peer, max_bytes: int, max_messages: int
    ) -> tuple[list[Message], bool]:
        """The next stream items due to ``peer`` (see :attr:`cursors`), and whether it has
        caught up (then it gets live appends from now on). At least one message unless
        caught up; about ``max_bytes`` and at most ``max_messages``."""
        start = self.cursors.get(peer)
        if start is None:
            return [], True
        out = self._stream_from(start, max_bytes, max_messages)
        nxt = start
        for m in out:
            if m.kind == P.APPEND:
                nxt = m.offset + m.count  # type: ignore[operator]
            elif m.kind == P.GAP:
                nxt = self.tail
        if nxt >= self.head:
            del self.cursors[peer]
            return out, True
        self.cursors[peer] = nxt
        return out, False

    def _stream_from(
        self, start: int, max_bytes: int | None, max_messages: int | None
    ) -> list[Message]:
        out: list[Message] = []
        tail = self.tail
        if start < tail:
            out.append(self._gap_message(start, tail, "history"))
            start = tail
        items = self._entries_from(start)
        if max_bytes is None:
            out.extend(items)
            return out
        taken = 0
        limit = max_messages or 1
        for m in items:
            out.append(m)
            taken += m.nbytes
            if taken >= max_bytes or len(out) >= limit:
                break
        return out

    def _entries_from(self, start: int) -> Iterator[Message]:
        """History from offset ``start`` (``tail`` … ``head``) on; an entry that begins
        before it (a segment) comes sliced to begin there."""
        hist = self.history
        if not hist:
            return
        # Binary search for the last entry starting at or before `start`.
        lo, hi = 0, len(hist) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if hist[mid].offset <= start:  # type: ignore[operator]
                lo = mid
            else:
                hi = mid - 1
        first = hist[lo]
        if first.offset + first.count <= start:  # type: ignore[operator]
            lo += 1  # `start` is head
        elif first.offset < start:  # type: ignore[operator]
            end = first.offset + first.count  # type: ignore[operator]
            try:
                yield first.slice(start)  # type: ignore[attr-defined]
            except MalformedFrame:
                # a segment whose payload does not hold its items (a broken kernel): its
                # viewers learn they are missing, the replay goes on
                yield self._gap_message(start, end, "malformed")
            lo += 1
        yield from islice(hist, lo, None)

    def _gap_message(
        self, start: int, end: int, reason: Literal["history", "malformed"]
    ) -> Message:
        gap: P.GapPayload = {"kind": P.APPEND, "count": end - start, "end": end, "reason": reason}
        return Message.create(P.GAP, self.name, gap, scope=self.scope, offset=start)


def _newest_within(seg: Segment, max_bytes: int) -> Message | None:
    """The newest items of ``seg`` whose size stays within ``max_bytes`` (None: not even
    the last one, or the segment's payload does not hold its items)."""
    try:
        items = seg.items()
    except MalformedFrame:
        return None
    size, first = 0, len(items)
    while first and size + items[first - 1].nbytes <= max_bytes:
        first -= 1
        size += items[first].nbytes
    return join_items(items[first:]) if first < len(items) else None
