"""What this machine allows at best: the same hops as nbchannel's, with nothing on them.

``python -m benchmarks.floor [--quick] [--json PATH]``

nbchannel's data goes kernel process → Jupyter server process → browser; a click goes the
other way and then from the kernel's I/O thread to its handler thread. This measures those
hops bare, in plain Python with blocking sockets and no framing, parsing, auth or event
loop — a floor under any design that keeps the kernel, the server and the page apart:

* **one-way latency** of 100-byte records at 500/s, kernel → relay → viewer (two hops: a
  Unix socket, then loopback TCP, as nbchannel's), and kernel → viewer directly (one hop);
* **click → handler**: viewer → relay → the kernel's reading thread → a handler thread
  woken through a condition variable (as :class:`~nbchannel.kernel.dispatch.EventDispatcher`)
  while the kernel's main thread sleeps, and while it computes in pure Python (with the
  thread switch interval nbchannel sets in kernels, 1 ms);
* **1 MiB records** sent as fast as the sockets take them, over two hops and over one;
* **small items**: built and encoded one by one in the kernel, sent in ~64 KiB segments
  over two hops, decoded and checked in order by the viewer;
* **small items per second on one core**: building the benchmark's ~100-byte item and
  encoding it with ``orjson.dumps``, nothing else: what a kernel's loop can do at most
  before anything is sent.

Compare with ``python -m benchmarks`` (metrics 1–4), run on the same machine.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import socket
import statistics
import struct
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import orjson

from .cli import parser, save_json

__all__ = ["Floor", "main", "run"]

_REC = 100  # bytes of one small record: a float64 send time, then padding
_STAMP = struct.Struct("<d")
_MIB = 1 << 20
_SEGMENT = 64 * 1024
_LENGTH = struct.Struct("<I")
#: The kernel's thread switch interval with nbchannel (its default).
_SWITCH_INTERVAL = 0.001


@dataclass
class Floor:
    """Sizes of one run."""

    records: int = 2000
    rate: float = 500.0
    clicks: int = 40
    click_gap: float = 0.05
    arrays: int = 400
    items: int = 1_000_000

    @classmethod
    def quick(cls) -> Floor:
        """Tiny sizes: proves it runs."""
        return cls(records=100, clicks=5, arrays=20, items=50_000)


# -- the processes ---------------------------------------------------------------------


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    """Copy bytes from ``src`` to ``dst`` until ``src`` ends."""
    buf = bytearray(_MIB)
    view = memoryview(buf)
    while True:
        n = src.recv_into(buf)
        if not n:
            dst.shutdown(socket.SHUT_WR)
            return
        dst.sendall(view[:n])


def _relay(unix_path: str, port: int) -> None:
    """The server's place: accept the kernel (Unix socket) and the viewer (TCP), then copy
    bytes both ways, one thread per direction."""
    ku = socket.socket(socket.AF_UNIX)
    ku.bind(unix_path)
    ku.listen(1)
    vt = socket.create_server(("127.0.0.1", port))
    viewer, _ = vt.accept()
    viewer.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    kernel, _ = ku.accept()
    back = threading.Thread(target=_pipe, args=(viewer, kernel), daemon=True)
    back.start()
    _pipe(kernel, viewer)


def _connect_kernel(unix_path: str | None, port: int) -> socket.socket:
    """The kernel's end: through the relay (``unix_path``) or straight to the viewer."""
    deadline = time.monotonic() + 10
    while True:
        try:
            if unix_path is not None:
                s = socket.socket(socket.AF_UNIX)
                s.connect(unix_path)
            else:
                s = socket.create_connection(("127.0.0.1", port))
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return s
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _kernel(unix_path: str | None, port: int, op: str, n: int, rate: float, results: Any) -> None:
    """The kernel's place: send records (``paced``, ``arrays``) or handle clicks
    (``clicks-sleeping``, ``clicks-spinning``) and report their delays on ``results``."""
    sys.setswitchinterval(_SWITCH_INTERVAL)
    s = _connect_kernel(unix_path, port)
    if op == "paced":
        pad = b"x" * (_REC - _STAMP.size)
        period = 1.0 / rate
        t0 = time.perf_counter()
        for i in range(n):
            d = t0 + i * period - time.perf_counter()
            if d > 0:
                time.sleep(d)
            s.sendall(_STAMP.pack(time.time()) + pad)
    elif op == "items":
        _send_items(s, n)
    elif op == "arrays":
        payload = bytearray(os.urandom(_MIB))
        for _ in range(n):
            payload[: _STAMP.size] = _STAMP.pack(time.time())
            s.sendall(payload)
    else:
        results.put(_handle_clicks(s, n, spinning=op == "clicks-spinning"))
    s.close()


def _send_items(s: socket.socket, n: int) -> None:
    """``n`` ~100-byte items, each built and encoded as it is made, sent as length-prefixed
    JSON arrays of about 64 KiB (nbchannel's segments, bare)."""
    tn, pad, dumps = time.time_ns, "x" * 40, orjson.dumps
    parts: list[bytes] = []
    size = 0
    for i in range(n):
        b = dumps({"seq": i, "t": tn(), "v": 0.25, "pad": pad})
        parts.append(b)
        size += len(b) + 1
        if size >= _SEGMENT or i == n - 1:
            body = b"[" + b",".join(parts) + b"]"
            s.sendall(_LENGTH.pack(len(body)) + body)
            parts, size = [], 0


def _handle_clicks(s: socket.socket, n: int, *, spinning: bool) -> list[float]:
    """A reading thread hands each click to a handler thread; the main thread sleeps or
    computes meanwhile. The delays (s) from each click's send to its handler."""
    queue: deque[float] = deque()
    cond = threading.Condition()
    delays: list[float] = []
    done = threading.Event()

    def read() -> None:
        buf = bytearray()
        while len(delays) + len(queue) < n:
            data = s.recv(4096)
            if not data:
                break
            buf += data
            while len(buf) >= _REC:
                sent = _STAMP.unpack_from(buf)[0]
                del buf[:_REC]
                with cond:
                    queue.append(sent)
                    cond.notify()

    def handle() -> None:
        while len(delays) < n:
            with cond:
                while not queue:
                    cond.wait()
                sent = queue.popleft()
            delays.append(time.time() - sent)
        done.set()

    threading.Thread(target=read, daemon=True).start()
    threading.Thread(target=handle, daemon=True).start()
    s.sendall(b"r")  # ready: the viewer starts clicking
    while not done.is_set():
        if spinning:
            x = 0
            for i in range(10_000):
                x += i * i
        else:
            done.wait(0.05)
    return delays


# -- the viewer's side (this process) ----------------------------------------------------


def _recv_exact(s: socket.socket, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise ConnectionError("closed early")
        out += chunk
    return bytes(out)


@dataclass
class _Run:
    """One measurement's processes: the viewer's socket, the kernel's results, and what to
    remove at the end."""

    viewer: socket.socket
    results: Any
    procs: list[Any]
    tmp: str | None

    def finish(self) -> None:
        """Close the viewer's socket, end the processes, remove the relay's socket dir."""
        self.viewer.close()
        for p in self.procs:
            p.join(10)
            if p.is_alive():
                p.kill()
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)


def _start(op: str, hops: int, n: int, rate: float = 0.0) -> _Run:
    """Start the kernel (and for two hops the relay) for ``op``."""
    ctx = mp.get_context("fork" if sys.platform == "linux" else "spawn")
    results = ctx.Queue()
    tmp = tempfile.mkdtemp(prefix="nbc-floor-") if hops == 2 else None
    unix_path = os.path.join(tmp, "k.sock") if tmp is not None else None
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    procs = []
    if hops == 2:
        srv.close()  # the relay listens on this port
        procs.append(ctx.Process(target=_relay, args=(unix_path, port), daemon=True))
        procs[-1].start()
        viewer = _connect_kernel(None, port)
    procs.append(
        ctx.Process(target=_kernel, args=(unix_path, port, op, n, rate, results), daemon=True)
    )
    procs[-1].start()
    if hops == 1:
        viewer, _ = srv.accept()
        viewer.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        srv.close()
    return _Run(viewer, results, procs, tmp)


def one_way(hops: int, n: int, rate: float) -> dict[str, Any]:
    """``n`` 100-byte records at ``rate``/s: one-way latency p50/p99 (ms), records lost."""
    run = _start("paced", hops, n, rate)
    viewer = run.viewer
    delays = []
    buf = bytearray()
    while len(delays) < n:
        data = viewer.recv(65536)
        if not data:
            break
        now = time.time()
        buf += data
        while len(buf) >= _REC:
            delays.append(now - _STAMP.unpack_from(buf)[0])
            del buf[:_REC]
    run.finish()
    q = statistics.quantiles([d * 1000 for d in delays], n=100)
    return {"p50_ms": statistics.median(delays) * 1000, "p99_ms": q[98], "lost": n - len(delays)}


def clicks(hops: int, n: int, gap: float, kind: str) -> dict[str, Any]:
    """``n`` clicks ``gap`` s apart to a kernel whose main thread is ``kind``: the median
    delay (ms) from send to handler."""
    run = _start(f"clicks-{kind}", hops, n)
    viewer = run.viewer
    _recv_exact(viewer, 1)
    time.sleep(0.2)
    pad = b"x" * (_REC - _STAMP.size)
    for _ in range(n):
        viewer.sendall(_STAMP.pack(time.time()) + pad)
        time.sleep(gap)
    delays = run.results.get(timeout=30)
    run.finish()
    return {"median_ms": statistics.median(delays) * 1000, "handled": len(delays)}


def arrays(hops: int, n: int) -> dict[str, Any]:
    """``n`` records of 1 MiB as fast as they go: MiB/s from the first send to the last byte."""
    run = _start("arrays", hops, n)
    viewer = run.viewer
    buf = bytearray(_MIB)
    got = 0
    first = None
    while got < n * _MIB:
        k = viewer.recv_into(buf)
        if not k:
            break
        if first is None:
            first = _STAMP.unpack_from(buf)[0]
        got += k
    elapsed = time.time() - (first or time.time())
    run.finish()
    return {"mib_per_s": got / _MIB / elapsed, "lost_bytes": n * _MIB - got}


def items(hops: int, n: int) -> dict[str, Any]:
    """``n`` small items in segments, each decoded by the viewer (``orjson.loads``) and
    checked in order: items per second from the first item's making to the last's arrival."""
    run = _start("items", hops, n)
    viewer = run.viewer
    buf = bytearray()
    got = 0
    first = None
    while got < n:
        data = viewer.recv(1 << 20)
        if not data:
            break
        buf += data
        while len(buf) >= _LENGTH.size:
            size = _LENGTH.unpack_from(buf)[0]
            if len(buf) < _LENGTH.size + size:
                break
            seg = orjson.loads(memoryview(buf)[_LENGTH.size : _LENGTH.size + size])
            del buf[: _LENGTH.size + size]
            if first is None:
                first = seg[0]["t"] / 1e9
            for item in seg:
                if item["seq"] != got:
                    raise AssertionError(f"item {got} arrived as {item['seq']}")
                got += 1
    elapsed = time.time() - (first or time.time())
    run.finish()
    return {"items_per_s": got / elapsed, "lost": n - got}


def build_and_encode(n: int) -> dict[str, Any]:
    """The kernel loop's own work per item, nothing sent: best of 3, items per second."""
    tn, pad, dumps = time.time_ns, "x" * 40, orjson.dumps
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for i in range(n):
            dumps({"seq": i, "t": tn(), "v": 0.25, "pad": pad})
        best = min(best, time.perf_counter() - t0)
    return {"items_per_s": n / best, "us_per_item": best / n * 1e6}


def run(sizes: Floor) -> dict[str, Any]:
    """Every floor measurement; printed as it goes, returned as a dict."""
    out: dict[str, Any] = {}

    def report(key: str, label: str, value: dict[str, Any]) -> None:
        out[key] = value
        text = ", ".join(
            f"{k}={v:,.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in value.items()
        )
        print(f"{label:58s} {text}", flush=True)

    for hops in (2, 1):
        report(
            f"one_way_{hops}",
            f"one-way, {hops} hop(s), 100 B at {sizes.rate:g}/s",
            one_way(hops, sizes.records, sizes.rate),
        )
    for kind in ("sleeping", "spinning"):
        report(
            f"click_{kind}",
            f"click → handler thread, 2 hops, main thread {kind}",
            clicks(2, sizes.clicks, sizes.click_gap, kind),
        )
    for hops in (2, 1):
        report(f"arrays_{hops}", f"1 MiB records, {hops} hop(s)", arrays(hops, sizes.arrays))
    report("items_2", "small items in 64 KiB segments, 2 hops, decoded", items(2, sizes.items))
    report(
        "build", "build + orjson.dumps of the ~100 B item, one core", build_and_encode(sizes.items)
    )
    print(f"load average (1 min): {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.floor``."""
    args = parser(__doc__.splitlines()[0], "small sizes: proves it runs").parse_args(argv)
    save_json(args.json, run(Floor.quick() if args.quick else Floor()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
