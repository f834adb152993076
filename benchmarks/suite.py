"""The benchmark suite: which measurement runs on which path, how often, at what size.

Paths (each started once per run and measured side by side, repetitions interleaved so
that a noisy moment hits every path alike):

* **A** — nbchannel: ``LiveChannel`` in a kernel → hub → ``nbchannel/ws``;
* **A-comm** — nbchannel on a Jupyter server without its extension: the kernel serves the
  widget's channel itself over the widget's comm, through the kernel WebSocket with the
  default IOPub limits, paced at 100 comm messages/s (``benchmarks/nbc_comm_path.py``);
* **B** — an ipywidgets widget's comm → jupyter-server's kernel WebSocket (v1 protocol),
  with jupyter-server's default IOPub rate limits; **B0** — the same with them off;
  **B-batched** — B's widget sending 100 messages per comm message (the fair peer of a
  comm that batches);
* **C** — a raw tornado WebSocket server → client, one message per frame (the ceiling);
* **A-stream**, **A-sse**, **A-poll** — path A's kernel and hub with the viewer on an HTTP
  fallback instead of the WebSocket (``docs/http-transports.md``): the binary stream, the
  same as ``text/event-stream``, or long-polling; what the viewer sends goes as ``POST
  nbchannel/send`` (``benchmarks/http_path.py``).

Metrics (``--only`` takes their names or numbers):

1. ``throughput`` small (~100 B JSON) messages: delivered/s and lost;
2. ``latency`` one-way kernel → client at 500 messages/s: p50, p99;
3. ``events`` browser → kernel while a cell sleeps or spins: delay until the handler runs;
4. ``arrays`` 400 × 1 MiB float64 arrays in a tight loop: MiB/s and lost (A and its HTTP
   fallbacks on a ``flow="block"`` channel: ``append`` waits for the viewer; the comm
   paths pace themselves on acknowledging events);
5. ``fanout`` one stream to 100 clients at 1,000 messages/s: delivered/s, lost, p99;
6. ``slow`` one stalled client beside a fast one, 10 MB/s for 60 s: server memory growth;
7. ``browser`` LivePlot frames per second in headless Chromium (``benchmarks.browser_fps``);
8. ``reload`` a page reloaded while a cell streams: navigation start → the view shows again,
   a ``LivePlot`` (A) vs an ipywidgets widget (B) (``benchmarks.reload``);
9. ``image`` a 1080p ``LiveImage`` streamed as fast as the kernel shows frames: frames drawn
   per second in headless Chromium for raw, jpeg and png (``benchmarks.image_fps``);
10. ``fanout1k`` one kernel's stream to 1,000 viewers of one server at 1,000 messages/s for
   30 s: lost, latency p99, the server's memory per viewer (``benchmarks.fanout``; the
   viewers are lean Python clients in two processes).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from nbchannel.testing import JupyterServer

from .comm_path import NO_LIMITS, CommPath
from .http_path import LABELS as HTTP_LABELS
from .http_path import HttpPath, Transport
from .nbc_comm_path import NO_EXTENSION, NbcCommPath
from .nbc_path import NbcPath
from .raw_ws import RawPath

__all__ = [
    "FULL",
    "GOALS",
    "METRICS",
    "QUICK",
    "Goal",
    "Row",
    "Sizes",
    "parse_only",
    "parse_paths",
    "run_suite",
]

MiB = 1 << 20


@dataclass(frozen=True)
class Sizes:
    """How big each measurement is."""

    burst: dict[str, int] = field(
        default_factory=lambda: {
            "A": 200_000,
            "A-comm": 200_000,
            "B": 20_000,
            "B-batched": 200_000,
            "B0": 20_000,
            "C": 100_000,
            "A-stream": 200_000,
            "A-sse": 200_000,
            "A-poll": 200_000,
        }
    )
    paced_n: int = 1_000
    paced_rate: float = 500.0
    events_n: int = 10
    events_gap: float = 0.1
    events_lead: float = 0.5  # the cell runs this long before the first event and after the last
    arrays_n: int = 400  # 400 MiB a run: long enough to measure the steady rate, not the start
    array_bytes: int = MiB
    fanout_clients: int = 100
    fanout_rate: float = 1_000.0
    fanout_seconds: float = 2.0
    slow_seconds: float = 60.0
    slow_nbytes: int = 100_000
    slow_rate: float = 100.0  # × slow_nbytes = 10 MB/s


FULL = Sizes()
QUICK = Sizes(
    burst={
        "A": 2_000,
        "A-comm": 2_000,
        "B": 500,
        "B-batched": 2_000,
        "B0": 500,
        "C": 2_000,
        "A-stream": 2_000,
        "A-sse": 2_000,
        "A-poll": 2_000,
    },
    paced_n=50,
    events_n=2,
    events_gap=0.05,
    events_lead=0.2,
    arrays_n=4,
    fanout_clients=4,
    fanout_rate=200.0,
    fanout_seconds=0.25,
    slow_seconds=1.0,
    slow_nbytes=10_000,
    slow_rate=100.0,
)

#: Path keys in table order, with their labels.
PATHS = {
    "A": "A nbchannel",
    "A-comm": "A-comm via comm",
    "B": "B comm",
    "B-batched": "B-batched ×100",
    "B0": "B0 comm, no limit",
    "C": "C raw WS",
    "A-stream": HTTP_LABELS["stream"],
    "A-sse": HTTP_LABELS["sse"],
    "A-poll": HTTP_LABELS["poll"],
}
_TRANSPORTS: dict[str, Transport] = {"A-stream": "stream", "A-sse": "sse", "A-poll": "poll"}
HTTP_PATHS = list(_TRANSPORTS)
#: Batch size of path B-batched (messages per comm message).
BATCH = 100
#: Why a path has no value in a row although none of its runs failed.
NOT_APPLICABLE = "every run ended without this figure (such as a latency with nothing delivered)"
#: Ratio columns: (name, numerator path, denominator path).
RATIOS = [
    ("A/B", "A", "B"),
    ("A/B0", "A", "B0"),
    ("A/C", "A", "C"),
    ("A-comm/A", "A-comm", "A"),
    ("A-comm/B-batched", "A-comm", "B-batched"),
    ("B-batched/B", "B-batched", "B"),
    ("A-stream/A", "A-stream", "A"),
    ("A-sse/A", "A-sse", "A"),
    ("A-poll/A", "A-poll", "A"),
]


@dataclass(frozen=True)
class Row:
    """One line of the table: a number read from each run's summary, and its target."""

    metric: str
    label: str
    field: str
    unit: str
    #: "higher" or "lower" is better; "" for counts that only need to be zero.
    better: str
    #: ``(">=" | "<=" | "==", value)`` for path A, or None.
    target: tuple[str, float] | None = None
    ratio: bool = True


_BURST = "small messages, as fast as possible"
_PACED = "small messages at 500/s"


@dataclass
class Measurement:
    """One kind of run of one metric: a call per path, repeated, and the rows it feeds."""

    metric: str
    name: str
    paths: list[str]
    call: Callable[[Any, Sizes], Awaitable[dict[str, Any]]]
    rows: list[Row]


MEASUREMENTS: list[Measurement] = [
    Measurement(
        "throughput",
        _BURST,
        ["A", "A-comm", "B", "B-batched", "B0", "C", *HTTP_PATHS],
        lambda p, s: p.burst(s.burst[p.key]),
        [
            Row(
                "throughput",
                "1 small msgs delivered",
                "rate",
                "msg/s",
                "higher",
                (">=", 1_000_000),
            ),
            Row("throughput", "  lost (of sent)", "lost", "msgs", "", ("==", 0), ratio=False),
        ],
    ),
    Measurement(
        "latency",
        _PACED,
        ["A", "A-comm", "B", "B-batched", "B0", "C", *HTTP_PATHS],
        lambda p, s: p.paced(s.paced_n, s.paced_rate),
        [
            Row("latency", "2 one-way latency p50", "p50_ms", "ms", "lower", ("<=", 0.2)),
            Row("latency", "  one-way latency p99", "p99_ms", "ms", "lower", ("<=", 2.0)),
        ],
    ),
    Measurement(
        "events",
        "events while the cell sleeps",
        ["A", "A-comm", "B", *HTTP_PATHS],
        lambda p, s: p.events("sleeping", s.events_n, s.events_gap, s.events_lead),
        [Row("events", "3 event→handler, sleeping", "median_ms", "ms", "lower", ("<=", 0.3))],
    ),
    Measurement(
        "events",
        "events while the cell spins",
        ["A", "A-comm", "B", *HTTP_PATHS],
        lambda p, s: p.events("spinning", s.events_n, s.events_gap, s.events_lead),
        [Row("events", "  event→handler, spinning", "median_ms", "ms", "lower", ("<=", 2.0))],
    ),
    Measurement(
        "arrays",
        "1 MiB float64 arrays",
        ["A", "A-comm", "B", "B0", "C", *HTTP_PATHS],
        lambda p, s: p.arrays(s.arrays_n, s.array_bytes),
        [
            Row("arrays", "4 1 MiB arrays", "mib_per_s", "MiB/s", "higher", (">=", 1_500)),
            Row("arrays", "  lost (of sent)", "lost", "arrays", "", ("==", 0), ratio=False),
        ],
    ),
    Measurement(
        "fanout",
        "one stream to many clients",
        ["A", "B", "B0", "C"],
        lambda p, s: p.fanout(s.fanout_clients, s.fanout_rate, s.fanout_seconds),
        [
            Row("fanout", "5 fan-out delivered (all)", "rate", "msg/s", "higher"),
            Row("fanout", "  lost (of sent)", "lost", "msgs", "", ("==", 0), ratio=False),
            Row("fanout", "  latency p99", "p99_ms", "ms", "lower", ("<=", 50.0)),
        ],
    ),
    Measurement(
        "slow",
        "a stalled client beside a fast one",
        ["A", "B"],
        lambda p, s: p.slow_consumer(s.slow_seconds, s.slow_nbytes, s.slow_rate),
        [
            Row("slow", "6 server RSS growth", "rss_growth_mib", "MiB", "lower", ("<=", 64.0)),
            Row("slow", "  server RSS peak growth", "rss_peak_growth_mib", "MiB", "lower"),
            Row("slow", "  fast client p99", "p99_ms", "ms", "lower"),
        ],
    ),
]


@dataclass(frozen=True)
class Goal:
    """A goal for a path's median in a row, or for its ratio to another path's (``over``)."""

    label: str
    measurement: str
    field: str
    path: str
    op: str
    value: float
    over: str | None = None


#: Goals beside the rows' own (nbchannel against the batching comm, the comm transport,
#: the HTTP fallbacks), judged in full runs and shown under the table.
GOALS = [
    Goal("A small msgs/s ≥ 2.5 × B-batched's", _BURST, "rate", "A", ">=", 2.5, over="B-batched"),
    Goal("A-comm small msgs/s ≥ 50,000", _BURST, "rate", "A-comm", ">=", 50_000),
    Goal("A-comm small msgs lost = 0", _BURST, "lost", "A-comm", "==", 0),
    Goal("A-comm one-way latency p50 ≤ 20 ms", _PACED, "p50_ms", "A-comm", "<=", 20),
    Goal("A-stream small msgs/s ≥ 0.5 × A's", _BURST, "rate", "A-stream", ">=", 0.5, over="A"),
    Goal("A-poll small msgs/s ≥ 20,000", _BURST, "rate", "A-poll", ">=", 20_000),
    Goal("A-poll small msgs lost = 0", _BURST, "lost", "A-poll", "==", 0),
    Goal("A-poll one-way latency p50 ≤ 50 ms", _PACED, "p50_ms", "A-poll", "<=", 50),
]

METRICS = [
    "throughput",
    "latency",
    "events",
    "arrays",
    "fanout",
    "slow",
    "browser",
    "reload",
    "image",
    "fanout1k",
]


def parse_only(spec: str | None) -> list[str]:
    """``--only 1,3,fanout`` → metric names, in suite order."""
    if not spec:
        return list(METRICS)
    chosen = set()
    for item in spec.split(","):
        item = item.strip().lower()
        if not item:
            continue
        if item.isdigit() and 1 <= int(item) <= len(METRICS):
            chosen.add(METRICS[int(item) - 1])
        elif item in METRICS:
            chosen.add(item)
        else:
            raise ValueError(
                f"unknown metric {item!r}; choose from 1-{len(METRICS)} or {', '.join(METRICS)}"
            )
    return [m for m in METRICS if m in chosen]


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _brief(summary: dict[str, Any], rows: list[Row]) -> str:
    if "error" in summary:
        return f"error: {summary['error']}"
    parts = []
    for r in rows:
        v = summary.get(r.field)
        if isinstance(v, float):
            parts.append(f"{r.field}={v:,.3g}")
        elif v is not None:
            parts.append(f"{r.field}={v:,}")
    return " ".join(parts)


class _Paths:
    """The servers and kernels of one run, started lazily and stopped at the end."""

    def __init__(self) -> None:
        self.servers: list[JupyterServer] = []
        self.paths: dict[str, Any] = {}

    async def server(self, extra_args: list[str] | None = None) -> JupyterServer:
        server = JupyterServer(extra_args=extra_args)
        await asyncio.to_thread(server.start)
        self.servers.append(server)
        return server

    async def prepare(self, keys: set[str]) -> None:
        """Start what ``keys`` need, servers and kernels each in parallel (startup dominates
        a quick run)."""
        jobs: list[Awaitable[Any]] = []
        if keys & {*HTTP_PATHS}:
            keys = keys | {"A"}  # their kernel is path A's
        if keys & {"A", "B", "B-batched"} and "_shared" not in self.paths:
            jobs.append(self._start_shared())
        for key in ("A-comm", "B0"):  # each on a server of its own
            if key in keys and key not in self.paths:
                jobs.append(self.get(key))
        if "C" in keys and "C" not in self.paths:
            jobs.append(self.get("C"))
        await asyncio.gather(*jobs)
        await asyncio.gather(*(self.get(k) for k in keys & {"A", "B", "B-batched"}))
        for k in keys & {*HTTP_PATHS}:
            await self.get(k)

    async def _start_shared(self) -> None:
        self.paths["_shared"] = await self.server()

    async def get(self, key: str) -> Any:
        if key not in self.paths:
            if key in ("A", "B", "B-batched"):
                shared = self.paths.get("_shared") or await self.server()
                self.paths["_shared"] = shared
                if key == "A":
                    self.paths[key] = await NbcPath.start(shared)
                else:
                    batch = BATCH if key == "B-batched" else 1
                    self.paths[key] = await CommPath.start(
                        shared, key=key, label=PATHS[key], batch=batch
                    )
            elif key == "A-comm":
                server = await self.server(NO_EXTENSION)
                self.paths[key] = await NbcCommPath.start(server)
            elif key == "B0":
                server = await self.server(NO_LIMITS)
                self.paths[key] = await CommPath.start(server, key="B0", label=PATHS["B0"])
            elif key == "C":
                self.paths[key] = await RawPath.start()
            elif key in HTTP_PATHS:
                self.paths[key] = HttpPath(await self.get("A"), _TRANSPORTS[key])
        return self.paths[key]

    async def fresh(self, key: str) -> tuple[Any, JupyterServer]:
        """A path on a server of its own (for memory measurements)."""
        server = await self.server()
        if key == "A":
            return await NbcPath.start(server), server
        return await CommPath.start(server, key=key, label=PATHS[key]), server

    async def close(self) -> None:
        for key, path in sorted(self.paths.items(), key=lambda kv: kv[0] == "A"):
            if not key.startswith("_"):
                with contextlib.suppress(Exception):
                    await path.close()
        for server in self.servers:
            await asyncio.to_thread(server.stop)
            await asyncio.to_thread(server.cleanup)


async def _measure(
    meas: Measurement, path: Any, sizes: Sizes, rep: int, reps: int, key: str
) -> dict[str, Any]:
    # The measuring client is this process, shared by every path: keep its garbage
    # collector from pausing it mid-measurement (as timeit does), for all paths alike.
    gc.collect()
    gc.disable()
    t0 = time.monotonic()
    try:
        summary = await meas.call(path, sizes)
    except Exception as exc:  # one failing path must not lose the others' numbers
        summary = {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        gc.enable()
    summary["seconds"] = time.monotonic() - t0
    _log(
        f"  [{rep + 1}/{reps}] {meas.metric:<10} {key:<8} {meas.name}: {_brief(summary, meas.rows)}"
    )
    return summary


def parse_paths(spec: str | None) -> list[str]:
    """``--paths A,C,a-poll`` → path keys (any case), in table order."""
    if not spec:
        return list(PATHS)
    by_name = {k.upper(): k for k in PATHS}
    names = {p.strip().upper() for p in spec.split(",") if p.strip()}
    chosen = {by_name[n] for n in names if n in by_name}
    unknown = names - set(by_name)
    if unknown:
        raise ValueError(f"unknown path {sorted(unknown)}; choose from {', '.join(PATHS)}")
    return [p for p in PATHS if p in chosen]


async def run_suite(
    metrics: list[str],
    sizes: Sizes,
    reps: int,
    *,
    quick: bool,
    paths_wanted: list[str] | None = None,
) -> dict[str, Any]:
    """Run the chosen metrics on the chosen paths; return the report (:mod:`.report`)."""
    wanted = paths_wanted or list(PATHS)
    started = time.time()
    load_before = os.getloadavg()
    paths = _Paths()
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {}
    try:
        await paths.prepare(
            {
                k
                for meas in MEASUREMENTS
                if meas.metric in metrics and meas.metric != "slow"
                for k in meas.paths
                if k in wanted
            }
        )
        for meas in MEASUREMENTS:
            if meas.metric not in metrics:
                continue
            keys = [k for k in meas.paths if k in wanted]
            if not keys:
                continue
            key_runs = runs.setdefault(meas.name, {k: [] for k in keys})
            if meas.metric == "slow":
                # each path on a fresh server, so its memory is measured alone; one long run
                # each (it is a 60 s soak), its latency the median of all its messages. The
                # quick mode reuses the shared server: it only proves the measurement runs.
                for key in keys:
                    if quick:
                        path = await paths.get(key)
                        key_runs[key].append(await _measure(meas, path, sizes, 0, 1, key))
                        continue
                    path, server = await paths.fresh(key)
                    key_runs[key].append(await _measure(meas, path, sizes, 0, 1, key))
                    await path.close()
                    await asyncio.to_thread(server.stop)
                continue
            for rep in range(reps):
                for key in keys:
                    path = await paths.get(key)
                    key_runs[key].append(await _measure(meas, path, sizes, rep, reps, key))
        browser: dict[str, Any] | None = None
        if "browser" in metrics and "A" in wanted:
            from . import browser_fps

            _log("  browser: LivePlot frames per second (headless Chromium)")
            browser = await asyncio.to_thread(browser_fps.run, quick=quick, reps=reps)
            _log(f"  browser: {browser.get('skipped') or browser.get('error') or browser}")
        reload: dict[str, Any] | None = None
        reload_keys = tuple(k for k in ("A", "B") if k in wanted)
        if "reload" in metrics and reload_keys:
            from . import reload as reload_bench

            _log("  reload: a page reloaded while a cell streams (headless Chromium)")
            reload = await asyncio.to_thread(
                reload_bench.run, quick=quick, reps=reps, keys=reload_keys
            )
            _log(f"  reload: {reload.get('skipped') or reload.get('error') or reload['summary']}")
        image: dict[str, Any] | None = None
        if "image" in metrics and "A" in wanted:
            from . import image_fps

            _log("  image: LiveImage 1080p frames per second (headless Chromium)")
            image = await asyncio.to_thread(image_fps.run, quick=quick, reps=reps)
            _log(f"  image: {image.get('skipped') or image.get('error') or 'done'}")
        fanout1k: dict[str, Any] | None = None
        if "fanout1k" in metrics and "A" in wanted:
            from . import fanout

            _log("  fanout1k: one kernel to 1,000 viewers of one server")
            fanout1k = await asyncio.to_thread(fanout.run_suite, quick=quick)
            _log(f"  fanout1k: {fanout1k.get('error') or 'done'}")
    finally:
        await paths.close()
    return build_report(
        runs,
        sizes,
        reps,
        quick=quick,
        browser=browser,
        reload=reload,
        image=image,
        fanout1k=fanout1k,
        started=started,
        load_before=load_before,
    )


def build_report(
    runs: dict[str, dict[str, list[dict[str, Any]]]],
    sizes: Sizes,
    reps: int,
    *,
    quick: bool,
    browser: dict[str, Any] | None,
    started: float,
    load_before: tuple[float, float, float],
    reload: dict[str, Any] | None = None,
    image: dict[str, Any] | None = None,
    fanout1k: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Medians, ratios and targets of every row, plus the raw runs, as one JSON-able dict."""
    rows_out = []
    for meas in MEASUREMENTS:
        if meas.name not in runs:
            continue
        by_path = runs[meas.name]
        for row in meas.rows:
            values: dict[str, Any] = {}
            for key, path_runs in by_path.items():
                nums = [r[row.field] for r in path_runs if _is_num(r.get(row.field))]
                if not nums:
                    errors = [r["error"] for r in path_runs if "error" in r]
                    # Runs that ended without this figure (no latency when nothing was
                    # delivered) are a result, not a failed measurement.
                    values[key] = (
                        {"median": None, "error": errors[0]}
                        if errors
                        else {"median": None, "missing": NOT_APPLICABLE}
                    )
                    continue
                v: dict[str, Any] = {
                    "median": statistics.median(nums),
                    "runs": nums,
                    "min": min(nums),
                    "max": max(nums),
                }
                if row.field == "lost":
                    v["of"] = path_runs[0].get("expected")
                values[key] = v
            ratios = {}
            if row.ratio:
                for name, num, den in RATIOS:
                    a = values.get(num, {}).get("median")
                    b = values.get(den, {}).get("median")
                    if _is_num(a) and _is_num(b) and b:
                        ratios[name] = a / b
            out: dict[str, Any] = {
                "metric": row.metric,
                "measurement": meas.name,
                "label": row.label.strip(),
                "field": row.field,
                "unit": row.unit,
                "better": row.better,
                "values": values,
                "ratios": ratios,
            }
            if row.target is not None:
                op, goal = row.target
                out["target"] = {"op": op, "value": goal}
                a = values.get("A", {}).get("median")
                if not quick and _is_num(a):
                    out["target"]["met"] = _meets(a, op, goal)
            out["table_label"] = row.label
            rows_out.append(out)
    if browser is not None:
        size = browser_size(quick)
        shown, rate = _si(size["shown"]), _si(size["rate"])
        fps_row: dict[str, Any] = {
            "metric": "browser",
            "measurement": "LivePlot in headless Chromium",
            "label": f"LivePlot fps, {shown} points shown, {rate} points/s in",
            "table_label": f"7 LivePlot fps ({shown} shown, {rate}/s in)",
            "field": "fps",
            "unit": "fps",
            "better": "higher",
            "values": {"A": browser.get("fps_summary") or {"median": None, "error": _why(browser)}},
            "ratios": {},
            "target": {"op": ">=", "value": 55},
        }
        a = fps_row["values"]["A"].get("median")
        if not quick and _is_num(a):
            fps_row["target"]["met"] = _meets(a, ">=", 55)
        rows_out.append(fps_row)
        rows_out.extend(eight_plot_rows(browser.get("eight_plots"), quick))
    if reload is not None:
        rows_out.extend(reload_rows(reload, quick))
    if image is not None:
        rows_out.extend(image_rows(image, quick))
    if fanout1k is not None:
        rows_out.extend(fanout1k_rows(fanout1k, quick))
    return {
        "benchmark": "nbchannel vs the ipywidgets comm path vs a raw WebSocket",
        "goals": judge_goals(rows_out, quick=quick),
        "quick": quick,
        "reps": reps,
        "sizes": asdict(sizes),
        "paths": PATHS,
        "rows": rows_out,
        "runs": runs,
        "browser": browser,
        "reload": reload,
        "image": image,
        "fanout1k": fanout1k,
        "environment": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
            "versions": _versions(),
        },
        "started": started,
        "seconds": time.time() - started,
    }


#: Metric 8's rows: (field, table label, label).
RELOAD_ROWS = [
    ("shown_s", "8 reload mid-run: view shown", "navigation start → the view shows its history"),
    ("outputs_s", "  outputs restored (JupyterLab)", "navigation start → outputs in the page"),
    ("after_outputs_s", "  view shown − outputs", "outputs in the page → the view shows"),
]


def reload_rows(reload: dict[str, Any], quick: bool) -> list[dict[str, Any]]:
    """Metric 8's rows from :func:`benchmarks.reload.run`'s result; a view that showed only
    once the cell had ended is flagged ``†`` (its value is when it did show)."""
    from . import reload as reload_bench

    size = reload_bench.QUICK if quick else reload_bench.FULL
    why = _why(reload) if "summary" not in reload else "no data"
    rows = []
    for field_name, table_label, label in RELOAD_ROWS:
        values: dict[str, Any] = {}
        for key, summary in reload.get("summary", {"A": {}, "B": {}}).items():
            got = summary.get(field_name)
            if got is None:
                errors = [r["error"] for r in reload.get("runs", {}).get(key, []) if "error" in r]
                values[key] = {"median": None, "error": errors[0] if errors else why}
                continue
            values[key] = dict(got)
            if field_name == "shown_s" and summary.get("after_cell_end"):
                values[key]["flag"] = "†"
        ratios = {}
        for name, num, den in RATIOS:
            a = values.get(num, {}).get("median")
            b = values.get(den, {}).get("median")
            if _is_num(a) and _is_num(b) and b:
                ratios[name] = a / b
        rows.append(
            {
                "metric": "reload",
                "measurement": "page reloaded while a cell streams",
                "label": f"{label}, reloaded {size['before']:g} s into a "
                f"{size['stream']:g} s stream",
                "table_label": table_label,
                "field": field_name,
                "unit": "s",
                "better": "lower",
                "values": values,
                "ratios": ratios,
            }
        )
    return rows


def judge_goals(rows: list[dict[str, Any]], *, quick: bool) -> list[dict[str, Any]]:
    """The :data:`GOALS` whose paths ran: the value reached and (full runs) whether met."""
    out = []
    for goal in GOALS:
        row = next(
            (r for r in rows if r["measurement"] == goal.measurement and r["field"] == goal.field),
            None,
        )
        if row is None or goal.path not in row["values"]:
            continue
        value = row["values"][goal.path].get("median")
        if goal.over is not None:
            base = row["values"].get(goal.over, {}).get("median")
            value = value / base if _is_num(value) and _is_num(base) and base else None
        judged: dict[str, Any] = {
            "label": goal.label,
            "path": goal.path,
            "op": goal.op,
            "goal": goal.value,
            "value": value,
        }
        if not quick and _is_num(value):
            judged["met"] = _meets(value, goal.op, goal.value)
        out.append(judged)
    return out


def _a_row(
    metric: str,
    measurement: str,
    label: str,
    table_label: str,
    field: str,
    unit: str,
    median: Any,
    error: str,
    *,
    better: str = "higher",
    target: tuple[str, float] | None = None,
    quick: bool,
) -> dict[str, Any]:
    """A row measured on path A alone: its median (``error`` when it is not a number) and
    its goal, judged unless ``quick``."""
    value = {"median": median} if _is_num(median) else {"median": None, "error": error}
    row: dict[str, Any] = {
        "metric": metric,
        "measurement": measurement,
        "label": label,
        "table_label": table_label,
        "field": field,
        "unit": unit,
        "better": better,
        "values": {"A": value},
        "ratios": {},
    }
    if target is not None:
        op, goal = target
        row["target"] = {"op": op, "value": goal}
        if not quick and _is_num(median):
            row["target"]["met"] = _meets(median, op, goal)
    return row


def eight_plot_rows(eight: dict[str, Any] | None, quick: bool) -> list[dict[str, Any]]:
    """Metric 7's page of eight LivePlots: the page's frames per second and its slowest
    plot's (goal ≥ 55 for each plot)."""
    if eight is None:
        return []
    rows = []
    for key, label in (
        ("page_fps_summary", "  8 plots on a page: page fps"),
        ("plot_fps_min_summary", "  8 plots: slowest plot fps"),
    ):
        summary = eight.get(key)
        rows.append(
            _a_row(
                "browser",
                "8 LivePlots in headless Chromium",
                f"{label.strip()} ({eight.get('shown')} points each, "
                f"{eight.get('rate')} points/s each)",
                label,
                "fps",
                "fps",
                summary.get("median") if isinstance(summary, dict) else None,
                str(eight.get("error") or "no data"),
                target=(">=", 55) if key == "plot_fps_min_summary" else None,
                quick=quick,
            )
        )
    return rows


def image_rows(image: dict[str, Any], quick: bool) -> list[dict[str, Any]]:
    """Metric 9's rows: a 1080p LiveImage's frames drawn per second in headless Chromium,
    one per encoding (the kernel encodes jpeg and png with Pillow), goal ≥ 30 for jpeg."""
    encodings = image.get("encodings") or {}
    rows = []
    for enc in ("raw", "jpeg", "png"):
        r = encodings.get(enc)
        rows.append(
            _a_row(
                "image",
                "LiveImage in headless Chromium",
                f"LiveImage 1920×1080 {enc} frames drawn per second",
                f"9 LiveImage 1080p {enc} fps",
                "fps",
                "fps",
                r.get("fps") if isinstance(r, dict) else None,
                _why(image) if not r else str(r),
                target=(">=", 30) if enc == "jpeg" else None,
                quick=quick,
            )
        )
    return rows


def fanout1k_rows(r: dict[str, Any], quick: bool) -> list[dict[str, Any]]:
    """Metric 10's rows: one kernel to 1,000 viewers of one server, goals p99 ≤ 50 ms and
    nothing lost."""
    viewers = r.get("viewers", "?")
    error = str(r.get("error") or "no data")
    rows = []
    for label, fld, unit, better, target in (
        (f"kernel → {viewers} viewers p99", "p99_ms", "ms", "lower", ("<=", 50)),
        ("  lost (of delivered)", "lost", "items", "", ("==", 0)),
        ("  server memory per viewer", "server_kib_per_viewer", "KiB", "lower", None),
    ):
        table_label = f"10 {label}" if fld == "p99_ms" else label
        rows.append(
            _a_row(
                "fanout1k",
                "fan-out on one server",
                label.strip(),
                table_label,
                fld,
                unit,
                r.get(fld),
                error,
                better=better,
                target=target,
                quick=quick,
            )
        )
    return rows


def browser_size(quick: bool) -> dict[str, Any]:
    """Points shown and streamed per second by metric 7."""
    from . import browser_fps

    return browser_fps.QUICK if quick else browser_fps.FULL


def _si(n: float) -> str:
    return f"{n / 1e6:g}M" if n >= 1e6 else f"{n / 1e3:g}k" if n >= 1e3 else f"{n:g}"


def _why(browser: dict[str, Any]) -> str:
    if browser.get("skipped"):
        return f"skipped: {browser['skipped']}"
    return str(browser.get("error") or "no data")


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v


def _meets(value: float, op: str, goal: float) -> bool:
    if op == ">=":
        return value >= goal
    if op == "<=":
        return value <= goal
    return value == goal


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in (
        "nbchannel", "jupyter_server", "ipykernel", "ipywidgets", "tornado", "pyzmq", "orjson",
    ):  # fmt: skip
        with contextlib.suppress(PackageNotFoundError):
            out[name] = version(name)
    return out


def with_slow_seconds(sizes: Sizes, seconds: float | None) -> Sizes:
    """``sizes`` with another duration for the slow-consumer soak."""
    return sizes if seconds is None else replace(sizes, slow_seconds=seconds)
