"""Public claims about an incident, assessed against the measured evidence.

The claims file is YAML (``--claims FILE``)::

    # surgescope claims, format 1
    claims:
      - who: Elon Musk                        # required: who said it
        when: 2025-03-10                      # required: date (or date-time) it was said
        where: Fox Business Network interview # required: outlet or channel
        url: https://example.org/article      # optional
        text: "There was a massive cyberattack ... with IP addresses originating in the Ukraine area."
        what:                                 # required: at least one of these
          attack: true                        # "there was a (DDoS) attack"
          origin_country: UA                  # ISO 3166-1 alpha-2 code of the claimed origin
          actor: Dark Storm Team              # who is said to be behind it
          vector: http-flood                  # one vector name or a list (DESIGN.md vocabulary)
          size: {peak_rps: 100000}            # any of peak_pps, peak_bps, peak_rps, sources, packets, bytes
          window: {start: "2025-03-10T09:00:00Z", end: "2025-03-10T20:00:00Z"}
          addresses_locate_attacker: false    # a statement about attribution by address itself

A plain list of claims (without the ``claims:`` key) is accepted too. :func:`assess` returns one
dict per claim: ``text``, ``source``, ``assessment`` (supported | unsupported | contradicted |
unverifiable), ``evidence`` (one paragraph) and ``checks`` (one per asserted aspect).

How each aspect is judged:

- ``attack``: supported when the traffic shows an attack; unsupported when traffic was
  analysed and shows none; unverifiable without traffic (outage reports alone cannot tell an
  attack from a failure).
- ``origin_country``: supported when the country holds the most attacking sources (>= 30 %) and
  they are neither forged, reflected nor rewritten; contradicted when it holds under 5 % of
  locatable direct sources; unsupported otherwise, including every reflected or forged attack,
  whose source locations say nothing about the attacker.
- ``actor``: always unverifiable from traffic; the evidence says what would help.
- ``vector``, ``size``, ``window``: compared with the attacks found.
- ``addresses_locate_attacker``: decided by published evidence alone (a DDoS source address is
  the sending machine's: a bot, a reflector or a forged address, so it cannot place whoever runs
  the attack): ``false`` is supported and ``true`` contradicted, whatever the traffic; the
  evidence adds the measured reliability figures of the traffic given, as an illustration.

A claim is contradicted if any aspect is, else unsupported if any aspect is, else supported
only when every aspect is: a claim whose key part cannot be checked (an actor, a country behind
rewritten addresses) stays unverifiable even when the attack itself is confirmed.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from surgescope.incident import CLAIM_ASSESSMENTS

ASPECTS = ("attack", "origin_country", "actor", "vector", "size", "window", "addresses_locate_attacker")
SIZE_KEYS = ("peak_pps", "peak_bps", "peak_rps", "sources", "packets", "bytes")

ACTOR_HELP = (
    "Traffic cannot name who controls it: source addresses show the sending machines (bots, "
    "reflectors, forged addresses), not their operators. Evidence that would help: a claim of "
    "responsibility made before or during the attack that names its target and time, the booter "
    "or botnet's command-and-control records, overlap of these sources with a botnet tracked by "
    "others, upstream providers' flow records, payment trails, or law-enforcement findings."
)


# --------------------------------------------------------------------------- reading


def _fail(where: str, message: str) -> ValueError:
    return ValueError(f"{where}: {message}")


def _iso(value: Any, where: str) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise _fail(where, "expected a date or time")


def _parse_time(value: Any, where: str) -> datetime:
    from datetime import UTC

    if isinstance(value, datetime):
        t = value
    elif isinstance(value, date):
        t = datetime(value.year, value.month, value.day)
    else:
        try:
            t = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise _fail(where, f"not an ISO-8601 time: {str(value)[:40]!r}") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _validate(raw: Any, name: str) -> list[dict]:
    if isinstance(raw, dict) and "claims" in raw:
        raw = raw["claims"]
    if not isinstance(raw, list) or not raw:
        raise _fail(name, "expected a non-empty list of claims (or a 'claims:' key holding one)")
    out = []
    for i, c in enumerate(raw, 1):
        where = f"{name}: claim {i}"
        if not isinstance(c, dict):
            raise _fail(where, "expected a mapping with who, when, where, text and what")
        for key in ("who", "when", "where", "text", "what"):
            if key not in c or c[key] in (None, ""):
                raise _fail(where, f"missing '{key}'")
        what = c["what"]
        if not isinstance(what, dict) or not what:
            raise _fail(where, "'what' must be a mapping with at least one of " + ", ".join(ASPECTS))
        unknown = sorted(set(what) - set(ASPECTS))
        if unknown:
            raise _fail(where, f"unknown 'what' key(s) {', '.join(map(str, unknown))} (allowed: {', '.join(ASPECTS)})")
        if "origin_country" in what:
            cc = str(what["origin_country"]).strip().upper()
            if len(cc) != 2 or not cc.isalpha():
                raise _fail(where, f"origin_country must be an ISO 3166-1 alpha-2 code, not {str(what['origin_country'])[:30]!r}")
            what["origin_country"] = cc
        if "vector" in what:
            v = what["vector"]
            what["vector"] = [str(x) for x in (v if isinstance(v, list) else [v])]
        if "size" in what:
            if not isinstance(what["size"], dict) or not set(what["size"]) <= set(SIZE_KEYS):
                raise _fail(where, f"'size' must map some of {', '.join(SIZE_KEYS)} to numbers")
            for k, v in what["size"].items():
                if not isinstance(v, int | float):
                    raise _fail(where, f"size.{k} must be a number")
        if "addresses_locate_attacker" in what and not isinstance(what["addresses_locate_attacker"], bool):
            raise _fail(where, "addresses_locate_attacker must be true or false")
        if "window" in what:
            w = what["window"]
            if not isinstance(w, dict) or "start" not in w or "end" not in w:
                raise _fail(where, "'window' needs start and end")
            what["window"] = {"start": _parse_time(w["start"], where), "end": _parse_time(w["end"], where)}
        out.append({
            "who": str(c["who"]), "when": _iso(c["when"], where), "where": str(c["where"]),
            "url": str(c["url"]) if c.get("url") else None, "text": str(c["text"]).strip(), "what": what,
        })
    return out


def load(source: str | Path | list | dict) -> list[dict]:
    """Claims from a YAML file path or already-parsed data; ValueError (one line) when malformed."""
    if isinstance(source, list | dict):
        return _validate(source, "claims")
    path = Path(source)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise _fail(str(path), f"not valid YAML{at}: {getattr(e, 'problem', None) or 'parse error'}") from None
    except UnicodeDecodeError:
        raise _fail(str(path), "not UTF-8 text") from None
    return _validate(raw, str(path))


# --------------------------------------------------------------------------- checks


def _traffic_inputs(report: dict) -> list[dict]:
    return [i for i in report.get("inputs", []) if i.get("table") in ("packets", "flows", "requests")
            or i.get("kind") in ("pcap", "flows", "access-log")]


def _vectors(attack: dict) -> list[str]:
    """Every vector of an attack (its main one and those in ``vectors[]``)."""
    return [v for v in [attack.get("vector"), *(x.get("vector") for x in attack.get("vectors") or [])] if v]


def _check_attack(report: dict) -> tuple[str, str]:
    attacks = report.get("attacks") or []
    waves = (report.get("outage") or {}).get("waves") or []
    if attacks:
        vecs = sorted({v for a in attacks for v in _vectors(a)})
        return "supported", f"{len(attacks)} attack(s) found in the traffic ({', '.join(vecs)})."
    if _traffic_inputs(report):
        return "unsupported", "The traffic analysed shows no attack."
    extra = f" {len(waves)} outage wave(s) were measured, but" if waves else ""
    return "unverifiable", (f"No traffic was given.{extra} outage reports alone cannot tell an attack from a failure.")


def _check_country(report: dict, cc: str) -> tuple[str, str]:
    att = report.get("attribution") or {}
    rows = att.get("by_country") or []
    if att.get("rewritten"):
        return "unverifiable", "The capture's addresses were rewritten (private/testbed), so no country can be measured."
    if not rows:
        return "unverifiable", "No attacking source could be located."
    listed = next((r["share"] for r in rows if r["country"] == cc), None)
    # by_country lists the leading countries only: an unlisted one holds less than the last row
    share = listed if listed is not None else (0.0 if len(rows) < 20 else rows[-1]["share"])
    top = rows[0]
    tops = ", ".join(f"{r['country']} {r['share']:.0%}" for r in rows[:3])
    in_cc = (f"{listed:.1%} of sources are in {cc}" if listed is not None
             else f"{cc} is not among the {len(rows)} leading countries of the sources")
    conf = att.get("confidence", 0.0)
    if not (report.get("attacks") or []):
        return "unverifiable", f"No attack was found, so there are no attacking addresses to locate (clients: {tops})."
    if att.get("described") == "located sources":
        k = att.get("source_classes") or {}
        left = ", ".join(f"{k[c]:,} {c}" for c in ("forged", "reflector", "rewritten") if k.get(c))
        basis = (f"{in_cc} of the {att.get('sources', 0):,} sources that completed handshakes (real machines; "
                 f"{left} sources left out as meaningless); top countries {tops}. They locate the sending "
                 f"machines, not the attacker: attribution confidence {conf:.2f}.")
        if top["country"] == cc and share >= 0.3:
            return "supported", basis
        return ("contradicted" if share < 0.05 else "unsupported"), basis
    if att.get("spoofing_suspected"):
        return "unsupported", (f"{in_cc}, but the source addresses are forged: their "
                               f"countries ({tops}) are meaningless. Attribution confidence {conf:.2f}.")
    if att.get("reflected"):
        return "unsupported", (f"{in_cc}, but they are reflectors (abused servers) whose "
                               f"location says nothing about the attacker ({tops}). Attribution confidence {conf:.2f}.")
    if top["country"] == cc and share >= 0.3:
        return "supported", (f"{share:.0%} of the attacking addresses are in {cc} (top countries {tops}); this "
                             f"locates the sending machines, with confidence {conf:.2f} that the attacker is there.")
    if share < 0.05:
        held = f"{share:.1%}" if listed is not None or share == 0 else f"under {share:.1%}"
        return "contradicted", f"Only {held} of the attacking addresses are in {cc}; the top countries are {tops}."
    return "unsupported", f"{cc} holds {share:.0%} of the attacking addresses, but the top countries are {tops}."


def _check_vector(report: dict, claimed: list[str]) -> tuple[str, str]:
    attacks = report.get("attacks") or []
    if not attacks:
        return "unverifiable", "No attack was found, so no vector can be compared."
    found = {v for a in attacks for v in _vectors(a)}
    hit = [v for v in claimed if v in found]
    txt = f"claimed {', '.join(claimed)}; measured {', '.join(sorted(found))}."
    if len(hit) == len(claimed):
        return "supported", "Vector " + txt
    if not hit:
        return "contradicted", "Vector " + txt
    return "unsupported", "Only part of the vectors match: " + txt


def _check_size(report: dict, size: dict) -> tuple[str, str]:
    attacks = report.get("attacks") or []
    if not attacks:
        return "unverifiable", "No attack was found, so no size can be compared."
    notes, states = [], []
    for k, claimed in size.items():
        vals = [a.get(k) for a in attacks if isinstance(a.get(k), int | float)]
        if not vals:
            notes.append(f"{k}: not measured")
            continue
        m = max(vals) if k.startswith("peak") else sum(vals)
        states.append(m >= 0.5 * claimed)
        notes.append(f"{k}: claimed {claimed:,.0f}, measured {m:,.0f}")
    if not states:
        return "unverifiable", "; ".join(notes) + "."
    if all(states):
        return "supported", "; ".join(notes) + "."
    return "unsupported", "; ".join(notes) + " (the traffic given may be a partial view of the attack)."


def _overlaps(a0: datetime, a1: datetime, b0: datetime, b1: datetime) -> bool:
    return a0 <= b1 and b0 <= a1


def _check_window(report: dict, window: dict) -> tuple[str, str]:
    w0, w1 = window["start"], window["end"]
    attacks = [a for a in report.get("attacks") or [] if a.get("start") and a.get("end")]
    hits = [a for a in attacks if _overlaps(w0, w1, _parse_time(a["start"], "attack"), _parse_time(a["end"], "attack"))]
    if hits:
        return "supported", f"{len(hits)} attack(s) fall in the claimed window ({hits[0]['start']} .. {hits[0]['end']})."
    spans = [i.get("summary", {}) for i in _traffic_inputs(report)]
    covered = [s for s in spans if s.get("start") and s.get("end")
               and _parse_time(s["start"], "input") <= w0 and _parse_time(s["end"], "input") >= w1]
    if covered:
        return "contradicted", "The traffic covers the claimed window and shows no attack in it."
    return "unverifiable", "The traffic given does not cover the claimed window."


ADDRESSES_DO_NOT_LOCATE = (
    "Decided by published evidence alone: the source address of DDoS traffic is that of the sending "
    "machine - a bot (a compromised device, not its owner's choice), a reflector (a server abused with "
    "the victim's forged address) or a forged address - so it cannot place whoever runs the attack."
)


def _check_addresses_locate(report: dict, claimed: bool) -> tuple[str, str]:
    att = report.get("attribution") or {}
    measured = ""
    if att:
        flags = [name for name, on in (("reflection", att.get("reflected")),
                                       ("forged sources", att.get("spoofing_suspected")),
                                       ("rewritten addresses", att.get("rewritten"))) if on]
        countries = next((x.get("value") for x in att.get("evidence") or []
                          if x.get("kind") == "dispersion" and x.get("name") == "countries"),
                         len(att.get("by_country") or []))
        measured = (f" In the traffic given: {', '.join(flags) or 'no reflection or forgery'} detected, "
                    f"sources in {countries} countries, confidence {float(att.get('confidence') or 0):.2f} "
                    "that the located country is where the attacker is.")
    return ("contradicted" if claimed else "supported"), ADDRESSES_DO_NOT_LOCATE + measured


def _combine(checks: list[dict]) -> str:
    states = [c["assessment"] for c in checks]
    for state in ("contradicted", "unsupported"):
        if state in states:
            return state
    return "supported" if states and all(s == "supported" for s in states) else "unverifiable"


def assess(claims: str | Path | list | dict, report: dict) -> list[dict]:
    """Assess each claim against a report-v1 dict (``Incident.to_dict()`` or a loaded report.json).

    >>> report = {"inputs": [], "attacks": [], "attribution": None}
    >>> [c["assessment"] for c in assess([{"who": "A", "when": "2025-03-10", "where": "TV",
    ...     "text": "Group X did it", "what": {"actor": "Group X"}}], report)]
    ['unverifiable']
    """
    out = []
    for c in load(claims):
        what, checks = c["what"], []
        if what.get("attack"):
            checks.append(("attack", *_check_attack(report)))
        if "origin_country" in what:
            checks.append(("origin_country", *_check_country(report, what["origin_country"])))
        if "vector" in what:
            checks.append(("vector", *_check_vector(report, what["vector"])))
        if "size" in what:
            checks.append(("size", *_check_size(report, what["size"])))
        if "window" in what:
            checks.append(("window", *_check_window(report, what["window"])))
        if "addresses_locate_attacker" in what:
            checks.append(("addresses_locate_attacker",
                           *_check_addresses_locate(report, what["addresses_locate_attacker"])))
        if "actor" in what:
            checks.append(("actor", "unverifiable", f"'{what['actor']}' cannot be confirmed or ruled out from traffic. {ACTOR_HELP}"))
        rows = [{"aspect": a, "assessment": s, "evidence": e} for a, s, e in checks]
        assessment = _combine(rows) if rows else "unverifiable"
        assert assessment in CLAIM_ASSESSMENTS
        source = f"{c['who']}, {c['where']}, {c['when']}" + (f" ({c['url']})" if c["url"] else "")
        out.append({
            "text": c["text"], "source": source, "who": c["who"], "when": c["when"], "where": c["where"],
            "url": c["url"], "assessment": assessment,
            "evidence": " ".join(f"[{r['aspect']}: {r['assessment']}] {r['evidence']}" for r in rows),
            "checks": rows,
        })
    return out
