"""The Redis engine's replica side, driven directly: what it applies, in which order, and to
whom, while a fan-out is under way or a viewer resumes ahead of it (no Redis is reached)."""

from __future__ import annotations

import asyncio

from nbchannel.core import protocol as P
from nbchannel.core.codec import decode_frame, encode_frame
from nbchannel.core.message import Message
from nbchannel.core.peer import Peer
from nbchannel.relay.app import Relay
from nbchannel.relay.auth import OpenAuth
from nbchannel.relay.engine import FAN_OUT_SLICE, HOLD_SECONDS, RedisEngine

from ..core.hubkit import drain
from .conftest import run_async


def _engine() -> RedisEngine:
    # never connected: these tests only apply what Redis would have published
    return RedisEngine(Relay(OpenAuth()), "redis://127.0.0.1:1")


def _appends(peer: Peer) -> list[int]:
    """Offsets of the stream items ``peer``'s client reads, in order."""
    msgs = decode_frame(encode_frame(drain(peer))) if len(peer.outbox) else []
    return [m.offset for m in msgs if m.kind == P.APPEND]  # type: ignore[misc]


def _replica(engine: RedisEngine, viewers: int) -> tuple[list[Peer], int]:
    """A replica of channel "feed" with ``viewers`` subscribed; its epoch."""
    hub = engine.hub
    ch = hub._channel("hub", "feed")
    ch.open()
    assert ch.epoch is not None
    engine.applied["feed"] = 0
    peers = [hub.connect_subscriber() for _ in range(viewers)]
    for p in peers:
        engine.receive_viewer(p, [Message(P.SUBSCRIBE, "feed", scope="hub")])
        drain(p)
    return peers, ch.epoch


@run_async
async def test_a_viewer_that_resubscribes_while_a_fan_out_pauses_gets_each_item_once() -> None:
    engine = _engine()
    peers, epoch = _replica(engine, 3 * FAN_OUT_SLICE)
    ch = engine.hub.channels[("hub", "feed")]
    last = [p for p in ch.subscribers][-1]  # served by the fan-out's last slice
    run = [Message.create(P.APPEND, "feed", i) for i in range(3)]
    fan_out = asyncio.create_task(engine._apply_run(ch, run))
    await asyncio.sleep(0)  # the first slice went; the fan-out lets the loop run
    assert not fan_out.done()
    # meanwhile that viewer resumes from offset 0 and reads its replay (the run, from
    # history) before the fan-out reaches its slice
    engine.receive_viewer(last, [Message(P.SUBSCRIBE, "feed", scope="hub", epoch=epoch, offset=0)])
    got = []
    while last.replays or len(last.outbox):
        got += [m.offset for m in last.take() if m.kind == P.APPEND]
    await fan_out
    got += _appends(last)
    assert got == [0, 1, 2]
    for p in peers:
        if p is not last:
            assert _appends(p) == [0, 1, 2]


@run_async
async def test_a_held_subscribe_whose_channel_was_dropped_meanwhile_is_loaded_first() -> None:
    engine = _engine()
    _, epoch = _replica(engine, 0)
    ch = engine.hub.channels[("hub", "feed")]
    for i in range(10):
        ch.append(Message.create(P.APPEND, "feed", i))
    viewer = engine.hub.connect_subscriber()
    # it saw offsets up to 11 on another relay: held until this replica catches up
    ahead = Message(P.SUBSCRIBE, "feed", scope="hub", epoch=epoch, offset=12)
    engine.receive_viewer(viewer, [ahead])
    assert engine.held == 1 and not drain(viewer)
    # meanwhile the channel closes here and its replica is dropped (nobody subscribed)
    engine.hub._close(ch)
    engine.applied.pop("feed")
    assert ("hub", "feed") not in engine.hub.channels
    await asyncio.sleep(0)
    engine._held_subs["feed"][0] = (viewer, ahead, -HOLD_SECONDS)  # (waited long enough)
    engine._release_held("feed")
    # the subscribe waits for the channel's load from Redis, like any first subscribe here
    assert engine._pending_subs["feed"] == [(viewer, ahead)]
    assert engine._jobs.get_nowait() == ("load", "feed")
    assert ("hub", "feed") not in engine.hub.channels


@run_async
async def test_a_newer_subscribe_replaces_a_held_one() -> None:
    engine = _engine()
    _, epoch = _replica(engine, 0)
    viewer = engine.hub.connect_subscriber()
    engine.receive_viewer(
        viewer, [Message(P.SUBSCRIBE, "feed", scope="hub", epoch=epoch, offset=5)]
    )
    assert engine.held == 1 and not drain(viewer)
    # the viewer asks again, from scratch: answered now, and the held one is forgotten
    engine.receive_viewer(viewer, [Message(P.SUBSCRIBE, "feed", scope="hub")])
    assert [m.kind for m in drain(viewer)] == [P.SUBSCRIBED]
    assert not engine._held_subs.get("feed")
