"""``surgescope demo``: the 10 March 2025 case from bundled data (being built, see issue 6)."""

from __future__ import annotations

from pathlib import Path

from surgescope.incident import Incident
from surgescope.report import write_all


def run(out_dir: str | Path) -> dict[str, Path]:
    incident = Incident(title="surgescope demo: 10 March 2025 (in construction)")
    return write_all(incident, out_dir)
