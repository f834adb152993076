"""The jupyter-server extension: configuration, the hub, the kernel listener, the routes.

Installed packages enable it automatically (``jupyter_server_config.d/nbchannel.json``);
``jupyter server extension list`` shows it. Configure it in ``jupyter_server_config.py``::

    c.NbChannel.history_items = 50_000        # stream items kept per channel
    c.NbChannel.subscriber_queue_bytes = 16 * 2**20
    c.NbChannel.kernel_transport = "tcp"      # where Unix sockets are unavailable

Routes, under the server's ``base_url``:

* ``nbchannel/ws`` — the browser WebSocket (binary frames, many channels);
* ``nbchannel/api/channels`` — JSON: channels, connections, rates, drops;
* ``nbchannel/api/info``, ``nbchannel/session``, ``nbchannel/stream``, ``nbchannel/poll``,
  ``nbchannel/send`` — the HTTP fallbacks for pages whose proxy blocks the WebSocket
  (:mod:`nbchannel.server.http`);
* ``nbchannel/`` — the status page for operators (the same figures, live).

The hub's figures are also on jupyter-server's Prometheus endpoint, ``metrics``.
"""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import Callable
from typing import Any

from jupyter_core.paths import jupyter_runtime_dir
from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Enum, Float, Int, Unicode

from ..core.address import ENV_ADDRESS, ENV_HUB_FILE, ENV_SECRET
from ..core.codec import Limits
from ..core.hub import Hub, HubConfig
from .handlers import ChannelsApiHandler, ChannelSocketHandler
from .http import HttpConfig, HttpSessions, http_handlers
from .listener import MAX_HELLO_BYTES, KernelListener
from .metrics import DEFAULT_MAX_CHANNEL_LABELS, HubCollector
from .status import StatusPageHandler, StatusScriptHandler, WidgetBundleHandler

__all__ = ["NbChannel"]

KERNEL_ACTIONS = "https://events.jupyter.org/jupyter_server/kernel_actions/v1"
_MiB = 1024 * 1024
_defaults = HubConfig()
_limits = Limits()
_http = HttpConfig()


class NbChannel(ExtensionApp):
    """Live channels between kernels and browsers, served by the Jupyter server."""

    name = "nbchannel"
    description = "Live, two-way channels between Jupyter kernels and the browser."
    load_other_extensions = True

    history_items = Int(
        _defaults.history_items, help="Stream items retained per channel for replay."
    ).tag(config=True)
    history_bytes = Int(
        _defaults.history_bytes, help="Bytes of stream history retained per channel."
    ).tag(config=True)
    state_bytes = Int(_defaults.state_bytes, help="Most bytes of retained state per channel.").tag(
        config=True
    )
    subscriber_queue_bytes = Int(
        _defaults.subscriber_queue_bytes,
        help="Send-queue bound of each browser connection; beyond it, stream items are "
        "dropped (with a gap marker) and state is coalesced.",
    ).tag(config=True)
    owner_queue_bytes = Int(
        _defaults.owner_queue_bytes, help="Send-queue bound of each kernel connection."
    ).tag(config=True)
    max_subscriptions = Int(
        _defaults.max_subscriptions, help="Most channels one browser connection may subscribe to."
    ).tag(config=True)
    max_event_bytes = Int(
        _defaults.max_event_bytes, help="Largest event a browser may send to a kernel."
    ).tag(config=True)
    batch_bytes = Int(
        _defaults.batch_bytes, help="Target size of one outgoing frame when a queue drains."
    ).tag(config=True)
    frames_per_second = Int(
        _defaults.frames_per_second,
        help="WebSocket frames per second shared by all browser connections: with many busy "
        "viewers each frame carries more messages instead of flooding the event loop "
        "(0: no cap).",
    ).tag(config=True)
    run_viewers = Int(
        _defaults.run_viewers,
        help="A kernel's consecutive appends to a channel with at least this many viewers "
        "are queued for each viewer as one run, encoded once for all that keep up.",
    ).tag(config=True)
    run_delay = Float(
        _defaults.run_delay,
        help="Seconds such appends wait to be fanned out with the ones that follow: with "
        "hundreds of viewers, one send per viewer every few milliseconds instead of one "
        "per kernel frame (0: at once).",
    ).tag(config=True)
    max_frame_bytes = Int(
        _limits.max_frame_bytes, help="Largest frame accepted from a kernel or a browser."
    ).tag(config=True)
    max_header_bytes = Int(_limits.max_header_bytes, help="Largest frame header accepted.").tag(
        config=True
    )
    kernel_transport = Enum(
        ["auto", "unix", "tcp"],
        "auto",
        help="How kernels reach the hub: a Unix socket ('auto' where available) or "
        "a TCP port on 127.0.0.1.",
    ).tag(config=True)
    socket_dir = Unicode(
        "", help="Directory of the kernels' Unix socket (default: the Jupyter runtime directory)."
    ).tag(config=True)
    hello_timeout = Float(5.0, help="Seconds a kernel connection has to authenticate.").tag(
        config=True
    )
    max_hello_bytes = Int(
        MAX_HELLO_BYTES,
        help="Largest first frame (the hello with the secret) a kernel connection may send "
        "before it is authenticated; a connection declaring more is refused at once, so "
        "unauthenticated peers cannot make the server hold max_frame_bytes each.",
    ).tag(config=True)

    freeze_gc = Bool(
        True,
        help="Once the server has started, move the objects it holds into the garbage "
        "collector's permanent generation (gc.freeze), so that the full collections which "
        "streamed messages trigger scan only what was made since, not the whole server: "
        "about a fifth of the hub's time under a fast stream, and pauses of ~100 ms.",
    ).tag(config=True)

    metrics_channel_labels = Int(
        DEFAULT_MAX_CHANNEL_LABELS,
        help="Channels with Prometheus series of their own (labels scope and channel); "
        "the traffic of channels beyond this many is summed into one series labelled "
        "'(other)', so that the number of series stays bounded.",
    ).tag(config=True)

    http_heartbeat = Float(
        _http.heartbeat,
        help="Seconds between heartbeats on an HTTP stream (the fallback for pages whose "
        "proxy blocks WebSockets); below the proxy's idle timeout, so it never cuts one.",
    ).tag(config=True)
    http_poll_wait = Float(
        _http.poll_wait, help="Longest an HTTP long-poll waits for data before answering 204."
    ).tag(config=True)
    http_session_timeout = Float(
        _http.session_timeout,
        help="Seconds an HTTP session (stream, SSE or poll fallback) lives with no stream "
        "or poll attached; then its subscriptions end and the page makes a new one.",
    ).tag(config=True)
    http_max_sessions_per_user = Int(
        _http.max_sessions_per_user, help="Most HTTP sessions one user may hold at once."
    ).tag(config=True)
    http_max_sessions = Int(
        _http.max_sessions, help="Most HTTP sessions the server holds at once."
    ).tag(config=True)

    hub: Hub
    listener: KernelListener
    http_sessions: HttpSessions
    metrics: HubCollector | None = None

    def hub_config(self) -> HubConfig:
        """The hub's bounds from this app's traits."""
        return HubConfig(
            history_items=self.history_items,
            history_bytes=self.history_bytes,
            state_bytes=self.state_bytes,
            subscriber_queue_bytes=self.subscriber_queue_bytes,
            owner_queue_bytes=self.owner_queue_bytes,
            max_subscriptions=self.max_subscriptions,
            max_event_bytes=self.max_event_bytes,
            batch_bytes=self.batch_bytes,
            frames_per_second=self.frames_per_second,
            run_viewers=self.run_viewers,
            run_delay=self.run_delay,
            limits=Limits(
                max_frame_bytes=self.max_frame_bytes, max_header_bytes=self.max_header_bytes
            ),
        )

    def initialize_settings(self) -> None:
        """Create the hub, bind the kernel listener and export its address to kernels."""
        serverapp = self.serverapp
        assert serverapp is not None
        self.hub = Hub(self.hub_config())
        self.hub.defer = _call_later
        runtime_dir = serverapp.runtime_dir or jupyter_runtime_dir()
        os.makedirs(runtime_dir, exist_ok=True)
        self.listener = KernelListener(
            self.hub,
            runtime_dir=runtime_dir,
            port=serverapp.port,
            transport=self.kernel_transport,
            socket_dir=self.socket_dir,
            hello_timeout=self.hello_timeout,
            max_hello_bytes=self.max_hello_bytes,
            log=self.log,
        )
        address = self.listener.bind()
        # Kernels inherit the server's environment when they are launched.
        os.environ[ENV_ADDRESS] = str(address)
        os.environ[ENV_SECRET] = self.listener.secret
        os.environ[ENV_HUB_FILE] = str(self.listener.hub_file)
        self.http_sessions = HttpSessions(
            self.hub,
            HttpConfig(
                heartbeat=self.http_heartbeat,
                poll_wait=self.http_poll_wait,
                session_timeout=self.http_session_timeout,
                max_sessions_per_user=self.http_max_sessions_per_user,
                max_sessions=self.http_max_sessions,
            ),
        )
        self.settings.update(
            {
                "nbchannel_hub": self.hub,
                "nbchannel_listener": self.listener,
                "nbchannel_http": self.http_sessions,
            }
        )
        self._register_metrics()
        assert serverapp.event_logger is not None
        serverapp.event_logger.add_listener(
            schema_id=KERNEL_ACTIONS, listener=self._on_kernel_action
        )

    def initialize_handlers(self) -> None:
        """Register the routes (jupyter-server prefixes them with ``base_url``)."""
        self.handlers.extend(
            [
                (r"/nbchannel/ws", ChannelSocketHandler),
                (r"/nbchannel/api/channels", ChannelsApiHandler),
                (r"/nbchannel/?", StatusPageHandler),
                (r"/nbchannel/status.js", StatusScriptHandler),
                (r"/nbchannel/widgets.js", WidgetBundleHandler),
                *http_handlers(),
            ]
        )

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        await self.listener.start()
        if self.freeze_gc:
            # After the other extensions' start hooks, which run beside this one.
            asyncio.get_running_loop().call_soon(self._freeze_gc)

    def _freeze_gc(self) -> None:
        gc.collect()
        gc.freeze()
        self.log.info(
            "nbchannel: moved %d objects of the started server out of the garbage "
            "collector's reach (gc.freeze; c.NbChannel.freeze_gc = False turns this off)",
            gc.get_freeze_count(),
        )

    def _register_metrics(self) -> None:
        """Put the hub's figures on jupyter-server's ``/metrics`` (one collector a process)."""
        collector = HubCollector(
            self.hub, self.listener, max_channel_labels=self.metrics_channel_labels
        )
        try:
            self.metrics = collector.register()
        except ValueError as exc:  # names taken by something else: the hub runs without
            self.log.warning("nbchannel: no Prometheus metrics: %s", exc)

    async def stop_extension(self) -> None:
        """Close kernel connections, remove the socket and the Prometheus collector."""
        if self.metrics is not None:
            self.metrics.unregister()
            self.metrics = None
        self.http_sessions.stop()
        await self.listener.stop()

    async def _on_kernel_action(self, logger: Any, schema_id: str, data: dict[str, Any]) -> None:
        kernel_id = data.get("kernel_id")
        if data.get("status") != "success" or not kernel_id:
            return
        if data.get("action") in ("shutdown", "restart"):
            # The kernel process is gone: its channels close and viewers are told. After a
            # restart, channels opened again by the new process get a new epoch.
            closed = self.hub.close_scope(kernel_id, only_orphaned=data["action"] == "restart")
            if closed:
                self.log.info("nbchannel: closed %d channel(s) of kernel %s", closed, kernel_id)


def _call_later(delay: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
    """The hub's clock: ``callback`` in ``delay`` seconds on the server's event loop."""
    return asyncio.get_running_loop().call_later(delay, callback)
