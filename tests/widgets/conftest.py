"""Fixtures for widget tests: every widget's channel is carried by an in-memory transport."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from nbchannel.kernel.transport import set_default_transport
from nbchannel.widgets import LiveWidget

from ..kernel.test_channel import FakeTransport
from .page import Page


@pytest.fixture(autouse=True)
def transport() -> Iterator[FakeTransport]:
    """A ``FakeTransport`` (kernel id ``k-fake``) installed as the process default."""
    fake = FakeTransport()
    previous = set_default_transport(fake)
    try:
        yield fake
    finally:
        set_default_transport(previous)
        for ch in fake.registered:
            ch.close()


@pytest.fixture
def watch(transport: FakeTransport) -> Callable[[LiveWidget], Page]:
    """``watch(widget)``: a :class:`Page` watching the widget's channel."""
    return lambda widget: Page(transport, widget)
