"""Real Chromium driving real JupyterLab 4 and Notebook 7 pages, through Playwright.

Uses Debian's ``chromium`` (Playwright's own browser download is not needed): set
``NBCHANNEL_CHROMIUM`` to use another binary. Cells run through the application's own
commands (the server is started with ``expose_app_in_browser``), widgets are clicked and
dragged with the real mouse.

::

    with JupyterServer(app="lab", extra_args=LAB_ARGS) as server, Browser() as browser:
        nb = browser.open_notebook(server, "demo.ipynb")
        nb.run_all()
        nb.page.locator(".nbc-plot").wait_for()
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import nbformat
from playwright.sync_api import Browser as PWBrowser
from playwright.sync_api import Page, Playwright, sync_playwright

from .chromium import find_chromium
from .server import JupyterServer

__all__ = [
    "LAB_ARGS",
    "Browser",
    "NotebookPage",
    "find_chromium",
    "marks_seen",
    "timing_script",
    "wait_marks",
    "write_notebook",
]

#: Server arguments the browser tests need: commands reachable from the page, no network.
LAB_ARGS = [
    "--LabApp.expose_app_in_browser=True",
    "--JupyterNotebookApp.expose_app_in_browser=True",
]

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    # keep Chromium off the network: only this machine resolves
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost",
    # a page a test serves through page.route counts as a public origin, whose WebSockets
    # to 127.0.0.1 Chromium's local-network checks would block
    "--disable-features=LocalNetworkAccessChecks",
]


def write_notebook(path: Path, cells: list[str]) -> Path:
    """Write a notebook of code cells (a cell starting with ``#md`` becomes markdown)."""
    nb = nbformat.v4.new_notebook()
    for src in cells:
        if src.startswith("#md\n"):
            nb.cells.append(nbformat.v4.new_markdown_cell(src[4:]))
        else:
            nb.cells.append(nbformat.v4.new_code_cell(src))
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def timing_script(marks: Mapping[str, str]) -> str:
    """JavaScript for ``page.add_init_script``: when each mark first held, in page time.

    ``marks`` maps a name to a JavaScript expression. Installed before any page script, the
    script checks every expression every 10 ms until each has held once and records, in
    ``window.__nbcFirst``, ``performance.now()`` (ms since the navigation started) of the
    first check at which it held. Read them with :func:`marks_seen` or :func:`wait_marks`::

        page.add_init_script(timing_script({
            "output": "document.querySelector('.nbc-mime-view')",
            "plot": "Number(document.querySelector('.nbc-plot')?.dataset.drawn) > 0",
        }))
        page.reload(wait_until="load")
        times = wait_marks(page, ["plot"])  # seconds since navigation start, and "load"

    A page keeps its init scripts across reloads: use a new page for other marks.
    """
    if not marks or "load" in marks:
        raise ValueError("give at least one mark, none named 'load' (the load event's time)")
    checks = "\n".join(
        f"    if (first[{json.dumps(name)}] === undefined && ({expr})) "
        f"first[{json.dumps(name)}] = t;"
        for name, expr in marks.items()
    )
    return f"""
(() => {{
  const first = (window.__nbcFirst = {{}});
  const check = () => {{
    const t = performance.now();
{checks}
    if (Object.keys(first).length < {len(marks)}) setTimeout(check, 10);
  }};
  check();
}})();
"""


def marks_seen(page: Page) -> dict[str, float]:
    """The marks of :func:`timing_script` that held so far, in seconds since the page's
    navigation started, and ``load``: when its load event ended (once it has)."""
    times: dict[str, float] = page.evaluate(
        """() => {
          const nav = performance.getEntriesByType('navigation')[0];
          const load = nav && nav.loadEventEnd ? {load: nav.loadEventEnd} : {};
          return {...(window.__nbcFirst || {}), ...load};
        }"""
    )
    return {name: ms / 1000 for name, ms in times.items()}


def wait_marks(page: Page, names: Iterable[str], timeout: float = 30.0) -> dict[str, float]:
    """Wait until the marks ``names`` of :func:`timing_script` have held; :func:`marks_seen`."""
    held = " && ".join(f"__nbcFirst[{json.dumps(n)}] !== undefined" for n in names)
    page.wait_for_function(f"() => !!window.__nbcFirst && {held or 'true'}", timeout=timeout * 1000)
    return marks_seen(page)


class Browser:
    """A headless Chromium; ``new_page`` gives a fresh tab."""

    def __init__(self, *, headless: bool = True) -> None:
        self._pw: Playwright = sync_playwright().start()
        self.browser: PWBrowser = self._pw.chromium.launch(
            executable_path=find_chromium(), headless=headless, args=CHROMIUM_ARGS
        )
        #: Errors thrown by page scripts, per page.
        self.page_errors: list[str] = []

    def new_page(self, width: int = 1280, height: int = 900) -> Page:
        """A new tab with its own cookies."""
        context = self.browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))
        page.on(
            "console",
            lambda msg: (
                self.page_errors.append(msg.text)
                if msg.type == "error" and "nbchannel" in msg.text
                else None
            ),
        )
        return page

    def open_notebook(
        self,
        server: JupyterServer,
        path: str,
        *,
        ui: Literal["lab", "notebook"] = "lab",
        page: Page | None = None,
        origin: str | None = None,
    ) -> NotebookPage:
        """Open ``path`` (relative to the server's root) in JupyterLab or Notebook 7.

        ``origin`` (``http://host:port``) loads the page through a proxy instead of the
        server's own address; the server's ``base_url`` is kept.
        """
        nb = NotebookPage(page or self.new_page(), server, path, ui, origin)
        nb.open()
        return nb

    def our_errors(self) -> list[str]:
        """Page errors that come from nbchannel's code (Notebook 7 throws one of its own)."""
        return [e for e in self.page_errors if "nbchannel" in e or "nbc-" in e]

    def close(self) -> None:
        """Close the browser."""
        self.browser.close()
        self._pw.stop()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# The app's current notebook panel, in JupyterLab or Notebook 7.
_PANEL = "(() => { const a = window.jupyterapp; const w = a.shell.currentWidget; return w; })()"


class NotebookPage:
    """One notebook open in a page, with its kernel ready."""

    def __init__(
        self, page: Page, server: JupyterServer, path: str, ui: str, origin: str | None = None
    ) -> None:
        self.page = page
        self.server = server
        self.path = path
        self.ui = ui
        self.origin = origin

    @property
    def url(self) -> str:
        """The notebook's URL in this UI."""
        root = self.server.url
        if self.origin:
            root = self.origin.rstrip("/") + self.server.base_url
        if self.ui == "lab":
            # `reset`: start from an empty workspace, not the tabs other pages left open
            return f"{root}lab/tree/{self.path}?reset&token={self.server.token}"
        return f"{root}notebooks/{self.path}?token={self.server.token}"

    def open(self, timeout: float = 60.0) -> None:
        """Load the page and wait until the notebook's kernel is idle."""
        self.page.goto(self.url)
        self.wait_kernel_ready(timeout)

    def reload(self, timeout: float = 60.0) -> None:
        """Reload the page (the kernel keeps running) and wait for the notebook."""
        self.page.reload()
        self.wait_kernel_ready(timeout)

    def _eval(self, script: str, arg: Any = None) -> Any:
        return self.page.evaluate(script, arg)

    def wait_kernel_ready(self, timeout: float = 60.0) -> None:
        """Wait for the app, the notebook panel and an idle kernel; accept a kernel dialog."""
        deadline = time.monotonic() + timeout
        self.page.wait_for_function("() => !!window.jupyterapp", timeout=timeout * 1000)
        while time.monotonic() < deadline:
            dialog = self.page.locator(".jp-Dialog .jp-mod-accept")
            if dialog.count():
                dialog.first.click()
            ready = self._eval(
                """() => {
                  const w = window.jupyterapp.shell.currentWidget;
                  const ctx = w && w.sessionContext;
                  const k = ctx && ctx.session && ctx.session.kernel;
                  return !!(k && k.status === 'idle' && w.content && w.content.widgets.length);
                }"""
            )
            if ready:
                return
            time.sleep(0.2)
        raise TimeoutError(f"the notebook {self.path} did not get an idle kernel in {timeout} s")

    @property
    def kernel_id(self) -> str:
        """The id of the notebook's kernel."""
        kid: str = self._eval(
            "() => window.jupyterapp.shell.currentWidget?.sessionContext?.session?.kernel?.id"
        )
        return kid

    def run_all(self, wait: bool = True, timeout: float = 120.0) -> None:
        """Run every cell (like Run → Run All Cells); optionally wait until the kernel idles."""
        # (not returning the command's promise: evaluate() would wait for the cells to end)
        self._eval("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        if wait:
            self.wait_idle(timeout)

    def run_cell(self, index: int, wait: bool = True, timeout: float = 120.0) -> None:
        """Select cell ``index`` and run it."""
        self._eval(
            """(i) => {
              const nb = window.jupyterapp.shell.currentWidget.content;
              nb.activeCellIndex = i;
              window.jupyterapp.commands.execute('notebook:run-cell');
            }""",
            index,
        )
        if wait:
            self.wait_idle(timeout)

    def save(self, timeout: float = 20.0) -> None:
        """Save the notebook (File → Save) and wait until the file holds what the page shows:
        a page loaded later, or reloaded, draws the outputs saved here."""
        self._eval("() => { void window.jupyterapp.commands.execute('docmanager:save'); }")
        self.page.wait_for_function(
            "() => !window.jupyterapp.shell.currentWidget.context.model.dirty",
            timeout=timeout * 1000,
        )

    def busy(self) -> bool:
        """Whether the kernel is executing."""
        status: str | None = self._eval(
            "() => window.jupyterapp.shell.currentWidget?.sessionContext?.session?.kernel?.status"
        )
        return status == "busy"

    def wait_idle(self, timeout: float = 120.0) -> None:
        """Wait until every queued cell ran (no cell shows ``[*]``) and the kernel idles."""
        deadline = time.monotonic() + timeout
        time.sleep(0.1)
        while time.monotonic() < deadline:
            done = self._eval(
                """() => {
                  const w = window.jupyterapp.shell.currentWidget;
                  const k = w?.sessionContext?.session?.kernel;
                  if (!k || !w.content) return false;
                  const pending = w.content.widgets.some(
                    c => c.model.type === 'code' && c.promptNode &&
                         c.promptNode.textContent.includes('*'));
                  return k.status === 'idle' && !pending;
                }"""
            )
            if done:
                return
            time.sleep(0.1)
        raise TimeoutError(f"cells still running after {timeout} s")

    def outputs_text(self) -> str:
        """All text shown in cell outputs (errors included)."""
        text: str = self._eval(
            """() => Array.from(document.querySelectorAll('.jp-OutputArea-output'))
                      .map(e => e.innerText).join('\\n')"""
        )
        return text

    def set_theme(self, theme: str) -> None:
        """Switch JupyterLab's theme (e.g. 'JupyterLab Dark') and wait for it."""
        self._eval(
            "(t) => window.jupyterapp.commands.execute('apputils:change-theme', {theme: t})", theme
        )
        light = "false" if "Dark" in theme else "true"
        self.page.wait_for_function(
            f"() => document.body.dataset.jpThemeLight === '{light}'", timeout=20_000
        )
