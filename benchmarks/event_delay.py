"""How long a browser event takes to reach a busy kernel's handler.

Starts a real Jupyter server with nbchannel and a real kernel, runs a long cell that either
sleeps or spins in pure Python, and sends events from a WebSocket client speaking the
browser protocol while the cell runs. Each event carries its send time; the handler in the
kernel records the delay. Prints the median and spread per cell kind.

    python -m benchmarks.event_delay [--events 15] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

from nbchannel.testing import JupyterServer, KernelSession, Viewer

SETUP = """
import time
from nbchannel import LiveChannel
ch = LiveChannel("bench-events")
assert ch.wait_connected(10)
delays = []
@ch.on("ping")
def on_ping(event):
    delays.append(time.time() - event.value["sent"])
"""

CELLS = {
    "sleeping": "time.sleep({s})",
    "spinning": "t0 = time.time()\nwhile time.time() - t0 < {s}:\n    pass",
}


async def measure(server: JupyterServer, kernel: KernelSession, cell: str, n: int) -> list[float]:
    """Send ``n`` events while ``cell`` keeps the kernel busy; return the delays in ms."""
    kernel.execute("delays.clear()")
    viewer = await Viewer.connect(server.ws_url, token=server.token)
    await viewer.subscribe(kernel.id, "bench-events")
    await viewer.wait_for(lambda: viewer.view(kernel.id, "bench-events").epoch is not None)
    gap = 0.2
    request = kernel.submit(cell.format(s=n * gap + 2))
    await asyncio.sleep(1.0)
    for _ in range(n):
        await viewer.event(kernel.id, "bench-events", "ping", {"sent": time.time()})
        await asyncio.sleep(gap)
    await asyncio.get_running_loop().run_in_executor(None, kernel.join, request)
    await viewer.close()
    return [d * 1000 for d in kernel.eval("delays")]


def main(argv: list[str] | None = None) -> int:
    """Run the measurement and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=15, help="events per cell kind")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    results: dict[str, dict[str, float]] = {}
    with JupyterServer() as server:
        kernel = server.start_kernel()
        kernel.execute(SETUP)
        for kind, cell in CELLS.items():
            delays = asyncio.run(measure(server, kernel, cell, args.events))
            delays.sort()
            results[kind] = {
                "events": len(delays),
                "median_ms": statistics.median(delays),
                "p90_ms": delays[int(0.9 * (len(delays) - 1))],
                "min_ms": delays[0],
                "max_ms": delays[-1],
            }
        kernel.shutdown()
    print("browser event → handler in a busy kernel (nbchannel)")
    print(f"{'cell':<10} {'events':>6} {'median':>10} {'p90':>10} {'min':>10} {'max':>10}")
    for kind, r in results.items():
        print(
            f"{kind:<10} {r['events']:>6} {r['median_ms']:>8.2f}ms {r['p90_ms']:>8.2f}ms "
            f"{r['min_ms']:>8.2f}ms {r['max_ms']:>8.2f}ms"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
