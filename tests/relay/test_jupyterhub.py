"""Hub-wide channels under a real JupyterHub, end to end (slow).

JupyterHub (PyPI) on loopback with ``DummyAuthenticator`` and ``SimpleLocalProcessSpawner``,
``configurable-http-proxy`` (npm), the relay as the managed service ``nbchannel`` and the
custom scopes granted by roles: a teacher (own, subscribe, event), a student (subscribe,
event) and a visitor (neither). The teacher's kernel, started through the teacher's server's
REST API, writes hub-wide channels; the student logs in through the hub's form in Chromium,
opens a notebook whose widgets show those channels, sees them live and clicks; the
teacher's handler learns the click came from ``student``. The visitor's page says why it
shows nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from playwright.sync_api import Page

from nbchannel.relay.access import scope_for
from nbchannel.testing.browser import Browser, NotebookPage, write_notebook
from nbchannel.testing.jupyterhub import JupyterHubProcess
from nbchannel.testing.server import KernelSession

pytestmark = pytest.mark.slow

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
OWN, SUBSCRIBE, EVENT = scope_for("own"), scope_for("subscribe"), scope_for("event")
USERS = ["teacher", "student", "visitor"]
#: as the README's configuration: roles granted to groups; the visitor is in none
GROUPS = {
    "teachers": (["teacher"], [OWN, SUBSCRIBE, EVENT]),
    "students": (["student"], [SUBSCRIBE, EVENT]),
}

#: What every student runs: widgets on the teacher's hub-wide channels.
STUDENT_CELLS = [
    "from nbchannel import LiveChannel\nfrom nbchannel.widgets import Button, LivePlot",
    'LivePlot(["answers"], channel=LiveChannel("quiz", scope="hub"), title="Class answers")',
    'Button("Answer: 4", channel=LiveChannel("quiz/answer", scope="hub"))',
]

TEACHER_CODE = """
from nbchannel import LiveChannel
from nbchannel.widgets import Button, LivePlot
plot = LivePlot(["answers"], channel=LiveChannel("quiz", scope="hub"), title="Class answers")
button = Button("Answer: 4", channel=LiveChannel("quiz/answer", scope="hub"))
clicks = []
button.on_click(lambda ev: clicks.append(ev.user))
for i in range(50):
    plot.append(i, answers=(i * 7) % 11)
assert plot.channel.flush(20), plot.channel.stats
"""


@pytest.fixture(scope="module")
def hub() -> Iterator[JupyterHubProcess]:
    with JupyterHubProcess(USERS, GROUPS) as h:
        for user in USERS:
            write_notebook(h.home(user) / "quiz.ipynb", STUDENT_CELLS)
        yield h


@pytest.fixture(scope="module")
def teacher(hub: JupyterHubProcess) -> Iterator[KernelSession]:
    hub.start_server("teacher")
    kernel = hub.start_kernel("teacher")
    kernel.execute(TEACHER_CODE, timeout=60)
    yield kernel
    kernel.shutdown()


def log_in(browser: Browser, hub: JupyterHubProcess, user: str) -> Page:
    """Log in through the hub's form; the hub spawns the user's server and opens Lab."""
    page = browser.new_page()
    page.goto(hub.url + "hub/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", "any")
    page.click("input[type=submit], button[type=submit]")
    page.wait_for_url(f"**/user/{user}/lab**", timeout=120_000)
    return page


def open_quiz(page: Page, hub: JupyterHubProcess, user: str) -> NotebookPage:
    page.goto(f"{hub.url}user/{user}/lab/tree/quiz.ipynb?reset")
    # (NotebookPage needs the server only for URLs, which are the hub's here)
    nb = NotebookPage(page, cast(Any, None), "quiz.ipynb", "lab")
    nb.wait_kernel_ready(90)
    nb.run_all(timeout=90)
    return nb


def test_student_watches_and_clicks_visitor_is_told_why_not(
    hub: JupyterHubProcess, teacher: KernelSession, browser: Browser
) -> None:
    started = time.monotonic()
    page = log_in(browser, hub, "student")
    open_quiz(page, hub, "student")
    plot = page.locator(".nbc-plot").first
    plot.wait_for(timeout=30_000)
    page.wait_for_function(
        "() => { const p = document.querySelector('.nbc-plot');"
        " return p && p.dataset.status === 'live' && p.dataset.points === '50'; }",
        timeout=30_000,
    )
    # the views come from the relay, on the page's origin, not from the student's server
    via = page.evaluate(
        "() => document.querySelector('.nbc-plot').closest('[data-nbchannel-via]')"
        "?.dataset.nbchannelVia"
    )
    assert via == "relay"
    # live: the teacher writes more, the student's plot follows
    teacher.execute("for i in range(50, 60):\n    plot.append(i, answers=(i * 7) % 11)")
    teacher.execute("assert plot.channel.flush(10)")
    page.wait_for_function(
        "() => document.querySelector('.nbc-plot')?.dataset.points === '60'", timeout=20_000
    )
    # the teacher's kernel sees who watches
    deadline = time.monotonic() + 20
    while "student" not in (teacher.eval("plot.channel.viewer_users") or []):
        assert time.monotonic() < deadline, teacher.eval("plot.channel.viewer_users")
        time.sleep(0.2)

    # the student's click reaches the teacher's handler, with the student's name
    button = page.locator(".nbc-button button").first
    button.scroll_into_view_if_needed()
    page.wait_for_function(
        "() => document.querySelector('.nbc-button')?.dataset.status === 'live'", timeout=20_000
    )
    button.click()
    deadline = time.monotonic() + 20
    while teacher.eval("clicks") != ["student"]:
        assert time.monotonic() < deadline, teacher.eval("clicks")
        time.sleep(0.2)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    plot.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "jupyterhub-student.png"))
    student_seconds = time.monotonic() - started

    # a user without custom:nbchannel:subscribe: every view says why it shows nothing
    visitor = log_in(browser, hub, "visitor")
    open_quiz(visitor, hub, "visitor")
    refusal = visitor.locator(".nbc-plot .nbc-refused")
    refusal.wait_for(timeout=30_000)
    text = refusal.inner_text()
    assert "user 'visitor' may not watch hub-wide channels" in text
    assert "custom:nbchannel:subscribe" in text
    assert visitor.locator(".nbc-button .nbc-refused").count() == 1
    assert visitor.locator(".nbc-plot").first.get_attribute("data-status") == "unavailable"
    visitor.screenshot(path=str(ARTIFACTS / "jupyterhub-visitor.png"))
    assert "student" in teacher.eval("plot.channel.viewer_users")
    assert "visitor" not in teacher.eval("plot.channel.viewer_users")
    assert browser.our_errors() == []
    print(f"student scenario {student_seconds:.1f} s")
