"""What kernels and relays agree on for hub-wide channels. No I/O, nothing heavy imported.

* Hub-wide channels travel with the scope :data:`HUB_SCOPE` (``"hub"``) on the wire.
* A kernel finds its relay in ``NBCHANNEL_RELAY_URL`` (``ws://host:port/prefix/`` or
  ``http://…``, the relay's base URL) and proves who it is with ``NBCHANNEL_RELAY_TOKEN``,
  else ``JUPYTERHUB_API_TOKEN`` (the token JupyterHub gives every single-user server), sent
  as ``Authorization: token …``.
* Pages find the relay in the ``relay`` field of their server's ``nbchannel/api/info``:
  :func:`public_relay_url`, ``NBCHANNEL_RELAY_PUBLIC_URL`` or else the path of
  ``NBCHANNEL_RELAY_URL`` (under JupyterHub the relay serves ``/services/<name>/`` both on
  its own address and through the proxy, on the pages' origin).
* An event the relay hands to a kernel is an envelope ``{"from": user, "value": value}``:
  the relay names the sending user, so a handler can tell who clicked
  (:attr:`Event.user <nbchannel.kernel.port.Event.user>`).
"""

from __future__ import annotations

import os
from typing import Any, Final
from urllib.parse import urlsplit

__all__ = [
    "ENV_RELAY_TOKEN",
    "ENV_RELAY_URL",
    "HUB_SCOPE",
    "KERNEL_PATH",
    "SOCKET_PATH",
    "open_envelope",
    "public_relay_url",
    "relay_token",
    "relay_url",
    "seal_envelope",
]

HUB_SCOPE: Final = "hub"
ENV_RELAY_URL: Final = "NBCHANNEL_RELAY_URL"
ENV_RELAY_TOKEN: Final = "NBCHANNEL_RELAY_TOKEN"
ENV_RELAY_PUBLIC_URL: Final = "NBCHANNEL_RELAY_PUBLIC_URL"
ENV_HUB_TOKEN: Final = "JUPYTERHUB_API_TOKEN"
#: Paths under the relay's base URL: kernels (owners) and browsers (subscribers).
KERNEL_PATH: Final = "kernel"
SOCKET_PATH: Final = "ws"


def relay_url() -> str | None:
    """The relay's base URL from the environment (None: no relay configured)."""
    url = os.environ.get(ENV_RELAY_URL, "").strip()
    return url or None


def public_relay_url() -> str | None:
    """The relay's base URL as pages reach it: ``NBCHANNEL_RELAY_PUBLIC_URL`` (a path on the
    pages' origin, or an absolute URL), else the path of ``NBCHANNEL_RELAY_URL``; None when
    neither is set."""
    url = os.environ.get(ENV_RELAY_PUBLIC_URL, "").strip() or relay_url()
    if url is None:
        return None
    if "://" in url:
        parts = urlsplit(url)
        if not os.environ.get(ENV_RELAY_PUBLIC_URL, "").strip():
            url = parts.path or "/"  # the kernels' address: only its path is the pages'
    return url if url.endswith("/") else url + "/"


def relay_token() -> str:
    """The token a kernel presents to the relay (empty: none)."""
    return os.environ.get(ENV_RELAY_TOKEN) or os.environ.get(ENV_HUB_TOKEN) or ""


def seal_envelope(user: str, value: Any) -> dict[str, Any]:
    """The payload of an event the relay forwards to a kernel: who sent it, and what."""
    return {"from": user, "value": value}


def open_envelope(payload: Any) -> tuple[str | None, Any]:
    """``(user, value)`` of an event envelope (anything else: no user, the payload)."""
    if isinstance(payload, dict) and set(payload) == {"from", "value"}:
        user = payload["from"]
        return (user if isinstance(user, str) else None), payload["value"]
    return None, payload
