"""Authorizers and identity providers for tests of nbchannel's permission rules.

Configure them on a test server::

    JupyterServer(extra_args=[
        "--ServerApp.authorizer_class=nbchannel.testing.auth.NoEventsAuthorizer",
        "--ServerApp.identity_provider_class=nbchannel.testing.auth.TokenUsersIdentityProvider",
    ])
"""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.authorizer import Authorizer
from jupyter_server.auth.identity import IdentityProvider, User

__all__ = ["TOKEN_USERS", "NoEventsAuthorizer", "TokenUsersIdentityProvider"]

#: Tokens of :class:`TokenUsersIdentityProvider` and the users they name.
TOKEN_USERS = {"alice-token": "alice", "bob-token": "bob"}


class NoEventsAuthorizer(Authorizer):
    """Allows everything but ``execute`` on ``nbchannel``: users watch, send no events."""

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return not (resource == "nbchannel" and action == "execute")


class TokenUsersIdentityProvider(IdentityProvider):
    """Two named users by token (:data:`TOKEN_USERS`) besides the server's own token."""

    async def get_user_token(self, handler: Any) -> User | None:
        name = TOKEN_USERS.get(self.get_token(handler) or "")
        if name is not None:
            return User(username=name)
        user: User | None = await super().get_user_token(handler)
        return user
