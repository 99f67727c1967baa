"""The compiled one-pass frame decode (_framedecode.c) against the NumPy decode, the reference:
the same record batches, rejections and statistics on the shared captures, on generated
captures and on a few hundred mutations of real frames (truncations, byte flips, bad IHLs,
VLAN stacks, other link types)."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from pcap_builders import ARP, eth, icmp, ipv4, pcap_file, tcp, udp

from surgescope.attack.watch import READ_COLUMNS
from surgescope.schema import PACKETS
from surgescope.simulate import pcapwriter
from surgescope.simulate.packets import Phase, generate
from surgescope.sources import _decode, pcap
from surgescope.sources.base import Rejections

OPTIONS = [{}, {"columns": READ_COLUMNS}, {"ip_only": True}]
VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)


def _read(path: Path, native: bool, monkeypatch: pytest.MonkeyPatch, **options) -> tuple:
    monkeypatch.setattr(_decode, "NATIVE", native)
    rej, stats = Rejections(), {}
    table = pa.Table.from_batches(list(pcap.read(path, rej, stats=stats, **options)), schema=PACKETS)
    return table, rej.count, [(s.where, s.reason) for s in rej.samples], stats


def _native_batches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """[batches the compiled pass decoded, batches it handed to NumPy], counted from now on."""
    counts = [0, 0]
    real = _decode._decode_native

    def counting(*args, **kwargs) -> pa.RecordBatch | None:
        out = real(*args, **kwargs)
        counts[out is None] += 1
        return out

    monkeypatch.setattr(_decode, "_decode_native", counting)
    return counts


def _same_both_ways(path: Path, monkeypatch: pytest.MonkeyPatch, **options) -> pa.Table:
    """Read ``path`` with the compiled decode and with NumPy; assert identical results."""
    (t1, c1, s1, st1), (t0, c0, s0, st0) = (_read(path, native, monkeypatch, **options) for native in (True, False))
    assert t1.schema == t0.schema
    assert t1.equals(t0)
    assert (c1, s1) == (c0, s0)
    assert st1 == st0
    return t1


def test_the_frame_decode_is_built() -> None:
    """make install builds the compiled frame decode; without it NumPy decodes every batch."""
    assert _decode._framedecode is not None


def _shared_captures() -> list[Path]:
    root = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "pcap"
    return sorted([*root.rglob("*.pcap"), *root.rglob("*.pcapng")])


@pytest.mark.parametrize("path", _shared_captures(), ids=lambda p: p.name)
@pytest.mark.parametrize("options", OPTIONS, ids=["all", "read-columns", "ip-only"])
def test_shared_captures_decode_the_same(path: Path, options: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    counts = _native_batches(monkeypatch)
    table = _same_both_ways(path, monkeypatch, batch_rows=4096, **options)
    assert table.num_rows > 0
    assert counts[0] > 0  # every shared capture has batches of common frames


def test_every_shared_capture_is_checked() -> None:
    assert len(_shared_captures()) >= 6


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated capture of several vectors: TCP, UDP, ICMP, IP fragments, amplification,
    sessions, and an IPv6 target (its batches go to NumPy)."""
    phases = [
        Phase("syn-flood", duration=2, rate=800, target="203.0.113.10"),
        Phase("udp-flood", start=1, duration=2, rate=600, target="203.0.113.11"),
        Phase("icmp-flood", start=2, duration=2, rate=400, target="203.0.113.12"),
        Phase("ip-fragment", start=3, duration=2, rate=300, target="203.0.113.13"),
        Phase("dns-amplification", start=4, duration=2, rate=300, target="203.0.113.14"),
        Phase("http-flood", start=5, duration=2, rate=300, target="203.0.113.15"),
        Phase("syn-flood", start=9, duration=1, rate=500, target="2001:db8::10"),
    ]
    path = tmp_path_factory.mktemp("gen") / "gen.pcap"
    pcapwriter.write(generate(phases, seed=7), path)
    return path


@pytest.mark.parametrize("options", OPTIONS, ids=["all", "read-columns", "ip-only"])
def test_generated_captures_decode_the_same(generated: Path, options: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    counts = _native_batches(monkeypatch)
    table = _same_both_ways(generated, monkeypatch, batch_rows=1000, **options)
    assert set(table["ip_version"].unique().to_pylist()) == {4, 6}
    assert table.filter(pa.compute.greater(table["frag_offset"], 0)).num_rows > 0
    assert counts[0] > 0 and counts[1] > 0  # both paths ran


# ------------------------------------------------------------------------------ edge cases


def _edge_packets() -> list[bytes]:
    """IPv4 packets at every boundary the decoders check: transport headers cut at each byte,
    IP total lengths around the header and transport sizes, TCP data offsets, options,
    fragments. All are common frames (nothing to reject), so the compiled pass decodes them."""
    a, b = "198.51.100.7", "203.0.113.9"
    out = []
    l4s = {6: tcp(1234, 80, 0x12, b"x" * 6), 17: udp(53, 4444, b"y" * 6), 1: icmp(8, 0), 47: b"\0" * 12}
    for proto, l4 in l4s.items():
        for opts in (b"", b"\x01" * 4, b"\x01" * 40):
            whole = ipv4(a, b, proto, l4, options=opts)
            ihl = 20 + len(opts)
            out += [whole[: ihl + k] for k in range(len(l4) + 1)]
            for total in {0, 1, 19, ihl - 1, ihl, *range(ihl + 1, ihl + 30), 65535}:
                out.append(ipv4(a, b, proto, l4, options=opts, total_length=total))
            out += [ipv4(a, b, proto, l4, options=opts, frag_offset=off, mf=mf) for off in (0, 1, 8191) for mf in (0, 1)]
    for doff in range(16):
        seg = bytearray(tcp(1, 2, 0x18, b"z" * 60))
        seg[12] = doff << 4
        out.append(ipv4(a, b, 6, bytes(seg)))
    return out


@pytest.mark.parametrize("lt", [1, 113, 276, 101, 228, 12, 14])
def test_edge_packets_decode_the_same(lt: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    frames = [_relink(eth(p, 0x0800), lt) for p in _edge_packets()]
    if LINKS[lt]:  # VLAN stacks (up to four tags, the fourth not followed), cut inside a tag, not IP
        inner = ipv4("192.0.2.1", "192.0.2.2", 17, udp(1, 2, b"q"))
        for tags in range(5):
            for tpid in VLAN_TPIDS:
                stacked = _relink(eth(inner, 0x0800, vlans=((tpid, 7),) * tags), lt)
                frames += [stacked, stacked[: LINKS[lt][1] + 4 * tags - 2]] if tags else [stacked]
        frames += [_relink(ARP, lt), _relink(eth(b"\0" * 30, 0x88CC), lt)]
    path = tmp_path / "edge.pcap"
    path.write_bytes(pcap_file([(10**18 + i * 1000, f) for i, f in enumerate(frames)], linktype=lt))
    for options in OPTIONS:
        counts = _native_batches(monkeypatch)
        _same_both_ways(path, monkeypatch, **options)
        assert counts == [1, 0]  # decoded by the compiled pass, not handed over


# ------------------------------------------------------------------------------ hostile input


def _classic_frames(path: Path, limit: int) -> list[bytes]:
    """The first ``limit`` frames of a little-endian microsecond classic pcap."""
    data = path.read_bytes()
    assert data[:4] == b"\xd4\xc3\xb2\xa1", path
    frames, pos = [], 24
    while pos + 16 <= len(data) and len(frames) < limit:
        incl = struct.unpack_from("<I", data, pos + 8)[0]
        frames.append(data[pos + 16 : pos + 16 + incl])
        pos += 16 + incl
    return frames


#: link type -> (offset of the ethertype, link header length); None: raw IP, no link header
LINKS: dict[int, tuple[int, int] | None] = {1: (12, 14), 113: (14, 16), 276: (0, 20), 101: None, 228: None,
                                            12: None, 14: None}


def _relink(frame: bytes, lt: int) -> bytes:
    """An Ethernet frame as a frame of link type ``lt`` (same network packet)."""
    et, payload = frame[12:14], frame[14:]
    if lt == 1:
        return frame
    if lt == 113:
        return struct.pack("!HHH8s", 0, 1, 6, b"\x00\x15\x5d\x00\x00\x03\0\0") + et + payload
    if lt == 276:
        return et + struct.pack("!HIHBB8s", 0, 2, 1, 0, 6, b"\x00\x15\x5d\x00\x00\x03\0\0") + payload
    return payload


def _mutate(rng: random.Random, f: bytes, lt: int) -> bytes:
    link = LINKS[lt]
    l3 = link[1] if link else 0
    b = bytearray(f)
    what = rng.choice(["trunc", "trunc", "cut-l4", "flip", "ihl", "vlan", "vlan", "ethertype", "field", "field"])
    if what == "trunc" or not b:
        return bytes(b[: rng.randrange(min(len(b), 80) + 1)])
    if what == "cut-l4":  # inside the transport header: which of its fields are still there
        ihl = (b[l3] & 0x0F) * 4 if len(b) > l3 else 20
        return bytes(b[: l3 + ihl + rng.randrange(21)])
    if what == "flip":
        for _ in range(rng.randint(1, 3)):
            b[rng.randrange(min(len(b), 80))] = rng.randrange(256)
    elif what == "ihl" and len(b) > l3:
        b[l3] = (b[l3] & 0xF0) | rng.randrange(16)
    elif what == "vlan" and link:
        et_off, hdr = link
        for _ in range(rng.randint(1, 4)):
            tpid = rng.choice([*VLAN_TPIDS, 0x1234])
            b = b[:et_off] + struct.pack("!H", tpid) + b[et_off + 2 : hdr] + struct.pack("!H", rng.randrange(4096)) + \
                b[et_off : et_off + 2] + b[hdr:]
        if rng.random() < 0.3:
            b = b[: rng.randrange(len(b) + 1)]
    elif what == "ethertype" and link:
        et_off = link[0]
        b[et_off : et_off + 2] = struct.pack("!H", rng.choice([0x0800, 0x86DD, 0x0806, *VLAN_TPIDS, rng.randrange(65536)]))
    elif what == "field" and len(b) >= l3 + 20:
        ihl = (b[l3] & 0x0F) * 4
        k = rng.choice(["total", "frag", "proto", "doff"])
        if k == "total":
            total = rng.choice([0, 1, 19, 20, ihl, ihl + rng.randrange(1, 40), rng.randrange(65536)])
            b[l3 + 2 : l3 + 4] = struct.pack("!H", total)
        elif k == "frag":
            b[l3 + 6 : l3 + 8] = struct.pack("!H", rng.randrange(65536))
        elif k == "proto":
            b[l3 + 9] = rng.choice([1, 1, 6, 17, 17, 47, 58, rng.randrange(256)])
        elif len(b) > l3 + ihl + 12:
            b[l3 + ihl + 12] = rng.randrange(256)
    return bytes(b)


def test_mutated_frames_decode_the_same(datasets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A seeded loop of mutations, one to three frames changed in a small capture of real
    frames each time; both decoders agree on every one, and both paths are exercised."""
    pool = [f for name in ("stopddos/pkt.TCP.synflood.spoofed.pcap", "stopddos/amp.dns.RRSIG.fragmented.pcap",
                           "stopddos/amp.TCP.reflection.SYNACK.pcap", "cic-ddos2019/CIC-DDoS-2019-SynFlood.pcap")
            for f in _classic_frames(datasets / "pcap" / name, 200)]
    pool = [f for f in pool if f[12:14] == b"\x08\x00"] + [f for f in pool if f[12:14] != b"\x08\x00"][:20]
    rng = random.Random(20261123)
    counts = _native_batches(monkeypatch)
    path = tmp_path / "m.pcap"
    for _ in range(400):
        lt = rng.choice([1, 1, 1, 1, 113, 276, 101, 228, 12, 14])
        frames = [_relink(f, lt) for f in rng.sample(pool, 12)]
        if lt in (101, 228, 12, 14):
            frames = [f for f in frames if f[:1] and f[0] >> 4 == 4] or frames
        for i in rng.sample(range(len(frames)), rng.randint(1, 3)):
            for _ in range(rng.randint(1, 2)):  # two at once: e.g. ICMP by protocol, then cut short
                frames[i] = _mutate(rng, frames[i], lt)
        path.write_bytes(pcap_file([(10**18 + i * 1000, f) for i, f in enumerate(frames)], linktype=lt))
        _same_both_ways(path, monkeypatch, **rng.choice(OPTIONS))
    assert counts[0] > 60 and counts[1] > 60, counts  # [compiled, handed to NumPy]


def _decode_both(fr: _decode.Frames, monkeypatch: pytest.MonkeyPatch) -> tuple:
    out = []
    for native in (True, False):
        monkeypatch.setattr(_decode, "NATIVE", native)
        rej, stats = Rejections(), _decode.DecodeStats()
        batch = _decode.decode(fr, rej, stats)
        out.append((batch, rej.count, [(s.where, s.reason) for s in rej.samples], stats))
    (b1, *rest1), (b0, *rest0) = out
    assert b1.equals(b0)
    assert rest1 == rest0
    return out[0]


@pytest.mark.parametrize("case", ["huge-linktype", "linktype-per-frame", "past-the-buffer", "empty"])
def test_odd_batches_decode_the_same(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches the readers do not make but the decoder must survive: the compiled pass hands
    them to NumPy (or decodes them the same)."""
    frame = eth(ipv4("192.0.2.1", "192.0.2.2", 6, tcp(1, 2, 2)), 0x0800)
    buf = np.frombuffer(frame * 3 + bytes(64), dtype=np.uint8)
    n = 3
    start, caplen = np.arange(n, dtype=np.int64) * len(frame), np.full(n, len(frame), dtype=np.int64)
    linktype: int | np.ndarray = 1
    if case == "huge-linktype":
        linktype = 2**31 + 1
    elif case == "linktype-per-frame":
        linktype = np.array([1, 1, 101])
    elif case == "past-the-buffer":
        caplen[-1] = len(frame) + 200
    elif case == "empty":
        start, caplen, n = start[:0], caplen[:0], 0
    fr = _decode.Frames(buf=buf, start=start, caplen=caplen, wirelen=caplen.copy(), ts_ns=np.zeros(n, dtype=np.int64),
                        linktype=linktype, number=np.arange(1, n + 1, dtype=np.int64))
    _decode_both(fr, monkeypatch)
