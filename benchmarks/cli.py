"""What every ``python -m benchmarks.<name>`` shares: ``--quick`` and ``--json PATH``."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["parser", "save_json"]


def parser(description: str | None, quick: str, **kwargs: Any) -> argparse.ArgumentParser:
    """An argument parser with ``--quick`` (``quick`` says what it runs) and ``--json``."""
    p = argparse.ArgumentParser(description=description, **kwargs)
    p.add_argument("--quick", action="store_true", help=quick)
    p.add_argument("--json", metavar="PATH", default=None, help="also write the results here")
    return p


def save_json(path: str | None, data: Any) -> None:
    """Write ``data`` to ``path`` as indented JSON (nothing when ``path`` is None)."""
    if path:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
