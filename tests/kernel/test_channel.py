"""``LiveChannel`` over an in-memory transport: writes, events, status, closing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from nbchannel.core import protocol as P
from nbchannel.core.codec import DEFAULT_LIMITS, Limits
from nbchannel.core.message import Message
from nbchannel.core.protocol import DEFAULT_STATE_BYTES
from nbchannel.errors import ChannelError, EncodeError, LimitExceeded
from nbchannel.kernel.channel import Event, LiveChannel
from nbchannel.kernel.dispatch import HANDLER_THREAD_NAME, EventDispatcher
from nbchannel.kernel.transport import Status, TransportStats


class FakeTransport:
    """A transport that keeps what it is given; ``accept=False`` drops every write."""

    def __init__(
        self,
        *,
        accept: bool = True,
        limits: Limits = DEFAULT_LIMITS,
        max_state_bytes: int = DEFAULT_STATE_BYTES,
    ) -> None:
        self.accept = accept
        self.limits = limits
        self.max_state_bytes = max_state_bytes
        self.sent: list[Message] = []
        self.registered: list[LiveChannel] = []
        self.unregistered: list[LiveChannel] = []

    @property
    def status(self) -> Status:
        return "connected"

    @property
    def kernel_id(self) -> str | None:
        return "k-fake"

    def register(self, channel: LiveChannel) -> None:
        self.registered.append(channel)

    def unregister(self, channel: LiveChannel) -> None:
        self.unregistered.append(channel)

    def send(self, channel: LiveChannel, msg: Message) -> bool:
        if self.accept:
            self.sent.append(msg)
        return self.accept

    def send_item(self, channel: LiveChannel, payload: bytes) -> bool:
        """A plain stream item: kept as the message it would be alone."""
        msg = Message(P.APPEND, channel.name, scope=channel.wire_scope, payload=payload)
        return self.send(channel, msg)

    def lane(self, channel: LiveChannel) -> None:
        return None

    def flush(self, timeout: float) -> bool:
        return True

    def stats(self) -> TransportStats:
        return {
            "transport": "fake",
            "status": "connected",
            "queued_bytes": 0,
            "sent_messages": len(self.sent),
            "sent_bytes": 0,
            "dropped": 0,
            "reconnects": 0,
        }


@pytest.fixture
def transport() -> FakeTransport:
    return FakeTransport()


@pytest.fixture
def ch(transport: FakeTransport) -> LiveChannel:
    return LiveChannel("sensor", transport=transport)


def event(name: str, value: Any = None, channel: str = "sensor") -> Message:
    """An ``event`` message as the hub forwards it to the kernel."""
    return Message.create(P.EVENT, channel, value, key=name)


def opened(epoch: int = 7, viewers: int = 0, channel: str = "sensor") -> Message:
    info: P.OpenedPayload = {"epoch": epoch, "head": 0, "resumed": False, "viewers": viewers}
    return Message.create(P.OPENED, channel, info)


def inject_later(ch: LiveChannel, msgs: list[Message], delay: float = 0.05) -> threading.Thread:
    """Deliver ``msgs`` from another thread after ``delay``, as the I/O thread would."""

    def run() -> None:
        time.sleep(delay)
        for m in msgs:
            ch._receive(m)

    t = threading.Thread(target=run)
    t.start()
    return t


# -- writing ---------------------------------------------------------------------------


def test_channel_registers_with_its_transport(transport: FakeTransport) -> None:
    ch = LiveChannel("sensor", transport=transport)
    assert transport.registered == [ch]
    assert ch.name == "sensor"
    assert ch.scope == "kernel"


def test_set_keeps_state_and_sends_a_set_with_its_key(
    ch: LiveChannel, transport: FakeTransport
) -> None:
    ch.set("title", "Temperature")
    ch.set("unit", "°C")
    assert ch.get("title") == "Temperature"
    assert ch.get("missing", "default") == "default"
    assert ch.state == {"title": "Temperature", "unit": "°C"}
    [m1, m2] = transport.sent
    assert (m1.kind, m1.channel, m1.key, m1.value()) == (P.SET, "sensor", "title", "Temperature")
    assert (m2.kind, m2.key, m2.value()) == (P.SET, "unit", "°C")
    assert m1.scope is None  # kernel scope: the hub fills in this kernel's id


def test_state_property_is_a_copy(ch: LiveChannel) -> None:
    ch.set("a", 1)
    snapshot = ch.state
    snapshot["a"] = 2
    snapshot["b"] = 3
    assert ch.state == {"a": 1}


def test_unset_forgets_the_key_and_sends_unset(ch: LiveChannel, transport: FakeTransport) -> None:
    ch.set("title", "T")
    ch.unset("title")
    assert ch.get("title") is None
    assert ch.state == {}
    last = transport.sent[-1]
    assert (last.kind, last.key, last.value()) == (P.UNSET, "title", None)


def test_state_messages_for_reconnect_hold_only_current_keys(ch: LiveChannel) -> None:
    ch.set("a", 1)
    ch.set("b", 2)
    ch.set("a", 10)
    ch.unset("b")
    msgs = ch._state_messages()
    assert [(m.kind, m.key, m.value()) for m in msgs] == [(P.SET, "a", 10)]


def test_append_and_publish_send_their_kinds(ch: LiveChannel, transport: FakeTransport) -> None:
    ch.append({"t": 1.0, "v": 21.5})
    ch.publish({"cursor": [3, 4]})
    assert [(m.kind, m.channel, m.key) for m in transport.sent] == [
        (P.APPEND, "sensor", None),
        (P.PUBLISH, "sensor", None),
    ]
    assert transport.sent[0].value() == {"t": 1.0, "v": 21.5}
    assert transport.sent[1].value() == {"cursor": [3, 4]}


def test_server_scope_is_written_on_every_message(transport: FakeTransport) -> None:
    ch = LiveChannel("shared", scope="server", transport=transport)
    ch.set("k", 1)
    ch.append(2)
    ch.publish(3)
    ch.unset("k")
    assert {m.scope for m in transport.sent} == {P.SERVER_SCOPE}
    assert ch._open_message().scope == P.SERVER_SCOPE


def test_numpy_arrays_are_copied_when_written(ch: LiveChannel, transport: FakeTransport) -> None:
    frame = np.zeros((2, 3), dtype=np.uint8)
    series = np.arange(4.0)
    ch.append({"x": series})
    ch.set("frame", frame)
    series[:] = -1  # the caller reuses its buffers right away
    frame[:] = 255
    np.testing.assert_array_equal(transport.sent[0].value()["x"], np.arange(4.0))
    np.testing.assert_array_equal(transport.sent[1].value(), np.zeros((2, 3), np.uint8))


def test_bytearray_is_frozen_when_written(ch: LiveChannel, transport: FakeTransport) -> None:
    data = bytearray(b"abc")
    view_source = bytearray(b"xyz")
    ch.publish({"raw": data, "view": memoryview(view_source)})
    data[:] = b"ZZZ"
    view_source[:] = b"ZZZ"
    assert transport.sent[0].value() == {"raw": b"abc", "view": b"xyz"}


def test_bytes_are_not_copied(ch: LiveChannel, transport: FakeTransport) -> None:
    blob = bytes(range(256)) * 64
    ch.publish({"png": blob})
    [buf] = transport.sent[0].buffers
    assert buf.data.obj is blob  # immutable: the message references it, no copy


def test_longest_name_is_accepted(transport: FakeTransport) -> None:
    assert LiveChannel("x" * 200, transport=transport).name == "x" * 200


def test_invalid_scope_is_refused(transport: FakeTransport) -> None:
    with pytest.raises(ValueError, match=r"scope=\.\.\.\) must be 'kernel' or 'server'"):
        LiveChannel("x", scope="global", transport=transport)  # type: ignore[arg-type]


@pytest.mark.parametrize("key", ["", 5, None])
def test_invalid_state_key_is_refused(ch: LiveChannel, key: Any) -> None:
    with pytest.raises(ValueError, match="state key is a non-empty string"):
        ch.set(key, 1)
    with pytest.raises(ValueError, match="state key is a non-empty string"):
        ch.unset(key)


@pytest.mark.parametrize(
    "value",
    [object(), {1: "non-string key"}, np.array([object()], dtype=object)],
    ids=["object", "int-key", "object-array"],
)
def test_unencodable_value_raises_and_changes_nothing(
    ch: LiveChannel, transport: FakeTransport, value: Any
) -> None:
    ch.set("k", "before")
    sent = len(transport.sent)
    with pytest.raises(EncodeError, match="cannot send"):
        ch.set("k", value)
    with pytest.raises(EncodeError):
        ch.append(value)
    with pytest.raises(EncodeError):
        ch.publish(value)
    assert ch.get("k") == "before"
    assert len(transport.sent) == sent
    assert ch.stats["sent"] == sent


# -- events ----------------------------------------------------------------------------


def test_on_as_decorator_and_as_call(ch: LiveChannel) -> None:
    got: list[tuple[str, Any]] = []

    @ch.on("click")
    def clicked(ev: Event) -> None:
        got.append(("deco", ev.value))

    def moved(ev: Event) -> None:
        got.append(("call", ev.value))

    assert ch.on("move", moved) is moved
    assert callable(clicked)  # the decorator returns the function itself
    ch._receive(event("click", {"x": 1}))
    ch._receive(event("move", [2, 3]))
    ch._receive(event("other", 0))
    assert got == [("deco", {"x": 1}), ("call", [2, 3])]


def test_event_fields(ch: LiveChannel) -> None:
    got: list[Event] = []
    ch.on("click", got.append)
    before = time.time()
    ch._receive(event("click", {"img": np.arange(3, dtype=np.int16)}))
    [ev] = got
    assert (ev.name, ev.channel) == ("click", "sensor")
    np.testing.assert_array_equal(ev.value["img"], np.arange(3, dtype=np.int16))
    assert before <= ev.received <= time.time()


def test_wildcard_handler_sees_every_event_after_named_ones(ch: LiveChannel) -> None:
    order: list[str] = []
    ch.on("*", lambda ev: order.append(f"*:{ev.name}"))
    ch.on("a", lambda ev: order.append("a"))
    ch._receive(event("a"))
    ch._receive(event("b"))
    assert order == ["a", "*:a", "*:b"]


def test_off_removes_one_handler_or_all(ch: LiveChannel) -> None:
    got: list[str] = []

    def h1(ev: Event) -> None:
        got.append("h1")

    def h2(ev: Event) -> None:
        got.append("h2")

    ch.on("click", h1)
    ch.on("click", h2)
    ch.off("click", h1)
    ch._receive(event("click"))
    assert got == ["h2"]
    ch.off("click")
    ch.off("click", h2)  # removing what is not registered is harmless
    ch.off("never-registered")
    ch._receive(event("click"))
    assert got == ["h2"]


def test_failing_handler_is_reported_and_later_handlers_run(
    ch: LiveChannel, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    got: list[str] = []

    def broken(ev: Event) -> None:
        raise ZeroDivisionError("boom in handler")

    ch.on("click", broken)
    ch.on("click", lambda ev: got.append("second"))
    ch.on("*", lambda ev: got.append("wildcard"))
    with caplog.at_level(logging.ERROR, logger="nbchannel"):
        ch._receive(event("click"))
        ch._receive(event("click"))
    assert got == ["second", "wildcard"] * 2
    assert any("handler for 'click' on 'sensor' failed" in r.getMessage() for r in caplog.records)
    err = capsys.readouterr().err
    assert "ZeroDivisionError: boom in handler" in err
    assert ch.stats["events"] == 2


def test_wait_returns_the_next_matching_event_from_another_thread(ch: LiveChannel) -> None:
    t = inject_later(ch, [event("move", 1), event("click", {"n": 2})])
    start = time.monotonic()
    ev = ch.wait("click", timeout=5)
    t.join()
    assert (ev.name, ev.value, ev.channel) == ("click", {"n": 2}, "sensor")
    assert time.monotonic() - start < 2


def test_wait_for_any_event(ch: LiveChannel) -> None:
    t = inject_later(ch, [event("move", 1)])
    ev = ch.wait(timeout=5)
    t.join()
    assert (ev.name, ev.value) == ("move", 1)


def test_wait_ignores_events_received_before_it(ch: LiveChannel) -> None:
    ch._receive(event("click", "old"))
    t = inject_later(ch, [event("click", "new")])
    assert ch.wait("click", timeout=5).value == "new"
    t.join()


def test_wait_timeout_says_what_was_awaited(ch: LiveChannel) -> None:
    start = time.monotonic()
    with pytest.raises(TimeoutError, match=r"no 'click' event on channel 'sensor' within 0.1 s"):
        ch.wait("click", timeout=0.1)
    assert 0.09 <= time.monotonic() - start < 2
    # a timed-out wait leaves nothing behind that would swallow the next event
    got: list[Event] = []
    ch.on("click", got.append)
    ch._receive(event("click"))
    assert len(got) == 1
    assert ch._waiters == []


def test_several_waiters_all_get_the_event(ch: LiveChannel) -> None:
    results: list[Any] = []

    def waiter() -> None:
        results.append(ch.wait("click", timeout=5).value)

    threads = [threading.Thread(target=waiter) for _ in range(3)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 5
    while len(ch._waiters) < 3 and time.monotonic() < deadline:
        time.sleep(0.005)
    ch._receive(event("click", "go"))
    for t in threads:
        t.join(5)
    assert results == ["go", "go", "go"]


def test_events_iterator_receives_events_from_another_thread(ch: LiveChannel) -> None:
    async def main() -> list[tuple[str, Any]]:
        got: list[tuple[str, Any]] = []
        stream = ch.events("tick")
        first = asyncio.ensure_future(stream.__anext__())
        await asyncio.sleep(0)  # the iterator is registered once it starts
        t = inject_later(ch, [event("tick", 0), event("other", "x"), event("tick", 1)])
        ev = await asyncio.wait_for(first, 5)
        got.append((ev.name, ev.value))
        ev = await asyncio.wait_for(stream.__anext__(), 5)
        got.append((ev.name, ev.value))
        await stream.aclose()
        t.join()
        return got

    assert asyncio.run(main()) == [("tick", 0), ("tick", 1)]
    assert ch._streams == []  # closing the iterator unregisters it


def test_events_iterator_drops_the_oldest_beyond_maxsize(ch: LiveChannel) -> None:
    async def main() -> list[Any]:
        stream = ch.events(maxsize=2)
        first = asyncio.ensure_future(stream.__anext__())
        await asyncio.sleep(0)
        # Five events arrive while the loop is busy (this coroutine blocks it on purpose).
        t = inject_later(ch, [event("tick", i) for i in range(5)], delay=0)
        t.join()
        values = [(await asyncio.wait_for(first, 5)).value]
        values.append((await asyncio.wait_for(stream.__anext__(), 5)).value)
        nothing_more = asyncio.ensure_future(stream.__anext__())
        await asyncio.sleep(0.05)
        assert not nothing_more.done()
        nothing_more.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await nothing_more
        await stream.aclose()
        return values

    assert asyncio.run(main()) == [3, 4]


def test_events_on_a_closed_channel_raise(ch: LiveChannel) -> None:
    ch.close()

    async def main() -> None:
        async for _ in ch.events():
            pass

    with pytest.raises(ChannelError, match="closed"):
        asyncio.run(main())


# -- status ----------------------------------------------------------------------------


def test_opened_and_presence_update_status(ch: LiveChannel) -> None:
    assert (ch.connected, ch.epoch, ch.viewers) == (False, None, 0)
    assert ch.wait_connected(timeout=0) is False
    ch._receive(opened(epoch=1234, viewers=2))
    assert (ch.connected, ch.epoch, ch.viewers) == (True, 1234, 2)
    assert ch.wait_connected(timeout=0) is True
    ch._receive(Message.create(P.PRESENCE, "sensor", {"viewers": 5}))
    assert ch.viewers == 5
    assert "viewers=5" in repr(ch)
    assert ch.status == "connected"
    ch._disconnected()
    assert ch.connected is False
    assert ch.epoch == 1234  # kept, so a reconnect can resume the channel


def test_wait_connected_returns_when_opened_from_another_thread(ch: LiveChannel) -> None:
    t = inject_later(ch, [opened()])
    assert ch.wait_connected(timeout=5) is True
    t.join()


def test_error_from_the_hub_is_logged_and_kept(
    ch: LiveChannel, caplog: pytest.LogCaptureFixture
) -> None:
    err: P.ErrorPayload = {"code": "limit-exceeded", "message": "state would grow too large"}
    with caplog.at_level(logging.WARNING, logger="nbchannel"):
        ch._receive(Message.create(P.ERROR, "sensor", err, key=P.SET))
    assert ch.last_error == "state would grow too large"
    assert "state would grow too large" in caplog.text


def test_gap_counts_as_dropped(ch: LiveChannel) -> None:
    gap = {"kind": P.EVENT, "count": 4, "reason": "dropped"}
    ch._receive(Message.create(P.GAP, "sensor", gap))
    assert ch.stats["dropped"] == 4


@pytest.mark.parametrize(
    "msg",
    [
        Message.create(P.OPENED, "sensor", {"no": "epoch"}),
        Message.create(P.OPENED, "sensor", None),
        Message.create(P.PRESENCE, "sensor", [1, 2]),
        Message.create(P.ERROR, "sensor", "not an object"),
        Message.create(P.GAP, "sensor", {"count": "many"}),
        Message.create(P.GAP, "sensor", [4]),
        Message(P.EVENT, "sensor", key="click", payload=b"{not json"),
    ],
    ids=[
        "opened-no-epoch",
        "opened-empty",
        "presence-list",
        "error-str",
        "gap-str",
        "gap-list",
        "event-bad-json",
    ],
)
def test_bad_messages_from_the_hub_are_logged_not_raised(
    ch: LiveChannel, msg: Message, caplog: pytest.LogCaptureFixture
) -> None:
    got: list[Event] = []
    ch.on("*", got.append)
    with caplog.at_level(logging.WARNING, logger="nbchannel"):
        ch._receive(msg)  # runs on the I/O thread: it must not raise
    assert "ignored a bad" in caplog.text
    assert got == []
    assert ch.connected is False
    # the channel keeps working
    ch._receive(event("click", 1))
    assert [e.value for e in got] == [1]


def test_stats_count_sent_dropped_and_events() -> None:
    transport = FakeTransport()
    ch = LiveChannel("s", transport=transport)
    ch.set("a", 1)
    ch.append(2)
    transport.accept = False
    ch.publish(3)
    ch.append(4)
    ch._receive(event("click", channel="s"))
    stats = ch.stats
    assert (stats["name"], stats["scope"]) == ("s", "kernel")
    assert (stats["sent"], stats["dropped"], stats["events"]) == (2, 2, 1)
    assert stats["transport"]["transport"] == "fake"
    ch._receive(opened(epoch=9, viewers=3, channel="s"))
    assert (ch.stats["epoch"], ch.stats["viewers"]) == (9, 3)


def test_flush_asks_the_transport(ch: LiveChannel) -> None:
    assert ch.flush(timeout=0.1) is True


def test_open_message_carries_history_options_and_epoch(transport: FakeTransport) -> None:
    ch = LiveChannel("s", history=50, history_bytes=4096, transport=transport)
    first = ch._open_message()
    assert (first.kind, first.channel, first.scope) == (P.OPEN, "s", None)
    assert first.value() == {"history_items": 50, "history_bytes": 4096}
    ch._receive(opened(epoch=77, channel="s"))
    assert ch._open_message().value() == {
        "epoch": 77,
        "history_items": 50,
        "history_bytes": 4096,
    }


def test_open_message_without_options_is_empty(ch: LiveChannel) -> None:
    assert ch._open_message().value() is None


# -- closing ---------------------------------------------------------------------------


def test_close_unregisters_and_refuses_further_use(
    ch: LiveChannel, transport: FakeTransport
) -> None:
    ch.set("title", "T")
    ch._receive(opened())
    ch.close()
    assert transport.unregistered == [ch]
    assert ch.status == "closed"
    assert ch.connected is False
    assert "closed" in repr(ch)
    for write in (
        lambda: ch.set("k", 1),
        lambda: ch.unset("title"),
        lambda: ch.append(1),
        lambda: ch.publish(1),
        lambda: ch.wait(timeout=0.01),
    ):
        with pytest.raises(ChannelError, match=r"LiveChannel 'sensor' is closed \(closed by close"):
            write()
    assert ch.get("title") == "T"  # state stays readable
    ch.close()  # idempotent
    assert transport.unregistered == [ch]


def test_context_manager_closes(transport: FakeTransport) -> None:
    with LiveChannel("tmp", transport=transport) as ch:
        ch.publish("hello")
        assert ch.status == "connected"
    assert ch.status == "closed"
    assert transport.unregistered == [ch]
    with pytest.raises(ChannelError):
        ch.publish("too late")


def test_superseded_channel_says_it_was_replaced(ch: LiveChannel) -> None:
    ch._receive(opened())
    ch._superseded()
    assert ch.connected is False
    assert ch.status == "closed"
    with pytest.raises(ChannelError, match="replaced by a newer LiveChannel of the same name"):
        ch.append(1)


def test_close_releases_a_blocked_wait_with_a_clear_error() -> None:
    ch = LiveChannel("waiting", transport=FakeTransport())
    threading.Timer(0.2, ch.close).start()
    with pytest.raises(ChannelError, match="closed"):
        ch.wait("click", timeout=10)


def test_wait_inside_a_handler_is_refused() -> None:
    ch = LiveChannel("handler-wait", transport=FakeTransport())
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            ch.wait("other", timeout=1)
        except RuntimeError as exc:
            errors.append(exc)

    t = threading.Thread(target=deliver, name="nbchannel-io")
    t.start()
    t.join(5)
    assert errors and "use on() instead" in str(errors[0]).lower()


# -- limits are checked at the call that makes the value --------------------------------


def test_a_value_over_the_frame_limit_fails_at_set_and_is_not_retained() -> None:
    t = FakeTransport(limits=Limits(max_frame_bytes=1 << 20))
    ch = LiveChannel("big", transport=t)
    ch.set("small", 1)
    with pytest.raises(LimitExceeded, match=r"c\.NbChannel\.max_frame_bytes"):
        ch.set("big", np.zeros((1 << 20) // 8))
    # nothing of it is kept: a reconnect re-sends only what fits
    assert ch.get("big") is None
    assert [m.key for m in ch._state_messages()] == ["small"]
    assert [m.key for m in t.sent] == ["small"]


def test_an_append_or_publish_over_the_frame_limit_fails_at_the_call() -> None:
    t = FakeTransport(limits=Limits(max_frame_bytes=1 << 20))
    ch = LiveChannel("big", transport=t)
    with pytest.raises(LimitExceeded, match="max_frame_bytes"):
        ch.append("x" * (1 << 20))
    with pytest.raises(LimitExceeded, match="max_frame_bytes"):
        ch.publish({"frame": b"\0" * (1 << 20)})
    ch.append("x" * ((1 << 20) - 1024))  # just under the limit still goes
    assert len(t.sent) == 1


def test_the_default_limit_refuses_100_mb_strings() -> None:
    ch = LiveChannel("big", transport=FakeTransport())
    with pytest.raises(LimitExceeded, match=r"64\.0 MiB"):
        ch.append("x" * 100_000_000)


def test_too_many_buffers_in_one_value_fail_at_the_call() -> None:
    ch = LiveChannel("bufs", transport=FakeTransport())
    with pytest.raises(LimitExceeded, match="max_buffers"):
        ch.append([np.zeros(1) for _ in range(DEFAULT_LIMITS.max_buffers + 1)])


def test_retained_state_is_bounded_by_the_servers_state_limit() -> None:
    t = FakeTransport(max_state_bytes=10_000)
    ch = LiveChannel("state", transport=t)
    ch.set("a", "x" * 6_000)
    with pytest.raises(LimitExceeded, match=r"c\.NbChannel\.state_bytes"):
        ch.set("b", "x" * 6_000)
    ch.set("a", "y" * 6_000)  # replacing a key counts the new value only
    ch.unset("a")
    ch.set("b", "x" * 6_000)  # room again once a key is gone
    assert sorted(ch.state) == ["b"]
    # a hub-wide channel's limit is the relay's, and the error names the relay's option
    shared = LiveChannel("shared-state", scope="hub", transport=t)
    shared.set("a", "x" * 6_000)
    with pytest.raises(LimitExceeded, match="the relay's --state-bytes") as info:
        shared.set("b", "x" * 6_000)
    assert "NbChannel" not in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"history": True}, r"history=\.\.\.\) must be a positive integer"),
        ({"history": 0}, r"history=\.\.\.\) must be a positive integer"),
        ({"history": -5}, "history"),
        ({"history": "100"}, "history"),
        ({"history_bytes": 0}, r"history_bytes=\.\.\.\) must be a positive integer"),
        ({"history_bytes": 1.5}, "history_bytes"),
        ({"history_bytes": False}, "history_bytes"),
    ],
)
def test_history_options_refuse_bools_and_non_integers(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        LiveChannel("h", transport=FakeTransport(), **kwargs)


@pytest.mark.parametrize(
    "name", ["", "x" * (P.MAX_NAME_LENGTH + 1), 5, None], ids=["empty", "long", "int", "none"]
)
def test_channel_names_are_checked_naming_the_argument(name: Any) -> None:
    t = FakeTransport()
    with pytest.raises(ValueError, match=r"LiveChannel\(name=\.\.\.\)"):
        LiveChannel(name, transport=t)
    assert t.registered == []


def test_a_value_that_contains_itself_is_an_encode_error_at_the_call() -> None:
    ch = LiveChannel("rec", transport=FakeTransport())
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(EncodeError, match="contains itself"):
        ch.append(loop)
    deep: Any = 1
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(EncodeError, match="nested more than"):
        ch.set("deep", deep)
    d: dict[str, Any] = {}
    d["self"] = d
    with pytest.raises(EncodeError):
        ch.publish(d)


# -- handlers on the event thread ------------------------------------------------------


def blocking(seen: list[Any], release: threading.Event) -> Callable[[Event], None]:
    """A handler that records each event's value, then waits until ``release`` is set."""

    def handler(ev: Event) -> None:
        seen.append(ev.value)
        release.wait(10)

    return handler


def test_wait_inside_a_handler_on_the_event_thread_is_refused() -> None:
    ch = LiveChannel("handler-wait", transport=FakeTransport())
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            ch.wait("other", timeout=1)
        except RuntimeError as exc:
            errors.append(exc)

    t = threading.Thread(target=deliver, name=HANDLER_THREAD_NAME)
    t.start()
    t.join(5)
    assert errors and "cannot be called from an event handler" in str(errors[0])


def test_handlers_run_on_the_event_thread_in_order_while_waiters_are_released_at_once(
    ch: LiveChannel,
) -> None:
    events = EventDispatcher()
    release = threading.Event()
    seen: list[tuple[str, Any]] = []

    def handler(ev: Event) -> None:
        release.wait(5)
        seen.append((threading.current_thread().name, ev.value))

    ch.on("click", handler)
    try:
        waited = threading.Thread(target=lambda: seen.append(("waiter", ch.wait().value)))
        waited.start()
        time.sleep(0.05)
        for i in range(3):
            ch._receive(event("click", i), events)  # returns at once: the handler waits
        waited.join(5)
        assert seen == [("waiter", 0)]
        release.set()
        deadline = time.monotonic() + 5
        while len(seen) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert seen[1:] == [(HANDLER_THREAD_NAME, i) for i in range(3)]
    finally:
        release.set()
        events.close()


def test_a_handler_removed_before_its_queued_event_runs_is_not_called(ch: LiveChannel) -> None:
    events = EventDispatcher()
    release = threading.Event()
    first: list[Any] = []
    second: list[Any] = []
    ch.on("a", blocking(first, release))
    ch.on("b", second.append)
    try:
        ch._receive(event("a", 1), events)
        ch._receive(event("b", 2), events)  # waits behind the first handler …
        ch.off("b")  # … which is removed meanwhile
        release.set()
        ch._receive(event("a", 3), events)
        deadline = time.monotonic() + 5
        while len(first) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert first == [1, 3] and second == []
    finally:
        release.set()
        events.close()


def test_events_beyond_the_queue_bound_are_refused_and_counted(ch: LiveChannel) -> None:
    refused: list[LiveChannel] = []
    events = EventDispatcher(max_events=2, on_refused=refused.append)
    release = threading.Event()
    seen: list[Any] = []
    ch.on("click", blocking(seen, release))
    waiter = threading.Thread(target=lambda: seen.append(("waited", ch.wait("click").value)))
    try:
        ch._receive(event("click", 0), events)
        deadline = time.monotonic() + 5
        while not seen and time.monotonic() < deadline:
            time.sleep(0.01)
        waiter.start()
        time.sleep(0.05)
        for i in range(1, 6):
            ch._receive(event("click", i), events)
        waiter.join(5)
        # events without room are dropped for the handlers, not for wait()
        assert ("waited", 1) in seen
        assert ch.stats["events"] == 6 and ch.stats["events_dropped"] == 3
        assert refused == [ch] * 3 and events.refused == 3 and events.peak == 2
        release.set()
        deadline = time.monotonic() + 5
        while len(seen) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [v for v in seen if not isinstance(v, tuple)] == [0, 1, 2]
    finally:
        release.set()
        events.close()


def test_the_event_queue_is_bounded_by_bytes_but_takes_one_large_event(
    ch: LiveChannel,
) -> None:
    events = EventDispatcher(max_events=100, max_bytes=1000)
    release = threading.Event()
    seen: list[str] = []
    ch.on("big", blocking(seen, release))
    try:
        ch._receive(event("big", "x" * 10), events)
        deadline = time.monotonic() + 5
        while not seen and time.monotonic() < deadline:
            time.sleep(0.01)
        ch._receive(event("big", "y" * 5000), events)  # alone in the queue: taken
        ch._receive(event("big", "z" * 10), events)  # no room left beside it
        assert ch.stats["events_dropped"] == 1 and events.queued == 1
    finally:
        release.set()
        events.close()


class PlainTransport(FakeTransport):
    """A transport written before lanes and segments: no ``lane``, no ``send_item``."""

    lane = None  # type: ignore[assignment]
    send_item = None  # type: ignore[assignment]


def test_a_transport_without_lanes_or_segments_still_carries_every_append() -> None:
    t = PlainTransport()
    ch = LiveChannel("old", transport=t)
    for i in range(3):
        ch.append({"i": i})
    assert [m.value() for m in t.sent if m.kind == P.APPEND] == [{"i": 0}, {"i": 1}, {"i": 2}]
    assert ch.stats["sent"] == 3
