"""Fan-out through two relays on one Redis: ``python -m benchmarks.relay``.

One hub-wide channel, ``--viewers`` Python viewers spread over two relays, the owner
appending ``--rate`` messages a second for ``--seconds``. Prints, per run: messages lost
and repeated (by offset), latency percentiles (send → viewer), the relays' memory per
viewer. Viewers share this process's event loop: on a small machine they, not the
relays, are the bottleneck at high viewer counts.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time

from nbchannel.kernel.channel import LiveChannel
from nbchannel.relay.kernel import RelayClient
from nbchannel.testing.relay import RedisServer, RelayProcess
from nbchannel.testing.viewer import Viewer


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def run(viewers: int, rate: int, seconds: float) -> None:
    with (
        RedisServer(tempfile.mkdtemp(prefix="nbc-bench-")) as redis,
        RelayProcess(redis=redis.url, relay_id="a") as a,
        RelayProcess(redis=redis.url, relay_id="b") as b,
    ):
        client = RelayClient(a.url, "", "bench")
        ch = LiveChannel("bench", scope="hub", transport=client)
        ch.append({"t": time.time()})
        assert ch.flush(10)
        base = {r: _rss_kib(r.proc.pid) for r in (a, b) if r.proc}
        conns = []
        for i in range(viewers):
            v = await Viewer.connect((a if i % 2 else b).ws_url)
            await v.subscribe("hub", "bench")
            conns.append(v)
        latencies: list[float] = []

        async def read(v: Viewer) -> None:
            while not v.closed:
                msgs = await v.receive()
                if msgs is None:
                    return
                now = time.time()
                for m in msgs[-1:]:
                    if m.kind == "append":
                        latencies.append(now - m.value()["t"])

        readers = [asyncio.create_task(read(v)) for v in conns]
        await asyncio.sleep(0.5)
        mem = {r: _rss_kib(r.proc.pid) for r in (a, b) if r.proc}
        sent = 1
        start = time.monotonic()
        while (elapsed := time.monotonic() - start) < seconds:
            due = int(elapsed * rate) + 1
            while sent < due + 1:
                ch.append({"t": time.time(), "i": sent})
                sent += 1
            await asyncio.sleep(0.001)
        assert ch.flush(10)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(
            len(v.view("hub", "bench").items) < sent for v in conns
        ):
            await asyncio.sleep(0.1)
        lost = sum(sent - len(v.view("hub", "bench").items) for v in conns)
        dup = sum(len(v.view("hub", "bench").duplicates) for v in conns)
        bad = sum([o for o, _ in v.view("hub", "bench").items] != list(range(sent)) for v in conns)
        for t in readers:
            t.cancel()
        for v in conns:
            await v.close()
        client.close()
        latencies.sort()

        def pct(p: float) -> float:
            return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

        per_viewer = sum(mem[r] - base[r] for r in mem) / max(1, viewers)
        print(
            f"viewers={viewers} rate={rate}/s seconds={seconds:g} sent={sent} "
            f"delivered={sent * viewers - lost} lost={lost} duplicated={dup} out_of_order={bad}"
        )
        print(
            f"latency ms (last message of each frame): p50={pct(0.5):.1f} p99={pct(0.99):.1f} "
            f"max={latencies[-1] * 1000:.1f}; relay memory per viewer: {per_viewer:.0f} KiB"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--viewers", type=int, default=200)
    p.add_argument("--rate", type=int, default=1000)
    p.add_argument("--seconds", type=float, default=10)
    args = p.parse_args()
    asyncio.run(run(args.viewers, args.rate, args.seconds))


if __name__ == "__main__":
    main()
