"""Fan-out through two relays on one Redis: ``python -m benchmarks.relay``.

One hub-wide channel, ``--viewers`` viewers spread evenly over two relays, the owner (a
``LiveChannel`` on a ``RelayClient``, in this process) appending ``--rate`` messages a
second for ``--seconds``. The viewers run in ``--workers`` processes, each one epoll loop
over plain sockets (a Python viewer costs the machine as little as it can, since viewers
and relays share its cores here): every viewer checks every item's offset (lost,
duplicated, out of order) and notes when each frame arrived; the latency of every item
(receipt - send) is worked out at the end, from one parse of each distinct frame per
process (a relay sends the same frame to all the viewers that keep up). Two runs:

1. **steady**: everything up for the whole run — items lost, duplicated, latency
   percentiles of every item (and of each frame's oldest item), the relays' memory per
   viewer;
2. **relay killed**: the same with relay ``a`` SIGKILLed half-way; its viewers reconnect to
   ``b`` and resume from their epoch and next offset — lost, duplicated, and the time to
   recover (from the dead connection to the first item from the other relay, and to the
   first frame that starts with an item sent after the death).

Sender and viewers share one clock (one machine), so latency is ``receive - send``, taken
twice: when the viewer process reads the frame, and when the frame reached the viewer's
socket (the kernel stamps what a socket receives, ``SO_TIMESTAMPNS``): the first includes
the time a viewer process waits for a core its relays also need, the second is the relays'
and the network's part alone.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import math
import multiprocessing as mp
import os
import select
import socket
import struct
import tempfile
import time
from array import array
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import orjson

from nbchannel.core import protocol as P
from nbchannel.core.codec import PREAMBLE_SIZE, decode_frame, encode_frame
from nbchannel.core.message import Message
from nbchannel.kernel.channel import LiveChannel
from nbchannel.relay.kernel import RelayClient, _client_header, _mask
from nbchannel.testing.relay import RedisServer, RelayProcess

from .cli import parser, save_json
from .memory import rss_bytes
from .tally import percentile

__all__ = ["Target", "ViewerProcesses", "main", "run", "summary"]

NAME = "bench"
SCOPE = "hub"
_HLEN = struct.Struct("<I")
_U16 = struct.Struct("!H")
_U64 = struct.Struct("!Q")  # the header length, at offset 4 of a frame
#: Linux: the kernel stamps what a socket receives with the wall clock (struct timespec)
_SO_TIMESTAMPNS = 35
_TIMESPEC = struct.Struct("qq")
_CMSG = socket.CMSG_SPACE(_TIMESPEC.size)
#: Bytes read at a time: under the allocator's mmap threshold (128 KiB), so a read does
#: not map and unmap fresh pages; a larger frame takes several reads.
_READ_SIZE = 1 << 16


@dataclass(frozen=True)
class Target:
    """The channel the viewers subscribe to, and the headers of their upgrade request."""

    scope: str = SCOPE
    name: str = NAME
    headers: tuple[tuple[str, str], ...] = ()


@dataclass
class _View:
    """One viewer's connection and what it received of the stream."""

    urls: list[str]
    sock: socket.socket | None = None
    state: str = "closed"  # connecting, upgrading, open
    buf: bytearray = field(default_factory=bytearray)
    subscribed: bool = False
    epoch: int | None = None
    next: int = 0
    received: int = 0
    duplicates: int = 0
    skipped: int = 0  # offsets jumped over (missing), not counting reported gaps
    reported: int = 0  # items the relay said it dropped (gap markers)
    resets: int = 0
    down_ns: int = 0  # when the connection died (time.time_ns()), 0 when up
    first_after: float = 0.0  # seconds from death to the first item from the other relay
    caught_up: float = 0.0  # ... to the first frame that starts with an item sent since


_BUCKET_NS = 100_000  # latency histogram resolution: 0.1 ms
_BUCKETS = 600_000  # up to 60 s


def _parse_stream_frame(data: bytes) -> tuple[int, int, np.ndarray[Any, Any]] | None:
    """``(first offset, last offset, send times)`` of a frame that holds only stream items
    (no buffers) at consecutive offsets; None for any other frame."""
    hlen = _HLEN.unpack_from(data, 4)[0]
    end = PREAMBLE_SIZE + hlen
    header = orjson.loads(memoryview(data)[PREAMBLE_SIZE:end])
    if any(e.get("k") != P.APPEND or "b" in e for e in header):
        return None
    lo = header[0]["o"]
    expect = lo
    for e in header:  # consecutive offsets (a segment: "n" of them)
        if e["o"] != expect:
            return None
        expect += e.get("n", 1)
    pos = (end + 7) & ~7
    times: list[int] = []
    for e in header:
        value = orjson.loads(memoryview(data)[pos : pos + e["p"]])
        if "n" in e:
            times.extend(v["t"] for v in value)
        else:
            times.append(value["t"])
        pos += e["p"]
    return lo, expect - 1, np.array(times, dtype=np.int64)


class _Worker:
    """The viewers of one worker process."""

    def __init__(self, urls: list[list[str]], target: Target) -> None:
        self.views = [_View(u) for u in urls]
        self.target = target
        # A relay sends the same frame to every viewer that keeps up: each distinct frame
        # is parsed once per process (every viewer still checks its own offsets), and
        # each receipt is noted as (frame, time): the latency of every item is worked out
        # at the end.
        self._ids: dict[bytes, int] = {}
        self._frames: list[tuple[int, int, np.ndarray[Any, Any]]] = []
        self.receipt_frame = array("q")
        self.receipt_ns = array("q")  # when this process read the frame
        self.arrival_ns = array("q")  # when it reached the viewer's socket
        self.stopping = False
        self.reconnects = 0
        self.poller = select.epoll()
        self._by_fd: dict[int, _View] = {}

    def connect(self, v: _View) -> None:
        """Start ``v``'s WebSocket to its first URL without waiting: the connection, the
        upgrade and the subscription (resuming if it had items) go on in :meth:`poll`."""
        parts = urlsplit(v.urls[0])
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
        sock.setblocking(False)
        sock.connect_ex((parts.hostname or "127.0.0.1", parts.port or 80))
        v.sock, v.buf, v.state = sock, bytearray(), "connecting"
        self._by_fd[sock.fileno()] = v
        self.poller.register(sock.fileno(), select.EPOLLOUT)

    def _connected(self, v: _View) -> None:
        """The TCP connection is up (or failed): send the upgrade request."""
        assert v.sock is not None
        if v.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
            self._closed(v)
            return
        parts = urlsplit(v.urls[0])
        key = base64.b64encode(os.urandom(16)).decode()
        extra = "".join(f"{k}: {value}\r\n" for k, value in self.target.headers)
        v.sock.send(
            (
                f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
            ).encode()
        )
        v.state = "upgrading"
        self.poller.modify(v.sock.fileno(), select.EPOLLIN)

    def _upgraded(self, v: _View) -> None:
        """Read the upgrade response; once whole, subscribe and read on."""
        assert v.sock is not None
        try:
            data = v.sock.recv(1 << 16)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._closed(v)
            return
        v.buf += data
        head, sep, rest = bytes(v.buf).partition(b"\r\n\r\n")
        if not sep:
            return
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(f"{v.urls[0]}: {head.decode(errors='replace').splitlines()[0]}")
        v.buf, v.state = bytearray(rest), "open"
        offset = v.next if v.epoch is not None else None
        t = self.target
        sub = Message(P.SUBSCRIBE, t.name, scope=t.scope, epoch=v.epoch, offset=offset)
        frame = encode_frame([sub])
        key = os.urandom(4)
        v.sock.sendall(_client_header(len(frame), key) + _mask(frame, key, 0))

    def read(self, v: _View) -> None:
        """Read what ``v``'s socket has and hand each complete message to :meth:`on_frame`."""
        assert v.sock is not None
        arrival = 0
        try:
            data, ancillary, _, _ = v.sock.recvmsg(_READ_SIZE, _CMSG)
            for level, kind, stamp in ancillary:
                if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS:
                    sec, ns = _TIMESPEC.unpack(stamp)
                    arrival = sec * 1_000_000_000 + ns
        except (BlockingIOError, InterruptedError):
            data = None
        except OSError:
            data = b""
        if data == b"":
            self._closed(v)
            return
        if not data:
            return
        buf = v.buf
        if buf:
            buf += data
            data = bytes(buf)
            del buf[:]
        # (frames are parsed from the bytes read, each copied out once: the common case,
        # a read that holds whole frames, costs no buffer juggling)
        pos, n = 0, len(data)
        while n - pos >= 2:
            size, start = data[pos + 1] & 0x7F, pos + 2
            if size == 126:
                if n - pos < 4:
                    break
                size, start = _U16.unpack_from(data, pos + 2)[0], pos + 4
            elif size == 127:
                if n - pos < 10:
                    break
                size, start = _U64.unpack_from(data, pos + 2)[0], pos + 10
            if n < start + size:
                break
            opcode = data[pos] & 0x0F
            if opcode == 2:
                self.on_frame(v, data[start : start + size], arrival)
            elif opcode == 8:
                self._closed(v)
                return
            pos = start + size
        if pos < n:
            buf += data[pos:]

    def _closed(self, v: _View) -> None:
        if v.sock is not None:
            self._by_fd.pop(v.sock.fileno(), None)
            with contextlib.suppress(OSError, ValueError):
                self.poller.unregister(v.sock.fileno())
            v.sock.close()
            v.sock = None
        v.state = "closed"
        self.on_frame(v, None)

    def on_frame(self, v: _View, data: bytes | bytearray | str | None, arrival_ns: int = 0) -> None:
        """One frame read (``arrival_ns``: when the last of it reached the socket, as the
        kernel stamped it; 0 if unknown) or, with ``data`` None, the connection closed."""
        now_ns = time.time_ns()
        if data is None:
            if not self.stopping:
                v.down_ns = v.down_ns or now_ns  # (a failed reconnect keeps the first)
                v.urls.append(v.urls.pop(0))  # the other relay
                self.reconnects += 1
                self.connect(v)
            return
        key = bytes(data)
        fid = self._ids.get(key, -1)
        if fid < 0:
            parsed = _parse_stream_frame(key)
            if parsed is not None:
                fid = len(self._frames)
                self._frames.append(parsed)
                if len(self._ids) < 100_000:
                    self._ids[key] = fid
        if fid >= 0:  # a frame of stream items only, offsets lo..hi in order
            lo, hi, sent = self._frames[fid]
            sent_ns = int(sent[0])
            self.receipt_frame.append(fid)
            self.receipt_ns.append(now_ns)
            self.arrival_ns.append(arrival_ns or now_ns)
            if lo >= v.next:
                v.skipped += lo - v.next
                v.received += hi - lo + 1
                v.next = hi + 1
                if v.down_ns and not v.first_after:
                    v.first_after = (now_ns - v.down_ns) / 1e9
            else:
                for off in range(lo, hi + 1):
                    self._item(v, off, now_ns)
            if v.down_ns and sent_ns >= v.down_ns:  # replay done: back to live items
                v.caught_up = (now_ns - v.down_ns) / 1e9
                v.down_ns = 0
            return
        for m in decode_frame(data):
            if m.kind == P.APPEND:
                assert m.offset is not None
                for off in range(m.offset, m.offset + m.count):
                    self._item(v, off, now_ns)
            elif m.kind == P.SUBSCRIBED:
                info = m.value()
                if info["reset"] and v.epoch is not None:
                    v.resets += 1
                if info["reset"]:
                    v.next = info["tail"]
                v.epoch = info["epoch"]
                v.subscribed = True
            elif m.kind == P.GAP:
                v.reported += int(m.value().get("count", 0))
                end = m.value().get("end")
                if end is not None and end > v.next:
                    v.next = end

    def _item(self, v: _View, offset: int, now_ns: int) -> None:
        if offset < v.next:
            v.duplicates += 1
            return
        if offset > v.next:
            v.skipped += offset - v.next
        v.next = offset + 1
        v.received += 1
        if v.down_ns and not v.first_after:
            v.first_after = (now_ns - v.down_ns) / 1e9

    def latency_histogram(self, recv_ns: array[int]) -> np.ndarray[Any, Any]:
        """Counts of item latencies (receipt - send) in 0.1 ms buckets, and, in the same
        layout after them, of each frame's first (oldest) item."""
        frames = np.frombuffer(self.receipt_frame, dtype=np.int64)
        recv = np.frombuffer(recv_ns, dtype=np.int64)
        hist = np.zeros(2 * _BUCKETS, dtype=np.int64)
        order = np.argsort(frames, kind="stable")
        frames, recv = frames[order], recv[order]
        starts = np.flatnonzero(np.r_[True, frames[1:] != frames[:-1]])
        for lo, hi in zip(starts, np.r_[starts[1:], len(frames)], strict=True):
            sent = self._frames[int(frames[lo])][2]
            got = recv[lo:hi]
            every = ((got[:, None] - sent[None, :]) // _BUCKET_NS).ravel()
            hist[:_BUCKETS] += np.bincount(np.clip(every, 0, _BUCKETS - 1), minlength=_BUCKETS)
            first = np.clip((got - sent[0]) // _BUCKET_NS, 0, _BUCKETS - 1)
            hist[_BUCKETS:] += np.bincount(first, minlength=_BUCKETS)
        return hist

    def result(self) -> dict[str, Any]:
        return {
            "received": [v.received for v in self.views],
            "next": [v.next for v in self.views],
            "duplicates": sum(v.duplicates for v in self.views),
            "skipped": sum(v.skipped for v in self.views),
            "reported": sum(v.reported for v in self.views),
            "resets": sum(v.resets for v in self.views),
            "reconnects": self.reconnects,
            "first_after": [v.first_after for v in self.views if v.first_after],
            "caught_up": [v.caught_up for v in self.views if v.caught_up],
            "latency_hist": self.latency_histogram(self.receipt_ns).tobytes(),
            "arrival_hist": self.latency_histogram(self.arrival_ns).tobytes(),
        }

    def poll(self, timeout: float) -> None:
        """Read every socket that has data, waiting up to ``timeout`` seconds."""
        for fd, _ in self.poller.poll(timeout):
            v = self._by_fd.get(fd)
            if v is None:
                continue
            if v.state == "open":
                self.read(v)
            elif v.state == "connecting":
                self._connected(v)
            else:
                self._upgraded(v)


def _worker(urls: list[list[str]], pipe: Connection, target: Target = Target()) -> None:
    """One viewer process: connect, subscribe, say ready, read until told the count."""
    w = _Worker(urls, target)
    for v in w.views:
        w.connect(v)
    deadline = time.monotonic() + 60
    while not all(v.subscribed for v in w.views):
        if time.monotonic() > deadline:
            raise TimeoutError("viewers not subscribed in time")
        w.poll(0.05)
    w.receipt_frame, w.receipt_ns, w.arrival_ns = array("q"), array("q"), array("q")
    pipe.send("ready")
    while not pipe.poll(0):
        w.poll(0.01)
    sent = pipe.recv()  # the sender's final count
    w.stopping = True
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(v.next < sent for v in w.views):
        w.poll(0.05)
    pipe.send(w.result())
    for v in w.views:
        if v.sock is not None:
            v.sock.close()


def _relay_rss(relays: list[RelayProcess]) -> int:
    return sum(rss_bytes(r.proc.pid) for r in relays if r.proc and r.proc.poll() is None)


class ViewerProcesses:
    """``len(urls)`` viewers in ``workers`` processes (viewer ``i`` tries ``urls[i]`` in
    turn): :meth:`ready` once all are subscribed, :meth:`results` once they have the
    ``sent`` items (or waited 30 s for them)."""

    def __init__(self, urls: list[list[str]], workers: int, target: Target = Target()) -> None:
        ctx = mp.get_context("spawn")
        self.pipes: list[Connection] = []
        self.procs: list[Any] = []
        for k in range(workers):
            parent, child = ctx.Pipe()
            p = ctx.Process(target=_worker, args=(urls[k::workers], child, target), daemon=True)
            p.start()
            self.pipes.append(parent)
            self.procs.append(p)

    def ready(self, timeout: float = 300) -> None:
        for pipe in self.pipes:
            if not pipe.poll(timeout) or pipe.recv() != "ready":
                raise RuntimeError("viewers did not connect in time")

    def results(self, sent: int) -> list[dict[str, Any]]:
        for pipe in self.pipes:
            pipe.send(sent)
        return [pipe.recv() for pipe in self.pipes]

    def close(self) -> None:
        for p in self.procs:
            p.join(30)
            if p.is_alive():
                p.kill()


def summary(results: list[dict[str, Any]], sent: int, viewers: int) -> dict[str, Any]:
    """Items delivered, lost, duplicated and their latency over all viewer processes."""
    received = sum(sum(r["received"]) for r in results)
    hist = np.sum([np.frombuffer(r["latency_hist"], dtype=np.int64) for r in results], axis=0)
    arrived = np.sum([np.frombuffer(r["arrival_hist"], dtype=np.int64) for r in results], axis=0)
    every, first_item = hist[:_BUCKETS], hist[_BUCKETS:]
    return {
        "viewers": viewers,
        "sent": sent,
        "expected": sent * viewers,
        "delivered": received,
        "lost": sum(max(0, sent - n) for r in results for n in r["next"])
        + sum(r["skipped"] for r in results),
        "reported_dropped": sum(r["reported"] for r in results),
        "duplicated": sum(r["duplicates"] for r in results),
        "resets": sum(r["resets"] for r in results),
        "reconnects": sum(r["reconnects"] for r in results),
        "p50_ms": _hist_percentile(every, 0.5),
        "p99_ms": _hist_percentile(every, 0.99),
        "max_ms": _hist_percentile(every, 1.0),
        "frame_first_p99_ms": _hist_percentile(first_item, 0.99),
        "socket_p50_ms": _hist_percentile(arrived[:_BUCKETS], 0.5),
        "socket_p99_ms": _hist_percentile(arrived[:_BUCKETS], 0.99),
        "socket_max_ms": _hist_percentile(arrived[:_BUCKETS], 1.0),
    }


def run(
    viewers: int,
    rate: int,
    seconds: float,
    *,
    workers: int = 2,
    kill: bool = False,
    frames_per_second: int | None = None,
    batch_ms: float | None = None,
    busy_viewers: int | None = None,
) -> dict[str, Any]:
    """One run; returns the figures (and prints them)."""
    extra = ["--frames-per-second", str(frames_per_second)] if frames_per_second else []
    if batch_ms is not None:
        extra += ["--batch-ms", str(batch_ms)]
    if busy_viewers is not None:
        extra += ["--busy-viewers", str(busy_viewers)]
    with (
        RedisServer(tempfile.mkdtemp(prefix="nbc-bench-")) as redis,
        RelayProcess(redis=redis.url, relay_id="a", extra=extra) as a,
        RelayProcess(redis=redis.url, relay_id="b", extra=extra) as b,
    ):
        client = RelayClient(b.url, "", "bench")
        ch = LiveChannel(NAME, scope=SCOPE, transport=client)
        ch.append({"t": time.time_ns()})
        assert ch.flush(10), "the relay did not take the first item"
        base = _relay_rss([a, b])
        # viewer i starts on a (odd) or b (even) and moves to the other if its relay dies
        urls = [[a.ws_url, b.ws_url] if i % 2 else [b.ws_url, a.ws_url] for i in range(viewers)]
        procs = ViewerProcesses(urls, workers)
        try:
            procs.ready()
            time.sleep(0.5)
            per_viewer = (_relay_rss([a, b]) - base) / viewers
            sent = 1
            start = time.monotonic()
            killed = not kill
            while (elapsed := time.monotonic() - start) < seconds:
                due = int(elapsed * rate) + 1
                while sent <= due:
                    ch.append({"t": time.time_ns()})
                    sent += 1
                if not killed and elapsed >= seconds / 2:
                    a.kill()
                    killed = True
                time.sleep(0.001)
            assert ch.flush(30), "the relay did not take every item"
            results = procs.results(sent)
        finally:
            procs.close()
            client.close()
    out: dict[str, Any] = {"run": "relay killed" if kill else "steady", "rate": rate}
    out["seconds"] = seconds
    out.update(summary(results, sent, viewers))
    out["relay_kib_per_viewer"] = per_viewer / 1024
    if kill:
        first = sorted(x for r in results for x in r["first_after"])
        caught = sorted(x for r in results for x in r["caught_up"])
        out["recover_first_item_s"] = {"p50": percentile(first, 0.5), "max": max(first)}
        out["recover_live_s"] = {"p50": percentile(caught, 0.5), "max": max(caught)}
    _print(out)
    return out


def _hist_percentile(hist: np.ndarray[Any, Any], q: float) -> float:
    """The ``q``-quantile in ms of a 0.1 ms histogram (the bucket's upper edge)."""
    total = int(hist.sum())
    if not total:
        return float("nan")
    rank = max(1, math.ceil(q * total))
    return (int(np.searchsorted(np.cumsum(hist), rank)) + 1) * _BUCKET_NS / 1e6


def _print(r: dict[str, Any]) -> None:
    print(
        f"[{r['run']}] {r['viewers']} viewers over 2 relays, {r['rate']} msgs/s for "
        f"{r['seconds']:g} s: sent {r['sent']:,}, delivered {r['delivered']:,} of "
        f"{r['expected']:,}; lost {r['lost']}, duplicated {r['duplicated']}, "
        f"reported dropped {r['reported_dropped']}"
    )
    print(
        f"    latency send → viewer, every item: p50 {r['p50_ms']:.1f} ms, "
        f"p99 {r['p99_ms']:.1f} ms, max {r['max_ms']:.1f} ms (each frame's oldest item: "
        f"p99 {r['frame_first_p99_ms']:.1f} ms); "
        f"relay memory per viewer {r['relay_kib_per_viewer']:.1f} KiB"
    )
    print(
        f"    send → viewer's socket (its kernel's receive stamp, before the viewer process "
        f"reads: the viewers share the relays' cores here): p50 {r['socket_p50_ms']:.1f} ms, "
        f"p99 {r['socket_p99_ms']:.1f} ms, max {r['socket_max_ms']:.1f} ms"
    )
    if "recover_live_s" in r:
        f, c = r["recover_first_item_s"], r["recover_live_s"]
        print(
            f"    relay a killed half-way: {r['reconnects']} viewers moved to b; time to "
            f"recover: first item from b p50 {f['p50']:.2f} s (max {f['max']:.2f} s), back "
            f"to live p50 {c['p50']:.2f} s (max {c['max']:.2f} s)"
        )


def main(argv: list[str] | None = None) -> int:
    p = parser(
        __doc__,
        "20 viewers, 2 s + 2 s (proves it runs)",
        formatter_class=argparse.RawTextHelpFormatter,
    )
    p.add_argument("--viewers", type=int, default=1000)
    p.add_argument("--rate", type=int, default=1000, help="messages/s the owner appends")
    p.add_argument("--seconds", type=float, default=30.0, help="length of the steady run")
    p.add_argument("--kill-seconds", type=float, default=10.0, help="length of the kill run")
    p.add_argument("--workers", type=int, default=2, help="viewer processes")
    p.add_argument("--frames-per-second", type=int, default=None, help="relay frame budget")
    p.add_argument("--batch-ms", type=float, default=None, help="relay --batch-ms")
    p.add_argument("--busy-viewers", type=int, default=None, help="relay --busy-viewers")
    args = p.parse_args(argv)
    if args.quick:
        args.viewers, args.seconds, args.kill_seconds = 20, 2.0, 2.0
    common = {
        "workers": args.workers,
        "frames_per_second": args.frames_per_second,
        "batch_ms": args.batch_ms,
        "busy_viewers": args.busy_viewers,
    }
    results = [run(args.viewers, args.rate, args.seconds, **common)]
    if args.kill_seconds > 0:
        results.append(run(args.viewers, args.rate, args.kill_seconds, kill=True, **common))
    save_json(args.json, results)
    return 0 if all(r["lost"] == 0 and r["duplicated"] == 0 for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
