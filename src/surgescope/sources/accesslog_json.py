"""HTTP access logs as JSON lines (one object per line) -> the ``requests`` table.

One reader for the JSON access logs servers and load balancers write: nginx with a JSON
``log_format`` (``escape=json``), Caddy, Traefik, AWS ALB records as JSON (the column names of
AWS's Athena table), Zeek ``http.log`` in JSON, and anything using the same common key names.
Each column takes the first key of its row in this table that the line has (non-empty, not
``-``):

================  ===========================================================================
column            keys, in order of preference
================  ===========================================================================
``ts``            ``time_iso8601``, ``time_local``, ``msec``, ``@timestamp``, ``timestamp``,
                  ``StartUTC``, ``time``, ``request_creation_time``, ``ts``
``src_ip``        ``remote_addr``, ``client_ip``, ``clientip``, ``ClientHost``,
                  ``request.client_ip``, ``request.remote_ip`` (Caddy), ``client:port``,
                  ``ClientAddr`` (port removed), ``id.orig_h`` (Zeek), ``src_ip``, ``c-ip``,
                  ``remote_ip``, ``ip``
``method``        ``request_method``, ``method``, ``request.method``, ``RequestMethod``,
                  ``request_verb``, ``cs-method``
``path``          ``request_uri``, ``uri``, ``request.uri``, ``RequestPath``, ``request_url``,
                  ``path``, ``url``, ``cs-uri-stem``
``protocol``      ``server_protocol``, ``protocol``, ``request.proto``, ``RequestProtocol``,
                  ``request_proto``
(request line)    ``request`` as text ``"GET /a HTTP/1.1"`` fills method, path and protocol
                  when they have no key of their own
``status``        ``status``, ``status_code``, ``elb_status_code``, ``DownstreamStatus``,
                  ``sc-status``
``bytes``         ``body_bytes_sent``, ``bytes_sent``, ``size``, ``DownstreamContentSize``,
                  ``sent_bytes``, ``response_body_len``, ``bytes``
``referer``       ``http_referer``, ``referer``, ``referrer``, ``request.headers.Referer[0]``,
                  ``request_Referer``, ``cs(Referer)``
``user_agent``    ``http_user_agent``, ``user_agent``, ``useragent``,
                  ``request.headers.User-Agent[0]``, ``request_User-Agent``, ``cs(User-Agent)``
``host``          ``host``, ``http_host``, ``server_name``, ``request.host``, ``RequestHost``,
                  ``domain_name``, ``vhost``
``duration_s``    ``request_time`` (s), ``duration`` (s, Caddy), ``Duration`` (ns, Traefik),
                  ALB ``request_processing_time`` + ``target_processing_time`` +
                  ``response_processing_time`` (s, when none is -1)
================  ===========================================================================

Times may be ISO 8601 with an offset or ``Z`` (converted to UTC; without an offset taken as
UTC), CLF ``10/Mar/2025:09:00:00 +0000``, or numbers of seconds since the epoch (milli-,
micro- or nanoseconds when the number is too large to be seconds).

Bad input is counted, never fatal: a line that is not a JSON object, has no time or an
unreadable one, or has no client address is rejected with its 1-based line number and reason.
nginx's default escaping (``\\x22`` for a quote, when the ``log_format`` lacks
``escape=json``) is not JSON; such lines are read with the escape kept as text.

Parsing is vectorised: each chunk of lines goes to Polars ``read_ndjson`` with a schema of
the keys above that the chunk uses (seen in a sample of its lines), all read as text
(numbers keep their exact digits; a value of the wrong type becomes null instead of failing
the chunk). Only a chunk holding invalid JSON is checked line by line, to find and reject
the bad lines.

>>> import tempfile, pathlib, pyarrow as pa
>>> from surgescope.sources.base import Rejections
>>> p = pathlib.Path(tempfile.mkdtemp()) / "caddy.log"
>>> _ = p.write_text('{"ts":1741597200.5,"request":{"remote_ip":"10.0.0.1","method":"GET",'
...                  '"uri":"/a","proto":"HTTP/2.0","headers":{"User-Agent":["curl/8"]}},'
...                  '"status":200,"size":512,"duration":0.002}\\n{oops\\n')
>>> rej = Rejections()
>>> t = pa.Table.from_batches(read(p, rej))
>>> t.column("ts")[0].as_py().isoformat(), t.column("user_agent")[0].as_py(), rej.samples[0].where
('2025-03-10T09:00:00.500000+00:00', 'curl/8', 2)
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from surgescope.sources.accesslog import (
    CHUNK_BYTES,
    MAX_LINE_BYTES,
    Transform,
    epoch_ns,
    guarded,
    in_ns_range,
    iso_time,
    line_batches,
    ordered_map,
    split_requests,
    too_long,
)
from surgescope.sources.base import Rejections

#: column -> keys in order of preference ("request.x" is inside Caddy's request object).
MAPPING: dict[str, list[str]] = {
    "ts": ["time_iso8601", "time_local", "msec", "@timestamp", "timestamp", "StartUTC", "time", "request_creation_time", "ts"],
    "src_ip": ["remote_addr", "client_ip", "clientip", "ClientHost", "request.client_ip", "request.remote_ip",
               "client:port", "ClientAddr", "id.orig_h", "src_ip", "c-ip", "remote_ip", "ip"],
    "method": ["request_method", "method", "request.method", "RequestMethod", "request_verb", "cs-method"],
    "path": ["request_uri", "uri", "request.uri", "RequestPath", "request_url", "path", "url", "cs-uri-stem"],
    "protocol": ["server_protocol", "protocol", "request.proto", "RequestProtocol", "request_proto"],
    "status": ["status", "status_code", "elb_status_code", "DownstreamStatus", "sc-status"],
    "bytes": ["body_bytes_sent", "bytes_sent", "size", "DownstreamContentSize", "sent_bytes", "response_body_len", "bytes"],
    "referer": ["http_referer", "referer", "referrer", "request.headers.Referer", "request_Referer", "cs(Referer)"],
    "user_agent": ["http_user_agent", "user_agent", "useragent", "request.headers.User-Agent", "request_User-Agent", "cs(User-Agent)"],
    "host": ["host", "http_host", "server_name", "request.host", "RequestHost", "domain_name", "vhost"],
}

# json.loads raises RecursionError, not ValueError, on deeply nested input.
_BAD_JSON = (ValueError, RecursionError)

#: Keys whose value is "address:port".
WITH_PORT = {"client:port", "ClientAddr"}
#: Duration keys -> factor to seconds.
DURATIONS = {"request_time": 1.0, "duration": 1.0, "Duration": 1e-9}
ALB_TIMES = ["request_processing_time", "target_processing_time", "response_processing_time"]

_TOP = sorted({k for keys in MAPPING.values() for k in keys if not k.startswith("request.")} | set(DURATIONS) | set(ALB_TIMES) | {"request"})
_CADDY_REQUEST = pl.Struct(
    {
        "client_ip": pl.String, "remote_ip": pl.String, "method": pl.String, "uri": pl.String,
        "proto": pl.String, "host": pl.String,
        "headers": pl.Struct({"User-Agent": pl.List(pl.String), "Referer": pl.List(pl.String)}),
    }
)
_HTTP_KEYS = set(MAPPING["method"] + MAPPING["path"] + MAPPING["status"] + MAPPING["user_agent"] + ["request"])


def _flat_keys(obj: dict) -> set[str]:
    keys = set(obj)
    req = obj.get("request")
    if isinstance(req, dict):
        keys |= {"request." + k for k in req}
        headers = req.get("headers")
        if isinstance(headers, dict):
            keys |= {"request.headers." + k for k in headers}
    return keys


def sniff(head: bytes) -> bool:
    """Is the first line a JSON object with a time, a client address and an HTTP field?

    Crowd-report JSON (time, count, service, region) and Zeek ``conn.log`` have no HTTP
    field and are left to their readers.
    """
    for line in head.split(b"\n")[:20]:
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except _BAD_JSON:
            return False
        if not isinstance(obj, dict):
            return False
        keys = _flat_keys(obj)
        return bool(keys & set(MAPPING["ts"]) and keys & set(MAPPING["src_ip"]) and keys & _HTTP_KEYS)
    return False


def _read_objects(lines: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Lines -> (frame of ``n`` + every mapped key as text, rejected ``n, reason, line``)."""
    text = lines["line"].str.strip_chars()
    blank = text.str.len_bytes() == 0
    brace = text.str.starts_with("{")
    obj = brace & text.str.ends_with("}")
    reason = pl.when(pl.col("brace")).then(pl.lit("invalid JSON")).otherwise(pl.lit("not a JSON object"))
    rejected = [lines.with_columns(brace=brace).filter(~blank & ~obj).select("n", reason.alias("reason"), "line")]
    lines = lines.filter(obj)
    try:
        df = _ndjson(lines)
    except pl.exceptions.PolarsError:
        # Somewhere in the chunk a line is not valid JSON: find those lines, one by one.
        bad, reasons, fixed, repaired = [], [], [], []
        for i, line in enumerate(lines["line"].to_list()):
            reason = _check(line)
            if reason == "invalid JSON" and "\\x" in line:
                # nginx without escape=json writes a quote as \x22, which JSON does not allow:
                # read the escape as text (as the text reader leaves \xHH), if that is all.
                again = line.replace("\\x", "\\\\x")
                if _check(again) is None:
                    fixed.append(i)
                    repaired.append(again)
                    continue
            if reason is not None:
                bad.append(i)
                reasons.append(reason)
        if fixed:
            lines = lines.with_columns(lines["line"].scatter(fixed, pl.Series(repaired, dtype=pl.String)))
        mask = np.ones(lines.height, dtype=bool)
        mask[bad] = False
        rejected.append(
            lines.filter(~pl.Series(mask)).select("n", pl.Series("reason", reasons, dtype=pl.String), "line")
        )
        lines = lines.filter(pl.Series(mask))
        try:
            df = _ndjson(lines)
        except pl.exceptions.PolarsError:
            df, more = _one_by_one(lines)
            rejected.append(more)
    return df, pl.concat(rejected)


def _check(line: str) -> str | None:
    """Why a line is no JSON object, or None if it is one."""
    try:
        return None if isinstance(json.loads(line), dict) else "not a JSON object"
    except _BAD_JSON:
        return "invalid JSON"


def _keys_present(lines: pl.DataFrame, sample: int = 64) -> dict[str, pl.DataType]:
    """Schema of the mapped keys seen in a sample of lines (first, middle and last ones).

    ``read_ndjson`` costs grow with the schema: the 71 known keys cost 3.5x the 9 keys of an
    nginx line, so each chunk asks only for the keys its lines use.
    """
    n = lines.height
    idx = sorted(set(range(min(sample, n))) | set(range(max(0, n - sample), n)) | set(range(0, n, max(1, n // sample))))
    seen: set[str] = set()
    for line in lines["line"].gather(idx).to_list():
        try:
            obj = json.loads(line)
        except _BAD_JSON:
            continue
        if isinstance(obj, dict):
            seen |= obj.keys()
    return {k: pl.String() for k in _TOP if k in seen}


def _ndjson(lines: pl.DataFrame) -> pl.DataFrame:
    schema = _keys_present(lines) if lines.height else {}
    if not schema:
        return lines.with_columns(pl.lit(None, pl.String).alias("request"))
    # Lines keep their newline (see accesslog.line_batches), so joining them rebuilds NDJSON.
    data = lines.select(pl.col("line").str.join("")).item()
    df = pl.read_ndjson(io.BytesIO(data.encode()), schema=schema, ignore_errors=True)
    if df.height != lines.height:
        raise pl.exceptions.ComputeError("line count changed")
    return pl.concat([lines, df], how="horizontal")


def _one_by_one(lines: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Last resort for a chunk ``read_ndjson`` refuses as a whole."""
    good, bad = [], []
    for row in lines.iter_slices(1):
        try:
            good.append(_ndjson(row))
        except pl.exceptions.PolarsError:
            bad.append(row.select("n", pl.lit("unreadable JSON").alias("reason"), "line"))
    empty_rej = pl.DataFrame(schema={"n": pl.Int64, "reason": pl.String, "line": pl.String})
    return (pl.concat(good, how="diagonal_relaxed") if good else _ndjson(lines.clear())), (pl.concat(bad) if bad else empty_rej)


def _value(e: pl.Expr) -> pl.Expr:
    """Empty, "-" and JSON null are all missing."""
    return pl.when((e == "") | (e == "-")).then(None).otherwise(e)


def _times(text: pl.Expr) -> pl.Expr:
    """Text time in any of the supported forms -> UTC nanoseconds."""
    num = text.cast(pl.Float64, strict=False)
    scale = pl.when(num.abs() < 1e11).then(1e9).when(num.abs() < 1e14).then(1e6).when(num.abs() < 1e17).then(1e3).otherwise(1.0)
    exact = epoch_ns(text)  # decimal digits, exact; the float form catches "1.7e9"
    epoch = pl.coalesce(exact, (num * scale).cast(pl.Int64, strict=False).cast(pl.Datetime("ns", "UTC")))
    clf = in_ns_range(text.str.to_datetime("%d/%b/%Y:%H:%M:%S %z", strict=False, time_unit="us"))
    iso = iso_time(text)
    return pl.coalesce(epoch, clf, iso)


def _decode_requests(texts: pl.Series) -> pl.DataFrame:
    """Caddy request objects (JSON text) -> frame of their fields; undecodable ones null."""
    try:
        return texts.str.json_decode(_CADDY_REQUEST).struct.unnest()
    except pl.exceptions.PolarsError:
        # A text value that merely starts with "{": decode row by row, keeping what parses.
        rows = []
        for t in texts.to_list():
            try:
                obj = json.loads(t) if t else None
            except _BAD_JSON:
                obj = None
            rows.append(json.dumps(obj) if isinstance(obj, dict) else None)
        return pl.Series(rows, dtype=pl.String).str.json_decode(_CADDY_REQUEST).struct.unnest()


def _to_requests(df: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Frame of key texts -> (requests columns with ``src_ip`` text, rejected)."""
    if "request" not in df.columns:
        df = df.with_columns(pl.lit(None, pl.String).alias("request"))
    nested = df["request"].str.starts_with("{")
    if nested.any():
        # Caddy: "request" is an object, which read_ndjson hands over as JSON text.
        caddy = _decode_requests(df["request"].zip_with(nested, pl.Series([None], dtype=pl.String)))
        df = df.with_columns(
            df["request"].zip_with(~nested, pl.Series([None], dtype=pl.String)).alias("request"),
            *[caddy[f].alias("request." + f) for f in ("client_ip", "remote_ip", "method", "uri", "proto", "host")],
            caddy["headers"].struct.field("User-Agent").list.first().alias("request.headers.User-Agent"),
            caddy["headers"].struct.field("Referer").list.first().alias("request.headers.Referer"),
        )
    cols = set(df.columns)

    def first(column: str) -> pl.Expr:
        exprs = []
        for k in MAPPING[column]:
            if k not in cols:
                continue
            e = _value(pl.col(k))
            if k in WITH_PORT:
                e = e.str.replace(r"^\[?([^\]]*?)\]?:\d+$", "$1")
            exprs.append(e)
        return pl.coalesce(exprs) if exprs else pl.lit(None, pl.String)

    durations = [pl.col(k).cast(pl.Float64, strict=False) * f for k, f in DURATIONS.items() if k in cols]
    if all(k in cols for k in ALB_TIMES):
        alb = [pl.col(k).cast(pl.Float64, strict=False) for k in ALB_TIMES]
        durations.append(pl.when(pl.all_horizontal(a >= 0 for a in alb)).then(pl.sum_horizontal(alb)))
    duration = pl.coalesce(durations) if durations else pl.lit(None, pl.Float64)
    ts_text = first("ts")
    out = df.lazy().select(
        "n",
        "line",
        ts_text.alias("ts_text"),
        _times(ts_text).alias("ts"),
        first("src_ip").alias("ip"),
        first("method").alias("method"),
        first("path").alias("path"),
        first("protocol").alias("protocol"),
        _value(pl.col("request")).alias("request"),
        first("status").cast(pl.Float64, strict=False).cast(pl.Int32, strict=False).alias("status"),
        first("bytes").cast(pl.Float64, strict=False).cast(pl.Int64, strict=False).alias("bytes"),
        first("referer").alias("referer"),
        first("user_agent").alias("user_agent"),
        first("host").alias("host"),
        duration.alias("duration_s"),
    ).collect()
    out = split_requests(out)
    rejected = pl.concat([
        out.filter(pl.col("ts_text").is_null()).select("n", pl.lit("no time").alias("reason"), "line"),
        out.filter(pl.col("ts_text").is_not_null() & pl.col("ts").is_null()).select("n", pl.lit("bad timestamp").alias("reason"), "line"),
        out.filter(pl.col("ts").is_not_null() & pl.col("ip").is_null()).select("n", pl.lit("no client address").alias("reason"), "line"),
    ])
    good = out.filter(pl.col("ts").is_not_null() & pl.col("ip").is_not_null()).rename({"ip": "src_ip"})
    return good.drop("n", "line", "ts_text", "request"), rejected


def parse_lines(lines: pl.DataFrame, max_line: int = MAX_LINE_BYTES) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One frame of lines -> (requests with ``src_ip`` text, rejected ``n, reason, line``)."""
    over = too_long(lines, max_line)
    long = lines.filter(over).select("n", pl.lit("line too long").alias("reason"), pl.col("line").str.slice(0, 200))
    objs, rej1 = _read_objects(lines.filter(~over).select("n", "line"))
    req, rej2 = _to_requests(objs)
    rej = pl.concat([long, rej1, rej2]).sort("n").with_columns(pl.col("line").str.strip_chars_end("\r\n"))
    return req, rej


def read(
    path: str | Path,
    rejections: Rejections,
    *,
    max_line: int = MAX_LINE_BYTES,
    chunk_bytes: int = CHUNK_BYTES,
    transform: Transform | None = None,
    **_ignored: object,
) -> Iterator[pa.RecordBatch]:
    """Stream a JSON-lines access log as :data:`~surgescope.schema.REQUESTS` batches;
    ``transform`` as for the text formats (:func:`surgescope.sources.accesslog.guarded`)."""

    work = guarded(lambda lines: parse_lines(lines, max_line=max_line), transform)
    yield from ordered_map(work, line_batches(path, rejections, max_line=max_line, chunk_bytes=chunk_bytes), rejections)
