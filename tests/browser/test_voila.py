"""A callback-style dashboard in standalone Voilà, in real Chromium.

``voila NOTEBOOK`` builds its own tornado app: no Jupyter server extension is loaded, so
kernels have no hub and every widget is served over its comm. The page renders a plot, a
log and a table with their data, says "live · via the kernel", and a click on a Button
runs its ``on_click`` handler, whose log line appears in the page. The page's own client
(nbchannel's JupyterLab extension, which Voilà loads) asks nbchannel/api/info once: Voilà
redirects it to its file handler, which answers 403, and the client stops there (no
WebSocket, no retries). Screenshot under test-artifacts/screenshots/voila.png.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Request

from nbchannel.testing.browser import Browser, write_notebook
from nbchannel.testing.server import free_port
from tests.browser.test_widgets import _canvas_ink

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

DASHBOARD = [
    "#md\n# Training dashboard",
    "import numpy as np\n"
    "from nbchannel.widgets import Button, LiveLog, LivePlot, LiveTable\n"
    "plot = LivePlot(['loss', 'acc'], window=1000, title='training')\n"
    "xs = np.arange(500)\n"
    "plot.extend(xs, loss=np.exp(-xs / 100), acc=1 - np.exp(-xs / 150))\n"
    "log = LiveLog(height=140)\n"
    "for i in range(12): log.write(f'epoch {i} done')\n"
    "table = LiveTable(columns=['run', 'loss'])\n"
    "for i in range(3): table.update(i, run=f'run {i}', loss=round(1 / (i + 1), 3))\n"
    "button = Button('Evaluate')\n"
    "@button.on_click\n"
    "def evaluate(event):\n"
    "    log.write(f'evaluated on click {button.clicks}')\n"
    "    table.update(99, run='eval', loss=0.042)\n"
    "display(plot, table, button, log)",
]


QUICKSTART = Path(__file__).resolve().parents[2] / "notebooks" / "01-quickstart.ipynb"


@dataclass
class Voila:
    """A running ``voila NOTEBOOK``: its page's URL and its log."""

    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def voila(request: pytest.FixtureRequest) -> Iterator[Voila]:
    """``python -m voila dashboard.ipynb`` on 127.0.0.1, with Jupyter state in a temporary
    directory and no NBCHANNEL_* variables; stopped (by its process group) afterwards.
    Parametrized with ``"quickstart"`` it serves notebooks/01-quickstart.ipynb instead."""
    home = Path(tempfile.mkdtemp(prefix="nbc-voila-"))
    work = home / "work"
    if getattr(request, "param", None) == "quickstart":
        work.mkdir(parents=True)
        notebook = work / QUICKSTART.name
        shutil.copy(QUICKSTART, notebook)
    else:
        notebook = write_notebook(work / "dashboard.ipynb", DASHBOARD)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NBCHANNEL_")}
    env.update(
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        IPYTHONDIR=str(home / "ipython"),
        JUPYTER_PLATFORM_DIRS="1",
        PYTHONUNBUFFERED="1",
    )
    cmd = [
        sys.executable,
        "-m",
        "voila",
        str(notebook),
        "--no-browser",
        f"--port={port}",
        "--Voila.port_retries=0",
        "--Voila.ip=127.0.0.1",
        "--show_tracebacks=True",
    ]
    log_path = home / "voila.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"voila exited early:\n{log_path.read_text()}")
            if "Voilà is running at" in log_path.read_text(errors="replace"):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"voila did not answer in 60 s:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield Voila(url, log_path)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        shutil.rmtree(home, ignore_errors=True)


def test_a_callback_dashboard_runs_in_standalone_voila(
    voila: Voila, browser: Browser, artifacts: Path
) -> None:
    page = browser.new_page(height=1000)
    sockets: list[str] = []
    hub_requests: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))

    def note(request: Request) -> None:
        # the page's own requests to nbchannel's server routes (a redirect is not another)
        url = request.url
        if request.redirected_from is not None or "/nbchannel/" not in url:
            return
        if "/labextensions/" not in url and "/nbchannel/widgets.js" not in url:
            hub_requests.append(url)

    page.on("request", note)
    try:
        # no token: standalone Voilà asks for none unless --token or auto_token is given
        page.goto(voila.url, timeout=90_000)
        # Voilà's page is a Jupyter page (it has the config script nbchannel's client reads).
        assert page.locator("script#jupyter-config-data").count() == 1
        for kind in ["plot", "log", "table", "button"]:
            page.locator(f".nbc-{kind}").first.wait_for(state="visible", timeout=60_000)
        page.wait_for_function(
            "() => Number(document.querySelector('.nbc-plot').dataset.points) >= 1000",
            timeout=30_000,
        )
        assert _canvas_ink(page, ".nbc-plot") > 1000, "the plot canvas is blank"
        page.wait_for_function(
            "() => document.querySelector('.nbc-log').dataset.lines === '12'", timeout=30_000
        )
        assert "epoch 11 done" in page.locator(".nbc-log").inner_text()
        page.wait_for_function(
            "() => document.querySelector('.nbc-table').innerText.includes('run 2')",
            timeout=30_000,
        )
        badges = [t.strip() for t in page.locator(".nbc-badge").all_inner_texts()]
        assert len(badges) >= 4, badges
        assert all(b.startswith("live · via the kernel") for b in badges), badges
        assert page.locator("[data-nbchannel-via='comm']").count() >= 4
        assert page.locator(".nbc-failed").count() == 0

        # The callback runs in the kernel (Voilà's kernel is idle once the notebook ran).
        page.locator(".nbc-button button").click()
        page.wait_for_function(
            "() => document.querySelector('.nbc-log').innerText.includes('evaluated on click 1')",
            timeout=30_000,
        )
        page.wait_for_function(
            "() => document.querySelector('.nbc-table').innerText.includes('eval')",
            timeout=30_000,
        )
        page.locator(".nbc-button button").click()
        page.wait_for_function(
            "() => document.querySelector('.nbc-log').innerText.includes('evaluated on click 2')",
            timeout=30_000,
        )
        # A while later: still no attempt to reach a hub, nothing failed.
        page.wait_for_timeout(3_000)
        nbc_sockets = [u for u in sockets if "/nbchannel/" in u]
        assert nbc_sockets == [], nbc_sockets
        # One GET of nbchannel/api/info (Voilà redirects it to a refusal): no retry loop.
        assert [u.removeprefix(voila.url) for u in hub_requests] == ["nbchannel/api/info"]
        assert page.locator(".nbc-failed").count() == 0
        assert browser.our_errors() == []
        assert "Traceback" not in voila.log()
        page.screenshot(path=str(artifacts / "voila.png"), full_page=True)
    except BaseException:
        page.screenshot(path=str(artifacts / "voila.png"), full_page=True)
        print(voila.log())
        raise
    finally:
        page.context.close()


@pytest.mark.parametrize("voila", ["quickstart"], indirect=True)
def test_the_quickstart_renders_live_in_standalone_voila(
    voila: Voila, browser: Browser, artifacts: Path
) -> None:
    """notebooks/01-quickstart.ipynb as a Voilà app: its plot and button render live over
    the comm (Voilà runs every cell first, the 6 s loop and the 3 s wait included)."""
    page = browser.new_page(height=1000)
    try:
        page.goto(voila.url, timeout=120_000)
        page.locator(".nbc-plot").first.wait_for(state="visible", timeout=120_000)
        page.wait_for_function(
            "() => Number(document.querySelector('.nbc-plot').dataset.points) >= 100",
            timeout=60_000,
        )
        assert page.locator(".nbc-button button").inner_text() == "Stop"
        badges = [t.strip() for t in page.locator(".nbc-badge").all_inner_texts()]
        assert badges and all(b.startswith("live · via the kernel") for b in badges), badges
        assert page.locator(".nbc-failed").count() == 0
        assert "Traceback" not in voila.log()
    finally:
        page.screenshot(path=str(artifacts / "voila-quickstart.png"), full_page=True)
        page.context.close()
