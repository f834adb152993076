"""Path A: nbchannel — ``LiveChannel`` in a real kernel → hub in the Jupyter server → WebSocket.

The receiving side is a lean client of the browser protocol (``{base_url}nbchannel/ws``):
it decodes each frame with the shared codec and reads ``seq`` and ``t`` from each payload,
as the browser's client does, and nothing more (no per-item storage), so that it measures
the path, not a test helper.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import orjson
from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from nbchannel.core import protocol as P
from nbchannel.core.codec import decode_frame, encode_frame
from nbchannel.core.message import Message
from nbchannel.testing import JupyterServer

from .kernel_code import COMMON, NBC_SETUP, busy_cell
from .kernel_ws import KernelSocket
from .memory import RssSampler
from .tally import Tally, delay_summary, fanout_summary, wait_all
from .ws_client import WSClient

__all__ = ["NbcPath", "NbcReceiver"]

_names = itertools.count()


class NbcReceiver:
    """One browser-protocol WebSocket tallying one channel's stream.

    With ``read=False`` it is a stalled page: a tornado client that nobody reads from, so
    after one message it stops reading its socket and the server's writes back up.
    """

    def __init__(self) -> None:
        self.ws: WSClient | None = None
        self.stalled: WebSocketClientConnection | None = None
        self.tally: Tally | None = None
        self.subscribed = asyncio.Event()
        #: Set by the first ``heartbeat`` frame (the HTTP stream's sign that it is attached).
        self.heartbeat = asyncio.Event()
        self.errors: list[Any] = []
        #: Report every second stream item ``consumed`` (a ``flow="block"`` channel).
        self.consume = False
        self._route: tuple[str, str] = ("", "")

    @classmethod
    async def connect(
        cls, server: JupyterServer, *, read: bool = True, timeout: float = 30.0
    ) -> NbcReceiver:
        """Open the WebSocket (a reading one, or with ``read=False`` a stalled one)."""
        rx = cls()
        headers = {"Authorization": f"token {server.token}"}
        if read:
            rx.ws = await WSClient.connect(
                server.ws_url, on_message=rx._on_frame, headers=headers, timeout=timeout
            )
        else:
            req = HTTPRequest(
                server.ws_url, headers=headers, connect_timeout=timeout, request_timeout=timeout
            )
            # no on_message_callback: tornado queues one message, then stops reading
            rx.stalled = await websocket_connect(req, max_message_size=1 << 31)
        return rx

    async def send(self, msg: Message) -> None:
        """Send one message in a frame."""
        frame = encode_frame([msg])
        if self.ws is not None:
            self.ws.send_binary(frame)
        elif self.stalled is not None:
            await self.stalled.write_message(frame, binary=True)

    async def subscribe(self, scope: str, name: str, tally: Tally | None) -> None:
        """Subscribe to ``(scope, name)`` and tally its ``append`` items into ``tally``."""
        self.tally = tally
        self._route = (scope, name)
        await self.send(Message(P.SUBSCRIBE, name, scope=scope))

    def _on_frame(self, data: str | bytes | bytearray | None) -> None:
        if data is None or isinstance(data, str):
            return
        now = time.time_ns()
        tally = self.tally
        loads = orjson.loads
        for m in decode_frame(data):
            kind = m.kind
            if kind == P.APPEND and tally is not None:
                v = loads(m.payload)
                if m.segment:  # a run of items: the payload is their array
                    tally.add_items(v, now)
                    continue
                nbytes = sum(b.nbytes for b in m.buffers) if m.buffers else 0
                tally.add(v["seq"], v["t"], now, nbytes)
                if self.consume and m.offset is not None and m.offset % 2:  # every second
                    scope, name = self._route
                    self._send_ack(Message(P.CONSUMED, name, scope=scope, offset=m.offset + 1))
            elif kind == P.GAP and tally is not None:
                tally.reported_dropped += int(loads(m.payload).get("count", 0))
            elif kind == P.SUBSCRIBED:
                if not loads(m.payload).get("waiting"):
                    self.subscribed.set()
            elif kind == P.HEARTBEAT:
                self.heartbeat.set()
            elif kind == P.ERROR:
                self.errors.append(m.value())

    def _send_ack(self, ack: Message) -> None:
        """Send ``consumed`` without waiting (called while frames are being read)."""
        if self.ws is not None:
            self.ws.send_binary(encode_frame([ack]))

    def close(self) -> None:
        """Close the WebSocket."""
        if self.ws is not None:
            self.ws.close()
        if self.stalled is not None:
            self.stalled.close()


class NbcPath:
    """A kernel with ``LiveChannel`` on a server with nbchannel; runs each measurement."""

    key = "A"
    label = "nbchannel"

    def __init__(self, server: JupyterServer, kernel_id: str, ctl: KernelSocket) -> None:
        self.server = server
        self.kernel_id = kernel_id
        self.ctl = ctl

    @classmethod
    async def start(cls, server: JupyterServer) -> NbcPath:
        """Start a kernel on ``server`` and load the sender code into it."""
        info = await asyncio.to_thread(server.api, "POST", "api/kernels", {"name": "python3"})
        ctl = await KernelSocket.connect(server.url, info["id"], server.token)
        await ctl.execute(COMMON + NBC_SETUP)
        return cls(server, info["id"], ctl)

    async def close(self) -> None:
        """Close the control socket and shut the kernel down."""
        self.ctl.close()
        await asyncio.to_thread(self.server.api, "DELETE", f"api/kernels/{self.kernel_id}")

    async def _open(self, history: int | None = None, **options: Any) -> str:
        name = f"bench-{next(_names)}"
        extra = "".join(f", {k}={v!r}" for k, v in options.items())
        await self.ctl.execute(f"_nbc_open({name!r}, {history!r}{extra})")
        return name

    async def _connect(self) -> NbcReceiver:
        """A reading viewer of this path's transport."""
        return await NbcReceiver.connect(self.server)

    async def _receivers(self, name: str, tallies: list[Tally | None]) -> list[NbcReceiver]:
        rxs = await asyncio.gather(*(self._connect() for _ in tallies))
        for rx, tally in zip(rxs, tallies, strict=True):
            await rx.subscribe(self.kernel_id, name, tally)
        await asyncio.wait_for(asyncio.gather(*(rx.subscribed.wait() for rx in rxs)), 30)
        return list(rxs)

    # -- measurements ----------------------------------------------------------------------

    async def burst(self, n: int) -> dict[str, Any]:
        """Metric 1: ``n`` small messages as fast as the kernel loop sends them."""
        name = await self._open()
        tally = Tally(n)
        (rx,) = await self._receivers(name, [tally])
        await self.ctl.execute(f"_bench_burst(_ch.append, {n})")
        await wait_all([tally])
        rx.close()
        await self.ctl.execute("_nbc_close()")
        return tally.summary()

    async def paced(self, n: int, rate: float) -> dict[str, Any]:
        """Metric 2: ``n`` small messages at ``rate``/s; one-way latency."""
        name = await self._open()
        tally = Tally(n)
        (rx,) = await self._receivers(name, [tally])
        await self.ctl.execute(f"_bench_paced(_ch.append, {n}, {rate})")
        await wait_all([tally])
        rx.close()
        await self.ctl.execute("_nbc_close()")
        return tally.summary()

    async def arrays(self, n: int, nbytes: int) -> dict[str, Any]:
        """Metric 4: ``n`` float64 arrays of ``nbytes`` in a tight loop on a
        ``flow="block"`` channel: ``append`` waits for the viewer, nothing is lost."""
        name = await self._open(flow="block", window=16)
        tally = Tally(n)
        (rx,) = await self._receivers(name, [tally])
        rx.consume = True
        await self.ctl.execute(f"_bench_arrays(_nbc_send_array, {n}, {nbytes})")
        await wait_all([tally])
        rx.close()
        await self.ctl.execute("_nbc_close()")
        return tally.summary()

    async def events(self, kind: str, n: int, gap: float, lead: float = 0.5) -> dict[str, Any]:
        """Metric 3: ``n`` browser events, ``gap`` s apart, while a ``kind`` cell runs."""
        name = await self._open()
        (rx,) = await self._receivers(name, [None])
        await self.ctl.execute("_delays.clear()")
        request = self.ctl.submit(busy_cell(kind, lead + n * gap + lead))
        await asyncio.sleep(lead)
        for _ in range(n):
            msg = Message.create(
                P.EVENT, name, {"sent": time.time()}, scope=self.kernel_id, key="ping"
            )
            await rx.send(msg)
            await asyncio.sleep(gap)
        await self.ctl.join(request)
        delays = [d * 1000 for d in await self.ctl.eval("_delays")]
        rx.close()
        await self.ctl.execute("_nbc_close()")
        return delay_summary(delays, n)

    async def fanout(self, clients: int, rate: float, seconds: float) -> dict[str, Any]:
        """Metric 5: one channel, ``clients`` viewers, ``rate`` messages/s for ``seconds``."""
        n = max(1, int(rate * seconds))
        name = await self._open()
        tallies = [Tally(n) for _ in range(clients)]
        rxs = await self._receivers(name, list(tallies))
        await self.ctl.execute(f"_bench_paced(_ch.append, {n}, {rate})", timeout=seconds + 60)
        await wait_all(tallies)
        for rx in rxs:
            rx.close()
        await self.ctl.execute("_nbc_close()")
        return fanout_summary(tallies)

    async def slow_consumer(self, seconds: float, nbytes: int, rate: float) -> dict[str, Any]:
        """Metric 6: a stalled viewer beside a fast one; the server's memory growth."""
        n = max(1, int(rate * seconds))
        name = await self._open()
        tally = Tally(n)
        (fast,) = await self._receivers(name, [tally])
        stalled = await NbcReceiver.connect(self.server, read=False)
        await stalled.subscribe(self.kernel_id, name, None)
        await asyncio.sleep(0.5)
        assert self.server.proc is not None
        sampler = RssSampler(self.server.proc.pid)
        sampler.start()
        await self.ctl.execute(
            f"_bench_arrays(_nbc_send_array, {n}, {nbytes}, rate={rate})", timeout=seconds + 60
        )
        await wait_all([tally])
        await sampler.stop()
        peers = await asyncio.to_thread(self.server.channels)
        fast.close()
        stalled.close()
        await self.ctl.execute("_nbc_close()")
        out = tally.summary()
        out.update(sampler.summary())
        subs = [p for p in peers["peers"] if p["role"] == "subscriber" and p["channels"]]
        out["stalled_dropped"] = max((p["dropped"] for p in subs), default=0)
        out["peak_queued_mib"] = max((p["peak_queued_bytes"] for p in subs), default=0) / 2**20
        return out
