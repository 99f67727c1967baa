"""MaxMind DB (MMDB) files: read the user's own (GeoLite2, DB-IP, IPinfo) and write small ones.

- :func:`lookup`: AS number, AS owner and country of (hi, lo) addresses from a user's MMDB,
  read with the ``maxminddb`` library; understands the GeoLite2/GeoIP2 layouts
  (``autonomous_system_number``, ``country.iso_code``), DB-IP/ip-location-db (``country_code``)
  and IPinfo (``asn`` as "AS123", ``as_name``, ``country``).
- :func:`write`: a minimal IPv4 MMDB writer (format 2.0, 32-bit records), used by the
  benchmark to give ``maxminddb`` exactly the ranges surgescope ships, and by the tests.

>>> import tempfile, numpy as np
>>> from surgescope import ipaddr
>>> p = Path(tempfile.mkdtemp()) / "t.mmdb"
>>> write(p, [0x08080800], [0x080808FF], [{"autonomous_system_number": (6, 15169),
...     "autonomous_system_organization": "Google LLC"}])
24
>>> lookup(p, *ipaddr.from_strings(["8.8.8.8", "1.1.1.1"]))["asn"].to_list()
[15169, None]
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl

from surgescope import ipaddr


def _ctrl(type_: int, size: int) -> bytes:
    """Control byte(s) of a MaxMind DB data field (type numbers from the format spec)."""
    ext = b""
    if type_ > 7:
        ext, type_ = bytes([type_ - 7]), 0
    if size < 29:
        return bytes([(type_ << 5) | size]) + ext
    if size < 285:
        return bytes([(type_ << 5) | 29]) + ext + bytes([size - 29])
    if size < 65_821:
        return bytes([(type_ << 5) | 30]) + ext + (size - 285).to_bytes(2, "big")
    return bytes([(type_ << 5) | 31]) + ext + (size - 65_821).to_bytes(3, "big")


def _encode(v) -> bytes:
    if isinstance(v, str):
        b = v.encode("utf-8")
        return _ctrl(2, len(b)) + b
    if isinstance(v, dict):
        return _ctrl(7, len(v)) + b"".join(_encode(k) + _encode(x) for k, x in v.items())
    if isinstance(v, list):
        return _ctrl(11, len(v)) + b"".join(_encode(x) for x in v)
    if isinstance(v, tuple):  # (type, int): explicit unsigned widths
        t, n = v
        width = {5: 2, 6: 4, 9: 8}[t]
        b = n.to_bytes(width, "big").lstrip(b"\0")
        return _ctrl(t, len(b)) + b
    raise TypeError(type(v))


def _cidrs(start: int, end: int):
    """The CIDR blocks (network, prefix length) exactly covering [start, end] of IPv4."""
    while start <= end:
        size = (start & -start).bit_length() - 1 if start else 32
        while size > 0 and start + (1 << size) - 1 > end:
            size -= 1
        yield start, 32 - size
        start += 1 << size


def write(path: str | Path, starts: Sequence[int], ends: Sequence[int], values: Sequence[dict],
          description: str = "written by surgescope", database_type: str = "surgescope") -> int:
    """An IPv4 MMDB mapping each range to its value dict; returns the node count.

    ``starts``/``ends`` are sorted, disjoint IPv4 ranges as integers; values are dicts of str,
    dict, list, or ``(type, int)`` for unsigned integers (5 uint16, 6 uint32, 9 uint64).

    Prefixes arrive sorted and disjoint, so the tree is built along one path: a prefix shares
    the nodes above the first bit where it differs from the previous one.
    """
    data = bytearray()
    offsets: dict[int, int] = {}
    left: list[int] = [-1]
    right: list[int] = [-1]
    stack = [0]  # stack[d]: the node at depth d on the current prefix's path
    prev_net, prev_len = None, 0
    for s, e, val_id in zip(starts, ends, range(len(values)), strict=True):
        v = values[val_id]
        key = id(v)
        if key not in offsets:
            offsets[key] = len(data)
            data += _encode(v)
        marker = -2 - offsets[key]
        for net, plen in _cidrs(int(s), int(e)):
            if prev_net is None:
                keep = 1
            else:
                common = 32 - (net ^ prev_net).bit_length()
                keep = min(common, prev_len - 1, plen - 1) + 1
            del stack[keep:]
            for depth in range(keep - 1, plen - 1):
                node = stack[depth]
                bit = (net >> (31 - depth)) & 1
                rec = right if bit else left
                child = rec[node]
                if child < 0:
                    child = len(left)
                    left.append(-1)
                    right.append(-1)
                    rec[node] = child
                stack.append(child)
            node = stack[plen - 1]
            (right if (net >> (32 - plen)) & 1 else left)[node] = marker
            prev_net, prev_len = net, plen
    n = len(left)
    recs = np.empty(2 * n, dtype=np.int64)
    recs[0::2] = left
    recs[1::2] = right
    out = np.where(recs == -1, n, np.where(recs <= -2, n + 16 + (-2 - recs), recs))
    meta = {
        "node_count": (6, n), "record_size": (5, 32), "ip_version": (5, 4),
        "database_type": database_type, "languages": ["en"],
        "binary_format_major_version": (5, 2), "binary_format_minor_version": (5, 0),
        "build_epoch": (9, int(time.time())), "description": {"en": description},
    }
    with open(path, "wb") as f:
        f.write(out.astype(">u4").tobytes())
        f.write(b"\0" * 16)
        f.write(data)
        f.write(b"\xab\xcd\xefMaxMind.com" + _encode(meta))
    return n


def lookup(path: str | Path, hi, lo) -> pl.DataFrame:
    """asn, as_org and country of each address from one MMDB (nulls where it has no answer)."""
    import maxminddb

    texts = ipaddr.to_strings(np.asarray(hi, dtype=np.uint64), np.asarray(lo, dtype=np.uint64))
    asn, org, cc = [], [], []
    with maxminddb.open_database(str(path)) as reader:
        v4_only = reader.metadata().ip_version == 4
        for t in texts:
            rec = None
            if t is not None and not (v4_only and ":" in t):
                rec = reader.get(t)
            a, o, c = _fields(rec if isinstance(rec, dict) else {})
            asn.append(a)
            org.append(o)
            cc.append(c)
    return pl.DataFrame({"asn": asn, "as_org": org, "country": cc},
                        schema={"asn": pl.UInt32, "as_org": pl.String, "country": pl.String})


def _fields(rec: dict) -> tuple[int | None, str | None, str | None]:
    a = rec.get("autonomous_system_number")
    if a is None and isinstance(rec.get("asn"), str | int):  # IPinfo: "AS15169"
        s = str(rec["asn"]).upper().removeprefix("AS")
        a = int(s) if s.isdigit() else None
    org = rec.get("autonomous_system_organization") or rec.get("as_name") or rec.get("as_org")
    country = rec.get("country")
    if isinstance(country, dict):
        country = country.get("iso_code")
    country = country or rec.get("country_code")
    if isinstance(rec.get("registered_country"), dict) and not country:
        country = rec["registered_country"].get("iso_code")
    return (int(a) if a is not None else None, org, country if isinstance(country, str) else None)


def metadata(path: str | Path) -> dict:
    """Type, build date and description of an MMDB, for the report's data sources."""
    import maxminddb

    with maxminddb.open_database(str(path)) as reader:
        m = reader.metadata()
        return {"name": f"user MMDB {Path(path).name}", "source": f"{m.database_type} ({path})",
                "data_date": time.strftime("%Y-%m-%d", time.gmtime(m.build_epoch)),
                "licence": "as given by the database's vendor", "url": None,
                "attribution": (m.description or {}).get("en")}
