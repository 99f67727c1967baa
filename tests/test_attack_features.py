"""Window features on a hand-built capture (expected values counted by hand), the adaptive
baseline, FastNetMon-style static thresholds, exact top-N and the Space-Saving error bound."""

from collections import Counter

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from surgescope import ipaddr
from surgescope.attack import StaticThresholds, Thresholds, analyze, features
from surgescope.attack.sources import SpaceSaving, top_sources
from surgescope.schema import PACKETS
from surgescope.simulate.packets import Phase, generate

V = "10.0.0.1"


def packets(rows: list[dict]) -> pa.Table:
    """A PACKETS table from short dicts (t seconds, src, dst, proto, sport, dport, flags ...)."""
    cols = {f.name: [] for f in PACKETS}
    for r in rows:
        shi, slo = ipaddr.from_strings([r["src"]])
        dhi, dlo = ipaddr.from_strings([r["dst"]])
        vals = {
            "ts": int(1_741_600_800e9 + r["t"] * 1e9), "src_ip": r["src"], "src_ip_hi": int(shi[0]),
            "src_ip_lo": int(slo[0]), "dst_ip": r["dst"], "dst_ip_hi": int(dhi[0]), "dst_ip_lo": int(dlo[0]),
            "ip_version": 4, "proto": r["proto"], "src_port": r.get("sport"), "dst_port": r.get("dport"),
            "ip_len": r.get("len", 40), "frame_len": r.get("len", 40) + 14, "tcp_flags": r.get("flags"),
            "ttl": r.get("ttl", 50), "ip_id": r.get("id", 1), "frag_more": r.get("mf", False),
            "frag_offset": r.get("off", 0), "icmp_type": None, "icmp_code": None, "payload_len": r.get("pay"),
        }
        for k, v in vals.items():
            cols[k].append(v)
    return pa.Table.from_pydict(cols, schema=PACKETS)


HAND = [
    # window 0 (first second)
    {"t": 0.10, "src": "1.1.1.1", "dst": V, "proto": 6, "sport": 1001, "dport": 80, "flags": 0x02, "ttl": 40},
    {"t": 0.20, "src": "1.1.1.2", "dst": V, "proto": 6, "sport": 1002, "dport": 80, "flags": 0x02, "ttl": 90},
    {"t": 0.30, "src": "1.1.1.3", "dst": V, "proto": 6, "sport": 1003, "dport": 80, "flags": 0x02, "ttl": 60},
    {"t": 0.35, "src": V, "dst": "1.1.1.1", "proto": 6, "sport": 80, "dport": 1001, "flags": 0x12},
    {"t": 0.40, "src": "1.1.1.1", "dst": V, "proto": 6, "sport": 1001, "dport": 80, "flags": 0x10, "pay": 0},
    {"t": 0.45, "src": "1.1.1.1", "dst": V, "proto": 6, "sport": 1001, "dport": 80, "flags": 0x18, "pay": 300,
     "len": 352},
    # a DNS answer in two fragments (same IP id) and an orphan fragment
    {"t": 0.50, "src": "8.8.8.8", "dst": V, "proto": 17, "sport": 53, "dport": 5555, "len": 1500, "id": 77,
     "mf": True, "pay": 1472},
    {"t": 0.50, "src": "8.8.8.8", "dst": V, "proto": 17, "len": 900, "id": 77, "off": 185},
    {"t": 0.60, "src": "9.9.9.9", "dst": V, "proto": 17, "len": 700, "id": 5, "off": 370},
    # window 1
    {"t": 1.20, "src": "1.1.1.1", "dst": V, "proto": 6, "sport": 1001, "dport": 80, "flags": 0x11, "pay": 0},
]


def test_hand_built_windows():
    w = features.packet_windows(packets(HAND), 1.0)
    c = {(r["win"].second, r["cls"]): r for r in w.by_class.iter_rows(named=True) if r["dst_ip"] == V}
    assert c[(0, "syn-flood")]["records"] == 3 and c[(0, "syn-flood")]["sources"] == 3
    assert c[(0, "syn-flood")]["ttl_spread"] == 90 - 40
    # The later fragment takes the class of its first fragment; the orphan is ip-fragment.
    assert c[(0, "dns-amplification")]["records"] == 2
    assert c[(0, "dns-amplification")]["bytes"] == 1500 + 900
    assert c[(0, "dns-amplification")]["fragment_share"] == 1.0
    assert c[(0, "ip-fragment")]["records"] == 1
    assert c[(0, "web")]["records"] == 1  # the request with payload
    assert c[(0, "ack-flood")]["records"] == 1  # the pure ACK
    assert c[(1, "other")]["records"] == 1  # FIN
    d = {(r["win"].second, r["dst_ip"]): r for r in w.by_dst.iter_rows(named=True)}
    d0 = d[(0, V)]
    assert (d0["records"], d0["tcp"], d0["syn"], d0["ack"], d0["udp"], d0["requests"]) == (8, 5, 3, 2, 3, 1)
    assert d0["sources"] == 5 and d0["new_sources"] == 5
    assert d0["syn_sent"] == 0 and d[(0, "1.1.1.1")]["syn_sent"] == 1  # what each host sent
    assert d0["top_source_share"] == 3 / 8  # 1.1.1.1 sent 3 of the 8
    assert d[(1, V)]["new_sources"] == 0
    cl = {r["src_ip"]: r for r in w.by_client.filter(pl.col("win").dt.second() == 0).iter_rows(named=True)}
    assert cl["1.1.1.1"]["requests"] == 1 and cl["1.1.1.1"]["conns"] == 1


def test_configurable_window():
    w = features.packet_windows(packets(HAND), 0.25)
    syn = w.by_class.filter(pl.col("cls") == "syn-flood").sort("win")
    assert syn["records"].to_list() == [2, 1]  # 0.10, 0.20 | 0.30


def steady_then_rise(history_pps: float) -> pa.Table:
    # A resolver's answers: first from 4 authoritative servers (below the 5-source floor, so
    # never a candidate), then ~150/s more from 40 servers.
    servers = [f"192.0.2.{i}" for i in range(1, 41)]
    return generate(
        [Phase("dns-amplification", duration=130, rate=history_pps, target=V, sources=servers[:4]),
         Phase("dns-amplification", start=120, duration=10, rate=150, target=V, sources=servers)],
        seed=4,
    )


def test_adaptive_baseline():
    # Used to ~60 answers/s: ~210/s is under 4x its baseline, no attack, although 210/s from 40
    # servers passes the floor (50/s from 5 sources).
    assert analyze(steady_then_rise(60), "packets")["attacks"] == []
    # Used to ~10/s: the same rise is an attack, starting when it started (120 s).
    (a,) = analyze(steady_then_rise(10), "packets")["attacks"]
    assert a["vector"] == "dns-amplification"
    assert a["start"].startswith("2025-03-10T10:02:00") or a["start"].startswith("2025-03-10T10:02:01")


def test_static_thresholds_option():
    # A speed test uploading ~40,000 segments/s (~480 Mbit/s) to the server: legitimate, and
    # silent by default; FastNetMon's static 20,000 pps limit calls it an attack on volume alone
    # (the trade-off the option makes).
    busy = generate([Phase("speedtest", duration=4, rate=80_000, target=V)], seed=2)
    assert analyze(busy, "packets")["attacks"] == []
    th = Thresholds(static=StaticThresholds())
    attacks = analyze(busy, "packets", thresholds=th)["attacks"]
    assert attacks and attacks[0]["peak_pps"] >= 20_000 and attacks[0]["target"] == V


def test_top_sources_exact():
    rng = np.random.default_rng(1)
    ips = [f"10.1.{i // 256}.{i % 256}" for i in rng.zipf(1.5, 5000) % 3000]
    df = pl.DataFrame({"src_ip": ips, "n": [1] * len(ips), "size": [100] * len(ips),
                       "ts": pl.Series(np.arange(len(ips)) * 10**9).cast(pl.Datetime("ns", "UTC"))})
    top = top_sources(df, 10)
    truth = Counter(ips).most_common(10)
    assert [(t["ip"], t["packets"]) for t in top] == sorted(truth, key=lambda x: (-x[1], x[0]))
    assert top[0]["share"] == truth[0][1] / len(ips)


def test_space_saving_small_batches_merge_as_large_ones(monkeypatch):
    """Batches of up to SMALL_FRAME rows are summed and ranked in Python, larger ones in
    Polars: the same summary either way, with repeated and null addresses, ties at every
    count and batches larger and smaller than k."""
    from surgescope.attack import sources

    rng = np.random.default_rng(3)
    frames = []
    for size in (50, 300, 120, 1000, 7, 400):
        ips = [None if x == 0 else f"10.0.{x // 256}.{x % 256}" for x in rng.integers(0, 700, size)]
        frames.append(pl.DataFrame({"ip": ips, "count": rng.integers(1, 4, size).astype(float),
                                    "bytes": rng.integers(40, 1500, size).astype(float)}))

    def summary() -> tuple:
        ss = SpaceSaving(100)
        for f in frames:
            ss.add_frame(f)
        return ss.count, ss.error, ss.bytes, ss.total, [r["ip"] for r in ss.top(30)]

    small = summary()
    monkeypatch.setattr(sources, "SMALL_FRAME", 0)
    assert small == summary()
    assert len(small[0]) == 100 and None not in small[0]


@pytest.mark.parametrize("batched", [False, True])
def test_space_saving_bound(batched):
    rng = np.random.default_rng(7)
    stream = [f"s{x}" for x in rng.zipf(1.3, 20_000) % 5000]
    k = 100
    ss = SpaceSaving(k)
    if batched:
        for i in range(0, len(stream), 1000):
            c = Counter(stream[i:i + 1000])
            ss.add_many(c.keys(), c.values())
    else:
        for s in stream[:4000]:
            ss.add(s)
        stream = stream[:4000]
    truth = Counter(stream)
    n = len(stream)
    assert ss.total == n
    est = {r["ip"]: r["count"] for r in ss.top(k)}
    for ip, c in est.items():
        assert truth[ip] <= c <= truth[ip] + n / k  # never under, over by at most N/k
    for ip, c in truth.items():
        if c > n / k:
            assert ip in est  # every item above the bound is kept


def _tables(kind: str, datasets) -> tuple[pa.Table, str]:
    from surgescope.sources import open_input

    if kind == "packets":
        return generate([Phase("normal", duration=3, rate=300), Phase("http-flood", start=1, duration=2, rate=800),
                         Phase("ack-flood", start=1, duration=2, rate=1500)], seed=3), "packets"
    path = {"flows": "flows/cicids2017-improved/DDoS_5000.csv", "requests": "logs/elastic-apache/apache_logs"}[kind]
    inp = open_input(datasets / path)
    return inp.read_all(), inp.table


def _same(a: features.Windows, b: features.Windows) -> bool:
    """The same three tables, row order aside."""
    return all(x.sort(pl.all()).equals(y.sort(pl.all()))
               for x, y in zip((a.by_class, a.by_dst, a.by_client), (b.by_class, b.by_dst, b.by_client), strict=True))


@pytest.mark.parametrize("kind", ["packets", "flows", "requests"])
def test_fast_columns_and_keyed_windows(kind, datasets):
    """The streaming replay's two uses of the window tables give the batch definitions'
    values: classified records cut to ``FAST_COLUMNS`` (detail=False reads nothing else), and
    several prefixes of the records in one pass, keyed by ``by`` (each the tables of its own)."""
    table, name = _tables(kind, datasets)
    cl = features.classify(table, name).collect()
    fast = cl.select(c for c in cl.columns if c in features.FAST_COLUMNS)
    assert fast.width < cl.width
    full = features.window_tables(cl, 1.0, name, detail=False, client_ips=False)
    assert _same(features.window_tables(fast, 1.0, name, detail=False, client_ips=False), full)
    cuts = [cl.height // 3, cl.height]
    keyed = features.window_tables(
        pl.concat([fast.head(n).with_columns(pl.lit(p, pl.UInt32).alias("_p")) for p, n in enumerate(cuts)]),
        1.0, name, detail=False, client_ips=False, by=("_p",))
    for p, n in enumerate(cuts):
        alone = features.window_tables(fast.head(n), 1.0, name, detail=False, client_ips=False)
        mine = features.Windows(*(t.filter(pl.col("_p") == p).drop("_p") for t in (keyed.by_class, keyed.by_dst, keyed.by_client)),
                                name, 1.0)
        assert _same(mine, alone)


def test_destination_text_made_from_numbers_is_the_readers(datasets):
    """A capture read without the destination's text (the replay's reader, watch.READ_COLUMNS)
    gets window tables whose ``dst_ip`` is the reader's text, made from the address numbers
    once per row: IPv4 and IPv6 targets (generated) and a real capture's."""
    from surgescope.sources import open_input

    table = pa.concat_tables([
        generate([Phase("normal", duration=2, rate=200), Phase("syn-flood", duration=2, rate=500, target="2001:db8::10"),
                  Phase("dns-amplification", duration=2, rate=400, target="2001:db8:0:1::ffff:7")], seed=5),
        open_input(datasets / "pcap/stopddos/amp.UDP.snmp.src161.pcapng").read_all(),
    ])
    cl = features.classify(table, "packets").collect()
    assert {4, 6} <= set(cl["ip_version"].to_list())
    numbers = cl.drop("dst_ip")
    for detail in (False, True):
        a = features.window_tables(cl, 1.0, "packets", detail=detail, client_ips=False)
        b = features.window_tables(numbers, 1.0, "packets", detail=detail, client_ips=False)
        assert _same(a, b)
    assert {"2001:db8::10", "2001:db8:0:1::ffff:7", "10.10.10.10"} <= set(b.by_dst["dst_ip"])


def test_fast_tables_count_distinct_values_where_rules_read_them(datasets):
    """``detail=False`` keeps the detail tables' distinct counts for the classes whose rules
    read them (features.DISTINCT_CLASSES, amplification) and leaves them null elsewhere."""
    from surgescope.sources import open_input

    table = pa.concat_tables([
        generate([Phase("normal", duration=3, rate=300), Phase("ack-flood", start=1, duration=2, rate=1500),
                  Phase("syn-flood", start=1, duration=1, rate=800)], seed=4),
        open_input(datasets / "pcap/stopddos/amp.UDP.snmp.src161.pcapng").read_all(),
    ])
    cl = features.classify(table, "packets")
    keys = ["win", "dst_key", "cls"]
    counts = ["sources", "src_ports", "conns", "dst_ports"]
    fast = features.window_tables(cl, 1.0, "packets", detail=False).by_class
    full = features.window_tables(cl, 1.0, "packets").by_class.select(*keys, *counts)
    both = fast.join(full, on=keys, suffix="_full")
    assert both.height == fast.height == full.height
    read = both.filter(pl.col("cls").is_in(features.DISTINCT_CLASSES) | pl.col("cls").str.ends_with("-amplification"))
    assert set(read["cls"]) >= {"ack-flood", "snmp-amplification"}
    for c in counts:
        assert read[c].equals(read[f"{c}_full"].alias(c), check_dtypes=False)
        assert both.filter(pl.col("cls") == "syn-flood")[c].null_count() == both.filter(pl.col("cls") == "syn-flood").height > 0


@pytest.mark.parametrize("capture", ["amp.dns.RRSIG.fragmented.pcap", "pkt.TCP.synflood.spoofed.pcap"])
def test_classify_frame_at_hand_without_fragments_is_the_same(datasets, capture):
    """An eager frame skips the fragment join when it holds no later fragment: the same rows
    in the same order as the lazy plan, which always joins."""
    from surgescope.sources import open_input

    df = pl.from_arrow(open_input(datasets / "pcap/stopddos" / capture).read_all())
    assert ((df["frag_offset"] > 0).any()) == ("fragmented" in capture)
    eager = features.classify_packets(df).collect()
    lazy = features.classify_packets(df.lazy()).collect()
    assert eager.equals(lazy)
