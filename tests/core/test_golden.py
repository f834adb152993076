"""The golden frames in tests/fixtures/golden/ (shared with the JS codec tests)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from nbchannel.core.codec import VERSION, decode_frame, encode_frame

from ..fixtures.make_golden import GOLDEN_DIR, build_messages, describe, main

MANIFEST = json.loads((GOLDEN_DIR / "manifest.json").read_text("utf-8"))
FRAMES: list[dict[str, Any]] = MANIFEST["frames"]


def test_manifest_describes_this_wire_version() -> None:
    assert MANIFEST["wire_version"] == VERSION
    assert len(FRAMES) >= 6
    named = {p.name for p in GOLDEN_DIR.glob("*.bin")}
    assert named == {f["file"] for f in FRAMES}


def test_files_are_up_to_date_with_the_generator() -> None:
    assert main(["--check"]) == 0


@pytest.mark.parametrize("case", FRAMES, ids=[f["file"] for f in FRAMES])
def test_encoding_reproduces_the_file(case: dict[str, Any]) -> None:
    data = (GOLDEN_DIR / case["file"]).read_bytes()
    assert len(data) == case["nbytes"]
    assert hashlib.sha256(data).hexdigest() == case["sha256"]
    assert encode_frame(build_messages(case["messages"])) == data


@pytest.mark.parametrize("case", FRAMES, ids=[f["file"] for f in FRAMES])
def test_decoding_gives_the_manifest(case: dict[str, Any]) -> None:
    decoded = decode_frame((GOLDEN_DIR / case["file"]).read_bytes())
    described = [describe(m) for m in decoded]
    assert described == case["messages"]
    # and with the same JSON types (1 vs 1.0 vs true) and key order
    assert json.dumps(described) == json.dumps(case["messages"])
