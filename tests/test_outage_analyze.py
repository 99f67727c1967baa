"""Outage analysis end to end: `surgescope detect`, request drops, the analyses glue."""

import json
import re
from datetime import datetime

import numpy as np
import polars as pl
import pyarrow as pa
from typer.testing import CliRunner

from surgescope import schema
from surgescope.analyses import outage
from surgescope.cli import app
from surgescope.incident import Incident
from surgescope.outage import analyze_requests, detect_file
from surgescope.sources.base import Rejections


def test_cli_detect_on_twitter_volume(datasets):
    path = datasets / "nab/data/realTweets/Twitter_volume_AAPL.csv"
    result = CliRunner().invoke(app, ["detect", str(path)])
    assert result.exit_code == 0, result.output
    waves = json.loads(result.stdout)["waves"]
    assert waves, "AAPL mention volume has bursts"
    stamps = pl.read_csv(path)["timestamp"]
    first, last = stamps[0].replace(" ", "T") + "Z", stamps[-1].replace(" ", "T") + "Z"
    for w in waves:
        assert set(w) >= {"start", "peak_at", "peak", "end", "direction"}
        assert first <= w["start"] <= w["peak_at"] < w["end"] and w["peak_at"] <= last
        assert w["direction"] == "up"
    # the largest wave peaks at the file's largest value (1 mention count per 5 min bin)
    top = max(waves, key=lambda w: w["peak"])
    assert top["peak"] == int(pl.read_csv(path)["value"].max())
    # NAB's labelled windows for this file: the 4 anomalies are covered by detected waves
    labels = json.loads((datasets / "nab/labels/combined_windows.json").read_text())
    for lo, hi in labels["realTweets/Twitter_volume_AAPL.csv"]:
        lo, hi = lo[:19].replace(" ", "T") + "Z", hi[:19].replace(" ", "T") + "Z"
        assert any(w["start"] <= hi and w["end"] >= lo for w in waves), (lo, hi)


def test_detect_irregular_file_with_gap_and_bad_rows(tmp_path, capsys):
    rows = ["time,reports"]
    t0 = datetime(2025, 3, 10).timestamp()
    rng = np.random.default_rng(3)
    for i in range(3000):
        if 1000 <= i < 1200:
            continue  # a gap of 200 minutes: nothing is invented there
        jitter = int(rng.integers(-20, 20))
        value = 2000 if 2500 <= i < 2510 else 30 + i % 5
        rows.append(f"{datetime.fromtimestamp(t0 + 60 * i + jitter).isoformat()},{value}")
    rows.insert(50, "not a time,12")
    rows.insert(60, "2025-03-10 01:00:00,lots")
    p = tmp_path / "irregular.csv"
    p.write_text("\n".join(rows) + "\n")
    rejected = Rejections()
    waves = detect_file(p, rejected)
    assert len(waves) == 1 and waves[0]["peak"] == 2000
    # rows[50] is line 51: the header is line 1
    assert rejected.count == 2 and rejected.samples[0].where == 51
    result = CliRunner().invoke(app, ["detect", str(p)])
    assert result.exit_code == 0
    assert "2 row(s) rejected" in result.output and "line 51" in result.output


def test_detect_cli_missing_file_is_one_line_error(tmp_path):
    result = CliRunner().invoke(app, ["detect", str(tmp_path / "nope.csv")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def apache_requests(datasets, drop_hours=()):
    """Request times of the real Apache log (parsed here with a regex, not the project reader)."""
    stamps = []
    for line in (datasets / "logs/elastic-apache/apache_logs").read_text(errors="replace").splitlines():
        m = re.search(r"\[(\d+/\w+/\d+:\d+:\d+:\d+) ([+-]\d{4})\]", line)
        if m:
            t = datetime.strptime(" ".join(m.groups()), "%d/%b/%Y:%H:%M:%S %z")
            if t.strftime("%d %H") not in drop_hours:
                stamps.append(int(t.timestamp()) * 10**9)
    n = len(stamps)
    cols = {f.name: pa.nulls(n, f.type) for f in schema.REQUESTS}
    cols["ts"] = pa.array(stamps, pa.timestamp("ns", tz="UTC"))
    return pa.table(cols, schema=schema.REQUESTS)


def test_request_drop_is_a_down_wave(datasets):
    # SOURCES.md: 10,000 lines, 17-20 May 2015, about 120 requests an hour; an outage that
    # lost 19 May 14:00-15:59 UTC must show as one drop, and the intact log as none
    assert analyze_requests(apache_requests(datasets))["waves"] == []
    out = analyze_requests(apache_requests(datasets, drop_hours={"19 14", "19 15"}))
    (w,) = out["waves"]
    assert w["direction"] == "down" and w["peak"] == 0
    assert "2015-05-19T13:50:00Z" <= w["start"] <= "2015-05-19T14:10:00Z"
    assert "2015-05-19T15:50:00Z" <= w["end"] <= "2015-05-19T16:10:00Z"


class FakeInput:
    def __init__(self, table, path):
        self.table, self.path = table, path


def test_analyses_outage_fills_incident(datasets):
    from tests.test_outage_waves import march_series

    inc = Incident()
    outage(inc, [(FakeInput("reports", "march.csv"), march_series()),
                 (FakeInput("requests", "apache_logs"), apache_requests(datasets, {"19 14", "19 15"}))])
    waves = inc.outage["waves"]
    assert [w["direction"] for w in waves] == ["down", "up", "up", "up", "up"]
    assert waves == sorted(waves, key=lambda w: w["start"])
    points = {k: [p for p in inc.outage["series"] if p["series"] == k] for k in ("reports", "requests")}
    assert len(points["reports"]) == 20 * 60
    assert {"t", "value", "series"} <= set(points["reports"][0])
    assert points["requests"]
    assert "reports" not in inc.timelines and "requests" not in inc.timelines  # not repeated
    json.loads(inc.to_json())


def test_read_series_mixed_time_forms(tmp_path):
    from surgescope.outage.analyze import read_series

    p = tmp_path / "mixed.csv"
    p.write_text("time,value\n2025-03-10T10:00:00+01:00,5\n2025-03-10 09:01:00,6\n1741597260,7\nsoon,8\n")
    ts, values, rej = read_series(p)
    # +01:00 is converted, a naive time is UTC, a bare number is epoch seconds (09:01:00 UTC)
    assert [str(t) for t in ts.astype("datetime64[ns]").astype("datetime64[s]")] == ["2025-03-10T09:00:00", "2025-03-10T09:01:00", "2025-03-10T09:01:00"]
    assert values.tolist() == [5.0, 6.0, 7.0]
    assert rej.count == 1 and rej.samples[0].where == 5


def test_two_report_exports_of_one_outage_form_one_series():
    from tests.test_outage_waves import PEAKS, march_series

    t = march_series()
    inc = Incident()
    outage(inc, [(FakeInput("reports", "a.csv"), t.slice(0, 500)), (FakeInput("reports", "b.csv"), t.slice(500))])
    assert [round(w["peak"] / p, 2) for w, p in zip(inc.outage["waves"], PEAKS, strict=True)] == [1.0] * 4
    assert all(w["inputs"] == ["a.csv", "b.csv"] for w in inc.outage["waves"])
    assert len([p for p in inc.outage["series"] if p["series"] == "reports"]) == 20 * 60
    assert {r["region"] for r in inc.outage["breakdown"]["by_region"]} == {"US", "GB"}
