"""The benchmarks' HTTP client: responses and bodies cut at every possible place.

Bytes are fed to the protocol as asyncio would (``get_buffer`` / ``buffer_updated``), in
pieces of every size, so chunk headers, frame preambles and SSE lines split anywhere; large
frames take the direct-read path. No server needed.
"""

from __future__ import annotations

import asyncio
import base64

import numpy as np
import pytest

from benchmarks.http_client import FrameSplitter, HttpConnection, SseSplitter
from nbchannel.core import protocol as P
from nbchannel.core.codec import decode_frame, encode_frame
from nbchannel.core.message import Message


class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


def _frames() -> list[bytes]:
    small = [
        encode_frame([Message.create(P.APPEND, "ch", {"seq": i, "pad": "x" * i}, scope="k")])
        for i in range(5)
    ]
    array = np.arange(9_000, dtype=np.float64)  # 72 KB: read directly into its frame
    big = encode_frame([Message.create(P.APPEND, "ch", {"seq": 9, "a": array}, scope="k")])
    return [small[0], big, *small[1:], big, small[0]]


def _chunked(pieces: list[bytes]) -> bytes:
    body = b"".join(b"%x\r\n" % len(p) + p + b"\r\n" for p in pieces)
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: x\r\n\r\n"
    return head + body + b"0\r\n\r\n"


def _feed(conn: HttpConnection, data: bytes, step: int) -> None:
    pos = 0
    while pos < len(data):
        buf = conn.get_buffer(-1)
        n = min(step, len(buf), len(data) - pos)
        buf[:n] = data[pos : pos + n]
        conn.buffer_updated(n)
        pos += n


async def _response(data: bytes, step: int, sink: FrameSplitter | SseSplitter | None) -> bytes:
    conn = HttpConnection("127.0.0.1", 1)
    transport = _Transport()
    conn.connection_made(transport)
    done = conn.request("GET", "/x", headers={"Authorization": "token t"}, sink=sink)
    assert transport.written.startswith(b"GET /x HTTP/1.1\r\nHost: 127.0.0.1:1\r\n")
    assert b"Authorization: token t\r\n" in transport.written
    _feed(conn, data, step)
    resp = await asyncio.wait_for(done, 1)
    assert resp.status == 200
    return bytes(resp.body)


@pytest.mark.parametrize("step", [1, 7, 12, 4096, 1 << 20])
def test_frames_of_a_chunked_stream_split_anywhere_arrive_whole(step: int) -> None:
    asyncio.run(_frames_of_a_stream(step))


async def _frames_of_a_stream(step: int) -> None:
    frames = _frames()
    got: list[bytes] = []
    # one chunk per frame (as the server writes), and the same bytes re-chunked at random
    stream = b"".join(frames)
    cuts = [stream[i : i + 1000] for i in range(0, len(stream), 1000)]
    for pieces in (frames, cuts):
        got.clear()
        body = await _response(
            _chunked(pieces), step, FrameSplitter(lambda f: got.append(bytes(f)))
        )
        assert body == b""
        assert got == frames
    (msg,) = decode_frame(got[1])
    assert msg.value()["seq"] == 9 and msg.value()["a"].sum() == sum(range(9_000))


@pytest.mark.parametrize("step", [1, 5, 1 << 20])
def test_a_poll_body_with_content_length_and_a_204(step: int) -> None:
    asyncio.run(_a_poll_body(step))


async def _a_poll_body(step: int) -> None:
    frames = _frames()
    body = b"".join(frames)
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
    got: list[bytes] = []
    assert await _response(head + body, step, FrameSplitter(lambda f: got.append(bytes(f)))) == b""
    assert got == frames

    conn = HttpConnection("127.0.0.1", 1)
    conn.connection_made(_Transport())
    done = conn.request("GET", "/poll")
    _feed(conn, b"HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n", step)
    assert (await asyncio.wait_for(done, 1)).status == 204


def test_an_error_status_keeps_its_body_out_of_the_sink() -> None:
    asyncio.run(_an_error_status())


async def _an_error_status() -> None:
    got: list[bytes] = []
    body = b'{"error": "session gone", "status": 410}'
    data = b"HTTP/1.1 410 Gone\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    conn = HttpConnection("127.0.0.1", 1)
    conn.connection_made(_Transport())
    done = conn.request("POST", "/send", body=b"frame", sink=FrameSplitter(got.append))
    _feed(conn, data, 3)
    resp = await asyncio.wait_for(done, 1)
    assert (resp.status, bytes(resp.body), got) == (410, body, [])


@pytest.mark.parametrize("step", [1, 3, 100, 1 << 20])
def test_sse_events_split_anywhere(step: int) -> None:
    asyncio.run(_sse_events(step))


async def _sse_events(step: int) -> None:
    frames = _frames()
    text = b'retry: 1000\n\nevent: heartbeat\ndata: {"interval": 5.0}\n\n'
    for f in frames:
        text += b"event: frame\ndata: " + base64.b64encode(f) + b"\n\n"
    text += b': a comment\n\nevent: heartbeat\ndata: {"end": "closed"}\n\n'
    got: list[bytes] = []
    beats: list[bytes] = []
    sink = SseSplitter(got.append, beats.append)
    await _response(_chunked([text[i : i + 777] for i in range(0, len(text), 777)]), step, sink)
    assert got == frames
    assert beats == [b'{"interval": 5.0}', b'{"end": "closed"}']
