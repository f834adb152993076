"""Resident memory of another process, read from ``/proc`` (Linux; no extra dependency)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

__all__ = ["RssSampler", "rss_bytes"]

_MiB = 1 << 20


def rss_bytes(pid: int) -> int:
    """``VmRSS`` of process ``pid`` in bytes (0 where ``/proc`` is not available)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class RssSampler:
    """Samples a process's RSS every ``interval`` seconds between :meth:`start` and :meth:`stop`.

    The baseline is read at :meth:`start`; growth is reported at the end and at the peak.
    """

    def __init__(self, pid: int, interval: float = 0.25) -> None:
        self.pid = pid
        self.interval = interval
        self.before = 0
        self.peak = 0
        self.after = 0
        self.samples: list[int] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Read the baseline and start sampling."""
        self.before = self.peak = rss_bytes(self.pid)
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            rss = rss_bytes(self.pid)
            self.samples.append(rss)
            self.peak = max(self.peak, rss)
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        """Stop sampling and read the final value."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.after = rss_bytes(self.pid)
        self.peak = max(self.peak, self.after)

    def summary(self) -> dict[str, Any]:
        """Baseline, growth at the end and at the peak, in MiB."""
        return {
            "rss_before_mib": self.before / _MiB,
            "rss_growth_mib": (self.after - self.before) / _MiB,
            "rss_peak_growth_mib": (self.peak - self.before) / _MiB,
        }
