"""A page floods a kernel whose event handler is slow: the kernel's other channels keep
flowing, its memory stays bounded, and the page is told what was dropped."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from nbchannel.core import protocol as P
from nbchannel.core.message import Message, stream_values
from nbchannel.testing import JupyterServer, KernelSession, Viewer

QUEUE = 300  # events waiting for the handler (a small bound, so the test drains it quickly)
FLOOD = 20_000
STREAM = 2_000
PAD = "x" * 1000  # ~1 KB events: 20 MB in all, enough to show where they pile up

SETUP = f"""
import time
from nbchannel import LiveChannel
from nbchannel.kernel.client import HubClient
from nbchannel.kernel.transport import set_default_transport
client = HubClient.from_environment(event_queue={QUEUE})
set_default_transport(client)
pad = LiveChannel("pad")
feed = LiveChannel("feed")
handled = []

@pad.on("press")
def slow(event):
    time.sleep(0.01)
    handled.append(event.value["i"])

assert pad.wait_connected(10) and feed.wait_connected(10)
"""

STREAM_CELL = f"""
for i in range({STREAM}):
    feed.append({{"i": i, "t": time.time()}})
    time.sleep(0.001)
assert feed.flush(30)
"""


def test_a_flood_at_a_slow_handler_leaves_other_channels_flowing_and_is_reported(
    jupyter: JupyterServer, kernel: KernelSession
) -> None:
    kernel.execute(SETUP)

    async def scenario() -> tuple[list[tuple[int, float, float]], list[dict[str, Any]]]:
        flooder = await Viewer.connect(jupyter.ws_url, token=jupyter.token)
        watcher = await Viewer.connect(jupyter.ws_url, token=jupyter.token)
        await flooder.subscribe(kernel.id, "pad")
        feed = await watcher.subscribe(kernel.id, "feed")
        await flooder.wait_for(lambda: flooder.view(kernel.id, "pad").epoch is not None)
        await watcher.wait_for(lambda: feed.epoch is not None)

        received: list[tuple[int, float, float]] = []  # (i, sent, received)

        async def watch() -> None:
            deadline = time.monotonic() + 60
            while len(received) < STREAM and time.monotonic() < deadline:
                msgs = await watcher.receive(deadline - time.monotonic())
                assert msgs is not None, "the server closed the WebSocket"
                now = time.time()
                received.extend(
                    (v["i"], v["t"], now)
                    for v in stream_values(
                        m for m in msgs if m.kind == P.APPEND and m.channel == "feed"
                    )
                )

        watching = asyncio.create_task(watch())
        request = kernel.submit(STREAM_CELL)
        await asyncio.sleep(0.3)  # the stream is flowing
        for start in range(0, FLOOD, 500):
            await flooder.send(
                *(
                    Message.create(
                        P.EVENT, "pad", {"i": i, "pad": PAD}, scope=kernel.id, key="press"
                    )
                    for i in range(start, start + 500)
                )
            )
        flooded = time.monotonic()

        def told() -> list[dict[str, Any]]:
            return [e for e in flooder.errors if e["channel"] == "pad"]

        await flooder.wait_for(lambda: bool(told()), timeout=30)  # told while it floods
        await watching
        run = asyncio.get_running_loop().run_in_executor
        await run(None, kernel.join, request)

        # The kernel read the whole flood at once (a handler in its way would have taken
        # 200 s) and nothing of it is left waiting in the hub.
        while await run(None, kernel.eval, "pad.stats['events']") < FLOOD:
            assert time.monotonic() - flooded < 30, "the kernel did not read every event"
            await asyncio.sleep(0.1)
        took = time.monotonic() - flooded
        assert took < 15, f"the kernel took {took:.1f} s to read 20,000 events"
        [conn] = [p for p in jupyter.channels()["peers"] if kernel.id in p["name"]]
        assert conn["queued_bytes"] == 0, conn

        # The notices, at most one per half second, add up to every dropped event.
        dropped = await run(None, kernel.eval, "pad.stats['events_dropped']")
        await flooder.wait_for(lambda: sum(map(_count, told())) >= dropped, timeout=5)
        assert sum(map(_count, told())) == dropped
        assert len(told()) <= 2 + 2 * took
        await flooder.close()
        await watcher.close()
        return received, told()

    received, errors = asyncio.run(scenario())

    # The other channel arrived whole, in order, and without waiting for the handler.
    assert [i for i, _, _ in received] == list(range(STREAM))
    lag = max(got - sent for _, sent, got in received)
    assert lag < 1.0, f"an item of the other channel took {lag:.2f} s to arrive"

    # The page was told, with a clear reason and the count.
    assert all(e["code"] == "limit-exceeded" and e["about"] == "event" for e in errors)
    message = errors[-1]["message"]
    assert message.startswith("the kernel is not keeping up with events on channel 'pad': ")
    assert "events dropped (its handler is slower than events arrive" in message

    # Those beyond the queue were dropped and counted; the handler ran for each of the
    # others, in order.
    deadline = time.monotonic() + 60
    while True:
        stats = kernel.eval("pad.stats")
        accepted = stats["events"] - stats["events_dropped"]
        if kernel.eval("len(handled)") >= accepted or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert stats["events"] == FLOOD
    assert 0 < stats["events_dropped"] < FLOOD
    handled = kernel.eval("handled")
    assert len(handled) == accepted
    assert handled == sorted(handled) and len(set(handled)) == len(handled)
    assert handled[0] == 0
    assert kernel.eval("feed.stats['dropped']") == 0

    # Memory stayed bounded: at most QUEUE events waited in the kernel for the handler.
    assert 0 < kernel.eval("client.event_queue.peak") <= QUEUE


def _count(error: dict[str, Any]) -> int:
    """The number of dropped events a notice reports."""
    return int(error["message"].split(": ", 1)[1].split()[0])
