"""``LiveTable``: rows keyed by id as retained state, updated in place."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from nbchannel.core import protocol as P
from nbchannel.errors import EncodeError
from nbchannel.widgets import LiveTable, LiveWidget

from .page import Page
from .refusals import Opaque, assert_refused

Watch = Callable[[LiveWidget], Page]


def test_config_and_columns(watch: Watch) -> None:
    table = LiveTable(columns=("name", "loss", "status"), max_rows=10)
    assert table._config == {"max_rows": 10}
    assert table.columns == ["name", "loss", "status"]
    assert watch(table).state == {"columns": ["name", "loss", "status"]}


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
    table.update(np.int64(1), c=3)
    assert watch(table).state == {"row:1": {"a": 1, "b": 2, "c": 3}}
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


COLUMNS = "must be a list of column names (str)"

BAD_ARGUMENTS = [
    pytest.param(
        {"columns": "name"},
        TypeError,
        f"LiveTable(columns=...) {COLUMNS}, got str 'name'",
        id="columns-str",
    ),
    pytest.param(
        {"columns": ["name", 2]},
        TypeError,
        f"LiveTable(columns=...) {COLUMNS}, got int 2 at index 1",
        id="column-int",
    ),
    pytest.param(
        {"columns": []},
        ValueError,
        "LiveTable(columns=...) must be a non-empty list of column names, got list []",
        id="columns-empty",
    ),
    pytest.param(
        {"columns": ["a", ""]},
        ValueError,
        "LiveTable(columns=...) must be a list of non-empty column names, got str '' at index 1",
        id="column-empty",
    ),
    pytest.param(
        {"columns": ["loss", "acc", "loss"]},
        ValueError,
        "LiveTable(columns=...) must be a list of distinct column names, got 'loss' twice",
        id="columns-duplicate",
    ),
    pytest.param(
        {"max_rows": 0},
        ValueError,
        "LiveTable(max_rows=...) must be an integer >= 1, got int 0",
        id="max-rows-0",
    ),
    pytest.param(
        {"max_rows": True},
        TypeError,
        "LiveTable(max_rows=...) must be an integer >= 1, got bool True",
        id="max-rows-bool",
    ),
    pytest.param(
        {"max_rows": 1e3},
        TypeError,
        "LiveTable(max_rows=...) must be an integer >= 1, got float 1000.0",
        id="max-rows-float",
    ),
]


@pytest.mark.parametrize(("kwargs", "error", "message"), BAD_ARGUMENTS)
def test_bad_arguments_are_refused_by_name(
    kwargs: dict[str, Any], error: type[Exception], message: str, transport: Any
) -> None:
    assert_refused(lambda: LiveTable(**kwargs), error, message)
    assert transport.registered == []  # refused before any channel was opened


ROW_ID = "must be a non-empty string or an int"
NOT_JSON = (
    "cannot send this value: Type is not JSON serializable: Opaque. Payloads are JSON values "
    "(dict with string keys, list, str, number, bool, None) with numpy arrays or bytes "
    "anywhere inside."
)

BAD_CALLS = [
    pytest.param(
        lambda t: t.update(None, x=1),
        TypeError,
        f"LiveTable.update(row_id=...) {ROW_ID}, got None",
        id="update-id-none",
    ),
    pytest.param(
        lambda t: t.update("", x=1),
        ValueError,
        f"LiveTable.update(row_id=...) {ROW_ID}, got str ''",
        id="update-id-empty",
    ),
    pytest.param(
        lambda t: t.update(True, x=1),
        TypeError,
        f"LiveTable.update(row_id=...) {ROW_ID}, got bool True",
        id="update-id-bool",
    ),
    pytest.param(
        lambda t: t.update(1.5, x=1),
        TypeError,
        f"LiveTable.update(row_id=...) {ROW_ID}, got float 1.5",
        id="update-id-float",
    ),
    pytest.param(
        lambda t: t.update("r", x=2, obj=Opaque()),
        EncodeError,
        f"LiveTable.update(obj=...): {NOT_JSON}",
        id="update-field",
    ),
    pytest.param(
        lambda t: t.set_row(("r",), {"x": 1}),
        TypeError,
        f"LiveTable.set_row(row_id=...) {ROW_ID}, got tuple ('r',)",
        id="set-row-id-tuple",
    ),
    pytest.param(
        lambda t: t.set_row("r", [("x", 1)]),
        TypeError,
        "LiveTable.set_row(row=...) must be a mapping of field names (str) to values, "
        "got list [('x', 1)]",
        id="set-row-pairs",
    ),
    pytest.param(
        lambda t: t.set_row("r", {1: "x"}),
        TypeError,
        "LiveTable.set_row(row=...) must be a mapping of field names (str) to values, "
        "got dict {1: 'x'}",
        id="set-row-int-key",
    ),
    pytest.param(
        lambda t: t.set_row("r", {"x": 1, "obj": Opaque()}),
        EncodeError,
        f"LiveTable.set_row(row=...) field 'obj': {NOT_JSON}",
        id="set-row-field",
    ),
    pytest.param(
        lambda t: t.delete(None),
        TypeError,
        f"LiveTable.delete(row_id=...) {ROW_ID}, got None",
        id="delete-none",
    ),
    pytest.param(
        lambda t: setattr(t, "columns", "abc"),
        TypeError,
        f"LiveTable.columns {COLUMNS}, got str 'abc'",
        id="columns-setter",
    ),
    pytest.param(
        lambda t: setattr(t, "columns", ["a", "a"]),
        ValueError,
        "LiveTable.columns must be a list of distinct column names, got 'a' twice",
        id="columns-setter-duplicate",
    ),
]


@pytest.mark.parametrize(("call", "error", "message"), BAD_CALLS)
def test_bad_calls_are_refused_by_name_and_change_nothing(
    call: Callable[[LiveTable], Any], error: type[Exception], message: str, watch: Watch
) -> None:
    table = LiveTable(columns=["x"])
    table.update("r", x=1)
    page = watch(table)
    sent = len(page.messages)
    assert_refused(lambda: call(table), error, message)
    assert len(page.messages) == sent
    assert table.rows == {"r": {"x": 1}}
    assert table.columns == ["x"]
