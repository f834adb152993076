"""``nbchannel demo``: JupyterLab on a working copy of the example notebooks."""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import socket
import subprocess
import sys
from importlib import resources
from pathlib import Path

__all__ = ["copy_notebooks", "missing_requirements", "notebooks_source", "run_demo"]

FIRST = "01-quickstart.ipynb"

#: What the demo runs, by import name and the package that provides it.
REQUIREMENTS = {"jupyterlab": "JupyterLab", "ipykernel": "ipykernel (the Python kernel)"}
#: The command that installs them, from PyPI and from a clone.
INSTALL = 'pip install "nbchannel[lab]"  (from a clone: pip install -e ".[lab]")'


def notebooks_source() -> Path:
    """Where the bundled notebooks are: inside the installed package, or the source tree."""
    packaged = Path(str(resources.files("nbchannel"))) / "notebooks"
    if any(packaged.glob("*.ipynb")):
        return packaged
    source_tree = Path(__file__).resolve().parent.parent / "notebooks"
    if any(source_tree.glob("*.ipynb")):
        return source_tree
    raise FileNotFoundError(
        "the example notebooks are missing from this installation; reinstall nbchannel"
    )


def copy_notebooks(target: Path) -> list[str]:
    """Copy the notebooks into ``target``; files the user already has there are kept."""
    target.mkdir(parents=True, exist_ok=True)
    copied = []
    for nb in sorted(notebooks_source().glob("*.ipynb")):
        dest = target / nb.name
        if not dest.exists():
            shutil.copy2(nb, dest)
            copied.append(nb.name)
    return copied


def missing_requirements() -> list[str]:
    """What the demo needs that this Python environment lacks (empty when nothing)."""
    return [label for name, label in REQUIREMENTS.items() if importlib.util.find_spec(name) is None]


def _free_port(ip: str, start: int = 8888) -> int:
    for port in range(start, start + 100):
        with socket.socket() as s:
            try:
                s.bind((ip, port))
            except OSError:
                continue
            return port
    raise OSError(f"no free port on {ip} between {start} and {start + 99}")


def run_demo(
    directory: Path,
    *,
    ip: str = "127.0.0.1",
    port: int | None = None,
    open_browser: bool = True,
    extra: list[str] | None = None,
) -> int:
    """Copy the notebooks to ``directory`` and run JupyterLab there; returns its exit code.

    JupyterLab is this Python environment's (``sys.executable -m jupyterlab``), never another
    ``jupyter`` found on ``PATH``: the one that has nbchannel installed. When it or ipykernel
    is missing, says how to install them and returns 1.
    """
    missing = missing_requirements()
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        print(
            f"nbchannel demo: {' and '.join(missing)} {verb} not installed in this Python "
            f"environment ({sys.prefix}).\nInstall what the demo runs with:\n    {INSTALL}",
            file=sys.stderr,
        )
        return 1
    directory = directory.resolve()
    copied = copy_notebooks(directory)
    port = port or _free_port(ip)
    token = secrets.token_hex(24)
    host = "127.0.0.1" if ip in ("0.0.0.0", "::", "") else ip
    url = f"http://{host}:{port}/lab/tree/{FIRST}?token={token}"
    kept = "" if copied else " (your copies were kept)"
    print(f"nbchannel demo: notebooks in {directory}{kept}", flush=True)
    print(f"nbchannel demo: open {url}", flush=True)
    print("nbchannel demo: press Ctrl+C to stop", flush=True)
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.root_dir={directory}",
        f"--ip={ip}",
        f"--port={port}",
        "--port-retries=0",
        f"--IdentityProvider.token={token}",
        f"--LabApp.default_url=/lab/tree/{FIRST}",
    ]
    if not open_browser:
        cmd.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers and CI machines often run as root
    cmd += extra or []
    if hasattr(os, "execv"):
        # Become JupyterLab: Ctrl+C and signals from a process manager reach it directly.
        sys.stdout.flush()
        os.execv(sys.executable, cmd)
    try:  # pragma: no cover - platforms without exec
        return subprocess.call(cmd)
    except KeyboardInterrupt:  # pragma: no cover
        return 0
