"""Every widget renders in a real JupyterLab, in light and dark themes (screenshots saved)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbchannel.testing import JupyterServer
from nbchannel.testing.browser import Browser

ALL_WIDGETS = [
    "import numpy as np, time\n"
    "from nbchannel.widgets import *\n"
    "plot = LivePlot(['sin', 'cos'], window=5000, title='waves')\n"
    "xs = np.linspace(0, 20, 2000)\n"
    "plot.extend(xs, sin=np.sin(xs), cos=np.cos(xs))\n"
    "yy, xx = np.mgrid[0:120, 0:160]\n"
    "img = np.stack([xx * 255 // 160, yy * 255 // 120, np.full_like(xx, 128)], -1)\n"
    "img = img.astype(np.uint8)\n"
    "image = LiveImage(img, width=320)\n"
    "log = LiveLog(height=120)\n"
    "for i in range(30): log.write(f'line {i}')\n"
    "text = LiveText('# Title\\n**bold** and `code` <script>x</script>', format='markdown')\n"
    "table = LiveTable(columns=['name', 'loss'])\n"
    "for i in range(3): table.update(i, name=f'run {i}', loss=1 / (i + 1))\n"
    "value = LiveValue(40, total=100, label='progress')\n"
    "button = Button('Stop')\n"
    "slider = Slider(0, 10, value=3, label='level')\n"
    "toggle = Toggle(True, label='on')\n"
    "field = TextInput('hello', label='name')\n"
    "choice = Dropdown(['a', 'b', 'c'], value='b', label='pick')\n"
    "custom = CustomView('''export default function render({ el, channel }) {\n"
    "  channel.on('state', (k, v) => { el.textContent = `custom ${k}=${v}`; });\n"
    "}''')\n"
    "custom.channel.set('answer', 42)\n"
    "display(plot, image, log, text, table, value, button, slider, toggle, field, choice, custom)",
]


def _canvas_ink(page, selector: str) -> int:  # type: ignore[no-untyped-def]
    """How many pixels of the first canvas under ``selector`` differ from its corner pixel."""
    return int(
        page.evaluate(
            """(sel) => {
              const c = document.querySelector(sel + ' canvas');
              if (!c || !c.width) return 0;
              const g = c.getContext('2d');
              const d = g.getImageData(0, 0, c.width, c.height).data;
              let n = 0;
              for (let i = 0; i < d.length; i += 4)
                if (d[i] !== d[0] || d[i+1] !== d[1] || d[i+2] !== d[2]) n++;
              return n;
            }""",
            selector,
        )
    )


def _luminance(page, selector: str) -> float:  # type: ignore[no-untyped-def]
    """Relative luminance (0..1) of the background the widget sits on."""
    return float(
        page.evaluate(
            """(sel) => {
              let e = document.querySelector(sel);
              while (e) {
                const c = getComputedStyle(e).backgroundColor;
                const m = c.match(/\\d+(\\.\\d+)?/g);
                if (m && !(m.length === 4 && Number(m[3]) === 0))
                  return (0.2126 * m[0] + 0.7152 * m[1] + 0.0722 * m[2]) / 255;
                e = e.parentElement;
              }
              return 1;
            }""",
            selector,
        )
    )


#: The views of ALL_WIDGETS, by their CSS class.
KINDS = [
    "plot",
    "image",
    "log",
    "text",
    "table",
    "value",
    "button",
    "slider",
    "toggle",
    "text_input",
    "dropdown",
    "custom",
]


def check_all_widgets_drawn(page, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    """The page shows every view of ALL_WIDGETS with the data the cell gave it: points and
    pixels on the canvases, the log's lines, the table's rows, the slider's value, the custom
    view's state."""
    ms = timeout * 1000
    for kind in KINDS:
        page.locator(f".nbc-{kind}").first.wait_for(state="visible", timeout=ms)
    page.wait_for_function(
        "() => Number(document.querySelector('.nbc-plot').dataset.points) >= 4000", timeout=ms
    )
    page.wait_for_function(
        "() => Number(document.querySelector('.nbc-image').dataset.frames) >= 1", timeout=ms
    )
    assert _canvas_ink(page, ".nbc-plot") > 1000, "the plot canvas is blank"
    assert _canvas_ink(page, ".nbc-image") > 1000, "the image canvas is blank"
    page.wait_for_function(
        "() => document.querySelector('.nbc-log').dataset.lines === '30'", timeout=ms
    )
    assert "run 2" in page.locator(".nbc-table").inner_text()
    assert page.locator(".nbc-slider input").input_value() == "3"
    page.wait_for_function(
        "() => document.querySelector('.nbc-custom').innerText.includes('custom answer=42')",
        timeout=ms,
    )


@pytest.mark.parametrize("theme", ["JupyterLab Light", "JupyterLab Dark"], ids=["light", "dark"])
def test_every_widget_renders(
    jupyter: JupyterServer, browser: Browser, notebook, artifacts: Path, theme: str
) -> None:
    nb = browser.open_notebook(jupyter, notebook(ALL_WIDGETS))
    try:
        nb.set_theme(theme)
        nb.run_all()
        page = nb.page
        tag = "dark" if "Dark" in theme else "light"
        check_all_widgets_drawn(page)
        assert page.locator(".nbc-image").get_attribute("data-width") == "160"
        assert "line 29" in page.locator(".nbc-log").inner_text()
        text = page.locator(".nbc-text")
        assert text.locator("strong").inner_text() == "bold"
        assert "<script>" in text.inner_text()  # shown as text, never run
        assert page.locator(".nbc-table").get_attribute("data-rows") == "3"
        assert "40" in page.locator(".nbc-value").inner_text()
        assert "Stop" in page.locator(".nbc-button").inner_text()
        assert page.locator(".nbc-text_input input").input_value() == "hello"
        assert page.locator(".nbc-dropdown select").input_value() == "b"
        lum = _luminance(page, ".nbc-plot")
        assert (lum < 0.4) if tag == "dark" else (lum > 0.6), f"background luminance {lum}"
        for kind in ["plot", "image", "log", "text", "table", "value", "slider", "custom"]:
            page.locator(f".nbc-{kind}").first.screenshot(path=str(artifacts / f"{kind}-{tag}.png"))
        page.screenshot(path=str(artifacts / f"all-widgets-{tag}.png"), full_page=True)
        assert browser.our_errors() == []
    finally:
        nb.page.context.close()
