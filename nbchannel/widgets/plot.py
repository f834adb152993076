"""LivePlot: a streaming line chart that draws at display rate however fast data arrives."""

from __future__ import annotations

import math
import threading
from array import array
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..kernel.channel import LiveChannel
from . import _checks, snapshot
from .base import LiveWidget

__all__ = ["LivePlot"]

_PLAIN = frozenset({float, int})
_PLAIN_OR_NONE = frozenset({float, int, type(None)})
_NAN = math.nan


class LivePlot(LiveWidget):
    """A live line chart with several series and a rolling window.

    ::

        plot = LivePlot(series=["loss", "acc"], window=2_000, title="Training")
        display(plot)
        for step in range(10_000):
            plot.append(step, loss=..., acc=...)     # one point per series
        plot.extend(xs, loss=losses, acc=accs)       # many points at once (numpy arrays)

    ``series`` names the lines (distinct, non-empty strings). ``window`` keeps the last N
    points (N >= 2); ``xrange`` keeps points whose x lies within that distance of the
    newest x; ``height`` is in pixels. The browser coalesces updates and redraws once per
    screen frame, so appending far faster than 60 times a second costs the page nothing
    extra.
    A page that reloads gets the retained stream back (up to the hub's history bound).

    The output's static snapshot (saved notebooks, nbconvert, GitHub) is an SVG of the
    points in the window (the newest :data:`~.snapshot.PLOT_ROWS` without one), decimated
    to at most 2 × :data:`~.snapshot.PLOT_COLUMNS` points per series; the plot keeps those
    rows in the kernel for it (8 bytes per row and series).
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
        names = _checks.names(series, self, "(series=...)", "series names")
        window = _checks.integer(window, self, "(window=...)", minimum=2, optional=True)
        xrange = _checks.number(xrange, self, "(xrange=...)", positive=True, optional=True)
        title = _checks.string(title, self, "(title=...)", optional=True)
        xlabel = _checks.string(xlabel, self, "(xlabel=...)", optional=True)
        ylabel = _checks.string(ylabel, self, "(ylabel=...)", optional=True)
        height = _checks.integer(height, self, "(height=...)", minimum=1)
        self.series = names
        self._names = frozenset(names)
        config = {
            "series": names,
            "window": window,
            "xrange": xrange,
            "title": title,
            "xlabel": xlabel,
            "ylabel": ylabel,
            "height": height,
        }
        self._labels = (title or "", xlabel or "", ylabel or "", height)
        self._xrange = xrange
        self._keep = min(window, snapshot.PLOT_ROWS) if window else snapshot.PLOT_ROWS
        self._trim_at = 2 * self._keep
        self._rows_lock = threading.Lock()
        self._xs = array("d")
        self._ys = {name: array("d") for name in names}
        super().__init__(channel=channel, config=config)
        self._settings = {k: v for k, v in config.items() if v is not None}
        self.channel.set("config", self._settings)

    def clear(self) -> None:
        """Remove every point (e.g. before a new training run); the settings stay."""
        self.channel.clear()
        self.channel.set("config", self._settings)
        with self._rows_lock:
            del self._xs[:]
            for col in self._ys.values():
                del col[:]

    def _trim(self) -> None:
        """Drop the oldest rows kept for the snapshot once they are twice the bound (so
        trimming costs O(1) per row). Called with ``_rows_lock`` held."""
        extra = len(self._xs) - self._keep
        if extra >= self._keep:
            del self._xs[:extra]
            for col in self._ys.values():
                del col[:extra]

    def _snapshot(self) -> dict[str, Any]:
        with self._rows_lock:
            n = min(len(self._xs), self._keep)
            x = np.frombuffer(self._xs, dtype=np.float64)[-n:].copy() if n else np.empty(0)
            ys = {
                k: np.frombuffer(v, dtype=np.float64)[-n:].copy() if n else np.empty(0)
                for k, v in self._ys.items()
            }
        if self._xrange is not None and x.size:
            keep = x >= x[-1] - self._xrange
            x = x[keep]
            ys = {k: v[keep] for k, v in ys.items()}
        title, xlabel, ylabel, height = self._labels
        svg = snapshot.plot_svg(x, ys, title=title, xlabel=xlabel, ylabel=ylabel, height=height)
        title = title or "LivePlot"
        text = f"{title}: {x.size} points of {', '.join(self.series)}"
        if x.size:
            lo, hi = snapshot.number(float(x.min())), snapshot.number(float(x.max()))
            text += f", x from {lo} to {hi}"
        return {"image/svg+xml": svg, "text/plain": text}

    def append(self, x: float, **values: float | None) -> None:
        """Add one point per named series at ``x`` (series not given get no point).

        ``x`` is a finite number; each value a number, or NaN or None for a missing point.
        """
        self._check_names(values, "append")
        # (plain floats and ints, the common case, are let through first: a hot path)
        if type(x) not in _PLAIN and not _checks.is_number(x):
            raise _checks.type_error(self, ".append(x=...)", "a finite number", x)
        if type(x) is not int and not math.isfinite(x):  # (an int is finite, however big)
            raise _checks.value_error(self, ".append(x=...)", "a finite number", x)
        for name, v in values.items():
            if type(v) not in _PLAIN_OR_NONE and not _checks.is_number(v):
                raise _checks.type_error(
                    self, f".append({name}=...)", "a number (NaN or None: no point)", v
                )
        self.channel.append({"x": x, "y": values})
        # the row kept for the snapshot (a hot path: ~1 µs for two series)
        with self._rows_lock:
            xs = self._xs
            try:
                xs.append(x)
            except OverflowError:  # an int too large for a float: no row in the snapshot
                return
            get = values.get
            for name, col in self._ys.items():
                v = get(name)
                try:
                    col.append(_NAN if v is None else v)
                except OverflowError:
                    col.append(math.inf)  # (not drawn: the snapshot draws finite values)
            if len(xs) >= self._trim_at:
                self._trim()

    def extend(self, xs: Any, **arrays: Any) -> None:
        """Add many points: ``xs`` and each series as equal-length sequences or arrays.

        ``xs`` holds finite numbers; a series may hold NaN (or None in a list) for a
        missing point.
        """
        self._check_names(arrays, "extend")
        x = self._column(xs, "xs")
        finite = np.isfinite(x)
        if not finite.all():
            i = int(np.argmin(finite))
            raise ValueError(
                f"{type(self).__name__}.extend(xs=...) must hold finite numbers, got {x[i]} "
                f"at index {i}"
            )
        ys = {}
        for name, arr in arrays.items():
            a = self._column(arr, name)
            if a.shape != x.shape:
                raise ValueError(
                    f"{type(self).__name__}.extend({name}=...): series {name!r} has {a.size} "
                    f"points but xs has {x.size}"
                )
            ys[name] = a
        if x.size:
            self.channel.append({"x": x, "y": ys})
            tail = x[-self._keep :]
            with self._rows_lock:
                self._xs.frombytes(tail.tobytes())
                for name, col in self._ys.items():
                    got = ys.get(name)
                    col.frombytes(
                        np.full(tail.size, np.nan).tobytes()
                        if got is None
                        else got[-tail.size :].tobytes()
                    )
                self._trim()

    def _column(self, values: Any, name: str) -> np.ndarray[Any, np.dtype[np.float64]]:
        """``values`` (a sequence or array of numbers) as a flat float64 array."""
        where = f".extend({name}=...)"
        expected = "a sequence or array of numbers"
        try:
            arr = np.asarray(values)
            # (an object array is e.g. a list with None in it: a missing point, NaN)
            if arr.ndim and arr.dtype.kind in "iufO":
                return np.asarray(arr, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):  # ragged, or things that are not numbers inside
            pass
        raise _checks.type_error(self, where, expected, values)

    def _check_names(self, values: dict[str, Any], method: str) -> None:
        unknown = values.keys() - self._names
        if unknown:
            raise ValueError(
                f"{type(self).__name__}.{method}(...): unknown series {sorted(unknown)}; this "
                f"plot has {self.series}. Name every series when creating the LivePlot."
            )
