"""The frame codec: layout, round trips, streaming, and refusing bad input safely."""

from __future__ import annotations

import contextlib
import json
import struct
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nbchannel.core import protocol as P
from nbchannel.core.codec import (
    COPY_BELOW,
    MAGIC,
    PREAMBLE_SIZE,
    VERSION,
    FrameReader,
    Limits,
    decode_frame,
    encode_frame,
    encode_frame_parts,
)
from nbchannel.core.message import Message, MessageRun, Segment
from nbchannel.errors import FrameError, FrameTooLarge, MalformedFrame, UnsupportedVersion

from .payloads import assert_fields, assert_same, messages

Drawn = tuple[Message, dict[str, Any]]


def frame_of(
    header: Any,
    body: bytes = b"",
    *,
    magic: bytes = MAGIC,
    version: int = VERSION,
    hlen: int | None = None,
    blen: int | None = None,
) -> bytes:
    """A hand-made frame; ``header`` is a JSON value or raw bytes; lengths may lie.

    The stdlib encoder writes what orjson refuses to (ints over 64 bits, NaN), which is
    just what a hostile peer would send.
    """
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    pad = -(PREAMBLE_SIZE + len(raw)) & 7
    preamble = struct.pack(
        "<3sBII",
        magic,
        version,
        len(raw) if hlen is None else hlen,
        len(body) if blen is None else blen,
    )
    return preamble + raw + bytes(pad) + body


def declared_length(frame: bytes) -> int:
    """The frame length its preamble declares, checking nothing else."""
    hlen, blen = struct.unpack_from("<II", frame, 4)
    return int(((PREAMBLE_SIZE + hlen + 7) & ~7) + blen)


def layout(frame: bytes) -> list[tuple[int, int]]:
    """(offset, nbytes) of every buffer, found by walking the documented layout by hand."""
    hlen = struct.unpack_from("<I", frame, 4)[0]
    pos = (PREAMBLE_SIZE + hlen + 7) & ~7
    spans = []
    for entry in orjson.loads(frame[PREAMBLE_SIZE : PREAMBLE_SIZE + hlen]):
        pos += entry.get("p", 0)
        for desc in entry.get("b", []):
            pos = (pos + 7) & ~7
            spans.append((pos, desc["n"]))
            pos += desc["n"]
    assert pos == len(frame)
    return spans


def decode_safely(data: bytes) -> None:
    """Decode ``data`` and every payload; only FrameError subclasses may come out."""
    try:
        msgs = decode_frame(data)
    except FrameError:
        return
    for m in msgs:
        with contextlib.suppress(FrameError):
            m.value()


def sample_frame() -> tuple[list[Message], bytes]:
    """A multi-message frame with buffers of several sizes, payloads and routing fields."""
    msgs = [
        Message.create("set", "plot", {"title": "Tëmp", "n": 3}, key="title", offset=7, epoch=1),
        Message.create(
            "append",
            "plot",
            {"x": np.arange(5, dtype="<i2"), "y": [np.ones((2, 3), dtype="<f4"), b"\x01\x02"]},
            scope="s1",
            offset=8,
        ),
        Message("ping"),
        Message.create("image", "cam", np.arange(96, dtype="u1").reshape(4, 8, 3)),
    ]
    return msgs, encode_frame(msgs)


# -- round trips ------------------------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(messages(), min_size=1, max_size=4))
def test_frame_round_trip(batch: list[Drawn]) -> None:
    frame = encode_frame([m for m, _ in batch])
    decoded = decode_frame(frame)
    assert len(decoded) == len(batch)
    for got, (sent, fields) in zip(decoded, batch, strict=True):
        assert_fields(got, fields)
        assert got == sent
        assert_same(got.value(), fields["value"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batches=st.lists(st.lists(messages(max_leaves=4), min_size=1, max_size=3), max_size=4),
    data=st.data(),
)
def test_frame_reader_random_chunks(batches: list[list[Drawn]], data: st.DataObject) -> None:
    stream = b"".join(encode_frame([m for m, _ in batch]) for batch in batches)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    reader = FrameReader()
    frames: list[list[Message]] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        frames += reader.feed(stream[start:end])
    assert reader.buffered == 0
    assert len(frames) == len(batches)
    for got, batch in zip(frames, batches, strict=True):
        assert len(got) == len(batch)
        for m, (_, fields) in zip(got, batch, strict=True):
            assert_fields(m, fields)
            assert_same(m.value(), fields["value"])


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_decode_accepts_any_bytes_like(kind: Callable[[bytes], Any]) -> None:
    msgs, frame = sample_frame()
    assert decode_frame(kind(frame)) == msgs


def test_frame_reader_byte_by_byte_and_many_frames_per_chunk() -> None:
    msgs, frame = sample_frame()
    reader = FrameReader()
    got = [reader.feed(frame[i : i + 1]) for i in range(len(frame))]
    assert all(g == [] for g in got[:-1]) and got[-1] == [msgs]
    assert reader.feed(frame * 3 + frame[:20]) == [msgs] * 3
    assert reader.buffered == 20


def test_frame_reader_keeps_no_reference_to_what_it_was_fed() -> None:
    big = np.arange(8192, dtype="<f8")
    frame = encode_frame([Message.create("p", "c", {"a": big})])
    small = encode_frame([Message.create("p", "c", {"b": b"x" * 100})])
    stream = small + frame + small
    reader = FrameReader()
    got: list[list[Message]] = []
    for i in range(0, len(stream), 5000):
        piece = bytearray(stream[i : i + 5000])
        got += reader.feed(piece)
        piece[:] = bytes(len(piece))  # the caller reuses its buffer
    assert [m.value() for batch in got for m in batch][1]["a"].tolist() == big.tolist()
    assert got[0][0].value() == {"b": b"x" * 100} and got[2][0].value() == {"b": b"x" * 100}
    assert reader.buffered == 0


def _receive(reader: FrameReader, stream: bytes, reads: list[int]) -> list[list[Message]]:
    """Play ``stream`` into ``reader`` as asyncio's BufferedProtocol would: each read fills
    at most the buffer it was given (and at most the next size in ``reads``)."""
    frames: list[list[Message]] = []
    pos, i = 0, 0
    while pos < len(stream):
        buf = reader.get_buffer()
        assert len(buf) > 0
        take = min(len(buf), len(stream) - pos, reads[i % len(reads)] if reads else len(buf))
        buf[:take] = stream[pos : pos + take]
        pos += take
        i += 1
        frames += reader.buffer_updated(take)
    return frames


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sizes=st.lists(st.sampled_from([0, 10, 5_000, 40_000, 70_000, 300_000]), max_size=8),
    reads=st.lists(st.integers(1, 400_000), max_size=6),
)
def test_frame_reader_buffer_interface_any_read_sizes(sizes: list[int], reads: list[int]) -> None:
    # Small and large frames (below, around and above the scratch buffer) in one stream.
    batches = [
        [Message.create("p", "c", {"i": i, "a": np.full(n // 8, i, "<f8")})]
        for i, n in enumerate(sizes)
    ]
    stream = b"".join(encode_frame(batch) for batch in batches)
    reader = FrameReader()
    frames = _receive(reader, stream, reads)
    assert reader.buffered == 0
    assert [m.value()["i"] for batch in frames for m in batch] == list(range(len(sizes)))
    for batch, n in zip(frames, sizes, strict=True):
        a = batch[0].value()["a"]
        assert a.shape == (n // 8,) and (a == batch[0].value()["i"]).all()


def test_frame_reader_receives_a_large_frame_straight_into_its_own_buffer() -> None:
    big = np.arange(1 << 17, dtype="<f8")  # 1 MiB
    frame = encode_frame([Message.create("p", "c", {"a": big})])
    reader = FrameReader()
    first = reader.get_buffer()
    assert len(first) == FrameReader.SCRATCH_BYTES
    first[:4096] = frame[:4096]
    assert reader.buffer_updated(4096) == []
    # Once the preamble is in, the next read may take the whole rest of the frame.
    rest = reader.get_buffer()
    assert len(rest) == len(frame) - 4096
    rest[:] = frame[4096:]
    ((msg,),) = reader.buffer_updated(len(rest))
    arr = msg.value()["a"]
    assert arr.tolist() == big.tolist()
    assert arr.base is not None  # a view on the frame's buffer, not a copy
    assert reader.buffered == 0 and len(reader.get_buffer()) == FrameReader.SCRATCH_BYTES


def test_frame_reader_buffer_interface_refuses_a_lying_preamble_at_once() -> None:
    _, frame = sample_frame()
    lie = bytearray(frame[:PREAMBLE_SIZE])
    struct.pack_into("<I", lie, 8, 0xFFFF_FFF0)  # a body of 4 GiB
    reader = FrameReader()
    buf = reader.get_buffer()
    buf[:PREAMBLE_SIZE] = lie
    with pytest.raises(FrameTooLarge):
        reader.buffer_updated(PREAMBLE_SIZE)
    with pytest.raises(MalformedFrame, match="already failed"):
        reader.get_buffer()


def test_empty_frame_is_refused_when_encoding() -> None:
    with pytest.raises(ValueError, match="at least one message"):
        encode_frame([])


# -- layout and copies ----------------------------------------------------------------


def test_preamble() -> None:
    frame = encode_frame([Message.create("publish", "c", {"v": 1})])
    magic, version, hlen, blen = struct.unpack_from("<3sBII", frame)
    assert (magic, version) == (b"NBC", 2)
    assert frame[12 : 12 + hlen] == b'[{"k":"publish","c":"c","p":7}]'
    assert len(frame) == ((12 + hlen + 7) & ~7) + blen
    assert frame.endswith(b'{"v":1}')


def test_c_contiguous_array_is_not_copied_by_encode_frame_parts() -> None:
    arr = np.arange(1 << 16, dtype="<f8").reshape(256, 256)
    parts = encode_frame_parts([Message.create("image", "c", {"a": arr, "n": 1})])
    shared = [p for p in parts if np.shares_memory(np.frombuffer(p, dtype=np.uint8), arr)]
    assert len(shared) == 1
    (part,) = shared
    assert isinstance(part, memoryview) and np.shares_memory(part.obj, arr)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(messages(), min_size=1, max_size=4))
def test_buffers_are_8_byte_aligned(batch: list[Drawn]) -> None:
    msgs = [m for m, _ in batch]
    parts = encode_frame_parts(msgs)
    frame = b"".join(parts)
    spans = layout(frame)
    sent = [b for m in msgs for b in m.buffers]
    assert len(spans) == len(sent)
    # the parts are laid out where the layout says, and big buffers are parts of their own
    offsets, pos = {}, 0
    for p in parts:
        offsets[id(p)] = pos
        pos += memoryview(p).nbytes
    for (offset, nbytes), buf in zip(spans, sent, strict=True):
        assert offset % 8 == 0
        assert frame[offset : offset + nbytes] == buf.data
        if nbytes >= COPY_BELOW:
            assert offsets[id(buf.data)] == offset
    received = [b for m in decode_frame(frame) for b in m.buffers]
    for (offset, nbytes), buf in zip(spans, received, strict=True):
        assert buf.data == frame[offset : offset + nbytes]


def test_big_buffers_are_parts_small_pieces_are_joined() -> None:
    big = np.arange(COPY_BELOW // 8, dtype="<f8")
    msgs = [Message.create("p", "c", {"i": i, "s": b"abc"}) for i in range(1000)]
    msgs.append(Message.create("p", "c", {"big": big}))
    msgs.append(Message.create("p", "c", {"after": 1}))
    parts = encode_frame_parts(msgs)
    # header, the 1000 small messages in one part, the big array (not copied), the rest
    assert len(parts) == 4
    assert np.shares_memory(np.frombuffer(parts[2], np.uint8), big)
    assert decode_frame(b"".join(parts))[1000].value()["big"].tolist() == big.tolist()


def test_big_decoded_buffers_are_aligned_views_small_ones_copies() -> None:
    big = np.arange(4096, dtype="<f8")
    frame = encode_frame([Message.create("p", "c", {"s": b"abc", "big": big, "t": b"xy"})])
    whole = np.frombuffer(frame, dtype=np.uint8)
    (msg,) = decode_frame(frame)
    small, view, small2 = (np.frombuffer(b.data, dtype=np.uint8) for b in msg.buffers)
    assert np.shares_memory(view, whole)
    assert (view.ctypes.data - whole.ctypes.data) % 8 == 0
    assert not np.shares_memory(small, whole) and not np.shares_memory(small2, whole)
    value = msg.value()
    np.testing.assert_array_equal(value["big"], big)
    assert value["s"] == b"abc" and value["t"] == b"xy"


# -- malformed input ------------------------------------------------------------------


def test_every_truncation_is_refused() -> None:
    _, frame = sample_frame()
    for n in range(len(frame)):
        with pytest.raises(MalformedFrame):
            decode_frame(frame[:n])
        reader = FrameReader()
        assert reader.feed(frame[:n]) == []
        assert reader.buffered == n


def test_every_single_byte_corruption_is_safe() -> None:
    _, frame = sample_frame()
    for i in range(len(frame)):
        for flip in (0x01, 0x20, 0x80, 0xFF):
            corrupted = bytearray(frame)
            corrupted[i] ^= flip
            decode_safely(bytes(corrupted))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_are_safe(data: bytes) -> None:
    decode_safely(data)
    decode_safely(MAGIC + bytes([VERSION]) + data)
    with contextlib.suppress(FrameError):
        FrameReader().feed(data)


json_junk = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 2**64) | st.floats() | st.text(max_size=5),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=3),
    max_leaves=6,
)


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(strategy, json_junk)


descriptors = st.fixed_dictionaries(
    {},
    optional={
        "p": _maybe(st.lists(st.text(max_size=2) | st.integers(-1, 3), max_size=3)),
        "n": _maybe(st.integers(0, 64)),
        "t": _maybe(st.sampled_from(["<f8", "|u1", "<i2", ">f4", "|b1", "<f16", "x"])),
        "s": _maybe(st.lists(st.integers(-1, 4), max_size=3)),
    },
)
entries = st.fixed_dictionaries(
    {},
    optional={
        "k": _maybe(st.sampled_from(["publish", ""])),
        "c": _maybe(st.text(max_size=3)),
        "s": _maybe(st.text(max_size=3)),
        "y": _maybe(st.text(max_size=3)),
        "o": _maybe(st.integers(-1, 2**64)),
        "e": _maybe(st.integers(-1, 2**64)),
        "p": _maybe(st.integers(0, 40)),
        "b": _maybe(st.lists(_maybe(descriptors), max_size=3)),
    },
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_maybe(st.lists(entries, max_size=3)), st.binary(max_size=120))
def test_plausible_headers_with_random_bodies_are_safe(header: Any, body: bytes) -> None:
    decode_safely(frame_of(header, body))


@pytest.mark.parametrize(
    ("data", "error", "match"),
    [
        (b"NBC", MalformedFrame, "shorter than the 12-byte preamble"),
        (frame_of([{"k": "x"}], magic=b"XYZ"), MalformedFrame, "bad magic"),
        (frame_of([{"k": "x"}], version=1), UnsupportedVersion, "version 1.*Upgrade"),
        (frame_of([{"k": "x"}], version=0), UnsupportedVersion, "version 0"),
        (frame_of([{"k": "x"}], hlen=2**32 - 1), FrameTooLarge, "max_header_bytes"),
        (frame_of([{"k": "x"}], blen=2**32 - 1), FrameTooLarge, "max_frame_bytes"),
        (frame_of([{"k": "x"}], blen=8), MalformedFrame, "preamble says"),
        (frame_of([{"k": "x"}]) + b"\0", MalformedFrame, "preamble says"),
        (frame_of(b"[{"), MalformedFrame, "header is not valid JSON"),
        (frame_of(b'[{"k":"\xff"}]'), MalformedFrame, "header is not valid JSON"),
        (frame_of({"k": "x"}), MalformedFrame, "non-empty JSON array"),
        (frame_of([]), MalformedFrame, "non-empty JSON array"),
        (frame_of(b""), MalformedFrame, "not valid JSON"),
        (frame_of(["publish"]), MalformedFrame, "must be a JSON object"),
        (frame_of([{}]), MalformedFrame, "without a kind"),
        (frame_of([{"k": ""}]), MalformedFrame, "without a kind"),
        (frame_of([{"k": 1}]), MalformedFrame, "without a kind"),
        (frame_of([{"k": "x", "c": 1}]), MalformedFrame, "'c' must be a string"),
        (frame_of([{"k": "x", "s": []}]), MalformedFrame, "'s' must be a string"),
        (frame_of([{"k": "x", "y": False}]), MalformedFrame, "'y' must be a string"),
        (frame_of([{"k": "x", "o": -1}]), MalformedFrame, "'o' must be a non-negative"),
        (frame_of([{"k": "x", "o": 1.0}]), MalformedFrame, "'o' must be a non-negative"),
        (frame_of([{"k": "x", "o": True}]), MalformedFrame, "'o' must be a non-negative"),
        (frame_of([{"k": "x", "e": "1"}]), MalformedFrame, "'e' must be a non-negative"),
        (frame_of([{"k": "x", "e": 2**64 - 1}]), MalformedFrame, "'e' must be a non-negative"),
        (frame_of([{"k": "x", "p": "3"}]), MalformedFrame, "'p' must be a non-negative"),
        (frame_of([{"k": "x", "p": -3}]), MalformedFrame, "'p' must be a non-negative"),
        (frame_of([{"k": "x", "p": 3}], b"[1"), MalformedFrame, "payload runs past"),
        (frame_of([{"k": "x", "p": 2}], b"[1]"), MalformedFrame, "1 bytes after its last"),
        (frame_of([{"k": "x", "b": {}}]), MalformedFrame, "'b'.*must be an array"),
        (frame_of([{"k": "x", "b": [1]}]), MalformedFrame, "descriptor must be a JSON object"),
        (frame_of([{"k": "x", "b": [{"n": 0}]}]), MalformedFrame, "path"),
        (frame_of([{"k": "x", "b": [{"p": "a", "n": 0}]}]), MalformedFrame, "path"),
        (frame_of([{"k": "x", "b": [{"p": [0] * 65, "n": 0}]}]), MalformedFrame, "at most 64"),
        (frame_of([{"k": "x", "b": [{"p": [-1], "n": 0}]}]), MalformedFrame, "non-negative"),
        (frame_of([{"k": "x", "b": [{"p": [1.5], "n": 0}]}]), MalformedFrame, "path steps"),
        (frame_of([{"k": "x", "b": [{"p": [None], "n": 0}]}]), MalformedFrame, "path steps"),
        (frame_of([{"k": "x", "b": [{"p": []}]}]), MalformedFrame, "'n' must be"),
        (frame_of([{"k": "x", "b": [{"p": [], "n": "8"}]}]), MalformedFrame, "'n' must be"),
        (frame_of([{"k": "x", "b": [{"p": [], "n": 8}]}]), MalformedFrame, "runs past the end"),
        (
            frame_of([{"k": "x", "p": 1, "b": [{"p": [], "n": 1}]}], b"[" + bytes(7)),
            MalformedFrame,
            "runs past the end",
        ),
        (frame_of([{"k": "append", "n": 0, "p": 2}], b"[]"), MalformedFrame, "'n'.*positive"),
        (frame_of([{"k": "append", "n": -2, "p": 3}], b"[1]"), MalformedFrame, "'n'.*positive"),
        (frame_of([{"k": "append", "n": "2", "p": 3}], b"[1]"), MalformedFrame, "'n'.*positive"),
        (frame_of([{"k": "append", "n": True, "p": 3}], b"[1]"), MalformedFrame, "'n'.*positive"),
        (frame_of([{"k": "publish", "n": 1, "p": 3}], b"[1]"), MalformedFrame, "on 'append'"),
        (frame_of([{"k": "append", "n": 2**62, "p": 3}], b"[1]"), MalformedFrame, "longer"),
    ],
)
def test_malformed_frames(data: bytes, error: type[FrameError], match: str) -> None:
    with pytest.raises(error, match=match):
        decode_frame(data)
    if len(data) >= PREAMBLE_SIZE and declared_length(data) == len(data):
        # a stream fails the same way (a frame whose length is wrong just runs into the next)
        with pytest.raises(error, match=match):
            FrameReader().feed(data + frame_of([{"k": "next"}]))


def _array_frame(desc: dict[str, Any], body: bytes = bytes(8)) -> bytes:
    return frame_of([{"k": "x", "b": [{"p": [], **desc}]}], body)


@pytest.mark.parametrize(
    ("desc", "match"),
    [
        ({"n": 8, "t": "<f8"}, r"shape \('s'\) must be an array"),
        ({"n": 8, "t": "<f8", "s": 1}, r"shape \('s'\) must be an array"),
        ({"n": 8, "t": "<f8", "s": [1] * 33}, "at most 32"),
        ({"n": 8, "t": "<f8", "s": [-1]}, "shape sizes must be non-negative"),
        ({"n": 8, "t": "<f8", "s": [1.0]}, "shape sizes must be non-negative"),
        ({"n": 8, "t": "<f8", "s": [2]}, r"shape \[2\] cannot be 8 bytes"),
        ({"n": 8, "t": "<f4", "s": [3]}, "cannot be 8 bytes"),
        ({"n": 8, "t": "<i4", "s": [2**62, 2**62]}, "cannot be 8 bytes"),
        ({"n": 8, "t": "<f8", "s": [0]}, "cannot be 8 bytes"),
        ({"n": 8, "t": "float64", "s": [1]}, "unsupported buffer dtype 'float64'"),
        ({"n": 8, "t": "|O8", "s": [1]}, "unsupported buffer dtype"),
        ({"n": 8, "t": "<U2", "s": [1]}, "unsupported buffer dtype"),
        ({"n": 8, "t": "<V8", "s": [1]}, "unsupported buffer dtype"),
        ({"n": 8, "t": 8, "s": [1]}, "unsupported buffer dtype"),
    ],
)
def test_bad_array_descriptors(desc: dict[str, Any], match: str) -> None:
    with pytest.raises(MalformedFrame, match=match):
        decode_frame(_array_frame(desc))


def test_good_array_descriptor_by_hand() -> None:
    (msg,) = decode_frame(_array_frame({"n": 8, "t": ">i2", "s": [2, 2]}, b"\0\1\0\2\0\3\0\4"))
    np.testing.assert_array_equal(msg.value(), [[1, 2], [3, 4]])


def test_buffer_path_not_fitting_is_found_by_value() -> None:
    frame = frame_of([{"k": "x", "p": 2, "b": [{"p": ["a"], "n": 1}]}], b"[]" + bytes(6) + b"z")
    (msg,) = decode_frame(frame)  # routing never parses payloads
    with pytest.raises(MalformedFrame, match=r"buffer path \['a'\] does not fit"):
        msg.value()


def test_lying_lengths_allocate_nothing() -> None:
    lies = [
        frame_of([{"k": "x"}], hlen=2**32 - 1)[:PREAMBLE_SIZE],
        frame_of([{"k": "x"}], blen=2**32 - 1)[:PREAMBLE_SIZE],
        frame_of([{"k": "x"}], hlen=2**32 - 1, blen=2**32 - 1)[:PREAMBLE_SIZE],
    ]
    tracemalloc.start()
    try:
        for lie in lies:
            with pytest.raises(FrameTooLarge):
                decode_frame(lie)
            reader = FrameReader()
            with pytest.raises(FrameTooLarge):
                reader.feed(lie)  # refused on its preamble, before any body arrives
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_frame_reader_refuses_data_after_an_error() -> None:
    msgs, frame = sample_frame()
    reader = FrameReader()
    assert reader.feed(frame) == [msgs]
    with pytest.raises(MalformedFrame, match="bad magic"):
        reader.feed(b"XYZ" + frame[3:])
    with pytest.raises(MalformedFrame, match="already failed; close the connection"):
        reader.feed(frame)


def test_frame_reader_error_in_body_also_fails_the_stream() -> None:
    reader = FrameReader()
    with pytest.raises(MalformedFrame):
        reader.feed(frame_of(b"not json"))
    with pytest.raises(MalformedFrame, match="already failed"):
        reader.feed(b"")


# -- limits ---------------------------------------------------------------------------


def test_limits_defaults() -> None:
    limits = Limits()
    assert limits.max_frame_bytes == 64 << 20 and limits.max_header_bytes == 1 << 20
    assert limits.max_messages == 10_000 and limits.max_buffers == 1024


@pytest.mark.parametrize(
    ("limits", "match"),
    [
        (Limits(max_messages=3), r"4 messages, over max_messages \(3\)"),
        (Limits(max_buffers=3), r"over max_buffers \(3\)"),
        (Limits(max_header_bytes=64), r"exceeds max_header_bytes \(64 bytes\)"),
        (Limits(max_frame_bytes=200), r"exceeds max_frame_bytes \(200 bytes\).*raise the limit"),
        (Limits(max_frame_bytes=100), r"c\.NbChannel\.max_frame_bytes"),
    ],
)
def test_limits_are_named_when_hit(limits: Limits, match: str) -> None:
    msgs, frame = sample_frame()  # 4 messages, 4 buffers
    assert decode_frame(frame, Limits(max_messages=4, max_buffers=4)) == msgs
    with pytest.raises(FrameTooLarge, match=match):
        decode_frame(frame, limits)
    with pytest.raises(FrameTooLarge, match=match):
        FrameReader(limits).feed(frame)


def test_limit_sizes_read_in_mib() -> None:
    with pytest.raises(FrameTooLarge, match=r"frame of 4096\.0 MiB exceeds max_frame_bytes"):
        decode_frame(frame_of(b"[]", blen=2**32 - 16))


def test_a_run_of_items_encodes_to_the_frame_of_its_items() -> None:
    items = [
        Message.create(P.APPEND, "feed", {"i": i, "s": "x" * i}, scope="hub", offset=i, epoch=7)
        for i in range(5)
    ]
    control = Message.create(P.SET, "feed", 1, scope="hub", key="k")
    frame = encode_frame([control, MessageRun(items), control])
    assert frame == encode_frame([control, *items, control])
    decoded = decode_frame(frame)
    assert [m.offset for m in decoded[1:-1]] == [0, 1, 2, 3, 4]
    assert [m.value() for m in decoded[1:-1]] == [{"i": i, "s": "x" * i} for i in range(5)]


def test_a_run_refuses_buffers_and_mixed_channels() -> None:
    a = Message.create(P.APPEND, "a", 1, scope="hub", offset=0)
    with pytest.raises(ValueError, match="one channel"):
        MessageRun([a, Message.create(P.APPEND, "b", 1, scope="hub", offset=1)])
    with pytest.raises(ValueError, match="without buffers"):
        MessageRun([a, Message.create(P.APPEND, "a", np.zeros(3), scope="hub", offset=1)])


def test_a_segment_decodes_to_its_items_with_their_offsets() -> None:
    seg = Segment.from_payloads("c", [b"1", b'{"a":[2]}', b""], scope="k")
    seg.offset, seg.epoch = 40, 9
    (got,) = decode_frame(encode_frame([seg]))
    assert isinstance(got, Segment)
    assert (got.kind, got.offset, got.epoch, got.count) == (P.APPEND, 40, 9, 3)
    assert got.values() == [1, {"a": [2]}, None]
    assert [(m.offset, m.value()) for m in got.items()] == [(40, 1), (41, {"a": [2]}), (42, None)]


def test_a_segment_whose_payload_holds_another_number_of_items_fails_when_read() -> None:
    lying = Segment("c", 3, payload=b'[1,"22"]')  # long enough, but two items
    (got,) = decode_frame(encode_frame([lying]))  # routed without parsing the payload …
    with pytest.raises(MalformedFrame, match="not an array of 3 items"):
        got.values()  # … and refused where it is read
    with pytest.raises(MalformedFrame, match="not an array of 3 items"):
        got.items()
