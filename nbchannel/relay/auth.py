"""How the relay learns who is connecting.

* :class:`JupyterHubAuth` — the relay runs as a JupyterHub service: browsers come with the
  service's OAuth cookie (JupyterHub's ``HubOAuth``), kernels with their server's
  ``JUPYTERHUB_API_TOKEN`` in ``Authorization: token …``; JupyterHub's API resolves either
  to a user and the scopes that token carries.
* :class:`TokenAuth` — a plain process: a table of tokens, each naming a user and scopes.
* :class:`OpenAuth` — everyone is ``anonymous`` with every permission (loopback tests and
  benchmarks only).
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from tornado.httputil import url_concat
from tornado.web import RequestHandler

from .access import ACTIONS, Identity, scope_for

__all__ = ["JupyterHubAuth", "OpenAuth", "RelayAuth", "TokenAuth"]


class RelayAuth(Protocol):
    """Resolves a request to an identity (None: not authenticated)."""

    async def identify(self, handler: RequestHandler) -> Identity | None: ...


def _bearer(handler: RequestHandler) -> str:
    value = handler.request.headers.get("Authorization", "")
    kind, _, token = value.partition(" ")
    if kind.lower() in ("token", "bearer") and token:
        return token.strip()
    return handler.get_query_argument("token", "") or ""


class OpenAuth:
    """Everyone is ``anonymous`` and may do everything."""

    identity = Identity("anonymous", frozenset(scope_for(a) for a in ACTIONS))

    async def identify(self, handler: RequestHandler) -> Identity | None:
        return self.identity


class TokenAuth:
    """A fixed table: ``{token: {"name": user, "scopes": [...]}}``."""

    def __init__(self, table: dict[str, dict[str, Any]]) -> None:
        self.table = {
            token: Identity.with_scopes(str(entry["name"]), entry.get("scopes", ()))
            for token, entry in table.items()
        }

    @classmethod
    def from_file(cls, path: str) -> TokenAuth:
        """Read the table from a JSON file."""
        with open(path) as f:
            return cls(json.load(f))

    async def identify(self, handler: RequestHandler) -> Identity | None:
        return self.table.get(_bearer(handler))


class JupyterHubAuth:
    """JupyterHub OAuth for browsers, JupyterHub API tokens for kernels."""

    def __init__(self, hub_auth: Any = None) -> None:
        if hub_auth is None:
            from jupyterhub.services.auth import HubOAuth

            hub_auth = HubOAuth(cache_max_age=60)
        self.hub_auth = hub_auth

    def login_url(self, handler: RequestHandler) -> str | None:
        """Where to send a browser without the relay's cookie: JupyterHub's OAuth
        authorization, which comes back to ``oauth_callback`` and then to this request's
        URL (None: no OAuth here). Sets the OAuth state cookie on ``handler``."""
        hub = self.hub_auth
        base = getattr(hub, "login_url", "")
        if not base or not hasattr(hub, "set_state_cookie"):
            return None
        params: dict[str, str] = {}
        verifier = None
        if getattr(hub, "pkce_enabled", False):
            verifier, challenge, method = hub.generate_pkce_code_challenge()
            params["code_challenge"] = challenge
            params["code_challenge_method"] = method
        params["state"] = hub.set_state_cookie(
            handler, next_url=handler.request.uri, code_verifier=verifier
        )
        return str(url_concat(base, params))

    async def identify(self, handler: RequestHandler) -> Identity | None:
        model = await self.hub_auth.get_user(handler, sync=False)
        if not model:
            return None
        return Identity.with_scopes(
            str(model.get("name", "")), model.get("scopes") or (), str(model.get("kind", "user"))
        )
