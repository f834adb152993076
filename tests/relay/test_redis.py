"""Two relays on one Redis (Debian's redis-server on a Unix socket, never mocked)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nbchannel.core import protocol as P
from nbchannel.errors import LimitExceeded
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


@contextlib.contextmanager
def relays(
    redis: RedisServer, extra: list[str] | None = None
) -> Iterator[tuple[RelayProcess, RelayProcess]]:
    """Relays "a" and "b" on ``redis``, started with the options ``extra``."""
    with (
        RelayProcess(tokens=TOKENS, redis=redis.url, relay_id="a", extra=extra) as a,
        RelayProcess(tokens=TOKENS, redis=redis.url, relay_id="b", extra=extra) as b,
    ):
        yield a, b


@pytest.fixture
def two_relays(redis: RedisServer) -> Iterator[tuple[RelayProcess, RelayProcess]]:
    with relays(redis) as pair:
        yield pair


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


@run_async
async def test_a_viewer_from_a_relay_further_ahead_gets_nothing_twice(
    two_relays, owner_client
) -> None:
    """A viewer that moves to a relay which has not yet applied what the viewer saw on the
    other one is subscribed once that relay catches up: no item twice, none lost."""
    a, b = two_relays
    ch = hub_channel("feed", owner_client(a.url))
    for i in range(100):
        ch.append(i)
    assert ch.flush(10)
    watcher = await Viewer.connect(b.ws_url, token="t-guest")  # b replicates the channel
    watched = await watcher.subscribe("hub", "feed")
    await watcher.wait_for(lambda: len(watched.items) == 100)
    mover = Viewer(await _connect(b.ws_url))  # its connection to b is up before b stalls
    assert b.proc is not None
    b.proc.send_signal(signal.SIGSTOP)
    try:
        for i in range(100, 200):
            ch.append(i)
        assert ch.flush(10)
        on_a = Viewer(await _connect(a.ws_url))
        view = await on_a.subscribe("hub", "feed")
        await on_a.wait_for(lambda: len(view.items) == 200)
        await on_a.close()
        # resume at offset 200 on b, which has applied only up to 99: the subscribe
        # waits in b's socket with the writes b has not applied yet
        mover.views = on_a.views
        await mover.subscribe("hub", "feed", resume=True)
        await asyncio.sleep(0.2)
    finally:
        b.proc.send_signal(signal.SIGCONT)
    for i in range(200, 250):
        ch.append(i)
    assert ch.flush(10)
    await mover.wait_for(lambda: len(view.items) == 250)
    assert [o for o, _ in view.items] == list(range(250))
    assert not view.duplicates and not view.gaps
    await watcher.wait_for(lambda: len(watched.items) == 250)
    for v in (watcher, mover):
        await v.close()


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


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@run_async
async def test_redis_restarted_new_epoch_viewers_reset(
    redis: RedisServer, two_relays, owner_client
) -> None:
    """The redis-server process stopped and started again (unlike FLUSHALL, every relay's
    connections break too): both relays notice, the kernel re-opens with a new epoch and
    its state, viewers on both relays are reset once, and what the kernel writes next,
    even at once, reaches them all."""
    a, b = two_relays
    client = owner_client(a.url)
    ch = hub_channel("quiz", client)
    ch.set("question", "kept by the kernel")
    for i in range(10):
        ch.append(i)
    assert ch.flush(10)
    va = await Viewer.connect(a.ws_url, token="t-student")
    vb = await Viewer.connect(b.ws_url, token="t-guest")
    views = [(va, await va.subscribe("hub", "quiz")), (vb, await vb.subscribe("hub", "quiz"))]
    for v, view in views:
        await v.wait_for(lambda view=view: len(view.items) == 10 and "question" in view.state)
    epoch = ch.epoch
    assert epoch is not None and all(view.epoch == epoch for _, view in views)
    path = redis.path
    started = time.monotonic()
    redis.restart()  # the real process stopped and started again: every key is gone
    assert redis.path == path and redis.proc is not None  # the relays' URL still holds
    ch.append("right after the restart")  # before any relay has noticed
    # both relays notice and say so
    detected = {}
    for r in (a, b):
        wait_until(lambda r=r: "redis lost its data" in r.log(), timeout=15)
        detected[r.relay_id] = time.monotonic() - started
    # the kernel reconnects and re-opens with a new epoch and its state
    for v, view in views:
        await v.wait_for(lambda view=view: view.epoch not in (None, epoch), timeout=15)
        await v.wait_for(lambda view=view: view.state.get("question") == "kept by the kernel")
    recovered = time.monotonic() - started
    assert ch.flush(10)
    assert ch.epoch not in (None, epoch) and client.reconnects >= 1
    for i in range(5):
        ch.append(f"after {i}")
    expected = [(0, "right after the restart")] + [(i + 1, f"after {i}") for i in range(5)]
    for v, view in views:
        await v.wait_for(lambda view=view: len(view.items) == len(expected))
        assert view.epoch == ch.epoch and view.items == expected
        assert view.resets == 2 and not view.duplicates and not view.gaps
        assert view.state == {"question": "kept by the kernel"}
    assert ch.stats["dropped"] == 0
    # both relays stayed up, without a traceback, and are idle again (no reconnect loop)
    cpu = {r.relay_id: _cpu_seconds(r.proc.pid) for r in (a, b) if r.proc is not None}
    await asyncio.sleep(2)
    for r in (a, b):
        assert r.proc is not None and r.proc.poll() is None
        assert "Traceback" not in r.log() and "ERROR" not in r.log(), r.log()
        busy = _cpu_seconds(r.proc.pid) - cpu[r.relay_id]
        assert busy < 0.5, f"relay {r.relay_id} used {busy:.2f} s of CPU in 2 s idle"
    print(f"noticed: {detected}; viewers reset after {recovered:.2f} s")
    for v, _ in views:
        await v.close()


@run_async
async def test_presence_expires_when_a_relay_dies(redis: RedisServer, owner_client) -> None:
    """A relay killed with its viewers leaves its count in Redis: the owner stops counting
    them once it is older than ``--presence-ttl``, though nothing else changes."""
    ttl = 2.0
    extra = ["--presence-ttl", str(ttl)]
    with relays(redis, extra) as (a, b):
        ch = hub_channel("room", owner_client(a.url))
        ch.set("topic", "presence")
        assert ch.flush(10)
        viewers = [
            await Viewer.connect(a.ws_url, token="t-student"),
            await Viewer.connect(b.ws_url, token="t-guest"),
            await Viewer.connect(b.ws_url, token="t-teacher"),
        ]
        for v in viewers:
            view = await v.subscribe("hub", "room")
            await v.wait_for(lambda view=view: view.state.get("topic") == "presence")
        wait_until(lambda: ch.viewers == 3 and ch.viewer_users == ["guest", "student", "teacher"])
        b.kill()
        killed = time.monotonic()
        # relay a refreshes its own count and the owner's every ttl/3 (and checks Redis every
        # 0.5 s): b's count goes once it is older than the ttl, at most ttl + ~1 s after
        wait_until(lambda: ch.viewers == 1 and ch.viewer_users == ["student"], timeout=ttl + 8)
        expired = time.monotonic() - killed
        assert expired < ttl + 4, f"took {expired:.2f} s"
        # and stays so: the refreshes keep relay a's own viewer
        time.sleep(ttl)
        assert ch.viewers == 1 and ch.viewer_users == ["student"]
        # a viewer of the dead relay that comes back through relay a counts again
        moved = await Viewer.connect(a.ws_url, token="t-guest")
        await moved.subscribe("hub", "room")
        wait_until(lambda: ch.viewers == 2 and ch.viewer_users == ["guest", "student"])
        print(f"relay b's viewers no longer counted {expired:.2f} s after it was killed")
        for v in (*viewers, moved):
            await v.close()


@run_async
async def test_a_busy_channel_goes_in_batches_every_viewer_gets_every_item_in_order(
    redis: RedisServer, owner_client
) -> None:
    # "busy" from 3 viewers on: the owner's writes wait 30 ms to join a batch, and each
    # batch reaches a viewer that keeps up as one frame
    busy = ["--busy-viewers", "3", "--batch-ms", "30"]
    with relays(redis, busy) as (a, b):
        ch = hub_channel("lecture", owner_client(a.url))
        ch.set("title", "waves")
        assert ch.flush(10)
        viewers = [await Viewer.connect(r.ws_url, token="t-student") for r in (a, b, b)]
        views = [await v.subscribe("hub", "lecture") for v in viewers]
        for v, view in zip(viewers, views, strict=True):
            await v.wait_for(lambda view=view: view.state.get("title") == "waves")
        wait_until(lambda: ch.viewers == 3)
        frames_before = [v.frames for v in viewers]
        for i in range(600):  # 600 items over ~0.6 s: about 20 batches
            ch.append({"i": i})
            if i % 10 == 9:
                await asyncio.sleep(0.01)
        ch.set("title", "sound")
        assert ch.flush(10)
        for v, view in zip(viewers, views, strict=True):
            await v.wait_for(lambda view=view: view.state.get("title") == "sound", timeout=15)
            assert [o for o, _ in view.items] == list(range(600))
            assert [x["i"] for _, x in view.items] == list(range(600))
            assert not view.duplicates and not view.gaps
        # batched: far fewer frames than items reached each viewer
        for v, before in zip(viewers, frames_before, strict=True):
            assert v.frames - before < 60, v.frames - before  # (about 110 one by one)
        for v in viewers:
            await v.close()


@run_async
async def test_a_relay_that_fell_behind_sends_what_queued_as_one_frame_per_viewer(
    redis: RedisServer, owner_client
) -> None:
    """Batches that queued while a relay could not keep up reach its viewers together,
    not one frame per batch (which would keep it behind)."""
    with relays(redis, ["--busy-viewers", "1", "--batch-ms", "0"]) as (a, b):
        ch = hub_channel("lecture", owner_client(a.url))
        ch.append(-1)
        assert ch.flush(10)
        viewer = await Viewer.connect(b.ws_url, token="t-student")
        view = await viewer.subscribe("hub", "lecture")
        await viewer.wait_for(lambda: len(view.items) == 1)
        before = viewer.frames
        assert b.proc is not None
        b.proc.send_signal(signal.SIGSTOP)  # b stalls; the owner's batches queue for it
        try:
            for batch in range(20):
                for i in range(10):
                    ch.append(10 * batch + i)
                assert ch.flush(10)  # stored in Redis (through relay a): one batch each
        finally:
            b.proc.send_signal(signal.SIGCONT)
        await viewer.wait_for(lambda: len(view.items) == 201)
        assert [x for _, x in view.items] == list(range(-1, 200))
        assert not view.duplicates and not view.gaps
        assert viewer.frames - before <= 5, viewer.frames - before  # (20 one per batch)
        await viewer.close()


@run_async
async def test_state_over_the_limit_is_refused_to_the_owner_and_nothing_else_is_lost(
    redis: RedisServer, owner_client
) -> None:
    small = ["--state-bytes", "2000"]
    with relays(redis, small) as (a, b):
        ch = hub_channel("board", owner_client(a.url))
        ch.set("title", "kept")
        assert ch.flush(10)
        viewers = [await Viewer.connect(r.ws_url, token="t-student") for r in (a, b)]
        views = [await v.subscribe("hub", "board") for v in viewers]
        # the kernel learnt the relay's limit when it connected: refused at the call
        with pytest.raises(LimitExceeded, match="would make its retained state"):
            ch.set("poster", "x" * 5000)
        # a kernel that sends it anyway is refused by the relay, before Redis and replicas
        ch._send(ch._message(P.SET, "x" * 5000, key="poster"))
        for i in range(20):
            ch.append(i)
        ch.set("title", "still live")
        assert ch.flush(10)
        wait_until(lambda: "state would grow to" in ch.last_error)
        assert "--state-bytes" in ch.last_error
        for v, view in zip(viewers, views, strict=True):
            await v.wait_for(lambda view=view: view.state.get("title") == "still live")
            assert "poster" not in view.state
            assert [x for _, x in view.items] == list(range(20))
        for r in (a, b):
            assert "not applied" not in r.log() and "Traceback" not in r.log()
        for v in viewers:
            await v.close()


@run_async
async def test_a_redis_outage_is_logged_once_and_a_subscribe_made_during_it_is_answered(
    two_relays: tuple[RelayProcess, RelayProcess], redis: RedisServer, owner_client
) -> None:
    """Relays retry Redis several times a second during an outage: the log says so once
    per kind of call, and once more when Redis works again, not a line per retry. A viewer
    that subscribes meanwhile is answered once Redis is back, and gets what the kernel
    restores."""
    a, b = two_relays
    ch = hub_channel("quiz", owner_client(a.url))
    ch.set("question", "2 + 2?")
    assert ch.flush(10)
    redis.stop()
    viewer = await Viewer.connect(b.ws_url, token="t-student")
    view = await viewer.subscribe("hub", "quiz")  # relay b must load it from Redis: down
    # (the Redis client retries a few seconds before it gives up)
    wait_until(lambda: "redis load of a channel for its viewers failed" in b.log(), timeout=30)
    await asyncio.sleep(1)  # the load is retried meanwhile
    redis.start()  # empty: the kernel restores its channel
    await viewer.wait_for(lambda: view.state.get("question") == "2 + 2?", timeout=20)
    await viewer.close()
    for r in two_relays:
        wait_until(lambda r=r: "redis check works again" in r.log(), timeout=15)
        wait_until(lambda r=r: "redis subscription works again" in r.log(), timeout=15)
        failures = [line for line in r.log().splitlines() if "failed:" in line]
        # subscription, check and (relay b) the viewer's load, each once; a few other
        # calls may fail once each too
        assert 2 <= len(failures) <= 8, "\n".join(failures)
        assert "Traceback" not in r.log()
    assert "redis load of a channel for its viewers works again" in b.log()
