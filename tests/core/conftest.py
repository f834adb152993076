"""Fixtures for core tests."""

from __future__ import annotations

import pytest

from nbchannel.core.hub import Hub, HubConfig

from .hubkit import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def hub(clock: FakeClock) -> Hub:
    return Hub(HubConfig(history_items=100), clock=clock)
