"""Hypothesis strategies and comparison helpers shared by the message and codec tests.

``payloads()`` draws nested JSON values with numpy arrays and bytes-like objects anywhere
in them; ``messages()`` draws whole :class:`Message` objects with routing fields;
``assert_same(decoded, original)`` checks a decoded value against what was packed, with
the normalisations the codec documents (tuples → lists, bytes-likes → ``bytes``, arrays →
C-ordered little-endian copies of equal values).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nbchannel.core.message import Message

#: Every dtype that travels as a buffer (float128/complex256 are platform-dependent).
NUMERIC_DTYPES = (
    "?",
    "i1",
    "i2",
    "i4",
    "i8",
    "u1",
    "u2",
    "u4",
    "u8",
    "f2",
    "f4",
    "f8",
    "c8",
    "c16",
)

LAYOUTS = ("C", "F", "step", "reversed", "transposed")

INT64 = st.integers(-(2**63), 2**63 - 1)


def _layout(base: np.ndarray[Any, Any], layout: str) -> np.ndarray[Any, Any]:
    if base.ndim == 0 or layout == "C":
        return base
    if layout == "F":
        return np.asfortranarray(base)
    if layout == "step":
        return base[::2]
    if layout == "reversed":
        return base[..., ::-1]
    return np.transpose(base)


@st.composite
def arrays(draw: st.DrawFn, dtypes: tuple[str, ...] = NUMERIC_DTYPES) -> np.ndarray[Any, Any]:
    """A numeric array of any dtype, byte order, shape (0-d and zero-size too) and layout."""
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    if dtype.itemsize > 1 and draw(st.booleans()):
        dtype = dtype.newbyteorder(">")
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5))
    base = draw(hnp.arrays(dtype, shape))
    return _layout(base, draw(st.sampled_from(LAYOUTS)))


def _bytes_like(args: tuple[bytes, str]) -> bytes | bytearray | memoryview:
    data, form = args
    if form == "bytearray":
        return bytearray(data)
    if form == "memoryview":
        return memoryview(data)
    if form == "strided":
        doubled = bytes(x for c in data for x in (c, 0))
        return memoryview(doubled)[::2]
    if form == "int32-view":
        return np.frombuffer(data[: len(data) // 4 * 4], dtype="<i4").data
    return data


bytes_likes = st.tuples(
    st.binary(max_size=40),
    st.sampled_from(["bytes", "bytearray", "memoryview", "strided", "int32-view"]),
).map(_bytes_like)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    INT64,
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)


def payloads(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    """Nested dicts / lists / tuples of scalars, arrays and bytes-likes."""
    leaves = st.one_of(scalars, arrays(), bytes_likes)
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.lists(children, max_size=4).map(tuple),
            st.dictionaries(st.text(max_size=8), children, max_size=4),
        ),
        max_leaves=max_leaves,
    )


optional_text = st.none() | st.text(max_size=10)
optional_int = st.none() | st.integers(0, 2**63)


@st.composite
def messages(draw: st.DrawFn, max_leaves: int = 8) -> tuple[Message, dict[str, Any]]:
    """A message and the fields and value it was created from."""
    fields: dict[str, Any] = {
        "kind": draw(st.text(min_size=1, max_size=10)),
        "channel": draw(st.text(max_size=10)),
        "scope": draw(optional_text),
        "key": draw(optional_text),
        "offset": draw(optional_int),
        "epoch": draw(optional_int),
    }
    value = draw(payloads(max_leaves))
    msg = Message.create(
        fields["kind"],
        fields["channel"],
        value,
        scope=fields["scope"],
        key=fields["key"],
        offset=fields["offset"],
        epoch=fields["epoch"],
    )
    return msg, {**fields, "value": value}


def assert_fields(msg: Message, fields: dict[str, Any]) -> None:
    """``msg`` carries the routing fields it was created with."""
    for name in ("kind", "channel", "scope", "key", "offset", "epoch"):
        assert getattr(msg, name) == fields[name], name


def little_endian(dtype: np.dtype[Any]) -> np.dtype[Any]:
    """The dtype a buffer of ``dtype`` arrives as: same kind and size, little-endian."""
    return dtype.newbyteorder("<") if dtype.byteorder == ">" else dtype


def assert_same(decoded: Any, original: Any, path: str = "value") -> None:
    """``decoded`` is what packing ``original`` should give back."""
    if isinstance(original, np.ndarray):
        assert isinstance(decoded, np.ndarray), path
        assert decoded.shape == original.shape, path
        assert decoded.dtype == little_endian(original.dtype), path
        assert decoded.dtype.byteorder in "<=|", path
        np.testing.assert_array_equal(decoded, original, err_msg=path)
        # bit for bit, NaN payloads included
        expected = np.ascontiguousarray(original.astype(little_endian(original.dtype)))
        assert decoded.tobytes() == expected.tobytes(), path
    elif isinstance(original, (bytes, bytearray, memoryview)):
        assert type(decoded) is bytes, path
        assert decoded == memoryview(original).tobytes(), path
    elif isinstance(original, dict):
        assert type(decoded) is dict, path
        assert decoded.keys() == original.keys(), path
        for k, v in original.items():
            assert_same(decoded[k], v, f"{path}[{k!r}]")
    elif isinstance(original, (list, tuple)):
        assert type(decoded) is list, path
        assert len(decoded) == len(original), path
        for i, v in enumerate(original):
            assert_same(decoded[i], v, f"{path}[{i}]")
    else:
        assert type(decoded) is type(original), path
        assert decoded == original, path
