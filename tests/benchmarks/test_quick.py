"""The benchmark suite runs: quick mode of metric 1 on path A, and the report's shape.

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
    assert rate["target"] == {"op": ">=", "value": 150_000}  # quick mode judges nothing
    assert set(rate["values"]) == {"A"}
    assert rate["values"]["A"]["median"] > 0
    assert rows["lost"]["values"]["A"]["median"] == 0

    (run,) = report["runs"]["small messages, as fast as possible"]["A"]
    assert run["expected"] == run["received"] == report["sizes"]["burst"]["A"]
    assert run["out_of_order"] == 0 and run["duplicates"] == 0

    table = capsys.readouterr().out
    assert "1 small msgs delivered" in table and "A nbchannel" in table


def test_metric_and_path_selection() -> None:
    assert parse_only("1,fanout,7") == ["throughput", "fanout", "browser"]
    assert parse_only(None)[0] == "throughput"
    assert parse_paths("c,a") == ["A", "C"]
    with pytest.raises(ValueError, match="unknown metric"):
        parse_only("9")
    with pytest.raises(ValueError, match="unknown path"):
        parse_paths("D")
