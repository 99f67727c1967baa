"""Vectorised decoding of captured frames into :data:`surgescope.schema.PACKETS` columns.

The container readers (:mod:`._pcap_classic`, :mod:`._pcapng`) only find where each frame
starts; this module decodes a whole batch of frames at once with NumPy gathers at
per-frame offsets: link layer (Ethernet with 802.1Q/QinQ tags, Linux cooked SLL and SLL2,
raw IP, BSD loopback/null), IPv4 (options via IHL) and IPv6 (extension headers walked to the
transport header), then TCP/UDP/ICMP fields. No Python loop runs per packet.

The common batch -- one link type among Ethernet, SLL, SLL2 and raw IP, every frame IPv4 or
not IP, nothing to reject -- is decoded by a compiled pass instead (``_framedecode.c``, half
the reader's CPU on a million-packet capture), with the same output; any other batch, or a
build without the compiled module, takes the NumPy path, which stays the reference.

What becomes of a frame:

- an IP packet whose IP header is fully captured -> one row;
- a frame that is not IP (ARP, LLDP, STP, ...) -> one row with ``ts`` and ``frame_len`` and
  null IP fields (so the row count equals the capture's packet count, as tshark counts it),
  unless ``ip_only=True``, in which case it is dropped and counted in :class:`DecodeStats`;
- a frame that claims to be IP but whose header is cut short or malformed, or whose link
  header is cut short, or whose link type is not supported -> a rejection (packet number and
  reason), no row.

Transport fields are null, not rejected, when the capture's snap length cut them off
(a legitimate, common capture setting), and for non-first fragments (no transport header).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from surgescope import ipaddr
from surgescope.schema import PACKETS
from surgescope.sources._addrtext import address_text
from surgescope.sources._chunks import PAD
from surgescope.sources.base import Rejections

try:  # the compiled one-pass decoder of common frames; without it NumPy decodes everything
    from surgescope.sources import _framedecode
except ImportError:  # pragma: no cover - a build without a C compiler
    _framedecode = None

#: Decode common batches with the compiled pass when it is built; False: NumPy only (tests compare).
NATIVE = True

# Link-layer header types (https://www.tcpdump.org/linktypes.html).
LT_NULL, LT_ETHERNET, LT_RAW, LT_LOOP, LT_SLL, LT_IPV4, LT_IPV6, LT_SLL2 = 0, 1, 101, 108, 113, 228, 229, 276
#: DLT_RAW as written by some OpenBSD/BSD/OS versions of libpcap instead of LINKTYPE_RAW.
LT_RAW_ALIASES = (12, 14)
SUPPORTED_LINKTYPES = frozenset({LT_NULL, LT_ETHERNET, LT_RAW, LT_LOOP, LT_SLL, LT_IPV4, LT_IPV6, LT_SLL2, *LT_RAW_ALIASES})
LINKTYPE_NAMES = {
    0: "BSD loopback", 1: "Ethernet", 12: "raw IP", 14: "raw IP", 101: "raw IP", 108: "OpenBSD loopback",
    113: "Linux cooked (SLL)", 228: "raw IPv4", 229: "raw IPv6", 276: "Linux cooked v2 (SLL2)",
    105: "IEEE 802.11", 127: "802.11 radiotap", 9: "PPP", 50: "PPP in HDLC", 104: "Cisco HDLC",
}

ETH_IPV4, ETH_IPV6 = 0x0800, 0x86DD
VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)
#: Tags followed at most (QinQ is two; a third covers the odd 0x9100-in-0x88a8 stack).
MAX_VLAN_TAGS = 3
#: BSD AF_INET6 values differ by OS: NetBSD/OpenBSD 24, FreeBSD 28, Darwin 30, Linux 10.
AF_INET, AF_INET6 = 2, (10, 24, 28, 30)

#: IPv6 extension headers we walk through (RFC 8200 s4, plus mobility and HIP/shim6).
V6_EXT_GENERIC = (0, 43, 60, 135, 139, 140, 253, 254)
V6_FRAGMENT, V6_AH = 44, 51
MAX_V6_EXT = 8

PROTO_TCP, PROTO_UDP, PROTO_ICMP, PROTO_ICMPV6 = 6, 17, 1, 58

#: The link types the compiled pass decodes (the others are rare enough to be NumPy's alone).
NATIVE_LINKTYPES = frozenset({LT_ETHERNET, LT_SLL, LT_SLL2, LT_RAW, LT_IPV4, *LT_RAW_ALIASES})

# Frame classes produced by the link layer step.
K_NOT_IP, K_V4, K_V6 = 0, 4, 6
K_TRUNC_LINK, K_UNSUPPORTED, K_BAD_RAW = -1, -2, -3


@dataclass
class Frames:
    """A batch of captured frames located in one byte buffer.

    ``buf`` is the buffer; frame ``i`` occupies ``buf[start[i] : start[i] + caplen[i]]`` and
    the buffer holds at least :data:`PAD` bytes after the last frame.
    ``linktype`` is one link type for all frames, or an array with one per frame (pcapng with
    several interfaces). ``number`` is the 1-based packet number in the file.
    """

    buf: np.ndarray
    start: np.ndarray
    caplen: np.ndarray
    wirelen: np.ndarray
    ts_ns: np.ndarray
    linktype: int | np.ndarray
    number: np.ndarray

    def __len__(self) -> int:
        return len(self.start)


@dataclass
class DecodeStats:
    """What the decoder saw besides accepted rows and rejections."""

    frames: int = 0
    ip: int = 0
    non_ip: int = 0
    linktypes: dict[int, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"frames": self.frames, "ip": self.ip, "non_ip": self.non_ip,
                "linktypes": {str(k): v for k, v in sorted(self.linktypes.items())}}


class _Gather:
    """Big-endian field reads at arbitrary offsets of one buffer, many offsets at once.

    Offsets are clipped into the buffer, so a garbage length can never raise or read out of
    bounds (a clipped read returns bytes from elsewhere, harmlessly: it only happens past a
    frame's end plus :data:`PAD`, where callers' validity checks against the frame's end
    already discard the value).

    Reads go through an overlapping view of the buffer as ``width``-byte items at every byte
    offset (stride 1), so a fancy index copies whole fields per row: measured 13 ms for 262 k
    20-byte IPv4 headers, against 45 ms for a ``(rows, 20)`` index matrix on the byte array.
    """

    def __init__(self, buf: np.ndarray):
        if len(buf) < PAD:
            buf = np.concatenate([buf, np.zeros(PAD, dtype=np.uint8)])
        self.b = buf
        self.n = len(buf)

    def window(self, pos: np.ndarray, width: int) -> np.ndarray:
        """``(len(pos), width)`` uint8 array of the bytes at each position."""
        items = np.ndarray(shape=(self.n - width + 1,), dtype=np.dtype((np.void, width)),
                           buffer=self.b, strides=(1,))
        return items[np.minimum(pos, self.n - width)].view(np.uint8).reshape(-1, width)

    def u8(self, pos: np.ndarray) -> np.ndarray:
        return self.b[np.minimum(pos, self.n - 1)]

    def u16(self, pos: np.ndarray) -> np.ndarray:
        return self.window(pos, 2).view(">u2").ravel().astype(np.uint16)

    def u16le(self, pos: np.ndarray) -> np.ndarray:
        return self.window(pos, 2).view("<u2").ravel().astype(np.uint16)

    def u32(self, pos: np.ndarray) -> np.ndarray:
        return self.window(pos, 4).view(">u4").ravel().astype(np.uint32)


def _ethertype_to_kind(et: np.ndarray) -> np.ndarray:
    return np.where(et == ETH_IPV4, K_V4, np.where(et == ETH_IPV6, K_V6, K_NOT_IP)).astype(np.int8)


def _skip_vlan(g: _Gather, et: np.ndarray, pos: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Follow 802.1Q / 802.1ad (QinQ) tags: ``pos`` is just after the ethertype ``et``."""
    for _ in range(MAX_VLAN_TAGS):
        tagged = np.isin(et, VLAN_TPIDS) & (pos + 4 <= end)
        if not tagged.any():
            break
        et = np.where(tagged, g.u16(pos + 2), et)
        pos = np.where(tagged, pos + 4, pos)
    return et, pos


def _ip_nibble_kind(g: _Gather, pos: np.ndarray, end: np.ndarray) -> np.ndarray:
    v = g.u8(pos) >> 4
    kind = np.where(v == 4, K_V4, np.where(v == 6, K_V6, K_BAD_RAW)).astype(np.int8)
    return np.where(pos < end, kind, K_TRUNC_LINK).astype(np.int8)


def link_layer(g: _Gather, start: np.ndarray, end: np.ndarray, lt: int) -> tuple[np.ndarray, np.ndarray]:
    """(offset of the network header, frame class K_*) for frames of one link type."""
    n = len(start)
    if lt == LT_ETHERNET:
        et, pos = _skip_vlan(g, g.u16(start + 12), start + 14, end)
        kind = _ethertype_to_kind(et)
        kind[start + 14 > end] = K_TRUNC_LINK
        return pos, kind
    if lt in (LT_SLL, LT_SLL2):
        hdr = 16 if lt == LT_SLL else 20
        et = g.u16(start + (14 if lt == LT_SLL else 0))
        et, pos = _skip_vlan(g, et, start + hdr, end)
        kind = _ethertype_to_kind(et)
        kind[start + hdr > end] = K_TRUNC_LINK
        return pos, kind
    if lt in (LT_RAW, *LT_RAW_ALIASES):
        return start, _ip_nibble_kind(g, start, end)
    if lt in (LT_IPV4, LT_IPV6):
        kind = _ip_nibble_kind(g, start, end)
        want = K_V4 if lt == LT_IPV4 else K_V6
        kind[(kind > 0) & (kind != want)] = K_BAD_RAW
        return start, kind
    if lt in (LT_NULL, LT_LOOP):
        # The 4-byte address family is in the capturing host's byte order for NULL (so either
        # order here) and in network order for LOOP; accept both for both, as tshark does.
        le = g.u16le(start).astype(np.uint32) | (g.u16le(start + 2).astype(np.uint32) << 16)
        be = (g.u16(start).astype(np.uint32) << 16) | g.u16(start + 2)
        fam = np.where(le <= 0xFFFF, le, be)
        kind = np.where(fam == AF_INET, K_V4, np.where(np.isin(fam, AF_INET6), K_V6, K_NOT_IP)).astype(np.int8)
        kind[start + 4 > end] = K_TRUNC_LINK
        return start + 4, kind
    return start.copy(), np.full(n, K_UNSUPPORTED, dtype=np.int8)


def _rows(idx: np.ndarray, n: int) -> np.ndarray | slice:
    """``idx`` (sorted, unique row numbers) as a slice when it is every row: scattering
    through a slice is a plain copy, through an index array a gather per element."""
    return slice(None) if len(idx) == n else idx


def _masked(values: np.ndarray, valid: np.ndarray | None, typ: pa.DataType) -> pa.Array:
    """``values`` (of ``typ``'s width) as an Arrow array, null where not ``valid`` (None: never).

    Built from the buffers: ``pa.array`` on a NumPy array first imports ``numpy.ma`` (53 ms,
    measured as the replay's first batch) and checks each array's type again."""
    if typ == pa.bool_():
        data = pa.py_buffer(np.packbits(values.astype(bool, copy=False), bitorder="little"))
    else:
        data = pa.py_buffer(np.ascontiguousarray(values.astype(typ.to_pandas_dtype(), copy=False)))
    n = len(values)
    nulls = 0 if valid is None else n - int(np.count_nonzero(valid))
    mask = pa.py_buffer(np.packbits(valid, bitorder="little")) if nulls else None
    return pa.Array.from_buffers(typ, n, [mask, data], null_count=nulls)


def reject_numbers(rejections: Rejections, numbers: np.ndarray, reason: str) -> None:
    """Count ``len(numbers)`` rejections, sampling only as many as the account keeps.

    (Converting millions of packet numbers to a list only to keep 20 would dominate the
    cost of a hostile file.)
    """
    room = max(0, rejections.max_samples - len(rejections.samples))
    rejections.add_many(numbers[:room].tolist(), reason)
    rejections.count += max(0, len(numbers) - room)


class _Columns:
    """The PACKETS fields of one batch under construction (full length; masks mark validity),
    plus where each packet's transport header starts."""

    def __init__(self, n: int, alloc: Callable[..., np.ndarray] = np.zeros):
        # alloc np.empty: for a caller that writes every field of every row itself (the
        # compiled pass; zeroing them first cost 6 ms per million frames).
        z = alloc
        self.n = n
        self.ip_version, self.proto, self.ttl = z(n, np.uint8), z(n, np.uint8), z(n, np.uint8)
        self.ip_len, self.ip_id, self.ip_id_ok = z(n, np.uint32), z(n, np.uint32), z(n, bool)
        self.frag_more, self.frag_offset = z(n, bool), z(n, np.uint16)
        self.l4, self.ip_end = z(n, np.int64), z(n, np.int64)
        self.first_frag, self.l4_known = z(n, bool), z(n, bool)
        self.src_port, self.dst_port, self.ports_ok = z(n, np.uint16), z(n, np.uint16), z(n, bool)
        self.tcp_flags, self.flags_ok = z(n, np.uint16), z(n, bool)
        self.icmp_type, self.icmp_code, self.icmp_ok = z(n, np.uint8), z(n, np.uint8), z(n, bool)
        self.payload, self.payload_ok = z(n, np.int64), z(n, bool)


Reject = Callable[[np.ndarray, str], None]


def _link(g: _Gather, fr: Frames, start: np.ndarray, end: np.ndarray, stats: DecodeStats) -> tuple[np.ndarray, np.ndarray]:
    """(network header offset, frame class) of every frame, per link type present."""
    if not isinstance(fr.linktype, np.ndarray):
        lt = int(fr.linktype)
        stats.linktypes[lt] = stats.linktypes.get(lt, 0) + len(start)
        return link_layer(g, start, end, lt)
    l3 = np.zeros(len(start), dtype=np.int64)
    kind = np.zeros(len(start), dtype=np.int8)
    for lt in np.unique(fr.linktype).tolist():
        idx = np.flatnonzero(fr.linktype == lt)
        l3[idx], kind[idx] = link_layer(g, start[idx], end[idx], int(lt))
        stats.linktypes[lt] = stats.linktypes.get(lt, 0) + len(idx)
    return l3, kind


def _ipv4(g: _Gather, c: _Columns, rows: np.ndarray, l3: np.ndarray, end: np.ndarray,
          reject: Reject) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode the IPv4 headers of ``rows``; returns (rows kept, source, destination as uint32)."""
    p, e = l3[rows], end[rows]
    vb = g.u8(p)
    ihl = (vb & 0x0F).astype(np.int64) * 4
    short = p + 20 > e
    bad_ver = ~short & ((vb >> 4) != 4)
    bad_ihl = ~short & ~bad_ver & (ihl < 20)
    short_opts = ~short & ~bad_ver & ~bad_ihl & (p + ihl > e)
    reject(rows[short], "truncated IPv4 header")
    reject(rows[bad_ver], "IPv4 ethertype but IP version is not 4")
    reject(rows[bad_ihl], "IPv4 header length (IHL) below 5")
    reject(rows[short_opts], "truncated IPv4 options")
    ok = ~(short | bad_ver | bad_ihl | short_opts)
    rows, p, ihl = rows[ok], p[ok], ihl[ok]
    w = _rows(rows, c.n)
    hdr = g.window(p, 20)
    h16 = hdr.view(">u2")  # (rows, 10) big-endian 16-bit words
    h32 = hdr.view(">u4")  # (rows, 5)
    c.ip_version[w] = 4
    total = h16[:, 1].astype(np.int64)
    c.ip_len[w] = total
    c.ip_id[w] = h16[:, 2]
    c.ip_id_ok[w] = True
    fl = h16[:, 3]
    c.frag_more[w] = (fl & 0x2000) != 0
    c.frag_offset[w] = fl & 0x1FFF
    c.ttl[w] = hdr[:, 8]
    c.proto[w] = hdr[:, 9]
    c.l4[w] = p + ihl
    c.ip_end[w] = np.where(total >= ihl, p + total, -1)  # total 0 (TSO): end unknown
    c.first_frag[w] = (fl & 0x1FFF) == 0
    c.l4_known[w] = True
    return rows, h32[:, 3].astype(np.uint32), h32[:, 4].astype(np.uint32)


def _is_v6_ext(nh: np.ndarray) -> np.ndarray:
    return np.isin(nh, V6_EXT_GENERIC) | (nh == V6_FRAGMENT) | (nh == V6_AH)


def _ipv6(g: _Gather, c: _Columns, rows: np.ndarray, l3: np.ndarray, end: np.ndarray,
          reject: Reject) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode the IPv6 headers of ``rows``, walking extension headers to the transport header;
    returns (rows kept, source, destination as (rows, 16) bytes)."""
    p, e = l3[rows], end[rows]
    short = p + 40 > e
    bad_ver = ~short & ((g.u8(p) >> 4) != 6)
    reject(rows[short], "truncated IPv6 header")
    reject(rows[bad_ver], "IPv6 ethertype but IP version is not 6")
    ok = ~(short | bad_ver)
    rows, p, e = rows[ok], p[ok], e[ok]
    k = len(rows)
    hdr = g.window(p, 40)
    plen = np.ascontiguousarray(hdr[:, 4:6]).view(">u2").ravel().astype(np.int64)
    nh = hdr[:, 6].astype(np.int64)
    pos = p + 40
    first = np.ones(k, dtype=bool)
    known = np.ones(k, dtype=bool)  # transport header position is known
    more = np.zeros(k, dtype=bool)
    foff = np.zeros(k, dtype=np.uint16)
    fid = np.zeros(k, dtype=np.uint32)
    fid_ok = np.zeros(k, dtype=bool)
    walking = _is_v6_ext(nh)
    for _ in range(MAX_V6_EXT):
        if not walking.any():
            break
        w = np.flatnonzero(walking)
        wp = pos[w]
        cut = wp + 8 > e[w]  # every extension header is at least 8 bytes
        known[w[cut]] = False
        walking[w[cut]] = False
        w, wp = w[~cut], wp[~cut]
        nxt = g.u8(wp).astype(np.int64)
        hl = g.u8(wp + 1).astype(np.int64)
        this = nh[w]
        size = np.where(this == V6_FRAGMENT, 8, np.where(this == V6_AH, (hl + 2) * 4, (hl + 1) * 8))
        isfrag = this == V6_FRAGMENT
        if isfrag.any():
            fw = w[isfrag]
            f16 = g.u16(wp[isfrag] + 2)
            foff[fw] = f16 >> 3
            more[fw] = (f16 & 1) != 0
            fid[fw] = g.u32(wp[isfrag] + 4)
            fid_ok[fw] = True
            first[fw] = (f16 >> 3) == 0
        nh[w] = nxt
        pos[w] = wp + size
        # After a non-first fragment header the rest is fragment data, not headers.
        walking[w] = _is_v6_ext(nxt) & first[w]
    known &= ~walking  # more than MAX_V6_EXT headers: give up on the transport header
    c.ip_version[rows] = 6
    c.ip_len[rows] = 40 + plen
    c.ttl[rows] = hdr[:, 7]
    c.proto[rows] = nh.astype(np.uint8)
    c.frag_more[rows] = more
    c.frag_offset[rows] = foff
    c.ip_id[rows] = fid
    c.ip_id_ok[rows] = fid_ok
    c.l4[rows] = pos
    c.ip_end[rows] = p + 40 + plen
    c.first_frag[rows] = first
    c.l4_known[rows] = known
    return rows, np.ascontiguousarray(hdr[:, 8:24]), np.ascontiguousarray(hdr[:, 24:40])


def _transport(g: _Gather, c: _Columns, end: np.ndarray) -> None:
    """Ports, TCP flags, ICMP type/code and payload length where the header is present."""
    ip_rows = np.flatnonzero(c.ip_version > 0)
    t = ip_rows[c.first_frag[ip_rows] & c.l4_known[ip_rows]]
    if not len(t):
        return
    w = _rows(t, c.n)
    pr, tp, te, ie, ver = c.proto[w], c.l4[w], end[w], c.ip_end[w], c.ip_version[w]
    th = g.window(tp, 14)
    is_tcp, is_udp = pr == PROTO_TCP, pr == PROTO_UDP
    has_ports = (is_tcp | is_udp) & (tp + 4 <= te)
    c.src_port[w] = np.where(has_ports, (th[:, 0].astype(np.uint16) << 8) | th[:, 1], 0)
    c.dst_port[w] = np.where(has_ports, (th[:, 2].astype(np.uint16) << 8) | th[:, 3], 0)
    c.ports_ok[w] = has_ports
    has_flags = is_tcp & (tp + 14 <= te)
    c.tcp_flags[w] = np.where(has_flags, th[:, 13], 0)
    c.flags_ok[w] = has_flags
    # Payload: from the IP length (what this packet carries), not the UDP length field.
    doff = (th[:, 12] >> 4).astype(np.int64) * 4
    tcp_pl, udp_pl = ie - tp - doff, ie - tp - 8
    tcp_ok = is_tcp & (tp + 13 <= te) & (doff >= 20) & (tcp_pl >= 0) & (ie >= 0)
    udp_ok = is_udp & (udp_pl >= 0) & (ie >= 0)
    c.payload[w] = np.where(tcp_ok, tcp_pl, np.where(udp_ok, udp_pl, 0))
    c.payload_ok[w] = tcp_ok | udp_ok
    is_icmp = (((pr == PROTO_ICMP) & (ver == 4)) | ((pr == PROTO_ICMPV6) & (ver == 6))) & (tp + 2 <= te)
    c.icmp_type[w] = np.where(is_icmp, th[:, 0], 0)
    c.icmp_code[w] = np.where(is_icmp, th[:, 1], 0)
    c.icmp_ok[w] = is_icmp


def decode(fr: Frames, rejections: Rejections, stats: DecodeStats | None = None,
           ip_only: bool = False, columns: Collection[str] | None = None) -> pa.RecordBatch:
    """Decode a batch of frames into a PACKETS record batch, counting rejections.

    ``columns``: the PACKETS fields to fill (None: all); the others are null columns of the
    same schema, and are not computed (the streaming detector reads neither TTLs nor ICMP
    codes, and the source text only for a few heavy hitters). Rows, rejections and the
    selected fields are those of a full decode."""
    n = len(fr)
    stats = stats if stats is not None else DecodeStats()
    if (NATIVE and _framedecode is not None and n and not isinstance(fr.linktype, np.ndarray)
            and fr.linktype in NATIVE_LINKTYPES and fr.buf.flags.c_contiguous):
        batch = _decode_native(fr, stats, ip_only, columns)
        if batch is not None:
            return batch
    stats.frames += n
    g = _Gather(fr.buf)
    start = fr.start.astype(np.int64, copy=False)
    end = start + fr.caplen
    l3, kind = _link(g, fr, start, end, stats)

    rejected = np.zeros(n, dtype=bool)

    def reject(rows: np.ndarray, reason: str) -> None:
        if len(rows):
            rejected[rows] = True
            reject_numbers(rejections, fr.number[rows], reason)

    if (kind < 0).any():
        reject(np.flatnonzero(kind == K_TRUNC_LINK), "truncated link-layer header")
        reject(np.flatnonzero(kind == K_BAD_RAW), "not an IP packet (bad version nibble) on an IP-only link type")
        bad = np.flatnonzero(kind == K_UNSUPPORTED)
        if len(bad):
            lts = fr.linktype[bad] if isinstance(fr.linktype, np.ndarray) else np.full(len(bad), fr.linktype)
            for lt in np.unique(lts).tolist():
                reject(bad[lts == lt], f"unsupported link type {lt} ({LINKTYPE_NAMES.get(lt, 'unknown')})")

    c = _Columns(n)
    r4, v4_src, v4_dst = _ipv4(g, c, np.flatnonzero(kind == K_V4), l3, end, reject)
    r6, v6_src, v6_dst = _ipv6(g, c, np.flatnonzero(kind == K_V6), l3, end, reject)
    _transport(g, c, end)

    is_ip = c.ip_version > 0
    non_ip = (kind == K_NOT_IP) & ~rejected
    stats.ip += int(is_ip.sum())
    stats.non_ip += int(non_ip.sum())
    keep = is_ip if ip_only else is_ip | non_ip
    return _batch(fr, c, keep, is_ip, r4, v4_src, v4_dst, r6, v6_src, v6_dst, columns)


def _decode_native(fr: Frames, stats: DecodeStats, ip_only: bool,
                   columns: Collection[str] | None) -> pa.RecordBatch | None:
    """:func:`decode` of a batch of common frames (one link type; IPv4 or not IP; nothing to
    reject) in one compiled pass, or None, stats untouched, when the batch holds anything else
    (the NumPy decode then runs, the one reference for every case)."""
    n = len(fr)
    lt = int(fr.linktype)
    c = _Columns(n, np.empty)  # l4, ip_end, first_frag and l4_known stay unset: _batch reads none
    kind = np.empty(n, dtype=np.int8)
    src, dst = np.empty(n, dtype=np.uint32), np.empty(n, dtype=np.uint32)
    out = (kind, c.ip_version, c.proto, c.ttl, c.ip_len, c.ip_id, c.ip_id_ok, c.frag_more, c.frag_offset,
           c.src_port, c.dst_port, c.ports_ok, c.tcp_flags, c.flags_ok, c.icmp_type, c.icmp_code, c.icmp_ok,
           c.payload, c.payload_ok, src, dst)
    n4 = _framedecode.decode(lt, fr.buf, np.ascontiguousarray(fr.start, dtype=np.int64),
                             np.ascontiguousarray(fr.caplen, dtype=np.int64), out)
    if n4 < 0:
        return None
    stats.frames += n
    stats.linktypes[lt] = stats.linktypes.get(lt, 0) + n
    stats.ip += n4
    stats.non_ip += n - n4
    is_ip = kind == K_V4
    r4 = np.flatnonzero(is_ip)
    keep = is_ip if ip_only else np.ones(n, dtype=bool)
    return _batch(fr, c, keep, is_ip, r4, src[:n4], dst[:n4], np.zeros(0, dtype=np.int64),
                  np.zeros((0, 16), dtype=np.uint8), np.zeros((0, 16), dtype=np.uint8), columns)


def check_columns(columns: Collection[str] | None) -> frozenset[str] | None:
    """``columns`` as a set of PACKETS field names (None: all; ``ts`` always); ValueError for
    names that are not PACKETS fields."""
    if columns is None:
        return None
    unknown = set(columns) - set(PACKETS.names)
    if unknown:
        raise ValueError(f"not PACKETS fields: {', '.join(sorted(unknown))}")
    return frozenset({"ts", *columns})  # ts is never null


def _batch(fr: Frames, c: _Columns, keep: np.ndarray, is_ip: np.ndarray, r4: np.ndarray,
           v4_src: np.ndarray, v4_dst: np.ndarray, r6: np.ndarray, v6_src: np.ndarray,
           v6_dst: np.ndarray, columns: Collection[str] | None = None) -> pa.RecordBatch:
    """The kept rows of the decoded columns as a PACKETS record batch (``columns``: the
    fields filled, the others null)."""
    n = c.n
    src_hi, src_lo = np.zeros(n, dtype=np.uint64), np.zeros(n, dtype=np.uint64)
    dst_hi, dst_lo = np.zeros(n, dtype=np.uint64), np.zeros(n, dtype=np.uint64)
    if len(r4):
        w4 = _rows(r4, n)
        src_hi[w4], src_lo[w4] = ipaddr.from_v4_ints(v4_src)
        dst_hi[w4], dst_lo[w4] = ipaddr.from_v4_ints(v4_dst)
    if len(r6):
        src_hi[r6], src_lo[r6] = ipaddr.from_v6_bytes(v6_src)
        dst_hi[r6], dst_lo[r6] = ipaddr.from_v6_bytes(v6_dst)

    sel: slice | np.ndarray
    if keep.all():
        rows4, rows6, m, sel = r4, r6, n, slice(None)
    else:
        newpos = np.cumsum(keep) - 1  # position of each decoded row among the kept rows
        rows4, rows6, m, sel = newpos[r4], newpos[r6], int(keep.sum()), np.flatnonzero(keep)

    def col(values: np.ndarray, valid: np.ndarray, typ: pa.DataType) -> pa.Array:
        return _masked(values[sel], valid[sel], typ)

    # Each field's array, made only when selected (thunks, in PACKETS order).
    make: dict[str, Callable[[], pa.Array]] = {
        "ts": lambda: _masked(fr.ts_ns[sel], None, pa.int64()).view(PACKETS.field("ts").type),
        "src_ip": lambda: address_text(m, rows4, v4_src, rows6, src_hi[r6], src_lo[r6]),
        "src_ip_hi": lambda: col(src_hi, is_ip, pa.uint64()),
        "src_ip_lo": lambda: col(src_lo, is_ip, pa.uint64()),
        "dst_ip": lambda: address_text(m, rows4, v4_dst, rows6, dst_hi[r6], dst_lo[r6]),
        "dst_ip_hi": lambda: col(dst_hi, is_ip, pa.uint64()),
        "dst_ip_lo": lambda: col(dst_lo, is_ip, pa.uint64()),
        "ip_version": lambda: col(c.ip_version, is_ip, pa.uint8()),
        "proto": lambda: col(c.proto, is_ip, pa.uint8()),
        "src_port": lambda: col(c.src_port, c.ports_ok, pa.uint16()),
        "dst_port": lambda: col(c.dst_port, c.ports_ok, pa.uint16()),
        "ip_len": lambda: col(c.ip_len, is_ip, pa.uint32()),
        "frame_len": lambda: _masked(np.minimum(fr.wirelen, 0xFFFFFFFF)[sel], None, pa.uint32()),
        "tcp_flags": lambda: col(c.tcp_flags, c.flags_ok, pa.uint16()),
        "ttl": lambda: col(c.ttl, is_ip, pa.uint8()),
        "ip_id": lambda: col(c.ip_id, c.ip_id_ok, pa.uint32()),
        "frag_more": lambda: col(c.frag_more, is_ip, pa.bool_()),
        "frag_offset": lambda: col(c.frag_offset, is_ip, pa.uint16()),
        "icmp_type": lambda: col(c.icmp_type, c.icmp_ok, pa.uint8()),
        "icmp_code": lambda: col(c.icmp_code, c.icmp_ok, pa.uint8()),
        "payload_len": lambda: col(np.clip(c.payload, 0, 0xFFFFFFFF).astype(np.uint32), c.payload_ok, pa.uint32()),
    }
    arrays = [make[f.name]() if columns is None or f.name in columns or f.name == "ts" else pa.nulls(m, f.type)
              for f in PACKETS]
    return pa.RecordBatch.from_arrays(arrays, schema=PACKETS)
