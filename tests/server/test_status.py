"""The status page, ``{base_url}nbchannel/``: Jupyter auth, the embedded configuration, the
script it loads, under the root ``base_url`` and under a JupyterHub-style one."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from nbchannel import bundle
from nbchannel.testing import JupyterServer


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def _get(server: JupyterServer, path: str, headers: dict[str, str] | None = None) -> tuple:
    """GET without following redirects: (status, headers, body)."""
    req = urllib.request.Request(server.url + path, headers=headers or {})
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(req, timeout=30) as resp:
            return resp.status, resp.headers, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read().decode(errors="replace")


def _auth(server: JupyterServer) -> dict[str, str]:
    return {"Authorization": f"token {server.token}"}


@pytest.fixture(scope="module")
def hub_server() -> Iterator[JupyterServer]:
    """A server under a JupyterHub-style base_url."""
    with JupyterServer(base_url="/user/ana-lyst/") as server:
        yield server


@pytest.mark.parametrize("which", ["root", "user"])
def test_page_needs_a_login_and_embeds_the_base_url(
    which: str, jupyter: JupyterServer, hub_server: JupyterServer
) -> None:
    server = jupyter if which == "root" else hub_server
    base = server.base_url
    # no login: Jupyter's login page, which comes back here afterwards
    status, headers, _ = _get(server, "nbchannel/")
    assert status == 302
    assert headers["Location"].startswith(base + "login?next=")
    # a wrong token is no login either
    status, _, _ = _get(server, "nbchannel/", {"Authorization": "token wrong"})
    assert status == 302

    status, headers, body = _get(server, "nbchannel/", _auth(server))
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert "<title>nbchannel · hub status</title>" in body
    config = json.loads(
        re.search(r'<script id="nbchannel-status-config"[^>]*>(.*?)</script>', body, re.S)[1]
    )
    assert config["baseUrl"] == base
    assert config["apiUrl"] == base + "nbchannel/api/channels"
    assert config["metricsUrl"] == base + "metrics"
    assert config["intervalMs"] == 1000
    assert config["queueBounds"]["subscriber"] > 0
    (script,) = re.findall(r'<script type="module" src="([^"]+)"', body)
    assert script.startswith(base + "nbchannel/status.js?v=")

    # the script itself: only with a login, and it is the built page script
    path = script[len(base) :]
    assert _get(server, path)[0] in (302, 403)
    status, headers, js = _get(server, path, _auth(server))
    assert status == 200
    assert headers["Content-Type"].startswith("text/javascript")
    assert "nbchannel-status-config" in js and len(js) > 5000

    # the API the page polls answers at the URL the page was given
    api = config["apiUrl"][len(base) :]
    status, _, body = _get(server, api, _auth(server))
    assert status == 200 and "kernel_listener" in json.loads(body)


def test_page_with_only_the_login_cookie(jupyter: JupyterServer) -> None:
    from .test_handlers import _login_cookie

    cookie = _login_cookie(jupyter)
    status, _, body = _get(jupyter, "nbchannel/", {"Cookie": cookie})
    assert status == 200 and 'id="nbc-status"' in body
    status, _, _ = _get(jupyter, "nbchannel/api/channels", {"Cookie": cookie})
    assert status == 200


def test_authorizer_refusing_read_gets_403(tmp_path_factory: pytest.TempPathFactory) -> None:
    """An authorizer that denies the resource "nbchannel" closes the page, the script and the
    API, while the rest of Jupyter stays open to the same user. (It denies only requests
    marked with a header, so that the harness can still check the server it started.)"""
    home = tmp_path_factory.mktemp("authz")
    config = home / "config"
    config.mkdir()
    (config / "jupyter_server_config.py").write_text(
        "from jupyter_server.auth.authorizer import Authorizer\n"
        "class NoNbchannel(Authorizer):\n"
        "    def is_authorized(self, handler, user, action, resource):\n"
        "        denied = handler.request.headers.get('X-Deny-Nbchannel') == '1'\n"
        "        return not (denied and resource == 'nbchannel')\n"
        "c.ServerApp.authorizer_class = NoNbchannel\n"
    )
    with JupyterServer(home=str(home)) as server:
        restricted = {**_auth(server), "X-Deny-Nbchannel": "1"}
        for path in ("nbchannel/", "nbchannel/status.js", "nbchannel/api/channels"):
            assert _get(server, path, restricted)[0] == 403, path
            assert _get(server, path, _auth(server))[0] == 200, path
        assert _get(server, "api/kernels", restricted)[0] == 200


def test_widget_code_is_served_once_per_version(jupyter: JupyterServer) -> None:
    """The loader every widget carries fetches the widget code here, without a login (it is
    the package's code); a loader of another version gets 404 (its kernel then sends the
    code itself)."""
    path = f"nbchannel/widgets.js?h={bundle.bundle_hash()}"
    # public, like JupyterLab's extension files: a module import carries no XSRF token
    status, headers, js = _get(jupyter, path)
    assert status == 200
    assert headers["Content-Type"].startswith("text/javascript")
    assert "immutable" in headers["Cache-Control"]
    assert js.encode() == bundle.bundle_bytes()
    status, _, body = _get(jupyter, "nbchannel/widgets.js?h=0123456789abcdef")
    assert status == 404 and "another version" in body
