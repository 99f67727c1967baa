"""The attribution verdict on real captures (StopDDoS, CIC-DDoS2019), a real access log, and
captures from the project's generator.

Independent truth: SOURCES.md (what each capture is: spoofed, reflected, rewritten; source
counts), hand counts with Polars on the raw tables, iptocc's scalar API and a plain Python
bisect over the shipped country table.
"""

from __future__ import annotations

import bisect
import ipaddress
from collections import Counter

import numpy as np
import polars as pl
import pytest

from surgescope.attribution import geodata
from surgescope.attribution.enrich import sample_addresses
from surgescope.attribution.verdict import attribute
from surgescope.simulate.packets import Phase, generate
from surgescope.sources import open_input

STOPDDOS = "pcap/stopddos"
AMP = {  # capture -> words the verdict must use for the reflected service
    "amp.TCP.reflection.SYNACK.pcap": ["SYN-ACK", "HTTP"],
    "amp.TCP.syn.optionallyACK.optionallysamePort.pcapng": ["SYN-ACK", "FTP"],
    "amp.UDP.snmp.src161.pcapng": ["SNMP"],
    "amp.dns.RRSIG.fragmented.pcap": ["DNS"],
}


def _read(datasets, rel):
    return open_input(datasets / rel, "auto").read_all()


def test_spoofed_syn_flood(datasets):
    t = _read(datasets, f"{STOPDDOS}/pkt.TCP.synflood.spoofed.pcap")
    a = attribute(None, [t])
    assert a["spoofing_suspected"] is True
    assert a["confidence"] <= 0.1
    assert "meaningless" in a["verdict"] and "forged" in a["verdict"]
    # SOURCES.md: ~37,600 random source addresses
    assert 37_000 <= a["sources"] <= 38_000
    names = {e["name"]: e["value"] for e in a["evidence"]}
    assert names["slash8_entropy"] > 0.97
    assert names["syn_without_handshake"] == 1.0
    assert not any("botnet" in c for c in a["caveats"])  # forged, not a botnet's spread


@pytest.mark.parametrize("capture", sorted(AMP))
def test_reflection_captures(datasets, capture):
    t = _read(datasets, f"{STOPDDOS}/{capture}")
    a = attribute(None, [t])
    assert a["reflected"] is True
    assert a["confidence"] <= 0.1
    for word in AMP[capture]:
        assert word in a["verdict"], (word, a["verdict"])
    assert "not where the attacker is" in a["verdict"]
    assert any("Reflected traffic" in c for c in a["caveats"])


def test_cic_syn_flood_is_rewritten(datasets):
    t = _read(datasets, "pcap/cic-ddos2019/CIC-DDoS-2019-SynFlood.pcap")
    a = attribute(None, [t])
    assert a["rewritten"] is True and a["confidence"] == 0.0
    assert a["sources"] == 1  # SOURCES.md: every attacker address rewritten to 172.16.0.5
    assert "172.16.0.5" in a["verdict"]
    assert "rewritten" in a["verdict"] and "nothing can be attributed" in a["verdict"]
    assert a["by_country"] == []


def test_pipeline_uses_the_attack_analysis(datasets):
    """End to end: readers, attack analysis, attribution, as `surgescope analyze` runs them."""
    from surgescope.pipeline import analyze

    inc = analyze([datasets / STOPDDOS / "pkt.TCP.synflood.spoofed.pcap"])
    a = inc.attribution
    assert a["spoofing_suspected"] and a["confidence"] <= 0.1
    assert {d["name"] for d in inc.data_sources} >= {d["name"] for d in a["data_sources"]}
    for attack in inc.attacks:
        for s in attack["top_sources"]:
            assert "country" in s and "asn" in s and "as_org" in s


def _country_reference(name: str = "country"):
    """Python bisect over a country table's IPv4 ranges (independent of searchsorted)."""
    t = geodata.load(name)
    starts, ends, codes = t["v4_start"].tolist(), t["v4_end"].tolist(), t["v4_cc"].tolist()

    def lookup(ip: str) -> str | None:
        v = int(ipaddress.IPv4Address(ip))
        i = bisect.bisect_right(starts, v) - 1
        if i < 0 or v > ends[i] or not codes[i]:
            return None
        return chr(codes[i] >> 8) + chr(codes[i] & 0xFF)

    return lookup


def _majority(*votes):
    named = [v for v in votes if v]
    if not named:
        return None
    best = max(named.count(v) for v in named)
    return next(v for v in named if named.count(v) == best)  # ties: the first source's


def test_apache_log_clients_by_country_and_as(datasets):
    import iptocc

    t = _read(datasets, "logs/elastic-apache/apache_logs")
    a = attribute([], [t])  # the attack analysis ran and found nothing: a table of the clients
    assert a["confidence"] == 0.0 and "No attack was found" in a["verdict"]
    clients = pl.from_arrow(t)["src_ip"].unique().to_list()
    assert a["sources"] == len(clients) == 1753  # SOURCES.md: 1,753 client addresses
    # every client counted in the country table against a plain bisect over the raw ranges
    whois, ipfire = _country_reference("country"), _country_reference("ipfire")
    want = Counter()
    for ip in clients:
        cc = _majority(whois(ip), iptocc.country_code(ip), ipfire(ip))
        if cc:
            want[cc] += 1
    got = {r["country"]: r["sources"] for r in a["by_country"]}
    for cc, n in want.most_common(10):
        assert got[cc] == n, cc
    assert a["by_country"][0]["country"] == want.most_common(1)[0][0]
    assert abs(sum(r["share"] for r in a["by_country"]) - sum(got.values()) / sum(want.values())) < 0.01
    # agreement column: every answering source names the same country (iptocc's scalar API)
    top = a["by_country"][0]["country"]
    mine = [ip for ip in clients if _majority(whois(ip), iptocc.country_code(ip), ipfire(ip)) == top]
    votes = [[v for v in (whois(ip), iptocc.country_code(ip), ipfire(ip)) if v] for ip in mine]
    agree = [len(set(v)) == 1 for v in votes if len(v) >= 2]
    assert a["by_country"][0]["sources_agree"] == pytest.approx(sum(agree) / len(agree), abs=0.001)
    # AS table: shares add up over the listed ASes and the top one is a real network
    assert a["by_asn"][0]["asn"] > 0 and a["by_asn"][0]["as_org"]
    assert a["by_asn"][0]["share"] >= a["by_asn"][-1]["share"]


# --------------------------------------------------------------------------- generated traffic

BOTNET_COUNTRIES = ["US", "BR", "IN", "VN", "ID", "CN", "RU", "DE", "FR", "TR", "UA", "MX", "TH", "PL", "EG", "AR"]


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """Captures from the project's generator, written as pcap and read back by the reader."""
    from surgescope.simulate import pcapwriter

    def through_pcap(name, table):
        path = tmp_path_factory.mktemp("gen") / f"{name}.pcap"
        pcapwriter.write(table, path)
        return open_input(path, "pcap").read_all()

    rng = np.random.default_rng(2025)
    pool = [ip for c in BOTNET_COUNTRIES for ip in sample_addresses(15, rng, c, "isp")]
    pool += sample_addresses(80, rng, as_class="hosting")
    botnet = generate([Phase("http-flood", duration=10, rate=4000, target="203.0.113.10", sources=pool)], seed=3)
    direct = generate([Phase("udp-flood", duration=5, rate=3000, target="203.0.113.10",
                             sources=sample_addresses(4, rng, "UA", "isp"))], seed=4)
    direct_syn = generate([Phase("syn-flood", duration=5, rate=3000, target="203.0.113.10",
                                 sources=sample_addresses(3, rng, "BR", "isp"))], seed=5)
    hosted = generate([Phase("udp-flood", duration=5, rate=3000, target="203.0.113.10",
                             sources=sample_addresses(20, rng, as_class="hosting"))], seed=6)
    spoofed = generate([Phase("syn-flood", duration=3, rate=2000, target="203.0.113.10")], seed=7)
    dns = generate([Phase("dns-amplification", duration=3, rate=2000, target="203.0.113.10")], seed=8)
    return {name: attribute(None, [through_pcap(name, t)]) for name, t in
            dict(botnet=botnet, direct=direct, direct_syn=direct_syn, hosted=hosted, spoofed=spoofed, dns=dns).items()}


def test_botnet_gets_moderate_confidence_with_dispersion_caveat(generated):
    a = generated["botnet"]
    assert not a["reflected"] and not a["spoofing_suspected"]
    assert 0.15 <= a["confidence"] <= 0.5
    assert len(a["by_country"]) >= 15
    assert any("botnet" in c for c in a["caveats"])
    assert any("hosting, cloud or VPN" in c for c in a["caveats"])


def test_direct_flood_from_one_country_is_the_most_confident(generated):
    a = generated["direct"]
    assert a["by_country"][0] == {**a["by_country"][0], "country": "UA", "share": 1.0}
    assert a["confidence"] == max(g["confidence"] for g in generated.values())
    assert a["confidence"] >= 0.5
    assert "UA" in a["verdict"] and "not the people" in a["verdict"]
    assert generated["direct_syn"]["by_country"][0]["country"] == "BR"
    assert not generated["direct_syn"]["spoofing_suspected"]


def test_rented_servers_lower_the_confidence(generated):
    assert generated["hosted"]["confidence"] < generated["direct"]["confidence"]


def test_generated_spoofing_and_reflection_are_recognised(generated):
    assert generated["spoofed"]["spoofing_suspected"] and generated["spoofed"]["confidence"] <= 0.1
    assert generated["dns"]["reflected"] and "DNS" in generated["dns"]["verdict"]
    assert generated["dns"]["confidence"] <= 0.1


def test_no_traffic_gives_an_honest_empty_verdict():
    a = attribute(None, [])
    assert a["sources"] == 0 and a["confidence"] == 0.0 and a["by_country"] == []


def test_flow_records_from_the_testbed_nat_are_rewritten(datasets):
    """SOURCES.md: CIC-IDS2017 attack flows come from the testbed's NAT address 172.16.0.1."""
    t = _read(datasets, "flows/cicids2017-improved/DDoS_5000.csv")
    a = attribute(None, [t])
    assert a["rewritten"] and a["confidence"] == 0.0 and a["sources"] == 1
    assert "172.16.0.1" in a["verdict"]


def test_anonymiser_list_is_counted(generated):
    ips = sample_addresses(10, np.random.default_rng(4), "NL", "isp")
    t = generate([Phase("http-flood", duration=3, rate=1000, sources=ips)], seed=9)
    listed = [f"{ips[0]}/32", ips[1], "# a comment line", ""]
    a = attribute(None, [t], anonymisers=listed)
    share = next(e["value"] for e in a["evidence"] if e["name"] == "anonymiser_share")
    assert share == pytest.approx(2 / 10)
    assert any("anonymiser" in c for c in a["caveats"])


def test_each_attack_is_also_judged_on_its_own():
    """A DNS reflection and, a minute later, a direct flood from one country: each judged on its
    own; the section's country table describes the direct flood alone, since the reflectors'
    addresses cannot place anyone, and it still says that reflection was part of the incident."""
    ips = sample_addresses(4, np.random.default_rng(12), "PL", "isp")
    t = generate([Phase("dns-amplification", start=0, duration=5, rate=2000, target="203.0.113.10"),
                  Phase("udp-flood", start=60, duration=5, rate=2000, target="203.0.113.10", sources=ips)],
                 seed=12, t0="2025-03-10T10:00:00Z")
    attacks = [
        {"vector": "dns-amplification", "start": "2025-03-10T10:00:00Z", "end": "2025-03-10T10:00:05Z", "top_sources": []},
        {"vector": "udp-flood", "start": "2025-03-10T10:01:00Z", "end": "2025-03-10T10:01:05Z", "top_sources": [{"ip": ips[0]}]},
    ]
    a = attribute(attacks, [t])
    assert a["reflected"] and a["reflected_services"] == ["dns-amplification"]
    assert [c["country"] for c in a["by_country"]] == ["PL"] and a["sources"] == 4
    assert any("left out of the country and network tables" in c for c in a["caveats"])
    first, second = attacks[0]["attribution"], attacks[1]["attribution"]
    assert first["reflected"] and first["confidence"] <= 0.1
    assert not second["reflected"] and second["by_country"][0]["country"] == "PL" and second["confidence"] >= 0.5
    assert attacks[1]["top_sources"][0]["country"] == "PL"
    assert sum("on its own" in c for c in a["caveats"]) == 2
    assert a["confidence"] == second["confidence"]


# --------------------------------------------------------------------------- simultaneous vectors

MIXED_BOTS = {"UA": 40, "BR": 30, "VN": 20, "DE": 10}  # the botnet's countries, by construction
MIXED_REFLECTORS = 150


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """One target hit at the same time by a botnet HTTP flood (bots in MIXED_BOTS, full
    handshakes), a spoofed SYN flood (a fresh random source per packet) and a DNS reflection
    (MIXED_REFLECTORS open resolvers), as pcap through the reader."""
    from surgescope.simulate import pcapwriter

    rng = np.random.default_rng(31)
    bots = [ip for cc, k in MIXED_BOTS.items() for ip in sample_addresses(k, rng, cc, "isp")]
    reflectors = sample_addresses(MIXED_REFLECTORS, rng, as_class="hosting")
    visitors = sample_addresses(60, rng, "US", "isp")  # the site's ordinary users, during the attack
    target = "203.0.113.10"
    t = generate([Phase("normal", start=0, duration=20, rate=30, target=target, target_port=443, sources=visitors),
                  Phase("http-flood", start=0, duration=20, rate=3000, target=target, target_port=443, sources=bots),
                  Phase("syn-flood", start=2, duration=15, rate=1500, target=target),
                  Phase("dns-amplification", start=3, duration=15, rate=300, target=target, sources=reflectors)],
                 seed=31, t0="2025-03-10T10:00:00Z")
    path = tmp_path_factory.mktemp("mixed") / "mixed.pcap"
    pcapwriter.write(t, path)
    table = open_input(path, "pcap").read_all()
    # the construction, counted on the raw table: every source that sent a SYN and is neither a
    # bot nor a reflector is a forged SYN-flood address
    raw = pl.from_arrow(table).filter(pl.col("dst_ip") == target)
    syn_sources = set(raw.filter((pl.col("proto") == 6) & (pl.col("tcp_flags") == 0x02))["src_ip"].to_list())
    forged = syn_sources - set(bots) - set(reflectors) - set(visitors)
    seen_reflectors = set(raw.filter(pl.col("src_port") == 53)["src_ip"].to_list())
    seen_visitors = set(raw.filter(pl.col("src_ip").is_in(visitors))["src_ip"].to_list())
    return {"table": table, "bots": bots, "reflectors": reflectors, "forged": forged, "seen_reflectors": seen_reflectors,
            "visitors": seen_visitors}


def test_simultaneous_vectors_country_table_describes_the_bots(mixed):
    a = attribute(None, [mixed["table"]])
    assert a["described"] == "located sources"
    # the 100 bots, and at most a visitor or two whose page loads opened as many connections as
    # the slowest bots (see the visitor count below)
    assert 100 <= a["sources"] <= 102
    shares = {c["country"]: c["share"] for c in a["by_country"]}
    for cc, k in MIXED_BOTS.items():
        assert abs(shares.get(cc, 0.0) - k / 100) <= 0.03, (cc, shares)
    assert a["by_country"][0]["country"] == "UA"
    assert shares.get("US", 0.0) <= 0.02  # the ordinary (US) visitors are left out, nearly all
    # forged and reflected vectors are still named, and the confidence is moderate-low
    assert a["spoofing_suspected"] and a["reflected"] and a["reflected_services"] == ["dns-amplification"]
    # moderate-low: under the same bots' confidence when they flood alone (an attacker who
    # forges and reflects at the same time hides behind every source)
    alone = attribute(None, [generate([Phase("http-flood", duration=20, rate=3000, target="203.0.113.10",
                                             target_port=443, sources=mixed["bots"])], seed=31)])
    assert alone["described"] == "all sources" and alone["sources"] == 100
    assert 0.0 < a["confidence"] <= 0.25 and a["confidence"] < alone["confidence"]
    assert "forged" in a["verdict"] and "handshakes" in a["verdict"] and "UA 40%" in a["verdict"]


def test_simultaneous_vectors_left_out_counts_match_the_construction(mixed):
    a = attribute(None, [mixed["table"]])
    assert len(mixed["seen_reflectors"]) == MIXED_REFLECTORS  # every resolver answered in the capture
    assert a["source_classes"]["forged"] == len(mixed["forged"]) > 15_000
    assert a["source_classes"]["reflector"] == MIXED_REFLECTORS
    # every visitor seen is left out as an ordinary visitor (or, with no handshake in the window,
    # unconfirmed), but for those counted with the 100 bots
    c = a["source_classes"]
    assert len(mixed["visitors"]) >= 5 and c["light"] >= 3
    assert c["light"] + c["unconfirmed"] + (c["located"] - len(mixed["bots"])) == len(mixed["visitors"])
    cav = " ".join(a["caveats"])
    assert f"{len(mixed['forged']):,} forged SYN-flood sources left out" in cav
    assert f"{MIXED_REFLECTORS:,} DNS reflectors left out" in cav
    figs = {e["name"]: e["value"] for e in a["evidence"] if e["kind"] == "source classes"}
    assert figs["forged_sources"] == len(mixed["forged"]) and figs["reflector_sources"] == MIXED_REFLECTORS


def test_few_bots_are_described_when_the_attack_analysis_names_an_http_flood():
    """Eight bots (below the count needed without attack analysis) beside a spoofed SYN flood:
    with the attack analysis naming the HTTP flood, the bots are described; without it, the
    capture is judged as a whole (forged), as before."""
    rng = np.random.default_rng(5)
    bots = sample_addresses(8, rng, "PL", "isp")
    t = generate([Phase("http-flood", duration=10, rate=1000, target="203.0.113.10", sources=bots),
                  Phase("syn-flood", duration=10, rate=1000, target="203.0.113.10")], seed=5,
                 t0="2025-03-10T10:00:00Z")
    attacks = [{"vector": "syn-flood", "start": "2025-03-10T10:00:00Z", "end": "2025-03-10T10:00:10Z",
                "target": "203.0.113.10", "top_sources": [{"ip": bots[0]}],
                "vectors": [{"vector": "syn-flood"}, {"vector": "http-flood"}]}]
    a = attribute(attacks, [t])
    assert [c["country"] for c in a["by_country"]] == ["PL"] and a["sources"] == 8
    assert a["spoofing_suspected"] and a["confidence"] <= 0.5 * 0.7
    assert attacks[0]["top_sources"][0]["country"] == "PL"
    whole = attribute(None, [t])
    assert whole["described"] == "all sources" and whole["confidence"] <= 0.1 and "meaningless" in whole["verdict"]


def test_real_captures_are_judged_as_a_whole(datasets):
    """The shared captures are forged, reflected or rewritten throughout (SOURCES.md): the stray
    conversations in them (a few of the victim's own TCP sessions) do not switch the tables."""
    for rel in (f"{STOPDDOS}/amp.dns.RRSIG.fragmented.pcap", f"{STOPDDOS}/amp.TCP.reflection.SYNACK.pcap"):
        a = attribute(None, [_read(datasets, rel)])
        assert a["described"] == "all sources" and a["confidence"] <= 0.1, rel
