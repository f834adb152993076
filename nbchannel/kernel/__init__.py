"""The kernel side: ``LiveChannel`` and the transports that carry it."""

from .channel import Event, LiveChannel

__all__ = ["Event", "LiveChannel"]
