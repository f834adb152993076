"""``LiveLog`` (appended lines) and ``LiveText`` (a text or markdown value)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from nbchannel.core import protocol as P
from nbchannel.widgets import LiveLog, LiveText, LiveWidget

from .page import Page

Watch = Callable[[LiveWidget], Page]

# -- LiveLog ---------------------------------------------------------------------------


def test_log_config_and_history_bound(watch: Watch) -> None:
    log = LiveLog(max_lines=50, height=120)
    assert log._config == {"max_lines": 50, "height": 120}
    assert log.channel._open_message().value() == {"history_items": 50}
    assert LiveLog()._config == {"max_lines": 5000, "height": 240}
    assert watch(log).messages == []


@pytest.mark.parametrize("max_lines", [0, -1])
def test_log_needs_a_positive_bound(max_lines: int) -> None:
    with pytest.raises(ValueError, match="max_lines must be positive"):
        LiveLog(max_lines=max_lines)


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


@pytest.mark.parametrize("fmt", ["html", "", "Markdown"])
def test_unknown_format_is_refused(fmt: str) -> None:
    with pytest.raises(ValueError, match="format is 'text' or 'markdown'"):
        LiveText("x", format=fmt)  # type: ignore[arg-type]
