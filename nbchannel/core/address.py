"""How a kernel finds its hub: environment variables and the address format. No I/O.

The server extension binds a listener for kernels and exports, into the environment every
kernel inherits:

* ``NBCHANNEL_ADDRESS`` — ``unix:/path/to/socket`` or ``tcp:127.0.0.1:PORT``;
* ``NBCHANNEL_SECRET`` — 64 hex digits (256 bits); a kernel proves itself with it;
* ``NBCHANNEL_HUB_FILE`` — a JSON file (owner-only permissions) holding both; a kernel
  re-reads it when reconnecting, so it follows a Jupyter server restarted under it.

A kernel names itself with ``NBCHANNEL_KERNEL_ID`` if set, else by the id in its
connection file name (``kernel-<id>.json``, as jupyter-server names them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "ENV_ADDRESS",
    "ENV_HUB_FILE",
    "ENV_KERNEL_ID",
    "ENV_SECRET",
    "HubAddress",
    "kernel_id_from_connection_file",
]

ENV_ADDRESS = "NBCHANNEL_ADDRESS"
ENV_SECRET = "NBCHANNEL_SECRET"
ENV_HUB_FILE = "NBCHANNEL_HUB_FILE"
ENV_KERNEL_ID = "NBCHANNEL_KERNEL_ID"

_CONN_RE = re.compile(r"kernel-([0-9A-Za-z_.-]+)\.json$")


@dataclass(frozen=True)
class HubAddress:
    """Where the hub listens for kernels: a Unix socket path, or a loopback TCP port."""

    kind: str  # "unix" or "tcp"
    path: str = ""
    host: str = "127.0.0.1"
    port: int = 0

    @classmethod
    def parse(cls, text: str) -> HubAddress:
        """Parse ``unix:/path`` or ``tcp:host:port``; raises ValueError otherwise."""
        kind, _, rest = text.partition(":")
        if kind == "unix" and rest:
            return cls("unix", path=rest)
        if kind == "tcp":
            host, _, port = rest.rpartition(":")
            if host and port.isdigit():
                return cls("tcp", host=host, port=int(port))
        raise ValueError(
            f"bad {ENV_ADDRESS} value {text!r}: expected 'unix:/path' or 'tcp:127.0.0.1:PORT'"
        )

    def __str__(self) -> str:
        return f"unix:{self.path}" if self.kind == "unix" else f"tcp:{self.host}:{self.port}"


def kernel_id_from_connection_file(path: str) -> str | None:
    """The kernel id in a jupyter-server connection file name, if it has one."""
    m = _CONN_RE.search(path)
    return m.group(1) if m else None
