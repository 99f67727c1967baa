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
    holds. The batch is summed and ranked by one Polars pass; the merge of the two summaries
    (at most ``k`` entries each, never the records) is one dictionary pass (measured per
    merge: 6.9 -> 5.9 ms with k = 1000, 5 -> 2.6 ms with k <= 50, against a Polars join,
    sort and conversion back; the streaming replay merges once per closing window).
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
        if frame.height <= SMALL_FRAME:
            ips, counts, sizes = _ranked_small(frame)
        else:
            batch = (
                frame.select(pl.col("ip").cast(pl.String), pl.col("count").cast(pl.Float64), pl.col("bytes").cast(pl.Float64))
                .drop_nulls("ip").group_by("ip").agg(pl.all().sum()).sort(["count", "ip"], descending=[True, False])
            )
            ips, counts, sizes = batch["ip"].to_list(), batch["count"].to_list(), batch["bytes"].to_list()
        self.total += float(sum(counts))
        # The batch as a summary of at most k items: its (k+1)-th count bounds the rest.
        m_b = float(counts[self.k]) if len(counts) > self.k else 0.0
        m_s = min(self.count.values()) if len(self.count) >= self.k else 0.0
        b_count = dict(zip(ips[: self.k], counts[: self.k], strict=True))
        b_bytes = dict(zip(b_count, sizes[: self.k], strict=True))
        count, error, nbytes = {}, {}, {}
        # An item missing from one summary counts that summary's minimum (m_s, m_b), its
        # error bound too; a batch item's own error is 0.
        for ip in self.count.keys() | b_count.keys():
            if ip in self.count:
                count[ip] = self.count[ip] + b_count.get(ip, m_b)
                error[ip] = self.error[ip] + (0.0 if ip in b_count else m_b)
                nbytes[ip] = self.bytes[ip] + b_bytes.get(ip, 0.0)
            else:
                count[ip] = m_s + b_count[ip]
                error[ip] = m_s + 0.0
                nbytes[ip] = 0.0 + b_bytes[ip]
        # The k largest counts, ties by address text (as the batch is ranked).
        keep = _by_count(count)[: self.k]
        self.count = {ip: count[ip] for ip in keep}
        self.error = {ip: error[ip] for ip in keep}
        self.bytes = {ip: nbytes[ip] for ip in keep}

    def bound(self) -> float:
        """The worst over-estimate of any count: total / k."""
        return self.total / self.k

    def top(self, n: int = 20) -> list[dict]:
        items = _by_count(self.count)[:n]
        tot = self.total or 1.0
        return [{"ip": i, "count": self.count[i], "error": self.error[i], "bytes": self.bytes[i],
                 "share": self.count[i] / tot} for i in items]


SMALL_FRAME = 4096
"""Batches up to this many rows are summed and ranked in Python: the streaming replay merges
``k + 1`` rows per closing window, for which Polars' four passes cost more than the rows
(measured per merge with k = 1000: 11-12 -> ~4 ms)."""


def _by_count(count: dict[str, float]) -> list[str]:
    """Keys by count, largest first, ties by text: two C-level sorts (the second is stable,
    ``reverse`` included) instead of one with a Python key function."""
    keys = sorted(count)
    keys.sort(key=count.__getitem__, reverse=True)
    return keys


def _ranked_small(frame: pl.DataFrame) -> tuple[list[str], list[float], list[float]]:
    """(ips, counts, bytes) of a small batch, rows of one address summed (null addresses
    dropped), ranked as :meth:`SpaceSaving.add_frame` ranks a batch."""
    count: dict[str, float] = {}
    nbytes: dict[str, float] = {}
    cols = (frame["ip"].cast(pl.String).to_list(), frame["count"].cast(pl.Float64).to_list(),
            frame["bytes"].cast(pl.Float64).to_list())
    for ip, c, b in zip(*cols, strict=True):
        if ip is None:
            continue
        if ip in count:
            count[ip] += c or 0.0
            nbytes[ip] += b or 0.0
        else:
            count[ip], nbytes[ip] = c or 0.0, b or 0.0
    ips = _by_count(count)
    return ips, [count[i] for i in ips], [nbytes[i] for i in ips]
