"""Fixtures for hub-wide channels: relays (subprocesses) and owners in this process."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from nbchannel.kernel.channel import LiveChannel
from nbchannel.relay.access import ACTIONS, scope_for
from nbchannel.relay.kernel import RelayClient
from nbchannel.testing.relay import RelayProcess

ALL = [scope_for(a) for a in ACTIONS]
#: teacher: every permission; student: watch and click; guest: watch only; outsider: none.
TOKENS: dict[str, dict[str, Any]] = {
    "t-teacher": {"name": "teacher", "scopes": ALL},
    "t-student": {"name": "student", "scopes": [scope_for("subscribe"), scope_for("event")]},
    "t-guest": {"name": "guest", "scopes": [scope_for("subscribe")]},
    "t-outsider": {"name": "outsider", "scopes": []},
    "t-quizmaster": {"name": "quizmaster", "scopes": [scope_for("own", "quiz")]},
}


@pytest.fixture
def relay() -> Iterator[RelayProcess]:
    with RelayProcess(tokens=TOKENS) as r:
        yield r


@pytest.fixture
def owner_client() -> Iterator[Callable[..., RelayClient]]:
    """Relay clients as a kernel has one (closed after the test)."""
    made: list[RelayClient] = []

    def make(url: str, token: str = "t-teacher", kernel_id: str = "k1") -> RelayClient:
        c = RelayClient(url, token, kernel_id)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def wait_until(pred: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.01)


def hub_channel(name: str, client: RelayClient, **kw: Any) -> LiveChannel:
    return LiveChannel(name, scope="hub", transport=client, **kw)


def run_async(fn: Callable[..., Any]) -> Callable[..., None]:
    """Run an ``async def`` test in a fresh event loop (fixtures pass through)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))

    return wrapper
