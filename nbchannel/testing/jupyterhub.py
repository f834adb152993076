"""A real JupyterHub on loopback, with the nbchannel relay as a managed service (tests).

JupyterHub from PyPI, its ``DummyAuthenticator`` (any password) and
``SimpleLocalProcessSpawner`` (single-user servers run as the hub's own user, with homes
in a private directory), ``configurable-http-proxy`` from npm (installed into a cache
directory on first use when it is not on ``PATH``) and ``python -m nbchannel.relay`` as the
service ``nbchannel``, configured as the README's "Deploying on JupyterHub" says::

    groups = {"teachers": (["ann"], [OWN, SUBSCRIBE, EVENT]), "students": (["bob"], [...])}
    with JupyterHubProcess(["ann", "bob"], groups) as hub:
        hub.start_server("ann")
        kernel = hub.start_kernel("ann")          # a KernelSession in ann's server
        page.goto(hub.url + "hub/login")          # log in through the hub's form

Under root the single-user servers get ``--allow-root``. A service ``tester`` holds the
token the harness uses (:attr:`JupyterHubProcess.api_token`) to start servers and kernels.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from .relay import _wait_port
from .server import KernelSession, free_port

__all__ = ["CUSTOM_SCOPES", "JupyterHubProcess", "find_proxy"]

#: The custom scopes of hub-wide channels, as ``c.JupyterHub.custom_scopes`` declares them.
CUSTOM_SCOPES: dict[str, dict[str, str]] = {
    "custom:nbchannel:own": {"description": "open and write hub-wide channels"},
    "custom:nbchannel:subscribe": {"description": "watch hub-wide channels"},
    "custom:nbchannel:event": {"description": "send events to hub-wide channels"},
}

#: Where ``configurable-http-proxy`` is installed when it is not on PATH.
PROXY_CACHE = Path(
    os.environ.get("NBCHANNEL_CHP_DIR", Path.home() / ".cache" / "nbchannel-test" / "chp")
)


def find_proxy(install: bool = True) -> str:
    """Path of ``configurable-http-proxy``: on PATH, in :data:`PROXY_CACHE`, or installed
    there with ``npm install --prefix`` (about 4 s from the npm registry)."""
    found = shutil.which("configurable-http-proxy")
    if found:
        return found
    exe = PROXY_CACHE / "node_modules" / ".bin" / "configurable-http-proxy"
    if exe.exists():
        return str(exe)
    npm = shutil.which("npm")
    if not install or npm is None:
        raise FileNotFoundError(
            "configurable-http-proxy is not installed; run: "
            f"npm install --prefix {PROXY_CACHE} configurable-http-proxy"
        )
    PROXY_CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            npm,
            "install",
            "--prefix",
            str(PROXY_CACHE),
            "--no-audit",
            "--no-fund",
            "configurable-http-proxy",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return str(exe)


_CONFIG = """\
# Written by nbchannel.testing.jupyterhub: the README's deployment, on loopback.
import sys
c = get_config()  # noqa: F821
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api_port}"
c.ConfigurableHTTPProxy.command = [{proxy!r}]
c.JupyterHub.db_url = "sqlite:///{dir}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{dir}/cookie_secret"
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allowed_users = {users!r}
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = "{dir}/home/{{username}}"
c.Spawner.cmd = [{singleuser!r}]
c.Spawner.args = {spawner_args!r}
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120

# -- nbchannel: the relay as a service, its scopes, who holds them --------------------------
c.JupyterHub.services = [
    {{
        "name": "nbchannel",
        "url": "http://127.0.0.1:{relay_port}",
        "command": [sys.executable, "-m", "nbchannel.relay"] + {relay_args!r},
        "oauth_no_confirm": True,
        "oauth_client_allowed_scopes": [
            "custom:nbchannel:subscribe", "custom:nbchannel:event",
        ],
    }},
    {{"name": "tester", "api_token": {api_token!r}}},
]
c.JupyterHub.custom_scopes = {custom_scopes!r}
c.JupyterHub.load_groups = {groups!r}
c.JupyterHub.load_roles = {roles!r}
# the kernels' token carries the nbchannel scopes its user holds
c.Spawner.server_token_scopes = [
    "users:activity!user", "access:servers!server",
    "custom:nbchannel:own", "custom:nbchannel:subscribe",
]
c.Spawner.environment = {{
    "NBCHANNEL_RELAY_URL": "http://127.0.0.1:{relay_port}/services/nbchannel/",
    "JUPYTER_CONFIG_DIR": lambda spawner: "{dir}/jupyter/" + spawner.user.name + "/config",
    "JUPYTER_DATA_DIR": lambda spawner: "{dir}/jupyter/" + spawner.user.name + "/data",
    "JUPYTER_RUNTIME_DIR": lambda spawner: "{dir}/jupyter/" + spawner.user.name + "/runtime",
    "IPYTHONDIR": lambda spawner: "{dir}/jupyter/" + spawner.user.name + "/ipython",
}}
"""


class JupyterHubProcess:
    """JupyterHub with the relay as service ``nbchannel``. ``groups`` maps each group to its
    members and the scopes a role grants it (``{"teachers": (["ann"], [scope, ...])}``);
    every user of ``users`` has the role ``user``: ``self`` and ``access:services``."""

    def __init__(
        self,
        users: list[str],
        groups: dict[str, tuple[list[str], list[str]]],
        *,
        relay_args: list[str] | None = None,
    ) -> None:
        self.users = users
        self.groups = groups
        self.relay_args = relay_args or []
        self.dir = Path(tempfile.mkdtemp(prefix="nbc-jupyterhub-"))
        self.port = free_port()
        self.hub_port = free_port()
        self.proxy_api_port = free_port()
        self.relay_port = free_port()
        self.api_token = secrets.token_hex(16)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.dir / "jupyterhub.log"

    @property
    def url(self) -> str:
        """The proxy's public URL (pages, the hub, services and servers, on one origin)."""
        return f"http://127.0.0.1:{self.port}/"

    def home(self, user: str) -> Path:
        """The user's home (the root of their single-user server)."""
        path = self.dir / "home" / user
        path.mkdir(parents=True, exist_ok=True)
        return path

    def runtime_dir(self, user: str) -> Path:
        return self.dir / "jupyter" / user / "runtime"

    def config(self, proxy: str) -> str:
        """The ``jupyterhub_config.py`` this hub runs."""
        roles: list[dict[str, Any]] = [{"name": "user", "scopes": ["self", "access:services"]}]
        roles += [
            {"name": f"nbchannel-{group}", "groups": [group], "scopes": scopes}
            for group, (_, scopes) in self.groups.items()
        ]
        roles.append(
            {
                "name": "tester",
                "services": ["tester"],
                "scopes": ["admin:users", "admin:servers", "access:servers", "read:users"],
            }
        )
        spawner_args = ["--LabApp.expose_app_in_browser=True"]
        if os.geteuid() == 0:
            spawner_args.insert(0, "--allow-root")
        singleuser = str(Path(sys.executable).with_name("jupyterhub-singleuser"))
        return _CONFIG.format(
            port=self.port,
            hub_port=self.hub_port,
            proxy_api_port=self.proxy_api_port,
            proxy=proxy,
            dir=self.dir,
            users=set(self.users),
            singleuser=singleuser,
            spawner_args=spawner_args,
            relay_port=self.relay_port,
            relay_args=self.relay_args,
            api_token=self.api_token,
            custom_scopes=CUSTOM_SCOPES,
            groups={group: {"users": members} for group, (members, _) in self.groups.items()},
            roles=roles,
        )

    def start(self, timeout: float = 60.0) -> JupyterHubProcess:
        proxy = find_proxy()
        config = self.dir / "jupyterhub_config.py"
        config.write_text(self.config(proxy))
        for user in self.users:
            self.home(user)
            # no news toast or update check in the pages (the network is not reachable)
            config_dir = self.dir / "jupyter" / user / "config"
            config_dir.mkdir(parents=True, exist_ok=True)
            lab = {"news_url": None, "check_for_updates_class": "jupyterlab.NeverCheckForUpdate"}
            (config_dir / "jupyter_server_config.json").write_text(json.dumps({"LabApp": lab}))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTERHUB_", "JPY_"))}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env.pop("NBCHANNEL_RELAY_URL", None)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "jupyterhub", "-f", str(config)],
                cwd=self.dir,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        _wait_port(self.port, self.proc, timeout)
        deadline = time.monotonic() + timeout
        while True:  # the hub answers through the proxy once its routes are in
            try:
                self.api("GET", "hub/api/")
                break
            except (OSError, urllib.error.HTTPError) as exc:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"JupyterHub did not start:\n{self.log()[-3000:]}") from exc
                time.sleep(0.2)
        _wait_port(self.relay_port, self.proc, timeout)
        return self

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """A request to ``{url}{path}`` with the harness's token; the JSON answer."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", f"token {self.api_token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def start_server(self, user: str, timeout: float = 120.0) -> None:
        """Start ``user``'s single-user server (as the spawn page would) and wait for it."""
        try:
            self.api("POST", f"hub/api/users/{user}/server")
        except urllib.error.HTTPError as exc:
            if exc.code != 400:  # 400: already running
                raise
        deadline = time.monotonic() + timeout
        while True:
            model = self.api("GET", f"hub/api/users/{user}")
            server = model.get("servers", {}).get("", {})
            if server.get("ready"):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{user}'s server not ready:\n{self.log()[-3000:]}")
            time.sleep(0.3)

    def start_kernel(self, user: str) -> KernelSession:
        """A kernel in ``user``'s server (its REST API, through the proxy), and a client."""
        info = self.api("POST", f"user/{user}/api/kernels", {"name": "python3"})
        conn = self.runtime_dir(user) / f"kernel-{info['id']}.json"
        deadline = time.monotonic() + 60
        while not conn.exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"no connection file for {user}'s kernel {info['id']}")
            time.sleep(0.05)
        return KernelSession(info["id"], str(conn), server=None)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        """Stop the hub; it stops its servers and the relay first."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(10)
        self.proc = None

    def __enter__(self) -> JupyterHubProcess:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
