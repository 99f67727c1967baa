"""Traffic in the live service: per-second aggregates and a recent window for attack analysis.

Each canonical table (``packets``, ``requests``, ``flows``) keeps:

- per-second aggregates (records and bytes per second, one day kept), computed with Polars;
- the records of the last ``window_s`` seconds (at most ``max_rows``), which the attack
  analysis of :mod:`surgescope.attack` runs over after every upload;
- the attacks found so far, merged across uploads (an attack seen again in a later window
  is updated, not announced twice);
- for ``requests``, the waves where requests per minute dropped far below their baseline:
  the service's own log showing an outage (:func:`surgescope.service.detector.score_minutes`
  with ``direction="down"``).

Times are event times: "now" for a table is its latest record, so a replayed capture is
judged as it would have been live; a feed that stops leaves its last state (an attack stays
ongoing until traffic after its end arrives).

>>> import pyarrow as pa
>>> from surgescope.schema import REQUESTS
>>> t = pa.Table.from_pylist([{"ts": 0, "bytes": 10}, {"ts": 2 * 10**8, "bytes": 5}], schema=REQUESTS)
>>> s = TrafficState(analyze=lambda table, name: [])
>>> s.ingest("requests", t)
[]
>>> s.status()["tables"]["requests"]["records_total"]
2
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from surgescope.incident import iso
from surgescope.service.detector import score_minutes

#: Column holding the bytes of a record, per table.
BYTES_COLUMN = {"packets": "ip_len", "requests": "bytes", "flows": "bytes"}
#: Seconds of per-second aggregates kept per table (one day).
SECONDS_KEPT = 86_400
#: Seconds of aggregates returned in the status for the dashboard's chart.
SERIES_S = 300
#: An attack whose end is this close to the table's latest record is "ongoing".
ONGOING_S = 10.0
MINUTE_NS = 60 * 10**9
#: Attacks remembered per table.
MAX_ATTACKS = 100

Analyzer = Callable[[pa.Table, str], Any]


def default_analyzer() -> tuple[Analyzer | None, str]:
    """The project's attack analysis, or None (with why) while it is not available."""
    try:
        from surgescope.attack import analyze
    except ImportError as e:
        return None, f"attack analysis not available ({e})"
    return analyze, "surgescope.attack.analyze"


def _epoch(text: Any) -> float | None:
    if text is None:
        return None
    if isinstance(text, int | float):
        return float(text)
    try:
        return datetime.fromisoformat(str(text)).timestamp()
    except ValueError:
        return None


@dataclass
class TableState:
    name: str
    recent: pa.Table | None = None
    seconds: pl.DataFrame | None = None
    records_total: int = 0
    rejected_total: int = 0
    uploads: int = 0
    latest_ns: int | None = None
    attacks: list[dict] = field(default_factory=list)
    drops: list[dict] | None = None
    """Waves of a drop in requests per minute (requests table only); None = to recompute."""


class TrafficState:
    """All tables' aggregates, windows and attacks (the app holds a lock around it)."""

    def __init__(self, analyze: Analyzer | None = None, window_s: float = 300.0,
                 max_rows: int = 1_000_000, analyzer_name: str = "") -> None:
        if analyze is None:
            analyze, analyzer_name = default_analyzer()
        self.analyze = analyze
        self.analyzer_name = analyzer_name or getattr(analyze, "__name__", "custom")
        self.window_ns = int(window_s * 1e9)
        self.max_rows = max_rows
        self.tables: dict[str, TableState] = {}
        self._drop_started: dict[str, str] = {}
        self._drop_ended: dict[str, str] = {}

    def load(self, name: str, seconds: pl.DataFrame, records: int, rejected: int, uploads: int,
             latest_ns: int | None, attacks: list[dict]) -> None:
        """Restore one table kept by :mod:`surgescope.service.persist` (its window is not kept)."""
        st = self.tables.setdefault(name, TableState(name))
        st.seconds = seconds.cast({"second": pl.Int64, "records": pl.Int64, "bytes": pl.Int64})
        st.records_total, st.rejected_total, st.uploads, st.latest_ns = records, rejected, uploads, latest_ns
        st.attacks = attacks

    def _aggregate(self, st: TableState, table: pa.Table) -> None:
        col = BYTES_COLUMN[st.name]
        df = pl.from_arrow(table.select(["ts", col])).select(
            pl.col("ts").dt.epoch("s").alias("second"), pl.col(col).cast(pl.Int64).alias("bytes"))
        per_s = df.group_by("second").agg(pl.len().cast(pl.Int64).alias("records"),
                                          pl.col("bytes").sum().alias("bytes"))
        if st.seconds is not None:
            per_s = pl.concat([st.seconds, per_s]).group_by("second").agg(
                pl.col("records").sum(), pl.col("bytes").sum())
        per_s = per_s.sort("second")
        st.seconds = per_s.filter(pl.col("second") > per_s["second"].max() - SECONDS_KEPT)

    def window(self, st: TableState, table: pa.Table) -> pa.Table:
        """Records of the ``window_s`` seconds up to this upload's latest record."""
        end = pc.max(table["ts"]).cast(pa.int64()).as_py()
        parts = [t for t in (st.recent, table) if t is not None]
        both = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
        ts = both["ts"].cast(pa.int64())
        mask = pc.and_(pc.greater_equal(ts, end - self.window_ns), pc.less_equal(ts, end))
        return both.filter(mask)

    def add(self, name: str, table: pa.Table, rejected: int = 0) -> pa.Table:
        """Add one upload's records to the aggregates; returns the window to analyse."""
        st = self.tables.setdefault(name, TableState(name))
        st.uploads += 1
        st.rejected_total += rejected
        if table.num_rows == 0:
            return table
        st.records_total += table.num_rows
        self._aggregate(st, table)
        st.drops = None
        end = pc.max(table["ts"]).cast(pa.int64()).as_py()
        st.latest_ns = end if st.latest_ns is None else max(st.latest_ns, end)
        win = self.window(st, table)
        if win.num_rows > self.max_rows:  # keep the latest rows: memory stays bounded
            win = win.sort_by("ts").slice(win.num_rows - self.max_rows)
        # The kept window follows the table's latest record; an older upload is analysed in
        # its own window but does not displace newer records.
        st.recent = win if end >= st.latest_ns else st.recent
        return win

    def find(self, name: str, window: pa.Table) -> list[dict]:
        """Attacks in a window (no shared state touched: callers run it outside their lock)."""
        if self.analyze is None or window.num_rows == 0:
            return []
        found = self.analyze(window, name)
        if isinstance(found, dict):  # an Incident-style {"attacks": [...]} is accepted too
            found = found.get("attacks", [])
        return [dict(a) for a in (found or [])]

    def merge(self, name: str, found: list[dict]) -> list[tuple[str, dict]]:
        """Merge attacks found into the table's; returns alerts as (``attack-start``/``-end``, attack).

        An attack is ongoing while its end is within ``ONGOING_S`` of the table's latest record;
        one that ends inside an upload is announced as started and over at once.
        """
        st = self.tables[name]
        new = self._merge(st, found)
        return [("attack-start", a) for a in new] + [("attack-end", a) for a in self._ended(st)]

    def ingest(self, name: str, table: pa.Table, rejected: int = 0) -> list[tuple[str, dict]]:
        """:meth:`add`, :meth:`find` and :meth:`merge` in one go (for single-threaded use)."""
        return self.merge(name, self.find(name, self.add(name, table, rejected)))

    def _ended(self, st: TableState) -> list[dict]:
        """Attacks no longer ongoing at the table's latest record, not yet announced as over."""
        latest = st.latest_ns / 1e9 if st.latest_ns is not None else None
        out = []
        for a in st.attacks:
            end = _epoch(a.get("end"))
            a["ongoing"] = latest is not None and end is not None and end >= latest - ONGOING_S
            if a["ongoing"]:  # (again): its end is announced when it is over
                a["_end_announced"] = False
            elif not a.get("_end_announced"):
                a["_end_announced"] = True
                out.append(a)
        return out

    def _merge(self, st: TableState, found: list[dict]) -> list[dict]:
        new = []
        for a in found:
            a_start, a_end = _epoch(a.get("start")), _epoch(a.get("end"))
            same = None
            for b in st.attacks:
                b_start, b_end = _epoch(b.get("start")), _epoch(b.get("end"))
                if None not in (a_start, a_end, b_start, b_end) and a_start <= b_end + 1 and b_start <= a_end + 1:
                    same = b
                    break
            if same is None:
                a["table"] = st.name
                st.attacks.append(a)
                new.append(a)
            else:  # the same attack seen in a later window: widen its span, keep the newest figures
                start = min(_epoch(same["start"]), a_start)
                end = max(_epoch(same["end"]), a_end)
                same.update(a)
                same["start"], same["end"] = iso(int(start * 1e9)), iso(int(end * 1e9))
        del st.attacks[: max(0, len(st.attacks) - MAX_ATTACKS)]
        return new

    def drops(self, st: TableState) -> list[dict]:
        """Waves where requests per minute dropped far below their baseline (an outage seen
        from the server's own log), over the complete minutes of the kept day."""
        if st.name != "requests" or st.seconds is None or st.seconds.height == 0:
            return []
        if st.drops is None:
            per_min = st.seconds.group_by((pl.col("second") // 60) * 60).agg(pl.col("records").sum())
            last = int(st.latest_ns // MINUTE_NS * 60)  # the minute of the latest record may be partial
            minutes = np.arange(int(per_min["second"].min()), last, 60, dtype=np.int64)
            counts = dict(per_min.iter_rows())
            values = np.array([counts.get(int(m), 0) for m in minutes], dtype=np.float64)
            st.drops = score_minutes(minutes * 10**9, values, "down").waves if len(minutes) else []
        return st.drops

    def drop_alerts(self) -> list[dict]:
        """``traffic-drop-start`` / ``-end`` alerts for drop waves not yet announced."""
        out = []
        for name, st in self.tables.items():
            for w in self.drops(st):
                if w["start"] > self._drop_started.get(name, ""):
                    self._drop_started[name] = w["start"]
                    out.append({"type": "traffic-drop-start", "table": name, "at": w["start"], "wave": w,
                                "message": f"{name} per minute far below the baseline (outage of the service?)"})
                if not w["ongoing"] and w["start"] > self._drop_ended.get(name, ""):
                    self._drop_ended[name] = w["start"]
                    out.append({"type": "traffic-drop-end", "table": name, "at": w["end"], "wave": w,
                                "message": f"{name} back to the baseline (low of {w['peak']:g}/min at {w['peak_at']})"})
        return out

    def status(self) -> dict:
        """Per table: totals and recent per-second rates; the current attack; recent attacks."""
        tables = {}
        current = None
        attacks = []
        for name, st in sorted(self.tables.items()):
            series = []
            if st.seconds is not None and st.seconds.height:
                tail = st.seconds.filter(pl.col("second") > st.seconds["second"].max() - SERIES_S)
                series = [{"t": iso(int(s) * 10**9), "records": int(r), "bytes": int(b)}
                          for s, r, b in tail.select("second", "records", "bytes").iter_rows()]
            last = series[-1] if series else None
            tables[name] = {
                "records_total": st.records_total,
                "rejected_total": st.rejected_total,
                "uploads": st.uploads,
                "latest": iso(st.latest_ns) if st.latest_ns is not None else None,
                "records_per_s": last["records"] if last else None,
                "bytes_per_s": last["bytes"] if last else None,
                "peak_records_per_s": max((p["records"] for p in series), default=None),
                "series": series,
            }
            if name == "requests":
                drops = self.drops(st)
                tables[name]["drops"] = drops
                tables[name]["outage"] = bool(drops and drops[-1]["ongoing"])
            for a in st.attacks:
                a = {k: v for k, v in a.items() if not k.startswith("_")}
                attacks.append(a)
                if a.get("ongoing") and (current is None or (a.get("packets") or 0) > (current.get("packets") or 0)):
                    current = a
        return {"tables": tables, "attack": current, "attacks": attacks[-20:],
                "attack_detector": self.analyzer_name if self.analyze else None}
