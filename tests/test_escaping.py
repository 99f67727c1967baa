"""Attacker-controlled strings never become live markup in report.html or report.md.

Two sources of hostile strings: a real run of `analyze` on an access log whose paths, user
agents, file name and a malformed line carry HTML/Markdown injections (plus a claims file with
injected text), and a hand-built incident with injections in every field a renderer shows
(addresses, AS owners, countries, vector names, chart series names, verdict, caveats,
rejection excerpts). The HTML is parsed with html.parser; the Markdown is rendered to HTML by
an independent CommonMark renderer (markdown-it-py, with raw HTML *allowed*, the most
permissive setting) and parsed the same way.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from surgescope.incident import Incident
from surgescope.report import write_all

XSS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(2)>',
    "'><svg onload=alert(3)>",
    "</style><script>alert(4)</script>",
    "<iframe src=javascript:alert(5)>",
    "[click](javascript:alert(6))",
    "![pixel](http://evil.example/p.png)",
    "| cell | break |",
    "`code` ``span`` *bold* _em_ ~~strike~~",
    "# heading\n## second line",
    "<!-- comment --> &lt;b&gt; &amp;",
    "$x^2$ \\(math\\)",
]
"""Injections: HTML elements and event handlers, breaking out of style/attributes, Markdown links,
images, table pipes, code fences, emphasis, headings via newlines, entities, mathtext."""

#: Elements the report itself writes (HTML page and inline SVG charts); anything else is injected.
ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "main", "section", "h1", "h2", "h3", "p", "div", "span",
    "strong", "em", "code", "ul", "li", "table", "thead", "tbody", "tr", "th", "td", "figure", "figcaption",
    "details", "summary", "footer", "a", "br", "pre", "hr", "ol", "blockquote", "del", "s",
    # SVG written by report/charts.py
    "svg", "defs", "g", "path", "text", "clippath", "rect",
}


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(page: str) -> Tags:
    p = Tags()
    p.feed(page)
    p.close()
    return p


def assert_inert(page: str) -> Tags:
    """No injected element, no event handler, no script URL, no external reference."""
    p = parse(page)
    for tag, attrs in p.tags:
        assert tag in ALLOWED_TAGS, f"injected element <{tag}> {attrs}"
        for k, v in attrs.items():
            assert not k.startswith("on"), f"event handler {k}={v!r} on <{tag}>"
            assert "javascript:" not in (v or "").lower(), f"script URL in {k} of <{tag}>"
            if k in ("src", "href", "xlink:href") and v:
                assert v.startswith("#"), f"external reference {k}={v!r} on <{tag}>"
    return p


def markdown_html(md: str) -> str:
    return MarkdownIt("commonmark", {"html": True}).enable("table").enable("strikethrough").render(md)


def cell_separators(line: str) -> int:
    """Pipes that separate GFM table cells: those not escaped by an odd run of backslashes.

    (GFM splits cells on such pipes even inside code spans; renderers silently drop extra cells,
    so the count is checked on the Markdown source.)"""
    n, run = 0, 0
    for ch in line:
        if ch == "|" and run % 2 == 0:
            n += 1
        run = run + 1 if ch == "\\" else 0
    return n


def assert_tables_keep_their_columns(md: str) -> None:
    """An injected ``|`` cannot add a cell: every table row has as many separators as its header."""
    table: list[int] = []
    for line in [*md.splitlines(), ""]:
        if line.startswith("|"):
            table.append(cell_separators(line))
        elif table:
            assert len(set(table)) == 1, f"a table row gained or lost cells: {table}"
            table = []


# --------------------------------------------------------------------------- from a real run


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory) -> dict[str, Path]:
    from surgescope.pipeline import analyze

    d = tmp_path_factory.mktemp("hostile")
    log = d / 'access"><img src=x onerror=alert(0)>.log'
    lines = []
    for i, s in enumerate(XSS * 20):
        ua = s.replace('"', '\\"').replace("\n", " ")
        path = "/" + s.replace(" ", "%20").replace('"', "%22").replace("\n", "%0A")
        lines.append(
            f'198.51.100.{i % 200 + 1} - - [10/Mar/2025:14:{i % 60:02d}:{i % 60:02d} +0000] '
            f'"GET {path} HTTP/1.1" 200 {100 + i} "http://ref.example/{s.replace(chr(34), "%22").replace(chr(10), " ")}" "{ua}"'
        )
    lines.insert(5, "<script>alert('rejected line')</script>")
    lines.insert(9, '"><img src=x onerror=alert(7)> not a log line')
    log.write_text("\n".join(lines) + "\n")
    claims = d / "claims.yaml"
    import yaml

    claims.write_text(yaml.safe_dump({"claims": [
        {"who": XSS[1], "when": "2025-03-10", "where": XSS[0], "text": " ".join(XSS), "what": {"actor": XSS[5], "attack": True}},
    ]}))
    incident = analyze([log], claims=claims)
    return write_all(incident, d / "out", tz="America/New_York")


def test_hostile_log_was_read_and_rejections_carry_the_markup(hostile_run):
    d = json.loads(hostile_run["json"].read_text())
    (inp,) = d["inputs"]
    assert inp["records"] == len(XSS) * 20
    assert inp["rejected"] == 2
    excerpts = " ".join(s["excerpt"] for s in inp["rejections"]["samples"])
    assert "<script>" in excerpts and "onerror" in excerpts  # the JSON keeps data as data
    # the top user agents are the hostile ones (20 requests each), unescaped in the JSON
    top = inp["summary"]["top_user_agents"]
    assert len(top) == 10 and {t["requests"] for t in top} == {20}
    assert {t["user_agent"] for t in top} <= {s.replace("\n", " ") for s in XSS}


def test_hostile_run_html_has_no_live_markup(hostile_run):
    page = hostile_run["html"].read_text()
    p = assert_inert(page)
    text = "".join(p.text)
    # the hostile strings are shown, as text
    assert 'access"><img src=x onerror=alert(0)>.log' in text
    assert "<script>alert('rejected line')</script>" in text
    assert "<script>alert(1)</script>" in text  # claim text
    d = json.loads(hostile_run["json"].read_text())
    for t in d["inputs"][0]["summary"]["top_user_agents"]:  # shown as text, not markup
        assert t["user_agent"] in text


def test_hostile_run_markdown_has_no_live_markup(hostile_run):
    md = hostile_run["md"].read_text()
    rendered = markdown_html(md)
    assert_inert(rendered)
    assert_tables_keep_their_columns(md)
    assert "<script>alert(1)</script>" in "".join(parse(rendered).text)


# --------------------------------------------------------------------------- every field


def hostile_incident() -> Incident:
    x = " ".join(XSS)
    inc = Incident(title=x)
    t = "2025-03-10T14:02:00Z"
    inc.inputs = [{"path": x, "kind": XSS[0], "format": XSS[1], "records": 1, "rejected": 1,
                   "rejections": {"count": 1, "unit": XSS[2], "samples": [{"where": 3, "reason": x, "excerpt": x}]},
                   "summary": {"start": t, "end": x, "top_paths": [{"path": x, "requests": 1, "share": 1.0}],
                               "top_user_agents": [{"user_agent": s, "requests": 1, "share": 1.0} for s in XSS]}}]
    inc.outage = {
        "waves": [{"start": "2025-03-10T13:30:00Z", "peak_at": t, "peak": 41143, "end": "2025-03-10T15:00:00Z", "direction": XSS[0]}],
        "series": [{"t": f"2025-03-10T{h:02d}:{m:02d}:00Z", "value": 41143 if (h, m) == (14, 2) else 50, "series": XSS[1]}
                   for h in range(12, 17) for m in range(60)],
        "breakdown": {XSS[2]: [{"region": x, "reports": 5, "share": 0.5}], "by_problem": [{XSS[0]: x, "reports": 1}]},
    }
    inc.timelines = {XSS[3]: [{"t": f"2025-03-10T14:{m:02d}:00Z", "value": m} for m in range(60)]}
    inc.attacks = [{
        "start": t, "end": "2025-03-10T14:30:00Z", "vector": XSS[1], "packets": 10, "bytes": 100, "peak_pps": 5,
        "peak_bps": 50, "peak_rps": None, "sources": 2, "notes": XSS,
        "vectors": [{"vector": XSS[0], "share": 0.6, XSS[2]: x}, {"vector": XSS[5], "share": 0.4}],
        "top_sources": [{"ip": XSS[1], "packets": 5, "bytes": 50, "country": XSS[0], "asn": XSS[2], "as_org": x}],
        "top_paths": [{"path": s, "requests": 3, "share": 0.1} for s in XSS],
        "top_user_agents": [{"user_agent": s, "requests": 3, "share": 0.1} for s in XSS],
    }]
    inc.attribution = {"by_country": [{"country": XSS[1], "share": 1.0, "sources": 2, "agreement": 0.9}],
                       "by_asn": [{"asn": XSS[0], "as_org": x, "share": 1.0, "as_class": XSS[4]}],
                       "reflected": False, "spoofing_suspected": False, "confidence": 0.5, "verdict": x,
                       "caveats": XSS, XSS[0]: {XSS[1]: x}}
    inc.claims = [{"text": x, "source": {"who": XSS[1], "when": XSS[2], "where": XSS[0]}, "assessment": XSS[1], "evidence": XSS}]
    inc.data_sources = [{"name": x, XSS[0]: XSS[1]}]
    inc.provenance = XSS
    return inc


@pytest.fixture(scope="module")
def hostile_written(tmp_path_factory) -> dict[str, Path]:
    return write_all(hostile_incident(), tmp_path_factory.mktemp("every-field"))


def test_every_field_html_has_no_live_markup(hostile_written):
    page = hostile_written["html"].read_text()
    p = assert_inert(page)
    # Charts were drawn (their SVG text holds the injected series and vector names, as text).
    assert sum(1 for tag, _ in p.tags if tag == "svg") == 3
    text = "".join(p.text)
    assert "<script>alert(1)</script>" in text and '"><img src=x onerror=alert(2)>' in text
    assert "$x^2$" in text  # no mathtext: the dollars stay


def test_every_field_markdown_has_no_live_markup(hostile_written):
    md = hostile_written["md"].read_text()
    rendered = markdown_html(md)
    assert_inert(rendered)
    assert_tables_keep_their_columns(md)
    # No injected heading: the only headings are the report's own.
    p = parse(rendered)
    heads = [t for t, _ in p.tags if t in ("h1", "h2", "h3", "h4", "h5", "h6")]
    assert heads.count("h1") == 1
    assert all(line.startswith(("# ", "## ", "### ")) for line in md.splitlines() if line.startswith("#"))
    assert not any(t == "a" for t, _ in p.tags), "an injected link was rendered"


def test_every_field_json_keeps_the_strings_verbatim(hostile_written):
    import json

    d = json.loads(hostile_written["json"].read_text())
    assert d["title"] == " ".join(XSS)
    assert d["attacks"][0]["top_sources"][0]["ip"] == XSS[1]
