"""``HubClient`` against a real ``KernelListener`` and ``Hub`` served on a background loop."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest

from nbchannel.core import protocol as P
from nbchannel.core.address import (
    ENV_ADDRESS,
    ENV_HUB_FILE,
    ENV_KERNEL_ID,
    ENV_SECRET,
    HubAddress,
)
from nbchannel.core.hub import Hub
from nbchannel.core.message import Message, stream_values
from nbchannel.core.peer import Peer
from nbchannel.errors import ChannelError, FlowTimeout, NotPermitted
from nbchannel.kernel import dispatch
from nbchannel.kernel.channel import Event, LiveChannel
from nbchannel.kernel.client import IDLE_SWITCH_INTERVAL, HubClient, find_kernel_id
from nbchannel.kernel.transport import default_transport, set_default_transport
from nbchannel.server.listener import KernelListener

T = TypeVar("T")
PORT = 8899
KERNEL = "k1"


class HubThread:
    """A hub and its kernel listener, served by an event loop on a background thread.

    The hub is single-threaded: tests touch it only through :meth:`call`.
    """

    def __init__(self, runtime_dir: Path) -> None:
        self.runtime_dir = runtime_dir
        self.hub = Hub()
        self.listener: KernelListener | None = None
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="hub-loop")
        self._thread.start()

    def call(self, fn: Callable[[], T], timeout: float = 5.0) -> T:
        """``fn()`` run on the loop thread; its result."""

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)

    def start(self, hub: Hub | None = None) -> KernelListener:
        """Start a listener (a server (re)starting), on a new hub if given."""
        if hub is not None:
            self.hub = hub
        listener = KernelListener(
            self.hub, runtime_dir=str(self.runtime_dir), port=PORT, hello_timeout=2.0
        )
        asyncio.run_coroutine_threadsafe(listener.start(), self.loop).result(5)
        self.listener = listener
        return listener

    def stop(self) -> None:
        """Stop the listener (the server goes away); the hub object stays."""
        if self.listener is not None:
            asyncio.run_coroutine_threadsafe(self.listener.stop(), self.loop).result(5)
            self.listener = None

    def close(self) -> None:
        self.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()

    # -- hub access ----------------------------------------------------------------------

    def subscribe(self, name: str, scope: str = KERNEL) -> Peer:
        """A browser-like subscriber to ``(scope, name)``."""

        def run() -> Peer:
            peer = self.hub.connect_subscriber()
            self.hub.receive(peer, [Message.create(P.SUBSCRIBE, name, scope=scope)])
            return peer

        return self.call(run)

    def send_event(
        self,
        peer: Peer,
        name: str,
        event: str,
        value: Any = None,
        *,
        scope: str = KERNEL,
        delay: float = 0.0,
    ) -> None:
        """``peer`` sends an event, now or (without waiting for it) after ``delay``."""
        msgs = [Message.create(P.EVENT, name, value, scope=scope, key=event)]
        if delay:
            self.loop.call_soon_threadsafe(
                lambda: self.loop.call_later(delay, self.hub.receive, peer, msgs)
            )
        else:
            self.call(lambda: self.hub.receive(peer, msgs))

    def take(self, peer: Peer) -> list[Message]:
        """What the hub queued for ``peer`` so far."""

        def run() -> list[Message]:
            out: list[Message] = []
            while batch := peer.take():
                out.extend(batch)
            return out

        return self.call(run)

    def state(self, name: str, scope: str = KERNEL) -> dict[str, Any] | None:
        """The hub's retained state of a channel, decoded; None if it is not open."""

        def run() -> dict[str, Any] | None:
            ch = self.hub.channels.get((scope, name))
            if ch is None or not ch.is_open:
                return None
            return {k: m.value() for k, m in ch.state.items()}

        return self.call(run)

    def history(self, name: str, scope: str = KERNEL) -> list[Any]:
        return self.call(lambda: stream_values(self.hub.channels[(scope, name)].history))

    def epoch(self, name: str, scope: str = KERNEL) -> int | None:
        return self.call(lambda: ch.epoch if (ch := self.hub.channels.get((scope, name))) else None)

    def messages_in(self, name: str, scope: str = KERNEL) -> int:
        return self.call(lambda: self.hub.channels[(scope, name)].stats.messages_in)

    def tap(self) -> list[list[Message]]:
        """From now on, every batch of messages the hub receives (one per frame), in order."""
        frames: list[list[Message]] = []
        receive = self.hub.receive

        def recording(peer: Peer, msgs: Iterable[Message]) -> None:
            batch = list(msgs)
            frames.append(batch)
            receive(peer, batch)

        self.call(lambda: setattr(self.hub, "receive", recording))
        return frames


def wait_until(predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(0.01)


def collect(ht: HubThread, peer: Peer, kinds: Iterable[str], count: int) -> list[Message]:
    """Messages of ``kinds`` the subscriber receives, once there are ``count`` of them."""
    wanted = set(kinds)
    got: list[Message] = []

    def enough() -> bool:
        got.extend(m for m in ht.take(peer) if m.kind in wanted)
        return len(got) >= count

    wait_until(enough)
    return got


@pytest.fixture
def ht(runtime_dir: Path) -> Iterator[HubThread]:
    hub_thread = HubThread(runtime_dir)
    hub_thread.start()
    try:
        yield hub_thread
    finally:
        hub_thread.close()


@pytest.fixture
def client(ht: HubThread) -> Iterator[HubClient]:
    listener = ht.listener
    assert listener is not None and listener.address is not None
    c = HubClient(listener.address, listener.secret, KERNEL, hub_file=str(listener.hub_file))
    try:
        yield c
    finally:
        c.close()


# -- connecting and writing --------------------------------------------------------------


def test_channel_opens_and_writes_reach_the_hub(ht: HubThread, client: HubClient) -> None:
    ch = LiveChannel("sensor", transport=client)
    assert ch.wait_connected(5)
    assert ch.status == "connected"
    assert ch.epoch is not None and ch.epoch == ht.epoch("sensor")
    viewer = ht.subscribe("sensor")
    wait_until(lambda: ch.viewers == 1)

    ch.set("title", "Temperature")
    ch.append({"t": 1.0, "v": np.arange(3.0)})
    ch.publish("ping")
    ch.set("unit", "°C")
    ch.unset("unit")
    assert ch.flush(5) is True

    got = collect(ht, viewer, {P.SET, P.UNSET, P.APPEND, P.PUBLISH}, 4)
    if got[-1].kind != P.UNSET:  # "unit"'s set went out before its unset arrived
        got += collect(ht, viewer, {P.UNSET}, 1)
    # (otherwise the viewer's queue coalesced "unit"'s set and unset into the unset)
    assert [(m.kind, m.key) for m in got if m.key != "unit"] == [
        (P.SET, "title"),
        (P.APPEND, None),
        (P.PUBLISH, None),
    ]
    assert (got[-1].kind, got[-1].key) == (P.UNSET, "unit")
    item = got[1].value()
    assert item["t"] == 1.0
    np.testing.assert_array_equal(item["v"], np.arange(3.0))
    assert got[2].value() == "ping"
    assert ht.state("sensor") == {"title": "Temperature"}
    assert len(ht.history("sensor")) == 1
    stats = ch.stats
    assert (stats["sent"], stats["dropped"]) == (5, 0)
    assert stats["transport"]["status"] == "connected"
    assert stats["transport"]["sent_bytes"] > 0


def test_writes_made_before_the_connection_are_delivered(ht: HubThread, client: HubClient) -> None:
    ch = LiveChannel("early", transport=client)
    ch.set("title", "T")  # most likely queued before the I/O thread has connected
    ch.append(1)
    assert ch.flush(5)
    wait_until(lambda: ht.state("early") == {"title": "T"})
    wait_until(lambda: ht.history("early") == [1])


def test_server_scoped_channel_is_shared_by_name(ht: HubThread, client: HubClient) -> None:
    ch = LiveChannel("shared", scope="server", transport=client)
    assert ch.wait_connected(5)
    ch.set("k", 1)
    wait_until(lambda: ht.state("shared", scope=P.SERVER_SCOPE) == {"k": 1})
    viewer = ht.subscribe("shared", scope=P.SERVER_SCOPE)
    ht.send_event(viewer, "shared", "click", 5, scope=P.SERVER_SCOPE, delay=0.1)
    assert ch.wait("click", timeout=5).value == 5


def test_events_reach_handlers_on_the_event_thread_and_wait(
    ht: HubThread, client: HubClient
) -> None:
    ch = LiveChannel("controls", transport=client)
    assert ch.wait_connected(5)
    viewer = ht.subscribe("controls")
    seen: list[tuple[str, Any]] = []
    handled = threading.Event()

    @ch.on("click")
    def clicked(ev: Event) -> None:
        seen.append((threading.current_thread().name, ev.value))
        handled.set()

    ht.send_event(viewer, "controls", "click", {"x": 3}, delay=0.1)
    ev = ch.wait("click", timeout=5)  # the "cell" blocks here; the event still arrives
    assert (ev.name, ev.value, ev.channel) == ("click", {"x": 3}, "controls")
    assert handled.wait(5)
    assert seen == [("nbchannel-events", {"x": 3})]
    assert ch.stats["events"] == 1


def test_event_with_binary_payload_arrives_as_an_array(ht: HubThread, client: HubClient) -> None:
    ch = LiveChannel("frames", transport=client)
    assert ch.wait_connected(5)
    viewer = ht.subscribe("frames")
    got: list[Event] = []
    ch.on("pointer", got.append)
    ht.send_event(viewer, "frames", "pointer", {"xy": np.array([3, 4], dtype=np.int32)})
    wait_until(lambda: got)
    np.testing.assert_array_equal(got[0].value["xy"], np.array([3, 4], dtype=np.int32))


def test_close_reaches_the_hub(ht: HubThread, client: HubClient) -> None:
    ch = LiveChannel("tmp", transport=client)
    assert ch.wait_connected(5)
    viewer = ht.subscribe("tmp")
    ch.close()
    assert collect(ht, viewer, {P.CLOSED}, 1)[0].channel == "tmp"
    assert ht.state("tmp") is None
    with pytest.raises(ChannelError, match="closed"):
        ch.publish(1)


def test_new_channel_of_the_same_name_replaces_the_old(ht: HubThread, client: HubClient) -> None:
    old = LiveChannel("plot", transport=client)
    assert old.wait_connected(5)
    old.set("title", "old")
    assert old.flush(5)
    wait_until(lambda: ht.state("plot") == {"title": "old"})

    new = LiveChannel("plot", transport=client)  # the cell was run again
    with pytest.raises(ChannelError, match="replaced"):
        old.append(1)
    wait_until(lambda: new.connected and new.epoch != old.epoch)
    assert new.epoch == ht.epoch("plot")
    assert ht.state("plot") == {}  # a fresh start, not the old run's state
    new.append("fresh")
    assert new.flush(5)
    wait_until(lambda: ht.history("plot") == ["fresh"])


def test_writes_queued_by_a_replaced_channel_do_not_leak_into_the_new_one(
    ht: HubThread, client: HubClient
) -> None:
    old = LiveChannel("plot", transport=client)
    assert old.wait_connected(5)
    ht.stop()
    wait_until(lambda: not old.connected)
    for i in range(3):
        old.append(i)  # queued: the server is away
    new = LiveChannel("plot", transport=client)  # the cell was run again
    new.append("fresh")
    ht.start()
    assert new.wait_connected(5)
    assert new.flush(5)
    time.sleep(0.1)
    assert ht.history("plot") == ["fresh"]


def test_flush_is_false_while_the_hub_is_unreachable(runtime_dir: Path) -> None:
    address = HubAddress("unix", path=str(runtime_dir / "nobody.sock"))
    client = HubClient(address, "0" * 64, KERNEL)
    try:
        ch = LiveChannel("x", transport=client)
        ch.publish(1)
        start = time.monotonic()
        assert ch.flush(0.2) is False
        assert 0.15 <= time.monotonic() - start < 2
        wait_until(lambda: ch.status == "reconnecting")
        assert "cannot reach the nbchannel hub" in client.last_error
        assert ch.wait_connected(0.05) is False
    finally:
        client.close()


def test_wrong_secret_is_reported_and_never_connects(ht: HubThread) -> None:
    listener = ht.listener
    assert listener is not None and listener.address is not None
    client = HubClient(listener.address, "0" * 64, KERNEL)
    try:
        ch = LiveChannel("x", transport=client)
        wait_until(lambda: "refused this kernel: wrong or missing secret" in client.last_error)
        assert ch.wait_connected(0.1) is False
        assert ch.status in ("connecting", "reconnecting")
        assert listener.refused >= 1
        assert ht.call(lambda: ht.hub.channels) == {}
    finally:
        client.close()


# -- interpreter exit --------------------------------------------------------------------

_SCRIPT = """
import sys
from nbchannel import LiveChannel
from nbchannel.core.address import HubAddress
from nbchannel.kernel.client import HubClient

client = HubClient(HubAddress.parse(sys.argv[1]), sys.argv[2], "k-exit")
ch = LiveChannel("run", transport=client, history=100_000)
for i in range(20_000):
    ch.append(i)
"""


def test_a_script_that_appends_and_ends_delivers_everything(ht: HubThread) -> None:
    listener = ht.listener
    assert listener is not None and listener.address is not None
    args = [sys.executable, "-c", _SCRIPT, str(listener.address), listener.secret]
    subprocess.run(args, check=True, timeout=60)
    # the script neither flushed nor closed: its exit waited for the hub to take it all
    channel = ht.call(lambda: ht.hub.channels["k-exit", "run"])
    assert ht.call(lambda: channel.head) == 20_000
    assert stream_values(channel.history)[-3:] == [19_997, 19_998, 19_999]


def test_exit_does_not_wait_for_an_unreachable_hub(runtime_dir: Path) -> None:
    nowhere = str(HubAddress("unix", path=str(runtime_dir / "nobody.sock")))
    start = time.monotonic()
    subprocess.run([sys.executable, "-c", _SCRIPT, nowhere, "0" * 64], check=True, timeout=60)
    assert time.monotonic() - start < 4  # well under the 5 s it would wait for a hub


# -- reconnecting ------------------------------------------------------------------------


def test_a_hub_that_drops_every_connection_at_once_is_not_hammered(runtime_dir: Path) -> None:
    path = str(runtime_dir / "drops.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(64)
    server.settimeout(0.05)
    accepted: list[float] = []
    stop = threading.Event()

    def accept_and_drop() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            accepted.append(time.monotonic())
            conn.close()

    thread = threading.Thread(target=accept_and_drop, daemon=True)
    thread.start()
    client = HubClient(HubAddress("unix", path=path), "0" * 64, KERNEL)
    try:
        LiveChannel("x", transport=client)
        time.sleep(3)
        # the wait doubles from 50 ms after each connection that did not last: about 7
        # attempts in 3 s, not one every 50 ms (60)
        assert 3 <= len(accepted) <= 10, len(accepted)
        assert accepted[-1] - accepted[-2] > 0.4
        assert client.status == "reconnecting"
    finally:
        client.close()
        stop.set()
        thread.join()
        server.close()


def test_reconnects_to_a_restarted_server_and_restores_state(
    ht: HubThread, client: HubClient
) -> None:
    ch = LiveChannel("sensor", transport=client)
    assert ch.wait_connected(5)
    ch.set("title", "Temperature")
    ch.append(1)
    assert ch.flush(5)
    wait_until(lambda: ht.state("sensor") == {"title": "Temperature"})
    old_epoch = ch.epoch

    ht.stop()  # the Jupyter server goes away …
    wait_until(lambda: not ch.connected)
    assert ch.status == "reconnecting"
    ch.set("unit", "°C")  # written while it is away
    ht.start(Hub())  # … and a new one starts on the same port: same hub file and socket path

    assert ch.wait_connected(5)
    wait_until(lambda: ht.state("sensor") == {"title": "Temperature", "unit": "°C"})
    assert ch.epoch == ht.epoch("sensor") != old_epoch
    assert ht.history("sensor") == []  # the stream was not retained by the new server
    assert client.reconnects >= 1
    assert ch.status == "connected"
    ch.append(2)
    assert ch.flush(5)
    wait_until(lambda: ht.history("sensor") == [2])


def test_reconnect_to_the_same_hub_resumes_the_channel(ht: HubThread, client: HubClient) -> None:
    ch = LiveChannel("log", transport=client)
    assert ch.wait_connected(5)
    ch.append("a")
    assert ch.flush(5)
    wait_until(lambda: ht.history("log") == ["a"])
    epoch = ch.epoch

    ht.stop()  # the connection breaks, the hub lives on
    wait_until(lambda: not ch.connected)
    ht.start()
    assert ch.wait_connected(5)
    assert ch.epoch == epoch  # resumed, not restarted
    ch.append("b")
    assert ch.flush(5)
    wait_until(lambda: ht.history("log") == ["a", "b"])


def test_full_queue_drops_stream_items_and_viewers_hear_of_it(
    ht: HubThread, runtime_dir: Path
) -> None:
    listener = ht.listener
    assert listener is not None and listener.address is not None
    viewer = ht.subscribe("stream")
    ht.stop()
    client = HubClient(
        listener.address,
        listener.secret,
        KERNEL,
        hub_file=str(listener.hub_file),
        queue_bytes=2000,
    )
    try:
        ch = LiveChannel("stream", transport=client)
        for i in range(200):
            # never blocks, even with nowhere to send (200 × ~45 bytes: over the bound
            # even packed into segments)
            ch.append({"i": i, "pad": "x" * 30})
        ch.set("last", 199)
        dropped = ch.stats["dropped"]
        assert 0 < dropped < 200
        assert ch.stats["sent"] == 201 - dropped
        ht.start()
        assert ch.wait_connected(5)
        gaps: list[Message] = []

        def told_of_all() -> bool:
            gaps.extend(m for m in ht.take(viewer) if m.kind == P.GAP)
            return sum(g.value()["count"] for g in gaps) >= dropped

        wait_until(told_of_all)  # in one marker or a few, each where the items went missing
        assert sum(g.value()["count"] for g in gaps) == dropped
        assert all(g.value()["reason"] == "dropped" for g in gaps)
        wait_until(lambda: ht.state("stream") == {"last": 199})
        assert len(ht.history("stream")) == 200 - dropped
    finally:
        client.close()


# -- batching ----------------------------------------------------------------------------


def test_many_small_writes_travel_in_few_frames(ht: HubThread, client: HubClient) -> None:
    received = ht.tap()
    ch = LiveChannel("fast", transport=client)
    assert ch.wait_connected(5)
    for i in range(10_000):
        ch.publish({"i": i})
    assert ch.flush(10)
    wait_until(lambda: ht.messages_in("fast") == 10_000)
    assert ch.stats["dropped"] == 0
    frames = [n for f in received if (n := sum(m.kind == P.PUBLISH for m in f))]
    assert sum(frames) == 10_000
    assert len(frames) <= 500, f"10,000 messages took {len(frames)} frames"


def test_a_loop_of_appends_travels_as_segments_in_order_around_a_set(
    ht: HubThread, client: HubClient
) -> None:
    received = ht.tap()
    ch = LiveChannel("loss", transport=client)
    assert ch.wait_connected(5)
    for step in range(20_000):
        ch.append({"step": step})
        if step == 10_000:
            ch.set("half", True)  # goes after the items written before it, before the rest
    assert ch.flush(10)
    entries = [m for f in received for m in f if m.channel == "loss"]
    appends = [m for m in entries if m.kind == P.APPEND]
    assert sum(m.count for m in appends) == 20_000
    assert len(appends) <= 1_000, f"20,000 items took {len(appends)} messages"
    kinds = [m.kind for m in entries if m.kind != P.OPEN]
    before_set = stream_values(appends[: kinds.index(P.SET)])
    assert before_set == [{"step": s} for s in range(10_001)]
    assert stream_values(appends) == [{"step": s} for s in range(20_000)]
    assert ht.history("loss")[-1] == {"step": 19_999}
    assert ch.stats["sent"] == 20_001 and ch.stats["dropped"] == 0


def test_writes_to_different_channels_keep_the_order_they_were_made(
    ht: HubThread, client: HubClient
) -> None:
    received = ht.tap()
    data = LiveChannel("data", transport=client)
    status = LiveChannel("status", transport=client)
    assert data.wait_connected(5) and status.wait_connected(5)
    for round_ in range(50):
        data.append(round_)
        status.publish(round_)  # the page hears of the round only after its item
    assert status.flush(5)
    order = [(m.kind, m.channel) for f in received for m in f if m.kind in (P.APPEND, P.PUBLISH)]
    assert order == [(P.APPEND, "data"), (P.PUBLISH, "status")] * 50


def test_a_lone_append_leaves_at_once(ht: HubThread, client: HubClient) -> None:
    ch = LiveChannel("rare", transport=client)
    assert ch.wait_connected(5)
    for i in range(3):
        time.sleep(0.05)  # the I/O thread is asleep: the append wakes it
        ch.append(i)
        wait_until(lambda i=i: ht.history("rare") == list(range(i + 1)), timeout=1.0)


@pytest.mark.parametrize("in_kernel", [True, False], ids=["kernel", "plain-script"])
def test_the_switch_interval_is_lowered_while_the_io_thread_sleeps_and_put_back_after(
    ht: HubThread, kernel_interval: float, in_kernel: bool
) -> None:
    # a plain script never had its interval managed: hand-offs leave it alone there
    dispatch.allow_handoffs(in_kernel)
    listener = ht.listener
    assert listener is not None and listener.address is not None
    c = HubClient(listener.address, listener.secret, KERNEL, hub_file=str(listener.hub_file))
    try:
        ch = LiveChannel("idle", transport=c)
        assert ch.wait_connected(5)
        # nothing to send: an event arriving while a cell computes is read within this
        wait_until(lambda: c.sleeping)
        lowered = IDLE_SWITCH_INTERVAL if in_kernel else kernel_interval
        assert sys.getswitchinterval() == pytest.approx(lowered)
        c.close()
        wait_until(lambda: sys.getswitchinterval() == pytest.approx(kernel_interval))
    finally:
        c.close()


def test_a_burst_queued_while_away_arrives_whole(ht: HubThread, client: HubClient) -> None:
    ch = LiveChannel("burst", transport=client)
    assert ch.wait_connected(5)
    ht.stop()
    wait_until(lambda: not ch.connected)
    for i in range(30_000):
        ch.publish(i)
    ht.start()
    assert ch.wait_connected(5)
    assert ch.flush(10)
    wait_until(lambda: ht.messages_in("burst") == 30_000, timeout=1.5)


# -- finding the hub and the kernel id ---------------------------------------------------


def test_default_transport_connects_from_the_environment(
    ht: HubThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    listener = ht.listener
    assert listener is not None
    monkeypatch.setenv(ENV_ADDRESS, str(listener.address))
    monkeypatch.setenv(ENV_SECRET, listener.secret)
    monkeypatch.setenv(ENV_HUB_FILE, str(listener.hub_file))
    monkeypatch.setenv(ENV_KERNEL_ID, "kernel-from-env")
    previous = set_default_transport(None)
    transport = None
    try:
        transport = default_transport()
        assert isinstance(transport, HubClient)
        ch = LiveChannel("x")
        assert ch.wait_connected(5)
        wait_until(lambda: ht.state("x", scope="kernel-from-env") == {})
    finally:
        set_default_transport(previous)
        if isinstance(transport, HubClient):
            transport.close()


def test_kernel_id_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_KERNEL_ID, "abc-123")
    monkeypatch.setattr(sys, "argv", ["x", "-f", "/tmp/kernel-other.json"])
    assert find_kernel_id() == "abc-123"


@pytest.mark.parametrize(
    "argv",
    [
        ["ipykernel_launcher", "-f", "/run/jupyter/kernel-1f2e3d4c-aaaa-bbbb.json"],
        ["ipykernel_launcher", "--f=/run/jupyter/kernel-1f2e3d4c-aaaa-bbbb.json"],
    ],
)
def test_kernel_id_from_the_connection_file_argument(
    monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    monkeypatch.delenv(ENV_KERNEL_ID, raising=False)
    monkeypatch.setattr(sys, "argv", argv)
    assert find_kernel_id() == "1f2e3d4c-aaaa-bbbb"


def test_kernel_id_falls_back_to_the_pid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_KERNEL_ID, raising=False)
    monkeypatch.setattr(sys, "argv", ["python", "-f", "/tmp/connection.json"])
    assert find_kernel_id() == f"pid-{os.getpid()}"


# -- slow handlers -----------------------------------------------------------------------


def blocking(seen: list[Any], release: threading.Event) -> Callable[[Event], None]:
    """A handler that records each event's value, then waits until ``release`` is set."""

    def handler(ev: Event) -> None:
        seen.append(ev.value)
        release.wait(10)

    return handler


def send_events(ht: HubThread, peer: Peer, name: str, event: str, values: Iterable[Any]) -> None:
    """``peer`` sends one event per value, all in one frame."""
    msgs = [Message.create(P.EVENT, name, v, scope=KERNEL, key=event) for v in values]
    ht.call(lambda: ht.hub.receive(peer, msgs))


def test_a_slow_handler_holds_up_neither_other_channels_nor_wait(
    ht: HubThread, client: HubClient
) -> None:
    slow = LiveChannel("slow", transport=client)
    other = LiveChannel("other", transport=client)
    assert slow.wait_connected(5) and other.wait_connected(5)
    viewer = ht.subscribe("slow")
    started, release = threading.Event(), threading.Event()
    seen: list[Any] = []

    @slow.on("click")
    def handler(ev: Event) -> None:
        seen.append(ev.value)
        started.set()
        release.wait(10)

    try:
        send_events(ht, viewer, "slow", "click", [1])
        assert started.wait(5)
        # the handler is stuck: the other channel's writes still go out at once …
        for i in range(100):
            other.append(i)
        assert other.flush(5)
        assert ht.history("other") == list(range(100))
        # … and wait() still sees the next event
        ht.send_event(viewer, "slow", "click", 2, delay=0.1)
        assert slow.wait("click", timeout=5).value == 2
        assert seen == [1]
    finally:
        release.set()
    wait_until(lambda: seen == [1, 2])


def test_events_beyond_the_handler_queue_are_dropped_and_viewers_are_told(
    ht: HubThread, runtime_dir: Path
) -> None:
    listener = ht.listener
    assert listener is not None and listener.address is not None
    client = HubClient(listener.address, listener.secret, KERNEL, event_queue=5)
    release = threading.Event()
    seen: list[int] = []
    try:
        ch = LiveChannel("flood", transport=client)
        assert ch.wait_connected(5)
        viewer = ht.subscribe("flood")
        ch.on("click", blocking(seen, release))
        send_events(ht, viewer, "flood", "click", [0])
        wait_until(lambda: seen == [0])  # the handler is busy with the first event
        send_events(ht, viewer, "flood", "click", range(1, 30))
        wait_until(lambda: ch.stats["events"] == 30)
        # one event running, five waiting: the rest are dropped and counted
        assert ch.stats["events_dropped"] == 24
        assert client.event_queue.peak == 5

        errors: list[dict[str, Any]] = []

        def told_all() -> bool:
            errors.extend(m.value() for m in ht.take(viewer) if m.kind == P.ERROR)
            return sum(int(e["message"].split(": ")[1].split()[0]) for e in errors) >= 24

        wait_until(told_all, timeout=3)
        # the first drop is told at once, the rest coalesced into one notice per 0.5 s
        assert 1 <= len(errors) <= 3
        assert all(e["code"] == "limit-exceeded" for e in errors)
        assert errors[0]["message"].startswith(
            "the kernel is not keeping up with events on channel 'flood': 1 event dropped"
        )
        assert "its handler is slower than events arrive; at most 5 events" in errors[0]["message"]
        assert "not keeping up" in ch.last_error
        release.set()
        wait_until(lambda: seen == [0, 1, 2, 3, 4, 5])
        time.sleep(0.1)
        assert seen == [0, 1, 2, 3, 4, 5]
    finally:
        release.set()
        client.close()


# -- what the hub had not confirmed when the connection broke -----------------------------


def swallow_frames(ht: HubThread) -> None:
    """The hub stops processing what the kernel sends, as a server about to die would
    leave the last frames unread in its socket."""
    ht.call(lambda: setattr(ht.hub, "receive", lambda peer, msgs: None))


def test_writes_a_dead_hub_never_processed_are_resent_to_the_new_one(
    ht: HubThread, client: HubClient
) -> None:
    ch = LiveChannel("stream", transport=client)
    assert ch.wait_connected(5)
    for i in range(5):
        ch.append(i)
    assert ch.flush(5)
    assert ht.history("stream") == [0, 1, 2, 3, 4]

    swallow_frames(ht)
    for i in range(5, 10):
        ch.append(i)
    assert ch.flush(0.5) is False  # written, but never confirmed
    ht.stop()  # the server dies …
    wait_until(lambda: not ch.connected)
    ch.append(10)  # written while it is away
    ch.append(11)
    ht.start(Hub())  # … and a new one starts

    assert ch.wait_connected(5)
    assert ch.flush(5)
    # what the dead hub never processed comes first, in order, then what came after
    assert ht.history("stream") == list(range(5, 12))
    assert client.resent == 5
    assert (ch.stats["dropped"], client.lost_in_flight) == (0, 0)


def test_writes_a_surviving_hub_may_have_missed_are_reported_as_a_gap(
    ht: HubThread, client: HubClient
) -> None:
    ch = LiveChannel("stream", transport=client)
    assert ch.wait_connected(5)
    viewer = ht.subscribe("stream")
    ch.append(0)
    assert ch.flush(5)

    swallow_frames(ht)
    for i in range(1, 4):
        ch.append(i)
    assert ch.flush(0.5) is False
    ht.stop()  # the connection breaks, the hub lives on (it may have processed some)
    ht.call(lambda: delattr(ht.hub, "receive"))
    wait_until(lambda: not ch.connected)
    ht.start()
    assert ch.wait_connected(5)
    ch.append(4)
    assert ch.flush(5)

    got = collect(ht, viewer, {P.APPEND, P.GAP}, 3)
    assert stream_values(m for m in got if m.kind == P.APPEND) == [0, 4]
    [gap] = [m.value() for m in got if m.kind == P.GAP]
    assert gap == {"kind": "append", "count": 3, "reason": "dropped"}
    assert ch.stats["dropped"] == 3
    assert client.lost_in_flight == 3 and ch.stats["transport"]["dropped"] == 3
    assert client.resent == 0


def test_a_hub_that_does_not_acknowledge_is_written_to_without(
    ht: HubThread, client: HubClient
) -> None:
    receive = ht.hub.receive

    def old_hub(peer: Peer, msgs: Iterable[Message]) -> None:
        for m in msgs:
            if m.kind == P.MARK:  # what a hub from before acknowledgements answers
                ht.hub.send_error(peer, NotPermitted("a kernel cannot send 'mark' messages"), m)
            else:
                receive(peer, [m])

    ht.call(lambda: setattr(ht.hub, "receive", old_hub))
    ch = LiveChannel("stream", transport=client)
    assert ch.wait_connected(5)
    for i in range(1000):
        ch.append(i)
    assert ch.flush(5)
    wait_until(lambda: ht.history("stream") == list(range(1000)))
    assert ch.flush(0.2)  # nothing waits for an acknowledgement that never comes


# -- flow control ------------------------------------------------------------------------


def consume(
    ht: HubThread, peer: Peer, name: str, got: list[Message], stop: threading.Event
) -> None:
    """A viewer that reads what the hub queued for it and says what it consumed."""
    while not stop.is_set():
        msgs = [m for m in ht.take(peer) if m.kind in (P.APPEND, P.GAP)]
        got.extend(msgs)
        offsets = [m.offset for m in msgs if m.kind == P.APPEND and m.offset is not None]
        if offsets:
            done = [Message(P.CONSUMED, name, scope=KERNEL, offset=max(offsets) + 1)]
            ht.call(lambda done=done: ht.hub.receive(peer, done))
        time.sleep(0.002)


def test_block_flow_loses_nothing_and_keeps_the_viewer_within_the_window(
    ht: HubThread, client: HubClient
) -> None:
    viewer = ht.subscribe("frames")
    got: list[Message] = []
    stop = threading.Event()
    reader = threading.Thread(target=consume, args=(ht, viewer, "frames", got, stop))
    reader.start()
    try:
        ch = LiveChannel("frames", flow="block", window=8, transport=client)
        assert ch.wait_connected(5)
        frame = np.zeros(256 * 1024, dtype=np.uint8)  # 256 KiB, 8 MiB in all
        peak = 0
        for i in range(32):
            frame[0] = i
            ch.append(frame)  # a tight loop: far faster than the viewer reads
            peak = max(peak, ht.call(lambda: viewer.outbox.bytes))
        assert ch.flush(10)
        wait_until(lambda: len(got) >= 32, timeout=10)
    finally:
        stop.set()
        reader.join(5)
    assert [m.kind for m in got] == [P.APPEND] * 32  # no gap: nothing dropped
    assert [m.offset for m in got] == list(range(32))
    assert [int(m.value()[0]) for m in got] == list(range(32))
    assert ch.stats["dropped"] == 0
    # the viewer never had more than the window queued (8 frames of 256 KiB, and headers)
    assert peak <= 8 * (256 * 1024 + 1024)


def test_block_flow_times_out_with_a_clear_error_when_the_viewer_stalls(
    ht: HubThread, client: HubClient
) -> None:
    viewer = ht.subscribe("stalled")  # subscribed, never consumes
    ch = LiveChannel("stalled", flow="block", window=4, block_timeout=0.5, transport=client)
    assert ch.wait_connected(5)
    for i in range(4):
        ch.append(i)
    started = time.monotonic()
    with pytest.raises(FlowTimeout) as info:
        ch.append(4)
    assert 0.4 < time.monotonic() - started < 3
    text = str(info.value)
    assert "'stalled'" in text and "0.5 s" in text and "window=4" in text
    assert "slowest of 1 is 4 items behind" in text
    assert isinstance(info.value, TimeoutError)
    # the viewer goes away: nothing holds the channel any longer
    ht.call(lambda: ht.hub.receive(viewer, [Message(P.UNSUBSCRIBE, "stalled", scope=KERNEL)]))
    started = time.monotonic()
    ch.append(5)
    assert time.monotonic() - started < 2
    assert ch.flush(5)
    assert ht.history("stalled") == [0, 1, 2, 3, 5]


def test_block_flow_without_viewers_does_not_wait(ht: HubThread, client: HubClient) -> None:
    ch = LiveChannel("nobody", flow="block", window=4, history=50, transport=client)
    assert ch.wait_connected(5)
    for i in range(500):
        ch.append(i)  # the hub's credit comes back as it takes the items
    assert ch.flush(10)
    assert ht.history("nobody") == list(range(450, 500))  # the history bound applies


def test_latest_flow_a_slow_viewer_gets_the_newest_item_not_a_backlog(
    ht: HubThread, client: HubClient
) -> None:
    viewer = ht.subscribe("camera")
    ch = LiveChannel("camera", flow="latest", transport=client)
    assert ch.wait_connected(5)
    ht.take(viewer)  # the subscribe's replay
    for i in range(200):
        ch.append({"frame": i})
    assert ch.flush(5)
    appends = [m for m in ht.take(viewer) if m.kind == P.APPEND]
    # the kernel's queue and the viewer's keep only the newest item of the channel
    assert stream_values(appends) == [{"frame": 199}]
    assert ch.stats["dropped"] == 0
    assert ht.history("camera") == [{"frame": 199}]  # a late viewer gets the newest too
    late = ht.subscribe("camera")
    assert stream_values(m for m in ht.take(late) if m.kind == P.APPEND) == [{"frame": 199}]


def test_flow_options_are_checked_at_the_call() -> None:
    with pytest.raises(ValueError, match=r"flow=.*'drop', 'latest' or 'block'"):
        LiveChannel("x", flow="fast")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="window"):
        LiveChannel("x", flow="block", window=0)
    with pytest.raises(ValueError, match="block_timeout"):
        LiveChannel("x", flow="block", block_timeout=-1)
    with pytest.raises(ValueError, match="scope='hub'"):
        LiveChannel("x", flow="block", scope="hub")
