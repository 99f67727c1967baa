"""The incident as Markdown for tickets and chat (GitHub/GitLab-flavoured tables).

Untrusted strings are made inert two ways: prose (claim texts, verdicts, reasons) goes through
:func:`md_text`, which backslash-escapes the characters that open Markdown markup and writes ``<``,
``>`` and ``&`` as entities; identifiers (paths, addresses, user agents, AS names) go through
:func:`md_code`, a code span whose fence is longer than any backtick run inside it. In both,
``|`` is escaped so a table cell cannot be split, and line breaks are made visible so a
value cannot end the table.

>>> print(md_text("<img src=x onerror=alert(1)> *bold* [link](javascript:x)"))
&lt;img src=x onerror=alert(1)&gt; \\*bold\\* \\[link\\](javascript:x)
>>> print(md_code("a`b|c"))
`` a`b\\|c ``
"""

from __future__ import annotations

import re
from typing import Any

from surgescope.report.charts import vector_shares
from surgescope.report.fmt import (
    TEXT_TOPS,
    clip,
    fmt_duration,
    fmt_int,
    fmt_rate,
    fmt_share,
    fmt_time,
)
from surgescope.report.headline import confidence_band, headline
from surgescope.report.html import claim_source

# Characters that open inline markup anywhere in a line (emphasis, code, links and images,
# table cells, strikethrough); "(" is inert once "[" and "]" are escaped. "#", ".", "-" stay
# readable and are escaped only where they could start a block (see _BLOCK_START). Bare URLs may still be autolinked by some renderers: a
# visible link, not live markup (renderers drop javascript: targets).
_PUNCT = re.compile(r"([\\`*_\[\]|~])")
_BLOCK_START = re.compile(r"^(\s*)(\d*)([-+=.)#])(?=[\s#]|$)")


def md_text(x: Any, n: int = 400) -> str:
    """Inert Markdown text: markup characters escaped, HTML special characters as entities."""
    s = clip(x, n)
    s = _PUNCT.sub(r"\\\1", s)
    s = _BLOCK_START.sub(lambda m: m.group(1) + m.group(2) + "\\" + m.group(3), s)
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def md_code(x: Any, n: int = 160) -> str:
    """A code span holding ``x`` literally (safe in a table cell)."""
    s = clip(x, n).replace("|", "\\|")
    if not s:
        return ""
    longest = max((len(m) for m in re.findall(r"`+", s)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if longest or s.startswith(" ") or s.endswith(" ") else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(c if c else " " for c in r) + " |" for r in rows]
    return out + [""]


def _texts(holder: dict[str, Any], title: str) -> list[str]:
    """Top paths and user agents of an attack (attacker-controlled text, as code spans)."""
    out: list[str] = []
    for key, field, label in TEXT_TOPS:
        top = holder.get(key) or []
        if top:
            out += _table([label, "share", "requests"],
                          [[md_code(t.get(field), 200) if t.get(field) is not None else "(not named)",
                            md_text(fmt_share(t.get("share"))), md_text(fmt_int(t.get("requests")))] for t in top])
    return [f"### {md_text(title)}", "", *out] if out else []


def render(report: dict[str, Any], tz: str | None = None) -> str:
    """The report as Markdown text."""
    lines: list[str] = [f"# {md_text(report.get('title') or 'surgescope report', 300)}", ""]
    lines.append(f"_{md_text(report.get('generator', 'surgescope'))}, generated {md_text(fmt_time(report.get('generated_at')))}; times in {md_text(tz or 'UTC')}_")
    lines.append("")
    for h in headline(report, tz):
        lines.append(f"- **{md_text(h['question'])}** {md_text(h['answer'])} ({md_text(h['detail'])})")
    lines.append("")

    waves = (report.get("outage") or {}).get("waves") or []
    if waves:
        lines += ["## Outage waves", ""]
        lines += _table(
            ["wave", "direction", "start", "peak at", "peak", "end", "duration"],
            [[str(i), md_text(w.get("direction", "up")), md_text(fmt_time(w.get("start"), tz)), md_text(fmt_time(w.get("peak_at"), tz)),
              md_text(fmt_int(w.get("peak"))), md_text(fmt_time(w.get("end"), tz)), md_text(fmt_duration(w.get("start"), w.get("end")))]
             for i, w in enumerate(waves, 1)],
        )

    attacks = report.get("attacks") or []
    if attacks:
        lines += ["## Attacks", ""]
        lines += _table(
            ["#", "start", "end", "main vector", "packets", "peak pkt/s", "peak bit/s", "peak req/s", "sources"],
            [[str(i), md_text(fmt_time(a.get("start"), tz)), md_text(fmt_time(a.get("end"), tz)), md_code(a.get("vector")),
              md_text(fmt_int(a.get("packets"))), md_text(fmt_rate(a.get("peak_pps"), "pkt/s")), md_text(fmt_rate(a.get("peak_bps"), "bit/s")),
              md_text(fmt_rate(a.get("peak_rps"), "req/s")), md_text(fmt_int(a.get("sources")))]
             for i, a in enumerate(attacks, 1)],
        )
        shares = vector_shares(report)
        if shares:
            lines += ["Vectors: " + ", ".join(f"{md_code(v)} {md_text(fmt_share(s))}" for v, s in shares), ""]
        for i, a in enumerate(attacks, 1):
            lines += _texts(a, f"What the requests of attack {i} asked")
            top = a.get("top_sources") or []
            if top:
                lines += [f"### Top sources of attack {i}", ""]
                lines += _table(
                    ["address", "packets", "country", "AS", "AS owner"],
                    [[md_code(s.get("ip"), 45), md_text(fmt_int(s.get("packets"))), md_code(s.get("country")),
                      md_code(s.get("asn")), md_code(s.get("as_org"))] for s in top[:10]],
                )

    att = report.get("attribution")
    if att:
        c = att.get("confidence")
        lines += ["## Attribution", ""]
        lines.append(f"**Confidence:** {md_text(confidence_band(c))}" + (f" ({float(c):.2f})" if c is not None else ""))
        lines.append("")
        if att.get("verdict"):
            lines += [md_text(att["verdict"], 2000), ""]
        lines.append(f"Reflected: {'yes' if att.get('reflected') else 'no'}; spoofing suspected: {'yes' if att.get('spoofing_suspected') else 'no'}")
        lines.append("")
        for cv in att.get("caveats") or []:
            lines.append(f"- {md_text(cv, 1000)}")
        if att.get("caveats"):
            lines.append("")
        if att.get("by_country"):
            lines += _table(["country", "share", "sources"], [[md_code(x.get("country")), md_text(fmt_share(x.get("share"))), md_text(fmt_int(x.get("sources")))] for x in att["by_country"][:10]])
        if att.get("by_asn"):
            lines += _table(["AS", "owner", "share"], [[md_code(x.get("asn")), md_code(x.get("as_org")), md_text(fmt_share(x.get("share")))] for x in att["by_asn"][:10]])

    claims = report.get("claims") or []
    if claims:
        lines += ["## Claims", ""]
        lines += _table(
            ["claim", "who, when, where", "assessment", "evidence"],
            [[md_text(c.get("text"), 600), md_text(claim_source(c.get("source")), 300), f"**{md_text(c.get('assessment'))}**",
              md_text("; ".join(map(str, c["evidence"])) if isinstance(c.get("evidence"), list) else c.get("evidence"), 1500)] for c in claims],
        )

    inputs = report.get("inputs") or []
    if inputs:
        lines += ["## Inputs", ""]
        lines += _table(
            ["input", "kind", "records", "rejected"],
            [[md_code(i.get("path"), 200), md_text(i.get("kind")), md_text(fmt_int(i.get("records"))), md_text(fmt_int(i.get("rejected")))] for i in inputs],
        )
        for i in inputs:
            rej = i.get("rejections") or {}
            for s in (rej.get("samples") or [])[:5]:
                lines.append(f"- {md_code(i.get('path'), 80)} {md_text(rej.get('unit') or 'record')} {md_text(s.get('where'))}: {md_text(s.get('reason'), 200)} {md_code(s.get('excerpt'), 120)}")
        lines.append("")

    ds = report.get("data_sources") or []
    if ds:
        lines += ["## Data sources", ""]
        for d in ds:
            lines.append("- " + "; ".join(f"{md_text(k)}: {md_text(v, 300)}" for k, v in d.items()))
        lines.append("")
    prov = report.get("provenance") or []
    if prov:
        lines += ["## Provenance", ""] + [f"- {md_text(p, 1000)}" for p in prov] + [""]
    return "\n".join(lines)
