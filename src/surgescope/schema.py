"""The four canonical tables every reader produces, as Arrow schemas.

Conventions shared by all tables:

- ``ts``: event time, ``timestamp[ns, tz=UTC]``. Readers convert local times with their
  offsets to UTC; a source without an offset is taken as UTC and says so in its docstring.
- Addresses are held twice: ``*_ip`` as the canonical text form (what people read and what
  reports show) and ``*_ip_int`` as an integer for fast joins, range lookups and prefix
  aggregation. IPv4 addresses are held as IPv4-mapped IPv6 (``::ffff:a.b.c.d``) in the
  128-bit form, so one column serves both families: ``*_ip_hi`` holds the upper 64 bits
  and ``*_ip_lo`` the lower 64 bits, both ``uint64``. For IPv4, ``hi == 0`` and
  ``lo == 0xFFFF_0000_0000 | v4``. Use :mod:`surgescope.ipaddr` to convert.
- Counts are ``int64``; sizes are bytes; rates are per second.
- Missing values are nulls, never sentinels.
"""

from __future__ import annotations

import pyarrow as pa

TS = pa.timestamp("ns", tz="UTC")


def _ip(prefix: str) -> list[pa.Field]:
    return [
        pa.field(f"{prefix}_ip", pa.string(), metadata={"doc": "address, canonical text"}),
        pa.field(f"{prefix}_ip_hi", pa.uint64(), metadata={"doc": "upper 64 bits (IPv4-mapped)"}),
        pa.field(f"{prefix}_ip_lo", pa.uint64(), metadata={"doc": "lower 64 bits (IPv4-mapped)"}),
    ]


REPORTS = pa.schema(
    [
        pa.field("ts", TS, nullable=False, metadata={"doc": "time of the report or of the count bin"}),
        pa.field("count", pa.int64(), nullable=False, metadata={"doc": "1 for a single report, else the bin count"}),
        pa.field("service", pa.string(), metadata={"doc": "service reported, e.g. 'x'"}),
        pa.field("region", pa.string(), metadata={"doc": "where the reporter is (free text or ISO code)"}),
        pa.field("problem", pa.string(), metadata={"doc": "problem type, e.g. 'app', 'website', 'login'"}),
    ]
)
"""Crowd reports: one row per report (count 1) or per count bin."""

REQUESTS = pa.schema(
    [
        pa.field("ts", TS, nullable=False),
        *_ip("src"),
        pa.field("method", pa.string()),
        pa.field("path", pa.string(), metadata={"doc": "request target as sent (untrusted)"}),
        pa.field("protocol", pa.string(), metadata={"doc": "e.g. HTTP/1.1"}),
        pa.field("status", pa.int32()),
        pa.field("bytes", pa.int64(), metadata={"doc": "response body bytes; null for '-'"}),
        pa.field("referer", pa.string()),
        pa.field("user_agent", pa.string(), metadata={"doc": "untrusted; escape when shown"}),
        pa.field("host", pa.string(), metadata={"doc": "virtual host when the format has it"}),
        pa.field("duration_s", pa.float64(), metadata={"doc": "request time in seconds when logged"}),
    ]
)
"""HTTP access-log lines."""

PACKETS = pa.schema(
    [
        pa.field("ts", TS, nullable=False),
        *_ip("src"),
        *_ip("dst"),
        pa.field("ip_version", pa.uint8()),
        pa.field("proto", pa.uint8(), metadata={"doc": "IP protocol number (6 TCP, 17 UDP, 1/58 ICMP)"}),
        pa.field("src_port", pa.uint16(), metadata={"doc": "null when not TCP/UDP or not first fragment"}),
        pa.field("dst_port", pa.uint16()),
        pa.field("ip_len", pa.uint32(), metadata={"doc": "IP total length in bytes (header included)"}),
        pa.field("frame_len", pa.uint32(), metadata={"doc": "original length on the wire"}),
        pa.field("tcp_flags", pa.uint16(), metadata={"doc": "TCP flags byte (FIN=1 SYN=2 RST=4 PSH=8 ACK=16 URG=32 ECE=64 CWR=128)"}),
        pa.field("ttl", pa.uint8(), metadata={"doc": "TTL or hop limit"}),
        pa.field("ip_id", pa.uint32(), metadata={"doc": "IPv4 identification (or IPv6 fragment id)"}),
        pa.field("frag_more", pa.bool_(), metadata={"doc": "more-fragments flag"}),
        pa.field("frag_offset", pa.uint16(), metadata={"doc": "fragment offset in 8-byte units"}),
        pa.field("icmp_type", pa.uint8()),
        pa.field("icmp_code", pa.uint8()),
        pa.field("payload_len", pa.uint32(), metadata={"doc": "transport payload bytes (UDP/TCP), when known"}),
    ]
)
"""Packets from captures: one row per captured frame; non-IP frames (ARP, LLDP, ...) have null IP fields."""

FLOWS = pa.schema(
    [
        pa.field("ts", TS, nullable=False, metadata={"doc": "flow start"}),
        pa.field("duration_s", pa.float64()),
        *_ip("src"),
        *_ip("dst"),
        pa.field("proto", pa.uint8()),
        pa.field("src_port", pa.uint16()),
        pa.field("dst_port", pa.uint16()),
        pa.field("packets", pa.int64(), metadata={"doc": "packets both directions"}),
        pa.field("bytes", pa.int64(), metadata={"doc": "bytes both directions"}),
        pa.field("fwd_packets", pa.int64(), metadata={"doc": "packets from src to dst"}),
        pa.field("fwd_bytes", pa.int64()),
        pa.field("syn_count", pa.int64()),
        pa.field("ack_count", pa.int64()),
        pa.field("rst_count", pa.int64()),
        pa.field("fin_count", pa.int64()),
        pa.field("label", pa.string(), metadata={"doc": "ground-truth label when the source has one"}),
        pa.field("state", pa.string(), metadata={"doc": "connection state (Zeek conn_state) when known"}),
    ]
)
"""Flow records (NetFlow/IPFIX exports, Zeek conn.log, CICFlowMeter CSV)."""

SCHEMAS: dict[str, pa.Schema] = {
    "reports": REPORTS,
    "requests": REQUESTS,
    "packets": PACKETS,
    "flows": FLOWS,
}
