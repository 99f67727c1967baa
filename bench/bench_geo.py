"""IP -> AS lookups: surgescope's vectorised range tables vs the ``maxminddb`` reader, same data.

Input: 1,000,000 IPv4 addresses drawn uniformly from the whole address space (seed 1), and
an MMDB built here from the very ranges surgescope ships (``src/surgescope/data/geo/asn.npz``:
411,961 IPv4 ranges -> AS number and organisation, the GeoLite2-ASN record layout), so both
sides answer the same question from the same data. The MMDB is written by the small writer
by :func:`surgescope.attribution.mmdb.write` (MaxMind DB format 2.0, 32-bit records, IPv4
tree); it is cached under bench/out/.

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


def build_inputs() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    if not ADDRS.exists():
        np.save(ADDRS, np.random.default_rng(1).integers(0, 2**32, N, dtype=np.uint64).astype(np.uint32))
    if MMDB.exists():
        return
    from surgescope.attribution import geodata, mmdb

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
    n = mmdb.write(MMDB, t["v4_start"].tolist(), t["v4_end"].tolist(), values,
                   "ip-location-db asn (bench copy)", "surgescope-bench-ASN")
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
