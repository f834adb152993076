"""The HTTP fallbacks (stream, SSE, poll; POST up) on a real Jupyter server and kernel."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from nbchannel.core import protocol as P
from nbchannel.core.codec import decode_frame, encode_frame
from nbchannel.core.message import Message
from nbchannel.testing import JupyterServer, KernelSession, Viewer
from nbchannel.testing.http_viewer import HttpViewer

from ..conftest import open_channel
from .test_handlers import _login_cookie

#: Short timings so that heartbeats, poll timeouts and expiry happen within a test.
HEARTBEAT = 1.0
POLL_WAIT = 2.0
SESSION_TIMEOUT = 3.0
MAX_FRAME = 1024 * 1024


@pytest.fixture(scope="module")
def server() -> Iterator[JupyterServer]:
    s = JupyterServer(
        extra_args=[
            f"--NbChannel.http_heartbeat={HEARTBEAT}",
            f"--NbChannel.http_poll_wait={POLL_WAIT}",
            f"--NbChannel.http_session_timeout={SESSION_TIMEOUT}",
            f"--NbChannel.max_frame_bytes={MAX_FRAME}",
        ]
    )
    s.start()
    try:
        yield s
    finally:
        s.stop()
        s.cleanup()


@pytest.fixture
def kernel(server: JupyterServer) -> Iterator[KernelSession]:
    k = server.start_kernel()
    try:
        yield k
    finally:
        k.shutdown()


async def call(
    server: JupyterServer,
    method: str,
    path: str,
    body: bytes | None = None,
    *,
    token: str | None = "default",
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """One request; the status and the decoded JSON body (or raw bytes)."""
    hdrs = dict(headers or {})
    if token:
        hdrs["Authorization"] = f"token {server.token if token == 'default' else token}"
    req = HTTPRequest(
        server.url + path,
        method=method,
        headers=hdrs,
        body=body if method == "POST" else None,
        follow_redirects=False,
        request_timeout=30,
    )
    resp = await AsyncHTTPClient().fetch(req, raise_error=False)
    data: Any = resp.body
    if resp.headers.get("Content-Type", "").startswith("application/json") and resp.body:
        data = json.loads(resp.body)
    return resp.code, data


def event_frame(scope: str, name: str, value: Any) -> bytes:
    return encode_frame([Message.create(P.EVENT, name, value, scope=scope, key="click")])


def record_clicks(kernel: KernelSession) -> None:
    kernel.execute("clicks = []\n@ch.on('click')\ndef _on_click(e):\n    clicks.append(e.value)")


def stream_items(kernel: KernelSession, n: int, per_pause: int = 100) -> str:
    """Start appending 0..n-1 in a running cell (a pause every ``per_pause`` items)."""
    return kernel.submit(
        f"for i in range({n}):\n"
        "    ch.append(i)\n"
        f"    if i % {per_pause} == {per_pause - 1}: time.sleep(0.01)\n"
        "ch.flush()"
    )


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for something a viewer records without a frame (heartbeats, how a stream ended)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


# -- the routes ----------------------------------------------------------------------------


def test_info_and_session_describe_the_transports(server: JupyterServer) -> None:
    async def scenario() -> None:
        code, info = await call(server, "GET", "nbchannel/api/info")
        assert code == 200
        assert info["transports"] == ["websocket", "stream", "sse", "poll"]
        assert info["heartbeat"] == HEARTBEAT and info["poll_wait"] == POLL_WAIT
        assert info["limits"]["max_frame_bytes"] == MAX_FRAME
        code, a = await call(server, "POST", "nbchannel/session", b"")
        code2, b = await call(server, "POST", "nbchannel/session", b"")
        assert code == code2 == 200
        assert a["heartbeat"] == HEARTBEAT and a["expires"] == SESSION_TIMEOUT
        assert a["poll_wait"] == POLL_WAIT and a["max_frame_bytes"] == MAX_FRAME
        assert a["session"] != b["session"] and len(a["session"]) >= 32
        # without credentials: 403 with a JSON reason on every route, never a redirect
        for method, path in [
            ("GET", "nbchannel/api/info"),
            ("POST", "nbchannel/session"),
            ("GET", f"nbchannel/stream?session={a['session']}"),
            ("GET", f"nbchannel/poll?session={a['session']}"),
            ("POST", f"nbchannel/send?session={a['session']}&seq=1"),
        ]:
            body_or_none = b"" if method == "POST" else None
            code, body = await call(server, method, path, body_or_none, token=None)
            assert code == 403, (method, path, code, body)
            assert isinstance(body, dict) and body["error"], (method, path, body)

    asyncio.run(scenario())


def test_a_kernel_stream_reaches_stream_sse_and_poll_viewers_with_nothing_lost(
    server: JupyterServer, kernel: KernelSession
) -> None:
    n = 3000
    open_channel(kernel, "feed")
    record_clicks(kernel)
    kernel.execute("ch.set('title', 'Feed')\nch.set('pixels', np.arange(1000, dtype=np.float32))")

    async def scenario() -> None:
        ws = await Viewer.connect(server.ws_url, token=server.token)
        viewers = {
            t: await HttpViewer.connect(server.url, token=server.token, transport=t)
            for t in ("stream", "sse", "poll")
        }
        for v in [ws, *viewers.values()]:
            await v.subscribe(kernel.id, "feed")
        for v in [ws, *viewers.values()]:
            await v.wait_for(lambda v=v: "pixels" in v.view(kernel.id, "feed").state)
        job = stream_items(kernel, n)
        for v in [ws, *viewers.values()]:
            view = v.view(kernel.id, "feed")
            await v.wait_for(lambda view=view: len(view.items) >= n, timeout=60)
        await asyncio.to_thread(kernel.join, job)
        for t, v in {"websocket": ws, **viewers}.items():
            view = v.view(kernel.id, "feed")
            assert view.items == [(i, i) for i in range(n)], t  # in order, none lost or twice
            assert view.duplicates == [], t  # none arrived twice (the view drops repeats)
            assert view.gaps == [] and v.errors == [], t
            assert view.state["title"] == "Feed", t
            assert np.array_equal(view.state["pixels"], np.arange(1000, dtype=np.float32)), t
        # events from each HTTP viewer reach the kernel's handler
        for t, v in viewers.items():
            await v.event(kernel.id, "feed", "click", t)
        deadline = time.monotonic() + 10
        while sorted(kernel.eval("clicks")) != sorted(viewers) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert sorted(kernel.eval("clicks")) == sorted(viewers)
        for t, v in viewers.items():
            if t != "poll":  # a stream's first frame is a heartbeat, then one every second
                assert v.heartbeats, t
            assert v.http.failures == [] and v.http.resumes == 0, t
            await v.close()
        await ws.close()

    asyncio.run(scenario())


async def read_stream(
    server: JupyterServer, query: str, seconds: float
) -> tuple[dict[str, str], list[tuple[float, bytes]]]:
    """GET a stream for ``seconds``: its headers and (arrival time, chunk) pairs."""
    chunks: list[tuple[float, bytes]] = []
    headers: dict[str, str] = {}
    t0 = time.monotonic()

    def header(line: str) -> None:
        name, sep, value = line.rstrip("\r\n").partition(": ")
        if sep:
            headers[name] = value

    req = HTTPRequest(
        f"{server.url}nbchannel/stream?{query}",
        headers={"Authorization": f"token {server.token}"},
        request_timeout=seconds,
        streaming_callback=lambda c: chunks.append((time.monotonic() - t0, c)),
        header_callback=header,
    )
    with contextlib.suppress(HTTPClientError):  # ends by its timeout
        await AsyncHTTPClient().fetch(req)
    return headers, chunks


def test_stream_heartbeats_and_headers(server: JupyterServer) -> None:
    async def scenario() -> None:
        _, s = await call(server, "POST", "nbchannel/session", b"")
        sid = s["session"]
        for fmt in ("", "&format=sse"):
            headers, chunks = await read_stream(server, f"session={sid}{fmt}", HEARTBEAT * 2.6)
            assert headers["X-Accel-Buffering"] == "no"
            assert "no-store" in headers["Cache-Control"]
            assert "Content-Length" not in headers
            data = b"".join(c for _, c in chunks)
            if fmt:
                assert headers["Content-Type"].startswith("text/event-stream")
                assert data.startswith(b"retry: ")
                beats = data.count(b"event: heartbeat\ndata: ")
                assert b'data: {"interval":1.0}\n\n' in data
            else:
                assert headers["Content-Type"] == "application/octet-stream"
                beat = encode_frame([Message.create(P.HEARTBEAT, "", {"interval": HEARTBEAT})])
                beats = data.count(beat)
                assert len(data) == beats * len(beat)
                assert chunks[0][0] < 0.5  # at once on attach
            assert beats == 3, (fmt, beats, chunks)  # at 0, 1 and 2 s

    asyncio.run(scenario())


# -- bad input -----------------------------------------------------------------------------


def _raw_post(server: JupyterServer, path: str, head: dict[str, str], body: bytes) -> bytes:
    """A POST written by hand (a lying or missing Content-Length); the raw answer."""
    lines = [f"POST {server.base_url}{path} HTTP/1.1", f"Host: 127.0.0.1:{server.port}"]
    lines += [f"{k}: {v}" for k, v in head.items()]
    lines.append(f"Authorization: token {server.token}")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return data


def test_bad_input_gets_clear_errors_and_nothing_else_is_lost(
    server: JupyterServer, kernel: KernelSession
) -> None:
    n = 2000
    open_channel(kernel, "steady")
    record_clicks(kernel)

    async def scenario() -> None:
        ws = await Viewer.connect(server.ws_url, token=server.token)
        viewer = await HttpViewer.connect(server.url, token=server.token, transport="stream")
        for v in (ws, viewer):
            await v.subscribe(kernel.id, "steady")
        job = stream_items(kernel, n, per_pause=20)
        sid = viewer.session
        send = f"nbchannel/send?session={sid}"
        seq = viewer.http.seq + 1  # the next number the session expects

        async def post(body: bytes, query: str) -> tuple[int, Any]:
            return await call(server, "POST", f"{send}&{query}", body)

        code, body = await post(b"\x00 not a frame", f"seq={seq}")
        assert code == 400 and "not a valid frame" in body["error"]
        good = encode_frame([Message(P.SUBSCRIBE, "x", scope="server")])
        code, body = await post(good[:-3], f"seq={seq}")  # truncated
        assert code == 400 and "malformed-frame" in body["error"]
        code, body = await post(b"", f"seq={seq}")
        assert code == 400 and "empty" in body["error"]
        code, body = await post(good, "")
        assert code == 400 and "seq" in body["error"]
        code, body = await post(good, f"seq={seq + 5}")
        assert code == 409 and f"next one expected is {seq}" in body["error"]
        # oversized: refused from Content-Length before the body is sent ...
        raw = await asyncio.to_thread(
            _raw_post, server, f"{send}&seq={seq}", {"Content-Length": str(MAX_FRAME + 1)}, b""
        )
        assert raw.startswith(b"HTTP/1.1 413") and b"max_frame_bytes" in raw
        # ... and while it arrives when there is no Content-Length (chunked)
        chunk = b"x" * 65536
        body_chunks = (b"%x\r\n" % len(chunk) + chunk + b"\r\n") * 20 + b"0\r\n\r\n"
        raw = await asyncio.to_thread(
            _raw_post, server, f"{send}&seq={seq}", {"Transfer-Encoding": "chunked"}, body_chunks
        )
        assert raw.startswith(b"HTTP/1.1 413") and b"max_frame_bytes" in raw
        # unknown session: 410 "session gone" on every session route
        for method, path in [
            ("POST", "nbchannel/send?session=nope&seq=1"),
            ("GET", "nbchannel/stream?session=nope"),
            ("GET", "nbchannel/poll?session=nope"),
        ]:
            code, body = await call(server, method, path, b"" if method == "POST" else None)
            assert (code, body["error"]) == (410, "session gone"), (method, path)
        # a retried POST is answered but not applied again: the kernel sees the event once
        click = event_frame(kernel.id, "steady", "once")
        assert await post(click, f"seq={seq}") == (200, {"seq": seq})
        assert await post(click, f"seq={seq}") == (200, {"seq": seq, "duplicate": True})
        viewer.http.seq = seq  # the test spoke for the viewer
        await viewer.event(kernel.id, "steady", "click", "after")  # seq + 1: applied
        for v in (ws, viewer):
            view = v.view(kernel.id, "steady")
            await v.wait_for(lambda view=view: len(view.items) >= n, timeout=60)
        await asyncio.to_thread(kernel.join, job)
        deadline = time.monotonic() + 10
        while len(kernel.eval("clicks")) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert kernel.eval("clicks") == ["once", "after"]
        for v in (ws, viewer):
            assert v.view(kernel.id, "steady").items == [(i, i) for i in range(n)]
            assert v.errors == []
        assert viewer.http.failures == [] and viewer.http.resumes == 0
        # hub errors come back on the stream, as on the WebSocket
        await viewer.event(kernel.id, "no-such-channel", "click", 1)
        await viewer.wait_for(lambda: len(viewer.errors) == 1)
        assert viewer.errors[0]["code"] == "unknown-channel"
        await viewer.close()
        await ws.close()

    asyncio.run(scenario())


def test_xsrf_origin_and_credentials(server: JupyterServer) -> None:
    cookie = _login_cookie(server)
    xsrf = next(p.split("=", 1)[1] for p in cookie.split("; ") if p.startswith("_xsrf="))
    own = f"http://127.0.0.1:{server.port}"

    async def scenario() -> None:
        async def status(method: str, path: str, headers: dict[str, str]) -> int:
            body = b"" if method == "POST" else None
            code, _ = await call(server, method, path, body, token=None, headers=headers)
            return code

        with_cookie = {"Cookie": cookie}
        assert await status("POST", "nbchannel/session", with_cookie) == 403  # no XSRF token
        ok = {"Cookie": cookie, "X-XSRFToken": xsrf, "Origin": own}
        assert await status("POST", "nbchannel/session", ok) == 200
        foreign = {**ok, "Origin": "http://evil.example"}
        assert await status("POST", "nbchannel/session", foreign) == 403
        assert await status("GET", "nbchannel/api/info", foreign) == 403
        code, body = await call(server, "GET", "nbchannel/api/info", token=None, headers=foreign)
        assert "cross-origin" in body["error"]
        assert await status("GET", "nbchannel/api/info", {"Cookie": cookie, "Origin": own}) == 200
        # a session made with the cookie is used with the cookie (stream, send)
        _, made = await call(server, "POST", "nbchannel/session", b"", token=None, headers=ok)
        sub = encode_frame([Message(P.SUBSCRIBE, "xsrf-check", scope="server")])
        send = f"nbchannel/send?session={made['session']}&seq=1"
        code, _ = await call(server, "POST", send, sub, token=None, headers=with_cookie)
        assert code == 403  # the send needs the XSRF token too
        code, _ = await call(server, "POST", send, sub, token=None, headers=ok)
        assert code == 200
        code, data = await call(
            server, "GET", f"nbchannel/poll?session={made['session']}", token=None, headers=ok
        )
        assert code == 200 and [m.kind for m in decode_frame(data)] == [P.SUBSCRIBED]

    asyncio.run(scenario())


def test_sessions_expire_when_nothing_is_attached(server: JupyterServer) -> None:
    async def scenario() -> None:
        def http_peers() -> int:
            return sum(1 for p in server.channels()["peers"] if p["name"].endswith("(http)"))

        _, s = await call(server, "POST", "nbchannel/session", b"")
        idle = s["session"]
        viewer = await HttpViewer.connect(server.url, token=server.token, transport="stream")
        assert await asyncio.to_thread(http_peers) >= 2
        code, _ = await call(server, "GET", f"nbchannel/poll?session={idle}")
        assert code == 204  # alive; a poll waits poll_wait seconds for data, then 204
        await asyncio.sleep(SESSION_TIMEOUT + 1.5)
        sub = encode_frame([Message(P.SUBSCRIBE, "late", scope="server")])
        code, body = await call(server, "POST", f"nbchannel/send?session={idle}&seq=1", sub)
        assert (code, body) == (410, {"error": "session gone", "status": 410})
        # every other session of this server is idle by now and gone with its hub peer; the
        # attached stream outlived the timeout: heartbeats kept coming, its session stays
        assert await asyncio.to_thread(http_peers) == 1
        assert len(viewer.heartbeats) >= SESSION_TIMEOUT + 1
        gaps = np.diff(viewer.heartbeats)
        assert gaps.min() > HEARTBEAT * 0.5 and gaps.max() < HEARTBEAT * 2.5, gaps
        await viewer.subscribe("server", "late")
        await viewer.wait_for(lambda: viewer.view("server", "late").waiting)
        await viewer.close()

    asyncio.run(scenario())


def test_a_new_reader_replaces_the_attached_one(server: JupyterServer) -> None:
    async def scenario() -> None:
        viewer = await HttpViewer.connect(server.url, token=server.token, transport="stream")
        await until(lambda: bool(viewer.heartbeats))
        code, _ = await call(server, "GET", f"nbchannel/poll?session={viewer.session}")
        assert code == 204
        await until(lambda: viewer.http.ends == ["replaced"])
        assert await viewer.receive(1) is None  # the viewer stopped reading: not resumed

    asyncio.run(scenario())


@pytest.mark.parametrize("transport", ["stream", "poll"])
def test_a_cut_or_a_lost_session_resumes_with_nothing_lost_or_doubled(
    server: JupyterServer, kernel: KernelSession, transport: str
) -> None:
    n = 3000
    open_channel(kernel, "resumable")
    kernel.execute("ch.set('phase', 'running')")

    async def scenario() -> None:
        viewer = await HttpViewer.connect(server.url, token=server.token, transport=transport)  # type: ignore[arg-type]
        view = await viewer.subscribe(kernel.id, "resumable")
        await viewer.wait_for(lambda: view.state.get("phase") == "running")
        job = stream_items(kernel, n, per_pause=50)
        await viewer.wait_for(lambda: len(view.items) > n // 4, timeout=30)
        if viewer.http._stream is not None:
            viewer.http._stream.close()  # cut mid-stream: frames in flight are lost
        await viewer.wait_for(lambda: len(view.items) > n // 2, timeout=30)
        first = viewer.session
        viewer.http.session = "expired-or-unknown"  # the next request gets 410
        if viewer.http._stream is not None:
            viewer.http._stream.close()  # so that the stream attaches again
        await viewer.wait_for(lambda: len(view.items) >= n, timeout=60)
        await asyncio.to_thread(kernel.join, job)
        assert view.items == [(i, i) for i in range(n)]
        assert view.duplicates == []  # none arrived twice (the view drops repeats)
        assert view.gaps == [] and viewer.errors == []
        assert view.state == {"phase": "running"}
        assert viewer.session not in (first, "expired-or-unknown")
        assert viewer.http.resumes >= 1 + (transport == "stream")
        await viewer.close()

    asyncio.run(scenario())


# -- users and permissions -----------------------------------------------------------------


@pytest.fixture(scope="module")
def auth_server() -> Iterator[JupyterServer]:
    s = JupyterServer(
        extra_args=[
            "--ServerApp.authorizer_class=nbchannel.testing.auth.NoEventsAuthorizer",
            "--ServerApp.identity_provider_class=nbchannel.testing.auth.TokenUsersIdentityProvider",
        ]
    )
    s.start()
    try:
        yield s
    finally:
        s.stop()
        s.cleanup()


def test_read_only_users_watch_but_cannot_send_events(auth_server: JupyterServer) -> None:
    kernel = auth_server.start_kernel()
    try:
        open_channel(kernel, "shared")
        record_clicks(kernel)

        async def scenario() -> None:
            ws = await Viewer.connect(auth_server.ws_url, token="alice-token")
            http = await HttpViewer.connect(auth_server.url, token="alice-token", transport="poll")
            for v in (ws, http):
                await v.subscribe(kernel.id, "shared")
            kernel.execute("for i in range(100): ch.append(i)\nch.flush()")
            for v in (ws, http):
                view = v.view(kernel.id, "shared")
                await v.wait_for(lambda view=view: len(view.items) == 100)
                await v.event(kernel.id, "shared", "click", "refused")
                await v.wait_for(lambda v=v: len(v.errors) == 1)
                (err,) = v.errors
                assert err["code"] == "not-permitted" and err["about"] == "event"
                assert "may watch channels but not send events" in err["message"]
            # bob may not use alice's session
            sub = encode_frame([Message(P.SUBSCRIBE, "shared", scope=kernel.id)])
            for method, path, body in [
                ("GET", f"nbchannel/poll?session={http.session}", None),
                ("GET", f"nbchannel/stream?session={http.session}", None),
                ("POST", f"nbchannel/send?session={http.session}&seq=99", sub),
            ]:
                code, reply = await call(auth_server, method, path, body, token="bob-token")
                assert code == 403 and "another user" in reply["error"], (method, path)
            await asyncio.sleep(0.5)
            assert kernel.eval("clicks") == []
            await http.close()
            await ws.close()

        asyncio.run(scenario())
    finally:
        kernel.shutdown()
