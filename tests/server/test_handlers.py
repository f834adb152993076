"""The browser endpoints on a real Jupyter server: auth, origin, bad input, the JSON API."""

from __future__ import annotations

import asyncio
import contextlib
import http.cookiejar
import json
import logging
import socket
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import tornado
import tornado.web
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketClosedError, WebSocketHandler, websocket_connect

import nbchannel
from nbchannel.core import protocol as P
from nbchannel.core.codec import PREAMBLE_SIZE, decode_frame, encode_frame, encode_frame_parts
from nbchannel.core.message import Message
from nbchannel.server import handlers
from nbchannel.server.handlers import direct_write_problem, write_binary_frame
from nbchannel.testing import JupyterServer, KernelSession, Viewer

from ..conftest import open_channel


def _login_cookie(server: JupyterServer) -> str:
    """Log in with the token the way the login page does; return the Cookie header."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(server.url + "login").read()
    xsrf = next(c.value for c in jar if c.name == "_xsrf")
    form = urllib.parse.urlencode({"password": server.token, "_xsrf": xsrf}).encode()
    opener.open(server.url + "login", data=form).read()
    assert any(c.name.startswith("username-") for c in jar), "login did not set a cookie"
    return "; ".join(f"{c.name}={c.value}" for c in jar)


async def _upgrade(server: JupyterServer, headers: dict[str, str]) -> int:
    try:
        conn = await websocket_connect(HTTPRequest(server.ws_url, headers=headers))
    except HTTPClientError as exc:
        return exc.code
    conn.close()
    return 101


def test_websocket_auth_and_origin_matrix(jupyter: JupyterServer) -> None:
    cookie = _login_cookie(jupyter)
    own = f"http://127.0.0.1:{jupyter.port}"
    cases = {
        "no credentials": {},
        "wrong token": {"Authorization": "token not-the-token"},
        "wrong token in cookie form": {"Cookie": "username-127-0-0-1=forged"},
        "cookie, foreign origin": {"Cookie": cookie, "Origin": "http://evil.example"},
        "cookie, own origin": {"Cookie": cookie, "Origin": own},
        "token": {"Authorization": f"token {jupyter.token}"},
    }
    got = {name: asyncio.run(_upgrade(jupyter, h)) for name, h in cases.items()}
    assert got == {
        "no credentials": 403,
        "wrong token": 403,
        "wrong token in cookie form": 403,
        "cookie, foreign origin": 403,
        "cookie, own origin": 101,
        "token": 101,
    }
    assert "Blocking Cross Origin WebSocket Attempt" in jupyter.log()


def test_json_api_requires_auth_and_reports_channels(
    jupyter: JupyterServer, kernel: KernelSession
) -> None:
    with pytest.raises(urllib.error.HTTPError) as err:
        jupyter.api("GET", "nbchannel/api/channels", token=False)
    assert err.value.code == 403
    open_channel(kernel, "observed")
    kernel.execute("for i in range(3): ch.append(i)\nch.flush()")
    info = jupyter.channels()
    (ch,) = [c for c in info["channels"] if c["scope"] == kernel.id and c["name"] == "observed"]
    assert ch["open"] and ch["head"] == 3 and ch["messages_in"] == 3 and ch["owners"] == 1
    assert info["kernel_listener"]["address"].startswith("unix:")
    assert any(p["role"] == "owner" and p["scope"] == kernel.id for p in info["peers"])


def test_bad_frames_get_an_error_and_the_connection_survives(
    jupyter: JupyterServer, kernel: KernelSession
) -> None:
    open_channel(kernel, "robust")

    async def scenario() -> None:
        viewer = await Viewer.connect(jupyter.ws_url, token=jupyter.token)
        good = encode_frame([Message(P.SUBSCRIBE, "robust", scope=kernel.id)])
        await viewer.conn.write_message(b"\x00garbage", binary=True)
        await viewer.conn.write_message(good[: PREAMBLE_SIZE + 3], binary=True)  # truncated
        await viewer.conn.write_message(b"NBC\x09" + good[4:], binary=True)  # future version
        await viewer.conn.write_message("text is not a frame")
        await viewer.event(kernel.id, "no-such-channel", "click", 1)
        await viewer.event("no-such-kernel", "robust", "click", 1)
        await viewer.send(Message(P.APPEND, "robust", scope=kernel.id))  # viewers cannot write
        await viewer.wait_for(lambda: len(viewer.errors) == 7)
        assert [e["code"] for e in viewer.errors] == [
            "malformed-frame",
            "malformed-frame",
            "unsupported-version",
            "malformed-frame",
            "unknown-channel",
            "unknown-channel",
            "not-permitted",
        ]
        assert "no kernel attached" in viewer.errors[4]["message"]
        # the same connection still works
        view = await viewer.subscribe(kernel.id, "robust")
        kernel.execute("ch.append('still here')")
        await viewer.wait_for(lambda: len(view.items) == 1)
        await viewer.close()

    asyncio.run(scenario())


def test_an_oversized_frame_closes_only_that_connection(jupyter: JupyterServer) -> None:
    async def scenario() -> None:
        other = await Viewer.connect(jupyter.ws_url, token=jupyter.token)
        viewer = await Viewer.connect(jupyter.ws_url, token=jupyter.token)
        huge = encode_frame([Message.create(P.EVENT, "c", b"x" * (65 * 2**20), scope="s", key="e")])
        with contextlib.suppress(WebSocketClosedError):  # the server may hang up mid-write
            await viewer.conn.write_message(huge, binary=True)
        # tornado answers with close code 1009 ("message too big") and drops the stream at
        # once, so a client still writing may not read the code; the close is what counts
        assert await viewer.conn.read_message() is None
        # the server and other connections are unaffected
        await other.subscribe("server", "anything")
        await other.wait_for(lambda: other.view("server", "anything").waiting)
        await other.close()

    asyncio.run(scenario())


def test_subscription_replies_decode_as_frames(jupyter: JupyterServer) -> None:
    async def scenario() -> list[str]:
        viewer = await Viewer.connect(jupyter.ws_url, token=jupyter.token)
        await viewer.send(Message(P.SUBSCRIBE, "later", scope="server"))
        raw = await viewer.conn.read_message()
        assert isinstance(raw, bytes)
        await viewer.close()
        return [m.kind for m in decode_frame(raw)]

    assert asyncio.run(scenario()) == [P.SUBSCRIBED]


def test_api_json_is_valid_for_plain_http_clients(jupyter: JupyterServer) -> None:
    req = urllib.request.Request(jupyter.url + "nbchannel/api/channels")
    req.add_header("Authorization", f"token {jupyter.token}")
    with urllib.request.urlopen(req) as resp:
        assert resp.headers["Content-Type"].startswith("application/json")
        body = json.loads(resp.read())
    assert set(body) >= {"version", "channels", "peers", "kernel_listener"}


def test_wrong_kernel_secret_is_refused_and_logged(jupyter: JupyterServer) -> None:
    path = jupyter.hub_info()["address"].removeprefix("unix:")
    before = jupyter.channels()["kernel_listener"]["refused"]
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(path)
        hello = {"secret": "0" * 64, "kernel_id": "intruder", "pid": 1}
        sock.sendall(encode_frame([Message.create(P.HELLO, "", hello)]))
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # refused already
            sock.sendall(encode_frame([Message.create(P.OPEN, "stolen")]))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    (reply,) = decode_frame(data)
    assert reply.kind == P.ERROR and reply.value()["code"] == "not-permitted"
    assert jupyter.channels()["kernel_listener"]["refused"] == before + 1
    assert not any(c["name"] == "stolen" for c in jupyter.channels()["channels"])
    assert "wrong or missing secret" in jupyter.log()


def test_api_reports_which_nbchannel_the_server_loaded(jupyter: JupyterServer) -> None:
    # The harness relies on this to refuse a server that imported another copy.
    loaded = Path(jupyter.channels()["package_path"])
    assert loaded == Path(nbchannel.__file__).resolve().parent
    assert jupyter.nbchannel_path == loaded


# -- how frames are written: straight to tornado's stream, or through write_message ------

#: Payloads around every RFC 6455 length boundary, as parts the way the hub hands them over.
FRAME_PARTS: dict[str, list[bytes | memoryview]] = {
    "tiny": [b"abc"],
    "125": [b"x" * 100, b"y" * 25],
    "126": [b"z" * 126],
    "65535": [b"a" * 65_000, memoryview(b"b" * 535)],
    "65536": [b"c" * 65_536],
    "one part over 64 KiB": [b"d" * 70_000],
    "large, views": [
        b"head",
        memoryview(np.arange(300_000, dtype=np.float64)).cast("B"),
        b"mid",
        memoryview(np.full(70_000, 7, np.uint8)),
        b"tail",
    ],
    "codec frame": encode_frame_parts(
        [Message.create(P.APPEND, "c", {"a": np.arange(50_000), "n": i}) for i in range(3)]
    ),
}


class _Writer(WebSocketHandler):
    """Writes each of FRAME_PARTS twice: through write_binary_frame, then write_message."""

    problems: ClassVar[list[str | None]] = []
    tasks: ClassVar[set[asyncio.Future[None]]] = set()

    def get_compression_options(self) -> dict[str, Any] | None:
        return None  # as ChannelSocketHandler

    def open(self, *args: Any, **kwargs: Any) -> None:
        self.problems.append(direct_write_problem(self))
        self.tasks.add(asyncio.ensure_future(self._send()))

    async def _send(self) -> None:
        for parts in FRAME_PARTS.values():
            await write_binary_frame(self, parts)
            await self.write_message(b"".join(parts), binary=True)


async def _raw_frames(port: int, sizes: list[int]) -> list[bytes]:
    """Open a WebSocket by hand and return each frame's bytes as they came off the wire."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    frames = []
    for size in sizes:
        header_len = 2 if size < 126 else 4 if size < 1 << 16 else 10
        frames.append(await asyncio.wait_for(reader.readexactly(header_len + size), 10))
    writer.close()
    return frames


def _rfc6455_frame(payload: bytes) -> bytes:
    """A final, unmasked binary frame, written out from RFC 6455 section 5.2."""
    n = len(payload)
    if n < 126:
        return bytes([0x82, n]) + payload
    if n < 1 << 16:
        return bytes([0x82, 126]) + n.to_bytes(2, "big") + payload
    return bytes([0x82, 127]) + n.to_bytes(8, "big") + payload


def _serve_writer() -> tuple[list[bytes], list[bytes]]:
    """(direct frames, write_message frames), as a client received them."""

    async def main() -> list[bytes]:
        server = tornado.web.Application([(r"/ws", _Writer)]).listen(0, "127.0.0.1")
        try:
            port = next(iter(server._sockets.values())).getsockname()[1]
            sizes = [sum(memoryview(p).nbytes for p in parts) for parts in FRAME_PARTS.values()]
            return await _raw_frames(port, [s for s in sizes for _ in (0, 1)])
        finally:
            server.stop()

    frames = asyncio.run(main())
    return frames[0::2], frames[1::2]


def test_direct_frame_writes_are_active_and_byte_identical_to_write_message(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Fails loudly when tornado's internals change: the direct path must still be chosen on
    # the installed tornado, and what it puts on the wire must be exactly write_message's.
    monkeypatch.delenv(handlers.ENV_DIRECT_WRITE, raising=False)
    monkeypatch.setattr(handlers, "_write_path", None)
    monkeypatch.setattr(_Writer, "problems", [])
    with caplog.at_level(logging.INFO, logger="nbchannel"):
        direct, portable = _serve_writer()
    assert _Writer.problems == [None], f"tornado {tornado.version}: {_Writer.problems}"
    assert handlers._write_path == "direct"
    assert "WebSocket frames are written straight to tornado's IOStream" in caplog.text
    expected = [_rfc6455_frame(b"".join(parts)) for parts in FRAME_PARTS.values()]
    for name, got, reference, wanted in zip(FRAME_PARTS, direct, portable, expected, strict=True):
        assert got == reference == wanted, f"frame {name!r} differs on the wire"


def test_direct_writes_can_be_turned_off(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(handlers.ENV_DIRECT_WRITE, "0")
    monkeypatch.setattr(handlers, "_write_path", None)
    monkeypatch.setattr(_Writer, "problems", [])
    with caplog.at_level(logging.INFO, logger="nbchannel"):
        direct, portable = _serve_writer()
    assert handlers._write_path == "write_message"
    assert _Writer.problems == ["turned off (NBCHANNEL_WS_DIRECT_WRITE=0)"]
    assert "go through tornado's write_message" in caplog.text
    assert direct == portable


def test_unexpected_tornado_internals_are_detected(monkeypatch: pytest.MonkeyPatch) -> None:
    # What a future tornado might change, each of which must select write_message.
    monkeypatch.delenv(handlers.ENV_DIRECT_WRITE, raising=False)
    seen: list[str | None] = []

    class Probe(WebSocketHandler):
        def open(self, *args: Any, **kwargs: Any) -> None:
            conn = self.ws_connection
            seen.append(direct_write_problem(self))
            conn.mask_outgoing = True  # type: ignore[union-attr]
            seen.append(direct_write_problem(self))
            conn.mask_outgoing = False  # type: ignore[union-attr]
            del conn._compressor  # type: ignore[union-attr]
            seen.append(direct_write_problem(self))
            conn._compressor = object()  # type: ignore[union-attr]
            seen.append(direct_write_problem(self))
            conn._compressor = None  # type: ignore[union-attr]
            stream, conn.stream = conn.stream, None  # type: ignore[union-attr]
            seen.append(direct_write_problem(self))
            conn.stream = stream  # type: ignore[union-attr]
            assert stream is not None
            conn.server_terminated = None  # type: ignore[union-attr, assignment]
            seen.append(direct_write_problem(self))
            conn.server_terminated = False  # type: ignore[union-attr]
            closed, stream._closed = stream._closed, 0  # type: ignore[assignment]
            seen.append(direct_write_problem(self))
            stream._closed = closed
            buffer, stream._write_buffer = stream._write_buffer, None  # type: ignore[assignment]
            seen.append(direct_write_problem(self))
            stream._write_buffer = buffer
            seen.append(direct_write_problem(self))  # all put back
            self.close()

    async def main() -> None:
        server = tornado.web.Application([(r"/ws", Probe)]).listen(0, "127.0.0.1")
        try:
            port = next(iter(server._sockets.values())).getsockname()[1]
            conn = await websocket_connect(f"ws://127.0.0.1:{port}/ws")
            assert await conn.read_message() is None  # closed by the probe
        finally:
            server.stop()

    asyncio.run(main())
    assert seen == [
        None,
        "outgoing frames are masked (or the mask_outgoing attribute is gone)",
        "the connection has no _compressor attribute",
        "per-message compression is on",
        "the connection's stream is a NoneType, not an IOStream",
        "WebSocketProtocol13 has no bool server_terminated",
        "IOStream has no bool _closed",
        "NoneType has no int _size",
        None,
    ]


class _FanOutTarget(WebSocketHandler):
    """Calls send_if_idle as a fan-out would: idle, behind a write in flight, closed."""

    results: ClassVar[list[bool]] = []
    tasks: ClassVar[set[asyncio.Future[None]]] = set()

    def get_compression_options(self) -> dict[str, Any] | None:
        return None

    def open(self, *args: Any, **kwargs: Any) -> None:
        self.tasks.add(asyncio.ensure_future(self._fan_out()))

    async def _fan_out(self) -> None:
        await write_binary_frame(self, [b"first"])  # chooses the direct path
        self.results.append(handlers.send_if_idle(self, b"idle: straight to the socket"))
        conn = self.ws_connection
        assert conn is not None and conn.stream is not None
        # 32 MiB the client has not read yet: the stream is still writing them
        big = write_binary_frame(self, [bytes(32 << 20)])
        self.results.append(conn.stream.writing())
        self.results.append(handlers.send_if_idle(self, b"must wait its turn"))
        await big
        self.results.append(handlers.send_if_idle(self, b"idle again"))
        self.close()
        self.results.append(handlers.send_if_idle(self, b"closed"))


def test_a_fan_out_writes_to_an_idle_socket_and_never_overtakes_a_write_in_flight(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(handlers.ENV_DIRECT_WRITE, raising=False)
    monkeypatch.setattr(handlers, "_write_path", None)
    monkeypatch.setattr(_FanOutTarget, "results", [])

    async def main() -> list[bytes]:
        server = tornado.web.Application([(r"/ws", _FanOutTarget)]).listen(0, "127.0.0.1")
        try:
            port = next(iter(server._sockets.values())).getsockname()[1]
            conn = await websocket_connect(f"ws://127.0.0.1:{port}/ws", max_message_size=64 << 20)
            await asyncio.sleep(0.5)  # the server's 32 MiB write stalls until this reads
            got = []
            while (message := await conn.read_message()) is not None:
                assert isinstance(message, bytes)
                got.append(message if len(message) < 1000 else b"<32 MiB>")
            return got
        finally:
            server.stop()

    got = asyncio.run(main())
    # sent, stream writing, refused behind it, sent once it was written, refused when closed
    assert _FanOutTarget.results == [True, True, False, True, False]
    assert got == [b"first", b"idle: straight to the socket", b"<32 MiB>", b"idle again"]


def test_the_server_uses_direct_writes_on_the_installed_tornado(
    jupyter: JupyterServer,
) -> None:
    async def scenario() -> None:
        viewer = await Viewer.connect(jupyter.ws_url, token=jupyter.token)
        view = await viewer.subscribe("server", "direct-write-probe")
        await viewer.wait_for(lambda: view.epoch is not None or view.waiting)
        await viewer.close()

    asyncio.run(scenario())
    log = jupyter.log()
    assert "WebSocket frames are written straight to tornado's IOStream" in log
    assert "go through tornado's write_message" not in log


@pytest.mark.slow
def test_a_stream_arrives_intact_through_write_message() -> None:
    with JupyterServer(env={handlers.ENV_DIRECT_WRITE: "0"}) as server:
        kernel = server.start_kernel()
        try:
            open_channel(kernel, "portable")

            async def scenario() -> None:
                viewer = await Viewer.connect(server.ws_url, token=server.token)
                view = await viewer.subscribe(kernel.id, "portable")
                await viewer.wait_for(lambda: view.epoch is not None)
                # while the viewer reads (a viewer that does not read is dropped for)
                request = kernel.submit(
                    "for i in range(3000):\n"
                    "    ch.append({'i': i})\n"
                    "for i in range(3000, 3020):\n"
                    "    ch.append({'i': i, 'a': np.full(2**17, i, np.float64)})  # 1 MiB\n"
                    "    time.sleep(0.02)\n"
                    "ch.flush(30)"
                )
                await viewer.wait_for(lambda: len(view.items) >= 3020 or bool(view.gaps), 60)
                await asyncio.get_running_loop().run_in_executor(None, kernel.join, request)
                assert view.gaps == []
                assert [o for o, _ in view.items] == list(range(3020))
                assert [v["i"] for _, v in view.items] == list(range(3020))
                for _, v in view.items[3000:]:
                    assert (v["a"] == v["i"]).all() and v["a"].shape == (2**17,)
                await viewer.close()

            asyncio.run(scenario())
        finally:
            kernel.shutdown()
        log = server.log()
    assert "go through tornado's write_message" in log
    assert "turned off (NBCHANNEL_WS_DIRECT_WRITE=0)" in log
    assert "written straight to tornado's IOStream" not in log
