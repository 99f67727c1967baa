"""Robust seasonal baseline with a count-aware tail probability, for report and request counts.

What Downdetector describes ("significantly higher than the typical volume for that time of
day"), made explicit:

- **Expected value** ``mu``: the median of the same slot of the week (same weekday and time of
  day) on the previous ``weeks`` weeks when at least ``min_weeks`` of them exist (a Monday
  morning is compared with Monday mornings); else the median of the same time-of-day slot on
  the previous ``days`` days when at least ``min_days`` of them exist; else the median of the
  previous ``window`` samples. Medians do not chase spikes; the level window (a day by default) adopts a
  genuine level shift once it fills more than half of it.
- **Spread**: ``1.4826 * MAD`` of the previous ``window`` samples (the robust standard
  deviation). For counts (non-negative integers) it sets the negative-binomial dispersion
  ``r = mu^2 / (var - mu)``; a spread at or below Poisson's gives the Poisson case.
- **Tail**: the Chernoff bound of the count distribution, ``P(X >= x) <= exp(-D)`` with the
  rate function ``D = x ln(x/mu) - (x + r) ln((x + r)/(mu + r))`` (Poisson: ``x ln(x/mu) - x +
  mu``); the same ``D`` bounds ``P(X <= x)`` below the mean. Non-count values use the Gaussian
  ``D = (x - mu)^2 / (2 sigma^2)``. NumPy has no incomplete gamma function, and the bound is
  what a threshold needs: a p-value that is never understated.
- **Score** ``1 - exp(-D)`` in [0, 1], signed by ``direction`` (``up``: only surges,
  ``down``: only drops).

Strictly causal: the score at t uses values before t and the value at t only.

Example (a flat count series of 20 per bin with one bin of 80):

>>> import numpy as np
>>> x = np.r_[np.full(50, 20.0), 80.0]
>>> s = seasonal_count_scores(x, period=0, window=48)
>>> bool(s.score[-1] > 0.999999), bool(s.score[:-1].max() < 0.5)
(True, True)
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import polars as pl

MAD_TO_SD = 1.4826


@dataclass
class BaselineScores:
    """Per-sample expected value, spread, rate ``D`` (``-ln`` of the p-value bound) and score."""

    expected: np.ndarray
    spread: np.ndarray
    rate: np.ndarray
    score: np.ndarray


def rate_function(x: np.ndarray, mu: np.ndarray, sigma: np.ndarray, counts: bool) -> np.ndarray:
    """``D`` with ``P(X >= x) <= exp(-D)`` (x above mu) or ``P(X <= x) <= exp(-D)`` (below)."""
    x = np.asarray(x, dtype=np.float64)
    mu = np.asarray(mu, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if not counts:
            d = (x - mu) ** 2 / (2.0 * np.maximum(sigma, 1e-12) ** 2)
        else:
            m = np.maximum(mu, 0.5)  # a count baseline of 0 means "rare", not "impossible"
            var = sigma**2
            over = var > m * 1.0001
            r = np.where(over, m**2 / np.where(over, var - m, 1.0), np.inf)
            xlog = np.where(x > 0, x * np.log(np.where(x > 0, x, 1.0) / m), 0.0)
            poisson = xlog - x + m
            finite_r = np.where(np.isfinite(r), r, 1.0)
            nb = xlog - (x + finite_r) * np.log((x + finite_r) / (m + finite_r))
            d = np.where(np.isfinite(r), nb, poisson)
    return np.where(np.isfinite(d) & (d > 0), d, 0.0)


def _stack_median(x: np.ndarray, period: int, days: int, min_days: int) -> np.ndarray:
    """Median of x[t - k*period] for k = 1..days (NaN when fewer than min_days exist)."""
    n = len(x)
    stack = np.full((days, n), np.nan)
    for k in range(1, days + 1):
        lag = k * period
        if lag < n:
            stack[k - 1, lag:] = x[: n - lag]
    have = np.sum(~np.isnan(stack), axis=0)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(stack, axis=0)
    return np.where(have >= min_days, med, np.nan)


def seasonal_count_scores(values: np.ndarray, period: int, window: int, days: int = 7, min_days: int = 3,
                          min_history: int = 10, direction: str = "up", counts: bool | None = None,
                          weeks: int = 4, min_weeks: int = 2) -> BaselineScores:
    """Batch path of :class:`SeasonalCount` over a regularly spaced series (NaN = no data)."""
    x = np.asarray(values, dtype=np.float64)
    if counts is None:
        counts = looks_like_counts(x)
    series = pl.Series(x).fill_nan(None)
    level = series.shift(1).rolling_median(window, min_samples=min_history)
    # each sample's deviation from the median of the samples before it; the spread at t is
    # the median of the previous `window` deviations (what the streaming path keeps)
    dev = (series - level).abs()
    mad = dev.shift(1).rolling_median(window, min_samples=min_history)
    level = level.to_numpy().astype(np.float64)
    sigma = MAD_TO_SD * mad.to_numpy().astype(np.float64)
    mu = level
    if period > 0:
        seasonal = _stack_median(x, period, days, min_days)
        mu = np.where(np.isnan(seasonal), level, seasonal)
        if weeks > 0:
            weekly = _stack_median(x, 7 * period, weeks, min_weeks)
            mu = np.where(np.isnan(weekly), mu, weekly)
    return _finish(x, mu, sigma, counts, direction)


def _finish(x: np.ndarray, mu: np.ndarray, sigma: np.ndarray, counts: bool, direction: str) -> BaselineScores:
    floor = np.where(np.isnan(mu), np.nan, np.maximum(np.abs(mu) * 0.01, 1e-9))
    sigma = np.fmax(np.nan_to_num(sigma, nan=0.0), floor)
    d = rate_function(x, mu, sigma, counts)
    if direction == "up":
        d = np.where(x > mu, d, 0.0)
    elif direction == "down":
        d = np.where(x < mu, d, 0.0)
    d = np.where(np.isnan(mu) | np.isnan(x), 0.0, d)
    return BaselineScores(mu, sigma, d, -np.expm1(-d))


def looks_like_counts(x: np.ndarray) -> bool:
    """Non-negative integers (report counts, request counts, mention volumes)."""
    v = x[~np.isnan(x)]
    return bool(len(v)) and bool(np.all(v >= 0)) and bool(np.all(v == np.round(v)))


class SeasonalCount:
    """Streaming path of the seasonal count baseline (river style).

    ``score_one(x)`` scores x against what was learnt so far; ``learn_one(x)`` adds it.
    Scores equal :func:`seasonal_count_scores` on the same sequence.

    >>> det = SeasonalCount(period=0, window=48, counts=True)
    >>> for v in [20.0] * 50:
    ...     det.learn_one(v)
    >>> det.score_one(80.0) > 0.999999
    True
    """

    def __init__(self, period: int, window: int, days: int = 7, min_days: int = 3, min_history: int = 10,
                 direction: str = "up", counts: bool = True, weeks: int = 4, min_weeks: int = 2) -> None:
        self.period, self.window, self.days, self.min_days = period, window, days, min_days
        self.weeks, self.min_weeks = weeks, min_weeks
        self.min_history, self.direction, self.counts = min_history, direction, counts
        self._values: deque[float] = deque(maxlen=window)
        self._devs: deque[float] = deque(maxlen=window)
        self._season: deque[float] = deque(maxlen=max(period * days, 7 * period * weeks, 1))

    def _state(self) -> tuple[float, float]:
        vals = [v for v in self._values if not np.isnan(v)]
        level = float(np.median(vals)) if len(vals) >= self.min_history else np.nan
        devs = [d for d in self._devs if not np.isnan(d)]
        sigma = MAD_TO_SD * float(np.median(devs)) if len(devs) >= self.min_history else np.nan
        mu = level
        if self.period > 0:
            hist = self._season  # deque: indexing a few lags, not copying the weeks
            same = [hist[-k * self.period] for k in range(1, self.days + 1) if k * self.period <= len(hist)]
            same = [v for v in same if not np.isnan(v)]
            if len(same) >= self.min_days:
                mu = float(np.median(same))
            week = 7 * self.period
            same = [hist[-k * week] for k in range(1, self.weeks + 1) if k * week <= len(hist)]
            same = [v for v in same if not np.isnan(v)]
            if self.weeks > 0 and len(same) >= self.min_weeks:
                mu = float(np.median(same))
        return mu, sigma

    def details_one(self, x: float) -> tuple[float, float, float, float]:
        """(expected, spread, rate D, score) of x given the past."""
        mu, sigma = self._state()
        s = _finish(np.array([x], dtype=np.float64), np.array([mu]), np.array([sigma]), self.counts, self.direction)
        return float(s.expected[0]), float(s.spread[0]), float(s.rate[0]), float(s.score[0])

    def score_one(self, x: float, t: object = None) -> float:
        return self.details_one(x)[3]

    def learn_one(self, x: float, t: object = None) -> None:
        vals = [v for v in self._values if not np.isnan(v)]
        level = float(np.median(vals)) if len(vals) >= self.min_history else np.nan
        self._values.append(float(x))
        self._devs.append(abs(float(x) - level))
        self._season.append(float(x))
