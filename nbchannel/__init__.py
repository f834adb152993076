"""nbchannel: live, two-way channels between Jupyter kernels and the browser.

The package is laid out by process::

    nbchannel/core/     the shared core: wire codec, messages, channels, hub (no I/O)
    nbchannel/kernel/   the kernel side: LiveChannel and its transports
    nbchannel/server/   the Jupyter server extension: hub, kernel listener, browser handlers
    nbchannel/errors.py the one error tree

Quick start, in a notebook served by a Jupyter server with nbchannel installed::

    from nbchannel import LiveChannel

    ch = LiveChannel("sensor")
    ch.set("title", "Temperature")
    ch.append({"t": 1.0, "v": 21.5})
    event = ch.wait("click", timeout=10)
"""

from ._version import __version__
from .errors import (
    ChannelError,
    EncodeError,
    FlowTimeout,
    FrameError,
    FrameTooLarge,
    LimitExceeded,
    MalformedFrame,
    NbChannelError,
    NotPermitted,
    ProtocolError,
    UnknownChannel,
    UnsupportedVersion,
)
from .kernel.channel import Event, LiveChannel
from .kernel.transport import NbChannelWarning

__all__ = [
    "ChannelError",
    "EncodeError",
    "Event",
    "FlowTimeout",
    "FrameError",
    "FrameTooLarge",
    "LimitExceeded",
    "LiveChannel",
    "MalformedFrame",
    "NbChannelError",
    "NbChannelWarning",
    "NotPermitted",
    "ProtocolError",
    "UnknownChannel",
    "UnsupportedVersion",
    "__version__",
]


def _jupyter_server_extension_points() -> list[dict[str, object]]:
    """Entry point jupyter-server uses to find the extension (imported lazily)."""
    from .server.app import NbChannel

    return [{"module": "nbchannel", "app": NbChannel}]
