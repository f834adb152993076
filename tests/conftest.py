"""Shared fixtures: a real Jupyter server with nbchannel, real kernels, browser-protocol viewers.

The server (JupyterLab, which also serves Notebook 7) is started once per test session and
only if a test asks for it; kernels are started per test through the server's REST API,
like a notebook does.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyter_client.manager import KernelManager
from traitlets.config import Config

from nbchannel.testing import JupyterServer, KernelSession
from nbchannel.testing.browser import LAB_ARGS, Browser
from nbchannel.testing.chromium import ChromiumNotFound, ensure_chromium

#: Small bounds so that backpressure and replay limits are reached quickly in tests.
SUBSCRIBER_QUEUE_BYTES = 2 * 1024 * 1024


@pytest.fixture
def runtime_dir() -> Iterator[Path]:
    """A short private directory for sockets (pytest's tmp_path may be too long for one)."""
    d = Path(tempfile.mkdtemp(prefix="nbc-"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def jupyter() -> Iterator[JupyterServer]:
    # JupyterLab (which also serves Notebook 7), so the browser tests share this server.
    server = JupyterServer(
        app="lab",
        extra_args=[*LAB_ARGS, f"--NbChannel.subscriber_queue_bytes={SUBSCRIBER_QUEUE_BYTES}"],
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()
        server.cleanup()


def bare_lab(*, comms_over_subshells: str | None = None) -> JupyterServer:
    """JupyterLab with nbchannel's server extension disabled (default IOPub limits): kernels
    get no hub, so widgets are served over their comm, as in VS Code, Colab or Voilà.
    ``comms_over_subshells`` sets JupyterLab's setting of that name ("disabled": comm
    messages wait for the running cell, as VS Code and Colab deliver them)."""
    server = JupyterServer(
        app="lab", extra_args=[*LAB_ARGS, "--ServerApp.jpserver_extensions=nbchannel=False"]
    )
    if comms_over_subshells is not None:
        settings = server.home / "config/lab/user-settings/@jupyterlab/apputils-extension"
        settings.mkdir(parents=True, exist_ok=True)
        (settings / "kernels-settings.jupyterlab-settings").write_text(
            json.dumps({"commsOverSubshells": comms_over_subshells})
        )
    return server


@pytest.fixture(scope="session")
def bare_jupyter() -> Iterator[JupyterServer]:
    """A :func:`bare_lab` for the session."""
    with bare_lab() as server:
        assert server.nbchannel_path is None  # the extension really is off
        yield server


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the session, shared by every test that drives a page
    (Playwright's sync API allows one per thread once its loop runs)."""
    b = Browser()
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def kernel(jupyter: JupyterServer) -> Iterator[KernelSession]:
    session = jupyter.start_kernel()
    try:
        yield session
    finally:
        session.shutdown()


def open_channel(kernel: KernelSession, name: str, var: str = "ch", **options: object) -> None:
    """Create ``LiveChannel(name, **options)`` as ``var`` in the kernel; wait until it is open."""
    kwargs = "".join(f", {k}={v!r}" for k, v in options.items())
    kernel.execute(
        "import time, numpy as np\n"
        "from nbchannel import LiveChannel\n"
        f"{var} = LiveChannel({name!r}{kwargs})\n"
        f"assert {var}.wait_connected(10), {var}"
    )


def own_kernel_config() -> Config:
    """Configuration for a kernel a test starts itself (nbclient, a ``KernelManager``): Unix
    sockets at paths of its own. Over TCP the manager picks free ports and the kernel binds
    them a moment later, and meanwhile another process of the session (a server, a browser,
    another kernel) can take one: the kernel then dies with "Address already in use"."""
    path = Path(tempfile.gettempdir()) / f"nbc-kernel-{uuid.uuid4().hex[:12]}"
    return Config({"KernelManager": {"transport": "ipc", "ip": str(path)}})


def start_surviving_kernel(
    server: JupyterServer, kernel_id: str
) -> tuple[KernelManager, KernelSession]:
    """A kernel connected to ``server``'s hub that is not the server's child, so it outlives
    the server (for restart tests). Ready by its manager's measure (is the process alive?),
    not by a heartbeat that a kernel still importing on a loaded machine can miss."""
    hub_file = server.runtime_dir / f"nbchannel-hub-{server.port}.json"
    hub = json.loads(hub_file.read_text())
    env = server.environ()
    env.update(
        NBCHANNEL_ADDRESS=hub["address"],
        NBCHANNEL_SECRET=hub["secret"],
        NBCHANNEL_HUB_FILE=str(hub_file),
        NBCHANNEL_KERNEL_ID=kernel_id,
    )
    km = KernelManager(kernel_name="python3")
    km.kernel_cmd = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    km.connection_file = str(server.home / f"kernel-{kernel_id}.json")
    km.start_kernel(env=env)
    try:
        ready = km.blocking_client()
        ready.start_channels()
        ready.wait_for_ready(timeout=60)
        ready.stop_channels()
        return km, KernelSession(kernel_id, km.connection_file, server=None)
    except BaseException:
        km.shutdown_kernel(now=True)
        raise


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the browser tests last: Playwright's sync API keeps an event loop running in the
    main thread for the rest of the session, where ``asyncio.run()`` would then fail.
    (Tests elsewhere that drive the browser, through the ``browser`` fixture, too.)"""
    items.sort(
        key=lambda item: (
            "tests/browser/" in item.nodeid.replace("\\", "/")
            or "browser" in getattr(item, "fixturenames", ())
        )
    )


def pytest_collection_finish(session: pytest.Session) -> None:
    """Browser tests drive Debian's Chromium: find it, or install it (apt-get, as root or
    through sudo) before the first test runs, or stop at once with the command to run."""
    if session.config.option.collectonly:
        return
    if not any("browser" in getattr(item, "fixturenames", ()) for item in session.items):
        return
    capture = session.config.pluginmanager.getplugin("capturemanager")
    # apt-get's progress reaches the terminal rather than pytest's capture
    shown = capture.global_and_fixture_disabled() if capture else contextlib.nullcontext()
    with shown:
        try:
            ensure_chromium()
        except ChromiumNotFound as exc:
            raise pytest.UsageError(f"the browser tests need Chromium: {exc}") from None
