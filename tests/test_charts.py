"""The report's SVG charts (report/charts.py) read as XML: what they show, not how they look.

Each chart is parsed with xml.etree (so it is well-formed XML), then its content is checked
against figures worked out by hand from the input: the number of drawn points, bars and panels,
the axis labels in the display time zone, the wave labels, the gaps between capture excerpts,
and hostile names arriving as text.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from test_report import full_incident

from surgescope.report import charts

NS = "{http://www.w3.org/2000/svg}"
T0 = datetime(2025, 3, 10, 8, 0, tzinfo=UTC)


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def svg(markup: str | None) -> ET.Element:
    assert markup is not None
    root = ET.fromstring(markup)
    assert root.tag == f"{NS}svg"
    return root


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{NS}text")]


def coords(d: str) -> list[tuple[float, float]]:
    """The x,y pairs of a path's M/L commands."""
    return [(float(x), float(y)) for x, y in re.findall(r"[ML](-?[\d.]+),(-?[\d.]+)", d)]


def data_paths(root: ET.Element) -> list[str]:
    """Path data of the drawn series: the paths inside the clipped plot groups, without the dots."""
    return [p.get("d") for g in root.iter(f"{NS}g") for p in g.iter(f"{NS}path")
            if p.get("fill") == "none" and "h0" not in p.get("d")]


@pytest.fixture(scope="module")
def report() -> dict:
    import json

    return json.loads(full_incident().to_json())


# --------------------------------------------------------------------------- outage chart


def test_reports_chart_labels_waves_in_display_zone(report):
    root = svg(charts.reports_chart(report, "America/New_York"))
    t = texts(root)
    # Peaks at 10:00, 14:02, 17:02, 18:02 UTC = 06:00, 10:02, 13:02, 14:02 EDT (DST began 9 March).
    for i, (peak, clock) in enumerate([("20,608", "06:00"), ("41,143", "10:02"), ("36,064", "13:02"), ("19,446", "14:02")], 1):
        assert f"wave {i}: {peak}" in t
        assert f"{clock} EDT" in t
    assert "time (EDT)" in t and "reports per interval" in t
    assert "2025-03-10" in t  # the date, once, beside the time axis
    # Value axis: thousands separators, from 0 past the largest peak (41,143).
    assert {"0", "10,000", "20,000", "30,000", "40,000"} <= set(t)
    # Time ticks on round local hours.
    clocks = [s for s in t if re.fullmatch(r"\d\d:\d\d", s)]
    assert len(clocks) >= 4 and all(s.endswith(":00") for s in clocks)
    assert root.get("aria-label") == "problem reports over time with outage waves"
    assert root.find(f"{NS}title").text == root.get("aria-label")
    # One shaded span and one peak marker per wave.
    assert len([r for r in root.iter(f"{NS}rect") if r.get("fill-opacity")]) == 4
    assert len([p for p in root.iter(f"{NS}path") if p.get("d", "").endswith("z") and p.get("fill") == "#c0392b"]) == 4


def test_reports_chart_draws_every_point_and_the_baseline(report):
    root = svg(charts.reports_chart(report, None))
    # The zoom keeps 2 h either side of the waves: waves run from minute 95 to 622 of a 720-minute
    # series, so minutes 0..720 stay (all 720 points, below MAX_POINTS: none dropped).
    step = [p.get("d") for p in root.iter(f"{NS}path") if p.get("stroke") == "#2471a3" and p.get("fill") == "none"][0]
    assert step.count("V") == 720 - 1  # steps-mid: one vertical per point after the first
    baseline = [p.get("d") for p in root.iter(f"{NS}path") if p.get("stroke-dasharray")]
    assert baseline and len(coords(baseline[0])) == 720
    ys = {y for _, y in coords(baseline[0])}
    assert len(ys) == 1  # the expected value is constant (40)
    assert "time (UTC)" in texts(root) and "expected (baseline)" in texts(root)


def test_reports_chart_reduces_long_series_and_keeps_the_peak():
    n = 5000
    series = [{"t": _iso(T0 + timedelta(minutes=i)), "value": 10 + (i % 7), "series": "reports"} for i in range(n)]
    series[3210]["value"] = 999
    root = svg(charts.reports_chart({"outage": {"series": series, "waves": []}}))
    step = [p.get("d") for p in root.iter(f"{NS}path") if p.get("stroke") == "#2471a3"][0]
    fill = [p.get("d") for p in root.iter(f"{NS}path") if p.get("fill-opacity")][0]
    bottom = float(re.search(r"V(-?[\d.]+)H-?[\d.]+Z$", fill).group(1))  # the area closes on y = 0
    heights = np.array([bottom - float(v) for v in re.findall(r"V(-?[\d.]+)", step)])
    assert len(heights) + 1 <= charts.MAX_POINTS
    # The peak survives the reduction at its height: 999 against the bins' maxima (16 = 10 + 6).
    assert heights.max() / np.median(heights) == pytest.approx(999 / 16, rel=0.05)


def test_reports_chart_none_without_series():
    assert charts.reports_chart({"outage": {"waves": [], "series": []}}) is None


# --------------------------------------------------------------------------- traffic chart


def test_traffic_chart_one_panel_per_metric_with_si_values(report):
    root = svg(charts.traffic_chart(report, "America/New_York"))
    t = texts(root)
    assert {"packets/s", "bits/s", "requests/s"} <= set(t)
    # bits/s peak 2.05 M: SI prefixes on the value axis, not 2000000.
    assert "1M" in t and "2M" in t and not any(s.startswith("2000000") for s in t)
    # The attack's three vectors are named above the first row, once.
    for v in ("http-flood", "syn-flood", "dns-amplification"):
        assert t.count(v) == 1
    lines = data_paths(root)
    assert len(lines) == 3  # one line per metric, one column (no gap in the timeline)
    assert all(len(coords(d)) == 360 for d in lines)  # 3600 s at 10 s steps
    assert all(d.count("M") == 1 for d in lines)  # continuous: no gap
    assert root.find(f"{NS}defs") is not None and len(root.findall(f".//{NS}clipPath")) == 3
    assert any(s.startswith("time (EDT") for s in t)


def excerpts(n: int, points_each: int = 12) -> dict:
    """A traffic timeline made of ``n`` excerpts of 10-s points, an hour apart."""
    seq = [{"t": _iso(T0 + timedelta(hours=k, seconds=10 * i)), "pps": 100 + 50 * i, "bps": 0.0}
           for k in range(n) for i in range(points_each)]
    return {"timelines": {"traffic": seq}, "attacks": []}


def test_traffic_chart_gives_each_excerpt_a_column():
    root = svg(charts.traffic_chart(excerpts(3)))
    lines = data_paths(root)
    assert len(lines) == 3  # one metric (bps is all zero: not drawn), three columns
    assert [len(coords(d)) for d in lines] == [12, 12, 12]
    # Few points: each is marked with a dot.
    dots = [p.get("d") for p in root.iter(f"{NS}path") if "h0" in p.get("d", "")]
    assert [d.count("h0") for d in dots] == [12, 12, 12]
    assert any("one column per capture excerpt" in s for s in texts(root))


def test_traffic_chart_breaks_the_line_at_gaps_when_excerpts_are_many():
    root = svg(charts.traffic_chart(excerpts(8)))
    lines = data_paths(root)
    assert len(lines) == 1  # more than six excerpts: one continuous axis
    assert len(coords(lines[0])) == 8 * 12
    assert lines[0].count("M") == 8  # a new piece after each of the 7 gaps, none across them
    assert not any("one column" in s for s in texts(root))


def test_traffic_chart_none_without_traffic():
    assert charts.traffic_chart({"timelines": {"reports": [{"t": _iso(T0), "value": 3}]}}) is None


def test_time_ticks_stay_on_round_hours_across_a_dst_change():
    # 9 March 2025, 07:00 UTC = 02:00 EST became 03:00 EDT. Twelve hours around it.
    seq = [{"t": _iso(datetime(2025, 3, 9, 1, 0, tzinfo=UTC) + timedelta(minutes=5 * i)), "pps": 10 + i % 3}
           for i in range(12 * 12)]
    t = texts(svg(charts.traffic_chart({"timelines": {"traffic": seq}}, "America/New_York")))
    clocks = [s for s in t if re.fullmatch(r"\d\d:\d\d", s)]
    assert clocks and all(s.endswith(":00") for s in clocks)
    assert "Mar 09" in t  # local midnight is labelled with its date (01:00 UTC = 20:00 EST the day before)


# --------------------------------------------------------------------------- vector chart


def test_vector_chart_bars_are_proportional_to_shares():
    r = {"attacks": [
        {"packets": 300, "vectors": [{"vector": "syn-flood", "share": 1.0}]},
        {"packets": 100, "vectors": [{"vector": "syn-flood", "share": 0.5}, {"vector": "http-flood", "share": 0.5}]},
    ]}
    root = svg(charts.vector_chart(r))
    bars = [b for b in root.iter(f"{NS}rect")]
    assert len(bars) == 2
    widths = [float(b.get("width")) for b in bars]
    assert widths[0] / widths[1] == pytest.approx(350 / 50, rel=0.01)  # largest first, at the top
    t = texts(root)
    assert "87.5 %" in t and "12.5 %" in t and t.index("syn-flood") < t.index("http-flood")
    assert "share of attack traffic (%)" in t
    assert charts.vector_chart({"attacks": []}) is None


# --------------------------------------------------------------------------- page-level properties


HOSTILE = ['<script>alert(1)</script>', '"><img src=x onerror=alert(2)>', "a & b ' \x00\u2028"]


def test_hostile_names_are_text_never_markup():
    seq = [{"t": _iso(T0 + timedelta(seconds=10 * i)), "value": i} for i in range(30)]
    r = {
        "timelines": {HOSTILE[0]: seq},
        "outage": {"series": [dict(p, series=HOSTILE[1]) for p in seq], "waves": []},
        "attacks": [{"start": _iso(T0), "end": _iso(T0 + timedelta(seconds=100)), "vector": HOSTILE[1], "packets": 5,
                     "vectors": [{"vector": h, "share": 1 / 3} for h in HOSTILE]}],
    }
    for markup in (charts.reports_chart(r), charts.traffic_chart(r), charts.vector_chart(r)):
        root = svg(markup)
        tags = {e.tag.removeprefix(NS) for e in root.iter()}
        assert tags <= {"svg", "title", "defs", "clipPath", "g", "path", "rect", "text"}, tags
        assert not any(k.startswith("on") for e in root.iter() for k in e.attrib)
        assert "<script" not in markup and "<img" not in markup
    t = texts(svg(charts.vector_chart(r)))
    # The parser gives back the raw strings, so they were escaped exactly once; the NUL and the
    # line separator are made visible by clip() (they are not even valid XML text).
    assert HOSTILE[0] in t and charts.clip(HOSTILE[1], 30) in t
    assert "a & b ' \\x00\ufffd" in t
    assert any(s.startswith(charts.clip(HOSTILE[1], 40)) for s in texts(svg(charts.reports_chart(r))))
    assert any(s.startswith(charts.clip(HOSTILE[0], 16)) for s in texts(svg(charts.traffic_chart(r))))


def test_ids_are_salted_and_references_resolve(report):
    pages = [charts.reports_chart(report), charts.traffic_chart(report), charts.vector_chart(report)]
    ids = [e.get("id") for m in pages for e in svg(m).iter() if e.get("id")]
    assert len(ids) == len(set(ids))
    assert {i.split("-")[0] for i in ids} == {"rep", "trf", "vec"}
    for m in pages:
        for ref in re.findall(r"url\(#([^)]+)\)", m):
            assert ref in ids


def test_reduce_idx_is_each_bins_first_maximum():
    rng = np.random.default_rng(7)
    values = rng.integers(0, 50, 10_007).astype(float)  # ties within bins are common
    idx = charts._reduce_idx(values, 300)
    # Reference: the plain loop over the same bins.
    edges = np.linspace(0, len(values), 301).astype(int)
    ref = [a + int(np.argmax(values[a:b])) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]
    assert idx.tolist() == ref


def test_points_read_every_time_form_in_time_order():
    # report.json's "Z" texts (NumPy's fast path) and, mixed, what parse_time also accepts:
    # offsets, epoch nanoseconds, datetimes; an unknown time drops its point, a missing value is 0.
    z = [{"t": "2025-03-10T14:02:00Z", "value": 3}, {"t": "2025-03-10T14:00:00.500Z", "value": None},
         {"t": "2025-03-10T14:01:00Z", "value": "7"}]
    times, values = charts.points(z)
    assert times == [datetime(2025, 3, 10, 14, 0, 0, 500_000, tzinfo=UTC), datetime(2025, 3, 10, 14, 1, tzinfo=UTC),
                     datetime(2025, 3, 10, 14, 2, tzinfo=UTC)]
    assert values.tolist() == [0.0, 7.0, 3.0]
    mixed = [{"t": "2025-03-10T10:02:00-04:00", "count": 1}, {"t": 1741615200 * 10**9, "count": 2},
             {"t": "not a time", "count": 9}, {"t": datetime(2025, 3, 10, 13, 0, tzinfo=UTC), "count": "x"}]
    times, values = charts.points(mixed)
    # 10:02 EDT = 14:02 UTC; 1741615200 s = 2025-03-10 14:00 UTC; "x" is no number: 0.
    assert times == [datetime(2025, 3, 10, 13, 0, tzinfo=UTC), datetime(2025, 3, 10, 14, 0, tzinfo=UTC),
                     datetime(2025, 3, 10, 14, 2, tzinfo=UTC)]
    assert values.tolist() == [0.0, 2.0, 1.0]


@pytest.mark.parametrize("case", ["one point", "all zero", "nan and inf", "decades"])
def test_degenerate_series_give_valid_charts(case):
    t = [T0 + timedelta(minutes=i) for i in range(50)]
    values: list = [float(i % 5) for i in range(50)]
    if case == "one point":
        t, values = t[:1], [5.0]
    elif case == "all zero":
        values = [0.0] * 50
    elif case == "nan and inf":
        values[10], values[20] = float("nan"), float("inf")
    elif case == "decades":
        t[0] = datetime(1970, 1, 1, tzinfo=UTC)  # an epoch-0 time among 2025 ones
    seq = [{"t": _iso(x), "value": v, "pps": v} for x, v in zip(t, values, strict=True)]
    r = {"outage": {"series": seq, "waves": []}, "timelines": {"traffic": seq}}
    for markup in (charts.reports_chart(r, "Europe/Kyiv"), charts.traffic_chart(r, "Europe/Kyiv") if case != "all zero" else None):
        if markup is None:
            continue
        root = svg(markup)
        for e in root.iter():
            for k, v in e.attrib.items():
                assert "nan" not in v.lower() and "inf" not in v.lower(), (k, v)
        # Time ticks stay few whatever the span (labels are "HH:MM", "HH:MM:SS" or "Mon DD").
        ticks = [s for s in texts(root) if re.fullmatch(r"\d\d:\d\d(:\d\d)?|[A-Z][a-z]{2} \d\d", s)]
        assert 1 <= len(ticks) <= 10
    if case == "nan and inf":
        line = data_paths(svg(charts.traffic_chart(r)))[0]
        assert len(coords(line)) == 48  # the two points without a finite value are left out
    assert charts.traffic_chart({"timelines": {"traffic": [{"t": p["t"], "pps": 0.0} for p in seq]}}) is None  # nothing to show


def test_rendering_the_report_imports_no_plotting_library(tmp_path):
    # The charts are hand-written so that writing a report costs no Matplotlib import (1.3 CPU-s
    # in `analyze`): a fresh interpreter writes the full report and must not have loaded it.
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys; sys.path.insert(0, sys.argv[2])\n"
        "from test_report import full_incident\n"
        "from surgescope.report import write_all\n"
        "paths = write_all(full_incident(), sys.argv[1], tz='America/New_York')\n"
        "assert paths['html'].read_text().count('<svg') == 3\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('matplotlib', 'PIL', 'plotly', 'altair')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path), str(Path(__file__).parent)],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
