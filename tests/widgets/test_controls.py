"""Controls: Button, Slider, Toggle, TextInput and Dropdown, with events from the page."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from nbchannel.kernel.channel import Event
from nbchannel.kernel.transport import IO_THREAD_NAME
from nbchannel.widgets import Button, Dropdown, LiveWidget, Slider, TextInput, Toggle

from .page import Page
from .refusals import assert_refused

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
    b.label = "Go"
    flag: Any = np.bool_(False)  # a numpy bool is a bool
    b.disabled = flag
    assert (b.label, b.disabled) == ("Go", False)
    assert watch(b).state == {"label": "Go", "disabled": False}
    assert type(watch(b).state["disabled"]) is bool


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


def test_slider_takes_numpy_numbers_as_python_numbers(watch: Watch) -> None:
    s = Slider(np.int64(0), np.float32(2.5), step=np.float64(0.5), value=np.int16(1))
    assert s._config == {"label": "", "min": 0, "max": 2.5, "step": 0.5}
    assert [type(s._config[k]) for k in ("min", "max", "step")] == [int, float, float]
    assert watch(s).state["value"] == 1.0


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

    def slow_coerce(value: Any, where: str = ".value") -> float:
        time.sleep(0.2)
        return coerce(value, where)

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


def test_toggle_refuses_non_booleans_from_the_kernel(watch: Watch) -> None:
    t = Toggle()
    assert_refused(
        lambda: setattr(t, "value", "yes"),
        TypeError,
        "Toggle.value must be True or False, got str 'yes'",
    )
    assert t.value is False
    assert watch(t).sets("value") == [False]


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


def test_text_input_refuses_non_strings_from_the_kernel(watch: Watch) -> None:
    t = TextInput("keep")
    assert_refused(
        lambda: setattr(t, "value", None), TypeError, "TextInput.value must be a string, got None"
    )
    assert t.value == "keep"
    assert watch(t).sets("value") == ["keep"]


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
    assert_refused(
        lambda: setattr(d, "value", "c"),
        ValueError,
        "Dropdown.value must be one of the options ['a', 'b'], got str 'c'",
    )
    assert d.value == "a"
    assert watch(d).sets("value") == ["b", "a"]


def test_dropdown_options_may_mix_strings_numbers_and_bools(watch: Watch) -> None:
    d = Dropdown(("a", 1, 2.5, True, np.int64(3)), value=True)
    assert d.value is True
    d.value = 1.0  # the browser sends whole floats as ints, and 1 == 1.0
    assert type(d.value) is int
    assert watch(d).state["options"] == ["a", 1, 2.5, True, 3]


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
    assert "Dropdown.value must be one of the options ['a', 'b', 10], got" in caplog.text


def test_disabled_dropdown_ignores_the_page(watch: Watch) -> None:
    d = Dropdown(["a", "b"], disabled=True)
    changes_to(watch(d), "b")
    assert (d.value, d.changes) == ("a", 0)


# -- refused arguments -----------------------------------------------------------------

# The calls below pass what the signatures forbid, on purpose: through untyped names.
Button_: Any = Button
Slider_: Any = Slider
Toggle_: Any = Toggle
TextInput_: Any = TextInput
Dropdown_: Any = Dropdown

BOOL = "must be True or False"
TIMEOUT = "must be a finite number of seconds >= 0 (or None to wait without a limit)"
HANDLER = "must be a callable (a function taking the event)"


def refusals(*cases: tuple[str, Callable[[], object], type[Exception], str]) -> list[Any]:
    """``(id, a call that builds a control, the exception, the whole message)`` as params."""
    return [pytest.param(make, error, message, id=name) for name, make, error, message in cases]


BUTTON_ARGUMENTS = refusals(
    ("label-int", lambda: Button_(3), TypeError, "Button(label=...) must be a string, got int 3"),
    (
        "label-none",
        lambda: Button_(None),
        TypeError,
        "Button(label=...) must be a string, got None",
    ),
    (
        "disabled-int",
        lambda: Button_(disabled=1),
        TypeError,
        f"Button(disabled=...) {BOOL}, got int 1",
    ),
    (
        "disabled-str",
        lambda: Button_(disabled="no"),
        TypeError,
        f"Button(disabled=...) {BOOL}, got str 'no'",
    ),
)

SLIDER_ARGUMENTS = refusals(
    (
        "min-str",
        lambda: Slider_("0", 1),
        TypeError,
        "Slider(min=...) must be a finite number, got str '0'",
    ),
    (
        "min-bool",
        lambda: Slider_(False, 1),
        TypeError,
        "Slider(min=...) must be a finite number, got bool False",
    ),
    (
        "min-inf",
        lambda: Slider_(float("-inf"), 1),
        ValueError,
        "Slider(min=...) must be a finite number, got float -inf",
    ),
    (
        "max-nan",
        lambda: Slider_(0, float("nan")),
        ValueError,
        "Slider(max=...) must be a finite number, got float nan",
    ),
    (
        "max-none",
        lambda: Slider_(0, None),
        TypeError,
        "Slider(max=...) must be a finite number, got None",
    ),
    (
        "max-eq-min",
        lambda: Slider_(1, 1),
        ValueError,
        "Slider(max=...) must be greater than min (1), got int 1",
    ),
    (
        "max-below-min",
        lambda: Slider_(2.5, 1),
        ValueError,
        "Slider(max=...) must be greater than min (2.5), got int 1",
    ),
    (
        "step-0",
        lambda: Slider_(step=0),
        ValueError,
        "Slider(step=...) must be a positive, finite number, got int 0",
    ),
    (
        "step-neg",
        lambda: Slider_(step=-1),
        ValueError,
        "Slider(step=...) must be a positive, finite number, got int -1",
    ),
    (
        "step-nan",
        lambda: Slider_(step=float("nan")),
        ValueError,
        "Slider(step=...) must be a positive, finite number, got float nan",
    ),
    (
        "step-bool",
        lambda: Slider_(step=True),
        TypeError,
        "Slider(step=...) must be a positive, finite number, got bool True",
    ),
    (
        "step-over-range",
        lambda: Slider_(0, 1, step=2),
        ValueError,
        "Slider(step=...) must be at most max - min (1), got int 2",
    ),
    (
        "value-str",
        lambda: Slider_(value="3"),
        TypeError,
        "Slider(value=...) must be a finite number, got str '3'",
    ),
    (
        "value-nan",
        lambda: Slider_(value=float("nan")),
        ValueError,
        "Slider(value=...) must be a finite number, got float nan",
    ),
    (
        "value-bool",
        lambda: Slider_(value=True),
        TypeError,
        "Slider(value=...) must be a finite number, got bool True",
    ),
    (
        "label-int",
        lambda: Slider_(label=1),
        TypeError,
        "Slider(label=...) must be a string, got int 1",
    ),
    (
        "disabled-none",
        lambda: Slider_(disabled=None),
        TypeError,
        f"Slider(disabled=...) {BOOL}, got None",
    ),
)

TOGGLE_ARGUMENTS = refusals(
    ("value-int", lambda: Toggle_(1), TypeError, f"Toggle(value=...) {BOOL}, got int 1"),
    ("value-none", lambda: Toggle_(None), TypeError, f"Toggle(value=...) {BOOL}, got None"),
    ("value-str", lambda: Toggle_("true"), TypeError, f"Toggle(value=...) {BOOL}, got str 'true'"),
    (
        "label-none",
        lambda: Toggle_(label=None),
        TypeError,
        "Toggle(label=...) must be a string, got None",
    ),
    (
        "disabled-int",
        lambda: Toggle_(disabled=0),
        TypeError,
        f"Toggle(disabled=...) {BOOL}, got int 0",
    ),
)

TEXT_INPUT_ARGUMENTS = refusals(
    (
        "value-int",
        lambda: TextInput_(5),
        TypeError,
        "TextInput(value=...) must be a string, got int 5",
    ),
    (
        "value-none",
        lambda: TextInput_(None),
        TypeError,
        "TextInput(value=...) must be a string, got None",
    ),
    (
        "placeholder-int",
        lambda: TextInput_(placeholder=0),
        TypeError,
        "TextInput(placeholder=...) must be a string, got int 0",
    ),
    (
        "max-length-0",
        lambda: TextInput_(max_length=0),
        ValueError,
        "TextInput(max_length=...) must be an integer >= 1, got int 0",
    ),
    (
        "max-length-neg",
        lambda: TextInput_("abc", max_length=-1),
        ValueError,
        "TextInput(max_length=...) must be an integer >= 1, got int -1",
    ),
    (
        "max-length-bool",
        lambda: TextInput_(max_length=True),
        TypeError,
        "TextInput(max_length=...) must be an integer >= 1, got bool True",
    ),
    (
        "max-length-float",
        lambda: TextInput_(max_length=10.0),
        TypeError,
        "TextInput(max_length=...) must be an integer >= 1, got float 10.0",
    ),
    (
        "label-bytes",
        lambda: TextInput_(label=b"x"),
        TypeError,
        "TextInput(label=...) must be a string, got bytes b'x'",
    ),
)

OPTIONS = "must be a list of options (str, finite number or bool)"
DROPDOWN_ARGUMENTS = refusals(
    (
        "options-str",
        lambda: Dropdown_("abc"),
        TypeError,
        f"Dropdown(options=...) {OPTIONS}, got str 'abc'",
    ),
    ("options-int", lambda: Dropdown_(3), TypeError, f"Dropdown(options=...) {OPTIONS}, got int 3"),
    (
        "options-dict",
        lambda: Dropdown_({"Adam": "adam"}),
        TypeError,
        f"Dropdown(options=...) {OPTIONS}, got dict {{'Adam': 'adam'}}",
    ),
    (
        "options-empty",
        lambda: Dropdown_([]),
        ValueError,
        "Dropdown(options=...) must be a non-empty list of options, got list []",
    ),
    (
        "option-none",
        lambda: Dropdown_(["a", None]),
        TypeError,
        f"Dropdown(options=...) {OPTIONS}, got None at index 1",
    ),
    (
        "option-list",
        lambda: Dropdown_([["label", 1]]),
        TypeError,
        f"Dropdown(options=...) {OPTIONS}, got list ['label', 1] at index 0",
    ),
    (
        "option-nan",
        lambda: Dropdown_([1, float("nan")]),
        ValueError,
        f"Dropdown(options=...) {OPTIONS}, got float nan at index 1",
    ),
    (
        "option-duplicate",
        lambda: Dropdown_(["a", "b", "a"]),
        ValueError,
        "Dropdown(options=...) must be a list of distinct options, got 'a' twice",
    ),
    (
        "option-int-float-duplicate",
        lambda: Dropdown_([1, 1.0]),
        ValueError,
        "Dropdown(options=...) must be a list of distinct options, got 1.0 twice",
    ),
    (
        "value-not-an-option",
        lambda: Dropdown_(["a"], value="z"),
        ValueError,
        "Dropdown(value=...) must be one of the options ['a'], got str 'z'",
    ),
    (
        "value-bool-for-int",
        lambda: Dropdown_([0, 1], value=True),
        ValueError,
        "Dropdown(value=...) must be one of the options [0, 1], got bool True",
    ),
    (
        "label-int",
        lambda: Dropdown_(["a"], label=2),
        TypeError,
        "Dropdown(label=...) must be a string, got int 2",
    ),
)


@pytest.mark.parametrize(("make", "error", "message"), BUTTON_ARGUMENTS)
def test_button_refuses_bad_arguments_by_name(
    make: Callable[[], object], error: type[Exception], message: str, transport: Any
) -> None:
    assert_refused(make, error, message)
    assert transport.registered == []  # refused before any channel was opened


@pytest.mark.parametrize(("make", "error", "message"), SLIDER_ARGUMENTS)
def test_slider_refuses_bad_arguments_by_name(
    make: Callable[[], object], error: type[Exception], message: str, transport: Any
) -> None:
    assert_refused(make, error, message)
    assert transport.registered == []


@pytest.mark.parametrize(("make", "error", "message"), TOGGLE_ARGUMENTS)
def test_toggle_refuses_bad_arguments_by_name(
    make: Callable[[], object], error: type[Exception], message: str, transport: Any
) -> None:
    assert_refused(make, error, message)
    assert transport.registered == []


@pytest.mark.parametrize(("make", "error", "message"), TEXT_INPUT_ARGUMENTS)
def test_text_input_refuses_bad_arguments_by_name(
    make: Callable[[], object], error: type[Exception], message: str, transport: Any
) -> None:
    assert_refused(make, error, message)
    assert transport.registered == []


@pytest.mark.parametrize(("make", "error", "message"), DROPDOWN_ARGUMENTS)
def test_dropdown_refuses_bad_arguments_by_name(
    make: Callable[[], object], error: type[Exception], message: str, transport: Any
) -> None:
    assert_refused(make, error, message)
    assert transport.registered == []


#: (a control, a call on it, the exception, the whole message); the call sends nothing.
CONTROL_CALLS = [
    pytest.param(
        Button,
        lambda b: setattr(b, "label", 3),
        TypeError,
        "Button.label must be a string, got int 3",
        id="button-label",
    ),
    pytest.param(
        Button,
        lambda b: setattr(b, "disabled", 0),
        TypeError,
        f"Button.disabled {BOOL}, got int 0",
        id="button-disabled",
    ),
    pytest.param(
        Button,
        lambda b: b.on_click("stop"),
        TypeError,
        f"Button.on_click(handler=...) {HANDLER}, got str 'stop'",
        id="on-click",
    ),
    pytest.param(
        Button,
        lambda b: b.wait_click(-1),
        ValueError,
        f"Button.wait_click(timeout=...) {TIMEOUT}, got int -1",
        id="wait-click-neg",
    ),
    pytest.param(
        Button,
        lambda b: b.wait_click(float("inf")),
        ValueError,
        f"Button.wait_click(timeout=...) {TIMEOUT}, got float inf",
        id="wait-click-inf",
    ),
    pytest.param(
        Button,
        lambda b: b.wait_click("1"),
        TypeError,
        f"Button.wait_click(timeout=...) {TIMEOUT}, got str '1'",
        id="wait-click-str",
    ),
    pytest.param(
        Slider,
        lambda s: setattr(s, "value", "5"),
        TypeError,
        "Slider.value must be a finite number, got str '5'",
        id="slider-value-str",
    ),
    pytest.param(
        Slider,
        lambda s: setattr(s, "value", float("inf")),
        ValueError,
        "Slider.value must be a finite number, got float inf",
        id="slider-value-inf",
    ),
    pytest.param(
        Slider,
        lambda s: setattr(s, "value", False),
        TypeError,
        "Slider.value must be a finite number, got bool False",
        id="slider-value-bool",
    ),
    pytest.param(
        Slider,
        lambda s: setattr(s, "disabled", "yes"),
        TypeError,
        f"Slider.disabled {BOOL}, got str 'yes'",
        id="slider-disabled",
    ),
    pytest.param(
        Slider,
        lambda s: s.on_change(None),
        TypeError,
        f"Slider.on_change(handler=...) {HANDLER}, got None",
        id="on-change",
    ),
    pytest.param(
        Slider,
        lambda s: s.wait_change(float("nan")),
        ValueError,
        f"Slider.wait_change(timeout=...) {TIMEOUT}, got float nan",
        id="wait-change-nan",
    ),
    pytest.param(
        Toggle,
        lambda t: setattr(t, "value", 1),
        TypeError,
        f"Toggle.value {BOOL}, got int 1",
        id="toggle-value",
    ),
    pytest.param(
        TextInput,
        lambda t: setattr(t, "value", 1),
        TypeError,
        "TextInput.value must be a string, got int 1",
        id="text-value",
    ),
    pytest.param(
        lambda: Dropdown_(["a", "b"]),
        lambda d: setattr(d, "value", None),
        ValueError,
        "Dropdown.value must be one of the options ['a', 'b'], got None",
        id="dropdown-value",
    ),
]


@pytest.mark.parametrize(("make", "call", "error", "message"), CONTROL_CALLS)
def test_controls_refuse_bad_calls_by_name_and_send_nothing(
    make: Callable[[], LiveWidget],
    call: Callable[[Any], object],
    error: type[Exception],
    message: str,
    watch: Watch,
) -> None:
    control = make()
    page = watch(control)
    sent = len(page.messages)
    assert_refused(lambda: call(control), error, message)
    assert len(page.messages) == sent


def test_a_long_list_of_options_is_cut_short_in_the_error() -> None:
    options = [f"option {i}" for i in range(100)]
    d = Dropdown(options)
    shown = repr(options)[:197] + "..."  # 200 characters of the list
    assert_refused(
        lambda: setattr(d, "value", "nope"),
        ValueError,
        f"Dropdown.value must be one of the options {shown}, got str 'nope'",
    )
