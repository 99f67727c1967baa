"""A vectorised generator of PACKETS tables (:data:`surgescope.schema.PACKETS`) from phases.

A *phase* is one traffic pattern toward one target for a time span: a vector, a start (seconds
after ``t0``), a duration, a rate in packets per second (optionally shaped by a wave envelope)
and a source pool. :func:`generate` draws every phase with NumPy (no per-packet Python) and
returns one Arrow table sorted by time.

Vectors (``VECTORS``): ``syn-flood``, ``ack-flood``, ``rst-flood``, ``udp-flood``,
``icmp-flood``, ``ip-fragment``, ``tcp-reflection``, ``<service>-amplification`` for every
UDP service of the reflection table (:mod:`surgescope.attack.reflection`), ``http-flood``
(full TCP handshakes + GET requests from bots), ``normal`` (web browsing), ``download``
(one large transfer *to* the target), ``speedtest`` (one client, parallel connections,
upload then download against the target's port 8080), ``flash-crowd`` (many browsers
loading one page, a few connections each) and ``slow-http`` (slowloris: many connections per
source held open with a header line every few seconds). The session vectors (http-flood, normal,
flash-crowd, download, speedtest) include both directions, as a capture at the server sees.

Source pools: ``sources`` is a list of address strings (IPv4 or IPv6) with optional
``weights``; without it a pool of ``n_sources`` random public IPv4 addresses is drawn
(avoiding private, reserved, multicast and documentation ranges). ``syn-flood``,
``ack-flood``, ``rst-flood``, ``udp-flood``, ``icmp-flood`` and ``ip-fragment`` with no pool
are *spoofed*: a fresh random source and TTL for every packet. With a pool, each source
keeps one TTL (a real host's hop count), as botnets and reflectors do.

Realism notes: reflection answers come from the service's port with its typical response
size (jittered) and are IP-fragmented above 1500 bytes (non-first fragments carry no ports,
as on the wire); TCP sessions carry handshakes, MSS-sized segments, delayed ACKs every second
segment, PSH on the last segment of each 64 KiB write, and FIN closes.

Example: a 20 s botnet HTTP flood in waves from a caller's pool, with a DNS reflection:

>>> t = generate([
...     Phase("http-flood", start=0, duration=20, rate=2000, target="203.0.113.10",
...           sources=["198.51.100.7", "192.0.2.44"], weights=[3, 1], wave=(10.0, 0.8)),
...     Phase("dns-amplification", start=5, duration=10, rate=500, target="203.0.113.10"),
... ], seed=7)
>>> t.schema.names[:3]
['ts', 'src_ip', 'src_ip_hi']
>>> t.num_rows > 10_000
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from surgescope import ipaddr
from surgescope.attack import reflection
from surgescope.schema import PACKETS

MSS = 1448
"""TCP payload per full segment (1500 MTU minus IP, TCP and timestamp option)."""

SESSION_VECTORS = ("http-flood", "normal", "flash-crowd", "download", "speedtest", "botnet")
SLOW_VECTORS = ("slow-http",)
DIRECT_VECTORS = ("syn-flood", "ack-flood", "rst-flood", "udp-flood", "icmp-flood", "ip-fragment", "tcp-reflection")


def vectors() -> list[str]:
    """Every vector name :func:`generate` accepts."""
    amps = sorted(set(reflection.table().filter(reflection.pl.col("proto") == "udp")["vector"].to_list()))
    return [*DIRECT_VECTORS, *amps, *SESSION_VECTORS, *SLOW_VECTORS]


@dataclass
class Phase:
    """One traffic pattern. ``rate`` is packets/s at the envelope's peak.

    ``wave=(period_s, depth)`` multiplies the rate by a raised cosine between ``1 - depth``
    and 1 (pulse waves with depth 1). ``sources``/``weights`` is the caller's pool;
    ``n_sources`` sizes the default random pool. ``target_port`` defaults per vector (80 for
    TCP floods and HTTP, random for UDP floods, 8080 for the speed test, 443 for download).
    ``options`` tunes a vector, e.g. ``{"response_bytes": 3000}`` for amplification or
    ``{"requests_per_session": 20}`` for http-flood.
    """

    vector: str
    start: float = 0.0
    duration: float = 10.0
    rate: float = 1000.0
    target: str = "10.10.10.10"
    target_port: int | None = None
    sources: Sequence[str] | None = None
    weights: Sequence[float] | None = None
    n_sources: int | None = None
    wave: tuple[float, float] | None = None
    options: dict = field(default_factory=dict)


# --- address pools ------------------------------------------------------------------------

_RESERVED_V4 = [  # (network, prefix length) never drawn as a public source
    ("0.0.0.0", 8), ("10.0.0.0", 8), ("100.64.0.0", 10), ("127.0.0.0", 8), ("169.254.0.0", 16),
    ("172.16.0.0", 12), ("192.0.0.0", 24), ("192.0.2.0", 24), ("192.88.99.0", 24),
    ("192.168.0.0", 16), ("198.18.0.0", 15), ("198.51.100.0", 24), ("203.0.113.0", 24),
    ("224.0.0.0", 3),
]


def _reserved_mask(v4: np.ndarray) -> np.ndarray:
    bad = np.zeros(len(v4), dtype=bool)
    for net, plen in _RESERVED_V4:
        a = np.uint32(int.from_bytes(bytes(int(x) for x in net.split(".")), "big"))
        m = np.uint32((0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF)
        bad |= (v4 & m) == a
    return bad


def random_public_v4(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` random public unicast IPv4 addresses as ``uint32``."""
    out = rng.integers(1, 2**32 - 1, size=n, dtype=np.uint64).astype(np.uint32)
    bad = _reserved_mask(out)
    while bad.any():
        out[bad] = rng.integers(1, 2**32 - 1, size=int(bad.sum()), dtype=np.uint64).astype(np.uint32)
        bad = _reserved_mask(out)
    return out


@dataclass
class _Pool:
    hi: np.ndarray
    lo: np.ndarray
    p: np.ndarray | None
    ttl: np.ndarray

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.choice(len(self.hi), size=n, p=self.p)


def _pool(rng: np.random.Generator, ph: Phase, default_n: int) -> _Pool:
    if ph.sources is not None:
        hi, lo = ipaddr.from_strings(list(ph.sources))
        if not ipaddr.valid(hi, lo).all():
            raise ValueError("source pool holds an unparseable address")
    else:
        hi, lo = ipaddr.from_v4_ints(random_public_v4(rng, ph.n_sources or default_n))
    p = None
    if ph.weights is not None:
        w = np.asarray(ph.weights, dtype=float)
        if len(w) != len(hi) or (w < 0).any() or w.sum() <= 0:
            raise ValueError("weights must be non-negative, one per source, not all zero")
        p = w / w.sum()
    # A real host's TTL: initial 64 (Linux, most reflectors) or 128 (Windows bots) minus hops.
    init = rng.choice(np.array([64, 128, 255], dtype=np.int16), size=len(hi), p=[0.6, 0.35, 0.05])
    ttl = (init - rng.integers(6, 25, size=len(hi))).astype(np.uint8)
    return _Pool(hi, lo, p, ttl)


# --- time draws -----------------------------------------------------------------------------


def _envelope(ph: Phase, t: np.ndarray) -> np.ndarray:
    if not ph.wave:
        return np.ones_like(t)
    period, depth = ph.wave
    return 1.0 - depth * 0.5 * (1.0 + np.cos(2 * np.pi * t / period))


def _times(rng: np.random.Generator, ph: Phase, rate: float) -> np.ndarray:
    """Poisson arrival offsets (s after t0) at ``rate`` per s, thinned by the wave envelope."""
    n = rng.poisson(max(rate, 0.0) * ph.duration)
    t = rng.uniform(0.0, ph.duration, size=n)
    if ph.wave:
        t = t[rng.uniform(size=n) < _envelope(ph, t)]
    return np.sort(t) + ph.start


# --- packet columns -------------------------------------------------------------------------

_COLS = ("t", "src_hi", "src_lo", "dst_hi", "dst_lo", "proto", "sport", "dport", "ip_len", "flags",
         "ttl", "ip_id", "frag_more", "frag_off", "icmp_type", "icmp_code", "payload_len")


_DTYPES = {"t": np.float64, "src_hi": np.uint64, "src_lo": np.uint64, "dst_hi": np.uint64,
           "dst_lo": np.uint64, "frag_more": bool}


def _cols(n: int, **kw) -> dict[str, np.ndarray]:
    """Column arrays of ``n`` packets; scalars broadcast, unset columns are 0."""
    d = {}
    for c in _COLS:
        v = np.asarray(kw.get(c, 0)).astype(_DTYPES.get(c, np.int64))
        d[c] = np.broadcast_to(v, (n,)).copy() if v.ndim == 0 else v
    return d


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {c: np.concatenate([p[c] for p in parts]) if parts else np.zeros(0) for c in _COLS}


def _l4_header(proto: np.ndarray) -> np.ndarray:
    return np.where(proto == 6, 32, np.where(proto == 17, 8, np.where(proto == 1, 8, 0)))


# --- direct floods and reflection ---------------------------------------------------------------


def _target(ph: Phase) -> tuple[int, int]:
    hi, lo = ipaddr.from_strings([ph.target])
    if not ipaddr.valid(hi, lo)[0]:
        raise ValueError(f"bad target address {ph.target!r}")
    return int(hi[0]), int(lo[0])


def _sources_for(rng: np.random.Generator, ph: Phase, n: int, spoofable: bool, default_pool: int):
    """(hi, lo, ttl) per packet: spoofed (fresh random each) or drawn from a pool."""
    if spoofable and ph.sources is None and ph.n_sources is None:
        hi, lo = ipaddr.from_v4_ints(rng.integers(1, 2**32 - 1, size=n, dtype=np.uint64).astype(np.uint32))
        return hi, lo, rng.integers(30, 255, size=n).astype(np.uint8)
    pool = _pool(rng, ph, default_pool)
    i = pool.draw(rng, n)
    return pool.hi[i], pool.lo[i], pool.ttl[i]


def _direct(rng: np.random.Generator, ph: Phase) -> dict[str, np.ndarray]:
    t = _times(rng, ph, ph.rate)
    n = len(t)
    dhi, dlo = _target(ph)
    v = ph.vector
    spoofable = v != "tcp-reflection"
    shi, slo, ttl = _sources_for(rng, ph, n, spoofable, default_pool=max(50, min(20_000, int(ph.rate / 4))))
    common = dict(t=t, src_hi=shi, src_lo=slo, dst_hi=dhi, dst_lo=dlo, ttl=ttl,
                  ip_id=rng.integers(0, 65536, size=n))
    rnd_port = rng.integers(1024, 65536, size=n)
    dport = ph.target_port if ph.target_port is not None else 80
    if v in ("syn-flood", "ack-flood", "rst-flood"):
        flags = {"syn-flood": 0x02, "ack-flood": 0x10, "rst-flood": 0x04}[v]
        # SYN floods from tools such as hping carry no options (40 bytes); some add MSS (44).
        ip_len = 40 + 4 * (rng.uniform(size=n) < ph.options.get("mss_share", 0.3)) * (v == "syn-flood")
        return _cols(n, **common, proto=6, sport=rnd_port, dport=dport, flags=flags, ip_len=ip_len)
    if v == "tcp-reflection":
        sport = rng.choice(np.array([80, 443]), size=n, p=[0.4, 0.6])
        dport = ph.target_port if ph.target_port is not None else rnd_port
        return _cols(n, **common, proto=6, sport=sport, dport=dport, flags=0x12, ip_len=44)
    if v == "udp-flood":
        size = int(ph.options.get("payload", 512))
        dport = ph.target_port if ph.target_port is not None else rng.integers(1, 65536, size=n)
        return _cols(n, **common, proto=17, sport=rnd_port, dport=dport, ip_len=28 + size, payload_len=size)
    if v == "icmp-flood":
        return _cols(n, **common, proto=1, icmp_type=8, ip_len=84, payload_len=56)
    if v == "ip-fragment":
        # Non-first fragments of large UDP datagrams: no ports, a random offset, MF mostly set.
        off = rng.integers(1, 8000, size=n)
        return _cols(n, **common, proto=17, frag_off=off, frag_more=rng.uniform(size=n) < 0.8, ip_len=1500)
    raise ValueError(f"unknown vector {v!r}")


def _fragment(cols: dict[str, np.ndarray], mtu: int = 1500) -> dict[str, np.ndarray]:
    """Split datagrams whose IP length exceeds ``mtu`` into IPv4 fragments (vectorised)."""
    ip_len = cols["ip_len"].astype(np.int64)
    data = ip_len - 20  # IP payload (UDP header + data)
    per = (mtu - 20) // 8 * 8
    k = np.maximum(1, -(-data // per))
    if (k == 1).all():
        return cols
    rep = np.repeat(np.arange(len(ip_len)), k)
    j = np.arange(len(rep)) - np.repeat(np.cumsum(k) - k, k)
    out = {c: cols[c][rep].copy() for c in _COLS}
    last = j == k[rep] - 1
    frag_data = np.where(last, data[rep] - j * per, per)
    out["ip_len"] = 20 + frag_data
    # As a capture shows it: a first fragment carries its share of the UDP payload.
    out["payload_len"] = np.where(j == 0, frag_data - 8, 0)
    out["frag_off"] = (j * per // 8).astype(np.int64)
    out["frag_more"] = ~last
    # Fragments leave a few microseconds apart on the reflector's link.
    out["t"] = out["t"] + j * 12e-6
    return out


def _amplification(rng: np.random.Generator, ph: Phase) -> dict[str, np.ndarray]:
    row = reflection.service_row(ph.vector)
    t = _times(rng, ph, ph.rate)
    n = len(t)
    dhi, dlo = _target(ph)
    pool = _pool(rng, ph, max(50, min(20_000, int(ph.rate / 5))))
    i = pool.draw(rng, n)
    typical = int(ph.options.get("response_bytes", row["response_bytes"]))
    size = np.clip(rng.lognormal(np.log(typical), 0.25, size=n), 40, 60_000).astype(np.int64)
    # The spoofed request carried the victim's port the attacker chose: often one fixed port.
    dport = ph.target_port if ph.target_port is not None else rng.integers(1024, 65536, size=n)
    cols = _cols(n, t=t, src_hi=pool.hi[i], src_lo=pool.lo[i], dst_hi=dhi, dst_lo=dlo, proto=17,
                 sport=int(row["port"]), dport=dport, ttl=pool.ttl[i], ip_id=rng.integers(0, 65536, size=n),
                 ip_len=28 + size, payload_len=size)
    return _fragment(cols)


# --- TCP sessions --------------------------------------------------------------------------------


def _segments(rng, t0, nbytes, a_hi, a_lo, b_hi, b_lo, aport, bport, ttl_a, ttl_b, rtt, bw_bps):
    """Data ``a -> b`` of ``nbytes`` per transfer as MSS segments, plus b's ACK every 2nd segment."""
    nbytes = np.asarray(nbytes, dtype=np.int64)
    m = np.maximum(1, -(-nbytes // MSS))
    rep = np.repeat(np.arange(len(nbytes)), m)
    j = np.arange(len(rep)) - np.repeat(np.cumsum(m) - m, m)
    last = j == m[rep] - 1
    pay = np.where(last, nbytes[rep] - j * MSS, MSS)
    pay = np.where(pay <= 0, 0, pay)
    # PSH on the last segment of every 64 KiB application write and of the transfer.
    push = last | ((j + 1) % 45 == 0)
    ts = t0[rep] + j * (1500 * 8 / bw_bps[rep])
    seg = _cols(len(rep), t=ts, src_hi=a_hi[rep], src_lo=a_lo[rep], dst_hi=b_hi[rep], dst_lo=b_lo[rep],
                proto=6, sport=aport[rep], dport=bport[rep], flags=0x10 | (push * 0x08), ttl=ttl_a[rep],
                ip_id=rng.integers(0, 65536, size=len(rep)), ip_len=52 + pay, payload_len=pay)
    acked = (j % 2 == 1) | last
    r = rep[acked]
    ack = _cols(len(r), t=ts[acked] + rtt[r] / 2, src_hi=b_hi[r], src_lo=b_lo[r], dst_hi=a_hi[r], dst_lo=a_lo[r],
                proto=6, sport=bport[r], dport=aport[r], flags=0x10, ttl=ttl_b[r],
                ip_id=rng.integers(0, 65536, size=len(r)), ip_len=52)
    end = np.zeros(len(nbytes))
    np.maximum.at(end, rep, ts)
    return [seg, ack], end


def _tcp_sessions(rng, t0, c_hi, c_lo, c_ttl, s_hi, s_lo, s_port, n_req, req_bytes, resp_bytes,
                  think, rtt, bw_bps, s_ttl=64):
    """Full TCP sessions (handshake, request/response exchanges, FIN close), vectorised.

    One row per session in ``t0``/``c_*``/``n_req``/``rtt``/``bw_bps``; ``req_bytes`` and
    ``resp_bytes`` have one value per exchange (``n_req.sum()`` of them).
    """
    S = len(t0)
    c_port = rng.integers(32768, 61000, size=S)
    s_hi = np.broadcast_to(np.asarray(s_hi, dtype=np.uint64), (S,))
    s_lo = np.broadcast_to(np.asarray(s_lo, dtype=np.uint64), (S,))
    s_port = np.broadcast_to(np.asarray(s_port), (S,))
    s_ttl = np.broadcast_to(np.asarray(s_ttl, dtype=np.uint8), (S,))
    ids = lambda k: rng.integers(0, 65536, size=k)  # noqa: E731
    parts = [
        _cols(S, t=t0, src_hi=c_hi, src_lo=c_lo, dst_hi=s_hi, dst_lo=s_lo, proto=6, sport=c_port,
              dport=s_port, flags=0x02, ttl=c_ttl, ip_id=ids(S), ip_len=60),
        _cols(S, t=t0 + rtt, src_hi=s_hi, src_lo=s_lo, dst_hi=c_hi, dst_lo=c_lo, proto=6, sport=s_port,
              dport=c_port, flags=0x12, ttl=s_ttl, ip_id=ids(S), ip_len=60),
        _cols(S, t=t0 + rtt * 1.02, src_hi=c_hi, src_lo=c_lo, dst_hi=s_hi, dst_lo=s_lo, proto=6, sport=c_port,
              dport=s_port, flags=0x10, ttl=c_ttl, ip_id=ids(S), ip_len=52),
    ]
    # Exchanges: request i of session s starts after the previous one plus think time.
    R = int(n_req.sum())
    sess = np.repeat(np.arange(S), n_req)
    gaps = rng.exponential(1.0, size=R) * np.repeat(np.broadcast_to(think, (S,)), n_req)
    first = np.cumsum(n_req) - n_req  # every session has at least one exchange
    cs = np.cumsum(gaps)
    base = cs[first] - gaps[first]
    t_req = t0[sess] + rtt[sess] * 1.05 + (cs - base[sess])
    bw = bw_bps[sess]
    req_parts, req_end = _segments(rng, t_req, req_bytes, c_hi[sess], c_lo[sess], s_hi[sess], s_lo[sess],
                                   c_port[sess], s_port[sess], c_ttl[sess], s_ttl[sess], rtt[sess], bw)
    parts += req_parts
    resp_parts, resp_end = _segments(rng, req_end + rtt[sess] / 2 + 0.002, resp_bytes, s_hi[sess], s_lo[sess],
                                     c_hi[sess], c_lo[sess], s_port[sess], c_port[sess], s_ttl[sess],
                                     c_ttl[sess], rtt[sess], bw)
    parts += resp_parts
    t_end = t0 + rtt * 1.1
    if R:
        np.maximum.at(t_end, sess, resp_end + rtt[sess])
    parts += [
        _cols(S, t=t_end, src_hi=c_hi, src_lo=c_lo, dst_hi=s_hi, dst_lo=s_lo, proto=6, sport=c_port,
              dport=s_port, flags=0x11, ttl=c_ttl, ip_id=ids(S), ip_len=52),
        _cols(S, t=t_end + rtt, src_hi=s_hi, src_lo=s_lo, dst_hi=c_hi, dst_lo=c_lo, proto=6, sport=s_port,
              dport=c_port, flags=0x11, ttl=s_ttl, ip_id=ids(S), ip_len=52),
        _cols(S, t=t_end + rtt * 1.02, src_hi=c_hi, src_lo=c_lo, dst_hi=s_hi, dst_lo=s_lo, proto=6,
              sport=c_port, dport=s_port, flags=0x10, ttl=c_ttl, ip_id=ids(S), ip_len=52),
    ]
    return parts


def _sessions(rng: np.random.Generator, ph: Phase) -> list[dict[str, np.ndarray]]:
    v = ph.vector
    dhi, dlo = _target(ph)
    o = ph.options
    if v in ("download", "speedtest"):
        # One remote host, high bit rate: rate is the data segments per second.
        pool = _pool(rng, ph, 1)
        peer_hi, peer_lo, peer_ttl = pool.hi[:1], pool.lo[:1], pool.ttl[:1]
        bw = ph.rate * 1500 * 8
        if v == "download":
            # The target downloads: it is the client, the remote server (port 443) sends.
            port = ph.target_port or 443
            total = int(ph.rate * ph.duration * MSS)
            return _tcp_sessions(rng, np.array([ph.start]), np.array([dhi], dtype=np.uint64),
                                 np.array([dlo], dtype=np.uint64), np.array([64], dtype=np.uint8),
                                 peer_hi[0], peer_lo[0], port, np.array([1]), np.array([420]),
                                 np.array([total]), 0.0, np.array([0.02]), np.array([bw]), s_ttl=peer_ttl[0])
        # Speed test against the target's server: k parallel connections, upload then download.
        k = int(o.get("connections", 8))
        half = ph.duration / 2
        per = int(ph.rate / k * half * MSS)
        t0 = ph.start + rng.uniform(0, 0.05, size=k)
        c_hi = np.repeat(peer_hi, k)
        c_lo = np.repeat(peer_lo, k)
        c_ttl = np.repeat(peer_ttl, k)
        # Exchange 1: the client uploads `per` bytes (answered by a small status); exchange 2:
        # a small request answered by `per` bytes of download.
        n_req = np.full(k, 2)
        req = np.tile([per, 200], k)
        resp = np.tile([200, per], k)
        return _tcp_sessions(rng, t0, c_hi, c_lo, c_ttl, dhi, dlo, ph.target_port or 8080, n_req, req, resp,
                             0.001, np.full(k, 0.015), np.full(k, bw / k))
    # Web sessions from a pool of clients toward the target's web port.
    if v in ("http-flood", "botnet"):
        per_session = int(o.get("requests_per_session", 8))
        think = float(o.get("think_s", 0.02))
        default_pool = 500 if v == "http-flood" else 5000
        resp_mean = float(o.get("response_bytes", 3000))
    elif v == "flash-crowd":
        per_session = int(o.get("requests_per_session", 5))
        think = float(o.get("think_s", 2.0))
        default_pool = 20_000
        resp_mean = float(o.get("response_bytes", 25_000))
    else:  # normal browsing
        per_session = int(o.get("requests_per_session", 4))
        think = float(o.get("think_s", 3.0))
        default_pool = 2000
        resp_mean = float(o.get("response_bytes", 20_000))
    pkts_per_req = 2 + 1.5 * max(1.0, resp_mean / MSS)
    pkts_per_session = 7 + per_session * pkts_per_req
    pool = _pool(rng, ph, default_pool)
    if v == "flash-crowd":
        # A browser opens ~6 connections for one page load, then stays idle; new browsers
        # arrive at rate / (6 * pkts_per_session) per second.
        browsers = _times(rng, ph, ph.rate / (6 * pkts_per_session))
        b = pool.draw(rng, len(browsers))
        conns = rng.integers(2, 7, size=len(browsers))
        idx = np.repeat(np.arange(len(browsers)), conns)
        t0 = browsers[idx] + rng.uniform(0, 0.3, size=len(idx))
        ci = b[idx]
    else:
        t0 = _times(rng, ph, ph.rate / pkts_per_session)
        ci = pool.draw(rng, len(t0))
    S = len(t0)
    n_req = np.maximum(1, rng.poisson(per_session, size=S))
    R = int(n_req.sum())
    req = rng.integers(250, 700, size=R)
    resp = np.maximum(200, rng.lognormal(np.log(resp_mean) - 0.5, 1.0, size=R)).astype(np.int64)  # mean resp_mean
    rtt = rng.uniform(0.01, 0.2, size=S)
    bw = np.full(S, float(o.get("client_bps", 20e6)))
    port = ph.target_port or 80
    return _tcp_sessions(rng, t0, pool.hi[ci], pool.lo[ci], pool.ttl[ci], dhi, dlo, port, n_req, req, resp,
                         think, rtt, bw)


def _slow_http(rng: np.random.Generator, ph: Phase) -> list[dict[str, np.ndarray]]:
    """Slowloris: each source opens ``connections`` (150) to the web port within ``ramp_s`` (5 s),
    sends a partial request, then one header line every ``interval_s`` (10 s) to keep each
    connection open, never finishing; the server only ACKs. ``rate`` is not used."""
    o = ph.options
    dhi, dlo = _target(ph)
    pool = _pool(rng, ph, 5)
    per = int(o.get("connections", 150))
    interval = float(o.get("interval_s", 10.0))
    src = np.repeat(np.arange(len(pool.hi)), per)
    S = len(src)
    t0 = ph.start + rng.uniform(0, min(float(o.get("ramp_s", 5.0)), ph.duration), size=S)
    rtt = rng.uniform(0.02, 0.15, size=S)
    end = ph.start + ph.duration
    c_hi, c_lo, c_ttl = pool.hi[src], pool.lo[src], pool.ttl[src]
    c_port = rng.integers(32768, 61000, size=S)
    port = ph.target_port or 80
    ids = lambda k: rng.integers(0, 65536, size=k)  # noqa: E731
    parts = [
        _cols(S, t=t0, src_hi=c_hi, src_lo=c_lo, dst_hi=dhi, dst_lo=dlo, proto=6, sport=c_port, dport=port,
              flags=0x02, ttl=c_ttl, ip_id=ids(S), ip_len=60),
        _cols(S, t=t0 + rtt, src_hi=dhi, src_lo=dlo, dst_hi=c_hi, dst_lo=c_lo, proto=6, sport=port, dport=c_port,
              flags=0x12, ttl=64, ip_id=ids(S), ip_len=60),
        _cols(S, t=t0 + rtt * 1.02, src_hi=c_hi, src_lo=c_lo, dst_hi=dhi, dst_lo=dlo, proto=6, sport=c_port,
              dport=port, flags=0x10, ttl=c_ttl, ip_id=ids(S), ip_len=52),
    ]
    # Segment k = 0 is the partial request line and first headers; k >= 1 one header line each.
    k = np.maximum(1, np.floor((end - t0 - rtt) / interval).astype(np.int64) + 1)
    conn = np.repeat(np.arange(S), k)
    j = np.arange(len(conn)) - np.repeat(np.cumsum(k) - k, k)
    ts = t0[conn] + rtt[conn] * 1.05 + j * interval * rng.uniform(0.9, 1.1, size=len(conn))
    keep = ts < end
    conn, j, ts = conn[keep], j[keep], ts[keep]
    pay = np.where(j == 0, rng.integers(60, 110, size=len(j)), rng.integers(6, 24, size=len(j)))
    n = len(conn)
    parts.append(_cols(n, t=ts, src_hi=c_hi[conn], src_lo=c_lo[conn], dst_hi=dhi, dst_lo=dlo, proto=6,
                       sport=c_port[conn], dport=port, flags=0x18, ttl=c_ttl[conn], ip_id=ids(n),
                       ip_len=52 + pay, payload_len=pay))
    parts.append(_cols(n, t=ts + rtt[conn] / 2, src_hi=dhi, src_lo=dlo, dst_hi=c_hi[conn], dst_lo=c_lo[conn],
                       proto=6, sport=port, dport=c_port[conn], flags=0x10, ttl=64, ip_id=ids(n), ip_len=52))
    return parts


# --- assembly -----------------------------------------------------------------------------------


def _to_table(c: dict[str, np.ndarray], t0_ns: int) -> pa.Table:
    order = np.argsort(c["t"], kind="stable")
    c = {k: v[order] for k, v in c.items()}
    proto = c["proto"].astype(np.uint8)
    src_hi, src_lo = c["src_hi"].astype(np.uint64), c["src_lo"].astype(np.uint64)
    dst_hi, dst_lo = c["dst_hi"].astype(np.uint64), c["dst_lo"].astype(np.uint64)
    v4 = ipaddr.is_v4(src_hi, src_lo) & ipaddr.is_v4(dst_hi, dst_lo)
    frag_off = c["frag_off"].astype(np.uint16)
    # IPv6 packets carry a 40-byte header instead of 20.
    ip_len = (c["ip_len"] + np.where(v4, 0, 20)).astype(np.uint32)
    has_ports = ((proto == 6) | (proto == 17)) & (frag_off == 0)
    is_icmp = proto == 1
    tcp = proto == 6

    def masked(values, mask, typ):
        return pa.array(values, type=typ, mask=~mask)

    ts = pa.array(t0_ns + np.round(c["t"] * 1e9).astype(np.int64), type=pa.int64()).cast(PACKETS.field("ts").type)
    src_txt, dst_txt = _fast_strings(src_hi, src_lo), _fast_strings(dst_hi, dst_lo)
    cols = [
        ts, src_txt, pa.array(src_hi), pa.array(src_lo), dst_txt, pa.array(dst_hi), pa.array(dst_lo),
        pa.array(np.where(v4, 4, 6).astype(np.uint8)), pa.array(proto),
        masked(c["sport"].astype(np.uint16), has_ports, pa.uint16()),
        masked(c["dport"].astype(np.uint16), has_ports, pa.uint16()),
        pa.array(ip_len), pa.array((ip_len + 14).astype(np.uint32)),
        masked(c["flags"].astype(np.uint16), tcp & (frag_off == 0), pa.uint16()),
        pa.array(c["ttl"].astype(np.uint8)), masked(c["ip_id"].astype(np.uint32), v4, pa.uint32()),
        pa.array(c["frag_more"].astype(bool)), pa.array(frag_off),
        masked(c["icmp_type"].astype(np.uint8), is_icmp, pa.uint8()),
        masked(c["icmp_code"].astype(np.uint8), is_icmp, pa.uint8()),
        masked(c["payload_len"].astype(np.uint32), has_ports, pa.uint32()),
    ]
    return pa.Table.from_arrays(cols, schema=PACKETS)


def _fast_strings(hi: np.ndarray, lo: np.ndarray) -> pa.Array:
    """Text of many addresses: format each distinct address once (pools repeat a lot)."""
    if not hi.any():  # all IPv4-mapped: the lower half alone is the key
        uniq_lo, inv = np.unique(lo, return_inverse=True)
        uniq = np.stack([np.zeros_like(uniq_lo), uniq_lo], axis=1)
    else:
        uniq, inv = np.unique(np.stack([hi, lo], axis=1), axis=0, return_inverse=True)
    texts = pa.array(ipaddr.to_strings(uniq[:, 0], uniq[:, 1]), type=pa.string())
    return texts.take(pa.array(inv.ravel().astype(np.int64)))


def generate(phases: Sequence[Phase | dict], seed: int = 1, t0: str | datetime = "2025-03-10T10:00:00Z") -> pa.Table:
    """Draw every phase and return one PACKETS table sorted by time.

    ``phases`` are :class:`Phase` objects or dicts of its fields. ``t0`` is the time of
    offset 0 (ISO text or datetime; naive is UTC). Same seed, same table.
    """
    rng = np.random.default_rng(seed)
    if isinstance(t0, str):
        t0 = datetime.fromisoformat(t0.replace("Z", "+00:00"))
    if t0.tzinfo is None:
        t0 = t0.replace(tzinfo=UTC)
    t0_ns = int(t0.timestamp() * 1e9)
    parts: list[dict[str, np.ndarray]] = []
    for ph in phases:
        ph = ph if isinstance(ph, Phase) else Phase(**ph)
        if ph.vector in SESSION_VECTORS:
            parts += _sessions(rng, ph)
        elif ph.vector in SLOW_VECTORS:
            parts += _slow_http(rng, ph)
        elif ph.vector.endswith("-amplification"):
            parts.append(_amplification(rng, ph))
        elif ph.vector in DIRECT_VECTORS:
            parts.append(_direct(rng, ph))
        else:
            raise ValueError(f"unknown vector {ph.vector!r}; choose from {', '.join(vectors())}")
    c = _concat(parts)
    for k in ("src_hi", "src_lo", "dst_hi", "dst_lo"):
        c[k] = c[k].astype(np.uint64)
    return _to_table(c, t0_ns)
