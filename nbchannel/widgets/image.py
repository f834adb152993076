"""LiveImage: frames from numpy or PNG/JPEG bytes, with pointer events back to the kernel."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from ..kernel.channel import Event, LiveChannel
from . import _checks, snapshot
from .base import LiveWidget

__all__ = ["ENCODINGS", "LiveImage"]

_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"

Encoding = Literal["raw", "jpeg", "png"]

#: How ``LiveImage(encoding=...)`` sends numpy frames.
ENCODINGS: tuple[Encoding, ...] = ("raw", "jpeg", "png")

#: ``LiveImage(quality=...)`` when not given (JPEG only).
DEFAULT_QUALITY = 80

#: zlib level of the PNGs the kernel makes: 1, the fastest that still compresses (0 stores
#: the pixels uncompressed, hardly faster with Pillow's row filters, and no smaller than raw).
PNG_COMPRESS_LEVEL = 1

_INSTALL = 'pip install "nbchannel[image]"'


def _pillow(owner: object, encoding: str) -> None:
    """Refuse ``encoding`` (jpeg or png) when Pillow cannot be imported."""
    try:
        import PIL.Image  # noqa: F401
    except ImportError as exc:
        name = owner if isinstance(owner, str) else type(owner).__name__
        raise ImportError(
            f"{name}(encoding={encoding!r}) encodes frames with Pillow, which is not "
            f"installed: {_INSTALL}"
        ) from exc


def _quality(value: object, owner: object, encoding: str) -> int:
    """``quality=``: None (the default, for jpeg) or an integer from 1 to 100 with jpeg."""
    where = "(quality=...)"
    expected = "an integer from 1 to 100 (or None)"
    if value is None:
        return DEFAULT_QUALITY
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise _checks.type_error(owner, where, expected, value)
    if not 1 <= value <= 100:
        raise _checks.value_error(owner, where, expected, value)
    if encoding != "jpeg":
        raise _checks.value_error(
            owner, where, f"None with encoding={encoding!r} (it sets JPEG quality)", value
        )
    return int(value)


def encode(arr: np.ndarray[Any, np.dtype[np.uint8]], encoding: str, quality: int) -> bytes:
    """``arr`` (H×W, H×W×1, H×W×3 or H×W×4 uint8) as JPEG or PNG bytes, made by Pillow.

    JPEG: baseline, 4:2:0 chroma subsampling, no ``optimize`` pass (it costs about half as
    much time again for frames ~25% smaller); an alpha channel is dropped. PNG: zlib level
    :data:`PNG_COMPRESS_LEVEL`, alpha kept.
    """
    from PIL import Image

    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if encoding == "jpeg" and arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, :3]
    image = Image.fromarray(np.ascontiguousarray(arr))
    out = io.BytesIO()
    if encoding == "jpeg":
        image.save(out, "JPEG", quality=quality, subsampling="4:2:0", optimize=False)
    else:
        image.save(out, "PNG", compress_level=PNG_COMPRESS_LEVEL, optimize=False)
    return out.getvalue()


def frame_payload(
    frame: Any,
    owner: object = "LiveImage",
    where: str = ".show(frame=...)",
    encoding: str = "raw",
    quality: int = DEFAULT_QUALITY,
) -> dict[str, Any]:
    """The channel payload for one frame (numpy image, or PNG/JPEG bytes).

    A numpy frame is sent as it is (``encoding="raw"``) or encoded as JPEG or PNG
    (:func:`encode`); PNG/JPEG bytes are always sent as they are. ``owner`` and ``where``
    name the call in errors (see :mod:`._checks`).
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
    if encoding == "jpeg":
        return {"jpeg": encode(arr, "jpeg", quality)}
    if encoding == "png":
        return {"png": encode(arr, "png", quality)}
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

    **Encoding.** ``encoding`` says how numpy frames travel to the page; PNG/JPEG bytes
    given to ``show`` are always sent as they are.

    * ``"raw"`` (the default): the pixels themselves, lossless, with no encoding cost in the
      kernel and no extra package, but W×H×C bytes a frame (6.2 MB for 1920×1080 RGB).
      Best for small and mid-size frames, for pixels that must stay exact, and when kernel
      and browser share a machine. The default, because it needs nothing installed and
      keeps every pixel.
    * ``"jpeg"``: lossy, 30 to 60 times smaller than raw for camera or rendered frames
      (100 to 170 kB a 1080p frame at quality 80), at 6 to 15 ms of kernel time a 1080p
      frame: the choice for large frames, video and anything that crosses a real network
      (it draws 1080p at 30+ fps in headless Chromium, where raw draws under 20). ``quality``
      (1..100, default 80) trades size for fidelity. Baseline JPEG with 4:2:0 chroma
      subsampling and no ``optimize`` pass (the fastest settings); an alpha channel is
      dropped.
    * ``"png"``: lossless and compressed (zlib level 1, the fastest that compresses), for
      plots, masks and flat colors sent over a slow link; too slow to encode for large
      frames (50 to 130 ms a 1080p frame: under 20 fps), and noisy images hardly shrink.

    ``"jpeg"`` and ``"png"`` encode with Pillow (``pip install "nbchannel[image]"``), in the
    thread that calls ``show``. Grayscale (H×W or H×W×1), RGB and RGBA frames all work;
    floats, ints and bools are converted to uint8 first, as for raw frames. The figures
    above come from the repository's ``python -m benchmarks.image_fps`` (2 shared cores).
    """

    KIND = "image"

    def __init__(
        self,
        frame: Any = None,
        *,
        width: int | None = None,
        pixelated: bool = False,
        encoding: Encoding = "raw",
        quality: int | None = None,
        channel: LiveChannel | str | None = None,
    ) -> None:
        width = _checks.integer(width, self, "(width=...)", minimum=1, optional=True)
        pixelated = _checks.boolean(pixelated, self, "(pixelated=...)")
        #: How numpy frames are sent: ``"raw"``, ``"jpeg"`` or ``"png"``.
        self.encoding: Encoding = _checks.choice(encoding, self, "(encoding=...)", ENCODINGS)
        #: JPEG quality (1..100) of ``encoding="jpeg"``.
        self.quality: int = _quality(quality, self, self.encoding)
        if self.encoding != "raw":
            _pillow(self, self.encoding)
        first = None if frame is None else self._payload(frame, "(frame=...)")
        super().__init__(channel=channel, config={"width": width, "pixelated": pixelated})
        self.frames = 0
        if first is not None:
            self.channel.set("frame", first)
            self.frames += 1

    def show(self, frame: Any) -> None:
        """Display ``frame``: a numpy image (sent as ``encoding`` says) or PNG/JPEG bytes."""
        self.channel.set("frame", self._payload(frame, ".show(frame=...)"))
        self.frames += 1

    def _payload(self, frame: Any, where: str) -> dict[str, Any]:
        return frame_payload(frame, self, where, self.encoding, self.quality)

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
