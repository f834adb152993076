"""``LiveValue``: a number, or a progress bar with a total."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from nbchannel.core import protocol as P
from nbchannel.widgets import LiveValue, LiveWidget

from .page import Page
from .refusals import assert_refused

Watch = Callable[[LiveWidget], Page]


def test_initial_value_is_state(watch: Watch) -> None:
    v = LiveValue()
    assert (v.value, v.total) == (0, None)
    assert v._config == {"label": "", "unit": ""}
    assert watch(v).state == {"value": {"value": 0, "label": "", "unit": ""}}


def test_progress_bar_carries_total_label_and_unit(watch: Watch) -> None:
    v = LiveValue(5, total=100, label="samples", unit="img")
    assert v._config == {"label": "samples", "unit": "img"}
    assert watch(v).state == {
        "value": {"value": 5, "total": 100, "label": "samples", "unit": "img"}
    }


def test_setting_value_sends_the_whole_state(watch: Watch) -> None:
    v = LiveValue(total=10, label="steps")
    for i in range(1, 4):
        v.value = i
    page = watch(v)
    assert [m.kind for m in page.messages] == [P.SET] * 4
    assert [s["value"] for s in page.sets("value")] == [0, 1, 2, 3]
    assert page.state == {"value": {"value": 3, "total": 10, "label": "steps", "unit": ""}}
    assert v.value == 3


def test_total_can_be_set_and_removed(watch: Watch) -> None:
    v = LiveValue(1)
    v.total = 8
    assert v.total == 8
    assert watch(v).state["value"] == {"value": 1, "total": 8, "label": "", "unit": ""}
    v.total = None
    assert watch(v).state["value"] == {"value": 1, "label": "", "unit": ""}


def test_update_sets_value_total_and_label_at_once(watch: Watch) -> None:
    v = LiveValue(label="a", total=5)
    v.update(3, total=6, label="b")
    assert (v.value, v.total) == (3, 6)
    assert watch(v).state["value"] == {"value": 3, "total": 6, "label": "b", "unit": ""}
    v.update(4)  # total and label are kept
    assert watch(v).state["value"] == {"value": 4, "total": 6, "label": "b", "unit": ""}
    assert len(watch(v).sets("value")) == 3  # one message per update


def test_numpy_numbers_and_floats_are_sent(watch: Watch) -> None:
    v = LiveValue()
    v.value = np.int64(7)
    assert watch(v).state["value"]["value"] == 7
    v.value = 0.125
    assert watch(v).state["value"]["value"] == 0.125


TOTAL = "must be a finite number >= 0 (or None)"

BAD_ARGUMENTS = [
    pytest.param(
        {"value": "5"},
        TypeError,
        "LiveValue(value=...) must be a number, got str '5'",
        id="value-str",
    ),
    pytest.param(
        {"value": None},
        TypeError,
        "LiveValue(value=...) must be a number, got None",
        id="value-none",
    ),
    pytest.param(
        {"value": True},
        TypeError,
        "LiveValue(value=...) must be a number, got bool True",
        id="value-bool",
    ),
    pytest.param(
        {"total": -1}, ValueError, f"LiveValue(total=...) {TOTAL}, got int -1", id="total-neg"
    ),
    pytest.param(
        {"total": float("nan")},
        ValueError,
        f"LiveValue(total=...) {TOTAL}, got float nan",
        id="total-nan",
    ),
    pytest.param(
        {"total": float("inf")},
        ValueError,
        f"LiveValue(total=...) {TOTAL}, got float inf",
        id="total-inf",
    ),
    pytest.param(
        {"total": "100"}, TypeError, f"LiveValue(total=...) {TOTAL}, got str '100'", id="total-str"
    ),
    pytest.param(
        {"total": True}, TypeError, f"LiveValue(total=...) {TOTAL}, got bool True", id="total-bool"
    ),
    pytest.param(
        {"label": None},
        TypeError,
        "LiveValue(label=...) must be a string, got None",
        id="label-none",
    ),
    pytest.param(
        {"unit": 1}, TypeError, "LiveValue(unit=...) must be a string, got int 1", id="unit-int"
    ),
]


@pytest.mark.parametrize(("kwargs", "error", "message"), BAD_ARGUMENTS)
def test_bad_arguments_are_refused_by_name(
    kwargs: dict[str, Any], error: type[Exception], message: str, transport: Any
) -> None:
    assert_refused(lambda: LiveValue(**kwargs), error, message)
    assert transport.registered == []  # refused before any channel was opened


BAD_CALLS = [
    pytest.param(
        lambda v: setattr(v, "value", "7"),
        TypeError,
        "LiveValue.value must be a number, got str '7'",
        id="value-str",
    ),
    pytest.param(
        lambda v: setattr(v, "value", False),
        TypeError,
        "LiveValue.value must be a number, got bool False",
        id="value-bool",
    ),
    pytest.param(
        lambda v: setattr(v, "total", -5),
        ValueError,
        f"LiveValue.total {TOTAL}, got int -5",
        id="total-neg",
    ),
    pytest.param(
        lambda v: v.update("1"),
        TypeError,
        "LiveValue.update(value=...) must be a number, got str '1'",
        id="update-value",
    ),
    pytest.param(
        lambda v: v.update(1, total=float("nan")),
        ValueError,
        f"LiveValue.update(total=...) {TOTAL}, got float nan",
        id="update-total",
    ),
    pytest.param(
        lambda v: v.update(1, label=2),
        TypeError,
        "LiveValue.update(label=...) must be a string (or None), got int 2",
        id="update-label",
    ),
]


@pytest.mark.parametrize(("call", "error", "message"), BAD_CALLS)
def test_bad_calls_are_refused_by_name_and_change_nothing(
    call: Callable[[LiveValue], Any], error: type[Exception], message: str, watch: Watch
) -> None:
    v = LiveValue(3, total=10, label="steps")
    page = watch(v)
    sent = len(page.messages)
    assert_refused(lambda: call(v), error, message)
    assert len(page.messages) == sent
    assert (v.value, v.total) == (3, 10)


def test_a_nan_value_is_shown_as_no_number_and_zero_total_is_allowed(watch: Watch) -> None:
    v = LiveValue(total=0)  # e.g. len(data) of an empty data set
    v.value = float("nan")  # a diverged loss: the page shows no number
    assert watch(v).state["value"] == {"value": None, "total": 0, "label": "", "unit": ""}
