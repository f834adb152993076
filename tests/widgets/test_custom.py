"""``CustomView``: the user's ES module as config, fed by a channel like any widget."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from nbchannel.core import protocol as P
from nbchannel.kernel.channel import Event, LiveChannel
from nbchannel.widgets import CustomView, LiveWidget

from .page import Page
from .refusals import Opaque, assert_refused

Watch = Callable[[LiveWidget], Page]

MODULE = "must be an ES module with `export default function ...` (str)"
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
    assert_refused(
        lambda: CustomView(render),
        ValueError,
        f"CustomView(render=...) {MODULE}, got str {render!r}",
    )
    assert transport.registered == []  # refused before any channel is opened


JSON = "must be a JSON value (str, finite number, bool, None, list, dict with str keys)"


@pytest.mark.parametrize(
    ("render", "config", "error", "message"),
    [
        (5, {}, TypeError, f"CustomView(render=...) {MODULE}, got int 5"),
        (None, {}, TypeError, f"CustomView(render=...) {MODULE}, got None"),
        (
            b"export default {}",
            {},
            TypeError,
            f"CustomView(render=...) {MODULE}, got bytes b'export default {{}}'",
        ),
        (
            RENDER,
            {"color": Opaque()},
            TypeError,
            f"CustomView(color=...) {JSON}, got Opaque Opaque()",
        ),
        (
            RENDER,
            {"data": np.zeros(3)},
            TypeError,
            f"CustomView(data=...) {JSON}, got ndarray of shape (3,) and dtype float64",
        ),
        (
            RENDER,
            {"opts": {1: "a"}},
            TypeError,
            f"CustomView(opts=...) {JSON}, got dict {{1: 'a'}}",
        ),
        (RENDER, {"size": float("nan")}, ValueError, f"CustomView(size=...) {JSON}, got float nan"),
        (
            RENDER,
            {"ys": [1.0, float("inf")]},
            ValueError,
            f"CustomView(ys=...) {JSON}, got list [1.0, inf]",
        ),
        (
            RENDER,
            {"scope": "global"},
            ValueError,
            "CustomView(scope=...) must be 'kernel' or 'server', got str 'global'",
        ),
    ],
    ids=[
        "render-int",
        "render-none",
        "render-bytes",
        "object",
        "array",
        "int-key",
        "nan",
        "inf",
        "scope",
    ],
)
def test_bad_arguments_are_refused_by_name(
    render: Any, config: dict[str, Any], error: type[Exception], message: str, transport: Any
) -> None:
    assert_refused(lambda: CustomView(render, **config), error, message)
    assert transport.registered == []


def test_numpy_numbers_in_config_are_accepted() -> None:
    view = CustomView(RENDER, size=np.int64(3), ratio=np.float32(0.5), tags=["a", 1, None])
    assert view._config["tags"] == ["a", 1, None]


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
