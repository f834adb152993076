"""``LiveImage``: frames from numpy arrays or PNG/JPEG bytes, pointer events back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

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
