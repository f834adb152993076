"""``KernelListener`` in-process: where it binds, who it lets in, and that it never falls over."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import stat
import struct
import tempfile
import time
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from nbchannel.core import protocol as P
from nbchannel.core.codec import VERSION, FrameReader, decode_frame, encode_frame
from nbchannel.core.hub import Hub
from nbchannel.core.message import Message
from nbchannel.errors import NbChannelError
from nbchannel.server.listener import KernelListener

PORT = 8888
Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def make_listener(runtime_dir: Path, hub: Hub | None = None, **kw: Any) -> KernelListener:
    kw.setdefault("port", PORT)
    return KernelListener(hub or Hub(), runtime_dir=str(runtime_dir), **kw)


@contextlib.asynccontextmanager
async def serving(listener: KernelListener) -> AsyncIterator[KernelListener]:
    await listener.start()
    try:
        yield listener
    finally:
        await listener.stop()


async def connect(listener: KernelListener) -> Stream:
    addr = listener.address
    assert addr is not None
    if addr.kind == "unix":
        return await asyncio.open_unix_connection(addr.path)
    return await asyncio.open_connection(addr.host, addr.port)


def hello(secret: str, kernel_id: Any = "k1") -> Message:
    info = {"secret": secret, "kernel_id": kernel_id, "pid": 4242, "version": "test"}
    return Message.create(P.HELLO, "", info)


async def read_until_eof(reader: asyncio.StreamReader, timeout: float = 3.0) -> list[Message]:
    """Everything the listener sends before it closes the connection."""
    frames = FrameReader()
    out: list[Message] = []
    while True:
        try:
            data = await asyncio.wait_for(reader.read(65536), timeout)
        except ConnectionResetError:
            return out
        if not data:
            return out
        for batch in frames.feed(data):
            out.extend(batch)


async def read_bytes_until_eof(reader: asyncio.StreamReader, timeout: float = 3.0) -> bytes:
    """Everything the listener sends before it closes, undecoded (allocates only that)."""
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := await asyncio.wait_for(reader.read(65536), timeout):
            data += chunk
    return data


async def read_messages(
    reader: asyncio.StreamReader, frames: FrameReader, count: int, timeout: float = 3.0
) -> list[Message]:
    """At least ``count`` messages (fails on EOF or timeout)."""
    out: list[Message] = []
    while len(out) < count:
        data = await asyncio.wait_for(reader.read(65536), timeout)
        assert data, f"connection closed after {[m.kind for m in out]}"
        for batch in frames.feed(data):
            out.extend(batch)
    return out


async def good_kernel_session(listener: KernelListener, kernel_id: str = "k1") -> None:
    """A well-behaved kernel: hello, open, set; the hub must act on all of it."""
    reader, writer = await connect(listener)
    frames = FrameReader()
    writer.write(encode_frame([hello(listener.secret, kernel_id)]))
    [welcome] = await read_messages(reader, frames, 1)
    assert welcome.kind == P.WELCOME
    assert welcome.value()["max_frame_bytes"] == listener.limits.max_frame_bytes
    writer.write(
        encode_frame(
            [Message.create(P.OPEN, "sensor"), Message.create(P.SET, "sensor", "T", key="title")]
        )
    )
    [reply] = await read_messages(reader, frames, 1)
    assert reply.kind == P.OPENED
    assert reply.channel == "sensor"
    ch = listener.hub.channels[(kernel_id, "sensor")]
    assert ch.epoch == reply.value()["epoch"]
    assert ch.state["title"].value() == "T"
    writer.close()
    await writer.wait_closed()


def mode(path: str | Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


# -- binding ---------------------------------------------------------------------------


def test_unix_socket_is_private_and_lives_in_the_runtime_dir(runtime_dir: Path) -> None:
    listener = make_listener(runtime_dir)

    async def main() -> None:
        async with serving(listener):
            addr = listener.address
            assert addr is not None and addr.kind == "unix"
            path = Path(addr.path)
            assert path.parent == runtime_dir
            assert path.name.startswith(f"nbchannel-{PORT}-") and path.suffix == ".sock"
            assert stat.S_ISSOCK(os.stat(path).st_mode)
            assert mode(path) == 0o600
            await good_kernel_session(listener)
        assert not path.exists()  # stop() removes the socket file

    asyncio.run(main())


def test_hub_file_is_private_json_with_address_and_secret(runtime_dir: Path) -> None:
    listener = make_listener(runtime_dir)

    async def main() -> None:
        async with serving(listener):
            hub_file = runtime_dir / f"nbchannel-hub-{PORT}.json"
            assert listener.hub_file == hub_file
            assert mode(hub_file) == 0o600
            data = json.loads(hub_file.read_text())
            assert data["address"] == str(listener.address)
            assert data["address"].startswith("unix:")
            assert data["secret"] == listener.secret
            assert len(listener.secret) == 64 and int(listener.secret, 16) >= 0
            assert data["pid"] == os.getpid()
            assert not list(runtime_dir.glob("*.tmp"))  # written atomically

    asyncio.run(main())


def test_restarted_listener_reuses_secret_and_socket_path(runtime_dir: Path) -> None:
    first = make_listener(runtime_dir)
    second = make_listener(runtime_dir)
    other_port = make_listener(runtime_dir, port=PORT + 1)

    async def main() -> None:
        async with serving(first):
            pass
        async with serving(second):
            assert second.secret == first.secret
            assert second.address == first.address
            await good_kernel_session(second)  # a kernel holding the old secret gets in
        async with serving(other_port):
            assert other_port.secret != first.secret
            assert other_port.address != first.address

    asyncio.run(main())


@pytest.mark.parametrize("transport", ["unix", "tcp"])
def test_second_live_server_on_the_same_port_does_not_take_over(
    runtime_dir: Path, transport: str
) -> None:
    # Jupyter picks its final port (port_retries) only after extensions load, so two servers
    # started on a busy default port both bind their listener with the same port number.
    first = make_listener(runtime_dir, Hub(), transport=transport)
    second = make_listener(runtime_dir, Hub(), transport=transport)

    async def main() -> None:
        async with serving(first), serving(second):
            assert second.secret != first.secret
            assert second.address != first.address
            assert second.hub_file != first.hub_file
            saved = json.loads(first.hub_file.read_text())
            assert (saved["address"], saved["secret"]) == (str(first.address), first.secret)
            assert json.loads(second.hub_file.read_text())["secret"] == second.secret
            assert mode(second.hub_file) == 0o600
            await good_kernel_session(first, "kernel-of-first")  # still reaches its own hub
            await good_kernel_session(second, "kernel-of-second")

    asyncio.run(main())
    assert set(first.hub.channels) == {("kernel-of-first", "sensor")}
    assert set(second.hub.channels) == {("kernel-of-second", "sensor")}


def test_hub_file_others_can_read_is_not_trusted(runtime_dir: Path) -> None:
    first = make_listener(runtime_dir)
    first.bind()
    assert first._sock is not None
    first._sock.close()
    os.chmod(first.hub_file, 0o644)
    second = make_listener(runtime_dir)

    async def main() -> None:
        async with serving(second):
            assert second.secret != first.secret
            assert mode(second.hub_file) == 0o600
            assert json.loads(second.hub_file.read_text())["secret"] == second.secret

    asyncio.run(main())


def test_tcp_binds_loopback_only(runtime_dir: Path) -> None:
    listener = make_listener(runtime_dir, transport="tcp")
    again = make_listener(runtime_dir, transport="tcp")

    async def main() -> None:
        async with serving(listener):
            addr = listener.address
            assert addr is not None
            assert (addr.kind, addr.host) == ("tcp", "127.0.0.1")
            assert listener._sock is not None
            assert listener._sock.getsockname() == ("127.0.0.1", addr.port)
            assert json.loads(listener.hub_file.read_text())["address"] == (
                f"tcp:127.0.0.1:{addr.port}"
            )
            await good_kernel_session(listener)
        async with serving(again):
            assert again.address == listener.address  # same port after a restart
            assert again.secret == listener.secret

    asyncio.run(main())


def test_socket_dir_setting_is_used(runtime_dir: Path) -> None:
    sockets = runtime_dir / "sockets"
    listener = make_listener(runtime_dir, socket_dir=str(sockets))

    async def main() -> None:
        async with serving(listener):
            assert listener.address is not None
            assert Path(listener.address.path).parent == sockets
            assert mode(sockets) == 0o700
            assert listener.hub_file.parent == runtime_dir

    asyncio.run(main())


def test_too_long_runtime_dir_falls_back_to_a_private_dir(
    tmp_path: Path, runtime_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deep = tmp_path / ("d" * 110)
    deep.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(runtime_dir))  # keep the fallback in our dir
    listener = make_listener(deep)

    async def main() -> None:
        async with serving(listener):
            assert listener.address is not None
            path = Path(listener.address.path)
            assert path.parent == runtime_dir / f"nbchannel-{os.getuid()}"
            assert len(str(path)) <= 100
            assert mode(path.parent) == 0o700
            assert mode(path) == 0o600
            assert listener.hub_file.parent == deep  # the hub file stays where kernels look
            await good_kernel_session(listener)

    asyncio.run(main())


def test_fallback_dir_others_can_enter_is_refused(
    tmp_path: Path, runtime_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deep = tmp_path / ("d" * 110)
    deep.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(runtime_dir))
    shared = runtime_dir / f"nbchannel-{os.getuid()}"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    with pytest.raises(
        NbChannelError, match=r"not private to this user; set c.NbChannel.socket_dir"
    ):
        make_listener(deep).bind()


# -- admission -------------------------------------------------------------------------


def test_wrong_secret_gets_an_error_then_eof(runtime_dir: Path) -> None:
    hub = Hub()
    listener = make_listener(runtime_dir, hub)

    async def main() -> list[Message]:
        async with serving(listener):
            reader, writer = await connect(listener)
            writer.write(encode_frame([hello("0" * 64)]))
            msgs = await read_until_eof(reader)
            writer.close()
            return msgs

    [err] = asyncio.run(main())
    assert err.kind == P.ERROR
    assert err.value() == {"code": "not-permitted", "message": "wrong or missing secret"}
    assert listener.refused == 1
    assert hub.peers == set()


@pytest.mark.parametrize(
    "first",
    [
        Message.create(P.HELLO, "", {"kernel_id": "k1"}),
        Message.create(P.HELLO, "", "just a string"),
        Message.create(P.OPEN, "sensor"),
    ],
    ids=["no-secret", "not-an-object", "not-hello"],
)
def test_first_message_without_the_secret_is_refused(runtime_dir: Path, first: Message) -> None:
    listener = make_listener(runtime_dir)

    async def main() -> list[Message]:
        async with serving(listener):
            reader, writer = await connect(listener)
            writer.write(encode_frame([first]))
            msgs = await read_until_eof(reader)
            writer.close()
            return msgs

    assert [m.value()["code"] for m in asyncio.run(main())] == ["not-permitted"]
    assert listener.refused == 1


@pytest.mark.parametrize("kernel_id", ["", None, 7, "k" * 201])
def test_hello_with_a_bad_kernel_id_is_refused(runtime_dir: Path, kernel_id: Any) -> None:
    hub = Hub()
    listener = make_listener(runtime_dir, hub)

    async def main() -> list[Message]:
        async with serving(listener):
            reader, writer = await connect(listener)
            writer.write(encode_frame([hello(listener.secret, kernel_id)]))
            msgs = await read_until_eof(reader)
            writer.close()
            return msgs

    assert [m.kind for m in asyncio.run(main())] == [P.ERROR]
    assert listener.refused == 1
    assert hub.peers == set()


def test_no_hello_within_the_timeout_is_closed(runtime_dir: Path) -> None:
    listener = make_listener(runtime_dir, hello_timeout=0.2)

    async def main() -> tuple[list[Message], float]:
        async with serving(listener):
            reader, writer = await connect(listener)
            writer.write(encode_frame([hello(listener.secret)])[:5])  # starts, never finishes
            start = asyncio.get_running_loop().time()
            msgs = await read_until_eof(reader)
            writer.close()
            return msgs, asyncio.get_running_loop().time() - start

    msgs, elapsed = asyncio.run(main())
    assert msgs == []
    assert 0.15 <= elapsed < 2
    assert listener.refused == 1


def test_garbage_is_closed(runtime_dir: Path) -> None:
    listener = make_listener(runtime_dir)

    async def main() -> list[Message]:
        async with serving(listener):
            reader, writer = await connect(listener)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            msgs = await read_until_eof(reader)
            writer.close()
            return msgs

    assert asyncio.run(main()) == []
    assert listener.refused == 1


def test_hello_must_come_alone_in_its_frame(runtime_dir: Path) -> None:
    hub = Hub()
    listener = make_listener(runtime_dir, hub)

    async def main() -> list[Message]:
        async with serving(listener):
            reader, writer = await connect(listener)
            writer.write(encode_frame([hello(listener.secret), Message.create(P.OPEN, "sensor")]))
            msgs = await read_until_eof(reader)
            writer.close()
            return msgs

    assert asyncio.run(main()) == []  # no welcome
    assert listener.refused == 1
    assert hub.channels == {}


def test_closed_before_hello_counts_as_refused(runtime_dir: Path) -> None:
    listener = make_listener(runtime_dir)

    async def main() -> None:
        async with serving(listener):
            _, writer = await connect(listener)
            writer.close()
            await writer.wait_closed()
            for _ in range(100):
                if listener.refused:
                    break
                await asyncio.sleep(0.01)

    asyncio.run(main())
    assert listener.refused == 1


def test_good_kernel_still_served_after_every_kind_of_bad_one(
    runtime_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hub = Hub()
    listener = make_listener(runtime_dir, hub, hello_timeout=0.2)

    async def bad(data: bytes) -> None:
        reader, writer = await connect(listener)
        if data:
            writer.write(data)
        await read_until_eof(reader)
        writer.close()

    async def main() -> None:
        async with serving(listener):
            frame = encode_frame([hello(listener.secret)])
            await asyncio.gather(
                bad(encode_frame([hello("f" * 64)])),
                bad(b""),  # silent until the hello timeout
                bad(b"\x00" * 64),
                bad(b"NBC\x09" + bytes(8)),  # a future wire-format version
                bad(b"NBC\x02" + b"\xff" * 8),  # a preamble that claims 4 GiB
                bad(encode_frame([hello(listener.secret), hello(listener.secret)])),
                bad(frame[:12] + b"{" * (len(frame) - 12)),  # right length, broken header
            )
            await good_kernel_session(listener)
            await good_kernel_session(listener, "k2")

    with caplog.at_level(logging.WARNING, logger="nbchannel"):
        asyncio.run(main())
    assert listener.refused == 7
    assert caplog.text.count("refused a kernel connection") == 7
    # every bad connection took the expected path, none reached the catch-all
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert {key for key in hub.channels} == {("k1", "sensor"), ("k2", "sensor")}


def test_frames_pipelined_behind_the_hello_are_handled(runtime_dir: Path) -> None:
    hub = Hub()
    listener = make_listener(runtime_dir, hub)

    async def main() -> list[Message]:
        async with serving(listener):
            reader, writer = await connect(listener)
            writer.write(
                encode_frame([hello(listener.secret)])
                + encode_frame([Message.create(P.OPEN, "sensor")])
                + encode_frame([Message.create(P.APPEND, "sensor", [1, 2])])
            )
            msgs = await read_messages(reader, FrameReader(), 2)
            writer.close()
            return msgs

    assert [m.kind for m in asyncio.run(main())] == [P.WELCOME, P.OPENED]
    assert [m.value() for m in hub.channels[("k1", "sensor")].history] == [[1, 2]]
    assert listener.refused == 0


def test_broken_frame_after_hello_is_answered_then_closes_only_that_connection(
    runtime_dir: Path,
) -> None:
    hub = Hub()
    listener = make_listener(runtime_dir, hub)

    async def main() -> None:
        async with serving(listener):
            reader, writer = await connect(listener)
            frames = FrameReader()
            writer.write(encode_frame([hello(listener.secret)]))
            writer.write(encode_frame([Message.create(P.OPEN, "sensor")]))
            await read_messages(reader, frames, 2)
            writer.write(b"NBC\x02" + b"garbage!" + b"x" * 20)
            # the kernel is told why, then the connection ends
            [err] = await read_until_eof(reader)
            assert err.kind == P.ERROR and err.channel == ""
            assert err.value() == {
                "code": "frame-too-large",
                "message": "frame header of 1575.1 MiB exceeds max_header_bytes (1.0 MiB)",
            }
            writer.close()
            for _ in range(100):
                if not hub.peers:
                    break
                await asyncio.sleep(0.01)
            assert hub.peers == set()  # the kernel's connection is gone …
            assert hub.channels[("k1", "sensor")].is_open  # … its channel waits for it
            await good_kernel_session(listener, "k2")

    asyncio.run(main())
    assert listener.refused == 0


def test_kernel_closing_in_the_middle_of_a_frame_is_told_it_was_lost(
    runtime_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    listener = make_listener(runtime_dir)

    async def main() -> list[Message]:
        async with serving(listener):
            reader, writer = await connect(listener)
            writer.write(encode_frame([hello(listener.secret)]))
            await read_messages(reader, FrameReader(), 1)
            writer.write(encode_frame([Message.create(P.OPEN, "sensor")])[:-3])
            writer.write_eof()
            msgs = await read_until_eof(reader)
            writer.close()
            return msgs

    with caplog.at_level(logging.WARNING, logger="nbchannel"):
        [err] = asyncio.run(main())
    assert err.value()["code"] == "malformed-frame"
    assert "connection closed in the middle of a frame" in err.value()["message"]
    assert "closing kernel k1 connection: connection closed in the middle" in caplog.text


# -- the first frame's size, before authentication ---------------------------------------


def declared_frame(size: int) -> bytes:
    """A preamble that announces a frame of ``size`` bytes (a 64-byte header and the rest)."""
    return struct.pack("<3sBII", b"NBC", VERSION, 64, size - 80)


@pytest.mark.parametrize("transport", ["unix", "tcp"])
def test_a_huge_first_frame_is_refused_at_once_without_allocating_it(
    runtime_dir: Path, transport: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Before the secret is checked, a peer may make the server hold no more than the hello
    # limit: a first frame that declares 60 MiB is refused from its 12-byte preamble.
    hub = Hub()
    listener = make_listener(runtime_dir, hub, transport=transport, hello_timeout=5.0)
    assert listener.max_hello_bytes == 64 * 1024

    async def main() -> tuple[list[Message], float, int]:
        async with serving(listener):
            tracemalloc.start()
            try:
                reader, writer = await connect(listener)
                start = time.monotonic()
                writer.write(declared_frame(60 * 2**20) + b"x" * 4096)  # … and the rest follows
                reply = await read_bytes_until_eof(reader)
                elapsed = time.monotonic() - start
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            writer.close()
            await good_kernel_session(listener)  # a real kernel still gets in
            return decode_frame(reply), elapsed, peak

    with caplog.at_level(logging.WARNING, logger="nbchannel"):
        msgs, elapsed, peak = asyncio.run(main())
    assert elapsed < 1.0, "refused only at the hello timeout"
    assert peak < 1 * 2**20, f"{peak} bytes allocated for an unauthenticated connection"
    [err] = msgs
    assert err.value() == {
        "code": "frame-too-large",
        "message": "first frame of 62914560 bytes declared before authenticating; a hello may "
        "be at most 65536 bytes (c.NbChannel.max_hello_bytes)",
    }
    assert listener.refused == 1
    assert "refused a kernel connection: first frame of 62914560 bytes" in caplog.text
    assert set(hub.channels) == {("k1", "sensor")}


def test_many_huge_first_frames_hold_no_memory(runtime_dir: Path) -> None:
    listener = make_listener(runtime_dir)

    async def attacker() -> bytes:
        reader, writer = await connect(listener)
        writer.write(declared_frame(60 * 2**20))
        reply = await read_bytes_until_eof(reader)
        writer.close()
        return reply

    async def main() -> tuple[list[bytes], int]:
        async with serving(listener):
            tracemalloc.start()
            try:
                replies = await asyncio.gather(*(attacker() for _ in range(16)))
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            return replies, peak

    replies, peak = asyncio.run(main())
    assert peak < 1 * 2**20, f"{peak} bytes allocated for 16 unauthenticated connections"
    codes = [[m.value()["code"] for m in decode_frame(r)] for r in replies]
    assert codes == [["frame-too-large"]] * 16
    assert listener.refused == 16


def padded_hello(secret: str, size: int) -> bytes:
    """A valid hello frame of about ``size`` bytes (an extra field pads it)."""
    info = {"secret": secret, "kernel_id": "k1", "pid": 1, "pad": "x" * size}
    return encode_frame([Message.create(P.HELLO, "", info)])


def test_the_hello_limit_is_configurable(runtime_dir: Path) -> None:
    default = make_listener(runtime_dir)
    roomy = make_listener(runtime_dir, port=PORT + 1, max_hello_bytes=256 * 1024)

    async def first_reply(listener: KernelListener) -> Message:
        async with serving(listener):
            reader, writer = await connect(listener)
            writer.write(padded_hello(listener.secret, 100_000))
            [reply] = await read_messages(reader, FrameReader(), 1)
            writer.close()
            return reply

    refused = asyncio.run(first_reply(default))
    assert refused.kind == P.ERROR and refused.value()["code"] == "frame-too-large"
    assert "a hello may be at most 65536 bytes" in refused.value()["message"]
    assert asyncio.run(first_reply(roomy)).kind == P.WELCOME
    assert (default.refused, roomy.refused) == (1, 0)


def test_after_the_hello_frames_may_be_as_large_as_max_frame_bytes(runtime_dir: Path) -> None:
    hub = Hub()
    listener = make_listener(runtime_dir, hub)
    big = bytes(range(256)) * 8192  # 2 MiB, far over the hello limit

    async def main() -> None:
        async with serving(listener):
            reader, writer = await connect(listener)
            frames = FrameReader()
            writer.write(encode_frame([hello(listener.secret)]))
            writer.write(encode_frame([Message.create(P.OPEN, "sensor")]))
            writer.write(encode_frame([Message.create(P.APPEND, "sensor", {"blob": big})]))
            await read_messages(reader, frames, 2)
            for _ in range(200):
                if hub.channels[("k1", "sensor")].history:
                    break
                await asyncio.sleep(0.01)
            writer.close()

    asyncio.run(main())
    [item] = hub.channels[("k1", "sensor")].history
    assert item.value()["blob"] == big
    assert listener.refused == 0


def test_stop_closes_kernel_connections(runtime_dir: Path) -> None:
    hub = Hub()
    listener = make_listener(runtime_dir, hub)

    async def main() -> None:
        await listener.start()
        reader, writer = await connect(listener)
        writer.write(encode_frame([hello(listener.secret)]))
        await read_messages(reader, FrameReader(), 1)
        assert len(hub.peers) == 1
        await listener.stop()
        assert await read_until_eof(reader) == []
        writer.close()
        assert hub.peers == set()

    asyncio.run(main())


def test_an_event_reaches_an_idle_kernel_in_the_call_that_routed_it(runtime_dir: Path) -> None:
    hub = Hub()
    listener = make_listener(runtime_dir, hub)

    async def main() -> tuple[int, list[Message]]:
        async with serving(listener):
            reader, writer = await connect(listener)
            writer.write(
                encode_frame([hello(listener.secret)])
                + encode_frame([Message.create(P.OPEN, "ui")])
            )
            frames = FrameReader()
            assert [m.kind for m in await read_messages(reader, frames, 2)] == [
                P.WELCOME,
                P.OPENED,
            ]
            viewer = hub.connect_subscriber()
            event = Message.create(P.EVENT, "ui", {"x": 1}, scope="k1", key="click")
            hub.receive(viewer, [event])
            owner = next(iter(hub.channels[("k1", "ui")].owners))
            queued = len(owner.outbox)  # 0: written to the socket already, not queued
            got = await read_messages(reader, frames, 1)
            writer.close()
            return queued, got

    queued, got = asyncio.run(main())
    assert queued == 0
    assert [(m.kind, m.key, m.value()) for m in got] == [(P.EVENT, "click", {"x": 1})]
