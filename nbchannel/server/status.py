"""The hub's status page for operators, ``{base_url}nbchannel/``.

A small HTML page and its script (``nbchannel/static/status.js``, built from
``js/src/status.js``). The script polls the JSON API (``nbchannel/api/channels``) once a
second with the page's login cookie and redraws the tables: channels with their kernels,
viewers, message and byte rates, drops, retained history; connections with their queue
depths; refused kernel connections. Both endpoints need a Jupyter login (cookie or token)
and the authorizer's ``read`` permission on the resource ``nbchannel``, like the JSON API;
without a login the page redirects to Jupyter's login page.
"""

from __future__ import annotations

import html
from importlib import resources
from pathlib import Path

import orjson
from jupyter_server.auth.decorator import allow_unauthenticated, authorized
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web

from .. import bundle
from .._version import __version__
from ..core.hub import Hub
from .handlers import AUTH_RESOURCE

__all__ = ["STATUS_SCRIPT", "StatusPageHandler", "StatusScriptHandler", "WidgetBundleHandler"]

#: The page's script in the package (built by ``npm run build`` in ``js/``).
STATUS_SCRIPT = Path(str(resources.files("nbchannel"))) / "static" / "status.js"
#: How often the page asks the JSON API, in milliseconds.
POLL_INTERVAL_MS = 1000

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>nbchannel · hub status</title>
<script id="nbchannel-status-config" type="application/json">{config}</script>
<script type="module" src="{script}"></script>
</head>
<body>
<div id="nbc-status" class="nbc-status">
<p class="nbc-status-loading">Loading the hub status…</p>
<noscript>This page needs JavaScript. The same figures are at
<a href="{api}">{api}</a>.</noscript>
</div>
</body>
</html>
"""


class StatusPageHandler(JupyterHandler):
    """``GET {base_url}nbchannel/``: the status page (HTML; its script fetches the data)."""

    auth_resource = AUTH_RESOURCE

    @web.authenticated
    @authorized
    async def get(self) -> None:
        """Reply with the page, the server's ``base_url`` and the hub's bounds inside."""
        hub: Hub = self.settings["nbchannel_hub"]
        base_url = self.base_url
        api = url_path_join(base_url, "nbchannel/api/channels")
        config = {
            "baseUrl": base_url,
            "apiUrl": api,
            "metricsUrl": url_path_join(base_url, "metrics"),
            "intervalMs": POLL_INTERVAL_MS,
            "version": __version__,
            "queueBounds": {
                "owner": hub.config.owner_queue_bytes,
                "subscriber": hub.config.subscriber_queue_bytes,
            },
        }
        # JSON inside <script>: "</" would end the element early.
        config_json = orjson.dumps(config).decode().replace("</", "<\\/")
        script = url_path_join(base_url, "nbchannel/status.js") + f"?v={_script_version()}"
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(
            _PAGE.format(config=config_json, script=html.escape(script), api=html.escape(api))
        )


class StatusScriptHandler(JupyterHandler):
    """``GET {base_url}nbchannel/status.js``: the status page's script (an ES module)."""

    auth_resource = AUTH_RESOURCE

    @web.authenticated
    @authorized
    async def get(self) -> None:
        """Reply with the bundle; 404 with how to build it when the package lacks it."""
        try:
            body = STATUS_SCRIPT.read_bytes()
        except OSError:
            raise web.HTTPError(
                404,
                reason="nbchannel/static/status.js is missing: build it with "
                "npm --prefix js run build (or reinstall nbchannel)",
            ) from None
        self.set_header("Content-Type", "text/javascript; charset=utf-8")
        # The page asks for it with ?v=<mtime>, so a rebuilt bundle is fetched anew.
        self.set_header("Cache-Control", "private, max-age=86400")
        self.finish(body)


class WidgetBundleHandler(JupyterHandler):
    """``GET {base_url}nbchannel/widgets.js?h=HASH``: the widget code, for the loader every
    widget carries (``nbchannel.bundle``). Served once per page, cached by the browser; 404
    when this server's bundle is not the one asked for (the kernel then sends its own).

    Public, like the JupyterLab extensions' static files: it is the package's own code and
    holds nothing of the user's. (A module import is a no-cors request without an XSRF
    token, which a JupyterHub single-user server answers with a login redirect.)"""

    @allow_unauthenticated
    async def get(self) -> None:
        """Reply with the bundle whose hash the loader names."""
        try:
            body, digest = bundle.bundle_bytes(), bundle.bundle_hash()
        except bundle.MissingBundle as exc:
            raise web.HTTPError(404, reason=str(exc)) from None
        wanted = self.get_query_argument("h", "")
        if wanted != digest:
            raise web.HTTPError(
                404, reason="this server's nbchannel widget code is another version"
            )
        self.set_header("Content-Type", "text/javascript; charset=utf-8")
        self.set_header("Cache-Control", "private, max-age=604800, immutable")
        self.finish(body)


def _script_version() -> int:
    try:
        return int(STATUS_SCRIPT.stat().st_mtime)
    except OSError:
        return 0
