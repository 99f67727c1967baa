"""The incident as one self-contained HTML page: no script, no network, readable on a phone.

Order follows what a reader asks first: the four headline answers, then the outage (report
timeline with waves), the attack (traffic timeline, vectors), the sources, the attribution
verdict, the claims, and last the inputs with their rejection accounts, data sources and
provenance.

Every string that came from an input (paths, user agents, addresses, AS names, claim texts,
rejection excerpts) goes through :func:`e`, which clips it and escapes it for HTML text and
attribute values; the charts are hand-written SVG whose texts :mod:`surgescope.report.charts`
clips and escapes the same way. The page also carries a Content-Security-Policy that forbids
scripts, so even a missed escape could not run code. It runs no JavaScript at all.

>>> page = render({"title": "<b>x</b>", "inputs": [], "outage": {"waves": []}, "attacks": []})
>>> "<b>x</b>" in page, "&lt;b&gt;x&lt;/b&gt;" in page
(False, True)
"""

from __future__ import annotations

import html
from typing import Any

from surgescope.report import charts
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

LONG = 2000
"""Clip length for prose that came from input (claim texts, evidence, verdicts)."""

CSS = """
:root{--fg:#1c2833;--muted:#5d6d7e;--line:#d5dbdb;--bg:#fff;--yes:#c0392b;--no:#1e8449;--unk:#7f8c8d;--mid:#b9770e}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--fg);background:var(--bg)}
main{max-width:64rem;margin:0 auto;padding:1rem}
h1{font-size:1.45rem;margin:.2rem 0}
h2{font-size:1.2rem;margin:1.8rem 0 .5rem;padding-bottom:.2rem;border-bottom:2px solid var(--line)}
h3{font-size:1rem;margin:1.1rem 0 .4rem}
.meta,.note{color:var(--muted);font-size:.85rem}
.banner{background:#fef9e7;border-left:4px solid var(--mid);padding:.5rem .8rem;margin:.8rem 0;font-size:.9rem}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(13rem,1fr));gap:.7rem;margin:1rem 0}
.card{border:1px solid var(--line);border-top:5px solid var(--unk);border-radius:6px;padding:.6rem .8rem}
.card h3{margin:0;font-size:.8rem;text-transform:uppercase;letter-spacing:.03em;color:var(--muted)}
.card .a{font-size:1.15rem;font-weight:650;margin:.25rem 0}
.card .d{font-size:.85rem;color:var(--muted)}
.l-yes{border-top-color:var(--yes)}.l-no{border-top-color:var(--no)}
.l-very-low,.l-low{border-top-color:var(--yes)}.l-moderate{border-top-color:var(--mid)}.l-high{border-top-color:var(--no)}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}
table{border-collapse:collapse;width:100%;font-size:.86rem;margin:.3rem 0 .8rem}
th,td{text-align:left;padding:.3rem .45rem;border-bottom:1px solid var(--line);vertical-align:top}
th{background:#f4f6f7;font-weight:600}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.t{white-space:nowrap;font-variant-numeric:tabular-nums}
figure{margin:.6rem 0}
code{font:.82rem ui-monospace,"DejaVu Sans Mono",monospace;overflow-wrap:break-word}
code.v{white-space:nowrap}
svg.chart{width:100%;height:auto;max-width:100%}
.bar{display:inline-block;height:.7rem;background:#2471a3;vertical-align:middle;margin-right:.3rem}
.meter{height:.9rem;background:#eaeded;border-radius:4px;max-width:22rem;overflow:hidden}
.meter span{display:block;height:100%}
.tag{display:inline-block;padding:0 .4rem;border-radius:3px;font-size:.8rem;font-weight:600;color:#fff;background:var(--unk)}
.t-supported{background:var(--no)}td ul{margin:0;padding-left:1rem}.t-contradicted{background:var(--yes)}.t-unsupported{background:var(--mid)}.t-unverifiable{background:var(--unk)}
details{margin:.3rem 0}
footer{margin:2rem 0 1rem;color:var(--muted);font-size:.8rem}
@media (max-width:600px){body{font-size:14px}main{padding:.6rem}th,td{padding:.25rem .3rem}}
"""


def e(x: Any, n: int = 160) -> str:
    """Clipped, HTML-escaped text of ``x`` (safe in element content and quoted attributes)."""
    return html.escape(clip(x, n), quote=True)


def _table(headers: list[tuple[str, str]], rows: list[list[str]], cls: str = "") -> str:
    """A table from already-escaped cells; ``headers`` are (label, kind): "n" numeric, "t" time, "" text."""
    head = "".join(f'<th class="{k}">{html.escape(h)}</th>' if k else f"<th>{html.escape(h)}</th>" for h, k in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="{k}">{c}</td>' if k else f"<td>{c}</td>" for c, (_, k) in zip(r, headers, strict=False)) + "</tr>"
        for r in rows
    )
    return f'<div class="scroll"><table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _generic_table(rows: list[dict[str, Any]], limit: int = 50) -> str:
    """Any list of flat dicts as a table (columns in first-seen order), everything escaped."""
    cols: list[str] = []
    for r in rows[:limit]:
        for k in r:
            if k not in cols:
                cols.append(k)
    numeric = {c for c in cols if all(isinstance(r.get(c), int | float) or r.get(c) is None for r in rows[:limit])}
    cells = [
        [
            (fmt_share(r.get(c)) if c == "share" else fmt_int(r.get(c)) if isinstance(r.get(c), int) else e(r.get(c)))
            if c in numeric else e(r.get(c) if not isinstance(r.get(c), list | dict) else str(r.get(c)))
            for c in cols
        ]
        for r in rows[:limit]
    ]
    return _table([(c, "n" if c in numeric else "") for c in cols], cells)


def _first(d: dict[str, Any], *keys: str) -> Any:
    """The first of ``keys`` present (not None) in ``d``: analyses name a few fields differently."""
    return next((d[k] for k in keys if d.get(k) is not None), None)


def _value(v: Any) -> str:
    """A measured value as text: floats to 4 significant digits, booleans as yes/no."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, int):
        return f"{v:,}"
    return "" if v is None else str(v)


def _share_cell(share: Any) -> str:
    try:
        w = max(0.0, min(1.0, float(share)))
    except (TypeError, ValueError):
        return e(share)
    return f'<span class="bar" style="width:{w * 6:.2f}rem"></span>{e(fmt_share(w))}'


def _head(report: dict[str, Any], tz: str | None) -> str:
    title = report.get("title") or "surgescope report"
    out = [f"<h1>{e(title, 300)}</h1>"]
    out.append(
        f'<p class="meta">{e(report.get("generator", "surgescope"))} · generated {e(fmt_time(report.get("generated_at")))}'
        f" · times in {e(tz or 'UTC')} · schema {e(report.get('schema', ''))}</p>"
    )
    if report.get("provenance"):
        out.append(
            f'<div class="banner"><strong>Provenance.</strong> {e(report["provenance"][0], LONG)} '
            f'<a href="#provenance">All provenance notes</a>.</div>'
        )
    return "\n".join(out)


def _cards(report: dict[str, Any], tz: str | None) -> str:
    cards = []
    for h in headline(report, tz):
        level = h["level"].replace(" ", "-")
        cards.append(
            f'<div class="card l-{e(level)}"><h3>{e(h["question"])}</h3>'
            f'<div class="a">{e(h["answer"])}</div><div class="d">{e(h["detail"], 400)}</div></div>'
        )
    return f'<section id="headline" aria-label="headline"><div class="cards">{"".join(cards)}</div></section>'


def _outage(report: dict[str, Any], tz: str | None) -> str:
    outage = report.get("outage") or {}
    waves = outage.get("waves") or []
    svg = charts.reports_chart(report, tz)
    if not waves and svg is None:
        return ""
    what = charts.outage_series_name(report)
    out = [f'<section id="outage"><h2>Outage: {"problem reports" if what == "reports" else e(what)} over time</h2>']
    if svg:
        caption = ("Shaded: detected waves; triangles: wave peaks; zoomed on the waves (the whole series is in report.json)."
                   if waves else "Dashed: the detector's expected value.")
        out.append(f'<figure class="figure">{svg}<figcaption class="note">{caption}</figcaption></figure>')
    if waves:
        rows = [
            [
                str(i), e(w.get("direction", "up")), e(fmt_time(w.get("start"), tz)), e(fmt_time(w.get("peak_at"), tz)),
                e(fmt_int(w.get("peak"))), e(fmt_time(w.get("end"), tz)), e(fmt_duration(w.get("start"), w.get("end"))),
            ]
            for i, w in enumerate(waves, 1)
        ]
        out.append(_table(
            [("wave", "n"), ("direction", ""), ("start", "t"), ("peak at", "t"), ("peak", "n"), ("end", "t"), ("duration", "n")], rows,
        ))
    else:
        out.append(f'<p class="note">No wave: {"report" if what == "reports" else "request"} counts stayed within their usual range.</p>')
    breakdown = outage.get("breakdown") or {}
    for name, rows in breakdown.items() if isinstance(breakdown, dict) else []:
        if isinstance(rows, list) and rows and isinstance(rows[0], dict):
            label = name[3:] if name.startswith("by_") else name
            out.append(f"<h3>Reports by {e(label)}</h3>{_generic_table(rows, 15)}")
    out.append("</section>")
    return "\n".join(out)


def _attacks(report: dict[str, Any], tz: str | None) -> str:
    attacks = report.get("attacks") or []
    svg = charts.traffic_chart(report, tz)
    if not attacks and svg is None:
        return ""
    title = "Attack: traffic, phases and vectors" if attacks else "Traffic: no attack found"
    out = [f'<section id="attack"><h2>{title}</h2>']
    if svg:
        caption = "Shaded: attack phases, coloured by main vector." if attacks else "No attack phase: the traffic stayed within its baseline."
        out.append(f'<figure class="figure">{svg}<figcaption class="note">{caption}</figcaption></figure>')
    if attacks:
        rows = [
            [
                str(i), e(fmt_time(a.get("start"), tz, seconds=True)), e(fmt_time(a.get("end"), tz, seconds=True)),
                e(fmt_duration(a.get("start"), a.get("end"))),
                f'<code class="v">{e(a.get("vector"))}</code>', e(fmt_int(a.get("packets"))), e(fmt_int(a.get("bytes"))),
                e(fmt_rate(a.get("peak_pps"), "pkt/s")), e(fmt_rate(a.get("peak_bps"), "bit/s")),
                e(fmt_rate(a.get("peak_rps"), "req/s")), e(fmt_int(a.get("sources"))),
            ]
            for i, a in enumerate(attacks, 1)
        ]
        out.append(_table(
            [("#", "n"), ("start", "t"), ("end", "t"), ("duration", "n"), ("main vector", ""), ("packets", "n"), ("bytes", "n"),
             ("peak packets", "n"), ("peak bits", "n"), ("peak requests", "n"), ("sources", "n")], rows,
        ))
        notes = [str(n) for a in attacks for n in a.get("notes") or []]
        if notes:
            out.append("<ul class=\"note\">" + "".join(f"<li>{e(n, 400)}</li>" for n in dict.fromkeys(notes)) + "</ul>")
        out.append("<h3>Vector breakdown</h3>")
        vsvg = charts.vector_chart(report)
        if vsvg:
            out.append(f'<figure class="figure" style="max-width:40rem">{vsvg}</figure>')
        known = ("vector", "share", "byte_share", "packets", "bytes", "sources", "start", "end")
        vrows = []
        for i, a in enumerate(attacks, 1):
            for v in a.get("vectors") or [{"vector": a.get("vector"), "share": 1.0}]:
                extra = "; ".join(f"{k}: {x}" for k, x in v.items() if k not in known)
                vrows.append([
                    str(i), f'<code class="v">{e(v.get("vector"))}</code>', _share_cell(v.get("share")),
                    e(fmt_share(v.get("byte_share"))) if v.get("byte_share") is not None else "",
                    e(fmt_int(v.get("packets"))), e(fmt_int(v.get("bytes"))), e(fmt_int(v.get("sources"))),
                    e(fmt_time(v.get("start"), tz, seconds=True)) if v.get("start") else "",
                    e(fmt_time(v.get("end"), tz, seconds=True)) if v.get("end") else "", e(extra, 300),
                ])
        out.append(_table(
            [("attack", "n"), ("vector", ""), ("share of packets", ""), ("share of bytes", "n"), ("packets", "n"),
             ("bytes", "n"), ("sources", "n"), ("from", "t"), ("to", "t"), ("notes", "")], vrows,
        ))
        for i, a in enumerate(attacks, 1):
            out.append(_texts(a, f"What the requests of attack {i} asked"))
    out.append("</section>")
    return "\n".join(out)


def _texts(holder: dict[str, Any], title: str) -> str:
    """Top paths and user agents (attacker-controlled text: escaped, clipped) of an attack or input."""
    out = []
    for key, field, label in TEXT_TOPS:
        top = holder.get(key) or []
        if not top:
            continue
        rows = [[f"<code>{e(t.get(field), 200)}</code>" if t.get(field) is not None else "(not named: never frequent)",
                 _share_cell(t.get("share")), e(fmt_int(t.get("requests")))] for t in top]
        out.append(_table([(label, ""), ("share", ""), ("requests", "n")], rows))
    return f"<h3>{e(title)}</h3>" + "".join(out) if out else ""


def _sources(report: dict[str, Any]) -> str:
    attacks = report.get("attacks") or []
    att = report.get("attribution") or {}
    if not any(a.get("top_sources") for a in attacks) and not att.get("by_country") and not att.get("by_asn"):
        return ""
    out = ['<section id="sources"><h2>Sources: addresses, countries, networks</h2>']
    if not attacks:
        out.append('<p class="note">No attack was found: these tables describe the clients seen, not attackers.</p>')
    for i, a in enumerate(attacks, 1):
        top = a.get("top_sources") or []
        if not top:
            continue
        rows = [
            [
                f"<code>{e(s.get('ip'), 45)}</code>", e(fmt_int(s.get("packets"))), e(fmt_int(s.get("bytes"))),
                e(s.get("country")), e(("AS" + str(s["asn"])) if s.get("asn") not in (None, "") else "—"), e(s.get("as_org")),
            ]
            for s in top[:20]
        ]
        out.append(f"<h3>Top sources of attack {i} ({e(a.get('vector'))})</h3>")
        out.append(_table([("address", ""), ("packets", "n"), ("bytes", "n"), ("country", ""), ("AS", ""), ("AS owner", "")], rows))
    if att.get("by_country"):
        rows = [
            [e(c.get("country")), _share_cell(c.get("share")), e(fmt_int(c.get("sources"))),
             e(fmt_share(c.get("traffic_share"))) if c.get("traffic_share") is not None else "",
             e(fmt_share(_first(c, "sources_agree", "agreement"))) if _first(c, "sources_agree", "agreement") is not None else ""]
            for c in att["by_country"][:20]
        ]
        out.append(f"<h3>Countries (registered) of {_described(att)}</h3>")
        out.append(_table([("country", ""), ("share of sources", ""), ("sources", "n"), ("share of traffic", "n"),
                           ("country sources agree", "n")], rows))
    if att.get("by_asn"):
        rows = [
            [e(("AS" + str(a["asn"])) if a.get("asn") not in (None, "") else "—"), e(a.get("as_org")), _share_cell(a.get("share")),
             e(fmt_int(a.get("sources"))), e(fmt_share(a.get("traffic_share"))) if a.get("traffic_share") is not None else "",
             e(_first(a, "as_class", "class") or "")]
            for a in att["by_asn"][:20]
        ]
        out.append(f"<h3>Networks (autonomous systems) of {_described(att)}</h3>")
        out.append(_table([("AS", ""), ("owner", ""), ("share of sources", ""), ("sources", "n"), ("share of traffic", "n"),
                           ("kind", "")], rows))
    out.append("</section>")
    return "\n".join(out)


def _described(att: dict[str, Any]) -> str:
    """Which sources the country and network tables describe (escaped)."""
    if att.get("described") == "located sources":
        return f"the {e(fmt_int(att.get('sources')))} sources that completed handshakes (forged and reflected ones left out)"
    return "the sources"


def _attribution(report: dict[str, Any]) -> str:
    att = report.get("attribution")
    if not att:
        return ""
    c = att.get("confidence")
    band = confidence_band(c)
    colour = {"very low": "#c0392b", "low": "#c0392b", "moderate": "#b9770e", "high": "#1e8449"}.get(band, "#7f8c8d")
    width = 100 * max(0.0, min(1.0, float(c))) if c is not None else 0
    out = ['<section id="attribution"><h2>Attribution verdict</h2>']
    out.append(
        f'<p><strong>Confidence that the located country is where the attacker is: {e(band)}'
        + (f" ({float(c):.2f} of 1)" if c is not None else "") + "</strong></p>"
        f'<div class="meter" aria-hidden="true"><span style="width:{width:.0f}%;background:{colour}"></span></div>'
    )
    if att.get("verdict"):
        out.append(f'<p class="verdict">{e(att["verdict"], LONG)}</p>')
    flags = [
        ("reflected traffic (sources are abused servers)", att.get("reflected")),
        ("spoofed sources suspected", att.get("spoofing_suspected")),
    ]
    out.append("<ul>" + "".join(f"<li>{e(label)}: <strong>{'yes' if v else 'no'}</strong></li>" for label, v in flags) + "</ul>")
    if att.get("caveats"):
        out.append("<h3>Caveats</h3><ul>" + "".join(f"<li>{e(x, LONG)}</li>" for x in att["caveats"]) + "</ul>")
    classes = att.get("source_classes")
    if isinstance(classes, dict) and classes:
        rows = [[e(k), e(fmt_int(v))] for k, v in classes.items()]
        out.append("<h3>Sources by kind</h3>" + _table([("kind", ""), ("sources", "n")], rows))
    ev = att.get("evidence")
    if isinstance(ev, list) and ev and isinstance(ev[0], dict):
        # Measured figures with their meaning in plain words (the attribution's evidence list).
        rows = [
            [e(x.get("kind")), e(x.get("name")), e(_value(x.get("value"))), e(x.get("meaning"), 600)]
            for x in ev
        ]
        out.append("<h3>Evidence measured</h3>" + _table([("about", ""), ("measure", ""), ("value", "n"), ("meaning", "")], rows))
    # Anything else the analysis added (scalars and small mappings); data sources have their own section.
    known = {"by_country", "by_asn", "reflected", "spoofing_suspected", "confidence", "verdict", "caveats", "evidence",
             "data_sources", "source_classes"}
    extra = {k: v for k, v in att.items() if k not in known}
    if extra:
        rows = []
        for k, v in extra.items():
            if isinstance(v, dict):
                text = "; ".join(f"{kk}: {_value(vv)}" for kk, vv in v.items())
            elif isinstance(v, list):
                text = "; ".join(_value(x) for x in v)
            else:
                text = _value(v)
            rows.append([e(k), e(text, 600)])
        out.append("<h3>Other figures</h3>" + _table([("figure", ""), ("value", "")], rows))
    out.append("</section>")
    return "\n".join(out)


def claim_source(src: Any) -> str:
    """Who said it, when, where, as one line (a claim's source may be text or a dict)."""
    if isinstance(src, dict):
        parts = [str(src.get(k)) for k in ("who", "when", "where", "outlet", "url") if src.get(k)]
        return ", ".join(parts) if parts else "; ".join(f"{k}: {v}" for k, v in src.items())
    return "" if src is None else str(src)


def _claims(report: dict[str, Any]) -> str:
    claims = report.get("claims") or []
    if not claims:
        return ""
    rows = []
    for c in claims:
        a = str(c.get("assessment") or "unverifiable")
        checks = c.get("checks")
        if isinstance(checks, list) and checks and all(isinstance(x, dict) for x in checks):
            # One line per checked aspect, with its own assessment.
            ev_html = "<ul>" + "".join(
                f'<li><span class="tag t-{e(x.get("assessment"))}">{e(x.get("aspect"))}: {e(x.get("assessment"))}</span> '
                f'{e(x.get("evidence"), LONG)}</li>' for x in checks
            ) + "</ul>"
        else:
            ev = c.get("evidence")
            ev_text = "; ".join(str(x) for x in ev) if isinstance(ev, list) else ("" if ev is None else str(ev))
            ev_html = e(ev_text, LONG)
        rows.append([e(c.get("text"), 600), e(claim_source(c.get("source")), 400), f'<span class="tag t-{e(a)}">{e(a)}</span>', ev_html])
    return (
        '<section id="claims"><h2>Public claims checked against the evidence</h2>'
        + _table([("claim", ""), ("who, when, where", ""), ("assessment", ""), ("evidence", "")], rows)
        + "</section>"
    )


def _inputs(report: dict[str, Any], tz: str | None) -> str:
    inputs = report.get("inputs") or []
    if not inputs:
        return ""
    rows = []
    for i in inputs:
        s = i.get("summary") or {}
        span = f"{fmt_time(s.get('start'), tz)} – {fmt_time(s.get('end'), tz)}" if s.get("start") else "—"
        rows.append([
            f"<code>{e(i.get('path'), 200)}</code>", e(i.get("kind")), e(i.get("format")), e(fmt_int(i.get("records"))),
            e(fmt_int(i.get("rejected"))), e(span),
        ])
    out = ['<section id="inputs"><h2>Inputs and what was rejected</h2>']
    out.append(_table([("input", ""), ("kind", ""), ("format", ""), ("records", "n"), ("rejected", "n"), ("time span", "")], rows))
    for i in inputs:
        out.append(_texts(i.get("summary") or {}, f"Most asked in {clip(i.get('path'), 120)}"))
    for i in inputs:
        rej = i.get("rejections") or {}
        samples = rej.get("samples") or []
        name = e(i.get("path"), 200)
        if not samples:
            out.append(f'<p class="note"><code>{name}</code>: {e(fmt_int(i.get("rejected", 0)))} records rejected.</p>')
            continue
        unit = str(rej.get("unit") or "record")
        srows = [[e(f"{unit} {s.get('where')}"), e(s.get("reason"), 300), f"<code>{e(s.get('excerpt'), 200)}</code>"] for s in samples]
        out.append(
            f"<details open><summary><code>{name}</code>: {e(fmt_int(rej.get('count', len(samples))))} rejected "
            f"(first {len(samples)} shown)</summary>"
            + _table([("where", ""), ("reason", ""), ("excerpt", "")], srows) + "</details>"
        )
    out.append("</section>")
    return "\n".join(out)


def _data_sources(report: dict[str, Any]) -> str:
    ds = report.get("data_sources") or []
    if not ds:
        return ""
    rows = []
    for d in ds:
        notes = "; ".join(str(d[k]) for k in ("use", "attribution", "url") if d.get(k))
        rows.append([e(d.get("name"), 200), e(d.get("source"), 300), e(_first(d, "data_date", "date") or "—"),
                     e(d.get("licence") or d.get("license") or ""), e(notes, 600)])
    return ('<section id="data-sources"><h2>Data sources and their dates</h2>'
            + _table([("data", ""), ("source", ""), ("data date", ""), ("licence", ""), ("notes", "")], rows) + "</section>")


def _provenance(report: dict[str, Any]) -> str:
    prov = report.get("provenance") or []
    if not prov:
        return ""
    return (
        '<section id="provenance"><h2>Provenance: published, simulated, measured</h2><ul>'
        + "".join(f"<li>{e(p, LONG)}</li>" for p in prov) + "</ul></section>"
    )


def render(report: dict[str, Any], tz: str | None = None) -> str:
    """The whole page for one report dict (as ``Incident.to_dict()`` gives it)."""
    body = "\n".join(
        part for part in (
            _head(report, tz), _cards(report, tz), _outage(report, tz), _attacks(report, tz), _sources(report),
            _attribution(report), _claims(report), _inputs(report, tz), _data_sources(report), _provenance(report),
        ) if part
    )
    footer = (
        f"<footer>{e(report.get('generator', 'surgescope'))} · {e(report.get('schema', ''))} · "
        "machine-readable: report.json beside this file</footer>"
    )
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"
        f"<title>{e(report.get('title') or 'surgescope report', 200)}</title><style>{CSS}</style></head>"
        f"<body><main>\n{body}\n{footer}\n</main></body></html>\n"
    )
