"""Relays and Redis servers in subprocesses, for tests and benchmarks.

::

    with RedisServer(tmp) as redis, RelayProcess(tokens=..., redis=redis.url) as relay:
        viewer = await Viewer.connect(relay.ws_url, token=...)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .server import free_port

__all__ = ["RedisServer", "RelayProcess"]


def _wait_port(port: int, proc: subprocess.Popen[Any], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")


class RedisServer:
    """Debian's ``redis-server``, unprivileged, on a Unix socket in a private directory."""

    def __init__(self, directory: str | None = None) -> None:
        self.dir = Path(directory or tempfile.mkdtemp(prefix="nbc-redis-"))
        self.path = str(self.dir / "redis.sock")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def start(self) -> RedisServer:
        exe = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not os.path.exists(exe):
            raise RuntimeError(
                "no redis-server found; install Debian's package: apt-get install -y redis-server"
            )
        self.proc = subprocess.Popen(
            [
                exe,
                "--port",
                "0",
                "--unixsocket",
                self.path,
                "--unixsocketperm",
                "700",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not os.path.exists(self.path):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None
        if os.path.exists(self.path):
            os.unlink(self.path)

    def restart(self) -> None:
        """Stop and start again: every key is gone (no persistence)."""
        self.stop()
        self.start()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class RelayProcess:
    """``python -m nbchannel.relay`` on a free loopback port."""

    def __init__(
        self,
        *,
        tokens: dict[str, dict[str, Any]] | None = None,
        redis: str | None = None,
        relay_id: str | None = None,
        extra: list[str] | None = None,
        port: int | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.port = port or free_port()
        self.tokens = tokens
        self.redis = redis
        self.relay_id = relay_id
        self.extra = extra or []
        self.env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self._tmp = tempfile.mkdtemp(prefix="nbc-relay-")
        self.log_path = Path(self._tmp) / "relay.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def start(self, timeout: float = 20.0) -> RelayProcess:
        cmd = [
            sys.executable,
            "-m",
            "nbchannel.relay",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        if self.tokens is not None:
            path = Path(self._tmp) / "tokens.json"
            path.write_text(json.dumps(self.tokens))
            cmd += ["--auth", "tokens", "--tokens", str(path)]
        else:
            cmd += ["--auth", "open"]
        if self.redis:
            cmd += ["--redis", self.redis]
        if self.relay_id:
            cmd += ["--relay-id", self.relay_id]
        cmd += self.extra
        env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTERHUB_")}
        env.update(self.env)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        _wait_port(self.port, self.proc, timeout)
        return self

    def kill(self) -> None:
        """SIGKILL: the relay dies without closing anything."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> RelayProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self._tmp, ignore_errors=True)
