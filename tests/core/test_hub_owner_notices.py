"""What a kernel tells the hub about its own side: acknowledgement marks and refused events."""

from __future__ import annotations

import pytest

from nbchannel.core import protocol as P
from nbchannel.core.hub import Hub
from nbchannel.core.message import Message

from .hubkit import drain, kinds, send


def test_a_mark_is_answered_after_everything_before_it() -> None:
    hub = Hub()
    k = hub.connect_owner("k1")
    send(hub, k, P.OPEN, "s")
    drain(k)
    hub.receive(
        k,
        [
            Message.create(P.APPEND, "s", 1),
            Message.create(P.APPEND, "s", 2),
            Message(P.MARK, offset=7),
        ],
    )
    [ack] = drain(k)
    assert (ack.kind, ack.offset, ack.channel) == (P.ACK, 7, "")
    assert len(hub.channels[("k1", "s")].history) == 2


def test_refused_events_reach_every_viewer_as_a_limit_error() -> None:
    hub = Hub()
    k = hub.connect_owner("k1")
    viewers = [hub.connect_subscriber(), hub.connect_subscriber()]
    send(hub, k, P.OPEN, "pad")
    for v in viewers:
        send(hub, v, P.SUBSCRIBE, "pad", scope="k1")
        drain(v)
    drain(k)
    notice: P.RefusedPayload = {"kind": "event", "count": 42, "limit": 10_000}
    send(hub, k, P.REFUSED, "pad", notice)
    for v in viewers:
        [err] = drain(v)
        assert (err.kind, err.scope, err.channel, err.key) == (P.ERROR, "k1", "pad", "event")
        assert err.value() == {
            "code": "limit-exceeded",
            "message": "the kernel is not keeping up with events on channel 'pad': 42 events "
            "dropped (its handler is slower than events arrive; at most 10000 events wait for "
            "it)",
        }
    assert drain(k) == []  # nothing goes back to the kernel


@pytest.mark.parametrize(
    "payload", [None, [1], {"kind": "append", "count": 1, "limit": 1}, {"kind": "event"}]
)
def test_a_malformed_refused_notice_is_an_error_to_the_kernel_only(payload: object) -> None:
    hub = Hub()
    k = hub.connect_owner("k1")
    v = hub.connect_subscriber()
    send(hub, k, P.OPEN, "pad")
    send(hub, v, P.SUBSCRIBE, "pad", scope="k1")
    drain(k)
    drain(v)
    send(hub, k, P.REFUSED, "pad", payload)
    [err] = drain(k)
    assert err.kind == P.ERROR and err.value()["code"] == "malformed-frame"
    assert kinds(drain(v)) == []
