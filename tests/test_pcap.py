"""The pcap/pcapng reader: packet counts of the shared captures, container variants, decoded
fields against values written by hand into synthetic frames, options and streaming."""

from __future__ import annotations

import gzip
import re
import struct
from pathlib import Path

import pyarrow as pa
import pytest
import zstandard
from pcap_builders import (
    ARP,
    SHARED_CAPTURES,
    epb,
    eth,
    icmp,
    idb,
    ipv4,
    ipv6,
    nrb,
    pcap_file,
    shb,
    spb,
    tcp,
    udp,
    v6_ext,
    v6_frag,
)

from surgescope import ipaddr
from surgescope.schema import PACKETS
from surgescope.sources import open_input, pcap
from surgescope.sources.base import InputError, Rejections


def _sources_counts(datasets: Path) -> dict[str, int]:
    """Packet counts as published in SOURCES.md (table rows and the CIC-DDoS2019 paragraph)."""
    text = (datasets / "SOURCES.md").read_text()
    counts = {m[1]: int(m[2].replace(",", "")) for m in re.finditer(r"^\| (\S+\.pcap(?:ng)?) \| ([\d,]+) \|", text, re.M)}
    m = re.search(r"`(CIC-DDoS-2019-SynFlood\.pcap)`: ([\d,]+) packets", text)
    assert m
    counts[m[1]] = int(m[2].replace(",", ""))
    return counts


def test_sources_md_lists_all_six_captures(datasets: Path) -> None:
    counts = _sources_counts(datasets)
    assert counts["pkt.TCP.synflood.spoofed.pcap"] == 37_841
    assert len(counts) == 6
    on_disk = {p.name for p in (datasets / "pcap").rglob("*.pcap*")}
    assert on_disk == set(counts)


@pytest.mark.parametrize("name", SHARED_CAPTURES)
def test_shared_capture_counts_and_no_rejections(datasets: Path, name: str) -> None:
    path = datasets / "pcap" / name
    inp = open_input(path)  # kind sniffed from the content
    assert (inp.kind, inp.format) == ("pcap", "pcap")
    table = inp.read_all()
    assert table.num_rows == _sources_counts(datasets)[path.name]
    assert inp.rejections.count == 0, inp.rejections.samples
    assert table.schema.equals(PACKETS)
    # The integer halves agree with the text, parsed independently.
    ip = table.filter(pa.compute.is_valid(table["src_ip"]))
    hi, lo = ipaddr.from_strings(ip["src_ip"].to_pylist())
    assert (hi == ip["src_ip_hi"].to_numpy()).all() and (lo == ip["src_ip_lo"].to_numpy()).all()


def test_named_pcapng_is_detected_as_classic_pcap(datasets: Path) -> None:
    st: dict = {}
    path = datasets / "pcap/stopddos/amp.UDP.snmp.src161.pcapng"
    pcap.read_table(path, stats=st)
    assert st["format"] == "pcap" and st["linktype"] == 1


def test_non_ip_frames_are_rows_or_dropped(datasets: Path) -> None:
    """amp.TCP.reflection.SYNACK.pcap holds 4 ARP frames (tshark: eth:ethertype:arp)."""
    path = datasets / "pcap/stopddos/amp.TCP.reflection.SYNACK.pcap"
    st: dict = {}
    t = pcap.read_table(path, stats=st)
    assert st["non_ip"] == 4 and st["frames"] == 8000 and st["ip"] == 7996
    assert t.filter(pa.compute.is_null(t["ip_version"])).num_rows == 4
    rej = Rejections()
    t2 = pcap.read_table(path, rej, ip_only=True)
    assert t2.num_rows == 7996 and rej.count == 0


T0 = 1_741_600_000_123_456_789


def _known_frames() -> list[bytes]:
    return [
        eth(ipv4("192.0.2.1", "10.10.10.10", 6, tcp(40000, 443, 0x12, b"hello"), ttl=51, ident=7, df=True), 0x0800),
        eth(ipv4("192.0.2.2", "10.10.10.10", 17, udp(53, 33333, b"x" * 30), options=b"\x01" * 8), 0x0800,
            vlans=((0x88A8, 100), (0x8100, 20))),
        ARP,
        eth(ipv6("2001:db8::2", "2001:db8::a", 0, v6_ext(44) + v6_frag(17, 0, True, 0xABCDEF) + udp(1, 2, b"u" * 8)), 0x86DD),
        eth(ipv4("192.0.2.6", "10.10.10.10", 17, b"y" * 24, frag_offset=185, ident=99), 0x0800),
        eth(ipv4("192.0.2.9", "10.10.10.10", 1, icmp(11, 0)), 0x0800),
    ]


def _check_known(t: pa.Table) -> None:
    r = t.drop_columns(["ts"]).to_pylist()
    assert [x["src_ip"] for x in r] == ["192.0.2.1", "192.0.2.2", None, "2001:db8::2", "192.0.2.6", "192.0.2.9"]
    assert [x["proto"] for x in r] == [6, 17, None, 17, 17, 1]
    assert [x["ip_version"] for x in r] == [4, 4, None, 6, 4, 4]
    assert (r[0]["src_port"], r[0]["dst_port"], r[0]["tcp_flags"], r[0]["ttl"], r[0]["ip_id"]) == (40000, 443, 0x12, 51, 7)
    assert (r[0]["ip_len"], r[0]["payload_len"], r[0]["frame_len"], r[0]["frag_more"]) == (45, 5, 59, False)
    assert (r[1]["src_port"], r[1]["dst_port"], r[1]["ip_len"], r[1]["payload_len"]) == (53, 33333, 66, 30)
    assert r[1]["frame_len"] == 14 + 8 + 66
    assert r[2]["frame_len"] == 42 and r[2]["ttl"] is None
    assert (r[3]["src_port"], r[3]["frag_more"], r[3]["frag_offset"], r[3]["ip_id"]) == (1, True, 0, 0xABCDEF)
    assert r[3]["ip_len"] == 40 + 8 + 8 + 16 and r[3]["payload_len"] == 8
    assert (r[4]["src_port"], r[4]["frag_offset"], r[4]["frag_more"], r[4]["payload_len"]) == (None, 185, False, None)
    assert (r[5]["icmp_type"], r[5]["icmp_code"], r[5]["src_port"], r[5]["tcp_flags"]) == (11, 0, None, None)
    assert r[0]["dst_ip_lo"] == 0xFFFF_0A0A_0A0A and r[0]["dst_ip_hi"] == 0
    assert r[3]["src_ip_hi"] == 0x20010DB8_00000000 and r[3]["src_ip_lo"] == 2


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("nsec", [False, True])
def test_classic_byte_orders_and_resolutions(tmp_path: Path, order: str, nsec: bool) -> None:
    frames = _known_frames()
    p = tmp_path / "k.pcap"
    p.write_bytes(pcap_file([(T0 + i, f) for i, f in enumerate(frames)], order=order, nsec=nsec))
    rej = Rejections()
    t = pcap.read_table(p, rej)
    assert rej.count == 0
    _check_known(t)
    ts = t["ts"].cast(pa.int64()).to_pylist()
    assert ts == [T0 + i if nsec else (T0 + i) // 1000 * 1000 for i in range(len(frames))]


def test_modified_kuznetsov_pcap(tmp_path: Path) -> None:
    """0xa1b2cd34 files have 24-byte record headers (ifindex, protocol, pkt_type, pad)."""
    frames = _known_frames()
    out = [struct.pack("<IHHiIII", 0xA1B2CD34, 2, 4, 0, 0, 65535, 1)]
    for i, f in enumerate(frames):
        out.append(struct.pack("<IIIIIHBB", 1_700_000_000, i, len(f), len(f), 2, 0x0800, 0, 0) + f)
    p = tmp_path / "kuz.pcap"
    p.write_bytes(b"".join(out))
    rej = Rejections()
    _check_known(pcap.read_table(p, rej))
    assert rej.count == 0


def test_pcapng_sections_interfaces_and_resolutions(tmp_path: Path) -> None:
    frames = _known_frames()
    blocks = [
        shb("<"), idb(1, snaplen=65535, tsresol=9), nrb(),
        epb(0, T0, frames[0]), epb(0, T0 + 1, frames[1]),
        # A second section, big-endian: interfaces start again from 0.
        shb(">"), idb(1, ">", tsresol=3, tsoffset=10), idb(101, ">"),
        epb(0, 5_000, frames[2], ">"), epb(0, 5_001, frames[3], ">"),
        epb(1, 7_000_000, ipv4("192.0.2.6", "10.10.10.10", 17, b"y" * 24, frag_offset=185, ident=99), ">"),
        spb(frames[5], ">"),  # SPB: interface 0 (Ethernet)
    ]
    p = tmp_path / "multi.pcapng"
    p.write_bytes(b"".join(blocks))
    rej = Rejections()
    st: dict = {}
    t = pcap.read_table(p, rej, stats=st)
    assert rej.count == 0
    _check_known(t)
    assert st["format"] == "pcapng" and st["sections"] == 2 and len(st["interfaces"]) == 3
    assert st["linktypes"] == {"1": 5, "101": 1}
    ts = t["ts"].cast(pa.int64()).to_pylist()
    # ns; then ms + 10 s offset; then us (default); the SPB repeats the previous time.
    assert ts == [T0, T0 + 1, 15_000_000_000, 15_001_000_000, 7_000_000_000, 7_000_000_000]


def test_pcapng_binary_tsresol(tmp_path: Path) -> None:
    p = tmp_path / "bin.pcapng"
    p.write_bytes(shb() + idb(1, tsresol=0x80 | 10) + epb(0, 3 * 1024 + 512, _known_frames()[0]))
    assert pcap.read_table(p)["ts"].cast(pa.int64()).to_pylist() == [3_500_000_000]


def test_snaplen_cut_transport_is_null_not_rejected(tmp_path: Path) -> None:
    full = eth(ipv4("192.0.2.1", "10.0.0.1", 6, tcp(1, 2, 0x02, b"p" * 100)), 0x0800)
    p = tmp_path / "snap.pcap"
    p.write_bytes(pcap_file([(T0, full[:14 + 20 + 2], len(full)), (T0, full[:14 + 20 + 14], len(full))], snaplen=36))
    rej = Rejections()
    r = pcap.read_table(p, rej).to_pylist()
    assert rej.count == 0
    assert r[0]["src_ip"] == "192.0.2.1" and r[0]["src_port"] is None and r[0]["frame_len"] == len(full)
    assert r[0]["ip_len"] == 140
    assert (r[1]["src_port"], r[1]["tcp_flags"], r[1]["payload_len"]) == (1, 2, 100)


def test_malformed_ip_is_rejected_with_packet_number(tmp_path: Path) -> None:
    good = eth(ipv4("192.0.2.1", "10.0.0.1", 17, udp(1, 2)), 0x0800)
    short_ip = eth(ipv4("192.0.2.1", "10.0.0.1", 17, udp(1, 2)), 0x0800)[:14 + 12]
    bad_ihl = eth(b"\x43" + ipv4("192.0.2.1", "10.0.0.1", 17, udp(1, 2))[1:], 0x0800)
    v6_claims_v4 = eth(ipv6("::1", "::2", 59, b""), 0x0800)
    short_v6 = eth(ipv6("::1", "::2", 59, b""), 0x86DD)[:14 + 30]
    runt = b"\x00" * 10
    p = tmp_path / "bad.pcap"
    p.write_bytes(pcap_file([(T0, f) for f in (good, short_ip, bad_ihl, good, v6_claims_v4, short_v6, runt, good)]))
    rej = Rejections()
    t = pcap.read_table(p, rej)
    assert t.num_rows == 3
    got = sorted((s.where, s.reason) for s in rej.samples)
    assert got == [
        (2, "truncated IPv4 header"),
        (3, "IPv4 header length (IHL) below 5"),
        (5, "IPv4 ethertype but IP version is not 4"),
        (6, "truncated IPv6 header"),
        (7, "truncated link-layer header"),
    ]


def test_unsupported_link_type_is_rejected_per_packet(tmp_path: Path) -> None:
    p = tmp_path / "wifi.pcap"
    p.write_bytes(pcap_file([(T0, b"\x08\x00" + b"\0" * 30)] * 3, linktype=105))
    rej = Rejections()
    assert pcap.read_table(p, rej).num_rows == 0
    assert rej.count == 3 and rej.samples[0].reason == "unsupported link type 105 (IEEE 802.11)"


def test_compressed_captures_read_the_same(datasets: Path, tmp_path: Path) -> None:
    src = datasets / "pcap/stopddos/amp.dns.RRSIG.fragmented.pcap"
    raw = src.read_bytes()
    (tmp_path / "c.gz").write_bytes(gzip.compress(raw))
    (tmp_path / "c.zst").write_bytes(zstandard.ZstdCompressor().compress(raw))
    base = pcap.read_table(src)
    for name in ("c.gz", "c.zst"):
        inp = open_input(tmp_path / name)
        assert inp.kind == "pcap"
        assert inp.read_all().equals(base)


def test_small_chunks_and_batches_give_the_same_table(datasets: Path) -> None:
    """Records and blocks that straddle chunk boundaries; batches bounded by batch_rows."""
    for name in ("amp.TCP.reflection.SYNACK.pcap", "amp.TCP.syn.optionallyACK.optionallysamePort.pcapng"):
        path = datasets / "pcap/stopddos" / name
        base = pcap.read_table(path)
        rej = Rejections()
        batches = list(pcap.read(path, rej, chunk_bytes=4000, batch_rows=97))
        assert rej.count == 0
        assert max(b.num_rows for b in batches) <= 97
        assert pa.Table.from_batches(batches).equals(base)


def test_small_chunks_pcapng(tmp_path: Path) -> None:
    frames = _known_frames() * 20
    p = tmp_path / "many.pcapng"
    p.write_bytes(shb() + idb(1, tsresol=9) + b"".join(epb(0, T0 + i, f) for i, f in enumerate(frames)))
    base = pcap.read_table(p)
    assert base.num_rows == len(frames)
    for chunk in (7, 64, 333):
        batches = list(pcap.read(p, Rejections(), chunk_bytes=chunk, batch_rows=11))
        assert pa.Table.from_batches(batches).equals(base)
        assert max(b.num_rows for b in batches) <= 11


def test_not_a_capture_is_one_input_error(tmp_path: Path) -> None:
    p = tmp_path / "notes.txt"
    p.write_text("this is not a capture\n")
    with pytest.raises(InputError, match="not a packet capture"):
        list(pcap.read(p, Rejections()))
    assert not pcap.sniff(p.read_bytes())
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        list(pcap.read(empty, Rejections()))


def test_sniff_all_magics() -> None:
    for magic in ("d4c3b2a1", "a1b2c3d4", "4d3cb2a1", "a1b23c4d"):
        assert pcap.sniff(bytes.fromhex(magic) + bytes(20))
    assert pcap.sniff(shb(">")) and pcap.sniff(shb("<"))
    assert not pcap.sniff(b"\x0a\x0d\x0d\x0a" + bytes(8))  # no byte-order magic


@pytest.mark.parametrize("name", SHARED_CAPTURES)
def test_column_selection_decodes_the_selected_fields_alone(datasets: Path, name: str) -> None:
    """A reader asked for some fields (the streaming replay's ``columns``) gives the rows,
    rejections and selected fields of a full decode, the same schema, and nulls elsewhere."""
    path = datasets / "pcap" / name
    full_rej, part_rej = Rejections(), Rejections()
    full = pa.Table.from_batches(list(pcap.read(path, full_rej)), schema=PACKETS)
    cols = ["src_ip_hi", "src_ip_lo", "dst_ip", "ip_version", "proto", "tcp_flags", "frag_offset", "payload_len"]
    part = pa.Table.from_batches(list(pcap.read(path, part_rej, columns=cols)), schema=PACKETS)
    assert part.num_rows == full.num_rows > 0
    assert part_rej.count == full_rej.count
    for field in PACKETS.names:
        if field in cols or field == "ts":  # ts is never left out
            assert part[field].equals(full[field]), field
        else:
            assert part[field].null_count == part.num_rows, field


def test_column_selection_rejects_unknown_fields(datasets: Path) -> None:
    with pytest.raises(ValueError, match="not PACKETS fields: bogus"):
        pcap.read_table(datasets / "pcap" / SHARED_CAPTURES[0], columns=["proto", "bogus"])


def _read_both_walks(path: Path, monkeypatch, **options) -> tuple[pa.Table, list]:
    """Read ``path`` with the compiled record walk and with the Python loops; assert the same
    table and rejections."""
    from surgescope.sources import _pcap_classic

    out = []
    for native in (True, False):
        monkeypatch.setattr(_pcap_classic, "NATIVE", native)
        rej = Rejections()
        table = pa.Table.from_batches(list(pcap.read(path, rej, **options)), schema=PACKETS)
        out.append((table, rej.count, [(s.where, s.reason) for s in rej.samples]))
    (t1, c1, s1), (t0, c0, s0) = out
    assert t1.equals(t0)
    assert (c1, s1) == (c0, s0)
    return t1, s1


def test_the_record_walk_is_built() -> None:
    """make install builds the compiled record walk; without it the reader walks in Python."""
    from surgescope.sources import _pcap_classic

    assert _pcap_classic._pcapwalk is not None


@pytest.mark.parametrize("name", [n for n in SHARED_CAPTURES if n.endswith(".pcap") or "SYNACK" in n])
def test_compiled_walk_reads_the_shared_captures_as_python(datasets: Path, name: str, monkeypatch) -> None:
    table, _ = _read_both_walks(datasets / "pcap" / name, monkeypatch, chunk_bytes=1 << 16)
    assert table.num_rows > 0


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("cut", [0, 1, 7, 15, 17, 40])
def test_compiled_walk_on_truncated_and_absurd_records(tmp_path: Path, monkeypatch, order: str, cut: int) -> None:
    """Both walks agree on both byte orders, a file cut inside its last record, and a record
    whose caplen is absurd (2^31)."""
    frames = _known_frames()
    p = tmp_path / "t.pcap"
    whole = pcap_file([(T0 + i, f) for i, f in enumerate(frames)], order=order)
    p.write_bytes(whole[: -cut or None])
    _read_both_walks(p, monkeypatch, chunk_bytes=64)
    data = bytearray(whole)
    struct.pack_into(order + "I", data, 24 + 8, 2**31)  # the first record's caplen
    p.write_bytes(bytes(data))
    _, samples = _read_both_walks(p, monkeypatch)
    assert samples and "exceeds" in samples[0][1]
