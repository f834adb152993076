"""``LiveImage``: frames from numpy arrays or PNG/JPEG bytes, pointer events back."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from PIL import Image

from nbchannel.core import protocol as P
from nbchannel.kernel.channel import Event
from nbchannel.widgets import LiveImage, LiveWidget

from ..kernel.test_channel import FakeTransport
from .page import Page
from .refusals import Opaque, assert_refused

Watch = Callable[[LiveWidget], Page]

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(13)
JPEG = b"\xff\xd8\xff\xe0" + bytes(16)


def shown(page: Page) -> dict[str, Any]:
    frame = page.state["frame"]
    assert isinstance(frame, dict)
    return frame


def test_config_and_no_frame_until_shown(watch: Watch) -> None:
    view = LiveImage()
    assert view._config == {"pixelated": False}
    assert view.frames == 0
    assert watch(view).messages == []
    assert LiveImage(width=512, pixelated=True)._config == {"width": 512, "pixelated": True}


@pytest.mark.parametrize(
    "shape", [(4, 5, 3), (4, 5, 4), (4, 5), (4, 5, 1)], ids=["rgb", "rgba", "gray", "gray1"]
)
def test_uint8_frames_are_sent_as_they_are(shape: tuple[int, ...], watch: Watch) -> None:
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, size=shape, dtype=np.uint8)
    view = LiveImage(frame)
    got = shown(watch(view))
    assert list(got) == ["image"]
    assert got["image"].dtype == np.uint8
    assert got["image"].shape == shape
    np.testing.assert_array_equal(got["image"], frame)
    assert view.frames == 1


def test_a_frame_is_copied_when_shown(watch: Watch) -> None:
    frame = np.full((2, 2, 3), 7, dtype=np.uint8)
    view = LiveImage()
    view.show(frame)
    frame[:] = 0  # the simulation reuses its buffer for the next step
    np.testing.assert_array_equal(shown(watch(view))["image"], np.full((2, 2, 3), 7, np.uint8))


def test_non_contiguous_frames_are_sent_intact(watch: Watch) -> None:
    big = np.arange(6 * 8 * 3, dtype=np.uint8).reshape(6, 8, 3)
    view = LiveImage(big[::2, ::2])
    np.testing.assert_array_equal(shown(watch(view))["image"], big[::2, ::2])


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_floats_are_0_to_1_intensities(dtype: Any, watch: Watch) -> None:
    frame = np.array([[0.0, 0.5, 1.0], [-1.0, 2.0, 0.25]], dtype=dtype)
    got = shown(watch(LiveImage(frame)))["image"]
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, [[0, 128, 255], [0, 255, 64]])


@pytest.mark.parametrize("dtype", [np.int64, np.int16, np.uint16, np.uint32])
def test_integers_are_clipped_to_0_255(dtype: Any, watch: Watch) -> None:
    values = [0, 100, 255, 256, 1000] if np.dtype(dtype).kind == "u" else [-5, 0, 100, 255, 300]
    expected = [0, 100, 255, 255, 255] if np.dtype(dtype).kind == "u" else [0, 0, 100, 255, 255]
    got = shown(watch(LiveImage(np.array([values], dtype=dtype))))["image"]
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, [expected])


@pytest.mark.parametrize(
    "shape", [(4,), (2, 2, 2), (2, 2, 5), (1, 2, 3, 3), ()], ids=["1d", "c2", "c5", "4d", "0d"]
)
def test_bad_shapes_are_refused(shape: tuple[int, ...], watch: Watch) -> None:
    view = LiveImage()
    assert_refused(
        lambda: view.show(np.zeros(shape, dtype=np.uint8)),
        ValueError,
        "LiveImage.show(frame=...) must be an image of shape H×W, H×W×1, H×W×3 (RGB) or "
        f"H×W×4 (RGBA), got ndarray of shape {shape} and dtype uint8",
    )
    assert view.frames == 0
    assert watch(view).messages == []


def test_unsupported_dtype_is_refused(transport: FakeTransport) -> None:
    assert_refused(
        lambda: LiveImage(np.zeros((2, 2), dtype=np.complex128)),
        ValueError,
        "LiveImage(frame=...) must be an image of uint8 (0..255), floats (0..1), ints or bools, "
        "got ndarray of shape (2, 2) and dtype complex128",
    )
    assert transport.registered == []  # refused before any channel was opened


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview], ids=["bytes", "ba", "mv"])
@pytest.mark.parametrize(("data", "key"), [(PNG, "png"), (JPEG, "jpeg")], ids=["png", "jpeg"])
def test_png_and_jpeg_bytes_are_detected_by_magic(
    data: bytes, key: str, wrap: Callable[[bytes], Any], watch: Watch
) -> None:
    view = LiveImage()
    view.show(wrap(data))
    assert shown(watch(view)) == {key: data}
    assert view.frames == 1


@pytest.mark.parametrize(
    "data", [b"", b"GIF89a....", b"\x89PNG", b"\xff\xd8", b"raw pixels"], ids=repr
)
def test_other_bytes_are_refused(data: bytes, watch: Watch) -> None:
    view = LiveImage()
    assert_refused(
        lambda: view.show(data),
        ValueError,
        "LiveImage.show(frame=...) must be PNG or JPEG bytes (pass raw pixels as a numpy "
        f"array), got bytes {data!r}",
    )
    assert view.frames == 0
    assert watch(view).messages == []


def test_frames_count_what_was_shown_and_the_newest_wins(watch: Watch) -> None:
    view = LiveImage(np.zeros((2, 2), np.uint8))
    view.show(PNG)
    view.update(np.ones((2, 2), np.uint8))  # update is show
    with pytest.raises(ValueError):
        view.show(b"nope")
    assert view.frames == 3
    page = watch(view)
    assert [(m.kind, m.key) for m in page.messages] == [(P.SET, "frame")] * 3
    np.testing.assert_array_equal(shown(page)["image"], np.ones((2, 2), np.uint8))


def test_on_pointer_handler_gets_pointer_events(watch: Watch) -> None:
    view = LiveImage()
    got: list[tuple[str, Any]] = []

    @view.on_pointer
    def steer(event: Event) -> None:
        got.append((event.name, event.value))

    assert callable(steer)
    pointer = {"type": "down", "x": 3.5, "y": 4, "button": 0, "buttons": 1, "shift": False}
    watch(view).send("pointer", pointer)
    watch(view).send("click", {})  # not a pointer event
    assert got == [("pointer", pointer)]


def test_wait_pointer_returns_the_next_pointer_event(watch: Watch) -> None:
    view = LiveImage()
    thread = watch(view).send_later(
        [("other", 1), ("pointer", {"type": "move", "x": 1, "y": 2})], when_waiting=True
    )
    event = view.wait_pointer(timeout=5)
    thread.join()
    assert (event.name, event.value) == ("pointer", {"type": "move", "x": 1, "y": 2})
    with pytest.raises(TimeoutError):
        view.wait_pointer(timeout=0.01)


IMAGE = "must be an image: a numpy array (H×W, H×W×3 RGB or H×W×4 RGBA) or PNG/JPEG bytes"

BAD_ARGUMENTS = [
    pytest.param(
        {"width": True},
        TypeError,
        "LiveImage(width=...) must be an integer >= 1 (or None), got bool True",
        id="width-bool",
    ),
    pytest.param(
        {"width": 0},
        ValueError,
        "LiveImage(width=...) must be an integer >= 1 (or None), got int 0",
        id="width-0",
    ),
    pytest.param(
        {"width": 320.5},
        TypeError,
        "LiveImage(width=...) must be an integer >= 1 (or None), got float 320.5",
        id="width-float",
    ),
    pytest.param(
        {"pixelated": 1},
        TypeError,
        "LiveImage(pixelated=...) must be True or False, got int 1",
        id="pixelated-int",
    ),
    pytest.param(
        {"pixelated": None},
        TypeError,
        "LiveImage(pixelated=...) must be True or False, got None",
        id="pixelated-none",
    ),
    pytest.param(
        {"frame": "cat.png"},
        TypeError,
        f"LiveImage(frame=...) {IMAGE}, got str 'cat.png'",
        id="frame-path",
    ),
    pytest.param(
        {"frame": 5}, TypeError, f"LiveImage(frame=...) {IMAGE}, got int 5", id="frame-int"
    ),
    pytest.param(
        {"frame": Opaque()},
        TypeError,
        f"LiveImage(frame=...) {IMAGE}, got Opaque Opaque()",
        id="frame-object",
    ),
    pytest.param(
        {"frame": [[1, 2], [3]]},
        TypeError,
        f"LiveImage(frame=...) {IMAGE}, got list [[1, 2], [3]]",
        id="frame-ragged",
    ),
    pytest.param(
        {"encoding": "gif"},
        ValueError,
        "LiveImage(encoding=...) must be 'raw' or 'jpeg' or 'png', got str 'gif'",
        id="encoding-gif",
    ),
    pytest.param(
        {"encoding": None},
        TypeError,
        "LiveImage(encoding=...) must be 'raw' or 'jpeg' or 'png', got None",
        id="encoding-none",
    ),
    pytest.param(
        {"encoding": "jpeg", "quality": 0},
        ValueError,
        "LiveImage(quality=...) must be an integer from 1 to 100 (or None), got int 0",
        id="quality-0",
    ),
    pytest.param(
        {"encoding": "jpeg", "quality": 101},
        ValueError,
        "LiveImage(quality=...) must be an integer from 1 to 100 (or None), got int 101",
        id="quality-101",
    ),
    pytest.param(
        {"encoding": "jpeg", "quality": 0.8},
        TypeError,
        "LiveImage(quality=...) must be an integer from 1 to 100 (or None), got float 0.8",
        id="quality-float",
    ),
    pytest.param(
        {"encoding": "jpeg", "quality": True},
        TypeError,
        "LiveImage(quality=...) must be an integer from 1 to 100 (or None), got bool True",
        id="quality-bool",
    ),
    pytest.param(
        {"quality": 50},
        ValueError,
        "LiveImage(quality=...) must be None with encoding='raw' (it sets JPEG quality), "
        "got int 50",
        id="quality-without-jpeg",
    ),
    pytest.param(
        {"frame": np.zeros((0, 4, 3), np.uint8)},
        ValueError,
        "LiveImage(frame=...) must be an image of at least one pixel, got ndarray of shape "
        "(0, 4, 3) and dtype uint8",
        id="frame-empty",
    ),
]


@pytest.mark.parametrize(("kwargs", "error", "message"), BAD_ARGUMENTS)
def test_bad_arguments_are_refused_by_name(
    kwargs: dict[str, Any], error: type[Exception], message: str, transport: FakeTransport
) -> None:
    assert_refused(lambda: LiveImage(**kwargs), error, message)
    assert transport.registered == []  # refused before any channel was opened


TIMEOUT = "must be a finite number of seconds >= 0 (or None to wait without a limit)"

BAD_CALLS = [
    pytest.param(
        lambda v: v.show(None),
        TypeError,
        f"LiveImage.show(frame=...) {IMAGE}, got None",
        id="show-none",
    ),
    pytest.param(
        lambda v: v.update({"image": 1}),
        TypeError,
        f"LiveImage.show(frame=...) {IMAGE}, got dict {{'image': 1}}",
        id="update-dict",
    ),
    pytest.param(
        lambda v: v.show(np.array(["a", "b"])),
        TypeError,
        f"LiveImage.show(frame=...) {IMAGE}, got ndarray of shape (2,) and dtype <U1",
        id="show-strings",
    ),
    pytest.param(
        lambda v: v.on_pointer(None),
        TypeError,
        "LiveImage.on_pointer(handler=...) must be a callable (a function taking the event), "
        "got None",
        id="on-pointer-none",
    ),
    pytest.param(
        lambda v: v.wait_pointer(-0.5),
        ValueError,
        f"LiveImage.wait_pointer(timeout=...) {TIMEOUT}, got float -0.5",
        id="wait-negative",
    ),
    pytest.param(
        lambda v: v.wait_pointer(True),
        TypeError,
        f"LiveImage.wait_pointer(timeout=...) {TIMEOUT}, got bool True",
        id="wait-bool",
    ),
]


@pytest.mark.parametrize(("call", "error", "message"), BAD_CALLS)
def test_bad_calls_are_refused_by_name_and_send_nothing(
    call: Callable[[LiveImage], Any], error: type[Exception], message: str, watch: Watch
) -> None:
    view = LiveImage(np.zeros((2, 2), np.uint8))
    page = watch(view)
    sent = len(page.messages)
    assert_refused(lambda: call(view), error, message)
    assert len(page.messages) == sent
    assert view.frames == 1


def test_nested_lists_and_numpy_arguments_are_accepted(watch: Watch) -> None:
    flag: Any = np.bool_(True)
    view = LiveImage([[0, 255], [255, 0]], width=np.int64(64), pixelated=flag)
    assert view._config == {"width": 64, "pixelated": True}
    assert [type(v) for v in view._config.values()] == [int, bool]
    np.testing.assert_array_equal(shown(watch(view))["image"], [[0, 255], [255, 0]])


# -- encoding="jpeg" | "png": the kernel encodes numpy frames with Pillow -------------------


def gradient(shape: tuple[int, ...]) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """A smooth test picture (JPEG keeps smooth pictures close to the original)."""
    h, w = shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    planes = [xx * 255 // (w - 1), yy * 255 // (h - 1), (xx + yy) * 255 // (w + h - 2), 255 - xx]
    channels = shape[2] if len(shape) == 3 else 1
    return np.stack(planes[:channels], -1).reshape(shape).astype(np.uint8)


def decoded(data: bytes) -> tuple[str, np.ndarray[Any, Any]]:
    image = Image.open(io.BytesIO(data))
    return image.format or "", np.asarray(image)


SHAPES = [(48, 64, 3), (48, 64, 4), (48, 64), (48, 64, 1)]
SHAPE_IDS = ["rgb", "rgba", "gray", "gray1"]


def test_the_default_encoding_is_raw_and_quality_80_for_jpeg() -> None:
    view = LiveImage()
    assert (view.encoding, view.quality) == ("raw", 80)
    assert LiveImage(encoding="jpeg").quality == 80
    assert LiveImage(encoding="jpeg", quality=np.int64(35)).quality == 35
    assert "encoding" not in LiveImage(encoding="png")._config  # the page reads the frame


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_png_frames_decode_to_the_same_pixels(shape: tuple[int, ...], watch: Watch) -> None:
    frame = gradient(shape)
    view = LiveImage(encoding="png")
    view.show(frame)
    got = shown(watch(view))
    assert list(got) == ["png"]
    fmt, pixels = decoded(got["png"])
    assert fmt == "PNG"
    np.testing.assert_array_equal(pixels, frame[:, :, 0] if shape[-1:] == (1,) else frame)


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_jpeg_frames_decode_close_to_the_original(shape: tuple[int, ...], watch: Watch) -> None:
    frame = gradient(shape)
    view = LiveImage(frame, encoding="jpeg")
    got = shown(watch(view))
    assert list(got) == ["jpeg"]
    fmt, pixels = decoded(got["jpeg"])
    assert fmt == "JPEG"
    # grayscale stays one channel; alpha is dropped
    expected = frame.reshape(shape[:2]) if len(shape) == 2 or shape[2] == 1 else frame[:, :, :3]
    assert pixels.shape == expected.shape
    error = np.abs(pixels.astype(int) - expected.astype(int))
    assert error.mean() < 3 and error.max() < 40, (error.mean(), error.max())


def test_jpeg_quality_trades_size_for_fidelity(watch: Watch) -> None:
    rng = np.random.default_rng(1)
    frame = np.clip(gradient((96, 128, 3)) + rng.integers(-20, 20, (96, 128, 3)), 0, 255)
    errors, sizes = [], []
    for quality in (10, 95):
        data = shown(watch(LiveImage(frame, encoding="jpeg", quality=quality)))["jpeg"]
        sizes.append(len(data))
        errors.append(np.abs(decoded(data)[1].astype(int) - frame).mean())
    assert sizes[0] < sizes[1] / 2
    assert errors[0] > errors[1] * 1.3


def test_float_and_bool_frames_are_encoded_as_uint8(watch: Watch) -> None:
    view = LiveImage(np.array([[0.0, 0.5], [1.0, 2.0]]), encoding="png")
    np.testing.assert_array_equal(decoded(shown(watch(view))["png"])[1], [[0, 128], [255, 255]])
    view.show(np.array([[True, False]]))
    np.testing.assert_array_equal(decoded(shown(watch(view))["png"])[1], [[255, 0]])


@pytest.mark.parametrize("encoding", ["jpeg", "png"])
@pytest.mark.parametrize(("data", "key"), [(PNG, "png"), (JPEG, "jpeg")], ids=["png", "jpeg"])
def test_png_and_jpeg_bytes_are_sent_as_they_are_whatever_the_encoding(
    encoding: str, data: bytes, key: str, watch: Watch
) -> None:
    view = LiveImage(encoding=encoding)  # type: ignore[arg-type]
    view.show(data)
    assert shown(watch(view)) == {key: data}


@pytest.mark.parametrize("encoding", ["jpeg", "png"])
def test_bad_frames_are_refused_before_encoding(encoding: str, watch: Watch) -> None:
    view = LiveImage(encoding=encoding)  # type: ignore[arg-type]
    assert_refused(
        lambda: view.show(np.zeros((2, 2, 2), np.uint8)),
        ValueError,
        "LiveImage.show(frame=...) must be an image of shape H×W, H×W×1, H×W×3 (RGB) or "
        "H×W×4 (RGBA), got ndarray of shape (2, 2, 2) and dtype uint8",
    )
    assert watch(view).messages == []


@pytest.mark.parametrize("encoding", ["jpeg", "png"])
def test_without_pillow_encoding_is_refused_at_the_call(
    encoding: str, monkeypatch: pytest.MonkeyPatch, transport: FakeTransport
) -> None:
    monkeypatch.setitem(sys.modules, "PIL", None)  # `import PIL...` now raises ImportError
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    assert_refused(
        lambda: LiveImage(encoding=encoding),  # type: ignore[arg-type]
        ImportError,
        f"LiveImage(encoding={encoding!r}) encodes frames with Pillow, which is not "
        'installed: pip install "nbchannel[image]"',
    )
    assert transport.registered == []
    LiveImage(np.zeros((2, 2), np.uint8))  # raw frames need no Pillow
