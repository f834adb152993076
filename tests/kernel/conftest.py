"""Fixtures shared by the kernel-side tests."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from nbchannel.kernel import dispatch


@pytest.fixture
def kernel_interval() -> Iterator[float]:
    """The thread switch interval as in a kernel with live channels (1 ms, hand-offs
    allowed); the interval and whether hand-offs are allowed are put back after."""
    before = sys.getswitchinterval()
    allowed = dispatch.allow_handoffs(True)
    sys.setswitchinterval(0.001)
    try:
        yield 0.001
    finally:
        dispatch.allow_handoffs(allowed)
        sys.setswitchinterval(before)
