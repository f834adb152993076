"""Who may do what on hub-wide channels: identities, permissions and event rates.

Permissions are JupyterHub custom scopes (``c.JupyterHub.custom_scopes``, granted by roles
to users and groups):

* ``custom:nbchannel:own`` — open channels and write to them (a teacher's kernel);
* ``custom:nbchannel:subscribe`` — watch channels (a student's page);
* ``custom:nbchannel:event`` — send events to the channels' kernels (clicks, answers).

Each may be narrowed to a namespace of channel names with a suffix:
``custom:nbchannel:subscribe:quiz`` grants ``quiz`` and every ``quiz/…`` channel.

Nothing here does I/O.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["ACTIONS", "Action", "EventRate", "Identity", "scope_for"]

Action = Literal["own", "subscribe", "event"]
ACTIONS: tuple[Action, ...] = ("own", "subscribe", "event")
_PREFIX = "custom:nbchannel:"


def scope_for(action: Action, namespace: str | None = None) -> str:
    """The custom scope that grants ``action`` (on ``namespace`` only, if given)."""
    return f"{_PREFIX}{action}" + (f":{namespace}" if namespace else "")


@dataclass(frozen=True)
class Identity:
    """A user (or service) the relay authenticated, with the scopes JupyterHub gave it."""

    name: str
    scopes: frozenset[str] = field(default_factory=frozenset)
    kind: str = "user"

    @classmethod
    def with_scopes(cls, name: str, scopes: Iterable[str], kind: str = "user") -> Identity:
        """An identity holding ``scopes`` (JupyterHub's filters after ``!`` are ignored:
        nbchannel's scopes are not about JupyterHub objects)."""
        return cls(name, frozenset(s.split("!", 1)[0] for s in scopes), kind)

    def may(self, action: Action, channel: str | None = None) -> bool:
        """Whether this identity may ``action`` on ``channel`` (None: on some channel)."""
        head = f"{_PREFIX}{action}"
        for s in self.scopes:
            if s == head:
                return True
            if s.startswith(head + ":"):
                ns = s[len(head) + 1 :]
                if channel is None or channel == ns or channel.startswith(ns + "/"):
                    return True
        return False


class EventRate:
    """A token bucket per user: at most ``rate`` events a second, bursts of ``burst``."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, user: str, now: float | None = None) -> bool:
        """Take one event from ``user``'s bucket; False if it is empty."""
        if self.rate <= 0:
            return True
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.get(user, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self._buckets[user] = (tokens, now)
            return False
        self._buckets[user] = (tokens - 1.0, now)
        if len(self._buckets) > 100_000:  # forget idle users (full buckets)
            self._buckets = {
                u: b
                for u, b in self._buckets.items()
                if b[0] + (now - b[1]) * self.rate < self.burst
            }
        return True
