"""nfdump CSV (``nfdump -r FILE -o csv``) -> FLOWS.

Two header dialects exist, both accepted (columns are found by name, so extra or reordered
columns and ``-o csv:<format>`` exports work too):

- nfdump 1.6.x and 1.7.0-1.7.4: ``ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,...``
  with times ``2017-06-29 08:39:35`` (1.7: ``.123`` milliseconds added), the protocol as a name
  (``TCP``) and the flags as letters (``...A..S.``, 6 or 8 positions).
- nfdump 1.7.5 and later: ``firstSeen,duration,proto,srcAddr,srcPort,dstAddr,dstPort,packets,
  bytes,flows`` (the predefined ``-o csv``; user formats add ``lastSeen``, ``inPackets``,
  ``outBytes``, ``flags`` ...), the protocol as a number.

With ``-q`` nfdump prints neither the header nor the summary; such a file is recognised by its
records (two times and a duration first, 48 fields) and read with the 1.6/1.7 layout.

In CSV mode nfdump appends a summary block (``Summary`` / ``flows,bytes,packets,avg_bps,...`` /
numbers): reading stops at the ``Summary`` line, which is not counted as a rejection.

Field mapping: ``ts``/``firstSeen`` -> ``ts``; ``td``/``duration`` (seconds) -> ``duration_s``;
``sa``/``da`` -> addresses; ``sp``/``dp`` -> ports (null for ICMP, where nfdump prints
``type.code``); ``pr`` -> ``proto`` (names mapped to numbers); ``ipkt``+``opkt`` -> ``packets``
and ``ibyt``+``obyt`` -> ``bytes`` (a missing ``out`` column counts 0); ``ipkt``/``ibyt`` ->
``fwd_packets``/``fwd_bytes``; ``flg`` -> ``syn/ack/rst/fin_count`` as 0/1: NetFlow keeps the
OR of the flags seen in the flow, not how many packets carried each, so 1 means "seen".

Time zone: nfdump prints times in the local zone of the machine that ran it, without an offset.
They are read as UTC (run ``TZ=UTC nfdump ...``), or in ``tz`` when given (an IANA zone name).

>>> sniff(b"ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt\\n")
True
>>> sniff(b"firstSeen,duration,proto,srcAddr,srcPort,dstAddr,dstPort,packets,bytes,flows\\n")
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
    to_float,
    to_int,
    unconverted,
    with_ints,
)
from surgescope.sources.flowrows import finish_flows

#: canonical field -> header names in nfdump 1.6/1.7 (short tokens) and 1.7.5+ (long names).
COLUMNS: dict[str, tuple[str, ...]] = {
    "ts": ("ts", "firstSeen"),
    "td": ("td", "duration"),
    "sa": ("sa", "srcAddr"),
    "da": ("da", "dstAddr"),
    "sp": ("sp", "srcPort"),
    "dp": ("dp", "dstPort"),
    "pr": ("pr", "proto"),
    "flg": ("flg", "flags"),
    "ipkt": ("ipkt", "inPackets", "packets", "pkt"),
    "ibyt": ("ibyt", "inBytes", "bytes", "byt"),
    "opkt": ("opkt", "outPackets"),
    "obyt": ("obyt", "outBytes"),
}
REQUIRED = ("ts", "sa", "da")

#: Protocol names nfdump prints (its own table, upper case) -> IANA numbers.
PROTOCOLS = {
    "ICMP": 1, "IGMP": 2, "GGP": 3, "IPIP": 4, "ST": 5, "TCP": 6, "EGP": 8, "IGP": 9, "UDP": 17,
    "IPV6": 41, "RSVP": 46, "GRE": 47, "ESP": 50, "AH": 51, "ICMP6": 58, "IPV6-ICMP": 58,
    "EIGRP": 88, "OSPF": 89, "ETHERIP": 97, "PIM": 103, "VRRP": 112, "L2TP": 115, "SCTP": 132,
}


#: The fixed ``-o csv`` layout of nfdump 1.6 and 1.7.0-1.7.4 (its header line).
NFDUMP16_FIELDS = (
    "ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,sas,das,smk,dmk,dtos,dir,nh,nhb,"
    "svln,dvln,ismc,odmc,idmc,osmc,mpls1,mpls2,mpls3,mpls4,mpls5,mpls6,mpls7,mpls8,mpls9,mpls10,cl,sl,"
    "al,ra,eng,exid,tr"
).split(",")

#: A record of that layout: two times and a duration lead every line.
HEADERLESS = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?,\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?,\d+(?:\.\d+)?,")


def header_map(fields: list[str]) -> dict[str, int]:
    names = [f.strip() for f in fields]
    out: dict[str, int] = {}
    for canon, spellings in COLUMNS.items():
        for s in spellings:
            if s in names:
                out[canon] = names.index(s)
                break
    return out


def sniff(head: bytes) -> bool:
    """First line is an nfdump CSV header (either dialect)."""
    first = head.lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0].decode("utf-8", "replace").strip()
    if first.startswith("ts,te,td,sa,da,sp,dp,pr"):
        return True
    if HEADERLESS.match(first) and first.count(",") == len(NFDUMP16_FIELDS) - 1:
        return True
    cols = header_map(first.split(","))
    return first.startswith("firstSeen,") and {"ts", "sa", "da"} <= cols.keys()


def read(path: str | Path, rejections: Rejections, tz: str = "UTC", chunk_size: int = CHUNK_BYTES,
         **_: object) -> Iterator[pa.RecordBatch]:
    """Stream FLOWS batches from ``nfdump -o csv`` output; naive times are taken in ``tz``."""
    with open_binary(path) as f:
        d = DelimitedFile(f, rejections, ",", quoting=False, chunk_size=chunk_size)
        if d.header is None:
            return
        cols = header_map(d.header)
        if not cols and HEADERLESS.match(",".join(d.header)) and len(d.header) == len(NFDUMP16_FIELDS):
            # `nfdump -q -o csv` prints neither header nor summary: the 1.6/1.7 default layout.
            d.no_header()
            d.header = list(NFDUMP16_FIELDS)
            cols = header_map(d.header)
        for raw, excerpt in d.columns(cols, REQUIRED, f"{path}: not an nfdump CSV", stop="Summary"):
            batch = _convert(raw, cols, rejections, tz, excerpt)
            if batch is not None:
                yield batch


def _flag(letter: str, bit: int) -> pl.Expr:
    """1 if the flag is set: letter form (``.A..S.``) or numeric form (decimal or ``0x``)."""
    raw = pl.col("flg").str.strip_chars()
    as_num = pl.col("_flg")
    return (
        pl.when(as_num.is_not_null()).then(((as_num // bit) % 2).cast(pl.Int64))
        .when(raw.is_not_null()).then(raw.str.contains(letter, literal=True).cast(pl.Int64))
    )


def _convert(df: pl.DataFrame, cols: dict[str, int], rejections: Rejections, tz: str, excerpt: Excerpt) -> pa.RecordBatch | None:
    if df.height == 0:
        return None

    def col(c: str) -> pl.Expr:
        return pl.col(c) if c in cols else pl.lit(None, dtype=pl.String).alias(c)

    df = df.with_columns([col(c) for c in COLUMNS if c not in cols])
    pr = pl.col("pr").str.strip_chars()
    df = with_ints(df, {"_sp": "sp", "_dp": "dp", "_flg": "flg", "_ipkt": "ipkt", "_ibyt": "ibyt",
                        "_opkt": "opkt", "_obyt": "obyt"})
    df = df.with_columns(
        _pr=pl.coalesce(to_int("pr"), pr.str.to_uppercase().replace_strict(PROTOCOLS, default=None, return_dtype=pl.Int64)),
        _td=to_float("td"), sa=pl.col("sa").str.strip_chars(), da=pl.col("da").str.strip_chars(),
    )
    df = df.with_columns(_ts=parse_times(df["ts"], tz=tz, formats=["%Y-%m-%d %H:%M:%S%.f"]))
    icmp = pl.col("_pr").is_in([1, 58])
    df = reject_where(df, [
        ("bad timestamp", unconverted("ts", "_ts")),
        ("unknown protocol", unconverted("pr", "_pr") | ~pl.col("_pr").is_between(0, 255)),
        ("bad duration: not a number", unconverted("td", "_td")),
        ("bad source port", ~icmp & (unconverted("sp", "_sp") | ~pl.col("_sp").is_between(0, 65535))),
        ("bad destination port", ~icmp & (unconverted("dp", "_dp") | ~pl.col("_dp").is_between(0, 65535))),
        ("bad packet count", unconverted("ipkt", "_ipkt") | unconverted("opkt", "_opkt")),
        ("bad byte count", unconverted("ibyt", "_ibyt") | unconverted("obyt", "_obyt")),
    ], rejections, excerpt)
    port_ok = ~icmp
    out = df.select(
        "line",
        pl.col("_ts").alias("ts"),
        pl.when(pl.col("_td") >= 0).then(pl.col("_td")).alias("duration_s"),
        pl.col("sa").alias("src_ip"), pl.col("da").alias("dst_ip"),
        pl.col("_pr").alias("proto"),
        pl.when(port_ok).then(pl.col("_sp")).alias("src_port"),
        pl.when(port_ok).then(pl.col("_dp")).alias("dst_port"),
        (pl.col("_ipkt") + pl.col("_opkt").fill_null(0)).alias("packets"),
        (pl.col("_ibyt") + pl.col("_obyt").fill_null(0)).alias("bytes"),
        pl.col("_ipkt").alias("fwd_packets"), pl.col("_ibyt").alias("fwd_bytes"),
        _flag("S", 2).alias("syn_count"), _flag("A", 16).alias("ack_count"),
        _flag("R", 4).alias("rst_count"), _flag("F", 1).alias("fin_count"),
    )
    return finish_flows(out, rejections, excerpt)
