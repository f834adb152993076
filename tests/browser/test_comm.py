"""Where no nbchannel server is reachable, the widgets are served over their comm.

Real Chromium on JupyterLab 4 and Notebook 7 whose Jupyter server runs without nbchannel's
extension (the situation of VS Code, Colab and standalone Voilà, where kernels have no hub):
every widget renders and updates, says "live · via the kernel", a burst of appends arrives
complete under the server's default IOPub limits, and a click reaches a running loop where
the front end sends comms over subshells (JupyterLab >= 4.4 with ipykernel >= 7).
Screenshots under test-artifacts/screenshots/comm-*.png.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, Route

from nbchannel.testing import JupyterServer
from nbchannel.testing.browser import Browser, write_notebook
from tests.browser.test_widgets import ALL_WIDGETS, check_all_widgets_drawn
from tests.conftest import bare_lab

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

KINDS = ["plot", "image", "log", "text", "table", "value", "button", "slider", "custom"]

# Appends ~100 B items as fast as the kernel can, then waits for the view's count.
BURST = 20_000
COUNTER = (
    "from nbchannel.widgets import CustomView\n"
    "counter = CustomView('''export default function render({ el, channel }) {\n"
    "  let n = 0, bad = 0, last = -1;\n"
    "  el.className = 'burst-counter';\n"
    "  channel.on('append', (v) => { if (v.i !== last + 1) bad++; last = v.i; n++;\n"
    "    el.dataset.count = n; el.dataset.outOfOrder = bad; el.textContent = `received ${n}`; });\n"
    "  channel.on('gap', (g) => { el.dataset.gaps = (Number(el.dataset.gaps || 0) + 1); });\n"
    "  channel.on('reset', () => { el.dataset.subscribed = 'yes'; });\n"
    "}''', history=30_000)\n"
    "counter"
)
SEND_BURST = f"for i in range({BURST}):\n    counter.channel.append({{'i': i, 'p': 'x' * 80}})"

MORE_DATA = (
    "plot.extend(xs + 20, sin=np.sin(xs), cos=np.cos(xs))\n"
    "for i in range(10): log.write(f'more {i}')\n"
    "value.value = 75"
)

LOOP = (
    "import time\n"
    "from nbchannel.widgets import Button, LiveLog\n"
    "stop = Button('Stop')\n"
    "log = LiveLog(height=80)\n"
    "display(stop, log)"
)
RUN_LOOP = (
    "t0 = time.time(); i = 0\n"
    "while not stop.clicked and time.time() - t0 < 60:\n"
    "    i += 1\n"
    "    if i % 20 == 0: log.write(f'step {i}')\n"
    "    time.sleep(0.01)\n"
    "print('loop saw the click' if stop.clicked else 'no click within 60 s')"
)


def _badge_texts(page: Page) -> list[str]:
    return [t.strip() for t in page.locator(".nbc-badge").all_inner_texts()]


@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_every_widget_renders_and_updates_over_the_comm(
    bare_jupyter: JupyterServer, browser: Browser, artifacts: Path, ui: str
) -> None:
    name = f"comm-widgets-{ui}.ipynb"
    write_notebook(
        bare_jupyter.root_dir / name,
        [*ALL_WIDGETS, "for i in range(30, 40): log.write(f'line {i}')\nvalue.value = 75"],
    )
    nb = browser.open_notebook(bare_jupyter, name, ui=ui)  # type: ignore[arg-type]
    page = nb.page
    try:
        nb.run_cell(0)
        check_all_widgets_drawn(page)
        # Updates from a later cell arrive over the comm too.
        nb.run_cell(1)
        page.wait_for_function(
            "() => document.querySelector('.nbc-log').dataset.lines === '40'", timeout=30_000
        )
        page.wait_for_function(
            "() => document.querySelector('.nbc-value').innerText.includes('75')",
            timeout=30_000,
        )
        badges = _badge_texts(page)
        assert badges, "no status badge"
        assert all(b.startswith("live · via the kernel") for b in badges), badges
        assert page.locator(".nbc-failed").count() == 0
        assert page.locator("[data-nbchannel-via='comm']").count() >= len(KINDS)
        assert browser.our_errors() == []
    finally:
        page.screenshot(path=str(artifacts / f"comm-widgets-{ui}.png"), full_page=True)
        page.context.close()


def test_a_burst_arrives_complete_under_the_iopub_limits(
    bare_jupyter: JupyterServer, browser: Browser, artifacts: Path
) -> None:
    name = "comm-burst.ipynb"
    write_notebook(bare_jupyter.root_dir / name, [COUNTER, SEND_BURST])
    nb = browser.open_notebook(bare_jupyter, name)
    page = nb.page
    try:
        log_before = len(bare_jupyter.log())
        nb.run_cell(0)
        # The view pulls: it has subscribed once the kernel's replay reached it.
        page.locator(".burst-counter[data-subscribed='yes']").wait_for(
            state="attached", timeout=30_000
        )
        nb.run_cell(1)
        page.wait_for_function(
            f"() => Number(document.querySelector('.burst-counter').dataset.count) >= {BURST}",
            timeout=120_000,
        )
        el = page.locator(".burst-counter")
        assert el.get_attribute("data-count") == str(BURST)
        assert el.get_attribute("data-out-of-order") == "0"
        assert el.get_attribute("data-gaps") is None
        assert "rate exceeded" not in bare_jupyter.log()[log_before:]
        assert "rate exceeded" not in nb.outputs_text()
    finally:
        page.screenshot(path=str(artifacts / "comm-burst.png"))
        page.context.close()


def test_a_click_reaches_a_running_loop_over_the_comm(
    bare_jupyter: JupyterServer, browser: Browser, artifacts: Path
) -> None:
    name = "comm-click.ipynb"
    write_notebook(bare_jupyter.root_dir / name, [LOOP, RUN_LOOP])
    nb = browser.open_notebook(bare_jupyter, name)
    page = nb.page
    try:
        nb.run_cell(0)
        page.locator(".nbc-button button").wait_for(state="visible", timeout=30_000)
        nb.run_cell(1, wait=False)
        page.wait_for_function(
            "() => Number(document.querySelector('.nbc-log').dataset.lines) >= 3",
            timeout=30_000,
        )
        # JupyterLab >= 4.4 sends comms over a subshell: the kernel says events are live.
        assert _badge_texts(page)[0] == "live · via the kernel"
        page.locator(".nbc-button button").click()
        nb.wait_idle(timeout=90)  # the loop gives up after 60 s without a click
        assert "loop saw the click" in nb.outputs_text()
        page.screenshot(path=str(artifacts / "comm-click.png"))
    finally:
        page.context.close()


def test_a_page_that_finds_no_hub_moves_to_the_comm(
    jupyter: JupyterServer, browser: Browser, artifacts: Path
) -> None:
    """A kernel with a hub also serves comm views (VS Code attached to a server with the
    extension: its page reaches no hub and has no nbchannel renderer). Played here by a
    JupyterLab page whose nbchannel labextension is disabled and whose api/info answers
    404: every widget is drawn over the comm. (Next to a hub the kernel starts serving
    comm views when the first one asks, so their stream starts there: the data here is
    written after the widgets are shown.)"""
    name = "comm-no-info.ipynb"
    write_notebook(jupyter.root_dir / name, [*ALL_WIDGETS, MORE_DATA])
    page = browser.new_page()

    def refuse(route: Route) -> None:
        route.fulfill(status=404, body="not here")

    def without_renderer(route: Route) -> None:
        response = route.fetch()
        html = response.text()
        start = html.index('<script id="jupyter-config-data" type="application/json">')
        start = html.index(">", start) + 1
        end = html.index("</script>", start)
        config = json.loads(html[start:end])
        config["disabledExtensions"] = [*config.get("disabledExtensions", []), "nbchannel"]
        html = html[:start] + json.dumps(config) + html[end:]
        route.fulfill(response=response, body=html)

    # Log in first (the token sets the session cookie), then change the pages that follow.
    page.goto(f"{jupyter.url}lab?token={jupyter.token}")
    page.route("**/nbchannel/api/info*", refuse)
    page.route("**/lab/tree/**", without_renderer)
    nb = browser.open_notebook(jupyter, name, page=page)
    try:
        nb.run_cell(0)
        for kind in KINDS:
            page.locator(f".nbc-{kind}").first.wait_for(state="visible", timeout=30_000)
        page.wait_for_function(
            "() => document.querySelectorAll(\"[data-nbchannel-via='comm']\").length >= 12",
            timeout=30_000,
        )
        nb.run_cell(1)
        page.wait_for_function(
            "() => Number(document.querySelector('.nbc-plot').dataset.points) >= 4000",
            timeout=30_000,
        )
        page.wait_for_function(
            "() => document.querySelector('.nbc-log').innerText.includes('more 9')",
            timeout=30_000,
        )
        assert page.locator(".nbc-value").inner_text().count("75") >= 1
        assert all(b.startswith("live · via the kernel") for b in _badge_texts(page))
        assert page.locator("[data-nbchannel-via='comm']").count() >= len(KINDS)
    finally:
        page.screenshot(path=str(artifacts / "comm-no-info.png"), full_page=True)
        page.context.close()


@pytest.fixture(scope="module")
def no_subshell_jupyter() -> Iterator[JupyterServer]:
    """JupyterLab without nbchannel's extension and with comms over subshells turned off:
    how VS Code and Colab deliver widget messages (on the main shell, after the running
    cell)."""
    with bare_lab(comms_over_subshells="disabled") as server:
        yield server


# The loop reads the button (warned once: stale mid-cell) and a handler counts clicks; after
# the cell, wait() refuses at once instead of hanging where events cannot come mid-cell.
RUN_LOOP_READING = (
    "import warnings\n"
    "seen = []\n"
    "stop.on_click(lambda e: seen.append(e))\n"
    "t0 = time.time()\n"
    "with warnings.catch_warnings(record=True) as caught:\n"
    "    warnings.simplefilter('always')\n"
    "    while not stop.clicked and time.time() - t0 < 6:\n"
    "        time.sleep(0.05)\n"
    "print('clicked during the loop:', stop.clicked)\n"
    "print('warned:', [str(w.message)[:60] for w in caught])"
)
AFTER = (
    "from nbchannel.errors import EventsNotLive\n"
    "print('clicks seen by the handler:', len(seen), 'clicked:', stop.clicked)\n"
    "try:\n"
    "    t0 = time.time(); stop.wait_click(timeout=30)\n"
    "except EventsNotLive as exc:\n"
    "    print(f'wait refused in {time.time() - t0:.2f} s')"
)


def test_where_comms_wait_for_the_cell_the_widgets_say_so_and_python_is_honest(
    no_subshell_jupyter: JupyterServer, browser: Browser, artifacts: Path
) -> None:
    server = no_subshell_jupyter
    name = "comm-after-cell.ipynb"
    write_notebook(server.root_dir / name, [LOOP, RUN_LOOP_READING, AFTER])
    nb = browser.open_notebook(server, name)
    page = nb.page
    try:
        nb.run_cell(0)
        page.locator(".nbc-button button").wait_for(state="visible", timeout=30_000)
        page.wait_for_function(
            "() => [...document.querySelectorAll('.nbc-badge')].every("
            "b => b.innerText.includes('events after the cell ends'))",
            timeout=30_000,
        )
        nb.run_cell(1, wait=False)
        page.wait_for_timeout(1_000)  # the loop is running
        page.locator(".nbc-button button").click()
        nb.wait_idle(timeout=60)
        out = nb.outputs_text()
        assert "clicked during the loop: False" in out, out
        assert "warned: ['nbchannel: Button.clicked: in this front end, widget" in out, out
        nb.run_cell(2)
        out = nb.outputs_text()
        # the click arrived once the cell ended: the handler ran, clicked is true now
        assert "clicks seen by the handler: 1 clicked: True" in out, out
        # refused within the short grace a just-shown view gets, not after its 30 s timeout
        refused = re.search(r"wait refused in ([0-9.]+) s", out)
        assert refused and float(refused[1]) < 2.0, out
        page.screenshot(path=str(artifacts / "comm-after-cell.png"), full_page=True)
    finally:
        page.context.close()
