"""Anomaly detectors on one numeric series, scored on NAB: streaming (river style) and batch.

Every detector here is strictly causal (the score at t uses values up to t) and has two
paths that give the same scores: a class with ``score_one(x, t)`` / ``learn_one(x, t)`` for
live use, and a vectorised function over a whole series for files and benchmarks.

The default detector (:class:`RobustZ`, :func:`robust_z_scores`):

1. ``z_t = |x_t - median(previous w)| / spread``, the spread being ``1.4826 * MAD`` of the
   previous ``w`` deviations, floored at a tenth of the rolling standard deviation and at a
   thousandth of the series' level so that flat series do not divide by zero;
2. each series calibrates its own scale: the score is ``z_t`` relative to the largest ``z``
   seen before t (the probationary 15 % of a NAB file is where that scale is learnt), capped
   at 1;
3. after an alarm (score >= ``fire``) repeats are damped for ``hold`` samples: an outage is
   one event, and NAB counts one detection per window.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import polars as pl

MAD_TO_SD = 1.4826


@dataclass(frozen=True)
class RobustZParams:
    """One parameter set for every series (NAB's rule: no per-file tuning)."""

    window: int = 200
    min_history: int = 10
    fire: float = 0.7
    hold: int = 80
    damp: float = 0.5


DEFAULT_PARAMS = RobustZParams()
DEFAULT_NAME = "surgescope-robust-z"


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


def default_scores(ts: np.ndarray | None, values: np.ndarray) -> np.ndarray:
    """The default detector's batch scores (what ``surgescope bench nab`` runs)."""
    return robust_z_scores(ts, values, DEFAULT_PARAMS)


class RobustZ:
    """Streaming path of the default detector; equal scores to :func:`robust_z_scores`.

    >>> det = RobustZ()
    >>> scores = []
    >>> for v in [10.0, 11.0, 9.0, 10.0] * 20 + [40.0]:
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
