"""The machine's floor benchmark runs: every bare hop delivers everything, in order.

No timing is asserted; only that each measurement ran to the end with nothing lost and that
the report holds every row.
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.floor import Floor, main


def test_quick_floor_delivers_everything_and_reports_every_row(tmp_path: Path) -> None:
    out = tmp_path / "floor.json"
    assert main(["--quick", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    sizes = Floor.quick()

    assert set(report) == {
        "one_way_2", "one_way_1", "click_sleeping", "click_spinning",
        "arrays_2", "arrays_1", "items_2", "build",
    }  # fmt: skip
    for hops in (1, 2):
        assert report[f"one_way_{hops}"]["lost"] == 0
        assert 0 < report[f"one_way_{hops}"]["p50_ms"] <= report[f"one_way_{hops}"]["p99_ms"]
        assert report[f"arrays_{hops}"]["lost_bytes"] == 0
        assert report[f"arrays_{hops}"]["mib_per_s"] > 0
    for kind in ("sleeping", "spinning"):
        assert report[f"click_{kind}"]["handled"] == sizes.clicks
        assert report[f"click_{kind}"]["median_ms"] > 0
    # items() raises if an item arrives out of order
    assert report["items_2"]["lost"] == 0 and report["items_2"]["items_per_s"] > 0
    assert report["build"]["items_per_s"] > 0
