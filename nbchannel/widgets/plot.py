"""LivePlot: a streaming line chart that draws at display rate however fast data arrives."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..kernel.channel import LiveChannel
from .base import LiveWidget

__all__ = ["LivePlot"]


class LivePlot(LiveWidget):
    """A live line chart with several series and a rolling window.

    ::

        plot = LivePlot(series=["loss", "acc"], window=2_000, title="Training")
        display(plot)
        for step in range(10_000):
            plot.append(step, loss=..., acc=...)     # one point per series
        plot.extend(xs, loss=losses, acc=accs)       # many points at once (numpy arrays)

    ``window`` keeps the last N points; ``xrange`` keeps points whose x lies within that
    distance of the newest x. The browser coalesces updates and redraws once per screen
    frame, so appending far faster than 60 times a second costs the page nothing extra.
    A page that reloads gets the retained stream back (up to the hub's history bound).
    """

    KIND = "plot"
    HISTORY = 10_000

    def __init__(
        self,
        series: Sequence[str] = ("y",),
        *,
        window: int | None = 10_000,
        xrange: float | None = None,
        title: str | None = None,
        xlabel: str | None = None,
        ylabel: str | None = None,
        height: int = 300,
        channel: LiveChannel | str | None = None,
    ) -> None:
        names = [str(s) for s in series]
        if not names or len(set(names)) != len(names):
            raise ValueError("series must be a non-empty list of distinct names")
        if window is not None and window < 2:
            raise ValueError("window must be at least 2 points (or None)")
        if xrange is not None and not (xrange > 0 and xrange != float("inf")):
            raise ValueError("xrange must be a positive, finite distance along x (or None)")
        self.series = names
        config = {
            "series": names,
            "window": window,
            "xrange": xrange,
            "title": title,
            "xlabel": xlabel,
            "ylabel": ylabel,
            "height": height,
        }
        super().__init__(channel=channel, config=config)
        self._settings = {k: v for k, v in config.items() if v is not None}
        self.channel.set("config", self._settings)

    def clear(self) -> None:
        """Remove every point (e.g. before a new training run); the settings stay."""
        self.channel.clear()
        self.channel.set("config", self._settings)

    def append(self, x: float, **values: float) -> None:
        """Add one point per named series at ``x`` (series not given get no point)."""
        self._check(values)
        self.channel.append({"x": x, "y": values})

    def extend(self, xs: Any, **arrays: Any) -> None:
        """Add many points: ``xs`` and each series as equal-length sequences or arrays."""
        self._check(arrays)
        x = np.asarray(xs, dtype=np.float64).reshape(-1)
        ys = {}
        for name, arr in arrays.items():
            a = np.asarray(arr, dtype=np.float64).reshape(-1)
            if a.shape != x.shape:
                raise ValueError(f"series {name!r} has {a.size} points but xs has {x.size}")
            ys[name] = a
        if x.size:
            self.channel.append({"x": x, "y": ys})

    def _check(self, values: dict[str, Any]) -> None:
        unknown = set(values) - set(self.series)
        if unknown:
            raise ValueError(
                f"unknown series {sorted(unknown)}; this plot has {self.series}. "
                "Name every series when creating the LivePlot."
            )
