"""The hub's routing semantics, with fake owners and subscribers (no I/O)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np
import pytest

from nbchannel.core import protocol as P
from nbchannel.core.codec import decode_frame, encode_frame
from nbchannel.core.hub import Hub, HubConfig
from nbchannel.core.message import Message
from nbchannel.core.peer import Peer

from .hubkit import FakeClock, drain, kinds, send, values


def _errors(peer_msgs: list[Message]) -> list[str]:
    return [m.value()["code"] for m in peer_msgs if m.kind == P.ERROR]


def test_published_state_stream_and_transient_reach_a_subscriber(hub: Hub) -> None:
    k = hub.connect_owner("k1")
    b = hub.connect_subscriber()
    send(hub, k, P.OPEN, "sensor")
    send(hub, b, P.SUBSCRIBE, "sensor", scope="k1")
    drain(b)
    send(hub, k, P.SET, "sensor", "Temperature", key="title")
    send(hub, k, P.APPEND, "sensor", {"t": 1.0, "v": np.arange(3.0)})
    send(hub, k, P.PUBLISH, "sensor", {"ping": 1})
    msgs = drain(b)
    assert kinds(msgs) == [P.SET, P.APPEND, P.PUBLISH]
    assert all(m.scope == "k1" and m.channel == "sensor" for m in msgs)
    assert msgs[1].offset == 0
    np.testing.assert_array_equal(msgs[1].value()["v"], np.arange(3.0))


def test_channels_are_keyed_by_scope_and_name(hub: Hub) -> None:
    k1, k2 = hub.connect_owner("k1"), hub.connect_owner("k2")
    b = hub.connect_subscriber()
    send(hub, k1, P.OPEN, "c")
    send(hub, k2, P.OPEN, "c")
    send(hub, b, P.SUBSCRIBE, "c", scope="k2")
    drain(b)
    send(hub, k1, P.PUBLISH, "c", "from k1")
    send(hub, k2, P.PUBLISH, "c", "from k2")
    assert values(drain(b), P.PUBLISH) == ["from k2"]


def test_server_scoped_channel_is_shared_by_kernels(hub: Hub) -> None:
    k1, k2 = hub.connect_owner("k1"), hub.connect_owner("k2")
    b = hub.connect_subscriber()
    send(hub, k1, P.OPEN, "shared", scope=P.SERVER_SCOPE)
    send(hub, k1, P.APPEND, "shared", 1, scope=P.SERVER_SCOPE)
    send(hub, k2, P.OPEN, "shared", scope=P.SERVER_SCOPE)  # joins, keeps data and epoch
    send(hub, k2, P.APPEND, "shared", 2, scope=P.SERVER_SCOPE)
    send(hub, b, P.SUBSCRIBE, "shared", scope=P.SERVER_SCOPE)
    msgs = drain(b)
    assert values(msgs, P.APPEND) == [1, 2]
    e1 = [m.value()["epoch"] for m in drain(k1) if m.kind == P.OPENED]
    e2 = [m.value()["epoch"] for m in drain(k2) if m.kind == P.OPENED]
    assert e1 == e2
    # an event reaches both owners
    send(hub, b, P.EVENT, "shared", {"x": 1}, scope=P.SERVER_SCOPE, key="click")
    assert values(drain(k1), P.EVENT) == [{"x": 1}]
    assert values(drain(k2), P.EVENT) == [{"x": 1}]


def test_a_kernel_cannot_write_into_another_kernels_scope(hub: Hub) -> None:
    k1 = hub.connect_owner("k1")
    send(hub, k1, P.OPEN, "c", scope="k2")
    assert _errors(drain(k1)) == ["not-permitted"]
    assert hub.channels == {}


def test_late_joiner_gets_current_state_and_history(hub: Hub) -> None:
    k = hub.connect_owner("k1")
    send(hub, k, P.OPEN, "c")
    for i in range(5):
        send(hub, k, P.SET, "c", i, key="step")
    send(hub, k, P.SET, "c", "T", key="title")
    for i in range(3):
        send(hub, k, P.APPEND, "c", i)
    send(hub, k, P.PUBLISH, "c", "gone")  # transient: only for current viewers
    late = hub.connect_subscriber()
    send(hub, late, P.SUBSCRIBE, "c", scope="k1")
    msgs = drain(late)
    assert kinds(msgs) == [P.SUBSCRIBED, P.SET, P.SET, P.APPEND, P.APPEND, P.APPEND]
    assert {m.key: m.value() for m in msgs if m.kind == P.SET} == {"step": 4, "title": "T"}
    assert values(msgs, P.APPEND) == [0, 1, 2]


def test_resume_from_last_offset_gets_exactly_the_missed_items(hub: Hub) -> None:
    k = hub.connect_owner("k1")
    send(hub, k, P.OPEN, "c")
    b = hub.connect_subscriber()
    send(hub, b, P.SUBSCRIBE, "c", scope="k1")
    for i in range(4):
        send(hub, k, P.APPEND, "c", i)
    seen = drain(b)
    epoch = seen[0].value()["epoch"]
    last = max(m.offset for m in seen if m.kind == P.APPEND)
    hub.disconnect(b)
    for i in range(4, 9):
        send(hub, k, P.APPEND, "c", i)
    b2 = hub.connect_subscriber()
    send(hub, b2, P.SUBSCRIBE, "c", scope="k1", epoch=epoch, offset=last + 1)
    msgs = drain(b2)
    assert msgs[0].value()["reset"] is False
    assert [m.offset for m in msgs if m.kind == P.APPEND] == [4, 5, 6, 7, 8]
    assert values(msgs, P.APPEND) == [4, 5, 6, 7, 8]


def test_resume_from_a_too_old_offset_gets_snapshot_and_gap(clock: FakeClock) -> None:
    hub = Hub(HubConfig(history_items=10), clock=clock)
    k = hub.connect_owner("k1")
    send(hub, k, P.OPEN, "c")
    epoch = drain(k)[0].value()["epoch"]
    for i in range(50):
        send(hub, k, P.APPEND, "c", i)
    b = hub.connect_subscriber()
    send(hub, b, P.SUBSCRIBE, "c", scope="k1", epoch=epoch, offset=3)
    msgs = drain(b)
    assert kinds(msgs)[:2] == [P.SUBSCRIBED, P.GAP]
    assert msgs[1].offset == 3 and msgs[1].value()["end"] == 40
    assert values(msgs, P.APPEND) == list(range(40, 50))


def test_reopened_channel_gets_a_new_epoch_and_viewers_a_reset(hub: Hub) -> None:
    k = hub.connect_owner("k1")
    b = hub.connect_subscriber()
    send(hub, k, P.OPEN, "c")
    send(hub, k, P.APPEND, "c", "old")
    send(hub, b, P.SUBSCRIBE, "c", scope="k1")
    first = drain(b)[0].value()["epoch"]
    send(hub, k, P.OPEN, "c")  # the cell that made the channel ran again
    send(hub, k, P.APPEND, "c", "new")
    msgs = drain(b)
    info = msgs[0].value()
    assert msgs[0].kind == P.SUBSCRIBED and info["reset"] and info["epoch"] != first
    assert values(msgs, P.APPEND) == ["new"]


def test_owner_reconnecting_with_its_epoch_resumes(hub: Hub) -> None:
    k = hub.connect_owner("k1")
    send(hub, k, P.OPEN, "c")
    epoch = drain(k)[0].value()["epoch"]
    send(hub, k, P.APPEND, "c", 1)
    hub.disconnect(k)
    k2 = hub.connect_owner("k1")
    send(hub, k2, P.OPEN, "c", {"epoch": epoch})
    opened = drain(k2)[0].value()
    assert opened["resumed"] is True and opened["epoch"] == epoch and opened["head"] == 1


def test_event_from_viewer_reaches_owner_and_errors_are_reported(hub: Hub) -> None:
    k = hub.connect_owner("k1")
    b = hub.connect_subscriber()
    send(hub, k, P.OPEN, "c")
    send(hub, b, P.SUBSCRIBE, "c", scope="k1")
    drain(k)
    send(hub, b, P.EVENT, "c", {"button": "stop"}, scope="k1", key="click")
    msgs = drain(k)
    assert [(m.kind, m.key, m.value()) for m in msgs] == [("event", "click", {"button": "stop"})]
    assert hub.channels_info()[0]["events"] == 1
    send(hub, b, P.EVENT, "nope", 1, scope="k1", key="click")
    send(hub, b, P.EVENT, "c", 1, scope="k1")  # no event name
    send(hub, b, P.EVENT, "c", 1, key="click")  # no scope
    send(hub, b, P.APPEND, "c", 1, scope="k1")  # a viewer cannot write
    assert _errors(drain(b)) == [
        "unknown-channel",
        "malformed-frame",
        "unknown-channel",
        "not-permitted",
    ]
    assert drain(k) == []


def test_malformed_and_oversized_events_are_refused(clock: FakeClock) -> None:
    hub = Hub(HubConfig(max_event_bytes=1000), clock=clock)
    k, b = hub.connect_owner("k1"), hub.connect_subscriber()
    send(hub, k, P.OPEN, "c")
    drain(k)
    bad = Message(P.EVENT, "c", scope="k1", key="x", payload=b"{not json")
    hub.receive(b, [bad])
    send(hub, b, P.EVENT, "c", "x" * 5000, scope="k1", key="x")
    send(hub, b, P.EVENT, "c", "fine", scope="k1", key="x")
    assert _errors(drain(b)) == ["malformed-frame", "limit-exceeded"]
    assert values(drain(k), P.EVENT) == ["fine"]


def test_owner_errors_do_not_affect_other_messages(hub: Hub) -> None:
    k = hub.connect_owner("k1")
    b = hub.connect_subscriber()
    send(hub, k, P.OPEN, "c")
    send(hub, b, P.SUBSCRIBE, "c", scope="k1")
    drain(k), drain(b)
    hub.receive(
        k,
        [
            Message.create(P.APPEND, "unopened", 1),
            Message.create(P.SET, "c", 1),  # no key
            Message.create(P.SUBSCRIBE, "c"),  # wrong role
            Message.create(P.APPEND, "c", "ok"),
        ],
    )
    assert _errors(drain(k)) == ["unknown-channel", "malformed-frame", "not-permitted"]
    assert values(drain(b), P.APPEND) == ["ok"]


def test_subscribing_before_the_channel_opens_waits_for_it(hub: Hub) -> None:
    b = hub.connect_subscriber()
    send(hub, b, P.SUBSCRIBE, "later", scope="k1")
    msgs = drain(b)
    assert msgs[0].value()["waiting"] is True
    k = hub.connect_owner("k1")
    send(hub, k, P.OPEN, "later")
    send(hub, k, P.SET, "later", 1, key="a")
    msgs = drain(b)
    assert kinds(msgs) == [P.SUBSCRIBED, P.SET]
    assert msgs[0].value()["waiting"] is False
    assert drain(k)[0].value()["viewers"] == 1


def test_presence_counts_are_pushed_to_the_owner(hub: Hub) -> None:
    k = hub.connect_owner("k1")
    send(hub, k, P.OPEN, "c")
    drain(k)
    viewers = [hub.connect_subscriber() for _ in range(3)]
    for v in viewers:
        send(hub, v, P.SUBSCRIBE, "c", scope="k1")
    # presence is coalesced: the owner reads only the latest count
    assert values(drain(k), P.PRESENCE) == [{"viewers": 3}]
    send(hub, viewers[0], P.UNSUBSCRIBE, "c", scope="k1")
    hub.disconnect(viewers[1])
    assert values(drain(k), P.PRESENCE) == [{"viewers": 1}]


def test_kernel_shutdown_closes_its_channels_and_viewers_wait_for_reopen(hub: Hub) -> None:
    k = hub.connect_owner("k1")
    b = hub.connect_subscriber()
    send(hub, k, P.OPEN, "c")
    send(hub, k, P.OPEN, "d")
    send(hub, k, P.APPEND, "c", 1)
    send(hub, b, P.SUBSCRIBE, "c", scope="k1")
    drain(b)
    assert hub.close_scope("k1") == 2
    assert kinds(drain(b)) == [P.CLOSED]
    assert {(i["name"], i["open"]) for i in hub.channels_info()} == {("c", False)}
    k2 = hub.connect_owner("k1")  # the restarted kernel
    send(hub, k2, P.OPEN, "c")
    send(hub, k2, P.APPEND, "c", "fresh")
    msgs = drain(b)
    assert msgs[0].value()["reset"] is True
    assert values(msgs, P.APPEND) == ["fresh"]


def test_stalled_subscriber_does_not_slow_a_fast_one_and_stays_bounded(clock: FakeClock) -> None:
    bound = 256 * 1024
    hub = Hub(HubConfig(subscriber_queue_bytes=bound, history_items=100), clock=clock)
    k = hub.connect_owner("k1")
    fast, stalled = hub.connect_subscriber("fast"), hub.connect_subscriber("stalled")
    send(hub, k, P.OPEN, "c")
    for p in (fast, stalled):
        send(hub, p, P.SUBSCRIBE, "c", scope="k1")
    drain(fast)
    got: list[int] = []
    row = np.zeros(128)  # ~1 KiB per item
    n = 5000  # ~5 MiB in total, twenty times the bound
    for i in range(n):
        send(hub, k, P.APPEND, "c", {"i": i, "row": row})
        send(hub, k, P.SET, "c", i, key="step")
        if i % 50 == 0:
            got += [m.value()["i"] for m in drain(fast) if m.kind == P.APPEND]
    got += [m.value()["i"] for m in drain(fast) if m.kind == P.APPEND]
    assert got == list(range(n))  # the fast one lost nothing
    assert stalled.outbox.peak_bytes <= bound + 2048
    assert stalled.outbox.dropped > 0
    # the stalled one wakes up: what it missed is signalled, and the state is current
    late = drain(stalled)
    gaps = [m.value() for m in late if m.kind == P.GAP]
    items = [m.value()["i"] for m in late if m.kind == P.APPEND]
    assert sum(g["count"] for g in gaps) == n - len(items)
    assert [m.value() for m in late if m.kind == P.SET] == [n - 1]
    info = hub.channels_info()[0]
    assert info["dropped"] == n - len(items)
    peers = {p["name"]: p for p in hub.peers_info()}
    assert peers["fast"]["dropped"] == 0 and peers["stalled"]["dropped"] == n - len(items)


def test_subscription_limit(clock: FakeClock) -> None:
    hub = Hub(HubConfig(max_subscriptions=2), clock=clock)
    b = hub.connect_subscriber()
    for name in "abc":
        send(hub, b, P.SUBSCRIBE, name, scope="k1")
    msgs = drain(b)
    assert _errors(msgs) == ["limit-exceeded"]
    assert "max_subscriptions" in next(m.value()["message"] for m in msgs if m.kind == P.ERROR)
    assert len(hub.channels) == 2


def test_records_of_unwatched_closed_channels_are_collected(hub: Hub) -> None:
    k, b = hub.connect_owner("k1"), hub.connect_subscriber()
    send(hub, b, P.SUBSCRIBE, "c", scope="k1")
    send(hub, b, P.UNSUBSCRIBE, "c", scope="k1")
    assert hub.channels == {}
    send(hub, k, P.OPEN, "c")
    send(hub, k, P.CLOSE, "c")
    assert hub.channels == {}


def test_channel_stats(clock: FakeClock) -> None:
    hub = Hub(clock=clock)
    k = hub.connect_owner("k1")
    subs = [hub.connect_subscriber() for _ in range(2)]
    send(hub, k, P.OPEN, "c")
    for s in subs:
        send(hub, s, P.SUBSCRIBE, "c", scope="k1")
    for second in range(3):
        clock.now = 2000 + second
        for _ in range(10):
            send(hub, k, P.PUBLISH, "c", "x")
    clock.now = 2003
    (info,) = hub.channels_info()
    assert info["messages_in"] == 30 and info["messages_out"] == 60
    assert info["viewers"] == 2 and info["owners"] == 1
    assert info["rate_in"] == pytest.approx(30 / 9)


def test_next_frame_wakes_a_writer_and_stops_on_disconnect(hub: Hub) -> None:
    async def scenario() -> list[list[str]]:
        k, b = hub.connect_owner("k1"), hub.connect_subscriber()
        send(hub, k, P.OPEN, "c")
        send(hub, b, P.SUBSCRIBE, "c", scope="k1")
        frames: list[list[str]] = []

        async def writer() -> None:
            while (frame := await b.next_frame()) is not None:
                frames.append([m.kind for m in decode_frame(frame)])

        task = asyncio.create_task(writer())
        await asyncio.sleep(0)
        send(hub, k, P.APPEND, "c", 1)
        await asyncio.sleep(0)
        hub.disconnect(b)
        await asyncio.wait_for(task, 1)
        return frames

    assert asyncio.run(scenario()) == [[P.SUBSCRIBED], [P.APPEND]]


def test_a_resuming_subscriber_learns_of_keys_deleted_while_it_was_away(hub: Hub) -> None:
    k = hub.connect_owner("k1")
    send(hub, k, P.OPEN, "c")
    for key in "abc":
        send(hub, k, P.SET, "c", key.upper(), key=key)
    b = hub.connect_subscriber()
    send(hub, b, P.SUBSCRIBE, "c", scope="k1")
    epoch = drain(b)[0].value()["epoch"]
    hub.disconnect(b)
    send(hub, k, P.UNSET, "c", key="b")
    b2 = hub.connect_subscriber()
    send(hub, b2, P.SUBSCRIBE, "c", scope="k1", epoch=epoch, offset=0)
    msgs = drain(b2)
    info = msgs[0].value()
    assert info["reset"] is False and info["state"] == 2
    # exactly `state` state messages follow: the keys that still exist
    assert [m.key for m in msgs[1 : 1 + info["state"]]] == ["a", "c"]


def test_a_frame_of_writes_that_closes_its_channel_midway(hub: Hub) -> None:
    # Runs of writes to one channel are routed with one lookup; a close inside the frame
    # must still end the run.
    k = hub.connect_owner("k1")
    b = hub.connect_subscriber()
    send(hub, k, P.OPEN, "c")
    send(hub, k, P.OPEN, "d")
    send(hub, b, P.SUBSCRIBE, "c", scope="k1")
    send(hub, b, P.SUBSCRIBE, "d", scope="k1")
    drain(k), drain(b)
    hub.receive(
        k,
        [
            Message.create(P.APPEND, "c", 0),
            Message.create(P.APPEND, "c", 1),
            Message.create(P.APPEND, "d", "d0"),
            Message.create(P.APPEND, "c", 2),
        ],
    )
    got = drain(b)
    assert [(m.channel, m.offset, m.value()) for m in got] == [
        ("c", 0, 0),
        ("c", 1, 1),
        ("d", 0, "d0"),
        ("c", 2, 2),
    ]
    hub.receive(
        k,
        [
            Message.create(P.APPEND, "c", 3),
            Message(P.CLOSE, "c"),
            Message.create(P.APPEND, "c", 4),
            Message.create(P.APPEND, "d", "d1"),
        ],
    )
    assert _errors(drain(k)) == ["unknown-channel"]
    got = drain(b)
    # what was written before the close is delivered, then `closed`; nothing after it
    assert [(m.kind, m.channel) for m in got] == [
        (P.APPEND, "c"),
        (P.CLOSED, "c"),
        (P.APPEND, "d"),
    ]
    assert got[0].value() == 3


def test_an_owner_can_clear_even_a_shared_channel(hub: Hub) -> None:
    k1, k2 = hub.connect_owner("k1"), hub.connect_owner("k2")
    b = hub.connect_subscriber()
    for k in (k1, k2):
        send(hub, k, P.OPEN, "shared", scope=P.SERVER_SCOPE)
    send(hub, k1, P.SET, "shared", 1, scope=P.SERVER_SCOPE, key="a")
    send(hub, k1, P.APPEND, "shared", "old", scope=P.SERVER_SCOPE)
    send(hub, b, P.SUBSCRIBE, "shared", scope=P.SERVER_SCOPE)
    first = drain(b)[0].value()["epoch"]
    send(hub, k2, P.OPEN, "shared", {"reset": True}, scope=P.SERVER_SCOPE)
    send(hub, k2, P.APPEND, "shared", "new", scope=P.SERVER_SCOPE)
    msgs = drain(b)
    info = msgs[0].value()
    assert info["reset"] is True and info["epoch"] != first and info["state"] == 0
    assert values(msgs, P.APPEND) == ["new"]
    # both kernels still own it
    send(hub, k1, P.APPEND, "shared", "from k1", scope=P.SERVER_SCOPE)
    assert values(drain(b), P.APPEND) == ["from k1"]


# -- replay goes a frame at a time; nothing a client sends holds the hub ----------------


def _history_hub(clock: FakeClock, items: int) -> tuple[Hub, Peer]:
    hub = Hub(HubConfig(history_items=items, batch_bytes=16 * 1024), clock=clock)
    k = hub.connect_owner("k1")
    send(hub, k, P.OPEN, "c")
    hub.receive(k, [Message.create(P.APPEND, "c", {"i": i}) for i in range(items)])
    return hub, k


def test_a_subscribe_queues_no_history_and_replays_it_one_frame_at_a_time(
    clock: FakeClock,
) -> None:
    hub, k = _history_hub(clock, 10_000)
    b = hub.connect_subscriber()
    send(hub, b, P.SUBSCRIBE, "c", scope="k1")
    assert len(b.outbox) == 1  # just `subscribed`: the history is read as the peer reads
    first = b.take()
    assert first[0].kind == P.SUBSCRIBED
    assert 1 < len(first) < 10_000 and sum(m.nbytes for m in first) <= 16 * 1024 + 100
    # live appends during the replay arrive once, in order, after the history
    got = [m.value()["i"] for m in first if m.kind == P.APPEND]
    for i in range(10_000, 10_050):
        send(hub, k, P.APPEND, "c", {"i": i})
        got += [m.value()["i"] for m in b.take() if m.kind == P.APPEND]
    got += [m.value()["i"] for m in drain(b) if m.kind == P.APPEND]
    assert got == list(range(10_050))
    send(hub, k, P.APPEND, "c", {"i": 10_050})  # caught up: live again
    assert [m.value()["i"] for m in b.take()] == [10_050]


def test_history_trimmed_under_a_replay_becomes_a_gap_marker(clock: FakeClock) -> None:
    hub, k = _history_hub(clock, 1_000)
    b = hub.connect_subscriber()
    send(hub, b, P.SUBSCRIBE, "c", scope="k1")
    got = [m.value()["i"] for m in b.take() if m.kind == P.APPEND]
    hub.receive(k, [Message.create(P.APPEND, "c", {"i": i}) for i in range(1_000, 3_000)])
    rest = drain(b)
    gaps = [m.value() for m in rest if m.kind == P.GAP]
    got += [m.value()["i"] for m in rest if m.kind == P.APPEND]
    assert len(gaps) == 1 and gaps[0]["reason"] == "history"
    assert got == [*got[: got.index(2_000)], *range(2_000, 3_000)]
    assert len(got) + gaps[0]["count"] == 3_000  # every item delivered or counted


def test_a_resubscribe_storm_costs_the_same_whatever_the_history(clock: FakeClock) -> None:
    hub, _ = _history_hub(clock, 10_000)
    b = hub.connect_subscriber()  # never reads
    for _ in range(500):
        send(hub, b, P.SUBSCRIBE, "c", scope="k1")
    # each re-subscribe replaced the last: one `subscribed` queued, one cursor
    assert len(b.outbox) == 1 and list(b.replays) == [("k1", "c")]
    msgs = drain(b)
    assert kinds(msgs).count(P.SUBSCRIBED) == 1
    assert [m.value()["i"] for m in msgs if m.kind == P.APPEND] == list(range(10_000))


def test_unsubscribe_and_close_end_a_replay(clock: FakeClock) -> None:
    hub, k = _history_hub(clock, 1_000)
    b = hub.connect_subscriber()
    send(hub, b, P.SUBSCRIBE, "c", scope="k1")
    send(hub, b, P.UNSUBSCRIBE, "c", scope="k1")
    assert not b.pending and not hub.channels[("k1", "c")].cursors
    send(hub, b, P.SUBSCRIBE, "c", scope="k1")
    send(hub, k, P.CLOSE, "c")
    assert not b.replays  # the close ended the replay: the rest of the history is queued
    got = drain(b)
    assert kinds(got) == [P.SUBSCRIBED, *[P.APPEND] * 1_000, P.CLOSED]
    hub.disconnect(b)
    assert not b.replays


@pytest.mark.parametrize("who", ["viewer", "kernel"])
def test_overlong_names_are_refused_and_create_no_record(hub: Hub, who: str) -> None:
    name = "n" * (P.MAX_NAME_LENGTH + 1)
    if who == "viewer":
        peer = hub.connect_subscriber()
        send(hub, peer, P.SUBSCRIBE, name, scope="k1")
        send(hub, peer, P.SUBSCRIBE, "ok", scope="s" * 65_536)
        send(hub, peer, P.EVENT, "ok", 1, scope="k1", key="e" * 2_000)
    else:
        peer = hub.connect_owner("k1")
        send(hub, peer, P.OPEN, name)
    msgs = drain(peer)
    errors = [m.value() for m in msgs if m.kind == P.ERROR]
    assert errors and all(e["code"] == "limit-exceeded" for e in errors)
    assert "at most 200 characters" in errors[0]["message"]
    assert hub.channels == {}


def test_an_event_reaches_every_owner_even_when_one_queue_is_full(clock: FakeClock) -> None:
    hub = Hub(HubConfig(owner_queue_bytes=4096), clock=clock)
    # whichever place the stuck owner has among the others, they all get every event
    full, *oks = (hub.connect_owner(f"k{i}") for i in range(5))
    for k in (full, *oks):
        send(hub, k, P.OPEN, "shared", scope=P.SERVER_SCOPE)
        drain(k)
    b = hub.connect_subscriber()
    send(hub, b, P.SUBSCRIBE, "shared", scope=P.SERVER_SCOPE)
    drain(b)
    got: dict[int, list[int]] = {k.id: [] for k in oks}
    for i in range(200):  # k0 never reads: its queue fills with events; the others keep up
        send(hub, b, P.EVENT, "shared", {"i": i, "pad": "x" * 64}, scope=P.SERVER_SCOPE, key="e")
        for k in oks:
            got[k.id] += [m.value()["i"] for m in drain(k) if m.kind == P.EVENT]
    assert all(g == list(range(200)) for g in got.values())
    errors = [m.value()["message"] for m in drain(b) if m.kind == P.ERROR]
    assert errors and "1 of 5 kernels" in errors[0]


def test_writes_queued_for_a_viewer_before_a_close_are_delivered_then_closed(hub: Hub) -> None:
    k = hub.connect_owner("k1")
    b = hub.connect_subscriber()
    send(hub, k, P.OPEN, "c")
    send(hub, b, P.SUBSCRIBE, "c", scope="k1")
    drain(b)
    hub.receive(k, [Message.create(P.APPEND, "c", i) for i in range(1_000)])
    send(hub, k, P.CLOSE, "c")  # the viewer has not read any of them yet
    got = drain(b)
    assert [m.value() for m in got if m.kind == P.APPEND] == list(range(1_000))
    assert kinds(got)[-1] == P.CLOSED


def test_a_run_goes_as_one_frame_to_idle_viewers_and_through_the_queue_to_the_others(
    hub: Hub,
) -> None:
    k = hub.connect_owner("k1")
    idle, busy, writing = (hub.connect_subscriber() for _ in range(3))
    send(hub, k, P.OPEN, "feed")
    for p in (idle, busy, writing):
        send(hub, p, P.SUBSCRIBE, "feed", scope="k1")
        drain(p)
    send(hub, k, P.SET, "feed", "title", key="t")
    drain(idle)
    drain(writing)  # busy still has the state update queued
    frames: list[bytes] = []

    def idle_socket(frame: bytes) -> bool:
        frames.append(frame)
        return True

    def never(frame: bytes) -> bool:
        raise AssertionError("a viewer with messages queued must get the run in order")

    idle.send_now, busy.send_now = idle_socket, never
    writing.send_now = lambda frame: False  # a write in flight: not idle
    ch = hub.channels["k1", "feed"]
    run = [Message.create(P.APPEND, "feed", i) for i in range(5)]
    assert hub._append_run(ch, run) == 3 * 5  # deliveries: 5 items to 3 viewers

    (frame,) = frames  # one frame for the whole run
    got = decode_frame(frame)
    assert [(m.offset, m.value()) for m in got] == [(i, i) for i in range(5)]
    assert drain(idle) == []
    in_order = decode_frame(encode_frame(drain(busy)))
    assert kinds(in_order) == [P.SET] + [P.APPEND] * 5
    assert [m.offset for m in decode_frame(encode_frame(drain(writing)))] == [0, 1, 2, 3, 4]
    assert ch.head == 5 and [m.offset for m in ch.history] == [0, 1, 2, 3, 4]
    assert ch.stats.messages_out == 3 + 3 * 5  # the state update, then the run to each


# -- flow control ------------------------------------------------------------------------


def test_latest_flow_queues_only_the_newest_item_for_a_viewer_behind(hub: Hub) -> None:
    k = hub.connect_owner("k1")
    fast, slow = hub.connect_subscriber(), hub.connect_subscriber()
    send(hub, k, P.OPEN, "cam", {"flow": "latest", "history_items": 1})
    send(hub, fast, P.SUBSCRIBE, "cam", scope="k1")
    send(hub, slow, P.SUBSCRIBE, "cam", scope="k1")
    assert drain(slow)[0].value()["flow"] == "latest"
    drain(fast)
    got: list[Message] = []
    for i in range(50):
        send(hub, k, P.APPEND, "cam", i)
        got.extend(drain(fast))  # keeps up: every item
    assert values(got, P.APPEND) == list(range(50))
    msgs = drain(slow)  # read only now: the newest item, at its own offset
    assert [(m.kind, m.offset, m.value()) for m in msgs] == [(P.APPEND, 49, 49)]
    assert slow.outbox.coalesced == 49 and slow.outbox.dropped == 0


def test_block_flow_credit_tells_the_owner_where_the_slowest_viewer_is() -> None:
    hub = Hub(HubConfig(subscriber_queue_bytes=64 * 1024))
    k = hub.connect_owner("k1")
    a, b = hub.connect_subscriber(), hub.connect_subscriber()
    send(hub, k, P.OPEN, "bulk", {"flow": "block", "window": 4})

    def credit() -> dict[str, int]:
        last = [m for m in drain(k) if m.kind == P.CREDIT]
        return last[-1].value() if last else {}

    assert credit() == {"received": 0, "behind": 0, "viewers": 0}
    send(hub, a, P.SUBSCRIBE, "bulk", scope="k1")
    send(hub, b, P.SUBSCRIBE, "bulk", scope="k1")
    info = drain(a)[0].value()
    assert (info["flow"], info["window"]) == ("block", 4)
    drain(b)
    hub.receive(k, [Message.create(P.APPEND, "bulk", i) for i in range(3)])
    assert credit() == {"received": 3, "behind": 3, "viewers": 2}
    send(hub, a, P.CONSUMED, "bulk", scope="k1", offset=3)
    assert credit() == {}  # b is still 3 behind: nothing new for the owner
    send(hub, b, P.CONSUMED, "bulk", scope="k1", offset=2)
    assert credit() == {"received": 3, "behind": 1, "viewers": 2}
    send(hub, b, P.UNSUBSCRIBE, "bulk", scope="k1")  # the slowest leaves
    assert credit() == {"received": 3, "behind": 0, "viewers": 1}
    # a queue over its bound never drops a block channel's items (the window bounds it)
    big = np.zeros(hub.config.subscriber_queue_bytes // 2, dtype=np.uint8)
    hub.receive(k, [Message.create(P.APPEND, "bulk", big) for _ in range(4)])
    assert kinds(drain(a)) == [P.APPEND] * 7 and a.outbox.dropped == 0
    send(hub, a, P.CONSUMED, "bulk", scope="k1", offset="x")
    assert _errors(drain(a)) == ["malformed-frame"]


def _feed_with_many_viewers(hub: Hub) -> tuple[Peer, list[Peer]]:
    """Kernel "k1" owning channel "feed", watched by ``run_viewers`` viewers."""
    k = hub.connect_owner("k1")
    viewers = [hub.connect_subscriber() for _ in range(hub.config.run_viewers)]
    send(hub, k, P.OPEN, "feed")
    for v in viewers:
        send(hub, v, P.SUBSCRIBE, "feed", scope="k1")
        drain(v)
    return k, viewers


def test_a_kernels_frame_of_appends_reaches_many_viewers_as_one_run_each(hub: Hub) -> None:
    k, viewers = _feed_with_many_viewers(hub)
    frame = [Message.create(P.APPEND, "feed", i) for i in range(5)]
    frame.insert(3, Message.create(P.SET, "feed", "mid", key="label"))  # ends the first run
    hub.receive(k, frame)
    for v in viewers:
        assert len(v.outbox) == 3  # a run of 3 items, the state, a run of 2
        msgs = decode_frame(encode_frame(drain(v)))  # what the viewer reads
        assert [(m.kind, m.offset) for m in msgs] == [
            (P.APPEND, 0), (P.APPEND, 1), (P.APPEND, 2), (P.SET, None), (P.APPEND, 3), (P.APPEND, 4)
        ]  # fmt: skip
        assert values(msgs, P.APPEND) == [0, 1, 2, 3, 4]
    stats = hub.channels[("k1", "feed")].stats
    assert stats.messages_in == 6 and stats.messages_out == 6 * len(viewers)
    assert [m.value() for m in hub.channels[("k1", "feed")].history] == [0, 1, 2, 3, 4]


class _Later:
    """The hub's clock in a test: callbacks run when the test says so."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, Callable[[], None]]] = []

    def __call__(self, delay: float, callback: Callable[[], None]) -> None:
        self.calls.append((delay, callback))

    def run(self) -> None:
        calls, self.calls = self.calls, []
        for _, callback in calls:
            callback()


def _watched_feed(hub: Hub) -> tuple[Peer, list[Peer], _Later]:
    """:func:`_feed_with_many_viewers` on a hub with a clock the test runs by hand."""
    later = _Later()
    hub.defer = later
    return (*_feed_with_many_viewers(hub), later)


def test_appends_to_a_watched_channel_wait_run_delay_to_go_with_the_next_ones(hub: Hub) -> None:
    k, viewers, later = _watched_feed(hub)
    for i in range(3):  # three frames of a kernel, a millisecond apart
        hub.receive(
            k,
            [Message.create(P.APPEND, "feed", i * 2), Message.create(P.APPEND, "feed", i * 2 + 1)],
        )
    assert [d for d, _ in later.calls] == [hub.config.run_delay]  # one timer for all three
    assert all(len(v.outbox) == 0 for v in viewers)
    later.run()
    for v in viewers:
        assert len(v.outbox) == 1  # one run
        msgs = decode_frame(encode_frame(drain(v)))
        assert [m.offset for m in msgs] == list(range(6)) and values(msgs, P.APPEND) == list(
            range(6)
        )
    stats = hub.channels[("k1", "feed")].stats
    assert stats.messages_in == 6 and stats.messages_out == 6 * len(viewers)
    later.run()  # nothing left: nothing more sent
    assert all(len(v.outbox) == 0 for v in viewers)


def test_held_back_appends_go_before_any_other_write_and_before_a_close(hub: Hub) -> None:
    k, viewers, later = _watched_feed(hub)
    hub.receive(k, [Message.create(P.APPEND, "feed", i) for i in range(3)])
    send(hub, k, P.SET, "feed", "after", key="label")
    msgs = drain(viewers[0])
    assert [(m.kind, m.offset) for m in decode_frame(encode_frame(msgs))] == [
        (P.APPEND, 0), (P.APPEND, 1), (P.APPEND, 2), (P.SET, None)
    ]  # fmt: skip
    hub.receive(k, [Message.create(P.APPEND, "feed", i) for i in range(3, 5)])
    send(hub, k, P.CLOSE, "feed")
    msgs = decode_frame(encode_frame(drain(viewers[0])))
    assert kinds(msgs) == [P.APPEND, P.APPEND, P.CLOSED] and values(msgs, P.APPEND) == [3, 4]
    later.run()  # the timers of flushed items find nothing to send
    assert len(viewers[0].outbox) == 0


def test_a_viewer_that_subscribes_while_appends_wait_gets_each_once(hub: Hub) -> None:
    k, viewers, later = _watched_feed(hub)
    hub.receive(k, [Message.create(P.APPEND, "feed", i) for i in range(4)])
    late = hub.connect_subscriber()
    send(hub, late, P.SUBSCRIBE, "feed", scope="k1")
    later.run()
    for v in (late, viewers[0]):
        msgs = decode_frame(encode_frame(drain(v)))
        assert values(msgs, P.APPEND) == [0, 1, 2, 3]
        assert [m.offset for m in msgs if m.kind == P.APPEND] == [0, 1, 2, 3]


def test_an_owner_reopening_gets_a_head_that_counts_held_back_appends(hub: Hub) -> None:
    k, viewers, _ = _watched_feed(hub)
    hub.receive(k, [Message.create(P.APPEND, "feed", i) for i in range(3)])
    epoch = hub.channels[("k1", "feed")].epoch
    drain(k)
    send(hub, k, P.OPEN, "feed", {"epoch": epoch})  # the kernel reconnected: it resumes
    (opened,) = [m.value() for m in drain(k) if m.kind == P.OPENED]
    assert opened["resumed"] and opened["head"] == 3
    assert values(decode_frame(encode_frame(drain(viewers[0]))), P.APPEND) == [0, 1, 2]


def test_an_event_goes_straight_to_an_idle_kernel_and_behind_what_is_queued_otherwise(
    hub: Hub,
) -> None:
    k = hub.connect_owner("k1")
    v = hub.connect_subscriber()
    send(hub, k, P.OPEN, "ui")
    drain(k)
    written: list[list[Message]] = []
    idle = True

    def send_now(frame: bytes) -> bool:
        if idle:
            written.append(decode_frame(frame))
        return idle

    k.send_now = send_now
    send(hub, v, P.EVENT, "ui", {"x": 1}, scope="k1", key="click")
    assert [[(m.kind, m.key, m.value()) for m in f] for f in written] == [
        [(P.EVENT, "click", {"x": 1})]
    ]
    assert not k.pending and hub.channels[("k1", "ui")].stats.events == 1
    # a connection that cannot take it now: queued for its writer, as before
    idle = False
    send(hub, v, P.EVENT, "ui", {"x": 2}, scope="k1", key="click")
    # something already queued for the kernel: the next event goes behind it, in order
    idle = True
    send(hub, v, P.EVENT, "ui", {"x": 3}, scope="k1", key="click")
    assert len(written) == 1
    assert [m.value() for m in drain(k)] == [{"x": 2}, {"x": 3}]
