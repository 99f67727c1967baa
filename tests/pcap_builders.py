"""Byte-level builders of frames and capture files for the pcap tests, written with ``struct``
straight from the format specifications (independent of the reader under test).

References: pcap-savefile(5); draft-ietf-opsawg-pcapng; RFC 791 (IPv4), RFC 8200 (IPv6),
RFC 793 (TCP), RFC 768 (UDP); tcpdump.org link types (SLL, SLL2, NULL, LOOP).
"""

from __future__ import annotations

import ipaddress
import struct

SHARED_CAPTURES = [
    "stopddos/amp.TCP.reflection.SYNACK.pcap",
    "stopddos/amp.TCP.syn.optionallyACK.optionallysamePort.pcapng",
    "stopddos/amp.UDP.snmp.src161.pcapng",
    "stopddos/amp.dns.RRSIG.fragmented.pcap",
    "stopddos/pkt.TCP.synflood.spoofed.pcap",
    "cic-ddos2019/CIC-DDoS-2019-SynFlood.pcap",
]
"""Every capture under ../shared/datasets/pcap (path below it)."""

# ---------------------------------------------------------------------------- frames


def _csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def tcp(sport: int, dport: int, flags: int, payload: bytes = b"", options: bytes = b"") -> bytes:
    doff = (20 + len(options)) // 4
    return struct.pack("!HHIIBBHHH", sport, dport, 1000, 0, doff << 4, flags, 65535, 0, 0) + options + payload


def udp(sport: int, dport: int, payload: bytes = b"") -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def icmp(type_: int, code: int, payload: bytes = b"\0" * 4) -> bytes:
    return struct.pack("!BBH", type_, code, 0) + payload


def ipv4(src: str, dst: str, proto: int, payload: bytes, *, ttl: int = 64, ident: int = 0x1234,
         mf: bool = False, df: bool = False, frag_offset: int = 0, options: bytes = b"",
         total_length: int | None = None) -> bytes:
    ihl = (20 + len(options)) // 4
    flags = (0x2000 if mf else 0) | (0x4000 if df else 0) | frag_offset
    total = 20 + len(options) + len(payload) if total_length is None else total_length
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, total, ident, flags, ttl, proto, 0,
                      ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed) + options
    hdr = hdr[:10] + struct.pack("!H", _csum(hdr)) + hdr[12:]
    return hdr + payload


def ipv6(src: str, dst: str, nh: int, payload: bytes, *, hlim: int = 64) -> bytes:
    return struct.pack("!IHBB16s16s", 6 << 28, len(payload), nh, hlim,
                       ipaddress.IPv6Address(src).packed, ipaddress.IPv6Address(dst).packed) + payload


def v6_ext(nh: int, body_len_units: int = 0) -> bytes:
    """Hop-by-hop / destination options / routing style header: (len+1)*8 bytes, PadN filled."""
    size = (body_len_units + 1) * 8
    pad = size - 2
    return struct.pack("!BB", nh, body_len_units) + bytes([1, pad - 2]) + b"\0" * (pad - 2)


def v6_routing(nh: int) -> bytes:
    # Type 0 routing header with segments-left 0 and one address: 24 bytes, len field 2.
    return struct.pack("!BBBBI", nh, 2, 0, 0, 0) + ipaddress.IPv6Address("2001:db8::99").packed


def v6_frag(nh: int, offset_units: int, more: bool, ident: int) -> bytes:
    return struct.pack("!BBHI", nh, 0, (offset_units << 3) | int(more), ident)


def v6_ah(nh: int) -> bytes:
    # AH with a 12-byte ICV: payload len field = (12 + 12) / 4 - 2 = 4, total 24 bytes.
    return struct.pack("!BBHII", nh, 4, 0, 0x100, 1) + b"\0" * 12


def eth(payload: bytes, ethertype: int, vlans: tuple[tuple[int, int], ...] = ()) -> bytes:
    """Ethernet II; ``vlans`` is a tuple of (TPID, VLAN id) outermost first."""
    head = bytes.fromhex("00155d000001") + bytes.fromhex("00155d000002")
    for tpid, vid in vlans:
        head += struct.pack("!HH", tpid, vid)
    return head + struct.pack("!H", ethertype) + payload


def sll(payload: bytes, protocol: int) -> bytes:
    # packet type 0 (to us), ARPHRD_ETHER 1, address length 6, address padded to 8.
    return struct.pack("!HHH8sH", 0, 1, 6, bytes.fromhex("00155d000003") + b"\0\0", protocol) + payload


def sll2(payload: bytes, protocol: int) -> bytes:
    # protocol, reserved, ifindex, ARPHRD type, packet type, address length, address (8).
    return struct.pack("!HHIHBB8s", protocol, 0, 2, 1, 0, 6, bytes.fromhex("00155d000003") + b"\0\0") + payload


def null(payload: bytes, family: int, order: str = "<") -> bytes:
    return struct.pack(order + "I", family) + payload


ARP = eth(struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, b"\x00\x15\x5d\x00\x00\x01",
                      bytes([10, 0, 0, 1]), b"\0" * 6, bytes([10, 0, 0, 2])), 0x0806)

# ---------------------------------------------------------------------------- files


def pcap_file(records: list[tuple[int, bytes] | tuple[int, bytes, int]], linktype: int = 1, *,
              order: str = "<", nsec: bool = False, snaplen: int = 65535) -> bytes:
    """Classic pcap. ``records``: (time in ns, frame[, wire length])."""
    magic = 0xA1B23C4D if nsec else 0xA1B2C3D4
    out = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    for rec in records:
        t_ns, frame = rec[0], rec[1]
        wire = rec[2] if len(rec) > 2 else len(frame)  # type: ignore[misc]
        sec, rem = divmod(t_ns, 1_000_000_000)
        frac = rem if nsec else rem // 1000
        out.append(struct.pack(order + "IIII", sec, frac, len(frame), wire) + frame)
    return b"".join(out)


def _pad4(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 4)


def _block(order: str, btype: int, body: bytes) -> bytes:
    body = _pad4(body)
    length = 12 + len(body)
    return struct.pack(order + "II", btype, length) + body + struct.pack(order + "I", length)


def _option(order: str, code: int, value: bytes) -> bytes:
    return struct.pack(order + "HH", code, len(value)) + _pad4(value)


def shb(order: str = "<") -> bytes:
    body = struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1) + _option(order, 0, b"")
    return _block(order, 0x0A0D0D0A, body)


def idb(linktype: int, order: str = "<", *, snaplen: int = 0, tsresol: int | None = None,
        tsoffset: int | None = None) -> bytes:
    opts = b""
    if tsresol is not None:
        opts += _option(order, 9, bytes([tsresol]))
    if tsoffset is not None:
        opts += _option(order, 14, struct.pack(order + "q", tsoffset))
    if opts:
        opts += _option(order, 0, b"")
    return _block(order, 1, struct.pack(order + "HHI", linktype, 0, snaplen) + opts)


def epb(iface: int, ticks: int, frame: bytes, order: str = "<", wire: int | None = None) -> bytes:
    body = struct.pack(order + "IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(frame),
                       len(frame) if wire is None else wire) + frame
    return _block(order, 6, body)


def opb(iface: int, ticks: int, frame: bytes, order: str = "<") -> bytes:
    body = struct.pack(order + "HHIIII", iface, 0, ticks >> 32, ticks & 0xFFFFFFFF, len(frame), len(frame)) + frame
    return _block(order, 2, body)


def spb(frame: bytes, order: str = "<") -> bytes:
    return _block(order, 3, struct.pack(order + "I", len(frame)) + frame)


def nrb(order: str = "<") -> bytes:
    """A name resolution block (skipped by readers that do not need names)."""
    rec = struct.pack(order + "HH", 1, 4 + 8) + _pad4(bytes([10, 0, 0, 1]) + b"host.ex\0")
    return _block(order, 4, rec + struct.pack(order + "HH", 0, 0))
