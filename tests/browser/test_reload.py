"""Views that live without the kernel: a page reloaded, or a second tab opened, while a cell
runs shows nbchannel widgets at once, drawn by the labextension's renderer from the hub.

Without the renderer JupyterLab restores widget models by asking the kernel over its shell
channel, which the running cell holds, and shows "Loading widget..." until the cell ends.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import Page

from nbchannel.testing import JupyterServer
from nbchannel.testing.browser import (
    Browser,
    NotebookPage,
    timing_script,
    wait_marks,
    write_notebook,
)

#: How soon the views must show their history once the page has put their outputs in the
#: notebook (seconds). JupyterLab itself takes 2-6 s after the page's load event to restore
#: a notebook's outputs on these machines (a text output appears no sooner); that part is
#: printed, not asserted.
SHOWN_WITHIN = 2.0

SETUP = """\
import time
from nbchannel.widgets import Button, LiveLog, LivePlot, LiveTable
plot = LivePlot(['y'], window=10_000, title='signal')
log = LiveLog(height=120)
table = LiveTable(columns=['step', 'value'])
stop = Button('Stop')
display(plot, log, table, stop)"""

# Streams until the button has been clicked twice (once from each page in the test),
# writing every click it sees to the log; at most 120 s.
STREAM = """\
t0 = time.time()
i = seen = 0
while stop.clicks < 2 and time.time() - t0 < 120:
    plot.append(i, y=i % 50)
    if i % 10 == 0:
        log.write(f'step {i}')
        table.update(i // 10 % 5, step=i, value=i % 50)
    if stop.clicks != seen:
        seen = stop.clicks
        log.write(f'loop saw click {seen} at step {i}')
    i += 1
    time.sleep(0.01)
log.write(f'loop ended after {time.time() - t0:.0f} s: clicks={stop.clicks}')
print('loop ended: clicks', stop.clicks)"""

# When (seconds since navigation start) the outputs appeared, the plot first drew points, and
# the log and table first showed content.
TIMING = timing_script(
    {
        "output": "document.querySelector('.nbc-mime-view')",
        "plot": "Number(document.querySelector('.nbc-plot')?.dataset.drawn) > 0",
        "log": "Number(document.querySelector('.nbc-log')?.dataset.lines) > 0",
        "table": "Number(document.querySelector('.nbc-table')?.dataset.rows) > 0",
    }
)


def _data(page: Page, selector: str, name: str) -> int:
    return int(page.locator(selector).first.get_attribute(f"data-{name}") or 0)


def _shown(page: Page, timeout: float = 30.0) -> dict[str, float]:
    """Wait for the three views' content; seconds since the page's load event of the
    outputs appearing and of each view's content."""
    times = wait_marks(page, ["plot", "log", "table"], timeout)
    return {k: v - times["load"] for k, v in times.items() if k != "load"}


def _check_views(page: Page, history: int, label: str, artifacts: Path) -> dict[str, float]:
    """The page shows the plot, log and table with their history, from the renderer."""
    shown = _shown(page)
    for view in ("plot", "log", "table"):
        after = shown[view] - shown["output"]
        assert after <= SHOWN_WITHIN, f"{label}: {view} shown {after:.2f} s after its output"
    # drawn by the labextension's renderer (not a widget-view waiting for the kernel)
    for kind in ("plot", "log", "table", "button"):
        assert page.locator(f".nbc-mime-view .nbc-{kind}").count() == 1, kind
    assert page.locator(".jupyter-widgets").count() == 0
    assert "Loading widget" not in page.locator("body").inner_text()
    assert _data(page, ".nbc-plot", "points") >= history, "the plot's history came back"
    assert _data(page, ".nbc-log", "lines") > 10
    assert _data(page, ".nbc-table", "rows") == 5
    for kind in ("plot", "log", "table", "button"):
        assert page.locator(f".nbc-{kind}").get_attribute("data-status") == "live", kind
    page.screenshot(path=str(artifacts / f"reload-{label}.png"))
    # and it keeps updating from the running cell
    points = _data(page, ".nbc-plot", "points")
    page.wait_for_function(
        f"() => Number(document.querySelector('.nbc-plot').dataset.points) > {points + 50}",
        timeout=10_000,
    )
    return shown


def _open_busy(page: Page, nb: NotebookPage) -> None:
    """Load the notebook's page while its kernel is busy (no wait for an idle kernel)."""
    page.add_init_script(TIMING)
    page.goto(nb.url, wait_until="load")


def _click(page: Page) -> None:
    button = page.locator(".nbc-button button")
    button.scroll_into_view_if_needed()
    button.click()


@pytest.mark.slow
@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_reloaded_page_and_second_tab_show_live_views_while_the_cell_runs(
    jupyter: JupyterServer, browser: Browser, notebook, artifacts: Path, ui: str
) -> None:
    path = notebook([SETUP, STREAM])
    nb = browser.open_notebook(jupyter, path, ui=ui)  # type: ignore[arg-type]
    second: Page | None = None
    try:
        nb.run_cell(0)
        for kind in ("plot", "log", "table", "button"):
            nb.page.locator(f".nbc-mime-view .nbc-{kind}").wait_for(state="visible")
        nb.save()  # the saved outputs are what a reloaded page or a second tab draws
        started = time.monotonic()
        nb.run_cell(1, wait=False)
        nb.page.wait_for_function(
            "() => Number(document.querySelector('.nbc-plot').dataset.points) > 150",
            timeout=30_000,
        )
        assert nb.busy()
        kernel = f"api/kernels/{nb.kernel_id}"

        # 1. reload mid-stream
        history = _data(nb.page, ".nbc-plot", "points")
        nb.page.add_init_script(TIMING)
        nb.page.reload(wait_until="load")
        reloaded = _check_views(nb.page, history, f"{ui}-reloaded", artifacts)

        # 2. a second tab opened mid-run
        second = browser.new_page()
        history = _data(nb.page, ".nbc-plot", "points")
        _open_busy(second, nb)
        tab = _check_views(second, history, f"{ui}-second-tab", artifacts)

        # the cell is still streaming, and both pages still show it live
        assert jupyter.api("GET", kernel)["execution_state"] == "busy"
        shown_now = {page: _data(page, ".nbc-plot", "points") for page in (nb.page, second)}
        for page, points in shown_now.items():
            page.wait_for_function(
                "n => Number(document.querySelector('.nbc-plot').dataset.points) > n + 20",
                arg=points,
                timeout=10_000,
            )

        # 3. a click in each page reaches the running loop
        _click(nb.page)
        for page in (nb.page, second):
            page.locator(".nbc-log", has_text="loop saw click 1").wait_for(timeout=10_000)
        _click(second)
        for page in (nb.page, second):
            page.locator(".nbc-log", has_text="loop ended after").wait_for(timeout=10_000)
            assert "clicks=2" in page.locator(".nbc-log").inner_text()
        streamed = time.monotonic() - started
        deadline = time.monotonic() + 10
        while jupyter.api("GET", kernel)["execution_state"] != "idle":
            assert time.monotonic() < deadline, "the cell did not end after the clicks"
            time.sleep(0.2)
        second.screenshot(path=str(artifacts / f"reload-{ui}-after-clicks.png"))
        print(
            f"\n{ui}: the cell streamed {streamed:.1f} s; shown after load event (s): reloaded "
            + ", ".join(f"{k} {v:.2f}" for k, v in reloaded.items())
            + "; second tab "
            + ", ".join(f"{k} {v:.2f}" for k, v in tab.items())
        )
        assert browser.our_errors() == []
    finally:
        nb.page.context.close()
        if second is not None:
            second.context.close()


def test_labextension_is_installed_enabled_and_ok(jupyter: JupyterServer) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "jupyterlab.labextensions", "list"],
        env=jupyter.environ(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    text = out.stdout + out.stderr
    line = next((ln for ln in text.splitlines() if ln.strip().startswith("nbchannel ")), "")
    assert "enabled" in line and "OK" in line, text


def _badge(page: Page, selector: str) -> tuple[str | None, str]:
    root = page.locator(selector)
    return root.get_attribute("data-status"), root.locator(".nbc-badge").inner_text().strip()


@pytest.mark.slow
def test_a_view_waits_for_its_channel_then_shows_it_and_keeps_it_when_the_kernel_stops(
    jupyter: JupyterServer, browser: Browser, artifacts: Path
) -> None:
    # A saved output whose channel no kernel has opened yet (a shared channel, so the
    # address does not depend on the kernel's id).
    name = "waiting-view.ipynb"
    nb_file = write_notebook(
        jupyter.root_dir / name,
        [
            "# a log displayed earlier, by a kernel that is gone",
            "from nbchannel import LiveChannel\n"
            "from nbchannel.widgets import LiveLog\n"
            "ch = LiveChannel('later-log', scope='server')\n"
            "ch.append({'lines': ['hello from the kernel']})\n"
            "mine = LiveLog(height=80)  # a channel of this kernel's\n"
            "display(mine)\n"
            "mine.write('written by this kernel')",
        ],
    )
    saved = nbformat.read(str(nb_file), as_version=4)
    # and a custom view's code, saved in the output: it must not run from an untrusted file
    custom = {
        "version": 1,
        "kind": "custom",
        "channel": "later-custom",
        "scope": "server",
        "kernel_id": "a-kernel-that-is-gone",
        "config": {"render": "export default ({ el }) => { el.textContent = 'ran'; };"},
    }
    saved.cells[0].outputs = [
        nbformat.v4.new_output(
            "display_data",
            data={"text/plain": "<CustomView>", "application/vnd.nbchannel.view+json": custom},
        ),
        nbformat.v4.new_output(
            "display_data",
            data={
                "text/plain": "<LiveLog>",
                "application/vnd.nbchannel.view+json": {
                    "version": 1,
                    "kind": "log",
                    "channel": "later-log",
                    "scope": "server",
                    "kernel_id": "a-kernel-that-is-gone",
                    "config": {"max_lines": 100, "height": 120},
                },
            },
        ),
    ]
    nbformat.write(saved, str(nb_file))
    nb = browser.open_notebook(jupyter, name)
    try:
        log = '.nbc-mime-view .nbc-log[data-channel="later-log"]'
        nb.page.wait_for_function(
            f"""() => document.querySelector('{log}')?.dataset.status === 'waiting'""",
            timeout=20_000,
        )
        assert _badge(nb.page, log) == ("waiting", "waiting for the kernel")
        assert nb.page.locator(".nbc-error").count() == 0
        note = nb.page.locator('.nbc-mime-view .nbc-note-only[data-kind="custom"]')
        assert note.get_attribute("data-status") == "untrusted"
        assert "shown only once the notebook is trusted" in note.inner_text()
        assert "ran" not in nb.page.locator(".nbc-mime-view").first.inner_text()
        nb.page.locator(log).screenshot(path=str(artifacts / "view-waiting.png"))

        nb.run_cell(1)  # this kernel opens the channel: the view fills in
        nb.page.locator(log, has_text="hello from the kernel").wait_for(timeout=20_000)
        assert _badge(nb.page, log) == ("live", "live")

        # the kernel stops: its channel's view says so and keeps its content
        mine = '.nbc-mime-view .nbc-log:not([data-channel="later-log"])'
        nb.page.locator(mine, has_text="written by this kernel").wait_for(timeout=20_000)
        jupyter.api("DELETE", f"api/kernels/{nb.kernel_id}")
        nb.page.wait_for_function(
            f"""() => document.querySelector('{mine}').dataset.status === 'closed'""",
            timeout=20_000,
        )
        assert _badge(nb.page, mine) == ("closed", "kernel stopped")
        assert "written by this kernel" in nb.page.locator(mine).inner_text()
        assert nb.page.locator(".nbc-error").count() == 0
        nb.page.locator(".jp-Cell").nth(1).screenshot(
            path=str(artifacts / "view-kernel-stopped.png")
        )
        assert browser.our_errors() == []
    finally:
        nb.page.context.close()
