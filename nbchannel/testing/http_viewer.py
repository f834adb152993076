"""A Python client of the HTTP fallbacks (stream, SSE, poll) — the browser protocol over HTTP.

:class:`HttpViewer` is a :class:`~nbchannel.testing.viewer.Viewer` whose connection is an
HTTP session instead of a WebSocket: the same :class:`~nbchannel.testing.viewer.ChannelView`
objects, the same ``subscribe``/``event``/``wait_for``. Underneath it follows
``docs/http-transports.md`` the way a page should: it creates a session, attaches a stream
(binary or SSE) or polls, POSTs what it sends with sequence numbers (retrying a POST with the
same number), and when a stream is cut or a poll fails it attaches again with ``after=N``
and POSTs ``sub`` with epoch and next offset for every channel it watches (``seq=N``); when
the session is gone (410) it makes a new one and does the same.

::

    viewer = await HttpViewer.connect(server.url, token=server.token, transport="poll")
    view = await viewer.subscribe(kernel_id, "sensor")
    await viewer.wait_for(lambda: len(view.items) >= 10)
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
import urllib.parse
from collections.abc import Callable
from typing import Any, Literal, cast

from tornado import httputil
from tornado.http1connection import HTTP1Connection, HTTP1ConnectionParameters
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.iostream import IOStream, StreamClosedError
from tornado.tcpclient import TCPClient

from ..core import protocol as P
from ..core.codec import PREAMBLE_SIZE, Limits, decode_frame, encode_frame
from ..core.message import Message
from .viewer import ChannelView, Viewer

__all__ = ["HttpError", "HttpViewer", "Transport"]

Transport = Literal["stream", "sse", "poll"]
#: Frames up to any size the server may send (the server bounds them).
_LIMITS = Limits(max_frame_bytes=1 << 40, max_header_bytes=1 << 30)


class HttpError(Exception):
    """An endpoint answered with an error status; ``status`` and the JSON ``body``."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


class _Response(httputil.HTTPMessageDelegate):
    """Collects one response; hands body chunks to ``on_data`` as they arrive."""

    def __init__(self, on_data: Callable[[bytes], None] | None) -> None:
        self.status = 0
        self.headers = httputil.HTTPHeaders()
        self.body = bytearray()
        self.complete = False
        self.on_data = on_data
        self.got_headers = asyncio.Event()

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> None:
        assert isinstance(start_line, httputil.ResponseStartLine)
        self.status = start_line.code
        self.headers = headers
        self.got_headers.set()

    def data_received(self, chunk: bytes) -> None:
        if self.on_data is not None and self.status == 200:
            self.on_data(chunk)
        else:
            self.body += chunk

    def finish(self) -> None:
        self.complete = True

    def on_connection_close(self) -> None:
        self.got_headers.set()


class _HttpConnection:
    """What :class:`Viewer` calls on its ``conn``: ``write_message``, ``read_message``,
    ``close`` — over an HTTP session."""

    def __init__(
        self,
        base_url: str,
        transport: Transport,
        headers: dict[str, str],
        timeout: float,
    ) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        parts = urllib.parse.urlsplit(self.base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.transport: Transport = transport
        self.headers = headers
        self.timeout = timeout
        self.viewer: HttpViewer | None = None
        self.session = ""
        self.info: dict[str, Any] = {}
        self.seq = 0
        self._lock = asyncio.Lock()
        self._frames: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._closed = False
        self._stream: IOStream | None = None
        self._runner: asyncio.Task[None] | None = None
        self._client = AsyncHTTPClient()
        #: Arrival times (``time.monotonic()``) of heartbeats, and how streams ended.
        self.heartbeats: list[float] = []
        self.ends: list[str] = []
        #: Attaches made, resumes (re-subscribing after a cut) and sessions created.
        self.attaches = 0
        self.resumes = 0
        self.sessions: list[str] = []
        #: Status codes of failed polls or streams (proxy errors, timeouts).
        self.failures: list[str] = []

    # -- plain requests --------------------------------------------------------------------

    def url(self, path: str, **query: Any) -> str:
        q = urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        return self.base_url + path + ("?" + q if q else "")

    async def request(self, method: str, path: str, body: bytes | None = None, **query: Any) -> Any:
        """A POST or GET that returns the decoded JSON; :class:`HttpError` on an error."""
        req = HTTPRequest(
            self.url(path, **query),
            method=method,
            headers=dict(self.headers),
            body=body if method == "POST" else None,
            request_timeout=self.timeout,
            follow_redirects=False,
        )
        resp = await self._client.fetch(req, raise_error=False)
        if resp.code == 599:
            raise ConnectionError(f"{method} {path}: {resp.error}")
        data: Any = None
        if resp.body:
            try:
                data = json.loads(resp.body)
            except ValueError:
                data = resp.body.decode(errors="replace")
        if resp.code >= 300:
            raise HttpError(resp.code, data)
        return data

    async def new_session(self) -> None:
        info = await self.request("POST", "nbchannel/session", b"")
        self.info = info
        self.session = info["session"]
        self.seq = 0
        self.sessions.append(self.session)

    async def _post(self, frame: bytes, seq: int) -> Any:
        """POST one frame as ``seq``; a POST whose answer is lost is sent again as is."""
        for attempt in range(5):
            try:
                return await self.request(
                    "POST", "nbchannel/send", frame, session=self.session, seq=seq
                )
            except ConnectionError:
                if attempt == 4 or self._closed:
                    raise
                await asyncio.sleep(0.2)
        return None  # pragma: no cover

    # -- what Viewer calls -----------------------------------------------------------------

    async def write_message(self, data: bytes, binary: bool = True) -> None:
        """Send one frame (POST, next sequence number)."""
        async with self._lock:
            seq = self.seq + 1
            await self._post(data, seq)
            self.seq = seq

    async def read_message(self) -> bytes | None:
        """The next frame received (heartbeats excluded); None once closed."""
        frame = await self._frames.get()
        if frame is None:
            self._frames.put_nowait(None)  # stays closed for later reads
        return frame

    def close(self) -> None:
        self._closed = True
        if self._stream is not None:
            self._stream.close()
        if self._runner is not None:
            self._runner.cancel()
        self._frames.put_nowait(None)

    # -- the reader ------------------------------------------------------------------------

    def start(self) -> None:
        self._runner = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        resume = False
        try:
            while not self._closed:
                if resume:
                    outcome = await self._resume()
                else:
                    outcome = await self._read_once(0, None)
                if outcome == "replaced":
                    break
                if outcome == "gone":
                    await self.new_session()
                resume = outcome != "ok"
                if resume and outcome != "gone":
                    await asyncio.sleep(0.05)  # a proxy refusing at once: do not spin
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # the viewer is dead: wake its reader
            self.failures.append(f"reader stopped: {exc!r}")
        finally:
            self._closed = True
            self._frames.put_nowait(None)

    async def _resume(self) -> str:
        """Attach with ``after=N``, then POST ``sub`` with epoch and offset for every channel."""
        assert self.viewer is not None
        subs = [
            Message(
                P.SUBSCRIBE,
                v.name,
                scope=v.scope,
                epoch=v.epoch,
                offset=v.next_offset if v.epoch is not None else None,
            )
            for key, v in self.viewer.views.items()
            if key in self.viewer.subscribed
        ]
        if not subs:
            return await self._read_once(0, None)
        self.resumes += 1
        async with self._lock:
            after = self.seq + 1
            attached = asyncio.Event()
            reader = asyncio.ensure_future(self._read_once(after, attached))
            # a stream is attached once its first heartbeat arrived; a poll once it is sent
            waiter = asyncio.ensure_future(attached.wait())
            await asyncio.wait((reader, waiter), return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if not reader.done():
                try:
                    await self._post(encode_frame(subs), after)
                    self.seq = after
                except HttpError as exc:
                    if exc.status != 410:
                        raise
        return await reader

    async def _read_once(self, after: int, attached: asyncio.Event | None) -> str:
        """One stream or poll: ``ok`` (a poll answered), ``replaced``, ``gone`` (410) or
        ``cut`` (ended without saying why: frames may be lost)."""
        path = "nbchannel/poll" if self.transport == "poll" else "nbchannel/stream"
        query: dict[str, Any] = {"session": self.session, "after": after or None}
        if self.transport == "sse":
            query["format"] = "sse"
        self.attaches += 1
        parser = _SseParser(self) if self.transport == "sse" else _FrameSplitter(self)
        on_data = None if self.transport == "poll" else parser.feed
        if self.transport == "poll" and attached is not None:
            attached.set()
        elif attached is not None:
            parser.attached = attached
        try:
            resp = await self._get(self.url(path, **query), on_data)
        except (OSError, StreamClosedError, httputil.HTTPInputError) as exc:
            self.failures.append(f"{path}: {exc!r}")
            self.ends.append("cut")
            return "cut"
        if resp.status == 410:
            return "gone"
        if self.transport == "poll":
            if resp.status == 204 and resp.complete:
                return "ok"
            if resp.status == 200 and resp.complete:
                parser.feed(bytes(resp.body))
                return "ok"
            self.failures.append(f"poll: HTTP {resp.status}, complete={resp.complete}")
            return "cut"
        if resp.status != 200:
            self.failures.append(f"stream: HTTP {resp.status} {bytes(resp.body)[:200]!r}")
            return "cut"
        end = parser.end
        if end is not None:
            self.ends.append(end)
            return "gone" if end in ("closed", "expired") else end
        self.ends.append("cut")
        return "cut"

    async def _get(self, url: str, on_data: Callable[[bytes], None] | None) -> _Response:
        """A GET on a connection of its own (so that :meth:`close` can cut it)."""
        stream = await TCPClient().connect(self.host, self.port)
        self._stream = stream
        conn = HTTP1Connection(
            stream,
            True,
            HTTP1ConnectionParameters(no_keep_alive=True, max_body_size=1 << 40, decompress=True),
        )
        target = urllib.parse.urlsplit(url)
        headers = httputil.HTTPHeaders(self.headers)
        headers["Host"] = f"{self.host}:{self.port}"
        headers["Connection"] = "close"
        headers.setdefault("Accept-Encoding", "gzip")  # as browsers do
        resp = _Response(on_data)
        try:
            await conn.write_headers(
                httputil.RequestStartLine("GET", f"{target.path}?{target.query}", "HTTP/1.1"),
                headers,
            )
            conn.finish()
            await conn.read_response(resp)
        finally:
            stream.close()
            if self._stream is stream:
                self._stream = None
        return resp

    # -- what arrives ----------------------------------------------------------------------

    def heartbeat(self, value: dict[str, Any]) -> None:
        self.heartbeats.append(time.monotonic())

    def frame(self, frame: bytes) -> None:
        self._frames.put_nowait(frame)


class _FrameSplitter:
    """Cuts concatenated v1 frames apart (each preamble gives the frame's length)."""

    def __init__(self, conn: _HttpConnection) -> None:
        self.conn = conn
        self.buf = bytearray()
        self.end: str | None = None
        self.attached: asyncio.Event | None = None

    def feed(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        while len(buf) >= PREAMBLE_SIZE:
            total = _LIMITS.check_preamble(buf[:PREAMBLE_SIZE])
            if len(buf) < total:
                return
            frame = bytes(buf[:total])
            del buf[:total]
            if len(frame) < 512:
                msgs = decode_frame(frame, _LIMITS)
                if len(msgs) == 1 and msgs[0].kind == P.HEARTBEAT:
                    self.on_heartbeat(msgs[0].value())
                    continue
            self.conn.frame(frame)

    def on_heartbeat(self, value: dict[str, Any]) -> None:
        self.conn.heartbeat(value)
        if "end" in value:
            self.end = str(value["end"])
        if self.attached is not None:
            self.attached.set()


class _SseParser(_FrameSplitter):
    """``text/event-stream``: ``event: frame`` (base64 frames) and ``event: heartbeat``."""

    def __init__(self, conn: _HttpConnection) -> None:
        super().__init__(conn)
        self.text = b""
        self.event = ""
        self.data: list[bytes] = []

    def feed(self, data: bytes) -> None:
        self.text += data
        *lines, self.text = self.text.split(b"\n")
        for line in lines:
            if not line:
                self._dispatch()
            elif line.startswith(b"event:"):
                self.event = line[6:].strip().decode()
            elif line.startswith(b"data:"):
                self.data.append(line[5:].lstrip(b" "))

    def _dispatch(self) -> None:
        event, data = self.event, b"\n".join(self.data)
        self.event, self.data = "", []
        if event == "frame":
            self.conn.frame(base64.b64decode(data))
        elif event == "heartbeat":
            self.on_heartbeat(json.loads(data))


class HttpViewer(Viewer):
    """A :class:`Viewer` over the HTTP fallbacks: ``transport`` is stream, sse or poll."""

    def __init__(self, conn: _HttpConnection) -> None:
        super().__init__(cast(Any, conn))
        self.http = conn
        conn.viewer = self
        #: Channels subscribed to (re-subscribed with epoch and offset after a cut).
        self.subscribed: set[tuple[str, str]] = set()

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 10.0,
        transport: Transport = "stream",
    ) -> HttpViewer:
        """Create a session at the server's ``url`` (its base URL) and attach a reader."""
        hdrs = dict(headers or {})
        if token:
            hdrs["Authorization"] = f"token {token}"
        conn = _HttpConnection(url, transport, hdrs, timeout)
        viewer = cls(conn)
        await conn.new_session()
        conn.start()
        return viewer

    @property
    def session(self) -> str:
        """The current session id."""
        return self.http.session

    @property
    def heartbeats(self) -> list[float]:
        """Arrival times (``time.monotonic()``) of every heartbeat received."""
        return self.http.heartbeats

    async def subscribe(self, scope: str, name: str, *, resume: bool = False) -> ChannelView:
        """Subscribe (remembered, so a resume subscribes again)."""
        self.subscribed.add((scope, name))
        return await super().subscribe(scope, name, resume=resume)

    async def unsubscribe(self, scope: str, name: str) -> None:
        """Stop receiving a channel."""
        self.subscribed.discard((scope, name))
        await super().unsubscribe(scope, name)

    async def close(self) -> None:
        """Stop reading; the server closes the session when it expires."""
        self.http.close()
        self.closed = True
        with contextlib.suppress(asyncio.CancelledError):
            if self.http._runner is not None:
                await self.http._runner
