"""Write a PACKETS table (:data:`surgescope.schema.PACKETS`) as a classic libpcap file
(nanosecond timestamps, magic ``0xa1b23c4d``, Ethernet link type).

Each row becomes Ethernet + IPv4 (or IPv6) + TCP/UDP/ICMP headers with correct lengths and,
by default, correct IPv4 header and TCP/UDP/ICMP checksums; the payload is zero-filled to
the row's length (``ip_len``), so checksums can be computed from the headers alone. Non-first
fragments carry only IP payload. Headers are built as NumPy structured arrays per layer and
scattered into one output buffer in chunks: about 1 M packets in a few seconds, no per-packet
Python.

Limits: IPv6 fragments are written without a fragment extension header (the table holds the
fields, not the header chain); TCP options are zero bytes (End of Option List), which is
valid; sequence numbers are zero.

>>> import tempfile, os
>>> from surgescope.simulate.packets import generate, Phase
>>> path = os.path.join(tempfile.mkdtemp(), "syn.pcap")
>>> write(generate([Phase("syn-flood", duration=1, rate=100)]), path) > 0
True
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

LINKTYPE_ETHERNET = 1
_CHUNK = 131_072


def _col(t: pa.Table, name: str, dtype, fill=0) -> np.ndarray:
    a = t.column(name)
    if a.null_count:
        a = pc.fill_null(a, fill)
    return a.to_numpy(zero_copy_only=False).astype(dtype)


def _fold(s: np.ndarray) -> np.ndarray:
    """One's complement of a 32-bit sum of 16-bit words, folded to 16 bits."""
    s = s.astype(np.uint64)
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return (~s & 0xFFFF).astype(np.uint16)


def _words(b: np.ndarray) -> np.ndarray:
    """Sum of big-endian 16-bit words of each row of an (n, 2k) uint8 array."""
    w = b.reshape(len(b), -1, 2).astype(np.uint64)
    return (w[:, :, 0] * np.uint64(256) + w[:, :, 1]).sum(axis=1, dtype=np.uint64)


def _addr_bytes(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """(n, 16) network-order bytes of 128-bit addresses."""
    return np.concatenate([hi.astype(">u8").view(np.uint8).reshape(-1, 8),
                           lo.astype(">u8").view(np.uint8).reshape(-1, 8)], axis=1)


def _scatter(buf: np.ndarray, off: np.ndarray, hdr: np.ndarray) -> None:
    """Copy row i of ``hdr`` (n, L) to ``buf[off[i] : off[i] + L]``."""
    if len(off) == 0 or hdr.shape[1] == 0:
        return
    idx = off[:, None] + np.arange(hdr.shape[1], dtype=np.int64)
    buf[idx] = hdr


def _datagram_lengths(t: pa.Table, ip_payload: np.ndarray) -> np.ndarray:
    """Per row, the IP payload of its whole datagram: its own for unfragmented packets, the
    sum over the fragments sharing source, destination, protocol and IP id otherwise."""
    import polars as pl

    frag = _col(t, "frag_more", bool, False) | (_col(t, "frag_offset", np.int64) > 0)
    if not frag.any():
        return ip_payload
    df = pl.DataFrame({
        "a": _col(t, "src_ip_lo", np.uint64), "b": _col(t, "dst_ip_lo", np.uint64),
        "p": _col(t, "proto", np.uint8), "i": _col(t, "ip_id", np.int64), "n": ip_payload, "f": frag,
    })
    total = df.select(pl.when(pl.col("f")).then(pl.col("n").sum().over("a", "b", "p", "i", "f"))
                      .otherwise(pl.col("n"))).to_series().to_numpy()
    return total.astype(np.int64)


def _encode(t: pa.Table, checksums: bool, snaplen: int = 262_144) -> bytes:
    n = t.num_rows
    ts = pc.cast(t.column("ts"), pa.int64()).to_numpy(zero_copy_only=False)
    src_hi, src_lo = _col(t, "src_ip_hi", np.uint64), _col(t, "src_ip_lo", np.uint64)
    dst_hi, dst_lo = _col(t, "dst_ip_hi", np.uint64), _col(t, "dst_ip_lo", np.uint64)
    v4 = (src_hi == 0) & ((src_lo >> np.uint64(32)) == 0xFFFF) & (dst_hi == 0) & ((dst_lo >> np.uint64(32)) == 0xFFFF)
    proto = _col(t, "proto", np.uint8)
    ip_hdr = np.where(v4, 20, 40).astype(np.int64)
    ip_len = np.maximum(_col(t, "ip_len", np.int64), ip_hdr)
    frag_off = _col(t, "frag_offset", np.int64)
    frag_more = _col(t, "frag_more", bool, False)
    first = frag_off == 0
    pay_known = t.column("payload_len").is_valid().to_numpy(zero_copy_only=False)
    payload = _col(t, "payload_len", np.int64)
    datagram = _datagram_lengths(t, ip_len - ip_hdr)
    room = ip_len - ip_hdr
    tcp_hl = np.where(pay_known, room - payload, 20)
    tcp_hl = np.clip(tcp_hl // 4 * 4, 20, 60)
    l4_len = np.where(~first, 0, np.where(proto == 6, tcp_hl, np.where((proto == 17) | (proto == 1) | (proto == 58), 8, 0)))
    l4_len = np.minimum(l4_len, room)  # a truncated row never writes past its own length
    frame = 14 + ip_len
    # Headers always fit: a short snaplen cuts only the zero payload, as tcpdump -s does.
    incl = np.minimum(frame, np.maximum(snaplen, 14 + ip_hdr + l4_len))
    rec = 16 + incl
    off = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(rec, out=off[1:])
    out = np.zeros(24 + int(off[-1]), dtype=np.uint8)
    out[:24] = np.frombuffer(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, snaplen, LINKTYPE_ETHERNET), np.uint8)
    off = off[:-1] + 24

    for s in range(0, n, _CHUNK):
        e = min(n, s + _CHUNK)
        sl = slice(s, e)
        k = e - s
        o = off[sl]
        # Record header (little-endian, microseconds) and Ethernet.
        rh = np.zeros(k, dtype=[("sec", "<u4"), ("nsec", "<u4"), ("incl", "<u4"), ("orig", "<u4")])
        rh["sec"] = ts[sl] // 1_000_000_000
        rh["nsec"] = ts[sl] % 1_000_000_000
        rh["incl"] = incl[sl]
        rh["orig"] = frame[sl]
        _scatter(out, o, rh.view(np.uint8).reshape(k, 16))
        eth = np.zeros((k, 14), dtype=np.uint8)
        eth[:, 0:6] = (0x02, 0, 0, 0, 0, 0x01)
        eth[:, 6:12] = (0x02, 0, 0, 0, 0, 0x02)
        eth[:, 12:14] = np.where(v4[sl], 0x0800, 0x86DD).astype(">u2").view(np.uint8).reshape(k, 2)
        _scatter(out, o + 16, eth)
        ip_o = o + 30
        sa, da = _addr_bytes(src_hi[sl], src_lo[sl]), _addr_bytes(dst_hi[sl], dst_lo[sl])
        m4 = v4[sl]
        if m4.any():
            h = np.zeros(int(m4.sum()), dtype=[("vihl", "u1"), ("tos", "u1"), ("len", ">u2"), ("id", ">u2"),
                                                ("frag", ">u2"), ("ttl", "u1"), ("proto", "u1"), ("sum", ">u2"),
                                                ("src", "u1", 4), ("dst", "u1", 4)])
            h["vihl"] = 0x45
            h["len"] = ip_len[sl][m4]
            h["id"] = _col(t.slice(s, k), "ip_id", np.int64)[m4] & 0xFFFF
            h["frag"] = (frag_more[sl][m4].astype(np.int64) << 13) | (frag_off[sl][m4] & 0x1FFF)
            h["ttl"] = _col(t.slice(s, k), "ttl", np.uint8)[m4]
            h["proto"] = proto[sl][m4]
            h["src"] = sa[m4, 12:]
            h["dst"] = da[m4, 12:]
            hb = h.view(np.uint8).reshape(-1, 20)
            if checksums:
                h["sum"] = _fold(_words(hb))
            _scatter(out, ip_o[m4], hb)
        m6 = ~m4
        if m6.any():
            h = np.zeros(int(m6.sum()), dtype=[("vtf", ">u4"), ("plen", ">u2"), ("nh", "u1"), ("hop", "u1"),
                                                ("src", "u1", 16), ("dst", "u1", 16)])
            h["vtf"] = 0x60000000
            h["plen"] = ip_len[sl][m6] - 40
            h["nh"] = proto[sl][m6]
            h["hop"] = _col(t.slice(s, k), "ttl", np.uint8)[m6]
            h["src"] = sa[m6]
            h["dst"] = da[m6]
            _scatter(out, ip_o[m6], h.view(np.uint8).reshape(-1, 40))
        l4_o = ip_o + ip_hdr[sl]
        sport = _col(t.slice(s, k), "src_port", np.int64)
        dport = _col(t.slice(s, k), "dst_port", np.int64)
        pr = proto[sl]
        ll = l4_len[sl]
        # Pseudo-header sum for TCP/UDP checksums (and ICMPv6).
        plen = ip_len[sl] - ip_hdr[sl]
        pseudo = np.where(m4[:, None], np.concatenate([np.zeros((k, 12), np.uint8), sa[:, 12:]], 1), sa)
        pseudo_d = np.where(m4[:, None], np.concatenate([np.zeros((k, 12), np.uint8), da[:, 12:]], 1), da)
        pseudo_sum = _words(pseudo) + _words(pseudo_d) + pr.astype(np.uint64)
        for hl in np.unique(ll[(pr == 6) & (ll >= 20)]):
            m = (pr == 6) & (ll == hl)
            h = np.zeros(int(m.sum()), dtype=[("sp", ">u2"), ("dp", ">u2"), ("seq", ">u4"), ("ack", ">u4"),
                                               ("offfl", ">u2"), ("win", ">u2"), ("sum", ">u2"), ("urg", ">u2"),
                                               ("opt", "u1", int(hl) - 20)])
            h["sp"], h["dp"] = sport[m], dport[m]
            h["offfl"] = (int(hl) // 4 << 12) | (_col(t.slice(s, k), "tcp_flags", np.int64)[m] & 0x1FF)
            h["win"] = 65535
            hb = h.view(np.uint8).reshape(-1, int(hl))
            if checksums:
                h["sum"] = _fold(_words(hb) + pseudo_sum[m] + plen[m].astype(np.uint64))
            _scatter(out, l4_o[m], hb)
        m = (pr == 17) & (ll == 8)
        if m.any():
            h = np.zeros(int(m.sum()), dtype=[("sp", ">u2"), ("dp", ">u2"), ("len", ">u2"), ("sum", ">u2")])
            h["sp"], h["dp"] = sport[m], dport[m]
            # A first fragment's UDP length is the whole datagram's (all its fragments' data).
            ulen = datagram[sl][m]
            h["len"] = ulen
            hb = h.view(np.uint8).reshape(-1, 8)
            if checksums:
                c = _fold(_words(hb) + pseudo_sum[m] + ulen.astype(np.uint64))
                h["sum"] = np.where(c == 0, 0xFFFF, c)
            _scatter(out, l4_o[m], hb)
        m = ((pr == 1) | (pr == 58)) & (ll == 8)
        if m.any():
            tt = t.slice(s, k)
            h = np.zeros(int(m.sum()), dtype=[("type", "u1"), ("code", "u1"), ("sum", ">u2"), ("rest", ">u4")])
            h["type"] = _col(tt, "icmp_type", np.uint8)[m]
            h["code"] = _col(tt, "icmp_code", np.uint8)[m]
            hb = h.view(np.uint8).reshape(-1, 8)
            if checksums:
                extra = np.where(pr[m] == 58, pseudo_sum[m] + plen[m].astype(np.uint64), 0)
                h["sum"] = _fold(_words(hb) + extra)
            _scatter(out, l4_o[m], hb)
    return out.tobytes()


def write(table: pa.Table, path: str | Path, checksums: bool = True, snaplen: int = 262_144) -> int:
    """Write ``table`` (PACKETS schema) to ``path`` as classic pcap; returns packets written.

    ``snaplen`` caps the bytes stored per packet (the original length is kept in each record,
    as with ``tcpdump -s``); headers are always stored whole."""
    Path(path).write_bytes(_encode(table, checksums, snaplen))
    return table.num_rows
