"""The four answers a report leads with: is it an outage? is it an attack? how big? how sure
are we of the origin?

Pure functions of the report dict (the JSON contract), shared by the HTML and Markdown
renderings so both say the same thing. Each answer is ``{"question", "answer", "detail",
"level"}``; ``level`` is one of ``yes``, ``no``, ``unknown`` (not assessed) or, for the origin,
the confidence band, so a renderer can colour it.

>>> r = {"inputs": [{"kind": "reports"}], "outage": {"waves": []}, "attacks": []}
>>> headline(r)[0]["answer"]
'No outage detected'
"""

from __future__ import annotations

from typing import Any

from surgescope.report.fmt import clip, fmt_int, fmt_rate, fmt_share, fmt_time

TRAFFIC_KINDS = ("packets", "flows", "requests", "pcap", "access-log")
"""Input kinds that carry traffic (attack analysis applies to them)."""


def confidence_band(c: float | None) -> str:
    """Words for an attribution confidence in [0, 1]."""
    if c is None:
        return "unknown"
    if c < 0.2:
        return "very low"
    if c < 0.4:
        return "low"
    if c < 0.7:
        return "moderate"
    return "high"


def _kinds(report: dict[str, Any]) -> set[str]:
    return {str(i.get("kind", "")) for i in report.get("inputs", [])} | {
        str(i.get("table", "")) for i in report.get("inputs", [])
    }


def outage_answer(report: dict[str, Any], tz: str | None = None) -> dict[str, str]:
    waves = (report.get("outage") or {}).get("waves") or []
    q = "Is it an outage?"
    if waves:
        up = [w for w in waves if w.get("direction", "up") == "up"]
        down = [w for w in waves if w.get("direction") == "down"]
        biggest = max(waves, key=lambda w: float(w.get("peak") or 0))
        parts = []
        if up:
            parts.append(f"{len(up)} wave{'s' if len(up) != 1 else ''} of problem reports")
        if down:
            parts.append(f"{len(down)} drop{'s' if len(down) != 1 else ''} of traffic")
        first = min(waves, key=lambda w: str(w.get("start") or ""))
        last = max(waves, key=lambda w: str(w.get("end") or ""))
        detail = (
            f"largest peak {fmt_int(biggest.get('peak'))} at {fmt_time(biggest.get('peak_at'), tz)}; "
            f"from {fmt_time(first.get('start'), tz)} to {fmt_time(last.get('end'), tz)}"
        )
        return {"question": q, "answer": "Yes: " + " and ".join(parts), "detail": detail, "level": "yes"}
    kinds = _kinds(report)
    if "reports" in kinds:
        return {"question": q, "answer": "No outage detected", "detail": "report counts stayed within their usual range", "level": "no"}
    if kinds & {"requests", "access-log"} or (report.get("outage") or {}).get("series"):
        return {"question": q, "answer": "No outage detected", "detail": "request counts showed no drop below their usual range", "level": "no"}
    return {"question": q, "answer": "Not assessed", "detail": "no crowd reports or request counts among the inputs", "level": "unknown"}


def attack_answer(report: dict[str, Any]) -> dict[str, str]:
    attacks = report.get("attacks") or []
    q = "Is it an attack?"
    if attacks:
        vectors: list[str] = []
        for a in attacks:
            for v in [a.get("vector"), *[x.get("vector") for x in a.get("vectors") or []]]:
                if v and v not in vectors:
                    vectors.append(str(v))
        n = len(attacks)
        answer = f"Yes: {n} attack phase{'s' if n != 1 else ''}"
        detail = "vectors: " + ", ".join(clip(v, 40) for v in vectors) if vectors else "vector not classified"
        return {"question": q, "answer": answer, "detail": detail, "level": "yes"}
    if _kinds(report) & set(TRAFFIC_KINDS):
        return {"question": q, "answer": "No attack detected", "detail": "traffic stayed within its baseline", "level": "no"}
    return {"question": q, "answer": "Not assessed", "detail": "no traffic (capture, flows or access log) among the inputs", "level": "unknown"}


def size_answer(report: dict[str, Any]) -> dict[str, str]:
    attacks = report.get("attacks") or []
    waves = (report.get("outage") or {}).get("waves") or []
    q = "How big?"
    parts = []
    if attacks:
        def peak(key: str) -> float | None:
            vals = [float(a[key]) for a in attacks if a.get(key) is not None]
            return max(vals) if vals else None

        pps, bps, rps = peak("peak_pps"), peak("peak_bps"), peak("peak_rps")
        if pps:
            parts.append(f"peak {fmt_rate(pps, 'pkt/s')}")
        if bps:
            parts.append(fmt_rate(bps, "bit/s"))
        if rps:
            parts.append(f"peak {fmt_rate(rps, 'req/s')}")
        sources = sum(int(a.get("sources") or 0) for a in attacks)
        packets = sum(int(a.get("packets") or 0) for a in attacks)
        detail = f"{fmt_int(packets)} attack packets from {fmt_int(sources)} sources" if packets else f"{fmt_int(sources)} sources"
        if waves:
            detail += f"; outage peak {fmt_int(max(float(w.get('peak') or 0) for w in waves))} reports per interval"
        return {"question": q, "answer": ", ".join(parts) or "size not measured", "detail": detail, "level": "yes"}
    if waves:
        top = max(float(w.get("peak") or 0) for w in waves)
        return {"question": q, "answer": f"up to {fmt_int(top)} reports per interval", "detail": f"{len(waves)} wave(s)", "level": "yes"}
    return {"question": q, "answer": "Nothing to size", "detail": "no wave and no attack found", "level": "unknown"}


def origin_answer(report: dict[str, Any]) -> dict[str, str]:
    att = report.get("attribution") or None
    q = "How sure are we of the origin?"
    if not att:
        return {"question": q, "answer": "Not assessed", "detail": "no attacking sources to locate", "level": "unknown"}
    if not report.get("attacks"):
        top = (att.get("by_country") or [None])[0]
        seen = f"; top country of the clients seen: {clip(top.get('country'), 40)} ({fmt_share(top.get('share'))})" if top else ""
        return {"question": q, "answer": "No attack to attribute", "detail": "no attacking sources" + seen, "level": "unknown"}
    c = att.get("confidence")
    band = confidence_band(c)
    answer = f"{band.capitalize()} confidence" + (f" ({float(c):.2f})" if c is not None else "")
    flags = []
    if att.get("reflected"):
        flags.append("reflected traffic")
    if att.get("spoofing_suspected"):
        flags.append("spoofing suspected")
    top = (att.get("by_country") or [None])[0]
    located = f"top country {clip(top.get('country'), 40)} ({fmt_share(top.get('share'))})" if top else "no country located"
    classes = att.get("source_classes") or {}
    if att.get("described") == "located sources":
        # Mixed traffic: the tables describe only the sources that completed handshakes; say
        # what was left out, and that even these place machines, not people.
        left = [f"{fmt_int(classes[k])} {name}" for k, name in (("forged", "forged"), ("reflector", "reflector"))
                if classes.get(k)]
        detail = (f"{located} among the {fmt_int(att.get('sources'))} sources that completed handshakes"
                  + (f" ({' and '.join(left)} sources left out)" if left else "")
                  + "; they place the sending machines, not the attacker")
    elif flags:
        # Reflected or forged sources: their countries say nothing about the attacker, so say
        # that before any country.
        detail = " and ".join(flags).capitalize() + ": the sources' countries say nothing about the attacker (" + located + ")"
    else:
        detail = located
    return {"question": q, "answer": answer, "detail": detail, "level": band}


def headline(report: dict[str, Any], tz: str | None = None) -> list[dict[str, str]]:
    """The four headline answers, in order."""
    return [outage_answer(report, tz), attack_answer(report), size_answer(report), origin_answer(report)]
