"""Metric 7: LivePlot frames per second in headless Chromium while points stream in.

JupyterLab in a real Chromium opens a notebook whose kernel shows a ``LivePlot`` holding
1,000,000 points, then appends 10,000 points per second. The plot element (``.nbc-plot``)
exposes ``data-frames`` (frames drawn so far), ``data-fps`` and ``data-points``; the rate is
the growth of ``data-frames`` over each measuring window (``data-fps`` is kept as well).

Skipped, with the reason, when the widget bundle (``nbchannel/static/widgets.js``), Chromium
or Playwright is missing::

    python -m benchmarks.browser_fps [--quick] [--reps 3] [--json PATH]
    python -m benchmarks --only browser
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from importlib import resources
from typing import Any

__all__ = ["missing", "run"]

#: Points shown and streamed per second, and seconds per measuring window.
FULL = {"shown": 1_000_000, "rate": 10_000, "seconds": 5.0}
QUICK = {"shown": 100_000, "rate": 10_000, "seconds": 1.0}

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

# Like NotebookPage.run_cell(wait=False), but without handing the command's promise back to
# Playwright (which would wait for it, and so for the whole cell, before returning).
_START_CELL = """(i) => {
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


def run(*, quick: bool = False, reps: int = 3) -> dict[str, Any]:
    """Measure, or return ``{"skipped": reason}`` / ``{"error": ...}``; never raises."""
    reason = missing()
    if reason:
        return {"skipped": reason}
    try:
        return _measure(QUICK if quick else FULL, reps)
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def _measure(size: dict[str, Any], reps: int) -> dict[str, Any]:
    from nbchannel.testing import JupyterServer
    from nbchannel.testing.browser import LAB_ARGS, Browser, write_notebook

    shown, rate, seconds = int(size["shown"]), int(size["rate"]), float(size["seconds"])
    windows: list[dict[str, float]] = []
    with JupyterServer(app="lab", extra_args=LAB_ARGS) as server, Browser() as browser:
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
            page.evaluate(_START_CELL, 1)
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


def main(argv: list[str] | None = None) -> int:
    """Run metric 7 alone and print the result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k points, 1 s windows")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--json", metavar="PATH", help="also write the result as JSON")
    args = parser.parse_args(argv)
    result = run(quick=args.quick, reps=args.reps)
    if "skipped" in result:
        print(f"LivePlot fps: skipped: {result['skipped']}")
    elif "error" in result:
        print(f"LivePlot fps: error: {result['error']}")
    else:
        s = result["fps_summary"]
        runs = ", ".join(f"{v:.1f}" for v in s["runs"])
        print(
            f"LivePlot fps with {result['shown']:,} points shown, {result['rate']:,} points/s "
            f"streaming: median {s['median']:.1f} fps (runs {runs})"
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
