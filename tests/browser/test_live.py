"""Live behaviour in a real browser: streaming, controls mid-cell, reloads, several pages."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from nbchannel.testing import JupyterServer
from nbchannel.testing.browser import Browser, NotebookPage


def _points(nb: NotebookPage) -> int:
    return int(nb.page.locator(".nbc-plot").first.get_attribute("data-points") or 0)


def _line_coverage(nb: NotebookPage) -> float:
    """Share of the plot canvas's pixel columns where the first series' blue line is drawn."""
    return float(
        nb.page.evaluate(
            """() => {
              const c = document.querySelector('.nbc-plot canvas');
              const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
              let hit = 0;
              for (let x = 0; x < c.width; x++) {
                for (let y = 0; y < c.height; y++) {
                  const i = 4 * (y * c.width + x);
                  if (d[i + 2] > d[i] + 60 && d[i + 3] > 0) { hit++; break; }
                }
              }
              return hit / c.width;
            }"""
        )
    )


def _save(nb: NotebookPage) -> None:
    nb.page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    time.sleep(0.5)


def test_plot_shows_100k_streamed_points_while_they_arrive(
    jupyter: JupyterServer, browser: Browser, notebook, artifacts: Path
) -> None:
    path = notebook(
        [
            "import math, time\nfrom nbchannel.widgets import LivePlot\n"
            "plot = LivePlot(['y'], window=200_000)\ndisplay(plot)",
            "t0 = time.time()\n"
            "for i in range(100_000):\n"
            "    plot.append(i, y=math.sin(i / 500))\n"
            "    if i % 1000 == 0:\n"
            "        time.sleep(0.02)  # stream over a few seconds, like a real producer\n"
            "plot.channel.flush(30)\n"
            "print(f'sent in {time.time() - t0:.1f} s')",
        ]
    )
    nb = browser.open_notebook(jupyter, path)
    try:
        nb.run_cell(0)
        nb.page.locator(".nbc-plot").wait_for(state="visible")
        nb.run_cell(1, wait=False)
        seen = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            seen.append(_points(nb))
            if seen[-1] >= 100_000:
                break
            time.sleep(0.2)
        nb.wait_idle()
        assert seen[-1] == 100_000, seen
        partial = [n for n in seen if 0 < n < 100_000]
        assert partial, f"the plot never showed a partial stream: {seen}"
        frames = int(nb.page.locator(".nbc-plot").get_attribute("data-frames") or 0)
        assert frames >= 5, "the plot should redraw as data arrives"
        nb.page.locator(".nbc-plot").screenshot(path=str(artifacts / "plot-100k.png"))
        # 100k points in far fewer pixel columns: drawn decimated, one device pixel wide,
        # and the line still runs across the whole plot.
        plot = nb.page.locator(".nbc-plot")
        assert plot.get_attribute("data-dense") == "true"
        assert int(plot.get_attribute("data-drawn") or 0) < 10_000
        assert _line_coverage(nb) > 0.85
        assert "sent in" in nb.outputs_text()
        assert browser.our_errors() == []
    finally:
        nb.page.context.close()


@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_stop_button_ends_a_running_loop(
    jupyter: JupyterServer, browser: Browser, notebook, ui: str
) -> None:
    path = notebook(
        [
            "import time\nfrom nbchannel.widgets import Button\nstop = Button('Stop')\n"
            "display(stop)",
            "t0 = time.time()\n"
            "while not stop.clicked and time.time() - t0 < 60:\n"
            "    sum(range(10_000))  # busy, pure Python\n"
            "print(f'loop ended: clicked={stop.clicked} clicks={stop.clicks} '\n"
            "      f'after {time.time() - t0:.1f} s')",
        ]
    )
    nb = browser.open_notebook(jupyter, path, ui=ui)  # type: ignore[arg-type]
    try:
        nb.run_cell(0)
        button = nb.page.locator(".nbc-button button")
        button.wait_for(state="visible")
        nb.page.wait_for_function(
            "() => document.querySelector('.nbc-button').dataset.status === 'live'",
            timeout=20_000,
        )
        nb.run_cell(1, wait=False)
        time.sleep(2.0)
        assert nb.busy(), "the loop should be running"
        button.scroll_into_view_if_needed()
        clicked_at = time.monotonic()
        button.click()
        nb.wait_idle(timeout=20)
        stopped_after = time.monotonic() - clicked_at
        out = nb.outputs_text()
        assert "loop ended: clicked=True clicks=1" in out, out
        assert stopped_after < 3.0, f"the loop took {stopped_after:.1f} s to see the click"
        assert nb.page.locator(".nbc-button").get_attribute("data-clicks") == "1"
        assert browser.our_errors() == []
    finally:
        nb.page.context.close()


def test_slider_moved_mid_cell_changes_the_value_the_cell_reads(
    jupyter: JupyterServer, browser: Browser, notebook
) -> None:
    path = notebook(
        [
            "import time\nfrom nbchannel.widgets import Slider\n"
            "level = Slider(0, 100, value=10, label='level')\ndisplay(level)",
            "seen = []\nt0 = time.time()\n"
            "while time.time() - t0 < 60:\n"
            "    if not seen or seen[-1] != level.value:\n"
            "        seen.append(level.value)\n"
            "    if level.value == 100:\n"
            "        break\n"
            "    time.sleep(0.005)\n"
            "print('seen', seen)",
        ]
    )
    nb = browser.open_notebook(jupyter, path)
    try:
        nb.run_cell(0)
        slider = nb.page.locator(".nbc-slider input[type=range]")
        slider.wait_for(state="visible")
        nb.run_cell(1, wait=False)
        time.sleep(1.5)
        assert nb.busy()
        slider.focus()
        nb.page.keyboard.press("ArrowRight")  # 10 → 11
        time.sleep(0.5)
        nb.page.keyboard.press("End")  # → 100: the loop ends
        nb.wait_idle(timeout=20)
        out = nb.outputs_text()
        assert "seen [10, 11, 100]" in out, out
    finally:
        nb.page.context.close()


def test_page_reload_mid_stream_restores_the_plot_and_resumes(
    jupyter: JupyterServer, browser: Browser, notebook, artifacts: Path
) -> None:
    path = notebook(
        [
            "import time\nfrom nbchannel.widgets import Button, LivePlot\n"
            "plot = LivePlot(['y'], window=10_000)\nstop = Button('Stop')\ndisplay(plot, stop)",
            # streams until Stop is clicked (at most 2 minutes)
            "i = 0\nwhile not stop.clicked and i < 6_000:\n"
            "    plot.append(i, y=i % 50)\n    i += 1\n    time.sleep(0.02)",
            "print('appended', i)",
        ]
    )
    nb = browser.open_notebook(jupyter, path)
    try:
        nb.run_cell(0)
        nb.page.locator(".nbc-plot").wait_for(state="visible")
        _save(nb)  # the saved output lets the reloaded page find the widget again
        nb.run_cell(1, wait=False)
        nb.page.wait_for_function(
            "() => Number(document.querySelector('.nbc-plot').dataset.points) > 100",
            timeout=30_000,
        )
        before = _points(nb)
        kernel = f"api/kernels/{nb.kernel_id}"
        nb.page.reload()  # while the cell runs (nb.reload() would wait for it to end)
        nb.page.locator(".nbc-plot").wait_for(state="visible", timeout=30_000)
        # the retained stream comes back at once, while the cell still runs ...
        nb.page.wait_for_function(
            f"() => Number(document.querySelector('.nbc-plot').dataset.points) >= {before}",
            timeout=20_000,
        )
        assert jupyter.api("GET", kernel)["execution_state"] == "busy"
        # ... then the live stream continues
        restored = _points(nb)
        nb.page.wait_for_function(
            f"() => Number(document.querySelector('.nbc-plot').dataset.points) > {restored + 50}",
            timeout=20_000,
        )
        nb.page.screenshot(path=str(artifacts / "reload-mid-stream-resumed.png"))
        button = nb.page.locator(".nbc-button button")
        button.scroll_into_view_if_needed()
        button.click()
        nb.wait_idle(timeout=20)
        nb.run_cell(2)  # the reloaded page does not show the running cell's own output
        match = re.search(r"appended (\d+)", nb.outputs_text())
        assert match, nb.outputs_text()
        appended = int(match[1])
        assert appended < 6_000, "the loop ran to its end: the click did not reach it"
        # every point, before and after the reload, once
        nb.page.wait_for_function(
            f"() => Number(document.querySelector('.nbc-plot').dataset.points) === {appended}",
            timeout=20_000,
        )
    finally:
        nb.page.context.close()


def test_two_pages_on_one_notebook_see_the_same_channel(
    jupyter: JupyterServer, browser: Browser, notebook, artifacts: Path
) -> None:
    path = notebook(
        [
            "from nbchannel.widgets import LiveValue, Button\n"
            "value = LiveValue(0, label='shared')\nclicker = Button('Tap')\n"
            "display(value, clicker)",
            "value.value = 1234",
            "print('kernel saw clicks:', clicker.clicks)",
        ]
    )
    first = browser.open_notebook(jupyter, path)
    second: NotebookPage | None = None
    try:
        first.run_cell(0)
        first.page.locator(".nbc-value").wait_for(state="visible")
        _save(first)
        second = browser.open_notebook(jupyter, path)
        second.page.locator(".nbc-value").wait_for(state="visible", timeout=30_000)
        first.run_cell(1)
        for nb in (first, second):
            nb.page.wait_for_function(
                "() => document.querySelector('.nbc-value').dataset.value === '1234'",
                timeout=20_000,
            )
        # a click in the second page reaches the kernel the first page runs code in
        second.page.locator(".nbc-button button").click()
        time.sleep(0.5)
        first.run_cell(2)
        assert "kernel saw clicks: 1" in first.outputs_text()
        second.page.screenshot(path=str(artifacts / "second-page.png"))
    finally:
        first.page.context.close()
        if second is not None:
            second.page.context.close()


def test_image_pointer_events_reach_the_kernel_in_image_pixels(
    jupyter: JupyterServer, browser: Browser, notebook
) -> None:
    path = notebook(
        [
            "import numpy as np\nfrom nbchannel.widgets import LiveImage\n"
            "view = LiveImage(np.zeros((100, 200, 3), np.uint8), width=400)  # shown at 2×\n"
            "downs = []\n"
            "view.on_pointer(lambda e: e.value['type'] == 'down' and downs.append(e.value))\n"
            "display(view)",
            "import time\nt0 = time.time()\n"
            "while not downs and time.time() - t0 < 30:  # busy: the handler still runs\n"
            "    time.sleep(0.01)\n"
            "print('pointer down', round(downs[0]['x']), round(downs[0]['y']))",
        ]
    )
    nb = browser.open_notebook(jupyter, path)
    try:
        nb.run_cell(0)
        canvas = nb.page.locator(".nbc-image canvas")
        canvas.wait_for(state="visible")
        nb.page.wait_for_function(
            "() => document.querySelector('.nbc-image').dataset.frames === '1'", timeout=20_000
        )
        nb.run_cell(1, wait=False)
        time.sleep(1.0)
        canvas.scroll_into_view_if_needed()
        box = canvas.bounding_box()
        assert box is not None and abs(box["width"] - 400) < 2, box
        # a click at CSS pixel (300, 50) of a 2× view is image pixel (150, 25)
        nb.page.mouse.click(box["x"] + 300, box["y"] + 50)
        nb.wait_idle(timeout=20)
        assert "pointer down 150 25" in nb.outputs_text()
    finally:
        nb.page.context.close()


def test_typing_in_a_text_input_is_not_taken_as_notebook_shortcuts(
    jupyter: JupyterServer, browser: Browser, notebook
) -> None:
    path = notebook(
        [
            "from nbchannel.widgets import TextInput\nname = TextInput('', label='name')\n"
            "display(name)",
            "print('typed:', repr(name.value))",
        ]
    )
    nb = browser.open_notebook(jupyter, path)
    try:
        nb.run_cell(0)
        field = nb.page.locator(".nbc-text_input input")
        field.wait_for(state="visible")
        field.click()
        nb.page.keyboard.type("abmdd")  # in command mode each would edit the notebook
        field.press("Enter")
        time.sleep(0.5)
        cells = nb.page.evaluate(
            "() => window.jupyterapp.shell.currentWidget.content.widgets.length"
        )
        assert cells == 2
        nb.run_cell(1)
        assert "typed: 'abmdd'" in nb.outputs_text()
    finally:
        nb.page.context.close()
