"""How the service scores a per-minute count series and finds its waves.

The service runs the project's outage analysis (:mod:`surgescope.outage`): the robust seasonal
count baseline (the batch path of the streaming ``SeasonalCount`` detector, which gives the
same scores) and its wave segmentation, as ``surgescope analyze`` and ``detect`` do, so the
live status and a report on the same counts agree. The whole kept series (two days of minutes
at most) is rescored when it changes: a few milliseconds for 2,880 minutes, and it makes late
or replayed data give exactly the scores of in-order data.

Used for report counts (``direction="up"``: a surge of reports) and for request counts from
access logs (``"down"``: a drop of traffic).

>>> import numpy as np
>>> ts = np.arange(200, dtype=np.int64) * 60 * 10**9
>>> x = np.r_[np.full(150, 20.0), np.full(10, 5000.0), np.full(40, 20.0)]
>>> r = score_minutes(ts, x)
>>> [(w["peak"], w["ongoing"]) for w in r.waves]
[(5000, False)]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from surgescope.incident import iso
from surgescope.outage.analyze import score_series, waves_iso

MINUTE_NS = 60 * 10**9
NAME = "surgescope.outage seasonal count baseline"


@dataclass
class Scored:
    """Per-minute expected counts and scores of one series, and its waves."""

    expected: np.ndarray
    score: np.ndarray
    waves: list[dict]
    """start, peak_at, peak, end (ISO-8601 UTC; end = end of the last active minute),
    direction, expected_at_peak, p_value_bound, and ongoing (the wave reaches the latest
    complete minute)."""


def score_minutes(ts_ns: np.ndarray, values: np.ndarray, direction: str = "up") -> Scored:
    """Score a regular per-minute count series (oldest first) and segment its waves."""
    s = score_series(ts_ns, values.astype(np.float64), direction=direction)
    waves = waves_iso(ts_ns, values, s, direction, MINUTE_NS)
    last_end = iso(int(ts_ns[-1]) + MINUTE_NS) if len(ts_ns) else None
    for w in waves:
        w["ongoing"] = w["end"] == last_end
    return Scored(s.expected, s.score, waves)
