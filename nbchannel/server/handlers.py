"""Browser endpoints: the multiplexed channel WebSocket and the JSON API.

Both use Jupyter's own authentication (cookie or token) and authorizer, like
jupyter-server's kernel WebSocket; the WebSocket also keeps Jupyter's origin check
(``WebSocketMixin.check_origin``), so a page on a foreign origin holding only the login
cookie is refused with 403.

The handlers are thin: bytes in → :func:`~nbchannel.core.codec.decode_frame` →
:meth:`Hub.receive <nbchannel.core.hub.Hub.receive>`; frames out ← the peer's outbox.

Outgoing frames are written straight to the connection's ``IOStream``, one WebSocket
header followed by the frame's parts, because tornado's public ``write_message`` wants one
``bytes`` and copies it once more. That reaches into tornado internals
(``ws_connection.stream``, ``is_closing``, ``mask_outgoing``, ``_compressor``, and for the
fan-out's idle check the stream's ``_closed`` and ``_write_buffer._size``), so the first
frame checks that they look as expected (:func:`direct_write_problem`) and otherwise every
frame goes through ``write_message``; the server log says once which way is used.
``NBCHANNEL_WS_DIRECT_WRITE=0`` in the server's environment forces ``write_message``.
pyproject.toml bounds tornado to the versions this was tested with.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import struct
from collections.abc import Awaitable, Callable, Generator
from pathlib import Path
from typing import Any

import orjson
import tornado
from jupyter_server.auth.decorator import authorized, ws_authenticated
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado import web
from tornado.iostream import IOStream, StreamClosedError
from tornado.websocket import WebSocketClosedError, WebSocketHandler, WebSocketProtocol13

from .._version import __version__
from ..core.codec import Limits, decode_frame
from ..core.hub import Hub
from ..core.peer import Peer
from ..errors import FrameError, MalformedFrame
from .access import is_authorized, receive_from_viewer

__all__ = [
    "ChannelSocketHandler",
    "ChannelsApiHandler",
    "direct_write_problem",
    "write_binary_frame",
    "write_loop",
]

#: The resource name the authorizer sees for nbchannel endpoints.
AUTH_RESOURCE = "nbchannel"
#: Shorter pauses are not worth a timer (the event loop's resolution is about 1 ms).
_MIN_SLEEP = 0.001
#: Frames up to this size are joined and written at once (one system call).
_JOIN_BELOW = 64 * 1024
#: Set to "0" in the server's environment to write every frame with ``write_message``.
ENV_DIRECT_WRITE = "NBCHANNEL_WS_DIRECT_WRITE"
#: Where this package lives, reported by the JSON API (which copy did the server load?).
PACKAGE_PATH = str(Path(__file__).resolve().parent.parent)
#: Where write_binary_frame logs when the handler has no ``log`` of its own (not Jupyter's).
_log = logging.getLogger("nbchannel")
#: How frames are written, decided at the first frame: "direct" or "write_message".
_write_path: str | None = None


def _ws_header(size: int) -> bytes:
    """The RFC 6455 header of one final, unmasked binary frame of ``size`` bytes."""
    if size < 126:
        return bytes((0x82, size))
    if size < 1 << 16:
        return struct.pack("!BBH", 0x82, 126, size)
    return struct.pack("!BBQ", 0x82, 127, size)


class ChannelSocketHandler(WebSocketMixin, WebSocketHandler, JupyterHandler):
    """``{base_url}nbchannel/ws``: one binary WebSocket per page, carrying many channels."""

    auth_resource = AUTH_RESOURCE
    peer: Peer | None = None
    _writer: asyncio.Future[None] | None = None
    _may_send_events = False

    def set_default_headers(self) -> None:
        """No HTML security headers on a WebSocket upgrade (as jupyter-server's kernel socket)."""

    @property
    def hub(self) -> Hub:
        hub: Hub = self.settings["nbchannel_hub"]
        return hub

    @property
    def limits(self) -> Limits:
        return self.hub.config.limits

    @property
    def max_message_size(self) -> int:
        """Frames over ``c.NbChannel.max_frame_bytes`` close the socket with code 1009."""
        return self.limits.max_frame_bytes

    def get_compression_options(self) -> dict[str, Any] | None:
        """No per-message compression: numpy buffers do not compress and it costs CPU."""
        return None

    @ws_authenticated
    async def get(self, *args: Any, **kwargs: Any) -> None:
        """Authorize (``read`` to watch; ``execute`` to send events), then upgrade."""
        if not await is_authorized(self, "read"):
            raise web.HTTPError(403)
        self._may_send_events = await is_authorized(self, "execute")
        await super().get(*args, **kwargs)

    def open(self, *args: Any, **kwargs: Any) -> None:
        """Register with the hub and start writing its outbox to the socket."""
        super().open(*args, **kwargs)
        # Live data is latency-bound: without this, Nagle's algorithm holds a small frame
        # back until the previous one is acknowledged, and the page's delayed ACK makes that
        # up to 40 ms. Frames are already batched by the outbox, so nothing is gained by it.
        self.set_nodelay(True)
        user = self.current_user
        name = getattr(user, "username", None) or "viewer"
        self.peer = self.hub.connect_subscriber(f"{name}@{self.request.remote_ip}")
        self._writer = asyncio.ensure_future(self._write_loop(self.peer))
        # a run of items fanned out to many viewers goes straight to the sockets that keep up
        self.peer.send_now = functools.partial(send_if_idle, self)

    async def _write_loop(self, peer: Peer) -> None:
        await write_loop(self.hub, peer, self._write_frame)

    def _write_frame(self, parts: list[bytes | memoryview]) -> Awaitable[None]:
        """Write one binary WebSocket frame made of ``parts``; resolves once it is sent."""
        return write_binary_frame(self, parts)

    def on_message(self, message: str | bytes) -> None:
        """Decode one frame and hand its messages to the hub; bad frames get an error."""
        peer = self.peer
        if peer is None:
            return
        if isinstance(message, str):
            self.hub.send_error(
                peer, MalformedFrame("nbchannel speaks binary frames; text message ignored")
            )
            return
        try:
            msgs = decode_frame(message, self.limits)
        except FrameError as exc:
            self.log.info("nbchannel: bad frame from %s: %s", peer.name, exc)
            self.hub.send_error(peer, exc)
            return
        receive_from_viewer(self.hub, peer, msgs, may_send_events=self._may_send_events)

    def on_close(self) -> None:
        """Leave the hub; the write loop ends by itself."""
        if self.peer is not None:
            self.hub.disconnect(self.peer)
        if self._writer is not None and not self._writer.done():
            self._writer.cancel()

    def on_finish(self) -> None:  # pragma: no cover - tornado hook after close
        with contextlib.suppress(Exception):
            super().on_finish()


class ChannelsApiHandler(APIHandler):
    """``GET {base_url}nbchannel/api/channels``: channels, connections, rates and drops."""

    auth_resource = AUTH_RESOURCE

    @web.authenticated
    @authorized
    async def get(self) -> None:
        """Reply with the hub's observability snapshot."""
        hub: Hub = self.settings["nbchannel_hub"]
        listener = self.settings.get("nbchannel_listener")
        body = {
            "version": __version__,
            "package_path": PACKAGE_PATH,
            "channels": hub.channels_info(),
            "peers": hub.peers_info(),
            "kernel_listener": {
                "address": str(listener.address) if listener is not None else None,
                "refused": listener.refused if listener is not None else 0,
            },
        }
        self.set_header("Content-Type", "application/json")
        self.finish(orjson.dumps(body))


async def write_loop(
    hub: Hub, peer: Peer, write_frame: Callable[[list[bytes | memoryview]], Awaitable[None]]
) -> None:
    """Write ``peer``'s outbox with ``write_frame`` (one WebSocket frame each, resolving once
    sent) until the peer or the socket closes, paced by the hub's frame budget.

    Shared by every WebSocket that serves a hub's subscribers (the server extension's and
    the relay's).
    """
    budget = hub.frame_budget
    loop = asyncio.get_running_loop()
    last = float("-inf")
    sending: Awaitable[None] | None = None
    try:
        while not peer.closed:
            if sending is not None and not peer.pending:
                await sending  # nothing else to send: let the last frame finish
                sending = None
            await peer.wait()
            delay = budget.delay(last, loop.time())
            if delay >= _MIN_SLEEP:
                # many viewers are busy: let more messages join this frame meanwhile
                await asyncio.sleep(delay)
            parts = peer.take_frame()
            if parts is None:
                continue
            # Awaiting the writes is the backpressure: a slow page makes this loop
            # wait, its outbox fills, and the hub starts coalescing and dropping for it
            # alone. One frame is queued behind the one being sent, so the socket
            # never waits for this loop to come round.
            written = write_frame(parts)
            if sending is not None:
                await sending
            sending = written
            last = loop.time()
            budget.wrote(peer.id, last)
    except (WebSocketClosedError, StreamClosedError):
        pass
    finally:
        budget.forget(peer.id)
        if isinstance(sending, asyncio.Future):
            # a frame still in flight fails when the socket closes: nobody is told
            sending.add_done_callback(_ignore_result)


def direct_write_problem(handler: WebSocketHandler) -> str | None:
    """Why frames cannot be written straight to ``handler``'s stream (None: they can).

    The direct path writes an RFC 6455 header and the payload to the connection's
    ``IOStream``, which is only what ``write_message`` would send if the connection is
    tornado's ``WebSocketProtocol13`` on the server side (frames unmasked), without
    per-message compression, and its ``stream`` is an ``IOStream``.
    """
    if os.environ.get(ENV_DIRECT_WRITE, "").strip() == "0":
        return f"turned off ({ENV_DIRECT_WRITE}=0)"
    conn = handler.ws_connection
    if not isinstance(conn, WebSocketProtocol13):
        return f"the connection is a {type(conn).__name__}, not a WebSocketProtocol13"
    if not callable(getattr(conn, "is_closing", None)):
        return "the connection has no is_closing()"
    if getattr(conn, "mask_outgoing", None) is not False:
        return "outgoing frames are masked (or the mask_outgoing attribute is gone)"
    if not hasattr(conn, "_compressor"):
        return "the connection has no _compressor attribute"
    if conn._compressor is not None:
        return "per-message compression is on"
    stream = getattr(conn, "stream", None)
    if not isinstance(stream, IOStream) or not callable(getattr(stream, "write", None)):
        return f"the connection's stream is a {type(stream).__name__}, not an IOStream"
    # What send_if_idle reads instead of calling is_closing() and stream.writing()
    for owner, name, kind in (
        (conn, "client_terminated", bool),
        (conn, "server_terminated", bool),
        (stream, "_closed", bool),
        (getattr(stream, "_write_buffer", None), "_size", int),
    ):
        if not isinstance(getattr(owner, name, None), kind):
            return f"{type(owner).__name__} has no {kind.__name__} {name}"
    if stream.closed() is not stream._closed or stream.writing() is not bool(
        stream._write_buffer._size
    ):
        return "the stream's closed() or writing() does not match its fields"
    return None


def write_binary_frame(
    handler: WebSocketHandler, parts: list[bytes | memoryview]
) -> Awaitable[None]:
    """Send ``b"".join(parts)`` as one binary message on ``handler``'s WebSocket.

    Returns an awaitable that resolves once the frame is written out. Raises
    ``WebSocketClosedError`` if the connection is closed or closing.

    ``write_message`` wants a single ``bytes`` and copies it once more into the frame: two
    copies of every array on its way out, more costly than sending it. So, where tornado's
    internals are as expected (checked at the first frame, see
    :func:`direct_write_problem`), the frame is a header and the parts written to the
    stream, which keeps large memoryviews without copying; the bytes on the wire are the
    same. Otherwise the parts are joined and go through ``write_message``.
    """
    global _write_path
    conn = handler.ws_connection
    if conn is None or conn.is_closing():
        raise WebSocketClosedError()
    if _write_path is None:
        problem = direct_write_problem(handler)
        _write_path = "write_message" if problem else "direct"
        log: logging.Logger = getattr(handler, "log", _log)  # the server's log in Jupyter
        if problem:
            log.warning(
                "nbchannel: WebSocket frames go through tornado's write_message (one more "
                "copy of each frame): %s (tornado %s)",
                problem,
                tornado.version,
            )
        else:
            log.info(
                "nbchannel: WebSocket frames are written straight to tornado's IOStream "
                "(tornado %s)",
                tornado.version,
            )
    if _write_path != "direct":
        return handler.write_message(b"".join(parts), binary=True)
    stream = conn.stream
    assert stream is not None  # checked by direct_write_problem
    size = sum(memoryview(p).nbytes for p in parts)
    if size <= _JOIN_BELOW:
        data = b"".join([_ws_header(size), *parts])
        if not stream.writing():
            return _send(stream, data)
        return stream.write(data)
    if len(parts) == 1:  # one large part: the header alone first, the part not copied
        stream.write(_ws_header(size))
        return stream.write(parts[0])
    stream.write(_ws_header(size) + parts[0])  # the frame's own (small) header
    for p in parts[1:-1]:
        stream.write(p)
    return stream.write(parts[-1])


def _send(stream: IOStream, data: bytes) -> Awaitable[None]:
    """Write ``data`` to a stream with nothing waiting to be written: straight to the
    socket, as tornado would first thing, without its write buffer and future (a small
    frame fits in the socket buffer); whatever does not fit goes through the stream."""
    sock = stream.socket
    if sock is None:
        return stream.write(data)
    try:
        sent = sock.send(data)
    except (BlockingIOError, InterruptedError):
        sent = 0
    except OSError:
        return stream.write(data)  # the stream reports the failure and closes
    if sent == len(data):
        return _SENT
    return stream.write(memoryview(data)[sent:])


#: The frame of the fan-out under way and its bytes on the wire (built for the first viewer).
_last_fanout: tuple[bytes, bytes] = (b"", b"")


def send_if_idle(handler: WebSocketHandler, frame: bytes) -> bool:
    """Send ``frame`` as one binary message now if the WebSocket has nothing waiting to be
    written (and frames go the direct path); False, and nothing sent, otherwise.

    For a fan-out to many viewers: a viewer whose queue is empty and whose socket is idle
    gets the shared frame with one system call, no task switch; the others get it through
    their queue and writer (:func:`write_loop`), bounded and in order.

    This runs once per viewer per fan-out, so it reads the fields behind ``is_closing()``
    and ``stream.writing()`` instead of calling them (checked by :func:`direct_write_problem`
    before the direct path is chosen), and writes to the socket itself: to 1,000 viewers,
    fan-outs take about a tenth less time than through those calls.
    """
    if _write_path != "direct" or len(frame) > _JOIN_BELOW:
        return False
    conn = handler.ws_connection
    if conn is None or conn.client_terminated or conn.server_terminated:
        return False
    stream = conn.stream
    if stream is None or stream._closed or stream._write_buffer._size:
        return False  # closing, or a write in flight that this frame must follow
    sock = stream.socket
    if sock is None:
        return False
    global _last_fanout
    last, data = _last_fanout
    if last is not frame:  # the first viewer of this fan-out: header and frame, once
        data = _ws_header(len(frame)) + frame
        _last_fanout = (frame, data)
    try:
        sent = sock.send(data)
    except (BlockingIOError, InterruptedError):
        sent = 0
    except OSError:
        return False  # closing: the peer is about to be disconnected
    if sent != len(data):
        try:  # the rest through the stream, which closes itself on failure
            stream.write(memoryview(data)[sent:]).add_done_callback(_ignore_result)
        except StreamClosedError:
            return False
    return True


class _Sent:
    """The awaitable of a frame already handed to the socket (nothing to wait for)."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield  # a generator that finishes at once


_SENT = _Sent()


def _ignore_result(fut: asyncio.Future[None]) -> None:
    if not fut.cancelled():
        fut.exception()
