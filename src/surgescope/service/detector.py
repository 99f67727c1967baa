"""The outage detector the service runs on each service's per-minute report counts.

The service prefers the project's default streaming detector from :mod:`surgescope.outage`
(``learn_one`` / ``score_one``, scores in [0, 1]). Until that lands, :class:`RobustZ` stands in:
a causal robust z-score against the median and MAD of the last ``window`` learned minutes,
with a Poisson floor on the scale (``sqrt(median)``) so a flat, low baseline does not turn
every extra report into an alarm. Minutes that score as anomalous are not learned, so the
baseline does not chase a surge.

Score: ``clip(z / (2 * z_alarm), 0, 1)``, so the alarm threshold ``z >= z_alarm`` is a score of
0.5 (:data:`THRESHOLD`).

>>> d = RobustZ()
>>> for v in [20, 22, 19, 21, 20, 23, 18, 20, 21, 22, 20, 19]:
...     d.learn_one(v)
>>> d.score_one(21) < THRESHOLD, d.score_one(500) >= THRESHOLD
(True, True)
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

#: Score at or above which a minute counts as an outage minute.
THRESHOLD = 0.5


@dataclass
class RobustZ:
    """Causal robust z-score of a count against its recent median (placeholder detector)."""

    window: int = 120
    """Minutes of history the baseline is taken from."""
    warmup: int = 10
    """Minutes learned before any score above 0 is given."""
    z_alarm: float = 6.0
    history: deque = field(default_factory=deque)

    name = "robust-z (service placeholder)"

    def baseline(self) -> float | None:
        """The median of the learned minutes, or None before any."""
        return float(np.median(self.history)) if self.history else None

    def _z(self, value: float) -> float:
        h = np.asarray(self.history, dtype=float)
        med = float(np.median(h))
        mad = float(np.median(np.abs(h - med)))
        scale = max(1.4826 * mad, np.sqrt(max(med, 1.0)))
        return (value - med) / scale

    def score_one(self, value: float) -> float:
        """Anomaly score of ``value`` in [0, 1] given only what was learned before it."""
        if len(self.history) < self.warmup:
            return 0.0
        return float(min(max(self._z(value) / (2 * self.z_alarm), 0.0), 1.0))

    def learn_one(self, value: float) -> None:
        """Add ``value`` to the baseline unless it is anomalous (spikes are not learned)."""
        if len(self.history) >= self.warmup and self.score_one(value) >= THRESHOLD:
            return
        self.history.append(float(value))
        while len(self.history) > self.window:
            self.history.popleft()


def default_detector() -> RobustZ:
    """A fresh detector for one service's series."""
    return RobustZ()


def segment_waves(
    minutes: list[int], values: list[float], scores: list[float],
    threshold: float = THRESHOLD, quiet: int = 3, trough: float = 0.1,
) -> list[dict]:
    """Waves (start, peak_at, peak, end as epoch seconds; direction "up") from scored minutes.

    A wave opens on a minute scoring at or above ``threshold`` and closes after ``quiet``
    minutes below it (hysteresis: one quiet minute does not split a wave), or at a trough:
    a minute under ``trough`` times the wave's peak, after which a new wave needs the count
    to rise to twice the trough's value. ``end`` is the last minute of the wave; an open
    wave has ``end`` None.

    >>> segment_waves([0, 60, 120, 180, 240, 300], [1, 90, 100, 5, 1, 1], [0, 1, 1, .1, 0, 0], quiet=2)
    [{'start': 60, 'peak_at': 120, 'peak': 100.0, 'end': 120, 'direction': 'up'}]
    """
    waves: list[dict] = []
    cur: dict | None = None
    below = 0
    last_hot = 0
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
