"""The interpreter's thread switch interval: what it costs a computation, what it gives a click.

``python -m benchmarks.switch_interval [--quick] [--json PATH]``

One real Jupyter server with nbchannel and one kernel with a ``LiveChannel``; for each
switch interval (Python's 5 ms, then 2, 1 and 0.5 ms, set in the kernel with
``sys.setswitchinterval``, and last nbchannel's default: 1 ms with hand-offs, the interval
lowered while an event waits to be read or handled, see :mod:`nbchannel.kernel.dispatch`):

* **cost**: a pure-Python loop timed in the cell (best of 3), once computing only, once
  appending an item to the channel every 1,000 iterations (about 10,000 appends a second,
  read by a subscribed viewer): the I/O thread then sends while the loop computes;
* **click → handler**: a viewer sends events stamped with the wall clock while the cell
  spins in pure Python, and while it sleeps; the handler notes ``time.time() - sent``.

Ratios are against 5 ms. nbchannel lowers the interval to
:data:`nbchannel.kernel.transport.DEFAULT_SWITCH_INTERVAL` in kernels
(``NBCHANNEL_SWITCH_INTERVAL``; the server here runs with ``off`` so each interval is
set explicitly).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from typing import Any

from nbchannel.testing import JupyterServer, KernelSession, Viewer

from .cli import parser, save_json

__all__ = ["main", "run"]

#: (seconds, hand-offs): Python's default first (the base of the ratios), nbchannel's last.
INTERVALS = ((0.005, False), (0.002, False), (0.001, False), (0.0005, False), (0.001, True))

SETUP = r"""
import sys, threading, time
from nbchannel import LiveChannel
from nbchannel.kernel.dispatch import allow_handoffs

ch = LiveChannel("switch")
assert ch.wait_connected(10)
delays = []

@ch.on("click")
def _clicked(event):
    delays.append(time.time() - event.value["sent"])

def numeric(n, every=0):
    t0 = time.perf_counter()
    s = 0
    for i in range(n):
        s += i * i
        if every and i % every == 0:
            ch.append({"i": i, "s": s % 1000})
    elapsed = time.perf_counter() - t0
    assert ch.flush(30)
    return elapsed

def spin(seconds):
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        pass
"""


async def _clicks(
    server: JupyterServer, kernel: KernelSession, cell: str, n: int, gap: float
) -> list[float]:
    """Run ``cell`` and send ``n`` clicks ``gap`` seconds apart while it runs; the delays
    (ms) from each click's send to its handler."""
    viewer = await Viewer.connect(server.ws_url, token=server.token)
    view = await viewer.subscribe(kernel.id, "switch")
    await viewer.wait_for(lambda: view.epoch is not None)
    kernel.execute("delays.clear()")
    running = asyncio.create_task(asyncio.to_thread(kernel.execute, cell))
    await asyncio.sleep(0.3)  # the cell is under way
    for _ in range(n):
        await viewer.event(kernel.id, "switch", "click", {"sent": time.time()})
        await asyncio.sleep(gap)
    await running
    await viewer.close()
    return [d * 1000 for d in kernel.eval("list(delays)")]


async def _measure(
    server: JupyterServer, kernel: KernelSession, quick: bool
) -> list[dict[str, Any]]:
    n_loop = 300_000 if quick else 3_000_000
    clicks = 5 if quick else 40
    gap = 0.02
    busy = clicks * gap + 0.8
    viewer = await Viewer.connect(server.ws_url, token=server.token)
    await viewer.subscribe(kernel.id, "switch")  # the streamed items go somewhere
    reading = asyncio.create_task(viewer.wait_for(lambda: False, timeout=3600))
    rows = []
    try:
        # warm up (the first loop of a fresh kernel runs slower, whatever the interval)
        kernel.eval(f"numeric({n_loop}) + numeric({n_loop}, 1000)", timeout=300)
        for interval, handoffs in INTERVALS:
            kernel.execute(f"allow_handoffs({handoffs}); sys.setswitchinterval({interval})")
            idle = kernel.eval(f"min(numeric({n_loop}) for _ in range(3))")
            streamed = kernel.eval(f"min(numeric({n_loop}, 1000) for _ in range(3))", timeout=300)
            spinning = await _clicks(server, kernel, f"spin({busy})", clicks, gap)
            sleeping = await _clicks(server, kernel, f"time.sleep({busy})", clicks, gap)
            rows.append(
                {
                    "interval_ms": interval * 1000,
                    "handoffs": handoffs,
                    "loop_idle_ms": idle * 1000,
                    "loop_streaming_ms": streamed * 1000,
                    "spinning_p50_ms": statistics.median(spinning),
                    "spinning_max_ms": max(spinning),
                    "sleeping_p50_ms": statistics.median(sleeping),
                }
            )
            print(_line(rows[-1], rows[0]), flush=True)
    finally:
        reading.cancel()
        await viewer.close()
    return rows


def _line(row: dict[str, Any], base: dict[str, Any]) -> str:
    return (
        f"{row['interval_ms']:>5.1f} ms{' + hand-offs' if row['handoffs'] else ' ' * 12}"
        f" | loop idle {row['loop_idle_ms']:7.1f} ms "
        f"(×{row['loop_idle_ms'] / base['loop_idle_ms']:.3f}) | loop appending "
        f"{row['loop_streaming_ms']:7.1f} ms "
        f"(×{row['loop_streaming_ms'] / base['loop_streaming_ms']:.3f})"
        f" | click→handler spinning p50 {row['spinning_p50_ms']:.2f} ms "
        f"(max {row['spinning_max_ms']:.2f}), sleeping p50 {row['sleeping_p50_ms']:.2f} ms"
    )


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Measure every interval; return the rows (and print them)."""
    os.environ["NBCHANNEL_SWITCH_INTERVAL"] = "off"  # inherited by the kernel
    print(
        "switch interval | pure-Python loop, best of 3 (× vs 5 ms) | click → handler",
        flush=True,
    )
    with JupyterServer() as server:
        kernel = server.start_kernel()
        try:
            kernel.execute(SETUP)
            rows = asyncio.run(_measure(server, kernel, quick))
        finally:
            kernel.shutdown()
    print(f"load average (1 min): {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    return rows


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.switch_interval``."""
    args = parser(__doc__.splitlines()[0], "small sizes: proves it runs").parse_args(argv)
    save_json(args.json, run(args.quick))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
