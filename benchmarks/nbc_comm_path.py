"""Path A-comm: nbchannel where no nbchannel server extension is reachable.

A Jupyter server started with ``--ServerApp.jpserver_extensions=nbchannel=False`` gives the
kernel no hub, so the kernel serves its views itself over each widget's comm
(``nbchannel/kernel/comm.py``): frames of many channel messages travel as the widget's
custom messages through jupyter-server's kernel WebSocket, under its default IOPub limits,
paced by the kernel at ``NBCHANNEL_COMM_RATE`` comm messages per second (100 by default).

The sender is path A's (``LiveChannel.append`` per item), writing to a widget's channel
(a ``CustomView`` per measurement, so nothing is replayed). The receiving side plays the
page: a :class:`.CommView` on the kernel WebSocket that pulls with ``sub`` and tallies
``seq`` and ``t`` of each item, as the browser's client decodes them. Like JupyterLab >= 4.4
with a kernel that has subshells (ipykernel >= 7), the view sends its comm messages to a
subshell, so its events (and acknowledgements) reach a running cell.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import orjson

from nbchannel.core import protocol as P
from nbchannel.core.message import Message
from nbchannel.testing import JupyterServer

from .comm_view import CommView
from .kernel_code import COMMON, NBC_COMM_SETUP, NBC_SETUP, busy_cell
from .kernel_ws import KernelSocket
from .tally import Tally, delay_summary, wait_all

__all__ = ["NO_EXTENSION", "NbcCommPath"]

#: jupyter-server options leaving nbchannel's server extension (the hub) out.
NO_EXTENSION = ["--ServerApp.jpserver_extensions=nbchannel=False"]

_names = itertools.count()


class _Receiver:
    """Tallies one channel's stream from the frames a :class:`CommView` receives."""

    def __init__(self, name: str, tally: Tally | None) -> None:
        self.name = name
        self.tally = tally
        self.view: CommView | None = None
        self.subscribed = asyncio.Event()
        self.errors: list[Any] = []
        #: Acknowledge every second item with an ``ack`` event (``_nbc_window``).
        self.ack = False

    def on_messages(self, msgs: list[Message], now: int) -> None:
        tally = self.tally
        loads = orjson.loads
        for m in msgs:
            kind = m.kind
            if kind == P.APPEND and tally is not None:
                v = loads(m.payload)
                if m.segment:  # a run of items: the payload is their array
                    tally.add_items(v, now)
                    continue
                nbytes = sum(b.nbytes for b in m.buffers) if m.buffers else 0
                tally.add(v["seq"], v["t"], now, nbytes)
                if self.ack and v["seq"] % 2 and self.view is not None:
                    self.view.event(self.name, "ack", {"seq": v["seq"]})
            elif kind == P.GAP and tally is not None:
                tally.reported_dropped += int(loads(m.payload).get("count", 0))
            elif kind == P.SUBSCRIBED:
                if not loads(m.payload).get("waiting"):
                    self.subscribed.set()
            elif kind == P.ERROR:
                self.errors.append(m.value())


class NbcCommPath:
    """A kernel on a server without nbchannel's extension; runs each measurement."""

    key = "A-comm"
    label = "nbchannel via the widget's comm"

    def __init__(
        self, server: JupyterServer, kernel_id: str, ctl: KernelSocket, subshell_id: str | None
    ) -> None:
        self.server = server
        self.kernel_id = kernel_id
        self.ctl = ctl
        #: The subshell the views send on (None: the kernel has none; events and acks
        #: then reach the kernel only between cells).
        self.subshell_id = subshell_id

    @classmethod
    async def start(cls, server: JupyterServer) -> NbcCommPath:
        """Start a kernel on ``server`` (which must have no hub), load the sender code."""
        info = await asyncio.to_thread(server.api, "POST", "api/kernels", {"name": "python3"})
        ctl = await KernelSocket.connect(server.url, info["id"], server.token)
        await ctl.execute(COMMON + NBC_SETUP + NBC_COMM_SETUP)
        return cls(server, info["id"], ctl, await ctl.create_subshell())

    async def close(self) -> None:
        """Close the control socket and shut the kernel down."""
        self.ctl.close()
        await asyncio.to_thread(self.server.api, "DELETE", f"api/kernels/{self.kernel_id}")

    async def _open(self, tally: Tally | None) -> tuple[CommView, _Receiver]:
        """A fresh widget's channel in the kernel, and a view subscribed to it."""
        out = await self.ctl.execute(f"_nbc_open_view('bench-comm-{next(_names)}')")
        comm_id, scope, name, transport = out.split()[-4:]
        if transport != "comm":
            raise RuntimeError(f"the widget is served over {transport!r}, not its comm alone")
        rx = _Receiver(name, tally)
        view = CommView(
            self.ctl, comm_id, scope, on_messages=rx.on_messages, subshell_id=self.subshell_id
        )
        rx.view = view
        view.sub(name)
        await asyncio.wait_for(rx.subscribed.wait(), 30)
        return view, rx

    async def _close(self, view: CommView) -> None:
        view.bye()
        view.detach()
        await self.ctl.execute("_nbc_close_view()")

    # -- measurements ----------------------------------------------------------------------

    async def burst(self, n: int) -> dict[str, Any]:
        """Metric 1: ``n`` small messages as fast as the kernel loop appends them."""
        tally = Tally(n)
        view, _ = await self._open(tally)
        await self.ctl.execute(f"_bench_burst(_ch.append, {n})")
        await wait_all([tally])
        await self._close(view)
        return tally.summary()

    async def paced(self, n: int, rate: float) -> dict[str, Any]:
        """Metric 2: ``n`` small messages at ``rate``/s; one-way latency."""
        tally = Tally(n)
        view, _ = await self._open(tally)
        await self.ctl.execute(f"_bench_paced(_ch.append, {n}, {rate})")
        await wait_all([tally])
        await self._close(view)
        return tally.summary()

    async def arrays(self, n: int, nbytes: int) -> dict[str, Any]:
        """Metric 4: ``n`` float64 arrays of ``nbytes``; with a subshell the sender paces
        itself on the view's acknowledgements, as on path A."""
        tally = Tally(n)
        view, rx = await self._open(tally)
        throttle = "None"
        if self.subshell_id is not None:
            rx.ack, throttle = True, "_nbc_window"
        await self.ctl.execute(
            f"_bench_arrays(_nbc_send_array, {n}, {nbytes}, throttle={throttle})"
        )
        await wait_all([tally])
        await self._close(view)
        return tally.summary()

    async def events(self, kind: str, n: int, gap: float, lead: float = 0.5) -> dict[str, Any]:
        """Metric 3: ``n`` events from the view, ``gap`` s apart, while a ``kind`` cell runs."""
        view, rx = await self._open(None)
        await self.ctl.execute("_delays.clear()")
        request = self.ctl.submit(busy_cell(kind, lead + n * gap + lead))
        await asyncio.sleep(lead)
        for _ in range(n):
            view.event(rx.name, "ping", {"sent": time.time()})
            await asyncio.sleep(gap)
        await self.ctl.join(request)
        await asyncio.sleep(0.2)  # without a subshell the handlers run after the cell
        delays = [d * 1000 for d in await self.ctl.eval("_delays")]
        await self._close(view)
        out = delay_summary(delays, n)
        out["subshell"] = self.subshell_id is not None
        return out
