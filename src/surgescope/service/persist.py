"""Optional persistence of the service's state in one DuckDB file (embedded, no server).

What is kept is what the service needs to resume after a restart: per-service minute bins of
report counts (with the region and problem tallies), per-second traffic aggregates, the attacks
found and the alerts fired. Raw records are not kept (``surgescope ingest`` is the tool for
that). Writes happen under the service's lock, one transaction per request.

>>> import tempfile, os
>>> p = Persist(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
>>> p.add_bins([("x", 1741615320, 3)])
>>> p.load_bins()
[('x', 1741615320, 3)]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

SCHEMA = """
CREATE TABLE IF NOT EXISTS report_bins (service VARCHAR, minute BIGINT, reports BIGINT,
    PRIMARY KEY (service, minute));
CREATE TABLE IF NOT EXISTS report_breakdown (service VARCHAR, dimension VARCHAR, key VARCHAR,
    reports BIGINT, PRIMARY KEY (service, dimension, key));
CREATE TABLE IF NOT EXISTS traffic_seconds (tbl VARCHAR, second BIGINT, records BIGINT, bytes BIGINT,
    PRIMARY KEY (tbl, second));
CREATE TABLE IF NOT EXISTS traffic_totals (tbl VARCHAR PRIMARY KEY, records BIGINT, rejected BIGINT,
    uploads BIGINT, latest_ns BIGINT, attacks JSON);
CREATE TABLE IF NOT EXISTS alerts (id BIGINT PRIMARY KEY, alert JSON);
"""


class Persist:
    """The service's DuckDB file."""

    def __init__(self, path: str | Path) -> None:
        self.con = duckdb.connect(str(path))
        self.con.execute(SCHEMA)

    def add_bins(self, rows: list[tuple[str, int, int]]) -> None:
        """Add report counts per (service, minute); existing bins are summed into."""
        if not rows:
            return
        df = pl.DataFrame(rows, schema=["service", "minute", "reports"], orient="row")
        self.con.register("new_bins", df)
        self.con.execute("""
            INSERT INTO report_bins SELECT service, minute, sum(reports) FROM new_bins GROUP BY ALL
            ON CONFLICT DO UPDATE SET reports = report_bins.reports + excluded.reports""")
        self.con.unregister("new_bins")

    def add_breakdown(self, rows: list[tuple[str, str, str, int]]) -> None:
        if not rows:
            return
        df = pl.DataFrame(rows, schema=["service", "dimension", "key", "reports"], orient="row")
        self.con.register("new_bd", df)
        self.con.execute("""
            INSERT INTO report_breakdown SELECT service, dimension, key, sum(reports) FROM new_bd GROUP BY ALL
            ON CONFLICT DO UPDATE SET reports = report_breakdown.reports + excluded.reports""")
        self.con.unregister("new_bd")

    def load_bins(self) -> list[tuple[str, int, int]]:
        return self.con.execute("SELECT service, minute, reports FROM report_bins ORDER BY ALL").fetchall()

    def load_breakdown(self) -> list[tuple[str, str, str, int]]:
        return self.con.execute("SELECT * FROM report_breakdown ORDER BY ALL").fetchall()

    def save_table(self, name: str, seconds: pl.DataFrame | None, records: int, rejected: int,
                   uploads: int, latest_ns: int | None, attacks: list[dict]) -> None:
        """Replace one traffic table's aggregates (they are at most a day of seconds)."""
        self.con.execute("BEGIN")
        self.con.execute("DELETE FROM traffic_seconds WHERE tbl = ?", [name])
        if seconds is not None and seconds.height:
            self.con.register("secs", seconds.select("second", "records", "bytes"))
            self.con.execute("INSERT INTO traffic_seconds SELECT ?, second, records, bytes FROM secs", [name])
            self.con.unregister("secs")
        self.con.execute("INSERT OR REPLACE INTO traffic_totals VALUES (?, ?, ?, ?, ?, ?)",
                         [name, records, rejected, uploads, latest_ns, json.dumps(attacks, default=str)])
        self.con.execute("COMMIT")

    def load_tables(self) -> list[dict[str, Any]]:
        out = []
        for name, records, rejected, uploads, latest_ns, attacks in self.con.execute(
                "SELECT * FROM traffic_totals ORDER BY tbl").fetchall():
            rows = self.con.execute(
                "SELECT second, records, bytes FROM traffic_seconds WHERE tbl = ? ORDER BY second", [name]).fetchall()
            seconds = pl.DataFrame(rows, schema={"second": pl.Int64, "records": pl.Int64, "bytes": pl.Int64},
                                   orient="row")
            out.append({"name": name, "records": records, "rejected": rejected, "uploads": uploads,
                        "latest_ns": latest_ns, "attacks": json.loads(attacks) if attacks else [],
                        "seconds": seconds})
        return out

    def add_alerts(self, alerts: list[dict]) -> None:
        for a in alerts:
            self.con.execute("INSERT OR REPLACE INTO alerts VALUES (?, ?)", [a["id"], json.dumps(a, default=str)])

    def load_alerts(self, limit: int) -> list[dict]:
        rows = self.con.execute("SELECT alert FROM alerts ORDER BY id DESC LIMIT ?", [limit]).fetchall()
        return [json.loads(r[0]) for r in reversed(rows)]

    def close(self) -> None:
        self.con.close()
