"""A small reverse proxy, like JupyterHub's or Binder's, for tests: HTTP and WebSockets.

It listens on 127.0.0.1 and forwards every request, unchanged (``Host`` included, as
JupyterHub's proxy does), to one upstream server; WebSocket upgrades are bridged message
by message, binary frames intact. It runs its own event loop in a background thread.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from tornado import httpclient, httputil, routing, web, websocket
from tornado.httpserver import HTTPServer

from .server import free_port

__all__ = ["ReverseProxy"]

_HOP = {"connection", "keep-alive", "transfer-encoding", "upgrade", "te", "trailer"}


class _Forward(web.RequestHandler):
    """Plain HTTP: fetch from upstream and copy the answer back."""

    SUPPORTED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")

    def initialize(self, upstream: str) -> None:
        self.upstream = upstream

    async def _forward(self) -> None:
        headers = httputil.HTTPHeaders(
            {k: v for k, v in self.request.headers.get_all() if k.lower() not in _HOP}
        )
        body = self.request.body if self.request.method not in ("GET", "HEAD") else None
        if self.request.method in ("POST", "PUT", "PATCH") and body is None:
            body = b""
        req = httpclient.HTTPRequest(
            self.upstream + self.request.uri,
            method=self.request.method,
            headers=headers,
            body=body,
            follow_redirects=False,
            decompress_response=False,
            request_timeout=120,
            allow_nonstandard_methods=True,
        )
        client = httpclient.AsyncHTTPClient()
        resp = await client.fetch(req, raise_error=False)
        self.set_status(resp.code, resp.reason)
        self._headers = httputil.HTTPHeaders()
        for k, v in resp.headers.get_all():
            if k.lower() not in _HOP and k.lower() != "content-length":
                self.add_header(k, v)
        if resp.body:
            self.write(resp.body)
        await self.finish()

    get = post = put = patch = delete = head = options = _forward


class _Bridge(websocket.WebSocketHandler):
    """WebSocket: connect upstream with the same path, headers and subprotocols; relay."""

    def initialize(self, upstream: str) -> None:
        self.upstream = upstream.replace("http", "ws", 1)
        self.remote: websocket.WebSocketClientConnection | None = None

    async def get(self, *args: Any, **kwargs: Any) -> None:
        headers = {
            k: v
            for k, v in self.request.headers.get_all()
            if k.lower() not in _HOP and not k.lower().startswith("sec-websocket")
        }
        protocols = self.request.headers.get("Sec-WebSocket-Protocol")
        req = httpclient.HTTPRequest(self.upstream + self.request.uri, headers=headers)
        try:
            self.remote = await websocket.websocket_connect(
                req,
                max_message_size=1 << 30,
                subprotocols=[p.strip() for p in protocols.split(",")] if protocols else None,
            )
        except httpclient.HTTPClientError as exc:
            raise web.HTTPError(exc.code) from None
        await super().get(*args, **kwargs)

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        return self.remote.selected_subprotocol if self.remote is not None else None

    def open(self, *args: Any, **kwargs: Any) -> None:
        self._pump_task = asyncio.ensure_future(self._pump())

    async def _pump(self) -> None:
        assert self.remote is not None
        while True:
            msg = await self.remote.read_message()
            if msg is None:
                self.close()
                return
            try:
                await self.write_message(msg, binary=isinstance(msg, bytes))
            except websocket.WebSocketClosedError:
                return

    async def on_message(self, message: str | bytes) -> None:
        if self.remote is not None:
            await self.remote.write_message(message, binary=isinstance(message, bytes))

    def on_close(self) -> None:
        if self.remote is not None:
            self.remote.close()

    @property
    def max_message_size(self) -> int:
        return 1 << 30


class _Pick(routing.Router):
    """Upgrade requests go to the WebSocket bridge, the rest to plain forwarding."""

    def __init__(self, app: web.Application, upstream: str) -> None:
        self.app = app
        self.upstream = upstream

    def find_handler(
        self, request: httputil.HTTPServerRequest, **kwargs: Any
    ) -> httputil.HTTPMessageDelegate | None:
        is_ws = request.headers.get("Upgrade", "").lower() == "websocket"
        handler = _Bridge if is_ws else _Forward
        return self.app.get_handler_delegate(request, handler, {"upstream": self.upstream})


class ReverseProxy:
    """``ReverseProxy(upstream).start()`` → ``proxy.url``; ``stop()`` when done."""

    def __init__(self, upstream: str, port: int | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self.port = port or free_port()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: HTTPServer | None = None
        self._ready = threading.Event()

    @property
    def url(self) -> str:
        """The proxy's own origin, ``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ReverseProxy:
        """Start serving in a background thread."""
        self._thread = threading.Thread(target=self._run, name="reverse-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise TimeoutError("the reverse proxy did not start")
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        app = web.Application()
        router = routing.RuleRouter([(routing.AnyMatches(), _Pick(app, self.upstream))])
        self._server = HTTPServer(router)
        self._server.listen(self.port, "127.0.0.1")
        loop.call_soon(self._ready.set)
        loop.run_forever()
        loop.close()

    def stop(self) -> None:
        """Stop the proxy."""
        loop = self._loop
        if loop is None:
            return

        def shutdown() -> None:
            if self._server is not None:
                self._server.stop()
            loop.stop()

        loop.call_soon_threadsafe(shutdown)
        if self._thread is not None:
            self._thread.join(5)
        self._loop = None

    def __enter__(self) -> ReverseProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
