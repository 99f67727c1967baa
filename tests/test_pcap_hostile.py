"""Hostile captures: truncation at every byte, random and mutated bytes, absurd record and block
lengths, a gzip bomb. Each case reads what is good and counts the rest, or raises InputError
with one message; nothing else escapes, nothing loops, nothing allocates absurdly."""

from __future__ import annotations

import gzip
import signal
import struct
import tempfile
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pcap_builders import ARP, epb, eth, icmp, idb, ipv4, ipv6, pcap_file, shb, tcp, udp

from surgescope.schema import PACKETS
from surgescope.sources import pcap
from surgescope.sources.base import InputError, Rejections

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

FRAMES = [
    eth(ipv4("192.0.2.1", "10.0.0.1", 6, tcp(1, 80, 0x02)), 0x0800),
    eth(ipv4("192.0.2.2", "10.0.0.1", 17, udp(53, 9, b"d" * 40)), 0x0800, vlans=((0x8100, 7),)),
    ARP,
    eth(ipv6("2001:db8::1", "2001:db8::2", 58, icmp(128, 0)), 0x86DD),
    eth(ipv4("192.0.2.3", "10.0.0.1", 1, icmp(8, 0, b"p" * 64)), 0x0800),
]


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    """Fail instead of hanging if the reader loops."""

    def boom(*_: object) -> None:
        raise TimeoutError(f"reader did not finish within {seconds} s")

    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def read_safely(path: Path, **options) -> tuple[pa.Table | None, Rejections, str | None]:
    """(table, rejections, InputError message): any other exception fails the test."""
    rej = Rejections(unit="packet")
    try:
        with time_limit(20):
            batches = list(pcap.read(path, rej, **options))
    except InputError as e:
        msg = str(e)
        assert "\n" not in msg and msg
        # The reader's last-resort wrapper of unforeseen exceptions must never be needed.
        assert "could not be read further" not in msg, msg
        return None, rej, msg
    for b in batches:
        assert b.schema.equals(PACKETS)
        assert b.column("ts").null_count == 0 and b.column("frame_len").null_count == 0
    return pa.Table.from_batches(batches, schema=PACKETS), rej, None


_SCRATCH = Path(tempfile.mkdtemp(prefix="pcap-hostile-")) / "x.cap"


def _write(data: bytes) -> Path:
    """One scratch file per test process, overwritten by each hypothesis example."""
    _SCRATCH.write_bytes(data)
    return _SCRATCH


def test_classic_truncated_at_every_byte(tmp_path: Path) -> None:
    data = pcap_file([(1_700_000_000_000_000_000 + i, f) for i, f in enumerate(FRAMES)])
    ends, pos = [], 24
    for f in FRAMES:
        pos += 16 + len(f)
        ends.append(pos)
    p = tmp_path / "cut.pcap"
    for cut in range(len(data) + 1):
        p.write_bytes(data[:cut])
        t, rej, err = read_safely(p)
        if cut < 24:
            assert err is not None, cut  # empty, no magic, or truncated file header
            continue
        complete = sum(1 for e in ends if e <= cut)
        assert t is not None and t.num_rows == complete, cut
        at_boundary = cut == 24 or cut in ends
        assert rej.count == (0 if at_boundary else 1), (cut, rej.samples)
        if not at_boundary:
            assert rej.samples[0].where == complete + 1
            assert rej.samples[0].reason.startswith("truncated record")


def test_pcapng_truncated_at_every_byte(tmp_path: Path) -> None:
    head = shb() + idb(1, tsresol=9)
    blocks = [epb(0, 10**18 + i, f) for i, f in enumerate(FRAMES)]
    data = head + b"".join(blocks)
    ends, pos = [], len(head)
    for b in blocks:
        pos += len(b)
        ends.append(pos)
    p = tmp_path / "cut.pcapng"
    for cut in range(len(data) + 1):
        p.write_bytes(data[:cut])
        t, rej, err = read_safely(p)
        if cut < 12:
            assert err is not None, cut  # no section header magic yet
            continue
        complete = sum(1 for e in ends if e <= cut)
        assert t is not None and t.num_rows == complete, cut
        at_boundary = cut == len(head) or cut in ends or cut == len(shb())
        assert rej.count == (0 if at_boundary else 1), (cut, rej.samples)


@pytest.mark.parametrize("caplen", [2**31, 2**32 - 1, 262_145])
def test_absurd_caplen_is_one_rejection_without_allocation(tmp_path: Path, caplen: int) -> None:
    good = pcap_file([(10**18, f) for f in FRAMES])
    bad = struct.pack("<IIII", 1, 0, caplen, caplen) + b"\xee" * 100
    p = tmp_path / "absurd.pcap"
    p.write_bytes(good + bad + good[24:])
    tracemalloc.start()
    try:
        t, rej, err = read_safely(p)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert err is None and t is not None
    assert t.num_rows == len(FRAMES)  # the good records before it
    assert rej.count == 1 and rej.samples[0].where == len(FRAMES) + 1
    assert f"record length {caplen} exceeds" in rej.samples[0].reason
    assert peak < 200 * 2**20  # bounded by the chunk buffer, not by the claimed length


@pytest.mark.parametrize("length", [0, 4, 8, 13, 45, 0xFFFFFFFC, 0xFFFFFFFF])
def test_pcapng_bad_block_length_stops_with_rejection(tmp_path: Path, length: int) -> None:
    good = shb() + idb(1) + epb(0, 1, FRAMES[0])
    evil = struct.pack("<II", 6, length) + b"\0" * 64
    p = tmp_path / "loop.pcapng"
    p.write_bytes(good + evil + epb(0, 2, FRAMES[1]))
    t, rej, err = read_safely(p)
    assert err is None and t is not None and t.num_rows == 1
    assert rej.count == 1 and f"invalid length {length}" in rej.samples[0].reason


def test_pcapng_mismatched_trailer_and_unknown_interface(tmp_path: Path) -> None:
    block = bytearray(epb(0, 1, FRAMES[0]))
    block[-4:] = struct.pack("<I", len(block) + 4)
    p = tmp_path / "trailer.pcapng"
    p.write_bytes(shb() + idb(1) + epb(3, 1, FRAMES[0]) + epb(0, 1, FRAMES[1]) + bytes(block))
    t, rej, err = read_safely(p)
    assert t is not None and t.num_rows == 1
    reasons = sorted(s.reason for s in rej.samples)
    assert rej.count == 2
    assert reasons[0].startswith("block at byte") and "mismatched lengths" in reasons[0]
    assert reasons[1].startswith("packet block names an interface")


def test_pcapng_caplen_beyond_block(tmp_path: Path) -> None:
    block = bytearray(epb(0, 1, FRAMES[0]))
    block[20:24] = struct.pack("<I", 5000)  # caplen larger than the block holds
    p = tmp_path / "cap.pcapng"
    p.write_bytes(shb() + idb(1) + bytes(block) + epb(0, 2, FRAMES[1]))
    t, rej, err = read_safely(p)
    assert t is not None and t.num_rows == 1 and rej.count == 1
    assert rej.samples[0].where == 1 and "exceeds its block length" in rej.samples[0].reason


def test_gzip_bomb_streams_in_bounded_memory(tmp_path: Path) -> None:
    """128 MiB of maximal zero-filled records from a small gzip file: memory stays at the chunk."""
    rec = struct.pack("<IIII", 1, 0, 262_144, 262_144) + bytes(262_144)
    member = gzip.compress(pcap_file([])[:24] + rec * 16, compresslevel=9)
    rest = gzip.compress(rec * 16, compresslevel=9)
    p = tmp_path / "bomb.pcap.gz"
    p.write_bytes(member + rest * 31)  # gzip allows concatenated members
    assert p.stat().st_size < 2**20
    tracemalloc.start()
    try:
        t, rej, err = read_safely(p, chunk_bytes=4 << 20, batch_rows=4096)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert err is None and t is not None
    assert t.num_rows == 32 * 16 and rej.count == 0  # zero frames are non-IP Ethernet frames
    assert peak < 48 * 2**20, peak / 2**20


def test_random_text_is_input_error(tmp_path: Path) -> None:
    t, rej, err = read_safely(_write(b"<html>" + bytes(range(256)) * 4))
    assert t is None and err is not None and "not a packet capture" in err


@SETTINGS
@given(tail=st.binary(min_size=0, max_size=3000), order=st.sampled_from(["<", ">"]),
       nsec=st.booleans(), linktype=st.sampled_from([0, 1, 101, 108, 113, 228, 229, 276, 105]))
def test_random_bytes_after_valid_classic_header(tail: bytes, order: str, nsec: bool, linktype: int) -> None:
    t, rej, err = read_safely(_write(pcap_file([], linktype, order=order, nsec=nsec) + tail))
    assert err is None and t is not None
    assert t.num_rows + rej.count <= max(1, len(tail) // 16 + 1)


@SETTINGS
@given(tail=st.binary(min_size=0, max_size=3000), order=st.sampled_from(["<", ">"]))
def test_random_bytes_after_valid_pcapng_header(tail: bytes, order: str) -> None:
    t, rej, err = read_safely(_write(shb(order) + idb(1, order) + tail))
    assert err is None and t is not None


@SETTINGS
@given(data=st.data(), ng=st.booleans())
def test_mutated_captures(data: st.DataObject, ng: bool) -> None:
    if ng:
        base = bytearray(shb() + idb(1, tsresol=9) + idb(113) + b"".join(epb(i % 2, i, f) for i, f in enumerate(FRAMES)))
    else:
        base = bytearray(pcap_file([(i, f) for i, f in enumerate(FRAMES)]))
    edits = data.draw(st.lists(st.tuples(st.integers(0, len(base) - 1), st.integers(0, 255)), min_size=1, max_size=12))
    for pos, val in edits:
        base[pos] = val
    read_safely(_write(bytes(base)))


@SETTINGS
@given(blob=st.binary(min_size=0, max_size=2000))
def test_arbitrary_bytes(blob: bytes) -> None:
    t, rej, err = read_safely(_write(blob))
    if not pcap.sniff(blob[:64]):
        assert err is not None and t is None


def test_pcapng_interface_flood_stops(tmp_path: Path) -> None:
    p = tmp_path / "idbs.pcapng"
    p.write_bytes(shb() + idb(1) * 5000 + epb(0, 1, FRAMES[0]))
    t, rej, err = read_safely(p)
    assert t is not None and t.num_rows == 0
    assert rej.count == 1 and "more than 4096 interfaces" in rej.samples[0].reason


def test_truncated_gzip_keeps_the_prefix(datasets: Path, tmp_path: Path) -> None:
    """A gzip stream cut in half: what decompressed before the cut is read (open_binary loses
    up to its 1 MiB read-ahead at the cut, so the file is a multi-megabyte one)."""
    raw = (datasets / "pcap/stopddos/pkt.TCP.synflood.spoofed.pcap").read_bytes()
    gz = gzip.compress(raw + raw[24:] * 2, compresslevel=1)  # one capture, three times the records
    p = tmp_path / "cut.pcap.gz"
    p.write_bytes(gz[: len(gz) // 2])
    t, rej, err = read_safely(p)
    assert err is None and t is not None
    assert 10_000 < t.num_rows < 3 * 37_841 and rej.count <= 1


@pytest.mark.parametrize("tsresol,tsoffset", [(127, None), (0x80 | 127, None), (6, 2**62), (6, -(2**62)), (28, 2**63 - 1)])
def test_absurd_time_resolution_and_offset(tsresol, tsoffset):
    """Found by the mutation test: an if_tsresol of 10^-127 overflowed a NumPy integer. Absurd
    units and offsets keep the packet (its addresses are fine); only its time is unusable."""
    frame = eth(ipv4("198.51.100.1", "203.0.113.9", 17, udp(53, 4444, b"x" * 20)), 0x0800)
    data = shb() + idb(1, tsresol=tsresol, tsoffset=tsoffset) + epb(0, 2**63 + 12345, frame)
    table, rej, err = read_safely(_write(data))
    assert err is None and table is not None
    assert table.num_rows + rej.count == 1
    if table.num_rows:
        assert table.column("src_ip").to_pylist() == ["198.51.100.1"]
