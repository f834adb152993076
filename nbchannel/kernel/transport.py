"""The small interface between a ``LiveChannel`` and whatever carries its messages.

Two transports exist: :class:`~nbchannel.kernel.client.HubClient` (a socket to the server
extension's hub, run by its own I/O thread) and :class:`DetachedTransport` (no hub in this
environment: nothing leaves the process). A comm-based transport for front ends without a
Jupyter server plugs in here too.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from typing import TYPE_CHECKING, Literal, Protocol, TypedDict

from ..core.address import ENV_ADDRESS
from ..core.codec import DEFAULT_LIMITS, Limits
from ..core.message import Message
from ..core.protocol import DEFAULT_STATE_BYTES

if TYPE_CHECKING:
    from .channel import LiveChannel

__all__ = [
    "DetachedTransport",
    "NbChannelWarning",
    "Transport",
    "TransportStats",
    "default_transport",
]

log = logging.getLogger("nbchannel")

#: Name of the thread that delivers events (and runs handlers) in every transport.
IO_THREAD_NAME = "nbchannel-io"

Status = Literal["connecting", "connected", "reconnecting", "unavailable"]


class NbChannelWarning(UserWarning):
    """A degraded mode the user should know about (no hub, dropped messages …)."""


class TransportStats(TypedDict):
    """What a transport reports about itself."""

    transport: str
    status: str
    queued_bytes: int
    sent_messages: int
    sent_bytes: int
    dropped: int
    reconnects: int


class Transport(Protocol):
    """What a :class:`~nbchannel.kernel.channel.LiveChannel` needs from its carrier.

    Every method is thread-safe and never blocks on the network.
    """

    @property
    def status(self) -> Status:
        """``connected``, ``connecting``, ``reconnecting`` or ``unavailable``."""
        ...

    @property
    def kernel_id(self) -> str | None:
        """The scope browsers use for this kernel's channels (None: not reachable)."""
        ...

    @property
    def limits(self) -> Limits:
        """The frame limits of the other side: every message is checked against them."""
        ...

    @property
    def max_state_bytes(self) -> int:
        """The most retained state one channel may hold (``c.NbChannel.state_bytes``)."""
        ...

    def register(self, channel: LiveChannel) -> None:
        """Start carrying ``channel`` (opens it at the hub, now or on connect)."""
        ...

    def unregister(self, channel: LiveChannel) -> None:
        """Stop carrying ``channel`` and close it at the hub."""
        ...

    def send(self, channel: LiveChannel, msg: Message) -> bool:
        """Queue ``msg``; False if the bounded queue dropped it."""
        ...

    def flush(self, timeout: float) -> bool:
        """Wait until everything queued so far has been written; False on timeout."""
        ...

    def stats(self) -> TransportStats:
        """Counters of this transport."""
        ...


class DetachedTransport:
    """No hub is reachable: channels keep their state locally and nothing is sent.

    Creating the first channel warns once, explaining what is unavailable and why.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self._warned = False
        self._lock = threading.Lock()
        self._dropped = 0

    @property
    def status(self) -> Status:
        return "unavailable"

    @property
    def kernel_id(self) -> str | None:
        return None

    @property
    def limits(self) -> Limits:
        return DEFAULT_LIMITS

    @property
    def max_state_bytes(self) -> int:
        return DEFAULT_STATE_BYTES

    def register(self, channel: LiveChannel) -> None:
        with self._lock:
            if self._warned:
                return
            self._warned = True
        warnings.warn(
            f"nbchannel: no live connection to a browser ({self.reason}). LiveChannel "
            f"{channel.name!r} keeps its state in this process, but nothing reaches a browser "
            "and no events will arrive. Run the notebook in JupyterLab or Notebook 7 with "
            "nbchannel installed in the Jupyter server's environment (check with "
            "`jupyter server extension list`).",
            NbChannelWarning,
            stacklevel=3,
        )

    def unregister(self, channel: LiveChannel) -> None:
        pass

    def send(self, channel: LiveChannel, msg: Message) -> bool:
        with self._lock:
            self._dropped += 1
        return False

    def flush(self, timeout: float) -> bool:
        return True

    def stats(self) -> TransportStats:
        return {
            "transport": "detached",
            "status": "unavailable",
            "queued_bytes": 0,
            "sent_messages": 0,
            "sent_bytes": 0,
            "dropped": self._dropped,
            "reconnects": 0,
        }


_default: Transport | None = None
_default_lock = threading.Lock()


def default_transport() -> Transport:
    """The process-wide transport: the hub client if the environment names a hub."""
    global _default
    with _default_lock:
        if _default is None:
            if os.environ.get(ENV_ADDRESS):
                from .client import HubClient

                _default = HubClient.from_environment()
            else:
                _default = DetachedTransport(
                    f"{ENV_ADDRESS} is not set: this kernel was not started by a Jupyter server "
                    "running the nbchannel extension"
                )
        return _default


def set_default_transport(transport: Transport | None) -> Transport | None:
    """Replace the process-wide transport (tests, embedding); returns the previous one."""
    global _default
    with _default_lock:
        previous, _default = _default, transport
        return previous
