"""Helpers for hub tests: a hub driven synchronously by fake peers."""

from __future__ import annotations

from typing import Any

from nbchannel.core.hub import Hub
from nbchannel.core.message import Message
from nbchannel.core.peer import Peer


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def drain(peer: Peer) -> list[Message]:
    """Everything queued for ``peer``, as a fast client would read it."""
    out: list[Message] = []
    while True:
        batch = peer.take()
        if not batch:
            return out
        out.extend(batch)


def kinds(msgs: list[Message]) -> list[str]:
    return [m.kind for m in msgs]


def values(msgs: list[Message], kind: str) -> list[Any]:
    return [m.value() for m in msgs if m.kind == kind]


def send(hub: Hub, peer: Peer, kind: str, channel: str, value: Any = None, **fields: Any) -> None:
    """Feed one message from ``peer`` into ``hub``."""
    hub.receive(peer, [Message.create(kind, channel, value, **fields)])
