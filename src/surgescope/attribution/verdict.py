"""The attribution verdict: where the attacking addresses are, and how far that can be trusted.

:func:`attribute` gives the ``attribution`` section of report-v1 from the attacks and the
traffic tables. The confidence is the probability we are prepared to put on "the attacker is
in the country where most sources are located". It is built from the evidence, not from how
concentrated the countries look:

- rewritten (private/testbed/NAT) sources: 0 — nothing can be attributed;
- forged (spoofed) sources: 0.02 — the country breakdown is meaningless;
- reflected traffic: 0.03 — the sources are abused servers, the attacker never appears;
- otherwise ``0.7 x (0.4 + 0.6 x top-country share) x (1 - 0.6 x hosting/cloud/VPN share)
  x (0.6 + 0.4 x share of sources whose country sources all agree)``. The 0.7 ceiling is there because
  even a direct flood from residential addresses in one country usually comes from
  compromised devices controlled from elsewhere.

Each source is first classified on its own packets (:func:`evidence.classify_sources`):
located (completed handshakes, sent requests), forged, reflector, rewritten, light (an ordinary
visitor in the attack's window) or unconfirmed. When vectors run at the same time, e.g. a
botnet's HTTP flood beside a spoofed SYN flood and a DNS reflection, the tables, dispersion,
infrastructure and confidence describe the located sources alone (``described`` is
``"located sources"``), the caveats count what was left out and why, ``reflected`` and
``spoofing_suspected`` still say the forged and reflected vectors were there, and the
confidence is the formula above times ``MIXED_FACTOR`` (0.5). When no source can be located,
the whole traffic is judged as above (``described`` is ``"all sources"``).

Example (a direct flood from three residential addresses in one country)::

    >>> import numpy as np
    >>> from surgescope.attribution.enrich import sample_addresses
    >>> from surgescope.simulate.packets import Phase, generate
    >>> ips = sample_addresses(3, np.random.default_rng(1), country="DE", as_class="isp")
    >>> t = generate([Phase("udp-flood", duration=2, rate=300, sources=ips)], seed=1)
    >>> a = attribute(None, [t])
    >>> a["by_country"][0]["country"], a["confidence"] > 0.5
    ('DE', True)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

import polars as pl
import pyarrow as pa

from surgescope import ipaddr
from surgescope.attribution import enrich as geo
from surgescope.attribution import evidence as ev

CEILING = 0.7
SPOOFED_CONFIDENCE = 0.02
REFLECTED_CONFIDENCE = 0.03
MIXED_FACTOR = 0.5
"""Located sources sent alongside forged or reflected ones: the operator is shown to hide behind
forged and abused addresses at the same time (booter services mix vectors), so the real
machines are more likely rented or borrowed too; their confidence is halved."""
HANDSHAKE_VECTORS = ("http-flood", "slow-http")
"""Vectors whose sources must complete TCP handshakes: real machines."""
MIN_LOCATED = 20
"""Without such a vector from the attack analysis, this many handshake-completing sources are
needed before they, not the forged or reflected ones, are described (a capture of a reflection
has a few of the victim's own conversations in it; a botnet has many)."""


def _pct(x: float) -> str:
    return f"{x:.0%}" if x >= 0.01 or x == 0 else "<1%"


def by_country(sources: pl.DataFrame, top: int = 20) -> list[dict]:
    """Countries with their share of located sources, traffic share and source agreement."""
    s = sources.filter(pl.col("country").is_not_null())
    if s.height == 0:
        return []
    total_r = max(int(s["records"].sum()), 1)
    user = "country_mmdb" in s.columns
    g = s.group_by("country").agg(
        pl.len().alias("sources"), pl.col("records").sum(),
        pl.col("countries_agree").drop_nulls().mean().alias("agreement"),
        *([(pl.col("country_mmdb") == pl.col("country")).drop_nulls().mean().alias("mmdb")] if user else []),
    ).sort(["sources", "country"], descending=[True, False]).head(top)
    return [
        {"country": r["country"], "share": round(r["sources"] / s.height, 4), "sources": r["sources"],
         "traffic_share": round(r["records"] / total_r, 4),
         "sources_agree": None if r["agreement"] is None else round(r["agreement"], 4),
         **({"user_mmdb_agree": None if r["mmdb"] is None else round(r["mmdb"], 4)} if user else {})}
        for r in g.iter_rows(named=True)
    ]


def by_asn(sources: pl.DataFrame, top: int = 20) -> list[dict]:
    """Networks with their share of routed sources, owner and class."""
    s = sources.filter(pl.col("asn").is_not_null())
    if s.height == 0:
        return []
    total_r = max(int(s["records"].sum()), 1)
    user = "asn_mmdb" in s.columns
    g = s.group_by("asn").agg(
        pl.col("as_org").first(), pl.col("as_class").first(), pl.len().alias("sources"), pl.col("records").sum(),
        *([(pl.col("asn_mmdb") == pl.col("asn")).drop_nulls().mean().alias("mmdb")] if user else []),
    ).sort(["sources", "asn"], descending=[True, False]).head(top)
    return [
        {"asn": int(r["asn"]), "as_org": r["as_org"], "as_class": r["as_class"],
         "share": round(r["sources"] / s.height, 4), "sources": r["sources"],
         "traffic_share": round(r["records"] / total_r, 4),
         **({"user_mmdb_agree": None if r["mmdb"] is None else round(r["mmdb"], 4)} if user else {})}
        for r in g.iter_rows(named=True)
    ]


def enrich_top_sources(attacks: Sequence[dict], memo: dict | None = None) -> None:
    """Fill country, asn and as_org of every ``attacks[].top_sources[]`` entry (in place).

    All attacks' addresses in one lookup; ``memo``: addresses already enriched (see
    :func:`~surgescope.attribution.enrich.enrich`), usually every top source."""
    tops = [t for a in attacks for t in (a.get("top_sources") or [])]
    if not tops:
        return
    hi, lo = ipaddr.from_strings([t.get("ip") for t in tops])
    asked = pl.DataFrame({"ip_hi": hi, "ip_lo": lo})
    info = geo._memo_enrich(hi, lo, (), {} if memo is None else memo).join(asked, on=["ip_hi", "ip_lo"], how="semi")
    lookup = {(h, lo_): r for h, lo_, r in zip(info["ip_hi"], info["ip_lo"], info.iter_rows(named=True), strict=True)}
    ok = ipaddr.valid(hi, lo)
    for t, h, lo_, v in zip(tops, hi.tolist(), lo.tolist(), ok.tolist(), strict=True):
        r = lookup.get((h, lo_))
        if r is None or not v:
            continue
        t["country"] = r["country"]
        t["asn"] = None if r["asn"] is None else int(r["asn"])
        t["as_org"] = r["as_org"]


def _data_age_caveat(traffic: ev.Traffic) -> str | None:
    if traffic.rows.height == 0:
        return None
    meta = geo.geodata.metadata().get("tables", {}).get("asn", {})
    try:
        data_day = date.fromisoformat(meta.get("data_date", ""))
    except ValueError:
        return None
    seen = traffic.rows["ts"].min()
    if seen is None:
        return None
    years = abs((data_day - seen.date()).days) / 365.25
    if years < 1:
        return None
    return (f"The traffic is from {seen.date().isoformat()} but the address data is from {data_day.isoformat()} "
            f"({years:.1f} years apart): blocks change hands, so some locations and owners may be out of date.")


def _confidence(rew: dict, spoof: dict, refl: dict, disp: dict, infra: dict, n: int) -> float:
    if n == 0 or rew["rewritten"]:
        return 0.0
    if spoof["suspected"]:
        return SPOOFED_CONFIDENCE
    if refl["reflected"]:
        return REFLECTED_CONFIDENCE
    agreement = disp.get("agreement")
    agreement = 1.0 if agreement is None else agreement
    c = CEILING * (0.4 + 0.6 * disp["top_country_share"]) * (1 - 0.6 * infra["share"]) * (0.6 + 0.4 * agreement)
    return round(float(c), 3)


def _top_list(countries: list[dict], k: int = 3) -> str:
    return ", ".join(f"{c['country']} {_pct(c['share'])}" for c in countries[:k]) or "none located"


def attribute(
    attacks: Sequence[dict] | None,
    tables: Iterable[pa.Table | pl.DataFrame],
    anonymisers: Iterable[str] | None = None,
    top: int = 20,
    mmdb_paths: Sequence[str] = (),
) -> dict:
    """The ``attribution`` section of report-v1 from attacks and traffic tables.

    ``attacks`` as found by the attack analysis: ``None`` means it was not run, so all inbound
    traffic is judged as the attack; an empty list means it ran and found nothing, so the
    tables describe the clients seen and the verdict says no attack was found. Each attack's
    ``top_sources[]`` gets country, asn and as_org filled in place; with several attacks, each
    is also judged on its own traffic (``attacks[].attribution``, and one caveat per attack),
    while the section's figures pool the attacks whose sources can be located (all of them when
    none or every one is reflected, forged or rewritten). Within that traffic, sources that
    completed handshakes are described alone when forged, reflected or rewritten sources came
    with them (``source_classes`` counts each class; see the module docstring).
    ``anonymisers``: optional lines of addresses/CIDRs of Tor or VPN exits.
    ``mmdb_paths``: the user's own MMDB files; each by_country/by_asn row then says how often
    they agree (``user_mmdb_agree``), and they are listed in the data sources.
    """
    tables = list(tables)
    anonymisers = None if anonymisers is None else list(anonymisers)  # read once, used per attack too
    memo: dict = {}
    section = _attribute(attacks, tables, anonymisers, top, mmdb_paths, memo)
    if attacks:
        # after the sources: their enrichment holds the top sources already
        enrich_top_sources(attacks, memo)
    return section


def _attribute(attacks: Sequence[dict] | None, tables: list[pa.Table | pl.DataFrame], anonymisers: list[str] | None,
               top: int, mmdb_paths: Sequence[str], memo: dict, one_of_many: bool = False) -> dict:
    """:func:`attribute` but the top sources; ``one_of_many=True`` for one attack of
    several (its caller keeps a few fields and lists the data sources itself). ``memo`` holds
    the addresses enriched so far: each attack's sources are enriched once, not again when
    the attacks are pooled."""
    per_attack = []
    if attacks and len(attacks) > 1:
        # each attack judged on its own traffic: a reflected phase and a direct phase differ
        for i, a in enumerate(attacks):
            sub = _attribute([a], tables, anonymisers, 5, mmdb_paths, memo, one_of_many=True)
            a["attribution"] = {
                "confidence": sub["confidence"], "reflected": sub["reflected"],
                "spoofing_suspected": sub["spoofing_suspected"], "rewritten": sub["rewritten"],
                "sources": sub["sources"], "by_country": sub["by_country"], "verdict": sub["verdict"],
                "described": sub["described"], "source_classes": sub["source_classes"],
            }
            per_attack.append((i, a, sub))
    # Only sources that can be located describe where the attack came from: with a mix of
    # direct and forged/reflected/rewritten attacks, the tables pool the direct ones alone (an
    # expert would not count random forged addresses beside real bots).
    unlocatable = [(i, a, sub) for i, a, sub in per_attack
                   if (sub["reflected"] or sub["spoofing_suspected"] or sub["rewritten"])
                   and sub["described"] != "located sources"]
    located = attacks
    if unlocatable and len(unlocatable) < len(per_attack):
        left_out = {id(a) for _, a, _ in unlocatable}
        located = [a for a in attacks if id(a) not in left_out]
    traffic = ev.collect(tables, located, mmdb_paths, memo)
    no_attack = attacks is not None and len(attacks) == 0
    classes = ev.classify_sources(traffic, light=True)
    counts = ev.class_counts(classes)
    mixed = _mixed(no_attack, counts, located)
    pooled_refl = ev.reflection(traffic, located)
    pooled_spoof = ev.spoofing(traffic, reflected=pooled_refl["reflected"])
    whole = traffic
    if mixed:
        # describe the real machines alone; the rest is counted and said to be left out
        traffic = ev.subset(whole, classes.filter(pl.col("source_class") == "located"))
        refl = ev.reflection(traffic)
        spoof = ev.spoofing(traffic, reflected=refl["reflected"])
    else:
        refl, spoof = pooled_refl, pooled_spoof
    s = traffic.sources
    disp = ev.dispersion(traffic)
    infra = ev.infrastructure(traffic, anonymisers)
    rew = ev.rewriting(traffic)
    countries = by_country(s, top)
    asns = by_asn(s, top)
    n = s.height
    conf = 0.0 if no_attack else _confidence(rew, spoof, refl, disp, infra, n)
    if mixed:
        conf = round(conf * MIXED_FACTOR, 3)
    dropped = _left_out(whole, classes, counts, located) if mixed else []

    caveats = [
        "An address's country is where its block is registered or announced, not where a person sits; "
        "attackers send through compromised devices, rented servers, proxies and VPNs."
    ]
    if disp.get("agreement") is not None and disp["agreement"] < 0.97:
        caveats.append(f"The country sources (registry, geofeed/WHOIS, IPFire) disagree for {_pct(1 - disp['agreement'])} of sources; "
                       "each country row shows how far they agree.")
    if infra.get("share", 0) >= 0.2:
        caveats.append(f"{_pct(infra['share'])} of sources are in hosting, cloud or VPN networks: rented machines "
                       "whose location says where the server is, not who rents it.")
    if infra.get("anonymiser_share", 0) > 0:
        caveats.append(f"{_pct(infra['anonymiser_share'])} of sources are known anonymiser exits.")
    forged_or_abused = spoof["suspected"] or refl["reflected"] or rew["rewritten"]
    if disp["countries"] >= 10 and disp.get("normalised_entropy", 0) >= 0.5 and not forged_or_abused:
        caveats.append(f"Sources are spread over {disp['countries']} countries and {disp['asns']} networks, "
                       "like a botnet of compromised devices: their locations say where the infected devices are, "
                       "not where the operator is.")
    if refl["reflected"]:
        caveats.append("Reflected traffic: the sources are servers that answered requests forged in the victim's "
                       "name; the attacker's own address is not in this traffic.")
    if spoof["suspected"]:
        caveats.append("Forged source addresses (" + "; ".join(spoof["reasons"]) + "): their countries are meaningless.")
    if rew["rewritten"]:
        caveats.append("Private, testbed or NAT addresses: the addresses were rewritten before capture.")
    caveats += [c["caveat"] for c in dropped]
    if located is not attacks:
        names = ", ".join(f"{i + 1} ({a.get('vector')})" for i, a, _ in unlocatable)
        caveats.append(f"The sources of attack(s) {names} are left out of the country and network tables: "
                       "they are forged, reflected or rewritten addresses that cannot place anyone.")
    for i, a, sub in per_attack:
        top_c = sub["by_country"][0]["country"] if sub["by_country"] else "none"
        flags = [w for w, on in (("reflected", sub["reflected"]), ("forged sources", sub["spoofing_suspected"]),
                                 ("rewritten", sub["rewritten"])) if on] or ["direct"]
        if sub["described"] == "located sources":
            flags.append("its handshake-completing sources described")
        caveats.append(f"Attack {i + 1} ({a.get('vector')}, {a.get('start')} .. {a.get('end')}) on its own: "
                       f"{', '.join(flags)}, {sub['sources']:,} sources, top country {top_c}, confidence "
                       f"{sub['confidence']:.2f}. The figures above pool the attacks whose sources can be located.")
    age = _data_age_caveat(traffic)
    if age:
        caveats.append(age)

    if mixed:
        verdict = _mixed_verdict_text(traffic, countries, asns, disp, infra, conf, dropped)
    else:
        verdict = _verdict_text(no_attack, traffic, countries, asns, refl, spoof, disp, infra, rew, conf)
    figures = []
    for kind, part in (("reflection", pooled_refl), ("spoofing", pooled_spoof), ("dispersion", disp),
                       ("infrastructure", infra), ("rewriting", rew)):
        figures += [{"kind": kind, **f} for f in part.get("figures", [])]
    figures += [{"kind": "source classes", **c["figure"]} for c in dropped]
    return {
        "by_country": countries,
        "by_asn": asns,
        "sources": n,
        "reflected": bool(pooled_refl["reflected"]) or any(sub["reflected"] for _, _, sub in unlocatable),
        "reflected_services": sorted({*pooled_refl["services"], *(x for _, _, sub in unlocatable for x in sub["reflected_services"])}),
        "spoofing_suspected": (bool(pooled_spoof["suspected"]) or (mixed and counts["forged"] > 0)
                               or any(sub["spoofing_suspected"] for _, _, sub in unlocatable)),
        "rewritten": bool(rew["rewritten"]),
        "confidence": conf,
        "verdict": verdict,
        "caveats": caveats,
        "evidence": figures,
        "country_agreement": disp.get("agreement"),
        "described": "located sources" if mixed else "all sources",
        "source_classes": counts,
        "data_sources": [] if one_of_many else geo.data_sources(mmdb_paths),
    }



def _mixed(no_attack: bool, counts: dict[str, int], attacks: Sequence[dict] | None) -> bool:
    """Describe the located sources alone? Only when forged, reflected or rewritten sources
    came with real machines: handshake-completing sources of an HTTP flood the attack analysis
    found, or at least MIN_LOCATED of them when it did not run."""
    if no_attack or counts["located"] == 0:
        return False
    if counts["forged"] + counts["reflector"] + counts["rewritten"] == 0:
        return False
    vectors = {v.get("vector") for a in attacks or [] for v in (a.get("vectors") or [])}
    vectors |= {a.get("vector") for a in attacks or []}
    return counts["located"] >= MIN_LOCATED or bool(vectors & set(HANDSHAKE_VECTORS))


def _left_out(traffic: ev.Traffic, classes: pl.DataFrame, counts: dict[str, int],
              attacks: Sequence[dict] | None) -> list[dict]:
    """For each class of sources left out of the tables: a caveat, a short phrase for the
    verdict and an evidence figure, each with the count and why."""
    out = []

    def of(cls: str) -> ev.Traffic:
        return ev.subset(traffic, classes.filter(pl.col("source_class") == cls))

    n = counts["forged"]
    if n:
        part = of("forged")
        sp = ev.spoofing(part)
        syn = int((part.sources["syn"] > 0).sum())
        what = "SYN-flood " if syn >= 0.5 * n else ""
        why = "; ".join(sp["reasons"]) or "reserved or unallocated addresses"
        out.append({"class": "forged", "sources": n,
                    "phrase": f"{n:,} forged {what}source addresses ({why})",
                    "caveat": f"{n:,} forged {what}sources left out of the country and network tables: random or "
                              f"impossible addresses ({why}) that only show where random numbers land.",
                    "figure": ev.figure("forged_sources", n, f"{n:,} sources never completed a handshake and, "
                                        f"taken together, are forged ({why}); left out of the tables.")})
    n = counts["reflector"]
    if n:
        part = of("reflector")
        r = ev.reflection(part, attacks)
        names = ", ".join(ev.service_name(v, r.get("tcp_port")) for v in r["services"]) or "amplification-port"
        out.append({"class": "reflector", "sources": n,
                    "phrase": f"{n:,} {names} reflectors",
                    "caveat": f"{n:,} {names} reflectors left out of the country and network tables: abused servers "
                              "that answered requests forged with the victim's address; they place the servers, "
                              "not the attacker.",
                    "figure": ev.figure("reflector_sources", n, f"{n:,} sources answered from reflection service "
                                        "ports (or with unsolicited SYN-ACKs/RSTs); left out of the tables.")})
    n = counts["rewritten"]
    if n:
        out.append({"class": "rewritten", "sources": n, "phrase": f"{n:,} private or testbed addresses",
                    "caveat": f"{n:,} private, CGNAT or testbed sources left out of the country and network tables: "
                              "rewritten by NAT or a testbed, they name no place on the Internet.",
                    "figure": ev.figure("rewritten_sources", n, f"{n:,} private or testbed sources; left out of the tables.")})
    n = counts["light"]
    if n:
        out.append({"class": "light", "sources": n, "phrase": f"{n:,} ordinary visitors",
                    "caveat": f"{n:,} sources that completed handshakes but opened under {ev.LIGHT_FRACTION:.0%} of the "
                              "connections the flooding sources opened (their 90th percentile) left out: ordinary "
                              "visitors caught in the attack's window, not bots.",
                    "figure": ev.figure("light_sources", n, f"{n:,} handshake-completing sources sent like ordinary "
                                        "visitors, not like the flood; left out of the tables.")})
    n = counts["unconfirmed"]
    if n:
        out.append({"class": "unconfirmed", "sources": n, "phrase": f"{n:,} sources with no two-way conversation",
                    "caveat": f"{n:,} sources with no two-way conversation (ICMP, stray or one-way packets) left out: "
                              "nothing shows whether their addresses are real.",
                    "figure": ev.figure("unconfirmed_sources", n, f"{n:,} sources neither completed a handshake nor "
                                        "look forged or reflected; left out of the tables.")})
    return out


def _mixed_verdict_text(traffic, countries, asns, disp, infra, conf, left_out) -> str:
    n = traffic.sources.height
    unlocatable = [c for c in left_out if c["class"] in ("forged", "reflector", "rewritten")]
    others = [c for c in left_out if c["class"] not in ("forged", "reflector", "rewritten")]
    parts = ["Sources of different kinds attacked at the same time. "]
    why = {"forged": "forged addresses are random numbers", "reflector": "reflectors are abused servers",
           "rewritten": "private addresses were rewritten"}
    parts.append("The " + " and the ".join(c["phrase"] for c in unlocatable)
                 + " are left out: their countries are meaningless for attribution ("
                 + ", ".join(why[c["class"]] for c in unlocatable) + "). ")
    k = disp["countries"]
    parts.append(f"The {n:,} source{'s' if n != 1 else ''} that completed TCP handshakes are real machines (bots, "
                 f"proxies or rented servers) in {k} countr{'ies' if k != 1 else 'y'} ({_top_list(countries)})")
    if asns:
        parts.append(f" and {disp['asns']} network{'s' if disp['asns'] != 1 else ''}, the largest AS{asns[0]['asn']} "
                     f"({asns[0]['as_org']})")
    parts.append(". ")
    if others:
        parts.append("Also left out: " + ", ".join(c["phrase"] for c in others) + ". ")
    if disp.get("agreement") is not None:
        parts.append(f"The country sources agree for {_pct(disp['agreement'])} of them. ")
    parts.append(f"{_pct(infra.get('share', 0))} are in hosting, cloud or VPN networks. ")
    if k >= 10 and disp.get("normalised_entropy", 0) >= 0.5:
        parts.append("The spread looks like a botnet of compromised devices, whose locations are the victims' "
                     "not the operator's. ")
    where = countries[0]["country"] if countries else "no country"
    parts.append(f"Confidence that the attacker is in {where} (the top country of the real machines): {conf:.2f}, "
                 "low because the addresses locate the sending machines, not the people controlling them, and an "
                 "attacker who forges and reflects traffic at the same time is hiding behind every source.")
    return "".join(parts)

def _verdict_text(no_attack, traffic, countries, asns, refl, spoof, disp, infra, rew, conf) -> str:
    n = traffic.sources.height
    unit = "clients" if no_attack else "sources"
    if n == 0:
        return "No traffic with source addresses was given, so nothing can be located or attributed."
    if no_attack:
        top_as = f"; the largest network is AS{asns[0]['asn']} ({asns[0]['as_org']}, {_pct(asns[0]['share'])})" if asns else ""
        reflectors = ", ".join(ev.service_name(v, refl.get("tcp_port")) + ("" if v == "tcp-reflection" else " servers")
                               for v in refl["services"])
        signs = ([f"traffic reflected off {reflectors}"] if refl["reflected"] else []) + (
            ["forged source addresses"] if spoof["suspected"] else []) + (
            ["private or testbed sources"] if rew["rewritten"] else [])
        note = (" The traffic nonetheless shows " + " and ".join(signs) + ", so these locations would not "
                "identify an attacker either.") if signs else ""
        return (f"No attack was found in this traffic. The tables describe the {n:,} {unit} seen: "
                f"{disp['countries']} countries ({_top_list(countries)}){top_as}. "
                f"There is no attacker to attribute, so the confidence is 0.{note}")
    if rew["rewritten"]:
        ex = ", ".join(rew["examples"]) or "private addresses"
        return (f"The attack's traffic comes from {rew['sources']} private or testbed address(es) ({ex}). "
                "These addresses were rewritten (by NAT, or by the testbed that recorded the capture) and "
                "point at no network on the Internet, so nothing can be attributed from this capture: not a "
                "country, not a network, not an actor. Confidence 0.")
    if spoof["suspected"]:
        return (f"The {n:,} source addresses are forged (" + "; ".join(spoof["reasons"]) + "). They fall in "
                f"{disp['countries']} countries ({_top_list(countries)}), but that country breakdown is meaningless: "
                "it shows where random numbers land in the address space, not where the attacker is. Only the "
                "upstream networks' flow records (traceback) could find the real origin. "
                f"Confidence {conf:.2f}.")
    if refl["reflected"]:
        names = ", ".join(ev.service_name(v, refl.get("tcp_port")) + ("" if v == "tcp-reflection" else " servers")
                          for v in refl["services"])
        udp = [ev.service_name(v) for v in refl["services"] if v != "tcp-reflection"]
        kinds = ([f"{', '.join(udp)} reflection/amplification"] if udp else []) + (
            ["TCP SYN-ACK reflection"] if "tcp-reflection" in refl["services"] else [])
        kind = " and ".join(kinds)
        return (f"This is {kind}: the {n:,} sources are {names} that answered requests forged with the "
                f"victim's address. Their locations ({_top_list(countries)}) say where the abused reflectors are, "
                "not where the attacker is; the attacker's own address never appears in this traffic. "
                f"Confidence {conf:.2f}.")
    top = countries[0] if countries else None
    k = disp["countries"]
    parts = [f"The attack came directly from {n:,} address{'es' if n != 1 else ''} in {k} countr{'ies' if k != 1 else 'y'} ({_top_list(countries)})"]
    if asns:
        parts.append(f" and {disp['asns']} network{'s' if disp['asns'] != 1 else ''}, the largest AS{asns[0]['asn']} ({asns[0]['as_org']})")
    parts.append(". ")
    if disp.get("agreement") is not None:
        parts.append(f"The country sources agree for {_pct(disp['agreement'])} of them. ")
    parts.append(f"{_pct(infra.get('share', 0))} are in hosting, cloud or VPN networks. ")
    if disp["countries"] >= 10 and disp.get("normalised_entropy", 0) >= 0.5:
        parts.append("The spread looks like a botnet of compromised devices, whose locations are the victims' "
                     "not the operator's. ")
    where = top["country"] if top else "no country"
    parts.append(f"Confidence that the attacker is in {where} (the top country): {conf:.2f} — the addresses locate the sending "
                 "machines, not the people controlling them.")
    return "".join(parts)
