"""LiveImage frames per second in headless Chromium: 1080p frames, raw vs JPEG vs PNG.

JupyterLab in a real Chromium opens a notebook whose kernel shows one ``LiveImage`` per
encoding (``raw``, ``jpeg``, ``png``), then, for each in turn, streams 1920×1080 RGB uint8
frames of a moving picture (a sawtooth and a sine wave sliding sideways: every frame
differs) as fast as ``show`` returns, for a fixed time. The image element (``.nbc-image``)
exposes ``data-frames`` (frames drawn so far); the page's rate is its growth over each
measuring window. The kernel reports the frames it sent per second, the time ``show``
took, the encoding time alone (measured on three frames before streaming) and the bytes
a frame takes on the wire.

Chromium is driven through a bare DevTools connection that only evaluates scripts, not
through Playwright: Playwright turns on the DevTools network events for every page, and
Chromium then copies each WebSocket message into an event (base64), which for 6 MB raw
frames costs more than drawing them and would understate raw frames several times over.

The frames are smooth, so they compress far better than camera frames or noise would:
the JPEG and PNG byte counts are a best case; encoding times vary less with content.

Skipped, with the reason, when the widget bundle, Chromium, Playwright or Pillow is
missing::

    python -m benchmarks.image_fps [--quick] [--reps 3] [--json PATH] [--screenshot PNG]
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from .browser_fps import START_CELL
from .browser_fps import missing as browser_missing
from .cli import parser, save_json
from .ws_client import WSClient

__all__ = ["ENCODINGS", "missing", "run"]

ENCODINGS = ("raw", "jpeg", "png")

#: Seconds per measuring window and windows per encoding.
FULL = {"seconds": 5.0, "reps": 3}
QUICK = {"seconds": 1.0, "reps": 1}

#: Seconds the stream runs before a window starts (the first frames are on their way).
WARMUP = 0.5

SETUP_CELL = """\
import json, time
import numpy as np
from nbchannel.widgets import LiveImage
from nbchannel.widgets.image import frame_payload

H, W, PERIOD = 1080, 1920, 1024
yy, xx = np.mgrid[0:H, 0 : W + PERIOD]
BIG = np.empty((H, W + PERIOD, 3), np.uint8)
BIG[..., 0] = xx % 256
BIG[..., 1] = yy * 255 // (H - 1)
BIG[..., 2] = 127.5 + 127.5 * np.sin(2 * np.pi * (xx + 2 * yy) / PERIOD)
del yy, xx


def frame(t):
    # a window sliding over BIG: every frame differs, and the motion loops seamlessly
    o = (t * 7) % PERIOD
    return np.ascontiguousarray(BIG[:, o : o + W])


views = {{enc: LiveImage(frame(0), encoding=enc) for enc in {encodings!r}}}
display(*views.values())


def stream(enc, seconds, out, rate=0):
    view = views[enc]
    frames = [frame(i) for i in range(3)]
    t = time.perf_counter()
    payloads = [frame_payload(f, encoding=enc, quality=view.quality) for f in frames]
    encode_ms = (time.perf_counter() - t) / len(frames) * 1000
    body = [next(iter(p.values())) for p in payloads]
    sizes = [len(b) if isinstance(b, bytes) else b.nbytes for b in body]
    n, shown_s, t0 = 0, 0.0, time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < seconds:
        if rate and n > elapsed * rate:
            time.sleep(min(0.002, n / rate - elapsed))
            continue
        f = frame(n)
        a = time.perf_counter()
        view.show(f)
        shown_s += time.perf_counter() - a
        n += 1
    elapsed = time.perf_counter() - t0
    with open(out, "w") as fh:
        json.dump({{"sent": n, "sent_fps": n / elapsed, "show_ms": shown_s / n * 1000,
                   "encode_ms": encode_ms, "bytes": sum(sizes) / len(sizes)}}, fh)
"""

STREAM_CELL = "stream({enc!r}, {seconds}, {out!r}, rate={rate})"

# The notebook is open with an idle kernel (a kernel-choice dialog is accepted).
_READY = """() => {
  document.querySelector('.jp-Dialog .jp-mod-accept')?.click();
  const w = window.jupyterapp?.shell.currentWidget;
  const k = w?.sessionContext?.session?.kernel;
  return !!(k && k.status === 'idle' && w.content && w.content.widgets.length);
}"""

# No cell is running or queued.
_IDLE = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  const k = w?.sessionContext?.session?.kernel;
  if (!k || !w.content) return false;
  const pending = w.content.widgets.some(
    c => c.model.type === 'code' && c.promptNode && c.promptNode.textContent.includes('*'));
  return k.status === 'idle' && !pending;
}"""

_OUTPUTS = """() => Array.from(document.querySelectorAll('.jp-OutputArea-output'))
  .map(e => e.innerText).join('\\n')"""

_SCROLL_TO = (
    """(i) => document.querySelectorAll('.nbc-image')[i].scrollIntoView({block: 'center'})"""
)

_FRAMES = """(i) => {
  const e = document.querySelectorAll('.nbc-image')[i];
  return e ? {frames: Number(e.dataset.frames), width: Number(e.dataset.width),
              height: Number(e.dataset.height)} : null;
}"""


def missing() -> str | None:
    """Why the benchmark cannot run here, or None."""
    reason = browser_missing()
    if reason:
        return reason
    try:
        import PIL.Image  # noqa: F401
    except ImportError:
        return 'Pillow is not installed (pip install "nbchannel[image]")'
    return None


def run(
    *,
    quick: bool = False,
    reps: int | None = None,
    encodings: tuple[str, ...] = ENCODINGS,
    rate: float = 0,
    screenshot: str | None = None,
) -> dict[str, Any]:
    """Measure, or return ``{"skipped": reason}`` / ``{"error": ...}``; never raises.

    ``reps``: measuring windows per encoding (default 3, 1 with ``quick``). ``rate``:
    frames per second the kernel shows (0: as fast as ``show`` returns).
    ``screenshot``: a PNG of the page after the last window.
    """
    reason = missing()
    if reason:
        return {"skipped": reason}
    size = dict(QUICK if quick else FULL)
    if reps is not None:
        size["reps"] = reps
    try:
        return _measure(size, tuple(encodings), float(rate), screenshot)
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


class Tab:
    """A headless Chromium showing one page, driven by DevTools' ``Runtime.evaluate`` alone."""

    def __init__(self, proc: subprocess.Popen[bytes], ws: WSClient, profile: Any) -> None:
        self._proc = proc
        self._ws = ws
        self._profile = profile
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}

    @classmethod
    async def open(cls, url: str, width: int = 1280, height: int = 900) -> Tab:
        """Start Chromium on ``url`` and connect to its page."""
        from nbchannel.testing.browser import CHROMIUM_ARGS, find_chromium

        profile = tempfile.TemporaryDirectory(prefix="nbc-image-fps-")
        args = [find_chromium(), "--headless", *CHROMIUM_ARGS, "--remote-debugging-port=0"]
        args += [f"--user-data-dir={profile.name}", f"--window-size={width},{height}", url]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            port_file = Path(profile.name) / "DevToolsActivePort"
            deadline = time.monotonic() + 30
            while not (port_file.is_file() and port_file.read_text().strip()):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("Chromium did not open its DevTools port")
                await asyncio.sleep(0.1)
            port = int(port_file.read_text().split()[0])
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
                targets = json.load(r)
            page = next(t for t in targets if t["type"] == "page")
            tab: Tab | None = None

            def on_message(message: bytes | bytearray | str | None) -> None:
                if tab is not None and message is not None:
                    tab._reply(json.loads(message))

            ws = await WSClient.connect(page["webSocketDebuggerUrl"], on_message=on_message)
            tab = cls(proc, ws, profile)
            return tab
        except BaseException:
            proc.kill()
            proc.wait()
            _remove_profile(profile)
            raise

    def _reply(self, message: dict[str, Any]) -> None:
        waiting = self._waiting.pop(message.get("id", -1), None)
        if waiting is not None and not waiting.done():
            waiting.set_result(message)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """One DevTools command and its result."""
        n = next(self._ids)
        self._waiting[n] = asyncio.get_running_loop().create_future()
        self._ws.send_text(json.dumps({"id": n, "method": method, "params": params}))
        reply = await asyncio.wait_for(self._waiting[n], 60)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        result: dict[str, Any] = reply["result"]
        return result

    async def evaluate(self, function: str, arg: Any = None) -> Any:
        """``function(arg)`` in the page (awaited if it returns a promise), as JSON."""
        expression = f"({function})({json.dumps(arg)})"
        result = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, function: str, timeout: float, arg: Any = None) -> Any:
        """Poll ``function(arg)`` until it returns something truthy."""
        deadline = time.monotonic() + timeout
        while not (value := await self.evaluate(function, arg)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"still false after {timeout} s: {function[:80]}")
            await asyncio.sleep(0.1)
        return value

    async def screenshot(self, path: str) -> None:
        """Save a PNG of the viewport."""
        shot = await self.send("Page.captureScreenshot", format="png")
        Path(path).write_bytes(base64.b64decode(shot["data"]))

    def close(self) -> None:
        """Close the page's connection and end Chromium."""
        self._ws.close()
        self._proc.terminate()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        _remove_profile(self._profile)


def _remove_profile(profile: tempfile.TemporaryDirectory[str]) -> None:
    """Remove Chromium's profile directory. Its helper processes may still be writing to it
    for a moment after the browser process ended: removing then fails with "Directory not
    empty", so try again for up to 5 s."""
    deadline = time.monotonic() + 5
    while True:
        try:
            profile.cleanup()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _measure(
    size: dict[str, Any], encodings: tuple[str, ...], rate: float, screenshot: str | None
) -> dict[str, Any]:
    from nbchannel.testing import JupyterServer
    from nbchannel.testing.browser import LAB_ARGS, write_notebook

    seconds, reps = float(size["seconds"]), int(size["reps"])
    stream_seconds = WARMUP + seconds + 0.3
    result: dict[str, Any] = {
        "width": 1920,
        "height": 1080,
        "seconds": seconds,
        "reps": reps,
        "rate": rate,
    }
    with JupyterServer(app="lab", extra_args=LAB_ARGS) as server:
        cells = [SETUP_CELL.format(encodings=encodings)] + [
            STREAM_CELL.format(
                enc=enc, seconds=stream_seconds, out=f"image_fps_{enc}.json", rate=rate
            )
            for enc in encodings
        ]
        write_notebook(server.root_dir / "image_fps.ipynb", cells)
        url = f"{server.url}lab/tree/image_fps.ipynb?reset&token={server.token}"
        result["encodings"] = asyncio.run(
            _stream_all(url, server.root_dir, encodings, seconds, reps, stream_seconds, screenshot)
        )
    return result


async def _stream_all(
    url: str,
    root: Path,
    encodings: tuple[str, ...],
    seconds: float,
    reps: int,
    stream_seconds: float,
    screenshot: str | None,
) -> dict[str, Any]:
    tab = await Tab.open(url)
    try:
        await tab.wait_for(_READY, 60)
        await tab.evaluate(START_CELL, 0)
        await tab.wait_for(_IDLE, 120)
        drawn = f"(n) => [...Array(n).keys()].every(i => ({_FRAMES})(i)?.frames >= 1)"
        try:
            await tab.wait_for(drawn, 60, len(encodings))
        except TimeoutError:
            raise TimeoutError(
                f"the first frames were never drawn: {await tab.evaluate(_OUTPUTS)}"
            ) from None
        per_encoding: dict[str, Any] = {}
        for i, enc in enumerate(encodings):
            await tab.evaluate(_SCROLL_TO, i)
            windows = []
            for _ in range(reps):
                out = root / f"image_fps_{enc}.json"
                out.unlink(missing_ok=True)
                await tab.evaluate(START_CELL, i + 1)
                await asyncio.sleep(WARMUP)
                start, t0 = await tab.evaluate(_FRAMES, i), time.monotonic()
                await asyncio.sleep(seconds)
                end, t1 = await tab.evaluate(_FRAMES, i), time.monotonic()
                await tab.wait_for(_IDLE, stream_seconds + 60)
                if not out.is_file():
                    outputs = await tab.evaluate(_OUTPUTS)
                    raise RuntimeError(f"the {enc} stream cell failed: {outputs}")
                kernel = json.loads(out.read_text())
                windows.append(
                    {
                        "fps": (end["frames"] - start["frames"]) / (t1 - t0),
                        "drawn_size": [end["width"], end["height"]],
                        **kernel,
                    }
                )
            fps = [w["fps"] for w in windows]
            per_encoding[enc] = {
                "fps": statistics.median(fps),
                "fps_runs": fps,
                "sent_fps": statistics.median(w["sent_fps"] for w in windows),
                "show_ms": statistics.median(w["show_ms"] for w in windows),
                "encode_ms": statistics.median(w["encode_ms"] for w in windows),
                "bytes_per_frame": windows[0]["bytes"],
                "windows": windows,
            }
        if screenshot:
            await tab.screenshot(screenshot)
        return per_encoding
    finally:
        tab.close()


def table(result: dict[str, Any]) -> str:
    """The result as a text table, one row per encoding."""
    head = (
        f"LiveImage {result['width']}×{result['height']} RGB, "
        f"{result['reps']} window(s) of {result['seconds']:g} s per encoding, kernel showing "
        + (f"{result['rate']:g} frames/s" if result["rate"] else "frames as fast as it can")
    )
    rows = [
        head,
        f"{'encoding':<9}{'drawn fps':>10}{'sent fps':>10}{'encode ms':>11}"
        f"{'show ms':>9}{'KB/frame':>10}",
    ]
    for enc, r in result["encodings"].items():
        rows.append(
            f"{enc:<9}{r['fps']:>10.1f}{r['sent_fps']:>10.1f}{r['encode_ms']:>11.1f}"
            f"{r['show_ms']:>9.1f}{r['bytes_per_frame'] / 1024:>10.0f}"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    p = parser(__doc__.splitlines()[0], "one 1 s window per encoding (about 25 s in all)")
    p.add_argument("--reps", type=int, default=None, help="windows per encoding")
    p.add_argument("--encoding", action="append", choices=ENCODINGS, help="only these (repeatable)")
    p.add_argument(
        "--rate", type=float, default=0, help="frames/s the kernel shows (default: flat out)"
    )
    p.add_argument("--screenshot", metavar="PNG", help="a PNG of the page at the end")
    args = p.parse_args(argv)
    result = run(
        quick=args.quick,
        reps=args.reps,
        encodings=tuple(args.encoding or ENCODINGS),
        rate=args.rate,
        screenshot=args.screenshot,
    )
    if "skipped" in result:
        print(f"LiveImage fps: skipped: {result['skipped']}")
    elif "error" in result:
        print(f"LiveImage fps: error: {result['error']}")
    else:
        print(table(result))
    save_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
