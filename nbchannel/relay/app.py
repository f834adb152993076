"""The relay process: the core hub for hub-wide channels, behind WebSockets.

Routes, under the base URL (``JUPYTERHUB_SERVICE_PREFIX`` when JupyterHub runs the relay as
a service, else ``--base-url``):

* ``ws`` — browsers (subscribers), the same binary protocol as the server extension's
  ``nbchannel/ws``; each message is checked against the user's permissions;
* ``kernel`` — kernels (owners): a ``hello`` frame, then the frames the server extension's
  kernel socket carries;
* ``api/info`` — the relay's version and the caller's permissions; ``api/channels`` — the
  channels and connections (owners only);
* ``oauth_callback`` — JupyterHub's OAuth, when run as a JupyterHub service.

Browsers' and kernels' messages go through the same core :class:`~nbchannel.core.hub.Hub`
as in the Jupyter server (a :class:`RelayHub`: the shared scope is ``"hub"``, presence tells
owners which users watch). With ``--redis`` several relays share their channels
(:mod:`nbchannel.relay.engine`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import signal
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import orjson
from tornado import web
from tornado.websocket import WebSocketHandler

from .._version import __version__
from ..core import protocol as P
from ..core.channel import Channel
from ..core.codec import Limits, decode_frame
from ..core.hub import Hub, HubConfig
from ..core.message import Message
from ..core.peer import Peer
from ..errors import FrameError, LimitExceeded, MalformedFrame, NotPermitted
from ..server.handlers import send_if_idle, write_binary_frame, write_loop
from .access import Action, EventRate, Identity
from .auth import JupyterHubAuth, OpenAuth, RelayAuth, TokenAuth
from .wire import HUB_SCOPE, KERNEL_PATH, SOCKET_PATH, seal_envelope

__all__ = ["Relay", "RelayHub", "main", "make_app"]

log = logging.getLogger("nbchannel.relay")


class RelayHub(Hub):
    """The core hub with ``"hub"`` as its shared scope; presence names the users."""

    shared_scope = HUB_SCOPE

    def _presence(self, ch: Channel) -> None:
        if not ch.owners:
            return
        users = sorted({p.name for p in ch.subscribers})
        payload = {"viewers": len(ch.subscribers), "users": users}
        for owner in ch.owners:
            owner.outbox.put(Message.create(P.PRESENCE, ch.name, payload, scope=ch.scope))


class Relay:
    """The relay's state: its hub, who may do what, and (optionally) the Redis engine."""

    def __init__(
        self,
        auth: RelayAuth,
        *,
        config: HubConfig | None = None,
        event_rate: float = 20.0,
        event_burst: int = 40,
    ) -> None:
        self.auth = auth
        self.hub = RelayHub(config)
        self.events = EventRate(event_rate, event_burst)
        self.identities: dict[Peer, Identity] = {}
        #: How to end each kernel's connection (the engine does when Redis lost its data).
        self.closers: dict[Peer, Callable[[], None]] = {}
        #: Set by the Redis engine when it runs; None: this relay alone holds the channels.
        self.engine: Any = None

    # -- what each side may send -------------------------------------------------------

    def refuse(self, peer: Peer, why: str, msg: Message, exc: type = NotPermitted) -> None:
        self.hub.send_error(peer, exc(why), msg)

    def from_viewer(self, peer: Peer, msgs: Sequence[Message]) -> list[Message]:
        """The viewer's messages it may send, events sealed with its user; errors for the
        rest."""
        who = self.identities[peer]
        out: list[Message] = []
        for m in msgs:
            if m.scope is not None and m.scope != HUB_SCOPE:
                self.refuse(peer, f"a relay serves only scope {HUB_SCOPE!r} channels", m)
                continue
            action: Action = "event" if m.kind == P.EVENT else "subscribe"
            if m.kind in (P.SUBSCRIBE, P.EVENT) and not who.may(action, m.channel):
                self.refuse(
                    peer,
                    f"user {who.name!r} may not {action} on hub channel {m.channel!r} "
                    f"(needs the JupyterHub scope custom:nbchannel:{action})",
                    m,
                )
                continue
            if m.kind == P.EVENT:
                if not self.events.allow(who.name):
                    self.refuse(
                        peer,
                        f"too many events from {who.name!r}: at most {self.events.rate:g} a "
                        "second; the event was not delivered",
                        m,
                        LimitExceeded,
                    )
                    continue
                try:
                    value = m.value()
                except FrameError as exc:
                    self.hub.send_error(peer, exc, m)
                    continue
                m = Message.create(
                    P.EVENT, m.channel, seal_envelope(who.name, value), scope=m.scope, key=m.key
                )
            out.append(m)
        return out

    def from_owner(self, peer: Peer, msgs: Sequence[Message]) -> list[Message]:
        """The kernel's messages it may send: ``open`` needs ``own`` on the channel."""
        who = self.identities[peer]
        out: list[Message] = []
        for m in msgs:
            if m.kind == P.OPEN:
                if m.scope != HUB_SCOPE:
                    self.refuse(peer, f"a relay opens only scope {HUB_SCOPE!r} channels", m)
                    continue
                if not who.may("own", m.channel):
                    self.refuse(
                        peer,
                        f"user {who.name!r} may not open hub channel {m.channel!r} (needs the "
                        "JupyterHub scope custom:nbchannel:own)",
                        m,
                    )
                    continue
            out.append(m)
        return out

    # -- routing (the engine replaces these when several relays share channels) -----------

    def receive_viewer(self, peer: Peer, msgs: Sequence[Message]) -> None:
        msgs = self.from_viewer(peer, msgs)
        if msgs:
            if self.engine is not None:
                self.engine.receive_viewer(peer, msgs)
            else:
                self.hub.receive(peer, msgs)

    def receive_owner(self, peer: Peer, msgs: Sequence[Message]) -> None:
        msgs = self.from_owner(peer, msgs)
        if msgs:
            if self.engine is not None:
                self.engine.receive_owner(peer, msgs)
            else:
                self.hub.receive(peer, msgs)

    def disconnect(self, peer: Peer) -> None:
        self.identities.pop(peer, None)
        self.closers.pop(peer, None)
        if self.engine is not None:
            self.engine.disconnect(peer)
        self.hub.disconnect(peer)


class _RelaySocket(WebSocketHandler):
    """What the viewer and kernel sockets share: authentication and the write loop."""

    relay: Relay
    identity: Identity | None = None
    peer: Peer | None = None
    _writer: asyncio.Future[None] | None = None

    def initialize(self, relay: Relay) -> None:
        self.relay = relay

    @property
    def max_message_size(self) -> int:
        return self.relay.hub.config.limits.max_frame_bytes

    @property
    def limits(self) -> Limits:
        return self.relay.hub.config.limits

    def get_compression_options(self) -> dict[str, Any] | None:
        return None

    def check_origin(self, origin: str) -> bool:
        # Same host (the JupyterHub proxy serves pages and the relay on one origin), or a
        # request without a browser origin (a kernel, a script).
        return bool(super().check_origin(origin))

    async def _authenticate(self, action: Action, what: str) -> None:
        self.identity = await self.relay.auth.identify(self)
        if self.identity is None:
            raise web.HTTPError(403, "not authenticated: log in through JupyterHub or send a token")
        if not self.identity.may(action):
            raise web.HTTPError(
                403,
                f"user {self.identity.name!r} may not {what} hub channels (needs the "
                f"JupyterHub scope custom:nbchannel:{action})",
            )

    def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
        # A refused upgrade says why in its body (the kernel client shows it).
        reason = ""
        exc_info = kwargs.get("exc_info")
        if exc_info and isinstance(exc_info[1], web.HTTPError):
            reason = exc_info[1].log_message or ""
        self.set_status(status_code)
        self.finish(reason or str(status_code))

    def _start_writer(self, peer: Peer) -> None:
        self.set_nodelay(True)
        self._writer = asyncio.ensure_future(
            write_loop(self.relay.hub, peer, partial(write_binary_frame, self))
        )

    def _decode(self, message: str | bytes) -> list[Message] | None:
        peer = self.peer
        assert peer is not None
        if isinstance(message, str):
            self.relay.hub.send_error(peer, MalformedFrame("nbchannel speaks binary frames"))
            return None
        try:
            return decode_frame(message, self.limits)
        except FrameError as exc:
            self.relay.hub.send_error(peer, exc)
            return None

    def on_close(self) -> None:
        if self.peer is not None:
            self.relay.disconnect(self.peer)
        if self._writer is not None and not self._writer.done():
            self._writer.cancel()


class ViewerSocket(_RelaySocket):
    """``{base}ws``: a browser page (or a Python viewer) watching hub channels."""

    async def get(self, *args: Any, **kwargs: Any) -> None:
        await self._authenticate("subscribe", "watch")
        await super().get(*args, **kwargs)

    def open(self, *args: Any, **kwargs: Any) -> None:
        assert self.identity is not None
        self.peer = self.relay.hub.connect_subscriber(self.identity.name)
        self.relay.identities[self.peer] = self.identity
        self._start_writer(self.peer)
        # a batch fanned out to many viewers goes straight to the sockets that keep up
        self.peer.send_now = partial(send_if_idle, self)

    def on_message(self, message: str | bytes) -> None:
        msgs = self._decode(message)
        if msgs and self.peer is not None:
            self.relay.receive_viewer(self.peer, msgs)


class KernelSocket(_RelaySocket):
    """``{base}kernel``: a kernel's ``scope="hub"`` channels (``hello`` first)."""

    async def get(self, *args: Any, **kwargs: Any) -> None:
        await self._authenticate("own", "open")
        await super().get(*args, **kwargs)

    def on_message(self, message: str | bytes) -> None:
        if self.peer is None:
            self._hello(message)
            return
        msgs = self._decode(message)
        if msgs:
            self.relay.receive_owner(self.peer, msgs)

    def _hello(self, message: str | bytes) -> None:
        assert self.identity is not None
        try:
            msgs = decode_frame(message, self.limits) if isinstance(message, bytes) else []
            info = msgs[0].value() if len(msgs) == 1 and msgs[0].kind == P.HELLO else None
        except FrameError:
            info = None
        if not isinstance(info, dict):
            self.close(1008, "the first frame must be a hello")
            return
        kernel = str(info.get("kernel_id", "?"))[:200]
        who = self.identity.name
        relay = self.relay
        self.peer = relay.hub.connect_owner(f"user:{who}", name=f"{who} (kernel {kernel})")
        relay.identities[self.peer] = self.identity
        relay.closers[self.peer] = self.close
        welcome = {
            "version": __version__,
            "max_frame_bytes": self.limits.max_frame_bytes,
            "state_bytes": relay.hub.config.state_bytes,
        }
        self.peer.outbox.put(Message.create(P.WELCOME, "", welcome))
        log.info("kernel %s of %s connected", kernel, who)
        self._start_writer(self.peer)


class InfoHandler(web.RequestHandler):
    """``{base}api/info``: version, the caller's permissions; ``api/channels`` for owners."""

    def initialize(self, relay: Relay, channels: bool = False) -> None:
        self.relay = relay
        self.channels = channels

    async def get(self) -> None:
        who = await self.relay.auth.identify(self)
        if who is None:
            # A browser without the relay's cookie (no token sent) logs in through
            # JupyterHub's OAuth, which brings it back here: a page's same-origin request
            # follows the redirects and gets this answer with the cookie set.
            login = getattr(self.relay.auth, "login_url", None)
            url = login(self) if login is not None and not _sent_token(self) else None
            if url:
                self.redirect(url)
                return
            raise web.HTTPError(403)
        body: dict[str, Any] = {
            "version": __version__,
            "user": who.name,
            "may": {a: who.may(a) for a in ("own", "subscribe", "event")},
            "redis": self.relay.engine is not None,
        }
        if not who.may("subscribe"):
            # what a page shows instead of hub-wide views (its WebSocket would be refused)
            body["refused"] = (
                f"user {who.name!r} may not watch hub-wide channels (needs the JupyterHub "
                "scope custom:nbchannel:subscribe)"
            )
        if self.channels:
            if not who.may("own"):
                raise web.HTTPError(403)
            body["channels"] = self.relay.hub.channels_info()
            body["peers"] = self.relay.hub.peers_info()
            if self.relay.engine is not None:
                body["engine"] = self.relay.engine.info()
        self.set_header("Content-Type", "application/json")
        self.finish(orjson.dumps(body))


def _sent_token(handler: web.RequestHandler) -> bool:
    return bool(handler.request.headers.get("Authorization") or handler.get_argument("token", ""))


def _callback_handler() -> type[web.RequestHandler]:
    """JupyterHub's OAuth callback, bound to the relay's own ``HubOAuth``: the OAuth state
    (where to go next, the PKCE verifier) lives in the instance that started the login."""
    from jupyterhub.services.auth import HubOAuthCallbackHandler

    class OAuthCallback(HubOAuthCallbackHandler):  # type: ignore[misc]
        def initialize(self, hub_auth: Any) -> None:
            self.hub_auth = hub_auth

    return OAuthCallback


def make_app(relay: Relay, base_url: str = "/", *, hub_auth: Any = None) -> web.Application:
    """The relay's tornado application."""
    base = base_url if base_url.endswith("/") else base_url + "/"
    routes: list[Any] = [
        (base + SOCKET_PATH, ViewerSocket, {"relay": relay}),
        (base + KERNEL_PATH, KernelSocket, {"relay": relay}),
        (base + "api/info", InfoHandler, {"relay": relay}),
        (base + "api/channels", InfoHandler, {"relay": relay, "channels": True}),
    ]
    settings: dict[str, Any] = {"websocket_max_message_size": 1 << 31}
    if hub_auth is not None:
        routes.append((base + "oauth_callback", _callback_handler(), {"hub_auth": hub_auth}))
        settings["hub_auth"] = hub_auth
        settings["cookie_secret"] = os.urandom(32)
    return web.Application(routes, **settings)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m nbchannel.relay",
        description="Serve hub-wide nbchannel channels (LiveChannel(..., scope='hub')).",
    )
    p.add_argument("--ip", default=None, help="address to bind (default: from the service URL)")
    p.add_argument("--port", type=int, default=None, help="port (default: from the service URL)")
    p.add_argument("--base-url", default=None, help="URL prefix (default: service prefix or /)")
    p.add_argument(
        "--auth",
        choices=("jupyterhub", "tokens", "open"),
        default=None,
        help="who may connect: JupyterHub OAuth and tokens (default under JupyterHub), a "
        "token table (--tokens FILE), or anyone (loopback tests only)",
    )
    p.add_argument("--tokens", default=None, help="JSON file {token: {name, scopes}}")
    p.add_argument("--redis", default=None, help="redis URL (unix:///path or redis://host)")
    p.add_argument("--relay-id", default=None, help="this relay's name in Redis (default: pid)")
    p.add_argument(
        "--presence-ttl",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="with --redis: how long a relay's viewer count stays valid without a refresh "
        "(a relay that died stops counting after this)",
    )
    p.add_argument(
        "--busy-viewers",
        type=int,
        default=32,
        metavar="N",
        help="with --redis: a channel watched by N viewers or more is written in batches "
        "(--batch-ms), each fanned out as one frame per viewer",
    )
    p.add_argument(
        "--batch-ms",
        type=float,
        default=10.0,
        metavar="MS",
        help="with --redis: how long an owner's writes to a busy channel wait for more to "
        "join their batch (the latency it adds; less means more frames per viewer)",
    )
    p.add_argument("--event-rate", type=float, default=20.0, help="events/s per user (0: no cap)")
    p.add_argument("--history-items", type=int, default=10_000)
    p.add_argument(
        "--state-bytes",
        type=int,
        default=HubConfig.state_bytes,
        help="retained state per channel, in bytes (a set() beyond it is refused)",
    )
    p.add_argument(
        "--frames-per-second",
        type=int,
        default=HubConfig.frames_per_second,
        help="WebSocket frames/s all viewers share: with many busy viewers each frame "
        "carries more messages (0: no cap)",
    )
    args = p.parse_args(argv)
    if args.presence_ttl < 1:
        p.error("--presence-ttl must be at least 1 second")
    return args


async def serve(args: argparse.Namespace) -> None:
    """Run the relay until SIGTERM/SIGINT."""
    from urllib.parse import urlsplit

    service_url = os.environ.get("JUPYTERHUB_SERVICE_URL", "")
    under_hub = bool(os.environ.get("JUPYTERHUB_API_TOKEN") and service_url)
    parts = urlsplit(service_url) if service_url else None
    ip = args.ip or (parts.hostname if parts else None) or "127.0.0.1"
    port = args.port or (parts.port if parts else None) or 8765
    base = args.base_url or os.environ.get("JUPYTERHUB_SERVICE_PREFIX") or "/"
    mode = args.auth or ("jupyterhub" if under_hub else "tokens" if args.tokens else None)
    hub_auth = None
    auth: RelayAuth
    if mode == "jupyterhub":
        jh = JupyterHubAuth()
        hub_auth, auth = jh.hub_auth, jh
    elif mode == "tokens":
        if not args.tokens:
            raise SystemExit("--auth tokens needs --tokens FILE")
        auth = TokenAuth.from_file(args.tokens)
    elif mode == "open":
        if ip not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit("--auth open is for loopback only")
        auth = OpenAuth()
    else:
        raise SystemExit("choose --auth (jupyterhub, tokens or open)")
    config = HubConfig(
        history_items=args.history_items,
        frames_per_second=args.frames_per_second,
        state_bytes=args.state_bytes,
    )
    relay = Relay(auth, config=config, event_rate=args.event_rate)
    if args.redis:
        from .engine import RedisEngine

        relay.engine = RedisEngine(
            relay,
            args.redis,
            relay_id=args.relay_id,
            presence_ttl=args.presence_ttl,
            batch_delay=args.batch_ms / 1000,
            busy_viewers=args.busy_viewers,
        )
        await relay.engine.start()
    app = make_app(relay, base, hub_auth=hub_auth)
    # a relay that dies sends its viewers here all at once: room for them in the backlog
    server = app.listen(port, ip, max_buffer_size=1 << 31, backlog=2048)
    _quiet_gc()
    print(f"nbchannel relay {__version__} listening on http://{ip}:{port}{base}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.stop()
    if relay.engine is not None:
        await relay.engine.stop()


#: Allocations between young-generation collections (CPython's default is 700).
GC_YOUNG_THRESHOLD = 50_000


def _quiet_gc() -> None:
    """Keep the cyclic garbage collector from pausing a fan-out: what exists once the
    relay is up stays out of every collection (``gc.freeze``), and the young generation is
    collected every 50,000 allocations instead of 700, so the short-lived objects of a
    batch die before a collection promotes them to the older generations. Fanning out to
    500 viewers, a relay with the default settings paused 2-80 ms about once a second;
    with these, a few times in 20 s."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m nbchannel.relay``."""
    logging.basicConfig(level=logging.INFO, format="[nbchannel relay %(levelname)s] %(message)s")
    asyncio.run(serve(_parse(argv)))
