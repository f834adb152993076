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
from collections.abc import Callable
from itertools import islice
from typing import TYPE_CHECKING

from ..errors import LimitExceeded
from . import protocol as P
from .message import Message
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
        self.history_bytes = 0
        #: Offset the next appended item gets.
        self.head = 0
        self.owners: set[Peer] = set()
        self.subscribers: set[Peer] = set()
        self.stats = ChannelStats(clock)

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
        """Offset of the oldest retained stream item (``head`` when history is empty)."""
        return self.history[0].offset if self.history else self.head  # type: ignore[return-value]

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
        self.epoch = None
        self._clear()

    def _clear(self) -> None:
        self.state.clear()
        self.state_bytes = 0
        self.history.clear()
        self.history_bytes = 0
        self.head = 0

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

    def append(self, msg: Message) -> Message:
        """Give ``msg`` the next offset and retain it in the bounded history."""
        stamped = msg.routed(self.scope, self.head)
        self.head += 1
        hist = self.history
        hist.append(stamped)
        size = self.history_bytes + stamped.nbytes
        if len(hist) > self.history_items or size > self.history_bytes_max:
            items, max_bytes = self.history_items, self.history_bytes_max
            while hist and (len(hist) > items or size > max_bytes):
                size -= hist.popleft().nbytes
        self.history_bytes = size
        return stamped

    def publish(self, msg: Message) -> Message:
        """A transient message: not retained."""
        return msg.routed(self.scope, msg.offset)

    # -- reads ---------------------------------------------------------------------------

    def replay(self, epoch: int | None, since: int | None) -> list[Message]:
        """Messages for a subscriber that had ``epoch`` and wants offsets from ``since``.

        Always starts with ``subscribed``; then all retained state; then the stream. A
        subscriber with the current epoch gets only the items it missed, or a ``gap`` marker
        and everything retained if what it missed is older than the history. Anyone else
        (new, or from another epoch) gets ``reset`` and everything retained.
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
            return [Message.create(P.SUBSCRIBED, self.name, info, scope=self.scope)]
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
        out = [Message.create(P.SUBSCRIBED, self.name, info, scope=self.scope)]
        out.extend(self.state.values())
        start = tail
        if not reset:
            assert since is not None
            if since < tail:
                gap: P.GapPayload = {
                    "kind": P.APPEND,
                    "count": tail - since,
                    "end": tail,
                    "reason": "history",
                }
                out.append(Message.create(P.GAP, self.name, gap, scope=self.scope, offset=since))
            else:
                start = min(since, head)
        out.extend(islice(self.history, start - tail, None))
        return out
