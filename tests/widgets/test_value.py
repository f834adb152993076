"""``LiveValue``: a number, or a progress bar with a total."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nbchannel.core import protocol as P
from nbchannel.widgets import LiveValue, LiveWidget

from .page import Page

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
