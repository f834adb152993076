"""Fan-out through two relays on one Redis: ``python -m benchmarks.relay``.

One hub-wide channel, ``--viewers`` viewers spread evenly over two relays, the owner (a
``LiveChannel`` on a ``RelayClient``, in this process) appending ``--rate`` messages a
second for ``--seconds``. The viewers run in ``--workers`` processes, each an asyncio loop
of lean WebSocket clients (``benchmarks.ws_client``) that check every item's offset (lost,
duplicated, out of order) and time one item per frame: the frame's first, the one that
waited longest. Two runs:

1. **steady**: everything up for the whole run — messages lost, duplicated, latency
   percentiles (send → viewer), the relays' memory per viewer;
2. **relay killed**: the same with relay ``a`` SIGKILLed half-way; its viewers reconnect to
   ``b`` and resume from their epoch and next offset — lost, duplicated, and the time to
   recover (from the dead connection to the first item from the other relay, and to the
   item that was live when the connection died).

Sender and viewers share one clock (one machine), so latency is ``receive - send``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import struct
import tempfile
import time
from array import array
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import orjson

from nbchannel.core import protocol as P
from nbchannel.core.codec import PREAMBLE_SIZE, decode_frame, encode_frame
from nbchannel.core.message import Message
from nbchannel.kernel.channel import LiveChannel
from nbchannel.relay.kernel import RelayClient
from nbchannel.testing.relay import RedisServer, RelayProcess

from .memory import rss_bytes
from .tally import percentile
from .ws_client import WSClient

__all__ = ["main", "run"]

NAME = "bench"
SCOPE = "hub"
_HLEN = struct.Struct("<I")  # the header length, at offset 4 of a frame


@dataclass
class _View:
    """One viewer's connection and what it received of the stream."""

    urls: list[str]
    ws: WSClient | None = None
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
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)


class _Worker:
    """The viewers of one worker process."""

    def __init__(self, urls: list[list[str]]) -> None:
        self.views = [_View(u) for u in urls]
        self.latency_ns = array("q")
        self.stopping = False
        self.reconnects = 0

    async def connect(self, v: _View) -> None:
        url = v.urls[0]
        v.ws = await WSClient.connect(url, on_message=lambda d: self.on_frame(v, d), timeout=60)
        offset = v.next if v.epoch is not None else None
        sub = Message(P.SUBSCRIBE, NAME, scope=SCOPE, epoch=v.epoch, offset=offset)
        v.ws.send_binary(encode_frame([sub]))

    def on_frame(self, v: _View, data: bytes | bytearray | str | None) -> None:
        now_ns = time.time_ns()
        if data is None:
            if not self.stopping:
                v.down_ns = now_ns
                v.urls.append(v.urls.pop(0))  # the other relay
                self.reconnects += 1
                asyncio.get_running_loop().create_task(self.connect(v))
            return
        if isinstance(data, str):
            return
        hlen = _HLEN.unpack_from(data, 4)[0]
        end = PREAMBLE_SIZE + hlen
        header = orjson.loads(memoryview(data)[PREAMBLE_SIZE:end])
        n = len(header)
        # a frame of plain appends (the stream): checked by its first and last offsets
        if (
            data.count(b'"k":"append"', PREAMBLE_SIZE, end) == n
            and data.find(b'"b":', PREAMBLE_SIZE, end) < 0
        ):
            body = (end + 7) & ~7
            first, last = header[0], header[-1]
            # the frame's first item waited longest: its latency is the frame's worst
            sent_ns = orjson.loads(memoryview(data)[body : body + first["p"]])["t"]
            self.latency_ns.append(now_ns - sent_ns)
            lo, hi = first["o"], last["o"]
            if lo >= v.next and hi - lo + 1 == n:
                v.skipped += lo - v.next
                v.received += n
                v.next = hi + 1
                if v.down_ns and not v.first_after:
                    v.first_after = (now_ns - v.down_ns) / 1e9
            else:
                for e in header:
                    self._item(v, e["o"], now_ns)
            if v.down_ns and sent_ns >= v.down_ns:  # replay done: back to live items
                v.caught_up = (now_ns - v.down_ns) / 1e9
                v.down_ns = 0
            return
        for m in decode_frame(data):
            if m.kind == P.APPEND:
                assert m.offset is not None
                self._item(v, m.offset, now_ns)
            elif m.kind == P.SUBSCRIBED:
                info = m.value()
                if info["reset"] and v.epoch is not None:
                    v.resets += 1
                if info["reset"]:
                    v.next = info["tail"]
                v.epoch = info["epoch"]
                v.subscribed.set()
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
            "latency_ns": self.latency_ns.tobytes(),
        }


async def _worker_main(urls: list[list[str]], pipe: Connection) -> None:
    w = _Worker(urls)
    for i in range(0, len(w.views), 50):  # connect in groups, not all at once
        await asyncio.gather(*(w.connect(v) for v in w.views[i : i + 50]))
    await asyncio.gather(*(asyncio.wait_for(v.subscribed.wait(), 60) for v in w.views))
    w.latency_ns = array("q")  # only the measured stream counts
    pipe.send("ready")
    loop = asyncio.get_running_loop()
    sent = await loop.run_in_executor(None, pipe.recv)  # the sender's final count
    w.stopping = True
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(v.next < sent for v in w.views):
        await asyncio.sleep(0.05)
    pipe.send(w.result())
    for v in w.views:
        if v.ws is not None:
            v.ws.close()


def _worker(urls: list[list[str]], pipe: Connection) -> None:
    asyncio.run(_worker_main(urls, pipe))


def _relay_rss(relays: list[RelayProcess]) -> int:
    return sum(rss_bytes(r.proc.pid) for r in relays if r.proc and r.proc.poll() is None)


def run(
    viewers: int,
    rate: int,
    seconds: float,
    *,
    workers: int = 2,
    kill: bool = False,
    frames_per_second: int | None = None,
) -> dict[str, Any]:
    """One run; returns the figures (and prints them)."""
    extra = ["--frames-per-second", str(frames_per_second)] if frames_per_second else []
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
        ctx = mp.get_context("spawn")
        pipes, procs = [], []
        for k in range(workers):
            parent, child = ctx.Pipe()
            p = ctx.Process(target=_worker, args=(urls[k::workers], child), daemon=True)
            p.start()
            pipes.append(parent)
            procs.append(p)
        try:
            for pipe in pipes:
                if not pipe.poll(300) or pipe.recv() != "ready":
                    raise RuntimeError("viewers did not connect in time")
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
                time.sleep(0.0005)
            assert ch.flush(30), "the relay did not take every item"
            for pipe in pipes:
                pipe.send(sent)
            results = [pipe.recv() for pipe in pipes]
        finally:
            for p in procs:
                p.join(30)
                if p.is_alive():
                    p.kill()
            client.close()
    received = sum(sum(r["received"]) for r in results)
    lat = sorted(v / 1e6 for r in results for v in array("q", r["latency_ns"]))  # ms, one per frame
    out: dict[str, Any] = {
        "run": "relay killed" if kill else "steady",
        "viewers": viewers,
        "rate": rate,
        "seconds": seconds,
        "sent": sent,
        "expected": sent * viewers,
        "delivered": received,
        "lost": sum(max(0, sent - n) for r in results for n in r["next"])
        + sum(r["skipped"] for r in results),
        "reported_dropped": sum(r["reported"] for r in results),
        "duplicated": sum(r["duplicates"] for r in results),
        "resets": sum(r["resets"] for r in results),
        "reconnects": sum(r["reconnects"] for r in results),
        "p50_ms": percentile(lat, 0.5),
        "p99_ms": percentile(lat, 0.99),
        "max_ms": lat[-1] if lat else float("nan"),
        "relay_kib_per_viewer": per_viewer / 1024,
    }
    if kill:
        first = sorted(x for r in results for x in r["first_after"])
        caught = sorted(x for r in results for x in r["caught_up"])
        out["recover_first_item_s"] = {"p50": percentile(first, 0.5), "max": max(first)}
        out["recover_live_s"] = {"p50": percentile(caught, 0.5), "max": max(caught)}
    _print(out)
    return out


def _print(r: dict[str, Any]) -> None:
    print(
        f"[{r['run']}] {r['viewers']} viewers over 2 relays, {r['rate']} msgs/s for "
        f"{r['seconds']:g} s: sent {r['sent']:,}, delivered {r['delivered']:,} of "
        f"{r['expected']:,}; lost {r['lost']}, duplicated {r['duplicated']}, "
        f"reported dropped {r['reported_dropped']}"
    )
    print(
        f"    latency send → viewer (each frame's first item) p50 {r['p50_ms']:.1f} ms, "
        f"p99 {r['p99_ms']:.1f} ms, max {r['max_ms']:.1f} ms; "
        f"relay memory per viewer {r['relay_kib_per_viewer']:.1f} KiB"
    )
    if "recover_live_s" in r:
        f, c = r["recover_first_item_s"], r["recover_live_s"]
        print(
            f"    relay a killed half-way: {r['reconnects']} viewers moved to b; time to "
            f"recover: first item from b p50 {f['p50']:.2f} s (max {f['max']:.2f} s), back "
            f"to live p50 {c['p50']:.2f} s (max {c['max']:.2f} s)"
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--viewers", type=int, default=1000)
    p.add_argument("--rate", type=int, default=1000, help="messages/s the owner appends")
    p.add_argument("--seconds", type=float, default=30.0, help="length of the steady run")
    p.add_argument("--kill-seconds", type=float, default=10.0, help="length of the kill run")
    p.add_argument("--workers", type=int, default=2, help="viewer processes")
    p.add_argument("--frames-per-second", type=int, default=None, help="relay frame budget")
    p.add_argument("--quick", action="store_true", help="20 viewers, 2 s + 2 s (proves it runs)")
    p.add_argument("--json", default=None, help="also write the figures to this file")
    args = p.parse_args(argv)
    if args.quick:
        args.viewers, args.seconds, args.kill_seconds = 20, 2.0, 2.0
    common = {"workers": args.workers, "frames_per_second": args.frames_per_second}
    results = [run(args.viewers, args.rate, args.seconds, **common)]
    if args.kill_seconds > 0:
        results.append(run(args.viewers, args.rate, args.kill_seconds, kill=True, **common))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0 if all(r["lost"] == 0 and r["duplicated"] == 0 for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
