"""IP -> AS lookups: surgescope's vectorised range tables vs the ``maxminddb`` reader, same data.

Input: 1,000,000 IPv4 addresses drawn uniformly from the whole address space (seed 1), and
an MMDB built here from the very ranges surgescope ships (``src/surgescope/data/geo/asn.npz``:
411,961 IPv4 ranges -> AS number and organisation, the GeoLite2-ASN record layout), so both
sides answer the same question from the same data. The MMDB is written by the small writer
below (MaxMind DB format 2.0, 32-bit records, IPv4 tree); it is cached under bench/out/.

Timed, each in its own process so peak RSS is its own (``os.wait4``):

- ``surgescope asn``: :func:`surgescope.attribution.enrich.asn_numbers` on (hi, lo) arrays;
- ``surgescope asn+org``: :func:`surgescope.attribution.enrich.asn` (number and owner name);
- ``surgescope country``: :func:`surgescope.attribution.enrich.country_whois_codes`;
- ``surgescope parse+asn+org``: the same from text addresses, parsing included;
- ``maxminddb``: ``Reader(path, MODE_MMAP_EXT).get(ip)`` over the same addresses as text
  (the C extension; it returns number and owner), first run warms the page cache.

Each surgescope figure is the best of 3 runs after one warm-up call (which builds the /24
direct table once). Both sides' answers are compared on every address.
Run: ``.venv/bin/python bench/bench_geo.py``.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
MMDB = OUT / "asn-ipv4.mmdb"
ADDRS = OUT / "geo-1m-v4.npy"
N = 1_000_000


# --------------------------------------------------------------------------- a tiny MMDB writer


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


def write_mmdb(path: Path, starts, ends, values: list[dict]) -> int:
    """An IPv4 MMDB mapping each range to its value dict; returns the node count.

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
        "database_type": "surgescope-bench-ASN", "languages": ["en"],
        "binary_format_major_version": (5, 2), "binary_format_minor_version": (5, 0),
        "build_epoch": (9, int(time.time())), "description": {"en": "ip-location-db asn (bench copy)"},
    }
    with open(path, "wb") as f:
        f.write(out.astype(">u4").tobytes())
        f.write(b"\0" * 16)
        f.write(data)
        f.write(b"\xab\xcd\xefMaxMind.com" + _encode(meta))
    return n


def build_inputs() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    if not ADDRS.exists():
        np.save(ADDRS, np.random.default_rng(1).integers(0, 2**32, N, dtype=np.uint64).astype(np.uint32))
    if MMDB.exists():
        return
    from surgescope.attribution import geodata

    t = geodata.load("asn")
    names = geodata.org_names()
    org = dict(zip(t["org_asn"].tolist(), t["org_idx"].tolist(), strict=True))
    cache: dict[int, dict] = {}
    values = []
    for a in t["v4_asn"].tolist():
        if a not in cache:
            cache[a] = {"autonomous_system_number": (6, a), "autonomous_system_organization": names[org[a]] if a in org else ""}
        values.append(cache[a])
    t0 = time.perf_counter()
    n = write_mmdb(MMDB, t["v4_start"].tolist(), t["v4_end"].tolist(), values)
    print(f"built {MMDB.name}: {n:,} nodes, {MMDB.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - t0:.1f} s", file=sys.stderr)


# --------------------------------------------------------------------------- timed runs


def _best(fn, repeat=3) -> tuple[float, object]:
    fn()  # warm-up: loads the tables, builds the /24 direct table
    best, res = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        res = fn()
        best = min(best, time.perf_counter() - t0)
    return best, res


def run(tool: str) -> dict:
    from surgescope import ipaddr

    v4 = np.load(ADDRS)
    hi, lo = ipaddr.from_v4_ints(v4)
    if tool == "maxminddb":
        import maxminddb

        texts = [str(ipaddress.IPv4Address(int(x))) for x in v4.tolist()]
        reader = maxminddb.open_database(str(MMDB), maxminddb.MODE_MMAP_EXT)
        get = reader.get

        def look():
            return [get(x) for x in texts]

        secs, res = _best(look, repeat=2)
        asns = np.array([r["autonomous_system_number"] if r else 0 for r in res], dtype=np.uint32)
        np.save(OUT / "geo-mmdb-asn.npy", asns)
        return {"seconds": secs}
    from surgescope.attribution import enrich

    if tool == "surgescope asn":
        secs, res = _best(lambda: enrich.asn_numbers(hi, lo))
        np.save(OUT / "geo-ours-asn.npy", res)
    elif tool == "surgescope asn+org":
        secs, _ = _best(lambda: enrich.asn(hi, lo))
    elif tool == "surgescope country":
        secs, _ = _best(lambda: enrich.country_whois_codes(hi, lo))
    elif tool == "surgescope parse+asn+org":
        import polars as pl

        texts = ipaddr.v4_strings(v4)
        assert isinstance(texts, pl.Series)
        secs, _ = _best(lambda: enrich.asn(*ipaddr.from_strings(texts)))
    else:
        raise SystemExit(f"unknown tool {tool}")
    return {"seconds": secs}


TOOLS = ["surgescope asn", "surgescope asn+org", "surgescope country", "surgescope parse+asn+org", "maxminddb"]


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--run":
        print(json.dumps(run(sys.argv[2])))
        return
    build_inputs()
    rows = []
    for tool in TOOLS:
        p = subprocess.Popen([sys.executable, __file__, "--run", tool], stdout=subprocess.PIPE, cwd=ROOT)
        _, status, usage = os.wait4(p.pid, 0)
        out = p.stdout.read().decode() if p.stdout else ""
        if status != 0:
            raise SystemExit(f"{tool} failed")
        r = json.loads(out.strip().splitlines()[-1])
        rows.append((tool, N / r["seconds"], usage.ru_maxrss / 1024))
    same = np.mean(np.load(OUT / "geo-ours-asn.npy") == np.load(OUT / "geo-mmdb-asn.npy"))
    mmdb_rate = dict((t, r) for t, r, _ in rows)["maxminddb"]
    print(f"{N:,} random IPv4 addresses; AS answers identical on {same:.4%} of them")
    print(f"{'tool':28} {'lookups/s':>14} {'vs maxminddb':>13} {'peak RSS MB':>12}")
    for tool, rate, rss in rows:
        print(f"{tool:28} {rate:14,.0f} {rate / mmdb_rate:12.1f}x {rss:12.0f}")


if __name__ == "__main__":
    main()
