"""Every error nbchannel raises, in one tree.

.. code-block:: text

    NbChannelError
    ├── ProtocolError            the wire format was broken
    │   ├── FrameError           a peer sent bytes we cannot accept (their fault)
    │   │   ├── MalformedFrame   truncated, corrupted or inconsistent frame
    │   │   ├── UnsupportedVersion
    │   │   └── FrameTooLarge    a configured limit was hit; the message names it
    │   └── EncodeError          a value given to us cannot be encoded (the caller's fault)
    └── ChannelError             a channel operation was refused
        ├── UnknownChannel       no such channel, or it is not open
        ├── NotPermitted         the peer may not do that (wrong role, foreign scope)
        ├── LimitExceeded        a per-channel or per-peer bound was hit
        └── EventsNotLive        a cell waits for an event that cannot arrive while it runs

Each class carries a short machine-readable ``code``; the hub sends that code and the
message to the peer in an ``error`` message instead of crashing or closing the hub.
"""

from __future__ import annotations

__all__ = [
    "ChannelError",
    "EncodeError",
    "EventsNotLive",
    "FlowTimeout",
    "FrameError",
    "FrameTooLarge",
    "LimitExceeded",
    "MalformedFrame",
    "NbChannelError",
    "NotPermitted",
    "ProtocolError",
    "UnknownChannel",
    "UnsupportedVersion",
]


class NbChannelError(Exception):
    """Base class of every error raised by nbchannel."""

    code = "error"


class ProtocolError(NbChannelError):
    """The wire format was violated."""

    code = "protocol"


class FrameError(ProtocolError):
    """A peer sent a frame that cannot be accepted.

    Raised only by decoding; the connection that carried the frame may be answered with an
    ``error`` message (WebSocket: frames keep their boundaries) or closed (byte streams: the
    next frame boundary is unknown). Nothing else is affected.
    """

    code = "bad-frame"


class MalformedFrame(FrameError):
    """The frame is truncated, corrupted or internally inconsistent."""

    code = "malformed-frame"


class UnsupportedVersion(FrameError):
    """The frame was written in a wire-format version this side does not speak."""

    code = "unsupported-version"


class FrameTooLarge(FrameError):
    """A frame exceeds a configured limit (size, header size, message or buffer count)."""

    code = "frame-too-large"


class EncodeError(ProtocolError, TypeError):
    """A value cannot be sent: an unsupported type or dtype, or it exceeds a limit."""

    code = "encode"


class ChannelError(NbChannelError):
    """A channel operation was refused."""

    code = "channel"


class UnknownChannel(ChannelError):
    """The channel does not exist or is not open."""

    code = "unknown-channel"


class NotPermitted(ChannelError):
    """The peer is not allowed to perform this operation."""

    code = "not-permitted"


class LimitExceeded(ChannelError):
    """A per-channel or per-peer bound was hit; the message names the setting."""

    code = "limit-exceeded"


class EventsNotLive(ChannelError, TimeoutError):
    """A running cell waits for a browser event that cannot arrive before the cell ends.

    Where the kernel serves its views over the comm and the front end delivers comm
    messages only between cells, ``wait()`` raises this at once instead of hanging until its
    timeout. It is a ``TimeoutError`` too, so code that handles a timeout handles it.
    """

    code = "events-not-live"


class FlowTimeout(ChannelError, TimeoutError):
    """An ``append`` to a ``flow="block"`` channel waited ``block_timeout`` seconds for its
    slowest viewer to catch up. Nothing was sent; the channel stays usable. It is a
    ``TimeoutError`` too."""

    code = "flow-timeout"
