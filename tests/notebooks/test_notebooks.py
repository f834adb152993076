"""The example notebooks in ``notebooks/`` run top to bottom, unattended, on a real server.

Each notebook is executed with nbclient in a kernel that has the session server's hub in its
environment (as a kernel started by that server would have), so its channels really
connect. Every notebook must run without an error, end with its transport ``connected``
and have the hub see its channels carry messages.

Some notebooks are also run with a "user": a client speaking the browser protocol clicks,
drags and moves sliders while the cells run, and the notebook must react mid-cell.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from nbchannel.testing import JupyterServer, Viewer

from ..conftest import own_kernel_config

NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
EXPECTED_COUNT = 6
#: Each notebook is meant to finish in about 20 s headless; this leaves room for slow CI.
MAX_SECONDS = 60.0

STATUS_CELL = (
    "print('transport:', __import__('nbchannel').kernel.transport.default_transport().status)"
)


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def test_there_are_six_example_notebooks() -> None:
    names = [p.name for p in NOTEBOOKS]
    assert len(names) == EXPECTED_COUNT, names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_is_saved_clean(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    assert nb.metadata["kernelspec"]["name"] == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "a notebook without code"
    assert any(c.cell_type == "markdown" for c in nb.cells)
    for cell in code:
        assert cell.outputs == [], f"saved with outputs: {cell.source[:60]!r}"
        assert cell.execution_count is None, f"saved with an execution count: {cell.source[:60]!r}"


# -- running notebooks ------------------------------------------------------------------


def hub_environment(jupyter: JupyterServer, kernel_id: str) -> dict[str, str]:
    """The environment a kernel started by ``jupyter`` would have, with our own kernel id."""
    hub_file = jupyter.runtime_dir / f"nbchannel-hub-{jupyter.port}.json"
    hub = json.loads(hub_file.read_text())
    env = {k: v for k, v in os.environ.items() if not k.startswith("NBCHANNEL_")}
    env.update(
        NBCHANNEL_ADDRESS=hub["address"],
        NBCHANNEL_SECRET=hub["secret"],
        NBCHANNEL_HUB_FILE=str(hub_file),
        NBCHANNEL_KERNEL_ID=kernel_id,
    )
    return env


def run_notebook(jupyter: JupyterServer, path: Path, kernel_id: str) -> tuple[list[str], float]:
    """Execute a copy of the notebook (plus a status cell) with the notebook's folder as cwd;
    return what each code cell printed, and the time it took."""
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(STATUS_CELL))
    client = NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        config=own_kernel_config(),
    )
    start = time.monotonic()
    client.execute(env=hub_environment(jupyter, kernel_id))  # raises CellExecutionError
    elapsed = time.monotonic() - start
    return [cell_text(c) for c in nb.cells if c.cell_type == "code"], elapsed


def cell_text(cell: nbformat.NotebookNode) -> str:
    """Everything a code cell printed (streams and text results)."""
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("execute_result", "display_data"):
            parts.append(out.get("data", {}).get("text/plain", ""))
    return "".join(parts)


def new_kernel_id(path: Path) -> str:
    return f"nbtest-{path.stem}-{uuid.uuid4().hex[:8]}"


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs_unattended_with_live_channels(jupyter: JupyterServer, path: Path) -> None:
    kernel_id = new_kernel_id(path)
    texts, elapsed = run_notebook(jupyter, path, kernel_id)
    print(f"{path.name}: {elapsed:.1f} s")

    assert texts[-1].strip() == "transport: connected", texts[-1]
    everything = "\n".join(texts)
    # no degraded mode: the notebook had a hub the whole time
    assert "no live connection to a browser" not in everything
    assert "NbChannelWarning" not in everything
    assert elapsed < MAX_SECONDS, f"{path.name} took {elapsed:.1f} s"

    channels = [c for c in jupyter.channels()["channels"] if c["scope"] == kernel_id]
    assert channels, f"the hub saw no channel of {kernel_id}"
    silent = [c["name"] for c in channels if c["messages_in"] == 0]
    assert not silent, f"channels that carried nothing: {silent}"


# -- a user at the controls ---------------------------------------------------------------


class User:
    """Finds a running notebook's widget channels through the JSON API and acts on them
    the way the browser views do (the events of js/README.md's widget contract)."""

    def __init__(self, jupyter: JupyterServer, kernel_id: str, viewer: Viewer) -> None:
        self.jupyter = jupyter
        self.kernel_id = kernel_id
        self.viewer = viewer

    async def channel(self, prefix: str, *, min_in: int = 1, timeout: float = 60.0) -> str:
        """The name of this kernel's first channel named ``prefix…`` with ``min_in`` writes."""
        names = await self.channels(prefix, min_in=min_in, timeout=timeout)
        return names[0]

    async def channels(self, prefix: str, *, min_in: int = 1, timeout: float = 60.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while True:
            found = [
                c["name"]
                for c in self.jupyter.channels()["channels"]
                if c["scope"] == self.kernel_id
                and c["name"].startswith(prefix)
                and c["messages_in"] >= min_in
            ]
            if found:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {prefix!r} channel with {min_in} writes in {timeout} s")
            await asyncio.sleep(0.05)

    async def control(self, kind: str, label: str, *, count: int = 1) -> str:
        """The channel of the ``kind`` control labelled ``label`` (``count`` of that kind)."""
        deadline = time.monotonic() + 60
        while True:
            names = await self.channels(f"{kind}-")
            if len(names) >= count or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        views = [await self.viewer.subscribe(self.kernel_id, n) for n in names]
        await self.viewer.wait_for(lambda: all("label" in v.state for v in views))
        for v in views:
            if v.state["label"] == label:
                return v.name
        raise AssertionError(f"no {kind} labelled {label!r}: {[v.state for v in views]}")

    async def send(self, channel: str, event: str, value: Any) -> None:
        await self.viewer.event(self.kernel_id, channel, event, value)


Scenario = Callable[[User], Awaitable[None]]


async def click_stop_then_continue(user: User) -> None:
    await user.channel("plot-", min_in=200)  # the loop has been streaming for a while
    button = await user.channel("button-")
    await user.send(button, "click", {})
    view = await user.viewer.subscribe(user.kernel_id, button)
    await user.viewer.wait_for(lambda: view.state.get("label") == "Continue", timeout=30)
    await asyncio.sleep(0.3)  # wait_click() sees clicks from the moment it starts waiting
    await user.send(button, "click", {})


async def move_the_learning_rate_then_stop(user: User) -> None:
    slider = await user.control("slider", "learning rate")
    button = await user.control("button", "Stop")
    await user.channel("plot-", min_in=20)  # training has started
    await user.send(slider, "change", {"value": 2.5})
    await user.channel("plot-", min_in=60)
    await user.send(button, "click", {})


async def drag_on_the_image_then_stop(user: User) -> None:
    stop = await user.control("button", "Stop", count=2)
    image = await user.channel("image-", min_in=20)  # the simulation is streaming frames
    common = {"button": 0, "dx": 0, "dy": 0, "shift": False, "ctrl": False, "alt": False}
    await user.send(image, "pointer", {**common, "type": "down", "x": 30, "y": 30, "buttons": 1})
    for i in range(10):
        xy = {"x": 30 + 5 * i, "y": 30}
        await user.send(image, "pointer", {**common, "type": "move", **xy, "buttons": 1})
        await asyncio.sleep(0.02)
    await user.send(image, "pointer", {**common, "type": "up", "x": 80, "y": 30, "buttons": 0})
    await user.send(image, "pointer", {**common, "type": "move", "x": 90, "y": 90, "buttons": 0})
    await asyncio.sleep(0.5)
    await user.send(stop, "click", {})


async def change_the_damping(user: User) -> None:
    zeta = await user.control("slider", "damping ratio ζ", count=3)
    log = await user.channel("log-")  # written after the handlers are registered
    view = await user.viewer.subscribe(user.kernel_id, log)
    await user.send(zeta, "change", {"value": 1.5})
    lines = lambda: [line for _, item in view.items for line in item["lines"]]  # noqa: E731
    await user.viewer.wait_for(lambda: any("ζ → 1.5 (overdamped)" in s for s in lines()), 30)


async def wave_at_the_station(user: User) -> None:
    await user.channel("text-", min_in=2)  # the station runs, so the wave handler is set
    await user.viewer.event("server", "weather", "wave", {})
    log = await user.channel("log-", min_in=2)
    view = await user.viewer.subscribe(user.kernel_id, log)
    await user.viewer.wait_for(
        lambda: any("wave #1" in line for _, item in view.items for line in item["lines"]), 30
    )


#: notebook stem → (what the user does, what a code cell must then print)
SCENARIOS: dict[str, tuple[Scenario, str]] = {
    "01-quickstart": (click_stop_then_continue, r"Stop was clicked[\s\S]*clicked at"),
    "02-training-curves": (
        move_the_learning_rate_then_stop,
        r"learning rates used: \[1\.0, 2\.5\]",
    ),
    "03-simulation-frames": (
        drag_on_the_image_then_stop,
        r"Stop was clicked: .*\n11 drops from 13 pointer events",  # down + 10 drags: 11
    ),
    "04-interactive-tutorial": (change_the_damping, r"transport: connected"),
    "05-channels-across-notebooks": (wave_at_the_station, r"'events': [1-9]"),
}


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("stem", sorted(SCENARIOS))
def test_notebook_reacts_to_a_user_while_its_cells_run(jupyter: JupyterServer, stem: str) -> None:
    (path,) = [p for p in NOTEBOOKS if p.stem == stem]
    scenario, expected = SCENARIOS[stem]
    kernel_id = new_kernel_id(path)
    failure: list[BaseException] = []

    async def act() -> None:
        viewer = await Viewer.connect(jupyter.ws_url, token=jupyter.token)
        try:
            await scenario(User(jupyter, kernel_id, viewer))
        finally:
            await viewer.close()

    def user_thread() -> None:
        try:
            asyncio.run(act())
        except BaseException as exc:  # reported by the test below
            failure.append(exc)

    thread = threading.Thread(target=user_thread, daemon=True)
    thread.start()
    texts, elapsed = run_notebook(jupyter, path, kernel_id)
    thread.join(timeout=30)
    print(f"{path.name} with a user: {elapsed:.1f} s")
    if failure:
        raise failure[0]
    assert not thread.is_alive(), "the user was still waiting when the notebook ended"
    everything = "\n".join(texts)
    assert re.search(expected, everything), everything
