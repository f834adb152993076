"""``python -m benchmarks``: nbchannel vs the ipywidgets comm path vs a raw WebSocket.

Starts real Jupyter servers and kernels (and a raw tornado WebSocket server), measures every
metric on every path side by side in one run, prints a table with the ratios A/B, A/B0 and
A/C (and A-stream/A, A-sse/A, A-poll/A for nbchannel's HTTP fallbacks; A-comm/A,
A-comm/B-batched and B-batched/B for nbchannel over the widget's comm where the server has no
nbchannel extension, beside a comm sending 100 messages per comm message), and saves
everything as JSON::

    python -m benchmarks                       # full run, a few minutes
    python -m benchmarks --quick               # seconds, tiny sizes: proves it runs
    python -m benchmarks --only 1,2,fanout     # some metrics (numbers or names)
    python -m benchmarks --paths A,C           # some paths
    python -m benchmarks --paths A,A-stream,A-sse,A-poll   # WebSocket vs HTTP fallbacks
    python -m benchmarks --paths A,A-comm,B,B-batched      # hub vs the widget's comm
    python -m benchmarks --reps 5 --json out.json

Metrics: 1 throughput, 2 latency, 3 events, 4 arrays, 5 fanout, 6 slow, 7 browser,
8 reload, 9 image (see ``benchmarks/suite.py``). Targets are printed beside path A's
medians; nothing fails when one is missed (the quick mode judges none). A measurement that
could not be made (an exception, not a skip such as the browser's without Chromium) makes
the exit status 1, after the table and the JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from .cli import save_json
from .report import failures, format_table
from .suite import FULL, QUICK, parse_only, parse_paths, run_suite, with_slow_seconds

DEFAULT_JSON = Path(__file__).with_name("results.json")


def main(argv: list[str] | None = None) -> int:
    """Run the suite; print the table; write the JSON report."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 1 run: a smoke test")
    parser.add_argument("--only", metavar="METRICS", help="comma-separated numbers or names")
    parser.add_argument(
        "--paths",
        metavar="KEYS",
        help="comma-separated: A, A-comm, B, B-batched, B0, C, A-stream, A-sse, A-poll "
        "(default all)",
    )
    parser.add_argument("--reps", type=int, help="repetitions per metric (default 3; quick 1)")
    parser.add_argument(
        "--slow-seconds", type=float, help="duration of the slow-consumer soak (default 60)"
    )
    parser.add_argument(
        "--json", metavar="PATH", default=str(DEFAULT_JSON), help=f"default {DEFAULT_JSON}"
    )
    args = parser.parse_args(argv)
    try:
        metrics = parse_only(args.only)
        paths = parse_paths(args.paths)
    except ValueError as exc:
        parser.error(str(exc))
    reps = args.reps or (1 if args.quick else 3)
    if reps < 1:
        parser.error("--reps must be at least 1")
    sizes = with_slow_seconds(QUICK if args.quick else FULL, args.slow_seconds)
    print(f"running {', '.join(metrics)} × {reps} (progress on stderr) …", file=sys.stderr)
    report = asyncio.run(run_suite(metrics, sizes, reps, quick=args.quick, paths_wanted=paths))
    print(format_table(report))
    save_json(args.json, report)
    print(f"\nsaved {args.json}")
    failed = failures(report)
    if failed:
        # the table and the JSON hold what did run; the exit status says something did not
        print(f"{len(failed)} measurement(s) failed (listed above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
