"""How the service scores one service's per-minute report counts and finds its waves.

The service uses the project's outage analysis (:mod:`surgescope.outage`): the robust seasonal
count baseline (the batch path of its streaming ``SeasonalCount`` detector, which gives the
same scores) and its wave segmentation, the same as ``surgescope analyze`` and ``detect`` use,
so the live status and a report on the same counts agree. The whole kept series (two days of
minutes at most) is rescored when it changes: 3 ms for 2,880 minutes, and it makes late or
replayed data give exactly the scores of in-order data.

Until :mod:`surgescope.outage` provides that analysis, :class:`RobustZ` stands in: a causal
robust z-score against the median and MAD of the last ``window`` minutes with a Poisson floor
on the scale, and :func:`segment_waves` splits waves at hysteresis gaps and troughs.

>>> import numpy as np
>>> ts = np.arange(200, dtype=np.int64) * 60 * 10**9
>>> x = np.r_[np.full(150, 20.0), np.full(10, 5000.0), np.full(40, 20.0)]
>>> r = score_minutes(ts, x)
>>> [(w["peak"], w["ongoing"]) for w in r.waves]
[(5000, False)]
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from surgescope.incident import iso

#: Score at or above which a minute counts as anomalous (placeholder detector).
THRESHOLD = 0.5
MINUTE_NS = 60 * 10**9


@dataclass
class Scored:
    """Per-minute expected counts and scores of one series, and its waves."""

    expected: np.ndarray
    score: np.ndarray
    waves: list[dict]
    """start, peak_at, peak, end (ISO-8601 UTC; end = end of the last active minute),
    direction, ongoing (the wave reaches the latest complete minute)."""
    detector: str


def _project_scorer():
    try:
        from surgescope.outage.analyze import score_series, waves_iso
    except ImportError:
        return None
    return score_series, waves_iso


def detector_name() -> str:
    return "surgescope.outage seasonal count baseline" if _project_scorer() else RobustZ.name


def score_minutes(ts_ns: np.ndarray, values: np.ndarray) -> Scored:
    """Score a regular per-minute count series (oldest first) and segment its waves."""
    last_end = int(ts_ns[-1]) + MINUTE_NS if len(ts_ns) else 0
    project = _project_scorer()
    if project is not None:
        score_series, waves_iso = project
        s = score_series(ts_ns, values.astype(np.float64), direction="up")
        waves = waves_iso(ts_ns, values, s, "up", MINUTE_NS)
        for w in waves:
            w["ongoing"] = w["end"] == iso(last_end)
        return Scored(s.expected, s.score, waves, detector_name())
    d = RobustZ()
    expected, scores = np.full(len(values), np.nan), np.zeros(len(values))
    for i, v in enumerate(values):
        expected[i] = d.baseline() if d.history else np.nan
        scores[i] = d.score_one(v)
        d.learn_one(v)
    minutes = (ts_ns // 10**9).tolist()
    waves = []
    for w in segment_waves(minutes, values.tolist(), scores.tolist()):
        ongoing = w["end"] is None
        end = minutes[-1] if ongoing else w["end"]
        waves.append({"start": iso(w["start"] * 10**9), "peak_at": iso(w["peak_at"] * 10**9),
                      "peak": int(w["peak"]) if float(w["peak"]).is_integer() else w["peak"],
                      "end": iso(end * 10**9 + MINUTE_NS),
                      "direction": "up", "ongoing": ongoing})
    return Scored(expected, scores, waves, RobustZ.name)


@dataclass
class RobustZ:
    """Causal robust z-score of a count against its recent median (placeholder detector).

    Score ``clip(z / (2 * z_alarm), 0, 1)``: the alarm ``z >= z_alarm`` is a score of 0.5.
    Anomalous minutes are not learned, so the baseline does not chase a surge.

    >>> d = RobustZ()
    >>> for v in [20, 22, 19, 21, 20, 23, 18, 20, 21, 22, 20, 19]:
    ...     d.learn_one(v)
    >>> d.score_one(21) < THRESHOLD, d.score_one(500) >= THRESHOLD
    (True, True)
    """

    window: int = 120
    warmup: int = 10
    z_alarm: float = 6.0
    history: deque = field(default_factory=deque)

    name = "robust-z (service placeholder)"

    def baseline(self) -> float:
        return float(np.median(self.history))

    def score_one(self, value: float) -> float:
        if len(self.history) < self.warmup:
            return 0.0
        h = np.asarray(self.history, dtype=float)
        med = float(np.median(h))
        scale = max(1.4826 * float(np.median(np.abs(h - med))), np.sqrt(max(med, 1.0)))
        return float(min(max((value - med) / scale / (2 * self.z_alarm), 0.0), 1.0))

    def learn_one(self, value: float) -> None:
        if len(self.history) >= self.warmup and self.score_one(value) >= THRESHOLD:
            return
        self.history.append(float(value))
        while len(self.history) > self.window:
            self.history.popleft()


def segment_waves(minutes: list[int], values: list[float], scores: list[float],
                  threshold: float = THRESHOLD, quiet: int = 3, trough: float = 0.1) -> list[dict]:
    """Waves (epoch-second minutes; ``end`` None while open) from scored minutes.

    A wave opens on a minute scoring at or above ``threshold`` and closes after ``quiet``
    minutes below it, or at a trough under ``trough`` times its peak, after which a new wave
    needs the count to rise to twice the trough's value.

    >>> segment_waves([0, 60, 120, 180, 240, 300], [1, 90, 100, 5, 1, 1], [0, 1, 1, .1, 0, 0], quiet=2)
    [{'start': 60, 'peak_at': 120, 'peak': 100.0, 'end': 120, 'direction': 'up'}]
    """
    waves: list[dict] = []
    cur: dict | None = None
    below = last_hot = 0
    rearm_above: float | None = None
    for t, v, s in zip(minutes, values, scores, strict=True):
        hot = s >= threshold
        if cur is None:
            if rearm_above is not None:
                rearm_above = min(rearm_above, 2 * v)
                if v < rearm_above:
                    continue
            if hot:
                cur = {"start": t, "peak_at": t, "peak": float(v), "end": None, "direction": "up"}
                below, last_hot, rearm_above = 0, t, None
            continue
        if v > cur["peak"]:
            cur["peak"], cur["peak_at"] = float(v), t
        if v < trough * cur["peak"]:
            cur["end"] = last_hot
            waves.append(cur)
            cur, rearm_above = None, 2 * v
            continue
        if hot:
            below, last_hot = 0, t
        else:
            below += 1
            if below >= quiet:
                cur["end"] = last_hot
                waves.append(cur)
                cur = None
    if cur is not None:
        waves.append(cur)
    return waves
