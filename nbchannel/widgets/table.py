"""LiveTable: rows keyed by id, updated in place."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..kernel.channel import LiveChannel
from .base import LiveWidget

__all__ = ["LiveTable"]


class LiveTable(LiveWidget):
    """A table whose rows are updated in place by id.

    ::

        table = LiveTable(columns=["name", "loss", "status"])
        display(table)
        table.update("run-1", name="baseline", loss=0.41, status="running")
        table.update("run-1", loss=0.38)           # only the changed cell redraws
        table.delete("run-1")

    Rows are retained state: a page that reloads shows the current table.
    """

    KIND = "table"

    def __init__(
        self,
        columns: Sequence[str] | None = None,
        *,
        max_rows: int = 1000,
        channel: LiveChannel | str | None = None,
    ) -> None:
        if max_rows < 1:
            raise ValueError("max_rows must be positive")
        super().__init__(channel=channel, config={"max_rows": max_rows})
        self._rows: dict[str, dict[str, Any]] = {}
        if columns is not None:
            self.columns = [str(c) for c in columns]

    @property
    def columns(self) -> list[str] | None:
        """Column order (None: columns appear as rows introduce them)."""
        cols = self.channel.get("columns")
        return list(cols) if cols is not None else None

    @columns.setter
    def columns(self, names: Sequence[str]) -> None:
        self.channel.set("columns", [str(c) for c in names])

    def update(self, row_id: Any, /, **fields: Any) -> None:
        """Create row ``row_id`` or change some of its fields."""
        key = str(row_id)
        row = {**self._rows.get(key, {}), **fields}
        self.channel.set(f"row:{key}", row)  # raises if a field cannot be sent: row unchanged
        self._rows[key] = row

    def set_row(self, row_id: Any, row: Mapping[str, Any]) -> None:
        """Replace row ``row_id`` entirely."""
        key = str(row_id)
        new = dict(row)
        self.channel.set(f"row:{key}", new)
        self._rows[key] = new

    def delete(self, row_id: Any) -> None:
        """Remove a row."""
        key = str(row_id)
        self._rows.pop(key, None)
        self.channel.unset(f"row:{key}")

    @property
    def rows(self) -> dict[str, dict[str, Any]]:
        """A copy of the rows by id."""
        return {k: dict(v) for k, v in self._rows.items()}
