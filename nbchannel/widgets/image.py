"""LiveImage: frames from numpy or PNG/JPEG bytes, with pointer events back to the kernel."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..kernel.channel import Event, LiveChannel
from .base import LiveWidget

__all__ = ["LiveImage"]

_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"


def frame_payload(frame: Any) -> dict[str, Any]:
    """The channel payload for one frame (numpy image, or PNG/JPEG bytes)."""
    if isinstance(frame, (bytes, bytearray, memoryview)):
        data = bytes(frame)
        if data.startswith(_PNG):
            return {"png": data}
        if data.startswith(_JPEG):
            return {"jpeg": data}
        raise ValueError("image bytes must be PNG or JPEG; pass raw pixels as a numpy array")
    arr = np.asarray(frame)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
        raise ValueError(
            f"an image is H×W, H×W×1, H×W×3 (RGB) or H×W×4 (RGBA); got shape {arr.shape}"
        )
    if arr.dtype != np.uint8:
        if arr.dtype.kind == "b":
            arr = arr.astype(np.uint8) * 255  # a mask: white where true
        elif arr.dtype.kind == "f":
            # floats are taken as 0..1 intensities; NaN shows as black
            arr = np.nan_to_num(arr, nan=0.0, posinf=1.0, neginf=0.0)
            arr = (np.clip(arr, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
        elif arr.dtype.kind in "iu":
            arr = np.clip(arr, 0, 255).astype(np.uint8)
        else:
            raise ValueError(f"cannot show an image of dtype {arr.dtype}")
    return {"image": arr}


class LiveImage(LiveWidget):
    """A live image: ``show(frame)`` replaces the picture; the newest frame always wins.

    ::

        view = LiveImage(width=512)
        display(view)

        @view.on_pointer
        def steer(event):                      # runs while the cell is busy
            x, y = event.value["x"], event.value["y"]   # in image pixels

        for t in range(10_000):
            view.show(simulation_step(t))      # H×W, H×W×3 or H×W×4 uint8 (floats: 0..1)

    Frames are retained state, so a slow page skips frames instead of queueing them and a
    page that reloads shows the current frame at once.
    """

    KIND = "image"

    def __init__(
        self,
        frame: Any = None,
        *,
        width: int | None = None,
        pixelated: bool = False,
        channel: LiveChannel | str | None = None,
    ) -> None:
        super().__init__(channel=channel, config={"width": width, "pixelated": pixelated})
        self.frames = 0
        if frame is not None:
            self.show(frame)

    def show(self, frame: Any) -> None:
        """Display ``frame``: a numpy image or PNG/JPEG bytes."""
        self.channel.set("frame", frame_payload(frame))
        self.frames += 1

    update = show

    def on_pointer(self, handler: Callable[[Event], Any]) -> Callable[[Event], Any]:
        """Call ``handler(event)`` for pointer events (down/move/up/wheel); a decorator."""
        return self.channel.on("pointer", handler)

    def wait_pointer(self, timeout: float | None = None) -> Event:
        """Block until the next pointer event and return it."""
        return self.channel.wait("pointer", timeout)
