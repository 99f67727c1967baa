"""Evidence about how far source addresses can be trusted, each a measured figure with its meaning.

The traffic (packets, flows or requests) is first narrowed by :func:`collect` to what the
attack sent: packets and flows toward the victims (the attacks' ``target``, else the most
frequent destination) and, when attacks were found, inside their time windows. :func:`per_source` aggregates it by source
address and adds the offline enrichment. The evidence functions then measure:

- :func:`reflection`: are the sources reflectors (servers answering forged requests)?
- :func:`spoofing`: are the source addresses forged?
- :func:`dispersion`: how spread are the sources over countries and networks?
- :func:`infrastructure`: how many are in hosting, cloud or VPN networks (or known anonymisers)?
- :func:`rewriting`: were the addresses rewritten (private, testbed or NAT addresses)?

Each returns a dict with a verdict flag (e.g. ``reflected``) and ``figures``: a list of
``{"name", "value", "meaning"}`` where ``meaning`` says in plain words what the number shows.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl
import pyarrow as pa

from surgescope.attribution import enrich as geo

SYN, ACK = 0x02, 0x10
MIN_UNIFORM_SOURCES = 1000
"""Below this many sources a uniform spread over /8s cannot be told from chance."""

# /8 blocks a spoofer drawing "public-looking" addresses would use: 1..223 without 10 and 127.
_PUBLIC_SLASH8 = np.array([i for i in range(1, 224) if i not in (10, 127)])


@dataclass
class Traffic:
    """The attack's traffic in one normalised frame plus per-source aggregates."""

    rows: pl.DataFrame
    sources: pl.DataFrame
    kinds: list[str]
    victim: str | None = None

    @property
    def total(self) -> int:
        return int(self.sources["records"].sum()) if self.sources.height else 0


def figure(name: str, value, meaning: str, **extra) -> dict:
    v = round(float(value), 4) if isinstance(value, float | np.floating) else value
    return {"name": name, "value": v, "meaning": meaning, **extra}


# --------------------------------------------------------------------------- normalising


def _kind(table: pa.Table | pl.DataFrame) -> str | None:
    cols = set(table.schema.names if isinstance(table, pa.Table) else table.columns)
    if "src_ip_hi" not in cols:
        return None
    if "tcp_flags" in cols:
        return "packets"
    if "fwd_packets" in cols or "syn_count" in cols:
        return "flows"
    if cols & {"status", "method", "path"}:  # the pipeline keeps only status of these
        return "requests"
    return None


def _windows(attacks: Sequence[dict] | None) -> list[tuple[datetime, datetime]]:
    out = []
    for a in attacks or []:
        try:
            s = datetime.fromisoformat(str(a["start"]).replace("Z", "+00:00"))
            e = datetime.fromisoformat(str(a["end"]).replace("Z", "+00:00"))
        except (KeyError, TypeError, ValueError):
            continue
        out.append((s, e))
    return out


def _victim_filter(df: pl.DataFrame) -> tuple[pl.DataFrame, str | None]:
    """Keep traffic toward the most frequent destination (drops the victim's own replies)."""
    if "dst_ip_hi" not in df.columns or df.height == 0:
        return df, None
    # ties go to the lowest address: the same victim on every run
    top = (df.group_by("dst_ip_hi", "dst_ip_lo").len()
           .sort(["len", "dst_ip_hi", "dst_ip_lo"], descending=[True, False, False]).row(0, named=True))
    kept = df.filter((pl.col("dst_ip_hi") == top["dst_ip_hi"]) & (pl.col("dst_ip_lo") == top["dst_ip_lo"]))
    victim = kept["dst_ip"][0] if "dst_ip" in kept.columns else None
    return kept, victim


def _normalise(df: pl.DataFrame, kind: str) -> pl.DataFrame:
    i64 = pl.Int64
    if kind == "packets":
        flags = pl.col("tcp_flags").cast(pl.Int32)
        tcp = pl.col("proto") == 6
        return df.select(
            "ts", "src_ip", "src_ip_hi", "src_ip_lo",
            pl.lit(1, i64).alias("weight"),
            pl.col("ip_len").cast(i64).fill_null(pl.col("frame_len").cast(i64)).fill_null(0).alias("bytes"),
            pl.col("proto").cast(pl.Int32), pl.col("src_port").cast(pl.Int32),
            pl.col("ttl").cast(pl.Int32),
            (pl.col("frag_offset").fill_null(0) > 0).alias("frag"),
            (tcp & ((flags & (SYN | ACK)) == SYN)).fill_null(False).cast(i64).alias("syn"),
            (tcp & ((flags & (SYN | ACK)) == ACK)).fill_null(False).cast(i64).alias("ack"),
            (tcp & ((flags & (SYN | ACK)) == (SYN | ACK))).fill_null(False).cast(i64).alias("synack"),
            (tcp & ((flags & RST) != 0)).fill_null(False).cast(i64).alias("rst"),
            pl.lit(0, i64).alias("reply"),
            (tcp & ((flags & (SYN | ACK)) == SYN)).fill_null(False).cast(i64).alias("opens"),
        )
    if kind == "flows":
        w = pl.coalesce(pl.col("fwd_packets"), pl.col("packets"), pl.lit(1)).cast(i64)
        return df.select(
            "ts", "src_ip", "src_ip_hi", "src_ip_lo", w.alias("weight"),
            pl.coalesce(pl.col("fwd_bytes"), pl.col("bytes"), pl.lit(0)).cast(i64).alias("bytes"),
            pl.col("proto").cast(pl.Int32), pl.col("src_port").cast(pl.Int32),
            pl.lit(None, pl.Int32).alias("ttl"), pl.lit(False).alias("frag"),
            pl.col("syn_count").fill_null(0).cast(i64).alias("syn"),
            pl.col("ack_count").fill_null(0).cast(i64).alias("ack"),
            pl.lit(0, i64).alias("synack"), pl.lit(0, i64).alias("rst"),
            # a bidirectional flow record whose other side sent packets: a conversation
            ((pl.col("packets") - pl.col("fwd_packets")).fill_null(0) > 0).cast(i64).alias("reply"),
            pl.lit(1, i64).alias("opens"),  # one flow record, one connection
        )
    # requests: an HTTP request needs a completed TCP handshake
    return df.select(
        "ts", "src_ip", "src_ip_hi", "src_ip_lo", pl.lit(1, i64).alias("weight"),
        pl.col("bytes").fill_null(0).cast(i64).alias("bytes"),
        pl.lit(6, pl.Int32).alias("proto"), pl.lit(None, pl.Int32).alias("src_port"),
        pl.lit(None, pl.Int32).alias("ttl"), pl.lit(False).alias("frag"),
        pl.lit(0, i64).alias("syn"), pl.lit(1, i64).alias("ack"), pl.lit(0, i64).alias("synack"),
        pl.lit(0, i64).alias("rst"), pl.lit(1, i64).alias("reply"), pl.lit(1, i64).alias("opens"),
    )


def collect(tables: Iterable[pa.Table | pl.DataFrame], attacks: Sequence[dict] | None = None,
            mmdb_paths: Sequence[str] = (), memo: dict | None = None) -> Traffic:
    """The attack's inbound traffic from every traffic table, normalised, with per-source
    figures (``memo``: see :func:`per_source`)."""
    frames, kinds, victim = [], [], None
    wins = _windows(attacks)
    for t in tables:
        kind = _kind(t)
        if kind is None:
            continue
        df = t if isinstance(t, pl.DataFrame) else pl.from_arrow(t)
        assert isinstance(df, pl.DataFrame)
        if df.height == 0:
            continue
        if kind != "requests":
            targets = sorted({str(a["target"]) for a in attacks or [] if a.get("target")})
            toward = df.filter(pl.col("dst_ip").is_in(targets)) if targets and "dst_ip" in df.columns else None
            if toward is not None and toward.height:
                df, v = toward, ", ".join(targets)  # the attack analysis named the victims
            else:
                df, v = _victim_filter(df)
            victim = victim or v
        if wins:
            inside = pl.lit(False)
            for s, e in wins:
                inside = inside | pl.col("ts").is_between(pl.lit(s), pl.lit(e))
            narrowed = df.filter(inside)
            df = narrowed if narrowed.height else df
        # rows whose source address did not parse carry no location; they are not sources
        df = df.filter(pl.col("src_ip_hi").is_not_null() & pl.col("src_ip_lo").is_not_null())
        frames.append(_normalise(df, kind))
        kinds.append(kind)
    rows = pl.concat(frames, how="vertical_relaxed") if frames else _normalise(
        pl.DataFrame(schema={"ts": pl.Datetime("ns", "UTC"), "src_ip": pl.String, "src_ip_hi": pl.UInt64,
                             "src_ip_lo": pl.UInt64, "bytes": pl.Int64}), "requests")
    return Traffic(rows=rows, sources=per_source(rows, mmdb_paths, memo), kinds=kinds, victim=victim)


def per_source(rows: pl.DataFrame, mmdb_paths: Sequence[str] = (), memo: dict | None = None) -> pl.DataFrame:
    """One row per source: records, bytes, TTL spread, SYN/ACK counts, plus the enrichment
    (``memo``: addresses already enriched by earlier calls, see :func:`enrich.enrich`).

    Also what :func:`classify_sources` and :func:`reflection` judge each source by, so the
    rows are grouped by source once: ``rst`` (RST packets), ``udp`` (UDP rows), ``udp_amp``
    (UDP rows from an amplification port or fragments) and ``udp_amp_known`` (UDP rows where
    that is known: a fragment's ports are not)."""
    udp = pl.col("proto") == 17
    amp = pl.col("src_port").is_in(list(_udp_service_ports())) | pl.col("frag")
    # Lazy: the same group-by measured ~1.8x cheaper than eager on a 2 M-line log's attack.
    agg = rows.lazy().group_by("src_ip_hi", "src_ip_lo").agg(
        pl.col("src_ip").first(),
        pl.col("weight").sum().alias("records"),
        pl.col("bytes").sum(),
        pl.len().alias("rows"),
        pl.col("ttl").min().alias("ttl_min"), pl.col("ttl").max().alias("ttl_max"),
        pl.col("syn").sum(), pl.col("ack").sum(), pl.col("synack").sum(), pl.col("reply").sum(),
        pl.col("opens").sum(), pl.col("rst").sum(),
        udp.sum().alias("udp"), (udp & amp).sum().alias("udp_amp"), (udp & amp.is_not_null()).sum().alias("udp_amp_known"),
    ).sort("records", "src_ip", descending=[True, False]).collect()
    if agg.height == 0:
        return agg.with_columns(
            *(pl.lit(None, pl.String).alias(c) for c in ("country", "country_registry", "country_whois", "as_org", "as_class", "special")),
            pl.lit(None, pl.Boolean).alias("countries_agree"), pl.lit(None, pl.UInt32).alias("asn"),
        )
    return geo.enrich(agg, mmdb_paths=mmdb_paths, memo=memo)


def _amp_share() -> pl.Expr:
    """Share of a source's UDP rows (where known) from amplification ports or fragments; 0
    without any (the mean :func:`reflection` and :func:`classify_sources` judge by)."""
    known = pl.col("udp_amp_known")
    return pl.when(known > 0).then(pl.col("udp_amp") / known).otherwise(pl.lit(0.0))


# --------------------------------------------------------------------------- reflection


def _udp_service_ports() -> dict[int, str]:
    from surgescope.attack import reflection as table

    return table.vector_of_udp_port()


def reflection(traffic: Traffic, attacks: Sequence[dict] | None = None) -> dict:
    """Reflected traffic: from the attack's vectors, else from source ports and TCP flags.

    A UDP packet from a known amplification port (DNS 53, NTP 123, SNMP 161, ...) or a UDP
    fragment, and a TCP SYN-ACK the victim never asked for, come from a reflector: a real
    server that answered requests forged in the victim's name. Its address is the server's,
    not the attacker's.
    """
    vectors = [v.get("vector") for a in attacks or [] for v in (a.get("vectors") or [{"vector": a.get("vector")}])]
    vectors += [a.get("vector") for a in attacks or []]
    reflected_vectors = sorted({v for v in vectors if v and (v.endswith("-amplification") or v == "tcp-reflection")})
    rows = traffic.rows
    ports = _udp_service_ports()
    udp, tcp = pl.col("proto") == 17, pl.col("proto") == 6
    amp = udp & pl.col("src_port").is_in(list(ports))
    # Sums over the rows, not copies of them (the TCP rows are all of a log's: 1 M rows of a
    # 2 M-line log's floods were copied to sum two columns).
    sums = rows.select(
        pl.col("bytes").sum().alias("total_b"), pl.col("bytes").filter(amp).sum().alias("amp_b"),
        pl.col("bytes").filter(udp & pl.col("frag")).sum().alias("frag_b"), amp.sum().alias("amp_n"),
        pl.col("synack").filter(tcp).sum().alias("synack"), pl.col("weight").filter(tcp).sum().alias("tcp_pk"),
    ).row(0, named=True)
    total_b = max(int(sums["total_b"]), 1)
    amp_bytes = int(sums["amp_b"]) + int(sums["frag_b"])
    amp_n = int(sums["amp_n"] or 0)
    synack = int(sums["synack"])
    tcp_pk = max(int(sums["tcp_pk"]), 1)
    n_src = max(traffic.sources.height, 1)
    # a reflector answers from its service port: most of its UDP packets carry it (a random-port
    # flood also hits port 53 now and then, so one packet from an amplification port proves nothing)
    amp_src = int(traffic.sources.select((_amp_share() >= 0.5).sum()).item()) if traffic.sources.height else 0
    synack_src = int((traffic.sources["synack"] > 0).sum()) if traffic.sources.height else 0

    service, port, tcp_port = None, None, None
    if synack:
        top_tcp = (rows.filter(tcp & (pl.col("synack") > 0)).group_by("src_port").agg(pl.col("weight").sum())
                   .sort(["weight", "src_port"], descending=[True, False], nulls_last=True))
        tcp_port = top_tcp["src_port"][0] if top_tcp.height else None
    if amp_n:
        top = (rows.filter(amp).group_by("src_port").agg(pl.col("weight").sum())
               .sort(["weight", "src_port"], descending=[True, False]).row(0))
        port, service = int(top[0]), ports[int(top[0])]
    udp_reflected = (amp_bytes / total_b >= 0.4 or amp_src / n_src >= 0.5) and amp_n > 0
    tcp_reflected = synack / tcp_pk >= 0.4 and synack >= 10
    measured = []
    if udp_reflected and service:
        measured.append(service)
    if tcp_reflected:
        measured.append("tcp-reflection")
    found = sorted(set(reflected_vectors) | set(measured))
    reflected = bool(found)
    figures = [
        figure("amplification_port_byte_share", amp_bytes / total_b,
               f"{amp_bytes / total_b:.0%} of the attack's bytes are UDP from amplification service ports or UDP fragments"
               + (f" (mostly source port {port}, {service})" if service else "")
               + ": such packets are answers from reflectors, not from the attacker."),
        figure("amplification_port_sources", amp_src,
               f"{amp_src:,} of {n_src:,} sources sent UDP from amplification ports (or fragments)."),
        figure("synack_share", synack / tcp_pk,
               f"{synack / tcp_pk:.0%} of TCP packets are SYN-ACKs from {synack_src:,} sources: a victim that"
               " receives SYN-ACKs it never asked for is the target of TCP reflection."),
    ]
    if reflected_vectors:
        figures.append(figure("reflected_vectors", ", ".join(reflected_vectors),
                              "The attack analysis classified these vectors as reflection."))
    return {"reflected": reflected, "services": found, "port": port, "tcp_port": tcp_port, "figures": figures}


TCP_SERVICES = {21: "FTP", 22: "SSH", 23: "Telnet", 25: "SMTP", 53: "DNS over TCP", 80: "HTTP",
                110: "POP3", 143: "IMAP", 443: "HTTPS", 3389: "RDP", 8080: "HTTP"}


def service_name(vector: str, tcp_port: int | None = None) -> str:
    """Plain name of a reflected service: ``dns-amplification`` -> ``DNS``."""
    if vector == "tcp-reflection":
        if tcp_port is None:
            return "TCP servers"
        return f"{TCP_SERVICES.get(int(tcp_port), 'TCP')} servers (TCP port {tcp_port})"
    base = vector.removesuffix("-amplification")
    return base.upper() if len(base) <= 5 else base


# --------------------------------------------------------------------------- spoofing


def slash8_uniformity(sources: pl.DataFrame) -> tuple[float, float, int]:
    """(normalised entropy, chi-square per degree of freedom, n) of sources over public /8s.

    Forged addresses drawn at random fill the /8s evenly (entropy near 1, chi2/dof near 1);
    real hosts crowd into the /8s where their networks are (entropy well below 0.97).
    """
    if sources.height == 0:
        return 0.0, 0.0, 0
    lo = sources["src_ip_lo"].to_numpy()
    hi = sources["src_ip_hi"].to_numpy()
    v4 = geo.ipaddr.is_v4(hi, lo)
    first = ((lo[v4] >> np.uint64(24)) & np.uint64(0xFF)).astype(np.int64)
    counts = np.bincount(first, minlength=256)[_PUBLIC_SLASH8]
    n = int(counts.sum())
    if n == 0:
        return 0.0, 0.0, 0
    p = counts[counts > 0] / n
    entropy = max(0.0, float(-(p * np.log2(p)).sum() / math.log2(len(_PUBLIC_SLASH8))))
    expected = n / len(_PUBLIC_SLASH8)
    chi = float(((counts - expected) ** 2 / expected).sum() / (len(_PUBLIC_SLASH8) - 1))
    return entropy, chi, n


def spoofing(traffic: Traffic, reflected: bool = False) -> dict:
    """Signs of forged source addresses, each measured.

    Suspected when the sources fill the address space evenly (at least 1,000 of them), or when
    almost every source sent a single SYN and never completed a handshake, or when a source's
    TTL jumps between packets. For reflected traffic the single-packet sign is expected
    (reflectors answer once) and does not count.
    """
    s = traffic.sources
    n = s.height
    figures: list[dict] = []
    if n == 0:
        return {"suspected": False, "figures": figures}
    bogon = int(s["special"].is_in(["reserved", "documentation", "multicast", "loopback", "benchmarking"]).sum())
    unrouted = int((s["special"] == "unrouted").sum())
    entropy, chi, n8 = slash8_uniformity(s)
    uniform = n8 >= MIN_UNIFORM_SOURCES and entropy >= 0.97
    one = int((s["records"] == 1).sum())
    syn_src = s.filter(pl.col("syn") > 0)
    no_hs = int((syn_src["ack"] == 0).sum())
    multi = s.filter((pl.col("rows") >= 3) & pl.col("ttl_min").is_not_null())
    ttl_jump = int(((multi["ttl_max"] - multi["ttl_min"]) > 8).sum())
    only_requests = traffic.kinds and all(k == "requests" for k in traffic.kinds)
    figures += [
        figure("bogon_sources", bogon / n, f"{bogon:,} of {n:,} sources ({bogon / n:.1%}) are reserved, documentation, multicast or loopback addresses, which no real host sends from."),
        figure("unallocated_sources", unrouted / n, f"{unrouted:,} sources ({unrouted / n:.1%}) are in no allocated or announced range."),
        figure("slash8_entropy", entropy, f"Sources spread over the public /8 blocks with normalised entropy {entropy:.3f} (chi-square/dof {chi:.1f}, {n8:,} IPv4 sources): "
               + ("an even spread like this is what random forged addresses give." if uniform else "real hosts cluster; forged random addresses give about 0.99 when there are many.")),
        figure("single_packet_sources", one / n, f"{one / n:.0%} of sources sent exactly one packet or request" + (" (expected for reflectors, which answer once)." if reflected else ".")),
    ]
    if syn_src.height:
        figures.append(figure("syn_without_handshake", no_hs / syn_src.height,
                              f"{no_hs:,} of {syn_src.height:,} SYN-sending sources never sent an ACK: a forged source cannot complete a handshake."))
    if multi.height:
        figures.append(figure("ttl_inconsistent_sources", ttl_jump / multi.height,
                              f"{ttl_jump:,} of {multi.height:,} sources with 3+ packets changed TTL by more than 8 hops: one host's packets keep one hop count."))
    if only_requests:
        figures.append(figure("handshake_required", True, "HTTP requests need a completed TCP handshake, so their source addresses were not forged (they may still be proxies)."))
    one_syn = (not reflected) and n >= 100 and one / n >= 0.9 and syn_src.height >= 0.9 * n and no_hs >= 0.9 * syn_src.height
    suspected = (not only_requests) and (
        uniform or one_syn or (bogon / n >= 0.05 and n >= 20)
        or (multi.height >= 20 and ttl_jump / multi.height >= 0.5)
    )
    reasons = []
    if uniform:
        reasons.append("sources spread evenly over the address space")
    if one_syn:
        reasons.append("one SYN per source and no handshakes")
    if bogon / n >= 0.05 and n >= 20:
        reasons.append("bogon source addresses")
    if multi.height >= 20 and ttl_jump / multi.height >= 0.5:
        reasons.append("TTL inconsistent within sources")
    return {"suspected": bool(suspected), "reasons": reasons, "figures": figures}


# --------------------------------------------------------------------------- source classes

SOURCE_CLASSES = ("located", "light", "unconfirmed", "forged", "reflector", "rewritten")
"""What each source address is, judged on its own packets (see :func:`classify_sources`)."""
REWRITTEN_SPECIAL = ["private", "cgnat", "link-local", "benchmarking", "loopback"]
BOGON_SPECIAL = ["reserved", "documentation", "multicast"]
LIGHT_FRACTION = 0.1
"""A located source opening under this fraction of the 90th percentile of the located sources'
connections (SYNs; flow records; requests in logs) is a bystander (an ordinary visitor present
during the attack), not a flooding bot. Connections, not packets: a visitor downloading a large
page sends many ACKs over one or a few connections, a bot opens connection after connection."""
RST = 0x04


def classify_sources(traffic: Traffic, light: bool = False) -> pl.DataFrame:
    """``traffic.sources`` with a ``source_class`` column, one of :data:`SOURCE_CLASSES`:

    - ``forged``: a reserved, documentation or multicast address; or it never showed a two-way
      conversation (no ACK, no SYN-ACK) *and* those one-way sources, taken together, pass
      :func:`spoofing` (random spread over the address space, one SYN each, bogons, TTL jumps);
    - ``rewritten``: private, CGNAT, link-local or testbed address (NAT or a testbed rewrote it);
    - ``reflector``: most of its UDP comes from an amplification service port (or is IP
      fragments), or most of its TCP packets are SYN-ACKs or RSTs: a server answering requests
      forged in the victim's name;
    - ``located``: it completed a TCP handshake (sent SYNs and ACKs), sent HTTP requests, or
      has flow records with SYNs and ACKs or with packets back from the victim: a real machine
      at that address;
    - ``light`` (only with ``light=True``): located, but opened under :data:`LIGHT_FRACTION` of
      the connections the flooding located sources opened (their 90th percentile): an ordinary
      visitor caught in the attack's window, not a bot;
    - ``unconfirmed``: the rest (ICMP, stray packets, one-way floods from too few sources to
      look forged): nothing proves or disproves the address.

    >>> import numpy as np
    >>> from surgescope.attribution.enrich import sample_addresses
    >>> from surgescope.simulate.packets import Phase, generate
    >>> bots = sample_addresses(20, np.random.default_rng(1), as_class="isp")
    >>> t = generate([Phase("http-flood", duration=5, rate=2000, target="203.0.113.10", sources=bots),
    ...               Phase("syn-flood", duration=5, rate=2000, target="203.0.113.10")], seed=1)
    >>> c = classify_sources(collect([t]))
    >>> dict(c.group_by("source_class").len().sort("source_class").iter_rows())
    {'forged': 9997, 'located': 20}
    """
    s = traffic.sources
    if s.height == 0:
        return s.with_columns(pl.lit(None, pl.String).alias("source_class"))
    rows = traffic.rows
    # per-source UDP and RST counts come with the sources (:func:`per_source`)
    s = s.with_columns(_amp_share().alias("_amp"), pl.col("udp").alias("_udp"), pl.col("rst").alias("_rst"))
    rewritten = pl.col("special").is_in(REWRITTEN_SPECIAL).fill_null(False)
    reflector = (
        ((pl.col("_amp") >= 0.5) & (2 * pl.col("_udp") >= pl.col("rows")))
        | ((pl.col("synack") + pl.col("_rst") > 0) & (2 * (pl.col("synack") + pl.col("_rst")) >= pl.col("records"))))
    bogon = pl.col("special").is_in(BOGON_SPECIAL).fill_null(False)
    one_way = ~reflector & ~bogon & (pl.col("ack") == 0) & (pl.col("synack") == 0)
    # packets show a completed handshake by SYNs and ACKs from the source; an HTTP request needs
    # one; a flow record says so when the other side answered
    two_way = ((pl.col("ack") > 0) & (pl.col("syn") > 0)) | (pl.col("reply") > 0)
    s = s.with_columns(rewritten.alias("_rew"), reflector.alias("_refl"), bogon.alias("_bogon"), one_way.alias("_one_way"))
    # forged is a property of a population (random spread, one SYN each): test the one-way
    # sources together, as the capture-level spoofing test does. A private address among
    # random forged ones is forged too; alone (one NATed host) it is rewritten.
    candidates = s.filter(pl.col("_one_way"))
    forged_pop = candidates.height > 0 and spoofing(Traffic(rows, candidates, traffic.kinds))["suspected"]
    forged = pl.col("_bogon") | (pl.col("_one_way") & pl.lit(forged_pop))
    cls = (pl.when(forged).then(pl.lit("forged"))
           .when(pl.col("_rew")).then(pl.lit("rewritten"))
           .when(pl.col("_refl")).then(pl.lit("reflector"))
           .when(two_way).then(pl.lit("located"))
           .otherwise(pl.lit("unconfirmed")))
    s = s.with_columns(cls.alias("source_class"))
    if light:
        loc = s.filter(pl.col("source_class") == "located")
        if loc.height:
            floor = LIGHT_FRACTION * float(loc["opens"].quantile(0.9, "nearest"))
            s = s.with_columns(pl.when((pl.col("source_class") == "located") & (pl.col("opens") < floor))
                               .then(pl.lit("light")).otherwise(pl.col("source_class")).alias("source_class"))
    return s.drop("_amp", "_udp", "_rst", "_rew", "_refl", "_bogon", "_one_way")


def class_counts(classified: pl.DataFrame) -> dict[str, int]:
    """Sources per class, every class listed (0 when absent)."""
    got = dict(classified.group_by("source_class").len().iter_rows()) if classified.height else {}
    return {c: int(got.get(c, 0)) for c in SOURCE_CLASSES}


def subset(traffic: Traffic, sources: pl.DataFrame) -> Traffic:
    """The traffic of some of its sources (rows and per-source table narrowed alike)."""
    keys = ["src_ip_hi", "src_ip_lo"]
    rows = traffic.rows.join(sources.select(keys), on=keys, how="semi")
    return Traffic(rows=rows, sources=sources.drop("source_class", strict=False), kinds=traffic.kinds, victim=traffic.victim)


# --------------------------------------------------------------------------- dispersion


def _entropy(shares: np.ndarray) -> float:
    p = shares[shares > 0]
    return float(-(p * np.log2(p)).sum()) if len(p) else 0.0


def dispersion(traffic: Traffic) -> dict:
    """How spread the sources are: countries, ASNs, entropy and the top country's share."""
    s = traffic.sources.filter(pl.col("country").is_not_null())
    n = s.height
    if n == 0:
        return {"countries": 0, "asns": 0, "top_country": None, "top_country_share": 0.0, "normalised_entropy": 0.0, "figures": []}
    by_c = s.group_by("country").len().sort(["len", "country"], descending=[True, False])
    shares = by_c["len"].to_numpy() / n
    h = _entropy(shares)
    k = by_c.height
    hn = h / math.log2(k) if k > 1 else 0.0
    asns = int(s["asn"].drop_nulls().n_unique())
    top_as = s.group_by("asn").len().sort(["len", "asn"], descending=[True, False], nulls_last=True).row(0)
    top_c, top_share = by_c["country"][0], float(shares[0])
    agree = s["countries_agree"].drop_nulls()
    agreement = float(agree.mean()) if agree.len() else None
    figures = [
        figure("countries", k, f"Sources are in {k} countries."),
        figure("asns", asns, f"Sources are in {asns} autonomous systems (networks)."),
        figure("top_country_share", top_share, f"{top_share:.0%} of located sources are in {top_c}."),
        figure("country_entropy_bits", h, f"Country entropy {h:.2f} bits (normalised {hn:.2f}): 0 means one country; high values mean a spread like a worldwide botnet."),
        figure("top_asn_share", top_as[1] / n, f"{top_as[1] / n:.0%} of sources are in AS{top_as[0]}."),
    ]
    if agreement is not None:
        figures.append(figure("country_source_agreement", agreement,
                              f"The registry country (RIR allocations), the geofeed/WHOIS country and IPFire's agree for {agreement:.0%} of sources."))
    return {"countries": k, "asns": asns, "top_country": top_c, "top_country_share": top_share,
            "entropy_bits": h, "normalised_entropy": hn, "agreement": agreement, "figures": figures}


# --------------------------------------------------------------------------- infrastructure


def _in_list(sources: pl.DataFrame, networks: Iterable[str]) -> np.ndarray:
    nets = []
    for n, line in enumerate(networks, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            nets.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValueError(f"anonymiser list line {n}: not an address or CIDR: {text[:40]!r}") from None
    if not nets:
        return np.zeros(sources.height, dtype=bool)
    hi = sources["src_ip_hi"].to_numpy()
    lo = sources["src_ip_lo"].to_numpy()
    hit = np.zeros(len(hi), dtype=bool)
    for net in nets:
        v = int(net.network_address)
        plen = net.prefixlen
        if net.version == 4:
            v |= 0xFFFF_0000_0000
            plen += 96
        mh, ml = geo._mask(plen)
        hit |= ((hi & mh) == np.uint64(v >> 64)) & ((lo & ml) == np.uint64(v & 0xFFFF_FFFF_FFFF_FFFF))
    return hit


def infrastructure(traffic: Traffic, anonymisers: Iterable[str] | None = None) -> dict:
    """Share of sources in hosting, cloud and VPN networks, and in a user-given anonymiser list.

    Rented servers and VPN or Tor exits are where attackers send from, not where they are.
    """
    s = traffic.sources.filter(pl.col("special").is_null())
    n = s.height
    if n == 0:
        return {"share": 0.0, "figures": []}
    counts = {c: int((s["as_class"] == c).sum()) for c in geo.CLASSES}
    rented = counts["hosting"] + counts["cloud"] + counts["vpn"]
    figures = [
        figure("hosting_cloud_vpn_share", rented / n,
               f"{rented / n:.0%} of sources are in hosting ({counts['hosting']}), cloud ({counts['cloud']}) or VPN ({counts['vpn']}) networks: "
               "rented machines, whose location says where the server is, not who rents it."),
        figure("isp_share", counts["isp"] / n, f"{counts['isp'] / n:.0%} of sources are in access (residential or mobile) ISPs, where compromised home devices sit."),
        figure("unclassified_share", counts["unknown"] / n, f"{counts['unknown'] / n:.0%} of sources are in networks not classified."),
    ]
    anon = 0
    if anonymisers is not None:
        anon = int(_in_list(s, anonymisers).sum())
        figures.append(figure("anonymiser_share", anon / n, f"{anon:,} sources ({anon / n:.0%}) are on the given anonymiser (Tor/VPN exit) list."))
    return {"share": rented / n, "anonymiser_share": anon / n, "classes": counts, "figures": figures}


# --------------------------------------------------------------------------- rewriting


def rewriting(traffic: Traffic) -> dict:
    """Private, CGNAT, link-local or testbed sources: the capture's addresses were rewritten or
    NATed, so they point at no network on the Internet at all."""
    s = traffic.sources
    if s.height == 0:
        return {"rewritten": False, "figures": []}
    private = s.filter(pl.col("special").is_in(["private", "cgnat", "link-local", "benchmarking", "loopback"]))
    total = max(int(s["records"].sum()), 1)
    share = int(private["records"].sum()) / total
    rewritten = share >= 0.5
    examples = private["src_ip"].head(3).to_list()
    figures = [figure("private_source_traffic_share", share,
                      f"{share:.0%} of the attack's traffic comes from {private.height:,} private, CGNAT or testbed addresses"
                      + (f" (e.g. {', '.join(examples)})" if examples else "")
                      + ": such addresses are rewritten by NAT or a testbed and name no place on the Internet.")]
    return {"rewritten": rewritten, "sources": private.height, "examples": examples, "share": share, "figures": figures}
