"""Crowd-report counts for 10 March 2025, reconstructed from the Downdetector figures in the press.

This is a **reconstruction from published figures, not raw data**: Downdetector publishes no
per-minute series. What is published (``data/demo/downdetector_published.csv``, from the press
reports in ``../shared/press``): first failures about 05:30 ET; about 20,608 reports around
06:00; 39,021 by 10:00; 720 at 06:17; 41,143 at 10:02; 1,361 at 10:32; 4,670 at 11:02; 36,064
at 13:02; 3,455 at 13:32; 19,446 at 14:02 (US Eastern, which was EDT, UTC-4, on that day:
daylight saving time began on 9 March 2025).

How the series is built (one bin per minute, values in Downdetector's chart unit):

- each published figure is placed, exactly, at its minute;
- between figures the curve is interpolated geometrically (straight in log scale), with a
  few shape points (``SHAPE``, marked ``published = False``) where the press gives only words
  ("appeared to have stopped until around 9:30", "before dropping back down again");
- around that curve, mild multiplicative noise (4 %), kept strictly below each wave's
  published peak and above each published trough, so every published figure stays the
  extreme of its wave or trough;
- before and after, a baseline: a US daily profile (quiet at night Eastern time, busiest in
  the afternoon) of 20 to 60 reports per minute with negative-binomial noise, for ``days_before``
  days so a seasonal detector has a history;
- each minute's count is split over regions and problem types (multinomial, so the parts
  add up to the total) with assumed shares in Downdetector's categories (``REGIONS``,
  ``PROBLEMS``): illustrative, **not** published figures.

>>> t = reconstruct_x_2025_03_10(days_before=1, seed=1)
>>> import polars as pl
>>> per_min = pl.from_arrow(t).group_by("ts").agg(pl.col("count").sum()).sort("ts")
>>> int(per_min["count"].max())
41143
"""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa

from surgescope.schema import REPORTS

ET = ZoneInfo("America/New_York")
DAY = datetime(2025, 3, 10, tzinfo=ET)

SHAPE: list[tuple[str, int]] = [
    # (local time, value): points the press describes only in words; chosen to give each wave
    # a plausible rise and fall between the published figures.
    ("05:20", 25), ("05:30", 160), ("05:40", 3_000), ("05:50", 12_500), ("06:05", 9_000), ("06:10", 2_600),
    ("06:30", 300), ("07:00", 130), ("08:00", 60), ("09:15", 50), ("09:30", 90), ("09:40", 2_500),
    ("09:50", 18_000), ("10:10", 21_000), ("10:20", 5_200), ("10:45", 2_900), ("11:15", 2_600),
    ("11:30", 1_300), ("12:00", 450), ("12:30", 900), ("12:45", 8_500), ("12:55", 26_000),
    ("13:10", 17_000), ("13:20", 6_500), ("13:45", 8_800), ("13:55", 16_500), ("14:10", 11_000),
    ("14:20", 4_300), ("14:40", 1_300), ("15:30", 320), ("17:00", 110), ("19:00", 60),
]

REGIONS: dict[str, float] = {
    # Assumed split of US reports by state (roughly by population of X users); "US" = other states.
    "US-CA": 0.14, "US-TX": 0.10, "US-FL": 0.08, "US-NY": 0.08, "US-IL": 0.05, "US-PA": 0.04,
    "US-GA": 0.04, "US-OH": 0.03, "US": 0.44,
}
PROBLEMS: dict[str, float] = {
    # Downdetector's problem categories for X; shares assumed for the reconstruction.
    "app": 0.55, "website": 0.33, "server connection": 0.12,
}


def published_figures() -> list[dict]:
    """The published figures: ``{"time": datetime (ET), "reports": int | None, "what", "source"}``."""
    text = resources.files("surgescope").joinpath("data/demo/downdetector_published.csv").read_text()
    rows = []
    for r in csv.DictReader(text.splitlines()):
        rows.append({
            "time": datetime.fromisoformat(r["time"]),
            "reports": int(r["reports"]) if r["reports"] else None,
            "what": r["what"],
            "source": r["source"],
        })
    return rows


def _at(hhmm: str) -> datetime:
    h, m = map(int, hhmm.split(":"))
    return DAY.replace(hour=h, minute=m)


def _baseline_mean(minutes_utc: np.ndarray) -> np.ndarray:
    """Expected reports per minute on a normal day: 20 at 04:00 ET to 60 at 16:00 ET.

    Downdetector's chart for a service as large as X never sits at zero; a baseline of a few
    dozen per minute also keeps a quiet minute's count well above chance level."""
    # Local hour of each minute (one zone lookup per hour of the span, DST included).
    hours = minutes_utc // 60
    uniq, inv = np.unique(hours, return_inverse=True)
    local = np.array([datetime.fromtimestamp(int(h) * 3600, ET).hour for h in uniq], dtype=float)
    local_hour = local[inv] + (minutes_utc % 60) / 60.0
    return 40.0 + 20.0 * np.cos(2 * np.pi * (local_hour - 16.0) / 24.0)


def _incident_curve(minutes_utc: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(values, mask of minutes covered by the incident curve)."""
    published = [(f["time"], f["reports"]) for f in published_figures() if f["reports"] is not None]
    points = sorted([(t, v, True) for t, v in published] + [(_at(hm), v, False) for hm, v in SHAPE])
    pm = np.array([int(t.timestamp()) // 60 for t, _, _ in points])
    pv = np.array([float(v) for _, v, _ in points])
    inside = (minutes_utc >= pm[0]) & (minutes_utc <= pm[-1])
    curve = np.exp(np.interp(minutes_utc, pm, np.log(pv)))
    curve *= np.exp(rng.normal(0.0, 0.04, size=len(curve)))
    # Published figures are exact; published peaks stay the maxima of their waves and
    # published troughs the minima between waves.
    is_pub = np.array([p for _, _, p in points])
    for i in np.flatnonzero(is_pub):
        k = int(np.searchsorted(minutes_utc, pm[i]))
        lo_i = i - 1
        hi_i = i + 1
        a = int(np.searchsorted(minutes_utc, pm[lo_i])) if lo_i >= 0 else 0
        b = int(np.searchsorted(minutes_utc, pm[hi_i])) if hi_i < len(pm) else len(minutes_utc) - 1
        neighbours = [pv[j] for j in (lo_i, hi_i) if 0 <= j < len(pv)]
        if pv[i] > max(neighbours):  # a peak
            curve[a: b + 1] = np.minimum(curve[a: b + 1], pv[i] * 0.995)
        elif pv[i] < min(neighbours):  # a trough
            curve[a: b + 1] = np.maximum(curve[a: b + 1], pv[i] * 1.005)
        curve[k] = pv[i]
    return np.round(curve), inside


def reconstruct_x_2025_03_10(days_before: int = 3, days_after: int = 0, seed: int = 20250310) -> pa.Table:
    """Per-minute report counts for X around 10 March 2025 (REPORTS schema, one row per
    minute, region and problem with a non-zero count), reconstructed as the module says."""
    rng = np.random.default_rng(seed)
    start = DAY - timedelta(days=days_before)
    end = DAY + timedelta(days=1 + days_after)
    m0, m1 = int(start.timestamp()) // 60, int(end.timestamp()) // 60
    minutes = np.arange(m0, m1, dtype=np.int64)
    mean = _baseline_mean(minutes)
    # Negative binomial baseline (a little more spread than Poisson), dispersion r = 10.
    r = 10.0
    base = rng.negative_binomial(r, r / (r + mean)).astype(float)
    curve, inside = _incident_curve(minutes, rng)
    total = np.where(inside, np.maximum(curve, base), base).astype(np.int64)
    # Split each minute over regions x problems; only non-zero cells become rows.
    cells = [(reg, prob, pr * pp) for reg, pr in REGIONS.items() for prob, pp in PROBLEMS.items()]
    probs = np.array([p for _, _, p in cells])
    split = rng.multinomial(total, probs / probs.sum())
    mi, ci = np.nonzero(split)
    # A minute with no report still gets a row (count 0): a quiet minute is data, not a gap.
    quiet = np.flatnonzero(total == 0)
    order = np.argsort(np.r_[mi, quiet], kind="stable")
    minute = np.r_[mi, quiet][order]
    count = np.r_[split[mi, ci], np.zeros(len(quiet), np.int64)][order]
    region = np.array([cells[c][0] for c in ci] + [None] * len(quiet), dtype=object)[order]
    problem = np.array([cells[c][1] for c in ci] + [None] * len(quiet), dtype=object)[order]
    ts = (minutes[minute] * 60 * 1_000_000_000).astype("int64")
    return pa.Table.from_arrays(
        [
            pa.array(ts, type=pa.int64()).cast(REPORTS.field("ts").type),
            pa.array(count.astype(np.int64)),
            pa.array(np.full(len(minute), "x", dtype=object), type=pa.string()),
            pa.array(region, type=pa.string()),
            pa.array(problem, type=pa.string()),
        ],
        schema=REPORTS,
    )


def write_csv(table: pa.Table, path: str | Path) -> int:
    """Write a REPORTS table as the CSV the reports reader takes (time with offset, count,
    service, region, problem); return the number of rows."""
    import polars as pl

    df = pl.from_arrow(table)
    assert isinstance(df, pl.DataFrame)
    df = df.with_columns(pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%SZ").alias("time")).select(
        "time", "count", "service", "region", "problem"
    )
    df.write_csv(path)
    return df.height
