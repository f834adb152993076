"""The benchmark's receiving tally counts a batch of items as it counts them one by one."""

from __future__ import annotations

import random

import pytest

from benchmarks.tally import Tally


def _fields(t: Tally) -> dict[str, object]:
    s = t.summary()
    return {**s, "latency": list(t.latency_ns), "first_recv": t.first_recv_ns}


@pytest.mark.parametrize("seed", range(5))
def test_add_items_counts_like_add_one_by_one(seed: int) -> None:
    rng = random.Random(seed)
    seqs = list(range(300)) + [rng.randrange(300) for _ in range(40)]  # duplicates too
    rng.shuffle(seqs)
    items = [{"seq": s, "t": 1_000 + 7 * s} for s in seqs]
    one, many = Tally(400), Tally(400)
    recv = 50_000
    for start in range(0, len(items), 37):
        batch = items[start : start + 37]
        for item in batch:
            one.add(item["seq"], item["t"], recv)
        many.add_items(batch, recv)
        recv += 1_000
    assert _fields(many) == _fields(one)
    assert (many.received, many.lost, many.duplicates) == (300, 100, 40)
    assert many.out_of_order > 0


def test_add_items_refuses_a_sequence_number_outside_the_stream() -> None:
    with pytest.raises(ValueError, match=r"outside 0\.\.9"):
        Tally(10).add_items([{"seq": 10, "t": 0}], 1)
