"""Crowd reports in the live service: validation of posted records and per-service minute bins.

Each service keeps its report counts in one-minute bins (two days kept; gaps count as zero
reports) scored by :func:`surgescope.service.detector.score_minutes` whenever they change.
The service clock is event time: a minute is complete once a report for a later minute has
arrived, or once the wall clock has passed it while reports are live (the latest report less
than an hour old). Late data (a record for a minute already scored, or a replay of an old
day) is rescored with the rest, so scores never depend on arrival order.

>>> recs, rej = parse_records([{"time": "2025-03-10T14:02:00Z", "count": 19446, "service": "x"},
...                            {"time": "yesterday"}])
>>> recs, [r["reason"] for r in rej]
([(1741615320, 19446, 'x', None, None)], ['index 1: time is not ISO-8601 or epoch seconds'])
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from surgescope.incident import iso
from surgescope.service import detector as det

#: Longest service, region or problem name accepted (longer records are rejected).
MAX_NAME = 200
#: Distinct services kept; reports for more are rejected (bounds memory against junk names).
MAX_SERVICES = 500
#: Distinct regions/problems counted per service; the rest count as "other".
MAX_BREAKDOWN_KEYS = 200
#: Minutes of bins kept per service (2 days).
RETENTION_MIN = 2 * 24 * 60
#: How far in the future (seconds, by the wall clock) a report may be dated.
MAX_FUTURE_S = 86_400
#: Largest count a single record may carry.
MAX_COUNT = 10**9
#: Minutes of recent series returned in the status for the dashboard's chart.
SERIES_MIN = 240

Record = tuple[int, int, str, str | None, str | None]
"""(minute as epoch seconds, count, service, region, problem)."""


def _time(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, str) and len(v) <= 64:
        try:
            t = datetime.fromisoformat(v.strip())
        except ValueError:
            return None
        if t.tzinfo is None:  # a time without an offset is taken as UTC, as in the readers
            t = t.replace(tzinfo=UTC)
        return t.timestamp()
    return None


def _name(v: Any, what: str) -> tuple[str | None, str | None]:
    """(value, error) for an optional text field."""
    if v is None:
        return None, None
    if not isinstance(v, str):
        return None, f"{what} is not text"
    if len(v) > MAX_NAME:
        return None, f"{what} longer than {MAX_NAME} characters"
    return v, None


def parse_records(items: Any) -> tuple[list[Record], list[dict]]:
    """Validate posted JSON records; return the good ones and one rejection per bad one.

    A record is ``{time, service?, region?, problem?}`` (one report) or ``{time, count, ...}``
    (a count bin). ``time`` is ISO-8601 (no offset means UTC) or epoch seconds; ``ts`` and
    ``timestamp`` are accepted as its name. Missing service means ``"unknown"``.
    """
    if not isinstance(items, list):
        items = [items]
    good: list[Record] = []
    bad: list[dict] = []
    horizon = time.time() + MAX_FUTURE_S
    # A Python loop: posted batches are bounded by the body limit and each record needs its
    # own reason when rejected.
    for i, r in enumerate(items):
        def reject(reason: str, i: int = i) -> None:
            bad.append({"where": i, "reason": f"index {i}: {reason}"})

        if not isinstance(r, dict):
            reject("not an object")
            continue
        raw_t = r.get("time", r.get("ts", r.get("timestamp")))
        if raw_t is None:
            reject("no time")
            continue
        t = _time(raw_t)
        if t is None or not (0 <= t < 32503680000):  # years 1970..3000
            reject("time is not ISO-8601 or epoch seconds")
            continue
        if t > horizon:
            # The clock follows the latest report: one from the far future would age every
            # other service's minutes out of the kept window.
            reject("time more than a day in the future")
            continue
        count = r.get("count", 1)
        if isinstance(count, float) and count.is_integer():
            count = int(count)
        if isinstance(count, bool) or not isinstance(count, int) or not (0 <= count <= MAX_COUNT):
            reject(f"count is not an integer in 0..{MAX_COUNT}")
            continue
        names = []
        for key in ("service", "region", "problem"):
            v, e = _name(r.get(key), key)
            if e:
                reject(e)
                break
            names.append(v)
        else:
            good.append((int(t // 60) * 60, count, names[0] or "unknown", names[1], names[2]))
    return good, bad


@dataclass
class ServiceSeries:
    """One service's minute bins and, once scored, its expected counts, scores and waves."""

    name: str
    bins: dict[int, int] = field(default_factory=dict)
    regions: Counter = field(default_factory=Counter)
    problems: Counter = field(default_factory=Counter)
    total: int = 0
    changed: bool = True
    until: int | None = None
    """The first minute not scored (epoch s) at the last scoring."""
    minutes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    values: np.ndarray = field(default_factory=lambda: np.zeros(0))
    scored: det.Scored | None = None

    def add(self, minute: int, count: int, region: str | None, problem: str | None) -> None:
        self.bins[minute] = self.bins.get(minute, 0) + count
        self.total += count
        self.changed = True
        for counter, key in ((self.regions, region), (self.problems, problem)):
            if key is None:
                continue
            if key not in counter and len(counter) >= MAX_BREAKDOWN_KEYS:
                key = "other"
            counter[key] += count

    def refresh(self, until: int) -> None:
        """Score every complete minute before ``until`` (epoch s), if anything changed."""
        if not self.changed and until == self.until:
            return
        oldest = until - RETENTION_MIN * 60
        for m in [m for m in self.bins if m < oldest]:
            del self.bins[m]
        self.changed, self.until = False, until
        first = min(self.bins, default=until)
        self.minutes = np.arange(first, until, 60, dtype=np.int64)
        # gaps between reports are minutes with zero reports
        self.values = np.array([self.bins.get(int(m), 0) for m in self.minutes], dtype=np.float64)
        self.scored = det.score_minutes(self.minutes * 10**9, self.values) if len(self.minutes) else None


class ReportState:
    """Every service's series; not thread-safe by itself (the app holds a lock around it)."""

    def __init__(self, clock=time.time) -> None:
        self.services: dict[str, ServiceSeries] = {}
        self.latest: int | None = None
        self.clock = clock
        # Alerts fire once per wave: a wave newer than the last one announced. Keys are
        # monotonic so a wave whose edges move a little as data arrives is not announced twice.
        self._started: dict[str, str] = {}
        self._ended: dict[str, str] = {}

    def add(self, records: list[Record]) -> list[dict]:
        """Add validated records; returns rejections (``where`` = index in ``records``) for
        records of new services beyond :data:`MAX_SERVICES`."""
        bad = []
        for i, (minute, count, service, region, problem) in enumerate(records):
            s = self.services.get(service)
            if s is None:
                if len(self.services) >= MAX_SERVICES:
                    bad.append({"where": i, "reason": f"accepted record {i}: more than {MAX_SERVICES} services"})
                    continue
                s = self.services[service] = ServiceSeries(service)
            s.add(minute, count, region, problem)
            self.latest = minute if self.latest is None else max(self.latest, minute)
        return bad

    def load(self, bins: list[tuple[str, int, int]], breakdown: list[tuple[str, str, str, int]]) -> None:
        """Restore bins and breakdowns kept by :mod:`surgescope.service.persist`."""
        for service, minute, count in bins:
            s = self.services.get(service) or self.services.setdefault(service, ServiceSeries(service))
            s.add(int(minute), int(count), None, None)
            self.latest = minute if self.latest is None else max(self.latest, minute)
        for service, dimension, key, count in breakdown:
            if service in self.services:
                counter = self.services[service].regions if dimension == "region" else self.services[service].problems
                counter[key] += count

    def now_minute(self) -> int | None:
        """The first incomplete minute: that of the latest report, or now if reports are live."""
        if self.latest is None:
            return None
        wall = int(self.clock() // 60) * 60
        return wall if 0 <= wall - self.latest < 3600 else self.latest

    def refresh(self) -> None:
        until = self.now_minute()
        if until is None:
            return
        for s in self.services.values():
            s.refresh(until)

    def alerts(self) -> list[dict]:
        """Alerts for waves that started or ended since the last call (each fires once)."""
        fired = []
        for s in self.services.values():
            for w in s.scored.waves if s.scored else []:
                if w["start"] > self._started.get(s.name, ""):
                    self._started[s.name] = w["start"]
                    fired.append({"type": "outage-start", "service": s.name, "at": w["start"],
                                  "message": f"outage of {s.name}: reports far above the baseline",
                                  "wave": w})
                if not w["ongoing"] and w["start"] > self._ended.get(s.name, ""):
                    self._ended[s.name] = w["start"]
                    fired.append({"type": "outage-end", "service": s.name, "at": w["end"],
                                  "message": f"outage of {s.name} over (peak {w['peak']:g} reports/min "
                                             f"at {w['peak_at']})", "wave": w})
        return fired

    def status(self) -> list[dict]:
        """Per service: current rate, baseline, score, outage now, waves, breakdown, series."""
        self.refresh()
        out = []
        for s in sorted(self.services.values(), key=lambda s: s.name):
            sc = s.scored
            n = len(s.minutes)
            last = n - 1 if sc is not None and n else None
            waves = sc.waves if sc is not None else []
            tail = range(max(0, n - SERIES_MIN), n) if sc is not None else range(0)
            out.append({
                "service": s.name,
                "minute": iso(int(s.minutes[last]) * 10**9) if last is not None else None,
                "rate_per_min": _num(s.values[last]) if last is not None else None,
                "baseline_per_min": _num(sc.expected[last], 2) if last is not None else None,
                "score": _num(sc.score[last], 4) if last is not None else None,
                "outage": bool(waves and waves[-1]["ongoing"]),
                "reports_total": s.total,
                "waves": waves,
                "by_region": [{"region": k, "reports": v} for k, v in s.regions.most_common(10)],
                "by_problem": [{"problem": k, "reports": v} for k, v in s.problems.most_common(10)],
                "series": [{"t": iso(int(s.minutes[i]) * 10**9), "value": _num(s.values[i]),
                            "expected": _num(sc.expected[i], 2), "score": _num(sc.score[i], 4)}
                           for i in tail],
            })
        return out


def _num(v: float, digits: int = 0) -> float | int | None:
    """A JSON-safe number: None for NaN, int when whole."""
    v = float(v)
    if not math.isfinite(v):
        return None
    return int(v) if digits == 0 and v.is_integer() else round(v, digits or 6)
