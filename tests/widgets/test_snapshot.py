"""Static snapshots in widget outputs: what each kind shows, and the bounds on large content.

The output a widget makes (``_repr_mimebundle_``, what ``display`` publishes) carries the
widget-view, nbchannel's view and the snapshot; these tests read the snapshot as a
notebook viewer would: the SVG parsed as XML, the PNG decoded, the HTML parsed.
"""

from __future__ import annotations

import base64
import struct
import xml.etree.ElementTree as ET
import zlib
from html.parser import HTMLParser
from typing import Any

import nbformat
import numpy as np
import pytest

from nbchannel.widgets import (
    Button,
    CustomView,
    Dropdown,
    LiveImage,
    LiveLog,
    LivePlot,
    LiveTable,
    LiveText,
    LiveValue,
    LiveWidget,
    Slider,
    TextInput,
    Toggle,
    base,
    snapshot,
)
from nbchannel.widgets.export import drop_live_widget_state

SVG = "{http://www.w3.org/2000/svg}"


def output(widget: LiveWidget, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    data, metadata = widget._repr_mimebundle_(**kwargs)
    return data, metadata


def polylines(svg: str) -> list[list[tuple[float, float]]]:
    root = ET.fromstring(svg)
    lines = []
    for el in root.iter(f"{SVG}polyline"):
        pts = [tuple(map(float, p.split(","))) for p in el.attrib["points"].split()]
        lines.append(pts)
    return lines


def texts(svg: str) -> list[str]:
    return [el.text or "" for el in ET.fromstring(svg).iter(f"{SVG}text")]


def decode_png(data: bytes) -> np.ndarray[Any, Any]:
    """A PNG written by snapshot.png_bytes (8-bit, filter 0) back to pixels."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        (crc,) = struct.unpack(">I", data[pos + 8 + n : pos + 12 + n])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    w, h, depth, color = struct.unpack(">IIBB", header[:10])
    assert depth == 8
    channels = {0: 1, 2: 3, 6: 4}[color]
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(h, 1 + w * channels)
    assert (raw[:, 0] == 0).all()
    return raw[:, 1:].reshape(h, w, channels)


class Cells(HTMLParser):
    """The text of every <th>/<td> of a table, row by row."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._in = False

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag == "tr":
            self.rows.append([])
        if tag in ("td", "th"):
            self._in = True
            self.rows[-1].append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self._in = False

    def handle_data(self, data: str) -> None:
        if self._in:
            self.rows[-1][-1] += data


# -- every kind ----------------------------------------------------------------------------


def test_every_output_keeps_its_live_views_and_adds_a_snapshot() -> None:
    plot = LivePlot(["y"])
    data, metadata = output(plot)
    assert data[base._WIDGET_VIEW]["model_id"] == plot.model_id
    assert data[base.VIEW_MIMETYPE]["channel"] == plot.channel.name
    assert {"image/svg+xml", "text/plain"} <= data.keys()
    assert metadata == {"nbchannel": {"kind": "plot"}}


def test_include_and_exclude_apply_to_the_snapshot() -> None:
    log = LiveLog()
    data, _ = output(log, exclude={"text/html"})
    assert "text/html" not in data and "text/plain" in data
    data, _ = output(log, include={"text/html"})
    assert "text/html" in data and base.VIEW_MIMETYPE not in data


def test_a_small_plot_is_one_polyline_per_series_with_every_point() -> None:
    plot = LivePlot(["loss", "acc"], title="Training <1>", xlabel="step", ylabel="value")
    for i in range(50):
        plot.append(i, loss=1 / (i + 1), acc=i / 50)
    data, _ = output(plot)
    svg = data["image/svg+xml"]
    lines = polylines(svg)
    assert [len(p) for p in lines] == [50, 50]
    words = texts(svg)
    assert "Training <1>" in words  # escaped in the SVG, read back as the title
    assert {"step", "value", "loss", "acc"} <= set(words)
    assert {"0", "49"} <= set(words)  # x min and max ticks
    assert "50 points of loss, acc" in data["text/plain"]
    # x grows left to right; the larger loss is drawn higher
    loss = lines[0]
    assert loss[0][0] < loss[-1][0] and loss[0][1] < loss[-1][1]


def test_a_missing_point_breaks_the_line() -> None:
    plot = LivePlot(["y"])
    for i in range(10):
        plot.append(i, y=None if i == 4 else float(i))
    plot.extend([10, 11], y=[np.nan, 3.0])
    assert [len(p) for p in polylines(output(plot)[0]["image/svg+xml"])] == [4, 5, 1]


def test_the_snapshot_shows_the_window_and_clear_empties_it() -> None:
    plot = LivePlot(["y"], window=100)
    for i in range(1_000):
        plot.append(i, y=i)
    (line,) = polylines(output(plot)[0]["image/svg+xml"])
    assert len(line) == 100
    assert "x from 900 to 999" in output(plot)[0]["text/plain"]
    plot.clear()
    data = output(plot)[0]
    assert polylines(data["image/svg+xml"]) == []
    assert "no data" in texts(data["image/svg+xml"])


def test_a_plot_of_250k_points_is_decimated_and_keeps_its_extremes() -> None:
    n = 250_000
    x = np.arange(n, dtype=float)
    y = np.sin(x / 5_000)
    y[123_456] = 5.0  # one spike must survive decimation
    plot = LivePlot(["y", "z"], window=None)
    plot.extend(x, y=y, z=np.cos(x / 700))
    data = output(plot)[0]
    svg = data["image/svg+xml"]
    lines = polylines(svg)
    print(f"250k-point plot: snapshot {len(svg):,} bytes, points per series {len(lines[0])}")
    assert len(lines) == 2
    assert all(len(p) <= 2 * snapshot.PLOT_COLUMNS for p in lines)
    assert len(svg) < 64_000
    top = min(py for _, py in lines[0])
    assert top == pytest.approx(min(py for p in lines for _, py in p))  # the spike is drawn
    assert "5" in texts(svg)  # y max tick


def test_a_plot_without_window_keeps_a_bounded_tail() -> None:
    plot = LivePlot(["y"], window=None, xrange=10.0)
    plot.extend(np.arange(3 * snapshot.PLOT_ROWS, dtype=float) / 1000, y=np.zeros(750_000))
    assert len(plot._xs) <= 2 * snapshot.PLOT_ROWS
    # xrange: only the last 10 x units are shown
    assert "x from 740 to 750" in output(plot)[0]["text/plain"]


def test_an_image_is_a_png_of_its_frame_bounded_in_size() -> None:
    frame = np.zeros((4, 6, 3), dtype=np.uint8)
    frame[1, 2] = (255, 0, 10)
    view = LiveImage(frame)
    data = output(view)[0]
    assert (decode_png(base64.b64decode(data["image/png"])) == frame).all()
    big = np.random.default_rng(0).integers(0, 255, (2_000, 1_200, 4), dtype=np.uint8)
    view.show(big)
    pixels = decode_png(base64.b64decode(output(view)[0]["image/png"]))
    assert max(pixels.shape[:2]) <= snapshot.IMAGE_SIDE
    assert (pixels == big[::4, ::4]).all()
    view.show(np.linspace(0, 1, 12).reshape(3, 4))  # floats, gray
    gray = decode_png(base64.b64decode(output(view)[0]["image/png"]))
    assert gray.shape == (3, 4, 1) and gray[0, 0, 0] == 0 and gray[-1, -1, 0] == 255


def test_png_and_jpeg_frames_are_kept_as_sent() -> None:
    png = snapshot.png_bytes(np.full((2, 2), 7, dtype=np.uint8))
    view = LiveImage(png)
    assert base64.b64decode(output(view)[0]["image/png"]) == png
    assert "no frame" in output(LiveImage())[0]["text/plain"]


def test_a_log_is_escaped_text_with_its_newest_lines() -> None:
    log = LiveLog()
    log.write("<script>alert(1)</script> & done", "second\nthird")
    data = output(log)[0]
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; done" in data["text/html"]
    assert "<script>" not in data["text/html"]
    assert data["text/plain"] == "<script>alert(1)</script> & done\nsecond\nthird"


def test_a_long_log_shows_its_last_lines_and_says_how_many_more() -> None:
    log = LiveLog()
    for i in range(1_000):
        log.write(f"line {i}")
    text = output(log)[0]["text/plain"].splitlines()
    assert text[0] == "… 800 earlier lines not shown"
    assert text[1] == "line 800" and text[-1] == "line 999"
    assert len(text) == snapshot.LOG_LINES + 1
    small = LiveLog(max_lines=250)  # the view itself keeps only 250
    for i in range(1_000):
        small.write(f"line {i}")
    assert output(small)[0]["text/plain"].startswith("… 50 earlier lines not shown\nline 800")
    wide = LiveLog()
    wide.write("x" * 50_000)
    assert len(output(wide)[0]["text/plain"]) == snapshot.LINE_CHARS


def test_a_table_is_an_html_table_of_its_rows() -> None:
    table = LiveTable(columns=["name", "loss"])
    table.update("run-1", name="<b>base</b>", loss=0.41)
    table.update(2, name="wide", loss=0.3, extra=[1, 2])
    table.update("run-1", loss=0.38)
    cells = Cells()
    cells.feed(output(table)[0]["text/html"])
    assert cells.rows == [
        ["", "name", "loss", "extra"],
        ["run-1", "<b>base</b>", "0.38", ""],
        ["2", "wide", "0.3", "[1, 2]"],
    ]
    table.delete(2)
    assert len(output(table)[0]["text/plain"].splitlines()) == 2


def test_a_large_table_shows_its_first_rows_and_says_how_many_more() -> None:
    table = LiveTable(columns=["v"])
    for i in range(150):
        table.update(i, v=i)
    data = output(table)[0]
    cells = Cells()
    cells.feed(data["text/html"])
    assert len(cells.rows) == 1 + snapshot.TABLE_ROWS
    assert cells.rows[-1] == ["99", "99"]
    assert "… 50 more rows" in data["text/html"]
    assert data["text/plain"].endswith("… 50 more rows")
    few = LiveTable(max_rows=10)
    for i in range(20):
        few.update(i, v=i)
    assert output(few)[0]["text/plain"].endswith("… 10 more rows")


@pytest.mark.parametrize(
    ("make", "text"),
    [
        (lambda: LiveText("**bold** <x>", format="markdown"), "**bold** <x>"),
        (lambda: LiveValue(750, total=1_500, label="steps"), "steps: 750 (750 / 1,500, 50%)"),
        (lambda: LiveValue(0.25, label="loss", unit="nats"), "loss: 0.25 nats"),
        (lambda: Button("Stop"), "[ Stop ]"),
        (lambda: Slider(0.05, 5.0, step=0.05, value=1.0, label="lr"), "lr: 1 (0.05 … 5)"),
        (lambda: Toggle(True, label="pause"), "pause: on"),
        (lambda: TextInput("hi", label="name"), "name: 'hi'"),
        (lambda: Dropdown(["a", "b"], value="b", label="pick"), "pick: b (one of 2 options)"),
    ],
    ids=["text", "progress", "value", "button", "slider", "toggle", "text_input", "dropdown"],
)
def test_values_and_controls_show_their_label_and_value(make: Any, text: str) -> None:
    data = output(make())[0]
    assert data["text/plain"] == text
    assert "<x>" not in data["text/html"]


def test_a_control_snapshot_follows_its_current_value() -> None:
    slider = Slider(0, 10, value=2, label="n")
    slider.value = 7
    button = Button("Stop")
    button.label = "Continue"
    assert output(slider)[0]["text/plain"] == "n: 7 (0 … 10)"
    assert output(button)[0]["text/html"] == "<button disabled>Continue</button>"


def test_a_custom_view_lists_its_state() -> None:
    view = CustomView("export default function render() {}")
    view.channel.set("temperature", 21.5)
    view.channel.set("unit", "<C>")
    data = output(view)[0]
    assert data["text/plain"].splitlines()[1:] == ["temperature = 21.5", "unit = <C>"]
    assert "&lt;C&gt;" in data["text/html"]


def test_a_failing_snapshot_still_makes_the_output(monkeypatch: pytest.MonkeyPatch) -> None:
    plot = LivePlot(["y"])

    def broken() -> dict[str, Any]:
        raise RuntimeError("boom")

    monkeypatch.setattr(plot, "_snapshot", broken)
    data = output(plot)[0]
    assert base._WIDGET_VIEW in data and data["text/plain"] == "LivePlot (no snapshot)"


def test_the_marker_changes_with_every_write() -> None:
    log = LiveLog()
    before = log._snapshot_marker()
    assert log._snapshot_marker() == before
    log.write("x")
    assert log._snapshot_marker() != before


# -- export ----------------------------------------------------------------------------------


def test_the_export_drops_only_nbchannel_widgets_saved_state() -> None:
    log = LiveLog()
    data, metadata = output(log)
    nb = nbformat.v4.new_notebook()
    ours = nbformat.v4.new_output("display_data", data=data, metadata=metadata)
    other = nbformat.v4.new_output(
        "display_data", data={base._WIDGET_VIEW: {"model_id": "other"}, "text/plain": "x"}
    )
    nb.cells = [nbformat.v4.new_code_cell("", outputs=[ours, other])]
    saved = {log.model_id: {"state": {}}, "other": {"state": {}}}
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": saved}}
    assert drop_live_widget_state(nb) == 1
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert list(state) == ["other"]
    # when nothing is left, the export loads no widget manager at all
    nb.cells[0].outputs = [ours]
    nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"] = {
        log.model_id: {}
    }
    assert drop_live_widget_state(nb) == 1
    assert "widgets" not in nb.metadata
