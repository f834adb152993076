"""Throughput of the wire codec, with no I/O.

Measures what the kernel and the hub do per message: building a message from a Python value
and encoding it into a frame, and decoding a frame and reading the value back::

    python -m benchmarks.codec                  # full run, prints a table
    python -m benchmarks.codec --quick          # fewer and smaller runs (smoke test)
    python -m benchmarks.codec --json out.json  # also write the results

Cases:

* ~100-byte JSON messages, one message per frame and 256 batched per frame (messages/s):
  ``Message.create`` + ``encode_frame``; ``encode_frame`` alone on built messages;
  ``decode_frame`` alone (what the hub does to route); ``decode_frame`` + ``.value()``;
* 1 MiB float64 arrays (MiB/s): create and encode into frame parts (what a socket's
  ``sendmsg`` writes, no copy of the array), create, encode and join into one ``bytes``,
  decode and ``.value()`` (the array is a view into the frame, no copy either).

Every figure is the median of several runs; there are no thresholds (this is a report, not a
test).
"""

from __future__ import annotations

import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from nbchannel.core.codec import decode_frame, encode_frame, encode_frame_parts
from nbchannel.core.message import Message

from .cli import parser, save_json

MiB = 1024 * 1024
BATCH = 256


@dataclass
class Result:
    """One measured operation: ``median`` (and every run) in ``unit``."""

    case: str
    op: str
    unit: str
    median: float
    runs: list[float] = field(default_factory=list)


def measure(run: Callable[[Any], float], setup: Callable[[], Any], repeat: int) -> list[float]:
    """Time ``run(setup())`` ``repeat`` times; ``run`` returns the work done; return rates."""
    run(setup())  # warm up: first-touch page faults and allocator growth are not the codec
    rates = []
    for _ in range(repeat):
        state = setup()
        start = time.perf_counter()
        amount = run(state)
        rates.append(amount / (time.perf_counter() - start))
    return rates


def const(value: Any) -> Callable[[], Any]:
    """A setup function that hands ``value`` to every run."""
    return lambda: value


def small_value(i: int) -> dict[str, Any]:
    """A ~100-byte JSON payload, like one point of a live plot."""
    return {"series": "loss", "step": i, "t": 1_700_000_000.25 + i, "v": 0.123456789 * i,
            "tags": ["train", "gpu0"], "unit": "nats"}  # fmt: skip


def bench_small(n: int, repeat: int) -> list[Result]:
    """~100-byte messages, one per frame and BATCH per frame."""
    values = [small_value(i) for i in range(n)]
    built = [Message.create("append", "plot", v, offset=i) for i, v in enumerate(values)]
    size = sum(len(m.payload) for m in built) // n
    out = []
    for per_frame in (1, BATCH):
        case = f"{size} B JSON, {per_frame} msg/frame"
        starts = range(0, n, per_frame)

        def create_encode(_: None, starts: range = starts, k: int = per_frame) -> float:
            for s in starts:
                chunk = values[s : s + k]
                encode_frame(
                    [Message.create("append", "plot", v, offset=s + i) for i, v in enumerate(chunk)]
                )
            return n

        def encode(msgs: list[Message], starts: range = starts, k: int = per_frame) -> float:
            for s in starts:
                encode_frame(msgs[s : s + k])
            return n

        def decode(frames: list[bytes]) -> float:
            for frame in frames:
                decode_frame(frame)
            return n

        def decode_value(frames: list[bytes]) -> float:
            for frame in frames:
                for m in decode_frame(frame):
                    m.value()
            return n

        frames = [encode_frame(built[s : s + per_frame]) for s in starts]
        ops: list[tuple[str, Callable[[Any], float], Callable[[], Any]]] = [
            ("create + encode", create_encode, const(None)),
            # fresh copies: a message caches its encoded header after the first frame
            ("encode", encode, lambda: [m.replace() for m in built]),
            ("decode", decode, const(frames)),
            ("decode + value", decode_value, const(frames)),
        ]
        for op, run, setup in ops:
            runs = measure(run, setup, repeat)
            out.append(Result(case, op, "msg/s", statistics.median(runs), runs))
    return out


def bench_arrays(n: int, repeat: int) -> list[Result]:
    """1 MiB float64 arrays: encode to parts, encode + join, decode + value."""
    arrays = [np.random.default_rng(i).random(MiB // 8) for i in range(n)]
    frames = [encode_frame([Message.create("publish", "data", {"a": a})]) for a in arrays]
    mib = n * arrays[0].nbytes / MiB

    def parts(_: None) -> float:
        for a in arrays:
            encode_frame_parts([Message.create("publish", "data", {"a": a})])
        return mib

    def joined(_: None) -> float:
        for a in arrays:
            encode_frame([Message.create("publish", "data", {"a": a})])
        return mib

    def decode(_: None) -> float:
        for frame in frames:
            (m,) = decode_frame(frame)
            m.value()
        return mib

    out = []
    for op, run in [
        ("create + encode parts", parts),
        ("create + encode + join", joined),
        ("decode + value", decode),
    ]:
        runs = measure(run, const(None), repeat)
        out.append(Result("1 MiB float64 array", op, "MiB/s", statistics.median(runs), runs))
    return out


def table(results: list[Result]) -> str:
    """The results as an aligned text table."""
    rows = [("case", "operation", "median", "unit", "min … max")]
    for r in results:
        rows.append(
            (r.case, r.op, f"{r.median:,.0f}", r.unit, f"{min(r.runs):,.0f} … {max(r.runs):,.0f}")
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    right = {2, 4}
    lines = []
    for k, row in enumerate(rows):
        cells = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks, print a table, optionally write JSON; returns the exit status."""
    args = parser(__doc__.splitlines()[0], "fewer, smaller runs (smoke test)").parse_args(argv)

    repeat = 3 if args.quick else 5
    n_small = 2_048 if args.quick else 20_480
    n_arrays = 4 if args.quick else 32

    results = bench_small(n_small, repeat) + bench_arrays(n_arrays, repeat)
    print(
        f"nbchannel codec — Python {platform.python_version()}, numpy {np.__version__}, "
        f"median of {repeat} runs{' (quick)' if args.quick else ''}\n"
    )
    print(table(results))
    report = {
        "benchmark": "codec",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "quick": args.quick,
        "repeat": repeat,
        "results": [asdict(r) for r in results],
    }
    save_json(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
