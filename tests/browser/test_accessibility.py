"""Accessibility of the widgets in a real JupyterLab: an axe-core audit of every widget, one
live region for connection changes, sortable table headers from the keyboard, and a visible
focus ring on every control (screenshots saved)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, WebSocketRoute

from nbchannel.testing import JupyterServer
from nbchannel.testing.browser import Browser, NotebookPage
from tests.browser.test_widgets import ALL_WIDGETS, KINDS

MakeNotebook = Callable[[list[str]], str]

AXE = Path(__file__).resolve().parents[2] / "js" / "node_modules" / "axe-core" / "axe.min.js"


def _open_all_widgets(
    browser: Browser,
    jupyter: JupyterServer,
    path: str,
    *,
    page: Page | None = None,
    theme: str = "JupyterLab Light",
) -> NotebookPage:
    """Open the notebook with every widget, run it, and wait until each shows its data."""
    nb = browser.open_notebook(jupyter, path, page=page)
    nb.set_theme(theme)
    nb.run_all()
    for kind in KINDS:
        nb.page.locator(f".nbc-{kind}").first.wait_for(state="visible", timeout=20_000)
    nb.page.wait_for_function(
        "() => document.querySelector('.nbc-table').dataset.rows === '3'"
        " && !!document.querySelector('.nbc-text strong')"
        " && [...document.querySelectorAll('.nbc-widget')].every(w => w.dataset.status === 'live')",
        timeout=20_000,
    )
    return nb


def _axe(page: Page) -> dict[str, Any]:
    """Run axe-core on the nbchannel widgets of the page (nothing else of JupyterLab's)."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `npm ci --prefix js` (axe-core is a devDependency)")
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE))
    result: dict[str, Any] = page.evaluate(
        """async () => {
          const widgets = document.querySelectorAll('.jp-OutputArea-output .nbc-widget');
          const r = await axe.run({ include: widgets }, { resultTypes: ['violations', 'passes'] });
          const nodes = (list) => list.map(v => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map(n => ({ target: n.target.join(' '), html: n.html.slice(0, 200),
                                       summary: n.failureSummary })),
          }));
          return { widgets: widgets.length, violations: nodes(r.violations),
                   passes: nodes(r.passes) };
        }"""
    )
    return result


def _serious(violations: list[dict[str, Any]]) -> list[str]:
    return [
        f"{v['id']} ({v['impact']}): {v['help']}\n"
        + "\n".join(f"    {n['target']}: {n['html']}\n      {n['summary']}" for n in v["nodes"])
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("theme", ["JupyterLab Light", "JupyterLab Dark"], ids=["light", "dark"])
def test_axe_finds_no_serious_violations_in_any_widget(
    jupyter: JupyterServer, browser: Browser, notebook: MakeNotebook, artifacts: Path, theme: str
) -> None:
    nb = _open_all_widgets(browser, jupyter, notebook(ALL_WIDGETS), theme=theme)
    page = nb.page
    try:
        result = _axe(page)
        assert result["widgets"] == len(KINDS)
        # The audit really looked at our widgets: rules that need their elements passed.
        passed = {p["id"]: len(p["nodes"]) for p in result["passes"]}
        for rule in ("button-name", "color-contrast", "label", "th-has-data-cells"):
            assert passed.get(rule, 0) > 0, f"axe checked no element for {rule}: {sorted(passed)}"
        assert _serious(result["violations"]) == []
        # ...and it would notice a broken control in a widget.
        page.evaluate(
            "() => document.querySelector('.nbc-button .nbc-control-row')"
            ".append(Object.assign(document.createElement('button'), {className: 'probe'}))"
        )
        probe = _axe(page)
        assert any(v["id"] == "button-name" for v in probe["violations"]), probe["violations"]
        tag = "dark" if "Dark" in theme else "light"
        for kind in ("text", "table", "button"):
            page.locator(f".nbc-{kind}").screenshot(path=str(artifacts / f"a11y-{kind}-{tag}.png"))
        assert browser.our_errors() == []
    finally:
        nb.page.context.close()


def test_one_live_region_announces_a_reconnect_once(
    jupyter: JupyterServer, browser: Browser, notebook: MakeNotebook
) -> None:
    sockets: list[WebSocketRoute] = []

    def forward(ws: WebSocketRoute) -> None:
        ws.connect_to_server()
        sockets.append(ws)

    page = browser.new_page()
    page.route_web_socket(re.compile(r".*/nbchannel/ws.*"), forward)
    nb = _open_all_widgets(browser, jupyter, notebook(ALL_WIDGETS), page=page)
    try:
        # One polite region for the page; no badge (twelve of them here) is a live region.
        regions = page.evaluate(
            """() => [...document.querySelectorAll('[aria-live], [role=status], [role=alert]')]
                     .filter(e => e.id === 'nbc-live-region' || e.closest('.nbc-widget'))
                     .map(e => ({ id: e.id, live: e.getAttribute('aria-live'),
                                  role: e.getAttribute('role'), cls: e.className }))"""
        )
        live = [r for r in regions if r["live"] != "off"]
        assert live == [
            {"id": "nbc-live-region", "live": "polite", "role": "status", "cls": "nbc-live-region"}
        ], regions
        assert page.locator(".nbc-badge").count() == len(KINDS)
        assert page.evaluate(
            "() => document.getElementById('nbc-live-region').parentElement === document.body"
        )

        # Record what the region says, then drop the connection.
        page.evaluate(
            """() => {
              const region = document.getElementById('nbc-live-region');
              window.__said = [];
              new MutationObserver(() => {
                if (region.textContent) window.__said.push(region.textContent);
              }).observe(region, { childList: true, characterData: true, subtree: true });
            }"""
        )
        assert len(sockets) == 1
        sockets[0].close(code=1011, reason="test drop")
        page.wait_for_function("() => window.__said.length >= 1", timeout=10_000)
        page.wait_for_function(
            "() => [...document.querySelectorAll('.nbc-widget')]"
            ".every(w => w.dataset.status === 'live')",
            timeout=20_000,
        )
        page.wait_for_timeout(500)  # anything said late would show up now
        said = page.evaluate("() => window.__said")
        assert said == [
            "Live widgets: connection to the Jupyter server lost, reconnecting.",
            "Live widgets: connection restored.",
        ]
        assert len(sockets) == 2
        assert browser.our_errors() == []
    finally:
        nb.page.context.close()


def _focus_ring(page: Page) -> dict[str, Any]:
    """The focused element and the outline drawn for it (a switch draws it on its track)."""
    info: dict[str, Any] = page.evaluate(
        """() => {
          const e = document.activeElement;
          const widget = e && e.closest('.nbc-widget');
          const ringOn = e.classList.contains('nbc-toggle-input') ? e.nextElementSibling : e;
          const cs = getComputedStyle(ringOn);
          return {
            kind: widget ? widget.dataset.kind : null,
            tag: e.tagName.toLowerCase(), cls: e.className,
            focusVisible: e.matches(':focus-visible'),
            outline: cs.outlineStyle, width: parseFloat(cs.outlineWidth), color: cs.outlineColor,
          };
        }"""
    )
    return info


def test_every_control_shows_a_focus_ring_when_tabbed_to(
    jupyter: JupyterServer, browser: Browser, notebook: MakeNotebook, artifacts: Path
) -> None:
    nb = _open_all_widgets(browser, jupyter, notebook(ALL_WIDGETS))
    page = nb.page
    try:
        # Start just before the first widget that takes focus, then walk with Tab.
        page.locator(".nbc-image canvas").scroll_into_view_if_needed()
        page.focus(".nbc-image canvas")
        seen = [_focus_ring(page)]
        for _ in range(15):
            page.keyboard.press("Tab")
            ring = _focus_ring(page)
            if ring["kind"] is None:
                break
            seen.append(ring)
            if ring["kind"] == "slider":
                page.locator(".nbc-slider").screenshot(path=str(artifacts / "focus-slider.png"))
        stops = [(r["kind"], r["tag"]) for r in seen]
        assert stops == [
            ("image", "canvas"),
            ("log", "div"),
            ("table", "button"),
            ("table", "button"),
            ("table", "button"),
            ("button", "button"),
            ("slider", "input"),
            ("toggle", "input"),
            ("text_input", "input"),
            ("dropdown", "select"),
        ], seen
        for r in seen:
            assert r["focusVisible"], r
            assert r["outline"] == "solid" and r["width"] >= 2, f"no visible focus ring: {r}"
            assert r["color"] not in ("rgba(0, 0, 0, 0)", "transparent"), r
        assert browser.our_errors() == []
    finally:
        nb.page.context.close()


def test_table_sorts_from_the_keyboard(
    jupyter: JupyterServer, browser: Browser, notebook: MakeNotebook, artifacts: Path
) -> None:
    cells = [
        "from nbchannel.widgets import Button, LiveTable\n"
        "before = Button('Before the table')\n"
        "table = LiveTable(columns=['name', 'loss'])\n"
        "table.update('r1', name='gamma', loss=0.5)\n"
        "table.update('r2', name='alpha', loss=0.9)\n"
        "table.update('r3', name='beta', loss=0.1)\n"
        "display(before, table)",
    ]
    nb = browser.open_notebook(jupyter, notebook(cells))
    page = nb.page
    try:
        nb.run_all()
        page.wait_for_function(
            "() => document.querySelector('.nbc-table')?.dataset.rows === '3'", timeout=20_000
        )

        def names() -> list[str]:
            return page.locator(".nbc-table tbody tr td:nth-child(2)").all_inner_texts()

        def sort_state() -> dict[str, str | None]:
            """aria-sort of each header, by column ("" is the row-id column)."""
            return dict(
                page.evaluate(
                    """() => [...document.querySelectorAll('.nbc-table thead th')]
                             .map(th => [th.querySelector('button').dataset.sortKey
                                           .replace(/^c:/, ''),
                                         th.getAttribute('aria-sort')])"""
                )
            )

        assert names() == ["gamma", "alpha", "beta"]  # insertion order
        page.focus(".nbc-button button")
        page.keyboard.press("Tab")  # the row-id column's header
        assert page.evaluate("() => document.activeElement.textContent") == "row id"
        page.keyboard.press("Tab")  # "name"
        assert (
            page.evaluate("() => document.activeElement.closest('th').innerText.trim()") == "name"
        )
        page.keyboard.press("Enter")
        page.wait_for_function("() => document.querySelector('.nbc-table th[aria-sort]') !== null")
        assert names() == ["alpha", "beta", "gamma"]
        assert sort_state() == {"": None, "name": "ascending", "loss": None}
        # The focus stays on the header just pressed (the header row is redrawn).
        assert page.evaluate("() => document.activeElement.dataset.sortKey") == "c:name"
        assert page.evaluate("() => document.activeElement.matches(':focus-visible')")
        page.locator(".nbc-table").screenshot(path=str(artifacts / "focus-table-header.png"))

        page.keyboard.press("Space")
        page.wait_for_function(
            "() => document.querySelector('.nbc-table th[aria-sort]')"
            "?.getAttribute('aria-sort') === 'descending'"
        )
        assert names() == ["gamma", "beta", "alpha"]

        page.keyboard.press("Tab")  # "loss"
        page.keyboard.press("Enter")
        page.wait_for_function(
            "() => document.querySelectorAll('.nbc-table th[aria-sort]').length === 1"
            " && document.querySelector('.nbc-table th[aria-sort]').innerText.includes('loss')"
        )
        assert names() == ["beta", "gamma", "alpha"]
        assert sort_state() == {"": None, "name": None, "loss": "ascending"}
        assert browser.our_errors() == []
    finally:
        nb.page.context.close()
