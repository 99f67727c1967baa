"""Anomaly detectors on one numeric series, scored on NAB: streaming (river style) and batch.

Every detector here is strictly causal (the score at t uses values up to t) and has two
paths that give the same scores: a class with ``score_one(x, t)`` / ``learn_one(x, t)`` for
live use, and a vectorised function over a whole series for files and benchmarks.

- :class:`ExtremeLevel` (the default, best measured on NAB): an alarm when the value leaves
  the range of the last ``window`` samples by more than ``margin`` of that range (a record
  high or low), or when the mean of the last ``short`` samples sits further from the median
  of the ``long`` samples before them than ever before in this series (a level shift,
  measured in robust standard deviations and scaled by the largest shift seen so far).
  After an alarm, further alarms are held back for ``hold`` samples, a hold that grows with
  the series (``hold_growth`` times the samples seen): an outage is one event, and NAB
  counts one detection per window.
- :class:`RobustZ`: the robust z-score of each value against the previous ``window``
  samples, relative to the largest z seen so far, with the same alarm hold (the simple
  baseline the issue measured).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import polars as pl

MAD_TO_SD = 1.4826
MEANABS_TO_SD = 1.2533  # sqrt(pi/2): mean absolute deviation to SD for Gaussian noise


@dataclass(frozen=True)
class RobustZParams:
    """One parameter set for every series (NAB's rule: no per-file tuning)."""

    window: int = 200
    min_history: int = 10
    fire: float = 0.7
    hold: int = 80
    damp: float = 0.5


DEFAULT_PARAMS = RobustZParams()


def _z_batch(x: np.ndarray, p: RobustZParams) -> np.ndarray:
    s = pl.Series(x)
    prev = s.shift(1)
    med = prev.rolling_median(p.window, min_samples=p.min_history)
    dev = (s - med).abs()
    mad = dev.shift(1).rolling_median(p.window, min_samples=p.min_history).to_numpy().astype(np.float64)
    sd = prev.rolling_std(p.window, min_samples=p.min_history).to_numpy().astype(np.float64)
    level = prev.abs().rolling_mean(p.window, min_samples=p.min_history).to_numpy().astype(np.float64)
    scale = _scale(mad, sd, level)
    z = np.abs(x - med.to_numpy().astype(np.float64)) / scale
    return np.nan_to_num(z, nan=0.0, posinf=0.0)


def _scale(mad: np.ndarray, sd: np.ndarray, level: np.ndarray) -> np.ndarray:
    return np.fmax(np.fmax(MAD_TO_SD * np.nan_to_num(mad), 0.1 * np.nan_to_num(sd)), 1e-3 * np.nan_to_num(level) + 1e-9)


def _relative_to_max(z: np.ndarray) -> np.ndarray:
    """z over the largest z before it (1 when it is the largest yet), in [0, 1]."""
    prior = np.r_[0.0, np.maximum.accumulate(z)[:-1]]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(prior > 0, z / prior, np.where(z > 0, 1.0, 0.0))
    return np.minimum(r, 1.0)


def suppress(score: np.ndarray, fire: float, hold: int, damp: float) -> np.ndarray:
    """Damp scores for ``hold`` samples after each alarm (a score >= ``fire``).

    Sequential by nature, but only alarms are visited, so the loop runs once per alarm.
    """
    out = score.copy()
    last = -(1 << 62)
    for i in np.flatnonzero(score >= fire):
        if i - last <= hold:
            out[i] = min(out[i] * damp, fire * damp)
        else:
            last = int(i)
    return out


def robust_z_scores(ts: np.ndarray | None, values: np.ndarray, params: RobustZParams = DEFAULT_PARAMS) -> np.ndarray:
    """Batch path of :class:`RobustZ`: anomaly scores in [0, 1] for a whole series."""
    x = np.asarray(values, dtype=np.float64)
    if len(x) == 0:
        return np.zeros(0)
    z = _z_batch(x, params)
    return suppress(_relative_to_max(z), params.fire, params.hold, params.damp)


class RobustZ:
    """Streaming path of the default detector; equal scores to :func:`robust_z_scores`.

    >>> det = RobustZ()
    >>> scores = []
    >>> for v in [10.0, 11.0, 9.0, 10.0] * 75 + [40.0]:
    ...     scores.append(det.score_one(v))
    ...     det.learn_one(v)
    >>> scores[-1]
    1.0
    """

    def __init__(self, params: RobustZParams = DEFAULT_PARAMS) -> None:
        self.p = params
        self._prev: deque[float] = deque(maxlen=params.window)
        self._devs: deque[float] = deque(maxlen=params.window)
        self._zmax = 0.0
        self._last_fire = -(1 << 62)
        self._i = 0
        self._pending: tuple[float, float, float, float] | None = None  # x, z, med, final score

    def _median(self) -> float:
        return float(np.median(self._prev)) if len(self._prev) >= self.p.min_history else np.nan

    def _compute(self, x: float) -> tuple[float, float, float, float]:
        if self._pending is not None and self._pending[0] == x:
            return self._pending
        med = self._median()
        if np.isnan(med):
            z = 0.0
        else:
            prev = np.asarray(self._prev)
            mad = float(np.median(self._devs)) if len(self._devs) >= self.p.min_history else np.nan
            sd = float(np.std(prev, ddof=1))
            level = float(np.mean(np.abs(prev)))
            scale = float(_scale(np.array([mad]), np.array([sd]), np.array([level]))[0])
            z = abs(x - med) / scale
            z = z if np.isfinite(z) else 0.0
        if self._zmax > 0:
            r = min(z / self._zmax, 1.0)
        else:
            r = 1.0 if z > 0 else 0.0
        score = r
        if r >= self.p.fire and self._i - self._last_fire <= self.p.hold:
            score = min(r * self.p.damp, self.p.fire * self.p.damp)
        self._pending = (x, z, med, score)
        return self._pending

    def score_one(self, x: float, t: object = None) -> float:
        """Anomaly score of x given everything learnt so far."""
        return self._compute(float(x))[3]

    def learn_one(self, x: float, t: object = None) -> None:
        """Add x to the history (after scoring it)."""
        x = float(x)
        _, z, med, _ = self._compute(x)
        r = min(z / self._zmax, 1.0) if self._zmax > 0 else (1.0 if z > 0 else 0.0)
        if r >= self.p.fire and self._i - self._last_fire > self.p.hold:
            self._last_fire = self._i
        self._zmax = max(self._zmax, z)
        if not np.isnan(med):
            self._devs.append(abs(x - med))
        self._prev.append(x)
        self._i += 1
        self._pending = None


# ------------------------------------------------------------------ the default: ExtremeLevel


@dataclass(frozen=True)
class ExtremeLevelParams:
    """One parameter set for every series (NAB's rule).

    The defaults are the result of ``bench/nab_split_half.py --method coord`` on the whole NAB
    corpus (in-sample); the same search run on half the corpus loses 7-11 points on the other
    half (docs/outage.md).
    """

    window: int = 1500       # samples whose range a record must leave
    margin: float = 0.005    # by this fraction of the range
    long: int = 300          # level reference: median of these samples ...
    short: int = 25          # ... before the mean of the last `short` samples
    min_history: int = 10
    level_weight: float = 0.9
    level_floor: float = 1.5  # a shift under 1.5 robust SDs is never "the largest yet"
    fire: float = 0.85       # a combined score at or above this is an alarm
    hold: int = 40           # samples held back after an alarm ...
    hold_growth: float = 0.02  # ... or this fraction of the samples seen, if larger
    season_days: int = 3     # seasonal record: outside the range of the same time of day ...
    season_tol: float = 0.03  # ... +- this fraction of a day, on each of the previous days,
    season_margin: float = 0.5  # ... by this fraction of that range,
    season_corr: float = 0.95  # ... in a series whose day-to-day correlation so far exceeds this
    weight: float = 0.95     # score of a seasonal record (a value record scores 1)


EXTREME_LEVEL = ExtremeLevelParams()


def _record_batch(x: np.ndarray, p: ExtremeLevelParams) -> np.ndarray:
    s = pl.Series(x)
    # range of the previous `window` samples (rolling before shifting: see _level_batch)
    hi = s.rolling_max(p.window, min_samples=1).shift(1).to_numpy().astype(np.float64)
    lo = s.rolling_min(p.window, min_samples=1).shift(1).to_numpy().astype(np.float64)
    return _record(x, hi, lo, p.margin)


def _record(x: np.ndarray, hi: np.ndarray, lo: np.ndarray, margin: float) -> np.ndarray:
    rng = hi - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.fmax(x - hi, lo - x) / np.where(rng > 0, rng, np.inf)
    return (np.nan_to_num(out, nan=0.0) > margin).astype(np.float64)


def _record_one(x: float, hi: float, lo: float, margin: float) -> float:
    """Scalar :func:`_record` for the streaming path (NumPy calls on 1-element arrays cost
    more than the arithmetic)."""
    rng = hi - lo
    if not rng > 0:
        return 0.0
    return 1.0 if max(x - hi, lo - x) / rng > margin else 0.0


def _level_batch(x: np.ndarray, p: ExtremeLevelParams) -> np.ndarray:
    s = pl.Series(x)
    # one rolling median serves twice: shifted by `short` it is the level reference, shifted
    # by 1 it is what each sample deviates from. Polars' rolling median is 3x slower on a
    # series with leading nulls, so medians are taken before shifting (same windows).
    m = s.rolling_median(p.long, min_samples=p.min_history)
    med = m.shift(p.short).to_numpy().astype(np.float64)
    cur = s.rolling_mean(p.short, min_samples=1).to_numpy().astype(np.float64)
    dev = (s - m.shift(1)).abs()[p.min_history:]  # the first min_history are null
    # spread: mean absolute deviation from the running median (a rolling median of the
    # deviations scored 0.25 NAB points more and ran 3x slower; bench/bench_outage.py)
    mad = pl.concat([pl.Series([None] * min(p.min_history, len(x)), dtype=pl.Float64),
                     dev.rolling_mean(p.long, min_samples=p.min_history)]).shift(1)
    spread = MEANABS_TO_SD * mad.to_numpy().astype(np.float64)
    sd = s.rolling_std(p.long, min_samples=p.min_history).shift(p.short).to_numpy().astype(np.float64)
    level = s.abs().rolling_mean(p.long, min_samples=p.min_history).shift(p.short).to_numpy().astype(np.float64)
    z = np.abs(cur - med) / _spread(spread, sd, level)
    return np.nan_to_num(z, nan=0.0, posinf=0.0)


def _spread(robust: np.ndarray, sd: np.ndarray, level: np.ndarray) -> np.ndarray:
    return np.fmax(np.fmax(np.nan_to_num(robust), 0.1 * np.nan_to_num(sd)), 1e-3 * np.nan_to_num(level) + 1e-9)


def _ns(t: object) -> int | None:
    """Timestamp as ns since the epoch: int ns, datetime, NumPy datetime64 or ISO text."""
    if t is None:
        return None
    if isinstance(t, int | np.integer):
        return int(t)
    if hasattr(t, "timestamp"):
        return int(round(t.timestamp() * 1e9))  # type: ignore[union-attr]
    return int(np.datetime64(t, "ns").astype(np.int64))


DAY_NS = 86_400 * 10**9
PERIOD_PROBE = 13  # timestamps that fix the samples-per-day (known from sample 13 on)


def samples_per_day(ts_ns: np.ndarray) -> int:
    """Samples per day from the first timestamps (0 when too few or too coarse)."""
    if ts_ns is None or len(ts_ns) < PERIOD_PROBE:
        return 0
    step = float(np.median(np.diff(np.asarray(ts_ns[:PERIOD_PROBE], dtype=np.int64))))
    per_day = int(round(DAY_NS / step)) if step > 0 else 0
    return per_day if per_day >= 12 else 0


def _season_geometry(period: int, p: ExtremeLevelParams) -> tuple[int, int]:
    tol = max(1, int(round(p.season_tol * period)))
    return tol, p.season_days * period + tol  # (tolerance, first index with every day known)


def _seasonal_batch(ts: np.ndarray | None, x: np.ndarray, p: ExtremeLevelParams) -> np.ndarray:
    """1 where x leaves the same-time-of-day range of the previous days in a daily series."""
    n = len(x)
    period = samples_per_day(ts) if ts is not None else 0
    if period == 0:
        return np.zeros(n)
    tol, start = _season_geometry(period, p)
    if start >= n:
        return np.zeros(n)
    daily = _daily_corr(x, period) > p.season_corr
    if not daily[start:].any():  # most series have no strong daily rhythm: skip the envelope
        return np.zeros(n)
    s = pl.Series(x)
    top = s.rolling_max(2 * tol + 1, min_samples=1)
    bottom = s.rolling_min(2 * tol + 1, min_samples=1)
    hi = np.full(n, -np.inf)
    lo = np.full(n, np.inf)
    for k in range(1, p.season_days + 1):
        lag = k * period - tol  # window of x[t-k*P-tol .. t-k*P+tol] ends at t-k*P+tol
        hi = np.fmax(hi, top.shift(lag).to_numpy().astype(np.float64))
        lo = np.fmin(lo, bottom.shift(lag).to_numpy().astype(np.float64))
    rec = _record(x, hi, lo, p.season_margin)
    rec[:start] = 0.0
    return rec * daily


def _daily_corr(x: np.ndarray, period: int) -> np.ndarray:
    """Correlation of x_j with x_{j-P} over all pairs up to t (0 until P pairs exist)."""
    n = len(x)
    out = np.zeros(n)
    if n <= period:
        return out
    a, b = x[period:], x[:-period]
    k = np.arange(1, n - period + 1, dtype=np.float64)
    ma, mb = np.cumsum(a) / k, np.cumsum(b) / k
    cov = np.cumsum(a * b) / k - ma * mb
    va = np.cumsum(a * a) / k - ma * ma
    vb = np.cumsum(b * b) / k - mb * mb
    with np.errstate(invalid="ignore", divide="ignore"):
        r = cov / np.sqrt(va * vb)
    out[period:] = np.where(k >= period, np.nan_to_num(r, nan=0.0), 0.0)
    return out


def hold_alarms(score: np.ndarray, fire: float, hold: int, growth: float) -> np.ndarray:
    """Zero alarms (scores >= ``fire``) within the hold after the last kept alarm.

    The hold after an alarm at sample i is ``max(hold, growth * i)``. Sequential by nature,
    but only alarms are visited, so the Python loop runs once per alarm, not per sample.
    """
    out = score.copy()
    last, span = -(1 << 62), hold
    for i in np.flatnonzero(score >= fire):
        if i - last <= span:
            out[i] = 0.0
        else:
            last, span = int(i), max(hold, growth * int(i))
    return out


def extreme_level_scores(ts: np.ndarray | None, values: np.ndarray,
                         params: ExtremeLevelParams = EXTREME_LEVEL) -> np.ndarray:
    """Batch path of :class:`ExtremeLevel`: anomaly scores in [0, 1] for a whole series."""
    x = np.asarray(values, dtype=np.float64)
    if len(x) == 0:
        return np.zeros(0)
    z = _level_batch(x, params)
    prior = np.r_[0.0, np.maximum.accumulate(z)[:-1]]
    rel = np.minimum(z / np.maximum(prior, params.level_floor), 1.0)
    combined = np.maximum(_record_batch(x, params), params.level_weight * rel)
    combined = np.maximum(combined, params.weight * _seasonal_batch(ts, x, params))
    return hold_alarms(combined, params.fire, params.hold, params.hold_growth)


class ExtremeLevel:
    """Streaming path of the default detector; equal scores to :func:`extreme_level_scores`.

    >>> det = ExtremeLevel()
    >>> scores = []
    >>> for v in [10.0, 11.0, 9.0, 10.0] * 125 + [40.0]:
    ...     scores.append(det.score_one(v))
    ...     det.learn_one(v)
    >>> [i for i, s in enumerate(scores) if s >= det.p.fire]  # a record low at 2, the spike
    [2, 500]
    """

    def __init__(self, params: ExtremeLevelParams = EXTREME_LEVEL) -> None:
        self.p = params
        self._hist = _Ring(max(params.window, params.long + params.short))
        self._devs = _Ring(params.long)
        # the median of the `long` samples before each learnt sample: the level reference of
        # sample i is the one stored `short - 1` samples ago (one median per sample, not two)
        self._meds = _Ring(max(params.short, 1))
        self._zmax = 0.0
        self._last = -(1 << 62)
        self._span = float(params.hold)
        self._i = 0
        self._pending: tuple[float, float, float] | None = None  # x, level z, combined
        # seasonal record: samples per day from the first timestamps, and running sums for
        # the day-to-day correlation (the values of the previous days are in _hist)
        self._stamps: list[int | None] = []
        self._period = 0
        self._pairs = np.zeros(6)  # count, sum a, sum b, sum aa, sum bb, sum ab

    def _seasonal(self, x: float, h: np.ndarray) -> float:
        p, period = self.p, self._period
        if period == 0:
            return 0.0
        tol, start = _season_geometry(period, p)
        if self._i < start:
            return 0.0
        n = len(h)  # h[n - j] is x[i - j]
        near = np.concatenate([h[n - k * period - tol: n - k * period + tol + 1] for k in range(1, p.season_days + 1)])
        rec = _record_one(x, float(near.max()), float(near.min()), p.season_margin)
        if rec == 0.0:
            return 0.0
        back = h[n - period]
        cnt, sa, sb, saa, sbb, sab = self._pairs + np.array([1.0, x, back, x * x, back**2, x * back])
        if cnt < period:
            return 0.0
        ma, mb = sa / cnt, sb / cnt
        with np.errstate(invalid="ignore", divide="ignore"):
            r = (sab / cnt - ma * mb) / np.sqrt((saa / cnt - ma * ma) * (sbb / cnt - mb * mb))
        return rec if float(np.nan_to_num(r, nan=0.0)) > p.season_corr else 0.0

    def _learn_season(self, x: float, t: object, h: np.ndarray) -> None:
        if len(self._stamps) < PERIOD_PROBE:
            self._stamps.append(_ns(t))
            if len(self._stamps) == PERIOD_PROBE and None not in self._stamps:
                self._period = samples_per_day(np.array(self._stamps, dtype=np.int64))
                if self._period:
                    self._hist.grow(_season_geometry(self._period, self.p)[1])
                    h = self._hist.view()
        if self._period and len(h) >= self._period:
            back = h[len(h) - self._period]
            self._pairs += np.array([1.0, x, back, x * x, back**2, x * back])

    def _combined(self, x: float) -> tuple[float, float, float]:
        if self._pending is not None and self._pending[0] == x:
            return self._pending
        p, h = self.p, self._hist.view()
        n = len(h)
        rec = 0.0
        if n:
            recent = h[-p.window:]
            rec = _record_one(x, float(recent.max()), float(recent.min()), p.margin)
        ref = h[max(0, n - p.long - p.short + 1): max(0, n - p.short + 1)]
        z = 0.0
        devs = self._devs.view()
        if len(ref) >= p.min_history and len(devs) >= p.min_history:
            cur = float(np.mean(np.append(h[n - p.short + 1:] if p.short > 1 else h[:0], x)))
            scale = max(MEANABS_TO_SD * float(devs.mean()), 0.1 * float(ref.std(ddof=1)),
                        1e-3 * float(np.abs(ref).mean()) + 1e-9)  # _spread, scalar
            meds = self._meds.view()
            ref_median = meds[len(meds) - p.short + 1] if 1 < p.short <= len(meds) + 1 else np.nan
            if np.isnan(ref_median):
                ref_median = float(np.median(ref))
            z = abs(cur - float(ref_median)) / scale
            z = z if np.isfinite(z) else 0.0
        rel = min(z / max(self._zmax, p.level_floor), 1.0)
        self._pending = (x, z, max(rec, p.level_weight * rel, p.weight * self._seasonal(x, h)))
        return self._pending

    def score_one(self, x: float, t: object = None) -> float:
        """Anomaly score of x given everything learnt so far."""
        _, _, s = self._combined(float(x))
        if s >= self.p.fire and self._i - self._last <= self._span:
            return 0.0
        return s

    def learn_one(self, x: float, t: object = None) -> None:
        """Add x to the history (after scoring it)."""
        x = float(x)
        _, z, s = self._combined(x)
        if s >= self.p.fire and self._i - self._last > self._span:
            self._last, self._span = self._i, max(self.p.hold, self.p.hold_growth * self._i)
        self._zmax = max(self._zmax, z)
        h = self._hist.view()
        med = float(np.median(h[-self.p.long:])) if len(h) >= self.p.min_history else np.nan
        if not np.isnan(med):
            self._devs.append(abs(x - med))
        self._meds.append(med)
        self._learn_season(x, t, h)
        self._hist.append(x)
        self._i += 1
        self._pending = None


class _Ring:
    """The last ``cap`` values as a NumPy view; amortised O(1) append.

    Why: slicing a deque copies it into a list on every sample, which made the streaming path
    ~10x slower than this.
    """

    def __init__(self, cap: int) -> None:
        self.cap = max(int(cap), 1)
        self.buf = np.empty(2 * self.cap)
        self.end = 0

    def view(self) -> np.ndarray:
        return self.buf[max(0, self.end - self.cap): self.end]

    def append(self, x: float) -> None:
        if self.end == len(self.buf):
            keep = self.cap - 1
            self.buf[:keep] = self.buf[self.end - keep: self.end]
            self.end = keep
        self.buf[self.end] = x
        self.end += 1

    def grow(self, cap: int) -> None:
        if cap > self.cap:
            old = self.view().copy()
            self.cap = int(cap)
            self.buf = np.empty(2 * self.cap)
            self.buf[: len(old)] = old
            self.end = len(old)


DEFAULT_NAME = "surgescope-extreme-level"
Default = ExtremeLevel
"""The default streaming detector."""


def default_scores(ts: np.ndarray | None, values: np.ndarray) -> np.ndarray:
    """The default detector's batch scores (what ``surgescope bench nab`` runs)."""
    return extreme_level_scores(ts, values, EXTREME_LEVEL)
