"""LiveImage: frames from numpy or PNG/JPEG bytes, with pointer events back to the kernel."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..kernel.channel import Event, LiveChannel
from . import _checks, snapshot
from .base import LiveWidget

__all__ = ["LiveImage"]

_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"


def frame_payload(
    frame: Any, owner: object = "LiveImage", where: str = ".show(frame=...)"
) -> dict[str, Any]:
    """The channel payload for one frame (numpy image, or PNG/JPEG bytes).

    ``owner`` and ``where`` name the call in errors (see :mod:`._checks`).
    """
    if isinstance(frame, (bytes, bytearray, memoryview)):
        data = bytes(frame)
        if data.startswith(_PNG):
            return {"png": data}
        if data.startswith(_JPEG):
            return {"jpeg": data}
        raise _checks.value_error(
            owner, where, "PNG or JPEG bytes (pass raw pixels as a numpy array)", frame
        )
    expected = "an image: a numpy array (H×W, H×W×3 RGB or H×W×4 RGBA) or PNG/JPEG bytes"
    try:
        arr = np.asarray(frame)
    except (TypeError, ValueError):  # e.g. ragged nested lists
        raise _checks.type_error(owner, where, expected, frame) from None
    if arr.dtype.kind in "OUSVMm" or (arr.ndim == 0 and not isinstance(frame, np.ndarray)):
        raise _checks.type_error(owner, where, expected, frame)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
        raise _checks.value_error(
            owner, where, "an image of shape H×W, H×W×1, H×W×3 (RGB) or H×W×4 (RGBA)", arr
        )
    if arr.size == 0:
        raise _checks.value_error(owner, where, "an image of at least one pixel", arr)
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
            raise _checks.value_error(
                owner, where, "an image of uint8 (0..255), floats (0..1), ints or bools", arr
            )
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
    page that reloads shows the current frame at once. The output's static snapshot is the
    current frame as a PNG, subsampled to at most :data:`~.snapshot.IMAGE_SIDE` pixels on
    its longer side (PNG/JPEG bytes as sent, up to :data:`~.snapshot.IMAGE_BYTES`).
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
        width = _checks.integer(width, self, "(width=...)", minimum=1, optional=True)
        pixelated = _checks.boolean(pixelated, self, "(pixelated=...)")
        first = None if frame is None else frame_payload(frame, self, "(frame=...)")
        super().__init__(channel=channel, config={"width": width, "pixelated": pixelated})
        self.frames = 0
        if first is not None:
            self.channel.set("frame", first)
            self.frames += 1

    def show(self, frame: Any) -> None:
        """Display ``frame``: a numpy image or PNG/JPEG bytes."""
        self.channel.set("frame", frame_payload(frame, self))
        self.frames += 1

    update = show

    def _snapshot(self) -> dict[str, Any]:
        return snapshot.image_bundle(self.channel.get("frame"))

    def on_pointer(self, handler: Callable[[Event], Any]) -> Callable[[Event], Any]:
        """Call ``handler(event)`` for pointer events (down/move/up/wheel); a decorator."""
        return self.channel.on(
            "pointer", _checks.handler(handler, self, ".on_pointer(handler=...)")
        )

    def wait_pointer(self, timeout: float | None = None) -> Event:
        """Block until the next pointer event and return it; TimeoutError after ``timeout``
        seconds (None: no limit)."""
        return self.channel.wait(
            "pointer", _checks.timeout(timeout, self, ".wait_pointer(timeout=...)")
        )
