"""Waves on a series rebuilt from the published 10 March 2025 Downdetector figures for X."""

import numpy as np
import pyarrow as pa
import pytest

from surgescope import schema
from surgescope.outage import analyze_reports
from surgescope.outage.waves import segment

# Published figures (press reports, US Eastern; EDT = UTC-4 on 10 March 2025): first
# failures ~05:30, ~20,608 around 06:00, 720 at 06:17, 41,143 at 10:02, 1,361 at 10:32, 4,670 at
# 11:02, 36,064 at 13:02, 3,455 at 13:32, 19,446 at 14:02. The 00:00, 07:00, 09:30, 15:00 and
# 20:00 anchors are an assumed baseline of tens of reports per minute.
ANCHORS = [("00:00", 30), ("05:30", 40), ("06:00", 20608), ("06:17", 720), ("07:00", 45),
           ("09:30", 50), ("10:02", 41143), ("10:32", 1361), ("11:02", 4670), ("13:02", 36064),
           ("13:32", 3455), ("14:02", 19446), ("15:00", 60), ("20:00", 30)]
PEAKS = [20608, 41143, 36064, 19446]


def march_series(quiet_minutes=()):
    """Per-minute counts, log-linear between the anchors, with a small 7-minute ripple."""
    xs = [int(a[:2]) * 60 + int(a[3:]) for a, _ in ANCHORS]
    t = np.arange(20 * 60)
    counts = np.round(np.exp(np.interp(t, xs, np.log([v for _, v in ANCHORS])))).astype(np.int64)
    counts += t % 7
    for m in quiet_minutes:
        counts[m] = 35  # a lost bin: one baseline-level sample inside a wave
    ts = np.datetime64("2025-03-10T04:00:00", "ns").astype(np.int64) + t * 60 * 10**9
    n = len(t)
    regions = np.where(t % 3 == 0, "GB", "US")
    problems = np.where(t % 4 == 0, "website", "app")
    return pa.table({
        "ts": pa.array(ts, pa.timestamp("ns", tz="UTC")), "count": counts, "service": ["x"] * n,
        "region": regions, "problem": problems,
    }, schema=schema.REPORTS)


def check_four_waves(waves):
    assert len(waves) == 4
    for w, published in zip(waves, PEAKS, strict=True):
        assert w["peak"] == pytest.approx(published, rel=0.05)
        assert w["direction"] == "up"
        assert w["start"] <= w["peak_at"] <= w["end"]
    # peaks in published order and times (UTC = ET + 4 h)
    assert [w["peak_at"][11:16] for w in waves] == ["10:00", "14:02", "17:02", "18:02"]
    assert "09:25" <= waves[0]["start"][11:16] <= "09:45"  # first failures ~05:30 ET


def test_march_10_four_waves():
    check_four_waves(analyze_reports(march_series())["waves"])


def test_one_quiet_sample_does_not_split_a_wave():
    # 10:05 and 13:00 ET: single quiet minutes inside the 2nd and 3rd waves
    quiet = [10 * 60 + 5, 13 * 60]
    check_four_waves(analyze_reports(march_series(quiet))["waves"])


def test_series_and_breakdown():
    out = analyze_reports(march_series())
    assert len(out["series"]) == 20 * 60
    assert out["series"][0]["t"] == "2025-03-10T04:00:00Z"
    # every third minute is GB: its share of the reports in the waves is about a third
    regions = {r["region"]: r for r in out["breakdown"]["by_region"]}
    assert set(regions) == {"US", "GB"}
    assert regions["GB"]["share"] == pytest.approx(1 / 3, abs=0.05)
    assert out["breakdown"]["by_problem"][0]["problem"] == "app"


def test_real_trough_keeps_waves_apart_and_dip_does_not():
    mu = np.full(13, 10.0)
    rate = lambda x: np.where(x > 20, 50.0, 0.0)  # noqa: E731
    one_dip = np.array([10, 10, 500, 900, 40, 800, 700, 10, 10, 10, 10, 10, 10.0])
    assert len(segment(one_dip, mu, rate(one_dip))) == 1
    trough = np.array([10, 10, 500, 900, 60, 40, 50, 45, 60, 800, 700, 10, 10.0])
    assert [(w["peak_at"], w["peak"]) for w in segment(trough, mu, rate(trough))] == [(3, 900), (9, 800)]


def test_drop_direction_finds_the_lowest_point():
    x = np.r_[np.full(30, 100.0), [20.0, 5.0, 30.0], np.full(10, 100.0)]
    mu = np.full(len(x), 100.0)
    rate = np.where(x < 50, 40.0, 0.0)
    (w,) = segment(x, mu, rate, direction="down")
    assert (w["start"], w["peak_at"], w["end"], w["peak"]) == (30, 31, 32, 5.0)


def test_equal_peaks_of_one_wave_stay_one_wave():
    # a drop to ~25 of 330 with two minutes at exactly the same deficit, 7 minutes apart
    x = np.r_[np.full(30, 330.0), [26, 34, 22, 30, 28, 40, 43, 22, 27, 26], np.full(10, 330.0)]
    mu = np.full(len(x), 330.0)
    rate = np.where(x < 100, 200.0, 0.0)
    (w,) = segment(x, mu, rate, direction="down")
    assert (w["start"], w["end"], w["peak"]) == (30, 39, 22.0)
