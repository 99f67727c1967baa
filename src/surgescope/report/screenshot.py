"""A PNG of a rendered report, taken by headless Chromium through Playwright.

The README's image of the demo report is made with this function, and the browser test uses
it, so the picture shows what a real browser draws. Debian's ``chromium`` is used
(``executable_path``) because Playwright's own browser download does not work offline.

Example (needs Playwright and Chromium)::

    from surgescope.report.screenshot import screenshot
    screenshot("demo-out/report.html", "docs/demo.png")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]


def launch(playwright: Any, executable: str = CHROMIUM) -> Any:
    """A headless Chromium browser from a started ``sync_playwright()``."""
    return playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)


def screenshot(
    html_path: str | Path,
    png_path: str | Path,
    width: int = 1100,
    height: int = 1400,
    full_page: bool = False,
) -> dict[str, Any]:
    """Open ``html_path`` in headless Chromium, save a PNG of it, and return what was seen.

    Returns ``{"png": path, "console_errors": [...], "page_errors": [...], "requests": [...]}``:
    console messages of type error, uncaught page errors, and every URL the page asked for
    other than itself (a self-contained report asks for none).
    """
    from playwright.sync_api import sync_playwright

    html_path, png_path = Path(html_path).resolve(), Path(png_path)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    console_errors: list[str] = []
    page_errors: list[str] = []
    requests: list[str] = []
    url = html_path.as_uri()
    with sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: page_errors.append(str(exc)))
            page.on("request", lambda r: requests.append(r.url) if r.url != url else None)
            page.goto(url, wait_until="load")
            page.screenshot(path=str(png_path), full_page=full_page)
        finally:
            browser.close()
    return {"png": png_path, "console_errors": console_errors, "page_errors": page_errors, "requests": requests}
