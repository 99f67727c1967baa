"""report.html seen in a real browser: Debian's headless Chromium driven by Playwright.

No console errors, no page errors, no network request; the headline, the charts and the tables
are visible on a laptop-sized and on a phone-sized screen; the PNG comes from the same
``screenshot()`` that makes the README's image.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright
from test_report import full_incident

from surgescope.report import write_all
from surgescope.report.screenshot import launch, screenshot


@pytest.fixture(scope="module")
def report_html(tmp_path_factory) -> Path:
    return write_all(full_incident(), tmp_path_factory.mktemp("browser"), tz="America/New_York")["html"]


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", head[16:24])


def test_screenshot_has_no_console_error_and_no_request(report_html, tmp_path):
    seen = screenshot(report_html, tmp_path / "report.png", width=1100, height=1400)
    assert seen["console_errors"] == []
    assert seen["page_errors"] == []
    assert seen["requests"] == []
    assert png_size(tmp_path / "report.png") == (1100, 1400)
    assert (tmp_path / "report.png").stat().st_size > 20_000  # a drawn page, not a blank one


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = launch(p)
        try:
            yield b
        finally:
            b.close()


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (390, 844)], ids=["laptop", "phone"])
def test_headline_charts_and_tables_are_visible(report_html, browser, width, height):
    page = browser.new_page(viewport={"width": width, "height": height})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(report_html.resolve().as_uri())
    cards = page.locator("#headline .card")
    assert cards.count() == 4
    for i in range(4):
        assert cards.nth(i).is_visible()
    assert "Yes: 4 waves of problem reports" in cards.nth(0).inner_text()
    # The headline is the first thing on screen.
    box = cards.nth(0).bounding_box()
    assert box is not None and box["y"] < height
    charts = page.locator("svg.chart")
    assert charts.count() == 3
    for i in range(3):
        charts.nth(i).scroll_into_view_if_needed()
        assert charts.nth(i).is_visible()
        b = charts.nth(i).bounding_box()
        assert b is not None and 0 < b["width"] <= width and b["height"] > 50
    # The charts' own text is rendered: a wave label, the time axis in the report's zone, a share.
    for label in ("wave 2: 41,143", "time (EDT)", "50.0 %"):
        text = page.locator("svg.chart text", has_text=label)
        assert text.count() == 1, label
        box = text.bounding_box()
        assert box is not None and box["width"] > 0, label
    for section in ("#outage", "#attack", "#sources", "#attribution", "#claims", "#inputs"):
        table = page.locator(f"{section} table").first
        table.scroll_into_view_if_needed()
        assert table.is_visible(), section
    # Nothing forces the page wider than the screen: wide tables scroll in their own box.
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1
    assert errors == []
    page.close()
