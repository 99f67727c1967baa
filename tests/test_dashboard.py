"""The dashboard in headless Chromium, served by the real server on 127.0.0.1.

Posted data must appear on the page, the page must log no console error, and a service name
that is HTML must be shown as text and create no element.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import polars as pl
import pytest
from playwright.sync_api import sync_playwright
from test_service import PEAKS, LiveServer, post_csv, utc, x_day

from surgescope.service import create_app

HOSTILE = '<img src=x onerror=alert(1)><script>window.pwned=1</script>"\'&'

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser() -> Iterator:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        b.close()


def test_dashboard_shows_posted_data_and_escapes_names(browser, datasets) -> None:
    with LiveServer(create_app()) as live, httpx.Client(base_url=live.url, timeout=30) as c:
        capture = datasets / "pcap" / "stopddos" / "pkt.TCP.synflood.spoofed.pcap"
        assert c.post("/v1/traffic", content=capture.read_bytes()).status_code == 200
        assert post_csv(c, x_day().filter(pl.col("time") <= utc("14:10"))).status_code == 200
        hostile = x_day().filter(pl.col("time") <= utc("07:00")).with_columns(
            service=pl.lit(HOSTILE), region=pl.lit(HOSTILE))
        assert post_csv(c, hostile).status_code == 200
        # The same name in JSON, with a region that is HTML too.
        r = c.post("/v1/reports", json=[{"time": utc("06:59"), "service": HOSTILE, "region": HOSTILE}])
        assert r.status_code == 200

        page = browser.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))

        page.goto(live.url + "/")
        page.wait_for_selector("body[data-updated]", timeout=10_000)

        rows = page.locator("#services tbody tr")
        assert rows.count() == 2
        names = page.locator("#services td.service").all_text_contents()
        assert sorted(names) == sorted(["x", HOSTILE])  # the hostile name is text, verbatim
        # No element was made from it: only the page's own images/scripts exist.
        assert page.locator("#services img, #services script").count() == 0
        assert page.evaluate("document.querySelectorAll('img').length") == 0
        assert page.evaluate("document.scripts.length") == 1
        assert page.evaluate("window.pwned") is None
        assert dialogs == []

        x_row = page.locator('#services tr[data-service="x"]')
        assert x_row.locator(".state").text_content() == "OUTAGE"
        waves = x_row.locator("li").all_text_contents()
        assert len(waves) == len(PEAKS)
        for (_, peak), text in zip(PEAKS, waves, strict=True):
            assert f"peak {peak:,}" in text
        assert "(ongoing)" in waves[-1]
        assert "Outage now: " in page.locator("#headline").text_content()
        assert page.locator("#alerts li").count() >= 4
        assert x_row.locator("svg path.value").count() == 1  # the chart of the last hours
        assert x_row.locator("svg path.baseline").count() == 1

        # The capture: 37,841 packets (SOURCES.md), a SYN flood that is over.
        traffic = page.locator("#traffic tbody tr").first.locator("td").all_text_contents()
        assert traffic[:4] == ["packets", "", "37,841", "0"]
        attack = page.locator("#attack").text_content()
        assert attack.startswith("ended syn-flood from 2021-04-28T10:30:21.099Z")
        assert "vectors: syn-flood 100%" in attack

        # Everything the page loaded came from the service itself.
        assert requests and all(u.startswith(live.url) or u.startswith("data:") for u in requests)
        assert errors == []
        page.close()
