"""Flow control on a real server and kernel: ``flow="block"`` loses nothing to a viewer
slower than the kernel, ``flow="latest"`` gives a viewer that was away the newest item."""

from __future__ import annotations

import asyncio
import time

from nbchannel.testing import JupyterServer, KernelSession, Viewer

from ..conftest import open_channel


def test_block_a_tight_loop_of_1mib_arrays_reaches_a_slower_viewer_whole(
    jupyter: JupyterServer, kernel: KernelSession
) -> None:
    n = 200
    open_channel(kernel, "bulk", flow="block", window=8)

    async def scenario() -> tuple[list[int], list[dict[str, object]], float]:
        viewer = await Viewer.connect(jupyter.ws_url, token=jupyter.token)
        view = await viewer.subscribe(kernel.id, "bulk")
        await viewer.wait_for(lambda: view.epoch is not None)
        code = (
            "a = np.zeros(1 << 20, dtype=np.uint8)\n"
            f"for i in range({n}):\n    a[:8] = i\n    ch.append(a)\n"
            "assert ch.flush(30)"
        )
        started = time.monotonic()
        run = asyncio.create_task(asyncio.to_thread(kernel.execute, code))
        while len(view.items) < n:
            await viewer.receive(timeout=30)
            await asyncio.sleep(0.002)  # a viewer slower than the kernel
            await viewer.consumed(kernel.id, "bulk")
        await run
        seconds = time.monotonic() - started
        await viewer.close()
        return [int(v[0]) for _, v in view.items], view.gaps, seconds

    firsts, gaps, seconds = asyncio.run(scenario())
    assert not gaps, gaps
    assert firsts == list(range(n))
    assert kernel.eval("ch.stats['dropped']") == 0
    print(f"block: {n} × 1 MiB to a slower viewer in {seconds:.2f} s, 0 lost")


def test_latest_a_viewer_that_was_not_reading_gets_the_newest_frame(
    jupyter: JupyterServer, kernel: KernelSession
) -> None:
    open_channel(kernel, "frames", flow="latest")

    async def scenario() -> list[int]:
        viewer = await Viewer.connect(jupyter.ws_url, token=jupyter.token)
        view = await viewer.subscribe(kernel.id, "frames")
        await viewer.wait_for(lambda: view.epoch is not None)
        # the viewer does not read while 300 frames of 64 KiB are written
        code = (
            "a = np.zeros(1 << 15, dtype=np.uint16)\n"
            "for i in range(300):\n    a[:8] = i\n    ch.append(a)\n"
            "assert ch.flush(30)"
        )
        await asyncio.to_thread(kernel.execute, code)
        await viewer.wait_for(lambda: bool(view.items) and int(view.items[-1][1][0]) == 299)
        await viewer.close()
        return [int(v[0]) for _, v in view.items]

    firsts = asyncio.run(scenario())
    assert firsts[-1] == 299
    # what sat in the socket buffers when the viewer came back, then the newest: no backlog
    assert len(firsts) < 300 and firsts == sorted(firsts)
