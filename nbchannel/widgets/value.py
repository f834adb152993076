"""LiveValue: a number, or a progress bar with rate and ETA."""

from __future__ import annotations

from typing import Any

from ..kernel.channel import LiveChannel
from . import _checks, snapshot
from .base import LiveWidget

__all__ = ["LiveValue"]


class LiveValue(LiveWidget):
    """A live number, or a progress bar when ``total`` is given.

    ::

        progress = LiveValue(label="samples", total=len(data))
        display(progress)
        for i, x in enumerate(data):
            ...
            progress.value = i + 1        # the page shows the rate and the ETA

    ``value`` is a number (NaN shows as no number); ``total`` a finite number >= 0 or None;
    ``label`` and ``unit`` are strings. Updates are coalesced: setting the value a million
    times a second costs the page one redraw per screen frame. The output's static
    snapshot reads ``label: value unit (value / total, percent)``.
    """

    KIND = "value"

    def __init__(
        self,
        value: float = 0,
        *,
        total: float | None = None,
        label: str = "",
        unit: str = "",
        channel: LiveChannel | str | None = None,
    ) -> None:
        value = self._check_value(value, "(value=...)")
        total = self._check_total(total, "(total=...)")
        label = _checks.string(label, self, "(label=...)")
        unit = _checks.string(unit, self, "(unit=...)")
        super().__init__(channel=channel, config={"label": label, "unit": unit})
        self._value = value
        self._total = total
        self._label = label
        self._unit = unit
        self._publish()

    def _check_value(self, v: object, where: str) -> float:
        if not _checks.is_number(v):
            raise _checks.type_error(self, where, "a number", v)
        return v  # type: ignore[return-value]  # numpy scalars are sent as numbers

    def _check_total(self, t: object, where: str) -> float | None:
        return _checks.number(t, self, where, minimum=0, optional=True)

    @property
    def value(self) -> float:
        """The value shown."""
        return self._value

    @value.setter
    def value(self, v: float) -> None:
        self._value = self._check_value(v, ".value")
        self._publish()

    @property
    def total(self) -> float | None:
        """The value at which the progress bar is full (None: no bar)."""
        return self._total

    @total.setter
    def total(self, t: float | None) -> None:
        self._total = self._check_total(t, ".total")
        self._publish()

    def update(self, value: float, *, total: float | None = None, label: str | None = None) -> None:
        """Set the value (and optionally the total and the label) in one update."""
        value = self._check_value(value, ".update(value=...)")
        total = self._check_total(total, ".update(total=...)")
        label = _checks.string(label, self, ".update(label=...)", optional=True)
        self._value = value
        if total is not None:
            self._total = total
        if label is not None:
            self._label = label
        self._publish()

    def _snapshot(self) -> dict[str, Any]:
        value = snapshot.number(self._value) + (f" {self._unit}" if self._unit else "")
        detail = ""
        if self._total is not None:
            part = f"{snapshot.number(self._value)} / {snapshot.number(self._total)}"
            share = float(self._value) / self._total if self._total else float("nan")
            detail = f"{part}, {share:.0%}" if share == share else part
        return snapshot.control_bundle(self._label, value, detail)

    def _publish(self) -> None:
        state: dict[str, object] = {"value": self._value, "label": self._label, "unit": self._unit}
        if self._total is not None:
            state["total"] = self._total
        self.channel.set("value", state)
