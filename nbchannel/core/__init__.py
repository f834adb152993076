"""The shared core: wire codec, messages, channels and the hub. No I/O anywhere in here.

``Hub`` and ``HubConfig`` are imported on first use: a kernel loads the hub's modules only
when it serves views itself (:mod:`nbchannel.kernel.comm`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .codec import FrameReader, Limits, decode_frame, encode_frame, encode_frame_parts
from .message import Buffer, Message

if TYPE_CHECKING:
    from .hub import Hub, HubConfig

__all__ = [
    "Buffer",
    "FrameReader",
    "Hub",
    "HubConfig",
    "Limits",
    "Message",
    "decode_frame",
    "encode_frame",
    "encode_frame_parts",
]


def __getattr__(name: str) -> Any:
    if name in ("Hub", "HubConfig"):
        from . import hub

        return getattr(hub, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
