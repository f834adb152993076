"""The options every benchmark module shares, and where its JSON goes."""

from __future__ import annotations

import json
import math
from pathlib import Path

from benchmarks.cli import parser, save_json


def test_every_benchmark_takes_quick_and_json_and_its_own_options() -> None:
    p = parser("a benchmark", "tiny sizes")
    p.add_argument("--reps", type=int, default=3)
    args = p.parse_args(["--quick", "--json", "out.json", "--reps", "5"])
    assert (args.quick, args.json, args.reps) == (True, "out.json", 5)
    args = p.parse_args([])
    assert (args.quick, args.json) == (False, None)
    assert "tiny sizes" in p.format_help()


def test_results_are_written_as_strict_json_only_when_a_path_is_given(tmp_path: Path) -> None:
    out = tmp_path / "new" / "r.json"
    save_json(str(out), {"rate": 1.5, "rows": [1, 2], "p99": float("nan"), "max": math.inf})
    assert json.loads(out.read_text()) == {"rate": 1.5, "rows": [1, 2], "p99": None, "max": None}
    assert out.read_text().endswith("\n")
    save_json(None, {"rate": 2})  # nothing asked, nothing written
    assert [p.name for p in tmp_path.rglob("*")] == ["new", "r.json"]
