"""The nbchannel wire format, version 2: frames of batched messages.

Every hop (kernel ⇄ hub over a Unix socket, hub ⇄ browser over a WebSocket) carries the
same frames. A frame holds one or more :class:`~nbchannel.core.message.Message` objects::

    offset   size  field
    0        3     magic  b"NBC"
    3        1     version, 2
    4        4     H: header length, uint32 little-endian
    8        4     B: body length, uint32 little-endian
    12       H     header: a UTF-8 JSON array, one object per message (below)
    12+H     pad   zero bytes up to the next multiple of 8
    ...      B     body: for each message in order, its JSON payload, then its buffers;
                   every buffer starts at a multiple of 8 from the frame start (zero padding
                   before it), so the browser can view it as a typed array without a copy

A header entry is ``{"k": kind, "c": channel, "s": scope, "y": key, "o": offset,
"e": epoch, "n": count, "p": payload length, "b": [buffer, ...]}`` with absent fields
omitted, and a buffer is ``{"p": path, "n": nbytes}`` plus ``"t": dtype, "s": shape`` for
arrays.

An ``append`` entry with ``"n"`` is a *segment* (version 2): ``n`` consecutive stream items
of one channel, offsets ``o`` … ``o + n - 1``, whose payload is the JSON array of the items
and whose buffers' paths begin with the item's index in it
(:class:`~nbchannel.core.message.Segment`).

Batching several messages into one frame is what makes small messages cheap: one
WebSocket frame, one syscall, one header parse for many messages.

Decoding never trusts a length field: the preamble is checked against :class:`Limits` before
anything is buffered or allocated, and every inconsistency raises a
:class:`~nbchannel.errors.FrameError`; nothing else escapes :func:`decode_frame`.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from ..errors import FrameTooLarge, LimitExceeded, MalformedFrame, UnsupportedVersion
from .message import Buffer, Message, Segment, dtype_itemsize

__all__ = [
    "COPY_BELOW",
    "MAGIC",
    "PREAMBLE_SIZE",
    "VERSION",
    "FrameReader",
    "Limits",
    "decode_frame",
    "encode_frame",
    "encode_frame_parts",
]

MAGIC = b"NBC"
VERSION = 2
_PREAMBLE = struct.Struct("<3sBII")
PREAMBLE_SIZE = _PREAMBLE.size  # 12
_ZEROS = bytes(8)
_MAX_PATH = 64
#: Buffers at least this big travel as views (no copy) in :func:`encode_frame_parts`.
COPY_BELOW = 64 * 1024
_MAX_NDIM = 32
_MiB = 1024 * 1024
#: Header bytes kept free for the fields the hub adds to a kernel's message (scope, offset).
_ROUTING_ROOM = 256


def _align8(n: int) -> int:
    return (n + 7) & ~7


def _mib(n: int) -> str:
    return f"{n / _MiB:.1f} MiB" if n >= _MiB else f"{n} bytes"


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds enforced when decoding frames (and when batching them on the way out).

    On the server these come from ``c.NbChannel.max_frame_bytes`` and friends.
    """

    #: Largest frame accepted, preamble and padding included.
    max_frame_bytes: int = 64 * _MiB
    #: Largest JSON header accepted.
    max_header_bytes: int = 1 * _MiB
    #: Most messages in one frame.
    max_messages: int = 10_000
    #: Most buffers in one frame (all messages together).
    max_buffers: int = 1024

    def check_preamble(self, data: bytes | bytearray | memoryview) -> int:
        """Validate a frame's 12-byte preamble and return the frame's total length."""
        magic: bytes
        version: int
        hlen: int
        blen: int
        magic, version, hlen, blen = _PREAMBLE.unpack_from(data)
        if magic != MAGIC:
            raise MalformedFrame("not an nbchannel frame: bad magic bytes")
        if version != VERSION:
            raise UnsupportedVersion(
                f"frame is wire-format version {version}; this side speaks version {VERSION}. "
                "Upgrade nbchannel so the kernel, server and browser use the same version."
            )
        if hlen > self.max_header_bytes:
            raise FrameTooLarge(
                f"frame header of {_mib(hlen)} exceeds max_header_bytes "
                f"({_mib(self.max_header_bytes)})"
            )
        total = _align8(PREAMBLE_SIZE + hlen) + blen
        if total > self.max_frame_bytes:
            raise FrameTooLarge(
                f"frame of {_mib(total)} exceeds max_frame_bytes ({_mib(self.max_frame_bytes)}); "
                "send smaller pieces or raise the limit (c.NbChannel.max_frame_bytes)"
            )
        return total

    def check_message(self, msg: Message) -> None:
        """Raise :class:`~nbchannel.errors.LimitExceeded` if ``msg`` cannot travel alone.

        Called where a message is made (``LiveChannel.set``/``append``/``publish``), so a
        value that no frame can carry fails at the call that made it, naming the setting,
        instead of reaching the hub and breaking the connection it shares with every other
        channel of the kernel. Leaves room for the routing fields (scope, offset) that the
        hub adds on the way to the browsers.
        """
        if len(msg.buffers) > self.max_buffers:
            raise LimitExceeded(
                f"this value holds {len(msg.buffers)} arrays or bytes objects; one message "
                f"carries at most {self.max_buffers} (max_buffers): pack them into fewer arrays"
            )
        hlen = len(msg.header()) + _ROUTING_ROOM
        if hlen > self.max_header_bytes:
            raise LimitExceeded(
                f"this message's header (key, buffer paths) is {_mib(hlen)}, over "
                f"max_header_bytes ({_mib(self.max_header_bytes)}); use shorter keys and paths"
            )
        size = _align8(PREAMBLE_SIZE + hlen) + len(msg.payload)
        for b in msg.buffers:
            size = _align8(size) + b.data.nbytes
        if size > self.max_frame_bytes:
            raise LimitExceeded(
                f"a value of {_mib(size)} is over the largest message the server accepts "
                f"({_mib(self.max_frame_bytes)}, c.NbChannel.max_frame_bytes); send it in "
                "smaller pieces (e.g. several append() calls) or raise that limit in "
                "jupyter_server_config.py"
            )


DEFAULT_LIMITS = Limits()


def encode_frame_parts(messages: Sequence[Message]) -> list[bytes | memoryview]:
    """Encode ``messages`` into one frame, returned as a list of parts to write in order.

    Buffers of :data:`COPY_BELOW` bytes or more appear in the list as the memoryviews the
    messages hold, so large arrays are never copied here; payloads and small buffers are
    joined into a few ``bytes`` parts (a frame of thousands of small messages is two
    parts, not thousands). ``b"".join(parts)`` (or ``socket.sendmsg(parts)``) produces the
    frame.
    """
    if not messages:
        raise ValueError("a frame holds at least one message")
    header = b"[" + b",".join([m.header() for m in messages]) + b"]"
    hlen = len(header)
    start = _align8(PREAMBLE_SIZE + hlen)
    pos = start
    parts: list[bytes | memoryview] = []
    chunk: list[bytes | memoryview] = []  # small pieces, joined into one part
    for m in messages:
        payload = m.payload
        if payload:
            chunk.append(payload)
            pos += len(payload)
        for b in m.buffers:
            pad = -pos & 7
            if pad:
                chunk.append(_ZEROS[:pad])
                pos += pad
            data = b.data
            size = data.nbytes
            if size < COPY_BELOW:
                chunk.append(data)
            else:
                if chunk:
                    parts.append(b"".join(chunk))
                    chunk = []
                parts.append(data)
            pos += size
    if chunk:
        parts.append(b"".join(chunk) if len(chunk) > 1 else chunk[0])
    head = _PREAMBLE.pack(MAGIC, VERSION, hlen, pos - start) + header
    pad = start - PREAMBLE_SIZE - hlen
    if pad:
        head += _ZEROS[:pad]
    return [head, *parts]


def encode_frame(messages: Sequence[Message]) -> bytes:
    """Encode ``messages`` into one frame as a single ``bytes`` object."""
    return b"".join(encode_frame_parts(messages))


def decode_frame(
    data: bytes | bytearray | memoryview, limits: Limits = DEFAULT_LIMITS
) -> list[Message]:
    """Decode one frame into its messages.

    Payloads are not parsed here (see :meth:`Message.value`), so routing a message costs
    one header parse per frame. Large buffers are zero-copy views into ``data``; small ones
    and all payloads are copied so that a retained message does not pin a whole frame.

    Raises a :class:`~nbchannel.errors.FrameError` subclass, and nothing else, for any
    input that is not a valid frame within ``limits``.
    """
    mv = memoryview(data)
    if mv.ndim != 1 or mv.itemsize != 1:
        mv = mv.cast("B")
    n = mv.nbytes
    if n < PREAMBLE_SIZE:
        raise MalformedFrame(
            f"frame of {n} bytes is shorter than the {PREAMBLE_SIZE}-byte preamble"
        )
    total = limits.check_preamble(mv)
    if total != n:
        raise MalformedFrame(f"frame is {n} bytes but its preamble says {total}")
    hlen = _PREAMBLE.unpack_from(mv)[2]
    try:
        header = orjson.loads(mv[PREAMBLE_SIZE : PREAMBLE_SIZE + hlen])
    except orjson.JSONDecodeError as exc:
        raise MalformedFrame(f"frame header is not valid JSON: {exc}") from None
    if type(header) is not list or not header:
        raise MalformedFrame("frame header must be a non-empty JSON array")
    if len(header) > limits.max_messages:
        raise FrameTooLarge(
            f"frame holds {len(header)} messages, over max_messages ({limits.max_messages})"
        )
    pos = _align8(PREAMBLE_SIZE + hlen)
    nbuf = 0
    out: list[Message] = []
    append = out.append
    new_message = object.__new__
    # Copy payloads by slicing the frame itself when it is ``bytes`` (one step, no view).
    raw = data if type(data) is bytes else None
    if raw is None and len(header) * 1024 > n:
        # Small messages (under 1 KiB on average): one copy of the whole frame costs less
        # than a memoryview per payload.
        raw = bytes(mv)
        mv = memoryview(raw)
    # Entries are popped (front to back) as they are read, so each is freed at once: a
    # frame of thousands keeps none of them alive long enough for the garbage collector to
    # promote them to its oldest generation, whose collections cost the most.
    header.reverse()
    pop = header.pop
    while header:
        entry = pop()
        if type(entry) is not dict:
            raise MalformedFrame("each frame header entry must be a JSON object")
        kind = entry.get("k")
        if type(kind) is not str or not kind:
            raise MalformedFrame("message without a kind ('k')")
        plen = entry.get("p", 0)
        if type(plen) is not int or plen < 0:
            plen = _int(entry, "p", 0)  # raises with the field's name
        end = pos + plen
        if end > n:
            raise MalformedFrame("payload runs past the end of the frame")
        payload = raw[pos:end] if raw is not None else bytes(mv[pos:end])
        pos = end
        channel = entry.get("c")
        scope = entry.get("s")
        key = entry.get("y")
        offset = entry.get("o")
        epoch = entry.get("e")
        # the common case in one test each; the helpers raise with the field's name
        if channel is not None and type(channel) is not str:
            _str(entry, "c")
        if scope is not None and type(scope) is not str:
            _str(entry, "s")
        if key is not None and type(key) is not str:
            _str(entry, "y")
        if offset is not None and (type(offset) is not int or not 0 <= offset <= _MAX_OFFSET):
            _opt_int(entry, "o")
        if epoch is not None and (type(epoch) is not int or not 0 <= epoch <= _MAX_OFFSET):
            _opt_int(entry, "e")
        buffers: tuple[Buffer, ...] = ()
        descs = entry.get("b")
        if descs is not None:
            if type(descs) is not list:
                raise MalformedFrame("buffer list ('b') must be an array")
            nbuf += len(descs)
            if nbuf > limits.max_buffers:
                raise FrameTooLarge(f"frame holds over max_buffers ({limits.max_buffers}) buffers")
            bufs = []
            for d in descs:
                buf, pos = _buffer(d, mv, pos, n)
                bufs.append(buf)
            buffers = tuple(bufs)
        count = entry.get("n")
        if count is None:
            # Message's fields set slot by slot: a third of the cost of __init__'s keywords.
            m = new_message(Message)
        else:
            if type(count) is not int or count < 1 or kind != "append":
                raise MalformedFrame(
                    "'n' (a segment's item count) must be a positive integer, on 'append'"
                )
            if 2 * count + 1 > plen:
                raise MalformedFrame(f"a segment of {count} items needs a longer payload")
            m = new_message(Segment)
            m.count = count
        m.kind, m.channel, m.scope, m.key = kind, channel or "", scope, key
        m.offset, m.epoch, m.payload, m.buffers = offset, epoch, payload, buffers
        m._header, m._nbytes = None, -1
        append(m)
    if pos != n:
        raise MalformedFrame(f"frame has {n - pos} bytes after its last message")
    return out


def _buffer(d: Any, mv: memoryview, pos: int, n: int) -> tuple[Buffer, int]:
    if type(d) is not dict:
        raise MalformedFrame("buffer descriptor must be a JSON object")
    path = d.get("p")
    if type(path) is not list or len(path) > _MAX_PATH:
        raise MalformedFrame("buffer path ('p') must be an array of at most 64 keys")
    for step in path:
        if type(step) is not str and (type(step) is not int or step < 0):
            raise MalformedFrame("buffer path steps must be strings or non-negative integers")
    nbytes = _int(d, "n", None)
    dtype = d.get("t")
    shape: tuple[int, ...] | None = None
    if dtype is not None:
        size = dtype_itemsize(dtype)
        raw = d.get("s")
        if type(raw) is not list or len(raw) > _MAX_NDIM:
            raise MalformedFrame("array shape ('s') must be an array of at most 32 sizes")
        for dim in raw:
            if type(dim) is not int or dim < 0:
                raise MalformedFrame("array shape sizes must be non-negative integers")
        shape = tuple(raw)
        if math.prod(shape) * size != nbytes:
            raise MalformedFrame(
                f"array of dtype {dtype} and shape {list(shape)} cannot be {nbytes} bytes"
            )
    pos += -pos & 7
    end = pos + nbytes
    if end > n:
        raise MalformedFrame("buffer runs past the end of the frame")
    view = mv[pos:end]
    # Keep big buffers as views (no copy); copy small ones so they do not pin the frame.
    data = view if 2 * nbytes >= n else memoryview(bytes(view))
    return Buffer(tuple(path), dtype, shape, data), end


def _int(entry: dict[str, Any], name: str, default: int | None) -> int:
    v = entry.get(name, default)
    if type(v) is not int or v < 0:
        raise MalformedFrame(f"field {name!r} must be a non-negative integer")
    return v


_MAX_OFFSET = 2**63


def _opt_int(entry: dict[str, Any], name: str) -> int | None:
    v = entry.get(name)
    if v is None:
        return None
    if type(v) is not int or v < 0 or v > _MAX_OFFSET:
        raise MalformedFrame(f"field {name!r} must be a non-negative integer")
    return v


def _str(entry: dict[str, Any], name: str) -> str | None:
    v = entry.get(name)
    if v is not None and type(v) is not str:
        raise MalformedFrame(f"field {name!r} must be a string")
    return v


class FrameReader:
    """Splits a byte stream (the kernel's Unix socket) into frames. No I/O.

    Two ways to give it bytes. ``feed(data)`` takes whatever a socket read returned. The
    buffer pair follows :class:`asyncio.BufferedProtocol`: ``get_buffer()`` says where the
    next read should land and ``buffer_updated(n)`` reports how many bytes did, so a large
    frame is received straight into a buffer of its own size, with no copy in between.
    Either way it hands back the decoded messages of every frame completed so far.

    Small frames collect in a fixed scratch buffer and are copied out once each, so that a
    retained message never pins the scratch. A frame's preamble is checked against the
    limits as soon as its 12 bytes are in, so a lying length field is refused before
    anything is buffered for it. After a :class:`~nbchannel.errors.FrameError` the stream
    has lost its framing and the connection must be closed.

    >>> reader = FrameReader()
    >>> frame = encode_frame([Message.create("publish", "c", 1)])
    >>> [m.value() for batch in reader.feed(frame[:5]) + reader.feed(frame[5:]) for m in batch]
    [1]
    """

    #: Size of the scratch buffer reads land in while no large frame is being received.
    SCRATCH_BYTES = 256 * 1024
    #: A frame longer than this gets a buffer of its own that reads then fill directly.
    OWN_BUFFER_ABOVE = SCRATCH_BYTES // 4

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self._scratch = bytearray(self.SCRATCH_BYTES)
        self._view = memoryview(self._scratch)
        self._start = 0  # first byte of the scratch not yet part of a decoded frame
        self._end = 0  # end of the bytes received into the scratch
        # A large frame being received: allocated once at its final size when its preamble
        # is in, filled in place, and decoded as is (its big buffers stay views).
        self._frame: memoryview | None = None
        self._filled = 0
        self._failed = False

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a complete frame."""
        if self._frame is not None:
            return self._filled
        return self._end - self._start

    def get_buffer(self, sizehint: int = -1) -> memoryview:
        """Where the next bytes received should be written (never empty)."""
        if self._failed:
            raise MalformedFrame("stream already failed; close the connection")
        frame = self._frame
        if frame is not None:
            return frame[self._filled :]
        if self._start and len(self._scratch) - self._end < self.OWN_BUFFER_ABOVE:
            # The partial frame left at the end moves to the front (it is small: a larger
            # one would have its own buffer), so there is always room for a good read.
            rest = self._end - self._start
            self._view[:rest] = self._view[self._start : self._end]
            self._start, self._end = 0, rest
        return self._view[self._end :]

    def buffer_updated(self, nbytes: int) -> list[list[Message]]:
        """``nbytes`` were written into the last :meth:`get_buffer`; the frames they completed."""
        try:
            frame = self._frame
            if frame is not None:
                self._filled += nbytes
                if self._filled < len(frame):
                    return []
                self._frame = None
                return [decode_frame(frame, self.limits)]
            self._end += nbytes
            return self._split()
        except Exception:
            self._failed = True
            raise

    def feed(self, data: bytes | bytearray | memoryview) -> list[list[Message]]:
        """Add received bytes; return the messages of each frame they completed, in order.

        ``data`` is copied, never kept.
        """
        if self._failed:
            raise MalformedFrame("stream already failed; close the connection")
        mv = memoryview(data)
        if mv.ndim != 1 or mv.itemsize != 1:
            mv = mv.cast("B")
        n = mv.nbytes
        pos = 0
        frames: list[list[Message]] = []
        while pos < n:
            buf = self.get_buffer()
            take = min(len(buf), n - pos)
            buf[:take] = mv[pos : pos + take]
            pos += take
            frames += self.buffer_updated(take)
        return frames

    def _split(self) -> list[list[Message]]:
        """Decode the whole frames in the scratch; move a large partial one to its own buffer."""
        view, pos, end, limits = self._view, self._start, self._end, self.limits
        frames: list[list[Message]] = []
        while end - pos >= PREAMBLE_SIZE:
            need = limits.check_preamble(view[pos : pos + PREAMBLE_SIZE])
            if end - pos >= need:
                # copied out, so that views into it never pin the scratch
                frames.append(decode_frame(bytes(view[pos : pos + need]), limits))
                pos += need
                continue
            if need > self.OWN_BUFFER_ABOVE:
                # not zero-filled: every byte of it is about to be received
                frame = self._frame = memoryview(np.empty(need, np.uint8))  # type: ignore[arg-type]
                self._filled = end - pos
                frame[: self._filled] = view[pos:end]
                pos = end
            break
        if pos == end:
            pos = end = 0
        self._start, self._end = pos, end
        return frames
