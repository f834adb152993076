"""``LiveWidget``: the synced traits, the channel it creates or is given, closing."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from nbchannel.core import protocol as P
from nbchannel.core.message import Message
from nbchannel.errors import ChannelError
from nbchannel.kernel.channel import LiveChannel
from nbchannel.kernel.transport import set_default_transport
from nbchannel.widgets import (
    Button,
    CustomView,
    Dropdown,
    LiveImage,
    LiveLog,
    LivePlot,
    LiveTable,
    LiveText,
    LiveValue,
    LiveWidget,
    Slider,
    TextInput,
    Toggle,
    base,
)

from ..kernel.test_channel import FakeTransport
from .page import Page
from .refusals import assert_refused

RENDER = "export default function render({ el }) { el.textContent = 'hi'; }"

#: Every widget class, built with its defaults, and the view kind the JS side renders.
WIDGETS: list[tuple[str, Callable[..., LiveWidget]]] = [
    ("plot", LivePlot),
    ("image", LiveImage),
    ("log", LiveLog),
    ("text", LiveText),
    ("table", LiveTable),
    ("value", LiveValue),
    ("button", Button),
    ("slider", Slider),
    ("toggle", Toggle),
    ("text_input", TextInput),
    ("dropdown", lambda **kw: Dropdown(["a", "b"], **kw)),
    ("custom", lambda **kw: CustomView(RENDER, **kw)),
]
KINDS = [kind for kind, _ in WIDGETS]
#: The class name each view kind's errors open with.
CLASS_NAMES = {
    "plot": "LivePlot",
    "image": "LiveImage",
    "log": "LiveLog",
    "text": "LiveText",
    "table": "LiveTable",
    "value": "LiveValue",
    "button": "Button",
    "slider": "Slider",
    "toggle": "Toggle",
    "text_input": "TextInput",
    "dropdown": "Dropdown",
    "custom": "CustomView",
}


class Probe(LiveWidget):
    KIND = "probe"
    HISTORY = 7


class NoHubTransport(FakeTransport):
    """Carries messages but, like a kernel without a hub, has no kernel id."""

    @property
    def kernel_id(self) -> str | None:
        return None


@pytest.mark.parametrize(("kind", "make"), WIDGETS, ids=KINDS)
def test_every_widget_syncs_its_kind_channel_and_scope(
    kind: str, make: Callable[..., LiveWidget], transport: FakeTransport
) -> None:
    w = make()
    assert w._kind == kind
    assert w._channel == w.channel.name
    assert w.channel.name.startswith(f"{kind}-")
    assert w._scope == "k-fake"  # the transport's kernel id: what browsers address
    assert w.channel.scope == "kernel"
    assert transport.registered == [w.channel]
    assert isinstance(w._config, dict)
    assert None not in w._config.values()
    assert w._esm  # the bundle (or the error module) is always there to render


@pytest.mark.parametrize(("kind", "make"), WIDGETS, ids=KINDS)
def test_every_widget_writes_on_a_channel_it_is_given(
    kind: str, make: Callable[..., LiveWidget], transport: FakeTransport
) -> None:
    ch = LiveChannel(f"my-{kind}")
    w = make(channel=ch)
    assert w.channel is ch
    assert w._channel == f"my-{kind}"
    assert transport.registered == [ch]
    assert {m.channel for m in transport.sent} <= {f"my-{kind}"}


def test_each_widget_gets_a_fresh_private_channel() -> None:
    a, b = Probe(), Probe()
    assert a.channel is not b.channel
    assert a._channel != b._channel
    assert a._channel.startswith("probe-")
    assert len(a._channel) == len("probe-") + 12


def test_a_channel_name_creates_a_channel_of_that_name() -> None:
    w = Probe(channel="status")
    assert (w.channel.name, w._channel, w._scope) == ("status", "status", "k-fake")
    assert w.channel.address == ("k-fake", "status")


def test_server_scope_is_synced_and_written_on_messages(
    watch: Callable[[LiveWidget], Page],
) -> None:
    w = Probe(channel="shared", scope="server")
    w.channel.set("k", 1)
    assert w.channel.scope == "server"
    assert w._scope == P.SERVER_SCOPE
    assert [m.scope for m in watch(w).messages] == [P.SERVER_SCOPE]


def test_scope_is_empty_where_no_hub_is_reachable() -> None:
    previous = set_default_transport(NoHubTransport())
    try:
        w = Probe()
    finally:
        set_default_transport(previous)
    assert w._scope == ""
    assert w._channel == w.channel.name


def test_config_drops_none_values() -> None:
    w = Probe(config={"a": 1, "b": None, "c": [None], "d": ""})
    assert w._config == {"a": 1, "c": [None], "d": ""}
    assert Probe()._config == {}


def test_history_bound_applies_to_a_channel_the_widget_creates() -> None:
    w = Probe()
    assert w.channel._open_message().value() == {"history_items": 7}
    given = LiveChannel("given", history=3)
    assert Probe(channel=given).channel._open_message().value() == {"history_items": 3}


def test_viewers_follow_presence_reports() -> None:
    w = Probe()
    assert w.viewers == 0
    w.channel._receive(Message.create(P.PRESENCE, w.channel.name, {"viewers": 2}))
    assert w.viewers == 2


def test_close_closes_a_channel_the_widget_created(transport: FakeTransport) -> None:
    w = Probe()
    ch = w.channel
    w.close()
    assert transport.unregistered == [ch]
    assert ch.status == "closed"
    assert w.comm is None
    with pytest.raises(ChannelError, match="is closed"):
        ch.set("k", 1)
    w.close()  # closing twice is harmless
    assert transport.unregistered == [ch]


def test_close_leaves_a_channel_passed_in_open(transport: FakeTransport) -> None:
    ch = LiveChannel("mine")
    w = Probe(channel=ch)
    w.close()
    assert transport.unregistered == []
    assert ch.status == "connected"
    ch.set("still", "writable")
    assert transport.sent[-1].value() == "writable"


def test_close_of_a_named_channel_the_widget_created_closes_it(transport: FakeTransport) -> None:
    w = Probe(channel="by-name")
    w.close()
    assert [ch.name for ch in transport.unregistered] == ["by-name"]


@pytest.fixture
def package_static(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """``nbchannel/static`` replaced by an empty directory (the bundle's caches cleared)."""
    from nbchannel import bundle

    (tmp_path / "static").mkdir()
    monkeypatch.setattr(bundle, "_static", lambda name: tmp_path / "static" / name)
    for cached in (bundle.bundle_bytes, bundle.bundle_hash, bundle.loader_source):
        cached.cache_clear()
    yield tmp_path / "static"
    for cached in (bundle.bundle_bytes, bundle.bundle_hash, bundle.loader_source):
        cached.cache_clear()


def test_missing_bundle_warns_and_shows_an_error_module(package_static: Path) -> None:
    with pytest.warns(UserWarning, match=r"static/(loader|widgets)\.js is missing"):
        esm = base._loader()
    assert esm == base._MISSING
    assert "export default" in esm


def test_the_loader_is_read_from_the_package_with_the_bundle_hash(package_static: Path) -> None:
    (package_static / "widgets.js").write_text("export default {};", encoding="utf-8")
    (package_static / "loader.js").write_text('const H = "__NBCHANNEL_BUNDLE_HASH__";')
    digest = hashlib.sha256(b"export default {};").hexdigest()[:16]
    assert base._loader() == f'const H = "{digest}";'


CHANNEL = "must be a LiveChannel, a channel name (str) or None"


@pytest.mark.parametrize(
    ("channel", "error", "message"),
    [
        (3, TypeError, f"(channel=...) {CHANNEL}, got int 3"),
        (b"status", TypeError, f"(channel=...) {CHANNEL}, got bytes b'status'"),
        (True, TypeError, f"(channel=...) {CHANNEL}, got bool True"),
        ("", ValueError, "(channel=...) must be a non-empty channel name (or None), got str ''"),
    ],
    ids=["int", "bytes", "bool", "empty"],
)
@pytest.mark.parametrize(("kind", "make"), WIDGETS, ids=KINDS)
def test_every_widget_refuses_a_bad_channel_by_name(
    kind: str,
    make: Callable[..., LiveWidget],
    channel: Any,
    error: type[Exception],
    message: str,
    transport: FakeTransport,
) -> None:
    assert_refused(lambda: make(channel=channel), error, CLASS_NAMES[kind] + message)
    assert transport.registered == []  # refused before any channel was opened


@pytest.mark.parametrize(("kind", "make"), WIDGETS, ids=KINDS)
def test_every_widget_refuses_a_closed_channel(
    kind: str, make: Callable[..., LiveWidget], transport: FakeTransport
) -> None:
    gone = LiveChannel("gone")
    gone.close()
    with pytest.raises(ValueError) as info:
        make(channel=gone)
    prefix = (
        f"{CLASS_NAMES[kind]}(channel=...) must be an open LiveChannel, got <LiveChannel 'gone'"
    )
    assert str(info.value).startswith(prefix)
    assert transport.registered == [gone]  # no other channel was opened


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"scope": "global"},
            ValueError,
            "Probe(scope=...) must be 'kernel' or 'server', got str 'global'",
        ),
        ({"scope": None}, TypeError, "Probe(scope=...) must be 'kernel' or 'server', got None"),
        (
            {"config": [("a", 1)]},
            TypeError,
            "Probe(config=...) must be a dict with str keys (or None), got list [('a', 1)]",
        ),
        (
            {"config": {1: "a"}},
            TypeError,
            "Probe(config=...) must be a dict with str keys (or None), got dict {1: 'a'}",
        ),
    ],
    ids=["scope-unknown", "scope-none", "config-list", "config-int-key"],
)
def test_base_arguments_are_refused_by_name_with_the_subclass_name(
    kwargs: dict[str, Any], error: type[Exception], message: str, transport: FakeTransport
) -> None:
    assert_refused(lambda: Probe(**kwargs), error, message)
    assert transport.registered == []


# -- the output: widget-view plus nbchannel's own view ------------------------------------


def _formatted(widget: LiveWidget, **kwargs: Any) -> dict[str, Any]:
    """The output ``display(widget)`` makes: IPython's formatter over the widget."""
    from IPython.core.formatters import DisplayFormatter

    data, _metadata = DisplayFormatter().format(widget, **kwargs)
    return dict(data)


@pytest.mark.parametrize(("kind", "make"), WIDGETS, ids=KINDS)
def test_every_widget_displays_its_view_address_beside_the_widget_view(
    kind: str, make: Callable[..., LiveWidget]
) -> None:
    w = make()
    data = _formatted(w)
    assert data[base._WIDGET_VIEW]["model_id"] == w.model_id
    view = data[base.VIEW_MIMETYPE]
    assert view == {
        "version": 1,
        "kind": kind,
        "channel": w.channel.name,
        "scope": "k-fake",
        "kernel_id": "k-fake",
        "config": w._config,
    }
    # only the address and the settings: small, and plain JSON as saved in the notebook
    assert json.loads(json.dumps(view)) == view
    size = len(json.dumps(view))
    assert size < (1024 if kind != "custom" else 1024 + len(RENDER)), size


def test_the_view_carries_the_settings_a_view_needs(
    watch: Callable[[LiveWidget], Page],
) -> None:
    plot = LivePlot(["loss", "acc"], window=500, title="Training", ylabel="value", height=200)
    config = plot._view_data()["config"]  # type: ignore[index]
    assert config == {
        "series": ["loss", "acc"],
        "window": 500,
        "title": "Training",
        "ylabel": "value",
        "height": 200,
    }
    # what may change later (a table's columns) is the channel's retained state instead
    table = LiveTable(columns=["name", "score"], max_rows=50)
    assert _formatted(table)[base.VIEW_MIMETYPE]["config"] == {"max_rows": 50}
    assert watch(table).state["columns"] == ["name", "score"]


def test_what_a_control_shows_is_on_the_channel_not_in_the_output(
    watch: Callable[[LiveWidget], Page],
) -> None:
    button = Button("Stop", disabled=True)
    view = button._view_data()
    assert view is not None and view["kind"] == "button"
    button.label = "Halt"
    # the output (made once, at display) stays valid: the label a page shows is the state
    assert button._view_data() == view
    assert watch(button).state == {"label": "Halt", "disabled": True}


def test_a_server_scoped_view_names_the_kernel_that_displayed_it() -> None:
    view = _formatted(Probe(channel="shared", scope="server"))[base.VIEW_MIMETYPE]
    assert (view["scope"], view["channel"], view["kernel_id"]) == ("server", "shared", "k-fake")


def test_no_view_mimetype_where_no_hub_is_reachable() -> None:
    previous = set_default_transport(NoHubTransport())
    try:
        w, shared = Probe(), Probe(channel="s", scope="server")
    finally:
        set_default_transport(previous)
    for widget in (w, shared):
        data = _formatted(widget)
        assert base._WIDGET_VIEW in data  # front ends draw the widget-view (the comm path)
        assert base.VIEW_MIMETYPE not in data
        assert widget._view_data() is None


def test_include_and_exclude_apply_to_the_view_mimetype() -> None:
    w = Probe()
    assert base.VIEW_MIMETYPE not in _formatted(w, exclude={base.VIEW_MIMETYPE})
    only = _formatted(w, include={base.VIEW_MIMETYPE, "text/plain"})
    assert set(only) == {base.VIEW_MIMETYPE, "text/plain"}
