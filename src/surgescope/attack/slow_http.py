"""Slow HTTP attacks (slowloris, slow POST / R.U.D.Y., slow read) in access logs and flow records.

A slow attack is the opposite of a flood: few requests, each holding a server connection open
for as long as the server lets it, a few bytes at a time, until its workers or connection slots
are used up. Packet captures show the trickle itself (:mod:`.detect`); logs and flow records
only show what is left when each connection ends, so this module reads those traces, as Polars
expressions over the canonical tables (no Python loop over records):

1. **Slow records** (:func:`slow_requests`, :func:`slow_flows`).
   Access logs: a request that stayed open at least ``min_duration_s`` and got at most
   ``max_body_bytes`` back (nginx ``$request_time``, Apache ``%D``/``%T``; a slowloris or slow
   POST connection ends at the server's header/body timeout with a 408/400, or the client gives
   up: nginx 499), or that got its body at under ``max_read_bytes_per_s`` (slow read: the
   client reads the response a few bytes at a time), or any ``408 Request Timeout`` (the only
   trace in logs without durations). A large download also lasts long, but with a large body
   at a download's pace, so it is not slow.
   Flow records: TCP to a web port that lasted at least ``min_duration_s`` at most
   ``max_flow_pps`` packets/s and ``max_flow_bytes_per_s`` bytes/s, with a response of at most
   ``max_body_bytes`` of payload (headers of ``HEADER_BYTES`` per response packet allowed, as
   Zeek and NetFlow count IP bytes): the server never answered a request it never got in full.
2. **Slow clients**, per target and source: most of the client's requests (flows) are slow
   (``client_slow_share``), and the client is *concentrated* (at least ``client_requests`` slow
   requests within ``horizon_s``, or ``client_concurrent`` of them open at once) or, logs
   only, its slow requests mostly ended in a timeout status (408, 400, 499), the trace of a
   slow attack spread thinly over many clients.
3. **Phases**: slow records of slow clients of one target, split where ``merge_gap_s`` passes
   without one. A phase is an attack with at least ``attack_requests`` (``attack_flows``)
   slow records, from concentrated clients, or making up at least ``surge_share`` of all the
   target's requests in the phase (a thin, distributed attack on a quiet site).

Times: a log line's time is when the server wrote it. nginx writes it when the request ends
(``$time_local``), so a slow connection was opened its duration earlier; the notes say when the
first one was opened. Flow times are flow starts; an attack ends when its last slow flow ends.

:func:`merge` folds the phases into the attacks found otherwise: a phase that overlaps an attack
on the same target in time becomes one more vector of it, with its share, instead of a second
attack (the heavy-client rule of :mod:`.detect` can call a slowloris with many connections per
source an HTTP flood in flow records; the slow records then move from ``http-flood`` to
``slow-http``, and the main vector follows the larger share).

>>> import polars as pl
>>> from datetime import datetime, timedelta, UTC
>>> t0 = datetime(2025, 3, 10, 10, tzinfo=UTC)
>>> logs = pl.DataFrame({
...     "ts": [t0 + timedelta(seconds=i) for i in range(300)],
...     "src_ip": [f"203.0.113.{i % 3}" for i in range(300)],
...     "status": [408] * 300, "bytes": [0] * 300, "duration_s": [60.0] * 300,
... })
>>> (a,) = detect(logs, "requests")
>>> a["vector"], a["sources"], a["requests"]
('slow-http', 3, 300)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl
import pyarrow as pa

from surgescope.attack import MAX_BLOCK_SOURCES
from surgescope.attack.features import WEB_PORTS, as_frame, window_col
from surgescope.attack.sources import top_sources
from surgescope.incident import iso

HEADER_BYTES = 60
"""IP + TCP header bytes allowed per response packet (Zeek and NetFlow count IP bytes; a bare
ACK with timestamps is 52)."""

TIMEOUT_STATUSES = (408, 400, 499)
"""Statuses a slow connection ends with: the server's request timeout (408, or 400 when the
request stays incomplete), or nginx's "client closed the connection" (499)."""


@dataclass(frozen=True)
class SlowThresholds:
    """Defaults of slow-HTTP detection from logs and flows (see the module docstring).

    Chosen from the tools' and servers' defaults: nginx ``client_header_timeout`` and
    ``client_body_timeout`` are 60 s, Apache ``mod_reqtimeout`` 20-40 s; slowloris opens 150
    connections per host, slowhttptest 50; a browser keeps at most 6 per host.
    """

    min_duration_s: float = 10.0
    """A request (flow) open at least this long ..."""
    max_body_bytes: int = 1024
    """... that got at most this many bytes back (an error page, or nothing) is slow ..."""
    max_read_bytes_per_s: float = 256.0
    """... and so is one (logs) whose body went out slower than this (slow read; a phone on
    2G still takes several kB/s)."""
    max_flow_pps: float = 2.0
    """Flows: at most this many packets/s ..."""
    max_flow_bytes_per_s: float = 200.0
    """... and bytes/s over the flow's life (slowloris sends a header line every 10-15 s)."""
    horizon_s: float = 300.0
    """Per-client counts are taken over this rolling horizon (five server timeouts)."""
    client_slow_share: float = 0.5
    """A slow client: at least this share of its requests (web flows) to the target is slow ..."""
    client_requests: int = 20
    """... and it made at least this many slow requests within the horizon ..."""
    client_concurrent: int = 10
    """... or held this many slow requests (connections) open at once (durations known)."""
    timeout_share: float = 0.5
    """Logs: or its slow requests mostly ended with a timeout status (408, 400, 499)."""
    attack_requests: int = 100
    """An attack: at least this many slow requests from slow clients in a phase ..."""
    attack_flows: int = 30
    """... (flow records: slow flows; exports are often sampled) ..."""
    surge_share: float = 0.05
    """... from concentrated clients, or at least this share of the target's requests."""
    merge_gap_s: float = 300.0
    """Slow records of one target closer than this belong to one phase."""


MAX_DURATION_S = 7 * 86400.0
"""Durations outside 0..this (negative, NaN, absurd values in a hostile log) count as unknown."""


def _duration(df: pl.DataFrame) -> pl.Expr:
    d = _col(df, "duration_s", pl.Float64)
    return pl.when(d.is_between(0.0, MAX_DURATION_S) & d.is_not_nan()).then(d)


def _col(df: pl.DataFrame, name: str, dtype: pl.DataType) -> pl.Expr:
    """A column, or nulls when the table (a hand-built frame) lacks it."""
    return pl.col(name).cast(dtype) if name in df.columns else pl.lit(None, dtype)


def slow_requests(df: pl.DataFrame, th: SlowThresholds = SlowThresholds()) -> pl.DataFrame:
    """REQUESTS rows -> one row per request with target ``dst`` (virtual host, else "site"),
    ``src_ip``, ``ts``, interval ``t0``..``t1`` (open from ts - duration to ts), ``n`` (1),
    ``size`` (body bytes), ``slow``, ``cut`` (ended with a timeout status) and ``dur``."""
    dur = _duration(df)
    status = _col(df, "status", pl.Int32)
    size = _col(df, "bytes", pl.Int64).fill_null(0)
    # A 408 is the server's request timeout whatever the logged duration; otherwise a long
    # request with almost nothing sent back (large downloads send a large body).
    small = (size <= th.max_body_bytes) | (size <= th.max_read_bytes_per_s * dur)
    slow = (status == 408).fill_null(False) | ((dur >= th.min_duration_s) & small).fill_null(False)
    host = _col(df, "host", pl.String).fill_null("site")
    return df.select(
        host.alias("dst"), pl.col("src_ip"), pl.col("ts"),
        (pl.col("ts") - pl.duration(microseconds=(dur.fill_null(0.0) * 1e6).cast(pl.Int64))).cast(df.schema["ts"]).alias("t0"),
        pl.col("ts").alias("t1"),
        pl.lit(1, pl.Int64).alias("n"), size.alias("size"), slow.alias("slow"),
        status.is_in(TIMEOUT_STATUSES).fill_null(False).alias("cut"), dur.alias("dur"),
        pl.lit(None, pl.UInt16).alias("dst_port"),
    )


def slow_flows(df: pl.DataFrame, th: SlowThresholds = SlowThresholds()) -> pl.DataFrame:
    """FLOWS rows of TCP to web ports -> the same columns as :func:`slow_requests` (``n`` is the
    flow's packets, ``size`` its bytes, the interval its life)."""
    dur = _duration(df)
    pkts = pl.col("packets").fill_null(1)
    size = pl.col("bytes").fill_null(0)
    # The response direction, when the export has directions (unidirectional NetFlow: 0).
    resp_bytes = (size - pl.col("fwd_bytes").fill_null(size)).clip(lower_bound=0)
    resp_pkts = (pkts - pl.col("fwd_packets").fill_null(pkts)).clip(lower_bound=0)
    slow = (
        (dur >= th.min_duration_s)
        & (pkts <= th.max_flow_pps * dur)
        & (size <= th.max_flow_bytes_per_s * dur)
        & (resp_bytes <= th.max_body_bytes + HEADER_BYTES * resp_pkts)
    ).fill_null(False)
    web = df.filter((pl.col("proto") == 6) & pl.col("dst_port").is_in(WEB_PORTS).fill_null(False))
    return web.select(
        pl.col("dst_ip").alias("dst"), pl.col("src_ip"), pl.col("ts"),
        pl.col("ts").alias("t0"),
        (pl.col("ts") + pl.duration(microseconds=(dur.fill_null(0.0) * 1e6).cast(pl.Int64))).cast(df.schema["ts"]).alias("t1"),
        pkts.cast(pl.Int64).alias("n"), size.cast(pl.Int64).alias("size"), slow.alias("slow"),
        pl.lit(False).alias("cut"), dur.alias("dur"), pl.col("dst_port"),
    )


def max_concurrent(iv: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """Per group of ``by``, the most intervals ``t0``..``t1`` open at once: +1 at each start,
    -1 at each end (ends first at equal times), running sum.

    >>> from datetime import datetime
    >>> t = [datetime(2025, 1, 1, 0, 0, s) for s in (0, 1, 2, 5)]
    >>> iv = pl.DataFrame({"k": ["a", "a", "a"], "t0": t[:3], "t1": [t[3], t[2], t[3]]})
    >>> max_concurrent(iv, ["k"]).rows()
    [('a', 2)]
    """
    ev = pl.concat([
        iv.select(*by, pl.col("t0").alias("t"), pl.lit(1, pl.Int32).alias("d")),
        iv.select(*by, pl.col("t1").alias("t"), pl.lit(-1, pl.Int32).alias("d")),
    ])
    return (
        ev.sort([*by, "t", "d"])
        .with_columns(pl.col("d").cum_sum().over(by).alias("open"))
        .group_by(by).agg(pl.col("open").max().alias("concurrent"))
    )


def slow_clients(recs: pl.DataFrame, table_name: str, th: SlowThresholds = SlowThresholds()) -> pl.DataFrame:
    """Per (dst, src_ip) with slow records: counts, ``concurrent``, ``horizon_max`` (most slow
    records within ``horizon_s``), and the verdicts ``concentrated`` and ``attacker``."""
    slow = recs.filter(pl.col("slow"))
    if slow.height == 0:
        return pl.DataFrame(schema={"dst": pl.String, "src_ip": pl.String, "concentrated": pl.Boolean,
                                    "attacker": pl.Boolean})
    keys = ["dst", "src_ip"]
    totals = recs.join(slow.select(keys).unique(), on=keys, how="semi").group_by(keys).agg(pl.len().alias("total"))
    per = slow.group_by(keys).agg(pl.len().alias("slow_n"), pl.col("cut").mean().alias("cut_share"))
    period = f"{int(round(th.horizon_s * 1e6))}us"
    horizon = (
        slow.sort("ts").rolling("ts", period=period, group_by=keys).agg(pl.len().alias("k"))
        .group_by(keys).agg(pl.col("k").max().alias("horizon_max"))
    )
    # Concurrency only where the intervals are real (logs with durations, flows).
    has_iv = slow.filter(pl.col("dur").is_not_null())
    conc = max_concurrent(has_iv, keys) if has_iv.height else pl.DataFrame(
        schema={"dst": pl.String, "src_ip": pl.String, "concurrent": pl.Int32})
    c = (
        per.join(totals, on=keys, how="left").join(horizon, on=keys, how="left")
        .join(conc, on=keys, how="left").with_columns(pl.col("concurrent").fill_null(0))
    )
    concentrated = (pl.col("horizon_max") >= th.client_requests) | (pl.col("concurrent") >= th.client_concurrent)
    thin = (pl.col("cut_share") >= th.timeout_share) if table_name == "requests" else pl.lit(False)
    mostly = pl.col("slow_n") >= th.client_slow_share * pl.col("total")
    return c.with_columns(concentrated.alias("concentrated")).with_columns(
        (mostly & (pl.col("concentrated") | thin)).alias("attacker"))


def detect(table: pa.Table | pl.DataFrame, table_name: str, th: SlowThresholds | None = None,
           window_s: float = 1.0, top_n: int = 20) -> list[dict]:
    """Slow-HTTP attacks in a ``requests`` or ``flows`` table, as attack dicts with the fields
    of :func:`surgescope.attack.analyze` (vector ``slow-http``) plus ``concurrent_connections``
    (most slow connections open at once, when durations are known)."""
    th = th or SlowThresholds()
    df = as_frame(table)
    if df.height == 0 or table_name not in ("requests", "flows"):
        return []
    return detect_records(records(df, table_name, th), table_name, th, window_s, top_n, df["ts"].min())


def records(df: pl.DataFrame, table_name: str, th: SlowThresholds) -> pl.DataFrame:
    """:func:`slow_requests` or :func:`slow_flows`, by table name."""
    return slow_requests(df, th) if table_name == "requests" else slow_flows(df, th)


def detect_records(recs: pl.DataFrame, table_name: str, th: SlowThresholds, window_s: float = 1.0,
                   top_n: int = 20, first_ts: datetime | None = None) -> list[dict]:
    """:func:`detect` on records already made by :func:`records` (what a stream keeps);
    ``first_ts`` is the input's first time (for the "from the first record" note)."""
    if recs.height == 0:
        return []
    clients = slow_clients(recs, table_name, th)
    if clients.height == 0 or not clients["attacker"].any():
        return []
    keys = ["dst", "src_ip"]
    att = (
        recs.filter(pl.col("slow"))
        .join(clients.filter(pl.col("attacker")).select(*keys, "concentrated"), on=keys, how="inner")
        .sort("dst", "ts")
    )
    gap = timedelta(seconds=th.merge_gap_s)
    att = att.with_columns(
        (pl.col("ts").diff().over("dst").fill_null(timedelta(0)) > gap).cum_sum().over("dst").alias("phase"))
    phases = att.group_by("dst", "phase").agg(
        pl.len().alias("k"), pl.col("concentrated").sum().alias("k_conc"),
        pl.col("ts").min().alias("first"), pl.col("ts").max().alias("last"))
    floor = th.attack_requests if table_name == "requests" else th.attack_flows
    phases = phases.filter(pl.col("k") >= floor)
    if phases.height == 0:
        return []
    # The target's records during each phase (for the surge share): each record finds the
    # latest phase of its target that began before it (phases of one target are disjoint).
    spans = phases.select("dst", "phase", "first", "last").sort("first")
    target = (
        recs.select("dst", "ts").sort("ts")
        .join_asof(spans, left_on="ts", right_on="first", by="dst", strategy="backward", check_sortedness=False)
        .filter(pl.col("ts") <= pl.col("last"))
        .group_by("dst", "phase").agg(pl.len().alias("all"))
    )
    phases = phases.join(target, on=["dst", "phase"], how="left").filter(
        (pl.col("k_conc") >= floor) | (pl.col("k") >= th.surge_share * pl.col("all")))
    out = []
    # One iteration per attack phase (a handful), never per record.
    for dst, phase in phases.select("dst", "phase").sort("dst", "phase").iter_rows():
        r = att.filter((pl.col("dst") == dst) & (pl.col("phase") == phase))
        out.append(_attack(r, dst, table_name, window_s, top_n, first_ts, th))
    out.sort(key=lambda a: a["start"])
    return out


def _attack(r: pl.DataFrame, dst: str, table_name: str, ws: float, top_n: int, first_ts, th: SlowThresholds) -> dict:
    flows = table_name == "flows"
    total = int(r["n"].sum())
    size = int(r["size"].sum())
    start, end = r["ts"].min(), (r["t1"].max() if flows else r["ts"].max())
    sources = int(r["src_ip"].n_unique())
    peaks = r.with_columns(window_col(ws)).group_by("win").agg(
        pl.col("n").sum().alias("p"), pl.col("size").sum().alias("b"), pl.len().alias("q"))
    conc = None
    if r["dur"].is_not_null().any():
        iv = r.filter(pl.col("dur").is_not_null())
        conc = int(max_concurrent(iv.with_columns(pl.lit(dst).alias("dst")), ["dst"])["concurrent"][0])
    vec = {"vector": "slow-http", "share": 1.0, "byte_share": 1.0, "packets": total, "bytes": size,
           "sources": sources, "start": iso(start), "end": iso(end)}
    ports = []
    if flows:
        top = r.group_by("dst_port").agg(pl.col("n").sum().alias("k")).sort(["k", "dst_port"], descending=[True, False]).head(3)
        ports = [{"port": int(p), "share": round(k / max(total, 1), 6)} for p, k in top.iter_rows()]
    attack = {
        "start": iso(start),
        "end": iso(end),
        "vector": "slow-http",
        "vectors": [vec],
        "target": dst,
        "packets": total if flows else None,
        "bytes": size,
        "requests": int(r.height),
        "peak_pps": float(peaks["p"].max() / ws) if flows else None,
        "peak_bps": float(peaks["b"].max() * 8 / ws),
        "peak_rps": float(peaks["q"].max() / ws),
        "sources": sources,
        "target_ports": ports,
        "top_sources": top_sources(r, top_n, "n"),
        "notes": _notes(r, table_name, start, end, first_ts, ws, conc, th),
        "table": table_name,
        "window_s": ws,
        "concurrent_connections": conc,
    }
    if flows:
        attack["flows"] = int(r.height)
    # Every slow client: they completed connections (not forged), so all can be blocked.
    attack["block_sources"] = r["src_ip"].drop_nulls().unique().sort().head(MAX_BLOCK_SOURCES).to_list()
    return attack


def _notes(r: pl.DataFrame, table_name: str, start, end, first_ts, ws: float, conc: int | None,
           th: SlowThresholds) -> list[str]:
    notes = []
    if first_ts is not None and start - first_ts <= timedelta(seconds=ws):
        notes.append("attack traffic from the first record of the input: it started before the capture")
    what = "requests" if table_name == "requests" else "connections (flows)"
    span = max((end - start).total_seconds(), ws)
    per_client = r.height / max(r["src_ip"].n_unique(), 1) / span
    notes.append(f"slow HTTP: {r.height} slow {what} from {r['src_ip'].n_unique()} clients, "
                 f"{per_client:.3g} per client per second (a flood's bots send far more)")
    dur = r["dur"].drop_nulls()
    if len(dur):
        notes.append(f"median duration {dur.median():.1f} s (at least {th.min_duration_s:g} s with "
                     f"at most {th.max_body_bytes} bytes back, or under {th.max_read_bytes_per_s:g} bytes/s, "
                     "counts as slow)")
        # Requests that all end at one value end at the server's timeout, not when done.
        mode = dur.round(0).mode().sort()[0]
        near = float(((dur - mode).abs() <= 1.0).mean())
        if near >= 0.5 and mode >= th.min_duration_s:
            notes.append(f"{near:.0%} of the durations cluster at {mode:g} s: the server's timeout "
                         "(e.g. nginx client_header_timeout/client_body_timeout, 60 s by default)")
    if conc:
        notes.append(f"up to {conc} slow connections open at once")
    if table_name == "requests":
        cut = r.filter(pl.col("cut")).height
        if cut:
            notes.append(f"{cut / r.height:.0%} ended with 408/400/499 (request timeout, incomplete "
                         "request, client gave up)")
        if len(dur):
            opened = (r["t0"]).min()
            notes.append(f"log lines are written when a request ends: the first slow connection was "
                         f"open from about {iso(opened)}")
    return notes


def _t(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def merge(attacks: list[dict], slow: list[dict]) -> list[dict]:
    """Fold slow-HTTP phases into ``attacks`` (from :func:`surgescope.attack.analyze`): a phase
    that overlaps an attack on the same target becomes a vector of it (see the module
    docstring); the others are added as attacks of their own. Returns the list by start."""
    out = [dict(a) for a in attacks]
    for s in slow:
        host = next((a for a in out if a.get("target") == s["target"]
                     and _t(a["start"]) <= _t(s["end"]) and _t(s["start"]) <= _t(a["end"])), None)
        if host is None:
            out.append(s)
        else:
            out[out.index(host)] = _fold(host, s)
    out.sort(key=lambda a: a["start"])
    return out


def _fold(a: dict, s: dict) -> dict:
    """One attack with the slow phase ``s`` as its ``slow-http`` vector."""
    vecs = {v["vector"]: dict(v) for v in a["vectors"]}
    sv = s["vectors"][0]
    # Slow records of sources the attack already counted (the heavy-client rule may have taken
    # a slowloris host for a flood bot) move from http-flood to slow-http. Only the listed top
    # sources are known here, so this is a lower bound of that overlap.
    mine = {t["ip"]: t for t in a.get("top_sources", [])}
    common = [t for t in s["top_sources"] if t["ip"] in mine]
    flood = vecs.get("http-flood")
    over_p = over_b = 0
    if flood is not None:
        over_p = min(sum(min(t["packets"], mine[t["ip"]]["packets"]) for t in common), flood["packets"])
        over_b = min(sum(min(t["bytes"], mine[t["ip"]]["bytes"]) for t in common), flood["bytes"])
        flood["packets"] -= over_p
        flood["bytes"] -= over_b
        if flood["packets"] <= 0:
            del vecs["http-flood"]
    if "slow-http" in vecs:  # captures found it already: keep the larger account
        old = vecs["slow-http"]
        sv = sv if sv["packets"] >= old["packets"] else old
    vecs["slow-http"] = dict(sv)
    total = sum(v["packets"] for v in vecs.values()) or 1
    total_b = sum(v["bytes"] for v in vecs.values()) or 1
    for v in vecs.values():
        v["share"] = round(v["packets"] / total, 6)
        v["byte_share"] = round(v["bytes"] / total_b, 6)
    main = a["vector"]
    if vecs["slow-http"]["share"] >= 0.5:
        main = "slow-http"
    elif main not in vecs:  # all of it was the slow records
        main = max(vecs, key=lambda v: vecs[v]["share"])
    merged = dict(a)
    merged["vector"] = main
    merged["vectors"] = sorted(vecs.values(), key=lambda v: (v["vector"] != main, -v["share"]))
    merged["start"] = min(a["start"], s["start"])
    merged["end"] = max(a["end"], s["end"])
    merged["sources"] = a["sources"] + s["sources"] - len(common)
    merged["bytes"] = a["bytes"] + s["bytes"] - over_b
    if a.get("packets") is not None:  # flows: the overlap is in packets; its flows pro rata
        merged["packets"] = a["packets"] + s["packets"] - over_p
        over_r = round(over_p / max(s["packets"], 1) * s["requests"])
    else:  # logs: the shares count requests
        over_r = over_p
    for k in ("requests", "flows"):
        if a.get(k) is not None and s.get(k) is not None:
            merged[k] = a[k] + s[k] - over_r
    merged["concurrent_connections"] = s.get("concurrent_connections")
    tops = {t["ip"]: dict(t) for t in a.get("top_sources", [])}
    for t in s["top_sources"]:
        tops[t["ip"]] = max(tops.get(t["ip"], t), t, key=lambda x: x["packets"])
    ranked = sorted(tops.values(), key=lambda t: (-t["packets"], -t["bytes"], t["ip"]))[: max(len(a.get("top_sources", [])), len(s["top_sources"]))]
    for t in ranked:
        t["share"] = round(t["packets"] / total, 6)
    merged["top_sources"] = ranked
    merged["notes"] = [*a.get("notes", []), *s["notes"]]
    blocked = sorted(set(a.get("block_sources") or []) | set(s.get("block_sources") or []))
    if blocked:
        merged["block_sources"] = blocked[:MAX_BLOCK_SOURCES]
    return merged
