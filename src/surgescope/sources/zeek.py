"""Zeek ``conn.log`` -> FLOWS, in both of Zeek's encodings.

- TSV (Zeek's default ASCII writer): ``#separator \\x09``, ``#set_separator``, ``#empty_field``,
  ``#unset_field``, ``#path``, ``#open``, ``#fields``, ``#types`` header lines, then one
  tab-separated record per line, ``#close`` at the end. Columns are found by the ``#fields``
  names; ``-`` (the unset field) is null. Header lines may reappear mid-file (concatenated logs)
  and are re-read.
- JSON lines (``LogAscii::use_json=T``): ``{"ts": 1320279566.45, "id.orig_h": "10.0.0.1", ...}``;
  ``ts`` is epoch seconds or ISO-8601 (``LogAscii::json_timestamps``). Absent keys are null.

Field mapping (Zeek -> FLOWS):

=========================================== ==================================================
``ts`` (epoch seconds, UTC)                 ``ts``
``duration`` (seconds)                      ``duration_s``
``id.orig_h`` / ``id.resp_h``               ``src_ip`` / ``dst_ip`` (originator -> responder)
``id.orig_p`` / ``id.resp_p``               ``src_port`` / ``dst_port`` (ICMP: type / code)
``proto`` (``tcp``/``udp``/``icmp``)        ``proto`` (6 / 17 / 1; 58 for ICMP from IPv6)
``orig_pkts`` + ``resp_pkts``               ``packets``; ``orig_pkts`` -> ``fwd_packets``
``orig_ip_bytes`` + ``resp_ip_bytes``       ``bytes`` (IP-level); ``orig_ip_bytes`` ->
                                            ``fwd_bytes``
``conn_state`` (``S0``, ``SF``, ``REJ`` ...)  ``state``
``history``                                 ``syn/ack/rst/fin_count`` (approximate, below)
=========================================== ==================================================

Flag counts from ``history`` are lower bounds. Zeek writes one letter per event, upper case for
the originator and lower case for the responder, and repeats ``s``, ``h``, ``f`` and ``r`` only
when a new one with a different sequence number is seen, while ``a`` is written at most once
per direction. So ``syn_count`` counts ``s``/``S`` and ``h``/``H`` (a SYN-ACK carries SYN),
``ack_count`` counts ``a``/``A`` and ``h``/``H`` (at most a few per flow, however many ACKs
flowed), ``rst_count`` counts ``r``/``R`` and ``fin_count`` counts ``f``/``F``. A SYN flood's
``S0`` flows come out as one SYN each, which is what the attack detectors need.

>>> sniff(b"#separator \\\\x09\\n#set_separator\\t,\\n#empty_field\\t(empty)\\n#unset_field\\t-\\n#path\\tconn\\n")
True
>>> sniff(b'{"ts":1320279566.45,"uid":"C1","id.orig_h":"10.0.0.1","id.orig_p":5,"id.resp_h":"10.0.0.2"}\\n')
True
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa

from surgescope.sources.base import InputError, Rejections, open_binary
from surgescope.sources.delimited import (
    CHUNK_BYTES,
    MAX_LINE,
    Excerpt,
    clean_lines,
    parse_chunk,
    parse_json_chunk,
    parse_times,
    raw_chunks,
    reject_where,
    split_fields,
    to_float,
    to_int,
    unconverted,
    with_ints,
)
from surgescope.sources.flowrows import finish_flows

FIELDS = ("ts", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "duration",
          "conn_state", "history", "orig_pkts", "resp_pkts", "orig_ip_bytes", "resp_ip_bytes")
REQUIRED = ("ts", "id.orig_h", "id.resp_h")
PROTOCOLS = {"tcp": 6, "udp": 17, "icmp": 1, "icmp6": 58, "sctp": 132}


def sniff(head: bytes) -> bool:
    """Zeek TSV header (``#separator`` then a ``conn`` path or ``#fields`` with ``id.orig_h``),
    or a JSON object line with ``id.orig_h`` and ``id.resp_h``."""
    text = head.lstrip(b"\xef\xbb\xbf")
    if text.startswith(b"#separator"):
        return b"#path\tconn" in text or (b"#fields\t" in text and b"id.orig_h" in text)
    first = text.split(b"\n", 1)[0].strip()
    if not first.startswith(b"{"):
        return False
    try:
        obj = json.loads(first)
    except ValueError:
        # The head may cut a long first line; fall back to the key names.
        return b'"id.orig_h"' in first and b'"id.resp_h"' in first
    return isinstance(obj, dict) and "id.orig_h" in obj and "id.resp_h" in obj


def read(path: str | Path, rejections: Rejections, chunk_size: int = CHUNK_BYTES,
         **_: object) -> Iterator[pa.RecordBatch]:
    """Stream FLOWS batches from a Zeek conn.log (TSV or JSON lines, gzip accepted).

    Chunks without header lines (all but the first and last of a big log) take the fast
    numpy + ``read_csv`` path of :func:`~surgescope.sources.delimited.parse_chunk`; JSON lines
    go through Polars' NDJSON reader.
    """
    with open_binary(path) as f:
        mode: str | None = None  # "tsv" or "json", from the first non-blank line
        state = {"sep": "\t", "unset": "-", "names": None}
        for body, first in raw_chunks(f, rejections, chunk_size):
            if mode is None:
                s = body.lstrip().lstrip(b"\xef\xbb\xbf")
                if not s:
                    continue
                # Zeek's TSV always opens with its #separator header; anything else is JSON
                # lines (a bad first line is then rejected, not taken for another format).
                mode = "tsv" if s.startswith(b"#") else "json"
            if mode == "json":
                df, excerpt = parse_json_chunk(body, first, FIELDS, rejections)
                batch = _convert(df, rejections, excerpt)
                if batch is not None:
                    yield batch
            else:
                # Header lines at the start and end of a chunk (a log's head, its #close) are
                # applied here so the records between them can take the fast path.
                while body.startswith(b"#"):
                    nl = body.find(b"\n")
                    _apply(state, body[: len(body) if nl < 0 else nl])
                    body, first = (b"", first + 1) if nl < 0 else (body[nl + 1 :], first + 1)
                tail = []
                while body:
                    nl = body.rfind(b"\n")
                    if not body[nl + 1 :].startswith(b"#"):
                        break
                    tail.append(body[nl + 1 :])
                    body = body[:nl] if nl >= 0 else b""
                if body and state["names"] is not None and b"\n#" not in body:
                    yield from _tsv_fast(body, first, state, rejections, path)
                elif body:
                    yield from _tsv_slow(clean_lines(body.split(b"\n"), first, rejections, MAX_LINE), state, rejections, path)
                for line in reversed(tail):
                    _apply(state, line)


def _apply(state: dict, line: bytes) -> None:
    state["sep"], state["unset"], state["names"] = _directive(
        line.decode("utf-8", "replace").rstrip("\r"), state["sep"], state["unset"], state["names"])


def _tsv_fast(body: bytes, first: int, state: dict, rejections: Rejections, path: str | Path) -> Iterator[pa.RecordBatch]:
    names = state["names"]
    _check_fields(names, path)
    present = {k: names.index(k) for k in FIELDS if k in names}
    keep = sorted(present, key=present.__getitem__)
    df, excerpt = parse_chunk(body, first, len(names), [present[k] for k in keep], keep, state["sep"], False, rejections)
    batch = _convert(_tsv_columns(df, state["unset"]), rejections, excerpt)
    if batch is not None:
        yield batch


def _tsv_slow(lines: pl.DataFrame, state: dict, rejections: Rejections, path: str | Path) -> Iterator[pa.RecordBatch]:
    """Lines with header directives among them (the head and tail of a log, concatenated logs)."""
    if lines.height == 0:
        return
    is_meta = lines["text"].str.starts_with("#")
    seg = lines.with_columns(_seg=is_meta.cast(pl.Int64).cum_sum())
    for (_, grp) in seg.group_by("_seg", maintain_order=True):
        for text in grp.filter(pl.col("text").str.starts_with("#"))["text"].to_list():
            state["sep"], state["unset"], state["names"] = _directive(text, state["sep"], state["unset"], state["names"])
        body = grp.filter(~pl.col("text").str.starts_with("#")).drop("_seg")
        if body.height == 0:
            continue
        names = state["names"]
        if names is None:
            raise InputError(f"{path}: Zeek TSV without a #fields header")
        _check_fields(names, path)
        pos = [f"c{i}" for i in range(len(names))]
        present = {k: f"c{names.index(k)}" for k in FIELDS if k in names}
        raw = split_fields(body, pos, state["sep"], rejections, keep=sorted(set(present.values()), key=lambda c: int(c[1:])), quoting=False)
        raw = raw.rename({v: k for k, v in present.items()})
        batch = _convert(_tsv_columns(raw, state["unset"]), rejections)
        if batch is not None:
            yield batch


def _check_fields(names: list[str], path: str | Path) -> None:
    if not all(k in names for k in REQUIRED):
        raise InputError(f"{path}: not a Zeek conn.log (#fields lacks {', '.join(k for k in REQUIRED if k not in names)})")


def _tsv_columns(df: pl.DataFrame, unset: str) -> pl.DataFrame:
    """All FIELDS present; Zeek's unset marker (``-``) becomes null."""
    df = df.with_columns([pl.lit(None, dtype=pl.String).alias(k) for k in FIELDS if k not in df.columns])
    return df.with_columns([pl.when(pl.col(k) != unset).then(pl.col(k)).alias(k) for k in FIELDS])


def _directive(text: str, sep: str, unset: str, names: list[str] | None) -> tuple[str, str, list[str] | None]:
    """Apply one ``#...`` header line (``#separator`` uses \\xHH escapes)."""
    if text.startswith("#separator"):
        value = text[len("#separator"):].strip(" ")
        sep = re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), value) or "\t"
    elif text.startswith("#unset_field"):
        unset = text.split(sep, 1)[1] if sep in text else unset
    elif text.startswith("#fields"):
        names = text.split(sep)[1:]
    return sep, unset, names


def _letters(pattern: str) -> pl.Expr:
    return pl.col("history").str.count_matches(pattern).cast(pl.Int64)


def _convert(df: pl.DataFrame, rejections: Rejections, excerpt: Excerpt | None = None) -> pa.RecordBatch | None:
    if df.height == 0:
        return None
    proto = pl.col("proto").str.strip_chars().str.to_lowercase()
    df = with_ints(df, {"_sp": "id.orig_p", "_dp": "id.resp_p", "_op": "orig_pkts", "_rp": "resp_pkts",
                        "_ob": "orig_ip_bytes", "_rb": "resp_ip_bytes"})
    df = df.with_columns(
        _pr=pl.coalesce(to_int("proto"), proto.replace_strict(PROTOCOLS, default=None, return_dtype=pl.Int64)),
        _dur=to_float("duration"),
    )
    df = df.with_columns(_ts=parse_times(df["ts"]))
    df = reject_where(df, [
        ("bad ts", unconverted("ts", "_ts")),
        ("unknown proto", unconverted("proto", "_pr") | ~pl.col("_pr").is_between(0, 255)),
        ("bad duration: not a number", unconverted("duration", "_dur")),
        ("bad id.orig_p", unconverted("id.orig_p", "_sp") | ~pl.col("_sp").is_between(0, 65535)),
        ("bad id.resp_p", unconverted("id.resp_p", "_dp") | ~pl.col("_dp").is_between(0, 65535)),
        ("bad packet count", unconverted("orig_pkts", "_op") | unconverted("resp_pkts", "_rp")),
        ("bad byte count", unconverted("orig_ip_bytes", "_ob") | unconverted("resp_ip_bytes", "_rb")),
    ], rejections, excerpt)
    v6 = pl.col("id.orig_h").str.contains(":", literal=True)
    out = df.select(
        "line", *(["text"] if "text" in df.columns else []),
        pl.col("_ts").alias("ts"),
        pl.when(pl.col("_dur") >= 0).then(pl.col("_dur")).alias("duration_s"),
        pl.col("id.orig_h").str.strip_chars().alias("src_ip"),
        pl.col("id.resp_h").str.strip_chars().alias("dst_ip"),
        pl.when((pl.col("_pr") == 1) & v6).then(58).otherwise(pl.col("_pr")).alias("proto"),
        pl.col("_sp").alias("src_port"), pl.col("_dp").alias("dst_port"),
        (pl.col("_op") + pl.col("_rp")).alias("packets"),
        (pl.col("_ob") + pl.col("_rb")).alias("bytes"),
        pl.col("_op").alias("fwd_packets"), pl.col("_ob").alias("fwd_bytes"),
        _letters("[sShH]").alias("syn_count"), _letters("[aAhH]").alias("ack_count"),
        _letters("[rR]").alias("rst_count"), _letters("[fF]").alias("fin_count"),
        pl.col("conn_state").alias("state"),
    )
    return finish_flows(out, rejections, excerpt)
