"""The soak: its per-session loss check, and a quarter-minute run on a real server and kernel
(the long soak is ``python -m benchmarks.soak``).

No memory figure is asserted beyond sanity (these machines are shared); loss is: a viewer
that kept up must have missed nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.soak import Session, SoakViewer, main
from nbchannel.core import protocol as P
from nbchannel.core.codec import encode_frame
from nbchannel.core.message import Message

from ..conftest import SUBSCRIBER_QUEUE_BYTES


def _viewer(tail: int = 0) -> SoakViewer:
    rx = SoakViewer()
    rx.session = Session(slot=0, number=1, started=0.0)
    rx._on_frame(
        encode_frame(
            [
                Message.create(
                    P.SUBSCRIBED,
                    "soak",
                    {"epoch": 1, "head": tail, "tail": tail, "reset": True, "waiting": False},
                    scope="k",
                )
            ]
        )
    )
    return rx


def _items(*seqs: int) -> bytes:
    return encode_frame(
        [Message.create(P.APPEND, "soak", {"seq": s}, scope="k", offset=s) for s in seqs]
    )


def _gap(first: int, end: int) -> bytes:
    info = {"kind": P.APPEND, "count": end - first, "end": end, "reason": "dropped"}
    return encode_frame([Message.create(P.GAP, "soak", info, scope="k", offset=first)])


def test_a_contiguous_session_kept_up_and_lost_nothing() -> None:
    rx = _viewer(tail=5)
    rx._on_frame(_items(5, 6, 7))
    rx._on_frame(_items(8, 9))
    s = rx.session
    assert s is not None and rx.subscribed.is_set()
    assert (s.first_seq, s.last_seq, s.received) == (5, 9, 5)
    assert s.kept_up and s.lost == 0 and s.ok


def test_a_hole_without_gap_marker_is_silent_loss() -> None:
    rx = _viewer()
    rx._on_frame(_items(0, 1, 4, 5))
    s = rx.session
    assert s is not None
    assert s.kept_up and s.missing == 2 and s.lost == 2 and not s.ok


def test_a_replay_that_starts_after_the_announced_tail_is_loss() -> None:
    rx = _viewer(tail=100)
    rx._on_frame(_items(103, 104))
    assert rx.session is not None and rx.session.lost == 3


def test_a_hole_announced_by_a_gap_marker_is_falling_behind_not_loss() -> None:
    rx = _viewer()
    rx._on_frame(_items(0, 1))
    rx._on_frame(_gap(2, 40))
    rx._on_frame(_items(40, 41))
    s = rx.session
    assert s is not None
    assert not s.kept_up and s.gap_items == 38 and s.missing == 38
    assert s.lost == 0 and s.ok
    assert s.gap_reasons == {"dropped": 38}


def test_a_gap_marker_from_the_kernel_is_counted_apart() -> None:
    rx = _viewer()
    rx._on_frame(_items(0, 1))
    info = {"kind": P.APPEND, "count": 5, "reason": "dropped"}  # no offset: the sender's
    rx._on_frame(encode_frame([Message.create(P.GAP, "soak", info, scope="k")]))
    rx._on_frame(
        encode_frame(
            [Message.create(P.APPEND, "soak", {"seq": s}, scope="k", offset=s - 5) for s in (7, 8)]
        )
    )
    s = rx.session
    assert s is not None
    assert not s.kept_up and s.gap_reasons == {"sender": 5} and s.missing == 5 and s.ok


def test_repeated_items_are_counted_and_fail_the_session() -> None:
    rx = _viewer()
    rx._on_frame(_items(0, 1, 2, 1))
    s = rx.session
    assert s is not None and s.backwards == 1 and s.received == 3 and not s.ok


def test_a_viewer_closed_by_the_server_fails_its_session() -> None:
    rx = _viewer()
    rx._on_frame(_items(0, 1))
    rx._on_frame(None)
    s = rx.session
    assert s is not None and s.errors and not s.ok


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_quarter_minute_soak_loses_nothing_and_reports_each_interval(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The soak's server gets the small viewer queues of the tests' own server (through
    # Jupyter's config path), so that the stalled viewer reaches its bound, which ends the
    # warm-up, in a couple of seconds rather than ten.
    config = tmp_path / "jupyter-config"
    config.mkdir()
    (config / "jupyter_server_config.json").write_text(
        json.dumps({"NbChannel": {"subscriber_queue_bytes": SUBSCRIBER_QUEUE_BYTES}})
    )
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(config))
    out = tmp_path / "soak.json"
    # viewers stay 2-6 s (not 5-60): in 15 s they come and go as in a long soak
    argv = ["--minutes", "0.25", "--stay", "2,6", "--away", "0,2", "--warmup-max", "30"]
    rc = main([*argv, "--json", str(out)])
    report = json.loads(out.read_text())
    s = report["summary"]

    assert rc == (0 if s["passed"] else 1)
    assert s["kept_up_lost"] == 0
    assert s["lost_without_gap_marker"] == 0 and s["out_of_order_or_duplicate"] == 0
    assert s["no_loss"] and not s["errors"]
    assert s["sessions"] >= 10 and s["sessions_kept_up"] >= 1
    assert all(sess["ok"] for sess in report["sessions"])
    # viewers left and others joined in their slots while the stream ran
    slots = [sess["slot"] for sess in report["sessions"]]
    assert sum(slots.count(slot) >= 2 for slot in set(slots)) >= 5, slots
    # the stream ran at its rate, and the viewers got it (each session its replay and more)
    assert 8_000 <= s["sent_per_s"] <= 11_000
    assert s["delivered"] > s["sent"]
    # the stalled viewer reached its queue bound, and was dropped for
    assert s["stalled_dropped"] > 0
    assert 1 < s["stalled_peak_queued_mib"] <= 1.5 * SUBSCRIBER_QUEUE_BYTES / 2**20
    for who in ("server", "kernel"):
        assert 20 < s["memory"][who]["first_mib"] < 4096
        assert 20 < s["memory"][who]["last_mib"] < 4096

    rows = report["intervals"]
    assert len(rows) == 3 and abs(rows[-1]["elapsed"] - 15) < 3
    text = capsys.readouterr().out
    assert "server MiB" in text and "kernel MiB" in text
    lines = [line for line in text.splitlines() if line.strip().startswith("0:")]
    assert len(lines) == 3
    assert "lost by viewers that kept up: 0 (must be 0)" in text
    assert "viewers' queues in the server" in text
    assert ("verdict: PASS" in text) == s["passed"]
