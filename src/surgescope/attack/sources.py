"""Attacking sources: exact top-N in batch, bounded-memory heavy hitters when streaming.

:func:`top_sources` is a Polars group-by (exact). :class:`SpaceSaving` is Metwally, Agrawal &
El Abbadi's Space-Saving algorithm ("Efficient computation of frequent and top-k elements in
data streams", ICDT 2005) with ``k`` counters: memory is O(k) whatever the number of
sources. Error bound: every reported count over-estimates the true count by at most
``N / k`` (``N`` = total weight seen so far), and ``error`` per entry holds that item's own
bound; any source whose true count exceeds ``N / k`` is guaranteed to be in the table.

>>> ss = SpaceSaving(k=2)
>>> for ip in ["a", "b", "a", "c", "a"]:
...     ss.add(ip)
>>> ss.top(1)[0]["ip"], int(ss.top(1)[0]["count"])
('a', 3)
>>> ss.bound()
2.5
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from surgescope.incident import iso


def top_sources(records: pl.DataFrame, n: int = 20, weight: str = "n") -> list[dict]:
    """Exact top-``n`` sources of attack records (columns src_ip, ts, size and ``weight``):
    ip, packets, bytes, share (of the weight), first_seen, last_seen."""
    if records.height == 0:
        return []
    total = records[weight].sum() or 1
    top = (
        records.group_by("src_ip")
        .agg(pl.col(weight).sum().alias("packets"), pl.col("size").sum().alias("bytes"),
             pl.col("ts").min().alias("first"), pl.col("ts").max().alias("last"))
        .sort(["packets", "bytes", "src_ip"], descending=[True, True, False])
        .head(n)
    )
    return [
        {"ip": r["src_ip"], "packets": int(r["packets"]), "bytes": int(r["bytes"]),
         "share": round(r["packets"] / total, 6), "first_seen": iso(r["first"]), "last_seen": iso(r["last"])}
        for r in top.iter_rows(named=True)
    ]


class SpaceSaving:
    """Top-k heavy hitters in O(k) memory (see the module docstring for the error bound).

    :meth:`add` is the classic one-item update. :meth:`add_many` takes a batch of per-item
    weights (e.g. a window's per-source packet counts) and merges it as a second summary, as in
    Cafaro, Pulimeno & Tempesta, "A parallel space saving algorithm for frequent items and the
    Hurwitz zeta distribution" (Information Sciences, 2016): an item missing from one summary
    counts that summary's minimum, and the top k of the union are kept; the bound N/k still
    holds. The merge is one vectorised Polars join, not a loop over items.
    """

    def __init__(self, k: int = 1000):
        self.k = k
        self.count: dict[str, float] = {}
        self.error: dict[str, float] = {}
        self.bytes: dict[str, float] = {}
        self.total = 0.0

    def add(self, item: str, weight: float = 1.0, nbytes: float = 0.0) -> None:
        self.total += weight
        if item in self.count:
            self.count[item] += weight
            self.bytes[item] += nbytes
            return
        if len(self.count) < self.k:
            self.count[item], self.error[item], self.bytes[item] = weight, 0.0, nbytes
            return
        # Replace the minimum: the newcomer inherits its count as possible over-estimate.
        victim = min(self.count, key=self.count.__getitem__)
        m = self.count.pop(victim)
        self.error.pop(victim)
        self.bytes.pop(victim)
        self.count[item], self.error[item], self.bytes[item] = m + weight, m, nbytes

    def add_many(self, items: Iterable[str], weights: Iterable[float], nbytes: Iterable[float] | None = None) -> None:
        items = list(items)
        w = [float(x) for x in weights]
        b = [0.0] * len(items) if nbytes is None else [float(x) for x in nbytes]
        if items:
            self.add_frame(pl.DataFrame({"ip": items, "count": w, "bytes": b}))

    def add_frame(self, frame: pl.DataFrame) -> None:
        """Merge a batch given as a frame with columns ip, count, bytes (no Python lists)."""
        if frame.height == 0:
            return
        batch = (
            frame.select(pl.col("ip").cast(pl.String), pl.col("count").cast(pl.Float64), pl.col("bytes").cast(pl.Float64))
            .drop_nulls("ip").group_by("ip").agg(pl.all().sum()).sort(["count", "ip"], descending=[True, False])
        )
        self.total += float(batch["count"].sum())
        # The batch as a summary of at most k items: its (k+1)-th count bounds the rest.
        m_b = float(batch["count"][self.k]) if batch.height > self.k else 0.0
        batch = batch.head(self.k).with_columns(pl.lit(0.0).alias("error"))
        table = pl.DataFrame(
            {"ip": list(self.count), "count": list(self.count.values()), "error": list(self.error.values()),
             "bytes": list(self.bytes.values())},
            schema={"ip": pl.String, "count": pl.Float64, "error": pl.Float64, "bytes": pl.Float64},
        )
        m_s = min(self.count.values()) if len(self.count) >= self.k else 0.0
        u = table.join(batch, on="ip", how="full", coalesce=True, suffix="_b")
        merged = u.select(
            "ip",
            (pl.col("count").fill_null(m_s) + pl.col("count_b").fill_null(m_b)).alias("count"),
            (pl.col("error").fill_null(m_s) + pl.col("error_b").fill_null(m_b)).alias("error"),
            (pl.col("bytes").fill_null(0.0) + pl.col("bytes_b").fill_null(0.0)).alias("bytes"),
        )
        merged = merged.sort(["count", "ip"], descending=[True, False]).head(self.k)
        ips = merged["ip"].to_list()
        self.count = dict(zip(ips, merged["count"].to_list(), strict=True))
        self.error = dict(zip(ips, merged["error"].to_list(), strict=True))
        self.bytes = dict(zip(ips, merged["bytes"].to_list(), strict=True))

    def bound(self) -> float:
        """The worst over-estimate of any count: total / k."""
        return self.total / self.k

    def top(self, n: int = 20) -> list[dict]:
        items = sorted(self.count, key=lambda i: (-self.count[i], i))[:n]
        tot = self.total or 1.0
        return [{"ip": i, "count": self.count[i], "error": self.error[i], "bytes": self.bytes[i],
                 "share": self.count[i] / tot} for i in items]
