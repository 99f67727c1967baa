"""Offline IP enrichment, vectorised over the project's (hi, lo) ``uint64`` address halves.

- :func:`asn`: AS number and owner (ip-location-db range table, ``numpy.searchsorted``);
- :func:`country_whois`: country from ip-location-db's geo-whois-asn-country table;
- :func:`country_registry`: registered country from RIR allocations via ``iptocc``;
- :func:`special`: private, loopback, CGNAT, documentation, ... from the IANA registries;
- :func:`as_class`: hosting / cloud / vpn / isp / education / unknown;
- :func:`enrich`: all of the above as columns of a table with ``src_ip_hi``/``src_ip_lo``;
- :func:`data_sources`: what each enrichment was made from, with licences and data dates.

>>> from surgescope import ipaddr
>>> hi, lo = ipaddr.from_strings(["8.8.8.8", "10.1.2.3"])
>>> n, org = asn(hi, lo)
>>> int(n[0]), special(hi, lo).tolist()
(15169, [None, 'private'])
"""

from __future__ import annotations

import csv
import ipaddress
import re
from collections.abc import Mapping, Sequence
from functools import cache
from importlib.metadata import version
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from surgescope import ipaddr
from surgescope.attribution import geodata

DATA = Path(__file__).resolve().parents[1] / "data"
U32 = np.uint64(32)

SPECIAL_SOURCE = (
    "IANA IPv4/IPv6 Special-Purpose Address Registries "
    "(iana.org/assignments/iana-ipv4-special-registry, iana-ipv6-special-registry), "
    "multicast and reserved blocks (RFC 5771, RFC 4291, RFC 1112)"
)
CLASSES = ("cloud", "hosting", "vpn", "education", "isp", "unknown")


# --------------------------------------------------------------------------- range lookups


def _as_u64(hi, lo) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(hi, dtype=np.uint64), np.asarray(lo, dtype=np.uint64)


def range_index(table: dict[str, np.ndarray], hi, lo) -> np.ndarray:
    """Index of the range holding each address (``-1`` when none), IPv4 and IPv6 in one call.

    IPv4 uses the ``uint32`` arrays (one ``searchsorted``); IPv6 searches the upper halves and
    then steps back over the few ranges that share an upper half (sub-/64 ranges are rare).
    IPv6 indices are offset by the number of IPv4 ranges so one index addresses both.
    """
    hi, lo = _as_u64(hi, lo)
    out = np.full(len(hi), -1, dtype=np.int64)
    v4 = ipaddr.is_v4(hi, lo)
    all_v4 = bool(v4.all())
    q = (lo & np.uint64(0xFFFF_FFFF)).astype(np.uint32) if all_v4 else ipaddr.v4_ints(lo[v4])
    res4 = _index_v4(table, q)
    if all_v4:
        return res4
    out[v4] = res4
    v6 = np.flatnonzero(~v4)
    if len(v6):
        out[v6] = _index_v6(table, hi[v6], lo[v6])
    return out


BLOCK_TABLE_MIN = 1 << 16
"""From this many IPv4 lookups on, use (and build once) the per-/24 direct table."""

_BLOCK_TABLES: dict[int, np.ndarray] = {}


def _search_v4(start: np.ndarray, end: np.ndarray, q: np.ndarray) -> np.ndarray:
    i = np.searchsorted(start, q, side="right").astype(np.int64) - 1
    return np.where((i >= 0) & (q <= end[np.maximum(i, 0)]), i, -1)


def block_table(table: dict[str, np.ndarray]) -> np.ndarray:
    """Range index of every IPv4 /24 (``int32``; -1 none, -2 split between ranges), built once.

    Why: ``searchsorted`` over 400 k ranges costs ~150 ns per random address (5-6 M/s, cache
    misses at every bisection step, measured by bench/bench_geo.py); one gather from this
    64 MB table is ~30 ns. Only the 0.01 % of /24s split between ranges are searched.
    """
    key = id(table["v4_start"])
    tab = _BLOCK_TABLES.get(key)
    if tab is not None:
        return tab
    start, end = table["v4_start"], table["v4_end"]
    first = (start.astype(np.int64) + 255) >> 8          # first /24 wholly inside the range
    stop = (end.astype(np.int64) + 1) >> 8               # one past the last such /24
    whole = np.flatnonzero(stop > first)
    f, s = first[whole], stop[whole]
    # the table as alternating runs (gap -> -1, range k -> k), expanded by one np.repeat so
    # the build never holds more than the 64 MB result (ranges are sorted and disjoint)
    vals = np.full(2 * len(whole) + 1, -1, dtype=np.int32)
    vals[1::2] = whole
    lens = np.empty(2 * len(whole) + 1, dtype=np.int64)
    lens[0:-1:2] = f - np.concatenate([[0], s[:-1]])
    lens[1::2] = s - f
    lens[-1] = (1 << 24) - (s[-1] if len(s) else 0)
    tab = np.repeat(vals, lens)
    tab[(start[(start & 0xFF) != 0] >> 8).astype(np.int64)] = -2
    tab[(end[(end & 0xFF) != 0xFF] >> 8).astype(np.int64)] = -2
    _BLOCK_TABLES[key] = tab
    return tab


def _index_v4(table: dict[str, np.ndarray], q: np.ndarray) -> np.ndarray:
    start, end = table["v4_start"], table["v4_end"]
    if len(q) < BLOCK_TABLE_MIN:
        return _search_v4(start, end, q)
    res = block_table(table)[q >> np.uint32(8)].astype(np.int64)
    split = np.flatnonzero(res == -2)
    if len(split):
        res[split] = _search_v4(start, end, q[split])
    return res


def _index_v6(table: dict[str, np.ndarray], qh: np.ndarray, ql: np.ndarray) -> np.ndarray:
    sh, sl = table["v6_start_hi"], table["v6_start_lo"]
    eh, el = table["v6_end_hi"], table["v6_end_lo"]
    i = np.searchsorted(sh, qh, side="right").astype(np.int64) - 1
    # step back while the candidate starts above the query within the same upper half
    while True:
        j = np.maximum(i, 0)
        back = (i >= 0) & (sh[j] == qh) & (sl[j] > ql)
        if not back.any():
            break
        i = np.where(back, i - 1, i)
    j = np.maximum(i, 0)
    inside = (i >= 0) & ((qh < eh[j]) | ((qh == eh[j]) & (ql <= el[j])))
    return np.where(inside, i + len(table["v4_start"]), -1)


def _values(table: Mapping[str, np.ndarray], idx: np.ndarray, key: str, fill) -> np.ndarray:
    v4 = table[f"v4_{key}"]
    if len(idx) == 0 or idx.max() < len(v4):
        # IPv4 ranges only: the IPv6 values are neither read (geodata.Table loads on first
        # use) nor copied
        out = v4[np.maximum(idx, 0)]
        out[idx < 0] = fill
        return out
    # a trailing fill value makes "no range" (-1) an ordinary index: one gather, no np.where
    vals = np.concatenate([v4, table[f"v6_{key}"], np.array([fill], dtype=v4.dtype)])
    return vals[idx]


# --------------------------------------------------------------------------- AS


def asn_numbers(hi, lo) -> np.ndarray:
    """AS number of each address (``uint32``; 0 where the address is in no announced range)."""
    t = geodata.load("asn")
    return _values(t, range_index(t, hi, lo), "asn", 0).astype(np.uint32)


DENSE_ASN = 1 << 20
"""AS numbers below this map to their owner through a direct array (4 MB); above, a search."""


@cache
def _org_dense() -> np.ndarray:
    """Owner index (``org_idx``) by AS number for AS < DENSE_ASN; -1 for none."""
    t = geodata.load("asn")
    dense = np.full(DENSE_ASN, -1, dtype=np.int32)
    small = t["org_asn"] < DENSE_ASN
    dense[t["org_asn"][small]] = t["org_idx"][small]
    dense[0] = -1
    return dense


def as_orgs(numbers: np.ndarray) -> np.ndarray:
    """Organisation name of each AS number (object array; None for 0 or unknown).

    Only the names of the distinct owners found are decoded (:func:`geodata.org_name_strings`)."""
    t = geodata.load("asn")
    numbers = np.asarray(numbers, dtype=np.uint32)
    idx = _org_dense()[np.minimum(numbers, DENSE_ASN - 1)]
    big = np.flatnonzero(numbers >= DENSE_ASN)
    if len(big):
        k = np.minimum(np.searchsorted(t["org_asn"], numbers[big]), len(t["org_asn"]) - 1)
        found = t["org_asn"][k] == numbers[big]
        idx[big] = np.where(found, t["org_idx"][k], -1)
    uniq, inv = np.unique(idx, return_inverse=True)
    known = uniq >= 0
    names = np.full(len(uniq), None, dtype=object)
    names[known] = geodata.org_name_strings(uniq[known])
    return names[np.asarray(inv).ravel()]


def asn(hi, lo) -> tuple[np.ndarray, np.ndarray]:
    """(AS number ``uint32`` with 0 for none, organisation name object array) per address."""
    n = asn_numbers(hi, lo)
    return n, as_orgs(n)


# --------------------------------------------------------------------------- country


def _cc_strings(codes: np.ndarray) -> np.ndarray:
    """``uint16`` two-letter codes -> object array of str (None for 0)."""
    uniq, inv = np.unique(codes, return_inverse=True)
    labels = np.array([chr(int(c) >> 8) + chr(int(c) & 0xFF) if c else None for c in uniq], dtype=object)
    return labels[inv]


def country_whois_codes(hi, lo) -> np.ndarray:
    """Country of each address as a ``uint16`` (two ASCII letters, first in the high byte; 0 = none)."""
    t = geodata.load("country")
    return _values(t, range_index(t, hi, lo), "cc", 0).astype(np.uint16)


def country_whois(hi, lo) -> np.ndarray:
    """Country (ISO 3166-1 alpha-2) of each address from geo-whois-asn-country; None if unknown."""
    return _cc_strings(country_whois_codes(hi, lo))


def country_ipfire(hi, lo) -> np.ndarray:
    """Country from IPFire's location database (Debian tor-geoipdb); all None if not installed."""
    try:
        t = geodata.load("ipfire")
    except geodata.GeoDataError:
        return np.full(len(np.asarray(hi)), None, dtype=object)
    return _cc_strings(_values(t, range_index(t, hi, lo), "cc", 0).astype(np.uint16))


def consensus(*opinions: np.ndarray) -> tuple[np.ndarray, list[bool | None]]:
    """(country, all-agree flag) per address from several country opinions, first = preferred.

    The country is the one most sources name (ties go to the earlier opinion); the flag is
    True when every source that answered names the same country, None when fewer than two
    answered.

    >>> c, a = consensus(np.array(["DE", "US", None], dtype=object), np.array(["DE", "CA", "FR"], dtype=object),
    ...                  np.array([None, "CA", None], dtype=object))
    >>> c.tolist(), a
    (['DE', 'CA', 'FR'], [True, False, None])
    """
    # Vectorised (was a Python loop: 0.2 s for 60 k addresses): for each opinion, how many
    # opinions name the same country; the first opinion with the most votes wins.
    ops = [np.asarray(o, dtype=object) for o in opinions]
    named = [o != None for o in ops]  # noqa: E711 (object array compare, elementwise)
    votes = np.stack([named[i] * sum((ops[i] == ops[j]) & named[j] for j in range(len(ops))) for i in range(len(ops))])
    best = votes.argmax(axis=0)  # argmax takes the first of equal counts: the preferred opinion
    n_named = np.sum(named, axis=0)
    country = np.stack(ops)[best, np.arange(len(best))]
    country[n_named == 0] = None
    agree = np.where(n_named < 2, None, votes.max(axis=0) == n_named)
    return country, agree.tolist()


def country_registry(hi, lo) -> np.ndarray:
    """Registered country from the RIRs' allocation data (``iptocc`` batch API); None if none.

    iptocc takes text, so only the distinct addresses are formatted and looked up.
    """
    hi, lo = _as_u64(hi, lo)
    if len(hi) == 0:
        return np.array([], dtype=object)
    pairs = np.stack([hi, lo], axis=1)
    uniq, inv = np.unique(pairs, axis=0, return_inverse=True)
    texts = ipaddr.to_strings(uniq[:, 0], uniq[:, 1])
    import iptocc

    ok = [t for t in texts if t is not None]
    codes = iter(iptocc.country_code(ok))
    res = np.array([next(codes) if t is not None else None for t in texts], dtype=object)
    return res[np.asarray(inv).ravel()]


# --------------------------------------------------------------------------- special ranges


@cache
def _special_table() -> list[tuple[int, int, int, int, str]]:
    """(prefix length in the 128-bit space, hi, lo, mask bits..., category) most general first."""
    rows = []
    with open(DATA / "special_ranges.csv", newline="") as f:
        for r in csv.DictReader(line for line in f if not line.startswith("#")):
            net = ipaddress.ip_network(r["prefix"])
            value = int(net.network_address)
            plen = net.prefixlen
            if net.version == 4:
                value |= 0xFFFF_0000_0000
                plen += 96
            rows.append((plen, value >> 64, value & 0xFFFF_FFFF_FFFF_FFFF, r["category"]))
    rows.sort(key=lambda t: t[0])
    return rows


def _mask(plen: int) -> tuple[np.uint64, np.uint64]:
    m = ((1 << 128) - 1) ^ ((1 << (128 - plen)) - 1)
    return np.uint64(m >> 64), np.uint64(m & 0xFFFF_FFFF_FFFF_FFFF)


def special(hi, lo) -> np.ndarray:
    """Special-purpose category of each address (object array; None for public unicast).

    Categories: private, loopback, link-local, cgnat, documentation, multicast, benchmarking,
    reserved (including IPv6 outside 2000::/3 and the unparseable address ``::``).
    """
    hi, lo = _as_u64(hi, lo)
    out = np.full(len(hi), None, dtype=object)
    v6 = ~ipaddr.is_v4(hi, lo)
    out[v6 & ((hi >> np.uint64(61)) != np.uint64(1))] = "reserved"
    for plen, nh, nl, cat in _special_table():
        mh, ml = _mask(plen)
        hit = ((hi & mh) == np.uint64(nh)) & ((lo & ml) == np.uint64(nl))
        out[hit] = cat
    return out


# --------------------------------------------------------------------------- AS classes


@cache
def _class_rules() -> tuple[dict[int, str], list[tuple[str, str]]]:
    def rows(name):
        with open(DATA / name, newline="") as f:
            return list(csv.DictReader(line for line in f if not line.startswith("#")))

    by_asn = {int(r["asn"]): r["class"] for r in rows("as_classes.csv")}
    rules = [(r["pattern"], r["class"]) for r in rows("as_keywords.csv")]
    return by_asn, rules


def classify_org(asn_number: int, org: str | None) -> tuple[str, str]:
    """(class, how) for one AS: from as_classes.csv ('listed'), a name rule ('name'), or unknown."""
    by_asn, rules = _class_rules()
    if asn_number in by_asn:
        return by_asn[asn_number], "listed"
    for pattern, cls in rules:
        if org and re.search(pattern, org, re.IGNORECASE):
            return cls, "name"
    return "unknown", "none"


def as_class(numbers: np.ndarray, orgs: np.ndarray | None = None) -> np.ndarray:
    """Class of each AS number (object array): cloud, hosting, vpn, education, isp or unknown.

    The listed ASes first, then the name rules in order (vectorised with Polars regexes over
    the distinct AS owners).
    """
    numbers = np.asarray(numbers, dtype=np.uint32)
    uniq, inv = np.unique(numbers, return_inverse=True)
    by_asn, rules = _class_rules()
    names = pl.Series(as_orgs(uniq).tolist(), dtype=pl.String).fill_null("")
    labels = np.array([by_asn.get(int(a)) for a in uniq], dtype=object)
    for pattern, cls in rules:
        hit = names.str.contains("(?i)" + pattern).to_numpy()
        labels = np.where((labels == None) & hit, cls, labels)  # noqa: E711
    labels = np.where(labels == None, "unknown", labels)  # noqa: E711
    return labels[np.asarray(inv).ravel()]


# --------------------------------------------------------------------------- table enrichment


def enrich_addresses(hi, lo, mmdb_paths: Sequence[str | Path] = ()) -> pl.DataFrame:
    """One row per address with every enrichment column (computed once per distinct address).

    ``mmdb_paths``: the user's own MMDB files (GeoLite2, DB-IP, IPinfo); their answers are added
    as ``asn_mmdb``, ``as_org_mmdb`` and ``country_mmdb`` (first file with an answer wins).
    """
    hi, lo = _as_u64(hi, lo)
    df = pl.DataFrame({"ip_hi": hi, "ip_lo": lo}).unique(maintain_order=True)
    uh, ul = df["ip_hi"].to_numpy(), df["ip_lo"].to_numpy()
    numbers, orgs = asn(uh, ul)
    reg = country_registry(uh, ul)
    who = country_whois(uh, ul)
    ipf = country_ipfire(uh, ul)
    cat = special(uh, ul)
    cls = as_class(numbers)
    routed = numbers != 0
    cat = np.where((cat == None) & ~routed, "unrouted", cat)  # noqa: E711 (object array compare)
    # private/reserved space has no country, whatever a range table may say about it
    nonpublic = (cat != None) & (cat != "unrouted")  # noqa: E711
    reg, who, ipf = (np.where(nonpublic, None, x) for x in (reg, who, ipf))
    country, agree = consensus(who, reg, ipf)
    out = df.with_columns(
        pl.Series("country", country.tolist(), dtype=pl.String),
        pl.Series("country_registry", reg.tolist(), dtype=pl.String),
        pl.Series("country_whois", who.tolist(), dtype=pl.String),
        pl.Series("country_ipfire", ipf.tolist(), dtype=pl.String),
        pl.Series("countries_agree", agree, dtype=pl.Boolean),
        pl.Series("asn", np.where(routed, numbers, 0).astype(np.uint32)).replace(0, None),
        pl.Series("as_org", orgs.tolist(), dtype=pl.String),
        pl.Series("as_class", np.where(routed, cls, "unknown").tolist(), dtype=pl.String),
        pl.Series("special", cat.tolist(), dtype=pl.String),
    )
    if mmdb_paths:
        from surgescope.attribution import mmdb

        found = [mmdb.lookup(p, uh, ul) for p in mmdb_paths]
        merged = found[0].select(
            *(pl.coalesce([f[c] for f in found]).alias(f"{c}_mmdb") for c in ("asn", "as_org", "country")))
        out = out.hstack(merged)
    return out


def enrich(table: pa.Table | pl.DataFrame, prefix: str = "src",
           mmdb_paths: Sequence[str | Path] = (), memo: dict | None = None) -> pa.Table | pl.DataFrame:
    """``table`` with country, country_registry, country_whois, countries_agree, asn, as_org,
    as_class and special columns for its ``{prefix}_ip_hi``/``{prefix}_ip_lo`` addresses.

    ``country`` is the consensus (:func:`consensus`) of geo-whois-asn-country (preferred on a
    tie: it includes operators' geofeeds, so it follows where a block is used), the registered
    country and IPFire's; ``countries_agree`` says whether all sources that answered agree
    (null when fewer than two answered).
    ``memo``: a dict shared by several calls over overlapping addresses (an attribution judges
    each attack, then all of them together): only addresses it does not hold yet are looked up.
    Returns the same kind of table it was given.
    """
    df = table if isinstance(table, pl.DataFrame) else pl.from_arrow(table)
    assert isinstance(df, pl.DataFrame)
    h, lcol = f"{prefix}_ip_hi", f"{prefix}_ip_lo"
    hi, lo = df[h].to_numpy(), df[lcol].to_numpy()
    info = _memo_enrich(hi, lo, mmdb_paths, memo) if memo is not None else enrich_addresses(hi, lo, mmdb_paths)
    out = df.join(info.rename({"ip_hi": h, "ip_lo": lcol}), on=[h, lcol], how="left", maintain_order="left")
    return out if isinstance(table, pl.DataFrame) else out.to_arrow()


def _memo_enrich(hi, lo, mmdb_paths: Sequence[str | Path], memo: dict) -> pl.DataFrame:
    """:func:`enrich_addresses` of every address in ``memo`` (one row each) after adding the
    new ones among ``hi``/``lo``."""
    key = tuple(str(p) for p in mmdb_paths)
    have = memo.get(key)
    hi, lo = _as_u64(hi, lo)
    new = pl.DataFrame({"ip_hi": hi, "ip_lo": lo})
    if have is not None:
        new = new.join(have.select("ip_hi", "ip_lo"), on=["ip_hi", "ip_lo"], how="anti")
    if have is None or new.height:
        info = enrich_addresses(new["ip_hi"].to_numpy(), new["ip_lo"].to_numpy(), mmdb_paths)
        have = info if have is None else pl.concat([have, info], how="vertical")
        memo[key] = have
    return have


# --------------------------------------------------------------------------- provenance


@cache
def _iptocc_version() -> str:
    """iptocc's installed version, from the dist-info beside the package when there is one:
    ``importlib.metadata.version`` scans every installed distribution first (measured 0.08
    CPU-s in the project's venv, a tenth of the attribution of a 2 M-line log)."""
    import iptocc

    found = list(Path(iptocc.__file__).resolve().parents[1].glob("iptocc-*.dist-info/METADATA"))
    if len(found) == 1:
        for line in found[0].read_text(encoding="utf-8").splitlines():
            if line.startswith("Version:"):
                return line.split(":", 1)[1].strip()
    return version("iptocc")


def data_sources(mmdb_paths: Sequence[str | Path] = ()) -> list[dict]:
    """Every enrichment's source, licence, attribution and data date, for the report."""
    meta = geodata.metadata().get("tables", {})
    out = []
    for name, what in (("asn", "IP -> AS number and owner"), ("country", "IP -> country (geofeed/WHOIS/AS)"),
                       ("ipfire", "IP -> country (IPFire location database)")):
        m = meta.get(name, {})
        if name == "ipfire" and not m:
            continue  # optional source, not built
        out.append({
            "name": what, "source": m.get("source", "missing: run `surgescope geo update`"),
            "url": m.get("url"), "licence": m.get("licence"), "attribution": m.get("attribution"),
            "data_date": m.get("data_date"),
        })
    out.append({
        "name": "IP -> registered country (RIR allocations)", "source": f"PyPI iptocc {_iptocc_version()}",
        "url": "https://github.com/roniemartinez/IPToCC", "licence": "MIT OR Apache-2.0 (RIR statistics data)",
        "attribution": "Registry allocation data of AFRINIC, APNIC, ARIN, LACNIC and RIPE NCC via iptocc.",
        "data_date": f"as packaged in iptocc {_iptocc_version()}",
    })
    out.append({
        "name": "special-purpose address ranges", "source": SPECIAL_SOURCE,
        "url": "https://www.iana.org/assignments/iana-ipv4-special-registry/",
        "licence": "public registry", "attribution": "IANA", "data_date": "2025 (registry as of RFC 9637/9602)",
    })
    out.append({
        "name": "AS classification (hosting/cloud/vpn/isp/education)",
        "source": "surgescope data/as_classes.csv (curated list) and data/as_keywords.csv (name rules)",
        "url": None, "licence": "Apache-2.0 (this project)",
        "attribution": "curated by the surgescope project; heuristic, not exhaustive", "data_date": "2026-11",
    })
    if mmdb_paths:
        from surgescope.attribution import mmdb

        out += [mmdb.metadata(p) for p in mmdb_paths]
    return out


# --------------------------------------------------------------------------- sampling


@cache
def _v4_range_labels() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per IPv4 AS range: country code (uint16) at its start, AS class, and public flag."""
    t = geodata.load("asn")
    hi, lo = ipaddr.from_v4_ints(t["v4_start"])
    cc = country_whois_codes(hi, lo)
    cls = as_class(t["v4_asn"])
    public = special(hi, lo) == None  # noqa: E711
    return cc, cls, public


def sample_addresses(
    n: int, rng: np.random.Generator, country: str | None = None, as_class: str | None = None
) -> list[str]:
    """``n`` public IPv4 addresses from announced ranges of ``country`` and/or ``as_class``.

    For the traffic generators: sources "in Ukraine on residential ISPs" are
    ``sample_addresses(100, rng, "UA", "isp")`` (``residential`` is accepted for ``isp``).
    Ranges are drawn uniformly (so many networks appear, not only the largest), then an address
    uniformly inside the range; every returned address looks up to the asked country (in every
    country source) and class.

    >>> ips = sample_addresses(3, np.random.default_rng(0), country="UA", as_class="isp")
    >>> country_whois(*ipaddr.from_strings(ips)).tolist()
    ['UA', 'UA', 'UA']
    """
    if as_class == "residential":
        as_class = "isp"
    if as_class is not None and as_class not in CLASSES:
        raise ValueError(f"unknown AS class {as_class!r} (one of {', '.join(CLASSES)})")
    cc, cls, public = _v4_range_labels()
    ok = public.copy()
    if country is not None:
        c = country.upper()
        if len(c) != 2:
            raise ValueError(f"country must be a two-letter code, not {country!r}")
        ok &= cc == np.uint16((ord(c[0]) << 8) | ord(c[1]))
    if as_class is not None:
        ok &= cls == as_class
    candidates = np.flatnonzero(ok)
    if len(candidates) == 0:
        raise ValueError(f"no announced ranges for country={country!r}, as_class={as_class!r}")
    t = geodata.load("asn")
    out = np.zeros(0, dtype=np.uint32)
    for _ in range(20):  # a range's tail may lie in another country: draw again for those
        k = rng.choice(candidates, size=max(2 * (n - len(out)), 8))
        span = t["v4_end"][k].astype(np.int64) - t["v4_start"][k].astype(np.int64) + 1
        v4 = (t["v4_start"][k] + (rng.random(len(k)) * span).astype(np.int64)).astype(np.uint32)
        hi, lo = ipaddr.from_v4_ints(v4)
        good = special(hi, lo) == None  # noqa: E711
        if country is not None:
            # every country source must say so, so the generated sources are unambiguous
            ipf = country_ipfire(hi, lo)
            good &= (country_whois(hi, lo) == country.upper()) & (country_registry(hi, lo) == country.upper())
            good &= (ipf == country.upper()) | (ipf == None)  # noqa: E711 (None: IPFire not built)
        out = np.concatenate([out, v4[good]])[:n]
        if len(out) >= n:
            break
    return ipaddr.v4_strings(out).to_list()
