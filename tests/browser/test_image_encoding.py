"""LiveImage frames sent raw or encoded as JPEG or PNG by the kernel, drawn by a real Chromium."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nbchannel.testing import JupyterServer
from nbchannel.testing.browser import Browser

CELL = """\
import numpy as np
from nbchannel.widgets import LiveImage

RED, GREEN, BLUE, WHITE = (220, 30, 30, 255), (30, 200, 60, 255), (40, 60, 230, 255), (0, 0, 0, 0)

def quadrants(colors, h=120, w=160):
    img = np.zeros((h, w, 4), np.uint8)
    img[: h // 2, : w // 2], img[: h // 2, w // 2 :] = colors[0], colors[1]
    img[h // 2 :, : w // 2], img[h // 2 :, w // 2 :] = colors[2], colors[3]
    return img

jpeg = LiveImage(quadrants([BLUE] * 4), encoding="jpeg", quality=90, width=320)
png = LiveImage(encoding="png", width=320)
rgb = LiveImage(quadrants([RED, GREEN, BLUE, WHITE])[..., :3], width=320)  # raw RGB
gray = LiveImage(quadrants([(10,) * 4, (100,) * 4, (200,) * 4, (255,) * 4])[..., 0])  # raw H×W
display(jpeg, png, rgb, gray)
for colors in ([GREEN] * 4, [BLUE, RED, GREEN, BLUE], [RED, GREEN, BLUE, WHITE]):
    jpeg.show(quadrants(colors))  # the newest frame wins; alpha is dropped
png.show(quadrants([RED, GREEN, BLUE, WHITE]))  # bottom right transparent
"""

# The RGBA pixel at the middle of each quadrant of the `i`th image view's canvas.
_QUADRANTS = """(i) => {
  const c = document.querySelectorAll('.nbc-image canvas')[i];
  if (!c || !c.width || c.hidden) return null;
  const g = c.getContext('2d');
  const at = (x, y) => Array.from(g.getImageData(x, y, 1, 1).data);
  const [w, h] = [c.width, c.height];
  return [at(w / 4, h / 4), at(3 * w / 4, h / 4), at(w / 4, 3 * h / 4), at(3 * w / 4, 3 * h / 4)];
}"""

RED, GREEN, BLUE = [220, 30, 30, 255], [30, 200, 60, 255], [40, 60, 230, 255]


def close(got: list[int], want: list[int], tolerance: int) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(got, want, strict=True))


def test_raw_jpeg_and_png_frames_are_drawn_with_their_pixels(
    jupyter: JupyterServer, browser: Browser, notebook: Any, artifacts: Path
) -> None:
    nb = browser.open_notebook(jupyter, notebook([CELL]))
    try:
        nb.run_all()
        page = nb.page
        page.wait_for_function(
            "() => [...document.querySelectorAll('.nbc-image')]"
            ".filter(e => Number(e.dataset.frames) >= 1).length === 4",
            timeout=30_000,
        )
        for view in page.locator(".nbc-image").all():
            assert (view.get_attribute("data-width"), view.get_attribute("data-height")) == (
                "160",
                "120",
            )
        # JPEG: the last frame, close to its colors (lossy), opaque where the frame was not
        page.wait_for_function(f"() => ({_QUADRANTS})(0)?.[0][0] > 150", timeout=10_000)
        got = page.evaluate(_QUADRANTS, 0)
        for pixel, want in zip(got, [RED, GREEN, BLUE, [0, 0, 0, 255]], strict=True):
            assert close(pixel, want, 12), got
        # PNG: lossless, alpha kept
        got = page.evaluate(_QUADRANTS, 1)
        assert got[:3] == [RED, GREEN, BLUE]
        assert got[3][3] == 0, got
        # raw RGB and grayscale: exact, opaque
        assert page.evaluate(_QUADRANTS, 2) == [RED, GREEN, BLUE, [0, 0, 0, 255]]
        assert page.evaluate(_QUADRANTS, 3) == [[v, v, v, 255] for v in (10, 100, 200, 255)]
        for i, name in enumerate(["jpeg", "png", "rgb", "gray"]):
            view = page.locator(".nbc-image").nth(i)
            view.screenshot(path=str(artifacts / f"image-{name}.png"))
        assert browser.our_errors() == []
    finally:
        nb.page.context.close()
