"""The Numenta Anomaly Benchmark (NAB v1.1) scorer and harness, written from NAB's description.

How NAB scores a detector (Lavin & Ahmad 2015; Ahmad et al. 2017):

- Each labelled anomaly has a *window* (``labels/combined_windows.json``). The first 15 % of
  every file (at most 750 rows) is a *probationary period*: rows there are never scored.
- A detection is a row whose anomaly score is at or above the detector's threshold. Inside a
  window only the earliest detection counts, weighted by the scaled sigmoid of its relative
  position ``-(right - i + 1) / width`` (``2*sigmoid(-5x) - 1``, divided by its value at -1 so
  that a detection on the window's first row is worth ``tpWeight``). A window without any
  detection costs ``fnWeight``. Every detection outside windows is a false positive worth
  ``fpWeight`` times the scaled sigmoid of its distance past the previous window in window
  widths (-1 before any window and from 3 widths on), so detections just after a window
  are cheap and later ones cost the full weight.
- The three *profiles* (``config/profiles.json``) weigh TP/FP/FN differently. For each
  profile, one threshold is chosen for the whole corpus: the one that maximises the corpus's
  raw score. This module sweeps every distinct anomaly score exactly, in one sort.
- Normalisation: ``100 * (raw - null) / (perfect - null)`` where the null detector detects
  nothing (``-fnWeight`` per window) and the perfect one detects every window on its first
  row (``tpWeight`` per window).

Everything is vectorised: one corpus sweep over all thresholds costs one sort of the rows.

Example (a window of 4 rows after a probation of 1 row; detecting the window's first row is
perfect):

>>> import numpy as np
>>> f = NabFile("x/y.csv", np.arange(10, dtype="int64"), np.zeros(10), [(5, 8)])
>>> scores = [np.array([0, 0, 0, 0, 0, 1, 0, 0, 0, 0.0])]
>>> round(corpus_score([f], scores, STANDARD_PROFILE)["normalised"], 2)
100.0
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

PROBATION_FRACTION = 0.15
PROBATION_CAP_ROWS = 5000  # NAB caps probation at 15 % of 5,000 rows
STANDARD_PROFILE = {"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 0.11, "tnWeight": 1.0}
PROFILE_NAMES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")

PUBLISHED = {
    "ARTime": 74.85, "Numenta HTM": 70.10, "CAD OSE": 69.90, "earthgecko Skyline": 58.20,
    "KNN CAD": 57.99, "Twitter ADVec": 47.06, "windowed Gaussian": 39.65,
}
"""Published NAB v1.1 standard-profile scores (results/final_results.json)."""


@dataclass
class NabFile:
    """One NAB series: its relative name, timestamps (ns), values and windows (row indices)."""

    name: str
    ts: np.ndarray
    values: np.ndarray
    windows: list[tuple[int, int]] = field(default_factory=list)

    @property
    def category(self) -> str:
        return self.name.split("/", 1)[0]

    @property
    def probation(self) -> int:
        """Rows of the probationary period (never scored)."""
        n = len(self.ts)
        return int(min(math.floor(PROBATION_FRACTION * n), PROBATION_FRACTION * PROBATION_CAP_ROWS))


def scaled_sigmoid(x: np.ndarray) -> np.ndarray:
    """NAB's ``2*sigmoid(-5x) - 1``, and -1 from x >= 3 on (far past a window)."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x >= 3.0, -1.0, 2.0 / (1.0 + np.exp(5.0 * x)) - 1.0)


_MAX_TP = float(scaled_sigmoid(-1.0))


def row_weights(f: NabFile, profile: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """Per-row value of a detection and the row's window number (-1 outside, -2 probation)."""
    n = len(f.ts)
    i = np.arange(n)
    weight = np.full(n, -profile["fpWeight"], dtype=np.float64)  # FP before any window
    window = np.full(n, -1, dtype=np.int64)
    for k, (left, right) in enumerate(f.windows):
        width = right - left + 1
        inside = slice(left, right + 1)
        window[inside] = k
        weight[inside] = scaled_sigmoid(-(right - i[inside] + 1) / width) * profile["tpWeight"] / _MAX_TP
        nxt = f.windows[k + 1][0] if k + 1 < len(f.windows) else n
        after = slice(right + 1, nxt)
        # width - 1 as in NAB: the first row after the window sits at 1/(width-1)
        weight[after] = scaled_sigmoid((i[after] - right) / (width - 1)) * profile["fpWeight"]
    window[: f.probation] = -2
    return weight, window


def _events(files: Sequence[NabFile], scores: Sequence[np.ndarray], profile: dict[str, float]):
    """Score changes as the threshold falls: (anomaly score, change) per row, and #windows.

    A false positive adds its weight when its score is reached. A window starts at
    ``-fnWeight``; its value is the best weight among its detected rows, so each row that
    raises that running maximum (rows taken by falling score) adds the raise.
    """
    fn = profile["fnWeight"]
    keys, deltas = [], []
    n_windows = 0
    for f, s in zip(files, scores, strict=True):
        s = np.asarray(s, dtype=np.float64)
        if len(s) != len(f.ts):
            raise ValueError(f"{f.name}: {len(s)} scores for {len(f.ts)} rows")
        w, win = row_weights(f, profile)
        out = win == -1
        keys.append(s[out])
        deltas.append(w[out])
        ins = win >= 0
        if not ins.any():
            continue
        ws, wv, wk = s[ins], w[ins], win[ins]
        order = np.lexsort((-ws, wk))  # by window, then falling score
        ws, wv, wk = ws[order], wv[order], wk[order]
        # segmented running max: offset each window so its values exceed all earlier ones
        span = float(np.abs(wv).max() + fn + 1.0) * 2
        base = wk * span
        run = np.maximum.accumulate(wv + base) - base
        first = np.r_[True, wk[1:] != wk[:-1]]
        prev = np.where(first, -fn, np.r_[0.0, run[:-1]])
        keys.append(ws)
        deltas.append(run - prev)
        n_windows += len(np.unique(wk))
    return np.concatenate(keys), np.concatenate(deltas), n_windows


def sweep(files: Sequence[NabFile], scores: Sequence[np.ndarray], profile: dict[str, float]) -> tuple[np.ndarray, np.ndarray, int]:
    """Raw corpus score at every distinct threshold: (thresholds falling, raw scores, #windows).

    The first entry is threshold 1.1 (nothing detected); detection means ``score >= threshold``.
    """
    key, delta, n_windows = _events(files, scores, profile)
    order = np.argsort(-key, kind="stable")
    key, delta = key[order], delta[order]
    total = np.cumsum(delta) - profile["fnWeight"] * n_windows
    last = np.r_[key[1:] != key[:-1], True] if len(key) else np.zeros(0, bool)
    thresholds = np.r_[1.1, key[last]]
    raw = np.r_[-profile["fnWeight"] * n_windows, total[last]]
    return thresholds, raw, n_windows


def file_score(f: NabFile, s: np.ndarray, profile: dict[str, float], threshold: float) -> dict[str, Any]:
    """Raw NAB score of one file at a threshold, with detected windows and false positives."""
    w, win = row_weights(f, profile)
    det = np.asarray(s, dtype=np.float64) >= threshold
    fp = det & (win == -1)
    raw = float(w[fp].sum())
    detected = 0
    for k in range(len(f.windows)):
        rows = win == k
        if not rows.any():
            continue
        hit = det & rows
        if hit.any():
            raw += float(w[hit].max())
            detected += 1
        else:
            raw -= profile["fnWeight"]
    n_windows = int(len(np.unique(win[win >= 0])))
    return {"raw": raw, "windows": n_windows, "detected": detected, "false_positives": int(fp.sum())}


def normalise(raw: float, n_windows: int, profile: dict[str, float]) -> float | None:
    """``100 * (raw - null) / (perfect - null)``; None when there is no window to find."""
    null = -profile["fnWeight"] * n_windows
    perfect = profile["tpWeight"] * n_windows
    if perfect == null:
        return None
    return 100.0 * (raw - null) / (perfect - null)


def corpus_score(files: Sequence[NabFile], scores: Sequence[np.ndarray], profile: dict[str, float],
                 threshold: float | None = None) -> dict[str, Any]:
    """Best (or given) threshold for the corpus, its raw and normalised score."""
    if threshold is None:
        thresholds, raw, n = sweep(files, scores, profile)
        best = int(np.argmax(raw))  # first maximum = highest threshold among ties, as NAB
        threshold, raw_best = float(thresholds[best]), float(raw[best])
    else:
        parts = [file_score(f, s, profile, threshold) for f, s in zip(files, scores, strict=True)]
        raw_best, n = sum(p["raw"] for p in parts), sum(p["windows"] for p in parts)
    return {"threshold": threshold, "raw": raw_best, "normalised": normalise(raw_best, n, profile)}


# ---------------------------------------------------------------------------------- corpus I/O


def _to_ns(col: pl.Series) -> np.ndarray:
    return col.str.strip_chars().str.to_datetime(time_unit="ns", strict=True).cast(pl.Int64).to_numpy()


def load_corpus(data_dir: str | Path) -> list[NabFile]:
    """All NAB series with their windows as row indices, sorted by name."""
    root = Path(data_dir)
    labels = json.loads((root / "labels" / "combined_windows.json").read_text())
    files = []
    for name in sorted(labels):
        df = pl.read_csv(root / "data" / name, schema_overrides={"timestamp": pl.String, "value": pl.Float64})
        ts = _to_ns(df["timestamp"])
        windows = []
        for start, end in labels[name]:
            lo, hi = _to_ns(pl.Series([start, end]))
            left, right = int(np.searchsorted(ts, lo, "left")), int(np.searchsorted(ts, hi, "right")) - 1
            windows.append((left, right))
        files.append(NabFile(name, ts, df["value"].to_numpy().astype(np.float64), windows))
    return files


def load_profiles(data_dir: str | Path) -> dict[str, dict[str, float]]:
    """Cost matrices of the three profiles."""
    d = json.loads((Path(data_dir) / "config" / "profiles.json").read_text())
    return {k: d[k]["CostMatrix"] for k in PROFILE_NAMES}


def load_results(results_dir: str | Path, detector: str, files: Sequence[NabFile]) -> list[np.ndarray]:
    """A published detector's per-row anomaly scores (results/<detector>/<cat>/<detector>_<name>)."""
    out = []
    for f in files:
        cat, base = f.name.split("/", 1)
        path = Path(results_dir) / detector / cat / f"{detector}_{base}"
        out.append(pl.read_csv(path, columns=["anomaly_score"])["anomaly_score"].cast(pl.Float64).to_numpy())
    return out


def score_all(files: Sequence[NabFile], scores: Sequence[np.ndarray], profiles: dict[str, dict[str, float]]) -> dict[str, Any]:
    """Normalised scores of all profiles, and per-category standard scores at its threshold."""
    result: dict[str, Any] = {}
    for name, profile in profiles.items():
        result[name] = corpus_score(files, scores, profile)
    std = profiles["standard"]
    t = result["standard"]["threshold"]
    cats: dict[str, dict[str, Any]] = {}
    for f, s in zip(files, scores, strict=True):
        p = file_score(f, s, std, t)
        c = cats.setdefault(f.category, {"files": 0, "raw": 0.0, "windows": 0, "detected": 0, "false_positives": 0})
        c["files"] += 1
        for k in ("raw", "windows", "detected", "false_positives"):
            c[k] += p[k]
    for c in cats.values():
        c["standard"] = normalise(c["raw"], c["windows"], std)
    result["categories"] = dict(sorted(cats.items()))
    return result


def run_benchmark(data_dir: str | Path, write_results: str | Path | None = None,
                  detector: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None) -> dict[str, Any]:
    """Run the default detector over the NAB corpus and score it (``surgescope bench nab``).

    Returns the normalised standard / reward_low_FP_rate / reward_low_FN_rate scores with
    their thresholds, per-category scores (realTweets among them), and the published
    scoreboard for comparison. With ``write_results``, writes NAB-format per-row results to
    ``OUT/<category>/<name>.csv`` (timestamp, value, anomaly_score).
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from surgescope.outage.detectors import DEFAULT_NAME, default_scores

    detector = detector or default_scores
    root = Path(data_dir)
    if not (root / "labels" / "combined_windows.json").is_file():
        raise FileNotFoundError(2, "not a NAB checkout (labels/combined_windows.json missing)", str(root))
    files = load_corpus(root)
    profiles = load_profiles(root)
    scores: list[np.ndarray] = []
    console = Console(stderr=True)
    with Progress(TextColumn("[bold]NAB"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                  TimeElapsedColumn(), console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task("", total=len(files))
        for f in files:
            progress.update(task, description=f.name)
            scores.append(np.asarray(detector(f.ts, f.values), dtype=np.float64))
            progress.advance(task)
    if write_results is not None:
        write_nab_results(write_results, files, scores)
    result = score_all(files, scores, profiles)
    # Twitter mention volume: the closest public data to outage reports, reported on its own
    result["realTweets"] = result["categories"].get("realTweets")
    result["detector"] = DEFAULT_NAME if detector is default_scores else getattr(detector, "__name__", "custom")
    result["files"] = len(files)
    result["rows"] = int(sum(len(f.ts) for f in files))
    result["published_standard"] = PUBLISHED
    return result


def write_nab_results(out_dir: str | Path, files: Sequence[NabFile], scores: Sequence[np.ndarray]) -> None:
    """NAB-format results: OUT/<category>/<name>.csv with timestamp, value, anomaly_score."""
    for f, s in zip(files, scores, strict=True):
        path = Path(out_dir) / f.name
        path.parent.mkdir(parents=True, exist_ok=True)
        pl.DataFrame({
            "timestamp": pl.Series(f.ts).cast(pl.Datetime("ns")).dt.strftime("%Y-%m-%d %H:%M:%S"),
            "value": f.values,
            "anomaly_score": np.round(np.asarray(s, dtype=np.float64), 6),
        }).write_csv(path)
