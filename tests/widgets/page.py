"""A stand-in for a browser page watching one widget's channel over ``FakeTransport``.

The page reads what the kernel wrote (decoded from the messages the transport was given,
as the hub would relay them) and sends events back the way the hub client delivers them:
through ``LiveChannel._receive``, optionally from a thread named like nbchannel's I/O
thread, so handlers run where they would in a kernel.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from nbchannel.core import protocol as P
from nbchannel.core.message import Message
from nbchannel.kernel.transport import IO_THREAD_NAME
from nbchannel.widgets import LiveWidget

from ..kernel.test_channel import FakeTransport


class Page:
    """What a browser watching ``widget`` sees and sends."""

    def __init__(self, transport: FakeTransport, widget: LiveWidget) -> None:
        self.transport = transport
        self.widget = widget

    @property
    def messages(self) -> list[Message]:
        """Every message the kernel wrote to the widget's channel, in order."""
        name = self.widget.channel.name
        return [m for m in self.transport.sent if m.channel == name]

    @property
    def state(self) -> dict[str, Any]:
        """The channel's retained state as a page that joins now would receive it."""
        state: dict[str, Any] = {}
        for m in self.messages:
            if m.kind == P.SET:
                assert m.key is not None
                state[m.key] = m.value()
            elif m.kind == P.UNSET:
                state.pop(m.key or "", None)
        return state

    @property
    def stream(self) -> list[Any]:
        """The items appended to the channel's stream, decoded."""
        return [m.value() for m in self.messages if m.kind == P.APPEND]

    def sets(self, key: str) -> list[Any]:
        """Every value written to state ``key``, oldest first."""
        return [m.value() for m in self.messages if m.kind == P.SET and m.key == key]

    def send(self, event: str, value: Any = None) -> None:
        """Deliver an event from the page, as the hub client does, on this thread."""
        channel = self.widget.channel
        channel._receive(Message.create(P.EVENT, channel.name, value, key=event))

    def _someone_waits(self) -> bool:
        """A wait() is blocked on the channel, or on the control's own signal."""
        w = self.widget
        signal = getattr(w, "_clicked", None) or getattr(w, "_changed", None)
        return bool(w.channel._waiters) or (signal is not None and signal.waiting > 0)

    def send_later(
        self, events: Sequence[tuple[str, Any]], *, when_waiting: bool = False, delay: float = 0.0
    ) -> threading.Thread:
        """Deliver ``events`` from an I/O-like thread, after ``delay`` seconds or, with
        ``when_waiting``, as soon as a ``wait()`` on the channel has started."""

        def run() -> None:
            deadline = time.monotonic() + 5
            while when_waiting and not self._someone_waits():
                if time.monotonic() > deadline:  # pragma: no cover - the test failed anyway
                    return
                time.sleep(0.001)
            time.sleep(delay)
            for name, value in events:
                self.send(name, value)

        thread = threading.Thread(target=run, name=IO_THREAD_NAME, daemon=True)
        thread.start()
        return thread
