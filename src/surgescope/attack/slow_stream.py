"""Slow HTTP in a replayed access log or flow export: :mod:`.slow_http` on a sliding buffer.

Logs and flows show a slow attack only as connections end (timeouts, long low-rate flows),
long after they opened, so per-window rates (the :class:`~surgescope.attack.watch.StreamDetector`)
do not see it. :class:`SlowStream` keeps the slow-HTTP records (:func:`.slow_http.records`, a
dozen narrow columns per request or flow) of the last ``horizon_s + merge_gap_s`` of traffic
time and runs the batch definition (:func:`.slow_http.detect_records`) on them, so the stream
and ``analyze`` judge alike:

- only when a slow record arrived for a target not already under a slow attack, and at most
  every ``every_s`` of traffic time (normal traffic costs one filter per slice);
- a target's attack ends when ``merge_gap_s`` (the batch phase gap) passes without a slow
  record toward it; its figures are taken from one last run then, over every slow record of
  the attack (kept from its start: a slow attack is a few records a second).

Memory: the records of ``horizon_s + merge_gap_s`` (600 s by default) of traffic, about 80 bytes
each, plus the slow records of the attacks under way: bounded by the traffic rate and the
attacks, not by the length of the file.

>>> from datetime import datetime, timedelta, UTC
>>> t0 = datetime(2025, 3, 10, 10, tzinfo=UTC)
>>> s = SlowStream("requests")
>>> events = []
>>> for k in range(0, 900, 10):  # 30 clients, each a 408 after 60 s every 10 s, then silence
...     events += s.feed(pl.DataFrame({
...         "ts": [t0 + timedelta(seconds=k + i / 30) for i in range(30)] if k < 300 else [t0 + timedelta(seconds=k)],
...         "src_ip": [f"203.0.113.{i}" for i in range(30)] if k < 300 else ["198.51.100.1"],
...         "status": [408] * 30 if k < 300 else [200], "bytes": [0] * 30 if k < 300 else [500],
...         "duration_s": [60.0] * 30 if k < 300 else [0.1]}))
>>> [(e["event"], e["vector"]) for e in events + s.close()]
[('start', 'slow-http'), ('end', 'slow-http')]
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

import polars as pl

from surgescope.attack import slow_http
from surgescope.attack.slow_http import SlowThresholds


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class SlowStream:
    """Slow-HTTP start and end events of a ``requests`` or ``flows`` stream (see the module
    docstring). Events: ``{"event", "dst", "vector", "vectors", "window", "start_win",
    "end_win"}`` like the window detector's, plus ``attack`` (the batch attack dict) at the end.
    """

    def __init__(self, table: str, thresholds: SlowThresholds | None = None, every_s: float = 5.0) -> None:
        if table not in ("requests", "flows"):
            raise ValueError(f"slow HTTP is read from requests or flows, not {table!r}")
        self.table = table
        self.th = thresholds or SlowThresholds()
        self.every = timedelta(seconds=every_s)
        self.keep = timedelta(seconds=self.th.horizon_s + self.th.merge_gap_s)
        self.gap = timedelta(seconds=self.th.merge_gap_s)
        self._chunks: deque[tuple[datetime, pl.DataFrame]] = deque()
        self._first: datetime | None = None
        self._now: datetime | None = None
        self._last_run: datetime | None = None
        self._last_slow: dict[str, datetime] = {}  # target -> time of its latest slow record
        self._waiting: set[str] = set()  # targets with slow records and no attack yet
        self.active: dict[str, dict] = {}  # target -> its attack as of the start event
        self._archive: dict[str, list[pl.DataFrame]] = {}  # target -> its attack's slow records
        self._reported: set[tuple[str, str]] = set()  # (target, start) of attacks alerted
        self._inbox: list[tuple[pl.DataFrame, pl.DataFrame | None]] = []  # slices (and records) not handled yet

    def records(self, df: pl.DataFrame) -> pl.DataFrame:
        """The slow-HTTP records of ``df`` (:func:`.slow_http.records`: one per request or web
        flow, each made from its own row), for :meth:`feed`'s ``recs``."""
        return slow_http.records(df, self.table, self.th)

    def feed(self, df: pl.DataFrame, recs: pl.DataFrame | None = None) -> list[dict]:
        """Records of the next slice (in time order); the events they cause. ``recs``: the
        slice's :meth:`records` when they were made for a larger frame at once (a replay as
        fast as possible: made slice by slice, their fixed cost followed the file's time span,
        not its records; 5,000 flows over four days took 9 s).

        Slices are gathered until ``every_s`` of traffic time has come (a paced replay hands
        over a tenth of a second at a time: handling each alone cost more than the rest of the
        replay), then handled at once."""
        if df.height == 0:
            return []
        self._inbox.append((df, recs))
        first = self._inbox[0][0]["ts"][0]
        if df["ts"][-1] - first < self.every:
            return []
        return self._handle()

    def _handle(self) -> list[dict]:
        frames, made = [f for f, _ in self._inbox], [r for _, r in self._inbox]
        df = pl.concat(frames, how="vertical_relaxed") if len(frames) > 1 else frames[0]
        self._inbox = []
        if any(r is None for r in made):
            recs = self.records(df)
        else:
            recs = pl.concat(made, how="vertical_relaxed") if len(made) > 1 else made[0]
        now = max(df["ts"].max(), self._now or df["ts"].max())
        self._first = min(df["ts"].min(), self._first or df["ts"].min())
        self._now = now
        self._chunks.append((now, recs))
        while self._chunks and self._chunks[0][0] < now - self.keep:
            self._chunks.popleft()
        slow = recs.filter(pl.col("slow"))
        for dst, last in slow.group_by("dst").agg(pl.col("ts").max()).iter_rows():
            # (max: a log's lines may be a little out of order across batches)
            self._last_slow[dst] = max(last, self._last_slow.get(dst, last))
            if dst in self.active:
                self._archive[dst].append(slow.filter(pl.col("dst") == dst))
            else:
                self._waiting.add(dst)
        events = self._ends(now)
        if self._waiting and (self._last_run is None or now - self._last_run >= self.every):
            events += self._starts(now)
        return events

    def close(self) -> list[dict]:
        """Events of the last slices, and the end of the attacks still open when the input ends."""
        events = self._handle() if self._inbox else []
        if self._now is None:
            return events
        if self._waiting:
            self._last_run = None
            events += self._starts(self._now)
        return events + self._ends(self._now + self.gap + timedelta(microseconds=1))

    def _buffer(self) -> pl.DataFrame:
        return pl.concat([c for _, c in self._chunks])

    def _run(self, recs: pl.DataFrame) -> list[dict]:
        return slow_http.detect_records(recs, self.table, self.th, first_ts=self._first)

    def _starts(self, now: datetime) -> list[dict]:
        self._last_run = now
        buffer = self._buffer()
        events = []
        for a in self._run(buffer):
            dst = a["target"]
            if dst not in self._waiting or (dst, a["start"]) in self._reported:
                continue
            self._reported.add((dst, a["start"]))
            events.append(self._event("start", dst, a, now))
            if now - _time(a["end"]) <= self.gap:  # its slow records go on: it ends later
                self.active[dst] = a
                self._archive[dst] = [buffer.filter((pl.col("dst") == dst) & pl.col("slow"))]
            else:  # begun and over within what was fed at once (a large slice)
                events.append(self._event("end", dst, a, now))
        # targets whose slow records made no attack wait for more of them
        self._waiting.clear()
        return events

    def _ends(self, now: datetime) -> list[dict]:
        over = [dst for dst in self.active if now - self._last_slow[dst] > self.gap]
        if not over:
            return []
        buffer = self._buffer()
        events = []
        for dst in over:
            # every slow record of the attack, and the target's other records still buffered
            # (each client's share of slow requests)
            recs = pl.concat([*self._archive.pop(dst), buffer.filter((pl.col("dst") == dst) & ~pl.col("slow"))])
            found = [a for a in self._run(recs.sort("ts")) if a["target"] == dst]
            a = found[-1] if found else self.active[dst]
            del self.active[dst]
            events.append(self._event("end", dst, a, now))
        return events

    @staticmethod
    def _event(kind: str, dst: str, a: dict, now: datetime) -> dict:
        return {
            "event": kind, "dst": dst, "vector": "slow-http", "vectors": ["slow-http"],
            "window": now, "start_win": _time(a["start"]), "end_win": _time(a["end"]), "attack": a,
        }
