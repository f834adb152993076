"""``LivePlot``: config state, appended points, validation of series and lengths."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from nbchannel.core import protocol as P
from nbchannel.widgets import LivePlot, LiveWidget

from .page import Page

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


def test_series_names_are_strings() -> None:
    plot = LivePlot([1, "b"])
    assert plot.series == ["1", "b"]
    assert plot._config["series"] == ["1", "b"]


@pytest.mark.parametrize("series", [[], ["a", "a"], [1, "1"]], ids=["empty", "dup", "dup-str"])
def test_series_must_be_distinct_and_present(series: list[Any]) -> None:
    with pytest.raises(ValueError, match="non-empty list of distinct names"):
        LivePlot(series)


@pytest.mark.parametrize("window", [1, 0, -10])
def test_window_below_two_points_is_refused(window: int) -> None:
    with pytest.raises(ValueError, match="window must be at least 2 points"):
        LivePlot(window=window)


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
    with pytest.raises(ValueError, match=r"unknown series \['lr'\]") as info:
        getattr(plot, method)([1.0], loss=[0.5], lr=[0.1])
    assert "this plot has ['loss', 'acc']" in str(info.value)
    assert "Name every series when creating the LivePlot" in str(info.value)
    assert watch(plot).stream == []


def test_unknown_series_are_all_named() -> None:
    plot = LivePlot(["y"])
    with pytest.raises(ValueError, match=r"unknown series \['a', 'b'\]"):
        plot.append(0, b=1, a=2)


def test_mismatched_lengths_are_refused(watch: Watch) -> None:
    plot = LivePlot(["loss", "acc"])
    with pytest.raises(ValueError, match=r"series 'acc' has 2 points but xs has 3"):
        plot.extend([0, 1, 2], loss=[1, 2, 3], acc=[1, 2])
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
