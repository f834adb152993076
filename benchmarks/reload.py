"""Metric 8: a page reloaded while a cell streams, nbchannel (A) vs an ipywidgets widget (B).

One JupyterLab server with nbchannel, one headless Chromium. For each path a notebook shows
a widget in its first cell; the second cell streams to it at 100 updates per second for
longer than the measurement; the page is reloaded mid-stream and timed from the reload's
navigation start (``performance.now()``, :func:`nbchannel.testing.browser.timing_script`):

* **A** — a ``LivePlot``: until its canvas shows the history (``.nbc-plot`` drew at least
  the points streamed before the reload), drawn by nbchannel's renderer from the hub;
* **B** — an ``ipywidgets.IntProgress`` whose value the cell sets: until its view is
  rendered (``.widget-hprogress``) instead of "Loading widget...". JupyterLab restores
  widget models by asking the kernel over its shell channel, which the running cell holds,
  so this is expected only once the cell has ended: the wait is capped at the cell's
  remaining run time plus :data:`GRACE` seconds, and the run records when the cell ended;

and, for both, until JupyterLab put the notebook's outputs back in the page
(``.jp-OutputArea-output``): the part of the wait that is JupyterLab's own. The notebook
is saved before the stream starts (its outputs are what the reloaded page restores);
JupyterLab's default of not saving widget state in the notebook is kept.

::

    python -m benchmarks.reload [--quick] [--reps 3] [--json PATH]
    python -m benchmarks --only reload
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import TYPE_CHECKING, Any

from .cli import parser, save_json

if TYPE_CHECKING:
    from nbchannel.testing import JupyterServer
    from nbchannel.testing.browser import Browser

__all__ = ["FULL", "GRACE", "QUICK", "run"]

#: Seconds the streaming cell runs, seconds it runs before the reload, updates per second.
FULL = {"stream": 20.0, "before": 3.0, "rate": 100}
QUICK = {"stream": 8.0, "before": 1.5, "rate": 100}
#: How long after the cell ended a view may still take to show before the run gives up (s).
GRACE = 30.0
#: Path keys of :mod:`benchmarks.suite` measured here.
KEYS = ("A", "B")

_SETUP = {
    "A": """\
import time
from nbchannel.widgets import LivePlot
plot = LivePlot(['y'], window=100_000, title='reload benchmark')
display(plot)""",
    "B": """\
import time
import ipywidgets
bar = ipywidgets.IntProgress(value=0, min=0, max=100, description='step')
display(bar)""",
}
_UPDATE = {"A": "plot.append(i, y=i % 50)", "B": "bar.value = i % 101"}
_STREAM = """\
t0 = time.time()
i = 0
while time.time() - t0 < {stream}:
    {update}
    i += 1
    time.sleep(max(0.0, t0 + i / {rate} - time.time()))
with open({ended!r}, 'w') as f:  # when the cell ended, for the benchmark
    f.write(repr(time.time()))"""

_OUTPUTS = "document.querySelector('.jp-OutputArea-output')"
_SHOWN_B = "document.querySelector('.jp-OutputArea-output .widget-hprogress')"


def _shown_a(history: int) -> str:
    return (
        "(p => !!p && Number(p.dataset.drawn) > 0 && Number(p.dataset.points) >= "
        f"{history})(document.querySelector('.nbc-mime-view .nbc-plot'))"
    )


_VIEW = {"A": ".nbc-mime-view .nbc-plot", "B": ".jp-OutputArea-output .widget-hprogress"}
_POINTS = "() => Number(document.querySelector('.nbc-plot')?.dataset.points || 0)"


def _ended(key: str) -> str:
    """The file, beside the notebook, where its streaming cell writes when it ended."""
    return f"reload-{key}.ended"


def missing() -> str | None:
    """Why this metric cannot run here, or None (as :func:`benchmarks.browser_fps.missing`)."""
    from .browser_fps import missing as fps_missing

    reason = fps_missing()
    if reason is None:
        try:
            import ipywidgets  # noqa: F401
        except ImportError as exc:
            reason = f"ipywidgets cannot be imported ({exc})"
    return reason


def run(*, quick: bool = False, reps: int = 3, keys: tuple[str, ...] = KEYS) -> dict[str, Any]:
    """Measure ``keys`` (A, B) ``reps`` times, interleaved; ``{"skipped": reason}`` or
    ``{"error": ...}`` instead when it cannot; never raises."""
    reason = missing()
    if reason:
        return {"skipped": reason}
    try:
        return _measure(QUICK if quick else FULL, reps, keys)
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def _measure(size: dict[str, Any], reps: int, keys: tuple[str, ...]) -> dict[str, Any]:
    from nbchannel.testing import JupyterServer
    from nbchannel.testing.browser import LAB_ARGS, Browser, write_notebook

    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in keys}
    with JupyterServer(app="lab", extra_args=LAB_ARGS) as server, Browser() as browser:
        for key in keys:
            stream = _STREAM.format(
                stream=size["stream"], update=_UPDATE[key], rate=size["rate"], ended=_ended(key)
            )
            write_notebook(server.root_dir / f"reload-{key}.ipynb", [_SETUP[key], stream])
        for rep in range(reps):
            for key in keys:
                try:
                    result = _reload_once(server, browser, key, size)
                except Exception as exc:  # one failing run must not lose the others
                    result = {"error": f"{type(exc).__name__}: {exc}"}
                runs[key].append(result)
                print(f"  [{rep + 1}/{reps}] reload     {key:<8} {_brief(result)}", file=sys.stderr)
        errors = browser.our_errors()
    return {
        "stream_s": size["stream"],
        "before_s": size["before"],
        "rate": size["rate"],
        "runs": runs,
        "summary": {k: _summary(v) for k, v in runs.items()},
        "page_errors": errors,
    }


def _reload_once(
    server: JupyterServer, browser: Browser, key: str, size: dict[str, Any]
) -> dict[str, Any]:
    """Open the notebook in a new page, start the stream, reload mid-stream and time it."""
    from nbchannel.testing.browser import NotebookPage, marks_seen, timing_script

    page = browser.new_page()
    try:
        nb = NotebookPage(page, server, f"reload-{key}.ipynb", "lab")
        nb.open()
        kernel = f"api/kernels/{nb.kernel_id}"
        nb.run_cell(0)
        page.locator(_VIEW[key]).first.wait_for(state="visible", timeout=60_000)
        nb.save()  # the outputs the reloaded page restores
        ended_file = server.root_dir / _ended(key)
        ended_file.unlink(missing_ok=True)
        nb.run_cell(1, wait=False)
        started = time.time()
        time.sleep(size["before"])
        if server.api("GET", kernel)["execution_state"] != "busy":
            raise RuntimeError("the streaming cell is not running at the reload")
        history = int(page.evaluate(_POINTS)) if key == "A" else 0
        shown = _shown_a(history) if key == "A" else _SHOWN_B
        page.add_init_script(timing_script({"outputs": _OUTPUTS, "shown": shown}))
        page.reload(wait_until="commit")
        origin = page.evaluate("() => performance.timeOrigin") / 1000  # epoch s
        remaining = started + size["stream"] - origin
        deadline = started + size["stream"] + GRACE
        while marks_seen(page).get("shown") is None and time.time() < deadline:
            time.sleep(0.05)
        seen = marks_seen(page)
        # the cell's end as the kernel saw it, in seconds since navigation start (None: it
        # was still running, and is interrupted below)
        ended = float(ended_file.read_text()) - origin if ended_file.exists() else None
        result: dict[str, Any] = {
            "reload_after_s": origin - started,
            "remaining_s": remaining,
            "history": history,
            "load_s": seen.get("load"),
            "outputs_s": seen.get("outputs"),
            "shown_s": seen.get("shown"),
            "cell_ended_s": ended,
        }
        shown_s = seen.get("shown")
        if shown_s is None:
            result["error"] = (
                f"not shown {GRACE:g} s after the cell ended "
                f"({remaining:.1f} s after the reload's navigation start)"
            )
        else:
            if seen.get("outputs") is not None:
                result["after_outputs_s"] = shown_s - seen["outputs"]
            result["after_cell_end"] = ended is not None and ended <= shown_s
        if key == "A":
            result["points"] = int(page.evaluate(_POINTS))
        if server.api("GET", kernel)["execution_state"] == "busy":
            server.api("POST", f"{kernel}/interrupt")  # the rest of the stream is not needed
        nb.wait_idle(size["stream"] + GRACE)
        return result
    finally:
        page.context.close()


def _brief(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"error: {result['error']}"
    fields = ("outputs_s", "shown_s", "cell_ended_s")
    parts = [f"{k}={result[k]:.2f}" for k in fields if result.get(k) is not None]
    if result.get("after_cell_end"):
        parts.append("(not before the cell ended)")
    return " ".join(parts)


_FIELDS = ("shown_s", "outputs_s", "after_outputs_s")


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in _FIELDS:
        nums = [r[name] for r in runs if isinstance(r.get(name), (int, float))]
        if nums:
            out[name] = {
                "median": statistics.median(nums),
                "runs": nums,
                "min": min(nums),
                "max": max(nums),
            }
    out["after_cell_end"] = sum(bool(r.get("after_cell_end")) for r in runs)
    out["runs"] = len(runs)
    return out


def notes(result: dict[str, Any]) -> list[str]:
    """Lines for the report's legend: per run, when the cell ended beside when a view
    showed, honestly flagging a view that showed only after the cell had ended."""
    out = []
    for key, key_runs in result.get("runs", {}).items():
        for n, r in enumerate(key_runs, 1):
            if "remaining_s" not in r:
                continue  # it failed before the reload: the table's errors say why
            ended = r.get("cell_ended_s")
            end = "" if ended is None else f" at {ended:.1f} s"
            shown = r.get("shown_s")
            what = "the plot showed its history" if key == "A" else "the widget showed"
            if shown is None:
                after = "still running" if ended is None else f"ended{end}"
                text = f"{what.replace('showed', 'did not show')}; the cell {after}"
            elif r.get("after_cell_end"):
                text = f"{what} at {shown:.1f} s, not before the cell ended{end}"
            else:
                text = f"{what} at {shown:.1f} s, the cell still running"
            out.append(
                f"8 reload [{key}] run {n}: reloaded {r['reload_after_s']:.1f} s into the "
                f"stream with {r['remaining_s']:.1f} s left; {text} (s after navigation start)."
            )
    return out


def main(argv: list[str] | None = None) -> int:
    """Run metric 8 alone and print the result."""
    p = parser(__doc__.splitlines()[0], f"a {QUICK['stream']:g} s stream")
    p.add_argument("--reps", type=int, default=3)
    args = p.parse_args(argv)
    result = run(quick=args.quick, reps=args.reps)
    if "skipped" in result or "error" in result:
        print(f"reload mid-run: {result.get('skipped') or result.get('error')}")
    else:
        for key, s in result["summary"].items():
            got = ", ".join(f"{f} {s[f]['median']:.2f} s" for f in _FIELDS if f in s)
            print(f"{key}: median {got}")
        print("\n".join(notes(result)))
    save_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
