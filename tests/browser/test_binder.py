"""The Binder setup, locally: JupyterLab under /user/<name>/ behind a reverse proxy that
forwards WebSockets, with the bundled notebooks run in a real browser through the proxy."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from nbchannel.demo import notebooks_source
from nbchannel.testing import JupyterServer
from nbchannel.testing.browser import LAB_ARGS, Browser
from nbchannel.testing.proxy import ReverseProxy


@pytest.fixture(scope="module")
def binder() -> Iterator[tuple[JupyterServer, ReverseProxy]]:
    server = JupyterServer(app="lab", base_url="/user/binder-test/", extra_args=LAB_ARGS)
    server.start()
    for nb in notebooks_source().glob("*.ipynb"):
        shutil.copy(nb, server.root_dir / nb.name)
    proxy = ReverseProxy(f"http://127.0.0.1:{server.port}").start()
    try:
        yield server, proxy
    finally:
        proxy.stop()
        server.stop()
        server.cleanup()


@pytest.mark.parametrize(
    ("notebook", "kind", "attribute", "minimum", "stop"),
    [
        ("01-quickstart.ipynb", "plot", "data-points", 10, False),
        # the simulation runs a minute while someone watches: its Stop button ends it
        ("03-simulation-frames.ipynb", "image", "data-frames", 5, True),
    ],
)
def test_notebook_runs_through_the_proxy_under_a_user_base_url(
    binder: tuple[JupyterServer, ReverseProxy],
    browser: Browser,
    artifacts: Path,
    notebook: str,
    kind: str,
    attribute: str,
    minimum: int,
    stop: bool,
) -> None:
    server, proxy = binder
    nb = browser.open_notebook(server, notebook, origin=proxy.url)
    try:
        assert nb.page.url.startswith(f"{proxy.url}/user/binder-test/lab/")
        nb.run_all(wait=not stop, timeout=180)
        widget = nb.page.locator(f".nbc-{kind}").first
        widget.wait_for(state="visible", timeout=30_000)
        if stop:
            nb.page.wait_for_function(
                "([sel, attr, n]) => Number(document.querySelector(sel)?.getAttribute(attr)) >= n",
                arg=[f".nbc-{kind}", attribute, minimum],
                timeout=60_000,
            )
            nb.page.locator(".nbc-button button", has_text="Stop").click()
            nb.wait_idle(timeout=60)
            assert "Stop was clicked" in nb.outputs_text()
        assert widget.get_attribute("data-status") == "live"
        count = int(widget.get_attribute(attribute) or 0)
        assert count >= minimum, f"{kind} {attribute}={count}"
        assert "Traceback" not in nb.outputs_text()
        nb.page.screenshot(path=str(artifacts / f"binder-{notebook}.png"), full_page=True)
        # the widget's socket went through the proxy, under the user's base URL
        viewers = [p for p in server.channels()["peers"] if p["role"] == "subscriber"]
        assert viewers, "no browser connection reached the hub"
        assert browser.our_errors() == []
    finally:
        nb.page.context.close()
