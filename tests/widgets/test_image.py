"""``LiveImage``: frames from numpy arrays or PNG/JPEG bytes, pointer events back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from nbchannel.core import protocol as P
from nbchannel.kernel.channel import Event
from nbchannel.widgets import LiveImage, LiveWidget

from .page import Page

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
    with pytest.raises(ValueError, match=r"H×W×3 \(RGB\) or H×W×4 \(RGBA\); got shape"):
        view.show(np.zeros(shape, dtype=np.uint8))
    assert view.frames == 0
    assert watch(view).messages == []


def test_unsupported_dtype_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot show an image of dtype complex128"):
        LiveImage(np.zeros((2, 2), dtype=np.complex128))


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
    with pytest.raises(ValueError, match="image bytes must be PNG or JPEG"):
        view.show(data)
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
