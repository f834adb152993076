"""Path C: a raw single-hop WebSocket — tornado server → client, one message per frame.

The ceiling of Python WebSockets on this machine: no kernel, no hub, no codec; the server
process builds each message and writes it as its own WebSocket frame. It runs in its own
process (like the Jupyter server) on 127.0.0.1::

    python -m benchmarks.raw_ws --port 8899        # prints "ready" once listening

A client drives it with JSON text commands on its WebSocket; the server answers
``{"done": ...}`` once it has written everything:

* ``{"op": "burst", "n": N}`` — N small messages to this client, as fast as possible;
* ``{"op": "paced", "n": N, "rate": R}`` — N small messages at R per second;
* ``{"op": "arrays", "n": N, "nbytes": B}`` — N binary frames: 16-byte (seq, t) + B bytes;
* ``{"op": "fanout", "n": N, "rate": R}`` — N small messages at R/s to every *other* client.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import struct
import subprocess
import sys
import time
from asyncio import Future
from collections import deque
from typing import Any

import orjson
from tornado.web import Application
from tornado.websocket import WebSocketHandler

from nbchannel.testing.server import free_port

from .tally import Tally, fanout_summary, wait_all
from .ws_client import WSClient

__all__ = ["RawPath", "main"]

_ARRAY_HEAD = struct.Struct("<qq")
_PAD = "x" * 40  # the same ~100-byte message as the kernel senders


# -- the server process -------------------------------------------------------------------


#: Every connected client of this server process (fan-out writes to all but the sender).
_SOCKETS: set[RawSocketHandler] = set()


class RawSocketHandler(WebSocketHandler):
    """One client; commands arrive as text messages."""

    def open(self, *args: Any, **kwargs: Any) -> None:
        # a latency ceiling: no Nagle delay (tornado leaves it on for WebSockets)
        self.set_nodelay(True)
        _SOCKETS.add(self)

    def on_close(self) -> None:
        _SOCKETS.discard(self)

    def check_origin(self, origin: str) -> bool:
        return True

    async def on_message(self, message: str | bytes) -> None:
        cmd = orjson.loads(message)
        op = cmd["op"]
        if op == "burst":
            await self._small([self], cmd["n"], None)
        elif op == "paced":
            await self._small([self], cmd["n"], cmd["rate"])
        elif op == "fanout":
            await self._small([s for s in _SOCKETS if s is not self], cmd["n"], cmd["rate"])
        elif op == "arrays":
            await self._arrays(cmd["n"], cmd["nbytes"])
        self.write_message(orjson.dumps({"done": op}))

    async def _small(self, targets: list[RawSocketHandler], n: int, rate: float | None) -> None:
        dumps, tn, pc = orjson.dumps, time.time_ns, time.perf_counter
        period = 1.0 / rate if rate else 0.0
        t0 = pc()
        fut = None
        for i in range(n):
            if period:
                d = t0 + i * period - pc()
                if d > 0:
                    await asyncio.sleep(d)
            data = dumps({"seq": i, "t": tn(), "v": 0.25, "pad": _PAD})
            for s in targets:
                with contextlib.suppress(Exception):
                    fut = s.write_message(data, binary=True)
            if not period and i & 63 == 63 and fut is not None:
                # bound the write buffer: wait until the socket took what was written
                with contextlib.suppress(Exception):
                    await fut

    async def _arrays(self, n: int, nbytes: int) -> None:
        import numpy as np

        body = np.random.default_rng(0).random(nbytes // 8).tobytes()
        window: deque[Future[None]] = deque()
        for i in range(n):
            window.append(
                self.write_message(_ARRAY_HEAD.pack(i, time.time_ns()) + body, binary=True)
            )
            if len(window) >= 4:  # a few frames in flight, so the socket never idles
                await window.popleft()
        for fut in window:
            await fut


def main(argv: list[str] | None = None) -> int:
    """Run the raw WebSocket server until killed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)

    async def serve() -> None:
        app = Application([(r"/ws", RawSocketHandler)], websocket_max_message_size=1 << 31)
        app.listen(args.port, address="127.0.0.1")
        print("ready", flush=True)
        await asyncio.Event().wait()

    asyncio.run(serve())
    return 0


# -- the benchmark side -------------------------------------------------------------------


class _Client:
    """One WebSocket to the raw server, tallying what it receives."""

    def __init__(self, arrays: bool = False) -> None:
        self.ws: WSClient | None = None
        self.tally: Tally | None = None
        self.done: asyncio.Future[str] | None = None
        self.arrays = arrays

    def _on_message(self, data: str | bytes | bytearray | None) -> None:
        if data is None:
            return
        if isinstance(data, str):
            if self.done is not None and not self.done.done():
                self.done.set_result(data)
            return
        now = time.time_ns()
        tally = self.tally
        if tally is None:
            return
        if self.arrays:
            seq, sent = _ARRAY_HEAD.unpack_from(data)
            tally.add(seq, sent, now, len(data) - _ARRAY_HEAD.size)
        else:
            v = orjson.loads(data)
            tally.add(v["seq"], v["t"], now)

    async def command(self, cmd: dict[str, Any], timeout: float) -> None:
        assert self.ws is not None
        self.done = asyncio.get_running_loop().create_future()
        self.ws.send_text(orjson.dumps(cmd).decode())
        await asyncio.wait_for(self.done, timeout)

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()


class RawPath:
    """The raw WebSocket server in a subprocess, and its measurements."""

    key = "C"
    label = "raw WebSocket"

    def __init__(self, proc: subprocess.Popen[bytes], port: int) -> None:
        self.proc = proc
        self.port = port

    @classmethod
    async def start(cls) -> RawPath:
        """Start the server process and wait until it listens."""
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.raw_ws", "--port", str(port)],
            stdout=subprocess.PIPE,
        )
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 30)
        if line.strip() != b"ready":
            proc.kill()
            raise RuntimeError("the raw WebSocket server did not start")
        return cls(proc, port)

    async def close(self) -> None:
        """Stop the server process."""
        self.proc.terminate()
        try:
            await asyncio.to_thread(self.proc.wait, 10)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    async def _client(self, tally: Tally | None, arrays: bool = False) -> _Client:
        c = _Client(arrays)
        c.tally = tally
        c.ws = await WSClient.connect(f"ws://127.0.0.1:{self.port}/ws", on_message=c._on_message)
        return c

    async def _one(self, cmd: dict[str, Any], n: int, arrays: bool = False) -> dict[str, Any]:
        tally = Tally(n)
        c = await self._client(tally, arrays)
        try:
            await c.command(cmd, timeout=120)
            await wait_all([tally])
        finally:
            c.close()
        return tally.summary()

    async def burst(self, n: int) -> dict[str, Any]:
        """Metric 1: ``n`` small messages, one per frame, as fast as the server writes."""
        return await self._one({"op": "burst", "n": n}, n)

    async def paced(self, n: int, rate: float) -> dict[str, Any]:
        """Metric 2: ``n`` small messages at ``rate``/s; one-way latency."""
        return await self._one({"op": "paced", "n": n, "rate": rate}, n)

    async def arrays(self, n: int, nbytes: int) -> dict[str, Any]:
        """Metric 4: ``n`` binary frames of ``nbytes``."""
        return await self._one({"op": "arrays", "n": n, "nbytes": nbytes}, n, arrays=True)

    async def fanout(self, clients: int, rate: float, seconds: float) -> dict[str, Any]:
        """Metric 5: the server broadcasts ``rate`` messages/s to ``clients`` clients."""
        n = max(1, int(rate * seconds))
        tallies = [Tally(n) for _ in range(clients)]
        receivers = await asyncio.gather(*(self._client(t) for t in tallies))
        ctl = await self._client(None)
        await asyncio.sleep(0.2)  # every receiver registered on the server
        try:
            await ctl.command({"op": "fanout", "n": n, "rate": rate}, timeout=seconds + 60)
            await wait_all(tallies)
        finally:
            for c in [ctl, *receivers]:
                c.close()
        return fanout_summary(tallies)


if __name__ == "__main__":
    sys.exit(main())
