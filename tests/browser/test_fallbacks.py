"""The browser's HTTP fallbacks in real pages: a real Chromium, JupyterLab 4 and Notebook 7,
a real kernel, and Debian's nginx between them where a deployment's proxy is the point.

The notebook shows a LiveLog, a LivePlot and a Button; a cell streams numbered lines and
points, then waits (busy) for a click. What a user checks: the log shows every line once and
in order (0 lost, 0 duplicated), the plot draws, the click reaches the running loop, and
the client says which transport carries the page (``statusDetail.transport``).
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
from playwright.sync_api import Page, WebSocketRoute

from nbchannel.demo import notebooks_source
from nbchannel.testing import JupyterServer
from nbchannel.testing.browser import Browser, NotebookPage
from nbchannel.testing.nginx import Nginx

#: Kernel and event WebSockets, the only ones many copied proxy configs upgrade.
JUPYTER_SOCKETS = r"/api/(kernels/[^/]+/channels|events/subscribe)"
NBCHANNEL_WS = re.compile(r".*/nbchannel/ws(\?.*)?$")

SETUP = (
    "import time\n"
    "from nbchannel.widgets import Button, LiveLog, LivePlot\n"
    "log = LiveLog(max_lines=5000)\n"
    "plot = LivePlot(['y'], window=5000)\n"
    "stop = Button('Stop')\n"
    "display(log, plot, stop)"
)


def stream_cell(n: int, pause_every: int = 20, pause: float = 0.05, wait_click: float = 0.0) -> str:
    """Write ``n`` numbered lines and points; then, if asked, wait (busy) for a click."""
    code = (
        f"for i in range({n}):\n"
        "    log.write(f'line {i}')\n"
        "    plot.append(i, y=(i % 50) / 50)\n"
        f"    if i % {pause_every} == {pause_every - 1}:\n"
        f"        time.sleep({pause})\n"
        "log.channel.flush(30)\n"
        "plot.channel.flush(30)\n"
    )
    if wait_click:
        code += (
            f"deadline = time.time() + {wait_click}\n"
            "while not stop.clicked and time.time() < deadline:\n"
            "    time.sleep(0.02)\n"
            "print('clicked while running' if stop.clicked else 'no click')"
        )
    return code


def our_errors(browser: Browser) -> list[str]:
    """Errors of nbchannel's code; the browser's own notes of a refused WebSocket or request
    (the proxy refusing what the test makes it refuse) are expected."""
    expected = ("WebSocket connection to", "Failed to load resource")
    return [e for e in browser.our_errors() if not e.startswith(expected)]


def transport(page: Page) -> Any:
    return page.evaluate("() => globalThis.__nbchannel_client_v1__?.statusDetail?.transport")


def log_lines(page: Page) -> list[str]:
    lines: list[str] = page.evaluate(
        "() => Array.from(document.querySelectorAll('.nbc-log .nbc-log-line'), e => e.textContent)"
    )
    return lines


def wait_lines(nb: NotebookPage, n: int, timeout: float = 90.0) -> list[str]:
    """Wait until the log received ``n`` items; the lines it shows."""
    deadline = time.monotonic() + timeout
    received = 0
    while time.monotonic() < deadline:
        received = int(nb.page.locator(".nbc-log").first.get_attribute("data-received") or 0)
        if received >= n:
            break
        time.sleep(0.2)
    time.sleep(0.3)  # one more animation frame for the last lines
    assert received >= n, f"the log received {received} of {n} lines"
    return log_lines(nb.page)


def check_page(
    nb: NotebookPage,
    browser: Browser,
    artifacts: Path,
    name: str,
    n: int,
    expect: str,
    *,
    click: bool = True,
) -> None:
    """Run the cells and check everything a user would."""
    nb.run_cell(0)
    nb.page.locator(".nbc-log").first.wait_for(state="visible")
    nb.run_cell(1, wait=False)
    lines = wait_lines(nb, n)
    assert lines == [f"line {i}" for i in range(n)], "lines lost, doubled or out of order"
    assert transport(nb.page) == expect
    plot = nb.page.locator(".nbc-plot").first
    nb.page.wait_for_function(
        f"() => Number(document.querySelector('.nbc-plot').dataset.points) >= {n}", timeout=20_000
    )
    assert int(plot.get_attribute("data-frames") or 0) >= 1
    assert nb.page.locator(".nbc-log").first.get_attribute("data-status") == "live"
    if click:
        assert nb.busy(), "the cell should still be running, waiting for the click"
        button = nb.page.locator(".nbc-button button").first
        button.scroll_into_view_if_needed()
        button.click()
        nb.wait_idle(60)
        assert "clicked while running" in nb.outputs_text()
    nb.page.locator(".jp-OutputArea").first.screenshot(path=str(artifacts / f"{name}.png"))
    assert our_errors(browser) == []


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    p = browser.new_page()
    browser.page_errors.clear()
    try:
        yield p
    finally:
        p.context.close()


@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_a_proxy_that_refuses_nbchannel_ws_leaves_the_stream(
    jupyter: JupyterServer,
    browser: Browser,
    notebook: Any,
    artifacts: Path,
    page: Page,
    ui: Literal["lab", "notebook"],
) -> None:
    n = 400
    path = notebook([SETUP, stream_cell(n, wait_click=60)])
    with Nginx(jupyter.port, websocket_paths=JUPYTER_SOCKETS, refuse=[r"/nbchannel/ws"]) as proxy:
        nb = browser.open_notebook(jupyter, path, ui=ui, page=page, origin=proxy.url())
        check_page(nb, browser, artifacts, f"fallback-stream-nginx-{ui}", n, "stream")


@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_the_quickstart_notebook_runs_over_the_stream_behind_such_a_proxy(
    jupyter: JupyterServer,
    browser: Browser,
    artifacts: Path,
    page: Page,
    ui: Literal["lab", "notebook"],
) -> None:
    name = "01-quickstart.ipynb"
    shutil.copy(notebooks_source() / name, jupyter.root_dir / name)
    with Nginx(jupyter.port, websocket_paths=JUPYTER_SOCKETS, refuse=[r"/nbchannel/ws"]) as proxy:
        nb = browser.open_notebook(jupyter, name, ui=ui, page=page, origin=proxy.url())
        nb.run_all(timeout=180)
        plot = nb.page.locator(".nbc-plot").first
        plot.wait_for(state="visible", timeout=30_000)
        nb.page.wait_for_function(
            "() => Number(document.querySelector('.nbc-plot')?.dataset.points) >= 10",
            timeout=30_000,
        )
        assert plot.get_attribute("data-status") == "live"
        assert transport(nb.page) == "stream"
        assert "Traceback" not in nb.outputs_text()
        plot.screenshot(path=str(artifacts / f"fallback-quickstart-{ui}.png"))
        assert our_errors(browser) == []


def test_playwright_refusing_nbchannel_ws_leaves_the_stream(
    jupyter: JupyterServer, browser: Browser, notebook: Any, artifacts: Path, page: Page
) -> None:
    n = 300
    refused: list[str] = []

    def refuse(ws: WebSocketRoute) -> None:
        refused.append(ws.url)
        ws.close(code=1008, reason="refused by the test")

    page.route_web_socket(NBCHANNEL_WS, refuse)
    path = notebook([SETUP, stream_cell(n, wait_click=60)])
    nb = browser.open_notebook(jupyter, path, page=page)
    check_page(nb, browser, artifacts, "fallback-stream-route", n, "stream")
    assert refused, "the page never tried the WebSocket"
    remembered = page.evaluate("() => sessionStorage.getItem('nbchannel.transport')")
    assert remembered == "stream"


@pytest.mark.slow
def test_a_buffering_proxy_leaves_long_polling(
    jupyter: JupyterServer, browser: Browser, notebook: Any, artifacts: Path, page: Page
) -> None:
    n = 300
    path = notebook([SETUP, stream_cell(n, wait_click=60)])
    # buffers and gzips whatever the upstream says: the stream's heartbeat never arrives
    with Nginx(
        jupyter.port,
        websocket_paths=JUPYTER_SOCKETS,
        refuse=[r"/nbchannel/ws"],
        buffering=True,
        ignore_accel_buffering=True,
        compress=True,
    ) as proxy:
        nb = browser.open_notebook(jupyter, path, page=page, origin=proxy.url())
        check_page(nb, browser, artifacts, "fallback-poll-buffering", n, "poll")


@pytest.mark.slow
def test_a_proxy_cutting_idle_responses_the_stream_resumes(
    jupyter: JupyterServer, browser: Browser, notebook: Any, artifacts: Path, page: Page
) -> None:
    bursts, per_burst = 3, 150
    n = bursts * per_burst
    cell = (
        f"for b in range({bursts}):\n"
        f"    for i in range(b * {per_burst}, (b + 1) * {per_burst}):\n"
        "        log.write(f'line {i}')\n"
        "        plot.append(i, y=(i % 50) / 50)\n"
        "    log.channel.flush(30)\n"
        "    time.sleep(4)  # longer than the proxy's 3 s read timeout: it cuts the stream\n"
    )
    path = notebook([SETUP, cell])
    with Nginx(
        jupyter.port, websocket_paths=JUPYTER_SOCKETS, refuse=[r"/nbchannel/ws"], read_timeout=3
    ) as proxy:
        nb = browser.open_notebook(jupyter, path, page=page, origin=proxy.url())
        check_page(nb, browser, artifacts, "fallback-stream-cut", n, "stream", click=False)
        nb.wait_idle(60)
        assert log_lines(page) == [f"line {i}" for i in range(n)]
        # the proxy did cut the idle stream, and the page resumed on the same session
        resumes = page.evaluate("() => globalThis.__nbchannel_client_v1__._transport.resumes")
        assert resumes >= bursts - 1


def test_a_websocket_killed_mid_stream_switches_with_nothing_lost_or_doubled(
    jupyter: JupyterServer, browser: Browser, notebook: Any, artifacts: Path, page: Page
) -> None:
    n = 600
    routes: list[WebSocketRoute] = []
    blocked = {"on": False}

    def route(ws: WebSocketRoute) -> None:
        if blocked["on"]:
            ws.close(code=1008, reason="blocked by the test")
            return
        ws.connect_to_server()
        routes.append(ws)

    page.route_web_socket(NBCHANNEL_WS, route)
    path = notebook([SETUP, stream_cell(n, pause_every=10, pause=0.05, wait_click=60)])
    nb = browser.open_notebook(jupyter, path, page=page)
    nb.run_cell(0)
    nb.page.locator(".nbc-log").first.wait_for(state="visible")
    nb.run_cell(1, wait=False)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        got = int(nb.page.locator(".nbc-log").first.get_attribute("data-received") or 0)
        if got >= 100:
            break
        time.sleep(0.05)
    assert transport(page) == "websocket"
    assert got < n, "the stream ended before the switch"
    # the proxy flips: the WebSocket dies mid-stream and is refused from now on
    blocked["on"] = True
    for ws in routes:
        ws.close(code=1006, reason="killed by the test")
    lines = wait_lines(nb, n)
    assert transport(page) == "stream"
    assert lines == [f"line {i}" for i in range(n)], "lines lost, doubled or out of order"
    button = nb.page.locator(".nbc-button button").first
    button.scroll_into_view_if_needed()
    button.click()
    nb.wait_idle(60)
    assert "clicked while running" in nb.outputs_text()
    nb.page.locator(".jp-OutputArea").first.screenshot(
        path=str(artifacts / "fallback-switch-midstream.png")
    )
    assert our_errors(browser) == []
