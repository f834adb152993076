"""nbchannel: live, two-way channels between Jupyter kernels and the browser.

The package is laid out by process::

    nbchannel/core/     the shared core: wire codec, messages, channels, hub (no I/O)
    nbchannel/errors.py the one error tree
"""

from ._version import __version__
from .errors import (
    ChannelError,
    EncodeError,
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

__all__ = [
    "ChannelError",
    "EncodeError",
    "FrameError",
    "FrameTooLarge",
    "LimitExceeded",
    "MalformedFrame",
    "NbChannelError",
    "NotPermitted",
    "ProtocolError",
    "UnknownChannel",
    "UnsupportedVersion",
    "__version__",
]
