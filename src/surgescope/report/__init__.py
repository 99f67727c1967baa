"""Renderings of an :class:`~surgescope.incident.Incident`: JSON (the contract), Markdown, HTML.

- ``report.json``: ``incident.to_json()``, the ``surgescope/report-v1`` contract (times in UTC).
- ``report.md``: :mod:`surgescope.report.markdown`, for tickets and chat.
- ``report.html``: :mod:`surgescope.report.html`, one self-contained page (inline SVG charts,
  no script, no network).

The Markdown and HTML are rendered from the same dict the JSON holds, so the three never
disagree. ``tz`` (an IANA zone such as ``America/New_York``) only changes how times are shown
in the Markdown and HTML; the JSON stays in UTC.
"""

from __future__ import annotations

import json
from pathlib import Path

from surgescope.incident import Incident


def write_all(incident: Incident, out_dir: str | Path, *, tz: str | None = None) -> dict[str, Path]:
    """Write report.json, report.md and report.html into ``out_dir``; return their paths."""
    from surgescope.report import html, markdown

    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    paths = {"json": d / "report.json", "md": d / "report.md", "html": d / "report.html"}
    text = incident.to_json()
    # Render from the JSON round trip so the pages show exactly what the contract holds.
    report = json.loads(text)
    paths["json"].write_text(text, encoding="utf-8")
    paths["md"].write_text(markdown.render(report, tz), encoding="utf-8")
    paths["html"].write_text(html.render(report, tz), encoding="utf-8")
    return paths
