"""Crowd reports (Downdetector-style) as CSV or JSON lines -> REPORTS.

Two shapes, told apart by whether a count column is present:

- single reports, one per row: time, service, region, problem (``count`` = 1);
- counts per time bin: time, count, and optionally service, region, problem. A NAB series
  (``timestamp,value``, as read by ``surgescope detect``) is this shape.

Column names are matched case-insensitively, ignoring spaces, ``_`` and ``-``; accepted
synonyms:

=========== ==========================================================================
``ts``      ``timestamp``, ``time``, ``ts``, ``date``, ``datetime``, ``created_at``,
            ``reported_at``, ``period``
``count``   ``count``, ``value``, ``reports``, ``n``, ``num_reports``, ``report_count``,
            ``total``
``service`` ``service``, ``site``, ``app``, ``platform``, ``brand``
``region``  ``region``, ``country``, ``location``, ``area``, ``city``
``problem`` ``problem``, ``issue``, ``category``, ``problem_type``, ``type``
=========== ==========================================================================

Times: ISO-8601 with an offset (``2025-03-10T10:02:00-04:00``, ``...Z``) are converted to UTC;
times without an offset are taken as UTC (pass ``tz="America/New_York"`` to read them in a
zone); plain numbers are Unix epoch seconds (or ms/us/ns by magnitude). Counts must be
non-negative (digit grouping such as ``"41,143"`` is accepted); fractional counts (some NAB series are sensor readings) are rounded to the nearest
integer. A row with an unparseable time or count is rejected with its line number.

CSV is comma-separated with ``"``-quoting (``"New York, NY"``). JSON lines hold one object per
line with the same keys: any synonym in lower case, or another capitalisation (``Time``) as long
as the first 50 lines of each 8 MB chunk use it. An object without a count is one report.

>>> sniff(b"timestamp,value\\n2015-02-26 21:42:53,57\\n")
True
>>> sniff(b'{"time": "2025-03-10T10:02:00Z", "service": "x", "problem": "app"}\\n')
True
>>> sniff(b'{"time": "2025-03-10T10:02:00Z", "remote_addr": "1.2.3.4", "request": "GET / HTTP/1.1", "status": 200}\\n')
False
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa

from surgescope.schema import REPORTS
from surgescope.sources.base import InputError, Rejections, head_bytes, open_binary
from surgescope.sources.delimited import (
    CHUNK_BYTES,
    DelimitedFile,
    Excerpt,
    parse_json_chunk,
    parse_times,
    raw_chunks,
    reject_where,
    unconverted,
)

#: canonical field -> accepted names, normalised (lower case, letters and digits only).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "ts": ("timestamp", "time", "ts", "date", "datetime", "createdat", "reportedat", "period"),
    "count": ("count", "value", "reports", "n", "numreports", "reportcount", "total"),
    "service": ("service", "site", "app", "platform", "brand"),
    "region": ("region", "country", "location", "area", "city"),
    "problem": ("problem", "issue", "category", "problemtype", "type"),
}

#: Keys that make a JSON line an access log or other traffic record, never a crowd report.
FOREIGN_KEYS = re.compile(r"request|status|remote|uri|method|user_?agent|referr?er|src_?ip|id\.orig", re.I)


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def field_map(names: list[str]) -> dict[str, str]:
    """canonical field -> the input's column name (first synonym present wins)."""
    norm = {_norm(n): n for n in reversed(names)}  # reversed: the first duplicate wins
    out: dict[str, str] = {}
    for canon, syns in SYNONYMS.items():
        for s in syns:
            if s in norm:
                out[canon] = norm[s]
                break
    return out


def _looks_like_reports(names: list[str]) -> bool:
    if any(FOREIGN_KEYS.search(n) for n in names):
        return False
    m = field_map(names)
    # A time plus a count or a descriptive field, and mostly known columns: keeps other CSVs
    # (spreadsheets, exports of other tools) from being taken as reports.
    known = sum(1 for n in names if any(_norm(n) in s for s in SYNONYMS.values()))
    return "ts" in m and len(m) >= 2 and 2 * known >= len(names)


def sniff(head: bytes) -> bool:
    """A CSV header or JSON-lines object naming a time and counts/services/problems only."""
    first = head.lstrip(b"\xef\xbb\xbf").lstrip().split(b"\n", 1)[0].strip()
    if first.startswith(b"{"):
        try:
            obj = json.loads(first)
        except ValueError:
            return False
        return isinstance(obj, dict) and bool(obj) and _looks_like_reports(list(obj))
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError:
        return False
    if "," not in text:
        return False
    names = [n.strip().strip('"') for n in text.split(",")]
    return _looks_like_reports(names)


def read(path: str | Path, rejections: Rejections, tz: str = "UTC", chunk_size: int = CHUNK_BYTES,
         **_: object) -> Iterator[pa.RecordBatch]:
    """Stream REPORTS batches from a CSV or JSON-lines report file."""
    with open_binary(path) as f:
        if _is_json_lines(head_bytes(path, 16384)):
            for body, first in raw_chunks(f, rejections, chunk_size):
                keys = _json_keys(body)
                df, excerpt = parse_json_chunk(body, first, sorted({k for ks in keys.values() for k in ks}), rejections)
                df = df.select("line", *(["text"] if "text" in df.columns else []),
                               *[pl.coalesce([pl.col(k) for k in ks]).alias(c) for c, ks in keys.items() if ks])
                batch = _convert(df, rejections, tz, False, excerpt)
                if batch is not None:
                    yield batch
            return
        d = DelimitedFile(f, rejections, ",", quoting=True, chunk_size=chunk_size)
        if d.header is None:
            return
        fmap = field_map(d.header)
        if "ts" not in fmap:
            raise InputError(f"{path}: no time column (expected one of timestamp, time, ts, date)")
        keep = sorted(fmap, key=lambda c: d.header.index(fmap[c]))  # type: ignore[union-attr]
        names = [f"c{i}" for i in range(len(d.header))]
        for df, excerpt in d.batches(names, [f"c{d.header.index(fmap[c])}" for c in keep]):
            df.columns = ["line", *keep]
            batch = _convert(df, rejections, tz, True, excerpt)
            if batch is not None:
                yield batch


def _is_json_lines(head: bytes) -> bool:
    """JSON lines if the first line is an object, or if most of the next lines are (a broken
    first line is then one rejected record, not a CSV header)."""
    lines = [x.strip() for x in head.lstrip(b"\xef\xbb\xbf").split(b"\n")[:21] if x.strip()]
    if not lines:
        return False
    if lines[0].startswith(b"{"):
        return True
    rest = lines[1:20]
    return bool(rest) and 2 * sum(x.startswith(b"{") for x in rest) > len(rest)


def _json_keys(body: bytes) -> dict[str, list[str]]:
    """canonical field -> the key spellings to look up, in synonym order: every synonym in lower
    case, plus the spellings (``Time``, ``created_at``) used in the chunk's first 50 lines."""
    spellings: set[str] = {s for syns in SYNONYMS.values() for s in syns}
    for line in body.split(b"\n", 50)[:50]:
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            spellings.update(k for k in obj if isinstance(k, str))
    keys: dict[str, list[str]] = {c: [] for c in SYNONYMS}
    for k in sorted(spellings):
        for canon, syns in SYNONYMS.items():
            if _norm(k) in syns:
                keys[canon].append(k)
    for canon in keys:
        keys[canon].sort(key=lambda k, c=canon: (SYNONYMS[c].index(_norm(k)), k))
    return keys


def _convert(df: pl.DataFrame, rejections: Rejections, tz: str, strict_count: bool,
             excerpt: Excerpt | None = None) -> pa.RecordBatch | None:
    """Typed REPORTS rows. With ``strict_count`` (CSV with a count column) an empty count is
    rejected; in JSON lines an object without a count key is a single report (count 1)."""
    if df.height == 0:
        return None
    has_count = "count" in df.columns
    for c in SYNONYMS:
        if c not in df.columns:
            df = df.with_columns(pl.lit(None, dtype=pl.String).alias(c))
    raw = pl.col("count").str.strip_chars()
    # "41,143" / "41 143" / "41_143": digit grouping as people type counts in spreadsheets.
    grouped = raw.str.contains(r"^\d{1,3}(?:[,_ ]\d{3})+$")
    num = pl.when(grouped).then(raw.str.replace_all(r"[,_ ]", "")).otherwise(raw).cast(pl.Float64, strict=False)
    df = df.with_columns(
        _ts=parse_times(df["ts"], tz=tz),
        _count=pl.when(num.is_finite()).then(num),
    )
    checks = [
        ("missing time", pl.col("ts").is_null() | (pl.col("ts").str.strip_chars() == "")),
        ("bad time", unconverted("ts", "_ts")),
        ("bad count: not a number", unconverted("count", "_count")),
        ("negative count", pl.col("_count") < 0),
        ("count too large", pl.col("_count") >= 2.0**62),
    ]
    if has_count and strict_count:
        checks.append(("missing count", pl.col("_count").is_null()))
    df = reject_where(df, checks, rejections, excerpt)
    if df.height == 0:
        return None
    out = df.select(
        pl.col("_ts").alias("ts"),
        pl.col("_count").fill_null(1).round(0).cast(pl.Int64).alias("count") if has_count else pl.lit(1, dtype=pl.Int64).alias("count"),
        *[pl.col(c).str.strip_chars().alias(c) for c in ("service", "region", "problem")],
    )
    return out.to_arrow().cast(REPORTS).combine_chunks().to_batches()[0]
