"""The status page in a real Chromium: two kernels streaming, a viewer watching, the page's
figures against the JSON API; light and dark screenshots."""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from nbchannel.testing import JupyterServer, KernelSession, Viewer
from nbchannel.testing.browser import Browser

from ..conftest import open_channel

#: Streams of the two kernels: (notebook path, channel, seconds between appends, pad bytes).
STREAMS = [
    ("training.ipynb", "loss", 0.005, 400),
    ("camera.ipynb", "frames", 0.02, 6000),
]

STREAM_CELL = """
import threading
streaming = threading.Event(); streaming.set()
def _stream():
    i = 0
    while streaming.is_set():
        ch.append({{'i': i, 'pad': 'x' * {pad}}}); i += 1
        time.sleep({pause})
    ch.flush()
streamer = threading.Thread(target=_stream); streamer.start()
"""

#: The page's channel rows: every cell's data-field → its text and exact data-value.
READ_ROWS = """() => Array.from(document.querySelectorAll('#nbc-channels tbody tr[data-scope]'))
  .map(tr => ({
    scope: tr.dataset.scope, name: tr.dataset.name,
    cells: Object.fromEntries(Array.from(tr.cells).map(td => [td.dataset.field, {
      text: td.querySelector('.text')?.textContent ?? '',
      sub: td.querySelector('.sub')?.textContent ?? '',
      value: td.dataset.value === undefined ? null : Number(td.dataset.value)}]))}))"""

READ_CARDS = """() => Object.fromEntries(Array.from(document.querySelectorAll('.nbc-status-card'))
  .map(c => [c.dataset.field, Number(c.dataset.value)]))"""

_SUFFIX = {"": 1, "k": 1e3, "M": 1e6, "G": 1e9, "B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}


def shown(text: str) -> float:
    """The number a formatted figure stands for: '12.3k' → 12300, '1.5 MiB/s' → 1572864."""
    m = re.fullmatch(r"(-?[\d.]+)\s*(k|M|G|B|KiB|MiB|GiB)?(/s)?", text.strip())
    assert m, f"not a formatted figure: {text!r}"
    return float(m[1]) * _SUFFIX[m[2] or ""]


class Watcher:
    """A browser-protocol viewer on its own thread, subscribed to the given channels."""

    def __init__(self, server: JupyterServer, channels: list[tuple[str, str]]) -> None:
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(server, channels), daemon=True)
        self.thread.start()
        assert self.ready.wait(20), f"viewer did not subscribe: {self.error}"

    def _run(self, server: JupyterServer, channels: list[tuple[str, str]]) -> None:
        async def main() -> None:
            viewer = await Viewer.connect(server.ws_url, token=server.token)
            for scope, name in channels:
                await viewer.subscribe(scope, name)
            await viewer.wait_for(
                lambda: all(viewer.view(s, n).epoch is not None for s, n in channels)
            )
            self.ready.set()
            while not self.stop.is_set():
                with contextlib.suppress(asyncio.TimeoutError):
                    await viewer.receive(0.2)
            await viewer.close()

        try:
            asyncio.run(main())
        except BaseException as exc:
            self.error = exc
            self.ready.set()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)


@pytest.fixture
def kernels(jupyter: JupyterServer) -> Iterator[list[KernelSession]]:
    sessions: list[KernelSession] = []
    try:
        for _ in STREAMS:
            sessions.append(jupyter.start_kernel())
        yield sessions
    finally:
        for k in sessions:
            k.shutdown()


def wait_updates(page: Page, n: int = 2, timeout: float = 15) -> None:
    """Wait until the page has redrawn from ``n`` more API replies."""
    start = int(page.locator("#nbc-status").get_attribute("data-updates") or 0)
    page.wait_for_function(
        f"() => Number(document.getElementById('nbc-status').dataset.updates || 0) >= {start + n}",
        timeout=timeout * 1000,
    )


def settled(server: JupyterServer, scopes: set[str], timeout: float = 15) -> Any:
    """The JSON API once the channels of ``scopes`` stopped changing (two reads 0.5 s apart)."""

    def counts(api: Any) -> list[Any]:
        return sorted(
            (c["scope"], c["name"], c["messages_in"], c["messages_out"], c["bytes_out"])
            for c in api["channels"]
            if c["scope"] in scopes
        )

    deadline = time.monotonic() + timeout
    last = server.channels()
    while True:
        time.sleep(0.5)
        now = server.channels()
        if counts(now) == counts(last):
            return now
        assert time.monotonic() < deadline, "the hub's counters kept moving"
        last = now


def background(page: Page) -> str:
    return str(
        page.evaluate(
            "() => getComputedStyle(document.querySelector('.nbc-status')).backgroundColor"
        )
    )


def test_status_page_shows_both_streaming_kernels_like_the_json_api(
    jupyter: JupyterServer, browser: Browser, kernels: list[KernelSession], artifacts: Path
) -> None:
    sessions = []
    for kernel, (path, name, pause, pad) in zip(kernels, STREAMS, strict=True):
        open_channel(kernel, name)
        # a notebook session names the kernel on the page
        sessions.append(
            jupyter.api(
                "POST",
                "api/sessions",
                {"path": path, "name": path, "type": "notebook", "kernel": {"id": kernel.id}},
            )["id"]
        )
        kernel.execute(STREAM_CELL.format(pause=pause, pad=pad))
    watcher = Watcher(
        jupyter, [(k.id, name) for k, (_, name, _, _) in zip(kernels, STREAMS, strict=True)]
    )
    # The rates fill their window once both streams and the viewer have run through it
    # (the API's rate is the mean of the last 9 whole seconds).
    filled = time.monotonic() + 10
    page = browser.new_page(width=1440, height=820)
    try:
        page.emulate_media(color_scheme="light")
        page.goto(f"{jupyter.url}nbchannel/?token={jupyter.token}")
        page.wait_for_selector("#nbc-channels tbody tr[data-scope]")
        time.sleep(max(0.0, filled - time.monotonic()))
        wait_updates(page)

        # -- while streaming: rates like the API's, byte rates like the counters' slope
        api = jupyter.channels()
        rows = {(r["scope"], r["name"]): r for r in page.evaluate(READ_ROWS)}
        for kernel, (path, name, _, _) in zip(kernels, STREAMS, strict=True):
            row = rows[(kernel.id, name)]
            info = next(c for c in api["channels"] if c["scope"] == kernel.id and c["name"] == name)
            cells = row["cells"]
            assert cells["scope"]["text"] == path  # from Jupyter's sessions API
            assert cells["scope"]["sub"].startswith(kernel.id[:8])
            assert info["rate_in"] > 10, info
            for field in ("rate_in", "rate_out"):
                assert cells[field]["value"] == pytest.approx(info[field], rel=0.25, abs=5), field
                assert shown(cells[field]["text"]) == pytest.approx(cells[field]["value"], rel=0.05)
            # bytes per message × messages per second, as the API reports them
            per_msg = info["bytes_in"] / info["messages_in"]
            expected = per_msg * info["rate_in"]
            assert cells["byte_rate_in"]["value"] == pytest.approx(expected, rel=0.3), name
            assert shown(cells["byte_rate_in"]["text"]) == pytest.approx(
                cells["byte_rate_in"]["value"], rel=0.05
            )
        # the busier stream is the faster one on the page too
        loss, frames = rows[(kernels[0].id, "loss")], rows[(kernels[1].id, "frames")]
        assert loss["cells"]["rate_in"]["value"] > 2 * frames["cells"]["rate_in"]["value"]
        assert frames["cells"]["byte_rate_in"]["value"] > loss["cells"]["byte_rate_in"]["value"]
        page.screenshot(path=str(artifacts / "status-page-light.png"), full_page=True)
        light_bg = background(page)

        # dark: the page follows the system's preference
        page.emulate_media(color_scheme="dark")
        wait_updates(page, 1)
        page.screenshot(path=str(artifacts / "status-page-dark.png"), full_page=True)
        dark_bg = background(page)
        assert light_bg != dark_bg
        # ... unless the toggle says otherwise
        page.click(".nbc-status-theme button[data-theme='light']")
        assert background(page) == light_bg
        page.click(".nbc-status-theme button[data-theme='auto']")
        assert background(page) == dark_bg

        # -- stopped: every count on the page equals the API's
        for kernel in kernels:
            kernel.execute("streaming.clear(); streamer.join()")
        scopes = {k.id for k in kernels}
        api = settled(jupyter, scopes)
        wait_updates(page, 2)
        rows = {(r["scope"], r["name"]): r for r in page.evaluate(READ_ROWS)}
        cards = page.evaluate(READ_CARDS)
        for kernel, (_, name, _, _) in zip(kernels, STREAMS, strict=True):
            info = next(c for c in api["channels"] if c["scope"] == kernel.id and c["name"] == name)
            cells = rows[(kernel.id, name)]["cells"]
            assert info["messages_in"] > 100
            for field in (
                "viewers",
                "messages_in",
                "bytes_in",
                "messages_out",
                "bytes_out",
                "dropped",
                "events",
                "history_bytes",
                "state_bytes",
            ):
                assert cells[field]["value"] == info[field], (name, field)
                assert shown(cells[field]["text"]) == pytest.approx(info[field], rel=0.01), field
            assert cells["viewers"]["value"] == 1
        assert cards["channels"] == len(api["channels"])
        assert cards["kernels"] == sum(p["role"] == "owner" for p in api["peers"])
        assert cards["viewers"] == sum(p["role"] == "subscriber" for p in api["peers"])
        assert cards["refused"] == api["kernel_listener"]["refused"]
        peers = page.locator("#nbc-peers tbody tr[data-role]")
        assert peers.count() == len(api["peers"])
        assert browser.our_errors() == []
    finally:
        watcher.close()
        page.context.close()
        for sid in sessions:
            with contextlib.suppress(OSError):
                jupyter.api("DELETE", f"api/sessions/{sid}")
