"""The HTTP fallbacks through a real nginx: the deployments they exist for.

Debian's ``nginx-light`` sits between the Python HTTP viewer and a real Jupyter server:
(a) it upgrades only the kernels' WebSockets and refuses ``nbchannel/ws``; (b) it buffers
and gzips responses whatever the upstream says (nginx's ``proxy_buffering on`` alone passes
the stream at once: it honours the stream's ``X-Accel-Buffering: no`` and sends what it has
read); (c) it cuts a response idle for longer than 60 % of the server's heartbeat interval.

(b) and (c) wait for heartbeats, so they run on a server of this module whose heartbeat is
1 s rather than the default 5 s (the proxy's timeout scaled alike).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

from nbchannel.testing import JupyterServer, KernelSession, Viewer
from nbchannel.testing.http_viewer import HttpViewer
from nbchannel.testing.nginx import Nginx

from ..conftest import open_channel

#: The heartbeat of this module's own server (c.NbChannel.http_heartbeat; 5 s by default).
HEARTBEAT = 1.0
KERNEL_SOCKETS = r"/api/kernels/[^/]+/channels"


@pytest.fixture(scope="module")
def beating() -> Iterator[JupyterServer]:
    """A server whose HTTP streams send a heartbeat every :data:`HEARTBEAT` seconds."""
    with JupyterServer(extra_args=[f"--NbChannel.http_heartbeat={HEARTBEAT}"]) as server:
        assert server.api("GET", "nbchannel/api/info")["heartbeat"] == HEARTBEAT
        yield server


@pytest.fixture
def beating_kernel(beating: JupyterServer) -> Iterator[KernelSession]:
    session = beating.start_kernel()
    try:
        yield session
    finally:
        session.shutdown()


def stream_items(kernel: KernelSession, n: int) -> str:
    return kernel.submit(
        f"for i in range({n}):\n    ch.append(i)\n    if i % 50 == 49: time.sleep(0.01)\nch.flush()"
    )


async def ws_status(url: str, token: str) -> int:
    try:
        conn = await websocket_connect(
            HTTPRequest(url, headers={"Authorization": f"token {token}"})
        )
    except HTTPClientError as exc:
        return exc.code
    conn.close()
    return 101


def test_a_proxy_that_upgrades_only_kernel_sockets_leaves_the_stream(
    jupyter: JupyterServer, kernel: KernelSession
) -> None:
    n = 2000
    open_channel(kernel, "behind-proxy")
    with Nginx(jupyter.port, websocket_paths=KERNEL_SOCKETS, refuse=[r"/nbchannel/ws"]) as proxy:
        ws_base = proxy.url(jupyter.base_url).replace("http", "ws", 1)

        async def scenario() -> None:
            # what the page sees: kernels work, nbchannel's WebSocket is refused
            kernel_ws = f"{ws_base}api/kernels/{kernel.id}/channels"
            assert await ws_status(kernel_ws, jupyter.token) == 101
            assert await ws_status(f"{ws_base}nbchannel/ws", jupyter.token) == 403
            viewer = await HttpViewer.connect(
                proxy.url(jupyter.base_url), token=jupyter.token, transport="stream"
            )
            view = await viewer.subscribe(kernel.id, "behind-proxy")
            job = stream_items(kernel, n)
            await viewer.wait_for(lambda: len(view.items) >= n, timeout=60)
            await asyncio.to_thread(kernel.join, job)
            assert view.items == [(i, i) for i in range(n)]
            assert viewer.errors == [] and view.gaps == []
            assert viewer.http.failures == [] and viewer.http.resumes == 0
            # the first heartbeat came through at once: this proxy does not buffer
            assert viewer.heartbeats
            await viewer.close()

        asyncio.run(scenario())


@pytest.mark.slow
def test_a_buffering_proxy_holds_heartbeats_back_and_poll_still_works(
    beating: JupyterServer, beating_kernel: KernelSession
) -> None:
    n = 1000
    open_channel(beating_kernel, "buffered")
    # buffers whatever the upstream says, and compresses: it holds a stream back entirely
    with Nginx(beating.port, buffering=True, ignore_accel_buffering=True, compress=True) as proxy:

        async def scenario() -> None:
            base = proxy.url(beating.base_url)
            stream = await HttpViewer.connect(base, token=beating.token, transport="stream")
            poll = await HttpViewer.connect(base, token=beating.token, transport="poll")
            view = await poll.subscribe(beating_kernel.id, "buffered")
            t0 = time.monotonic()
            job = stream_items(beating_kernel, n)
            await poll.wait_for(lambda: len(view.items) >= n, timeout=60)
            await asyncio.to_thread(beating_kernel.join, job)
            assert view.items == [(i, i) for i in range(n)]
            assert poll.errors == [] and poll.http.failures == []
            # the stream's client sees no heartbeat within twice the interval: it knows
            # a proxy buffers the response, and falls back to polling
            await asyncio.sleep(max(0.0, 2 * HEARTBEAT - (time.monotonic() - t0)))
            assert stream.heartbeats == [], "nginx passed the stream through unbuffered"
            await stream.close()
            await poll.close()

        asyncio.run(scenario())

    # nginx honours the stream's X-Accel-Buffering: no unless told to ignore it
    with Nginx(beating.port, buffering=True) as proxy:

        async def unbuffered() -> None:
            viewer = await HttpViewer.connect(
                proxy.url(beating.base_url), token=beating.token, transport="stream"
            )
            t0 = time.monotonic()
            while not viewer.heartbeats and time.monotonic() - t0 < HEARTBEAT:
                await asyncio.sleep(0.02)
            assert viewer.heartbeats and viewer.heartbeats[0] - t0 < 1.0
            await viewer.close()

        asyncio.run(unbuffered())


@pytest.mark.slow
def test_a_proxy_read_timeout_below_the_heartbeat_cuts_the_stream_and_it_resumes(
    beating: JupyterServer, beating_kernel: KernelSession
) -> None:
    bursts, per_burst = 3, 300
    open_channel(beating_kernel, "bursty")
    with Nginx(beating.port, read_timeout=0.6 * HEARTBEAT) as proxy:

        async def scenario() -> None:
            ws = await Viewer.connect(beating.ws_url, token=beating.token)  # direct, alongside
            viewer = await HttpViewer.connect(
                proxy.url(beating.base_url), token=beating.token, transport="stream"
            )
            view = await viewer.subscribe(beating_kernel.id, "bursty")
            await ws.subscribe(beating_kernel.id, "bursty")
            # bursts of items with idle pauses longer than the proxy's read timeout: each
            # pause holds one heartbeat interval with nothing written, and nginx cuts
            job = beating_kernel.submit(
                f"for b in range({bursts}):\n"
                f"    for i in range({per_burst}): ch.append(b * {per_burst} + i)\n"
                "    ch.flush()\n"
                f"    time.sleep({1.3 * HEARTBEAT})"
            )
            total = bursts * per_burst
            await viewer.wait_for(lambda: len(view.items) >= total, timeout=60)
            await asyncio.to_thread(beating_kernel.join, job)
            await ws.wait_for(lambda: len(ws.view(beating_kernel.id, "bursty").items) >= total)
            assert view.items == [(i, i) for i in range(total)]  # none lost, none twice
            assert view.gaps == [] and viewer.errors == []
            cuts = viewer.http.ends.count("cut")
            assert cuts >= bursts - 1, viewer.http.ends
            assert viewer.http.resumes >= cuts - 1
            assert ws.view(beating_kernel.id, "bursty").items == view.items
            await viewer.close()
            await ws.close()

        asyncio.run(scenario())
