"""Paths A-stream, A-sse and A-poll: nbchannel with its HTTP fallbacks in place of the WebSocket.

The same kernel, ``LiveChannel`` and hub as path A (the very same kernel: these paths borrow
path A's), the same measurements (:class:`~benchmarks.nbc_path.NbcPath`'s), and a viewer
that speaks ``docs/http-transports.md`` instead of ``nbchannel/ws``: ``POST
nbchannel/session``, then a reader — ``GET nbchannel/stream`` (v1 frames, concatenated, in
a chunked body), the same with ``format=sse`` (base64 frames as ``text/event-stream``), or
``GET nbchannel/poll`` again and again on a kept-alive connection — and what it sends
(``sub``, browser events, ``ack`` events) as ``POST nbchannel/send``, one in flight, in
sequence, what queued meanwhile going in one frame, as a page would. Its receiving side is
the lean client of :mod:`.http_client` and counts with :mod:`.tally`, exactly as path A's.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from typing import Any, Literal

import orjson

from nbchannel.core.codec import encode_frame
from nbchannel.core.message import Message
from nbchannel.testing import JupyterServer

from .http_client import FrameSplitter, HttpConnection, SseSplitter
from .nbc_path import NbcPath, NbcReceiver

__all__ = ["HttpPath", "HttpReceiver", "Transport"]

Transport = Literal["stream", "sse", "poll"]

#: Table labels of the paths.
LABELS: dict[Transport, str] = {
    "stream": "A-stream HTTP stream",
    "sse": "A-sse SSE",
    "poll": "A-poll long-poll",
}


class HttpReceiver(NbcReceiver):
    """One HTTP session tallying one channel's stream, read by ``transport``."""

    def __init__(self, server: JupyterServer, transport: Transport) -> None:
        super().__init__()
        self.transport: Transport = transport
        parts = urllib.parse.urlsplit(server.url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.base = parts.path if parts.path.endswith("/") else parts.path + "/"
        self.headers = {"Authorization": f"token {server.token}"}
        self.session = ""
        self.closed = False
        #: Requests made: POSTs to ``send`` and GETs of ``poll`` (with their 204s).
        self.posts = 0
        self.polls = 0
        self.empty_polls = 0
        self._seq = 0
        self._post: HttpConnection | None = None
        self._get: HttpConnection | None = None
        self._out: list[Message] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    async def open(
        cls, server: JupyterServer, transport: Transport, *, timeout: float = 30.0
    ) -> HttpReceiver:
        """Create a session and attach its reader (a stream: until its first heartbeat)."""
        rx = cls(server, transport)
        rx._post = await HttpConnection.connect(rx.host, rx.port, timeout=timeout)
        resp = await asyncio.wait_for(
            rx._post.request("POST", rx.base + "nbchannel/session", headers=rx.headers), timeout
        )
        if resp.status != 200:
            rx.close()
            raise ConnectionError(
                f"POST nbchannel/session: HTTP {resp.status} {bytes(resp.body)!r}"
            )
        rx.session = orjson.loads(resp.body)["session"]
        rx._get = await HttpConnection.connect(rx.host, rx.port, timeout=timeout)
        reader = rx._poll_loop() if transport == "poll" else rx._stream()
        rx._tasks = [asyncio.ensure_future(reader), asyncio.ensure_future(rx._send_loop())]
        if transport != "poll":
            beat = asyncio.ensure_future(rx.heartbeat.wait())
            await asyncio.wait((beat, rx._tasks[0]), timeout=timeout, return_when="FIRST_COMPLETED")
            if not beat.done():
                beat.cancel()
                rx.close()
                why = "; ".join(map(str, rx.errors)) or f"no heartbeat within {timeout} s"
                raise ConnectionError(f"the {transport} did not attach: {why}")
        return rx

    def _url(self, route: str, **query: Any) -> str:
        return f"{self.base}nbchannel/{route}?{urllib.parse.urlencode(query)}"

    # -- reading ---------------------------------------------------------------------------

    async def _stream(self) -> None:
        assert self._get is not None
        if self.transport == "sse":
            url = self._url("stream", session=self.session, format="sse")
            sink: Any = SseSplitter(self._on_frame, self._on_sse_heartbeat)
        else:
            url = self._url("stream", session=self.session)
            sink = FrameSplitter(self._on_frame)
        try:
            resp = await self._get.request("GET", url, headers=self.headers, sink=sink)
        except ConnectionError as exc:
            if not self.closed:
                self.errors.append(f"stream cut: {exc}")
            return
        if resp.status != 200:
            self.errors.append(f"stream: HTTP {resp.status} {bytes(resp.body)[:200]!r}")

    def _on_sse_heartbeat(self, data: bytes) -> None:
        self.heartbeat.set()

    async def _poll_loop(self) -> None:
        get = self._get
        assert get is not None
        url = self._url("poll", session=self.session)
        sink = FrameSplitter(self._on_frame)
        while not self.closed:
            try:
                resp = await get.request("GET", url, headers=self.headers, sink=sink)
            except ConnectionError as exc:
                if not self.closed:
                    self.errors.append(f"poll failed: {exc}")
                return
            self.polls += 1
            if resp.status == 204:
                self.empty_polls += 1
            elif resp.status != 200:
                self.errors.append(f"poll: HTTP {resp.status} {bytes(resp.body)[:200]!r}")
                return

    # -- sending ---------------------------------------------------------------------------

    async def send(self, msg: Message) -> None:
        """Send ``msg`` (with whatever else is queued) as the next POST; wait for its answer."""
        done = asyncio.get_running_loop().create_future()
        self._out.append(msg)
        self._waiters.append(done)
        self._wake.set()
        await done

    def _send_ack(self, ack: Message) -> None:
        self._out.append(ack)
        self._wake.set()

    async def _send_loop(self) -> None:
        post = self._post
        assert post is not None
        while not self.closed:
            await self._wake.wait()
            self._wake.clear()
            while self._out:
                msgs, self._out = self._out, []
                waiters, self._waiters = self._waiters, []
                self._seq += 1
                url = self._url("send", session=self.session, seq=self._seq)
                error: Exception | None = None
                try:
                    resp = await post.request(
                        "POST", url, headers=self.headers, body=encode_frame(msgs)
                    )
                    self.posts += 1
                    if resp.status != 200:
                        error = ConnectionError(
                            f"POST send: HTTP {resp.status} {bytes(resp.body)!r}"
                        )
                except ConnectionError as exc:
                    error = exc
                for w in waiters:
                    if not w.done():
                        if error is None:
                            w.set_result(None)
                        else:
                            w.set_exception(error)
                if error is not None:
                    self.errors.append(str(error))

    def close(self) -> None:
        """Stop reading and sending; the server closes the session when it expires."""
        self.closed = True
        for task in self._tasks:
            task.cancel()
        for conn in (self._get, self._post):
            if conn is not None:
                conn.close()
        for w in self._waiters:
            if not w.done():
                w.cancel()


class HttpPath(NbcPath):
    """Path A's kernel and measurements, its viewers on an HTTP transport."""

    def __init__(self, base: NbcPath, transport: Transport) -> None:
        super().__init__(base.server, base.kernel_id, base.ctl)
        self.transport: Transport = transport
        self.key = f"A-{transport}"
        self.label = LABELS[transport]

    async def _connect(self) -> NbcReceiver:
        return await HttpReceiver.open(self.server, self.transport)

    async def close(self) -> None:
        """Nothing of its own to stop: the kernel is path A's."""
