"""Fan-out on one Jupyter server: ``python -m benchmarks.fanout``.

A kernel's ``LiveChannel`` appends ``--rate`` items a second for ``--seconds`` to
``--viewers`` viewers of the server's hub (``{base_url}nbchannel/ws``, Jupyter's token
auth), the same lean viewer processes as :mod:`benchmarks.relay` (every viewer checks
every item's offset; the latency of every item is worked out from one parse of each
distinct frame). Prints items lost and duplicated, the latency percentiles of every item
(send in the kernel → read by the viewer process, one clock) and the server's memory per
viewer (its resident size before and after the viewers subscribed).

Everything runs on this machine: on 2 cores the viewers' processes take about one of them.
"""

from __future__ import annotations

import asyncio
import resource
import time
from typing import Any

from nbchannel.testing import JupyterServer

from .cli import parser, save_json
from .memory import rss_bytes
from .nbc_path import NbcPath
from .relay import Target, ViewerProcesses, summary

__all__ = ["main", "run", "run_suite"]

#: ``python -m benchmarks``'s metric 10, and its quick form (proves it runs).
FULL = {"viewers": 1000, "rate": 1000, "seconds": 30.0}
QUICK = {"viewers": 20, "rate": 1000, "seconds": 2.0}


def run(
    viewers: int, rate: int, seconds: float, *, workers: int = 2, run_delay: float | None = None
) -> dict[str, Any]:
    """One run on a fresh server and kernel; returns the figures (and prints them)."""
    _raise_open_files(viewers + 256)
    extra = [f"--NbChannel.run_delay={run_delay}"] if run_delay is not None else []
    with JupyterServer(extra_args=extra) as server:
        out = asyncio.run(_run(server, viewers, rate, seconds, workers))
    _print(out)
    return out


def run_suite(quick: bool = False) -> dict[str, Any]:
    """Metric 10 of ``python -m benchmarks``; an ``error`` entry instead of raising."""
    size = QUICK if quick else FULL
    try:
        return run(int(size["viewers"]), int(size["rate"]), float(size["seconds"]))
    except Exception as exc:  # the rest of the suite's report still counts
        return {**size, "error": f"{type(exc).__name__}: {exc}"}


async def _run(
    server: JupyterServer, viewers: int, rate: int, seconds: float, workers: int
) -> dict[str, Any]:
    path = await NbcPath.start(server)
    try:
        name = await path._open()
        auth = (("Authorization", f"token {server.token}"),)
        target = Target(scope=path.kernel_id, name=name, headers=auth)
        assert server.pid is not None
        base = rss_bytes(server.pid)
        procs = ViewerProcesses([[server.ws_url]] * viewers, workers, target)
        try:
            await asyncio.to_thread(procs.ready)
            await asyncio.sleep(0.5)
            per_viewer = (rss_bytes(server.pid) - base) / viewers
            n = max(1, int(rate * seconds))
            started = time.monotonic()
            await path.ctl.execute(f"_bench_paced(_ch.append, {n}, {rate})", timeout=seconds + 60)
            took = time.monotonic() - started
            results = await asyncio.to_thread(procs.results, n)
        finally:
            procs.close()
        await path.ctl.execute("_nbc_close()")
    finally:
        await path.close()
    out: dict[str, Any] = {"run": "server hub", "rate": rate, "seconds": seconds}
    out.update(summary(results, n, viewers))
    out["send_seconds"] = took
    out["server_kib_per_viewer"] = per_viewer / 1024
    return out


def _raise_open_files(needed: int) -> None:
    """Let the server (started from here) hold a socket per viewer."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            raise SystemExit(
                f"{needed} open files needed for the viewers, the limit is {hard} (ulimit -n)"
            )
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def _print(r: dict[str, Any]) -> None:
    print(
        f"[{r['run']}] 1 kernel → {r['viewers']} viewers, {r['rate']} msgs/s for "
        f"{r['seconds']:g} s: sent {r['sent']:,}, delivered {r['delivered']:,} of "
        f"{r['expected']:,}; lost {r['lost']}, duplicated {r['duplicated']}, "
        f"reported dropped {r['reported_dropped']}"
    )
    print(
        f"    latency kernel → viewer, every item: p50 {r['p50_ms']:.1f} ms, "
        f"p99 {r['p99_ms']:.1f} ms, max {r['max_ms']:.1f} ms (to the viewer's socket: "
        f"p99 {r['socket_p99_ms']:.1f} ms); server memory per viewer "
        f"{r['server_kib_per_viewer']:.1f} KiB"
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.fanout``."""
    p = parser(__doc__, "20 viewers for 2 s (proves it runs)", prog="python -m benchmarks.fanout")
    p.add_argument("--viewers", type=int, default=1000)
    p.add_argument("--rate", type=int, default=1000, help="messages/s the kernel appends")
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--workers", type=int, default=2, help="viewer processes")
    p.add_argument(
        "--run-delay", type=float, default=None, help="the server's c.NbChannel.run_delay (s)"
    )
    args = p.parse_args(argv)
    if args.quick:
        args.viewers, args.seconds = QUICK["viewers"], QUICK["seconds"]
    out = run(args.viewers, args.rate, args.seconds, workers=args.workers, run_delay=args.run_delay)
    save_json(args.json, out)
    return 0 if out["lost"] == 0 and out["duplicated"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
