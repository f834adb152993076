"""A Python client that speaks the browser protocol — for tests, benchmarks and scripts.

It applies what it receives the way the browser client does (``js/src/apply.js``; both run
the recorded sequences of ``tests/fixtures/apply/``): nothing before the first
``subscribed``; a ``subscribed`` with ``reset`` clears the channel's view, ``set``/``unset``
update its state, ``append`` items are kept with their offsets (one whose offset was
already seen is dropped and noted in ``duplicates``), and ``gap`` markers are recorded.
Reconnecting and calling
:meth:`Viewer.subscribe` with ``resume=True`` resumes every channel from its last offset.

::

    viewer = await Viewer.connect(server.ws_url, token=server.token)
    view = await viewer.subscribe(kernel_id, "sensor")
    await viewer.wait_for(lambda: len(view.items) >= 10)
    await viewer.event(kernel_id, "sensor", "click", {"x": 1})
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from ..core import protocol as P
from ..core.codec import decode_frame, encode_frame
from ..core.message import Message, Segment

__all__ = ["ChannelView", "Viewer"]


@dataclass
class ChannelView:
    """What a viewer knows of one channel."""

    scope: str
    name: str
    epoch: int | None = None
    waiting: bool = True
    closed: bool = False
    state: dict[str, Any] = field(default_factory=dict)
    #: ``(offset, value)`` of every stream item received since the last reset.
    items: list[tuple[int, Any]] = field(default_factory=list)
    #: Transient messages received (``value``, receive time).
    published: list[tuple[Any, float]] = field(default_factory=list)
    gaps: list[dict[str, Any]] = field(default_factory=list)
    resets: int = 0
    #: Offset of the next item expected.
    next_offset: int = 0
    #: Whether a ``subscribed`` arrived (what comes before belongs to an earlier subscription).
    ready: bool = False
    #: Offsets of appends dropped because they were already seen (a replay that overlapped
    #: what an earlier connection delivered). A hub that resumes right sends none.
    duplicates: list[int] = field(default_factory=list)

    def apply(self, msg: Message) -> None:
        """Update the view with one message from the hub."""
        kind = msg.kind
        if kind != P.SUBSCRIBED and not self.ready:
            return
        if kind == P.APPEND:
            first = msg.offset
            assert first is not None
            values = msg.values() if isinstance(msg, Segment) else [msg.value()]
            for off, value in enumerate(values, first):
                if off < self.next_offset:
                    self.duplicates.append(off)
                    continue
                self.items.append((off, value))
                self.next_offset = off + 1
        elif kind == P.PUBLISH:
            self.published.append((msg.value(), time.time()))
        elif kind == P.SET:
            assert msg.key is not None
            self.state[msg.key] = msg.value()
        elif kind == P.UNSET:
            self.state.pop(msg.key or "", None)
        elif kind == P.SUBSCRIBED:
            info = msg.value()
            self.ready = True
            self.waiting = info["waiting"]
            self.closed = False
            # the whole state follows every `subscribed`; keys not in it were deleted
            self.state.clear()
            if info["reset"]:
                self.resets += 1
                self.items.clear()
                self.next_offset = info["tail"]
            self.epoch = info["epoch"]
        elif kind == P.GAP:
            info = dict(msg.value())
            info["offset"] = msg.offset
            self.gaps.append(info)
            if msg.offset is not None and "end" in info and info["end"] > self.next_offset:
                self.next_offset = info["end"]
        elif kind == P.CLOSED:
            self.closed = True
            self.waiting = True


class Viewer:
    """One WebSocket to ``{base_url}nbchannel/ws``, multiplexing many channels."""

    def __init__(self, conn: WebSocketClientConnection) -> None:
        self.conn = conn
        self.views: dict[tuple[str, str], ChannelView] = {}
        self.errors: list[dict[str, Any]] = []
        self.frames = 0
        self.closed = False

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 10.0,
    ) -> Viewer:
        """Open the WebSocket; ``token`` is sent as ``Authorization: token ...``."""
        hdrs = dict(headers or {})
        if token:
            hdrs["Authorization"] = f"token {token}"
        req = HTTPRequest(url, headers=hdrs, connect_timeout=timeout, request_timeout=timeout)
        conn = await websocket_connect(req, max_message_size=1 << 31)
        return cls(conn)

    def view(self, scope: str, name: str) -> ChannelView:
        """The view of a channel (created empty if needed)."""
        key = (scope, name)
        v = self.views.get(key)
        if v is None:
            v = self.views[key] = ChannelView(scope, name)
        return v

    async def send(self, *msgs: Message) -> None:
        """Send messages in one frame."""
        await self.conn.write_message(encode_frame(msgs), binary=True)

    async def subscribe(self, scope: str, name: str, *, resume: bool = False) -> ChannelView:
        """Subscribe; with ``resume``, ask for what was missed since the last item seen."""
        v = self.view(scope, name)
        epoch = v.epoch if resume else None
        offset = v.next_offset if resume and v.epoch is not None else None
        await self.send(Message(P.SUBSCRIBE, name, scope=scope, epoch=epoch, offset=offset))
        return v

    async def unsubscribe(self, scope: str, name: str) -> None:
        """Stop receiving a channel."""
        await self.send(Message(P.UNSUBSCRIBE, name, scope=scope))

    async def consumed(self, scope: str, name: str) -> None:
        """On a ``flow="block"`` channel: say every item received so far is consumed."""
        v = self.view(scope, name)
        await self.send(Message(P.CONSUMED, name, scope=scope, offset=v.next_offset))

    async def event(self, scope: str, name: str, event: str, value: Any = None) -> None:
        """Send an event to the channel's kernel."""
        await self.send(Message.create(P.EVENT, name, value, scope=scope, key=event))

    async def receive(self, timeout: float | None = None) -> list[Message] | None:
        """Read one frame and apply it; None when the connection closed."""
        data = await asyncio.wait_for(self.conn.read_message(), timeout)
        if data is None:
            self.closed = True
            return None
        if isinstance(data, str):
            raise ValueError(f"unexpected text message: {data!r}")
        msgs = decode_frame(data)
        self.frames += 1
        for m in msgs:
            if m.kind == P.ERROR:
                info = dict(m.value())
                info["about"] = m.key
                info["channel"] = m.channel
                self.errors.append(info)
            elif m.scope is not None:
                self.view(m.scope, m.channel).apply(m)
        return msgs

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Read and apply frames until ``predicate()`` holds; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("condition not met in time")
            try:
                if await self.receive(left) is None:
                    raise ConnectionError("the server closed the WebSocket")
            except asyncio.TimeoutError:
                raise TimeoutError("condition not met in time") from None

    async def close(self) -> None:
        """Close the WebSocket."""
        self.conn.close()
        self.closed = True
