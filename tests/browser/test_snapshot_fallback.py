"""A notebook reopened after its kernel stopped shows each widget's last saved content.

No kernel has the saved outputs' channels open any more, so the hub has nothing to replay:
the labextension's renderer shows the snapshot saved in each output (the plot's SVG as an
image, the log's HTML, sanitized) under a badge saying what it is, and the live view as
soon as a kernel fills the channel again.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import Page

from nbchannel.testing import JupyterServer
from nbchannel.testing.browser import Browser, NotebookPage
from nbchannel.widgets.base import _WIDGET_VIEW as WIDGET_VIEW
from nbchannel.widgets.base import VIEW_MIMETYPE

WIDGETS = """\
from nbchannel.widgets import LiveLog, LivePlot
plot = LivePlot(['y'], title='saved signal', height=220)
log = LiveLog(height=120)
display(plot, log)
for i in range(200):
    plot.append(i, y=(i % 50) * (i % 7))
log.write('first <saved> line')
log.write('the last saved line')"""

# run later, by the kernel of the reopened page: fills the channel of a saved log output
# that addresses a shared channel by name (see _add_named_log)
REFILL = """\
from nbchannel import LiveChannel
from nbchannel.widgets import LiveLog
again = LiveLog(channel=LiveChannel({name!r}, scope='server'))
again.write('written by a new kernel')"""

SNAPSHOT_BADGE = "last saved content · kernel not running"


def _saved_outputs(jupyter: JupyterServer, path: str) -> list[dict[str, object]]:
    model = jupyter.api("GET", f"api/contents/{path}?content=1")
    return [out for cell in model["content"]["cells"] for out in cell.get("outputs", [])]


def _wait_saved_snapshots(jupyter: JupyterServer, nb: NotebookPage, timeout: float = 20) -> None:
    """Save until the file's outputs hold the plot's SVG and the log's last line (the
    snapshots are refreshed as the cell ends)."""
    deadline = time.monotonic() + timeout
    while True:
        nb.save()
        outs = _saved_outputs(jupyter, nb.path)
        datas = [o.get("data", {}) for o in outs]
        svg = any("<polyline" in str(d.get("image/svg+xml", "")) for d in datas)
        log = any("the last saved line" in str(d.get("text/html", "")) for d in datas)
        if svg and log:
            return
        assert time.monotonic() < deadline, json.dumps(outs)[:2000]
        time.sleep(0.5)


def _add_named_log(root: Path, path: str, name: str) -> None:
    """Save one more log output in the first cell: a copy of the log's, addressing the
    shared channel ``name`` (which no kernel has opened yet) instead of its kernel's."""
    nb = nbformat.read(str(root / path), as_version=4)
    outputs = nb.cells[0].outputs
    log = next(
        o for o in outputs if o.get("metadata", {}).get("nbchannel", {}).get("kind") == "log"
    )
    named = copy.deepcopy(log)
    named.data[VIEW_MIMETYPE].update(channel=name, scope="server")
    named.data.pop(WIDGET_VIEW, None)
    named.pop("transient", None)
    outputs.append(named)
    nbformat.write(nb, str(root / path))


def _fallback(page: Page, kind: str) -> str:
    return f'.nbc-mime-view[data-kind="{kind}"] .nbc-snapshot-view'


@pytest.mark.slow
@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_a_reopened_notebook_shows_saved_snapshots_until_a_kernel_fills_the_channel(
    jupyter: JupyterServer, browser: Browser, notebook, artifacts: Path, ui: str
) -> None:
    name = f"fallback-log-{uuid.uuid4().hex[:8]}"
    path = notebook([WIDGETS, REFILL.format(name=name)])
    nb = browser.open_notebook(jupyter, path, ui=ui)  # type: ignore[arg-type]
    try:
        nb.run_cell(0)
        nb.page.locator(".nbc-mime-view .nbc-log", has_text="the last saved line").wait_for()
        # live: no snapshot shown where the hub has the channel
        assert nb.page.locator(".nbc-snapshot-view").count() == 0
        _wait_saved_snapshots(jupyter, nb)
        jupyter.api("DELETE", f"api/kernels/{nb.kernel_id}")
    finally:
        nb.page.context.close()
    _add_named_log(jupyter.root_dir, path, name)

    # the notebook reopened in a fresh page (it starts a new kernel of its own)
    nb = browser.open_notebook(jupyter, path, ui=ui)  # type: ignore[arg-type]
    page = nb.page
    try:
        plot, log = _fallback(page, "plot"), _fallback(page, "log")
        page.locator(plot).wait_for(timeout=20_000)
        page.wait_for_function(
            f"() => document.querySelectorAll('{log}').length === 2", timeout=20_000
        )
        for pane in (page.locator(plot), page.locator(log).nth(0), page.locator(log).nth(1)):
            badge = pane.locator(".nbc-snapshot-badge")
            assert badge.inner_text().strip() == SNAPSHOT_BADGE
            assert badge.is_visible()
        # the plot's image decoded and has a size
        img = page.locator(f"{plot} img")
        img.scroll_into_view_if_needed()
        assert img.evaluate("i => i.complete && i.naturalWidth") > 300
        box = img.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 100, box
        assert img.get_attribute("src", timeout=1000).startswith("data:image/svg+xml")
        # the log's text, from its sanitized HTML (escaped markup stays text)
        for i in range(2):
            text = page.locator(log).nth(i).inner_text()
            assert "first <saved> line" in text and "the last saved line" in text, text
        # the live views are still there, hidden, waiting for their channels; no error box
        views = page.locator(".nbc-mime-view .nbc-widget")
        assert views.count() == 3
        for i in range(3):
            assert views.nth(i).get_attribute("data-status") == "waiting"
            assert not views.nth(i).is_visible()
        assert page.locator(".nbc-error, .nbc-failed").count() == 0
        page.locator(".jp-Cell").first.screenshot(
            path=str(artifacts / f"snapshot-fallback-{ui}.png")
        )

        # a kernel fills the named log's channel: that output turns live in place
        nb.run_cell(1)
        live_log = page.locator(".nbc-mime-view .nbc-log", has_text="written by a new kernel")
        live_log.wait_for(timeout=20_000)
        assert live_log.get_attribute("data-status") == "live"
        assert live_log.get_attribute("data-channel") == name
        assert page.locator(log).count() == 1  # the other log's kernel is gone for good
        assert page.locator(plot).count() == 1
        page.locator(".jp-Cell").first.screenshot(
            path=str(artifacts / f"snapshot-fallback-{ui}-log-live.png")
        )
        assert browser.our_errors() == []
    finally:
        page.context.close()
