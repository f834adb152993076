"""The report's list of measurements that failed, and the exit status it gives the suite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import benchmarks.__main__ as suite_main
from benchmarks.report import errors, failures, format_table
from benchmarks.suite import FULL, MEASUREMENTS, build_report


def _row(label: str, **values: dict[str, Any]) -> dict[str, Any]:
    return {
        "metric": "m",
        "label": label,
        "table_label": label,
        "field": "rate",
        "unit": "msg/s",
        "better": "higher",
        "values": values,
        "ratios": {},
        "target": None,
    }


REPORT: dict[str, Any] = {
    "rows": [
        _row("1 small msgs delivered", A={"median": 5.0}, B={"median": 1.0}),
        _row("  7 LivePlot fps", A={"median": None, "error": "skipped: no Chromium"}),
        _row("9 LiveImage 1080p jpeg fps", A={"median": None, "error": "OSError: busy"}),
    ]
}


def test_errors_name_each_measurement_without_a_value_and_failures_leave_out_skips() -> None:
    assert errors(REPORT) == [
        "7 LivePlot fps [A]: skipped: no Chromium",
        "9 LiveImage 1080p jpeg fps [A]: OSError: busy",
    ]
    assert failures(REPORT) == ["9 LiveImage 1080p jpeg fps [A]: OSError: busy"]


def test_a_failed_measurement_makes_the_exit_status_1_after_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def run_suite(*args: Any, **kwargs: Any) -> dict[str, Any]:
        return {**REPORT, "quick": True, "reps": 1, "goals": []}

    monkeypatch.setattr(suite_main, "run_suite", run_suite)
    monkeypatch.setattr(suite_main, "format_table", lambda report: "the table")
    out = tmp_path / "r.json"
    assert suite_main.main(["--quick", "--only", "1", "--json", str(out)]) == 1
    assert out.exists()  # what ran is kept
    captured = capsys.readouterr()
    assert "the table" in captured.out
    assert "1 measurement(s) failed" in captured.err

    skipped_only = {**REPORT, "rows": REPORT["rows"][:2]}

    async def run_skips(*args: Any, **kwargs: Any) -> dict[str, Any]:
        return {**skipped_only, "quick": True, "reps": 1, "goals": []}

    monkeypatch.setattr(suite_main, "run_suite", run_skips)
    assert suite_main.main(["--quick", "--only", "1", "--json", str(out)]) == 0


def test_the_legend_explains_metric_4_only_when_it_ran() -> None:
    def table(rows: list[dict[str, Any]]) -> str:
        env = {"load_average_before": [0.5], "load_average_after": [0.7], "cpus": 2}
        report = {"rows": rows, "environment": env, "quick": False, "reps": 3, "seconds": 9}
        return format_table({**report, "sizes": {"slow_seconds": 60}})

    arrays = {**_row("4 1 MiB arrays", A={"median": 700.0}), "metric": "arrays"}
    without = table(REPORT["rows"][:1])
    assert "flow='block'" not in without
    assert "1 small msgs delivered" in without and "on 2 CPUs" in without
    assert "flow='block' channel (window 16)" in table([*REPORT["rows"][:1], arrays])


def test_a_path_whose_runs_end_without_a_figure_is_not_a_failed_measurement() -> None:
    # Path B's comm loses every message of the fan-out: it has no latency to give.
    delivered = {"rate": 99_000.0, "lost": 0, "expected": 200_000, "p99_ms": 42.0}
    all_lost = {"rate": 0.0, "lost": 200_000, "expected": 200_000}
    crashed = {"error": "TimeoutError: no kernel"}
    fanout = next(m.name for m in MEASUREMENTS if m.metric == "fanout")
    runs = {fanout: {"A": [delivered] * 3, "B": [all_lost] * 3, "C": [crashed]}}
    report = build_report(
        runs, FULL, 3, quick=False, browser=None, started=0.0, load_before=(0.1, 0.1, 0.1)
    )
    assert failures(report) == [
        "5 fan-out delivered (all) [C]: TimeoutError: no kernel",
        "lost (of sent) [C]: TimeoutError: no kernel",
        "latency p99 [C]: TimeoutError: no kernel",
    ]
    table = format_table(report)
    p99 = next(line for line in table.splitlines() if "latency p99" in line)
    assert p99.split()[4:7] == ["42.0", "n/a", "err"]  # paths A, B, C
    assert "n/a = every run ended without this figure" in table
