"""CICFlowMeter CSV (CIC-IDS2017/2018, CIC-DDoS2019 and their "improved" re-extractions) -> FLOWS.

Columns are found by name, case- and punctuation-insensitively, so the spellings of the
different CICFlowMeter versions all work (``Src IP`` / ``Source IP``, ``Total Fwd Packet`` /
``Total Fwd Packets`` / ``Tot Fwd Pkts``, leading spaces as in the original CIC-IDS2017 CSVs).

Field mapping (CICFlowMeter column -> FLOWS):

============================================== ===============================================
``Timestamp``                                  ``ts`` (flow start, see *Time zone* below)
``Flow Duration`` (microseconds)               ``duration_s`` = value / 1e6 (negative -> null)
``Src IP`` / ``Dst IP``                        ``src_ip``/``dst_ip`` (+ ``_hi``/``_lo`` halves)
``Src Port`` / ``Dst Port`` / ``Protocol``     ``src_port`` / ``dst_port`` / ``proto``
``Total Fwd Packet`` + ``Total Bwd packets``   ``packets``; the forward part is ``fwd_packets``
``Total Length of Fwd Packet`` + ``... Bwd``   ``bytes`` (payload bytes, as CICFlowMeter counts
                                               them); the forward part is ``fwd_bytes``
``SYN/ACK/RST/FIN Flag Count``                 ``syn_count``/``ack_count``/``rst_count``/
                                               ``fin_count``
``Label``                                      ``label`` (as written, e.g. ``DoS Hulk``)
============================================== ===============================================

Time zone. CICFlowMeter writes ``Timestamp`` without an offset, in the clock of whoever ran it.
The CIC-IDS2017 testbed (New Brunswick, UTC-3 in July) published its attack schedule in local
time, e.g. "DDoS LOIT Friday 7 July 15:56-16:16". In the improved re-extraction shipped in
``../shared/datasets/flows/cicids2017-improved`` (Engelen et al. 2021) the DDoS flows span
18:56:33-19:16:10 and the benign flows 11:57-20:00: exactly the published local times plus three
hours, i.e. these timestamps are already **UTC**. So naive timestamps are read as UTC by
default; pass ``tz="America/Moncton"`` (or any IANA zone) for exports written in local time,
such as the original CIC-IDS2017 CSVs.

Rows are read with Polars' CSV reader in bounded batches (see
:mod:`surgescope.sources.delimited`); a row with a wrong field count, an unparseable number,
time or address is rejected with its 1-based line number and the rest are kept.

>>> sniff(b"Flow ID,Src IP,Src Port,Dst IP,Dst Port,Protocol,Timestamp,Flow Duration\\n")
True
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa

from surgescope.sources.base import Rejections, open_binary
from surgescope.sources.delimited import (
    CHUNK_BYTES,
    DelimitedFile,
    Excerpt,
    parse_times,
    reject_where,
    unconverted,
    with_ints,
)
from surgescope.sources.flowrows import finish_flows

#: canonical field -> accepted header spellings, normalised (lower case, letters and digits only).
COLUMNS: dict[str, tuple[str, ...]] = {
    "ts": ("timestamp",),
    "duration": ("flowduration",),
    "src_ip": ("srcip", "sourceip"),
    "dst_ip": ("dstip", "destinationip"),
    "src_port": ("srcport", "sourceport"),
    "dst_port": ("dstport", "destinationport"),
    "proto": ("protocol",),
    "fwd_packets": ("totalfwdpacket", "totalfwdpackets", "totfwdpkts"),
    "bwd_packets": ("totalbwdpackets", "totalbwdpacket", "totalbackwardpackets", "totbwdpkts"),
    "fwd_bytes": ("totallengthoffwdpacket", "totallengthoffwdpackets", "totlenfwdpkts"),
    "bwd_bytes": ("totallengthofbwdpacket", "totallengthofbwdpackets", "totlenbwdpkts"),
    "syn_count": ("synflagcount", "synflagcnt"),
    "ack_count": ("ackflagcount", "ackflagcnt"),
    "rst_count": ("rstflagcount", "rstflagcnt"),
    "fin_count": ("finflagcount", "finflagcnt"),
    "label": ("label",),
}
REQUIRED = ("ts", "src_ip", "dst_ip")
_NUMERIC = ("duration", "src_port", "dst_port", "proto", "fwd_packets", "bwd_packets",
            "fwd_bytes", "bwd_bytes", "syn_count", "ack_count", "rst_count", "fin_count")


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def header_map(fields: list[str]) -> dict[str, int]:
    """canonical field -> column index, from a header line's fields (first match wins)."""
    norm = [_norm(f) for f in fields]
    out: dict[str, int] = {}
    for canon, spellings in COLUMNS.items():
        for s in spellings:
            if s in norm:
                out[canon] = norm.index(s)
                break
    return out


def sniff(head: bytes) -> bool:
    """A CSV whose first line names a flow duration, a timestamp and source/destination IPs."""
    first = head.lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0].decode("utf-8", "replace")
    if "," not in first:
        return False
    cols = header_map(first.split(","))
    return {"duration", "ts", "src_ip", "dst_ip"} <= cols.keys()


def read(path: str | Path, rejections: Rejections, tz: str = "UTC", chunk_size: int = CHUNK_BYTES,
         **_: object) -> Iterator[pa.RecordBatch]:
    """Stream FLOWS batches from a CICFlowMeter CSV; naive timestamps are taken in ``tz``."""
    with open_binary(path) as f:
        d = DelimitedFile(f, rejections, ",", chunk_size=chunk_size)
        if d.header is None:
            return
        cols = header_map(d.header)
        for raw, excerpt in d.columns(cols, REQUIRED, f"{path}: not a CICFlowMeter CSV"):
            batch = _convert(raw, cols, rejections, tz, excerpt)
            if batch is not None:
                yield batch


def _convert(df: pl.DataFrame, cols: dict[str, int], rejections: Rejections, tz: str, excerpt: Excerpt) -> pa.RecordBatch | None:
    if df.height == 0:
        return None
    present = [c for c in _NUMERIC if c in cols]
    df = with_ints(df, {f"_{c}": c for c in present})
    df = df.with_columns(_ts=parse_times(df["ts"], tz=tz, formats=["%Y-%m-%d %H:%M:%S%.f"]))
    checks = [(f"bad {c.replace('_', ' ')}: not a number", unconverted(c, f"_{c}")) for c in present]
    checks += [("bad timestamp", unconverted("ts", "_ts"))]
    checks += [(f"{c.replace('_', ' ')} out of range", pl.col(f"_{c}").is_not_null() & ~pl.col(f"_{c}").is_between(0, hi))
               for c, hi in (("src_port", 65535), ("dst_port", 65535), ("proto", 255)) if c in cols]
    df = reject_where(df, checks, rejections, excerpt)

    def num(c: str) -> pl.Expr:
        return pl.col(f"_{c}") if c in cols else pl.lit(None, dtype=pl.Int64)

    dur = num("duration")
    out = df.select(
        "line",
        pl.col("_ts").alias("ts"),
        pl.when(dur >= 0).then(dur / 1e6).alias("duration_s"),
        "src_ip", "dst_ip",
        num("proto").alias("proto"), num("src_port").alias("src_port"), num("dst_port").alias("dst_port"),
        (num("fwd_packets") + num("bwd_packets")).alias("packets"),
        (num("fwd_bytes") + num("bwd_bytes")).alias("bytes"),
        num("fwd_packets").alias("fwd_packets"), num("fwd_bytes").alias("fwd_bytes"),
        num("syn_count").alias("syn_count"), num("ack_count").alias("ack_count"),
        num("rst_count").alias("rst_count"), num("fin_count").alias("fin_count"),
        (pl.col("label").str.strip_chars() if "label" in cols else pl.lit(None, dtype=pl.String)).alias("label"),
    )
    return finish_flows(out, rejections, excerpt)
