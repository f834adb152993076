"""HTTP fallbacks for pages whose proxy blocks WebSockets: a stream (or SSE) down, POST up,
and long-polling.

Every route is a thin handler over the same pieces as the WebSocket: an HTTP *session* is a
hub subscriber :class:`~nbchannel.core.peer.Peer` (same bounded outbox, same coalescing and
drops, same resume rules on ``sub``), frames are the v1 frames of
:mod:`nbchannel.core.codec`, writers take them with ``take_frame()``/``wait()`` and share the
hub's :class:`~nbchannel.core.peer.FrameBudget`, and a viewer's messages go to the hub
through :func:`~nbchannel.server.access.receive_from_viewer`. ``docs/http-transports.md``
is the client's reference; in short, under the server's ``base_url``:

``GET nbchannel/api/info``
    ``{"version", "transports": ["websocket", "stream", "sse", "poll"], "heartbeat",
    "poll_wait", "session_timeout", "limits": {"max_frame_bytes", "max_header_bytes",
    "max_event_bytes", "max_subscriptions", "queue_bytes"}, "relay"}``; ``relay`` is where
    the page finds hub-wide channels (``/services/nbchannel/``, from the server's
    environment; None: no relay). A 404 means no nbchannel.

``POST nbchannel/session`` (empty body)
    → ``{"session": ID, "heartbeat": s, "expires": s, "poll_wait": s, "max_frame_bytes": n}``.
    ``ID`` is ``secrets.token_urlsafe(24)``, bound to the user who made it. A session with
    no stream or poll attached for ``expires`` seconds is gone (its subscriptions end).
    At most ``c.NbChannel.http_max_sessions_per_user`` per user (the least recently used
    unattached one is closed to make room; 429 if all are attached) and
    ``c.NbChannel.http_max_sessions`` in all (429).

``GET nbchannel/stream?session=ID[&format=sse][&after=N]``
    ``application/octet-stream``: the session's frames, concatenated (each is
    self-delimiting: its 12-byte preamble gives its length), one HTTP chunk per frame.
    A ``heartbeat`` frame comes first, then at least every ``heartbeat`` seconds, data or
    not: no heartbeat within twice that means a proxy holds the response back (buffers).
    ``format=sse``: ``text/event-stream`` with ``retry: 1000``, each frame as
    ``event: frame`` / ``data: <base64 of the frame>``, heartbeats as ``event: heartbeat``
    / ``data: {"interval": s}``.

``GET nbchannel/poll?session=ID[&after=N]``
    ``200`` with the frames queued now (concatenated, up to ``http_poll_bytes``, at least
    one frame), or, when none are, waits up to ``poll_wait`` seconds for some and then
    answers ``204`` with no body.

``POST nbchannel/send?session=ID&seq=N`` (body: one v1 frame of ``sub``/``unsub``/``event``)
    ``seq`` counts the session's POSTs from 1. ``N == last + 1`` → applied,
    ``200 {"seq": N}``; ``N <= last`` → ``200 {"seq": N, "duplicate": true}``, not applied
    again (a retried POST); ``N > last + 1`` → ``409``. A body that is not one valid frame
    → ``400``; over ``max_frame_bytes`` → ``413`` (refused from ``Content-Length`` before the
    body is read). Neither consumes ``N``. What the hub answers (``subscribed``, ``error`` …)
    comes on the stream or poll.

One reader at a time: a new stream or poll of a session ends the one attached before (a
stream then ends with a heartbeat whose payload has ``"end": "replaced"``; a poll answers
``204``). Only the attached reader takes frames from the session's queue, so nothing is
taken by a response that nobody reads any more once the client has attached again.

**Resuming.** A stream that ended without an ``end`` heartbeat, or a poll that failed,
may have lost frames in flight. The client attaches again with ``after=N`` and then sends
POST ``seq=N`` with a ``sub`` carrying ``epoch`` and the next offset for every channel it
watches; the new reader takes nothing until that POST is applied, and the hub's resume
rules replay exactly what was missed (the channel's queued messages are replaced by the
replay), so nothing is lost or delivered twice. ``410 {"error": "session gone"}`` on any
route: make a new session, attach, and subscribe every channel the same way.

Errors are JSON, ``{"error": sentence, "status": code}``. Auth is Jupyter's (cookie or
token; 403, never a login redirect), the authorizer's ``read`` on ``nbchannel`` for every
route, ``execute`` for each ``event`` (see :mod:`nbchannel.server.access`), Jupyter's XSRF
check on POST (``X-XSRFToken`` echoing the ``_xsrf`` cookie, or a token), and a foreign
``Origin`` with cookie auth is refused with 403.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import orjson
from jupyter_server.auth.identity import IdentityProvider, PasswordIdentityProvider
from jupyter_server.base.handlers import APIHandler
from tornado import web
from tornado.iostream import StreamClosedError

from .._version import __version__
from ..core import protocol as P
from ..core.codec import decode_frame, encode_frame
from ..core.hub import Hub
from ..core.message import Message
from ..core.peer import Peer
from ..errors import FrameError
from ..relay.wire import public_relay_url
from .access import is_authorized, receive_from_viewer
from .handlers import AUTH_RESOURCE

__all__ = [
    "HttpConfig",
    "HttpSession",
    "HttpSessions",
    "InfoHandler",
    "PollHandler",
    "SendHandler",
    "SessionHandler",
    "StreamHandler",
    "http_handlers",
]

log = logging.getLogger("nbchannel.http")
_MiB = 1024 * 1024
#: Shorter pauses are not worth a timer (as in the WebSocket writer).
_MIN_SLEEP = 0.001
#: The EventSource reconnect hint, milliseconds (clients should manage reconnects themselves).
SSE_RETRY_MS: Final = 1000
#: Identity providers whose users are all the server's owner (see ``_Base.principal``).
_SINGLE_PRINCIPAL = (IdentityProvider, PasswordIdentityProvider)
#: How long a session id is (``secrets.token_urlsafe`` bytes; 32 characters).
_ID_BYTES = 24


@dataclass(frozen=True)
class HttpConfig:
    """Timing and bounds of the HTTP transports; on the server, ``c.NbChannel.http_*``."""

    #: Seconds between heartbeats on a stream (one also goes at once on attach).
    heartbeat: float = 5.0
    #: Longest a poll waits for data before answering 204.
    poll_wait: float = 20.0
    #: A session with no reader attached for this many seconds is closed.
    session_timeout: float = 60.0
    #: Most sessions one user may hold, and in all.
    max_sessions_per_user: int = 20
    max_sessions: int = 1000
    #: Most bytes one poll answer carries (it always carries at least one whole frame).
    poll_bytes: int = 1 * _MiB


class SessionGone(Exception):
    """No such session (never made, expired, or closed)."""


class NotYours(Exception):
    """The session belongs to another user."""


class TooManySessions(Exception):
    """A bound on sessions was hit; the message names it."""


class _Attachment:
    """One stream or poll attached to a session; ``ended`` resolves with why it must stop."""

    def __init__(self, session: HttpSession, kind: str) -> None:
        self.session = session
        self.kind = kind
        self.ended: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    @property
    def current(self) -> bool:
        """Whether this reader may take frames: still attached and not told to stop."""
        return self.session.reader is self and not self.ended.done()

    def end(self, reason: str) -> None:
        if not self.ended.done():
            self.ended.set_result(reason)


class HttpSession:
    """A hub subscriber reached over HTTP: its peer, its POST sequence, its reader."""

    def __init__(self, sid: str, user: str, peer: Peer, now: float) -> None:
        self.id = sid
        self.user = user
        self.peer = peer
        #: Sequence number of the last POST applied (0: none yet).
        self.last_seq = 0
        #: When the session was last used with no reader attached (None: one is attached).
        self.idle_since: float | None = now
        self.reader: _Attachment | None = None
        #: When a frame was last written for it (paces it through the frame budget).
        self.last_write = float("-inf")
        self._seq_changed = asyncio.Event()

    def __repr__(self) -> str:
        return f"<HttpSession {self.peer.name!r} seq={self.last_seq}>"

    def attach(self, kind: str) -> _Attachment:
        """Make a new reader the only one; the previous one is told to end."""
        old = self.reader
        att = self.reader = _Attachment(self, kind)
        self.idle_since = None
        if old is not None:
            old.end("replaced")
        return att

    def detach(self, att: _Attachment, now: float) -> None:
        """A reader is done; the idle clock starts if it was the attached one."""
        att.end("detached")
        if self.reader is att:
            self.reader = None
            self.idle_since = now

    def touch(self, now: float) -> None:
        """A request used the session: an unattached session's idle clock restarts."""
        if self.reader is None:
            self.idle_since = now

    def applied(self, seq: int) -> None:
        """POST ``seq`` was applied: wake readers waiting for it (``after=``)."""
        self.last_seq = seq
        self._seq_changed.set()
        self._seq_changed = asyncio.Event()

    async def wait(self, att: _Attachment, timeout: float, after: int = 0) -> None:
        """Until the peer has frames and POST ``after`` was applied, ``att`` must end, the
        peer is closed, or ``timeout`` seconds passed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        peer = self.peer
        while not att.ended.done() and not peer.closed:
            if self.last_seq >= after and peer.pending:
                return
            left = deadline - loop.time()
            if left <= 0:
                return
            waiter = asyncio.ensure_future(
                peer.wait() if self.last_seq >= after else self._seq_changed.wait()
            )
            try:
                await asyncio.wait(
                    (waiter, att.ended), timeout=left, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                if not waiter.done():
                    waiter.cancel()


class HttpSessions:
    """Every HTTP session of the server, their bounds and their expiry. No HTTP here."""

    def __init__(
        self,
        hub: Hub,
        config: HttpConfig | None = None,
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.hub = hub
        self.config = config or HttpConfig()
        self._clock = clock
        self.sessions: dict[str, HttpSession] = {}
        self._sweeper: asyncio.Task[None] | None = None
        #: Sessions closed because nothing was attached for ``session_timeout`` seconds.
        self.expired = 0

    def now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    def create(self, user: str, name: str) -> HttpSession:
        """A new session for ``user``; :class:`TooManySessions` past the bounds."""
        cfg = self.config
        mine = [s for s in self.sessions.values() if s.user == user]
        if len(mine) >= cfg.max_sessions_per_user:
            idle = [s for s in mine if s.reader is None]
            if not idle:
                raise TooManySessions(
                    f"this user already has {len(mine)} HTTP sessions with a reader attached "
                    "(c.NbChannel.http_max_sessions_per_user); close a page first"
                )
            self.close(min(idle, key=lambda s: s.idle_since or 0.0))
        if len(self.sessions) >= cfg.max_sessions:
            raise TooManySessions(
                f"the server already holds {len(self.sessions)} HTTP sessions "
                "(c.NbChannel.http_max_sessions); try again later"
            )
        sid = secrets.token_urlsafe(_ID_BYTES)
        session = HttpSession(sid, user, self.hub.connect_subscriber(name), self.now())
        self.sessions[sid] = session
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.ensure_future(self._sweep_loop())
        return session

    def get(self, sid: str, user: str) -> HttpSession:
        """The session ``sid`` of ``user``: :class:`SessionGone` if there is none,
        :class:`NotYours` if another user made it."""
        session = self.sessions.get(sid)
        if session is None or session.peer.closed:
            raise SessionGone(sid)
        if session.user != user:
            log.warning("nbchannel: user %r used an HTTP session of another user", user)
            raise NotYours(sid)
        return session

    def close(self, session: HttpSession, reason: str = "closed") -> None:
        """End a session: its reader stops, the hub forgets its peer."""
        self.sessions.pop(session.id, None)
        if session.reader is not None:
            session.reader.end(reason)
        self.hub.disconnect(session.peer)
        self.hub.frame_budget.forget(session.peer.id)

    def sweep(self) -> int:
        """Close the sessions idle for ``session_timeout`` seconds; how many were closed."""
        limit = self.now() - self.config.session_timeout
        gone = [
            s for s in self.sessions.values() if s.idle_since is not None and s.idle_since <= limit
        ]
        for s in gone:
            self.close(s, "expired")
        self.expired += len(gone)
        return len(gone)

    async def _sweep_loop(self) -> None:
        every = max(0.05, min(5.0, self.config.session_timeout / 4))
        while self.sessions:
            await asyncio.sleep(every)
            self.sweep()

    def stop(self) -> None:
        """Close every session (the server is stopping)."""
        for s in list(self.sessions.values()):
            self.close(s, "closed")
        if self._sweeper is not None:
            self._sweeper.cancel()


class _Refused(web.HTTPError):
    """An HTTP error whose JSON body says ``message`` (no %-formatting, no HTML)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status)
        self.message = message


def _gone() -> _Refused:
    return _Refused(410, "session gone")


class _Base(APIHandler):
    """Jupyter's auth and origin checks, the authorizer's ``read``, JSON errors."""

    auth_resource = AUTH_RESOURCE
    #: The action the authorizer must allow for the route.
    action = "read"

    @property
    def hub(self) -> Hub:
        hub: Hub = self.settings["nbchannel_hub"]
        return hub

    @property
    def sessions(self) -> HttpSessions:
        sessions: HttpSessions = self.settings["nbchannel_http"]
        return sessions

    @property
    def username(self) -> str:
        user = self.current_user
        return str(getattr(user, "username", None) or "viewer")

    @property
    def principal(self) -> str:
        """Whom a session belongs to: the user, as the identity provider names them.

        jupyter-server's own token/password login has a single principal, the server's
        owner: it names every browser (and every token request without the login cookie)
        with a random anonymous name, so there all sessions belong to the owner."""
        if type(self.identity_provider) in _SINGLE_PRINCIPAL:
            return ""
        return self.username

    async def prepare(self) -> None:  # type: ignore[override]
        """Authenticate (403, no redirect), refuse foreign origins (403), authorize."""
        try:
            await super().prepare()
        except web.HTTPError as exc:
            # jupyter-server answers a cross-origin API request with 404; say what it is
            if exc.status_code == 404 and not self.check_origin():
                raise _Refused(
                    403, "cross-origin request refused (the page's origin is not this server's)"
                ) from None
            raise
        if not self.current_user:
            raise _Refused(403, "not authenticated: log in, or send the server's token")
        if not await is_authorized(self, self.action):
            raise _Refused(
                403, f"this user may not {self.action} on resource 'nbchannel' (the authorizer)"
            )

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """``{"error": sentence, "status": code}`` for every refusal."""
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, _Refused):
            message = exc.message
        elif isinstance(exc, web.HTTPError):
            message = exc.log_message or exc.reason or self._reason
            if exc.args:
                with contextlib.suppress(Exception):
                    message = message % exc.args
        else:
            message = self._reason
        self.set_header("Cache-Control", "no-store")
        self.finish(orjson.dumps({"error": message, "status": status_code}))

    def session(self) -> HttpSession:
        """The session named by ``?session=``, or 410."""
        try:
            s = self.sessions.get(self.get_argument("session", ""), self.principal)
        except SessionGone:
            raise _gone() from None
        except NotYours:
            raise _Refused(403, "this session belongs to another user") from None
        s.touch(self.sessions.now())
        return s

    def int_argument(self, name: str, default: int | None = None) -> int:
        raw = self.get_argument(name, None)
        if raw is None:
            if default is None:
                raise _Refused(400, f"the query needs {name}=<integer>")
            return default
        try:
            value = int(raw)
        except ValueError:
            raise _Refused(400, f"{name} must be an integer, got {raw[:40]!r}") from None
        if value < 0:
            raise _Refused(400, f"{name} must be >= 0, got {value}")
        return value

    def reply(self, body: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Cache-Control", "no-store")
        self.finish(orjson.dumps(body))


class InfoHandler(_Base):
    """``GET nbchannel/api/info``: what this server offers, asked once by a page."""

    _track_activity = False

    async def get(self) -> None:
        """The transports, heartbeat, poll wait and limits, and the relay of hub-wide
        channels (``relay``: its base URL as the page reaches it, or None)."""
        cfg, hub_cfg = self.sessions.config, self.hub.config
        self.reply(
            {
                "version": __version__,
                "transports": ["websocket", "stream", "sse", "poll"],
                "heartbeat": cfg.heartbeat,
                "poll_wait": cfg.poll_wait,
                "session_timeout": cfg.session_timeout,
                "relay": public_relay_url(),
                "limits": {
                    "max_frame_bytes": hub_cfg.limits.max_frame_bytes,
                    "max_header_bytes": hub_cfg.limits.max_header_bytes,
                    "max_event_bytes": hub_cfg.max_event_bytes,
                    "max_subscriptions": hub_cfg.max_subscriptions,
                    "queue_bytes": hub_cfg.subscriber_queue_bytes,
                },
            }
        )


class SessionHandler(_Base):
    """``POST nbchannel/session``: a new HTTP session (a hub subscriber)."""

    async def post(self) -> None:
        """Create the session; reply with its id, heartbeat, expiry and frame limit."""
        user = self.username
        try:
            session = self.sessions.create(
                self.principal, f"{user}@{self.request.remote_ip} (http)"
            )
        except TooManySessions as exc:
            raise _Refused(429, str(exc)) from None
        cfg = self.sessions.config
        self.reply(
            {
                "session": session.id,
                "heartbeat": cfg.heartbeat,
                "expires": cfg.session_timeout,
                "poll_wait": cfg.poll_wait,
                "max_frame_bytes": self.hub.config.limits.max_frame_bytes,
            }
        )


class _Reader(_Base):
    """What the stream and the poll share: attach, pace, take frames, detach."""

    _track_activity = False  # a page left open must not keep the server from idling
    _att: _Attachment | None = None

    def on_connection_close(self) -> None:
        """The client went away: the reader stops (nothing more is taken for it)."""
        if self._att is not None:
            self._att.end("disconnected")
        super().on_connection_close()

    async def _paced(self, session: HttpSession) -> None:
        """Wait as the WebSocket writer does when many viewers are busy (FrameBudget)."""
        loop = asyncio.get_running_loop()
        delay = self.hub.frame_budget.delay(session.last_write, loop.time())
        if delay >= _MIN_SLEEP:
            await asyncio.sleep(delay)

    def _wrote(self, session: HttpSession) -> None:
        session.last_write = asyncio.get_running_loop().time()
        self.hub.frame_budget.wrote(session.peer.id, session.last_write)


class StreamHandler(_Reader):
    """``GET nbchannel/stream?session=ID[&format=sse][&after=N]``: frames as they come."""

    _sse = False

    async def get(self) -> None:
        """Attach, then write heartbeats and frames until replaced, closed or cut."""
        session = self.session()
        after = self.int_argument("after", 0)
        self._sse = sse = self.get_argument("format", "") == "sse"
        att = self._att = session.attach("sse" if sse else "stream")
        # Live data is latency-bound, as on the WebSocket: without this, Nagle's algorithm
        # holds a small chunk back until the previous one is acknowledged (up to 40 ms).
        stream = getattr(self.request.connection, "stream", None)
        if stream is not None:
            with contextlib.suppress(AttributeError, OSError):
                stream.set_nodelay(True)
        self.set_header("Cache-Control", "no-store, no-transform")
        self.set_header("X-Accel-Buffering", "no")
        content_type = "text/event-stream" if sse else "application/octet-stream"
        self.set_header("Content-Type", content_type)
        if sse:
            self.write(f"retry: {SSE_RETRY_MS}\n\n".encode())
        end: str | None = None
        try:
            end = await self._pump(session, att, after)
        except StreamClosedError:
            pass
        finally:
            session.detach(att, self.sessions.now())
        with contextlib.suppress(StreamClosedError):
            if end is not None:
                self._heartbeat(end)
            await self.finish(set_content_type=content_type)

    async def _pump(self, session: HttpSession, att: _Attachment, after: int) -> str | None:
        """Write until the reader must stop; the reason to tell the client (None: gone)."""
        loop = asyncio.get_running_loop()
        every = self.sessions.config.heartbeat
        peer = session.peer
        self._heartbeat()
        await self.flush()
        next_beat = loop.time() + every
        while True:
            await session.wait(att, next_beat - loop.time(), after)
            if att.ended.done():
                reason = att.ended.result()
                return None if reason == "disconnected" else reason
            if peer.closed:
                return "closed"
            if loop.time() >= next_beat:
                self._heartbeat()
                await self.flush()
                next_beat = loop.time() + every
            if session.last_seq < after or not peer.pending:
                continue
            await self._paced(session)
            if not att.current:
                continue
            parts = peer.take_frame()
            if parts is None:
                continue
            # Awaiting the flush is the backpressure: a slow reader holds this loop, its
            # outbox fills and the hub coalesces and drops for it alone.
            frame = b"".join(parts)
            if self._sse:
                self.write(b"event: frame\ndata: " + base64.b64encode(frame) + b"\n\n")
            else:
                self.write(frame)
            await self.flush()
            self._wrote(session)

    def _heartbeat(self, end: str | None = None) -> None:
        value: dict[str, Any] = {"interval": self.sessions.config.heartbeat}
        if end is not None:
            value["end"] = end
        if self._sse:
            self.write(b"event: heartbeat\ndata: " + orjson.dumps(value) + b"\n\n")
        else:
            self.write(encode_frame([Message.create(P.HEARTBEAT, "", value)]))


class PollHandler(_Reader):
    """``GET nbchannel/poll?session=ID[&after=N]``: the frames queued now, or 204."""

    async def get(self) -> None:
        """Wait (up to ``poll_wait``) for frames; answer them, concatenated."""
        session = self.session()
        after = self.int_argument("after", 0)
        att = self._att = session.attach("poll")
        sessions = self.sessions
        peer = session.peer
        chunks: list[bytes | memoryview] = []
        try:
            await session.wait(att, sessions.config.poll_wait, after)
            if session.last_seq >= after and peer.pending and not att.ended.done():
                await self._paced(session)
                size, cap = 0, sessions.config.poll_bytes
                while att.current and peer.pending and (not chunks or size < cap):
                    parts = peer.take_frame()
                    if parts is None:
                        break
                    chunks += parts
                    size += sum(memoryview(p).nbytes for p in parts)
                if chunks:
                    self._wrote(session)
        finally:
            session.detach(att, sessions.now())
        if att.ended.result() == "disconnected":
            return
        if peer.closed and not chunks:
            raise _gone()
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Accel-Buffering", "no")
        if not chunks:
            self.set_status(204)
            await self.finish()
            return
        self.write(b"".join(chunks))
        with contextlib.suppress(StreamClosedError):
            await self.finish(set_content_type="application/octet-stream")


@web.stream_request_body
class SendHandler(_Base):
    """``POST nbchannel/send?session=ID&seq=N``: one frame from the viewer to the hub."""

    _session: HttpSession | None = None
    _too_big = False

    async def prepare(self) -> None:  # type: ignore[override]
        """Auth, XSRF, session and size checks, all before the body is read."""
        await super().prepare()
        self._session = self.session()
        self._seq = self.int_argument("seq")
        if self._seq < 1:
            raise _Refused(400, "seq counts from 1")
        self._limit = self.hub.config.limits.max_frame_bytes
        length = self.request.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > self._limit:
            raise _Refused(413, self._too_big_message(int(length)))
        self._body = bytearray()

    def _too_big_message(self, size: int | None) -> str:
        got = f"{size} bytes" if size is not None else "more"
        return (
            f"a POST carries one frame of at most {self._limit} bytes "
            f"(c.NbChannel.max_frame_bytes); got {got}"
        )

    def data_received(self, chunk: bytes) -> None:
        """Collect the body, up to the frame limit."""
        if self._too_big:
            return
        if len(self._body) + len(chunk) > self._limit:
            self._too_big = True
            self._body = bytearray()
            return
        self._body += chunk

    async def post(self) -> None:
        """Apply the frame once, in sequence."""
        session = self._session
        assert session is not None
        if session.peer.closed:
            raise _gone()
        seq = self._seq
        if seq <= session.last_seq:
            self.reply({"seq": seq, "duplicate": True})
            return
        if seq > session.last_seq + 1:
            raise _Refused(
                409, f"seq {seq} is out of order: the next one expected is {session.last_seq + 1}"
            )
        if self._too_big:
            raise _Refused(413, self._too_big_message(None))
        if not self._body:
            raise _Refused(400, "the body must be one nbchannel frame; it is empty")
        try:
            msgs = decode_frame(bytes(self._body), self.hub.config.limits)
        except FrameError as exc:
            raise _Refused(400, f"not a valid frame ({exc.code}): {exc}") from None
        may_send_events = True
        if any(m.kind == P.EVENT for m in msgs):
            may_send_events = await is_authorized(self, "execute")
        if session.peer.closed:  # expired while the authorizer was asked
            raise _gone()
        receive_from_viewer(self.hub, session.peer, msgs, may_send_events=may_send_events)
        session.applied(seq)
        session.touch(self.sessions.now())
        self.reply({"seq": seq})


def http_handlers() -> list[tuple[str, type[APIHandler]]]:
    """The routes, relative to ``base_url`` (jupyter-server adds it)."""
    return [
        (r"/nbchannel/api/info", InfoHandler),
        (r"/nbchannel/session", SessionHandler),
        (r"/nbchannel/stream", StreamHandler),
        (r"/nbchannel/poll", PollHandler),
        (r"/nbchannel/send", SendHandler),
    ]
