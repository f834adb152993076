"""LiveLog (appended lines) and LiveText (a text or markdown value)."""

from __future__ import annotations

from collections import deque
from typing import Any, Literal

from ..kernel.channel import LiveChannel
from . import _checks, snapshot
from .base import LiveWidget

__all__ = ["LiveLog", "LiveText"]


class LiveLog(LiveWidget):
    """A live log: lines appended from the kernel, bounded, auto-scrolling.

    ::

        log = LiveLog(max_lines=1000)
        display(log)
        log.write(f"epoch {epoch}: loss={loss:.3f}")

    The view follows new lines unless the user scrolled up to read; scrolling back to the
    bottom resumes following. Text is shown as text, never as HTML. ``max_lines`` (>= 1)
    bounds the lines kept; ``height`` (>= 1) is in pixels. The output's static snapshot
    shows the newest :data:`~.snapshot.LOG_LINES` lines (escaped HTML and plain text) and
    how many earlier ones the view holds.
    """

    KIND = "log"

    def __init__(
        self,
        *,
        max_lines: int = 5000,
        height: int = 240,
        channel: LiveChannel | str | None = None,
    ) -> None:
        max_lines = _checks.integer(max_lines, self, "(max_lines=...)", minimum=1)
        height = _checks.integer(height, self, "(height=...)", minimum=1)
        self.HISTORY = max_lines
        self._max_lines = max_lines
        self._lines: deque[str] = deque(maxlen=min(max_lines, snapshot.LOG_LINES))
        self._written = 0  # lines written since creation
        super().__init__(channel=channel, config={"max_lines": max_lines, "height": height})

    def write(self, *texts: Any) -> None:
        """Append text; each argument (any value, shown as ``str(value)`` like ``print``
        shows it) may hold several lines."""
        lines: list[str] = []
        for t in texts:
            lines.extend(str(t).splitlines() or [""])
        if lines:
            self.channel.append({"lines": lines})
            self._lines.extend(lines[-snapshot.LOG_LINES :])
            self._written += len(lines)

    log = write

    def _snapshot(self) -> dict[str, Any]:
        lines = list(self._lines)
        # the view holds the newest max_lines lines; the snapshot says how many it leaves out
        return snapshot.log_bundle(lines, min(self._written, self._max_lines) - len(lines))


class LiveText(LiveWidget):
    """A text value shown live, as plain text or as (safe) markdown.

    ::

        status = LiveText("starting…")
        display(status)
        status.value = "**epoch 3** — loss 0.12"     # with format="markdown"

    ``format`` is ``"text"`` or ``"markdown"``; any value is shown as ``str(value)``.
    The output's static snapshot is the text as written (markdown unrendered), escaped,
    up to :data:`~.snapshot.TEXT_CHARS` characters.
    """

    KIND = "text"

    def __init__(
        self,
        value: str = "",
        *,
        format: Literal["text", "markdown"] = "text",
        channel: LiveChannel | str | None = None,
    ) -> None:
        _checks.choice(format, self, "(format=...)", ("text", "markdown"))
        super().__init__(channel=channel, config={"format": format})
        self._format = format
        self.value = value

    @property
    def value(self) -> str:
        """The text shown."""
        return str(self.channel.get("text", {}).get("value", ""))

    @value.setter
    def value(self, text: str) -> None:
        self.channel.set("text", {"value": str(text), "format": self._format})

    def _snapshot(self) -> dict[str, Any]:
        return snapshot.text_bundle(self.value)
