"""``LiveTable``: rows keyed by id as retained state, updated in place."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from nbchannel.core import protocol as P
from nbchannel.errors import EncodeError
from nbchannel.widgets import LiveTable, LiveWidget

from .page import Page

Watch = Callable[[LiveWidget], Page]


def test_config_and_columns(watch: Watch) -> None:
    table = LiveTable(columns=["name", 2, "status"], max_rows=10)
    assert table._config == {"max_rows": 10}
    assert table.columns == ["name", "2", "status"]
    assert watch(table).state == {"columns": ["name", "2", "status"]}


def test_without_columns_nothing_is_sent(watch: Watch) -> None:
    table = LiveTable()
    assert table._config == {"max_rows": 1000}
    assert table.columns is None
    assert watch(table).messages == []


def test_columns_can_be_changed(watch: Watch) -> None:
    table = LiveTable()
    table.columns = ("b", "a")
    assert table.columns == ["b", "a"]
    assert watch(table).state == {"columns": ["b", "a"]}


def test_update_creates_a_row_then_merges_fields(watch: Watch) -> None:
    table = LiveTable()
    table.update("run-1", name="baseline", loss=0.41, status="running")
    table.update("run-1", loss=0.38)
    page = watch(table)
    assert page.sets("row:run-1") == [
        {"name": "baseline", "loss": 0.41, "status": "running"},
        {"name": "baseline", "loss": 0.38, "status": "running"},
    ]
    assert page.state == {"row:run-1": {"name": "baseline", "loss": 0.38, "status": "running"}}
    assert table.rows == {"run-1": {"name": "baseline", "loss": 0.38, "status": "running"}}


def test_row_ids_are_strings(watch: Watch) -> None:
    table = LiveTable()
    table.update(1, a=1)
    table.update("1", b=2)
    assert watch(table).state == {"row:1": {"a": 1, "b": 2}}
    assert list(table.rows) == ["1"]


def test_rows_are_independent(watch: Watch) -> None:
    table = LiveTable()
    table.update("a", x=1)
    table.update("b", x=2)
    table.update("a", y=3)
    assert watch(table).state == {"row:a": {"x": 1, "y": 3}, "row:b": {"x": 2}}


def test_set_row_replaces_the_whole_row(watch: Watch) -> None:
    table = LiveTable()
    table.update("r", name="old", loss=1.0)
    table.set_row("r", {"name": "new"})
    table.update("r", status="done")
    assert watch(table).state == {"row:r": {"name": "new", "status": "done"}}
    assert table.rows == {"r": {"name": "new", "status": "done"}}


def test_set_row_copies_the_mapping(watch: Watch) -> None:
    table = LiveTable()
    row = {"name": "x"}
    table.set_row("r", row)
    row["name"] = "changed later"
    assert table.rows == {"r": {"name": "x"}}
    assert watch(table).state == {"row:r": {"name": "x"}}


def test_delete_unsets_the_row(watch: Watch) -> None:
    table = LiveTable(columns=["x"])
    table.update("a", x=1)
    table.update("b", x=2)
    table.delete("a")
    page = watch(table)
    assert (page.messages[-1].kind, page.messages[-1].key) == (P.UNSET, "row:a")
    assert page.state == {"columns": ["x"], "row:b": {"x": 2}}
    assert table.rows == {"b": {"x": 2}}
    table.update("a", y=5)  # a deleted row starts afresh
    assert table.rows["a"] == {"y": 5}


def test_deleting_an_unknown_row_is_harmless(watch: Watch) -> None:
    table = LiveTable()
    table.delete("never")
    assert table.rows == {}
    assert watch(table).state == {}


def test_rows_is_a_copy() -> None:
    table = LiveTable()
    table.update("r", x=1)
    rows = table.rows
    rows["r"]["x"] = 99
    rows["other"] = {}
    assert table.rows == {"r": {"x": 1}}


def test_unsendable_field_is_refused(watch: Watch) -> None:
    table = LiveTable()
    table.update("r", x=1)
    with pytest.raises(EncodeError):
        table.update("r", obj=object())
    assert watch(table).state == {"row:r": {"x": 1}}


def test_a_refused_update_leaves_the_row_usable(watch: Watch) -> None:
    table = LiveTable()
    table.update("r", x=1)
    with pytest.raises(EncodeError):
        table.update("r", obj=object())
    assert table.rows == {"r": {"x": 1}}
    table.update("r", x=2)  # raises EncodeError today: the row is poisoned
    assert watch(table).state == {"row:r": {"x": 2}}
