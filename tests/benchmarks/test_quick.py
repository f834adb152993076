"""The benchmark suite runs: quick mode of metric 1 on path A, of the HTTP fallbacks, of
nbchannel over the widget's comm and a batching comm, of a page reloaded mid-run in
Chromium, of one server's fan-out to many viewers, and the report's shape.

No timing is asserted (these machines are shared); only that the suite runs end to end on a
real server and kernel, that nothing was lost or reordered, and what the JSON holds.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.__main__ import main
from benchmarks.suite import parse_only, parse_paths


def test_quick_throughput_on_nbchannel_writes_the_report(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "results.json"
    assert main(["--quick", "--only", "1", "--paths", "A", "--json", str(out)]) == 0
    report = json.loads(out.read_text())

    assert report["quick"] is True and report["reps"] == 1
    assert set(report) >= {"rows", "runs", "sizes", "paths", "environment", "seconds"}
    rows = {r["field"]: r for r in report["rows"] if r["metric"] == "throughput"}
    assert set(rows) == {"rate", "lost"}
    rate = rows["rate"]
    assert rate["unit"] == "msg/s" and rate["better"] == "higher"
    assert rate["target"] == {"op": ">=", "value": 1_000_000}  # quick mode judges nothing
    assert set(rate["values"]) == {"A"}
    assert rate["values"]["A"]["median"] > 0
    assert rows["lost"]["values"]["A"]["median"] == 0

    (run,) = report["runs"]["small messages, as fast as possible"]["A"]
    assert run["expected"] == run["received"] == report["sizes"]["burst"]["A"]
    assert run["out_of_order"] == 0 and run["duplicates"] == 0

    table = capsys.readouterr().out
    assert "1 small msgs delivered" in table and "A nbchannel" in table


def test_quick_http_fallbacks_beside_the_websocket(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "results.json"
    argv = ["--quick", "--only", "1,3", "--paths", "A,a-stream,A-SSE,A-poll", "--json", str(out)]
    assert main(argv) == 0
    report = json.loads(out.read_text())
    http = ["A-stream", "A-sse", "A-poll"]

    rows = {(r["measurement"], r["field"]): r for r in report["rows"]}
    rate = rows["small messages, as fast as possible", "rate"]
    assert set(rate["values"]) == {"A", *http}
    for key in http:
        (run,) = report["runs"]["small messages, as fast as possible"][key]
        assert run["expected"] == run["received"] == report["sizes"]["burst"][key]
        assert run["out_of_order"] == 0 and run["duplicates"] == 0
        assert (
            rate["ratios"][f"{key}/A"]
            == rate["values"][key]["median"] / rate["values"]["A"]["median"]
        )
        for kind in ("sleeps", "spins"):
            (events,) = report["runs"][f"events while the cell {kind}"][key]
            assert events["handled"] == events["events"] == report["sizes"]["events_n"]
            assert events["median_ms"] > 0

    goals = {g["label"]: g for g in report["goals"]}
    assert goals["A-poll small msgs lost = 0"]["value"] == 0
    assert "met" not in goals["A-poll small msgs lost = 0"]  # quick mode judges nothing
    assert goals["A-stream small msgs/s ≥ 0.5 × A's"]["value"] == rate["ratios"]["A-stream/A"]

    table = capsys.readouterr().out
    header = table.splitlines()[0]
    for label in ("A nbchannel", "A-stream HTTP stream", "A-sse SSE", "A-poll long-poll"):
        assert label in header
    assert "A-poll/A" in header and "B comm" not in header and "A/B" not in header
    assert "goal A-poll small msgs/s ≥ 20,000:" in table


def test_quick_nbchannel_over_the_comm_beside_a_batching_comm(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "results.json"
    argv = ["--quick", "--only", "1,2,3,4", "--paths", "a-comm,B-batched", "--json", str(out)]
    assert main(argv) == 0
    report = json.loads(out.read_text())
    runs = report["runs"]

    for key in ("A-comm", "B-batched"):
        for measurement in ("small messages, as fast as possible", "small messages at 500/s"):
            (run,) = runs[measurement][key]
            assert "error" not in run, run
            assert run["received"] == run["expected"] > 0  # none lost, none reported as gaps
            assert run["lost"] == run["reported_dropped"] == 0
            assert run["out_of_order"] == 0 and run["duplicates"] == 0
            assert run["p50_ms"] > 0
    assert (
        runs["small messages, as fast as possible"]["A-comm"][0]["expected"]
        == (report["sizes"]["burst"]["A-comm"])
    )
    # events from the view reach the kernel's handlers (over a subshell: while the cell runs)
    for kind in ("sleeps", "spins"):
        (events,) = runs[f"events while the cell {kind}"]["A-comm"]
        assert events["handled"] == events["events"] == report["sizes"]["events_n"]
        assert events["subshell"] is True
        assert 0 < events["median_ms"] < 1000 * report["sizes"]["events_lead"]
    (arrays,) = runs["1 MiB float64 arrays"]["A-comm"]
    assert arrays["received"] == report["sizes"]["arrays_n"]
    assert arrays["mib_per_s"] > 0
    assert "B-batched" not in runs["1 MiB float64 arrays"]  # not measured: 100 MiB messages

    rows = {(r["measurement"], r["field"]): r for r in report["rows"]}
    rate = rows["small messages, as fast as possible", "rate"]
    assert set(rate["values"]) == {"A-comm", "B-batched"}
    assert (
        rate["ratios"]["A-comm/B-batched"]
        == rate["values"]["A-comm"]["median"] / rate["values"]["B-batched"]["median"]
    )
    goals = {g["label"]: g for g in report["goals"]}
    assert goals["A-comm small msgs lost = 0"]["value"] == 0
    assert (
        goals["A-comm one-way latency p50 ≤ 20 ms"]["value"]
        == (rows["small messages at 500/s", "p50_ms"]["values"]["A-comm"]["median"])
    )
    assert all("met" not in g for g in goals.values())  # quick mode judges nothing

    table = capsys.readouterr().out
    header = table.splitlines()[0]
    assert "A-comm via comm" in header and "B-batched ×100" in header
    assert "A-comm/B-batched" in header and "A nbchannel" not in header
    assert "goal A-comm small msgs/s ≥ 50,000:" in table
    assert "A-comm = nbchannel on a Jupyter server without its extension" in table


def test_quick_reload_mid_run_nbchannel_beside_ipywidgets(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "results.json"
    assert main(["--quick", "--only", "reload", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    reload = report["reload"]
    assert "error" not in reload and "skipped" not in reload, reload
    assert reload["page_errors"] == []

    (a,) = reload["runs"]["A"]
    (b,) = reload["runs"]["B"]
    for run in (a, b):
        assert "error" not in run, run
        assert run["reload_after_s"] >= reload["before_s"]  # the stream ran before the reload
        assert run["remaining_s"] > 0  # and was still running at it
        assert run["load_s"] > 0 and 0 < run["outputs_s"] <= run["shown_s"]
    # the plot showed what was streamed before the reload while the cell still ran
    assert a["history"] > 0 and a["points"] >= a["history"]
    assert a["after_cell_end"] is False and a["cell_ended_s"] is None
    assert a["shown_s"] < a["remaining_s"]

    rows = {r["field"]: r for r in report["rows"] if r["metric"] == "reload"}
    assert set(rows) == {"shown_s", "outputs_s", "after_outputs_s"}
    shown = rows["shown_s"]
    assert shown["values"]["A"]["median"] == a["shown_s"]
    assert shown["values"]["B"]["median"] == b["shown_s"]
    assert shown["ratios"]["A/B"] == a["shown_s"] / b["shown_s"]
    assert rows["outputs_s"]["values"]["B"]["median"] == b["outputs_s"]
    # a widget that showed only once the cell had ended is flagged as such
    assert ("flag" in shown["values"]["B"]) == b["after_cell_end"]

    table = capsys.readouterr().out
    header = table.splitlines()[0]
    assert "A nbchannel" in header and "B comm" in header and "A/B" in header
    line = next(ln for ln in table.splitlines() if ln.startswith("8 reload mid-run: view shown"))
    assert line.split()[-1] == f"{shown['ratios']['A/B']:.3g}"
    assert "  outputs restored (JupyterLab)" in table
    assert "8 reload [A] run 1:" in table and "8 reload [B] run 1:" in table
    if b["after_cell_end"]:
        assert "the widget showed at" in table and "not before the cell ended at" in table


def test_quick_fan_out_to_many_viewers_of_one_server(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "results.json"
    assert main(["--quick", "--only", "10", "--paths", "A", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    r = report["fanout1k"]
    assert "error" not in r, r.get("error")
    # every viewer got every item, once, in order
    assert r["viewers"] == 20 and r["delivered"] == r["expected"] == r["sent"] * 20
    assert r["lost"] == 0 and r["duplicated"] == 0 and r["reported_dropped"] == 0
    assert 0 < r["p50_ms"] <= r["p99_ms"] <= r["max_ms"] and r["server_kib_per_viewer"] > 0
    rows = {row["field"]: row for row in report["rows"] if row["metric"] == "fanout1k"}
    assert set(rows) == {"p99_ms", "lost", "server_kib_per_viewer"}
    assert rows["p99_ms"]["target"] == {"op": "<=", "value": 50}  # quick mode judges nothing
    assert rows["lost"]["values"]["A"]["median"] == 0
    assert "10 kernel → 20 viewers p99" in capsys.readouterr().out


def test_metric_and_path_selection() -> None:
    assert parse_only("1,fanout,7") == ["throughput", "fanout", "browser"]
    assert parse_only("reload") == parse_only("8") == ["reload"]
    assert parse_only("image") == parse_only("9") == ["image"]
    assert parse_only(None)[0] == "throughput"
    assert parse_paths("c,a") == ["A", "C"]
    assert parse_paths("a-poll, A-Stream,a") == ["A", "A-stream", "A-poll"]
    assert parse_paths("b-batched,A-COMM,b,a") == ["A", "A-comm", "B", "B-batched"]
    assert parse_only("fanout1k") == parse_only("10") == ["fanout1k"]
    with pytest.raises(ValueError, match="unknown metric"):
        parse_only("11")
    with pytest.raises(ValueError, match="unknown path"):
        parse_paths("D")
