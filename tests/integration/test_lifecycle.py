"""Kernel restart and shutdown, and a Jupyter server restarted under a running kernel."""

from __future__ import annotations

import asyncio
import os

from jupyter_client.manager import KernelManager

from nbchannel.testing import JupyterServer, KernelSession, Viewer

from ..conftest import open_channel, start_surviving_kernel


def test_kernel_restart_closes_channels_and_reopening_gives_a_new_epoch(
    jupyter: JupyterServer, kernel: KernelSession
) -> None:
    open_channel(kernel, "life")
    kernel.execute("ch.set('phase', 'before')")

    async def scenario() -> None:
        viewer = await Viewer.connect(jupyter.ws_url, token=jupyter.token)
        view = await viewer.subscribe(kernel.id, "life")
        await viewer.wait_for(lambda: view.state.get("phase") == "before")
        first_epoch = view.epoch
        await asyncio.get_running_loop().run_in_executor(
            None, jupyter.api, "POST", f"api/kernels/{kernel.id}/restart"
        )
        await viewer.wait_for(lambda: view.closed, timeout=20)
        assert view.state == {"phase": "before"}  # the viewer keeps what it showed
        kernel.client.wait_for_ready(timeout=60)
        open_channel(kernel, "life")
        kernel.execute("ch.set('phase', 'after')")
        await viewer.wait_for(lambda: view.state.get("phase") == "after", timeout=20)
        assert not view.closed and view.epoch not in (None, first_epoch)
        assert view.state == {"phase": "after"}  # reset: nothing of the old run is left
        await viewer.close()

    asyncio.run(scenario())


def test_kernel_shutdown_closes_its_channels(jupyter: JupyterServer) -> None:
    kernel = jupyter.start_kernel()
    open_channel(kernel, "ephemeral")

    async def scenario() -> None:
        viewer = await Viewer.connect(jupyter.ws_url, token=jupyter.token)
        view = await viewer.subscribe(kernel.id, "ephemeral")
        await viewer.wait_for(lambda: view.epoch is not None)
        await asyncio.get_running_loop().run_in_executor(None, kernel.shutdown)
        await viewer.wait_for(lambda: view.closed, timeout=20)
        await viewer.close()

    asyncio.run(scenario())
    chans = [c for c in jupyter.channels()["channels"] if c["scope"] == kernel.id]
    assert all(not c["open"] for c in chans)


def test_server_restart_under_a_running_kernel(tmp_path: object) -> None:
    """The kernel outlives its Jupyter server, reconnects to the new one and restores state."""
    first = JupyterServer().start()
    second: JupyterServer | None = None
    km: KernelManager | None = None
    try:
        km, kernel = start_surviving_kernel(first, "survivor")
        open_channel(kernel, "durable")
        # confirmed by the first server (unconfirmed writes are re-sent to the next one)
        kernel.execute("ch.set('title', 'kept'); ch.append('before'); assert ch.flush(10)")

        first.stop(kill=True)  # the server dies without a goodbye
        assert kernel.eval("ch.status") in ("reconnecting", "connecting")
        second = JupyterServer(port=first.port, home=str(first.home)).start()
        assert kernel.eval("ch.wait_connected(20)") is True
        assert kernel.eval("ch.stats['transport']['reconnects']") >= 1
        kernel.execute("ch.append('after')\nch.flush()")

        async def scenario() -> None:
            assert second is not None
            viewer = await Viewer.connect(second.ws_url, token=second.token)
            view = await viewer.subscribe("survivor", "durable")
            await viewer.wait_for(lambda: [v for _, v in view.items] == ["after"])
            assert view.state == {"title": "kept"}  # state is restored by the kernel
            await viewer.close()

        asyncio.run(scenario())
        kernel.client.stop_channels()
    finally:
        if km is not None and km.has_kernel:
            km.shutdown_kernel(now=True)
        if second is not None:
            second.stop()
        first.stop()
        first.cleanup()
    assert not os.path.exists(first.home)
