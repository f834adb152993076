"""Static snapshots of widget outputs, for saved notebooks, nbconvert HTML and GitHub.

A live view needs a running kernel or a hub; a notebook file read later has neither. So
every widget's output also carries what it showed last, in formats any notebook viewer
draws: a plot as an SVG image, a frame as a PNG, a log or a table as (escaped) HTML, and
always ``text/plain``. Each kind of widget makes its own (``LiveWidget._snapshot``), with
the drawing helpers here; every snapshot is bounded, whatever the widget holds:

* a plot: at most :data:`PLOT_COLUMNS` × 2 points per series (min/max per pixel column),
  from at most :data:`PLOT_ROWS` retained rows when the plot has no ``window``;
* an image: at most :data:`IMAGE_SIDE` pixels on its longer side (PNG/JPEG bytes are
  kept as sent up to :data:`IMAGE_BYTES`);
* a log: its last :data:`LOG_LINES` lines, each cut to :data:`LINE_CHARS` characters;
* a table: its first :data:`TABLE_ROWS` rows, each cell cut to :data:`CELL_CHARS`;
* a text: :data:`TEXT_CHARS` characters.

**When a snapshot is taken.** In a kernel, a widget is displayed with a display id
(whether it is the cell's last expression or passed to ``display()``), and its output is
updated in place (``update_display``) at the end of every cell after which its content
changed, and once more when the kernel shuts down (an ``atexit`` hook: ipykernel still
sends it on IOPub after its ``shutdown_reply``). The update carries the widget-view and
nbchannel's view data unchanged, so live views keep drawing; only the snapshot changes.
A client that executes a notebook (nbclient, ``jupyter nbconvert --execute``) stops
reading the kernel after the last cell, so there the snapshot is the one taken when the
last cell ended.

**Notebooks saved with widget state.** nbclient stores every widget's model state in the
notebook's metadata by default (``store_widget_state=True``), and nbconvert's HTML
exporter then picks the widget-view over every other format of an output whose model is
in that state, to be drawn by ``@jupyter-widgets/html-manager`` loaded from a CDN. An
nbchannel widget's model holds no content (the data lived on its channel), so that page
would show an empty box, and nothing at all offline. Nothing in the kernel can keep
nbclient from saving the state, so the export has to leave it out:
:class:`nbchannel.widgets.export.LiveWidgetSnapshots` is an nbconvert preprocessor that
removes nbchannel widgets' models (only those) from the saved state, so the exporter
falls back to the snapshot::

    jupyter nbconvert --to html \\
        --HTMLExporter.preprocessors=nbchannel.widgets.export.LiveWidgetSnapshots nb.ipynb

A notebook executed with ``--ExecutePreprocessor.store_widget_state=False``, or saved by
JupyterLab (which saves no widget state unless told to), needs nothing of the sort.
"""

from __future__ import annotations

import atexit
import html
import itertools
import json
import logging
import math
import struct
import threading
import uuid
import weakref
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

__all__ = [
    "CELL_CHARS",
    "IMAGE_BYTES",
    "IMAGE_SIDE",
    "LINE_CHARS",
    "LOG_LINES",
    "PLOT_COLUMNS",
    "PLOT_ROWS",
    "SNAPSHOT_METADATA",
    "TABLE_ROWS",
    "TEXT_CHARS",
    "cell",
    "control_bundle",
    "image_bundle",
    "install",
    "log_bundle",
    "number",
    "plot_svg",
    "png_bytes",
    "refresh",
    "table_bundle",
    "text_bundle",
]

log = logging.getLogger("nbchannel")

#: Pixel columns of a plot's snapshot; each series is decimated to two points (min and
#: max) per column, so a snapshot holds at most ``2 * PLOT_COLUMNS`` points per series.
PLOT_COLUMNS = 600
#: Rows a plot keeps for its snapshot when it has no ``window`` (its view's own bound is
#: larger; the snapshot then shows the newest rows).
PLOT_ROWS = 250_000
#: Longest side, in pixels, of an image's snapshot (larger frames are subsampled).
IMAGE_SIDE = 512
#: PNG/JPEG frames up to this size are kept as sent; larger ones get only a text note.
IMAGE_BYTES = 2 * 1024 * 1024
#: Lines of a log's snapshot (its newest ones).
LOG_LINES = 200
#: Characters kept of each line of a log's snapshot.
LINE_CHARS = 1_000
#: Rows of a table's snapshot (its first ones, in the view's order).
TABLE_ROWS = 100
#: Characters kept of each cell of a table's snapshot.
CELL_CHARS = 200
#: Characters of a text's snapshot.
TEXT_CHARS = 10_000
#: Key in an output's metadata that marks it as an nbchannel widget's output.
SNAPSHOT_METADATA = "nbchannel"

#: Series colors of the live plot (matplotlib's tab10), so the snapshot looks the same.
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# -- drawing --------------------------------------------------------------------------------


def _fmt(v: float) -> str:
    """A number for an axis label: short, and never ``-0``."""
    text = f"{v:.4g}"
    return "0" if text in ("-0", "0") else text


def _decimate(y: np.ndarray[Any, Any], columns: int) -> np.ndarray[Any, Any]:
    """Indices of the rows to draw: all of them when there are few, else the min and the
    max of each of ``columns`` equal runs of rows, in row order (the shape survives)."""
    n = y.size
    if n <= 2 * columns:
        return np.arange(n)
    edges = np.linspace(0, n, columns + 1).astype(np.int64)
    starts = edges[:-1]
    counts = np.diff(edges)
    starts, counts = starts[counts > 0], counts[counts > 0]
    # arg-min/max per run: reduceat over values, then find them back inside each run
    mins = np.minimum.reduceat(y, starts)
    maxs = np.maximum.reduceat(y, starts)
    run = np.repeat(np.arange(starts.size), counts)
    imin = np.flatnonzero(y == mins[run])
    imax = np.flatnonzero(y == maxs[run])
    # the first row of each run that holds its min (max)
    first_min = imin[np.unique(run[imin], return_index=True)[1]]
    first_max = imax[np.unique(run[imax], return_index=True)[1]]
    return np.unique(np.concatenate([first_min, first_max]))


def plot_svg(
    x: np.ndarray[Any, Any],
    ys: Mapping[str, np.ndarray[Any, Any]],
    *,
    title: str = "",
    xlabel: str = "",
    ylabel: str = "",
    height: int = 300,
    width: int = PLOT_COLUMNS + 80,
) -> str:
    """An SVG line chart of ``ys`` (series name → values, NaN: no point) over ``x``.

    One ``<polyline>`` per series and unbroken run of points (a NaN breaks the line); at
    most ``2 * PLOT_COLUMNS`` points per series (min/max decimation over runs of rows);
    the frame, the min and max of each axis, the title, the axis labels and a legend.
    """
    height = max(120, min(int(height), 1000))
    left, right = 64, 16
    top = 34 if title else 16
    bottom = 44 if xlabel else 28
    pw, ph = width - left - right, height - top - bottom
    x = np.asarray(x, dtype=np.float64)
    finite_x = np.isfinite(x)
    values = [np.asarray(v, dtype=np.float64) for v in ys.values()]
    have = [finite_x & np.isfinite(v) for v in values]
    any_point = any(h.any() for h in have)
    if any_point:
        xs = np.concatenate([x[h] for h in have])
        yv = np.concatenate([v[h] for v, h in zip(values, have, strict=True)])
        x0, x1 = float(xs.min()), float(xs.max())
        y0, y1 = float(yv.min()), float(yv.max())
    else:
        x0, x1, y0, y1 = 0.0, 1.0, 0.0, 1.0
    if x1 == x0:
        x0, x1 = x0 - 0.5, x1 + 0.5
    if y1 == y0:
        y0, y1 = y0 - 0.5, y1 + 0.5
    sx, sy = pw / (x1 - x0), ph / (y1 - y0)
    esc = html.escape
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>',
    ]
    if title:
        out.append(
            f'<text x="{left + pw / 2:.1f}" y="20" text-anchor="middle" font-size="13" '
            f'font-weight="bold">{esc(title)}</text>'
        )
    ticks = [
        (left, top + ph + 14, "start", _fmt(x0)),
        (left + pw, top + ph + 14, "end", _fmt(x1)),
        (left - 4, top + ph, "end", _fmt(y0)),
        (left - 4, top + 10, "end", _fmt(y1)),
    ]
    for tx, ty, anchor, label in ticks:
        out.append(f'<text x="{tx}" y="{ty}" text-anchor="{anchor}" fill="#444">{label}</text>')
    if xlabel:
        out.append(
            f'<text x="{left + pw / 2:.1f}" y="{height - 8}" text-anchor="middle">'
            f"{esc(xlabel)}</text>"
        )
    if ylabel:
        cy = top + ph / 2
        out.append(
            f'<text x="14" y="{cy:.1f}" text-anchor="middle" '
            f'transform="rotate(-90 14 {cy:.1f})">{esc(ylabel)}</text>'
        )
    for i, (name, v) in enumerate(zip(ys, values, strict=True)):
        color = PALETTE[i % len(PALETTE)]
        rows = np.flatnonzero(finite_x)
        yy = v[rows]
        if rows.size > 2 * PLOT_COLUMNS:
            keep = np.isfinite(yy)  # decimated: a gap of a few rows cannot be seen anyway
            rows, yy = rows[keep], yy[keep]
            pick = _decimate(yy, PLOT_COLUMNS)
            runs = [rows[pick]]
        else:
            # unbroken runs of points: a NaN ends a line
            finite = np.isfinite(yy)
            runs = [r for r in np.split(rows, np.flatnonzero(~finite)) if r.size]
            runs = [r[np.isfinite(v[r])] for r in runs]
            runs = [r for r in runs if r.size]
        for r in runs:
            px = left + (x[r] - x0) * sx
            py = top + ph - (v[r] - y0) * sy
            points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px, py, strict=True))
            out.append(
                f'<polyline data-series="{esc(name)}" fill="none" stroke="{color}" '
                f'stroke-width="1.5" points="{points}"/>'
            )
    # legend, top right inside the frame
    for i, name in enumerate(ys):
        ly = top + 14 + 14 * i
        lx = left + pw - 8
        color = PALETTE[i % len(PALETTE)]
        out.append(
            f'<line x1="{lx - 16}" y1="{ly - 4}" x2="{lx}" y2="{ly - 4}" stroke="{color}" '
            f'stroke-width="2"/><text x="{lx - 20}" y="{ly}" text-anchor="end">{esc(name)}</text>'
        )
    if not any_point:
        out.append(
            f'<text x="{left + pw / 2:.1f}" y="{top + ph / 2:.1f}" text-anchor="middle" '
            'fill="#888">no data</text>'
        )
    out.append("</svg>")
    return "".join(out)


def png_bytes(image: np.ndarray[Any, Any]) -> bytes:
    """A PNG (zlib, no filter) of a uint8 image: H×W gray, H×W×1, H×W×3 RGB or H×W×4 RGBA."""
    arr = np.ascontiguousarray(image, dtype=np.uint8)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    color = {2: 0, 3: {3: 2, 4: 6}.get(arr.shape[2] if arr.ndim == 3 else 0, -1)}[arr.ndim]
    if color < 0:
        raise ValueError(f"an image of shape H×W, H×W×3 or H×W×4, not {arr.shape}")
    h, w = arr.shape[:2]
    rows = arr.reshape(h, -1)
    raw = np.hstack([np.zeros((h, 1), dtype=np.uint8), rows]).tobytes()  # filter 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0)
    return (
        _PNG_SIGNATURE
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


def image_bundle(frame: Mapping[str, Any] | None, width: int | None = None) -> dict[str, Any]:
    """The snapshot of an image view showing ``frame`` (its channel payload)."""
    if not frame:
        return {"text/plain": "LiveImage (no frame yet)"}
    import base64

    if "image" in frame:
        arr = np.asarray(frame["image"])
        h, w = arr.shape[:2]
        step = max(1, math.ceil(max(h, w) / IMAGE_SIDE))
        small = arr[::step, ::step]
        data = base64.b64encode(png_bytes(small)).decode("ascii")
        note = f" (subsampled 1:{step})" if step > 1 else ""
        text = f"LiveImage {w}×{h}{note}"
        return {"image/png": data, "text/plain": text}
    for key, mime in (("png", "image/png"), ("jpeg", "image/jpeg")):
        if key in frame:
            raw = bytes(frame[key])
            if len(raw) > IMAGE_BYTES:
                return {"text/plain": f"LiveImage ({key.upper()} of {len(raw)} bytes, not kept)"}
            return {
                mime: base64.b64encode(raw).decode("ascii"),
                "text/plain": f"LiveImage ({key.upper()}, {len(raw)} bytes)",
            }
    return {"text/plain": "LiveImage"}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def log_bundle(lines: Sequence[str], hidden: int) -> dict[str, Any]:
    """The snapshot of a log: its ``lines`` (the newest), after a note of ``hidden`` more."""
    shown = [_cut(line, LINE_CHARS) for line in lines[-LOG_LINES:]]
    hidden += len(lines) - len(shown)
    head = [f"… {hidden} earlier line{'s' if hidden != 1 else ''} not shown"] if hidden else []
    text = "\n".join(head + shown)
    body = html.escape("\n".join(shown))
    note = f'<div style="color:#888">{html.escape(head[0])}</div>' if head else ""
    page = (
        f'<div class="nbchannel-snapshot nbchannel-log">{note}'
        '<pre style="margin:0;white-space:pre-wrap;max-height:24em;overflow:auto">'
        f"{body}</pre></div>"
    )
    return {"text/html": page, "text/plain": text if lines else "(empty log)"}


def text_bundle(text: str, title: str = "") -> dict[str, Any]:
    """The snapshot of a text view: ``text`` (cut to :data:`TEXT_CHARS`), escaped."""
    text = _cut(text, TEXT_CHARS)
    page = f'<div class="nbchannel-snapshot" style="white-space:pre-wrap">{html.escape(text)}</div>'
    return {"text/html": page, "text/plain": text or title}


def control_bundle(label: str, value: str, detail: str = "") -> dict[str, Any]:
    """The snapshot of a control or a value: ``label: value (detail)`` as text and HTML."""
    label, value, detail = _cut(label, CELL_CHARS), _cut(value, TEXT_CHARS), _cut(detail, 200)
    text = f"{label}: {value}" if label else value
    esc = html.escape
    page = (
        '<div class="nbchannel-snapshot">'
        + (f"<b>{esc(label)}</b> " if label else "")
        + f"<code>{esc(value)}</code>"
        + (f' <span style="color:#888">({esc(detail)})</span>' if detail else "")
        + "</div>"
    )
    return {"text/html": page, "text/plain": f"{text} ({detail})" if detail else text}


def number(value: Any) -> str:
    """A value as a control or a progress view shows it."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        return str(value)
    v = float(value)
    if not math.isfinite(v):
        return "–" if math.isnan(v) else str(v)
    return f"{int(v):,}" if v.is_integer() and abs(v) < 1e15 else _fmt(v)


def cell(value: Any) -> str:
    """A table cell's value as its snapshot shows it (cut to :data:`CELL_CHARS`)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return _cut(value, CELL_CHARS)
    if isinstance(value, float):
        return _fmt(value) if math.isfinite(value) else str(value)
    try:
        return _cut(json.dumps(value, default=str, ensure_ascii=False), CELL_CHARS)
    except (TypeError, ValueError):
        return _cut(str(value), CELL_CHARS)


def table_bundle(
    columns: Sequence[str] | None,
    rows: Mapping[str, Mapping[str, Any]],
    limit: int = TABLE_ROWS,
) -> dict[str, Any]:
    """The snapshot of a table: its first ``limit`` rows (at most :data:`TABLE_ROWS`) as an
    HTML table, row id first, then a note of how many more there are. Without
    ``columns``, columns appear as the rows shown introduce them."""
    shown = list(itertools.islice(rows.items(), min(limit, TABLE_ROWS)))
    hidden = len(rows) - len(shown)
    cols = list(columns) if columns is not None else []
    for _, row in shown:
        for k in row:
            if k not in cols:
                cols.append(k)
    esc = html.escape
    head = "".join(f"<th>{esc(c)}</th>" for c in ["", *cols])
    body = [
        "<tr>"
        + f"<th>{esc(rid)}</th>"
        + "".join(f"<td>{esc(cell(row.get(c)))}</td>" for c in cols)
        + "</tr>"
        for rid, row in shown
    ]
    more = f"… {hidden} more row{'s' if hidden != 1 else ''}" if hidden else ""
    page = (
        '<div class="nbchannel-snapshot nbchannel-table"><table>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        + (f'<div style="color:#888">{esc(more)}</div>' if more else "")
        + "</div>"
    )
    lines = ["\t".join(["", *cols])]
    lines += ["\t".join([rid, *(cell(row.get(c)) for c in cols)]) for rid, row in shown]
    if more:
        lines.append(more)
    text = "\n".join(lines) if rows or cols else "(empty table)"
    return {"text/html": page, "text/plain": text}


# -- displays and their refresh -------------------------------------------------------------


class Snapshotting(Protocol):
    """What the refresh needs of a widget (``LiveWidget`` has it)."""

    def _repr_mimebundle_(self, **kwargs: Any) -> Any: ...

    def _snapshot_marker(self) -> object: ...


class _Displays:
    """The widgets this kernel displayed, with what their outputs' snapshots showed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # display id -> (widget, marker of the content its output's snapshot shows)
        self._shown: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()
        self._markers: dict[str, object] = {}

    def display(self, widget: Snapshotting) -> None:
        """Display ``widget`` with a display id (one per widget, reused if shown again)."""
        from IPython.display import display

        display_id = getattr(widget, "_nbc_display_id", None)
        if display_id is None:
            display_id = f"nbchannel-{uuid.uuid4().hex}"
            widget._nbc_display_id = display_id  # type: ignore[attr-defined]
        marker = widget._snapshot_marker()
        bundle = widget._repr_mimebundle_()
        if bundle is None:
            return
        data, metadata = bundle if isinstance(bundle, tuple) else (bundle, {})
        with self._lock:
            self._shown[display_id] = widget
            self._markers[display_id] = marker
        display(data, raw=True, metadata=metadata, display_id=display_id)  # type: ignore[no-untyped-call]

    def refresh(self, *, force: bool = False) -> int:
        """Update every displayed widget's output whose content changed since its last
        snapshot (every one with ``force``); return how many were updated."""
        from IPython.display import update_display

        with self._lock:
            items = list(self._shown.items())
            for gone in self._markers.keys() - self._shown.keys():
                del self._markers[gone]
        updated = 0
        for display_id, widget in items:
            try:
                if getattr(widget, "comm", None) is None:  # closed: no output to keep alive
                    with self._lock:
                        self._shown.pop(display_id, None)
                    continue
                marker = widget._snapshot_marker()
                if not force and self._markers.get(display_id) == marker:
                    continue
                bundle = widget._repr_mimebundle_()
                if bundle is None:
                    continue
                data, metadata = bundle if isinstance(bundle, tuple) else (bundle, {})
                update_display(  # type: ignore[no-untyped-call]
                    data, raw=True, metadata=metadata, display_id=display_id
                )
                self._markers[display_id] = marker
                updated += 1
            except Exception:  # a snapshot must never break the cell (or the shutdown)
                log.warning("nbchannel: could not refresh a widget's snapshot", exc_info=True)
        return updated


_displays = _Displays()
_installed: set[int] = set()
_at_exit = False


def refresh(*, force: bool = False) -> int:
    """Update the snapshot of every displayed widget whose content changed (every one with
    ``force``) now, rather than at the end of the cell; return how many were updated."""
    return _displays.refresh(force=force)


def _after_cell(*_args: object) -> None:
    _displays.refresh()


def install(widget_class: type, shell: Any = None) -> bool:
    """Make the running IPython shell display ``widget_class`` instances with a display id
    and refresh their snapshots after every cell and at exit. Idempotent; False (and
    nothing done) outside IPython."""
    global _at_exit
    if shell is None:
        try:
            from IPython.core import getipython
        except ImportError:  # pragma: no cover - IPython comes with ipywidgets
            return False
        # Typed as returning Any: some IPython releases annotate it, others do not.
        current_shell: Callable[[], Any] = getipython.get_ipython
        shell = current_shell()
    if shell is None:
        return False
    if id(shell) in _installed:
        return True
    formatter = shell.display_formatter.ipython_display_formatter
    # ``display(w)`` and a cell's last expression both go through this formatter first;
    # an object it handles is displayed by us (with the display id), not formatted again.
    formatter.for_type(widget_class, _displays.display)
    shell.events.register("post_run_cell", _after_cell)
    _installed.add(id(shell))
    if not _at_exit:
        # Registered after ipykernel's IOPub thread registered its own stop, so it runs
        # first: the update still goes out on IOPub after the kernel's shutdown_reply.
        atexit.register(_displays.refresh)
        _at_exit = True
    return True
