"""CustomView: your own JavaScript render function bound to a channel."""

from __future__ import annotations

from typing import Any, Literal

from ..kernel.channel import LiveChannel
from . import _checks, snapshot
from .base import LiveWidget

__all__ = ["CustomView"]


class CustomView(LiveWidget):
    """A view drawn by a small ES module you write, fed by a channel.

    The module's default export is called with ``{el, channel}``; ``channel.state`` is a
    ``Map``, ``channel.on(kind, callback)`` listens for ``"state"`` (key, value), ``"unset"``,
    ``"append"`` (value, offset), ``"publish"``, ``"reset"``, ``"gap"`` and ``"closed"``, and
    ``channel.send(event, value)`` sends an event to the kernel. Return a cleanup function.

    ::

        view = CustomView('''
        export default function render({ el, channel }) {
          channel.on("state", (key, value) => { el.textContent = `${key} = ${value}`; });
          el.onclick = () => channel.send("click", {});
        }''')
        display(view)
        view.channel.set("temperature", 21.5)

    The output's static snapshot cannot run your code: it lists the channel's retained
    state (``key = value``, up to :data:`~.snapshot.TEXT_CHARS` characters).
    """

    KIND = "custom"

    def __init__(
        self,
        render: str,
        *,
        channel: LiveChannel | str | None = None,
        scope: Literal["kernel", "server"] = "kernel",
        **config: Any,
    ) -> None:
        expected = "an ES module with `export default function ...` (str)"
        if not isinstance(render, str):
            raise _checks.type_error(self, "(render=...)", expected, render)
        if "export default" not in render:
            raise _checks.value_error(self, "(render=...)", expected, render)
        for key, value in config.items():
            _checks.json_value(value, self, f"({key}=...)")
        super().__init__(channel=channel, scope=scope, config={**config, "render": render})

    def _snapshot(self) -> dict[str, Any]:
        state = self.channel.state
        lines = [f"{k} = {snapshot.cell(v)}" for k, v in list(state.items())[:100]]
        head = f"CustomView {self._channel!r}" + (":" if lines else " (no state)")
        return snapshot.text_bundle("\n".join([head, *lines]))
