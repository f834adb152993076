"""The comm transport with a fake comm: the kernel serves its views itself."""

from __future__ import annotations

import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nbchannel.core import protocol as P
from nbchannel.core.address import HubAddress
from nbchannel.core.codec import decode_frame, encode_frame
from nbchannel.core.message import Message, stream_values
from nbchannel.errors import EventsNotLive
from nbchannel.kernel import transport as transport_module
from nbchannel.kernel.channel import Event, LiveChannel
from nbchannel.kernel.client import HubClient
from nbchannel.kernel.comm import CommConfig, CommTransport, FanOutTransport, TokenBucket
from nbchannel.kernel.port import NbChannelWarning

from .test_channel import FakeTransport

KERNEL = "k-comm"


class FakeWidget:
    """What the comm transport uses of a widget: ``on_msg``; the front end's side too."""

    def __init__(self) -> None:
        self.callbacks: list[Any] = []
        self.comm = None

    def on_msg(self, callback: Any) -> None:
        self.callbacks.append(callback)

    def from_view(self, content: dict[str, Any], buffers: list[bytes] | None = None) -> None:
        for cb in self.callbacks:
            cb(self, content, buffers or [])


class Frontend:
    """Records what the kernel wrote to every widget's comm, by view connection."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.frames: list[tuple[FakeWidget, str, list[Message], float]] = []

    def send(self, widget: Any, content: dict[str, Any], frame: bytes, parent: Any) -> None:
        assert content["nbc"] == 1
        msgs = decode_frame(frame)
        with self.lock:
            self.frames.append((widget, content["to"], msgs, time.monotonic()))

    def received(self, cid: str) -> list[Message]:
        with self.lock:
            return [m for _, to, msgs, _ in self.frames if to == cid for m in msgs]

    def wait_for(self, predicate: Any, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting")
            time.sleep(0.005)


class View:
    """One view connection of a fake widget."""

    def __init__(self, widget: FakeWidget, frontend: Frontend) -> None:
        self.widget = widget
        self.frontend = frontend
        self.cid = uuid.uuid4().hex[:8]

    def send(self, *msgs: Message) -> None:
        self.widget.from_view({"nbc": 1, "cid": self.cid}, [encode_frame(list(msgs))])

    def sub(self, name: str, epoch: int | None = None, offset: int | None = None) -> None:
        self.send(Message(P.SUBSCRIBE, name, scope=KERNEL, epoch=epoch, offset=offset))

    def event(self, name: str, event: str, value: Any) -> None:
        self.send(Message.create(P.EVENT, name, value, scope=KERNEL, key=event))

    def bye(self) -> None:
        self.widget.from_view({"nbc": 1, "cid": self.cid, "bye": True})

    @property
    def messages(self) -> list[Message]:
        return self.frontend.received(self.cid)

    def kinds(self, name: str) -> list[str]:
        return [m.kind for m in self.messages if m.channel == name]

    def items(self, name: str) -> list[Any]:
        return stream_values(m for m in self.messages if m.channel == name and m.kind == P.APPEND)


@pytest.fixture
def frontend() -> Frontend:
    return Frontend()


@pytest.fixture
def comm(frontend: Frontend) -> Iterator[CommTransport]:
    t = CommTransport(kernel_id=KERNEL, sender=frontend.send, quiet=True)
    yield t
    t.close()
    t.event_queue.close()


def test_dormant_until_a_widget_then_state_is_served_to_a_late_view(frontend: Frontend) -> None:
    comm = CommTransport(kernel_id=KERNEL, sender=frontend.send, reason="no hub here")
    try:
        with pytest.warns(NbChannelWarning, match=r"no live connection to a browser \(no hub"):
            ch = LiveChannel("a", transport=comm)
        assert comm.status == "unavailable"
        ch.set("title", "kept")
        ch.append({"before": True})  # no hub runs yet: not sent, and counted
        assert ch.stats["dropped"] == 2  # (the state is kept by the channel all the same)
        widget = FakeWidget()
        comm.attach(widget)
        assert comm.status == "connected"
        assert ch.wait_connected(timeout=5)
        ch.append({"after": True})
        view = View(widget, frontend)
        view.sub("a")
        frontend.wait_for(lambda: view.items("a") == [{"after": True}])
        kinds = view.kinds("a")
        assert kinds[:2] == [P.SUBSCRIBED, P.SET]
        assert [m.value() for m in view.messages if m.kind == P.SET] == ["kept"]
        assert ch.viewers == 1
        assert ch.views == {"comm": 1}
        assert ch.via == "1 via the kernel (comm)"
        assert ch.stats["transport"]["transport"] == "kernel (comm)"
    finally:
        comm.close()


def test_a_view_resuming_from_an_offset_gets_only_what_it_missed(
    comm: CommTransport, frontend: Frontend
) -> None:
    widget = FakeWidget()
    comm.attach(widget)
    ch = LiveChannel("s", transport=comm)
    for i in range(10):
        ch.append(i)
    first = View(widget, frontend)
    first.sub("s")
    frontend.wait_for(lambda: first.items("s") == list(range(10)))
    epoch = next(m for m in first.messages if m.kind == P.SUBSCRIBED).value()["epoch"]
    first.bye()  # a page reloaded: the old view says goodbye, the new one resumes
    for i in range(10, 15):
        ch.append(i)
    again = View(widget, frontend)
    again.sub("s", epoch=epoch, offset=10)
    frontend.wait_for(lambda: again.items("s") == list(range(10, 15)))
    subscribed = next(m for m in again.messages if m.kind == P.SUBSCRIBED).value()
    assert subscribed["reset"] is False
    frontend.wait_for(lambda: ch.viewers == 1)  # the first view is gone
    assert first.items("s") == list(range(10))  # nothing more reached the old view


def test_many_appends_travel_in_few_paced_comm_messages_none_lost(frontend: Frontend) -> None:
    config = CommConfig(messages_per_second=20, burst=2, batch_bytes=16 * 1024)
    comm = CommTransport(kernel_id=KERNEL, sender=frontend.send, quiet=True, config=config)
    try:
        widget = FakeWidget()
        comm.attach(widget)
        ch = LiveChannel("burst", transport=comm)
        view = View(widget, frontend)
        view.sub("burst")
        frontend.wait_for(lambda: P.SUBSCRIBED in view.kinds("burst"))
        n = 5_000
        pad = "x" * 60
        for i in range(n):
            ch.append({"i": i, "pad": pad})
        frontend.wait_for(lambda: len(view.items("burst")) == n, timeout=20)
        assert [v["i"] for v in view.items("burst")] == list(range(n))
        assert P.GAP not in view.kinds("burst")
        times = [t for _, _, _, t in frontend.frames]
        # ~100 B each, 16 KiB frames: tens of comm messages, not thousands
        assert len(times) < n / 50, len(times)
        # paced: after the burst of 2, never faster than 20 per second on average
        span = times[-1] - times[0]
        assert span >= (len(times) - 1 - config.burst) / config.messages_per_second * 0.9
        assert ch.flush(timeout=5)
        assert ch.stats["dropped"] == 0
    finally:
        comm.close()


def test_a_view_that_falls_behind_gets_a_gap_marker_for_what_was_dropped(
    frontend: Frontend,
) -> None:
    config = CommConfig(messages_per_second=5, burst=1, view_queue_bytes=20_000, batch_bytes=4096)
    comm = CommTransport(kernel_id=KERNEL, sender=frontend.send, quiet=True, config=config)
    try:
        widget = FakeWidget()
        comm.attach(widget)
        ch = LiveChannel("fast", transport=comm)
        view = View(widget, frontend)
        view.sub("fast")
        frontend.wait_for(lambda: P.SUBSCRIBED in view.kinds("fast"))
        n = 3_000
        for i in range(n):
            ch.append({"i": i, "pad": "y" * 40})
        ch.set("last", n)

        def done() -> bool:
            got = len(view.items("fast"))
            gaps = [m.value() for m in view.messages if m.kind == P.GAP]
            return got + sum(g["count"] for g in gaps) == n

        frontend.wait_for(done, timeout=30)
        gaps = [m.value() for m in view.messages if m.kind == P.GAP]
        assert gaps and all(g["kind"] == P.APPEND and g["reason"] == "dropped" for g in gaps)
        items = [v["i"] for v in view.items("fast")]
        assert items == sorted(items)  # what arrives is in order
        frontend.wait_for(lambda: any(m.key == "last" for m in view.messages), timeout=10)
    finally:
        comm.close()


def test_events_reach_handlers_and_waiters_and_say_whether_they_are_live(
    comm: CommTransport, frontend: Frontend
) -> None:
    widget = FakeWidget()
    comm.attach(widget)
    ch = LiveChannel("btn", transport=comm)
    seen: list[Event] = []
    ch.on("click", seen.append)
    view = View(widget, frontend)
    view.sub("btn")
    assert comm.events_live is False  # delivered on the main thread: between cells
    got: list[Event] = []
    waiter = threading.Thread(target=lambda: got.append(ch.wait("click", timeout=5)))
    waiter.start()
    time.sleep(0.1)
    # a subshell's thread delivers the next one, while a cell runs
    sender = threading.Thread(target=view.event, args=("btn", "click", {"n": 1}))
    sender.start()
    sender.join()
    waiter.join(timeout=5)
    assert [e.value for e in got] == [{"n": 1}]
    frontend.wait_for(lambda: len(seen) == 1)
    assert seen[0].name == "click" and seen[0].channel == "btn"
    assert comm.events_live is True
    assert ch.events_live is True


def test_wait_in_a_cell_raises_at_once_where_events_cannot_arrive(
    comm: CommTransport, frontend: Frontend
) -> None:
    widget = FakeWidget()
    comm.attach(widget)
    ch = LiveChannel("w", transport=comm)
    View(widget, frontend).sub("w")  # from the main thread: no sign of live events
    start = time.monotonic()
    with pytest.raises(EventsNotLive, match="only after the running cell finishes") as info:
        ch.wait("click", timeout=30)
    assert time.monotonic() - start < 3  # not the 30 s timeout
    assert isinstance(info.value, TimeoutError)  # `except TimeoutError` still handles it
    assert "wait('click') on channel 'w'" in str(info.value)


def test_wait_gives_a_view_just_shown_time_to_prove_events_are_live(
    comm: CommTransport, frontend: Frontend
) -> None:
    widget = FakeWidget()
    comm.attach(widget)
    ch = LiveChannel("late", transport=comm)
    view = View(widget, frontend)

    def view_renders_then_clicks() -> None:
        time.sleep(0.3)
        view.sub("late")  # on a subshell's thread
        time.sleep(0.1)
        view.event("late", "click", {})

    threading.Thread(target=view_renders_then_clicks).start()
    assert ch.wait("click", timeout=5).name == "click"


def test_reading_a_control_mid_cell_warns_once_where_events_wait_for_the_cell(
    comm: CommTransport, frontend: Frontend, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nbchannel.widgets import Button, Slider

    monkeypatch.setattr(transport_module, "_warned_stale", False)
    button = Button("Stop", channel=LiveChannel("b-stop", transport=comm))
    slider = Slider(0, 10, channel=LiveChannel("s-rate", transport=comm))
    assert button._transport == "comm"
    assert comm.active
    with pytest.warns(NbChannelWarning, match=r"Button.clicked: .*events processed so far"):
        assert button.clicked is False
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per process
        assert slider.value == 0
        assert button.clicks == 0
    with pytest.raises(EventsNotLive, match=r"Button.wait_click\(\)"):
        button.wait_click(timeout=0.2)
    button.close()
    slider.close()


def test_every_view_connection_gets_only_its_own_frames(
    comm: CommTransport, frontend: Frontend
) -> None:
    widget = FakeWidget()
    comm.attach(widget)
    ch = LiveChannel("two", transport=comm)
    a, b = View(widget, frontend), View(widget, frontend)
    a.sub("two")
    frontend.wait_for(lambda: ch.viewers == 1)
    ch.append("first")
    b.sub("two")
    frontend.wait_for(lambda: ch.viewers == 2)
    ch.append("second")
    frontend.wait_for(lambda: a.items("two") == ["first", "second"])
    frontend.wait_for(lambda: b.items("two") == ["first", "second"])
    assert a.kinds("two").count(P.SUBSCRIBED) == 1  # b's subscribe replayed nothing to a
    comm.detach(widget)  # the widget is closed: its views go
    frontend.wait_for(lambda: ch.viewers == 0)


def test_a_bad_frame_from_a_view_is_refused_and_nothing_else_changes(
    comm: CommTransport, frontend: Frontend
) -> None:
    widget = FakeWidget()
    comm.attach(widget)
    ch = LiveChannel("ok", transport=comm)
    widget.from_view({"nbc": 1, "cid": "x"}, [b"NBC garbage"])
    widget.from_view({"something": "else"}, [])  # another library's custom message
    view = View(widget, frontend)
    view.sub("ok")
    ch.append(1)
    frontend.wait_for(lambda: view.items("ok") == [1])
    assert comm.bad_frames == 1
    # a view's own errors come back to it: an event for a channel that does not exist
    view.event("missing", "click", {})
    frontend.wait_for(lambda: P.ERROR in view.kinds("missing"))


def test_the_hub_side_keeps_its_epoch_and_the_comm_side_adds_its_viewers(
    frontend: Frontend,
) -> None:
    hub = FakeTransport()
    hub.recycle_buffers = True  # type: ignore[attr-defined]
    hub.event_queue = None  # type: ignore[attr-defined]
    comm = CommTransport(kernel_id=KERNEL, sender=frontend.send)
    fan = FanOutTransport(hub, comm)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # next to a hub: no "nothing reaches" warning
            ch = LiveChannel("both", transport=fan)
        ch.receive(Message.create(P.OPENED, "both", {"epoch": 7, "viewers": 2, "head": 0}))
        widget = FakeWidget()
        fan.attach(widget)
        assert not comm.active  # views reach the hub: nothing runs until one asks over a comm
        ch.append("to the hub only")
        view = View(widget, frontend)
        view.sub("both")
        frontend.wait_for(lambda: ch.viewers == 3)
        assert comm.active and hub.recycle_buffers is False  # type: ignore[attr-defined]
        ch.append("to both")
        frontend.wait_for(lambda: view.items("both") == ["to both"])
        assert stream_values(m for m in hub.sent if m.kind == P.APPEND) == [
            "to the hub only",
            "to both",
        ]
        assert ch.epoch == 7  # the comm side's epoch is its own
        assert ch.open_message().value() == {"epoch": 7}
        assert ch.views == {"hub": 2, "comm": 1}
        assert ch.via == "2 via the server's hub and 1 via the kernel (comm)"
        assert ch.stats["transport"]["transport"] == "fake + kernel (comm)"
        assert fan.events_live is True
    finally:
        comm.close()


def test_a_view_over_the_comm_gets_each_item_at_once_while_the_hub_is_unreachable(
    frontend: Frontend, tmp_path: Path
) -> None:
    hub = HubClient(HubAddress("unix", path=str(tmp_path / "nobody.sock")), "0" * 64, KERNEL)
    comm = CommTransport(kernel_id=KERNEL, sender=frontend.send)
    fan = FanOutTransport(hub, comm)
    try:
        ch = LiveChannel("both", transport=fan)
        widget = FakeWidget()
        fan.attach(widget)
        view = View(widget, frontend)
        view.sub("both")
        frontend.wait_for(lambda: comm.active)
        for i in range(3):  # a slow stream: one item now and then
            ch.append({"i": i})
            frontend.wait_for(lambda i=i: view.items("both")[-1:] == [{"i": i}], timeout=2)
        assert ch.status == "reconnecting"  # the hub client never got through
    finally:
        comm.close()
        hub.close()


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(100, burst=3)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.wait(0.0) == pytest.approx(0.01)
    assert bucket.take(0.01) is True
    assert bucket.take(0.01) is False


def test_the_rate_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBCHANNEL_COMM_RATE", "250")
    assert CommConfig.from_environment().messages_per_second == 250
    for bad in ("0", "-3", "fast", "inf"):
        monkeypatch.setenv("NBCHANNEL_COMM_RATE", bad)
        assert CommConfig.from_environment().messages_per_second == 100


def test_a_ping_is_answered_with_whether_events_are_live(
    comm: CommTransport, frontend: Frontend
) -> None:
    """A view told "after-cell" asks again; the answer follows the thread its messages
    arrive on (the main thread here, a subshell's in a front end that uses them)."""
    contents: list[dict[str, Any]] = []
    send = frontend.send

    def record(widget: Any, content: dict[str, Any], frame: bytes, parent: Any) -> None:
        contents.append(content)
        send(widget, content, frame, parent)

    comm.sender = record
    ch = LiveChannel("pinged", transport=comm)
    widget = FakeWidget()
    comm.attach(widget)
    view = View(widget, frontend)
    view.sub("pinged")
    frontend.wait_for(lambda: P.SUBSCRIBED in view.kinds("pinged"))
    assert contents[-1]["events"] == "after-cell"
    n = len(contents)
    thread = threading.Thread(
        target=widget.from_view, args=({"nbc": 1, "cid": view.cid, "ping": True},)
    )
    thread.start()
    thread.join()
    frontend.wait_for(lambda: len(contents) > n)
    assert contents[-1] == {"nbc": 1, "to": view.cid, "events": "live"}
    assert [m.kind for m in view.messages[-1:]] == [P.HEARTBEAT]
    ch.close()
