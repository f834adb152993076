"""The kernel shut down from the notebook's Kernel menu: the views keep what they showed,
say "kernel stopped", and a new kernel re-running the cells makes them live again."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page

from nbchannel.testing import JupyterServer
from nbchannel.testing.browser import Browser, NotebookPage

WIDGETS = """\
from nbchannel.widgets import LiveLog, LivePlot
plot = LivePlot(['y'], title='before the shutdown', height=200)
log = LiveLog(height=100)
display(plot, log)
for i in range(120):
    plot.append(i, y=i % 30)
log.write('line from the first kernel')"""

VIEWS = ("plot", "log")


def _status(page: Page, kind: str) -> tuple[str | None, str]:
    root = page.locator(f".nbc-mime-view .nbc-{kind}")
    return root.get_attribute("data-status"), root.locator(".nbc-badge").inner_text().strip()


def _menu(page: Page, menu: str, item: str) -> None:
    """Click ``menu`` in the menu bar, then its ``item`` (JupyterLab and Notebook 7)."""
    page.locator(".lm-MenuBar-itemLabel", has_text=menu).first.click()
    page.locator(".lm-Menu-itemLabel", has_text=item).first.click()


def _accept_dialog(page: Page) -> None:
    """Accept the confirmation dialog the command may open."""
    button = page.locator(".jp-Dialog .jp-mod-accept")
    try:
        button.first.wait_for(timeout=5_000)
    except Exception:  # some versions ask nothing
        return
    button.first.click()


def _wait_status(page: Page, status: str, timeout: float = 20.0) -> None:
    checks = " && ".join(
        f"document.querySelector('.nbc-mime-view .nbc-{k}')?.dataset.status === '{status}'"
        for k in VIEWS
    )
    page.wait_for_function(f"() => {checks}", timeout=timeout * 1000)


def _kernel_gone(jupyter: JupyterServer, kernel_id: str) -> bool:
    return all(k["id"] != kernel_id for k in jupyter.api("GET", "api/kernels"))


@pytest.mark.slow
@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_views_keep_their_content_when_the_kernel_is_shut_down_from_the_menu(
    jupyter: JupyterServer, browser: Browser, notebook, artifacts: Path, ui: str
) -> None:
    path = notebook([WIDGETS])
    nb: NotebookPage = browser.open_notebook(jupyter, path, ui=ui)  # type: ignore[arg-type]
    page = nb.page
    try:
        nb.run_cell(0)
        page.locator(".nbc-mime-view .nbc-log", has_text="line from the first kernel").wait_for()
        _wait_status(page, "live")
        first = nb.kernel_id
        plot = page.locator(".nbc-mime-view .nbc-plot")
        assert int(plot.get_attribute("data-points") or 0) == 120

        # Kernel → Shut Down Kernel
        _menu(page, "Kernel", "Shut Down Kernel")
        _accept_dialog(page)
        _wait_status(page, "closed")
        assert _kernel_gone(jupyter, first)
        for kind in VIEWS:
            assert _status(page, kind) == ("closed", "kernel stopped"), kind
            assert page.locator(f".nbc-mime-view .nbc-{kind}").is_visible()
        # the last content stays: the plot's points, the log's line; no snapshot, no error
        assert int(plot.get_attribute("data-points") or 0) == 120
        assert "line from the first kernel" in page.locator(".nbc-log").inner_text()
        assert page.locator(".nbc-snapshot-view").count() == 0
        assert page.locator(".nbc-error, .nbc-failed").count() == 0
        page.locator(".jp-Cell").first.screenshot(path=str(artifacts / f"kernel-stopped-{ui}.png"))

        # a new kernel (Kernel → Restart Kernel…) re-runs the cell: live again
        _menu(page, "Kernel", "Restart Kernel")
        _accept_dialog(page)
        nb.wait_kernel_ready()
        assert nb.kernel_id != first
        nb.run_cell(0)
        page.locator(".nbc-mime-view .nbc-log", has_text="line from the first kernel").wait_for()
        _wait_status(page, "live")
        for kind in VIEWS:
            assert _status(page, kind) == ("live", "live"), kind
        page.wait_for_function(
            "() => Number(document.querySelector('.nbc-mime-view .nbc-plot')"
            ".dataset.points) === 120",
            timeout=20_000,
        )
        page.locator(".jp-Cell").first.screenshot(
            path=str(artifacts / f"kernel-stopped-{ui}-live-again.png")
        )
        assert browser.our_errors() == []
    finally:
        page.context.close()
