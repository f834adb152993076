"""``python -m benchmarks.soak``: a long run of one stream with viewers coming and going.

A real Jupyter server with nbchannel and one real kernel streaming ``--rate`` small items per
second (default 10,000: 100 ``append`` calls every 10 ms, each ~100 B of JSON carrying a
sequence number) on one channel, watched by

* ``--viewers`` reading viewers (default 10, lean clients of the browser protocol, as in the
  benchmarks) that come and go at random from a seeded generator: each stays 5–60 s, leaves,
  and a new one joins 0–5 s later; every new viewer subscribes afresh (the retained history
  is replayed to it, then the live stream follows);
* one stalled viewer that subscribes and never reads. jupyter-server closes a WebSocket
  that answered no ping for 90 s, and a client that never reads never sees the pings: when
  the server closes it, a new stalled viewer subscribes (and the summary says so), unless
  ``--no-ws-pings`` turns the server's pings off so that one stays the whole run.

Each viewer session checks that it got a contiguous sequence from its first item to its last.
Items the hub drops for a viewer that fell behind are announced by ``gap`` markers (as are
items the kernel's own queue drops, which the summary counts apart); a session without
markers *kept up* and must miss nothing, and in any session a missing item that no
marker accounts for is a silent loss. Every interval (a minute; a third of the run for runs
under three minutes) prints the server's and the kernel's resident memory (``VmRSS``, the
median of one sample a second), the items sent per second and delivered, the viewer sessions
that ended, how many of them kept up with nothing lost and how many fell behind (and the
items dropped for them), and items lost silently. The summary compares memory in the first
interval with the last::

    python -m benchmarks.soak --minutes 30             # the soak
    python -m benchmarks.soak --minutes 0.5            # a quick check
    python -m benchmarks.soak --minutes 3 --json soak.json

The run passes (exit code 0) when both the server's and the kernel's memory stay within
``--tolerance`` (10 %) and no item was lost without a gap marker (so 0 lost for every viewer
that kept up), with no duplicates or reordering. Measurement starts after a warm-up that
lasts until the channel's history is full and the stalled viewer's queue has reached its
bound (both are bounded, by design, and take a few seconds to fill; at most
``--warmup-max`` seconds). Everything runs on 127.0.0.1 and is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from nbchannel.core import protocol as P
from nbchannel.core.codec import decode_frame
from nbchannel.core.message import Message
from nbchannel.testing import JupyterServer

from .memory import RssSampler, rss_bytes
from .nbc_path import NbcPath, NbcReceiver

__all__ = [
    "Session",
    "SoakConfig",
    "SoakViewer",
    "format_summary",
    "kernel_pid",
    "main",
    "run_soak",
]

_MiB = 1 << 20
CHANNEL = "soak"
STOP_EVENT = "soak-stop"
NO_PINGS = '--ServerApp.tornado_settings={"ws_ping_interval": 0}'

#: The sender, run in the kernel after ``kernel_code.COMMON`` and ``NBC_SETUP`` (which
#: provide ``_PAD`` and the channel ``_ch``). ``rate * tick`` appends every ``tick`` s,
#: deadline-paced, until the ``soak-stop`` event or ``seconds`` (a safety bound).
SENDER = r"""
_soak_sent = [0]
_soak_stop = [False]


@_ch.on("soak-stop")
def _soak_on_stop(event):
    _soak_stop[0] = True


def _soak_stream(seconds, rate, tick):
    tn, pc, sleep, pad, append = _t.time_ns, _t.perf_counter, _t.sleep, _PAD, _ch.append
    per_tick = max(1, round(rate * tick))
    t0 = pc()
    end = t0 + seconds
    seq = k = 0
    while not _soak_stop[0]:
        d = t0 + k * tick - pc()
        if d > 0:
            sleep(d)
        if pc() >= end:
            break
        for _ in range(per_tick):
            append({"seq": seq, "t": tn(), "v": 0.25, "pad": pad})
            seq += 1
        _soak_sent[0] = seq
        k += 1
"""


@dataclass(frozen=True)
class SoakConfig:
    """What a soak run does."""

    minutes: float = 30.0
    #: Items per second, sent as ``rate * tick`` appends every ``tick`` seconds.
    rate: float = 10_000.0
    tick: float = 0.01
    viewers: int = 10
    #: How long a viewer stays, and how long its slot stays empty after it leaves (s).
    stay: tuple[float, float] = (5.0, 60.0)
    away: tuple[float, float] = (0.0, 5.0)
    seed: int = 0
    #: Seconds between report lines (None: 60, or a third of runs under three minutes).
    interval: float | None = None
    #: Longest warm-up before measuring (s).
    warmup_max: float = 60.0
    #: Largest change of resident memory, first interval → last, that counts as flat (%).
    tolerance: float = 10.0
    #: Turn jupyter-server's WebSocket pings off, so that the server never closes the
    #: stalled viewer (by default it closes a socket that answered no ping for 90 s).
    no_ws_pings: bool = False

    @property
    def seconds(self) -> float:
        """Length of the measured part of the run."""
        return self.minutes * 60.0

    @property
    def report_every(self) -> float:
        """Seconds between report lines."""
        if self.interval is not None:
            return self.interval
        return 60.0 if self.seconds >= 180.0 else self.seconds / 3


@dataclass
class Session:
    """One viewer's stay: what it received of the stream, checked as it arrives."""

    slot: int
    number: int
    started: float
    ended: float | None = None
    #: Oldest offset the hub said it would replay (``tail`` of ``subscribed``).
    tail: int | None = None
    received: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    #: Items skipped between the first item and the last (and before the first, from tail).
    missing: int = 0
    #: Items that came again or out of order.
    backwards: int = 0
    #: ``gap`` markers for the stream, and the items they say were dropped.
    gaps: int = 0
    gap_items: int = 0
    #: Those items by the marker's reason: ``dropped`` (this viewer's queue was full),
    #: ``history`` (older than the history when its replay reached them), ``sender`` (the
    #: kernel's own queue dropped them; such markers carry no offset).
    gap_reasons: dict[str, int] = field(default_factory=dict)
    errors: list[Any] = field(default_factory=list)

    @property
    def kept_up(self) -> bool:
        """No gap marker: the viewer read as fast as the stream came."""
        return self.gaps == 0

    @property
    def lost(self) -> int:
        """Missing items that no gap marker accounts for (silent loss)."""
        return max(0, self.missing - self.gap_items)

    @property
    def ok(self) -> bool:
        """Nothing lost silently, nothing repeated or reordered, no error."""
        return self.lost == 0 and self.backwards == 0 and not self.errors

    def record(self) -> dict[str, Any]:
        """JSON-able summary of the session."""
        out = asdict(self)
        out.update(kept_up=self.kept_up, lost=self.lost, ok=self.ok)
        return out


class SoakViewer(NbcReceiver):
    """A reading viewer (:class:`~benchmarks.nbc_path.NbcReceiver`) that checks the sequence of
    one session instead of tallying a stream of known length."""

    session: Session | None = None

    def _on_frame(self, data: str | bytes | bytearray | None) -> None:
        s = self.session
        if s is None or s.ended is not None:
            return
        if data is None:  # closed, and not by this side (it ends the session first)
            s.errors.append("the server closed the WebSocket")
            return
        if isinstance(data, str):
            return
        loads = orjson.loads
        for m in decode_frame(data):
            kind = m.kind
            if kind == P.APPEND:
                value = loads(m.payload)
                for seq in [v["seq"] for v in value] if m.segment else [value["seq"]]:
                    last = s.last_seq
                    if last is None:
                        s.first_seq = seq
                        if s.tail is not None and m.offset is not None and m.offset > s.tail:
                            s.missing += m.offset - s.tail
                    elif seq != last + 1:
                        if seq <= last:
                            s.backwards += 1
                            continue
                        s.missing += seq - last - 1
                    s.last_seq = seq
                    s.received += 1
            elif kind == P.GAP:
                info = loads(m.payload)
                if info.get("kind") == P.APPEND:
                    count = int(info.get("count", 0))
                    reason = "sender" if m.offset is None else str(info.get("reason", "?"))
                    s.gaps += 1
                    s.gap_items += count
                    s.gap_reasons[reason] = s.gap_reasons.get(reason, 0) + count
            elif kind == P.SUBSCRIBED:
                info = loads(m.payload)
                if not info.get("waiting"):
                    s.tail = info["tail"]
                    self.subscribed.set()
            elif kind == P.ERROR:
                s.errors.append(m.value())


def kernel_pid(server_pid: int, kernel_id: str) -> int | None:
    """The process of kernel ``kernel_id`` among the descendants of the server (Linux)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    todo = list(children.get(server_pid, []))
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if kernel_id.encode() in cmdline:
            return pid
        todo.extend(children.get(pid, []))
    return None


class _Viewers:
    """The reading viewers' slots, each a loop of sessions on its own seeded schedule."""

    def __init__(self, server: JupyterServer, kernel_id: str, cfg: SoakConfig) -> None:
        self.server = server
        self.kernel_id = kernel_id
        self.cfg = cfg
        self.ended: list[Session] = []
        self.live: dict[int, tuple[Session, SoakViewer]] = {}
        self.stopping = asyncio.Event()
        self._numbers = 0
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for slot in range(self.cfg.viewers):
            rng = random.Random(self.cfg.seed * 1_000_003 + slot)
            self._tasks.append(asyncio.ensure_future(self._slot(slot, rng)))

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)

    async def _slot(self, slot: int, rng: random.Random) -> None:
        cfg = self.cfg
        # the first viewers join over the first few seconds rather than all at once
        await self._pause(rng.uniform(*cfg.away))
        while not self.stopping.is_set():
            stay = rng.uniform(*cfg.stay)
            away = rng.uniform(*cfg.away)
            self._numbers += 1
            session = Session(slot, self._numbers, time.monotonic())
            rx: SoakViewer | None = None
            try:
                conn = await SoakViewer.connect(self.server)
                assert isinstance(conn, SoakViewer)
                rx = conn
                rx.session = session
                self.live[slot] = (session, rx)
                await rx.subscribe(self.kernel_id, CHANNEL, None)
                await asyncio.wait_for(rx.subscribed.wait(), 30)
                await self._pause(stay)
            except (OSError, asyncio.TimeoutError) as exc:
                session.errors.append(f"{type(exc).__name__}: {exc}")
            finally:
                self._end(slot, session, rx)
            await self._pause(away)

    def _end(self, slot: int, session: Session, rx: SoakViewer | None) -> None:
        if session.ended is None:
            session.ended = time.monotonic()
            self.ended.append(session)
        self.live.pop(slot, None)
        if rx is not None:
            rx.close()

    async def stop(self) -> None:
        """End every session now and stop the slots."""
        self.stopping.set()
        for slot, (session, rx) in list(self.live.items()):
            self._end(slot, session, rx)
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError):
                await asyncio.wait_for(task, 10)

    def delivered(self) -> int:
        """Items received by every session so far."""
        return sum(s.received for s in self.ended) + sum(s.received for s, _ in self.live.values())

    def lost(self) -> int:
        """Items lost silently so far, in every session."""
        return sum(s.lost for s in self.ended) + sum(s.lost for s, _ in self.live.values())


async def _hub_view(server: JupyterServer) -> dict[str, Any]:
    """The soak channel's numbers and the stalled viewer's connection, from the JSON API."""
    info = await asyncio.to_thread(server.channels)
    ch: dict[str, Any] = next((c for c in info["channels"] if c["name"] == CHANNEL), {})
    # the stalled viewer is the one subscriber with two channels (see _Stalled)
    stalled = next(
        (p for p in info["peers"] if p["role"] == "subscriber" and p["channels"] == 2), None
    )
    queued = sum(p["queued_bytes"] for p in info["peers"] if p["role"] == "subscriber")
    return {
        "queued_mib": queued / _MiB,
        "head": ch.get("head", 0),
        "tail": ch.get("tail", 0),
        "history_items": ch.get("history_items", 0),
        "viewers": ch.get("viewers", 0),
        "stalled": stalled,
    }


class _Stalled:
    """The stalled viewer: subscribed, never reading; replaced if the server closes it.

    jupyter-server pings every WebSocket every 30 s and closes one that has not answered
    for 90 s. A client that never reads never sees the pings, so the server may close it;
    then a new stalled viewer subscribes, so that one is there all the time, and the report
    says how often and after how long that happened. Besides the stream it subscribes to a
    second (never opened) channel, which tells its connection apart in the JSON API.
    """

    def __init__(
        self,
        server: JupyterServer,
        kernel_id: str,
        out: Callable[[str], None],
        check: float = 5.0,
    ) -> None:
        self.server = server
        self.out = out
        self.kernel_id = kernel_id
        self.check = check
        self.rx: NbcReceiver | None = None
        self.since = 0.0
        #: Seconds each earlier stalled viewer lasted before the server closed it.
        self.closed_after: list[float] = []
        self.dropped_before = 0
        self.peer: dict[str, Any] = {}
        self.peak_queued = 0
        self.errors: list[str] = []
        self._task: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        rx = await NbcReceiver.connect(self.server, read=False)
        await rx.subscribe(self.kernel_id, CHANNEL, None)
        await rx.subscribe(self.kernel_id, f"{CHANNEL}-stalled", None)
        self.rx, self.since, self.peer = rx, time.monotonic(), {}
        for _ in range(200):
            if await self.update():
                return
            await asyncio.sleep(0.05)
        raise RuntimeError("the stalled viewer's subscriptions did not reach the hub")

    async def update(self, hub: dict[str, Any] | None = None) -> bool:
        """Read its queue and drops; False when the hub no longer has it."""
        hub = hub or await _hub_view(self.server)
        peer = hub["stalled"]
        if peer is None:
            return False
        self.peer = peer
        self.peak_queued = max(self.peak_queued, peer["peak_queued_bytes"])
        return True

    @property
    def dropped(self) -> int:
        """Items dropped for every stalled viewer so far."""
        return self.dropped_before + int(self.peer.get("dropped", 0))

    @property
    def queued_mib(self) -> float:
        return int(self.peer.get("queued_bytes", 0)) / _MiB

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._watch())

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.check)
            try:
                if self.rx is not None and await self.update():
                    continue
                if self.rx is not None:
                    age = time.monotonic() - self.since
                    self.closed_after.append(age)
                    self.dropped_before = self.dropped
                    self.rx.close()
                    self.rx = None
                    self.out(
                        f"  (the server closed the stalled viewer after {age:.0f} s: it answered"
                        " no ping; a new one subscribes)"
                    )
                await self.connect()
            except (OSError, RuntimeError, asyncio.TimeoutError) as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self.rx is not None:
            self.rx.close()
            self.rx = None


_HEADER = (
    f"{'elapsed':>8} {'server MiB':>10} {'kernel MiB':>10} {'queued MiB':>10} {'sent/s':>7} "
    f"{'delivered':>10} {'sessions':>8} {'kept up':>7} {'behind':>6} {'dropped':>8} "
    f"{'lost':>5} {'load':>5}"
)


def _line(row: dict[str, Any]) -> str:
    el = row["elapsed"]
    stamp = f"{int(el // 60)}:{el % 60:04.1f}" if row["phase"] == "soak" else "warm-up"
    return (
        f"{stamp:>8} {row['server_rss_mib']:>10.1f} {row['kernel_rss_mib']:>10.1f} "
        f"{row['queued_mib']:>10.1f} {row['sent_per_s']:>7,.0f} {row['delivered']:>10,} "
        f"{row['sessions']:>8} {row['kept_up']:>7} {row['behind']:>6} {row['dropped']:>8,} "
        f"{row['lost']:>5} {row['load']:>5.1f}"
    )


async def run_soak(cfg: SoakConfig, out: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the soak; print a line per interval and the summary with ``out``; return the report."""
    started = time.time()
    server = JupyterServer(extra_args=[NO_PINGS] if cfg.no_ws_pings else None)
    path: NbcPath | None = None
    stalled: _Stalled | None = None
    viewers: _Viewers | None = None
    kpid: int | None = None
    request: str | None = None
    samplers: list[RssSampler] = []
    try:
        await asyncio.to_thread(server.start)
        assert server.proc is not None
        spid = server.proc.pid
        path = await NbcPath.start(server)
        await path.ctl.execute(f"_nbc_open({CHANNEL!r})")
        await path.ctl.execute(SENDER)
        kpid = kernel_pid(spid, path.kernel_id)
        if kpid is None:
            raise RuntimeError("the kernel's process is not among the server's descendants")
        samplers = [RssSampler(spid, 1.0), RssSampler(kpid, 1.0)]  # one sample a second
        for sampler in samplers:
            sampler.start()

        stalled = _Stalled(server, path.kernel_id, out)
        await stalled.connect()
        stalled.start()
        safety = cfg.warmup_max + cfg.seconds + 120
        request = path.ctl.submit(f"_soak_stream({safety}, {cfg.rate}, {cfg.tick})")
        viewers = _Viewers(server, path.kernel_id, cfg)
        viewers.start()
        out(
            f"soak: {cfg.rate:,.0f} items/s ({cfg.rate * cfg.tick:g} appends every "
            f"{cfg.tick * 1000:g} ms) on one channel, {cfg.viewers} viewers coming and going "
            f"(seed {cfg.seed}) + 1 stalled, {cfg.minutes:g} min, a line every "
            f"{cfg.report_every:g} s; server pid {spid}, kernel pid {kpid}"
        )

        # warm-up: until the history is full and the stalled viewer's queue is at its bound
        t0 = time.monotonic()
        while True:
            hub = await _hub_view(server)
            await stalled.update(hub)
            warm_full = hub["tail"] > 0 and stalled.dropped > 0
            if warm_full or time.monotonic() - t0 >= cfg.warmup_max:
                break
            await asyncio.sleep(1.0)
        warmup = time.monotonic() - t0
        out(
            f"warm-up {warmup:.1f} s: history {hub['history_items']:,} items"
            f"{' (full)' if hub['tail'] > 0 else ''}, stalled viewer queue "
            f"{stalled.queued_mib:.1f} MiB{', at its bound' if stalled.dropped else ''}"
            + ("" if warm_full else f" (not settled within {cfg.warmup_max:g} s)")
        )
        out(_HEADER)

        rows: list[dict[str, Any]] = []
        marks = [len(sampler.samples) for sampler in samplers]
        t_start = last_t = time.monotonic()
        last_head, last_delivered, n_ended, last_lost = hub["head"], viewers.delivered(), 0, 0
        # sessions that ended in the warm-up are counted in the totals, not in the lines
        n_ended = len(viewers.ended)
        k = 0
        while True:
            k += 1
            boundary = t_start + min(k * cfg.report_every, cfg.seconds)
            await asyncio.sleep(max(0.0, boundary - time.monotonic()))
            now = time.monotonic()
            hub = await _hub_view(server)
            await stalled.update(hub)
            delivered, lost = viewers.delivered(), viewers.lost()
            new = viewers.ended[n_ended:]
            n_ended = len(viewers.ended)
            row = {
                "phase": "soak",
                "elapsed": now - t_start,
                # the median of the interval's samples: one instant may catch a
                # transient (a burst of replay, a viewer's queue filling)
                "server_rss_mib": _median_mib(samplers[0], marks[0]),
                "kernel_rss_mib": _median_mib(samplers[1], marks[1]),
                "server_rss_end_mib": rss_bytes(spid) / _MiB,
                "kernel_rss_end_mib": rss_bytes(kpid) / _MiB,
                "sent_per_s": (hub["head"] - last_head) / max(1e-9, now - last_t),
                "delivered": delivered - last_delivered,
                "sessions": len(new),
                "kept_up": sum(1 for s in new if s.kept_up and s.ok),
                "behind": sum(1 for s in new if not s.kept_up),
                "dropped": sum(s.gap_items for s in new),
                "lost": lost - last_lost,
                "queued_mib": hub["queued_mib"],
                "load": os.getloadavg()[0],
                "stalled_queued_mib": stalled.queued_mib,
                "stalled_closed": len(stalled.closed_after),
                "viewers_connected": hub["viewers"],
            }
            marks = [len(sampler.samples) for sampler in samplers]
            rows.append(row)
            out(_line(row))
            last_t, last_head, last_delivered, last_lost = now, hub["head"], delivered, lost
            if now - t_start >= cfg.seconds - 1e-6:
                break

        await viewers.stop()
        stopper = await NbcReceiver.connect(server)
        await stopper.send(
            Message.create(P.EVENT, CHANNEL, {}, scope=path.kernel_id, key=STOP_EVENT)
        )
        try:
            await path.ctl.join(request, timeout=30)
        except asyncio.TimeoutError:
            await asyncio.to_thread(server.api, "POST", f"api/kernels/{path.kernel_id}/interrupt")
            with contextlib.suppress(Exception):
                await path.ctl.join(request, timeout=30)
        request = None
        stopper.close()
        sent = int(await path.ctl.eval("_soak_sent[0]"))
        await stalled.update()
        for sampler in samplers:
            await sampler.stop()
        return _report(cfg, rows, viewers, stalled, sent, samplers, warmup, warm_full, started)
    finally:
        if viewers is not None:
            await viewers.stop()
        for sampler in samplers:
            await sampler.stop()
        if stalled is not None:
            await stalled.close()
        if path is not None:
            if request is not None:  # stopped early: interrupt the sender first
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(
                        server.api, "POST", f"api/kernels/{path.kernel_id}/interrupt"
                    )
            with contextlib.suppress(Exception):
                await path.close()
        await asyncio.to_thread(server.stop)
        if kpid is not None and rss_bytes(kpid):  # the kernel outlived its server: end it
            with contextlib.suppress(OSError):
                os.kill(kpid, signal.SIGKILL)
        await asyncio.to_thread(server.cleanup)


def _median_mib(sampler: RssSampler, since: int) -> float:
    samples = sampler.samples[since:] or sampler.samples[-1:]
    return statistics.median(samples) / _MiB if samples else 0.0


def _change(first: float, last: float) -> float:
    return (last - first) / first * 100 if first else float("nan")


def _report(
    cfg: SoakConfig,
    rows: list[dict[str, Any]],
    viewers: _Viewers,
    stalled: _Stalled,
    sent: int,
    samplers: list[RssSampler],
    warmup: float,
    warm_full: bool,
    started: float,
) -> dict[str, Any]:
    sessions = viewers.ended
    kept = [s for s in sessions if s.kept_up]
    first, last = rows[0], rows[-1]
    memory = {}
    for who, sampler in zip(("server", "kernel"), samplers, strict=True):
        a, b = first[f"{who}_rss_mib"], last[f"{who}_rss_mib"]
        memory[who] = {
            "first_mib": a,
            "last_mib": b,
            "change_pct": _change(a, b),
            "peak_mib": sampler.peak / _MiB,
        }
    memory["subscriber_queues"] = {
        "first_mib": first["queued_mib"],
        "last_mib": last["queued_mib"],
    }
    flat = all(abs(memory[w]["change_pct"]) <= cfg.tolerance for w in ("server", "kernel"))
    kept_lost = sum(s.missing for s in kept)
    lost = sum(s.lost for s in sessions)
    backwards = sum(s.backwards for s in sessions)
    errors = [e for s in sessions for e in s.errors]
    delivered = sum(s.received for s in sessions)
    reasons: dict[str, int] = {}
    for sess in sessions:
        for reason, n in sess.gap_reasons.items():
            reasons[reason] = reasons.get(reason, 0) + n
    no_loss = lost == 0 and kept_lost == 0 and backwards == 0 and not errors and delivered > 0
    summary = {
        "memory": memory,
        "flat": flat,
        "sent": sent,
        "sent_per_s": sum(r["sent_per_s"] for r in rows) / len(rows),
        "delivered": delivered,
        "sessions": len(sessions),
        "sessions_kept_up": len(kept),
        "sessions_behind": len(sessions) - len(kept),
        "kept_up_lost": kept_lost,
        "dropped_with_gap_marker": sum(s.gap_items for s in sessions),
        "dropped_by_reason": reasons,
        "lost_without_gap_marker": lost,
        "out_of_order_or_duplicate": backwards,
        "errors": errors[:20],
        "stalled_dropped": stalled.dropped,
        "stalled_peak_queued_mib": stalled.peak_queued / _MiB,
        "stalled_closed_by_server_after_s": stalled.closed_after,
        "stalled_errors": stalled.errors,
        "no_loss": no_loss,
        "passed": flat and no_loss,
    }
    return {
        "benchmark": "nbchannel soak: one stream, viewers coming and going, one stalled",
        "config": asdict(cfg),
        "report_every": cfg.report_every,
        "warmup_seconds": warmup,
        "warmup_settled": warm_full,
        "intervals": rows,
        "summary": summary,
        "sessions": [s.record() for s in sessions],
        "environment": {"cpus": os.cpu_count(), "load_average_after": os.getloadavg()},
        "started": started,
        "seconds": time.time() - started,
    }


def format_summary(report: dict[str, Any]) -> str:
    """The end-of-run summary as text."""
    s = report["summary"]
    cfg = report["config"]
    lines = ["", "summary"]
    for who in ("server", "kernel"):
        m = s["memory"][who]
        lines.append(
            f"  {who} RSS: {m['first_mib']:.1f} MiB (first interval) -> {m['last_mib']:.1f} MiB"
            f" (last), {m['change_pct']:+.1f} %, peak {m['peak_mib']:.1f} MiB"
        )
    q = s["memory"]["subscriber_queues"]
    lines.append(
        f"  viewers' queues in the server: {q['first_mib']:.1f} MiB (end of the first interval)"
        f" -> {q['last_mib']:.1f} MiB (end of the last); each is bounded"
    )
    tol = cfg["tolerance"]
    lines.append(f"  memory: {'flat within' if s['flat'] else 'NOT flat within'} {tol:g} %")
    lines.append(
        f"  stream: {s['sent']:,} items sent ({s['sent_per_s']:,.0f}/s), {s['delivered']:,}"
        f" delivered to {s['sessions']} viewer sessions"
    )
    why = ", ".join(f"{k} {v:,}" for k, v in sorted(s["dropped_by_reason"].items()))
    lines.append(
        f"  sessions: {s['sessions_kept_up']} kept up, {s['sessions_behind']} fell behind"
        f" ({s['dropped_with_gap_marker']:,} items dropped for them, each announced by a gap"
        f" marker{': ' + why if why else ''})"
    )
    lines.append(f"  lost by viewers that kept up: {s['kept_up_lost']} (must be 0)")
    lines.append(
        f"  lost without a gap marker: {s['lost_without_gap_marker']}, out of order or"
        f" duplicate: {s['out_of_order_or_duplicate']}, errors: {len(s['errors'])}"
    )
    closed = s["stalled_closed_by_server_after_s"]
    lines.append(
        f"  stalled viewer: {s['stalled_dropped']:,} items dropped, queue peak"
        f" {s['stalled_peak_queued_mib']:.1f} MiB"
        + (
            f"; the server closed it {len(closed)}× (no answer to its pings) after"
            f" {', '.join(f'{a:.0f}' for a in closed)} s, and a new one subscribed each time"
            if closed
            else ", connected the whole run"
        )
    )
    lines.append(f"  verdict: {'PASS' if s['passed'] else 'FAIL'}")
    return "\n".join(lines)


def _pair(text: str) -> tuple[float, float]:
    lo, _, hi = text.partition(",")
    a, b = float(lo), float(hi or lo)
    if a < 0 or b < a:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH seconds with 0 <= LOW <= HIGH: {text}")
    return a, b


def main(argv: list[str] | None = None) -> int:
    """Run the soak from the command line; exit code 0 when it passes."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.soak",
        description="A soak: one stream, viewers coming and going, a stalled one; memory and"
        " loss every minute.",
    )
    d = SoakConfig()
    parser.add_argument("--minutes", type=float, default=d.minutes, help="default %(default)g")
    parser.add_argument("--rate", type=float, default=d.rate, help="items/s (%(default)g)")
    parser.add_argument("--tick", type=float, default=d.tick, help="sender period, s (%(default)g)")
    parser.add_argument("--viewers", type=int, default=d.viewers, help="default %(default)d")
    parser.add_argument("--stay", type=_pair, default=d.stay, help="LOW,HIGH s (5,60)")
    parser.add_argument("--away", type=_pair, default=d.away, help="LOW,HIGH s (0,5)")
    parser.add_argument("--seed", type=int, default=d.seed, help="default %(default)d")
    parser.add_argument("--interval", type=float, help="seconds between lines")
    parser.add_argument("--warmup-max", type=float, default=d.warmup_max, help="seconds")
    parser.add_argument("--tolerance", type=float, default=d.tolerance, help="RSS change, %%")
    parser.add_argument(
        "--no-ws-pings",
        action="store_true",
        help="server WebSocket pings off: the stalled viewer is never closed by the server",
    )
    parser.add_argument("--json", metavar="PATH", help="write the report as JSON")
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.rate <= 0 or args.tick <= 0 or args.viewers < 1:
        parser.error("--minutes, --rate and --tick must be positive, --viewers at least 1")
    if args.interval is not None and args.interval <= 0:
        parser.error("--interval must be positive")
    cfg = SoakConfig(
        minutes=args.minutes,
        rate=args.rate,
        tick=args.tick,
        viewers=args.viewers,
        stay=args.stay,
        away=args.away,
        seed=args.seed,
        interval=args.interval,
        warmup_max=args.warmup_max,
        tolerance=args.tolerance,
        no_ws_pings=args.no_ws_pings,
    )
    report = asyncio.run(_main(cfg))
    print(format_summary(report), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
        print(f"saved {args.json}")
    return 0 if report["summary"]["passed"] else 1


async def _main(cfg: SoakConfig) -> dict[str, Any]:
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGTERM, task.cancel)  # clean up on SIGTERM too
    try:
        return await run_soak(cfg, lambda line: print(line, flush=True))
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGTERM)


if __name__ == "__main__":
    sys.exit(main())
