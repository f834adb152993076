"""The base of every nbchannel widget: an anywidget model bound to a ``LiveChannel``.

The model (synced over the kernel comm) only says *what* to show: the view kind, the
channel's address and a small config. The data travels on the channel, so it is never
limited by the IOPub rate limiter and a busy kernel still receives the widget's events.

A widget's output carries two ways to draw it: the ipywidgets widget-view (the anywidget
model, restored through the kernel) and, where a hub is reachable, nbchannel's own view
mimetype (:data:`VIEW_MIMETYPE`), whose data only addresses the view. JupyterLab and
Notebook 7 with nbchannel's labextension draw the latter straight from the hub, so a page
reloaded while a cell runs shows the view at once; other front ends draw the widget-view.
Every output also carries a static snapshot of the widget's last content (an image, HTML,
text: :mod:`.snapshot`), refreshed after each cell, for saved and exported notebooks.
"""

from __future__ import annotations

import uuid
import warnings
from typing import Any, Literal, TypedDict

import anywidget
import traitlets

from .. import bundle
from ..kernel.channel import LiveChannel
from ..kernel.transport import default_transport
from . import _checks, snapshot

__all__ = ["VIEW_MIMETYPE", "LiveWidget", "ViewData"]

#: The mimetype nbchannel's JupyterLab renderer draws (js/labextension/src/index.js).
VIEW_MIMETYPE = "application/vnd.nbchannel.view+json"
#: Version of :class:`ViewData`'s shape; the renderer refuses others with a note.
VIEW_VERSION = 1
_WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


class ViewData(TypedDict):
    """What addresses a view in an output (:data:`VIEW_MIMETYPE`); the rest is on the hub.

    ``scope`` is how browsers address the channel (the kernel's id, or ``"server"``);
    ``kernel_id`` is the kernel that displayed the output; ``config`` the view's settings
    (title, series, columns …), which never change after the widget is made. What changes
    (labels, values, rows, data) is the channel's retained state and history.
    """

    version: int
    kind: str
    channel: str
    scope: str
    kernel_id: str
    config: dict[str, Any]


_MISSING = """
export default { render({ el }) {
  el.textContent = "nbchannel: the widget bundle is missing from this installation. " +
    "Reinstall nbchannel from a wheel, or build it: " +
    "`npm --prefix js ci && npm --prefix js run build`.";
  el.style.color = "var(--jp-error-color1, #d32f2f)";
} };
"""


def _loader() -> str:
    """The widgets' ``_esm``: the small loader of the widget code (see nbchannel.bundle)."""
    try:
        return bundle.loader_source()
    except bundle.MissingBundle as exc:
        warnings.warn(f"nbchannel: {exc}; widgets will show an error.", stacklevel=3)
        return _MISSING


class LiveWidget(anywidget.AnyWidget):
    """A widget whose data travels on a :class:`~nbchannel.LiveChannel`.

    ``channel`` is the channel to show: an open :class:`LiveChannel`, a channel name, or
    None for a fresh private channel. ``scope`` (``"kernel"`` or ``"server"``) applies when
    the widget creates the channel. ``config`` is the view's settings (JSON values; None
    values are left out).

    Every widget checks its arguments at the call and refuses a bad one with a
    ``TypeError`` (wrong type) or ``ValueError`` (bad value) that names it, before any
    channel is opened.
    """

    _esm = _loader()
    _kind = traitlets.Unicode("").tag(sync=True)
    _channel = traitlets.Unicode("").tag(sync=True)
    _scope = traitlets.Unicode("").tag(sync=True)
    _config = traitlets.Dict().tag(sync=True)
    #: How views reach the channel: ``"hub"`` (the server's hub), ``"hub+comm"`` (the hub,
    #: or the widget's comm where the hub is not reachable), ``"comm"`` (only the comm: the
    #: kernel serves its views itself) or ``""`` (nowhere).
    _transport = traitlets.Unicode("").tag(sync=True)
    #: This widget's id in the page: the views of one model share one connection over its
    #: comm (anywidget hands each view its own model wrapper, so the id is what ties them).
    _uid = traitlets.Unicode("").tag(sync=True)

    #: The view this class renders (set by subclasses).
    KIND = ""
    #: History retained for the widget's channel (stream items), when it creates one.
    HISTORY: int | None = None

    def __init__(
        self,
        *,
        channel: LiveChannel | str | None = None,
        scope: Literal["kernel", "server"] = "kernel",
        config: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        channel = _checks.channel(channel, self)
        _checks.choice(scope, self, "(scope=...)", ("kernel", "server"))
        config = self._check_config(config)
        if isinstance(channel, LiveChannel):
            self.channel = channel
            self._owns_channel = False
        else:
            name = channel or f"{self.KIND}-{uuid.uuid4().hex[:12]}"
            _serve_widgets()
            self.channel = LiveChannel(name, scope=scope, history=self.HISTORY)
            self._owns_channel = True
        address, name = self.channel.address
        super().__init__(
            _kind=self.KIND,
            _channel=name,
            _scope=address or "",
            _config={k: v for k, v in config.items() if v is not None},
            _transport=_transport_kind(self.channel.transport),
            _uid=uuid.uuid4().hex,
            **kwargs,
        )
        self.on_msg(_send_code)
        attach = getattr(self.channel.transport, "attach", None)
        if attach is not None:
            attach(self)  # views that cannot reach a hub are served over this comm
        snapshot.install(LiveWidget)  # in a kernel: displayed with a display id, refreshed

    def _check_config(self, config: object) -> dict[str, Any]:
        if config is None:
            return {}
        if not isinstance(config, dict) or not all(isinstance(k, str) for k in config):
            raise _checks.type_error(self, "(config=...)", "a dict with str keys (or None)", config)
        return config

    def _view_data(self) -> ViewData | None:
        """The data of this widget's :data:`VIEW_MIMETYPE` output, or None where no hub is
        reachable (the view then exists only as the widget-view)."""
        # (the transport's kernel id is None exactly where no hub is reachable; a
        # server-scoped channel's address says "server" either way)
        kernel_id = self.channel.transport.kernel_id
        if not self._scope or kernel_id is None or self._transport == "comm":
            return None
        return {
            "version": VIEW_VERSION,
            "kind": self._kind,
            "channel": self._channel,
            "scope": self._scope,
            "kernel_id": kernel_id,
            "config": dict(self._config),
        }

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """The widget-view (anywidget's bundle) plus nbchannel's view, where a hub is, plus
        the static snapshot of the widget's content (``text/plain`` and an image or HTML).

        The output's metadata says it is an nbchannel widget's (``{"nbchannel": {"kind":
        ...}}``), which lets an export tell its widget-view apart (:mod:`.export`).
        """
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None:
            return None
        data, metadata = bundle if isinstance(bundle, tuple) else (bundle, {})
        include, exclude = kwargs.get("include"), kwargs.get("exclude")

        def wanted(mime: str) -> bool:
            return not ((include and mime not in include) or (exclude and mime in exclude))

        data = {**data, **{k: v for k, v in self._snapshot_data().items() if wanted(k)}}
        metadata = {**metadata, snapshot.SNAPSHOT_METADATA: {"kind": self._kind}}
        view = self._view_data()
        if view is None or _WIDGET_VIEW not in data or not wanted(VIEW_MIMETYPE):
            return data, metadata
        return {**data, VIEW_MIMETYPE: view}, metadata

    def _snapshot(self) -> dict[str, Any]:
        """The static snapshot of what the view shows now: mimetype → data, with at least
        ``text/plain`` (bounded: see :mod:`.snapshot`). Subclasses say more."""
        return {"text/plain": f"{type(self).__name__} {self._channel!r}"}

    def _snapshot_data(self) -> dict[str, Any]:
        try:
            return self._snapshot()
        except Exception:  # the output must still be made, with the live views in it
            snapshot.log.warning("nbchannel: could not take a snapshot", exc_info=True)
            return {"text/plain": f"{type(self).__name__} (no snapshot)"}

    def _snapshot_marker(self) -> object:
        """Changes whenever the channel is written to (a snapshot may then be out of date)."""
        stats = self.channel.stats
        return (stats["sent"], stats["dropped"])

    @property
    def viewers(self) -> int:
        """How many browser views watch this widget's channel now."""
        return self.channel.viewers

    def close(self) -> None:
        """Close the widget (and its channel, if the widget created it)."""
        if getattr(self, "_owns_channel", False):
            self.channel.close()
        detach = getattr(getattr(self, "channel", None), "transport", None)
        detach = getattr(detach, "detach", None)
        if detach is not None:
            detach(self)
        super().close()

    def _events_seen_so_far(self, what: str) -> None:
        """A cell reads ``what`` (a value events change): warn once where events arrive
        only when the cell ends (see ``LiveChannel.note_read``)."""
        self.channel.note_read(f"{type(self).__name__}.{what}")

    def _events_can_arrive(self, what: str, timeout: float | None) -> None:
        """Raise ``EventsNotLive`` at once where a running cell cannot get the event."""
        self.channel.check_events_can_arrive(f"{type(self).__name__}.{what}", timeout)


def _serve_widgets() -> None:
    """A widget is being made: where the kernel serves views itself, start doing so now,
    so the widget's own channel does not warn that nothing reaches a browser."""
    transport = default_transport()
    if getattr(transport, "activate_on_attach", False):
        transport.activate()  # type: ignore[attr-defined]


def _send_code(widget: Any, content: Any, buffers: Any) -> None:
    """A view's loader asks for the widget code (no server here has it): send it once over
    this widget's comm, as a binary buffer."""
    if not isinstance(content, dict) or content.get("nbc") != 1 or "code" not in content:
        return
    try:
        code, digest = bundle.bundle_bytes(), bundle.bundle_hash()
    except bundle.MissingBundle:
        return
    if content["code"] == digest:
        from ..kernel.comm import send_custom, unpin_replies

        # Straight onto IOPub: a plain widget.send would pin the comm's later messages
        # (the view's clicks) to the shell this request came on, behind a running cell.
        send_custom(widget, {"nbc": 1, "code": digest}, code, None)
        unpin_replies(widget)


def _transport_kind(transport: object) -> str:
    """The ``_transport`` trait for a channel's transport (see :class:`LiveWidget`)."""
    has_comm = hasattr(transport, "attach")
    if transport.stats()["status"] == "unavailable" and not has_comm:  # type: ignore[attr-defined]
        return ""
    if has_comm:
        return "hub+comm" if hasattr(transport, "hub") else "comm"
    return "hub"
