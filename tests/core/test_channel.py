"""One channel's epoch, state, bounded history and replay rules."""

from __future__ import annotations

import time

import pytest

from nbchannel.core import protocol as P
from nbchannel.core.channel import Channel
from nbchannel.core.message import Message, Segment, stream_values
from nbchannel.errors import LimitExceeded


def _channel(items: int = 5, nbytes: int = 1 << 20, state: int = 1 << 20) -> Channel:
    ch = Channel(
        "k", "c", history_items=items, history_bytes=nbytes, state_bytes=state, clock=time.monotonic
    )
    ch.open()
    return ch


def _append(ch: Channel, value: object) -> Message:
    return ch.append(Message.create(P.APPEND, "c", value))


def test_offsets_are_consecutive_and_history_is_bounded_by_count() -> None:
    ch = _channel(items=5)
    stamped = [_append(ch, i) for i in range(12)]
    assert [m.offset for m in stamped] == list(range(12))
    assert (ch.tail, ch.head) == (7, 12)
    assert [m.value() for m in ch.history] == list(range(7, 12))


def test_history_is_bounded_by_bytes() -> None:
    ch = _channel(items=1000, nbytes=2000)
    for _ in range(100):
        _append(ch, "x" * 100)
    assert ch.history_bytes <= 2000
    assert len(ch.history) == ch.head - ch.tail < 100


def test_state_keeps_latest_value_per_key_and_is_bounded() -> None:
    ch = _channel(state=300)
    ch.set(Message.create(P.SET, "c", 1, key="a"))
    ch.set(Message.create(P.SET, "c", 2, key="a"))
    assert ch.state["a"].value() == 2
    with pytest.raises(LimitExceeded, match="state_bytes"):
        ch.set(Message.create(P.SET, "c", "x" * 400, key="b"))
    assert set(ch.state) == {"a"}
    ch.unset(Message.create(P.UNSET, "c", key="a"))
    assert ch.state == {} and ch.state_bytes == 0


def test_replay_for_a_new_subscriber_is_state_then_history() -> None:
    ch = _channel(items=3)
    ch.set(Message.create(P.SET, "c", "T", key="title"))
    for i in range(5):
        _append(ch, i)
    msgs = ch.replay(None, None)
    info = msgs[0].value()
    assert msgs[0].kind == P.SUBSCRIBED
    assert info == {
        "epoch": ch.epoch,
        "head": 5,
        "tail": 2,
        "reset": True,
        "waiting": False,
        "state": 1,
    }
    assert [m.kind for m in msgs[1:]] == [P.SET, P.APPEND, P.APPEND, P.APPEND]
    assert [m.offset for m in msgs[2:]] == [2, 3, 4]


def test_replay_resumes_from_the_last_seen_offset() -> None:
    ch = _channel(items=10)
    for i in range(8):
        _append(ch, i)
    msgs = ch.replay(ch.epoch, 5)
    assert msgs[0].value()["reset"] is False
    assert [m.offset for m in msgs if m.kind == P.APPEND] == [5, 6, 7]
    # up to date: nothing to replay
    assert [m.kind for m in ch.replay(ch.epoch, 8)] == [P.SUBSCRIBED]


def test_replay_from_a_too_old_offset_gives_a_gap_and_the_snapshot() -> None:
    ch = _channel(items=3)
    for i in range(10):
        _append(ch, i)
    msgs = ch.replay(ch.epoch, 2)
    assert [m.kind for m in msgs] == [P.SUBSCRIBED, P.GAP, P.APPEND, P.APPEND, P.APPEND]
    gap = msgs[1]
    assert gap.offset == 2
    assert gap.value() == {"kind": "append", "count": 5, "end": 7, "reason": "history"}
    assert [m.offset for m in msgs[2:]] == [7, 8, 9]


def test_replay_from_another_epoch_is_a_reset() -> None:
    ch = _channel()
    old = ch.epoch
    _append(ch, 0)
    ch.open()
    assert ch.epoch != old
    _append(ch, "new")
    msgs = ch.replay(old, 1)
    assert msgs[0].value()["reset"] is True
    assert [m.value() for m in msgs if m.kind == P.APPEND] == ["new"]


def test_closed_channel_replays_a_waiting_marker() -> None:
    ch = _channel()
    ch.close()
    msgs = ch.replay(None, None)
    assert [m.kind for m in msgs] == [P.SUBSCRIBED]
    assert msgs[0].value()["waiting"] is True


def _segment(ch: Channel, values: list[object]) -> Message:
    payloads = [Message.create(P.APPEND, "c", v).payload for v in values]
    return ch.append(Segment.from_payloads("c", [bytes(p) for p in payloads]))


def test_a_segment_takes_a_range_of_offsets_and_is_one_history_entry() -> None:
    ch = _channel(items=100)
    _append(ch, "a")
    seg = _segment(ch, ["b", "c", "d"])
    _append(ch, "e")
    assert (seg.offset, seg.count) == (1, 3)
    assert (ch.tail, ch.head, len(ch.history)) == (0, 5, 3)
    assert stream_values(ch.history) == ["a", "b", "c", "d", "e"]


@pytest.mark.parametrize("since", range(9))
def test_replay_resumes_from_any_offset_even_inside_a_segment(since: int) -> None:
    ch = _channel(items=100)
    _segment(ch, [0, 1, 2, 3])
    _append(ch, 4)
    _segment(ch, [5, 6, 7])
    assert ch.epoch is not None
    out = ch.replay(ch.epoch, since)
    stream = [m for m in out if m.kind == P.APPEND]
    assert stream_values(stream) == list(range(since, 8))
    offsets = [o for m in stream for o in range(m.offset, m.offset + m.count)]  # type: ignore[operator]
    assert offsets == list(range(since, 8))


def test_history_keeps_whole_segments_but_replays_only_the_bound() -> None:
    ch = _channel(items=5)
    for start in range(0, 12, 4):
        _segment(ch, list(range(start, start + 4)))  # 0-3, 4-7, 8-11
    # the segment 4-7 is kept (without it fewer than 5 would remain) …
    assert [m.offset for m in ch.history] == [4, 8]
    # … but a new viewer starts at head - 5, inside it, and is told nothing is missing
    assert (ch.tail, ch.head) == (7, 12)
    out = ch.replay(None, None)
    assert stream_values(m for m in out if m.kind == P.APPEND) == [7, 8, 9, 10, 11]
    assert not [m for m in out if m.kind == P.GAP]


def test_a_viewer_behind_the_bound_gets_a_gap_then_the_items_from_the_tail() -> None:
    ch = _channel(items=5)
    for start in range(0, 12, 4):
        _segment(ch, list(range(start, start + 4)))
    assert ch.epoch is not None
    out = ch.replay(ch.epoch, 2)
    (gap,) = [m for m in out if m.kind == P.GAP]
    assert (gap.offset, gap.value()["count"], gap.value()["end"]) == (2, 5, 7)
    assert stream_values(m for m in out if m.kind == P.APPEND) == [7, 8, 9, 10, 11]


def test_a_segment_over_the_byte_bound_keeps_its_newest_items_that_fit() -> None:
    ch = _channel(items=1000, nbytes=600)
    _segment(ch, [{"i": i, "pad": "x" * 40} for i in range(100)])  # ~5 KB in one entry
    assert ch.history_bytes <= 600 and ch.head == 100
    kept = stream_values(ch.history)
    assert kept and kept[-1] == {"i": 99, "pad": "x" * 40}
    assert [v["i"] for v in kept] == list(range(100 - len(kept), 100))
    assert ch.tail == 100 - len(kept)


def test_a_replay_inside_a_malformed_segment_says_what_is_missing_and_goes_on() -> None:
    ch = _channel(items=100)
    ch.append(Segment("c", 3, payload=b'"abcdefg"'))  # a broken kernel's: not 3 items
    _append(ch, "after")
    assert ch.epoch is not None
    out = ch.replay(ch.epoch, 1)
    (gap,) = [m for m in out if m.kind == P.GAP]
    assert (gap.offset, gap.value()["count"], gap.value()["reason"]) == (1, 2, "malformed")
    assert stream_values(m for m in out if m.kind == P.APPEND) == ["after"]
