"""The shared argument checks: one wording, TypeError for types, ValueError for values."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from nbchannel.widgets import LivePlot, _checks

from .refusals import Opaque, assert_refused


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "None"),
        (5, "int 5"),
        (True, "bool True"),
        ("loss", "str 'loss'"),
        (float("nan"), "float nan"),
        (np.float32("nan"), "float32 nan"),
        (np.int64(7), "int64 7"),
        (np.str_("a"), "str_ 'a'"),
        (np.zeros((2, 3)), "ndarray of shape (2, 3) and dtype float64"),
        (Opaque(), "Opaque Opaque()"),
        ("x" * 100, "str '" + "x" * 56 + "..."),
    ],
    ids=repr,
)
def test_describe_names_the_type_and_a_short_repr(value: Any, text: str) -> None:
    assert _checks.describe(value) == text


class MyPlot(LivePlot):
    """A user's subclass."""


def test_a_subclass_is_named_in_its_errors() -> None:
    assert_refused(
        lambda: MyPlot(window=True),
        TypeError,
        "MyPlot(window=...) must be an integer >= 2 (or None), got bool True",
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [(3, 3), (np.int8(3), 3), (np.uint64(2**63), 2**63), (10**30, 10**30)],
    ids=repr,
)
def test_integer_takes_python_and_numpy_ints(value: Any, expected: int) -> None:
    got = _checks.integer(value, "W", "(n=...)", minimum=1)
    assert got == expected
    assert type(got) is int


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (True, TypeError),
        (np.bool_(True), TypeError),
        (3.0, TypeError),
        (np.float64(3.0), TypeError),
        ("3", TypeError),
        (None, TypeError),
        (0, ValueError),
        (np.int64(-1), ValueError),
    ],
    ids=repr,
)
def test_integer_refuses_bools_floats_and_small_values(value: Any, error: type[Exception]) -> None:
    assert_refused(
        lambda: _checks.integer(value, "W", "(n=...)", minimum=1),
        error,
        f"W(n=...) must be an integer >= 1, got {_checks.describe(value)}",
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [(2, 2), (2.5, 2.5), (np.float32(0.5), 0.5), (np.int16(-4), -4), (1e308, 1e308)],
    ids=repr,
)
def test_number_takes_finite_python_and_numpy_numbers(value: Any, expected: float) -> None:
    got = _checks.number(value, "W", "(x=...)")
    assert got == expected
    assert type(got) in (int, float)


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (float("nan"), ValueError),
        (float("inf"), ValueError),
        (np.float64("-inf"), ValueError),
        (10**400, ValueError),  # no page can show it
        (False, TypeError),
        (1 + 2j, TypeError),
        ("1", TypeError),
        ([1.0], TypeError),
    ],
    ids=repr,
)
def test_number_refuses_non_finite_values_and_non_numbers(
    value: Any, error: type[Exception]
) -> None:
    with pytest.raises(error) as info:
        _checks.number(value, "W", "(x=...)")
    assert info.type is error
    assert str(info.value).startswith("W(x=...) must be a finite number, got ")


def test_optional_checks_say_none_is_allowed() -> None:
    assert _checks.number(None, "W", "(x=...)", optional=True) is None
    assert_refused(
        lambda: _checks.number(-1, "W", "(x=...)", minimum=0, optional=True),
        ValueError,
        "W(x=...) must be a finite number >= 0 (or None), got int -1",
    )


def test_json_value_refuses_a_list_that_contains_itself() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match=r"^W\(k=\.\.\.\) must be a JSON value"):
        _checks.json_value(loop, "W", "(k=...)")
