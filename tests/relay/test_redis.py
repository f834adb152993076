"""Two relays on one Redis (Debian's redis-server on a Unix socket, never mocked)."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator

import pytest

from nbchannel.testing.relay import RedisServer, RelayProcess
from nbchannel.testing.viewer import Viewer

from .conftest import TOKENS, hub_channel, run_async, wait_until


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    d = tempfile.mkdtemp(prefix="nbc-r-")
    try:
        with RedisServer(d) as r:
            yield r
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def two_relays(redis: RedisServer) -> Iterator[tuple[RelayProcess, RelayProcess]]:
    with (
        RelayProcess(tokens=TOKENS, redis=redis.url, relay_id="a") as a,
        RelayProcess(tokens=TOKENS, redis=redis.url, relay_id="b") as b,
    ):
        yield a, b


@run_async
async def test_fan_out_across_relays(two_relays, owner_client) -> None:
    a, b = two_relays
    ch = hub_channel("quiz", owner_client(a.url))
    got = []
    ch.on("answer", got.append)
    ch.set("question", "first")
    for i in range(50):
        ch.append(i)
    assert ch.flush(10)
    va = await Viewer.connect(a.ws_url, token="t-student")
    vb = await Viewer.connect(b.ws_url, token="t-guest")
    view_a = await va.subscribe("hub", "quiz")
    view_b = await vb.subscribe("hub", "quiz")
    for v, view in ((va, view_a), (vb, view_b)):
        await v.wait_for(lambda view=view: len(view.items) == 50 and "question" in view.state)
    for i in range(50, 200):
        ch.append(i)
    ch.set("question", "second")
    for v, view in ((va, view_a), (vb, view_b)):
        await v.wait_for(lambda view=view: len(view.items) == 200)
        await v.wait_for(lambda view=view: view.state.get("question") == "second")
        assert [o for o, _ in view.items] == list(range(200))
        assert [x for _, x in view.items] == list(range(200))
        assert view.epoch == view_a.epoch and not view.gaps and not view.duplicates
    # presence adds up over both relays, with the users
    wait_until(lambda: ch.viewers == 2 and ch.viewer_users == ["guest", "student"])
    # an event from a viewer on the other relay reaches the kernel, with its sender
    student_b = await Viewer.connect(b.ws_url, token="t-student")
    await student_b.subscribe("hub", "quiz")
    await student_b.event("hub", "quiz", "answer", 42)
    wait_until(lambda: len(got) == 1)
    assert got[0].user == "student" and got[0].value == 42
    for v in (va, vb, student_b):
        await v.close()


@run_async
async def test_viewers_move_to_the_other_relay_when_one_dies(two_relays, owner_client) -> None:
    a, b = two_relays
    ch = hub_channel("feed", owner_client(a.url))
    ch.append(0)
    assert ch.flush(10)
    vb = await Viewer.connect(b.ws_url, token="t-student")
    view = await vb.subscribe("hub", "feed")
    await vb.wait_for(lambda: len(view.items) == 1)
    stop = asyncio.Event()

    async def write() -> None:
        i = 1
        while not stop.is_set():
            ch.append(i)
            i += 1
            await asyncio.sleep(0.002)

    writer = asyncio.create_task(write())
    await vb.wait_for(lambda: len(view.items) > 100)
    b.kill()
    with pytest.raises((ConnectionError, TimeoutError)):
        await vb.wait_for(lambda: False, timeout=5)
    # the same view resumes on the other relay from its epoch and next offset
    moved = Viewer(await _connect(a.ws_url))
    moved.views = vb.views
    await moved.subscribe("hub", "feed", resume=True)
    seen = len(view.items)
    await moved.wait_for(lambda: len(view.items) > seen + 100)
    stop.set()
    await writer
    assert ch.flush(10)
    total = ch.stats["sent"]
    await moved.wait_for(lambda: len(view.items) == total)
    assert [o for o, _ in view.items] == list(range(total))
    assert not view.duplicates and not view.gaps and view.resets == 1
    await moved.close()


async def _connect(url: str):  # type: ignore[no-untyped-def]
    return (await Viewer.connect(url, token="t-student")).conn


@run_async
async def test_redis_flushed_new_epoch_viewers_reset(
    redis: RedisServer, two_relays, owner_client
) -> None:
    a, b = two_relays
    ch = hub_channel("quiz", owner_client(a.url))
    ch.set("question", "kept by the kernel")
    for i in range(10):
        ch.append(i)
    assert ch.flush(10)
    vb = await Viewer.connect(b.ws_url, token="t-student")
    view = await vb.subscribe("hub", "quiz")
    await vb.wait_for(lambda: len(view.items) == 10)
    epoch = view.epoch
    import redis.asyncio as aioredis

    r = aioredis.from_url(redis.url)
    await r.flushall()
    await r.aclose()
    # the relays notice, the kernel reconnects and starts a new epoch with its state
    await vb.wait_for(lambda: view.epoch not in (None, epoch), timeout=15)
    await vb.wait_for(lambda: view.state.get("question") == "kept by the kernel")
    assert view.resets == 2 and view.items == []
    ch.append("after")
    await vb.wait_for(lambda: len(view.items) == 1)
    assert view.items[0][1] == "after"
    await vb.close()
