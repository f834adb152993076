"""Controls whose events reach the kernel while a cell is running.

Clicks and changes travel on the widget's channel, not on the kernel's shell queue, so a
running loop sees them at once::

    stop = Button("Stop")
    rate = Slider(0.0, 1.0, step=0.01, value=0.1, label="learning rate")
    display(stop, rate)
    for step in range(1_000_000):
        train_step(lr=rate.value)      # the slider's current value, mid-cell
        if stop.clicked:               # true the moment the user clicks
            break

Handlers registered with ``on_click``/``on_change`` run on nbchannel's I/O thread.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from ..kernel.channel import Event, LiveChannel
from .base import LiveWidget

__all__ = ["Button", "Dropdown", "Slider", "TextInput", "Toggle"]

log = logging.getLogger("nbchannel")
T = TypeVar("T")


class _Signal:
    """Counts accepted events; ``wait`` blocks until the next one (thread-safe)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._count = 0
        #: Threads blocked in wait() right now.
        self.waiting = 0

    def fire(self) -> None:
        with self._cond:
            self._count += 1
            self._cond.notify_all()

    def wait(self, timeout: float | None, event: str, owner: str) -> None:
        with self._cond:
            seen = self._count
            self.waiting += 1
            try:
                if not self._cond.wait_for(lambda: self._count != seen, timeout):
                    raise TimeoutError(f"no {event!r} event on {owner} within {timeout} s")
            finally:
                self.waiting -= 1


class _Control(LiveWidget):
    """What every control has: a ``disabled`` flag kept in the channel's state."""

    @property
    def disabled(self) -> bool:
        """Whether the control ignores the user (clicks, changes)."""
        return bool(self.channel.get("disabled", False))

    @disabled.setter
    def disabled(self, flag: bool) -> None:
        self.channel.set("disabled", bool(flag))


class Button(_Control):
    """A button: ``clicked`` turns true on the first click; ``clicks`` counts them."""

    KIND = "button"

    def __init__(
        self,
        label: str = "Button",
        *,
        disabled: bool = False,
        channel: LiveChannel | str | None = None,
    ) -> None:
        super().__init__(channel=channel, config={"label": label})
        self._clicks = 0
        self._lock = threading.Lock()
        self._handlers: list[Callable[[Event], Any]] = []
        self._clicked = _Signal()
        self._last_click: Event | None = None
        self.channel.on("click", self._on_click)
        self.label = label
        self.disabled = disabled

    @property
    def clicks(self) -> int:
        """How many times the button was clicked (since creation or :meth:`reset`)."""
        return self._clicks

    @property
    def clicked(self) -> bool:
        """True once the button has been clicked (since creation or :meth:`reset`)."""
        return self._clicks > 0

    def reset(self) -> None:
        """Forget past clicks."""
        with self._lock:
            self._clicks = 0

    @property
    def label(self) -> str:
        """The button's text."""
        return str(self.channel.get("label", ""))

    @label.setter
    def label(self, text: str) -> None:
        self.channel.set("label", str(text))

    def on_click(self, handler: Callable[[Event], Any]) -> Callable[[Event], Any]:
        """Call ``handler(event)`` on every click (a decorator)."""
        self._handlers.append(handler)
        return handler

    def wait_click(self, timeout: float | None = None) -> Event:
        """Block (inside a running cell, too) until the next click; TimeoutError otherwise.

        Clicks the button ignores (while disabled) do not count.
        """
        self._clicked.wait(timeout, "click", f"Button {self.label!r}")
        assert self._last_click is not None
        return self._last_click

    def _on_click(self, event: Event) -> None:
        if self.disabled:
            return
        with self._lock:
            self._clicks += 1
            self._last_click = event
        self._clicked.fire()
        for h in list(self._handlers):
            h(event)


class _ValueControl(_Control, Generic[T]):
    """A control with a value the user can change; the kernel reads it mid-cell."""

    def __init__(
        self,
        value: T,
        *,
        label: str,
        disabled: bool,
        channel: LiveChannel | str | None,
        config: dict[str, Any],
    ) -> None:
        super().__init__(channel=channel, config={"label": label, **config})
        self._value = self._coerce(value)
        self._handlers: list[Callable[[T], Any]] = []
        self.changes = 0
        self._changed = _Signal()
        self.channel.on("change", self._on_change)
        self.channel.set("label", label)
        self.channel.set("disabled", bool(disabled))
        self.channel.set("value", self._value)

    def _coerce(self, value: Any) -> T:
        raise NotImplementedError

    @property
    def value(self) -> T:
        """The current value — set by the user in the page, or by the kernel."""
        return self._value

    @value.setter
    def value(self, v: T) -> None:
        self._value = self._coerce(v)
        self.channel.set("value", self._value)

    def on_change(self, handler: Callable[[T], Any]) -> Callable[[T], Any]:
        """Call ``handler(value)`` whenever the user changes the value (a decorator)."""
        self._handlers.append(handler)
        return handler

    def wait_change(self, timeout: float | None = None) -> T:
        """Block until the user changes the value; return the new value.

        Changes the control refuses (a bad value, or while disabled) do not count.
        """
        self._changed.wait(timeout, "change", type(self).__name__)
        return self._value

    def _on_change(self, event: Event) -> None:
        if self.disabled:
            return
        raw = event.value.get("value") if isinstance(event.value, dict) else None
        try:
            value = self._coerce(raw)
        except (TypeError, ValueError) as exc:
            log.warning("nbchannel: %s ignored a bad value %r: %s", type(self).__name__, raw, exc)
            return
        self._value = value
        self.changes += 1
        self._changed.fire()
        self.channel.set("value", value)  # other views of this control follow
        for h in list(self._handlers):
            h(value)


class Slider(_ValueControl[float]):
    """A numeric slider; ``value`` is clamped to ``[min, max]`` and snapped to ``step``."""

    KIND = "slider"

    def __init__(
        self,
        min: float = 0.0,
        max: float = 100.0,
        *,
        step: float = 1.0,
        value: float | None = None,
        label: str = "",
        disabled: bool = False,
        channel: LiveChannel | str | None = None,
    ) -> None:
        if not (math.isfinite(min) and math.isfinite(max)) or max <= min:
            raise ValueError("a Slider needs finite min < max")
        if not step > 0:
            raise ValueError("step must be positive")
        self.min, self.max, self.step = min, max, step
        super().__init__(
            min if value is None else value,
            label=label,
            disabled=disabled,
            channel=channel,
            config={"min": min, "max": max, "step": step},
        )

    def _coerce(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError("a Slider's value is a number")
        v = float(value)
        if not math.isfinite(v):
            raise ValueError("not a finite number")
        v = min(max(v, self.min), self.max)
        snapped = self.min + round((v - self.min) / self.step) * self.step
        snapped = min(snapped, self.max)
        if all(float(x).is_integer() for x in (self.min, self.max, self.step)):
            return int(snapped)
        return round(snapped, 12)


class Toggle(_ValueControl[bool]):
    """An on/off switch."""

    KIND = "toggle"

    def __init__(
        self,
        value: bool = False,
        *,
        label: str = "",
        disabled: bool = False,
        channel: LiveChannel | str | None = None,
    ) -> None:
        super().__init__(value, label=label, disabled=disabled, channel=channel, config={})

    def _coerce(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise TypeError("a Toggle's value is true or false")
        return value


class TextInput(_ValueControl[str]):
    """A one-line text field; ``value`` follows what the user typed."""

    KIND = "text_input"

    def __init__(
        self,
        value: str = "",
        *,
        placeholder: str = "",
        label: str = "",
        disabled: bool = False,
        max_length: int = 10_000,
        channel: LiveChannel | str | None = None,
    ) -> None:
        if max_length < 1:
            raise ValueError("max_length must be positive")
        self.max_length = max_length
        super().__init__(
            value,
            label=label,
            disabled=disabled,
            channel=channel,
            config={"placeholder": placeholder, "max_length": max_length},
        )

    def _coerce(self, value: Any) -> str:
        if not isinstance(value, str):
            raise TypeError("a TextInput's value is a string")
        return value[: self.max_length]


class Dropdown(_ValueControl[Any]):
    """A choice among ``options`` (strings, numbers); ``value`` is one of them."""

    KIND = "dropdown"

    def __init__(
        self,
        options: Sequence[Any],
        *,
        value: Any = None,
        label: str = "",
        disabled: bool = False,
        channel: LiveChannel | str | None = None,
    ) -> None:
        opts = list(options)
        if not opts:
            raise ValueError("a Dropdown needs at least one option")
        self.options = opts
        super().__init__(
            opts[0] if value is None else value,
            label=label,
            disabled=disabled,
            channel=channel,
            config={},
        )
        self.channel.set("options", opts)

    def _coerce(self, value: Any) -> Any:
        for option in self.options:
            # (the browser sends whole floats as ints: 1 matches 1.0; bools match only bools)
            if isinstance(option, bool) is isinstance(value, bool) and option == value:
                return option
        raise ValueError(f"{value!r} is not one of the options")
