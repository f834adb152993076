"""A real Jupyter server in a subprocess, and kernels started by it.

The server runs on this interpreter (``sys.executable -m jupyter_server``, ``-m jupyterlab``
or ``-m notebook``), never through a ``jupyter-*`` script found on ``PATH``, which may belong
to another installation; once it answers, the harness checks that the nbchannel it loaded
is this one (the JSON API reports the package's path).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from jupyter_client.blocking.client import BlockingKernelClient

__all__ = ["JupyterServer", "KernelSession", "WrongPackageError", "free_port"]

#: The module each Jupyter application runs as (``python -m MODULE``).
APP_MODULES = {"server": "jupyter_server", "lab": "jupyterlab", "notebook": "notebook"}
#: The nbchannel package this harness belongs to; a started server must load this one.
PACKAGE_PATH = Path(__file__).resolve().parent.parent


class WrongPackageError(RuntimeError):
    """The started server loaded an nbchannel other than the one running these tests."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class JupyterServer:
    """``jupyter server`` (or ``lab``) with nbchannel, on 127.0.0.1, stopped by :meth:`stop`.

    ::

        with JupyterServer() as server:
            kernel = server.start_kernel()
            kernel.execute("from nbchannel import LiveChannel; ch = LiveChannel('x')")

    All Jupyter state (config, data, runtime, IPython) lives in a temporary directory, so
    nothing in ``~`` is read or written. ``extra_args`` pass through to the server.

    The server runs on ``sys.executable``; :meth:`start` raises :class:`WrongPackageError`
    if it loaded nbchannel from anywhere but :data:`PACKAGE_PATH` (a server started with
    the extension disabled is accepted: :attr:`nbchannel_path` is then None).
    """

    #: Where the started server's nbchannel lives (None: the extension is not loaded).
    nbchannel_path: Path | None = None

    def __init__(
        self,
        *,
        app: str = "server",
        base_url: str = "/",
        token: str = "nbchannel-test-token",
        port: int | None = None,
        extra_args: list[str] | None = None,
        home: str | None = None,
        env: dict[str, str] | None = None,
        isolated: bool = True,
    ) -> None:
        if app not in APP_MODULES:
            raise ValueError(f"app must be one of {sorted(APP_MODULES)}, not {app!r}")
        self.app = app
        self.base_url = "/" + base_url.strip("/") + "/" if base_url.strip("/") else "/"
        self.token = token
        self.port = port or free_port()
        self.extra_args = list(extra_args or [])
        self._own_home = home is None
        self.home = Path(home or tempfile.mkdtemp(prefix="nbc-"))
        self.root_dir = self.home / "work"
        self.runtime_dir = self.home / "runtime"
        self.extra_env = dict(env or {})
        #: False: use the user's Jupyter config and data (``nbchannel doctor`` checks those).
        self.isolated = isolated
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.home / f"server-{self.port}.log"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT{base_url}``."""
        return f"http://127.0.0.1:{self.port}{self.base_url}"

    @property
    def ws_url(self) -> str:
        """The nbchannel WebSocket URL (without credentials)."""
        return f"ws://127.0.0.1:{self.port}{self.base_url}nbchannel/ws"

    def environ(self) -> dict[str, str]:
        """The environment the server runs with."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("NBCHANNEL_")}
        env.update(JUPYTER_RUNTIME_DIR=str(self.runtime_dir), PYTHONUNBUFFERED="1")
        if self.isolated:
            env.update(
                JUPYTER_CONFIG_DIR=str(self.home / "config"),
                JUPYTER_DATA_DIR=str(self.home / "data"),
                IPYTHONDIR=str(self.home / "ipython"),
                JUPYTER_PLATFORM_DIRS="1",
            )
        env.update(self.extra_env)
        return env

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self.proc.pid if self.proc is not None else None

    def command(self) -> list[str]:
        """The command line :meth:`start` runs: this interpreter, the app's own module."""
        cmd = [
            sys.executable,
            "-m",
            APP_MODULES[self.app],
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--port-retries=0",
            f"--ServerApp.base_url={self.base_url}",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root_dir}",
            "--ServerApp.open_browser=False",
        ]
        if os.geteuid() == 0:
            cmd.append("--allow-root")
        if self.app == "lab":
            cmd += [
                "--LabApp.news_url=None",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            ]
        return cmd + self.extra_args

    def start(self, timeout: float = 60.0) -> JupyterServer:
        """Start the server and wait until its API answers; check which nbchannel it loaded."""
        for d in (self.root_dir, self.runtime_dir):
            d.mkdir(parents=True, exist_ok=True)
        # JupyterLab: no news prompt over the page (the machine may have no internet anyway)
        settings = self.home / "config" / "lab" / "user-settings" / "@jupyterlab"
        notification = settings / "apputils-extension" / "notification.jupyterlab-settings"
        if self.isolated and not notification.exists():
            notification.parent.mkdir(parents=True, exist_ok=True)
            notification.write_text('{"fetchNews": "false", "checkForUpdates": false}')
        cmd = self.command()
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._log_file = log
        self.proc = subprocess.Popen(
            cmd, env=self.environ(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter {self.app} exited early:\n{self.log()}")
            try:
                self.api("GET", "api/status")
            except (OSError, urllib.error.URLError):
                time.sleep(0.1)
                continue
            try:
                self.nbchannel_path = self._loaded_package()
            except BaseException:
                self.stop()
                raise
            return self
        self.stop()
        raise TimeoutError(f"jupyter {self.app} did not answer in {timeout} s:\n{self.log()}")

    def _loaded_package(self) -> Path | None:
        """Where the server's nbchannel lives; WrongPackageError if it is not this one."""
        try:
            info = self.channels()
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None  # the extension is not enabled in this server
            raise
        loaded = info.get("package_path")
        if loaded is None or Path(loaded).resolve() != PACKAGE_PATH:
            raise WrongPackageError(
                f"the Jupyter server started by {sys.executable} loaded nbchannel "
                f"{info.get('version')} from {loaded or 'an unknown location'}, not the "
                f"nbchannel at {PACKAGE_PATH} that is running these tests. Another copy comes "
                "first on its import path (PYTHONPATH, or an install in a different "
                "environment); remove it or run from the environment it belongs to."
            )
        return Path(loaded).resolve()

    def log(self) -> str:
        """What the server printed so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, *, kill: bool = False) -> None:
        """Stop the server (SIGTERM, or SIGKILL with ``kill``: its kernels stay running)."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            if kill:
                proc.kill()
            else:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self.proc = None
        if getattr(self, "_log_file", None) is not None:
            self._log_file.close()

    def cleanup(self) -> None:
        """Remove the temporary directory (if this object made it)."""
        if self._own_home:
            shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> JupyterServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.cleanup()

    # -- HTTP ------------------------------------------------------------------------------

    def api(self, method: str, path: str, body: Any = None, *, token: bool = True) -> Any:
        """Call the server's REST API; returns the decoded JSON (or None)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path.lstrip("/"), data=data, method=method)
        if token:
            req.add_header("Authorization", f"token {self.token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def channels(self) -> Any:
        """The nbchannel JSON API: channels and connections."""
        return self.api("GET", "nbchannel/api/channels")

    def hub_info(self) -> dict[str, Any]:
        """The kernels' hub file: ``address`` (``unix:PATH`` or ``tcp:HOST:PORT``), ``secret``."""
        path = self.runtime_dir / f"nbchannel-hub-{self.port}.json"
        info: dict[str, Any] = json.loads(path.read_text())
        return info

    # -- kernels ---------------------------------------------------------------------------

    def start_kernel(self, name: str = "python3") -> KernelSession:
        """Start a kernel through the server's REST API and connect a client to it."""
        info = self.api("POST", "api/kernels", {"name": name})
        kid = info["id"]
        conn = self.runtime_dir / f"kernel-{kid}.json"
        deadline = time.monotonic() + 30
        while not conn.exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"no connection file for kernel {kid}")
            time.sleep(0.05)
        return KernelSession(kid, str(conn), server=self)


class KernelSession:
    """A real kernel and a client to run code in it."""

    def __init__(self, kernel_id: str, connection_file: str, server: JupyterServer | None) -> None:
        self.id = kernel_id
        self.server = server
        self.client = BlockingKernelClient(connection_file=connection_file)
        self.client.load_connection_file()
        self.client.start_channels()
        deadline = time.monotonic() + 60
        while True:
            try:
                self.client.wait_for_ready(timeout=max(1.0, deadline - time.monotonic()))
                return
            except RuntimeError:
                # "Kernel died before replying": jupyter_client's heartbeat calls a kernel
                # dead after 1 s without a reply, which a kernel still importing takes on a
                # loaded machine. Only the server knows whether it really died.
                if time.monotonic() > deadline or self._dead():
                    raise
                time.sleep(0.2)

    def _dead(self) -> bool:
        if self.server is None:
            return False  # a kernel this harness did not start: wait until the deadline
        if self.server.proc is None:
            return True
        try:
            info = self.server.api("GET", f"api/kernels/{self.id}")
        except OSError:
            return True
        return bool(info.get("execution_state") == "dead")

    def execute(self, code: str, timeout: float = 60.0) -> str:
        """Run ``code`` to completion; return its stdout; raise RuntimeError on an error."""
        out: list[str] = []
        errors: list[str] = []

        def hook(msg: dict[str, Any]) -> None:
            t = msg["header"]["msg_type"]
            c = msg["content"]
            if t == "stream":
                (out if c["name"] == "stdout" else errors).append(c["text"])
            elif t == "error":
                errors.append("\n".join(c["traceback"]))

        reply = self.client.execute_interactive(code, timeout=timeout, output_hook=hook)
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"kernel error running {code!r}:\n" + "".join(errors))
        return "".join(out)

    def submit(self, code: str) -> str:
        """Start running ``code`` without waiting; returns the request id (see :meth:`join`)."""
        msg_id: str = self.client.execute(code)
        return msg_id

    def join(self, msg_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """Wait for the reply to a :meth:`submit`."""
        deadline = time.monotonic() + timeout
        while True:
            reply: dict[str, Any] = self.client.get_shell_msg(
                timeout=max(0.1, deadline - time.monotonic())
            )
            if reply["parent_header"].get("msg_id") == msg_id:
                return reply

    def eval(self, expr: str, timeout: float = 60.0) -> Any:
        """Evaluate ``expr`` in the kernel; its value must be JSON-serialisable."""
        out = self.execute(f"import json as _j; print(_j.dumps({expr}))", timeout)
        return json.loads(out.strip().splitlines()[-1])

    def shutdown(self) -> None:
        """Stop the client channels and, through the server, the kernel."""
        self.client.stop_channels()
        if self.server is not None and self.server.proc is not None:
            with contextlib.suppress(OSError):
                self.server.api("DELETE", f"api/kernels/{self.id}")
