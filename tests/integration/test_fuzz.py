"""Seeded fuzzing of both server endpoints with mutated frames, while a real stream runs.

Valid frames from the codec are mutated (bit flips, truncations, length fields, junk JSON
headers, huge declared sizes, wrong versions, splices) and sent to a real server:

* over the browser WebSocket (authenticated), where every frame the codec refuses must be
  answered with an ``error`` naming exactly what the codec says, and the socket stays open;
* over the kernel socket (after a valid hello), where a frame the codec refuses, or a
  stream that ends in the middle of a frame, must be answered with that error and then the
  connection closed (a byte stream cannot find the next frame boundary); the fuzzer then
  reconnects.

Meanwhile a real kernel appends a numbered stream to a channel that a separate viewer
watches; after every batch that stream must be intact (nothing lost, nothing reordered),
and the server log must hold no traceback. ``NBCHANNEL_FUZZ_SEED`` picks another seed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import struct
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import orjson
import pytest

from nbchannel.core import protocol as P
from nbchannel.core.address import HubAddress
from nbchannel.core.codec import PREAMBLE_SIZE, FrameReader, Limits, decode_frame, encode_frame
from nbchannel.core.message import Message
from nbchannel.errors import FrameError
from nbchannel.testing import JupyterServer, KernelSession, Viewer

from ..conftest import open_channel

SEED = int(os.environ.get("NBCHANNEL_FUZZ_SEED", "20241201"))
WS_FRAMES, WS_BATCH = 20_000, 1_000
KERNEL_FRAMES, KERNEL_BATCH = 5_000, 500
#: The server runs with the default bounds, so the codec here decides exactly as it does.
LIMITS = Limits()
FUZZ_SCOPE = "fuzz-kernel"

Expected = tuple[str, str]  # (code, message) of the error the server must answer with


# -- valid frames to start from --------------------------------------------------------


def viewer_frames() -> list[bytes]:
    """What a browser sends (and a few things it may not), as valid frames."""
    image = np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)
    grid = np.asfortranarray(np.linspace(0, 1, 12).reshape(3, 4))
    batches = [
        [Message(P.SUBSCRIBE, "fz", scope=P.SERVER_SCOPE)],
        [Message(P.SUBSCRIBE, "fz2", scope=FUZZ_SCOPE, epoch=3, offset=10)],
        [Message(P.UNSUBSCRIBE, "fz", scope=P.SERVER_SCOPE)],
        [Message.create(P.EVENT, "fz", {"x": 1, "y": [1, 2.5, None]}, scope="server", key="c")],
        [
            Message.create(
                P.EVENT,
                "fz",
                {"img": image, "raw": b"\x00\x01\xff", "grid": grid, "n": np.arange(5)},
                scope=FUZZ_SCOPE,
                key="pointer",
            )
        ],
        [Message.create(P.APPEND, "fz", [1, 2], scope=P.SERVER_SCOPE)],
        [Message.create(P.SET, "fz", "v", scope=P.SERVER_SCOPE, key="title")],
        [
            Message(P.SUBSCRIBE, "a", scope=P.SERVER_SCOPE),
            Message.create(P.EVENT, "a", "ü✓", scope=P.SERVER_SCOPE, key="text"),
            Message(P.UNSUBSCRIBE, "a", scope=P.SERVER_SCOPE),
        ],
        [Message.create(P.EVENT, f"c{i}", i, scope=FUZZ_SCOPE, key="tick") for i in range(20)],
    ]
    return [encode_frame(b) for b in batches]


def kernel_frames() -> list[bytes]:
    """What a kernel sends on its own connection, as valid frames."""
    row = np.arange(64, dtype=np.float64)
    batches = [
        [Message.create(P.APPEND, "fz", {"i": 1, "row": row})],
        [Message.create(P.SET, "fz", {"title": "T ✓"}, key="meta")],
        [Message.create(P.PUBLISH, "fz", [1, None, 2.5])],
        [Message(P.UNSET, "fz", key="meta")],
        [Message.create(P.APPEND, "fz", i) for i in range(30)],
        [
            Message.create(P.SET, "fz", b"\x00" * 40, key="raw"),
            Message.create(P.APPEND, "fz", {"img": np.zeros((4, 4, 3), np.uint8)}),
            Message.create(P.OPEN, "fz-other", {"history_items": 10}),
        ],
        [Message.create(P.GAP, "fz", {"kind": "append", "count": 2})],
    ]
    return [encode_frame(b) for b in batches]


# -- mutations --------------------------------------------------------------------------

JUNK_HEADERS = [
    b"",
    b"{}",
    b"[]",
    b"[1]",
    b"null",
    b'"text"',
    b"[{}]",
    b'[{"k": 5}]',
    b'[{"k": ""}]',
    b'[{"k": "append", "p": -1}]',
    b'[{"k": "append", "p": 99999999}]',
    b'[{"k": "event", "c": 7, "s": "server"}]',
    b'[{"k": "event", "o": -3}]',
    b'[{"k": "sub", "e": 1e400}]',
    b'[{"k": "event", "b": {}}]',
    b'[{"k": "event", "b": [{"p": "x", "n": 1}]}]',
    b'[{"k": "event", "b": [{"p": [], "n": -1}]}]',
    b'[{"k": "event", "b": [{"p": [], "n": 8, "t": "bogus", "s": [1]}]}]',
    b'[{"k": "event", "b": [{"p": [], "n": 8, "t": "<f8", "s": [2]}]}]',
    b'[{"k": "event", "b": [{"p": [-1], "n": 0}]}]',
    b"[" * 5000,
    b"\xff\xfe\x00garbage",
    b'[{"k": "sub", "c": "\xed\xa0\x80"}]',  # a lone surrogate: invalid UTF-8
    b'[{"k":"sub","c":"x","s":"server"}]   trailing',
]

WEIRD_VALUES: list[Any] = [
    -1,
    2**64,
    1.5,
    "x",
    "",
    None,
    True,
    [],
    {},
    [[]],
    "y" * 300,
    [{"p": [], "n": 2**40}],
    [{"p": ["a"], "n": 3, "t": "<i4", "s": [1]}],
]


def preamble(version: int, hlen: int, blen: int, magic: bytes = b"NBC") -> bytes:
    return struct.pack("<3sBII", magic, version, hlen, blen)


def split(frame: bytes) -> tuple[bytes, bytes]:
    """(header JSON, body) of a valid frame."""
    hlen = struct.unpack_from("<I", frame, 4)[0]
    body_start = (PREAMBLE_SIZE + hlen + 7) & ~7
    return frame[PREAMBLE_SIZE : PREAMBLE_SIZE + hlen], frame[body_start:]


def assemble(header: bytes, body: bytes) -> bytes:
    """A frame whose lengths agree with its parts (so the contents are what is tested)."""
    pad = -(PREAMBLE_SIZE + len(header)) % 8
    return preamble(1, len(header), len(body)) + header + bytes(pad) + body


Mutator = Callable[[random.Random, bytes, list[bytes]], bytes]


def flip_bits(rng: random.Random, f: bytes, pool: list[bytes]) -> bytes:
    b = bytearray(f)
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(b))
        b[i] ^= 1 << rng.randrange(8)
    return bytes(b)


def set_bytes(rng: random.Random, f: bytes, pool: list[bytes]) -> bytes:
    b = bytearray(f)
    for _ in range(rng.randint(1, 3)):
        b[rng.randrange(len(b))] = rng.randrange(256)
    return bytes(b)


def truncate(rng: random.Random, f: bytes, pool: list[bytes]) -> bytes:
    return f[: rng.randrange(1, len(f))]


def extend(rng: random.Random, f: bytes, pool: list[bytes]) -> bytes:
    return f + rng.randbytes(rng.choice([1, 3, 8, 64]))


def length_field(rng: random.Random, f: bytes, pool: list[bytes]) -> bytes:
    field = rng.choice([4, 8])  # header length, body length
    old = struct.unpack_from("<I", f, field)[0]
    new = rng.choice(
        [
            max(0, old + rng.randint(-16, 16)),
            0,
            rng.randrange(2**32),
            2**32 - 1,
            LIMITS.max_header_bytes + 1,
            LIMITS.max_frame_bytes - PREAMBLE_SIZE,
        ]
    )
    b = bytearray(f)
    struct.pack_into("<I", b, field, new)
    return bytes(b)


def huge_declared(rng: random.Random, f: bytes, pool: list[bytes]) -> bytes:
    hlen = rng.choice([8, 100, LIMITS.max_header_bytes + rng.randint(1, 2**20), 2**32 - 1])
    blen = rng.choice([LIMITS.max_frame_bytes, 2**31, 2**32 - 1, rng.randrange(2**32)])
    return preamble(1, hlen, blen) + f[PREAMBLE_SIZE:]


def wrong_version(rng: random.Random, f: bytes, pool: list[bytes]) -> bytes:
    return bytes([*f[:3], rng.choice([0, 2, 9, 255])]) + f[4:]


def wrong_magic(rng: random.Random, f: bytes, pool: list[bytes]) -> bytes:
    return rng.choice([b"NBD", b"nbc", b"\x00\x00\x00", b"GET"]) + f[3:]


def junk_header(rng: random.Random, f: bytes, pool: list[bytes]) -> bytes:
    return assemble(rng.choice(JUNK_HEADERS), split(f)[1])


def odd_field(rng: random.Random, f: bytes, pool: list[bytes]) -> bytes:
    """Valid JSON, consistent lengths, one header field of an unexpected type or value."""
    header, body = split(f)
    entries = orjson.loads(header)
    entry = rng.choice(entries)
    name = rng.choice(["k", "c", "s", "y", "o", "e", "p", "b"])
    entry[name] = rng.choice(WEIRD_VALUES)
    if rng.random() < 0.2 and entry.get("b"):
        entry["b"][0][rng.choice(["p", "n", "t", "s"])] = rng.choice(WEIRD_VALUES)
    return assemble(orjson.dumps(entries), body)


def splice(rng: random.Random, f: bytes, pool: list[bytes]) -> bytes:
    other = rng.choice(pool)
    if rng.random() < 0.3:
        return f + other  # two whole frames where one is expected
    return f[: rng.randrange(1, len(f))] + other[rng.randrange(len(other)) :]


MUTATORS: list[tuple[Mutator, int]] = [
    (flip_bits, 6),
    (set_bytes, 3),
    (truncate, 3),
    (extend, 1),
    (length_field, 3),
    (huge_declared, 2),
    (wrong_version, 1),
    (wrong_magic, 1),
    (junk_header, 3),
    (odd_field, 4),
    (splice, 2),
]


def mutate(rng: random.Random, pool: list[bytes]) -> bytes:
    frame = rng.choice(pool)
    funcs, weights = zip(*MUTATORS, strict=True)
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        mutator = rng.choices(funcs, weights)[0]
        try:
            frame = mutator(rng, frame, pool) or b"\x00"
        except Exception:  # a mutation that needs a well-formed frame; try the next one
            continue
    return frame


def ws_expectation(frame: bytes) -> Expected | None:
    """The error the WebSocket must answer ``frame`` with (None: the codec accepts it)."""
    try:
        decode_frame(frame, LIMITS)
    except FrameError as exc:
        return exc.code, str(exc)
    return None


def stream_expectation(frame: bytes) -> tuple[str, Expected | None]:
    """What the kernel socket makes of ``frame`` sent alone on a clean stream."""
    reader = FrameReader(LIMITS)
    try:
        reader.feed(frame)
    except FrameError as exc:
        return "invalid", (exc.code, str(exc))
    if reader.buffered:
        message = (
            f"connection closed in the middle of a frame ({reader.buffered} bytes of it received)"
        )
        return "incomplete", ("malformed-frame", message)
    return "valid", None


# -- the legitimate stream --------------------------------------------------------------


class LegitStream:
    """A real kernel appending 0, 1, 2 … every 2 ms; a viewer reading all of it."""

    def __init__(self, server: JupyterServer, kernel: KernelSession) -> None:
        self.server = server
        self.kernel = kernel
        self.viewer: Viewer | None = None
        self.task: asyncio.Task[None] | None = None
        self.checked = 0

    async def start(self) -> None:
        open_channel(self.kernel, "legit")
        self.viewer = await Viewer.connect(self.server.ws_url, token=self.server.token)
        view = await self.viewer.subscribe(self.kernel.id, "legit")
        await self.viewer.wait_for(lambda: view.epoch is not None)
        self.kernel.execute(
            "import threading\n"
            "stop, sent = threading.Event(), [0]\n"
            "def pump():\n"
            "    while not stop.is_set():\n"
            "        ch.append(sent[0])\n"
            "        sent[0] += 1\n"
            "        time.sleep(0.002)\n"
            "pumping = threading.Thread(target=pump, daemon=True)\n"
            "pumping.start()\n"
        )
        self.task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        assert self.viewer is not None
        while await self.viewer.receive() is not None:
            pass

    @property
    def items(self) -> list[tuple[int, Any]]:
        assert self.viewer is not None
        return self.viewer.view(self.kernel.id, "legit").items

    async def check(self) -> int:
        """Intact so far, and still flowing: returns how many items arrived."""
        assert self.viewer is not None and self.task is not None
        assert not self.task.done(), "the legitimate viewer lost its connection"
        for _ in range(500):  # the stream must have moved on since the last check
            if len(self.items) > self.checked:
                break
            await asyncio.sleep(0.01)
        items = list(self.items)
        view = self.viewer.view(self.kernel.id, "legit")
        assert view.gaps == [] and view.resets == 1 and not view.closed
        assert len(items) > self.checked, "the legitimate stream stalled"
        assert [o for o, _ in items] == list(range(len(items)))
        assert [v for _, v in items] == list(range(len(items)))
        self.checked = len(items)
        return len(items)

    async def finish(self) -> int:
        """Stop the kernel's stream; every item it sent must have arrived, in order."""
        self.kernel.execute("stop.set()\npumping.join()\nch.flush(10)")
        sent = int(self.kernel.eval("sent[0]"))
        for _ in range(1000):
            if len(self.items) >= sent:
                break
            await asyncio.sleep(0.01)
        assert [v for _, v in self.items] == list(range(sent))
        assert self.task is not None and self.viewer is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.viewer.close()
        return sent


# -- the fuzzers ------------------------------------------------------------------------


async def fuzz_websocket(server: JupyterServer, legit: LegitStream, counts: Counter[str]) -> None:
    rng = random.Random(SEED)
    pool = viewer_frames()
    fuzz = await Viewer.connect(server.ws_url, token=server.token)
    conn = fuzz.conn
    for batch in range(WS_FRAMES // WS_BATCH):
        expected: list[Expected] = []
        for _ in range(WS_BATCH):
            if rng.random() < 0.005:
                await conn.write_message("{not a binary frame}")
                expected.append(
                    ("malformed-frame", "nbchannel speaks binary frames; text message ignored")
                )
                counts["ws text"] += 1
                continue
            frame = mutate(rng, pool)
            answer = ws_expectation(frame)
            counts["ws invalid" if answer else "ws valid"] += 1
            if answer:
                expected.append(answer)
                counts[f"code {answer[0]}"] += 1
            await conn.write_message(frame, binary=True)
        # An event for a channel nobody owns is always answered: once that answer is in,
        # every answer to the batch is (a connection's messages stay in order).
        sentinel = f"sentinel-{batch}"
        await fuzz.event(P.SERVER_SCOPE, sentinel, "ping", batch)
        got: list[Expected] = []
        while True:
            data = await asyncio.wait_for(conn.read_message(), 60)
            assert data is not None, "the server closed the fuzzed WebSocket"
            assert isinstance(data, bytes)
            msgs = decode_frame(data)
            for m in msgs:
                if m.kind == P.ERROR and m.key is None:
                    info = m.value()
                    got.append((info["code"], info["message"]))
                elif m.kind == P.ERROR:
                    counts["ws hub errors"] += 1  # about a message of a valid frame
            if any(m.kind == P.ERROR and m.channel == sentinel for m in msgs):
                break
        for i, (g, e) in enumerate(zip(got, expected, strict=False)):
            assert g == e, f"batch {batch}: answer {i} is {g}, expected {e}"
        assert len(got) == len(expected), f"batch {batch}: {len(got)} answers, {len(expected)}"
        counts["ws answered"] += len(got)
        counts["legit items"] = await legit.check()
    await fuzz.close()


async def kernel_connect(
    address: HubAddress, secret: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    if address.kind == "unix":
        reader, writer = await asyncio.open_unix_connection(address.path)
    else:
        reader, writer = await asyncio.open_connection(address.host, address.port)
    hello = {"secret": secret, "kernel_id": FUZZ_SCOPE, "pid": os.getpid(), "version": "fuzz"}
    writer.write(encode_frame([Message.create(P.HELLO, "", hello)]))
    frames = FrameReader()
    while True:
        data = await asyncio.wait_for(reader.read(65536), 30)
        assert data, "refused after a valid hello"
        batches = frames.feed(data)
        if batches:
            assert batches[0][0].kind == P.WELCOME
            break
    writer.write(encode_frame([Message.create(P.OPEN, "fz")]))
    return reader, writer


async def read_to_end(reader: asyncio.StreamReader) -> list[Message]:
    frames = FrameReader(Limits(max_frame_bytes=1 << 30))
    out: list[Message] = []
    with contextlib.suppress(ConnectionResetError):
        while data := await asyncio.wait_for(reader.read(1 << 20), 30):
            for batch in frames.feed(data):
                out.extend(batch)
    return out


async def fuzz_kernel_socket(
    server: JupyterServer, legit: LegitStream, counts: Counter[str]
) -> None:
    rng = random.Random(SEED + 1)
    pool = kernel_frames()
    hub = server.hub_info()
    address, secret = HubAddress.parse(hub["address"]), hub["secret"]
    refused_before = server.channels()["kernel_listener"]["refused"]
    reader, writer = await kernel_connect(address, secret)
    counts["kernel connections"] += 1
    for _ in range(KERNEL_FRAMES // KERNEL_BATCH):
        for _ in range(KERNEL_BATCH):
            frame = mutate(rng, pool)
            kind, answer = stream_expectation(frame)
            counts[f"kernel {kind}"] += 1
            if answer is not None:
                counts[f"code {answer[0]}"] += 1
            writer.write(frame)
            if answer is None:
                await writer.drain()
                continue
            if kind == "incomplete":
                writer.write_eof()  # the kernel goes away in the middle of the frame
            msgs = await read_to_end(reader)
            closing = [m.value() for m in msgs if m.kind == P.ERROR and m.key is None]
            assert closing, f"connection closed without a reason; expected {answer}"
            assert (closing[-1]["code"], closing[-1]["message"]) == answer
            counts["kernel answered"] += 1
            writer.close()
            reader, writer = await kernel_connect(address, secret)
            counts["kernel connections"] += 1
        counts["legit items"] = await legit.check()
    writer.close()
    # an authenticated kernel's bad frames close its connection; none counts as refused
    assert server.channels()["kernel_listener"]["refused"] == refused_before


# -- the test ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_server() -> Iterator[JupyterServer]:
    with JupyterServer() as server:
        yield server


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_fuzzed_frames_are_all_answered_and_a_real_stream_stays_intact(
    fuzz_server: JupyterServer,
) -> None:
    server = fuzz_server
    kernel = server.start_kernel()
    counts: Counter[str] = Counter()

    async def scenario() -> int:
        legit = LegitStream(server, kernel)
        await legit.start()
        await fuzz_websocket(server, legit, counts)
        await fuzz_kernel_socket(server, legit, counts)
        return await legit.finish()

    try:
        delivered = asyncio.run(scenario())
    finally:
        kernel.shutdown()
    ws_sent = counts["ws valid"] + counts["ws invalid"] + counts["ws text"]
    kernel_sent = counts["kernel valid"] + counts["kernel invalid"] + counts["kernel incomplete"]
    print(
        f"\nfuzz seed {SEED}: WebSocket {ws_sent} frames ({counts['ws invalid']} invalid, "
        f"{counts['ws text']} text, {counts['ws valid']} decodable; {counts['ws answered']} "
        f"answered with the codec's error, {counts['ws hub errors']} hub errors); kernel socket "
        f"{kernel_sent} frames ({counts['kernel invalid']} invalid, "
        f"{counts['kernel incomplete']} cut short, {counts['kernel valid']} decodable; "
        f"{counts['kernel answered']} answered then closed, {counts['kernel connections']} "
        f"connections); legitimate stream: {delivered} items, none lost or reordered\n"
        "errors expected and received, by code: "
        + ", ".join(f"{k[5:]} {v}" for k, v in sorted(counts.items()) if k.startswith("code "))
    )
    assert ws_sent >= 20_000 and kernel_sent >= 5_000
    assert counts["ws answered"] == counts["ws invalid"] + counts["ws text"] > 10_000
    assert counts["kernel answered"] == counts["kernel invalid"] + counts["kernel incomplete"]
    assert counts["kernel answered"] > 2_000 and counts["kernel valid"] > 200
    log = server.log()
    assert "Traceback" not in log
    assert "unexpected error" not in log and "connection failed" not in log
