"""Path B: the ipywidgets comm path, built the way JupyterLab uses it.

An ipywidgets widget in a real kernel sends ``Widget.send(...)`` custom messages: each is a
``comm_msg`` on the kernel's IOPub socket, which jupyter-server (with its IOPub rate limiter,
on or off) forwards to the kernel WebSocket in the ``v1.kernel.websocket.jupyter.org``
framing. Browser → kernel events are ``comm_msg`` requests on the shell channel, as a widget
view sends them. Path B-batched is the same widget sending a hundred messages per
``Widget.send`` (``{"items": [...]}``), as a comm that batches would. The control socket
that executes the code is also the receiving socket, like JupyterLab's one socket per kernel.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from nbchannel.testing import JupyterServer

from .kernel_code import COMMON, WIDGET_SETUP, busy_cell
from .kernel_ws import SUBPROTOCOL, IOPubHandler, KernelSocket
from .memory import RssSampler
from .tally import Tally, delay_summary, fanout_summary, wait_all

__all__ = ["CommPath"]

#: jupyter-server options turning its IOPub rate limiter off.
NO_LIMITS = ["--ZMQChannelsWebsocketConnection.limit_rate=False"]


class CommPath:
    """A kernel with an ipywidgets widget, reached through the kernel WebSocket."""

    def __init__(
        self,
        server: JupyterServer,
        kernel_id: str,
        ctl: KernelSocket,
        comm_id: str,
        *,
        key: str,
        label: str,
        batch: int = 1,
    ) -> None:
        self.server = server
        self.kernel_id = kernel_id
        self.ctl = ctl
        self.comm_id = comm_id
        self.key = key
        self.label = label
        #: Messages per ``Widget.send`` in metrics 1 and 2 (1: each its own comm message).
        self.batch = batch

    @classmethod
    async def start(
        cls, server: JupyterServer, *, key: str, label: str, batch: int = 1
    ) -> CommPath:
        """Start a kernel on ``server`` and create the widget in it."""
        info = await asyncio.to_thread(server.api, "POST", "api/kernels", {"name": "python3"})
        ctl = await KernelSocket.connect(server.url, info["id"], server.token)
        comm_id = (await ctl.execute(COMMON + WIDGET_SETUP)).strip().splitlines()[-1]
        return cls(server, info["id"], ctl, comm_id, key=key, label=label, batch=batch)

    async def close(self) -> None:
        """Close the control socket and shut the kernel down."""
        self.ctl.close()
        await asyncio.to_thread(self.server.api, "DELETE", f"api/kernels/{self.kernel_id}")

    def handler(self, tally: Tally) -> IOPubHandler:
        """An IOPub handler tallying the widget's custom messages (``seq``, ``t``; each of
        ``items`` in a batch)."""
        comm_id = self.comm_id
        loads = orjson.loads

        def on_iopub(parts: list[memoryview], now: int) -> bool:
            c = loads(parts[3])
            data = c.get("data")
            if c.get("comm_id") != comm_id or not data or data.get("method") != "custom":
                return False
            v = data["content"]
            items = v.get("items")
            if items is not None:
                tally.add_items(items, now)
                return True
            nbytes = sum(p.nbytes for p in parts[4:])
            tally.add(v["seq"], v["t"], now, nbytes)
            return True

        return on_iopub

    async def _extra_sockets(self, count: int) -> list[KernelSocket]:
        return list(
            await asyncio.gather(
                *(
                    KernelSocket.connect(self.server.url, self.kernel_id, self.server.token)
                    for _ in range(count)
                )
            )
        )

    # -- measurements ----------------------------------------------------------------------

    async def _stream(self, code: str, tallies: list[Tally], timeout: float) -> None:
        self.ctl.on_iopub = self.handler(tallies[0])
        try:
            await self.ctl.execute(code, timeout=timeout)
            await wait_all(tallies)
        finally:
            self.ctl.on_iopub = None

    async def burst(self, n: int) -> dict[str, Any]:
        """Metric 1: ``n`` small messages as fast as the kernel loop sends them."""
        tally = Tally(n)
        code = f"_bench_burst(_bw.send, {n})"
        if self.batch > 1:
            code = f"_bench_burst_batched(_bw.send, {n}, {self.batch})"
        await self._stream(code, [tally], 120)
        return tally.summary()

    async def paced(self, n: int, rate: float) -> dict[str, Any]:
        """Metric 2: ``n`` small messages at ``rate``/s; one-way latency (batched: a batch
        goes when full or 10 ms after its first message)."""
        tally = Tally(n)
        code = f"_bench_paced(_bw.send, {n}, {rate})"
        if self.batch > 1:
            code = f"_bench_paced_batched(_bw.send, {n}, {rate}, {self.batch})"
        await self._stream(code, [tally], n / rate + 60)
        return tally.summary()

    async def arrays(self, n: int, nbytes: int) -> dict[str, Any]:
        """Metric 4: ``n`` float64 arrays of ``nbytes`` as message buffers."""
        tally = Tally(n)
        await self._stream(f"_bench_arrays(_bw_send_array, {n}, {nbytes})", [tally], 120)
        return tally.summary()

    async def events(self, kind: str, n: int, gap: float, lead: float = 0.5) -> dict[str, Any]:
        """Metric 3: ``n`` widget messages from the client while a ``kind`` cell runs."""
        await self.ctl.execute("_delays.clear()")
        request = self.ctl.submit(busy_cell(kind, lead + n * gap + lead))
        await asyncio.sleep(lead)
        for _ in range(n):
            self.ctl.comm_msg(self.comm_id, {"method": "custom", "content": {"sent": time.time()}})
            await asyncio.sleep(gap)
        await self.ctl.join(request)
        # the handlers ran after the cell; ask once they have
        await asyncio.sleep(0.2)
        delays = [d * 1000 for d in await self.ctl.eval("_delays")]
        return delay_summary(delays, n)

    async def fanout(self, clients: int, rate: float, seconds: float) -> dict[str, Any]:
        """Metric 5: ``clients`` kernel WebSockets on one kernel, ``rate`` messages/s.

        jupyter-server writes every IOPub message to every socket, one frame each, so it
        falls far behind; what has not arrived ``DRAIN_SECONDS`` after the kernel stopped
        sending counts as lost. The control socket is behind too: it is replaced after.
        """
        n = max(1, int(rate * seconds))
        tallies = [Tally(n) for _ in range(clients)]
        socks = await self._extra_sockets(clients)
        for sock, tally in zip(socks, tallies, strict=True):
            sock.on_iopub = self.handler(tally)
        try:
            self.ctl.submit(f"_bench_paced(_bw.send, {n}, {rate})")
            await asyncio.sleep(seconds)  # the kernel sends for this long
            await wait_all(tallies)
        finally:
            for sock in socks:
                sock.close()
            self.ctl.close()
            self.ctl = await KernelSocket.connect(
                self.server.url, self.kernel_id, self.server.token, timeout=120
            )
        return fanout_summary(tallies)

    async def slow_consumer(self, seconds: float, nbytes: int, rate: float) -> dict[str, Any]:
        """Metric 6: a stalled kernel WebSocket beside the fast one; server memory growth."""
        n = max(1, int(rate * seconds))
        tally = Tally(n)
        stalled = await _stalled_socket(self.server, self.kernel_id)
        await asyncio.sleep(0.5)
        assert self.server.proc is not None
        sampler = RssSampler(self.server.proc.pid)
        sampler.start()
        try:
            await self._stream(
                f"_bench_arrays(_bw_send_array, {n}, {nbytes}, rate={rate})", [tally], seconds + 60
            )
        finally:
            await sampler.stop()
            stalled.close()
        out = tally.summary()
        out.update(sampler.summary())
        return out


async def _stalled_socket(server: JupyterServer, kernel_id: str) -> WebSocketClientConnection:
    """A kernel WebSocket that never reads (a frozen tab)."""
    url = (
        server.url.replace("http://", "ws://", 1)
        + f"api/kernels/{kernel_id}/channels?session_id=stalled-{time.time_ns()}"
    )
    req = HTTPRequest(url, headers={"Authorization": f"token {server.token}"})
    # no on_message_callback: tornado queues one message, then stops reading the socket
    return await websocket_connect(req, subprotocols=[SUBPROTOCOL], max_message_size=1 << 31)
