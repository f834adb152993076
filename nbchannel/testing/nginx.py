"""A real nginx (Debian's ``nginx-light``) as a reverse proxy in front of a test server.

Each :class:`Nginx` writes its own configuration into a temporary directory and runs
``nginx -c FILE -p DIR -g 'daemon off;'`` on a free loopback port; :meth:`Nginx.stop` ends
that process by its PID. The options model the deployments the HTTP fallbacks are for::

    with Nginx(server.port, websocket_paths=r"/api/kernels/[^/]+/channels",
               refuse=[r"/nbchannel/ws"]) as proxy:
        viewer = await HttpViewer.connect(proxy.url(server.base_url), token=server.token)

* ``websocket_paths``: a regex of the locations upgraded to WebSockets (others are plain
  HTTP, so an upgrade there fails), as in many copied JupyterHub configs; ``"/"`` (the
  default) upgrades every path, None none;
* ``refuse``: regexes of locations answered with 403;
* ``buffering`` / ``ignore_accel_buffering``: ``proxy_buffering on`` — nginx then buffers
  responses unless the upstream says ``X-Accel-Buffering: no``, which nbchannel's stream
  does; ``ignore_accel_buffering`` makes nginx ignore that header, like proxies that buffer
  whatever the upstream says;
* ``read_timeout``: ``proxy_read_timeout`` — a response idle that long is cut;
* ``compress``: gzip every response for clients that accept it (``gzip_proxied any``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from .server import free_port

__all__ = ["Nginx", "NginxNotFound", "find_nginx"]

#: Where Debian's nginx packages put the binary (often not on a user's PATH).
NGINX_PATHS = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")


class NginxNotFound(FileNotFoundError):
    """No nginx binary; the message names the package to install."""


def find_nginx() -> str:
    """The nginx binary (``PATH`` first, then Debian's location)."""
    for path in (shutil.which("nginx") or "", *NGINX_PATHS):
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    raise NginxNotFound("no nginx found; install Debian's package: apt-get install -y nginx-light")


class Nginx:
    """nginx proxying ``127.0.0.1:{upstream_port}``; see the module docstring."""

    def __init__(
        self,
        upstream_port: int,
        *,
        websocket_paths: str | None = "/",
        refuse: Sequence[str] = (),
        buffering: bool = False,
        ignore_accel_buffering: bool = False,
        read_timeout: float = 60.0,
        compress: bool = False,
        port: int | None = None,
    ) -> None:
        self.upstream_port = upstream_port
        self.websocket_paths = websocket_paths
        self.refuse = list(refuse)
        self.buffering = buffering
        self.ignore_accel_buffering = ignore_accel_buffering
        self.read_timeout = read_timeout
        self.compress = compress
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="nbc-nginx-"))
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, base_url: str = "/") -> str:
        """``http://127.0.0.1:PORT{base_url}`` through the proxy."""
        return f"http://127.0.0.1:{self.port}{base_url}"

    def config(self) -> str:
        """The nginx.conf this proxy runs with."""
        d = self.dir
        upstream = f"http://127.0.0.1:{self.upstream_port}"
        common = (
            f"proxy_pass {upstream}; proxy_http_version 1.1; proxy_set_header Host $http_host; "
            f"proxy_buffering {'on' if self.buffering else 'off'}; "
            f"proxy_read_timeout {round(self.read_timeout * 1000)}ms; "
            + ("proxy_ignore_headers X-Accel-Buffering; " if self.ignore_accel_buffering else "")
        )
        upgrade = (
            "proxy_set_header Upgrade $http_upgrade; "
            "proxy_set_header Connection $connection_upgrade; "
        )
        locations = [f"location ~* {r} {{ return 403; }}" for r in self.refuse]
        if self.websocket_paths == "/":
            locations.append(f"location / {{ {common}{upgrade}}}")
        else:
            if self.websocket_paths is not None:
                locations.append(f"location ~* {self.websocket_paths} {{ {common}{upgrade}}}")
            # everything else: plain HTTP, no upgrade (no Upgrade/Connection passed on)
            locations.append(f'location / {{ {common}proxy_set_header Connection ""; }}')
        user = "user root;\n" if hasattr(os, "geteuid") and os.geteuid() == 0 else ""
        return (
            f"{user}worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n"
            "events { worker_connections 256; }\n"
            "http {\n"
            "  access_log off;\n"
            + (
                "  gzip on; gzip_proxied any; gzip_min_length 0; gzip_types "
                "application/octet-stream text/event-stream application/json;\n"
                if self.compress
                else ""
            )
            + f"  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;\n"
            f"  fastcgi_temp_path {d}/fastcgi; uwsgi_temp_path {d}/uwsgi;"
            f" scgi_temp_path {d}/scgi;\n"
            "  map $http_upgrade $connection_upgrade { default upgrade; '' close; }\n"
            f"  server {{\n    listen 127.0.0.1:{self.port};\n    client_max_body_size 0;\n"
            + "".join(f"    {loc}\n" for loc in locations)
            + "  }\n}\n"
        )

    def start(self, timeout: float = 10.0) -> Nginx:
        """Write the config, start nginx in the foreground, wait until it answers."""
        conf = self.dir / "nginx.conf"
        conf.write_text(self.config())
        binary = find_nginx()
        check = subprocess.run(
            [binary, "-t", "-c", str(conf), "-p", str(self.dir)], capture_output=True, text=True
        )
        if check.returncode != 0:
            raise RuntimeError(f"nginx refused its config:\n{check.stderr}\n{self.config()}")
        self.proc = subprocess.Popen(
            [binary, "-c", str(conf), "-p", str(self.dir), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=open(self.dir / "stderr.log", "wb"),  # noqa: SIM115 - the process owns it
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited at once:\n{self.log()}")
            try:
                urllib.request.urlopen(self.url() + "nbchannel-proxy-probe", timeout=1)
            except urllib.error.HTTPError:
                return self  # any HTTP answer: it is up
            except OSError:
                time.sleep(0.05)
                continue
            return self
        self.stop()
        raise TimeoutError(f"nginx did not answer in {timeout} s:\n{self.log()}")

    def log(self) -> str:
        """nginx's error log (and what it printed)."""
        out = []
        for name in ("error.log", "stderr.log"):
            p = self.dir / name
            if p.exists():
                out.append(p.read_text(errors="replace"))
        return "\n".join(out)

    def stop(self) -> None:
        """Stop this nginx (its master process, by PID; it takes its worker along)."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self.proc = None

    def cleanup(self) -> None:
        """Remove the temporary directory."""
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Nginx:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.cleanup()
