"""The comm transport on a real Jupyter server without the nbchannel extension.

A Python client speaking Jupyter's kernel WebSocket protocol (``v1.kernel.websocket.
jupyter.org``, as JupyterLab does) plays the front end: it opens nothing of nbchannel's
own, only the kernel's socket; it talks to the widget's view over the widget's comm with
custom messages carrying v1 frames, as ``js/src/transports/comm.js`` must
(``benchmarks.comm_view.CommView``).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from benchmarks.comm_view import CommView
from benchmarks.kernel_ws import KernelSocket
from nbchannel.core import protocol as P
from nbchannel.testing import JupyterServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

RATE_EXCEEDED = "rate exceeded"


async def until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def open_widget(server: JupyterServer, code: str) -> tuple[KernelSocket, CommView, str]:
    """A kernel, its socket, and a view of the widget ``w`` that ``code`` makes."""
    kid = server.api("POST", "api/kernels", {"name": "python3"})["id"]
    sock = await KernelSocket.connect(server.url, kid, server.token, timeout=60)
    out = await sock.execute(
        "import os\n"
        "assert not any(k.startswith('NBCHANNEL_') for k in os.environ)\n"
        f"{code}\n"
        "print(w.comm.comm_id, w.channel.address[0], w.channel.name, w._transport)"
    )
    comm_id, scope, name, transport = out.split()
    assert transport == "comm"
    return sock, CommView(sock, comm_id, scope), name


def test_a_burst_of_20000_appends_reaches_the_view_complete_under_default_iopub_limits(
    bare_jupyter: JupyterServer,
) -> None:
    async def scenario() -> None:
        sock, view, name = await open_widget(
            bare_jupyter, "from nbchannel.widgets import LiveLog\nw = LiveLog()"
        )
        try:
            view.sub(name)
            await until(lambda: P.SUBSCRIBED in view.kinds(name), 30, "subscribed")
            started = time.monotonic()
            out = await sock.execute(
                "ch = w.channel\n"
                "pad = 'x' * 80\n"
                "for i in range(20_000):\n"
                "    ch.append({'i': i, 'pad': pad})\n"
                "print('flushed', ch.flush(timeout=60), ch.stats['dropped'], ch.status)\n"
                "print('via', ch.via)\n",
                timeout=120,
            )
            assert "flushed True 0 connected" in out, out
            assert "via 1 via the kernel (comm)" in out, out
            await until(lambda: len(view.items(name)) >= 20_000, 60, "20,000 items")
            elapsed = time.monotonic() - started
            items = view.items(name)
            assert [v["i"] for v in items] == list(range(20_000))  # none lost, in order
            assert P.GAP not in view.kinds(name)
            rate = view.comm_messages / elapsed
            print(
                f"20,000 appends in {view.comm_messages} comm messages, {elapsed:.2f} s "
                f"({rate:.0f} comm messages/s)"
            )
            assert view.comm_messages < 200  # batched: ~100 items or more per comm message
            # the server drops IOPub messages silently over its limit and says so on stderr
            stats = await sock.eval("w.channel.stats['transport']")
            assert stats["transport"] == "kernel (comm)"
            assert stats["dropped"] == 0
        finally:
            sock.close()
        everything = "".join(view.streams)
        assert RATE_EXCEEDED not in everything
        assert RATE_EXCEEDED not in bare_jupyter.log()

    asyncio.run(scenario())


def test_events_come_back_between_cells_and_a_waiting_cell_is_told_at_once(
    bare_jupyter: JupyterServer,
) -> None:
    async def scenario() -> None:
        sock, view, name = await open_widget(
            bare_jupyter,
            "from nbchannel.widgets import Button\n"
            "w = Button('Stop')\n"
            "clicks = []\n"
            "w.on_click(lambda e: clicks.append(e.value))",
        )
        try:
            view.sub(name)
            await until(lambda: P.SUBSCRIBED in view.kinds(name), 30, "subscribed")
            state = {m.key: m.value() for m in view.messages if m.kind == P.SET}
            assert state["label"] == "Stop"
            view.event(name, "click", {"n": 1})
            for _ in range(100):
                if await sock.eval("len(clicks)") == 1:
                    break
                await asyncio.sleep(0.05)
            assert await sock.eval("[w.clicks, clicks]") == [1, [{"n": 1}]]
            # No subshells here: a cell waiting for a click is told at once, not at 30 s.
            out = await sock.execute(
                "import time\n"
                "from nbchannel.errors import EventsNotLive\n"
                "t = time.monotonic()\n"
                "try:\n"
                "    w.wait_click(timeout=30)\n"
                "except EventsNotLive as exc:\n"
                "    print('raised after', round(time.monotonic() - t), 's:', exc)\n"
            )
            assert "raised after 2 s" in out or "raised after 1 s" in out, out
            assert "only after the running cell finishes" in out
        finally:
            sock.close()

    asyncio.run(scenario())


def test_with_comms_over_a_subshell_a_click_reaches_a_running_loop(
    bare_jupyter: JupyterServer,
) -> None:
    """What JupyterLab >= 4.4 does with ipykernel >= 7 (``commsOverSubshells``)."""

    async def scenario() -> None:
        sock, view, name = await open_widget(
            bare_jupyter, "from nbchannel.widgets import Button\nw = Button('Stop')"
        )
        try:
            view.subshell_id = await sock.create_subshell()
            assert view.subshell_id is not None  # ipykernel >= 7 has subshells
            view.sub(name)  # over the subshell, as the front end sends comms
            await until(lambda: P.SUBSCRIBED in view.kinds(name), 30, "subscribed")
            loop_cell = sock.submit(
                "import time\n"
                "t = time.monotonic()\n"
                "while not w.clicked and time.monotonic() - t < 20:\n"
                "    time.sleep(0.01)\n"
                "print('clicked mid-cell' if w.clicked else 'not clicked',"
                " round(time.monotonic() - t, 1), w.channel.events_live)\n"
            )
            await asyncio.sleep(1.0)
            view.event(name, "click", {})
            out = await sock.join(loop_cell, timeout=60)
            assert out.startswith("clicked mid-cell"), out
            assert out.split()[-1] == "True"
            assert float(out.split()[-2]) < 10
        finally:
            sock.close()

    asyncio.run(scenario())
