"""Outage analysis of count series: binning, baseline, waves, breakdown, the report section.

Pure functions over Arrow/Polars tables; :func:`detect_file` is the one edge that reads a file.

- :func:`bin_counts` turns events or irregular samples into a regular series (empty bins are
  0 for event counts, missing for sampled values, so gaps are never invented data).
- :func:`analyze_reports` / :func:`analyze_requests` fill the ``outage`` section of the
  report: waves (ISO-8601 UTC), the scored series for charts, and the breakdown by region
  and problem type (Downdetector's "reports by location" / "most reported problems").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from surgescope.incident import iso
from surgescope.outage.baseline import BaselineScores, looks_like_counts, seasonal_count_scores
from surgescope.outage.waves import segment
from surgescope.sources.base import InputError, Rejections

DAY_NS = 86_400 * 10**9
STEPS_S = (1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400)


def count_step(ts_ns: np.ndarray, counts: np.ndarray, per_bin: float = 20.0, min_bins: int = 48) -> int:
    """The smallest round bin (>= 1 min) where 3 bins in 4 hold ``per_bin`` events or more.

    A count of 2 per bin cannot tell an outage from chance (P(0 | 2) = 0.14); 20 per bin can
    (P(0 | 20) = 2e-9). A quantile, not the mean, so that a log sampled in bursts (lines only
    in a few minutes of each hour) gets bins wide enough to hold the bursts. At least
    ``min_bins`` bins are kept so a short file still has a shape.
    """
    span = int(ts_ns.max() - ts_ns.min()) + 1 if len(ts_ns) else 1
    best = 60 * 10**9
    for s in STEPS_S:
        step = s * 10**9
        if step < 60 * 10**9:
            continue
        if span / step < min_bins:
            break
        best = step
        if np.quantile(bin_counts(ts_ns, counts, step)[1], 0.25) >= per_bin:
            break
    return best


def bin_counts(ts_ns: np.ndarray, counts: np.ndarray, step_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """Sum of counts per regular bin (empty bins are 0): (bin starts ns, totals)."""
    if len(ts_ns) == 0:
        return np.zeros(0, np.int64), np.zeros(0)
    b = ts_ns // step_ns
    lo, hi = int(b.min()), int(b.max())
    totals = np.bincount(b - lo, weights=counts, minlength=hi - lo + 1)
    return (np.arange(lo, hi + 1, dtype=np.int64) * step_ns), totals


def regularise(ts_ns: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sampled values on a regular grid at their median spacing; gaps stay NaN, bins average."""
    order = np.argsort(ts_ns, kind="stable")
    ts_ns, values = ts_ns[order], values[order]
    if len(ts_ns) < 3:
        return ts_ns, values
    d = np.diff(ts_ns)
    step = int(np.median(d[d > 0])) if np.any(d > 0) else 1
    b = (ts_ns - ts_ns[0] + step // 2) // step
    n = int(b[-1]) + 1
    if n > 20 * len(ts_ns):  # a few far outliers in time: keep the samples as a sequence
        return ts_ns, values
    sums = np.bincount(b, weights=values, minlength=n)
    cnt = np.bincount(b, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        grid = np.where(cnt > 0, sums / np.maximum(cnt, 1), np.nan)
    return ts_ns[0] + np.arange(n, dtype=np.int64) * step, grid


def score_series(ts_ns: np.ndarray, values: np.ndarray, direction: str = "up") -> BaselineScores:
    """Seasonal count baseline for a regular series: daily season, one-day level window."""
    step = int(np.median(np.diff(ts_ns))) if len(ts_ns) > 1 else DAY_NS
    per_day = max(int(round(DAY_NS / max(step, 1))), 1)
    period = per_day if per_day >= 4 and len(ts_ns) > 3 * per_day else 0
    window = int(min(max(per_day, 30), 10_000))
    return seasonal_count_scores(values, period=period, window=window, direction=direction,
                                 counts=looks_like_counts(values))


def waves_iso(ts_ns: np.ndarray, values: np.ndarray, s: BaselineScores, direction: str,
              step_ns: int) -> list[dict[str, Any]]:
    """Waves with ISO-8601 UTC times (end = end of the last active bin)."""
    out = []
    for w in segment(values, s.expected, s.rate, direction=direction):
        out.append({
            "start": iso(int(ts_ns[w["start"]])),
            "peak_at": iso(int(ts_ns[w["peak_at"]])),
            "peak": _num(w["peak"]),
            "end": iso(int(ts_ns[w["end"]]) + step_ns),
            "direction": direction,
            "expected_at_peak": round(float(w["expected"]), 3),
            "p_value_bound": float(np.exp(-s.rate[w["peak_at"]])),
        })
    return out


def _num(v: float) -> float | int:
    return int(v) if float(v).is_integer() else float(v)


# ------------------------------------------------------------------------------- file input

TIME_NAMES = ("timestamp", "time", "ts", "date", "datetime", "t")
VALUE_NAMES = ("value", "count", "reports", "volume", "n", "requests")


def read_series(path: str | Path) -> tuple[np.ndarray, np.ndarray, Rejections]:
    """(timestamps ns, values, rejections) from a CSV with a timestamp and a value column.

    Columns are found by name (timestamp/time/ts/date..., value/count/reports...) or else the
    first two columns. Rows whose time or value does not parse are rejected with their line.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(2, "No such file or directory", str(p))
    try:
        df = pl.read_csv(p, infer_schema=False, truncate_ragged_lines=True)
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError) as e:
        raise InputError(f"{p}: not a CSV file ({str(e).splitlines()[0]})") from None
    if df.width < 2:
        raise InputError(f"{p}: needs a timestamp and a value column, found {df.columns}")
    lower = {c.lower().strip(): c for c in df.columns}
    tcol = next((lower[n] for n in TIME_NAMES if n in lower), df.columns[0])
    vcol = next((lower[n] for n in VALUE_NAMES if n in lower and lower[n] != tcol),
                next(c for c in df.columns if c != tcol))
    text = df[tcol].str.strip_chars()
    ts = _parse_times(text)
    vals = df[vcol].str.strip_chars().cast(pl.Float64, strict=False)
    bad = ts.is_null() | vals.is_null() | vals.is_nan() | vals.is_infinite()
    rej = Rejections(unit="line")
    if bad.any():
        idx = np.flatnonzero(bad.to_numpy())
        rows = df[idx.tolist()]
        excerpts = [f"{a},{b}" for a, b in zip(rows[tcol].to_list(), rows[vcol].to_list(), strict=True)]
        rej.add_many([int(i) + 2 for i in idx], "unparsable timestamp or value", excerpts)  # line 1 = header
    good = ~bad
    ts_ns = ts.filter(good).dt.epoch("ns").to_numpy().astype(np.int64)
    return ts_ns, vals.filter(good).to_numpy().astype(np.float64), rej


TIME_FORMATS = ("%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f%z",
                "%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%.fZ", "%Y-%m-%d %H:%M", "%Y-%m-%d")


def _parse_times(text: pl.Series) -> pl.Series:
    """UTC timestamps from mixed text: inferred format, common ISO forms, then epoch seconds.

    Times without an offset are taken as UTC. Each attempt only fills what is still missing,
    so one file may mix forms.
    """
    utc = pl.Datetime("ns", "UTC")
    ts = text.str.to_datetime(time_unit="ns", time_zone="UTC", strict=False)
    for fmt in TIME_FORMATS:
        if ts.null_count() == text.null_count():
            break
        if "%z" in fmt:
            more = text.str.to_datetime(fmt, time_unit="ns", strict=False).dt.convert_time_zone("UTC")
        else:
            more = text.str.to_datetime(fmt, time_unit="ns", strict=False).dt.replace_time_zone("UTC")
        ts = ts.fill_null(more.cast(utc))
    if ts.null_count() > text.null_count():
        num = text.cast(pl.Float64, strict=False)
        ts = ts.fill_null((num * 1e9).cast(pl.Int64, strict=False).cast(utc))
    return ts


def detect_file(path: str | Path, rejections: Rejections | None = None) -> list[dict[str, Any]]:
    """Outage waves of one series file (``surgescope detect SERIES.csv``).

    Irregular spacing is put on a regular grid at the median spacing; gaps stay missing and
    are neither scored nor learnt. Rejected rows are counted into ``rejections`` when given.

    >>> import tempfile, os
    >>> d = tempfile.mkdtemp(); p = os.path.join(d, "s.csv")
    >>> rows = ["timestamp,value"] + [f"2025-03-10 {h:02d}:{m:02d}:00,{900 if h == 20 else 30}"
    ...         for h in range(24) for m in range(0, 60, 5)]
    >>> _ = open(p, "w").write("\\n".join(rows))
    >>> [(w["start"], w["peak"]) for w in detect_file(p)]
    [('2025-03-10T20:00:00Z', 900)]
    """
    ts_ns, values, rej = read_series(path)
    if rejections is not None:
        rejections.count += rej.count
        rejections.samples.extend(rej.samples[: max(0, rejections.max_samples - len(rejections.samples))])
    if len(ts_ns) == 0:
        return []
    grid_ts, grid = regularise(ts_ns, values)
    step = int(np.median(np.diff(grid_ts))) if len(grid_ts) > 1 else 1
    return waves_iso(grid_ts, grid, score_series(grid_ts, grid, "up"), "up", step)


# ---------------------------------------------------------------------------- table inputs


def _ts_ns(table: pa.Table) -> np.ndarray:
    return pl.from_arrow(table.select(["ts"]))["ts"].dt.epoch("ns").to_numpy().astype(np.int64)


def _series_points(ts_ns: np.ndarray, values: np.ndarray, s: BaselineScores) -> list[dict[str, Any]]:
    return [{"t": iso(int(t)), "value": _num(v), "expected": None if np.isnan(e) else round(float(e), 3),
             "score": round(float(sc), 6)}
            for t, v, e, sc in zip(ts_ns, values, s.expected, s.score, strict=True)]


def breakdown(table: pa.Table, column: str, top: int = 10) -> list[dict[str, Any]]:
    """Reports per value of ``column`` (region or problem), with shares, largest first."""
    if column not in table.column_names or table.num_rows == 0:
        return []
    df = pl.from_arrow(table.select([column, "count"]))
    df = df.filter(pl.col(column).is_not_null() & (pl.col(column).str.strip_chars() != ""))
    if df.height == 0:
        return []
    g = df.group_by(column).agg(pl.col("count").sum().alias("reports")).sort(["reports", column], descending=[True, False])
    total = float(g["reports"].sum())
    return [{column: k, "reports": int(n), "share": round(n / total, 4) if total else 0.0}
            for k, n in zip(g[column].head(top).to_list(), g["reports"].head(top).to_list(), strict=True)]


def analyze_reports(table: pa.Table, step_s: int | None = None) -> dict[str, Any]:
    """The outage section from crowd reports (schema.REPORTS): surges of report counts.

    Reports are summed per bin (one minute when the span allows, coarser for long spans);
    waves are where the count is significantly above the seasonal baseline.
    """
    ts = _ts_ns(table)
    if len(ts) == 0:
        return {"waves": [], "series": [], "breakdown": {"by_region": [], "by_problem": []}}
    counts = np.asarray(table.column("count").to_numpy(zero_copy_only=False), dtype=np.float64)
    step = step_s * 10**9 if step_s else count_step(ts, counts)
    grid_ts, totals = bin_counts(ts, counts, step)
    s = score_series(grid_ts, totals, "up")
    # breakdown within the waves when there are any (what was reported during the outage)
    waves = waves_iso(grid_ts, totals, s, "up", step)
    in_waves = table
    if waves:
        lo = np.datetime64(waves[0]["start"].rstrip("Z"), "ns").astype(np.int64)
        hi = np.datetime64(waves[-1]["end"].rstrip("Z"), "ns").astype(np.int64)
        mask = (ts >= lo) & (ts < hi)
        in_waves = table.filter(pa.array(mask))
    return {
        "waves": waves,
        "series": _series_points(grid_ts, totals, s),
        "breakdown": {"by_region": breakdown(in_waves, "region"), "by_problem": breakdown(in_waves, "problem")},
    }


def analyze_requests(table: pa.Table, step_s: int | None = None) -> dict[str, Any]:
    """The outage section from access-log requests (schema.REQUESTS): drops of traffic.

    Requests are counted per bin (one minute, or wider until a bin holds ~20 requests);
    waves (direction ``down``) are where the count falls significantly below the baseline.
    """
    ts = _ts_ns(table)
    if len(ts) == 0:
        return {"waves": [], "series": [], "breakdown": {"by_region": [], "by_problem": []}}
    ones = np.ones(len(ts))
    step = step_s * 10**9 if step_s else count_step(ts, ones)
    grid_ts, totals = bin_counts(ts, ones, step)
    s = score_series(grid_ts, totals, "down")
    return {
        "waves": waves_iso(grid_ts, totals, s, "down", step),
        "series": _series_points(grid_ts, totals, s),
        "breakdown": {"by_region": [], "by_problem": []},
    }
