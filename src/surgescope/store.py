"""The case store: one DuckDB file holding every ingested input's records.

Layout (created on first use):

- one table per canonical table of :mod:`surgescope.schema` (``requests``, ``packets``,
  ``flows``, ``reports``) with the same columns plus ``input_id`` (which input a row came from);
- ``inputs``: ``input_id``, ``fingerprint``, ``path``, ``kind``, ``format``, ``table_name``,
  ``records``, ``rejected``, ``rejections`` (JSON: count and the first samples with line/packet
  number and reason), ``ingested_at``.

Times are stored as ``TIMESTAMP_NS`` holding UTC: DuckDB's ``TIMESTAMPTZ`` keeps only
microseconds, and pcap times are nanoseconds. :func:`read_table` gives them back as the
schema's ``timestamp[ns, UTC]``.

Fingerprint: SHA-256 of the file's bytes as stored (compressed files are hashed compressed).
Hashing the whole file is cheap next to parsing it: measured here on the 265 MB flow file of
``bench/bench_flows.py``, hashlib ran at 0.5 GB/s and the CICFlowMeter reader at about 40 MB/s,
so hashing adds under a tenth. No shortcut (size + first/last MB) is taken, then: two files
that differ anywhere are two inputs; the same bytes under another name are the same input.

Atomicity: each input is ingested in one transaction: its rows and its ``inputs`` row are
committed together or not at all. An exception or Ctrl-C while reading rolls the transaction
back; a killed process leaves it uncommitted (DuckDB's write-ahead log only replays commits).

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "r.csv").write_text("timestamp,value\\n2025-03-10 15:02:00,41143\\n")
>>> [r["status"] for r in ingest([d / "r.csv"], d / "case.duckdb")]
['ingested']
>>> [r["status"] for r in ingest([d / "r.csv"], d / "case.duckdb")]
['already ingested']
>>> query(d / "case.duckdb", "select count, ts from reports").to_pylist()
[{'count': 41143, 'ts': datetime.datetime(2025, 3, 10, 15, 2)}]
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from surgescope.schema import SCHEMAS
from surgescope.sources import open_input
from surgescope.sources.base import InputError, input_errors

Progress = Callable[[str, int], None]

#: DuckDB memory limit for store connections.
MEMORY_LIMIT = "1GB"

_INPUTS_DDL = """
CREATE TABLE IF NOT EXISTS inputs (
    input_id    BIGINT PRIMARY KEY,
    fingerprint VARCHAR NOT NULL UNIQUE,
    path        VARCHAR NOT NULL,
    kind        VARCHAR NOT NULL,
    format      VARCHAR NOT NULL,
    table_name  VARCHAR NOT NULL,
    records     BIGINT NOT NULL,
    rejected    BIGINT NOT NULL,
    rejections  VARCHAR,
    ingested_at TIMESTAMPTZ NOT NULL
)
"""


def fingerprint(path: str | Path, block: int = 1 << 22) -> str:
    """SHA-256 (hex) of a file's bytes, read in 4 MiB blocks."""
    h = hashlib.sha256()
    with input_errors(path), open(path, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()


def _store_schema(schema: pa.Schema) -> pa.Schema:
    """The schema as stored: tz-aware timestamps become naive (UTC) nanoseconds."""
    fields = []
    for f in schema:
        if pa.types.is_timestamp(f.type) and f.type.tz is not None:
            f = f.with_type(pa.timestamp(f.type.unit))
        fields.append(f)
    return pa.schema(fields)


def _ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(_INPUTS_DDL)
    for name, schema in SCHEMAS.items():
        empty = _store_schema(schema).empty_table()
        con.register("_empty", empty)
        try:
            con.execute(f"CREATE TABLE IF NOT EXISTS {name} AS SELECT *, NULL::BIGINT AS input_id FROM _empty LIMIT 0")
        finally:
            con.unregister("_empty")


def connect(db: str | Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) the store; tables exist afterwards unless ``read_only``."""
    try:
        con = duckdb.connect(str(db), read_only=read_only)
    except duckdb.Error as e:
        raise InputError(f"{db}: cannot open the store ({e})") from e
    # Keep DuckDB's own buffers well inside the project's memory target (< 2 GB for any input);
    # beyond this it spills to a temporary directory next to the store.
    con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
    if not read_only:
        _ensure_tables(con)
    return con


def ingest(
    paths: Sequence[str | Path],
    db: str | Path,
    kind: str = "auto",
    progress: Progress | None = None,
) -> list[dict]:
    """Add each input to the store at ``db``; an input already there (same bytes) adds nothing.

    Returns one dict per input: ``path``, ``status`` (``ingested`` or ``already ingested``),
    ``fingerprint``, ``kind``, ``format``, ``table``, ``records``, ``rejected``, ``input_id``.
    Raises :class:`InputError` for a missing or unreadable input (inputs before it stay
    ingested; each input is atomic).
    """
    results = []
    con = connect(db)
    try:
        for p in paths:
            try:
                results.append(_ingest_one(con, Path(p), kind, progress))
            except duckdb.Error as e:
                # e.g. a store written by another DuckDB version: one line, not a traceback.
                raise InputError(f"{db}: store error while ingesting {p}: {e}") from e
    finally:
        con.close()
    return results


def _ingest_one(con: duckdb.DuckDBPyConnection, path: Path, kind: str, progress: Progress | None) -> dict:
    fp = fingerprint(path)
    seen = con.execute(
        "SELECT input_id, kind, format, table_name, records, rejected, path FROM inputs WHERE fingerprint = ?", [fp]
    ).fetchall()
    if seen:
        input_id, k, fmt, table, records, rejected, first_path = seen[0]
        return {"path": str(path), "status": "already ingested", "fingerprint": fp, "kind": k, "format": fmt,
                "table": table, "records": records, "rejected": rejected, "input_id": input_id,
                "first_path": first_path}
    inp = open_input(path, kind)
    table = inp.table
    stored = _store_schema(inp.schema)
    records = 0
    con.begin()
    try:
        input_id = con.execute("SELECT coalesce(max(input_id), 0) + 1 FROM inputs").fetchall()[0][0]
        for batch in inp.batches():
            if batch.num_rows == 0:
                continue
            arrow = pa.Table.from_batches([batch]).cast(stored)
            con.register("_batch", arrow)
            try:
                con.execute(f"INSERT INTO {table} BY NAME SELECT *, ?::BIGINT AS input_id FROM _batch", [input_id])
            finally:
                con.unregister("_batch")
            records += batch.num_rows
            if progress:
                progress(str(path), records)
        con.execute(
            "INSERT INTO inputs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [input_id, fp, str(path), inp.kind, inp.format, table, records, inp.rejections.count,
             json.dumps(inp.rejections.to_dict()), datetime.now(UTC)],
        )
        con.commit()
    except BaseException:
        # Any failure, KeyboardInterrupt included: none of this input's rows stay.
        con.rollback()
        raise
    return {"path": str(path), "status": "ingested", "fingerprint": fp, "kind": inp.kind, "format": inp.format,
            "table": table, "records": records, "rejected": inp.rejections.count, "input_id": input_id}


def query(db: str | Path, sql: str, params: Sequence | None = None) -> pa.Table:
    """Run one SQL statement on the store (read-only) and return the result as Arrow."""
    con = connect(db, read_only=True)
    try:
        return con.sql(sql, params=list(params) if params else None).to_arrow_table()
    finally:
        con.close()


def read_table(db: str | Path, table: str) -> pa.Table:
    """A canonical table from the store, in its :mod:`surgescope.schema` schema (UTC times)."""
    if table not in SCHEMAS:
        raise InputError(f"unknown table {table!r} (choose from {', '.join(SCHEMAS)})")
    cols = ", ".join(f.name for f in SCHEMAS[table])
    t = query(db, f"SELECT {cols} FROM {table} ORDER BY input_id, ts")
    return t.cast(_store_schema(SCHEMAS[table])).cast(SCHEMAS[table])
