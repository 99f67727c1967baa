"""Outage waves: from per-sample tail rates and values to start, peak, end and direction.

Two stages, both plain NumPy over a regularly spaced series:

1. **Active spans with hysteresis.** A span opens where the rate ``D`` (``-ln`` of the
   p-value bound, see :mod:`surgescope.outage.baseline`) reaches ``enter`` and the value is
   at least ``min_rel`` away from the expected value; it stays open while ``D >= stay`` and
   survives up to ``gap`` quiet samples in a row, so one quiet sample does not split a wave.
2. **Waves inside a span, split at real troughs.** Each local maximum of the excess over
   the baseline gets its topographic prominence (how far one must descend before reaching
   higher ground). Peaks whose prominence is at least ``prominence`` times the span's largest
   excess are wave peaks; consecutive wave peaks are separated at the lowest sample between
   them. A small bump on a slope (11:02 on 10 March 2025: 4,670 reports between troughs of
   1,361 and 3,455, next to peaks of 41,143 and 36,064) is not a wave; a trough of 720
   between 20,608 and 41,143 is.

Example:

>>> import numpy as np
>>> def waves(x):
...     x = np.asarray(x, dtype=float)
...     rate = np.where(x > 20, 50.0, 0.0)  # significant wherever the count exceeds 20
...     return [(w["start"], w["peak_at"], w["end"]) for w in segment(x, np.full(len(x), 10.0), rate)]
>>> waves([10, 10, 500, 900, 40, 800, 700, 10, 10])  # one low sample: one wave
[(2, 3, 6)]
>>> waves([10, 10, 500, 900, 60, 40, 50, 45, 60, 800, 700, 10, 10])  # a real trough: two
[(2, 3, 5), (6, 9, 10)]
"""

from __future__ import annotations

import numpy as np

ENTER_RATE = float(np.log(1e6))  # p <= 1e-6 opens a wave
STAY_RATE = float(np.log(1e3))   # p <= 1e-3 keeps it open


def active_spans(rate: np.ndarray, excess_ok: np.ndarray, enter: float = ENTER_RATE, stay: float = STAY_RATE,
                 gap: int = 2) -> list[tuple[int, int]]:
    """Inclusive (first, last) index of each span where the series is significantly off."""
    hi = (rate >= enter) & excess_ok
    lo = (rate >= stay) & excess_ok
    spans: list[tuple[int, int]] = []
    n = len(rate)
    i = 0
    starts = np.flatnonzero(hi)
    k = 0
    while k < len(starts):
        first = int(starts[k])
        # walk back over the rising edge: the wave started where it became significant
        while first > 0 and lo[first - 1] and (not spans or first - 1 > spans[-1][1]):
            first -= 1
        last = first
        quiet = 0
        i = first
        while i < n:
            if lo[i]:
                last, quiet = i, 0
            else:
                quiet += 1
                if quiet > gap:
                    break
            i += 1
        spans.append((first, last))
        k = int(np.searchsorted(starts, last + 1))
    return spans


def prominences(y: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """Topographic prominence of each peak index (descent needed to reach higher ground)."""
    out = np.empty(len(peaks))
    for j, p in enumerate(peaks):
        left = y[: p + 1]
        # ties go to the earlier peak: an equal peak on the left is higher ground, so two
        # equal peaks of one wave do not both get the full height as prominence
        higher = np.flatnonzero(left[:-1] >= y[p])
        lmin = left[higher[-1] + 1:].min() if len(higher) else left.min()
        right = y[p:]
        higher = np.flatnonzero(right[1:] > y[p])
        rmin = right[: higher[0] + 1].min() if len(higher) else right.min()
        out[j] = y[p] - max(lmin, rmin)
    return out


def _sliding(y: np.ndarray, half: int, fn) -> np.ndarray:
    pad = np.pad(y, half, mode="edge")
    return fn(np.lib.stride_tricks.sliding_window_view(pad, 2 * half + 1), axis=1)


def closing(y: np.ndarray, half: int) -> np.ndarray:
    """Morphological closing: fills dips up to ``2*half`` samples wide, keeps wider troughs."""
    if half <= 0 or len(y) < 3:
        return y
    return _sliding(_sliding(y, half, np.max), half, np.min)


def split_span(excess: np.ndarray, prominence: float = 0.2, gap: int = 2) -> list[tuple[int, int, int]]:
    """(start, peak, end) offsets of the waves inside one span of excess values.

    Troughs are looked for after a closing of ``gap`` samples, so a dip of a few quiet
    samples inside a wave (a lost bin, a counting glitch) is not a trough.
    """
    n = len(excess)
    if n == 0:
        return []
    y = closing(excess, gap)
    # local maxima, plateaus counted once at their first sample
    left = np.r_[-np.inf, y[:-1]]
    right = np.r_[y[1:], -np.inf]
    cand = np.flatnonzero((y > left) & (y >= right))
    if len(cand) == 0:
        cand = np.array([int(np.argmax(y))])
    # the span is bounded by baseline (excess 0) on both sides
    prom = prominences(np.r_[0.0, y, 0.0], cand + 1)
    top = float(y.max())
    peaks = cand[prom >= prominence * top] if top > 0 else cand[:1]
    if len(peaks) == 0:
        peaks = np.array([int(np.argmax(y))])
    bounds = []
    start = 0
    for a, b in zip(peaks[:-1], peaks[1:], strict=True):
        seg = y[a:b + 1]
        lowest = np.flatnonzero(seg == seg.min())  # the closed trough's floor; pick its raw minimum
        trough = int(a) + int(lowest[np.argmin(excess[a:b + 1][lowest])])
        bounds.append((start, trough))
        start = trough + 1
    bounds.append((start, n - 1))
    # the reported peak is the highest raw sample of each wave
    return [(s, s + int(np.argmax(excess[s:e + 1])), e) for s, e in bounds]


def segment(values: np.ndarray, expected: np.ndarray, rate: np.ndarray, direction: str = "up",
            min_rel: float = 0.5, gap: int = 2, prominence: float = 0.2,
            enter: float = ENTER_RATE, stay: float = STAY_RATE) -> list[dict]:
    """Waves as dicts of sample indices: start, peak_at, end, peak (value), direction.

    ``direction`` "up" finds surges (peak = highest value), "down" finds drops (peak = the
    lowest value, where the deficit is largest).
    """
    x = np.asarray(values, dtype=np.float64)
    mu = np.asarray(expected, dtype=np.float64)
    sign = 1.0 if direction == "up" else -1.0
    with np.errstate(invalid="ignore"):
        excess = np.nan_to_num(sign * (x - mu), nan=0.0)
        ok = excess >= min_rel * np.abs(np.nan_to_num(mu, nan=np.inf))
        if direction == "down":
            ok = ok & (excess > 0)
    waves = []
    for first, last in active_spans(np.nan_to_num(rate), ok, enter, stay, gap):
        for s, p, e in split_span(np.maximum(excess[first:last + 1], 0.0), prominence, gap):
            waves.append({"start": first + s, "peak_at": first + p, "end": first + e,
                          "peak": float(x[first + p]), "expected": float(mu[first + p]),
                          "direction": direction})
    return waves
