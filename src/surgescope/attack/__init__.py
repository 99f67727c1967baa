"""DDoS detection and characterisation from the victim's traffic (packets, flows, requests).

:func:`analyze` runs the whole batch analysis on one canonical table: window features
(:mod:`.features`), candidate vectors and the attack tracker (:mod:`.detect`), then assigns
every record to the attack and vector it belongs to and sums them up (packets, bytes, peak
rates, sources, exact top sources from :mod:`.sources`). :mod:`.watch` runs the same detector
on a replayed stream; :mod:`.rules` turns a report into mitigation rules.

>>> from surgescope.simulate.packets import generate, Phase
>>> r = analyze(generate([Phase("ntp-amplification", duration=5, rate=800)]), "packets")
>>> [a["vector"] for a in r["attacks"]]
['ntp-amplification']
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pyarrow as pa

from surgescope.attack import features
from surgescope.attack.detect import (
    StaticThresholds,
    Thresholds,
    Tracker,
    candidates,
    heavy_clients,
    run_tracker,
)
from surgescope.attack.sources import SpaceSaving, top_sources
from surgescope.incident import iso

MAX_BLOCK_SOURCES = 100_000
"""Cap on ``attacks[].block_sources`` (about 1.5 MB of report.json at the cap)."""

__all__ = ["SpaceSaving", "StaticThresholds", "Thresholds", "Tracker", "analyze", "top_sources"]

RECORD_COLS = (
    "ts", "win", "cls", "dst_key", "dst_ip", "src_key", "src_ip", "n", "pkts", "size", "req", "conn", "web",
    "asset", "proto", "src_port", "dst_port", "payload_len", "f_syn", "f_synack", "f_ack", "f_rst", "f_ecn",
    "frag", "frag_offset", "ttl", "status", "label",
)
"""The classified record columns that the window tables and the attack summaries read."""

SUMMARY_COLS = frozenset((
    "attack", "vector", "ts", "win", "src_key", "src_ip", "n", "pkts", "size", "req", "dst_port", "src_port",
    "frag", "frag_offset", "ttl", "status", "label",
))
"""The columns of attack records that the per-attack figures read."""

ENGINE = "streaming"
"""Polars engine of the batch analysis's passes over whole inputs (measured on a 2 M-line log:
~10 % faster than in-memory; the same attacks on every shared capture, flow file and log)."""

TIMELINE_POINTS = 2000
"""At most this many timeline points; longer inputs are binned coarser (mean rates per bin)."""


def analyze(table: pa.Table | pl.DataFrame, table_name: str, window_s: float = 1.0,
            thresholds: Thresholds | None = None, top_n: int = 20) -> dict:
    """Attacks in one table (``packets``, ``flows`` or ``requests``) and its traffic timeline.

    Returns ``{"attacks": [...], "timeline": [{"t", "pps", "bps", "rps"}...]}``; each attack
    has the report-v1 fields (start, end, vector, vectors[] with shares, packets, bytes,
    peak_pps, peak_bps, peak_rps, sources, top_sources[]) plus target, notes[],
    reflected_service, and per-vector start/end/packets/bytes.
    """
    th = thresholds or Thresholds(window_s=window_s)
    if th.window_s != window_s and thresholds is None:
        th = Thresholds(window_s=window_s)
    ws = th.window_s
    df = features.as_frame(table)
    if df.height == 0:
        return {"attacks": [], "timeline": []}
    lf = features.classify(df, table_name).with_columns(features.window_col(ws))
    names = lf.collect_schema().names()
    # Only the record columns read below: the classified frame is held to the end.
    cl = lf.select(c for c in RECORD_COLS if c in names).collect(engine=ENGINE)
    # The detector and the timeline read the window tables' core columns only.
    w = features.window_tables(cl, ws, table_name, detail=False, client_ips=False, engine=ENGINE)
    # Both readers of this table keep its heavy rows alone: drop the rest (a row per client
    # window) at once.
    heavy = heavy_clients(w, th, unique_keys=True).filter(pl.col("heavy"))
    tracker = run_tracker(candidates(w, th, heavy), th)
    timeline = _timeline(w, table_name)
    del w  # the window tables are done with: free them before the record joins (peak RSS)
    attacks = _summarise(cl, heavy, tracker, table_name, th, top_n) if tracker.attacks else []
    if table_name in ("requests", "flows"):
        # Slow HTTP leaves its trace in durations and timeouts, not in per-window rates.
        from surgescope.attack import slow_http

        attacks = slow_http.merge(attacks, slow_http.detect(df, table_name, window_s=ws, top_n=top_n))
    return {"attacks": attacks, "timeline": timeline}


def _weight(table_name: str) -> str:
    return "pkts" if table_name == "flows" else "n"


def _summarise(cl: pl.DataFrame, heavy: pl.DataFrame, tracker: Tracker, table_name: str,
               th: Thresholds, top_n: int) -> list[dict]:
    ws = th.window_s
    active = pl.DataFrame(tracker.active, schema={"win": cl.schema["win"], "dst_key": pl.UInt64, "vector": pl.String},
                          orient="row")
    spans = pl.DataFrame(
        [(i, a["dst_key"], a["start_win"], a["end_win"]) for i, a in enumerate(tracker.attacks)],
        schema={"attack": pl.Int64, "dst_key": pl.UInt64, "start_win": cl.schema["win"], "end_win": cl.schema["win"]},
        orient="row",
    )
    vec = pl.when(pl.col("cls") == "web").then(pl.lit("http-flood")).otherwise(pl.col("cls"))
    # A heavy client's web traffic is the HTTP flood, whatever its flags, from the start of
    # the horizon in which it became heavy (the detector needs that long to be sure).
    heavy_ever = heavy.filter(pl.col("heavy")).group_by("dst_key", "src_key").agg(
        pl.lit(True).alias("bot"),
        # Slow HTTP when the client was slow in most of its heavy windows.
        pl.when(pl.col("slow").mean() > 0.5).then(pl.lit("slow-http")).otherwise(pl.lit("http-flood")).alias("bot_vector"),
    )
    # Lazy from here: the joins below touch every record, but only the few in attack windows
    # are kept, so the record frame is never copied whole (measured on a 2 M-line log: 1.2 s
    # and +800 MiB before).
    bot = (pl.col("bot").fill_null(False) & pl.col("web")).alias("bot")
    in_span = (pl.col("win") >= pl.col("start_win")) & (pl.col("win") < pl.col("end_win"))
    # Web traffic of ordinary clients counts only when the HTTP vector came from the static
    # thresholds (windows without heavy clients), never alongside a bot flood. Only web
    # records have the vector http-flood, so that rule drops active http-flood windows with
    # bots before any record is read (was a join of every record in an active window with
    # the bot windows: 0.1 CPU-s on a 2 M-line log, whose flood windows all have bots).
    bot_windows = heavy.filter(pl.col("heavy")).select("win", "dst_key").unique()
    active = active.join(bot_windows, on=["win", "dst_key"], how="anti").vstack(
        active.filter(pl.col("vector") != "http-flood").join(bot_windows, on=["win", "dst_key"], how="semi"))
    others = (
        # Cheapest cut first: records of active windows (a per-record test).
        cl.lazy().filter(pl.col("win").is_in(active["win"].unique().implode()))
        .with_columns(vec.alias("vector"))
        .join(active.lazy(), on=["win", "dst_key", "vector"], how="inner")
        .join(heavy_ever.lazy(), on=["dst_key", "src_key"], how="left").with_columns(bot)
        .filter(~pl.col("bot"))
        .join(spans.lazy(), on="dst_key", how="inner").filter(in_span)
    )
    http_attacks = spans.filter(pl.col("attack").is_in(
        [i for i, a in enumerate(tracker.attacks) if {"http-flood", "slow-http"} & set(a["vectors"])]))
    # Backdate by the horizon, but never into the previous attack on the same target.
    back = timedelta(seconds=th.client_horizon_s)
    prev_end = pl.col("end_win").shift(1).over("dst_key", order_by="start_win")
    http_attacks = spans.with_columns(
        pl.max_horizontal(pl.col("start_win") - back, prev_end).alias("from_win")
    ).filter(pl.col("attack").is_in(http_attacks["attack"].to_list()))
    # Only the records inside some HTTP attack's time range (the exact per-attack test follows).
    ranges = [(pl.col("win") >= f) & (pl.col("win") < e) for f, e in http_attacks.select("from_win", "end_win").iter_rows()]
    in_any = pl.any_horizontal(ranges) if 0 < len(ranges) <= 64 else pl.lit(True)
    bots = (
        cl.lazy().filter(in_any)
        .join(heavy_ever.lazy(), on=["dst_key", "src_key"], how="inner").with_columns(bot)
        .filter(pl.col("bot")).with_columns(pl.col("bot_vector").alias("vector"))
    )
    if 0 < len(ranges) <= 64:
        # A target's HTTP attacks have disjoint ranges (each starts after the previous one on
        # the same target ended), so a record is in one attack at most: which one is a
        # per-record expression, not two joins of every bot record with the attack table
        # (measured: 0.33 -> 0.2 CPU-s on the 1 M flood records of a 2 M-line log).
        which = pl.lit(None, pl.Int64)
        for i, d, f, e in http_attacks.select("attack", "dst_key", "from_win", "end_win").iter_rows():
            which = pl.when((pl.col("dst_key") == d) & (pl.col("win") >= f) & (pl.col("win") < e)).then(pl.lit(i, pl.Int64)).otherwise(which)
        bots = bots.with_columns(which.alias("attack")).filter(pl.col("attack").is_not_null())
    else:
        bots = (
            bots.join(http_attacks.lazy().drop("from_win"), on="dst_key", how="inner")
            .join(http_attacks.lazy().select("attack", "from_win"), on="attack", how="left")
            .filter((pl.col("win") >= pl.col("from_win")) & (pl.col("win") < pl.col("end_win")))
            .drop("from_win")
        )
    # Only what the per-attack figures read: attack records can be most of a flood's log.
    names = others.collect_schema().names()
    keep = [c for c in ("attack", "vector", *RECORD_COLS) if c in names and c in SUMMARY_COLS]
    recs = pl.concat([others.select(keep), bots.select(keep)], how="vertical").collect(engine=ENGINE)
    weight = _weight(table_name)
    first_ts = cl["ts"].min()
    figures = _figures(recs, table_name, weight)
    out = []
    # (attacks in order of their first record, as a group-by keeping order listed them)
    for i in recs["attack"].unique(maintain_order=True).to_list():
        part = {name: f.get(i, f.get((i,))) for name, f in figures.items()}
        out.append(_attack(part, lambda i=i: recs.filter(pl.col("attack") == i), tracker.attacks[i], table_name,
                           weight, ws, top_n, first_ts))
    out.sort(key=lambda x: x["start"])
    return out


def _figures(recs: pl.DataFrame, table_name: str, weight: str) -> dict[str, dict]:
    """What the per-attack figures read, for every attack at once, split by attack:

    - ``sources``: one row per attack, vector and source (key and text) with its records'
      weight (``packets``), bytes, first and last time, count (``records``), requests and, by
      table, fragments (packets) or 5xx/429 answers (requests). Every per-vector, per-source
      and per-attack total below is summed from it, not from the records again;
    - ``peaks``: per attack, the largest window's weight, bytes and requests;
    - ``ports``: per attack, vector and destination port, the weight;
    - ``ttl`` (packets, flows): per attack and direct-flood vector, the distinct TTLs;
    - ``labels`` (flows): per attack, the ground-truth labels.

    Why: the records were split by attack (a copy of them all) and each attack's were read
    about ten times; these five group-bys read them once each (measured on a 2 M-line log's
    two floods, 1 M records: the attack summaries 0.55 -> 0.25 CPU-s).
    """
    lf = recs.lazy()
    cols = recs.columns
    extra = [pl.col("req").sum().alias("req")]
    if table_name == "packets":
        extra += [pl.col("frag").sum().alias("frags"), (pl.col("frag_offset").fill_null(0) > 0).sum().alias("nonfirst")]
    if table_name == "requests" and "status" in cols:
        extra.append(((pl.col("status") >= 500) | (pl.col("status") == 429)).sum().alias("bad"))
    plans = {
        "sources": lf.group_by("attack", "vector", "src_key", "src_ip").agg(
            pl.col(weight).sum().alias("packets"), pl.col("size").sum().alias("bytes"),
            pl.col("ts").min().alias("first"), pl.col("ts").max().alias("last"), pl.len().alias("records"), *extra),
        "peaks": lf.group_by("attack", "win").agg(pl.col(weight).sum().alias("p"), pl.col("size").sum().alias("b"),
                                                  pl.col("req").sum().alias("q"))
        .group_by("attack").agg(pl.col("p").max(), pl.col("b").max(), pl.col("q").max()),
    }
    if "dst_port" in cols:
        plans["ports"] = lf.group_by("attack", "vector", "dst_port").agg(pl.col(weight).sum().alias("k"))
    if table_name != "requests":
        plans["ttl"] = (lf.filter(pl.col("vector").is_in(DIRECT_FLOODS)).group_by("attack", "vector")
                        .agg(pl.col("ttl").drop_nulls().n_unique().alias("ttls")))
    if table_name == "flows" and "label" in cols:
        plans["labels"] = lf.group_by("attack").agg(pl.col("label").drop_nulls().unique())
    frames = dict(zip(plans, pl.collect_all(list(plans.values())), strict=True))
    return {name: f.partition_by("attack", as_dict=True, include_key=False) for name, f in frames.items()}


def _attack(f: dict[str, pl.DataFrame | None], records, a: dict, table_name: str, weight: str, ws: float, top_n: int,
            first_ts) -> dict:
    """One attack's report entry from its figures (:func:`_figures`); ``records()`` gives its
    records, read only for a TCP reflection's source ports."""
    src = f["sources"]
    assert src is not None
    per_vec = (
        src.group_by("vector")
        .agg(pl.col("packets").sum(), pl.col("bytes").sum(), pl.col("first").min().alias("start"),
             pl.col("last").max().alias("end"), pl.col("src_key").n_unique().alias("sources"))
        .sort(["bytes", "packets"], descending=True)
    )
    total = int(per_vec["packets"].sum())
    total_bytes = int(per_vec["bytes"].sum())
    # The main vector: most bytes for volumetric vectors; request floods are small per record,
    # so when one is present with most of the records it leads.
    by_pkts = per_vec.sort("packets", descending=True)
    main = per_vec["vector"][0]
    if by_pkts["vector"][0] in ("http-flood", "slow-http") and by_pkts["packets"][0] >= 0.5 * total:
        main = by_pkts["vector"][0]
    forged = _forged(src, f.get("ttl"), table_name)
    vectors = [
        {"vector": v["vector"], "share": round(v["packets"] / max(total, 1), 6),
         "byte_share": round(v["bytes"] / max(total_bytes, 1), 6), "packets": int(v["packets"]),
         "bytes": int(v["bytes"]), "sources": int(v["sources"]), "start": iso(v["start"]), "end": iso(v["end"]),
         **({"spoofed": bool(forged[v["vector"]])} if v["vector"] in forged else {})}
        for v in per_vec.iter_rows(named=True)
    ]
    vectors.sort(key=lambda v: (v["vector"] != main, -v["share"]))
    peaks = f["peaks"]
    assert peaks is not None
    peak_p, peak_b, peak_q = peaks.row(0)
    start, end = per_vec["start"].min(), per_vec["end"].max()
    counts = src.select(pl.col("records").sum(), *(pl.col(c).sum() for c in ("req", "frags", "nonfirst", "bad")
                                                   if c in src.columns)).row(0, named=True)
    labels = f.get("labels")
    counts["labels"] = labels["label"][0].to_list() if labels is not None else []
    notes = _notes(counts, main, table_name, start, end, first_ts, ws) + forged.get(main, [])
    attack = {
        "start": iso(start),
        "end": iso(end),
        "vector": main,
        "vectors": vectors,
        "target": a["dst"],
        "packets": total if table_name != "requests" else None,
        "bytes": total_bytes,
        "requests": int(counts["req"]) if table_name != "packets" or main in ("http-flood", "slow-http") else None,
        "peak_pps": float(peak_p / ws) if table_name != "requests" else None,
        "peak_bps": float(peak_b * 8 / ws),
        "peak_rps": float(peak_q / ws) if peak_q else 0.0,
        "sources": int(src["src_key"].n_unique()),
        "target_ports": _target_ports(f.get("ports"), main),
        "top_sources": top_sources(_source_rows(src, weight), top_n, weight),
        "notes": notes,
        "table": table_name,
        "window_s": ws,
    }
    block = _block_sources(src, forged)
    if block:
        attack["block_sources"] = block
    if table_name == "flows":
        attack["flows"] = int(counts["records"])
    if main.endswith("-amplification"):
        from surgescope.attack import reflection

        row = reflection.service_row(main)
        attack["reflected_service"] = {"service": row["service"], "proto": "udp", "port": int(row["port"])}
    elif main == "tcp-reflection":
        r = records()
        # ties by port: the same list on every run
        ports = (r.filter(pl.col("vector") == "tcp-reflection").group_by("src_port").len()
                 .sort(["len", "src_port"], descending=[True, False], nulls_last=True))
        attack["reflected_service"] = {"service": "tcp-synack", "proto": "tcp",
                                       "ports": [int(p) for p in ports["src_port"].head(5).drop_nulls()]}
    return attack


def _source_rows(src: pl.DataFrame, weight: str) -> pl.DataFrame:
    """Records with the same per-source sums, first and last times as an attack's records, for
    :func:`~surgescope.attack.sources.top_sources`: per source and vector, one row with its
    totals at its first time and one with nothing at its last."""
    firsts = src.select("src_ip", pl.col("packets").alias(weight), pl.col("bytes").alias("size"), pl.col("first").alias("ts"))
    lasts = src.select("src_ip", pl.lit(0, firsts.schema[weight]).alias(weight), pl.lit(0, firsts.schema["size"]).alias("size"),
                       pl.col("last").alias("ts"))
    return pl.concat([firsts, lasts], how="vertical")


DIRECT_FLOODS = ("syn-flood", "ack-flood", "rst-flood", "udp-flood", "icmp-flood", "ip-fragment")
"""Vectors whose packets a tool can send from forged addresses (judged by :func:`_forged`)."""


def _forged(src: pl.DataFrame, ttl: pl.DataFrame | None, table_name: str) -> dict[str, list[str]]:
    """For each direct flood vector of an attack's packets or flows: why its sources look
    forged (empty: they look like real machines). ``src`` and ``ttl``: the attack's figures
    (:func:`_figures`).

    Forged floods draw a new source per packet (most sources send one) and tools randomise the
    TTL; a botnet's real machines each send many packets with their own few TTLs."""
    if table_name == "requests":
        return {}
    ttls = dict(ttl.iter_rows()) if ttl is not None else {}
    out = {}
    for (vector,), rv in src.filter(pl.col("vector").is_in(DIRECT_FLOODS)).group_by("vector"):
        why = []
        per_src = rv.group_by("src_key").agg(pl.col("records").sum().alias("len"))
        single = int((per_src["len"] == 1).sum())
        if per_src.height >= 100 and single >= 0.8 * per_src.height:
            why.append(f"{single} of {per_src.height} sources sent a single packet: source addresses are likely spoofed")
        n_ttl = ttls.get(vector, 0)  # every classified table has the column (null for logs and flows)
        if n_ttl > 64:
            why.append(f"{n_ttl} distinct TTLs: random TTLs, typical of spoofing tools")
        out[str(vector)] = why
    return out


def _block_sources(src: pl.DataFrame, forged: dict[str, list[str]]) -> list[str]:
    """Every source worth blocking, sorted: those of HTTP floods (they completed connections)
    and of direct floods whose sources do not look forged (a botnet's UDP or ACK flood from
    real addresses); never reflectors nor forged addresses. Capped at MAX_BLOCK_SOURCES."""
    keep = ["http-flood", "slow-http", *(v for v, why in forged.items() if not why)]
    srcs = src.filter(pl.col("vector").is_in(keep))["src_ip"].drop_nulls().unique().sort()
    return srcs.head(MAX_BLOCK_SOURCES).to_list()


def _target_ports(ports: pl.DataFrame | None, main: str) -> list[dict]:
    """The main vector's most hit destination ports (null for non-first fragments and ICMP);
    ``ports``: an attack's weight per vector and port (:func:`_figures`)."""
    if ports is None:
        return []
    mine = ports.filter(pl.col("vector") == main)
    if mine.height == 0:
        return []
    total = mine["k"].sum() or 1
    top = mine.drop_nulls("dst_port").sort(["k", "dst_port"], descending=[True, False]).head(3)
    return [{"port": int(p), "share": round(k / total, 6)} for p, k in top.select("dst_port", "k").iter_rows()]


def _notes(n: dict, main: str, table_name: str, start, end, first_ts, ws: float) -> list[str]:
    """``n``: an attack's record counts (``records``, and by table ``frags``, ``nonfirst``,
    ``bad``, ``labels``)."""
    notes = []
    height = n["records"]
    if start is not None and first_ts is not None and start - first_ts <= timedelta(seconds=ws):
        notes.append("attack traffic from the first record of the input: it started before the capture")
    span = (end - start).total_seconds() if start is not None else 0.0
    if span < ws:
        notes.append(f"attack spans {span:.3f} s, shorter than one {ws:g} s window: rates are per window, "
                     f"the instantaneous rate was about {height / max(span, 1e-6):,.0f} records/s")
    if table_name == "packets":
        frags = int(n["frags"])
        if frags:
            nonfirst = int(n["nonfirst"])
            notes.append(f"IP fragments present: {frags} packets ({frags / height:.0%}) are fragments, "
                         f"{nonfirst} of them non-first fragments attributed by IP id")
        if main.endswith("-amplification") or main == "tcp-reflection":
            notes.append("sources are reflectors (abused servers), not the attacker's machines")
    if table_name == "flows":
        labels = n.get("labels") or []
        if labels:
            notes.append("ground-truth labels in the flows: " + ", ".join(sorted(map(str, labels))[:5]))
    if table_name == "requests" and "bad" in n:
        bad = n["bad"]
        if bad:
            notes.append(f"{bad / height:.0%} of the attack requests got 5xx/429 answers: the service suffered")
    return notes


def _timeline(w: features.Windows, table_name: str) -> list[dict]:
    ws = w.window_s
    d = w.by_dst.group_by("win").agg(
        pl.col("records").sum(), pl.col("bytes").sum(), pl.col("requests").sum(),
        *( [pl.col("packets").sum()] if table_name == "flows" else [] ),
    ).sort("win")
    if d.height == 0:
        return []
    span = (d["win"].max() - d["win"].min()).total_seconds() + ws
    factor = max(1, int(-(-span // (ws * TIMELINE_POINTS))))
    if factor > 1:
        every = f"{int(round(ws * factor * 1e6))}us"
        d = d.group_by_dynamic("win", every=every).agg(pl.all().sum())
    bin_s = ws * factor
    pk = "packets" if table_name == "flows" else "records"
    out = []
    for r in d.iter_rows(named=True):
        out.append({
            "t": iso(r["win"]),
            "pps": (r[pk] / bin_s) if table_name != "requests" else None,
            "bps": r["bytes"] * 8 / bin_s,
            "rps": r["requests"] / bin_s,
        })
    return out
