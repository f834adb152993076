"""The suite's report as a text table (ratios side by side) and as JSON."""

from __future__ import annotations

import math
from typing import Any

from .suite import NOT_APPLICABLE, PATHS, RATIOS
from .tally import DRAIN_SECONDS

__all__ = ["errors", "failures", "format_table"]

#: A path's runs spread wider than this (relative to the median) is marked noisy.
NOISY = 0.25


def _num(v: float) -> str:
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def _cell(row: dict[str, Any], key: str) -> str:
    v = row["values"].get(key)
    if v is None:
        return "—"
    med = v.get("median")
    if med is None:
        if "error" not in v:
            return "n/a"
        return "err" if not str(v["error"]).startswith("skipped") else "skip"
    if row["field"] == "lost":
        of = v.get("of")
        text = f"{med:,.0f}" + (f"/{of:,}" if of else "")
        return text
    text = _num(med)
    runs = v.get("runs", [])
    if len(runs) > 1 and med and (v["max"] - v["min"]) / abs(med) > NOISY:
        text += "~"
    return text + v.get("flag", "")


def _ratio(r: float | None) -> str:
    if r is None or not math.isfinite(r):
        return "—"
    return f"{r:.3g}" if r < 1000 else f"{r:,.0f}"


def _target(row: dict[str, Any]) -> tuple[str, str]:
    t = row.get("target")
    if not t:
        return "", ""
    op = {">=": "≥", "<=": "≤", "==": "="}[t["op"]]
    goal = f"{op} {_num(t['value']) if t['value'] else '0'}"
    met = t.get("met")
    return goal, ("" if met is None else "yes" if met else "NO")


def format_table(report: dict[str, Any]) -> str:
    """The report as an aligned text table, with a legend.

    Only the paths that ran get a column, and only the ratios that any row has."""
    ran = {k for row in report["rows"] for k in row["values"]}
    keys = [k for k in PATHS if k in ran] or list(PATHS)
    names = [n for n, _, _ in RATIOS if any(n in row["ratios"] for row in report["rows"])]
    head = ["metric", "unit", *[PATHS[k] for k in keys], *names, "target", "A met"]
    lines = [head]
    for row in report["rows"]:
        unit = row["unit"] + {"higher": " ↑", "lower": " ↓"}.get(row["better"], "")
        ratios = [_ratio(row["ratios"].get(n)) if row["ratios"] else "" for n in names]
        goal, met = _target(row)
        lines.append([row["table_label"], unit, *[_cell(row, k) for k in keys], *ratios, goal, met])
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    out = []
    for n, line in enumerate(lines):
        pairs = enumerate(zip(line, widths, strict=True))
        cells = [c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in pairs]
        out.append("  ".join(cells).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    env = report["environment"]
    mode = "quick (tiny sizes; proves it runs, not a measurement)" if report["quick"] else "full"
    soak = report["sizes"]["slow_seconds"]
    legend = [
        "",
        f"{mode}; median of {report['reps']} runs (metric 6: one {soak:g} s soak per path); "
        f"{report['seconds']:.0f} s in all.",
        "↑ higher is better, ↓ lower is better; A/x = A's median divided by x's, A-x/A = "
        "A-x's divided by A's. ~ = runs spread over 25% of the median (noisy).",
        f"lost = sent but not received {DRAIN_SECONDS:g} s after the sender finished "
        "(gaps in the sequence numbers), median of runs.",
        f"load average (1 min) before {env['load_average_before'][0]:.2f}, after "
        f"{env['load_average_after'][0]:.2f}, on {env['cpus']} CPUs.",
    ]
    about = []
    if any(_cell(row, key) == "n/a" for row in report["rows"] for key in row["values"]):
        about.append(f"n/a = {NOT_APPLICABLE}.")
    if any(row["metric"] == "arrays" for row in report["rows"]):
        about.append(
            "4 (A and A-*): a tight loop of appends on a flow='block' channel (window 16): "
            "append waits while the viewer, which reports every second array consumed, is 16 "
            "behind; A-comm paces itself on ack events (at most 6 unacknowledged). With the "
            "default flow='drop' a sender faster than its viewer gets gap markers for that "
            "viewer, by design."
        )
    if ran & {"B", "B0", "C"}:
        about.append(
            "B = an ipywidgets widget's comm through jupyter-server's kernel WebSocket "
            "(v1.kernel.websocket.jupyter.org), default IOPub limits; B0 = the same with "
            "ZMQChannelsWebsocketConnection.limit_rate=False; C = tornado server → client, "
            "one message per frame."
        )
    if "A-comm" in ran:
        about.append(
            "A-comm = nbchannel on a Jupyter server without its extension: the kernel serves the "
            "widget's channel over the widget's comm (frames of many items per comm message, "
            "paced at NBCHANNEL_COMM_RATE, default 100/s), default IOPub limits; the view sends "
            "on a subshell, as JupyterLab >= 4.4 does with ipykernel >= 7 (B's events go to the "
            "main shell); lost includes the items the kernel reported as gaps."
        )
    if "B-batched" in ran:
        about.append(
            "B-batched = B's widget sending 100 messages per comm message (latency: a batch goes "
            "when full or 10 ms after its first message), default IOPub limits."
        )
    if ran & {"A-stream", "A-sse", "A-poll"}:
        about.append(
            "A-stream, A-sse, A-poll = A's kernel and hub read over the HTTP fallbacks (binary "
            "stream, text/event-stream, long-polling); the viewer's sub, events and acks go as "
            "POST nbchannel/send, one in flight."
        )
    if any(row["metric"] == "reload" for row in report["rows"]):
        from .reload import GRACE, notes

        about.append(
            "8 = the page reloaded while a cell streams 100 updates/s to the widget, timed from "
            "the reload's navigation start: A = until a LivePlot drew at least the points "
            "streamed before the reload; B = until an ipywidgets IntProgress's view replaced "
            '"Loading widget..." (waited for until the cell ended, and up to '
            f"{GRACE:g} s more); outputs restored = until JupyterLab put the saved outputs "
            "back in the page. † = shown only once the cell had ended (the value is when it "
            "did show)."
        )
        legend.extend(notes(report.get("reload") or {}))
    legend[4:4] = about
    for goal in report.get("goals", []):
        value = goal["value"]
        shown = "no data" if value is None else _num(value) if value else "0"
        met = {True: "met", False: "NOT met"}.get(goal.get("met"), "not judged")
        legend.append(f"goal {goal['label']}: {shown} ({met})")
    legend.extend(errors(report))
    return "\n".join(out + legend)


def errors(report: dict[str, Any]) -> list[str]:
    """Every measurement that has no value, and why: ``"<row> [<path>]: <error>"``."""
    return [
        f"{row['table_label'].strip()} [{key}]: {v['error']}"
        for row in report["rows"]
        for key, v in row["values"].items()
        if v.get("error")
    ]


def failures(report: dict[str, Any]) -> list[str]:
    """The :func:`errors` of measurements that failed (not those skipped on purpose, such
    as the browser's without Chromium)."""
    return [e for e in errors(report) if not e.split("]: ", 1)[1].startswith("skipped")]
