"""Rate meters."""

from __future__ import annotations

from nbchannel.core.stats import RateMeter


def test_rate_over_complete_seconds() -> None:
    now = [100.0]
    meter = RateMeter(lambda: now[0], window=5)
    for second in range(100, 106):
        now[0] = second + 0.5
        meter.add(40)
    # seconds 101..104 are complete and inside the window: 4 × 40 / 4
    assert meter.rate() == 40.0


def test_rate_decays_to_zero_after_silence() -> None:
    now = [10.0]
    meter = RateMeter(lambda: now[0], window=4)
    meter.add(1000)
    now[0] = 11.0
    assert meter.rate() > 0
    now[0] = 30.0
    assert meter.rate() == 0.0
