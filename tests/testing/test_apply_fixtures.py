"""The Python viewer applies the recorded hub sequences of ``tests/fixtures/apply/`` exactly
as the browser's ``js/src/apply.js`` does (``js/test/apply.test.js`` runs the same files)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nbchannel.core import protocol as P
from nbchannel.core.codec import decode_frame, encode_frame
from nbchannel.core.message import Message, Segment
from nbchannel.testing.viewer import ChannelView

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "apply"
CASES = sorted(FIXTURES.glob("*.json"))


def messages(case: dict[str, Any]) -> list[Message]:
    """The case's messages, through the wire codec as a viewer receives them."""
    msgs = []
    for m in case["messages"]:
        msg = Message.create(
            m["kind"],
            m.get("channel", case["channel"]),
            m.get("value"),
            scope=case["scope"],
            key=m.get("key"),
            offset=m.get("offset"),
            epoch=m.get("epoch"),
        )
        if "count" in m:  # a segment: its value is the list of its items
            seg = Segment(msg.channel, m["count"], scope=msg.scope, payload=msg.payload)
            msg = seg.replace(offset=msg.offset, epoch=msg.epoch)
        msgs.append(msg)
    return decode_frame(encode_frame(msgs))


def outcome(view: ChannelView) -> dict[str, Any]:
    return {
        "epoch": view.epoch,
        "waiting": view.waiting,
        "closed": view.closed,
        "resets": view.resets,
        "next_offset": view.next_offset,
        "state": view.state,
        "items": [[o, v] for o, v in view.items],
        "gaps": view.gaps,
        "published": [v for v, _ in view.published],
        "duplicates": len(view.duplicates),
    }


def test_there_are_recorded_sequences() -> None:
    assert len(CASES) >= 8


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_channel_view_applies_the_recorded_sequence(path: Path) -> None:
    case = json.loads(path.read_text())
    view = ChannelView(case["scope"], case["channel"])
    for m in messages(case):
        if m.kind != P.ERROR:
            view.apply(m)
    assert outcome(view) == case["expect"], case["description"]
