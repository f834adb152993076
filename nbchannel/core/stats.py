"""Counters and rate meters for the observability API. No I/O."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["ChannelStats", "RateMeter"]


class RateMeter:
    """Events per second over a sliding window of whole-second buckets.

    ``add`` costs one clock read and an integer compare, cheap enough for every message.
    """

    __slots__ = ("_buckets", "_clock", "_second", "window")

    def __init__(self, clock: Callable[[], float], window: int = 10) -> None:
        self.window = window
        self._clock = clock
        self._buckets = [0] * window
        self._second = int(clock())

    def _advance(self, now: int) -> None:
        steps = now - self._second
        if steps <= 0:
            return
        b = self._buckets
        for i in range(1, min(steps, self.window) + 1):
            b[(self._second + i) % self.window] = 0
        self._second = now

    def add(self, n: int = 1) -> None:
        """Count ``n`` events now."""
        now = int(self._clock())
        if now != self._second:
            self._advance(now)
        self._buckets[now % self.window] += n

    def rate(self) -> float:
        """Mean events per second over the last ``window - 1`` complete seconds."""
        now = int(self._clock())
        self._advance(now)
        current = self._buckets[now % self.window]
        return (sum(self._buckets) - current) / (self.window - 1)


class ChannelStats:
    """Traffic counters of one channel."""

    __slots__ = (
        "bytes_in",
        "bytes_out",
        "dropped",
        "events",
        "messages_in",
        "messages_out",
        "rate_in",
        "rate_out",
    )

    def __init__(self, clock: Callable[[], float]) -> None:
        #: Messages and bytes written into the channel by its owners.
        self.messages_in = 0
        self.bytes_in = 0
        #: Messages and bytes queued for subscribers (each subscriber counts).
        self.messages_out = 0
        self.bytes_out = 0
        #: Messages that a subscriber's full queue dropped.
        self.dropped = 0
        #: Events sent by subscribers to the owners.
        self.events = 0
        self.rate_in = RateMeter(clock)
        self.rate_out = RateMeter(clock)
