"""The per-peer send queue: bounds, coalescing, gap markers."""

from __future__ import annotations

import numpy as np

from nbchannel.core import protocol as P
from nbchannel.core.message import Message, MessageRun, Segment, stream_values
from nbchannel.core.outbox import Outbox


def _append(i: int, size: int = 100) -> Message:
    return Message.create(P.APPEND, "c", {"x": "a" * size}, scope="s", offset=i)


def _drain(box: Outbox) -> list[Message]:
    out: list[Message] = []
    while box:
        out.extend(box.take(10_000))
    return out


def test_state_updates_coalesce_by_key_in_place() -> None:
    box = Outbox(max_bytes=10_000)
    for i in range(1000):
        box.put(Message.create(P.SET, "c", i, scope="s", key="a"))
        box.put(Message.create(P.SET, "c", -i, scope="s", key="b"))
    assert len(box) == 2
    assert box.coalesced == 1998  # 2000 puts, 2 entries
    msgs = box.take(10_000)
    assert [(m.key, m.value()) for m in msgs] == [("a", 999), ("b", -999)]
    assert box.bytes == 0


def test_state_of_other_channels_and_scopes_is_not_merged() -> None:
    box = Outbox(max_bytes=10_000)
    box.put(Message.create(P.SET, "c", 1, scope="s", key="a"))
    box.put(Message.create(P.SET, "c", 2, scope="t", key="a"))
    box.put(Message.create(P.SET, "d", 3, scope="s", key="a"))
    assert len(box) == 3


def test_state_is_never_dropped_when_full() -> None:
    box = Outbox(max_bytes=500)
    for i in range(20):
        box.put(_append(i))
    ok = box.put(Message.create(P.SET, "c", "title", scope="s", key="t"))
    assert ok
    assert "t" in [m.key for m in _drain(box)]


def test_stream_overflow_drops_and_reports_one_gap_before_next_item() -> None:
    box = Outbox(max_bytes=1000)
    accepted = [i for i in range(30) if box.put(_append(i))]
    assert accepted == list(range(len(accepted)))
    assert box.dropped == 30 - len(accepted)
    assert box.bytes <= 1000
    first = box.take(1_000_000)
    # the queue ran empty: the pending gap marker comes last
    gap = first[-1]
    assert gap.kind == P.GAP
    assert gap.offset == len(accepted)
    assert gap.value() == {
        "kind": "append",
        "count": 30 - len(accepted),
        "end": 30,
        "reason": "dropped",
    }
    assert [m.offset for m in first[:-1]] == accepted


def test_gap_marker_is_placed_before_the_next_delivered_item() -> None:
    box = Outbox(max_bytes=300)
    box.put(_append(0))
    box.put(_append(1))
    assert not box.put(_append(2))
    assert not box.put(_append(3))
    msgs = box.take(1)  # room again
    assert box.put(_append(4))
    msgs += _drain(box)
    assert [(m.kind, m.offset) for m in msgs] == [
        (P.APPEND, 0),
        (P.APPEND, 1),
        (P.GAP, 2),
        (P.APPEND, 4),
    ]
    assert msgs[2].value()["end"] == 4


def test_transient_drops_are_counted_in_a_gap_without_offsets() -> None:
    box = Outbox(max_bytes=300)
    for _ in range(10):
        box.put(Message.create(P.PUBLISH, "c", {"x": "a" * 100}, scope="s"))
    msgs = _drain(box)
    gaps = [m for m in msgs if m.kind == P.GAP]
    assert len(gaps) == 1
    assert gaps[0].offset is None
    delivered = len(msgs) - 1
    assert gaps[0].value() == {"kind": "publish", "count": 10 - delivered, "reason": "dropped"}


def test_one_oversized_message_is_accepted_into_an_empty_queue() -> None:
    box = Outbox(max_bytes=1000)
    big = Message.create(P.APPEND, "c", np.zeros(10_000), scope="s", offset=0)
    assert box.put(big)
    assert not box.put(_append(1))
    msgs = box.take(1)
    assert msgs[0] is big
    assert [m.kind for m in msgs[1:]] == [P.GAP]


def test_an_oversized_item_behind_control_and_state_is_not_starved() -> None:
    # a replay: `subscribed` and the state come first, then a history item over the bound
    box = Outbox(max_bytes=1000)
    box.put(Message.create(P.SUBSCRIBED, "c", {"epoch": 1}, scope="s"))
    box.put(Message.create(P.SET, "c", "config", scope="s", key="config"))
    big = Message.create(P.APPEND, "c", np.zeros(10_000), scope="s", offset=0)
    assert box.put(big)
    assert not box.put(_append(1))  # one item over the bound at most
    msgs = _drain(box)
    assert [m.kind for m in msgs] == [P.SUBSCRIBED, P.SET, P.APPEND, P.GAP]
    assert msgs[2] is big
    assert box.put(_append(2))  # drained: accepted again


def test_purge_forgets_one_channel_only() -> None:
    box = Outbox(max_bytes=10_000)
    box.put(Message.create(P.SET, "c", 1, scope="s", key="a"))
    box.put(_append(0))
    box.put(Message.create(P.SET, "d", 2, scope="s", key="a"))
    assert box.purge("s", "c") == 2
    msgs = _drain(box)
    assert [(m.channel, m.value()) for m in msgs] == [("d", 2)]
    # coalescing still works for the purged key afterwards
    box.put(Message.create(P.SET, "c", 3, scope="s", key="a"))
    box.put(Message.create(P.SET, "c", 4, scope="s", key="a"))
    assert [m.value() for m in _drain(box)] == [4]


def test_on_ready_fires_when_the_queue_becomes_non_empty() -> None:
    calls = []
    box = Outbox(max_bytes=10_000, on_ready=lambda: calls.append(1))
    box.put(_append(0))
    box.put(_append(1))
    assert len(calls) == 1
    _drain(box)
    box.put(_append(2))
    assert len(calls) == 2


def test_take_batches_by_bytes() -> None:
    box = Outbox(max_bytes=1_000_000)
    for i in range(100):
        box.put(_append(i))
    size = _append(0).nbytes
    batch = box.take(10 * size)
    assert len(batch) == 10


def test_a_run_of_items_goes_whole_and_is_dropped_whole_with_its_offsets_in_the_gap() -> None:
    box = Outbox(max_bytes=1_000)
    box.put(_append(0))
    run = MessageRun([_append(i) for i in range(1, 21)])  # 20 items, far over the bound
    assert box.put(run) is False
    box.put(_append(21))
    got = _drain(box)
    assert [m.kind for m in got] == [P.APPEND, P.GAP, P.APPEND]
    gap = got[1].value()
    assert got[1].offset == 1 and gap["end"] == 21 and gap["count"] == 20
    assert box.dropped == 20


def test_a_run_counts_as_its_items_in_a_frame() -> None:
    box = Outbox(max_bytes=1 << 30)
    for k in range(3):
        box.put(MessageRun([_append(10 * k + i, 1) for i in range(10)]))
    first = box.take(1 << 30, max_messages=15)
    assert [m.count for m in first] == [10, 10]  # stops once 15 messages are taken
    assert [m.count for m in box.take(1 << 30)] == [10]


def test_latest_flow_keeps_one_stream_item_per_channel_the_newest() -> None:
    box = Outbox(max_bytes=10_000)
    for i in range(100):
        box.put(_append(i), "latest")
        box.put(Message.create(P.APPEND, "other", i, scope="s", offset=i), "latest")
    assert len(box) == 2 and box.coalesced == 198 and box.dropped == 0
    assert [(m.channel, m.offset) for m in _drain(box)] == [("c", 99), ("other", 99)]


def test_block_flow_items_are_never_dropped_and_others_still_are() -> None:
    box = Outbox(max_bytes=1_000)
    for i in range(50):
        assert box.put(_append(i), "block")
    assert len(box) == 50 and box.dropped == 0
    assert not box.put(Message.create(P.APPEND, "drops", 1, scope="s", offset=0))
    assert box.dropped == 1
    assert [m.offset for m in _drain(box) if m.channel == "c"] == list(range(50))


def _put_items(box: Outbox, channel: str, values: range) -> None:
    for v in values:
        assert box.put_item("s", channel, b'{"v":%d}' % v)


def test_plain_items_written_in_a_row_are_packed_into_one_segment() -> None:
    box = Outbox(max_bytes=1 << 20)
    _put_items(box, "c", range(100))
    (seg,) = box.take(1 << 20)
    assert isinstance(seg, Segment) and seg.count == 100
    assert (seg.kind, seg.channel, seg.scope) == (P.APPEND, "c", "s")
    assert [v["v"] for v in seg.values()] == list(range(100))


def test_a_lone_item_travels_as_itself_not_as_a_segment() -> None:
    box = Outbox(max_bytes=1 << 20)
    box.put_item("s", "c", b"7")
    (msg,) = box.take(1 << 20)
    assert not isinstance(msg, Segment) and msg.value() == 7


def test_anything_else_queued_ends_the_segment_so_order_holds() -> None:
    box = Outbox(max_bytes=1 << 20)
    _put_items(box, "c", range(3))
    box.put(Message.create(P.SET, "c", "x", scope="s", key="k"))
    _put_items(box, "c", range(3, 5))
    _put_items(box, "other", range(2))
    _put_items(box, "c", range(5, 6))
    got = box.take(1 << 20)
    assert [(m.kind, m.channel, m.count) for m in got] == [
        (P.APPEND, "c", 3),
        (P.SET, "c", 1),
        (P.APPEND, "c", 2),
        (P.APPEND, "other", 2),
        (P.APPEND, "c", 1),
    ]
    assert stream_values(m for m in got if m.channel == "c" and m.kind == P.APPEND) == [
        {"v": v} for v in range(6)
    ]


def test_a_segment_taken_is_sealed_and_later_items_start_the_next() -> None:
    box = Outbox(max_bytes=1 << 20)
    _put_items(box, "c", range(3))
    first = box.take(1 << 20)
    _put_items(box, "c", range(3, 7))
    second = box.take(1 << 20)
    assert [m.count for m in first + second] == [3, 4]
    assert stream_values(first + second) == [{"v": v} for v in range(7)]


def test_packed_items_past_the_bound_are_dropped_with_one_gap_before_the_next() -> None:
    box = Outbox(max_bytes=1_000)
    box.put(_append(0))  # something droppable already queued
    payload = b'{"x":"' + b"a" * 90 + b'"}'
    results = [box.put_item("s", "c", payload) for _ in range(30)]
    kept = results.count(True)
    assert 0 < kept < 30 and box.dropped == 30 - kept
    got = _drain(box)
    box.put_item("s", "c", b"1")
    got += _drain(box)
    gaps = [m for m in got if m.kind == P.GAP]
    assert [g.value()["count"] for g in gaps] == [30 - kept]
    assert got[-2].kind == P.GAP and got[-1].value() == 1  # the gap precedes the next item


def test_purge_counts_the_items_of_a_segment_being_packed() -> None:
    box = Outbox(max_bytes=1 << 20)
    _put_items(box, "c", range(5))
    box.put(_append(0))
    assert box.purge("s", "c") == 6
    assert not box and box.bytes == 0
