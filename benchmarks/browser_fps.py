"""Metric 7: LivePlot frames per second in headless Chromium while points stream in.

JupyterLab in a real Chromium opens a notebook whose kernel shows a ``LivePlot`` holding
1,000,000 points, then appends 10,000 points per second. The plot element (``.nbc-plot``)
exposes ``data-frames`` (frames drawn so far), ``data-fps`` and ``data-points``; the rate is
the growth of ``data-frames`` over each measuring window (``data-fps`` is kept as well).

A second scenario, "8 plots", opens another notebook whose one cell displays eight
``LivePlot`` views of 250,000 points each (window 250,000) and feeds each 10,000 points per
second (``extend`` every 10 ms, all eight in one loop). A plot draws at most once per
animation frame of the page, and only when its data changed, so two figures are reported:
the page's rate (``requestAnimationFrame`` callbacks per second, counted by a script the
benchmark adds, with the longest frame) and each plot's frames per second (min and median
over the eight). It is reported under the ``eight_plots`` key; ``fps_summary`` stays the
one-plot figure.

Skipped, with the reason, when the widget bundle (``nbchannel/static/widgets.js``), Chromium
or Playwright is missing::

    python -m benchmarks.browser_fps [--quick] [--reps 3] [--json PATH]
                                     [--only one|eight] [--screenshot PNG]
    python -m benchmarks --only browser
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from importlib import resources
from typing import Any

from .cli import parser, save_json

__all__ = ["START_CELL", "missing", "run"]

#: Points shown and streamed per second, and seconds per measuring window.
FULL = {"shown": 1_000_000, "rate": 10_000, "seconds": 5.0}
QUICK = {"shown": 100_000, "rate": 10_000, "seconds": 1.0}

#: The "8 plots" scenario: plots, points shown per plot, points/s per plot, seconds per window.
EIGHT_FULL = {"plots": 8, "shown": 250_000, "rate": 10_000, "seconds": 5.0}
EIGHT_QUICK = {"plots": 8, "shown": 100_000, "rate": 10_000, "seconds": 2.0}

#: Windows of the 8-plot scenario in quick mode (one: quick mode is a smoke run, < 40 s).
EIGHT_QUICK_REPS = 1

#: Plot height (CSS px) in the 8-plot scenario, and the page's viewport: all eight in view.
EIGHT_HEIGHT = 160
EIGHT_VIEWPORT = {"width": 1280, "height": 2200}

SETUP_CELL = """\
import math, time
import numpy as np
from nbchannel.widgets import LivePlot

SHOWN = {shown}
plot = LivePlot(["y"], window=SHOWN, title="fps benchmark")
xs = np.arange(SHOWN, dtype=np.float64)
plot.extend(xs, y=np.sin(xs / 1000.0))
x_last = float(xs[-1])
display(plot)
"""

STREAM_CELL = """\
def stream(seconds, rate={rate}):
    global x_last
    t0 = time.perf_counter()
    n = 0
    while (elapsed := time.perf_counter() - t0) < seconds:
        due = int(elapsed * rate)
        while n < due:
            x_last += 1.0
            plot.append(x_last, y=math.sin(x_last / 1000.0))
            n += 1
        time.sleep(0.001)
    return n

stream({seconds})
"""

EIGHT_SETUP_CELL = """\
import time
import numpy as np
from nbchannel.widgets import LivePlot

SHOWN, PLOTS = {shown}, {plots}
rng = np.random.default_rng(7)
plots = [
    LivePlot(["y"], window=SHOWN, title=f"plot {{i + 1}} of {{PLOTS}}", height={height})
    for i in range(PLOTS)
]


def wave(xs, i):
    # a sine with noise: min/max decimation draws a band, as with sensor data
    return np.sin(xs / 5000.0 + i) + 0.1 * rng.standard_normal(xs.size)


xs = np.arange(SHOWN, dtype=np.float64)
for i, p in enumerate(plots):
    p.extend(xs, y=wave(xs, i))
x_last = float(xs[-1])
display(*plots)
"""

EIGHT_STREAM_CELL = """\
def stream(seconds, rate={rate}, tick=0.01):
    # every plot gets `rate` points/s, in one extend per plot every `tick` seconds
    global x_last
    t0 = time.perf_counter()
    n = 0
    while (elapsed := time.perf_counter() - t0) < seconds:
        due = int(elapsed * rate)
        if due > n:
            xs = x_last + 1.0 + np.arange(due - n, dtype=np.float64)
            for i, p in enumerate(plots):
                p.extend(xs, y=wave(xs, i))
            x_last = float(xs[-1])
            n = due
        time.sleep(tick)
    return n

stream({seconds})
"""

# Like NotebookPage.run_cell(wait=False), but without handing the command's promise back to
# Playwright (which would wait for it, and so for the whole cell, before returning).
START_CELL = """(i) => {
  const nb = window.jupyterapp.shell.currentWidget.content;
  nb.activeCellIndex = i;
  void window.jupyterapp.commands.execute('notebook:run-cell');
}"""

_ATTRS = """() => {
  const e = document.querySelector('.nbc-plot');
  if (!e) return null;
  return {fps: Number(e.dataset.fps), points: Number(e.dataset.points),
          frames: Number(e.dataset.frames)};
}"""


_ALL_ATTRS = """() => Array.from(document.querySelectorAll('.nbc-plot'), (e) => ({
  fps: Number(e.dataset.fps), points: Number(e.dataset.points),
  frames: Number(e.dataset.frames)}))"""

# Counts the page's animation frames and keeps the longest gap between two of them.
_RAF_COUNTER = """() => {
  if (window.__nbcFrames) return;
  const c = window.__nbcFrames = {n: 0, last: 0, longest: 0};
  const tick = (t) => {
    if (c.last) c.longest = Math.max(c.longest, t - c.last);
    c.last = t;
    c.n += 1;
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""

# Every plot's attributes and the frame count, at one moment of the page's clock.
_READ_ALL = """(reset) => {
  const c = window.__nbcFrames;
  const out = {t: performance.now(), n: c.n, longest: c.longest,
               plots: Array.from(document.querySelectorAll('.nbc-plot'), (e) => ({
                 frames: Number(e.dataset.frames), points: Number(e.dataset.points)}))};
  if (reset) c.longest = 0;
  return out;
}"""


def missing() -> str | None:
    """Why the browser benchmark cannot run here, or None."""
    bundle = resources.files("nbchannel") / "static" / "widgets.js"
    if not bundle.is_file():
        return (
            "the widget bundle nbchannel/static/widgets.js is missing "
            "(build it: npm --prefix js ci && npm --prefix js run build)"
        )
    try:
        from nbchannel.testing.browser import find_chromium
    except ImportError as exc:
        return f"the browser test helpers cannot be imported ({exc}); pip install playwright"
    try:
        find_chromium()
    except FileNotFoundError as exc:
        return str(exc)
    try:
        import nbchannel.widgets  # noqa: F401
    except ImportError as exc:
        return f"nbchannel.widgets cannot be imported ({exc})"
    return None


def run(
    *,
    quick: bool = False,
    reps: int = 3,
    scenarios: tuple[str, ...] = ("one", "eight"),
    screenshot: str | None = None,
) -> dict[str, Any]:
    """Measure, or return ``{"skipped": reason}`` / ``{"error": ...}``; never raises.

    ``scenarios``: ``"one"`` (the 1M-point plot, reported as ``fps_summary`` and
    ``windows``) and/or ``"eight"`` (reported under ``eight_plots``, which holds its own
    ``error`` if only that scenario failed). ``screenshot``: a PNG of the 8-plot page taken
    while the first window streams.
    """
    reason = missing()
    if reason:
        return {"skipped": reason}
    try:
        from nbchannel.testing import JupyterServer
        from nbchannel.testing.browser import LAB_ARGS, Browser

        result: dict[str, Any] = {}
        with JupyterServer(app="lab", extra_args=LAB_ARGS) as server, Browser() as browser:
            if "one" in scenarios:
                result.update(_measure(server, browser, QUICK if quick else FULL, reps))
            if "eight" in scenarios:
                try:
                    result["eight_plots"] = _measure_eight(
                        server,
                        browser,
                        EIGHT_QUICK if quick else EIGHT_FULL,
                        min(reps, EIGHT_QUICK_REPS) if quick else reps,
                        screenshot,
                    )
                except Exception as exc:
                    result["eight_plots"] = {"error": f"{type(exc).__name__}: {exc}"}
        return result
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def _measure(server: Any, browser: Any, size: dict[str, Any], reps: int) -> dict[str, Any]:
    from nbchannel.testing.browser import write_notebook

    shown, rate, seconds = int(size["shown"]), int(size["rate"]), float(size["seconds"])
    windows: list[dict[str, float]] = []
    write_notebook(
        server.root_dir / "fps.ipynb",
        [SETUP_CELL.format(shown=shown), STREAM_CELL.format(rate=rate, seconds=seconds)],
    )
    nb = browser.open_notebook(server, "fps.ipynb")
    page = nb.page
    nb.run_cell(0)
    page.locator(".nbc-plot").first.wait_for(timeout=60_000)
    page.locator(".nbc-plot").first.scroll_into_view_if_needed()
    deadline = time.monotonic() + 120
    while (a := page.evaluate(_ATTRS)) is None or not a["points"] >= shown:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the plot never showed {shown:,} points (last: {a})")
        time.sleep(0.2)
    for _ in range(reps):
        page.evaluate(START_CELL, 1)
        time.sleep(0.5)  # the stream is flowing
        start, t0 = page.evaluate(_ATTRS), time.monotonic()
        samples = []
        while time.monotonic() - t0 < seconds - 0.7:
            time.sleep(0.2)
            samples.append(page.evaluate(_ATTRS)["fps"])
        end, t1 = page.evaluate(_ATTRS), time.monotonic()
        nb.wait_idle(seconds + 60)
        windows.append(
            {
                "fps": (end["frames"] - start["frames"]) / (t1 - t0),
                "data_fps_median": statistics.median(samples) if samples else float("nan"),
                "points": end["points"],
                "seconds": t1 - t0,
            }
        )
    errors = browser.our_errors()
    nb.page.close()
    fps = [w["fps"] for w in windows]
    return {
        "shown": shown,
        "rate": rate,
        "windows": windows,
        "page_errors": errors,
        "fps_summary": {
            "median": statistics.median(fps),
            "runs": fps,
            "min": min(fps),
            "max": max(fps),
        },
    }


def _measure_eight(
    server: Any, browser: Any, size: dict[str, Any], reps: int, screenshot: str | None
) -> dict[str, Any]:
    """The "8 plots" scenario: page fps and each plot's fps over each window."""
    from nbchannel.testing.browser import NotebookPage, write_notebook

    plots, shown = int(size["plots"]), int(size["shown"])
    rate, seconds = int(size["rate"]), float(size["seconds"])
    write_notebook(
        server.root_dir / "fps8.ipynb",
        [
            EIGHT_SETUP_CELL.format(shown=shown, plots=plots, height=EIGHT_HEIGHT),
            # (streams a second longer than the window: room for the screenshot)
            EIGHT_STREAM_CELL.format(rate=rate, seconds=seconds + 1.0),
        ],
    )
    page = browser.new_page(**EIGHT_VIEWPORT)
    nb = NotebookPage(page, server, "fps8.ipynb", "lab")
    nb.open()
    nb.run_cell(0)
    page.locator(".nbc-plot").nth(plots - 1).wait_for(state="attached", timeout=60_000)
    deadline = time.monotonic() + 120
    while len(a := page.evaluate(_ALL_ATTRS)) < plots or min(p["points"] for p in a) < shown:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the {plots} plots never showed {shown:,} points each ({a})")
        time.sleep(0.2)
    page.evaluate(_RAF_COUNTER)
    # CPU seconds of the browser's processes, by type (renderer, GPU, browser…)
    cdp = browser.browser.new_browser_cdp_session()

    def cpu() -> dict[str, float]:
        out: dict[str, float] = {}
        for p in cdp.send("SystemInfo.getProcessInfo")["processInfo"]:
            out[p["type"]] = out.get(p["type"], 0.0) + float(p["cpuTime"])
        return out

    windows: list[dict[str, Any]] = []
    for rep in range(reps):
        page.evaluate(START_CELL, 1)
        time.sleep(0.5)  # the stream is flowing
        if rep == 0 and screenshot:
            # mid-stream, before the window (a screenshot stalls the page for a moment)
            page.screenshot(path=screenshot)
        cpu0, a0 = cpu(), page.evaluate(_READ_ALL, True)
        time.sleep(max(0.2, seconds - 0.7))
        a1, cpu1 = page.evaluate(_READ_ALL, False), cpu()
        nb.wait_idle(seconds + 61)
        dt = (a1["t"] - a0["t"]) / 1000
        per_plot = [
            (e["frames"] - s["frames"]) / dt for s, e in zip(a0["plots"], a1["plots"], strict=True)
        ]
        frames = a1["n"] - a0["n"]
        used = {k: (v - cpu0.get(k, 0.0)) / dt for k, v in cpu1.items()}
        windows.append(
            {
                "page_fps": frames / dt,
                "longest_frame_ms": a1["longest"],
                "plot_fps": per_plot,
                "plot_fps_min": min(per_plot),
                "plot_fps_median": statistics.median(per_plot),
                "points": [e["points"] for e in a1["plots"]],
                "seconds": dt,
                # the machine is shared: how busy it was, and what the browser itself used
                "load_1min": os.getloadavg()[0],
                "browser_cores": {k: round(v, 3) for k, v in used.items()},
                "renderer_cpu_ms_per_frame": 1000 * used.get("renderer", 0.0) * dt / max(frames, 1),
            }
        )
    errors = browser.our_errors()
    cdp.detach()
    page.close()

    def summary(key: str) -> dict[str, Any]:
        runs = [float(w[key]) for w in windows]
        return {"median": statistics.median(runs), "runs": runs, "min": min(runs), "max": max(runs)}

    return {
        "plots": plots,
        "shown": shown,
        "rate": rate,
        "viewport": EIGHT_VIEWPORT,
        "windows": windows,
        "page_errors": errors,
        "page_fps_summary": summary("page_fps"),
        "plot_fps_min_summary": summary("plot_fps_min"),
        "plot_fps_median_summary": summary("plot_fps_median"),
        "renderer_cpu_ms_per_frame_summary": summary("renderer_cpu_ms_per_frame"),
    }


def main(argv: list[str] | None = None) -> int:
    """Run metric 7 alone and print the result."""
    p = parser(
        __doc__.splitlines()[0],
        "1 plot of 100k points, 1 s windows; 8 plots of 100k, one 2 s window",
    )
    p.add_argument("--reps", type=int, default=3)
    p.add_argument(
        "--only", choices=["one", "eight"], help="only the one-plot or the 8-plot scenario"
    )
    p.add_argument("--screenshot", metavar="PNG", help="a PNG of the 8-plot page mid-run")
    args = p.parse_args(argv)
    scenarios = (args.only,) if args.only else ("one", "eight")
    result = run(quick=args.quick, reps=args.reps, scenarios=scenarios, screenshot=args.screenshot)
    if "skipped" in result:
        print(f"LivePlot fps: skipped: {result['skipped']}")
    elif "error" in result:
        print(f"LivePlot fps: error: {result['error']}")
    if "fps_summary" in result:
        s = result["fps_summary"]
        runs = ", ".join(f"{v:.1f}" for v in s["runs"])
        print(
            f"LivePlot fps with {result['shown']:,} points shown, {result['rate']:,} points/s "
            f"streaming: median {s['median']:.1f} fps (runs {runs})"
        )
    eight = result.get("eight_plots")
    if eight and "error" in eight:
        print(f"8 LivePlots: error: {eight['error']}")
    elif eight:
        page, low, mid = (
            eight[k]
            for k in ("page_fps_summary", "plot_fps_min_summary", "plot_fps_median_summary")
        )
        print(
            f"{eight['plots']} LivePlots of {eight['shown']:,} points, {eight['rate']:,} points/s "
            f"each: page {page['median']:.1f} fps (runs {_runs(page)}); per plot min "
            f"{low['median']:.1f} (runs {_runs(low)}), median {mid['median']:.1f} "
            f"(runs {_runs(mid)}); longest frame "
            f"{max(w['longest_frame_ms'] for w in eight['windows']):.0f} ms; renderer CPU "
            f"{eight['renderer_cpu_ms_per_frame_summary']['median']:.1f} ms per frame; load "
            f"{', '.join(format(w['load_1min'], '.1f') for w in eight['windows'])}"
        )
    save_json(args.json, result)
    return 0


def _runs(summary: dict[str, Any]) -> str:
    return ", ".join(f"{v:.1f}" for v in summary["runs"])


if __name__ == "__main__":
    sys.exit(main())
