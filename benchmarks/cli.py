"""What every ``python -m benchmarks.<name>`` shares: ``--quick`` and ``--json PATH``."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

__all__ = ["parser", "save_json"]


def parser(description: str | None, quick: str, **kwargs: Any) -> argparse.ArgumentParser:
    """An argument parser with ``--quick`` (``quick`` says what it runs) and ``--json``."""
    p = argparse.ArgumentParser(description=description, **kwargs)
    p.add_argument("--quick", action="store_true", help=quick)
    p.add_argument("--json", metavar="PATH", default=None, help="also write the results here")
    return p


def save_json(path: str | Path | None, data: Any) -> None:
    """Write ``data`` to ``path`` as strict, indented JSON (NaN and infinities, which mean
    no data, become null; its folder is made if needed); nothing when ``path`` is None."""
    if path is None or path == "":
        return
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_clean(data), indent=2, allow_nan=False, default=str)
    p.write_text(text + "\n", encoding="utf-8")


def _clean(o: Any) -> Any:
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    return o
