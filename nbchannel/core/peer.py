"""One connection to the hub: its role, its subscriptions and its outbox.

A transport (the WebSocket handler, the kernel socket loop, a test) drives a peer with two
calls: :meth:`Hub.receive <nbchannel.core.hub.Hub.receive>` for what arrived, and
:meth:`Peer.next_frame` for what to write next::

    peer = hub.connect_subscriber("browser")
    try:
        while (frame := await peer.next_frame()) is not None:
            await websocket.write_message(frame, binary=True)
    finally:
        hub.disconnect(peer)
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from .codec import encode_frame_parts
from .message import Message
from .outbox import Outbox

if TYPE_CHECKING:
    from .channel import Channel

__all__ = ["FrameBudget", "Peer", "Role"]

#: Most messages in one outgoing frame (well inside the decoder's ``max_messages``).
_FRAME_MESSAGES = 4096

Role = Literal["owner", "subscriber"]
_ids = itertools.count(1)


class Peer:
    """A connected owner (kernel) or subscriber (browser)."""

    def __init__(
        self, role: Role, *, scope: str | None, name: str, queue_bytes: int, batch_bytes: int
    ) -> None:
        self.id = next(_ids)
        self.role: Role = role
        #: For an owner: the kernel id its kernel-scoped channels belong to.
        self.scope = scope
        self.name = name
        self.batch_bytes = batch_bytes
        self._ready = asyncio.Event()
        self.outbox = Outbox(queue_bytes, on_ready=self._ready.set)
        #: Channels this peer subscribes to (subscriber) or has opened (owner).
        self.channels: set[tuple[str, str]] = set()
        #: Channels whose history is still being replayed to this peer, in subscribe order
        #: (each holds the peer's cursor). Replay goes a frame at a time, as the peer reads.
        self.replays: dict[tuple[str, str], Channel] = {}
        self.closed = False
        #: Set by a transport that can send an encoded frame at once when its connection is
        #: idle (returns False, sending nothing, when it is not): a fan-out to many viewers
        #: then skips this peer's queue and writer while it keeps up, and an event reaches
        #: an idle kernel in the call that routed it.
        self.send_now: Callable[[bytes], bool] | None = None

    def __repr__(self) -> str:
        return f"<Peer {self.id} {self.role} {self.name!r}>"

    @property
    def pending(self) -> bool:
        """Whether anything waits to be sent: queued messages or history being replayed."""
        return bool(self.outbox) or bool(self.replays)

    def replay(self, channel: Channel, start: int | None) -> None:
        """Send ``channel``'s history from offset ``start`` on, a batch per frame, after
        what is queued now (None, or nothing retained from there: nothing to replay)."""
        key = channel.key
        self.replays.pop(key, None)
        channel.cursors.pop(self, None)
        if start is not None and start < channel.head:
            channel.cursors[self] = start
            self.replays[key] = channel
            self._ready.set()

    def stop_replay(self, channel: Channel) -> None:
        """Forget the history replay of ``channel`` (unsubscribed, closed, or replaced)."""
        self.replays.pop(channel.key, None)
        channel.cursors.pop(self, None)

    def take(self) -> list[Message]:
        """Take the next batch of queued messages (empty if none).

        Queued messages go first; what room the batch has left is filled from histories
        being replayed. So a subscriber's ``subscribed`` and state precede its history, and
        replaying a long history costs the event loop one frame's worth per turn.
        """
        outbox = self.outbox
        msgs = outbox.take(self.batch_bytes) if outbox else []
        if self.replays and not outbox:
            room = self.batch_bytes - sum(m.nbytes for m in msgs)
            for key, ch in list(self.replays.items()):
                count = _FRAME_MESSAGES - sum(m.entries for m in msgs)
                if room <= 0 or count <= 0:
                    break
                part, done = ch.take_replay(self, room, count)
                msgs.extend(part)
                room -= sum(m.nbytes for m in part)
                if done:
                    del self.replays[key]
        if not outbox and not self.replays:
            self._ready.clear()
        return msgs

    def take_frame(self) -> list[bytes | memoryview] | None:
        """The next batch encoded as one frame (a list of parts), or None if nothing is queued."""
        msgs = self.take()
        return encode_frame_parts(msgs) if msgs else None

    async def wait(self) -> None:
        """Return once something is queued or the peer is closed."""
        if not self.pending and not self.closed:
            await self._ready.wait()

    async def next_frame(self) -> bytes | None:
        """Wait for queued messages and return them as one frame; None once the peer is closed."""
        while True:
            if self.closed:
                return None
            if self.pending:
                parts = self.take_frame()
                if parts is not None:
                    return b"".join(parts)
            await self._ready.wait()

    def close(self) -> None:
        """Mark the peer closed and wake its writer so it can stop."""
        for ch in self.replays.values():
            ch.cursors.pop(self, None)
        self.replays.clear()
        self.outbox.clear()
        self.closed = True
        self._ready.set()


class FrameBudget:
    """Frames per second that all subscribers' writers share. No I/O, no clock of its own.

    Writing a WebSocket frame costs the server's event loop about the same whatever it
    carries (a system call and the WebSocket library's bookkeeping), while one more message
    in a frame costs little. One busy page gets a frame per message, for the lowest latency.
    When many pages are busy at once — one stream fanned out to 100 viewers — a frame per
    message per viewer would swamp the event loop and every viewer would fall behind; so
    each writer waits a little between frames and carries more messages per frame: with
    ``W`` writers active in the last ``window`` seconds, a writer's frames are at least
    ``W / frames_per_second`` apart (5 ms for 100 viewers at the default 20,000)::

        budget = FrameBudget(20_000)
        await asyncio.sleep(budget.delay(last_write, now))   # then take a frame, write it
        budget.wrote(peer.id, loop.time())
    """

    def __init__(self, frames_per_second: float, window: float = 0.1) -> None:
        self.frames_per_second = frames_per_second
        self.window = window
        self._last: dict[int, float] = {}
        self._active = 0
        self._counted_at = float("-inf")

    def wrote(self, peer_id: int, now: float) -> None:
        """A writer wrote a frame at ``now``."""
        self._last[peer_id] = now

    def forget(self, peer_id: int) -> None:
        """A writer is gone."""
        self._last.pop(peer_id, None)

    def active(self, now: float) -> int:
        """Writers that wrote within the last ``window`` seconds (recounted every 10 ms)."""
        if now - self._counted_at > 0.01:
            since = now - self.window
            self._active = sum(1 for t in self._last.values() if t > since)
            self._counted_at = now
        return self._active

    def delay(self, last_write: float, now: float) -> float:
        """Seconds a writer whose last frame went at ``last_write`` should still wait."""
        if self.frames_per_second <= 0:
            return 0.0
        gap = self.active(now) / self.frames_per_second
        return max(0.0, last_write + gap - now)
