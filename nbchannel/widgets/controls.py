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
A control's static snapshot (saved notebooks, nbconvert) is one line: its label and its
current value (a button: its label).
"""

from __future__ import annotations

import html
import logging
import math
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar

import numpy as np

from ..kernel.channel import Event, LiveChannel
from . import _checks, snapshot
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
        self.channel.set("disabled", _checks.boolean(flag, self, ".disabled"))


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
        label = _checks.string(label, self, "(label=...)")
        disabled = _checks.boolean(disabled, self, "(disabled=...)")
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
        self._events_seen_so_far("clicks")
        return self._clicks

    @property
    def clicked(self) -> bool:
        """True once the button has been clicked (since creation or :meth:`reset`)."""
        self._events_seen_so_far("clicked")
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
        self.channel.set("label", _checks.string(text, self, ".label"))

    def _snapshot(self) -> dict[str, Any]:
        label = str(self.channel.get("label", ""))
        return {
            "text/html": f"<button disabled>{html.escape(label)}</button>",
            "text/plain": f"[ {label} ]",
        }

    def on_click(self, handler: Callable[[Event], Any]) -> Callable[[Event], Any]:
        """Call ``handler(event)`` on every click (a decorator)."""
        self._handlers.append(_checks.handler(handler, self, ".on_click(handler=...)"))
        return handler

    def wait_click(self, timeout: float | None = None) -> Event:
        """Block (inside a running cell, too) until the next click; TimeoutError otherwise.

        Clicks the button ignores (while disabled) do not count.
        """
        timeout = _checks.timeout(timeout, self, ".wait_click(timeout=...)")
        self._events_can_arrive("wait_click()", timeout)
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
        label = _checks.string(label, self, "(label=...)")
        disabled = _checks.boolean(disabled, self, "(disabled=...)")
        first = self._coerce(value, "(value=...)")  # refused before a channel is opened
        super().__init__(channel=channel, config={"label": label, **config})
        self._value = first
        self._handlers: list[Callable[[T], Any]] = []
        self.changes = 0
        self._changed = _Signal()
        self.channel.on("change", self._on_change)
        self.channel.set("label", label)
        self.channel.set("disabled", disabled)
        self.channel.set("value", self._value)

    def _coerce(self, value: Any, where: str = ".value") -> T:
        """``value`` as this control holds it, or TypeError/ValueError naming ``where``."""
        raise NotImplementedError

    @property
    def value(self) -> T:
        """The current value — set by the user in the page, or by the kernel."""
        self._events_seen_so_far("value")
        return self._value

    @value.setter
    def value(self, v: T) -> None:
        self._value = self._coerce(v)
        self.channel.set("value", self._value)

    def _snapshot(self) -> dict[str, Any]:
        label = str(self.channel.get("label", ""))
        return snapshot.control_bundle(label, self._shown(self._value), self._detail())

    def _shown(self, value: T) -> str:
        """The value as the snapshot shows it."""
        return snapshot.number(value)

    def _detail(self) -> str:
        """What the snapshot says after the value (a range, a count of options)."""
        return ""

    def on_change(self, handler: Callable[[T], Any]) -> Callable[[T], Any]:
        """Call ``handler(value)`` whenever the user changes the value (a decorator)."""
        self._handlers.append(_checks.handler(handler, self, ".on_change(handler=...)"))
        return handler

    def wait_change(self, timeout: float | None = None) -> T:
        """Block until the user changes the value; return the new value.

        Changes the control refuses (a bad value, or while disabled) do not count.
        """
        timeout = _checks.timeout(timeout, self, ".wait_change(timeout=...)")
        self._events_can_arrive("wait_change()", timeout)
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
    """A numeric slider; ``value`` is clamped to ``[min, max]`` and snapped to ``step``.

    ``min < max`` are finite numbers and ``0 < step <= max - min``; ``value`` (default:
    ``min``) is a finite number. Values are ints when ``min``, ``max`` and ``step`` are
    whole numbers.
    """

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
        min = _checks.number(min, self, "(min=...)")
        max = _checks.number(max, self, "(max=...)")
        if max <= min:
            raise _checks.value_error(self, "(max=...)", f"greater than min ({min!r})", max)
        step = _checks.number(step, self, "(step=...)", positive=True)
        if step > max - min:
            raise _checks.value_error(
                self, "(step=...)", f"at most max - min ({max - min!r})", step
            )
        self.min, self.max, self.step = min, max, step
        super().__init__(
            min if value is None else value,
            label=label,
            disabled=disabled,
            channel=channel,
            config={"min": min, "max": max, "step": step},
        )

    def _detail(self) -> str:
        return f"{snapshot.number(self.min)} … {snapshot.number(self.max)}"

    def _coerce(self, value: Any, where: str = ".value") -> float:
        v = _checks.number(value, self, where)
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

    def _shown(self, value: bool) -> str:
        return "on" if value else "off"

    def _coerce(self, value: Any, where: str = ".value") -> bool:
        return _checks.boolean(value, self, where)


class TextInput(_ValueControl[str]):
    """A one-line text field; ``value`` follows what the user typed.

    ``value`` and ``placeholder`` are strings; ``value`` is cut to ``max_length`` (>= 1)
    characters.
    """

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
        placeholder = _checks.string(placeholder, self, "(placeholder=...)")
        max_length = _checks.integer(max_length, self, "(max_length=...)", minimum=1)
        self.max_length = max_length
        super().__init__(
            value,
            label=label,
            disabled=disabled,
            channel=channel,
            config={"placeholder": placeholder, "max_length": max_length},
        )

    def _shown(self, value: str) -> str:
        return repr(value)

    def _coerce(self, value: Any, where: str = ".value") -> str:
        return _checks.string(value, self, where)[: self.max_length]


class Dropdown(_ValueControl[Any]):
    """A choice among ``options``; ``value`` (default: the first) is one of them.

    ``options`` is a non-empty list of distinct strings, finite numbers or bools.
    """

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
        opts = self._check_options(options)
        self.options = opts
        super().__init__(
            opts[0] if value is None else value,
            label=label,
            disabled=disabled,
            channel=channel,
            config={},
        )
        self.channel.set("options", opts)

    def _check_options(self, options: object) -> list[Any]:
        where = "(options=...)"
        expected = "a list of options (str, finite number or bool)"
        if isinstance(options, (str, bytes, Mapping)) or not isinstance(options, Iterable):
            raise _checks.type_error(self, where, expected, options)
        opts = list(options)
        if not opts:
            raise _checks.value_error(self, where, "a non-empty list of options", options)
        seen: set[tuple[bool, Any]] = set()
        for i, o in enumerate(opts):
            if not isinstance(o, (str, bool)) and not _checks.is_number(o):
                raise _checks.item_error(TypeError, self, where, expected, o, i)
            if isinstance(o, (float, np.floating)) and not math.isfinite(o):
                raise _checks.item_error(ValueError, self, where, expected, o, i)
            key = (isinstance(o, bool), o)  # the same rule as _coerce: 1 == 1.0, True != 1
            if key in seen:
                raise ValueError(
                    f"{type(self).__name__}{where} must be a list of distinct options, got "
                    f"{o!r} twice"
                )
            seen.add(key)
        return opts

    def _detail(self) -> str:
        return f"one of {len(self.options)} options"

    def _coerce(self, value: Any, where: str = ".value") -> Any:
        for option in self.options:
            # (the browser sends whole floats as ints: 1 matches 1.0; bools match only bools)
            if isinstance(option, bool) is isinstance(value, bool) and option == value:
                return option
        options = _checks.short(self.options, 200)
        raise _checks.value_error(self, where, f"one of the options {options}", value)
