"""FrameBudget: the frames per second that all viewers' writers share. No I/O."""

from __future__ import annotations

import pytest

from nbchannel.core import protocol as P
from nbchannel.core.hub import Hub
from nbchannel.core.message import Message
from nbchannel.core.peer import FrameBudget


def test_one_busy_writer_is_not_held_back() -> None:
    budget = FrameBudget(20_000)
    budget.wrote(1, 10.0)
    assert budget.delay(10.0, 10.0) == pytest.approx(1 / 20_000)  # below any timer: no wait


def test_many_busy_writers_space_their_frames_by_their_share() -> None:
    budget = FrameBudget(20_000)
    for peer in range(100):
        budget.wrote(peer, 10.0)
    assert budget.active(10.02) == 100
    assert budget.delay(10.0, 10.02) == 0.0  # its 5 ms share has passed
    assert budget.delay(10.02, 10.021) == pytest.approx(0.004)


def test_idle_and_forgotten_writers_stop_counting() -> None:
    budget = FrameBudget(1_000, window=0.1)
    for peer in range(10):
        budget.wrote(peer, 10.0)
    budget.forget(0)
    assert budget.active(10.05) == 9
    budget.wrote(1, 10.15)
    assert budget.active(10.2) == 1  # the others last wrote more than 0.1 s ago


def test_no_budget_means_no_pacing() -> None:
    budget = FrameBudget(0)
    budget.wrote(1, 1.0)
    assert budget.delay(1.0, 1.0) == 0.0


def test_a_disconnected_peer_frees_what_it_had_queued() -> None:
    hub = Hub()
    k = hub.connect_owner("k1")
    b = hub.connect_subscriber()
    hub.receive(k, [Message.create(P.OPEN, "c")])
    hub.receive(b, [Message.create(P.SUBSCRIBE, "c", scope="k1")])
    hub.receive(k, [Message.create(P.APPEND, "c", {"i": i}) for i in range(1000)])
    hub.receive(k, [Message.create(P.SET, "c", 1, key="k")])
    assert b.pending and b.outbox.bytes > 0
    hub.disconnect(b)
    # a closed connection's handler may live on until a full garbage collection;
    # the messages it had queued must not
    assert not b.pending and len(b.outbox) == 0 and b.outbox.bytes == 0
