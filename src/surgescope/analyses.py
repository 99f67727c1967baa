"""Glue between the pipeline and the pillar analyses: which analysis runs on which table.

Each function fills one section of the :class:`Incident`. The pillar packages (``outage``,
``attack``, ``attribution``) hold the analyses themselves and know nothing of the pipeline.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from surgescope.incident import Incident
from surgescope.sources import Input

Tables = list[tuple[Input, pa.Table]]


def outage(incident: Incident, tables: Tables) -> None:
    """Outage waves from report counts (surges) and from request counts (drops)."""
    from surgescope.outage import analyze_reports, analyze_requests

    waves: list[dict] = []
    by_region: list[dict] = []
    by_problem: list[dict] = []
    series: list[dict] = []
    for inp, table in tables:
        kind = getattr(inp, "table", None)
        if kind not in ("reports", "requests") or table.num_rows == 0:
            continue
        section = analyze_reports(table) if kind == "reports" else analyze_requests(table)
        for w in section["waves"]:
            waves.append({**w, "source": str(getattr(inp, "path", ""))})
        incident.timelines.setdefault(kind, []).extend(
            {"t": p["t"], "value": p["value"]} for p in section["series"])
        series.extend({**p, "series": kind} for p in section["series"])
        by_region.extend(section["breakdown"]["by_region"])
        by_problem.extend(section["breakdown"]["by_problem"])
    for name in ("reports", "requests"):
        if name in incident.timelines:
            incident.timelines[name].sort(key=lambda p: p["t"])
    incident.outage["waves"] = sorted([*incident.outage.get("waves", []), *waves], key=lambda w: w["start"])
    if series:
        incident.outage["series"] = series
        incident.outage["breakdown"] = {"by_region": by_region, "by_problem": by_problem}


def attacks(incident: Incident, tables: Tables) -> None:
    """Attacks from packets, flows and requests."""
    from surgescope.attack import analyze as analyze_traffic

    for inp, table in tables:
        kind = getattr(inp, "table", None)
        if kind not in ("packets", "flows", "requests") or table.num_rows == 0:
            continue
        result = analyze_traffic(table, kind)
        for a in result["attacks"]:
            a["input"] = str(inp.path)
        incident.attacks.extend(result["attacks"])
        traffic = incident.timelines.setdefault("traffic", [])
        traffic.extend({**p, "input": str(inp.path)} for p in result["timeline"])
    incident.attacks.sort(key=lambda a: a["start"] or "")


def attribution(incident: Incident, tables: Tables) -> None:
    """Where the attacking sources are, and how far that can be trusted.

    With no attack found, the country/AS tables describe the clients seen and the verdict says
    so; the enrichment data used is added to ``incident.data_sources``. The user's own MMDB
    files (GeoLite2, DB-IP, IPinfo) are used too when ``SURGESCOPE_MMDB`` lists them
    (separated by ``:``), and a list of anonymiser exits (Tor/VPN; one address or CIDR a line)
    when ``SURGESCOPE_ANONYMISERS`` names its file.
    """
    import os

    from surgescope.attribution.verdict import attribute

    traffic = [t for inp, t in tables
               if getattr(inp, "table", None) in ("packets", "flows", "requests") and t.num_rows]
    if not traffic and not incident.attacks:
        return
    mmdbs = [p for p in os.environ.get("SURGESCOPE_MMDB", "").split(":") if p]
    for p in mmdbs:
        if not Path(p).is_file():
            raise ValueError(f"SURGESCOPE_MMDB: {p}: no such file")
    anon_file = os.environ.get("SURGESCOPE_ANONYMISERS")
    anonymisers = Path(anon_file).read_text(encoding="utf-8").splitlines() if anon_file else None
    section = attribute(incident.attacks, traffic, anonymisers=anonymisers, mmdb_paths=mmdbs)
    incident.attribution = section
    known = {d.get("name") for d in incident.data_sources}
    incident.data_sources.extend(d for d in section["data_sources"] if d.get("name") not in known)


def claims(incident: Incident, claims_path: str | Path) -> None:
    """Public claims assessed against the evidence in the incident (bad YAML: ValueError)."""
    from surgescope.attribution.claims import assess

    incident.claims = assess(claims_path, incident.to_dict())
