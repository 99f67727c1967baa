"""Offline enrichment: range tables, special ranges, AS classes, sampling, provenance.

Truth comes from outside the code under test: well-known addresses (Google, Cloudflare,
Quad9 and the IANA registries' own examples), iptocc's scalar API, and a plain Python
``bisect`` over the shipped arrays (independent of the vectorised/direct-table lookups).
"""

from __future__ import annotations

import bisect
import ipaddress
import json

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from surgescope import ipaddr
from surgescope.attribution import enrich, geodata

_STARTS: dict[int, list[int]] = {}


def _ref_v4(table, v4: int) -> int:
    """Plain-Python reference: bisect over the range starts, then check the end."""
    key = id(table["v4_start"])
    if key not in _STARTS:
        _STARTS[key] = table["v4_start"].tolist()
    i = bisect.bisect_right(_STARTS[key], v4) - 1
    return i if i >= 0 and v4 <= int(table["v4_end"][i]) else -1


def _v6_ints(table, which: str) -> list[int]:
    hi = table[f"v6_{which}_hi"].tolist()
    lo = table[f"v6_{which}_lo"].tolist()
    return [(h << 64) | lo_ for h, lo_ in zip(hi, lo, strict=True)]


def test_well_known_addresses():
    hi, lo = ipaddr.from_strings(["8.8.8.8", "1.1.1.1", "9.9.9.9", "2001:4860:4860::8888"])
    numbers, orgs = enrich.asn(hi, lo)
    assert numbers.tolist() == [15169, 13335, 19281, 15169]
    assert orgs[0] == "Google LLC" and orgs[1] == "Cloudflare, Inc."
    assert enrich.as_class(numbers).tolist()[:2] == ["cloud", "cloud"]


def test_special_ranges_from_the_iana_registries():
    cases = {
        "10.1.2.3": "private", "172.16.0.5": "private", "192.168.50.4": "private",
        "100.64.0.1": "cgnat", "127.0.0.1": "loopback", "169.254.1.1": "link-local",
        "192.0.2.7": "documentation", "198.51.100.1": "documentation", "203.0.113.9": "documentation",
        "198.18.0.1": "benchmarking", "224.0.0.251": "multicast", "240.0.0.1": "reserved",
        "255.255.255.255": "reserved", "0.1.2.3": "reserved", "::1": "loopback", "fe80::1": "link-local",
        "fd00::1": "private", "ff02::1": "multicast", "2001:db8::1": "documentation", "3fff::1": "documentation",
        "4000::1": "reserved", "8.8.8.8": None, "2a00:1450::1": None,
    }
    hi, lo = ipaddr.from_strings(list(cases))
    assert enrich.special(hi, lo).tolist() == list(cases.values())


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=200))
def test_v4_lookup_matches_bisect(values):
    t = geodata.load("asn")
    q = np.array(values, dtype=np.uint32)
    got = enrich._search_v4(t["v4_start"], t["v4_end"], q)
    assert got.tolist() == [_ref_v4(t, v) for v in values]


def test_direct_block_table_agrees_with_bisect_at_every_boundary():
    # boundaries are where a /24 table could go wrong: starts, ends and their neighbours
    for name in ("asn", "country"):
        t = geodata.load(name)
        rng = np.random.default_rng(3)
        pick = rng.choice(len(t["v4_start"]), 3000, replace=False)
        q = np.concatenate([t["v4_start"][pick], t["v4_end"][pick], t["v4_start"][pick] - 1,
                            t["v4_end"][pick] + 1, rng.integers(0, 2**32, 60_000, dtype=np.uint64).astype(np.uint32)])
        assert len(q) >= enrich.BLOCK_TABLE_MIN
        got = enrich._index_v4(t, q)
        sample = rng.choice(len(q), 4000, replace=False)
        assert got[sample].tolist() == [_ref_v4(t, int(q[i])) for i in sample]
        assert (got == enrich._search_v4(t["v4_start"], t["v4_end"], q)).all()


def test_v6_lookup_including_sub_64_ranges_matches_python_ints():
    t = geodata.load("asn")
    starts, ends = _v6_ints(t, "start"), _v6_ints(t, "end")
    split = np.flatnonzero(t["v6_start_lo"] != 0)[:50]  # ranges that start inside a /64
    assert len(split) > 0
    probes = []
    for i in split.tolist() + list(range(0, len(starts), 997)):
        probes += [starts[i], ends[i], starts[i] - 1, ends[i] + 1]
    hi = np.array([p >> 64 for p in probes], dtype=np.uint64)
    lo = np.array([p & (2**64 - 1) for p in probes], dtype=np.uint64)
    got = enrich.range_index(t, hi, lo)
    n4 = len(t["v4_start"])
    for p, g in zip(probes, got.tolist(), strict=True):
        j = bisect.bisect_right(starts, p) - 1
        want = j + n4 if j >= 0 and p <= ends[j] else -1
        assert g == want, hex(p)


def test_registry_country_matches_iptocc_scalar_api(datasets):
    import iptocc

    ips = ["8.8.8.8", "193.0.6.139", "2001:67c:2e8::1", "41.0.0.1", "200.160.2.3", "10.0.0.1"]
    hi, lo = ipaddr.from_strings(ips)
    assert enrich.country_registry(hi, lo).tolist() == [iptocc.country_code(x) for x in ips]


def test_enrich_adds_columns_and_keeps_rows():
    ips = ["8.8.8.8", "8.8.8.8", "10.0.0.1", "2001:4860:4860::8888", "31.43.1.1"]
    hi, lo = ipaddr.from_strings(ips)
    t = pl.DataFrame({"src_ip": ips, "src_ip_hi": hi, "src_ip_lo": lo}).to_arrow()
    out = pl.from_arrow(enrich.enrich(t))
    assert out.height == 5 and out["src_ip"].to_list() == ips
    assert out["asn"].to_list()[:3] == [15169, 15169, None]
    assert out["special"].to_list()[2] == "private" and out["country"].to_list()[2] is None
    assert out["as_class"].to_list()[0] == "cloud"
    for col in ("country", "country_registry", "country_whois", "countries_agree", "as_org"):
        assert col in out.columns


def test_sample_addresses_are_in_the_asked_country_and_class():
    import iptocc

    rng = np.random.default_rng(11)
    ips = enrich.sample_addresses(40, rng, country="UA", as_class="isp")
    assert len(ips) == 40
    assert {iptocc.country_code(x) for x in ips} == {"UA"}
    hi, lo = ipaddr.from_strings(ips)
    assert set(enrich.country_whois(hi, lo).tolist()) == {"UA"}
    assert set(enrich.as_class(enrich.asn_numbers(hi, lo)).tolist()) == {"isp"}
    hosting = enrich.sample_addresses(30, rng, as_class="hosting")
    assert set(enrich.as_class(enrich.asn_numbers(*ipaddr.from_strings(hosting))).tolist()) == {"hosting"}
    with pytest.raises(ValueError):
        enrich.sample_addresses(3, rng, country="Ukraine")


def test_shipped_data_has_provenance_and_is_small():
    meta = json.loads((geodata.DATA_DIR / "METADATA.json").read_text())
    for name in ("asn", "country", "ipfire"):
        m = meta["tables"][name]
        assert m["data_date"][:4].isdigit() and m["attribution"] and m["licence"]
        assert (geodata.DATA_DIR / m["file"]).stat().st_size < 4_000_000
    assert "CC BY 4.0" in (geodata.DATA_DIR / "ATTRIBUTION.md").read_text()
    assert meta["tables"]["ipfire"]["licence"] == "CC-BY-SA-4.0"
    names = [d["name"] for d in enrich.data_sources()]
    assert len(names) == 6 and all(d["data_date"] for d in enrich.data_sources())


def test_build_round_trips_a_small_package(tmp_path):
    """The builder on hand-written CSVs: ranges merged, names deduplicated, arrays exact."""
    a = tmp_path / "src" / "asn" / "package"
    c = tmp_path / "src" / "country" / "package"
    a.mkdir(parents=True)
    c.mkdir(parents=True)
    v4 = lambda s: int(ipaddress.IPv4Address(s))  # noqa: E731
    v6 = lambda s: int(ipaddress.IPv6Address(s))  # noqa: E731
    (a / "asn-ipv4-num.csv").write_text(
        f"{v4('1.0.0.0')},{v4('1.0.0.255')},13335,\"Cloudflare, Inc.\"\n"
        f"{v4('1.0.1.0')},{v4('1.0.1.255')},13335,\"Cloudflare, Inc.\"\n"
        f"{v4('2.0.0.0')},{v4('2.0.0.127')},64500,Example Net\n")
    (a / "asn-ipv6-num.csv").write_text(f"{v6('2001:db8::')},{v6('2001:db8::ff')},64501,Example Net\n")
    (c / "geo-whois-asn-country-ipv4-num.csv").write_text(f"{v4('1.0.0.0')},{v4('1.0.3.255')},AU\n")
    (c / "geo-whois-asn-country-ipv6-num.csv").write_text(f"{v6('2001:db8::')},{v6('2001:db8::ffff')},NL\n")
    for d in (a, c):
        (d / "package.json").write_text(json.dumps({"version": "2.3.2026061719"}))
    tor = tmp_path / "src" / "tor" / "usr" / "share" / "tor"
    tor.mkdir(parents=True)
    (tor / "geoip").write_text(
        "# Generated: Thu, 25 Jun 2026 04:33:59 GMT\n"
        f"{v4('1.0.0.0')},{v4('1.0.0.255')},AU\n{v4('1.0.1.0')},{v4('1.0.1.255')},??\n"
        f"{v4('2.0.0.0')},{v4('2.0.0.255')},EU\n")
    (tor / "geoip6").write_text("2001:db8::,2001:db8::ffff,NL\n")
    out = tmp_path / "geo"
    meta = geodata.update(tmp_path / "src", out=out)
    assert meta["tables"]["ipfire"]["data_date"] == "2026-06-25"
    ipf = geodata.load("ipfire", out)
    assert ipf["v4_start"].tolist() == [v4("1.0.0.0")]  # unknown (??) and regional (EU) dropped
    assert ipf["v6_end_lo"].tolist() == [0xFFFF]
    assert meta["tables"]["asn"]["ipv4_ranges"] == 2  # the two touching Cloudflare ranges merged
    assert meta["tables"]["asn"]["data_date"] == "2026-06-17"
    t = geodata.load("asn", out)
    assert t["v4_start"].tolist() == [v4("1.0.0.0"), v4("2.0.0.0")]
    assert t["v4_end"].tolist() == [v4("1.0.1.255"), v4("2.0.0.127")]
    assert bytes(t["org_names"]).decode().split("\n") == ["Cloudflare, Inc.", "Example Net"]
    assert t["v6_end_lo"].tolist() == [0xFF]
    cc = geodata.load("country", out)
    assert cc["v4_cc"].tolist() == [(ord("A") << 8) | ord("U")]


def test_nested_source_ranges_resolve_to_the_narrowest():
    """Sources nest ranges (a geofeed /29 inside a WHOIS /22): the narrower one wins, and the
    outer range still answers on both sides of it."""
    start, end, value = geodata._merge([0, 100, 100, 150], [199, 109, 100, 260], ["A", "B", "C", "D"])
    assert list(zip(start, end, value, strict=True)) == [
        (0, 99, "A"), (100, 100, "C"), (101, 109, "B"), (110, 149, "A"), (150, 260, "D")]
    for name in ("asn", "country"):
        t = geodata.load(name)
        s, e = t["v4_start"].astype(np.int64), t["v4_end"].astype(np.int64)
        assert (s[1:] > e[:-1]).all() and (e >= s).all()  # the shipped tables are disjoint


def test_user_mmdb_is_read_with_maxminddb(tmp_path):
    """A GeoLite2-ASN-shaped MMDB written with our writer, read back through ``maxminddb``."""
    from surgescope.attribution import mmdb
    from surgescope.attribution.verdict import attribute

    path = tmp_path / "user.mmdb"
    v4 = lambda s: int(ipaddress.IPv4Address(s))  # noqa: E731
    mmdb.write(path, [v4("8.8.8.0"), v4("9.9.9.0")], [v4("8.8.8.255"), v4("9.9.9.255")], [
        {"autonomous_system_number": (6, 15169), "autonomous_system_organization": "Google LLC",
         "country": {"iso_code": "US"}},
        {"autonomous_system_number": (6, 64512), "autonomous_system_organization": "Wrong Net",
         "country": {"iso_code": "CH"}},
    ], "GeoLite2-ASN-shaped test database", "GeoLite2-ASN-test")
    import maxminddb

    with maxminddb.open_database(str(path)) as r:  # the official reader, independently
        assert r.get("8.8.8.8")["autonomous_system_number"] == 15169
        assert r.get("1.1.1.1") is None
    hi, lo = ipaddr.from_strings(["8.8.8.8", "9.9.9.9", "1.1.1.1", "2001:db8::1"])
    out = enrich.enrich_addresses(hi, lo, [path])
    assert out["asn_mmdb"].to_list() == [15169, 64512, None, None]
    assert out["country_mmdb"].to_list() == ["US", "CH", None, None]
    ips = ["8.8.8.8"] * 3 + ["9.9.9.9"]
    h, lo2 = ipaddr.from_strings(ips)
    t = pl.DataFrame({"ts": [0] * 4, "src_ip": ips, "src_ip_hi": h, "src_ip_lo": lo2, "method": ["GET"] * 4,
                      "bytes": [1] * 4}).with_columns(pl.col("ts").cast(pl.Datetime("ns", "UTC")))
    a = attribute(None, [t], mmdb_paths=[str(path)])
    rows = {r["asn"]: r["user_mmdb_agree"] for r in a["by_asn"]}
    assert rows == {15169: 1.0, 19281: 0.0}  # 9.9.9.9 is Quad9's AS19281 in the shipped table
    assert a["data_sources"][-1]["source"].startswith("GeoLite2-ASN-test")
