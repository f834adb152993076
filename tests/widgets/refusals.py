"""Asserting a refused argument: the exact exception type and the exact message."""

from __future__ import annotations

from collections.abc import Callable

import pytest


def assert_refused(call: Callable[[], object], error: type[Exception], message: str) -> None:
    """``call()`` raises ``error`` itself (a ``TypeError`` is not a ``ValueError``, nor the
    other way round) with exactly ``message``, which names the call and the argument."""
    with pytest.raises(error) as info:
        call()
    assert info.type is error
    assert str(info.value) == message


class Opaque:
    """A value nothing can send or show, with a repr that stays the same from run to run."""

    def __repr__(self) -> str:
        return "Opaque()"
