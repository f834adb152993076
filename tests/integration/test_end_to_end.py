"""Kernel → hub → viewer and back, with a real Jupyter server, a real kernel and a WebSocket
client speaking the browser protocol."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from nbchannel.testing import JupyterServer, KernelSession, Viewer

from ..conftest import SUBSCRIBER_QUEUE_BYTES, open_channel


def test_published_json_and_numpy_payloads_arrive_intact(
    jupyter: JupyterServer, kernel: KernelSession
) -> None:
    open_channel(kernel, "data")
    kernel.execute(
        "ch.set('meta', {'title': 'Temperature ✓', 'unit': '°C'})\n"
        "ch.append({'grid': np.arange(12, dtype=np.float32).reshape(3, 4),\n"
        "           'img': np.full((2, 2, 3), 7, np.uint8), 'raw': b'\\x00\\xffok',\n"
        "           'fortran': np.asfortranarray(np.arange(6, dtype=np.int16).reshape(2, 3)),\n"
        "           'n': 3})\n"
    )

    async def scenario() -> None:
        viewer = await Viewer.connect(jupyter.ws_url, token=jupyter.token)
        view = await viewer.subscribe(kernel.id, "data")
        await viewer.wait_for(lambda: len(view.items) == 1)
        assert view.state == {"meta": {"title": "Temperature ✓", "unit": "°C"}}
        offset, item = view.items[0]
        assert offset == 0 and item["n"] == 3 and item["raw"] == b"\x00\xffok"
        np.testing.assert_array_equal(item["grid"], np.arange(12, dtype=np.float32).reshape(3, 4))
        assert item["grid"].dtype == np.float32
        np.testing.assert_array_equal(item["img"], np.full((2, 2, 3), 7, np.uint8))
        np.testing.assert_array_equal(item["fortran"], np.arange(6, dtype=np.int16).reshape(2, 3))
        # a transient message reaches the current viewer only
        kernel.execute("ch.publish({'ping': [1, 2.5, None]})")
        await viewer.wait_for(lambda: len(view.published) == 1)
        assert view.published[0][0] == {"ping": [1, 2.5, None]}
        await viewer.close()

    asyncio.run(scenario())


SPIN = "t0 = time.time()\nwhile time.time() - t0 < {s}:\n    pass\n"
SLEEP = "time.sleep({s})\n"


@pytest.mark.parametrize("cell", [SLEEP, SPIN], ids=["sleeping", "spinning"])
def test_event_runs_handler_while_the_cell_is_busy(
    jupyter: JupyterServer, kernel: KernelSession, cell: str
) -> None:
    open_channel(kernel, "controls")
    kernel.execute(
        "clicks = []\n"
        "@ch.on('click')\n"
        "def on_click(event):\n"
        "    clicks.append((event.value, time.time()))\n"
    )

    async def scenario() -> tuple[float, float, float]:
        viewer = await Viewer.connect(jupyter.ws_url, token=jupyter.token)
        await viewer.subscribe(kernel.id, "controls")
        await viewer.wait_for(lambda: viewer.view(kernel.id, "controls").epoch is not None)
        request = kernel.submit(cell.format(s=5) + "cell_end = time.time()")
        await asyncio.sleep(1.0)  # the cell is running now
        sent = time.time()
        await viewer.event(kernel.id, "controls", "click", {"button": "stop"})
        await asyncio.get_running_loop().run_in_executor(None, kernel.join, request)
        await viewer.close()
        ((value, handled),) = kernel.eval("[[c[0], c[1]] for c in clicks]")
        assert value == {"button": "stop"}
        return sent, handled, kernel.eval("cell_end")

    sent, handled, cell_end = asyncio.run(scenario())
    assert handled - sent < 0.5, f"the handler ran {handled - sent:.3f} s after the click"
    assert cell_end - handled > 3, "the handler ran only after the cell ended"


def test_wait_inside_a_running_cell_returns_the_event(
    jupyter: JupyterServer, kernel: KernelSession
) -> None:
    open_channel(kernel, "gate")

    async def scenario() -> None:
        viewer = await Viewer.connect(jupyter.ws_url, token=jupyter.token)
        await viewer.subscribe(kernel.id, "gate")
        await viewer.wait_for(lambda: viewer.view(kernel.id, "gate").epoch is not None)
        request = kernel.submit(
            "event = ch.wait('go', timeout=30)\nresult = [event.name, event.value, time.time()]"
        )
        await asyncio.sleep(1.0)
        sent = time.time()
        await viewer.event(kernel.id, "gate", "go", {"speed": 3})
        await asyncio.get_running_loop().run_in_executor(None, kernel.join, request)
        await viewer.close()
        name, value, returned = kernel.eval("result")
        assert (name, value) == ("go", {"speed": 3})
        assert returned - sent < 0.5

    asyncio.run(scenario())


def test_late_joiner_gets_the_current_state_and_history(
    jupyter: JupyterServer, kernel: KernelSession
) -> None:
    open_channel(kernel, "sensor")
    kernel.execute(
        "for i in range(5):\n"
        "    ch.set('step', i)\n"
        "    ch.append({'i': i})\n"
        "ch.set('title', 'Temperature')\n"
        "ch.flush()"
    )

    async def scenario() -> None:
        late = await Viewer.connect(jupyter.ws_url, token=jupyter.token)
        view = await late.subscribe(kernel.id, "sensor")
        await late.wait_for(lambda: len(view.items) == 5 and "title" in view.state)
        assert view.state == {"step": 4, "title": "Temperature"}
        assert [i for i, _ in view.items] == [0, 1, 2, 3, 4]
        await late.close()

    asyncio.run(scenario())


def test_resume_from_last_offset_gets_exactly_the_missed_items(
    jupyter: JupyterServer, kernel: KernelSession
) -> None:
    open_channel(kernel, "stream")

    async def scenario() -> None:
        first = await Viewer.connect(jupyter.ws_url, token=jupyter.token)
        view = await first.subscribe(kernel.id, "stream")
        kernel.execute("for i in range(10): ch.append(i)")
        await first.wait_for(lambda: len(view.items) == 10)
        await first.close()  # the page goes away …
        kernel.execute("for i in range(10, 25): ch.append(i)\nch.flush()")
        again = await Viewer.connect(jupyter.ws_url, token=jupyter.token)  # … and comes back
        again.views[(kernel.id, "stream")] = view
        view.items.clear()
        await again.subscribe(kernel.id, "stream", resume=True)
        await again.wait_for(lambda: len(view.items) == 15)
        await asyncio.sleep(0.2)  # nothing more, no duplicates, may arrive
        await again.wait_for(lambda: True)
        assert [v for _, v in view.items] == list(range(10, 25))
        assert [o for o, _ in view.items] == list(range(10, 25))
        assert view.duplicates == []
        assert view.resets == 1 and view.gaps == []  # only the very first subscribe reset
        await again.close()

    asyncio.run(scenario())


def test_resume_from_a_too_old_offset_gets_a_snapshot_and_a_gap(
    jupyter: JupyterServer, kernel: KernelSession
) -> None:
    open_channel(kernel, "short", history=10)

    async def scenario() -> None:
        viewer = await Viewer.connect(jupyter.ws_url, token=jupyter.token)
        view = await viewer.subscribe(kernel.id, "short")
        kernel.execute("for i in range(5): ch.append(i)")
        await viewer.wait_for(lambda: len(view.items) == 5)
        await viewer.close()
        kernel.execute("ch.set('k', 'v')\nfor i in range(5, 55): ch.append(i)\nch.flush()")
        again = await Viewer.connect(jupyter.ws_url, token=jupyter.token)
        again.views[(kernel.id, "short")] = view
        view.items.clear()
        await again.subscribe(kernel.id, "short", resume=True)
        await again.wait_for(lambda: len(view.items) == 10)
        assert view.gaps == [
            {"kind": "append", "count": 40, "end": 45, "reason": "history", "offset": 5}
        ]
        assert [v for _, v in view.items] == list(range(45, 55))
        assert view.state == {"k": "v"}
        await again.close()

    asyncio.run(scenario())


def test_a_stalled_viewer_does_not_slow_or_starve_a_fast_one(
    jupyter: JupyterServer, kernel: KernelSession
) -> None:
    open_channel(kernel, "firehose")
    n, row_bytes = 1000, 8192  # 8 MiB in all, four times the per-viewer queue bound

    async def scenario() -> None:
        stalled = await Viewer.connect(jupyter.ws_url, token=jupyter.token)
        await stalled.subscribe(kernel.id, "firehose")  # … and never reads again
        fast = await Viewer.connect(jupyter.ws_url, token=jupyter.token)
        view = await fast.subscribe(kernel.id, "firehose")
        await fast.wait_for(lambda: view.epoch is not None)
        # Paced (~16 MB/s, in bursts of 160 KB) so that the fast viewer, a Python client in
        # this busy test process, stays faster than the kernel: a viewer slower than its
        # producer is dropped for too.
        request = kernel.submit(
            f"row = np.ones({row_bytes // 8})\n"
            f"for i in range({n}):\n"
            "    ch.append({'i': i, 'row': row})\n"
            "    if i % 20 == 19:\n"
            "        time.sleep(0.01)\n"
            "ch.flush(60)"
        )
        await fast.wait_for(lambda: len(view.items) == n or bool(view.gaps), timeout=60)
        await asyncio.get_running_loop().run_in_executor(None, kernel.join, request)
        assert view.gaps == [], "the fast viewer lost items"
        assert [v["i"] for _, v in view.items] == list(range(n))
        peers = {p["id"]: p for p in jupyter.channels()["peers"] if p["role"] == "subscriber"}
        slowest = max(peers.values(), key=lambda p: p["dropped"])
        assert slowest["dropped"] > 0, "the stalled viewer should have been dropped for"
        assert slowest["peak_queued_bytes"] <= SUBSCRIBER_QUEUE_BYTES + row_bytes + 4096
        await fast.close()
        await stalled.close()

    asyncio.run(scenario())


def test_clear_resets_what_viewers_show(jupyter: JupyterServer, kernel: KernelSession) -> None:
    open_channel(kernel, "cleared")
    kernel.execute("ch.set('k', 1)\nfor i in range(5): ch.append(i)")

    async def scenario() -> None:
        viewer = await Viewer.connect(jupyter.ws_url, token=jupyter.token)
        view = await viewer.subscribe(kernel.id, "cleared")
        await viewer.wait_for(lambda: len(view.items) == 5)
        epoch = view.epoch
        kernel.execute("ch.clear()\nch.append('fresh')\nch.flush()")
        await viewer.wait_for(lambda: [v for _, v in view.items] == ["fresh"])
        assert view.state == {} and view.epoch != epoch and view.resets == 2
        assert kernel.eval("[ch.epoch == ch.stats['epoch'], ch.state]") == [True, {}]
        await viewer.close()

    asyncio.run(scenario())


def test_arrays_changed_right_after_append_arrive_as_sent(
    jupyter: JupyterServer, kernel: KernelSession
) -> None:
    # One array refilled before every append, as a simulation loop does, in bursts that run
    # ahead of the I/O thread. Each append sends a private copy, and the kernel reuses those
    # copies once written out: no item may show another item's values.
    open_channel(kernel, "frames")
    bursts, per_burst, size = 10, 24, 8 * 1024  # 64 KiB float64 frames; 1.5 MiB a burst

    async def scenario() -> None:
        n = bursts * per_burst
        viewer = await Viewer.connect(jupyter.ws_url, token=jupyter.token)
        view = await viewer.subscribe(kernel.id, "frames")
        await viewer.wait_for(lambda: view.epoch is not None)
        request = kernel.submit(
            f"frame = np.empty({size})\n"
            f"for i in range({n}):\n"
            "    frame[:] = i\n"
            "    ch.append({'i': i, 'frame': frame})\n"
            f"    if i % {per_burst} == {per_burst - 1}:\n"
            "        ch.flush(30)\n"
            "        time.sleep(0.05)  # within the viewer's queue bound: nothing is dropped\n"
            "frame[:] = -1\n"
            "ch.flush(30)"
        )
        await viewer.wait_for(lambda: len(view.items) == n or bool(view.gaps), timeout=60)
        await asyncio.get_running_loop().run_in_executor(None, kernel.join, request)
        assert view.gaps == []
        assert [v["i"] for _, v in view.items] == list(range(n))
        for _, v in view.items:
            assert v["frame"].shape == (size,)
            assert (v["frame"] == v["i"]).all(), f"item {v['i']} changed after it was sent"
        reused = kernel.eval("__import__('nbchannel.kernel.pool').kernel.pool.send_pool.reused")
        assert reused > n // 2, "the kernel should reuse the copies it sent"
        await viewer.close()

    asyncio.run(scenario())
