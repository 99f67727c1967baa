"""Attack detection on the real captures and flow records of ../shared/datasets.

Truth comes from outside the code under test: the file names and SOURCES.md (what each
capture is, who attacked whom) and tshark's own dissection (packet counts by display filter).
"""

import subprocess

import pytest

from surgescope.attack import analyze
from surgescope.sources import open_input


def tshark_count(path, display_filter: str) -> int:
    out = subprocess.run(
        ["tshark", "-r", str(path), "-o", "ip.defragment:FALSE", "-Y", display_filter, "-T", "fields", "-e", "frame.number"],
        capture_output=True, text=True, check=True,
    ).stdout
    return len(out.split())


def dpkt_syns_to(path, target: str) -> int:
    """SYNs (no ACK) to ``target`` counted with dpkt, a second independent dissector."""
    import ipaddress

    import dpkt

    n = 0
    dst = ipaddress.ip_address(target).packed
    with open(path, "rb") as f:
        for _, buf in dpkt.pcap.Reader(f):
            ip = dpkt.ethernet.Ethernet(buf).data
            if isinstance(ip, dpkt.ip.IP) and ip.dst == dst and isinstance(ip.data, dpkt.tcp.TCP):
                flags = ip.data.flags
                n += bool(flags & dpkt.tcp.TH_SYN) and not flags & dpkt.tcp.TH_ACK
    return n


def attacks_of(path, table="packets"):
    inp = open_input(path)
    assert inp.table == table
    return analyze(inp.read_all(), table)["attacks"]


def vector_packets(attack, vector):
    return sum(v["packets"] for v in attack["vectors"] if v["vector"] == vector)


def test_tcp_synack_reflection(datasets):
    path = datasets / "pcap/stopddos/amp.TCP.reflection.SYNACK.pcap"
    (a,) = attacks_of(path)
    assert a["vector"] == "tcp-reflection"
    assert a["target"] == "10.10.10.10"  # SOURCES.md: victim rewritten to 10.10.10.10
    # Every SYN-ACK tshark sees (outside ICMP quotes) is counted in the vector.
    assert vector_packets(a, "tcp-reflection") == tshark_count(path, "tcp.flags.syn==1 && tcp.flags.ack==1 && !icmp")
    # SOURCES.md: "~7,000 reflectors (sport 80/443)".
    assert 6_000 <= a["sources"] <= 7_100
    assert set(a["reflected_service"]["ports"][:2]) == {80, 443}  # the main reflected ports
    assert any("reflectors" in n for n in a["notes"])


def test_snmp_amplification(datasets):
    path = datasets / "pcap/stopddos/amp.UDP.snmp.src161.pcapng"
    (a,) = attacks_of(path)
    assert a["vector"] == "snmp-amplification"
    assert a["reflected_service"] == {"service": "snmp", "proto": "udp", "port": 161}
    assert vector_packets(a, "snmp-amplification") == tshark_count(path, "udp.srcport==161 && !icmp")
    assert 4_000 <= a["sources"] <= 4_300  # SOURCES.md: ~4,300 reflectors


def test_dns_rrsig_fragmented(datasets):
    path = datasets / "pcap/stopddos/amp.dns.RRSIG.fragmented.pcap"
    (a,) = attacks_of(path)
    assert a["vector"] == "dns-amplification"
    assert a["reflected_service"]["port"] == 53
    # Fragments are noted and attributed to DNS by IP id, not reported as a separate vector.
    assert any("fragments present" in n for n in a["notes"])
    assert [v["vector"] for v in a["vectors"]] == ["dns-amplification"]
    # The unrelated TCP in this capture (one established connection) is not an attack.
    assert a["sources"] >= 5


@pytest.mark.parametrize(
    ("name", "target", "spoofed"),
    [
        ("stopddos/pkt.TCP.synflood.spoofed.pcap", "10.10.10.10", True),
        ("cic-ddos2019/CIC-DDoS-2019-SynFlood.pcap", "192.168.50.4", False),
    ],
)
def test_syn_floods(datasets, name, target, spoofed):
    path = datasets / "pcap" / name
    (a,) = attacks_of(path)
    assert a["vector"] == "syn-flood"
    assert a["target"] == target
    if spoofed:
        # SOURCES.md: 37,841 packets (all SYNs), ~37,600 random sources; the capture's last
        # seconds fall below the rate floor.
        assert a["sources"] > 30_000
        assert vector_packets(a, "syn-flood") >= 0.95 * 37_841
        assert a["target_ports"][0] == {"port": 25565, "share": 1.0}  # SOURCES.md: "to port 25565"
        assert any("spoofed" in n for n in a["notes"])
    else:
        # SOURCES.md: every attacker rewritten to 172.16.0.5; the victim's RST-ACKs toward it are
        # answers to its SYNs, not an attack on 172.16.0.5.
        assert vector_packets(a, "syn-flood") == dpkt_syns_to(path, target)
        assert a["top_sources"][0]["ip"] == "172.16.0.5"
        assert a["top_sources"][0]["share"] == 1.0


@pytest.mark.parametrize("name", ["DDoS_5000.csv", "DoS_Hulk_5000.csv", "DoS_GoldenEye_5000.csv"])
def test_flow_http_floods(datasets, name):
    path = datasets / "flows/cicids2017-improved" / name
    (a,) = attacks_of(path, "flows")
    assert a["vector"] == "http-flood"
    # SOURCES.md: attack flows come from the testbed's NAT address 172.16.0.1.
    assert a["top_sources"][0]["ip"] == "172.16.0.1"
    assert a["target"] == "192.168.10.50"
    assert a["flows"] >= 4_900


def test_benign_flows_no_attack(datasets):
    assert attacks_of(datasets / "flows/cicids2017-improved/BENIGN_5000.csv", "flows") == []


def test_pipeline_fills_attacks_and_timeline(datasets):
    from surgescope.pipeline import analyze as run

    inc = run([datasets / "pcap/stopddos/amp.UDP.snmp.src161.pcapng"])
    assert [a["vector"] for a in inc.attacks] == ["snmp-amplification"]
    assert inc.timelines["traffic"] and {"t", "pps", "bps", "rps"} <= set(inc.timelines["traffic"][0])
