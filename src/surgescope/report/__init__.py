"""Renderings of an :class:`~surgescope.incident.Incident`: JSON (the contract), Markdown, HTML."""

from __future__ import annotations

import html
from pathlib import Path

from surgescope.incident import Incident


def write_all(incident: Incident, out_dir: str | Path) -> dict[str, Path]:
    """Write report.json, report.md and report.html into ``out_dir``; return their paths."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    paths = {"json": d / "report.json", "md": d / "report.md", "html": d / "report.html"}
    paths["json"].write_text(incident.to_json())
    paths["md"].write_text(f"# {incident.title}\n")
    paths["html"].write_text(f"<!doctype html><title>{html.escape(incident.title)}</title>")
    return paths
