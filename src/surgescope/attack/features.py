"""Windowed traffic features as Polars expressions over the canonical tables.

Every record (packet, flow or request) first gets a *class*: the vector it would belong to if
it were part of an attack (``classify_*``). Then three aggregate tables per time window
(``window_s``, 1 s by default) are computed, all with ``group_by`` over the window column, no
Python loop over records, so the same definitions translate to Spark:

- ``by_class``: per window, destination and class: records, bytes, distinct sources, distinct
  source ports, distinct connections, distinct destination ports, TTL spread, fragment share,
  size distribution (mean, p50, p90 of IP length).
- ``by_dst``: per window and destination: totals, TCP flag mix (SYN, SYN-ACK, ACK, RST,
  ECE/CWR), protocol mix, top source share (concentration), new sources (first seen in that
  window), plus what the destination itself *sent* in the window (SYNs, TCP packets) so that
  answers to its own traffic (SYN-ACKs, RSTs) are not taken for reflection or floods.
- ``by_client``: per window, destination and source: records, bytes, TCP records, request-like
  records and new connections to web ports: the per-client rates of HTTP floods.

For requests (access logs) ``by_dst`` also holds the status mix (5xx and 429 share), path and
user-agent concentration (share of the most common value).

>>> from surgescope.simulate.packets import generate, Phase
>>> f = packet_windows(generate([Phase("syn-flood", duration=2, rate=500)]))
>>> f.by_class.filter(pl.col("cls") == "syn-flood")["records"].sum() > 800
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl
import pyarrow as pa

from surgescope.attack import reflection
from surgescope.sources._addrtext import text_of
from surgescope.tally import path_stem, stem_is_asset

WEB_PORTS = (80, 443, 8080, 8443, 8000, 8888)
"""Destination ports counted as web (HTTP/HTTPS) service ports."""

FULL_SEGMENT = 1400
"""A request-like TCP payload is shorter than this; longer PSH segments are bulk data."""

TCP_FLAGS = {"fin": 1, "syn": 2, "rst": 4, "psh": 8, "ack": 16, "ece": 64, "cwr": 128}


@dataclass
class Windows:
    """The three aggregate tables of one input (see the module docstring)."""

    by_class: pl.DataFrame
    by_dst: pl.DataFrame
    by_client: pl.DataFrame
    table: str
    window_s: float


RECORDS = pl.len().cast(pl.Int64).alias("records")
"""A group's records: their count (every record weighs 1, ``n``; counting reads no column,
and the fast tables' records carry no ``n``)."""


def _every(window_s: float) -> str:
    return f"{int(round(window_s * 1e6))}us"


def window_col(window_s: float) -> pl.Expr:
    """The window start of each record's ``ts``."""
    return pl.col("ts").dt.truncate(_every(window_s)).alias("win")


def _key(prefix: str) -> pl.Expr:
    # One 64-bit key per address for grouping; the text form is carried alongside for reports.
    # IPv4 (hi == 0) keeps its exact lower half; IPv6 mixes in a hash of the upper half.
    hi = pl.col(f"{prefix}_ip_hi")
    return (pl.col(f"{prefix}_ip_lo") ^ pl.when(hi == 0).then(pl.lit(0, pl.UInt64)).otherwise(hi.hash(seed=7))).alias(f"{prefix}_key")


def _flag(name: str) -> pl.Expr:
    return (pl.col("tcp_flags").fill_null(0).cast(pl.UInt16) & TCP_FLAGS[name]) != 0


def classify_packets(df: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    """Add ``cls`` (candidate vector), ``req`` (request-like), ``conn`` (new connection to a web
    port) and address keys to a PACKETS frame.

    Classes: ``<service>-amplification`` (UDP from a reflection port of the table),
    ``tcp-reflection`` (SYN-ACK), ``syn-flood`` (SYN without ACK), ``rst-flood``,
    ``ack-flood`` (pure ACK, no payload, no FIN), ``udp-flood`` (other UDP), ``icmp-flood``,
    ``ip-fragment`` (a non-first fragment whose first fragment is not in the data; otherwise
    it takes the class of its first fragment, found by source, destination, protocol and IP id),
    ``web`` (TCP payload to a web port) and ``other``.
    """
    ports = reflection.vector_of_udp_port()
    # Frames without an IP layer (ARP, LLDP ... which the reader keeps with null addresses)
    # are no one's traffic. (Tested on the addresses' numbers: a reader asked for fewer
    # columns may leave the text out.)
    lf = df.lazy().filter(pl.col("src_ip_lo").is_not_null() & pl.col("dst_ip_lo").is_not_null())
    proto = pl.col("proto")
    frag_off = pl.col("frag_offset").fill_null(0)
    payload = pl.col("payload_len").fill_null(0)
    dport = pl.col("dst_port")
    web = dport.is_in(WEB_PORTS).fill_null(False)
    amp = pl.col("src_port").replace_strict(ports, default=None, return_dtype=pl.String)
    base = (
        pl.when((proto == 17) & amp.is_not_null()).then(amp)
        .when(proto == 17).then(pl.lit("udp-flood"))
        .when((proto == 1) | (proto == 58)).then(pl.lit("icmp-flood"))
        .when((proto == 6) & _flag("syn") & _flag("ack")).then(pl.lit("tcp-reflection"))
        .when((proto == 6) & _flag("syn")).then(pl.lit("syn-flood"))
        .when((proto == 6) & _flag("rst")).then(pl.lit("rst-flood"))
        .when((proto == 6) & (payload > 0) & web).then(pl.lit("web"))
        .when((proto == 6) & _flag("ack") & (payload == 0) & ~_flag("fin")).then(pl.lit("ack-flood"))
        .otherwise(pl.lit("other"))
    )
    is_frag = (frag_off > 0) | pl.col("frag_more").fill_null(False)
    lf = lf.with_columns(base.alias("cls"), is_frag.alias("frag"))
    # A non-first fragment belongs to the vector of its first fragment (same source,
    # destination, protocol and IP id). Only the (rare) fragments take part in the join.
    # A frame at hand without any is classified as is: splitting and concatenating every
    # record was 40% of classifying 1 M packets (same rows, same order).
    if not isinstance(df, pl.DataFrame) or (df["frag_offset"] > 0).any():
        frag_key = ["src_ip_hi", "src_ip_lo", "dst_ip_hi", "dst_ip_lo", "proto", "ip_id"]
        firsts = (
            lf.filter((frag_off == 0) & pl.col("frag_more").fill_null(False))
            .select(*frag_key, pl.col("cls").alias("first_cls")).unique(frag_key, keep="first")
        )
        rest = lf.filter(frag_off == 0)
        later = (
            lf.filter(frag_off > 0).join(firsts, on=frag_key, how="left", maintain_order="left")
            .with_columns(pl.coalesce("first_cls", pl.lit("ip-fragment")).alias("cls")).drop("first_cls")
        )
        lf = pl.concat([rest, later], how="vertical")
    return lf.with_columns(
        (pl.col("ip_len").cast(pl.Int64)).alias("size"),
        ((proto == 6) & _flag("psh") & (payload > 0) & (payload < FULL_SEGMENT) & web).alias("req"),
        ((proto == 6) & _flag("syn") & ~_flag("ack") & web).alias("conn"),
        *_flag_columns(),
        _key("src"), _key("dst"),
    )


def _flag_columns() -> list[pl.Expr]:
    """Per-record TCP flag indicators, summed per window (cheaper than filtered sums)."""
    tcp = pl.col("proto") == 6
    return [
        (tcp & _flag("syn") & ~_flag("ack")).alias("f_syn"),
        (tcp & _flag("syn") & _flag("ack")).alias("f_synack"),
        (tcp & _flag("ack") & ~_flag("syn")).alias("f_ack"),
        (tcp & _flag("rst")).alias("f_rst"),
        (tcp & (_flag("ece") | _flag("cwr"))).alias("f_ecn"),
    ]


def _class_detail() -> list[pl.Expr]:
    return [
        (pl.col("ttl").max().cast(pl.Int32) - pl.col("ttl").min().cast(pl.Int32)).alias("ttl_spread"),
        pl.col("frag").mean().alias("fragment_share"),
        pl.col("size").mean().alias("size_mean"),
        pl.col("size").quantile(0.5).alias("size_p50"),
        pl.col("size").quantile(0.9).alias("size_p90"),
    ]


DISTINCT_CLASSES = ("tcp-reflection", "ack-flood", "rst-flood", "udp-flood")
"""With every ``<service>-amplification``: the classes whose rules in
:func:`surgescope.attack.detect.candidates` read the distinct counts of ``by_class``
(sources, source ports, connections, destination ports); the fast tables leave them null for
the other classes."""


def _reads_distinct() -> pl.Expr:
    return pl.col("cls").is_in(DISTINCT_CLASSES) | pl.col("cls").str.ends_with("-amplification")


def _extra(table: str, cols: Sequence[str] = ("path", "user_agent")) -> list[pl.Expr]:
    if table == "requests":
        status = pl.col("status")
        out = [
            ((status >= 500) & (status < 600)).mean().alias("status_5xx_share"),
            (status == 429).mean().alias("status_429_share"),
        ]
        # Concentrations only where the text is still there (the pipeline drops it: the
        # detector does not read these, and they cost a third of the window tables).
        for col, name in (("path", "top_path_share"), ("user_agent", "top_ua_share")):
            if col in cols:
                out.append((pl.col(col).value_counts(sort=True).first().struct.field("count") / pl.len()).alias(name))
        return out
    return []


def window_tables(lf: pl.LazyFrame | pl.DataFrame, window_s: float, table: str, detail: bool = True,
                  client_ips: bool = True, by: Sequence[str] = (), engine: str = "auto") -> Windows:
    """The three window tables of an already classified frame (see :func:`classify`).

    ``detail=False`` computes only the columns the detector reads (the streaming replay's
    fast path), and the distinct counts of ``by_class`` only for :data:`DISTINCT_CLASSES`
    (null for the other classes, whose rules do not read them); the detector's inputs are
    the same expressions either way. ``client_ips=False``
    leaves the address text out of ``by_client`` (the batch analysis reads the keys only; the
    text of a million client windows was two thirds of that table's cost). ``by``: more key
    columns that split each window into separate tables, carried after ``win`` in all three
    (the streaming replay computes several evaluations of a filling window in one pass).
    ``engine``: Polars' engine for the group-bys (``streaming`` is faster on whole inputs of a
    million records and more, slower on the replay's small frames).
    """
    names = lf.columns if isinstance(lf, pl.DataFrame) else lf.collect_schema().names()
    lf = lf.lazy().with_columns(window_col(window_s))
    win = ["win", *by]
    extra_dst = _extra(table, names) if detail else []
    dst_ip = [pl.col("dst_ip").first()] if "dst_ip" in names else [pl.col(c).first() for c in DST_NUMBERS]
    # A connection key: source address and port (wrapping multiply spreads the port bits).
    conn_key = pl.col("src_key") ^ (pl.col("src_port").fill_null(0).cast(pl.UInt64) * 0x9E3779B97F4A7C15)
    conn = conn_key.n_unique()
    totals = [*dst_ip, RECORDS, pl.col("size").sum().alias("bytes")]
    distinct = [
        pl.col("src_key").n_unique().alias("sources"),
        pl.col("src_port").n_unique().alias("src_ports"),
        conn.alias("conns"),
        pl.col("dst_port").n_unique().alias("dst_ports"),
    ]
    if detail:
        by_class = lf.group_by(*win, "dst_key", "cls").agg(*totals, *distinct, *_class_detail())
    else:
        # The distinct counts (a hash set each, 60% of this table's cost) only for the classes
        # whose rules read them (DISTINCT_CLASSES); null for the others. Measured on the
        # watch bench's 1 M packets: 230 -> 160 ms.
        keys = [*win, "dst_key", "cls"]
        counted = lf.filter(_reads_distinct()).group_by(*keys).agg(*distinct)
        by_class = lf.group_by(*keys).agg(*totals).join(counted, on=keys, how="left")
    is_tcp = pl.col("proto") == 6
    dst_detail = [
        pl.col("src_key").n_unique().alias("sources"),
        (pl.col("proto") == 17).sum().alias("udp"),
        pl.col("proto").is_in([1, 58]).sum().alias("icmp"),
        pl.col("f_synack").sum().alias("synack"),
        pl.col("f_ack").sum().alias("ack"),
        pl.col("f_rst").sum().alias("rst"),
        pl.col("f_ecn").sum().alias("ece_cwr"),
        pl.col("frag").mean().alias("fragment_share"),
    ]
    # Pure ACKs that are the only packet of their connection in the window: what spoofed ACK
    # floods are made of, and what live connections (several ACKs, data, FIN) rarely show.
    lone_acks = (
        lf.filter(pl.col("proto") == 6).group_by(*win, "dst_key", conn_key.alias("conn"))
        .agg(pl.len().alias("k"), (pl.col("cls") == "ack-flood").all().alias("ack"))
        .group_by(*win, "dst_key").agg(((pl.col("k") == 1) & pl.col("ack")).sum().alias("lone_acks"))
    )
    by_dst = lf.group_by(*win, "dst_key").agg(
        *dst_ip,
        RECORDS,
        pl.col("size").sum().alias("bytes"),
        is_tcp.sum().alias("tcp"),
        pl.col("f_syn").sum().alias("syn"),
        pl.col("req").sum().alias("requests"),
        # The timeline's packet rate of flow records (``records`` counts flows).
        *([pl.col("pkts").sum().alias("packets")] if table == "flows" else []),
        *(dst_detail if detail else []),
        *extra_dst,
    )
    if detail:
        # Sources seen for the first time (in this input) in each window.
        first_seen = lf.group_by(*by, "dst_key", "src_key").agg(pl.col("win").min().alias("win"))
        new_sources = first_seen.group_by(*win, "dst_key").agg(pl.len().alias("new_sources"))
        by_dst = by_dst.join(new_sources, on=[*win, "dst_key"], how="left").with_columns(
            pl.col("new_sources").fill_null(0))
    by_client = (
        lf.group_by(*win, "dst_key", "src_key")
        .agg(
            *([pl.col("src_ip").first()] if client_ips else []),
            RECORDS,
            pl.col("size").sum().alias("bytes"),
            pl.col("req").sum().alias("requests"),
            pl.col("conn").sum().alias("conns"),
            pl.col("web").sum().alias("web"),
            pl.col("f_syn").sum().alias("syn"),
            # (A log's requests are all TCP: counted, not tested.)
            (pl.len() if table == "requests" else is_tcp.sum()).alias("tcp"),
            # Request payload bytes (captures): slow HTTP attacks trickle a few bytes at a time.
            (pl.col("payload_len").fill_null(0).cast(pl.Int64) * pl.col("req").cast(pl.Int64)).sum().alias("req_bytes")
            if table == "packets" else pl.lit(0, pl.Int64).alias("req_bytes"),
            # Static assets asked (logs only): browsers fetch a page's CSS, scripts and images;
            # flood bots ask pages and APIs only.
            (pl.col("asset").sum() if table == "requests" else pl.lit(0, pl.UInt32)).alias("assets"),
        )
    )
    # What each host sent: its own SYNs make incoming SYN-ACKs answers, not reflection. Summed
    # from its client rows (a third of the records' count on spoofed floods, far fewer on
    # real traffic) rather than from the records again, and only from the rows of hosts that
    # are destinations in the window (the join below keeps no other: measured on the watch
    # bench's 1 M packets, 35 -> 12 ms).
    sent = (
        by_client.join(by_dst.select(*win, "dst_key"), left_on=[*win, "src_key"], right_on=[*win, "dst_key"], how="semi")
        .group_by(*win, "src_key")
        .agg(pl.col("syn").sum().alias("syn_sent"), pl.col("tcp").sum().alias("tcp_sent"))
        .rename({"src_key": "dst_key"})
    )
    if table == "requests":
        # An access log holds only what the site received, all of class web: nothing it sent,
        # no bare TCP segments. These three feed the SYN-ACK, RST and ACK rules alone, and
        # their group-bys over every (window, client) pair were a fifth of the log's cost.
        zero = pl.lit(0, pl.UInt32)
        by_dst = by_dst.with_columns(zero.alias("syn_sent"), zero.alias("tcp_sent"), zero.alias("lone_acks"))
    else:
        by_dst = by_dst.join(sent, on=[*win, "dst_key"], how="left").join(lone_acks, on=[*win, "dst_key"], how="left").with_columns(
            pl.col("syn_sent", "tcp_sent", "lone_acks").fill_null(0)
        )
    if not detail:
        by_class, by_dst, by_client = pl.collect_all([by_class, by_dst, by_client], engine=engine)
        return Windows(_dst_text(by_class), _dst_text(by_dst), by_client, table, window_s)
    ports = lf.group_by(*win, "dst_key", "dst_port").agg(pl.len().alias("k")).group_by(*win, "dst_key").agg(
        pl.col("k").max().alias("top_port"))
    by_class, by_dst, by_client, ports = pl.collect_all([by_class, by_dst, by_client, ports], engine=engine)
    by_class, by_dst = _dst_text(by_class), _dst_text(by_dst)
    # Concentration: share of the window's records from the top source, to the top port.
    top = by_client.group_by(*win, "dst_key").agg(pl.col("records").max().alias("top_src"))
    by_dst = by_dst.join(top, on=[*win, "dst_key"], how="left").join(ports, on=[*win, "dst_key"], how="left").with_columns(
        (pl.col("top_src") / pl.col("records")).alias("top_source_share"),
        (pl.col("top_port") / pl.col("records")).alias("top_dst_port_share"),
    ).drop("top_src", "top_port")
    return Windows(by_class.sort("win"), by_dst.sort("win"), by_client.sort("win"), table, window_s)


DST_NUMBERS = ("dst_ip_hi", "dst_ip_lo", "ip_version")
"""What stands for the destination's text in a capture read without it: the window tables
make the text once per row from these (as the reader would), not once per record."""


def address_text(df: pl.DataFrame, side: str) -> pa.Array:
    """The text the capture reader writes for the ``side`` ("src" or "dst") addresses of a
    PACKETS-like frame, made from their numbers and ``ip_version`` (null where there is none)."""
    return text_of(*(df[c].fill_null(0).to_numpy() for c in ("ip_version", f"{side}_ip_hi", f"{side}_ip_lo")))


def _dst_text(df: pl.DataFrame) -> pl.DataFrame:
    """A window table aggregated from :data:`DST_NUMBERS`: with ``dst_ip`` text in their place."""
    if "dst_ip" in df.columns:
        return df
    text = address_text(df, "dst")
    cols = [c for c in df.columns if c not in DST_NUMBERS[1:]]
    return df.with_columns(pl.Series("dst_ip_hi", text, pl.String)).select(cols).rename({"dst_ip_hi": "dst_ip"})


FAST_COLUMNS = ("ts", "dst_ip", "src_key", "dst_key", "cls", "size", "src_port", "dst_port", "proto", "f_syn",
                "req", "conn", "web", "payload_len", "pkts", "asset")
"""The classified columns :func:`window_tables` reads with ``detail=False`` (of the last
three, those of the table at hand: ``payload_len`` packets, ``pkts`` flows, ``asset`` logs).
The streaming replay keeps only these (and the source text): classification then skips
the rest (projection pushdown) and every later copy is narrower."""


def packet_windows(table: pa.Table | pl.DataFrame, window_s: float = 1.0) -> Windows:
    """Window features of a PACKETS table."""
    return window_tables(classify(table, "packets"), window_s, "packets")


def classify_flows(df: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    """Classes of FLOWS records: ``web`` (TCP to a web port that carried data or completed a
    handshake), ``syn-flood`` (SYNs, no ACK), ``rst-flood``, amplification by source port,
    ``udp-flood``, ``icmp-flood``, ``other``. One flow counts as one request and, when it has a
    SYN (or TCP without flag counts), one new connection."""
    ports = reflection.vector_of_udp_port()
    proto = pl.col("proto")
    web = pl.col("dst_port").is_in(WEB_PORTS).fill_null(False)
    syn = pl.col("syn_count").fill_null(0)
    ack = pl.col("ack_count").fill_null(0)
    amp = pl.col("src_port").replace_strict(ports, default=None, return_dtype=pl.String)
    cls = (
        pl.when((proto == 17) & amp.is_not_null()).then(amp)
        .when(proto == 17).then(pl.lit("udp-flood"))
        .when((proto == 1) | (proto == 58)).then(pl.lit("icmp-flood"))
        .when((proto == 6) & (syn > 0) & (ack == 0)).then(pl.lit("syn-flood"))
        .when((proto == 6) & (pl.col("rst_count").fill_null(0) > 0) & (syn == 0) & (ack == 0)).then(pl.lit("rst-flood"))
        .when((proto == 6) & web).then(pl.lit("web"))
        .otherwise(pl.lit("other"))
    )
    return df.lazy().with_columns(
        cls.alias("cls"),
        pl.col("bytes").fill_null(0).alias("size"),
        pl.col("packets").fill_null(1).alias("pkts"),
        ((proto == 6) & web).alias("req"),
        ((proto == 6) & web).alias("conn"),
        ((proto == 6) & web).alias("web"),
        pl.lit(False).alias("frag"),
        pl.lit(None, pl.UInt8).alias("ttl"),
        pl.lit(1, pl.Int64).alias("n"),
        pl.lit(None, pl.UInt16).alias("tcp_flags"),
        *[pl.lit(False).alias(c) for c in ("f_syn", "f_synack", "f_ack", "f_rst", "f_ecn")],
        _key("src"), _key("dst"),
    )


def flow_windows(table: pa.Table | pl.DataFrame, window_s: float = 1.0) -> Windows:
    """Window features of a FLOWS table; ``records`` counts flows, ``bytes`` their bytes."""
    return window_tables(classify(table, "flows"), window_s, "flows")


def asset_expr() -> pl.Expr:
    """Is the request's ``path`` (query string removed) a static asset (see :data:`surgescope.tally.ASSET_RE`)?

    >>> pl.DataFrame({"path": ["/a/Site.CSS?v=2", "/api/x", None]}).select(asset_expr())["asset"].to_list()
    [True, False, False]
    """
    return stem_is_asset(path_stem(pl.col("path"))).alias("asset")


def classify_requests(df: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    """Every access-log line is one request to the (single) site: class ``web``.

    A frame that already holds the ``asset`` flag (the pipeline computes it while streaming and
    drops the paths) keeps it."""
    lf = df.lazy()
    cols = lf.collect_schema().names()
    dst = pl.col("host").fill_null("site") if "host" in cols else pl.lit("site")
    return lf.with_columns(
        pl.col("asset") if "asset" in cols else asset_expr(),
        pl.lit("web").alias("cls"),
        pl.col("bytes").fill_null(0).alias("size"),
        pl.lit(True).alias("req"), pl.lit(False).alias("conn"), pl.lit(True).alias("web"),
        pl.lit(False).alias("frag"), pl.lit(None, pl.UInt8).alias("ttl"), pl.lit(1, pl.Int64).alias("n"),
        pl.lit(6, pl.UInt8).alias("proto"), pl.lit(None, pl.UInt16).alias("tcp_flags"),
        pl.lit(None, pl.UInt16).alias("src_port"), pl.lit(80, pl.UInt16).alias("dst_port"),
        dst.alias("dst_ip"),
        *[pl.lit(False).alias(c) for c in ("f_syn", "f_synack", "f_ack", "f_rst", "f_ecn")],
        _key("src"), dst.hash(seed=7).alias("dst_key"),
    )


def request_windows(table: pa.Table | pl.DataFrame, window_s: float = 1.0) -> Windows:
    """Window features of a REQUESTS table, with status mix and path/UA concentration."""
    return window_tables(classify(table, "requests"), window_s, "requests")


def windows(table: pa.Table | pl.DataFrame, table_name: str, window_s: float = 1.0) -> Windows:
    """Dispatch on the canonical table name: ``packets``, ``flows`` or ``requests``."""
    fn = {"packets": packet_windows, "flows": flow_windows, "requests": request_windows}.get(table_name)
    if fn is None:
        raise ValueError(f"no traffic features for table {table_name!r}")
    return fn(table, window_s)


def classify(table: pa.Table | pl.DataFrame, table_name: str) -> pl.LazyFrame:
    """The classified frame of a canonical table (``cls``, ``req``, ``conn``, ``web``, ``n``,
    ``size``, address keys)."""
    fn = {"packets": classify_packets, "flows": classify_flows, "requests": classify_requests}[table_name]
    lf = fn(as_frame(table))
    if table_name == "packets":
        lf = lf.with_columns(
            pl.lit(1, pl.Int64).alias("n"),
            ((pl.col("proto") == 6) & pl.col("dst_port").is_in(WEB_PORTS).fill_null(False)).alias("web"),
        )
    return lf


def as_frame(table: pa.Table | pl.DataFrame) -> pl.DataFrame:
    """A canonical table as a Polars frame (zero-copy from Arrow where the types allow)."""
    if isinstance(table, pl.DataFrame):
        return table
    df = pl.from_arrow(table)
    assert isinstance(df, pl.DataFrame)
    return df
