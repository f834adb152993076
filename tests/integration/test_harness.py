"""The test harness's servers: this interpreter, this nbchannel, nothing found on PATH."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

import nbchannel
from nbchannel.testing import JupyterServer
from nbchannel.testing.server import PACKAGE_PATH, WrongPackageError

APPS = [("server", "jupyter_server"), ("lab", "jupyterlab"), ("notebook", "notebook")]


@pytest.mark.parametrize(("app", "module"), APPS)
def test_servers_run_on_this_interpreter_not_a_script_on_path(app: str, module: str) -> None:
    server = JupyterServer(app=app)
    try:
        assert server.command()[:3] == [sys.executable, "-m", module]
    finally:
        server.cleanup()
    assert Path(nbchannel.__file__).resolve().parent == PACKAGE_PATH


@pytest.mark.slow
def test_a_jupyter_server_script_first_on_path_is_not_run(tmp_path: Path) -> None:
    # Without the venv activated, `python -m jupyter server` ran whichever jupyter-server
    # came first on PATH: another installation, with another nbchannel (or none).
    marker = tmp_path / "the-wrong-jupyter-ran"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("jupyter-server", "jupyter-lab", "jupyter"):
        script = bin_dir / name
        script.write_text(f"#!/bin/sh\necho $0 >> {marker}\nexit 3\n")
        script.chmod(0o755)
    path = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    with JupyterServer(env={"PATH": path}) as server:
        assert server.pid is not None
        cmdline = Path(f"/proc/{server.pid}/cmdline").read_bytes().split(b"\0")
        assert [a.decode() for a in cmdline[:3]] == [sys.executable, "-m", "jupyter_server"]
        assert Path(f"/proc/{server.pid}/exe").resolve() == Path(sys.executable).resolve()
        assert server.nbchannel_path == PACKAGE_PATH
        assert server.channels()["package_path"] == str(PACKAGE_PATH)
    assert not marker.exists(), marker.read_text()


@pytest.mark.slow
def test_a_server_that_loaded_another_nbchannel_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "elsewhere"
    shutil.copytree(PACKAGE_PATH, other / "nbchannel", ignore=shutil.ignore_patterns("__pycache__"))
    # `python -m` puts the working directory first on the server's import path; from a
    # directory without a checkout, PYTHONPATH decides which nbchannel it imports.
    monkeypatch.chdir(tmp_path)
    server = JupyterServer(env={"PYTHONPATH": str(other)})
    try:
        with pytest.raises(WrongPackageError) as refused:
            server.start()
        assert server.proc is None  # stopped, not left running
        message = str(refused.value)
        assert f"loaded nbchannel {nbchannel.__version__} from {other / 'nbchannel'}" in message
        assert f"not the nbchannel at {PACKAGE_PATH} that is running these tests" in message
    finally:
        server.stop()
        server.cleanup()
