"""The event thread's hand-off: the switch interval is lowered only while an event waits."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import pytest

from nbchannel.kernel import dispatch
from nbchannel.kernel.dispatch import HANDOFF_SWITCH_INTERVAL, EventDispatcher, handoff


class _Port:
    """The part of a channel the dispatcher calls: ``run_handlers``."""

    name = "port"

    def __init__(self, handler: Any) -> None:
        self.run_handlers = handler


@pytest.fixture
def interval(kernel_interval: float) -> float:
    """The interval in force for the test (a kernel's, hand-offs allowed)."""
    return kernel_interval


def _until(check: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


def test_nested_handoffs_lower_the_interval_until_the_last_ends(interval: float) -> None:
    handoff(True)
    handoff(True)
    assert sys.getswitchinterval() == pytest.approx(HANDOFF_SWITCH_INTERVAL)
    handoff(False)
    assert sys.getswitchinterval() == pytest.approx(HANDOFF_SWITCH_INTERVAL)
    handoff(False)
    assert sys.getswitchinterval() == pytest.approx(interval)
    handoff(False)  # an unmatched end changes nothing
    assert sys.getswitchinterval() == pytest.approx(interval)


def test_an_interval_set_during_a_handoff_is_kept(interval: float) -> None:
    handoff(True)
    sys.setswitchinterval(0.003)  # someone else's choice, made meanwhile
    handoff(False)
    assert sys.getswitchinterval() == pytest.approx(0.003)


def test_handoffs_turned_off_leave_the_interval_alone(interval: float) -> None:
    dispatch.allow_handoffs(False)
    handoff(True)
    assert sys.getswitchinterval() == pytest.approx(interval)
    handoff(False)
    assert sys.getswitchinterval() == pytest.approx(interval)


def test_a_waiting_event_lowers_the_interval_until_the_handler_thread_takes_it(
    interval: float,
) -> None:
    events = EventDispatcher()
    release = threading.Event()
    seen: list[tuple[int, float]] = []

    def handler(value: int) -> None:
        seen.append((value, sys.getswitchinterval()))
        if value == 0:
            release.wait(5)

    port = _Port(handler)
    try:
        assert events.submit(port, 0)  # type: ignore[arg-type]
        assert _until(lambda: len(seen) == 1)
        # the handler thread has the first event (and is busy with it): nothing waits
        assert sys.getswitchinterval() == pytest.approx(interval)
        assert events.submit(port, 1)  # type: ignore[arg-type]
        # the second waits for the handler thread: its turn for the GIL comes sooner
        assert sys.getswitchinterval() == pytest.approx(HANDOFF_SWITCH_INTERVAL)
        release.set()
        assert _until(lambda: len(seen) == 2)
        # the handler runs with the interval put back
        assert seen == [(0, pytest.approx(interval)), (1, pytest.approx(interval))]
        assert sys.getswitchinterval() == pytest.approx(interval)
    finally:
        release.set()
        events.close()


def test_closing_with_events_waiting_puts_the_interval_back(interval: float) -> None:
    events = EventDispatcher()
    release = threading.Event()
    started = threading.Event()

    def handler(value: int) -> None:
        started.set()
        release.wait(5)

    port = _Port(handler)
    try:
        events.submit(port, 0)  # type: ignore[arg-type]
        assert started.wait(5)
        events.submit(port, 1)  # type: ignore[arg-type]
        assert sys.getswitchinterval() == pytest.approx(HANDOFF_SWITCH_INTERVAL)
        release.set()
        events.close()  # the queued event is dropped, and with it its hand-off
        assert sys.getswitchinterval() == pytest.approx(interval)
    finally:
        release.set()
