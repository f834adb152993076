"""``LivePlot``: config state, appended points, validation of series and lengths."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from nbchannel.core import protocol as P
from nbchannel.widgets import LivePlot, LiveWidget

from ..kernel.test_channel import FakeTransport
from .page import Page
from .refusals import Opaque, assert_refused

Watch = Callable[[LiveWidget], Page]


def test_defaults_go_to_config_state_and_synced_config(watch: Watch) -> None:
    plot = LivePlot()
    expected = {"series": ["y"], "window": 10_000, "height": 300}
    assert plot.series == ["y"]
    assert plot._config == expected
    assert watch(plot).state == {"config": expected}


def test_every_option_goes_to_config(watch: Watch) -> None:
    plot = LivePlot(
        ["loss", "acc"],
        window=None,
        xrange=60.0,
        title="Training",
        xlabel="step",
        ylabel="value",
        height=400,
    )
    expected = {
        "series": ["loss", "acc"],
        "xrange": 60.0,
        "title": "Training",
        "xlabel": "step",
        "ylabel": "value",
        "height": 400,
    }
    assert plot._config == expected
    assert watch(plot).state["config"] == expected


def test_series_names_may_come_from_any_iterable_of_strings() -> None:
    sources: list[Any] = [
        ("a", "b"),
        np.array(["a", "b"]),
        iter(["a", "b"]),
        {"a": 0, "b": 1}.keys(),
    ]
    for series in sources:
        plot = LivePlot(series)
        assert plot.series == ["a", "b"]
        assert [type(s) for s in plot._config["series"]] == [str, str]  # JSON-ready


W = "LivePlot"
NAMES = "must be a list of series names (str)"

#: Constructor arguments LivePlot refuses, the exception and the whole message.
BAD_ARGUMENTS = [
    pytest.param({"series": 5}, TypeError, f"{W}(series=...) {NAMES}, got int 5", id="series-int"),
    pytest.param(
        {"series": "loss"}, TypeError, f"{W}(series=...) {NAMES}, got str 'loss'", id="series-str"
    ),
    pytest.param(
        {"series": None}, TypeError, f"{W}(series=...) {NAMES}, got None", id="series-none"
    ),
    pytest.param(
        {"series": {"a": 1}},
        TypeError,
        f"{W}(series=...) {NAMES}, got dict {{'a': 1}}",
        id="series-dict",
    ),
    pytest.param(
        {"series": [1, "b"]},
        TypeError,
        f"{W}(series=...) {NAMES}, got int 1 at index 0",
        id="series-item-int",
    ),
    pytest.param(
        {"series": []},
        ValueError,
        f"{W}(series=...) must be a non-empty list of series names, got list []",
        id="series-empty",
    ),
    pytest.param(
        {"series": ["a", ""]},
        ValueError,
        f"{W}(series=...) must be a list of non-empty series names, got str '' at index 1",
        id="series-empty-name",
    ),
    pytest.param(
        {"series": ["a", "b", "a"]},
        ValueError,
        f"{W}(series=...) must be a list of distinct series names, got 'a' twice",
        id="series-duplicate",
    ),
    pytest.param(
        {"window": True},
        TypeError,
        f"{W}(window=...) must be an integer >= 2 (or None), got bool True",
        id="window-bool",
    ),
    pytest.param(
        {"window": 2.5},
        TypeError,
        f"{W}(window=...) must be an integer >= 2 (or None), got float 2.5",
        id="window-float",
    ),
    pytest.param(
        {"window": "100"},
        TypeError,
        f"{W}(window=...) must be an integer >= 2 (or None), got str '100'",
        id="window-str",
    ),
    *[
        pytest.param(
            {"window": w},
            ValueError,
            f"{W}(window=...) must be an integer >= 2 (or None), got int {w}",
            id=f"window-{w}",
        )
        for w in (1, 0, -10)
    ],
    *[
        pytest.param(
            {"xrange": x},
            ValueError,
            f"{W}(xrange=...) must be a positive, finite number (or None), got float {x}",
            id=f"xrange-{x}",
        )
        for x in (float("nan"), float("inf"), -1.5, 0.0)
    ],
    pytest.param(
        {"xrange": False},
        TypeError,
        f"{W}(xrange=...) must be a positive, finite number (or None), got bool False",
        id="xrange-bool",
    ),
    pytest.param(
        {"xrange": "60"},
        TypeError,
        f"{W}(xrange=...) must be a positive, finite number (or None), got str '60'",
        id="xrange-str",
    ),
    *[
        pytest.param(
            {name: 3},
            TypeError,
            f"{W}({name}=...) must be a string (or None), got int 3",
            id=f"{name}-int",
        )
        for name in ("title", "xlabel", "ylabel")
    ],
    pytest.param(
        {"height": 0}, ValueError, f"{W}(height=...) must be an integer >= 1, got int 0", id="h-0"
    ),
    pytest.param(
        {"height": True},
        TypeError,
        f"{W}(height=...) must be an integer >= 1, got bool True",
        id="height-bool",
    ),
    pytest.param(
        {"height": 300.0},
        TypeError,
        f"{W}(height=...) must be an integer >= 1, got float 300.0",
        id="height-float",
    ),
    pytest.param(
        {"channel": 3},
        TypeError,
        f"{W}(channel=...) must be a LiveChannel, a channel name (str) or None, got int 3",
        id="channel-int",
    ),
    pytest.param(
        {"channel": ""},
        ValueError,
        f"{W}(channel=...) must be a non-empty channel name (or None), got str ''",
        id="channel-empty",
    ),
]


@pytest.mark.parametrize(("kwargs", "error", "message"), BAD_ARGUMENTS)
def test_bad_arguments_are_refused_by_name(
    kwargs: dict[str, Any], error: type[Exception], message: str, transport: FakeTransport
) -> None:
    assert_refused(lambda: LivePlot(**kwargs), error, message)
    assert transport.registered == []  # refused before any channel was opened


def test_numpy_integers_and_none_are_accepted_where_they_fit() -> None:
    plot = LivePlot(window=np.int64(50), height=np.int32(200), xrange=np.float32(2.5))
    assert plot._config == {
        "series": ["y"],
        "window": 50,
        "xrange": 2.5,
        "height": 200,
    }
    assert [type(plot._config[k]) for k in ("window", "xrange", "height")] == [int, float, int]
    assert LivePlot(window=None, title=None)._config == {"series": ["y"], "height": 300}


def test_smallest_window_is_accepted() -> None:
    assert LivePlot(window=2)._config["window"] == 2


def test_history_bound_of_the_channel() -> None:
    assert LivePlot().channel._open_message().value() == {"history_items": LivePlot.HISTORY}


def test_append_sends_one_point_per_named_series(watch: Watch) -> None:
    plot = LivePlot(["loss", "acc"])
    plot.append(0, loss=1.5, acc=0.25)
    plot.append(1, loss=1.25)  # a series may skip a point
    msgs = [m for m in watch(plot).messages if m.kind == P.APPEND]
    assert [m.key for m in msgs] == [None, None]
    assert watch(plot).stream == [
        {"x": 0, "y": {"loss": 1.5, "acc": 0.25}},
        {"x": 1, "y": {"loss": 1.25}},
    ]


def test_append_accepts_numpy_scalars(watch: Watch) -> None:
    plot = LivePlot(["loss"])
    plot.append(np.int64(3), loss=np.float32(0.5))
    assert watch(plot).stream == [{"x": 3, "y": {"loss": 0.5}}]


def test_extend_sends_float64_arrays(watch: Watch) -> None:
    plot = LivePlot(["loss", "acc"])
    plot.extend([0, 1, 2], loss=np.array([3, 2, 1], dtype=np.int32), acc=[0.1, 0.2, 0.3])
    [item] = watch(plot).stream
    assert set(item) == {"x", "y"}
    assert set(item["y"]) == {"loss", "acc"}
    for arr, expected in [
        (item["x"], [0.0, 1.0, 2.0]),
        (item["y"]["loss"], [3.0, 2.0, 1.0]),
        (item["y"]["acc"], [0.1, 0.2, 0.3]),
    ]:
        assert isinstance(arr, np.ndarray)
        assert arr.dtype == np.float64
        np.testing.assert_array_equal(arr, expected)


def test_extend_takes_a_copy_of_the_callers_arrays(watch: Watch) -> None:
    plot = LivePlot(["y"])
    xs = np.arange(4.0)
    ys = np.linspace(0.0, 1.0, 4)
    plot.extend(xs, y=ys)
    xs[:] = -1  # reusing the buffers right away is allowed
    ys[:] = -1
    [item] = watch(plot).stream
    np.testing.assert_array_equal(item["x"], np.arange(4.0))
    np.testing.assert_array_equal(item["y"]["y"], np.linspace(0.0, 1.0, 4))


def test_extend_flattens_and_skips_empty_batches(watch: Watch) -> None:
    plot = LivePlot(["y"])
    plot.extend([], y=[])
    plot.extend(np.empty((0,)))
    assert watch(plot).stream == []
    plot.extend(np.array([[1.0], [2.0]]), y=np.array([[5.0, 6.0]]))
    [item] = watch(plot).stream
    assert item["x"].shape == item["y"]["y"].shape == (2,)


def test_appends_arrive_in_order(watch: Watch) -> None:
    plot = LivePlot(["y"])
    for i in range(100):
        plot.append(i, y=i * i)
    assert [p["x"] for p in watch(plot).stream] == list(range(100))
    assert plot.channel.stats["sent"] == 101  # config, then 100 points


@pytest.mark.parametrize("method", ["append", "extend"])
def test_unknown_series_is_refused_by_name(method: str, watch: Watch) -> None:
    plot = LivePlot(["loss", "acc"])
    assert_refused(
        lambda: getattr(plot, method)([1.0], loss=[0.5], lr=[0.1]),
        ValueError,
        f"LivePlot.{method}(...): unknown series ['lr']; this plot has ['loss', 'acc']. "
        "Name every series when creating the LivePlot.",
    )
    assert watch(plot).stream == []


def test_unknown_series_are_all_named() -> None:
    plot = LivePlot(["y"])
    with pytest.raises(ValueError, match=r"unknown series \['a', 'b'\]"):
        plot.append(0, b=1, a=2)


def test_mismatched_lengths_are_refused(watch: Watch) -> None:
    plot = LivePlot(["loss", "acc"])
    assert_refused(
        lambda: plot.extend([0, 1, 2], loss=[1, 2, 3], acc=[1, 2]),
        ValueError,
        "LivePlot.extend(acc=...): series 'acc' has 2 points but xs has 3",
    )
    assert watch(plot).stream == []


def test_clear_restarts_the_channel_and_keeps_the_settings(watch: Watch) -> None:
    plot = LivePlot(["y"], window=50, title="run")
    page = watch(plot)
    plot.append(0, y=1.0)
    plot.clear()
    kinds = [(m.kind, m.key) for m in page.messages]
    reset_at = kinds.index((P.OPEN, None))
    assert page.messages[reset_at].value() == {"reset": True}
    # the settings are set again after the reset, so the cleared plot keeps its look
    assert (P.SET, "config") in kinds[reset_at:]
    assert plot.channel.get("config") == {
        "series": ["y"],
        "window": 50,
        "title": "run",
        "height": 300,
    }


NUMBER = "must be a number (NaN or None: no point)"
SEQUENCE = "must be a sequence or array of numbers"

#: Calls on a LivePlot(["y"]) that are refused, the exception and the whole message.
BAD_CALLS = [
    pytest.param(
        lambda p: p.append("1", y=2.0),
        TypeError,
        f"{W}.append(x=...) must be a finite number, got str '1'",
        id="append-x-str",
    ),
    pytest.param(
        lambda p: p.append(True, y=2.0),
        TypeError,
        f"{W}.append(x=...) must be a finite number, got bool True",
        id="append-x-bool",
    ),
    pytest.param(
        lambda p: p.append(None, y=2.0),
        TypeError,
        f"{W}.append(x=...) must be a finite number, got None",
        id="append-x-none",
    ),
    *[
        pytest.param(
            lambda p, x=x: p.append(x, y=2.0),
            ValueError,
            f"{W}.append(x=...) must be a finite number, got float {x}",
            id=f"append-x-{x}",
        )
        for x in (float("nan"), float("inf"), float("-inf"))
    ],
    pytest.param(
        lambda p: p.append(np.float32("nan"), y=2.0),
        ValueError,
        f"{W}.append(x=...) must be a finite number, got float32 nan",
        id="append-x-numpy-nan",
    ),
    pytest.param(
        lambda p: p.append(1, y="2"),
        TypeError,
        f"{W}.append(y=...) {NUMBER}, got str '2'",
        id="append-y-str",
    ),
    pytest.param(
        lambda p: p.append(1, y=False),
        TypeError,
        f"{W}.append(y=...) {NUMBER}, got bool False",
        id="append-y-bool",
    ),
    pytest.param(
        lambda p: p.append(1, y=[1.0]),
        TypeError,
        f"{W}.append(y=...) {NUMBER}, got list [1.0]",
        id="append-y-list",
    ),
    pytest.param(
        lambda p: p.extend("abc", y=[1, 2, 3]),
        TypeError,
        f"{W}.extend(xs=...) {SEQUENCE}, got str 'abc'",
        id="extend-xs-str",
    ),
    pytest.param(
        lambda p: p.extend(5, y=5),
        TypeError,
        f"{W}.extend(xs=...) {SEQUENCE}, got int 5",
        id="extend-xs-scalar",
    ),
    pytest.param(
        lambda p: p.extend([[1], [2, 3]], y=[1, 2]),
        TypeError,
        f"{W}.extend(xs=...) {SEQUENCE}, got list [[1], [2, 3]]",
        id="extend-xs-ragged",
    ),
    pytest.param(
        lambda p: p.extend([True, False], y=[1, 2]),
        TypeError,
        f"{W}.extend(xs=...) {SEQUENCE}, got list [True, False]",
        id="extend-xs-bools",
    ),
    pytest.param(
        lambda p: p.extend([0, 1, float("nan")], y=[1, 2, 3]),
        ValueError,
        f"{W}.extend(xs=...) must hold finite numbers, got nan at index 2",
        id="extend-xs-nan",
    ),
    pytest.param(
        lambda p: p.extend(np.array([0, np.inf]), y=[1, 2]),
        ValueError,
        f"{W}.extend(xs=...) must hold finite numbers, got inf at index 1",
        id="extend-xs-inf",
    ),
    pytest.param(
        lambda p: p.extend([0, 1], y=["a", "b"]),
        TypeError,
        f"{W}.extend(y=...) {SEQUENCE}, got list ['a', 'b']",
        id="extend-y-str",
    ),
    pytest.param(
        lambda p: p.extend([0, 1], y=np.array([1j, 2j])),
        TypeError,
        f"{W}.extend(y=...) {SEQUENCE}, got ndarray of shape (2,) and dtype complex128",
        id="extend-y-complex",
    ),
    pytest.param(
        lambda p: p.extend([0, 1], y=[Opaque(), 1]),
        TypeError,
        f"{W}.extend(y=...) {SEQUENCE}, got list [Opaque(), 1]",
        id="extend-y-object",
    ),
]


@pytest.mark.parametrize(("call", "error", "message"), BAD_CALLS)
def test_bad_calls_are_refused_by_name_and_send_nothing(
    call: Callable[[LivePlot], Any], error: type[Exception], message: str, watch: Watch
) -> None:
    plot = LivePlot(["y"])
    page = watch(plot)
    sent = len(page.messages)
    assert_refused(lambda: call(plot), error, message)
    assert len(page.messages) == sent


def test_missing_points_are_nan_or_none(watch: Watch) -> None:
    plot = LivePlot(["a", "b"])
    plot.append(0, a=float("nan"), b=None)
    plot.append(np.float32(1.5), a=np.int16(2))
    plot.extend([2, 3], a=[None, 4.0], b=np.array([np.nan, 5.0]))
    first, second, third = watch(plot).stream
    assert first == {"x": 0, "y": {"a": None, "b": None}}  # JSON has no NaN: null
    assert second == {"x": 1.5, "y": {"a": 2}}
    np.testing.assert_array_equal(third["y"]["a"], [np.nan, 4.0])
    np.testing.assert_array_equal(third["y"]["b"], [np.nan, 5.0])
