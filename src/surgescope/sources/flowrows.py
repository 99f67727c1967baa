"""The last step shared by the flow readers: typed Polars columns -> one FLOWS record batch.

Each flow reader (CICFlowMeter, nfdump, Zeek) parses its own columns into a DataFrame with the
canonical names of :data:`surgescope.schema.FLOWS` (addresses as text, ``ts`` as
``Datetime(ns, UTC)``) plus ``line`` and ``text`` for the rejection account. This module checks
what every flow must have (a time, two parseable addresses), adds the 128-bit address halves
and casts to the Arrow schema.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

from surgescope import ipaddr
from surgescope.schema import FLOWS
from surgescope.sources.base import Rejections
from surgescope.sources.delimited import Excerpt, reject_where

_POLARS_TYPES = {
    "duration_s": pl.Float64, "proto": pl.UInt8, "src_port": pl.UInt16, "dst_port": pl.UInt16,
    "packets": pl.Int64, "bytes": pl.Int64, "fwd_packets": pl.Int64, "fwd_bytes": pl.Int64,
    "syn_count": pl.Int64, "ack_count": pl.Int64, "rst_count": pl.Int64, "fin_count": pl.Int64,
    "label": pl.String, "state": pl.String,
}


def finish_flows(df: pl.DataFrame, rejections: Rejections, excerpt: Excerpt | None = None) -> pa.RecordBatch | None:
    """Reject rows without a time or with an unparseable address; return the FLOWS batch.

    ``df`` needs ``line``, ``ts``, ``src_ip``, ``dst_ip``; any other FLOWS column it lacks is
    null. Returns None when no row is left.
    """
    if df.height == 0:
        return None
    src_hi, src_lo = ipaddr.from_strings(df["src_ip"])
    dst_hi, dst_lo = ipaddr.from_strings(df["dst_ip"])
    df = df.with_columns(
        src_ip_hi=pl.Series(src_hi, dtype=pl.UInt64), src_ip_lo=pl.Series(src_lo, dtype=pl.UInt64),
        dst_ip_hi=pl.Series(dst_hi, dtype=pl.UInt64), dst_ip_lo=pl.Series(dst_lo, dtype=pl.UInt64),
        _src_ok=pl.Series(ipaddr.valid(src_hi, src_lo)), _dst_ok=pl.Series(ipaddr.valid(dst_hi, dst_lo)),
    )
    df = reject_where(df, [
        ("missing or unparseable time", pl.col("ts").is_null()),
        ("bad source address", ~pl.col("_src_ok")),
        ("bad destination address", ~pl.col("_dst_ok")),
    ], rejections, excerpt)
    if df.height == 0:
        return None
    # Canonical text: the parsed address, so "010.0.0.1" or "2001:DB8::1" spellings never reach
    # reports or joins on text. Only the rare non-canonical rows are re-formatted.
    df = df.with_columns(
        src_ip=_canonical(df["src_ip"], df["src_ip_hi"], df["src_ip_lo"]),
        dst_ip=_canonical(df["dst_ip"], df["dst_ip_hi"], df["dst_ip_lo"]),
    )
    cols = []
    for f in FLOWS:
        if f.name in df.columns:
            cols.append(pl.col(f.name).cast(_POLARS_TYPES.get(f.name, df.schema[f.name]), strict=False))
        else:
            cols.append(pl.lit(None, dtype=_POLARS_TYPES.get(f.name, pl.String)).alias(f.name))
    table = df.select(cols).to_arrow().cast(FLOWS)
    return table.combine_chunks().to_batches()[0] if table.num_rows else None


#: Text that parsed as an address but is not written canonically: IPv6 (case, zero runs) or
#: IPv4 with leading zeros. Everything else already is what ipaddr.to_strings would write.
_MAYBE_ODD = r"[:A-Fa-f]|(?:^|\.)0\d"


def _canonical(text: pl.Series, hi: pl.Series, lo: pl.Series) -> pl.Series:
    """The address text as :func:`surgescope.ipaddr.to_strings` would write it."""
    odd = text.str.contains(_MAYBE_ODD)
    if not odd.any():
        return text
    idx = np.flatnonzero(odd.to_numpy())
    fixed = ipaddr.to_strings(hi.to_numpy()[idx], lo.to_numpy()[idx])
    return text.scatter(idx, pl.Series(fixed, dtype=pl.String))
