"""Decoded packet fields against Wireshark's ``tshark -T fields`` on the same files.

5,000 packets spread evenly over each shared capture (all of the smaller ones) are compared
field by field, and so are synthetic captures covering the link types, VLAN stacks, IPv6
extension headers and pcapng features the shared captures lack.
"""

from __future__ import annotations

import subprocess
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from pcap_builders import (
    ARP,
    SHARED_CAPTURES,
    eth,
    icmp,
    idb,
    ipv4,
    ipv6,
    null,
    opb,
    pcap_file,
    shb,
    sll,
    sll2,
    spb,
    tcp,
    udp,
    v6_ah,
    v6_ext,
    v6_frag,
    v6_routing,
)
from pcap_builders import epb as epb_block

from surgescope.sources import pcap
from surgescope.sources.base import Rejections

FIELDS = [
    "frame.number", "frame.time_epoch", "frame.len",
    "ip.src", "ip.dst", "ip.proto", "ip.len", "ip.hdr_len", "ip.ttl", "ip.id", "ip.flags.mf", "ip.frag_offset",
    "ipv6.src", "ipv6.dst", "ipv6.plen", "ipv6.hlim",
    "ipv6.fraghdr.nxt", "ipv6.fraghdr.offset", "ipv6.fraghdr.more", "ipv6.fraghdr.ident",
    "tcp.srcport", "tcp.dstport", "tcp.flags", "tcp.len", "udp.srcport", "udp.dstport", "udp.length",
    "icmp.type", "icmp.code", "icmpv6.type", "icmpv6.code",
]
SKIP = object()


def _ns(epoch: str) -> int | None:
    return int(Decimal(epoch) * 1_000_000_000) if epoch else None


def _int(v: str) -> int:
    return int(v, 16) if v.startswith("0x") else int(v)


def tshark_expected(path: Path) -> list[dict]:
    """PACKETS-like rows from tshark's dissection (first occurrence of each field, no reassembly)."""
    cmd = ["tshark", "-r", str(path), "-n", "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
           "-E", "occurrence=f", "-E", "separator=\t", "-T", "fields"]
    for f in FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        v = dict(zip(FIELDS, line.split("\t"), strict=True))
        r: dict = {"ts": _ns(v["frame.time_epoch"]), "frame_len": int(v["frame.len"])}
        if v["ip.src"]:
            r.update(src_ip=v["ip.src"], dst_ip=v["ip.dst"], ip_version=4, proto=int(v["ip.proto"]),
                     ip_len=int(v["ip.len"]), ttl=int(v["ip.ttl"]), ip_id=_int(v["ip.id"]),
                     frag_more=v["ip.flags.mf"] in ("1", "True"), frag_offset=int(v["ip.frag_offset"]))
            first = r["frag_offset"] == 0
            icmp_proto = 1
        elif v["ipv6.src"]:
            frag = v["ipv6.fraghdr.offset"] != ""
            r.update(src_ip=v["ipv6.src"], dst_ip=v["ipv6.dst"], ip_version=6, ip_len=40 + int(v["ipv6.plen"]),
                     ttl=int(v["ipv6.hlim"]),
                     ip_id=_int(v["ipv6.fraghdr.ident"]) if frag else None,
                     frag_more=v["ipv6.fraghdr.more"] in ("1", "True") if frag else False,
                     frag_offset=int(v["ipv6.fraghdr.offset"]) if frag else 0)
            first = r["frag_offset"] == 0
            icmp_proto = 58
            if first and v["tcp.srcport"]:
                r["proto"] = 6
            elif first and v["udp.srcport"]:
                r["proto"] = 17
            elif first and v["icmpv6.type"]:
                r["proto"] = 58
            elif frag:
                r["proto"] = int(v["ipv6.fraghdr.nxt"])
            else:
                r["proto"] = SKIP  # stops in an extension header: not checked
        else:
            r.update(src_ip=None, dst_ip=None, ip_version=None, proto=None, ip_len=None, ttl=None)
            rows.append(r)
            continue
        proto = r["proto"]
        is_tcp, is_udp = proto == 6 and first, proto == 17 and first
        r["src_port"] = int(v["tcp.srcport"]) if is_tcp else int(v["udp.srcport"]) if is_udp else None
        r["dst_port"] = int(v["tcp.dstport"]) if is_tcp else int(v["udp.dstport"]) if is_udp else None
        r["tcp_flags"] = (_int(v["tcp.flags"]) & 0xFF) if is_tcp else None
        if is_tcp:
            r["payload_len"] = int(v["tcp.len"])
        elif is_udp and r["ip_version"] == 4:
            r["payload_len"] = r["ip_len"] - int(v["ip.hdr_len"]) - 8
        elif is_udp and not r["frag_more"]:
            r["payload_len"] = int(v["udp.length"]) - 8
        elif not is_udp:
            r["payload_len"] = None
        is_icmp = proto == icmp_proto and first
        key = "icmp" if icmp_proto == 1 else "icmpv6"
        r["icmp_type"] = int(v[f"{key}.type"]) if is_icmp else None
        r["icmp_code"] = int(v[f"{key}.code"]) if is_icmp else None
        rows.append(r)
    return rows


def ours(path: Path) -> tuple[list[dict], Rejections]:
    rej = Rejections(unit="packet")
    t = pcap.read_table(path, rej)
    t = t.set_column(0, "ts", t.column("ts").cast(pa.int64()))
    return t.to_pylist(), rej


def compare(path: Path, sample: int | None = None, tmp: Path | None = None) -> tuple[list[dict], list[str]]:
    """Compare every packet, or ``sample`` packets spread over the file (runs of 10): those are
    cut out with ``editcap`` (no dissection, so fast) and only they are dissected by tshark."""
    got, rej = ours(path)
    assert rej.count == 0, rej.samples
    numbers = list(range(1, len(got) + 1))
    if sample is not None and len(got) > sample:
        assert tmp is not None
        # editcap takes at most 512 selections: runs of 10 consecutive packets, evenly spread.
        runs = sample // 10
        step = (len(got) - 10) / (runs - 1)
        firsts = sorted({1 + round(i * step) for i in range(runs)})
        numbers = sorted({f + j for f in firsts for j in range(10)})
        cut = tmp / (path.name + ".sample")
        subprocess.run(["editcap", "-F", "pcap", "-r", str(path), str(cut), *(f"{f}-{f + 9}" for f in firsts)],
                       check=True, capture_output=True)
        want = tshark_expected(cut)
    else:
        want = tshark_expected(path)
    assert len(want) == len(numbers), (len(want), len(numbers))
    diffs = []
    for num, w in zip(numbers, want, strict=True):
        g = got[num - 1]
        for k, wv in w.items():
            if wv is not SKIP and g[k] != wv:
                diffs.append(f"packet {num} {k}: ours {g[k]!r} tshark {wv!r}")
    return want, diffs


@pytest.mark.parametrize("name", SHARED_CAPTURES)
def test_shared_capture_matches_tshark(datasets: Path, name: str, tmp_path: Path) -> None:
    """All fields of 5,000 packets spread over each file (every packet of the smaller files)."""
    want, diffs = compare(datasets / "pcap" / name, sample=5000, tmp=tmp_path)
    assert len(want) >= 896
    assert not diffs, diffs[:10]
    # The comparison covers non-first fragments and ICMP, not only plain TCP.
    if "RRSIG" in name:
        assert sum(1 for w in want if w.get("frag_offset")) > 100
    if "snmp" in name:
        assert sum(1 for w in want if w.get("icmp_type") is not None) > 100


T0 = 1_741_600_000_123_456_789  # 2025-03-10, nanoseconds


def _mixed_frames() -> list[bytes]:
    """Ethernet frames covering VLAN stacks, IPv4 options and fragments, IPv6 extension headers."""
    t = tcp(40000, 443, 0x12, b"hello")
    u = udp(53, 33333, b"x" * 30)
    return [
        eth(ipv4("192.0.2.1", "10.10.10.10", 6, t, ttl=51, ident=7), 0x0800),
        eth(ipv4("192.0.2.2", "10.10.10.10", 17, u), 0x0800, vlans=((0x8100, 10),)),
        eth(ipv4("192.0.2.3", "10.10.10.10", 17, u), 0x0800, vlans=((0x88A8, 100), (0x8100, 20))),
        eth(ipv4("192.0.2.4", "10.10.10.10", 1, icmp(3, 3)), 0x0800, vlans=((0x9100, 5), (0x8100, 6))),
        eth(ipv4("192.0.2.5", "10.10.10.10", 6, t, options=b"\x94\x04\x00\x00" + b"\x01" * 4), 0x0800),
        eth(ipv4("192.0.2.6", "10.10.10.10", 17, u[:16], mf=True, ident=99), 0x0800),
        eth(ipv4("192.0.2.6", "10.10.10.10", 17, b"y" * 24, frag_offset=2, ident=99), 0x0800),
        ARP,
        eth(ipv6("2001:db8::1", "2001:db8::a", 6, t, hlim=33), 0x86DD),
        eth(ipv6("2001:db8::2", "2001:db8::a", 0, v6_ext(60) + v6_ext(17, 1) + u), 0x86DD),
        eth(ipv6("2001:db8::3", "2001:db8::a", 43, v6_routing(51) + v6_ah(6) + t), 0x86DD),
        eth(ipv6("2001:db8::4", "2001:db8::a", 44, v6_frag(17, 0, True, 0xABCDEF) + u[:16]), 0x86DD),
        eth(ipv6("2001:db8::4", "2001:db8::a", 44, v6_frag(17, 2, False, 0xABCDEF) + b"z" * 22), 0x86DD),
        eth(ipv6("2001:db8::5", "ff02::1", 58, icmp(135, 0, b"\0" * 20)), 0x86DD, vlans=((0x8100, 3),)),
        eth(ipv6("::ffff:198.51.100.7", "2001:db8::a", 17, u), 0x86DD),
    ]


def test_synthetic_ethernet_capture_matches_tshark(tmp_path: Path) -> None:
    frames = _mixed_frames()
    p = tmp_path / "mixed.pcap"
    p.write_bytes(pcap_file([(T0 + i * 1000, f) for i, f in enumerate(frames)]))
    want, diffs = compare(p)
    assert len(want) == len(frames)
    assert not diffs, diffs


@pytest.mark.parametrize("linktype", [113, 276, 101, 0, 108, 228, 229])
def test_synthetic_link_types_match_tshark(tmp_path: Path, linktype: int) -> None:
    v4 = ipv4("198.51.100.9", "10.0.0.1", 17, udp(123, 5555, b"n" * 40), ttl=9)
    v6 = ipv6("2001:db8::9", "2001:db8::1", 6, tcp(1234, 80, 0x02))
    if linktype == 113:
        frames = [sll(v4, 0x0800), sll(v6, 0x86DD), sll(b"\0" * 28, 0x0806)]
    elif linktype == 276:
        frames = [sll2(v4, 0x0800), sll2(v6, 0x86DD)]
    elif linktype == 101:
        frames = [v4, v6]
    elif linktype == 228:
        frames = [v4]
    elif linktype == 229:
        frames = [v6]
    elif linktype == 0:
        frames = [null(v4, 2, "<"), null(v6, 30, "<"), null(v4, 2, ">"), null(v6, 24, ">")]
    else:  # 108: OpenBSD loopback, family in network order
        frames = [null(v4, 2, ">"), null(v6, 24, ">")]
    p = tmp_path / f"lt{linktype}.pcap"
    p.write_bytes(pcap_file([(T0 + i, f) for i, f in enumerate(frames)], linktype=linktype))
    want, diffs = compare(p)
    assert len(want) == len(frames)
    assert not diffs, diffs


def test_synthetic_pcapng_two_interfaces_matches_tshark(tmp_path: Path) -> None:
    v4 = ipv4("203.0.113.5", "10.0.0.1", 6, tcp(5, 80, 0x10))
    blocks = [
        shb(),
        idb(1),  # Ethernet, microseconds
        idb(113, tsresol=9),  # SLL, nanoseconds
        epb_block(0, (T0 // 1000), eth(v4, 0x0800)),
        epb_block(1, T0 + 7, sll(v4, 0x0800)),
        opb(0, T0 // 1000 + 3, eth(v4, 0x0800)),
        epb_block(1, T0 + 9, sll(ipv6("2001:db8::7", "2001:db8::1", 17, udp(1, 2, b"q")), 0x86DD)),
    ]
    p = tmp_path / "two.pcapng"
    p.write_bytes(b"".join(blocks))
    want, diffs = compare(p)
    assert len(want) == 4
    assert not diffs, diffs


def test_synthetic_big_endian_pcapng_matches_tshark(tmp_path: Path) -> None:
    v4 = ipv4("203.0.113.6", "10.0.0.1", 17, udp(161, 40000, b"s" * 100))
    blocks = [shb(">"), idb(1, ">", tsresol=0x80 | 20), epb_block(0, (T0 << 20) // 1_000_000_000, eth(v4, 0x0800), ">")]
    p = tmp_path / "be.pcapng"
    p.write_bytes(b"".join(blocks))
    got, rej = ours(p)
    want = tshark_expected(p)
    assert rej.count == 0 and len(got) == len(want) == 1
    # Binary fraction (2^-20 s): tshark and we may round the last nanosecond differently.
    assert abs(got[0]["ts"] - want[0]["ts"]) <= 1
    for k in ("src_ip", "dst_ip", "proto", "src_port", "dst_port", "ip_len", "payload_len"):
        assert got[0][k] == want[0][k], k


def test_spb_takes_previous_timestamp(tmp_path: Path) -> None:
    """SPB has no timestamp (tshark shows none); ours carries the previous packet's."""
    v4 = ipv4("203.0.113.8", "10.0.0.1", 6, tcp(5, 80, 0x04))
    p = tmp_path / "spb.pcapng"
    p.write_bytes(b"".join([shb(), idb(1, tsresol=9), epb_block(0, T0, eth(v4, 0x0800)), spb(eth(v4, 0x0800))]))
    got, rej = ours(p)
    want = tshark_expected(p)
    assert rej.count == 0 and len(got) == len(want) == 2
    assert want[1]["ts"] is None and got[1]["ts"] == T0
    for k in ("src_ip", "dst_ip", "proto", "src_port", "dst_port", "tcp_flags", "frame_len"):
        assert got[1][k] == want[1][k], k
