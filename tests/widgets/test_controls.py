"""Controls: Button, Slider, Toggle, TextInput and Dropdown, with events from the page."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from nbchannel.kernel.channel import Event
from nbchannel.kernel.transport import IO_THREAD_NAME
from nbchannel.widgets import Button, Dropdown, LiveWidget, Slider, TextInput, Toggle

from .page import Page

Watch = Callable[[LiveWidget], Page]


def changes_to(page: Page, *values: Any) -> None:
    """The page sends one ``change`` event per value, as the controls' views do."""
    for v in values:
        page.send("change", {"value": v})


# -- Button ----------------------------------------------------------------------------


def test_button_state_and_config(watch: Watch) -> None:
    stop = Button("Stop")
    assert stop._config == {"label": "Stop"}
    assert (stop.label, stop.disabled) == ("Stop", False)
    assert watch(stop).state == {"label": "Stop", "disabled": False}
    assert (stop.clicks, stop.clicked) == (0, False)


def test_label_and_disabled_go_to_state(watch: Watch) -> None:
    b = Button(disabled=True)
    assert watch(b).state == {"label": "Button", "disabled": True}
    b.label = 3  # type: ignore[assignment]
    b.disabled = 0  # type: ignore[assignment]
    assert (b.label, b.disabled) == ("3", False)
    assert watch(b).state == {"label": "3", "disabled": False}


def test_clicks_count_click_events(watch: Watch) -> None:
    stop = Button("Stop")
    page = watch(stop)
    page.send("click", {})
    assert (stop.clicks, stop.clicked) == (1, True)
    page.send("click", {})
    page.send("other", {})
    page.send("click")
    assert stop.clicks == 3


def test_clicks_from_the_io_thread_reach_a_polling_cell(watch: Watch) -> None:
    stop = Button("Stop")
    thread = watch(stop).send_later([("click", {})] * 3, delay=0.02)
    deadline = time.monotonic() + 5
    while stop.clicks < 3 and time.monotonic() < deadline:  # the "cell" loop
        time.sleep(0.001)
    thread.join()
    assert stop.clicked
    assert stop.clicks == 3


def test_clicks_from_many_threads_are_all_counted(watch: Watch) -> None:
    b = Button()
    page = watch(b)
    threads = [page.send_later([("click", {})] * 50) for _ in range(4)]
    for t in threads:
        t.join()
    assert b.clicks == 200


def test_a_disabled_button_ignores_clicks(watch: Watch) -> None:
    b = Button(disabled=True)
    handled: list[Event] = []
    b.on_click(handled.append)
    page = watch(b)
    page.send("click", {})
    assert (b.clicks, b.clicked, handled) == (0, False, [])
    b.disabled = False
    page.send("click", {})
    assert b.clicks == 1
    assert len(handled) == 1


def test_reset_forgets_clicks(watch: Watch) -> None:
    b = Button()
    page = watch(b)
    page.send("click", {})
    page.send("click", {})
    b.reset()
    assert (b.clicks, b.clicked) == (0, False)
    page.send("click", {})
    assert b.clicks == 1


def test_on_click_handlers_run_on_the_io_thread_with_the_event(watch: Watch) -> None:
    b = Button()
    got: list[tuple[str, Any, str, int]] = []

    @b.on_click
    def first(event: Event) -> None:
        got.append((event.name, event.value, threading.current_thread().name, b.clicks))

    assert callable(first)  # the decorator returns the handler
    b.on_click(lambda event: got.append(("second", None, "", 0)))
    watch(b).send_later([("click", {})]).join()
    assert got == [("click", {}, IO_THREAD_NAME, 1), ("second", None, "", 0)]


def test_wait_click_returns_the_next_click(watch: Watch) -> None:
    b = Button()
    thread = watch(b).send_later([("hover", {}), ("click", {})], when_waiting=True)
    event = b.wait_click(timeout=5)
    thread.join()
    assert (event.name, event.value, event.channel) == ("click", {}, b.channel.name)
    assert b.clicks == 1


def test_wait_click_times_out() -> None:
    with pytest.raises(TimeoutError, match="no 'click' event"):
        Button().wait_click(timeout=0.01)


def test_wait_click_ignores_clicks_on_a_disabled_button(watch: Watch) -> None:
    b = Button(disabled=True)
    thread = watch(b).send_later([("click", {})], when_waiting=True)
    try:
        with pytest.raises(TimeoutError):
            b.wait_click(timeout=0.2)
    finally:
        thread.join()


# -- Slider ----------------------------------------------------------------------------


def test_slider_state_and_config(watch: Watch) -> None:
    s = Slider(0.0, 1.0, step=0.01, value=0.1, label="learning rate")
    assert s._config == {"label": "learning rate", "min": 0.0, "max": 1.0, "step": 0.01}
    assert watch(s).state == {"label": "learning rate", "disabled": False, "value": 0.1}
    assert (s.value, s.changes, s.disabled) == (0.1, 0, False)


def test_slider_starts_at_min(watch: Watch) -> None:
    s = Slider(-5, 5)
    assert s.value == -5
    assert watch(s).state["value"] == -5


@pytest.mark.parametrize(
    ("args", "kind"),
    [
        ((0, 100), int),
        ((0.0, 10.0, 2.0), int),  # every bound and the step are whole numbers
        ((0.0, 1.0, 0.1), float),
        ((0, 10, 0.5), float),
        ((0.5, 10, 1), float),
    ],
)
def test_slider_values_are_int_when_bounds_and_step_are_whole(
    args: tuple[float, ...], kind: type, watch: Watch
) -> None:
    s = Slider(args[0], args[1], step=args[2] if len(args) > 2 else 1.0)
    s.value = 3
    assert type(s.value) is kind
    assert type(watch(s).state["value"]) is kind
    changes_to(watch(s), 4)
    assert type(s.value) is kind


@pytest.mark.parametrize(
    ("value", "expected"), [(150, 100), (-5, 0), (100, 100), (0, 0), (1e300, 100)]
)
def test_slider_clamps_to_its_range(value: float, expected: int, watch: Watch) -> None:
    s = Slider(0, 100)
    s.value = value
    assert s.value == expected
    assert watch(s).state["value"] == expected


@pytest.mark.parametrize(
    ("lo", "hi", "step", "value", "expected"),
    [
        (0, 100, 5, 12, 10),
        (0, 100, 5, 13, 15),
        (10, 20, 4, 15, 14),  # steps count from min: 10, 14, 18
        (0, 10, 3, 10, 9),  # never above max, even when max is off the grid
        (0.0, 1.0, 0.1, 0.30000000000000004, 0.3),
        (0.0, 1.0, 0.1, 0.74, 0.7),
        (-1.0, 1.0, 0.25, 0.3, 0.25),
    ],
)
def test_slider_snaps_to_its_step(
    lo: float, hi: float, step: float, value: float, expected: float, watch: Watch
) -> None:
    s = Slider(lo, hi, step=step)
    s.value = value
    assert s.value == expected
    assert watch(s).state["value"] == expected
    assert Slider(lo, hi, step=step, value=value).value == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min": 1, "max": 1}, "finite min < max"),
        ({"min": 2, "max": 1}, "finite min < max"),
        ({"min": float("-inf"), "max": 1}, "finite min < max"),
        ({"min": 0, "max": float("nan")}, "finite min < max"),
        ({"step": 0}, "step must be positive"),
        ({"step": -1}, "step must be positive"),
        ({"step": float("nan")}, "step must be positive"),
    ],
)
def test_slider_bounds_are_validated(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Slider(**kwargs)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "abc", None])
def test_slider_refuses_bad_values_from_the_kernel(bad: Any, watch: Watch) -> None:
    s = Slider(0, 10, value=4)
    with pytest.raises((ValueError, TypeError)):
        s.value = bad
    assert s.value == 4
    assert watch(s).sets("value") == [4]


def test_kernel_value_goes_to_state_without_calling_on_change(watch: Watch) -> None:
    s = Slider(0, 10)
    seen: list[Any] = []
    s.on_change(seen.append)
    s.value = 7
    assert watch(s).sets("value") == [0, 7]
    assert (seen, s.changes) == ([], 0)


def test_slider_follows_the_page(watch: Watch) -> None:
    s = Slider(0, 100, step=5)
    page = watch(s)
    seen: list[tuple[Any, str]] = []

    @s.on_change
    def changed(value: Any) -> None:
        seen.append((value, threading.current_thread().name))

    assert callable(changed)
    page.send_later([("change", {"value": 42}), ("change", {"value": 250})]).join()
    assert s.value == 100
    assert s.changes == 2
    assert seen == [(40, IO_THREAD_NAME), (100, IO_THREAD_NAME)]  # clamped and snapped
    assert page.sets("value") == [0, 40, 100]  # echoed, so other views follow


@pytest.mark.parametrize(
    "event",
    [
        {"value": float("nan")},  # JSON has no NaN: the page's NaN arrives as null
        {"value": float("inf")},
        {"value": None},
        {"value": "inf"},
        {"value": "nan"},
        {"value": "lots"},
        {"value": [1, 2]},
        {"value": {"x": 1}},
        {},
        {"val": 3},
        5,
        "5",
        None,
        [5],
    ],
    ids=repr,
)
def test_slider_ignores_garbage_from_the_page(
    event: Any, watch: Watch, caplog: pytest.LogCaptureFixture
) -> None:
    s = Slider(0, 10, value=4)
    seen: list[Any] = []
    s.on_change(seen.append)
    page = watch(s)
    sent = len(page.messages)
    with caplog.at_level(logging.WARNING, logger="nbchannel"):
        page.send("change", event)
    assert s.value == 4
    assert (s.changes, seen) == (0, [])
    assert len(page.messages) == sent
    [record] = [r for r in caplog.records if r.name == "nbchannel"]
    assert record.levelno == logging.WARNING
    assert "Slider ignored a bad value" in record.getMessage()


def test_disabled_slider_ignores_the_page(watch: Watch) -> None:
    s = Slider(0, 10, value=2, disabled=True)
    page = watch(s)
    assert page.state["disabled"] is True
    changes_to(page, 8)
    assert (s.value, s.changes) == (2, 0)
    s.disabled = False
    changes_to(page, 8)
    assert (s.value, s.changes) == (8, 1)


def test_wait_change_returns_the_new_value(watch: Watch) -> None:
    s = Slider(0, 10)
    thread = watch(s).send_later([("change", {"value": 6.4})], when_waiting=True)
    value = s.wait_change(timeout=5)
    thread.join()
    assert value == 6
    assert s.value == 6


def test_wait_change_times_out() -> None:
    with pytest.raises(TimeoutError, match="no 'change' event"):
        Slider().wait_change(timeout=0.01)


def test_wait_change_skips_values_the_control_ignores(watch: Watch) -> None:
    s = Slider(0, 10, value=1)
    thread = watch(s).send_later([("change", {"value": "garbage"})], when_waiting=True)
    try:
        with pytest.raises(TimeoutError):
            s.wait_change(timeout=0.2)  # returns the unchanged value 1 today
    finally:
        thread.join()
    assert s.value == 1


def test_wait_change_returns_the_value_of_the_change_it_waited_for(watch: Watch) -> None:
    s = Slider(0, 10, value=1)
    coerce = s._coerce

    def slow_coerce(value: Any) -> float:
        time.sleep(0.2)
        return coerce(value)

    s._coerce = slow_coerce  # type: ignore[method-assign]
    thread = watch(s).send_later([("change", {"value": 5})], when_waiting=True)
    try:
        assert s.wait_change(timeout=5) == 5  # returns 1 today
    finally:
        thread.join()


# -- Toggle ----------------------------------------------------------------------------


def test_toggle_state_and_config(watch: Watch) -> None:
    t = Toggle(True, label="live")
    assert t._config == {"label": "live"}
    assert watch(t).state == {"label": "live", "disabled": False, "value": True}
    assert Toggle().value is False


def test_toggle_follows_the_page(watch: Watch) -> None:
    t = Toggle()
    seen: list[bool] = []
    t.on_change(seen.append)
    changes_to(watch(t), True, False, True)
    assert (t.value, t.changes, seen) == (True, 3, [True, False, True])


@pytest.mark.parametrize("bad", [1, 0, "true", None, [True]], ids=repr)
def test_toggle_ignores_non_booleans_from_the_page(
    bad: Any, watch: Watch, caplog: pytest.LogCaptureFixture
) -> None:
    t = Toggle(False)
    with caplog.at_level(logging.WARNING, logger="nbchannel"):
        changes_to(watch(t), bad)
    assert (t.value, t.changes) == (False, 0)
    assert "Toggle ignored a bad value" in caplog.text


def test_toggle_refuses_non_booleans_from_the_kernel() -> None:
    with pytest.raises(TypeError, match="true or false"):
        Toggle(1)  # type: ignore[arg-type]
    t = Toggle()
    with pytest.raises(TypeError):
        t.value = "yes"  # type: ignore[assignment]
    assert t.value is False


def test_wait_change_on_a_toggle(watch: Watch) -> None:
    t = Toggle()
    thread = watch(t).send_later([("change", {"value": True})], when_waiting=True)
    assert t.wait_change(timeout=5) is True
    thread.join()


# -- TextInput -------------------------------------------------------------------------


def test_text_input_state_and_config(watch: Watch) -> None:
    t = TextInput("hi", placeholder="name", label="Name", max_length=20)
    assert t._config == {"label": "Name", "placeholder": "name", "max_length": 20}
    assert watch(t).state == {"label": "Name", "disabled": False, "value": "hi"}


def test_text_input_truncates_to_max_length(watch: Watch) -> None:
    t = TextInput("abcdefgh", max_length=4)
    assert t.value == "abcd"
    t.value = "123456"
    assert t.value == "1234"
    changes_to(watch(t), "xyz", "uvwxyz")
    assert t.value == "uvwx"
    assert watch(t).sets("value") == ["abcd", "1234", "xyz", "uvwx"]


def test_text_input_follows_the_page(watch: Watch) -> None:
    t = TextInput()
    seen: list[str] = []
    t.on_change(seen.append)
    changes_to(watch(t), "h", "he", "")
    assert (t.value, t.changes, seen) == ("", 3, ["h", "he", ""])


@pytest.mark.parametrize("bad", [5, None, ["a"], {"a": 1}, True], ids=repr)
def test_text_input_ignores_non_strings_from_the_page(
    bad: Any, watch: Watch, caplog: pytest.LogCaptureFixture
) -> None:
    t = TextInput("keep")
    with caplog.at_level(logging.WARNING, logger="nbchannel"):
        changes_to(watch(t), bad)
    assert (t.value, t.changes) == ("keep", 0)
    assert "TextInput ignored a bad value" in caplog.text


def test_text_input_refuses_non_strings_from_the_kernel() -> None:
    with pytest.raises(TypeError, match="a TextInput's value is a string"):
        TextInput(5)  # type: ignore[arg-type]


def test_text_input_refuses_a_negative_max_length() -> None:
    with pytest.raises(ValueError):
        TextInput("abc", max_length=-1)


# -- Dropdown --------------------------------------------------------------------------


def test_dropdown_state_and_config(watch: Watch) -> None:
    d = Dropdown(["adam", "sgd", 3], label="optimizer")
    assert d._config == {"label": "optimizer"}
    assert d.value == "adam"  # the first option by default
    assert watch(d).state == {
        "label": "optimizer",
        "disabled": False,
        "value": "adam",
        "options": ["adam", "sgd", 3],
    }


def test_dropdown_value_must_be_an_option(watch: Watch) -> None:
    d = Dropdown(("a", "b"), value="b")
    assert d.value == "b"
    d.value = "a"
    assert watch(d).state["value"] == "a"
    with pytest.raises(ValueError, match="'c' is not one of the options"):
        d.value = "c"
    with pytest.raises(ValueError, match="is not one of the options"):
        Dropdown(["a"], value="z")
    assert d.value == "a"


def test_dropdown_needs_options() -> None:
    with pytest.raises(ValueError, match="at least one option"):
        Dropdown([])


def test_dropdown_follows_the_page(watch: Watch) -> None:
    d = Dropdown(["a", "b", 10, 0.5])
    seen: list[Any] = []
    d.on_change(seen.append)
    changes_to(watch(d), "b", 10, 0.5)
    assert (d.value, d.changes, seen) == (0.5, 3, ["b", 10, 0.5])


@pytest.mark.parametrize("bad", ["c", "B", None, 11, ["a"]], ids=repr)
def test_dropdown_ignores_values_that_are_not_options(
    bad: Any, watch: Watch, caplog: pytest.LogCaptureFixture
) -> None:
    d = Dropdown(["a", "b", 10])
    with caplog.at_level(logging.WARNING, logger="nbchannel"):
        changes_to(watch(d), bad)
    assert (d.value, d.changes) == ("a", 0)
    assert "Dropdown ignored a bad value" in caplog.text
    assert "is not one of the options" in caplog.text


def test_disabled_dropdown_ignores_the_page(watch: Watch) -> None:
    d = Dropdown(["a", "b"], disabled=True)
    changes_to(watch(d), "b")
    assert (d.value, d.changes) == ("a", 0)
