"""What a client received of a numbered stream: count, loss, order and one-way latency.

Every benchmark message carries ``seq`` (0, 1, 2 …) and ``t``, the sender's ``time.time_ns()``
when it was sent. Sender and receiver run on the same machine, so ``receive time - t`` is the
one-way latency across processes on one clock.
"""

from __future__ import annotations

import asyncio
import math
import time
from array import array
from collections.abc import Iterable
from typing import Any

__all__ = ["Tally", "delay_summary", "fanout_summary", "percentile", "wait_all"]


def percentile(sorted_values: list[float] | array[Any], q: float) -> float:
    """The ``q``-quantile (0..1) of already sorted values, nearest rank; NaN when empty."""
    n = len(sorted_values)
    if not n:
        return float("nan")
    return float(sorted_values[min(n - 1, max(0, math.ceil(q * n) - 1))])


class Tally:
    """Receiving side of one numbered stream of ``expected`` messages."""

    def __init__(self, expected: int, *, keep_latency: bool = True) -> None:
        self.expected = expected
        self._seen = bytearray(expected)
        self.received = 0
        self.duplicates = 0
        self.out_of_order = 0
        self.bytes = 0
        #: Messages the server said it dropped (nbchannel's gap markers).
        self.reported_dropped = 0
        self._last_seq = -1
        self.first_sent_ns = 0
        self.first_recv_ns = 0
        self.last_recv_ns = 0
        self.keep_latency = keep_latency
        self.latency_ns: array[int] = array("q")

    def add(self, seq: int, sent_ns: int, recv_ns: int, nbytes: int = 0) -> None:
        """Count message ``seq`` sent at ``sent_ns`` and received at ``recv_ns``."""
        seen = self._seen
        if seq < 0 or seq >= self.expected:
            raise ValueError(f"sequence number {seq} outside 0..{self.expected - 1}")
        if seen[seq]:
            self.duplicates += 1
            return
        seen[seq] = 1
        if seq < self._last_seq:
            self.out_of_order += 1
        self._last_seq = seq
        if not self.received:
            self.first_recv_ns = recv_ns
        self.received += 1
        self.bytes += nbytes
        if self.first_sent_ns == 0 or sent_ns < self.first_sent_ns:
            self.first_sent_ns = sent_ns
        self.last_recv_ns = recv_ns
        if self.keep_latency:
            self.latency_ns.append(recv_ns - sent_ns)

    def add_items(self, items: list[dict[str, Any]], recv_ns: int) -> None:
        """:meth:`add` for each of ``items`` (dicts with ``seq`` and ``t``) received at
        ``recv_ns``: the same counts, in one call (a batch or a segment of many)."""
        seen, expected, last = self._seen, self.expected, self._last_seq
        latency = self.latency_ns if self.keep_latency else None
        received = duplicates = out_of_order = 0
        first_sent = self.first_sent_ns
        for item in items:
            seq, sent = item["seq"], item["t"]
            if seq < 0 or seq >= expected:
                raise ValueError(f"sequence number {seq} outside 0..{expected - 1}")
            if seen[seq]:
                duplicates += 1
                continue
            seen[seq] = 1
            if seq < last:
                out_of_order += 1
            last = seq
            received += 1
            if first_sent == 0 or sent < first_sent:
                first_sent = sent
            if latency is not None:
                latency.append(recv_ns - sent)
        self._last_seq = last
        self.duplicates += duplicates
        self.out_of_order += out_of_order
        if received:
            if not self.received:
                self.first_recv_ns = recv_ns
            self.received += received
            self.first_sent_ns = first_sent
            self.last_recv_ns = recv_ns

    @property
    def lost(self) -> int:
        """Messages not received (gaps in the sequence, and a missing tail)."""
        return self.expected - self.received

    @property
    def complete(self) -> bool:
        """Whether every message arrived."""
        return self.received >= self.expected

    def elapsed(self) -> float:
        """Seconds from the first message's send to the last message's receipt."""
        return max(1e-9, (self.last_recv_ns - self.first_sent_ns) / 1e9)

    def rate(self) -> float:
        """Messages delivered per second (first send → last receipt)."""
        return self.received / self.elapsed() if self.received else 0.0

    def mib_per_s(self) -> float:
        """Payload MiB delivered per second (first send → last receipt)."""
        return self.bytes / (1 << 20) / self.elapsed() if self.received else 0.0

    def latency_ms(self) -> list[float]:
        """Sorted one-way latencies in milliseconds."""
        return sorted(v / 1e6 for v in self.latency_ns)

    def summary(self) -> dict[str, Any]:
        """The headline numbers as a JSON-able dict."""
        lat = self.latency_ms()
        return {
            "expected": self.expected,
            "received": self.received,
            "lost": self.lost,
            "reported_dropped": self.reported_dropped,
            "duplicates": self.duplicates,
            "out_of_order": self.out_of_order,
            "rate": self.rate(),
            "mib_per_s": self.mib_per_s(),
            "p50_ms": percentile(lat, 0.5),
            "p99_ms": percentile(lat, 0.99),
            "max_ms": lat[-1] if lat else float("nan"),
        }


#: After the sender is done, how long messages may still take to arrive (then they count as
#: lost), and how long a pause in arrivals ends the wait early.
DRAIN_SECONDS = 5.0
QUIET_SECONDS = 1.5


async def wait_all(
    tallies: Iterable[Tally],
    *,
    timeout: float = DRAIN_SECONDS,
    quiet: float = QUIET_SECONDS,
    poll: float = 0.01,
) -> bool:
    """Wait until every tally is complete. Gives up after ``timeout`` seconds, or once
    nothing new has arrived for ``quiet`` seconds after something did (what is missing then
    is lost). Returns whether all are complete."""
    tallies = list(tallies)
    start = time.monotonic()
    last_total = sum(t.received for t in tallies)
    last_change = start if last_total else float("inf")
    while True:
        if all(t.complete for t in tallies):
            return True
        now = time.monotonic()
        total = sum(t.received for t in tallies)
        if total != last_total:
            last_total, last_change = total, now
        if now - last_change > quiet or now - start > timeout:
            return False
        await asyncio.sleep(poll)


def fanout_summary(tallies: list[Tally]) -> dict[str, Any]:
    """Many viewers of one stream together: total delivered rate, loss and latency."""
    first = min((t.first_sent_ns for t in tallies if t.received), default=0)
    last = max((t.last_recv_ns for t in tallies), default=0)
    received = sum(t.received for t in tallies)
    expected = sum(t.expected for t in tallies)
    lat = sorted(v / 1e6 for t in tallies for v in t.latency_ns)
    elapsed = max(1e-9, (last - first) / 1e9)
    return {
        "clients": len(tallies),
        "expected": expected,
        "received": received,
        "lost": expected - received,
        "reported_dropped": sum(t.reported_dropped for t in tallies),
        "out_of_order": sum(t.out_of_order for t in tallies),
        "duplicates": sum(t.duplicates for t in tallies),
        "rate": received / elapsed if received else 0.0,
        "p50_ms": percentile(lat, 0.5),
        "p99_ms": percentile(lat, 0.99),
        "max_ms": lat[-1] if lat else float("nan"),
    }


def delay_summary(delays_ms: list[float], sent: int) -> dict[str, Any]:
    """Event delays (ms) measured by the kernel's handler for ``sent`` events."""
    delays = sorted(delays_ms)
    return {
        "events": sent,
        "handled": len(delays),
        "median_ms": percentile(delays, 0.5),
        "p90_ms": percentile(delays, 0.9),
        "max_ms": delays[-1] if delays else float("nan"),
    }
