"""``CustomView``: the user's ES module as config, fed by a channel like any widget."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from nbchannel.core import protocol as P
from nbchannel.kernel.channel import Event, LiveChannel
from nbchannel.widgets import CustomView, LiveWidget

from .page import Page

Watch = Callable[[LiveWidget], Page]

RENDER = """
export default function render({ el, channel }) {
  channel.on("state", (key, value) => { el.textContent = `${key} = ${value}`; });
  el.onclick = () => channel.send("click", {});
}"""


def test_render_source_and_extra_config_are_synced(watch: Watch) -> None:
    view = CustomView(RENDER, color="red", size=3, hidden=None)
    assert view._kind == "custom"
    assert view._config == {"color": "red", "size": 3, "render": RENDER}
    assert watch(view).messages == []  # nothing is written until the user writes


@pytest.mark.parametrize(
    "render",
    ["", "function render({ el }) {}", "export function render() {}", "module.exports = {}"],
    ids=["empty", "no-export", "named-export", "commonjs"],
)
def test_render_must_have_a_default_export(render: str, transport: Any) -> None:
    with pytest.raises(ValueError, match="`export default function"):
        CustomView(render)
    assert transport.registered == []  # refused before any channel is opened


def test_default_export_of_an_object_is_accepted() -> None:
    CustomView("export default { render({ el }) {} };")


def test_the_user_writes_and_listens_on_the_channel(watch: Watch) -> None:
    view = CustomView(RENDER)
    view.channel.set("temperature", 21.5)
    view.channel.append({"t": 1})
    view.channel.publish("ping")
    page = watch(view)
    assert [(m.kind, m.key) for m in page.messages] == [
        (P.SET, "temperature"),
        (P.APPEND, None),
        (P.PUBLISH, None),
    ]
    assert page.state == {"temperature": 21.5}
    got: list[Any] = []
    view.channel.on("click", lambda event: got.append(event.value))
    page.send("click", {"n": 1})
    assert got == [{"n": 1}]


def test_server_scope(watch: Watch) -> None:
    view = CustomView(RENDER, channel="dashboard", scope="server")
    view.channel.set("k", 1)
    assert (view._channel, view._scope) == ("dashboard", P.SERVER_SCOPE)
    assert [m.scope for m in watch(view).messages] == [P.SERVER_SCOPE]


def test_a_given_channel_outlives_the_view(transport: Any) -> None:
    ch = LiveChannel("feed")
    events: list[Event] = []
    ch.on("*", events.append)
    view = CustomView(RENDER, channel=ch)
    view.close()
    assert ch.status == "connected"
    assert transport.unregistered == []
