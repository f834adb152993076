"""Messages and payload packing: JSON plus binary buffers cut out by path."""

from __future__ import annotations

import contextlib
import math
from collections import OrderedDict
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbchannel.core.message import (
    Buffer,
    Message,
    dtype_itemsize,
    pack_value,
    shape_size,
    unpack_value,
)
from nbchannel.errors import EncodeError, MalformedFrame, ProtocolError

from .payloads import NUMERIC_DTYPES, arrays, assert_fields, assert_same, messages, payloads

# -- round trips ------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(payloads())
def test_pack_unpack_round_trip(value: Any) -> None:
    payload, buffers = pack_value(value)
    assert_same(unpack_value(payload, buffers), value)


@settings(max_examples=100, deadline=None)
@given(messages())
def test_message_round_trip(drawn: tuple[Message, dict[str, Any]]) -> None:
    msg, fields = drawn
    assert_fields(msg, fields)
    assert_same(msg.value(), fields["value"])


@settings(max_examples=100, deadline=None)
@given(arrays())
def test_array_buffers_are_contiguous_little_endian(arr: np.ndarray[Any, Any]) -> None:
    _, (buf,) = pack_value({"a": arr})
    assert buf.path == ("a",)
    assert buf.shape == arr.shape
    assert buf.dtype is not None and buf.dtype[0] in "<|"
    assert buf.data.format == "B" and buf.data.ndim == 1 and buf.data.c_contiguous
    assert buf.nbytes == arr.nbytes


@pytest.mark.parametrize("dtype", NUMERIC_DTYPES)
def test_every_numeric_dtype(dtype: str) -> None:
    arr = np.arange(12).reshape(3, 4).astype(dtype)
    value = unpack_value(*pack_value([arr, arr[::2, ::3], np.asfortranarray(arr)]))
    for got, want in zip(value, [arr, arr[::2, ::3], arr], strict=True):
        assert_same(got, want)


def test_none_packs_to_empty_payload() -> None:
    assert pack_value(None) == (b"", ())
    assert unpack_value(b"") is None
    assert Message.create("ping").value() is None


def test_top_level_buffer() -> None:
    arr = np.arange(3, dtype="<i4")
    payload, (buf,) = pack_value(arr)
    assert payload == b"null"
    assert buf.path == ()
    assert_same(unpack_value(payload, (buf,)), arr)
    assert unpack_value(*pack_value(b"raw")) == b"raw"


def test_tuples_become_lists_and_non_finite_floats_null() -> None:
    value = unpack_value(*pack_value({"t": (1, (2.5, "x")), "n": [math.nan, math.inf]}))
    assert value == {"t": [1, [2.5, "x"]], "n": [None, None]}


def test_mappings_and_numpy_scalars() -> None:
    value = {"o": OrderedDict(a=np.float32(1.5), b=np.int64(7)), "z": np.bool_(True)}
    assert unpack_value(*pack_value(value)) == {"o": {"a": 1.5, "b": 7}, "z": True}


def test_buffer_paths() -> None:
    a, b = np.zeros(2), np.ones(3)
    _, buffers = pack_value({"x": [1, a, {"y": b}], "raw": b"\x00\x01"})
    assert [buf.path for buf in buffers] == [("x", 1), ("x", 2, "y"), ("raw",)]
    assert buffers[0].descriptor() == {"p": ["x", 1], "n": 16, "t": "<f8", "s": [2]}
    assert buffers[2].descriptor() == {"p": ["raw"], "n": 2}


def test_packing_does_not_mutate_the_value() -> None:
    inner = [np.zeros(2)]
    value = {"a": inner, "t": (b"x",)}
    pack_value(value)
    assert isinstance(inner[0], np.ndarray) and value["t"] == (b"x",)


# -- copies ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "arr",
    [
        np.arange(1000, dtype="<f8"),
        np.arange(24, dtype="<i4").reshape(2, 3, 4),
        np.array(3.5),
        np.zeros((4, 4), dtype=bool),
        np.arange(10, dtype="u1")[2:8],
    ],
    ids=["1d", "3d", "0d", "bool", "contiguous-slice"],
)
def test_c_contiguous_arrays_are_not_copied(arr: np.ndarray[Any, Any]) -> None:
    _, (buf,) = pack_value({"a": arr})
    assert np.shares_memory(np.frombuffer(buf.data, dtype=np.uint8), arr)


@pytest.mark.parametrize(
    "arr",
    [
        np.asfortranarray(np.ones((3, 4))),
        np.arange(10.0)[::2],
        np.arange(10, dtype=">i4"),
    ],
    ids=["F-order", "strided", "big-endian"],
)
def test_other_arrays_are_copied(arr: np.ndarray[Any, Any]) -> None:
    _, (buf,) = pack_value({"a": arr})
    assert not np.shares_memory(np.frombuffer(buf.data, dtype=np.uint8), arr)
    assert_same(buf.value(), arr)


def test_bytes_are_not_copied_but_bytearrays_are_frozen() -> None:
    data = b"hello"
    _, (buf,) = pack_value([data])
    assert buf.data.obj is data

    mutable = bytearray(b"hello")
    _, (buf,) = pack_value([mutable])
    mutable[0] = ord("J")
    assert buf.value() == b"hello"


def test_strided_memoryview_is_made_contiguous() -> None:
    _, (buf,) = pack_value(memoryview(b"a-b-c-")[::2])
    assert buf.data.c_contiguous and buf.value() == b"abc"


def test_decoded_arrays_are_read_only() -> None:
    _, (buf,) = pack_value(np.arange(3))
    arr = Buffer(buf.path, buf.dtype, buf.shape, memoryview(buf.data.tobytes())).value()
    assert isinstance(arr, np.ndarray) and not arr.flags.writeable


# -- what cannot be sent --------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ({"a": np.array([object()], dtype=object)}, ["object", "payload['a']", "astype"]),
        ({"a": [np.zeros(2, dtype=[("x", "i4"), ("y", "f8")])]}, ["payload['a'][0]", "astype"]),
        (np.array(["text"]), ["<U4", "convert it first"]),
        (np.array(["2024-01-01"], dtype="datetime64[D]"), ["datetime64", "convert"]),
        ({1: "one"}, ["string keys"]),
        ({(1, 2): np.zeros(1)}, ["string keys"]),
        ({"x": object()}, ["object", "JSON values"]),
        ([{1, 2}], ["set", "JSON values"]),
        (1 + 2j, ["complex", "numpy arrays or bytes"]),
        (2**70, ["64-bit", "JSON values"]),
    ],
    ids=[
        "object-dtype",
        "structured-dtype",
        "str-dtype",
        "datetime-dtype",
        "int-key",
        "tuple-key",
        "object",
        "set",
        "complex-scalar",
        "huge-int",
    ],
)
def test_unsendable_values_raise_encode_error(value: Any, words: list[str]) -> None:
    with pytest.raises(EncodeError) as info:
        Message.create("publish", "c", value)
    for word in words:
        assert word in str(info.value)
    assert isinstance(info.value, TypeError)  # callers may catch the builtin
    assert isinstance(info.value, ProtocolError)
    assert info.value.code == "encode"


# -- unpacking what a peer sent ---------------------------------------------------------


def _bytes(path: tuple[str | int, ...]) -> Buffer:
    return Buffer(path, None, None, memoryview(b"x"))


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        (b'{"a": 1}', ("b",)),
        (b'{"a": 1}', (0,)),
        (b"[1, 2]", (2,)),
        (b"[1, 2]", ("0",)),
        (b'{"a": 1}', ("a", 0)),
        (b'{"a": [null]}', ("a", 0, "b")),
        (b"null", ("a",)),
        (b"", (0,)),
        (b'"s"', (0,)),
        (b"[[1]]", (0, True)),
    ],
)
def test_buffer_path_not_fitting_payload(payload: bytes, path: tuple[str | int, ...]) -> None:
    with pytest.raises(MalformedFrame, match="does not fit the payload"):
        unpack_value(payload, (_bytes(path),))


def test_buffer_path_through_an_earlier_buffer() -> None:
    with pytest.raises(MalformedFrame, match="does not fit"):
        unpack_value(b"[null]", (_bytes((0,)), _bytes((0, 0))))


@pytest.mark.parametrize("payload", [b"{", b"nul", b"\xff", b"[1,]", b"1 2"])
def test_payload_not_json(payload: bytes) -> None:
    with pytest.raises(MalformedFrame, match="payload is not valid JSON"):
        Message("publish", "c", payload=payload).value()


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=40), st.lists(st.one_of(st.text(max_size=3), st.integers(0, 3))))
def test_unpack_raises_only_malformed_frame(payload: bytes, path: list[str | int]) -> None:
    with contextlib.suppress(MalformedFrame):
        unpack_value(payload, (_bytes(tuple(path)),))


@pytest.mark.parametrize(
    ("dtype", "size"),
    [("|b1", 1), ("<i2", 2), (">u8", 8), ("<f2", 2), ("<c16", 16), ("|u1", 1), ("<c8", 8)],
)
def test_dtype_itemsize(dtype: str, size: int) -> None:
    assert dtype_itemsize(dtype) == size


@pytest.mark.parametrize(
    "dtype",
    ["f8", "<O", "|O8", "<U4", "<f3", "<f8 ", "=f8", "<M8", "<V8", "<f16", "<c32", "", 8, None],
)
def test_dtype_itemsize_refuses(dtype: Any) -> None:
    with pytest.raises(MalformedFrame, match="unsupported buffer dtype"):
        dtype_itemsize(dtype)


def test_shape_size() -> None:
    assert shape_size(()) == 1
    assert shape_size((2, 0, 3)) == 0
    assert shape_size((2, 3)) == 6


# -- the message object -----------------------------------------------------------------


def test_header_omits_absent_fields() -> None:
    assert Message("ping").header() == b'{"k":"ping"}'
    m = Message.create("set", "c", [1], scope="s", key="title", offset=4, epoch=2)
    assert m.header() == b'{"k":"set","c":"c","s":"s","y":"title","o":4,"e":2,"p":3}'
    assert m.header() is m.header()  # computed once


def test_replace_shares_payload_and_recomputes_header() -> None:
    m = Message.create("append", "c", {"a": np.arange(3)}, offset=1)
    r = m.replace(offset=2, scope="s")
    assert (r.offset, r.scope, m.offset, m.scope) == (2, "s", 1, None)
    assert r.payload is m.payload and r.buffers is m.buffers
    assert b'"o":2' in r.header() and b'"o":1' in m.header()


def test_equality_and_hash() -> None:
    a = Message.create("p", "c", {"x": np.arange(3)})
    assert a == Message.create("p", "c", {"x": np.arange(3)})
    assert a != Message.create("p", "c", {"x": np.arange(1, 4)})
    assert a != Message.create("p", "d", {"x": np.arange(3)})
    assert a != "p"
    with pytest.raises(TypeError):
        hash(a)


def test_repr_and_nbytes() -> None:
    m = Message.create("p", "c", {"x": np.zeros(100, dtype="u1")}, key="k", offset=0)
    assert repr(m) == "Message('p', 'c', key='k', offset=0, payload=10B, buffers=1)"
    assert m.nbytes >= 100


def test_extended_precision_arrays_are_refused_with_a_fix() -> None:
    arr = np.zeros(3, dtype=np.longdouble)
    if arr.dtype.itemsize == 8:  # longdouble is float64 on this platform: nothing to refuse
        assert pack_value(arr)[1][0].dtype == "<f8"
        return
    with pytest.raises(EncodeError, match=r"astype\(np.float64\)"):
        pack_value({"x": arr})
