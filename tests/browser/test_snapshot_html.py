"""An exported notebook, opened in Chromium, shows each widget's snapshot (no kernel, no
network, no script needed)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from nbchannel.testing import JupyterServer
from nbchannel.testing.browser import Browser

from ..notebooks.test_nbconvert import PREPROCESSOR, execute, to_html, widget_outputs
from ..notebooks.test_notebooks import NOTEBOOKS_DIR


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_exported_tutorial_shows_its_plot_table_and_log(
    jupyter: JupyterServer, browser: Browser, artifacts: Path, tmp_path: Path
) -> None:
    nb = nbformat.read(NOTEBOOKS_DIR / "04-interactive-tutorial.ipynb", as_version=4)
    execute(nb, jupyter, NOTEBOOKS_DIR)
    path = tmp_path / "tutorial.ipynb"
    nbformat.write(nb, path)
    to_html(path, PREPROCESSOR)
    outs = {o.metadata["nbchannel"]["kind"]: o for o in widget_outputs(nb)}
    last_line = outs["log"].data["text/plain"].splitlines()[-1]

    page = browser.new_page(width=1100, height=900)
    page.goto(path.with_suffix(".html").as_uri())
    plot = page.locator('img[src^="data:image/svg+xml;base64,"]').first
    plot.scroll_into_view_if_needed()
    box = plot.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 150, box
    # the image really decoded (an SVG that failed to load has no natural size)
    assert plot.evaluate("img => img.complete && img.naturalWidth") > 300
    shown = page.get_by_text(last_line, exact=False).first
    shown.scroll_into_view_if_needed()
    assert shown.is_visible()
    page.screenshot(path=str(artifacts / "snapshot-export.png"))
    table = page.locator(".nbchannel-table table").first
    assert table.is_visible() and table.locator("tr").count() >= 2
    page.context.close()
