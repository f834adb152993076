"""A close that delivers: what a kernel wrote before ``close()`` (or the end of a ``with``
block) reaches the viewers, then the channel closes — on a real server and kernel."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from nbchannel.testing import JupyterServer, KernelSession, Viewer

from ..conftest import open_channel


@pytest.mark.parametrize(
    ("n", "how"),
    [(1_000, "close"), (20_000, "close"), (1_000, "with")],
    ids=["1000-close", "20000-close", "1000-with"],
)
def test_writes_before_close_reach_a_subscribed_viewer(
    jupyter: JupyterServer, kernel: KernelSession, n: int, how: str
) -> None:
    open_channel(kernel, "closing")

    async def scenario() -> tuple[list[int], bool]:
        viewer = await Viewer.connect(jupyter.ws_url, token=jupyter.token)
        view = await viewer.subscribe(kernel.id, "closing")
        await viewer.wait_for(lambda: view.epoch is not None)
        if how == "close":
            code = f"for i in range({n}):\n    ch.append(i)\nch.close()"
        else:
            code = f"with ch:\n    for i in range({n}):\n        ch.append(i)"
        await asyncio.to_thread(kernel.execute, code)
        await viewer.wait_for(lambda: view.closed, timeout=60)
        await viewer.close()
        return [v for _, v in view.items], bool(view.gaps)

    items, gaps = asyncio.run(scenario())
    assert items == list(range(n)) and not gaps
    stats = kernel.eval("ch.stats")
    assert stats["sent"] == n and stats["dropped"] == 0


def test_what_a_close_could_not_deliver_is_counted_and_reported(
    jupyter: JupyterServer, kernel: KernelSession
) -> None:
    open_channel(kernel, "hasty")
    n = 50_000

    async def scenario() -> tuple[int, int, int]:
        viewer = await Viewer.connect(jupyter.ws_url, token=jupyter.token)
        view = await viewer.subscribe(kernel.id, "hasty")
        await viewer.wait_for(lambda: view.epoch is not None)
        # no time to deliver: the server is stopped while the cell writes ~12 MB and closes at
        # once, so what the sockets' buffers could not take is dropped at the close
        code = f"for i in range({n}):\n    ch.append({{'i': i, 'p': 'x' * 230}})\n"
        code += "ch.close(timeout=0)"
        assert jupyter.pid is not None
        os.kill(jupyter.pid, signal.SIGSTOP)
        try:
            await asyncio.to_thread(kernel.execute, code)
        finally:
            os.kill(jupyter.pid, signal.SIGCONT)
        await viewer.wait_for(lambda: view.closed, timeout=60)
        await viewer.close()
        reported = sum(int(g.get("count", 0)) for g in view.gaps)
        # the close's own gap; the burst after the resume may also overflow the viewer's
        # queue at the hub, which reports those as "dropped"
        closed = sum(int(g.get("count", 0)) for g in view.gaps if g.get("reason") == "closed")
        return len(view.items), reported, closed

    received, reported, closed = asyncio.run(scenario())
    dropped = kernel.eval("ch.stats['dropped']")
    assert received + reported == n, (received, reported)
    assert dropped == closed > 0
