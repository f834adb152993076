"""Browser fixtures (Chromium itself is the session fixture in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbchannel.testing import JupyterServer
from nbchannel.testing.browser import write_notebook

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def notebook(jupyter: JupyterServer, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """Write a notebook named after the test: ``notebook([cell, ...]) -> path``."""

    def make(cells: list[str]) -> str:
        name = "".join(c if c.isalnum() else "-" for c in request.node.name) + ".ipynb"
        write_notebook(jupyter.root_dir / name, cells)
        return name

    return make
