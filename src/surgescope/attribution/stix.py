"""A STIX 2.1 bundle of an incident report, made with the ``stix2`` library.

What goes in:

- an ``identity`` for surgescope, the creator of every object;
- per attack: an ``attack-pattern`` per vector (with its CAPEC reference), an ``indicator``
  for its sources (the top source addresses of a direct attack, or the fingerprint of a
  reflection: UDP source port of the service, or TCP SYN-ACKs) related to the patterns by
  ``indicates``, and an ``observed-data`` summary over the top source addresses;
- a ``note`` with the attribution verdict, its confidence and caveats;
- per assessed claim: a ``note`` quoting the claim with its author and an ``opinion`` on it
  (supported -> agree, unsupported -> disagree, contradicted -> strongly-disagree,
  unverifiable -> neutral);
- a ``report`` that lists all of them.

>>> import json
>>> b = json.loads(bundle_from_report({"title": "t", "generated_at": "2025-03-10T10:00:00+00:00",
...     "attacks": [], "attribution": None, "claims": []}))
>>> sorted({o["type"] for o in b["objects"]})
['identity', 'note', 'report']
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime

import stix2

from surgescope import __version__

OPINION = {"supported": "agree", "unsupported": "disagree", "contradicted": "strongly-disagree",
           "unverifiable": "neutral"}

CAPEC = {  # vector -> (CAPEC id, name)
    "http-flood": ("CAPEC-488", "HTTP Flood"),
    "slow-http": ("CAPEC-469", "HTTP DoS"),
    "syn-flood": ("CAPEC-482", "TCP Flood"),
    "ack-flood": ("CAPEC-482", "TCP Flood"),
    "rst-flood": ("CAPEC-482", "TCP Flood"),
    "udp-flood": ("CAPEC-486", "UDP Flood"),
    "icmp-flood": ("CAPEC-487", "ICMP Flood"),
    "ip-fragment": ("CAPEC-125", "Flooding"),
    "tcp-reflection": ("CAPEC-490", "Amplification"),
}
MAX_INDICATOR_ADDRESSES = 50


def _time(value, fallback: datetime) -> datetime:
    if not value:
        return fallback
    try:
        t = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return fallback
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _address(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(str(text))
    except ValueError:
        return None


def _capec(vector: str) -> tuple[str, str]:
    if vector.endswith("-amplification"):
        return "CAPEC-490", "Amplification"
    return CAPEC.get(vector, ("CAPEC-125", "Flooding"))


def _attack_pattern(vector: str, creator: stix2.Identity) -> stix2.AttackPattern:
    cid, cname = _capec(vector)
    return stix2.AttackPattern(
        name=vector, created_by_ref=creator,
        description=f"Denial-of-service vector '{vector}' as classified by surgescope ({cname}).",
        external_references=[{"source_name": "capec", "external_id": cid,
                               "url": f"https://capec.mitre.org/data/definitions/{cid.split('-')[1]}.html"}],
    )


def _reflection_pattern(vector: str, port: int | None) -> str:
    if vector == "tcp-reflection":
        return ("[network-traffic:protocols[*] = 'tcp' AND "
                "network-traffic:extensions.'tcp-ext'.src_flags_hex = '12']")
    p = f" AND network-traffic:src_port = {int(port)}" if port else ""
    return f"[network-traffic:protocols[*] = 'udp'{p}]"


def _udp_port(vector: str) -> int | None:
    try:
        from surgescope.attack import reflection
    except ImportError:
        return None
    ports = [p for p, v in reflection.vector_of_udp_port().items() if v == vector]
    return min(ports) if ports else None


def _objects_for_attack(a: dict, i: int, creator, reflected: bool, now: datetime) -> list:
    objs: list = []
    start = _time(a.get("start"), now)
    end = max(_time(a.get("end"), start), start)
    vectors = [v.get("vector") for v in a.get("vectors") or [] if v.get("vector")] or [a.get("vector") or "unknown"]
    patterns = [_attack_pattern(v, creator) for v in dict.fromkeys(vectors)]
    objs += patterns
    addrs = [x for x in (_address(t.get("ip")) for t in a.get("top_sources") or []) if x is not None]
    refl_vectors = [v for v in vectors if v.endswith("-amplification") or v == "tcp-reflection"]
    indicators = []
    if refl_vectors:
        for v in refl_vectors:
            indicators.append(stix2.Indicator(
                name=f"attack {i + 1}: {v} fingerprint", created_by_ref=creator, pattern_type="stix",
                pattern=_reflection_pattern(v, _udp_port(v)), valid_from=start,
                description="Traffic fingerprint of reflected packets. The source addresses are abused "
                            "reflectors, not the attacker: block by fingerprint, do not attribute by address.",
                indicator_types=["malicious-activity"],
            ))
    elif addrs and not reflected:
        terms = [f"{'ipv4' if x.version == 4 else 'ipv6'}-addr:value = '{x}'" for x in addrs[:MAX_INDICATOR_ADDRESSES]]
        indicators.append(stix2.Indicator(
            name=f"attack {i + 1}: top source addresses", created_by_ref=creator, pattern_type="stix",
            pattern="[" + " OR ".join(terms) + "]", valid_from=start, indicator_types=["malicious-activity"],
            description="Addresses that sent the most attack traffic (they may be compromised or rented machines).",
        ))
    objs += indicators
    for ind in indicators:
        for ap in patterns:
            objs.append(stix2.Relationship(ind, "indicates", ap, created_by_ref=creator))
    if addrs:
        scos = [stix2.IPv4Address(value=str(x)) if x.version == 4 else stix2.IPv6Address(value=str(x))
                for x in addrs[:MAX_INDICATOR_ADDRESSES]]
        objs += scos
        objs.append(stix2.ObservedData(
            created_by_ref=creator, first_observed=start, last_observed=end,
            number_observed=max(int(a.get("packets") or a.get("requests") or 1), 1),
            object_refs=[s.id for s in scos],
        ))
    return objs


def bundle_from_report(report: dict) -> str:
    """The STIX 2.1 bundle (JSON text) of a report-v1 dict."""
    now = _time(report.get("generated_at"), datetime.now(UTC))
    creator = stix2.Identity(name="surgescope", identity_class="system",
                             description=f"surgescope {__version__}: outage, DDoS and attribution analysis")
    objs: list = [creator]
    att = report.get("attribution") or {}
    reflected = bool(att.get("reflected"))
    for i, a in enumerate(report.get("attacks") or []):
        own = (a.get("attribution") or {}).get("reflected", reflected)  # per-attack verdict first
        objs += _objects_for_attack(a, i, creator, bool(own), now)
    refs = [o.id for o in objs if o.type in ("attack-pattern", "indicator", "observed-data")] or [creator.id]
    if att:
        conf = float(att.get("confidence") or 0.0)
        caveats = "\n".join(f"- {c}" for c in att.get("caveats") or [])
        objs.append(stix2.Note(
            created_by_ref=creator, abstract=f"Attribution verdict (confidence {conf:.2f})",
            content=f"{att.get('verdict', '')}\n\nConfidence that the attacker is in the located country: "
                    f"{conf:.2f}.\nCaveats:\n{caveats}",
            object_refs=refs, confidence=int(round(conf * 100)),
        ))
    else:
        objs.append(stix2.Note(created_by_ref=creator, abstract="No attribution",
                               content="The report holds no attribution section.", object_refs=refs))
    for c in report.get("claims") or []:
        claim = stix2.Note(created_by_ref=creator, abstract=f"Claim by {c.get('who') or c.get('source', 'unknown')}",
                           content=str(c.get("text", "")), authors=[str(c.get("who") or c.get("source") or "unknown")],
                           object_refs=refs)
        opinion = stix2.Opinion(created_by_ref=creator, opinion=OPINION.get(c.get("assessment"), "neutral"),
                                explanation=f"{c.get('assessment')}: {c.get('evidence', '')}",
                                object_refs=[claim.id])
        objs += [claim, opinion]
    report_obj = stix2.Report(
        name=str(report.get("title") or "surgescope report"), published=now, created_by_ref=creator,
        report_types=["attack-pattern", "indicator", "observed-data"] if report.get("attacks") else ["threat-report"],
        object_refs=[o.id for o in objs],
    )
    objs.append(report_obj)
    return stix2.Bundle(objects=objs).serialize(pretty=True)
