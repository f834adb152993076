"""Shared fixtures: a real Jupyter server with nbchannel, real kernels, browser-protocol viewers.

The server (JupyterLab, which also serves Notebook 7) is started once per test session and
only if a test asks for it; kernels are started per test through the server's REST API,
like a notebook does.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from nbchannel.testing import JupyterServer, KernelSession
from nbchannel.testing.browser import LAB_ARGS

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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the browser tests last: Playwright's sync API keeps an event loop running in the
    main thread for the rest of the session, where ``asyncio.run()`` would then fail."""
    items.sort(key=lambda item: "tests/browser/" in item.nodeid.replace("\\", "/"))
