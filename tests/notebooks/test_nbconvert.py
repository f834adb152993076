"""Saved and exported notebooks show each widget's last content (its static snapshot).

Real kernels run the notebooks (nbclient, as the other notebook tests do, with the session
server's hub in the environment); ``jupyter nbconvert --to html`` runs as a subprocess.
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
import queue
import re
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

from nbchannel.testing import JupyterServer
from nbchannel.widgets.base import _WIDGET_VIEW, VIEW_MIMETYPE

from ..conftest import own_kernel_config
from .test_notebooks import NOTEBOOKS_DIR, hub_environment

#: The example notebooks with plots, logs, images and tables.
EXAMPLES = ["01-quickstart", "02-training-curves", "04-interactive-tutorial"]
PREPROCESSOR = "--HTMLExporter.preprocessors=nbchannel.widgets.export.LiveWidgetSnapshots"
SNAPSHOT_TYPES = ("image/svg+xml", "image/png", "text/html", "text/plain")


def execute(
    nb: nbformat.NotebookNode, jupyter: JupyterServer | None, cwd: Path, **options: Any
) -> nbformat.NotebookNode:
    """Run ``nb`` in a fresh kernel (with ``jupyter``'s hub, or none) and return it."""
    kernel_id = f"nbconvert-{uuid.uuid4().hex[:8]}"
    env = hub_environment(jupyter, kernel_id) if jupyter is not None else None
    client = NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(cwd)}},
        config=own_kernel_config(),
        **options,
    )
    client.execute(env=env)
    return nb


def widget_outputs(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    """Every output of an nbchannel widget, in order."""
    return [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if "nbchannel" in out.get("metadata", {})
    ]


def to_html(path: Path, *args: str) -> str:
    """``jupyter nbconvert --to html`` of ``path``; the page's text."""
    return to_html_pages([path], *args)[0]


def to_html_pages(paths: list[Path], *args: str) -> list[str]:
    """One ``jupyter nbconvert --to html`` of every notebook of ``paths``; their pages' text."""
    subprocess.run(
        [sys.executable, "-m", "nbconvert", "--to", "html", *args, *map(str, paths)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return [path.with_suffix(".html").read_text(encoding="utf-8") for path in paths]


# -- refreshed at the end of each cell ------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_the_saved_outputs_show_what_later_cells_streamed(jupyter: JupyterServer) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(src)
        for src in [
            "from IPython.display import display\n"
            "from nbchannel.widgets import LiveLog, LivePlot, LiveTable\n"
            "plot = LivePlot(['y'], title='squares')\n"
            "log = LiveLog()\n"
            "display(plot, log)\n"
            "print(plot.channel.name, log.channel.name)",
            "for i in range(50):\n    plot.append(i, y=i * i)\nlog.write('step <49> done')",
            "table = LiveTable(columns=['loss'])\ntable",  # the cell's last expression
            "table.update('run-1', loss=0.5)\ntable.update('run-2', loss=0.25)",
            "print('nothing changes here')",
        ]
    ]
    execute(nb, jupyter, Path.cwd())
    plot_out, log_out, table_out = widget_outputs(nb)
    names = nb.cells[0].outputs[-1].text.split()
    # the widgets' outputs stayed where they were displayed; updated, they still address
    # the same channels and models
    assert plot_out.data[VIEW_MIMETYPE]["channel"] == names[0]
    assert log_out.data[VIEW_MIMETYPE]["channel"] == names[1]
    state = nb.metadata.widgets["application/vnd.jupyter.widget-state+json"]["state"]
    for out in (plot_out, log_out, table_out):
        assert out.output_type == "display_data"
        assert out.data[_WIDGET_VIEW]["model_id"] in state
        assert out.data[VIEW_MIMETYPE]["kernel_id"].startswith("nbconvert-")
    svg = plot_out.data["image/svg+xml"]
    assert svg.count("<polyline") == 1
    points = svg.split('points="')[1].split('"')[0].split()
    assert len(points) == 50
    assert "squares: 50 points" in plot_out.data["text/plain"]
    assert "step &lt;49&gt; done" in log_out.data["text/html"]
    assert log_out.data["text/plain"] == "step <49> done"
    assert "run-1\t0.5" in table_out.data["text/plain"]
    assert "run-2\t0.25" in table_out.data["text/plain"]
    # no stray outputs: an update replaces, it does not append
    assert [len(c.outputs) for c in nb.cells] == [3, 0, 1, 0, 1]


# -- refreshed when the kernel shuts down ---------------------------------------------------


@pytest.mark.timeout(120)
def test_a_kernel_shutting_down_sends_the_last_snapshot() -> None:
    """What a background thread wrote after the last cell reaches the front end when the
    kernel shuts down (after its shutdown_reply, as an update of the same display)."""
    km = KernelManager(kernel_name="python3", config=own_kernel_config())
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        kc.execute(
            "import threading, warnings\n"
            "warnings.simplefilter('ignore')\n"
            "from nbchannel.widgets import LiveLog\n"
            "log = LiveLog()\n"
            "threading.Timer(0.5, log.write, args=['written after the cell']).start()\n"
            "log"
        )
        shown: list[dict[str, Any]] = []
        deadline = time.monotonic() + 2.5  # the cell ends, then the line is written
        while time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                shown.append(kc.get_iopub_msg(timeout=0.2))
        km.request_shutdown()
        after: list[dict[str, Any]] = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                after.append(kc.get_iopub_msg(timeout=0.2))
            except queue.Empty:
                if any(m["msg_type"] == "update_display_data" for m in after):
                    break
        km.finish_shutdown()
    finally:
        kc.stop_channels()
        if km.is_alive():
            km.shutdown_kernel(now=True)
        km.cleanup_resources()  # its connection file and sockets
    displayed = [m for m in shown if m["msg_type"] == "display_data"]
    assert len(displayed) == 1  # the last expression, displayed with a display id
    display_id = displayed[0]["content"]["transient"]["display_id"]
    assert not any(m["msg_type"] == "update_display_data" for m in shown)
    kinds = [m["msg_type"] for m in after]
    assert "shutdown_reply" in kinds and "update_display_data" in kinds, kinds
    update = next(m for m in after if m["msg_type"] == "update_display_data")
    assert update["content"]["transient"]["display_id"] == display_id
    assert update["content"]["data"]["text/plain"] == "written after the cell"
    assert update["content"]["data"][_WIDGET_VIEW] == displayed[0]["content"]["data"][_WIDGET_VIEW]


# -- nbconvert of the example notebooks -----------------------------------------------------


@pytest.fixture(scope="module")
def executed(jupyter: JupyterServer, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The example notebooks with plots and logs, executed as the notebook tests do
    (nbclient's defaults: the widget state is saved) and written to a temp folder.

    They run at the same time, each in its own kernel on the one hub (much of their run
    time is paced by sleeps)."""
    folder = tmp_path_factory.mktemp("executed")
    notebooks = [nbformat.read(NOTEBOOKS_DIR / f"{name}.ipynb", as_version=4) for name in EXAMPLES]
    with ThreadPoolExecutor(len(notebooks)) as pool:
        runs = [pool.submit(execute, nb, jupyter, NOTEBOOKS_DIR) for nb in notebooks]
        executed = [run.result() for run in runs]
    paths = []
    for name, nb in zip(EXAMPLES, executed, strict=True):
        path = folder / f"{name}.ipynb"
        nbformat.write(nb, path)
        paths.append(path)
    return paths


def svg_images(page: str) -> list[str]:
    """The SVG images of an exported page (nbconvert embeds them as base64 data URLs)."""
    found = re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', page)
    return [base64.b64decode(b).decode() for b in found]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_exported_html_shows_each_plot_image_and_log_text(executed: list[Path]) -> None:
    # (nbconvert exports the notebooks of each case in one run: it starts in seconds)
    notebooks = [nbformat.read(path, as_version=4) for path in executed]
    outputs = [widget_outputs(nb) for nb in notebooks]
    for path, nb, outs in zip(executed, notebooks, outputs, strict=True):
        kinds = [o.metadata["nbchannel"]["kind"] for o in outs]
        print(f"{path.name}: {kinds}")
        assert plots_of(outs) and all("<polyline" in svg for svg in plots_of(outs)), path.name
        ours = {o.data[_WIDGET_VIEW]["model_id"] for o in outs}
        state = nb.metadata.widgets["application/vnd.jupyter.widget-state+json"]["state"]
        assert ours <= state.keys(), path.name  # saved as nbclient saves it by default

    # As saved, nbconvert draws these outputs from the widget state (a blank box
    # offline, an empty view online): their snapshots are not in the page.
    for path, outs, page in zip(executed, outputs, to_html_pages(executed), strict=True):
        views = page.count('<script type="application/vnd.jupyter.widget-view+json">')
        assert views == len(outs), path.name
        assert svg_images(page) == [], path.name

    # As JupyterLab and Notebook 7 save a notebook (their "save widget state" setting
    # is off by default: no widget state), plain `jupyter nbconvert --to html` shows
    # every widget output as its snapshot.
    lab_saved = []
    for path in executed:
        lab_saved.append(path.with_name(f"{path.stem}-as-lab-saves.ipynb"))
        without_state = nbformat.read(path, as_version=4)
        del without_state.metadata["widgets"]
        nbformat.write(without_state, lab_saved[-1])
    for path, outs, page in zip(executed, outputs, to_html_pages(lab_saved), strict=True):
        assert '<script type="application/vnd.jupyter.widget-view+json">' not in page, path.name
        assert svg_images(page) == plots_of(outs), path.name

    # Saved with the state (nbclient's default), the preprocessor does the same.
    pages = to_html_pages(executed, PREPROCESSOR)
    for path, outs, page in zip(executed, outputs, pages, strict=True):
        assert '<script type="application/vnd.jupyter.widget-view+json">' not in page, path.name
        assert "html-manager" not in page, path.name  # no widget manager is loaded for nothing
        assert svg_images(page) == plots_of(outs), path.name
        pngs = [o.data["image/png"] for o in outs if "image/png" in o.data]
        logs = [o.data["text/plain"] for o in outs if o.metadata["nbchannel"]["kind"] == "log"]
        for png in pngs:
            assert f"data:image/png;base64,{png}" in page, path.name
        for text in logs:
            assert text.strip(), "a log's snapshot is empty"
            for line in text.splitlines()[-3:]:
                assert html.escape(line, quote=False) in page, line


def plots_of(outs: list[nbformat.NotebookNode]) -> list[str]:
    """The SVG snapshots of the plots among ``outs``, in order."""
    return [o.data["image/svg+xml"] for o in outs if "image/svg+xml" in o.data]


# -- how much a notebook grows --------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_notebook_of_20_widgets_grows_by_their_outputs_and_state(
    jupyter: JupyterServer, tmp_path: Path
) -> None:
    make = (
        "import numpy as np\n"
        "from IPython.display import display\n"
        "from nbchannel.widgets import LiveLog, LivePlot, LiveTable, LiveValue\n"
        "ws = []\n"
        "for i in range(5):\n"
        "    ws += [LivePlot(['a', 'b'], title=f'plot {i}'), LiveLog(), "
        "LiveTable(columns=['v']), LiveValue(0, total=100, label='n')]\n"
        "display(*ws)"
    )
    stream = (
        "for w in ws:\n"
        "    if isinstance(w, LivePlot):\n"
        "        x = np.arange(5_000.0)\n"
        "        w.extend(x, a=np.sin(x / 300), b=np.cos(x / 500))\n"
        "    elif isinstance(w, LiveLog):\n"
        "        for j in range(300):\n"
        "            w.write(f'line {j}: loss {1 / (j + 1):.4f}')\n"
        "    elif isinstance(w, LiveTable):\n"
        "        for j in range(20):\n"
        "            w.update(j, v=j * j)\n"
        "    else:\n"
        "        w.value = 100"
    )
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nb.cells = [nbformat.v4.new_code_cell(make), nbformat.v4.new_code_cell(stream)]
    before = len(nbformat.writes(nb))
    execute(nb, jupyter, tmp_path)
    path = tmp_path / "twenty.ipynb"
    nbformat.write(nb, path)
    growth = path.stat().st_size - before

    outs = widget_outputs(nb)
    assert len(outs) == 20
    state = nb.metadata.widgets["application/vnd.jupyter.widget-state+json"]["state"]

    def size(notebook: nbformat.NotebookNode) -> int:
        return len(nbformat.writes(notebook).encode())

    def without(*, snapshots: bool = False, state: bool = False, outputs: bool = False) -> int:
        copy = nbformat.from_dict(json.loads(json.dumps(nb)))
        for out in widget_outputs(copy):
            if snapshots:
                for k in SNAPSHOT_TYPES:
                    out.data.pop(k, None)
        if outputs:
            for cell in copy.cells:
                cell.outputs = [o for o in cell.outputs if "nbchannel" not in o.get("metadata", {})]
        if state:
            del copy.metadata["widgets"]
        return size(copy)

    full = size(nb)
    assert path.stat().st_size == full + 1  # (the file ends with a newline)
    growth = full - before
    snapshots = full - without(snapshots=True)
    saved_state = full - without(state=True)
    live_outputs = without(snapshots=True) - without(snapshots=True, outputs=True)
    rest = without(outputs=True, state=True) - before  # printed text, execution metadata
    per = {o.metadata["nbchannel"]["kind"]: o for o in outs}
    one = {
        k: len(json.dumps({m: o.data[m] for m in SNAPSHOT_TYPES if m in o.data}))
        for k, o in per.items()
    }
    esm = len(json.dumps(state[outs[0].data[_WIDGET_VIEW]["model_id"]]["state"]["_esm"]))
    print(
        f"\n20 widgets: the notebook grew by {growth:,} B = snapshots {snapshots:,} B "
        f"+ live views in the outputs {live_outputs:,} B + saved widget state {saved_state:,} B "
        f"+ other {rest:,} B; per widget: output without snapshot {live_outputs // 20:,} B, "
        f"snapshot {snapshots // 20:,} B, state {saved_state // 20:,} B (the _esm loader "
        f"{esm:,} B)"
    )
    print("one snapshot by kind (JSON bytes):", one)
    # every snapshot is bounded: the 5,000-point plots and the 300-line logs included
    assert max(one.values()) < 64_000, one
    # the file grows by the 20 outputs (live views + snapshot) and their saved state, and
    # by nothing else beyond the cells' execution metadata
    assert growth == snapshots + live_outputs + saved_state + rest
    assert rest < 4_000, rest
    assert growth <= 20 * (live_outputs // 20 + 1 + max(one.values()) * 1.2) + saved_state + rest
    # the widget code is not in the notebook: each widget's output and saved state (its
    # models, the loader of the code included) stay within 4 KB besides its snapshot
    assert esm < 2_000, esm
    per_widget = (live_outputs + saved_state) / 20
    assert per_widget <= 4_096, per_widget
    assert growth <= 20 * (4_096 + max(one.values())) + rest
