"""``LiveLog`` (appended lines) and ``LiveText`` (a text or markdown value)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from nbchannel.core import protocol as P
from nbchannel.widgets import LiveLog, LiveText, LiveWidget

from .page import Page
from .refusals import assert_refused

Watch = Callable[[LiveWidget], Page]

# -- LiveLog ---------------------------------------------------------------------------


def test_log_config_and_history_bound(watch: Watch) -> None:
    log = LiveLog(max_lines=50, height=120)
    assert log._config == {"max_lines": 50, "height": 120}
    assert log.channel._open_message().value() == {"history_items": 50}
    assert LiveLog()._config == {"max_lines": 5000, "height": 240}
    assert watch(log).messages == []


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"max_lines": 0}, ValueError, "LiveLog(max_lines=...) must be an integer >= 1, got int 0"),
        (
            {"max_lines": -1},
            ValueError,
            "LiveLog(max_lines=...) must be an integer >= 1, got int -1",
        ),
        (
            {"max_lines": True},
            TypeError,
            "LiveLog(max_lines=...) must be an integer >= 1, got bool True",
        ),
        (
            {"max_lines": 100.0},
            TypeError,
            "LiveLog(max_lines=...) must be an integer >= 1, got float 100.0",
        ),
        ({"height": 0}, ValueError, "LiveLog(height=...) must be an integer >= 1, got int 0"),
        (
            {"height": "240px"},
            TypeError,
            "LiveLog(height=...) must be an integer >= 1, got str '240px'",
        ),
    ],
    ids=["lines-0", "lines-neg", "lines-bool", "lines-float", "height-0", "height-str"],
)
def test_log_refuses_bad_arguments_by_name(
    kwargs: dict[str, Any], error: type[Exception], message: str, transport: Any
) -> None:
    assert_refused(lambda: LiveLog(**kwargs), error, message)
    assert transport.registered == []  # refused before any channel was opened


@pytest.mark.parametrize(
    ("texts", "lines"),
    [
        (("one line",), ["one line"]),
        (("first\nsecond\nthird",), ["first", "second", "third"]),
        (("trailing newline\n",), ["trailing newline"]),
        (("crlf\r\nlines",), ["crlf", "lines"]),
        (("a\n\nb",), ["a", "", "b"]),
        (("",), [""]),
        (("\n",), [""]),
        (("a\nb", "c"), ["a", "b", "c"]),
        ((42, None, 1.5), ["42", "None", "1.5"]),
    ],
    ids=["one", "multi", "trailing", "crlf", "blank", "empty", "newline", "args", "str"],
)
def test_write_appends_one_item_of_lines(
    texts: tuple[Any, ...], lines: list[str], watch: Watch
) -> None:
    log = LiveLog()
    log.write(*texts)
    page = watch(log)
    assert [m.kind for m in page.messages] == [P.APPEND]
    assert page.stream == [{"lines": lines}]


def test_write_with_nothing_sends_nothing(watch: Watch) -> None:
    log = LiveLog()
    log.write()
    assert watch(log).messages == []


def test_log_is_write(watch: Watch) -> None:
    log = LiveLog()
    log.log("via log")
    log.write("via write")
    assert watch(log).stream == [{"lines": ["via log"]}, {"lines": ["via write"]}]


def test_markup_is_sent_as_plain_text(watch: Watch) -> None:
    log = LiveLog()
    log.write("<b>not bold</b>")
    assert watch(log).stream == [{"lines": ["<b>not bold</b>"]}]


# -- LiveText --------------------------------------------------------------------------


def test_text_initial_value_is_state(watch: Watch) -> None:
    status = LiveText("starting…")
    assert status._config == {"format": "text"}
    assert status.value == "starting…"
    assert watch(status).state == {"text": {"value": "starting…", "format": "text"}}


def test_text_default_is_empty(watch: Watch) -> None:
    assert LiveText().value == ""
    assert watch(LiveText()).state == {"text": {"value": "", "format": "text"}}


def test_setting_the_value_replaces_the_state(watch: Watch) -> None:
    status = LiveText("a", format="markdown")
    status.value = "**epoch 3** — loss 0.12"
    page = watch(status)
    assert status.value == "**epoch 3** — loss 0.12"
    assert status._config == {"format": "markdown"}
    assert page.sets("text") == [
        {"value": "a", "format": "markdown"},
        {"value": "**epoch 3** — loss 0.12", "format": "markdown"},
    ]
    assert page.state == {"text": {"value": "**epoch 3** — loss 0.12", "format": "markdown"}}


def test_text_value_is_made_a_string(watch: Watch) -> None:
    status = LiveText()
    status.value = 0.5  # type: ignore[assignment]
    assert status.value == "0.5"
    assert watch(status).state["text"]["value"] == "0.5"


@pytest.mark.parametrize(
    ("fmt", "error", "got"),
    [
        ("html", ValueError, "str 'html'"),
        ("", ValueError, "str ''"),
        ("Markdown", ValueError, "str 'Markdown'"),
        (None, TypeError, "None"),
        (True, TypeError, "bool True"),
    ],
    ids=repr,
)
def test_unknown_format_is_refused(
    fmt: Any, error: type[Exception], got: str, transport: Any
) -> None:
    assert_refused(
        lambda: LiveText("x", format=fmt),
        error,
        f"LiveText(format=...) must be 'text' or 'markdown', got {got}",
    )
    assert transport.registered == []
