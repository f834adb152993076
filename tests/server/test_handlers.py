"""The browser endpoints on a real Jupyter server: auth, origin, bad input, the JSON API."""

from __future__ import annotations

import asyncio
import contextlib
import http.cookiejar
import json
import socket
import urllib.error
import urllib.parse
import urllib.request

import pytest
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketClosedError, websocket_connect

from nbchannel.core import protocol as P
from nbchannel.core.codec import PREAMBLE_SIZE, decode_frame, encode_frame
from nbchannel.core.message import Message
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
    hub = json.loads((jupyter.runtime_dir / f"nbchannel-hub-{jupyter.port}.json").read_text())
    path = hub["address"].removeprefix("unix:")
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
