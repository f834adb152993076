"""``DetachedTransport`` (no hub) and the choice of the process-wide transport."""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Iterator

import pytest

from nbchannel.core.address import ENV_ADDRESS
from nbchannel.kernel import dispatch
from nbchannel.kernel.channel import LiveChannel
from nbchannel.kernel.transport import (
    DEFAULT_SWITCH_INTERVAL,
    ENV_SWITCH_INTERVAL,
    DetachedTransport,
    NbChannelWarning,
    apply_switch_interval,
    default_transport,
    set_default_transport,
)


@pytest.fixture
def no_default_transport(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No hub in the environment and no process-wide transport chosen yet."""
    monkeypatch.delenv(ENV_ADDRESS, raising=False)
    previous = set_default_transport(None)
    try:
        yield
    finally:
        set_default_transport(previous)


def test_first_channel_warns_once_saying_what_is_missing_and_how_to_fix() -> None:
    transport = DetachedTransport("no hub here")
    with pytest.warns(NbChannelWarning) as record:
        LiveChannel("a", transport=transport)
        LiveChannel("b", transport=transport)
        LiveChannel("a", scope="server", transport=transport)
    assert len(record) == 1
    text = str(record[0].message)
    assert "no live connection to a browser (no hub here)" in text
    assert "'a'" in text
    assert "nothing reaches a browser and no events will arrive" in text
    assert "jupyter server extension list" in text  # how to check the fix
    assert record[0].filename == __file__  # points at the user's line, not at nbchannel


def test_writes_are_dropped_and_counted_but_state_stays_readable() -> None:
    transport = DetachedTransport("no hub here")
    with pytest.warns(NbChannelWarning):
        ch = LiveChannel("sensor", transport=transport)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no further warning per write
        ch.set("title", "Temperature")
        ch.append({"t": 1.0})
        ch.publish("ping")
        ch.unset("missing")
    assert ch.get("title") == "Temperature"
    assert ch.state == {"title": "Temperature"}
    stats = ch.stats
    assert (stats["sent"], stats["dropped"]) == (0, 4)
    assert stats["transport"]["transport"] == "detached"
    assert stats["transport"]["dropped"] == 4
    assert stats["transport"]["status"] == "unavailable"
    assert ch.status == "unavailable"
    assert ch.connected is False
    assert ch.wait_connected(timeout=0.01) is False
    assert ch.flush(timeout=0.01) is True  # nothing is pending
    ch.close()
    assert ch.status == "closed"


def test_default_transport_is_detached_without_a_hub_address(no_default_transport: None) -> None:
    transport = default_transport()
    assert isinstance(transport, DetachedTransport)
    assert ENV_ADDRESS in transport.reason
    assert default_transport() is transport  # one per process
    with pytest.warns(NbChannelWarning, match=f"{ENV_ADDRESS} is not set"):
        ch = LiveChannel("x")
    assert ch.status == "unavailable"
    ch.set("k", 1)
    assert ch.get("k") == 1


def test_set_default_transport_replaces_and_returns_the_previous(
    no_default_transport: None,
) -> None:
    mine = DetachedTransport("mine")
    assert set_default_transport(mine) is None
    assert default_transport() is mine
    assert set_default_transport(None) is mine
    assert default_transport() is not mine


def test_wait_connected_returns_at_once_without_a_hub() -> None:
    with pytest.warns(NbChannelWarning):
        ch = LiveChannel("nowhere", transport=DetachedTransport("no hub here"))
    t0 = time.monotonic()
    assert ch.wait_connected(timeout=5) is False
    assert time.monotonic() - t0 < 0.5


# -- the thread switch interval ----------------------------------------------------------


@pytest.fixture
def switch_interval() -> Iterator[None]:
    before = sys.getswitchinterval()
    allowed = dispatch.allow_handoffs(False)
    yield
    dispatch.allow_handoffs(allowed)
    sys.setswitchinterval(before)


@pytest.mark.usefixtures("switch_interval")
def test_a_kernel_switches_threads_often_enough_for_a_click_to_reach_a_busy_cell(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sys.setswitchinterval(0.005)  # Python's default
    monkeypatch.delenv(ENV_SWITCH_INTERVAL, raising=False)
    assert apply_switch_interval() == pytest.approx(DEFAULT_SWITCH_INTERVAL)
    assert dispatch.allow_handoffs(True)  # and an event waiting for the GIL lowers it more
    monkeypatch.setenv(ENV_SWITCH_INTERVAL, "0.002")
    sys.setswitchinterval(0.005)
    assert apply_switch_interval() == pytest.approx(0.002)
    sys.setswitchinterval(0.0001)  # the user's own, lower: kept
    assert apply_switch_interval() == pytest.approx(0.0001)
    monkeypatch.setenv(ENV_SWITCH_INTERVAL, "off")
    sys.setswitchinterval(0.005)
    assert apply_switch_interval() == pytest.approx(0.005)
    assert not dispatch.allow_handoffs(False)  # not even for an event: Python's alone
    for bad in ("fast", "0", "-1", "2"):
        monkeypatch.setenv(ENV_SWITCH_INTERVAL, bad)
        with pytest.warns(NbChannelWarning, match=f"NBCHANNEL_SWITCH_INTERVAL='{bad}'"):
            assert apply_switch_interval() == pytest.approx(0.005)
