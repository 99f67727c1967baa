"""The ``Incident``: the one object the analyses fill and every output renders.

Its JSON form is the contract ``surgescope/report-v1`` (DESIGN.md). Sections are plain
dicts/lists with the contract's field names, so an analysis adds a field without touching
this module; the renderers read the same dict the JSON file holds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from surgescope import __version__

SCHEMA = "surgescope/report-v1"

VECTORS = (
    "http-flood", "slow-http", "syn-flood", "ack-flood", "rst-flood", "udp-flood",
    "icmp-flood", "ip-fragment", "tcp-reflection",
)
"""Fixed vector names; UDP reflection is ``<service>-amplification`` (see attack/)."""

CLAIM_ASSESSMENTS = ("supported", "unsupported", "contradicted", "unverifiable")


@dataclass
class Incident:
    """Everything surgescope found about one case.

    - ``inputs``: one dict per input: path, kind, format, records, rejected, rejections
      (count, unit, samples), summary (time span, records/s, top sources).
    - ``outage``: ``{"waves": [...], "series": [...], "breakdown": {...}}``; waves carry
      start, peak_at, peak, end, direction (ISO-8601 UTC).
    - ``attacks``: dicts with start, end, vector, vectors[], packets, bytes, peak_pps,
      peak_bps, peak_rps, sources, top_sources[].
    - ``attribution``: by_country[], by_asn[], reflected, spoofing_suspected, confidence,
      verdict, caveats[].
    - ``claims``: text, source, assessment, evidence.
    - ``timelines``: series for charts (name -> list of {t, value}); not part of the contract.
    - ``provenance``: which parts are published figures, simulated, or measured.
    - ``data_sources``: enrichment data used, each with name, source and data date.
    """

    title: str = "surgescope report"
    inputs: list[dict[str, Any]] = field(default_factory=list)
    outage: dict[str, Any] = field(default_factory=lambda: {"waves": []})
    attacks: list[dict[str, Any]] = field(default_factory=list)
    attribution: dict[str, Any] | None = None
    claims: list[dict[str, Any]] = field(default_factory=list)
    timelines: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    provenance: list[str] = field(default_factory=list)
    data_sources: list[dict[str, Any]] = field(default_factory=list)
    generated_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "generator": f"surgescope {__version__}",
            "generated_at": self.generated_at,
            "title": self.title,
            "inputs": self.inputs,
            "outage": self.outage,
            "attacks": self.attacks,
            "attribution": self.attribution,
            "claims": self.claims,
            "timelines": self.timelines,
            "provenance": self.provenance,
            "data_sources": self.data_sources,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Incident:
        if d.get("schema") != SCHEMA:
            raise ValueError(f"not a {SCHEMA} document (schema={d.get('schema')!r})")
        keys = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in keys})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=_json_default, ensure_ascii=False)


def _json_default(o: Any) -> Any:
    if isinstance(o, datetime):
        return iso(o)
    if hasattr(o, "item"):  # NumPy scalars
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def iso(t: Any) -> str | None:
    """ISO-8601 UTC text (``2025-03-10T14:02:00Z``) of a datetime, NumPy datetime64 or ns int."""
    if t is None:
        return None
    if isinstance(t, int):
        t = datetime.fromtimestamp(t / 1e9, UTC)
    elif hasattr(t, "astype") and not isinstance(t, datetime):  # numpy datetime64
        import numpy as np

        t = datetime.fromtimestamp(int(np.datetime64(t, "ns").astype("int64")) / 1e9, UTC)
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    t = t.astimezone(UTC)
    spec = "milliseconds" if t.microsecond else "seconds"
    return t.isoformat(timespec=spec).replace("+00:00", "Z")


def load_report(path: str | Path) -> dict[str, Any]:
    """Read a report.json, checking its schema."""
    d = json.loads(Path(path).read_text())
    if d.get("schema") != SCHEMA:
        raise ValueError(f"{path}: not a {SCHEMA} document")
    return d
