"""LiveTable: rows keyed by id, updated in place."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..core.message import pack_value
from ..errors import EncodeError
from ..kernel.channel import LiveChannel
from . import _checks, snapshot
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

    ``columns`` (distinct, non-empty strings) fixes the column order; without it columns
    appear as rows introduce them. A row id is a non-empty string or an int (``1`` and
    ``"1"`` are the same row); field values are JSON values (numbers, strings, bools,
    None, lists, dicts). Rows are retained state: a page that reloads shows the current
    table. The output's static snapshot is an HTML table of the first
    :data:`~.snapshot.TABLE_ROWS` rows (and at most ``max_rows``), then how many more
    there are.
    """

    KIND = "table"

    def __init__(
        self,
        columns: Sequence[str] | None = None,
        *,
        max_rows: int = 1000,
        channel: LiveChannel | str | None = None,
    ) -> None:
        max_rows = _checks.integer(max_rows, self, "(max_rows=...)", minimum=1)
        names = (
            None
            if columns is None
            else _checks.names(columns, self, "(columns=...)", "column names")
        )
        super().__init__(channel=channel, config={"max_rows": max_rows})
        self._max_rows = max_rows
        self._rows: dict[str, dict[str, Any]] = {}
        if names is not None:
            self.channel.set("columns", names)

    @property
    def columns(self) -> list[str] | None:
        """Column order (None: columns appear as rows introduce them)."""
        cols = self.channel.get("columns")
        return list(cols) if cols is not None else None

    @columns.setter
    def columns(self, names: Sequence[str]) -> None:
        self.channel.set("columns", _checks.names(names, self, ".columns", "column names"))

    def update(self, row_id: str | int, /, **fields: Any) -> None:
        """Create row ``row_id`` or change some of its fields."""
        key = self._key(row_id, ".update(row_id=...)")
        row = {**self._rows.get(key, {}), **fields}
        self._set(key, row, fields, ".update")  # raises if a field cannot be sent: row unchanged
        self._rows[key] = row

    def set_row(self, row_id: str | int, row: Mapping[str, Any]) -> None:
        """Replace row ``row_id`` entirely with the fields in ``row``."""
        key = self._key(row_id, ".set_row(row_id=...)")
        if not isinstance(row, Mapping) or not all(isinstance(k, str) for k in row):
            raise _checks.type_error(
                self, ".set_row(row=...)", "a mapping of field names (str) to values", row
            )
        new = dict(row)
        self._set(key, new, new, ".set_row")
        self._rows[key] = new

    def delete(self, row_id: str | int) -> None:
        """Remove a row (an unknown row id is no error)."""
        key = self._key(row_id, ".delete(row_id=...)")
        self._rows.pop(key, None)
        self.channel.unset(f"row:{key}")

    def _key(self, row_id: object, where: str) -> str:
        if isinstance(row_id, str):
            if not row_id:
                raise _checks.value_error(self, where, "a non-empty string or an int", row_id)
            return str(row_id)
        if isinstance(row_id, (int, np.integer)) and not isinstance(row_id, bool):
            return str(int(row_id))
        raise _checks.type_error(self, where, "a non-empty string or an int", row_id)

    def _set(self, key: str, row: dict[str, Any], fields: Mapping[str, Any], call: str) -> None:
        try:
            self.channel.set(f"row:{key}", row)
        except EncodeError:
            # name the field that cannot be sent (looked for only now, on the error path)
            for name, value in fields.items():
                try:
                    pack_value(value)
                except EncodeError as exc:
                    where = f"{call}({name}=...)" if call == ".update" else f"{call}(row=...)"
                    field = "" if call == ".update" else f" field {name!r}"
                    raise EncodeError(f"{type(self).__name__}{where}{field}: {exc}") from None
            raise

    def _snapshot(self) -> dict[str, Any]:
        return snapshot.table_bundle(
            self.columns, self._rows, limit=min(self._max_rows, snapshot.TABLE_ROWS)
        )

    @property
    def rows(self) -> dict[str, dict[str, Any]]:
        """A copy of the rows by id."""
        return {k: dict(v) for k, v in self._rows.items()}
