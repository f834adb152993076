"""A lean HTTP/1.1 client for the HTTP-fallback measurements, and the body splitters.

The receiving side of the stream, SSE and poll paths must cost as little as the WebSocket
path's :mod:`.ws_client` does, or the benchmark measures the client: so this is a raw
``asyncio.BufferedProtocol`` speaking just what these routes need — one request at a time
on a kept-alive connection, ``Content-Length`` and chunked bodies, the body handed to a
*sink* as it arrives. A body piece at least 64 KiB long that a sink can place (the rest of a
large v1 frame) is read from the socket straight into the frame's own buffer, with no
re-assembly copies, as :mod:`.ws_client` does for large WebSocket frames. (Tornado's client
with a ``streaming_callback``, measured on the stream side by side with this one, spent
about as much per small item and about twice the CPU per MiB of 1 MiB arrays.)

Sinks: :class:`FrameSplitter` cuts concatenated v1 frames apart by their 12-byte preamble
(the binary stream and the poll), :class:`SseSplitter` reads ``text/event-stream`` events
(``event: frame`` with a base64 frame, ``event: heartbeat`` with JSON)::

    conn = await HttpConnection.connect("127.0.0.1", 8888)
    resp = await conn.request("POST", "/nbchannel/session", headers={"Authorization": ...})
    await conn.request("GET", "/nbchannel/stream?session=...", sink=FrameSplitter(print))
"""

from __future__ import annotations

import asyncio
import binascii
from collections.abc import Callable
from typing import Protocol

from nbchannel.core.codec import PREAMBLE_SIZE, Limits

__all__ = ["BodySink", "FrameSplitter", "HttpConnection", "HttpResponse", "SseSplitter"]

_STAGE = 256 * 1024
#: Body pieces at least this big are read directly into their frame's buffer.
_DIRECT = 64 * 1024
#: Frames of any size the server may send (the server bounds them).
_LIMITS = Limits(max_frame_bytes=1 << 40, max_header_bytes=1 << 30)

# parser states
_IDLE, _HEAD, _SIZE, _DATA, _CRLF, _TRAILER, _UNTIL_CLOSE = range(7)


class BodySink(Protocol):
    """Where a response body goes as it arrives."""

    def feed(self, data: bytearray) -> None:
        """The next body bytes (the sink may keep ``data``)."""

    def direct(self, n: int) -> memoryview | None:
        """A buffer for up to ``n`` next body bytes to be read straight into, or None."""

    def filled(self, n: int) -> None:
        """``n`` bytes were read into the buffer :meth:`direct` gave."""


class HttpResponse:
    """Status, headers (lower-case names) and, unless a sink took it, the body."""

    def __init__(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = bytearray()


class HttpConnection(asyncio.BufferedProtocol):
    """One kept-alive HTTP/1.1 connection; :meth:`request` one request at a time."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.transport: asyncio.Transport | None = None
        self._stage = bytearray(_STAGE)
        self._len = 0
        self._state = _IDLE
        self._left = 0  # body bytes left in the current chunk (or Content-Length body)
        self._chunked = False
        self._direct = False  # the last get_buffer() was a sink's buffer
        self._resp: HttpResponse | None = None
        self._sink: BodySink | None = None
        self._done: asyncio.Future[HttpResponse] | None = None
        self._head_request = False

    @classmethod
    async def connect(cls, host: str, port: int, *, timeout: float = 30.0) -> HttpConnection:
        """Open a connection to ``host:port``."""
        loop = asyncio.get_running_loop()
        conn = cls(host, port)
        await asyncio.wait_for(loop.create_connection(lambda: conn, host, port), timeout)
        return conn

    @property
    def closed(self) -> bool:
        """Whether the connection is closed."""
        return self.transport is None or self.transport.is_closing()

    def request(
        self,
        method: str,
        target: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        sink: BodySink | None = None,
    ) -> asyncio.Future[HttpResponse]:
        """Send a request; the future resolves with the response once its body has ended.

        A ``200`` body goes to ``sink`` when one is given (else into ``response.body``).
        """
        if self.transport is None or self.transport.is_closing():
            raise ConnectionError("the HTTP connection is closed")
        if self._done is not None and not self._done.done():
            raise RuntimeError("one request at a time on an HttpConnection")
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body or method == "POST":
            lines.append(f"Content-Length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self._resp, self._sink, self._state = HttpResponse(), sink, _HEAD
        self._head_request = method == "HEAD"
        self._done = asyncio.get_running_loop().create_future()
        self.transport.write(head + body if len(body) < _DIRECT else head)
        if len(body) >= _DIRECT:
            self.transport.write(body)
        return self._done

    def close(self) -> None:
        """Close the connection (a request in flight fails with ConnectionError)."""
        if self.transport is not None:
            self.transport.close()

    # -- asyncio.BufferedProtocol ----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if self._state == _UNTIL_CLOSE:
            self._finish()
        elif self._done is not None and not self._done.done():
            self._done.set_exception(exc or ConnectionError("connection closed mid-response"))

    def get_buffer(self, sizehint: int) -> memoryview:
        if self._state == _DATA and self._len == 0 and self._left >= _DIRECT and self._sink:
            view = self._sink.direct(self._left)
            if view is not None:
                self._direct = True
                return view
        if self._len == len(self._stage):  # a header longer than the stage
            self._stage.extend(bytes(len(self._stage)))
        return memoryview(self._stage)[self._len :]

    def buffer_updated(self, nbytes: int) -> None:
        if self._direct:
            self._direct = False
            assert self._sink is not None
            self._sink.filled(nbytes)
            self._left -= nbytes
            if self._left == 0:
                self._end_of_data()
            return
        self._len += nbytes
        self._parse()

    # -- parsing ---------------------------------------------------------------------------

    def _body(self, data: bytearray) -> None:
        resp = self._resp
        assert resp is not None
        if self._sink is not None and resp.status == 200:
            self._sink.feed(data)
        else:
            resp.body += data

    def _end_of_data(self) -> None:
        if self._chunked:
            self._state = _CRLF
        else:
            self._finish()

    def _finish(self) -> None:
        self._state = _IDLE
        done, resp = self._done, self._resp
        if done is not None and not done.done() and resp is not None:
            done.set_result(resp)
        if resp is not None and resp.headers.get("connection", "").lower() == "close":
            self.close()

    def _parse(self) -> None:
        stage, pos, end = self._stage, 0, self._len
        while pos < end:
            state = self._state
            if state in (_DATA, _UNTIL_CLOSE):
                k = end - pos if state == _UNTIL_CLOSE else min(self._left, end - pos)
                self._body(stage[pos : pos + k])
                pos += k
                if state == _DATA:
                    self._left -= k
                    if self._left == 0:
                        self._end_of_data()
            elif state == _SIZE:
                eol = stage.find(b"\r\n", pos, end)
                if eol < 0:
                    break
                size = int(bytes(stage[pos:eol]).split(b";", 1)[0], 16)
                pos = eol + 2
                if size:
                    self._state, self._left = _DATA, size
                else:
                    self._state = _TRAILER
            elif state == _CRLF:
                if end - pos < 2:
                    break
                pos += 2
                self._state = _SIZE
            elif state == _TRAILER:
                eol = stage.find(b"\r\n", pos, end)
                if eol < 0:
                    break
                blank = eol == pos
                pos = eol + 2
                if blank:
                    self._finish()
            elif state == _HEAD:
                eoh = stage.find(b"\r\n\r\n", pos, end)
                if eoh < 0:
                    break
                self._head(bytes(stage[pos:eoh]))
                pos = eoh + 4
            else:  # _IDLE: bytes nobody asked for
                raise ConnectionError(
                    f"unexpected bytes from the server: {bytes(stage[pos:end])!r}"
                )
        rest = end - pos
        if pos and rest:
            stage[:rest] = stage[pos:end]
        self._len = rest

    def _head(self, head: bytes) -> None:
        resp = self._resp
        assert resp is not None
        lines = head.decode("latin-1").split("\r\n")
        status = lines[0].split(" ", 2)
        resp.status = int(status[1])
        for line in lines[1:]:
            name, _, value = line.partition(":")
            resp.headers[name.strip().lower()] = value.strip()
        self._chunked = "chunked" in resp.headers.get("transfer-encoding", "").lower()
        if resp.status in (204, 304) or 100 <= resp.status < 200 or self._head_request:
            self._finish()
        elif self._chunked:
            self._state = _SIZE
        elif "content-length" in resp.headers:
            self._left = int(resp.headers["content-length"])
            if self._left:
                self._state = _DATA
            else:
                self._finish()
        else:
            self._state = _UNTIL_CLOSE


class FrameSplitter:
    """A sink cutting concatenated v1 frames apart; ``on_frame`` gets each whole frame."""

    def __init__(self, on_frame: Callable[[bytearray], None]) -> None:
        self.on_frame = on_frame
        self._buf = bytearray()  # the start of a frame (less than its preamble, or small)
        self._frame: bytearray | None = None  # a large frame being filled
        self._filled = 0

    def direct(self, n: int) -> memoryview | None:
        frame = self._frame
        if frame is None:
            return None
        return memoryview(frame)[self._filled : self._filled + min(n, len(frame) - self._filled)]

    def filled(self, n: int) -> None:
        self._filled += n
        frame = self._frame
        if frame is not None and self._filled == len(frame):
            self._frame = None
            self.on_frame(frame)

    def feed(self, data: bytearray) -> None:
        frame = self._frame
        if frame is not None:
            k = min(len(data), len(frame) - self._filled)
            frame[self._filled : self._filled + k] = memoryview(data)[:k]
            self.filled(k)
            if k == len(data):
                return
            data = data[k:]
        if self._buf:
            self._buf += data
            data, self._buf = self._buf, bytearray()
        pos, end = 0, len(data)
        on_frame, check = self.on_frame, _LIMITS.check_preamble
        while end - pos >= PREAMBLE_SIZE:
            total = check(memoryview(data)[pos : pos + PREAMBLE_SIZE])
            if end - pos >= total:
                # the usual case on a stream: one whole frame per body piece, no copy
                on_frame(data if pos == 0 and total == end else data[pos : pos + total])
                pos += total
                continue
            if total >= _DIRECT:
                # read the rest of this frame straight into its own buffer
                big = bytearray(total)
                have = end - pos
                big[:have] = memoryview(data)[pos:end]
                self._frame, self._filled = big, have
                return
            break
        if pos < end:
            self._buf = data[pos:end] if pos else data


class SseSplitter:
    """A sink reading ``text/event-stream``: ``event: frame`` events carry a base64 v1 frame
    (to ``on_frame``), ``event: heartbeat`` events JSON (to ``on_heartbeat``, as bytes).

    Lines are found with a one-byte search (``memchr``): a base64 line holds no newline, so
    a frame's data line costs one scan of its bytes and its decoding."""

    def __init__(
        self, on_frame: Callable[[bytes], None], on_heartbeat: Callable[[bytes], None]
    ) -> None:
        self.on_frame = on_frame
        self.on_heartbeat = on_heartbeat
        self._buf = bytearray()  # the start of a line not yet ended
        self._event = b""
        self._data: bytes | None = None

    def direct(self, n: int) -> memoryview | None:
        return None

    def filled(self, n: int) -> None:  # pragma: no cover - direct() never gives a buffer
        raise AssertionError("SseSplitter reads no body directly")

    def feed(self, data: bytearray) -> None:
        scan = len(self._buf)  # no newline before this offset
        if scan:
            self._buf += data
            buf = self._buf
        else:
            buf = data
        pos, find = 0, buf.find
        while True:
            eol = find(b"\n", scan)
            if eol < 0:
                break
            if eol == pos:  # a blank line ends the event
                self._dispatch()
            elif buf.startswith(b"data: ", pos):
                if self._event == b"frame":
                    with memoryview(buf) as view:
                        self._data = binascii.a2b_base64(view[pos + 6 : eol])
                else:
                    self._data = bytes(buf[pos + 6 : eol])
            elif buf.startswith(b"event: ", pos):
                self._event = bytes(buf[pos + 7 : eol])
            # anything else (``retry:``, comments) is not for this client
            pos = scan = eol + 1
        self._buf = buf[pos:] if pos else buf

    def _dispatch(self) -> None:
        event, data = self._event, self._data
        self._event, self._data = b"", None
        if data is None:
            return
        if event == b"frame":
            self.on_frame(data)
        elif event == b"heartbeat":
            self.on_heartbeat(data)
