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


def attacks(incident: Incident, tables: Tables) -> None:
    """Attacks from packets, flows and requests."""


def attribution(incident: Incident, tables: Tables) -> None:
    """Where the attacking sources are, and how far that can be trusted."""


def claims(incident: Incident, claims_path: str | Path) -> None:
    """Public claims assessed against the evidence in the incident."""
