"""Messages and their payloads: JSON plus raw binary buffers.

A :class:`Message` is what every hop exchanges: a few routing fields (``kind``,
``channel``, ``scope``, ``key``, ``offset``, ``epoch``) plus a *payload*. The payload is any
JSON-able value in which numpy arrays and ``bytes``-like objects may appear anywhere; they
are cut out into :class:`Buffer` objects (dtype, shape, path, raw memory) and the JSON keeps
``null`` in their place, the same convention as ipywidgets' buffer paths. No base64, and a
C-contiguous array is never copied on the way out.

The payload stays as raw JSON bytes inside the message, so the hub routes and replays
messages without ever parsing or re-serialising what the kernel sent.

This module does no I/O and imports neither asyncio nor tornado.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from ..errors import EncodeError, MalformedFrame

__all__ = [
    "Buffer",
    "Message",
    "MessageRun",
    "Segment",
    "pack_value",
    "plain_only",
    "stream_values",
    "unpack_value",
]

Path = tuple["str | int", ...]

_JSON_OPTS = orjson.OPT_SERIALIZE_NUMPY
_SCALARS = frozenset({str, int, float, bool, type(None)})
#: Deepest nesting a payload may have (orjson itself stops at 254 levels); a value that
#: contains itself is refused at this depth instead of recursing until Python gives up.
MAX_DEPTH = 200
_BYTES_TYPES = (bytes, bytearray, memoryview)
#: dtype strings accepted on the wire: byte order, then kind and item size.
DTYPE_RE = re.compile(r"^[<>|](b1|i1|i2|i4|i8|u1|u2|u4|u8|f2|f4|f8|c8|c16)$")


@dataclass(frozen=True, slots=True)
class Buffer:
    """One binary buffer of a payload.

    ``path`` locates it in the payload (dict keys and list indices); ``dtype`` and ``shape``
    are set for numpy arrays and ``None`` for plain bytes; ``data`` is a 1-D unsigned-byte
    memoryview over the raw memory.
    """

    path: Path
    dtype: str | None
    shape: tuple[int, ...] | None
    data: memoryview

    @property
    def nbytes(self) -> int:
        """Length of the raw data in bytes."""
        return self.data.nbytes

    def descriptor(self) -> dict[str, Any]:
        """The JSON description of this buffer written into the frame header."""
        d: dict[str, Any] = {"p": list(self.path), "n": self.data.nbytes}
        if self.dtype is not None:
            d["t"] = self.dtype
            d["s"] = list(self.shape or ())
        return d

    def value(self) -> np.ndarray[Any, Any] | bytes:
        """The buffer as it was sent: a (read-only) numpy array, or ``bytes``."""
        if self.dtype is None:
            return bytes(self.data)
        return np.frombuffer(self.data, dtype=np.dtype(self.dtype)).reshape(self.shape or ())


class Message:
    """One message on the wire.

    Build one from a Python value with :meth:`create`; read the value back with
    :meth:`value`. Messages are treated as immutable once built: the hub shares one object
    between every queue that delivers it, and caches its encoded header.

    >>> m = Message.create("publish", "sensor", {"t": 1.0, "v": 21.5})
    >>> m.value()
    {'t': 1.0, 'v': 21.5}
    """

    __slots__ = (
        "_header",
        "_nbytes",
        "buffers",
        "channel",
        "epoch",
        "key",
        "kind",
        "offset",
        "payload",
        "scope",
    )

    def __init__(
        self,
        kind: str,
        channel: str = "",
        *,
        scope: str | None = None,
        key: str | None = None,
        offset: int | None = None,
        epoch: int | None = None,
        payload: bytes | memoryview = b"",
        buffers: tuple[Buffer, ...] = (),
    ) -> None:
        self.kind = kind
        self.channel = channel
        self.scope = scope
        self.key = key
        self.offset = offset
        self.epoch = epoch
        self.payload = payload
        self.buffers = buffers
        self._header: bytes | None = None
        self._nbytes = -1

    @classmethod
    def create(
        cls,
        kind: str,
        channel: str = "",
        value: Any = None,
        *,
        scope: str | None = None,
        key: str | None = None,
        offset: int | None = None,
        epoch: int | None = None,
    ) -> Message:
        """Build a message whose payload is ``value`` (see :func:`pack_value`)."""
        payload, buffers = pack_value(value)
        return cls(
            kind,
            channel,
            scope=scope,
            key=key,
            offset=offset,
            epoch=epoch,
            payload=payload,
            buffers=buffers,
        )

    def value(self) -> Any:
        """Decode the payload back into Python objects (arrays come back as numpy arrays).

        Raises :class:`~nbchannel.errors.MalformedFrame` if the payload is not valid JSON or
        a buffer path does not fit it.
        """
        return unpack_value(self.payload, self.buffers)

    def replace(self, **fields: Any) -> Message:
        """A copy with some routing fields changed; payload and buffers are shared."""
        # The hub stamps every message it routes (scope, offset): build the copy slot by
        # slot rather than through __init__'s keyword arguments.
        m = _new_message(type(self))
        m.kind = self.kind
        m.channel = self.channel
        m.scope = self.scope
        m.key = self.key
        m.offset = self.offset
        m.epoch = self.epoch
        m.payload = self.payload
        m.buffers = self.buffers
        m._header = None
        m._nbytes = self._nbytes
        if self.segment:
            m.count = self.count  # type: ignore[misc]  # a Segment's slot
        for name, val in fields.items():
            setattr(m, name, val)
            if name in _SIZED_FIELDS:
                m._nbytes = -1
        return m

    def routed(self, scope: str | None, offset: int | None) -> Message:
        """A copy with ``scope`` and ``offset`` set: what the hub stamps on every write."""
        m = _new_message(type(self))
        m.kind = self.kind
        m.channel = self.channel
        m.scope = scope
        m.key = self.key
        m.offset = offset
        m.epoch = self.epoch
        m.payload = self.payload
        m.buffers = self.buffers
        m._header = None
        m._nbytes = self._nbytes
        if self.segment:
            m.count = self.count  # type: ignore[misc]  # a Segment's slot
        return m

    def header(self) -> bytes:
        """This message's entry in a frame header (JSON), computed once."""
        h = self._header
        if h is None:
            # The routing part ({"k","c","s","y"}) repeats from message to message: encode
            # it once per distinct value; the numbers are formatted in place.
            route = (self.kind, self.channel, self.scope, self.key)
            prefix = _PREFIXES.get(route)
            if prefix is None:
                prefix = _header_prefix(route)
            if self.offset is not None:
                prefix += b',"o":%d' % self.offset
            if self.epoch is not None:
                prefix += b',"e":%d' % self.epoch
            if self.segment:
                prefix += b',"n":%d' % self.count
            if self.payload:
                prefix += b',"p":%d' % len(self.payload)
            if self.buffers:
                prefix += b',"b":' + orjson.dumps([b.descriptor() for b in self.buffers])
            h = self._header = prefix + b"}"
        return h

    @property
    def nbytes(self) -> int:
        """Approximate bytes this message occupies on the wire (used for queue bounds)."""
        n = self._nbytes
        if n < 0:
            n = len(self.payload) + len(self.channel) + 24
            if self.key is not None:
                n += len(self.key)
            for b in self.buffers:
                n += b.data.nbytes + 40
            self._nbytes = n
        return n

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return (
            self.header() == other.header()
            and bytes(self.payload) == bytes(other.payload)
            and all(
                bytes(a.data) == bytes(b.data)
                for a, b in zip(self.buffers, other.buffers, strict=True)
            )
        )

    __hash__ = None  # type: ignore[assignment]

    #: Stream items (offsets) this object stands for: a :class:`Segment` or a
    #: :class:`MessageRun` holds several.
    count = 1
    #: Entries this object makes in a frame header (a :class:`MessageRun` makes several).
    entries = 1
    #: Whether the payload is a JSON array of ``count`` stream items (a :class:`Segment`).
    segment = False

    def __repr__(self) -> str:
        fields = [f"{self.kind!r}", f"{self.channel!r}"]
        for name in ("scope", "key", "offset", "epoch"):
            v = getattr(self, name)
            if v is not None:
                fields.append(f"{name}={v!r}")
        if self.payload:
            fields.append(f"payload={len(self.payload)}B")
        if self.buffers:
            fields.append(f"buffers={len(self.buffers)}")
        return f"Message({', '.join(fields)})"


class MessageRun(Message):
    """Consecutive stream items of one channel (no buffers), encoded once for a fan-out.

    A relay that receives a batch of items for a channel with hundreds of viewers queues
    this one object for each of them instead of every item for each: a queue counts it as
    ``count`` messages (and drops it as a whole, with a gap for its offsets), and a frame
    encodes it as the items' own header entries and payloads, so what a viewer decodes is
    exactly the frame the items would have made one by one.
    """

    __slots__ = ("count", "entries", "items")

    def __init__(self, items: list[Message]) -> None:
        first = items[0]
        if any(m.buffers or m.channel != first.channel for m in items):
            raise ValueError("a run holds items of one channel without buffers")
        super().__init__(
            first.kind,
            first.channel,
            scope=first.scope,
            offset=first.offset,
            epoch=first.epoch,
            payload=b"".join([m.payload for m in items]),
        )
        self.items = items
        self.entries = len(items)
        self.count = sum(m.count for m in items)
        self._header = b",".join([m.header() for m in items])
        self._nbytes = sum(m.nbytes for m in items)

    def __repr__(self) -> str:
        return f"MessageRun({self.channel!r}, offset={self.offset}, count={self.count})"


class Segment(Message):
    """Consecutive stream items of one channel travelling and stored as one message.

    On the wire it is one ``append`` header entry with ``"n": count``; its payload is a JSON
    array of the items and its buffers' paths start with the item's index in that array.
    The hub gives it the offsets ``offset`` … ``offset + count - 1``, keeps it in history
    as one entry and queues the same object for every viewer; replay can start inside it
    (:meth:`slice`). A kernel packs a run of ``append`` calls into one
    (:meth:`from_payloads`) so that each item costs one JSON encoding and a list append.

    >>> seg = Segment.from_payloads("c", [b"1", b'{"a":2}', b""], scope="k")
    >>> seg.count, seg.values()
    (3, [1, {'a': 2}, None])
    """

    __slots__ = ("count",)
    segment = True

    def __init__(
        self,
        channel: str,
        count: int,
        *,
        scope: str | None = None,
        offset: int | None = None,
        epoch: int | None = None,
        payload: bytes | memoryview = b"",
        buffers: tuple[Buffer, ...] = (),
    ) -> None:
        if count < 1:
            raise ValueError("a segment holds at least one item")
        super().__init__(
            "append",
            channel,
            scope=scope,
            offset=offset,
            epoch=epoch,
            payload=payload,
            buffers=buffers,
        )
        self.count = count

    @classmethod
    def from_payloads(
        cls,
        channel: str,
        payloads: list[bytes],
        *,
        scope: str | None = None,
        buffers: tuple[Buffer, ...] = (),
    ) -> Segment:
        """A segment of the items whose JSON payloads are ``payloads`` (``b""`` is None);
        ``buffers`` already carry their item's index as the first step of their path."""
        if b"" in payloads:
            payloads = [p or b"null" for p in payloads]
        return cls(
            channel,
            len(payloads),
            scope=scope,
            payload=b"[" + b",".join(payloads) + b"]",
            buffers=buffers,
        )

    def values(self) -> list[Any]:
        """The items' values, in order (arrays come back as numpy arrays).

        Raises :class:`~nbchannel.errors.MalformedFrame` unless the payload is a JSON array
        of exactly ``count`` items."""
        values = unpack_value(self.payload, self.buffers)
        if type(values) is not list or len(values) != self.count:
            raise MalformedFrame(f"segment payload is not an array of {self.count} items")
        return values

    def items(self) -> list[Message]:
        """The segment as single ``append`` messages (offsets numbered from its own)."""
        try:
            values = orjson.loads(self.payload)
        except orjson.JSONDecodeError as exc:
            raise MalformedFrame(f"payload is not valid JSON: {exc}") from None
        if type(values) is not list or len(values) != self.count:
            raise MalformedFrame(f"segment payload is not an array of {self.count} items")
        per_item: list[list[Buffer]] = [[] for _ in values]
        for b in self.buffers:
            i = b.path[0] if b.path else None
            if type(i) is not int or not 0 <= i < len(values):
                raise MalformedFrame(f"buffer path {list(b.path)} does not fit the segment")
            per_item[i].append(Buffer(b.path[1:], b.dtype, b.shape, b.data))
        base = self.offset
        out: list[Message] = []
        for i, (v, bufs) in enumerate(zip(values, per_item, strict=True)):
            payload = b"" if v is None and not bufs else orjson.dumps(v)
            out.append(
                Message(
                    self.kind,
                    self.channel,
                    scope=self.scope,
                    offset=None if base is None else base + i,
                    epoch=self.epoch,
                    payload=payload,
                    buffers=tuple(bufs),
                )
            )
        return out

    def slice(self, offset: int) -> Message:
        """The items from ``offset`` on (inside this segment): a segment, or the item alone."""
        assert self.offset is not None
        skip = offset - self.offset
        if skip <= 0:
            return self
        if skip >= self.count:
            raise ValueError(f"offset {offset} is past this segment")
        return join_items(self.items()[skip:])

    def __repr__(self) -> str:
        return f"Segment({self.channel!r}, offset={self.offset}, count={self.count})"


def stream_values(messages: Iterable[Message]) -> list[Any]:
    """The values of the stream items ``messages`` carry, in order: a segment's items each.

    >>> stream_values([Message.create("append", "c", 0), Segment.from_payloads("c", [b"1", b"2"])])
    [0, 1, 2]
    """
    out: list[Any] = []
    for m in messages:
        if isinstance(m, Segment):
            out.extend(m.values())
        else:
            out.append(m.value())
    return out


def join_items(items: list[Message]) -> Message:
    """Items of one channel with consecutive offsets as one message (itself when alone)."""
    if len(items) == 1:
        return items[0]
    buffers = tuple(
        Buffer((i, *b.path), b.dtype, b.shape, b.data)
        for i, m in enumerate(items)
        for b in m.buffers
    )
    first = items[0]
    seg = Segment.from_payloads(
        first.channel, [bytes(m.payload) for m in items], scope=first.scope, buffers=buffers
    )
    seg.offset, seg.epoch = first.offset, first.epoch
    return seg


_new_message = object.__new__
#: Fields that change a message's size (a replace() of any of them recomputes ``nbytes``).
_SIZED_FIELDS = frozenset({"payload", "channel", "key", "buffers"})
#: Encoded header prefixes by (kind, channel, scope, key); bounded, as keys come from users.
_PREFIXES: dict[tuple[str, str, str | None, str | None], bytes] = {}
_MAX_PREFIXES = 4096


def _header_prefix(route: tuple[str, str, str | None, str | None]) -> bytes:
    kind, channel, scope, key = route
    d: dict[str, Any] = {"k": kind}
    if channel:
        d["c"] = channel
    if scope is not None:
        d["s"] = scope
    if key is not None:
        d["y"] = key
    prefix = orjson.dumps(d)[:-1]  # without the closing brace
    if len(_PREFIXES) >= _MAX_PREFIXES:
        _PREFIXES.clear()
    _PREFIXES[route] = prefix
    return prefix


# -- payload packing ---------------------------------------------------------------------


def pack_value(value: Any) -> tuple[bytes, tuple[Buffer, ...]]:
    """Split ``value`` into JSON bytes and binary buffers.

    numpy arrays of any numeric dtype (bool, int, uint, float, complex), any shape and
    memory order, and ``bytes``/``bytearray``/``memoryview`` objects may appear anywhere in
    nested dicts, lists and tuples. C-contiguous little-endian arrays are referenced, not
    copied; other arrays are made contiguous and little-endian first. ``None`` packs to an
    empty payload. Tuples become lists. NaN and infinities become ``null`` (JSON has no
    such numbers).

    Raises :class:`~nbchannel.errors.EncodeError` for values JSON cannot carry (objects,
    non-string dict keys, object or structured dtypes, nesting deeper than ``MAX_DEPTH``
    levels, a list or dict that contains itself).
    """
    if value is None:
        return b"", ()
    try:
        # Fast path: plain JSON (no arrays, bytes or numpy scalars) encodes in one call;
        # anything else reaches plain_only and takes the path below.
        return _exact(orjson.dumps(value, default=plain_only)), ()
    except TypeError:
        pass
    buffers: list[Buffer] = []
    stripped = _strip(value, (), buffers)
    try:
        payload = _exact(orjson.dumps(stripped, option=_JSON_OPTS))
    except TypeError as exc:
        raise EncodeError(
            f"cannot send this value: {exc}. Payloads are JSON values (dict with string keys, "
            "list, str, number, bool, None) with numpy arrays or bytes anywhere inside."
        ) from None
    return payload, tuple(buffers)


def plain_only(obj: Any) -> Any:
    """orjson's ``default`` that refuses everything JSON does not have (arrays, bytes, numpy
    scalars, other objects): ``orjson.dumps(v, default=plain_only)`` encodes plain JSON in
    one call and raises ``TypeError`` for anything else."""
    raise TypeError


def _exact(data: bytes) -> bytes:
    """A copy of ``data`` in a block of its own size.

    orjson (3.11: 1 KiB, 3.12+: 4 KiB) returns ``bytes`` whose memory block is far larger
    than the JSON in it. A payload lives on in queues and history, whose bounds count its
    length, so without this copy a 100-byte message would hold 4 KiB: bounded queues would
    hold up to 40 times their bound in RAM, and touching that much fresh memory per
    message also made encoding about five times slower than the copy costs.
    """
    return memoryview(data).tobytes()


def _strip(obj: Any, path: Path, out: list[Buffer]) -> Any:
    """Return ``obj`` with buffers replaced by ``None`` (copying containers only if needed)."""
    t = type(obj)
    if t in _SCALARS:
        return obj
    if len(path) >= MAX_DEPTH:
        raise EncodeError(
            f"cannot send this value: it is nested more than {MAX_DEPTH} levels deep at "
            f"{_fmt_path(path[:4])}[…] (or a list or dict contains itself); flatten it first"
        )
    if t is dict or (isinstance(obj, Mapping) and not isinstance(obj, np.ndarray)):
        new: dict[Any, Any] | None = None
        for k, v in obj.items():
            if type(v) in _SCALARS:
                continue
            nv = _strip(v, (*path, k), out)
            if nv is not v:
                if new is None:
                    new = dict(obj)
                new[k] = nv
        if new is None and t is not dict:
            return dict(obj)
        return obj if new is None else new
    if t is list or t is tuple:
        items: list[Any] | None = None
        for i, v in enumerate(obj):
            if type(v) in _SCALARS:
                continue
            nv = _strip(v, (*path, i), out)
            if nv is not v:
                if items is None:
                    items = list(obj)
                items[i] = nv
        return obj if items is None else items
    if isinstance(obj, np.ndarray):
        out.append(_array_buffer(path, obj))
        return None
    if isinstance(obj, _BYTES_TYPES):
        out.append(_bytes_buffer(path, obj))
        return None
    return obj  # numpy scalars, datetimes …: orjson decides


def _array_buffer(path: Path, arr: np.ndarray[Any, Any]) -> Buffer:
    dt = arr.dtype
    if dt.kind not in "biufc" or dt.fields is not None:
        raise EncodeError(
            f"cannot send a numpy array of dtype {dt} at {_fmt_path(path)}: only bool, integer, "
            "float and complex arrays travel as buffers; convert it first, e.g. arr.astype(float)"
        )
    if dt.byteorder == ">":
        arr = arr.astype(dt.newbyteorder("<"))
    if not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr)
    if DTYPE_RE.match(arr.dtype.str) is None:
        raise EncodeError(
            f"cannot send a numpy array of dtype {dt} at {_fmt_path(path)}: extended-precision "
            "types do not travel (browsers cannot read them); convert with arr.astype(np.float64)"
        )
    data = memoryview(arr.reshape(-1).view(np.uint8))  # type: ignore[arg-type]
    return Buffer(path, arr.dtype.str, tuple(int(n) for n in arr.shape), data)


def _bytes_buffer(path: Path, obj: bytes | bytearray | memoryview) -> Buffer:
    mv = memoryview(obj)
    if mv.format != "B" or mv.ndim != 1 or not mv.c_contiguous:
        # a strided view (e.g. memoryview(b)[::2]) cannot be written as one buffer
        mv = mv.cast("B") if mv.c_contiguous else memoryview(mv.tobytes())
    if isinstance(obj, bytearray):
        # a bytearray may be mutated after sending; freeze what was sent
        mv = memoryview(bytes(mv))
    return Buffer(path, None, None, mv)


def _fmt_path(path: Path) -> str:
    return "payload" + "".join(f"[{p!r}]" for p in path)


# -- payload unpacking -------------------------------------------------------------------


def unpack_value(payload: bytes | memoryview, buffers: tuple[Buffer, ...] = ()) -> Any:
    """Inverse of :func:`pack_value`."""
    if len(payload) == 0:
        value: Any = None
    else:
        try:
            value = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise MalformedFrame(f"payload is not valid JSON: {exc}") from None
    for buf in buffers:
        if not buf.path:
            value = buf.value()
            continue
        target = value
        for step in buf.path[:-1]:
            target = _step(target, step, buf.path)
        last = buf.path[-1]
        _step(target, last, buf.path)  # validates the slot exists
        target[last] = buf.value()
    return value


def _step(container: Any, step: str | int, path: Path) -> Any:
    try:
        if isinstance(container, dict) and isinstance(step, str):
            return container[step]
        if isinstance(container, list) and isinstance(step, int) and not isinstance(step, bool):
            return container[step]
    except (KeyError, IndexError):
        pass
    raise MalformedFrame(f"buffer path {list(path)} does not fit the payload")


def dtype_itemsize(dtype: str) -> int:
    """Item size of a wire dtype string; raises MalformedFrame if it is not one we accept."""
    if type(dtype) is not str or DTYPE_RE.match(dtype) is None:
        raise MalformedFrame(f"unsupported buffer dtype {dtype!r}")
    return int(dtype[2:])


def shape_size(shape: tuple[int, ...]) -> int:
    """Number of elements of ``shape``."""
    return math.prod(shape)
