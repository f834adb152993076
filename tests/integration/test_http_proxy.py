"""The HTTP fallbacks through a real nginx: the deployments they exist for.

Debian's ``nginx-light`` sits between the Python HTTP viewer and a real Jupyter server:
(a) it upgrades only the kernels' WebSockets and refuses ``nbchannel/ws``; (b) it buffers
and gzips responses whatever the upstream says (nginx's ``proxy_buffering on`` alone passes
the stream at once: it honours the stream's ``X-Accel-Buffering: no`` and sends what it has
read); (c) it cuts a response idle for 3 s, shorter than the 5 s heartbeat.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

from nbchannel.testing import JupyterServer, KernelSession, Viewer
from nbchannel.testing.http_viewer import HttpViewer
from nbchannel.testing.nginx import Nginx

from ..conftest import open_channel

#: The server's default heartbeat (c.NbChannel.http_heartbeat).
HEARTBEAT = 5.0
KERNEL_SOCKETS = r"/api/kernels/[^/]+/channels"


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
    jupyter: JupyterServer, kernel: KernelSession
) -> None:
    n = 1000
    open_channel(kernel, "buffered")
    # buffers whatever the upstream says, and compresses: it holds a stream back entirely
    with Nginx(jupyter.port, buffering=True, ignore_accel_buffering=True, compress=True) as proxy:

        async def scenario() -> None:
            base = proxy.url(jupyter.base_url)
            stream = await HttpViewer.connect(base, token=jupyter.token, transport="stream")
            poll = await HttpViewer.connect(base, token=jupyter.token, transport="poll")
            view = await poll.subscribe(kernel.id, "buffered")
            t0 = time.monotonic()
            job = stream_items(kernel, n)
            await poll.wait_for(lambda: len(view.items) >= n, timeout=60)
            await asyncio.to_thread(kernel.join, job)
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
    with Nginx(jupyter.port, buffering=True) as proxy:

        async def unbuffered() -> None:
            viewer = await HttpViewer.connect(
                proxy.url(jupyter.base_url), token=jupyter.token, transport="stream"
            )
            t0 = time.monotonic()
            while not viewer.heartbeats and time.monotonic() - t0 < HEARTBEAT:
                await asyncio.sleep(0.02)
            assert viewer.heartbeats and viewer.heartbeats[0] - t0 < 1.0
            await viewer.close()

        asyncio.run(unbuffered())


@pytest.mark.slow
def test_a_proxy_read_timeout_below_the_heartbeat_cuts_the_stream_and_it_resumes(
    jupyter: JupyterServer, kernel: KernelSession
) -> None:
    bursts, per_burst = 3, 300
    open_channel(kernel, "bursty")
    with Nginx(jupyter.port, read_timeout=3) as proxy:

        async def scenario() -> None:
            ws = await Viewer.connect(jupyter.ws_url, token=jupyter.token)  # direct, alongside
            viewer = await HttpViewer.connect(
                proxy.url(jupyter.base_url), token=jupyter.token, transport="stream"
            )
            view = await viewer.subscribe(kernel.id, "bursty")
            await ws.subscribe(kernel.id, "bursty")
            # bursts of items with idle pauses longer than the proxy's read timeout: each
            # pause holds one heartbeat interval with nothing written, and nginx cuts
            job = kernel.submit(
                f"for b in range({bursts}):\n"
                f"    for i in range({per_burst}): ch.append(b * {per_burst} + i)\n"
                "    ch.flush()\n"
                "    time.sleep(6.5)"
            )
            total = bursts * per_burst
            await viewer.wait_for(lambda: len(view.items) >= total, timeout=60)
            await asyncio.to_thread(kernel.join, job)
            await ws.wait_for(lambda: len(ws.view(kernel.id, "bursty").items) >= total)
            assert view.items == [(i, i) for i in range(total)]  # none lost, none twice
            assert view.gaps == [] and viewer.errors == []
            cuts = viewer.http.ends.count("cut")
            assert cuts >= bursts - 1, viewer.http.ends
            assert viewer.http.resumes >= cuts - 1
            assert ws.view(kernel.id, "bursty").items == view.items
            await viewer.close()
            await ws.close()

        asyncio.run(scenario())
