"""The shared core: wire codec, messages, channels and the hub. No I/O anywhere in here."""

from .codec import FrameReader, Limits, decode_frame, encode_frame, encode_frame_parts
from .hub import Hub, HubConfig
from .message import Buffer, Message

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
