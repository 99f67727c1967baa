"""Crowd reports in the live service: validation of posted records and per-service minute bins.

Each service keeps its report counts in one-minute bins and its own streaming outage
detector, fed one complete minute at a time (gaps count as zero reports). The service clock is
event time: a minute is complete once a report for a later minute has arrived, or once the
wall clock has passed it while reports are live (the latest report less than an hour old).
A posted record for a minute the detector has already seen (late data, or a replay of an old
day) rewinds that service: its detector is rebuilt over the kept minutes, so scores never
depend on arrival order.

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
    """One service's minute bins, detector and scored minutes."""

    name: str
    bins: dict[int, int] = field(default_factory=dict)
    regions: Counter = field(default_factory=Counter)
    problems: Counter = field(default_factory=Counter)
    total: int = 0
    detector: Any = None
    cursor: int | None = None
    """Next minute (epoch s) the detector has not seen."""
    scored: list[tuple[int, int, float]] = field(default_factory=list)
    """(minute, count, score) of every minute fed to the detector, oldest first."""
    baseline: float | None = None

    def add(self, minute: int, count: int, region: str | None, problem: str | None) -> None:
        self.bins[minute] = self.bins.get(minute, 0) + count
        self.total += count
        for counter, key in ((self.regions, region), (self.problems, problem)):
            if key is None:
                continue
            if key not in counter and len(counter) >= MAX_BREAKDOWN_KEYS:
                key = "other"
            counter[key] += count
        if self.cursor is not None and minute < self.cursor:
            self.rewind()

    def rewind(self) -> None:
        self.detector, self.cursor, self.scored, self.baseline = None, None, [], None

    def advance(self, until: int, make_detector) -> None:
        """Feed every complete minute before ``until`` (epoch s) to the detector."""
        if not self.bins:
            return
        oldest = until - RETENTION_MIN * 60
        for m in [m for m in self.bins if m < oldest]:
            del self.bins[m]
        if self.detector is None:
            self.detector = make_detector()
            self.cursor = min(self.bins) if self.bins else until
            self.scored = []
        m = max(self.cursor, oldest)
        while m < until:
            v = self.bins.get(m, 0)
            s = float(self.detector.score_one(v))
            self.detector.learn_one(v)
            self.scored.append((m, v, s))
            m += 60
        self.cursor = max(self.cursor, until)
        if len(self.scored) > RETENTION_MIN:
            del self.scored[: len(self.scored) - RETENTION_MIN]
        base = getattr(self.detector, "baseline", None)
        self.baseline = base() if callable(base) else None

    def waves(self) -> list[dict]:
        if not self.scored:
            return []
        ms, vs, ss = zip(*self.scored, strict=True)
        return det.segment_waves(list(ms), list(vs), list(ss))


class ReportState:
    """Every service's series; not thread-safe by itself (the app holds a lock around it)."""

    def __init__(self, make_detector=det.default_detector, clock=time.time) -> None:
        self.services: dict[str, ServiceSeries] = {}
        self.latest: int | None = None
        self.make_detector = make_detector
        self.clock = clock
        self._started: set[tuple[str, int]] = set()
        self._ended: set[tuple[str, int]] = set()

    def add(self, records: list[Record]) -> list[dict]:
        """Add validated records; returns rejections for services over the limit."""
        bad = []
        for i, (minute, count, service, region, problem) in enumerate(records):
            s = self.services.get(service)
            if s is None:
                if len(self.services) >= MAX_SERVICES:
                    bad.append({"where": i, "reason": f"index {i}: more than {MAX_SERVICES} services"})
                    continue
                s = self.services[service] = ServiceSeries(service)
            s.add(minute, count, region, problem)
            self.latest = minute if self.latest is None else max(self.latest, minute)
        return bad

    def now_minute(self) -> int | None:
        """The first incomplete minute: after the latest report, or now if reports are live."""
        if self.latest is None:
            return None
        wall = int(self.clock() // 60) * 60
        return wall if 0 <= wall - self.latest < 3600 else self.latest

    def refresh(self) -> None:
        until = self.now_minute()
        if until is None:
            return
        for s in self.services.values():
            s.advance(until, self.make_detector)

    def alerts(self) -> list[dict]:
        """Alerts for waves that started or ended since the last call (each fires once)."""
        fired = []
        for s in self.services.values():
            for w in s.waves():
                key = (s.name, w["start"])
                if key not in self._started:
                    self._started.add(key)
                    fired.append({"type": "outage-start", "service": s.name, "at": iso(w["start"] * 10**9),
                                  "message": f"outage of {s.name}: reports well above baseline", "wave": _wave_iso(w)})
                if w["end"] is not None and key not in self._ended:
                    self._ended.add(key)
                    fired.append({"type": "outage-end", "service": s.name, "at": iso(w["end"] * 10**9),
                                  "message": f"outage of {s.name} ended (peak {w['peak']:g} reports/min)",
                                  "wave": _wave_iso(w)})
        return fired

    def status(self) -> list[dict]:
        """Per service: current rate, baseline, score, outage now, waves, breakdown, series."""
        self.refresh()
        out = []
        for s in sorted(self.services.values(), key=lambda s: s.name):
            last = s.scored[-1] if s.scored else None
            waves = s.waves()
            out.append({
                "service": s.name,
                "minute": iso(last[0] * 10**9) if last else None,
                "rate_per_min": last[1] if last else None,
                "baseline_per_min": None if s.baseline is None else round(s.baseline, 2),
                "score": round(last[2], 4) if last else None,
                "outage": bool(waves and waves[-1]["end"] is None),
                "reports_total": s.total,
                "waves": [_wave_iso(w) for w in waves],
                "by_region": [{"region": k, "reports": v} for k, v in s.regions.most_common(10)],
                "by_problem": [{"problem": k, "reports": v} for k, v in s.problems.most_common(10)],
                "series": [{"t": iso(m * 10**9), "value": v, "score": round(sc, 4)}
                           for m, v, sc in s.scored[-SERIES_MIN:]],
            })
        return out


def _wave_iso(w: dict) -> dict:
    return {
        "start": iso(w["start"] * 10**9),
        "peak_at": iso(w["peak_at"] * 10**9),
        "peak": w["peak"],
        "end": None if w["end"] is None else iso(w["end"] * 10**9),
        "direction": w["direction"],
    }
