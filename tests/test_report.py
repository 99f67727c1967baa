"""The report renderings (HTML, Markdown, JSON) from hand-built incidents, and `analyze` -> report
on every shared dataset.

Expected values are computed by hand here (times converted between UTC and US Eastern,
thousands separators, shares), never taken from the code under test.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from surgescope.incident import Incident, load_report
from surgescope.report import charts, headline, html, markdown, write_all
from surgescope.report.fmt import fmt_rate, fmt_share, fmt_time

T0 = datetime(2025, 3, 10, 8, 0, tzinfo=UTC)
PEAKS = [(120, 20608), (362, 41143), (542, 36064), (602, 19446)]  # minutes after 08:00 UTC, reports


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def full_incident() -> Incident:
    """An incident with every section filled, shaped as the analyses fill it."""
    series = []
    for m in range(12 * 60):
        v = 40 + sum(0.9 * h * math.exp(-(((m - pk) / 8) ** 2)) for pk, h in PEAKS)
        v = next((h for pk, h in PEAKS if pk == m), v)  # each peak exactly its published figure
        series.append({"t": _iso(T0 + timedelta(minutes=m)), "value": int(round(v)), "expected": 40.0, "series": "reports"})
    waves = [
        {"start": _iso(T0 + timedelta(minutes=pk - 25)), "peak_at": _iso(T0 + timedelta(minutes=pk)), "peak": h,
         "end": _iso(T0 + timedelta(minutes=pk + 20)), "direction": "up"}
        for pk, h in PEAKS
    ]
    inc = Incident(title="fixture incident")
    inc.outage = {
        "waves": waves, "series": series,
        "breakdown": {"by_region": [{"region": "US-CA", "reports": 1400, "share": 0.14}],
                      "by_problem": [{"problem": "app", "reports": 5500, "share": 0.55}]},
    }
    traffic = []
    for s in range(0, 3600, 10):
        t = T0 + timedelta(minutes=110, seconds=s)
        on = 600 <= s < 1800
        traffic.append({"t": _iso(t), "pps": 20 + (1200 if on else 0), "bps": 5e4 + (2e6 if on else 0), "rps": 2 + (150 if on else 0)})
    inc.timelines = {"reports": [{"t": p["t"], "value": p["value"]} for p in series], "traffic": traffic}
    inc.attacks = [{
        "start": _iso(T0 + timedelta(minutes=120)), "end": _iso(T0 + timedelta(minutes=140)), "vector": "http-flood",
        "vectors": [{"vector": "http-flood", "share": 0.5, "byte_share": 0.8, "packets": 500, "bytes": 400_000, "sources": 57},
                    {"vector": "syn-flood", "share": 0.4, "packets": 400, "sources": 390},
                    {"vector": "dns-amplification", "share": 0.1, "packets": 100, "sources": 40}],
        "packets": 1000, "bytes": 2_500_000, "peak_pps": 1_250, "peak_bps": 2_030_000, "peak_rps": 165, "sources": 487,
        "top_sources": [{"ip": "203.0.113.7", "packets": 539, "bytes": 50_000, "country": "UA", "asn": 15895, "as_org": "Kyivstar"}],
        "notes": ["sources are reflectors (abused servers), not the attacker's machines"],
    }]
    inc.attribution = {
        "by_country": [{"country": "US", "share": 0.413, "sources": 201}, {"country": "UA", "share": 0.15, "sources": 73}],
        "by_asn": [{"asn": 7922, "as_org": "Comcast Cable Communications, LLC", "share": 0.021}],
        "reflected": True, "spoofing_suspected": True, "confidence": 0.02,
        "verdict": "The source addresses are forged; their country breakdown is meaningless.",
        "caveats": ["Reflected traffic: the sources are servers that answered forged requests."],
        "dispersion": {"countries": 182, "networks": 6382},
        "evidence": [{"kind": "spoofing", "name": "single_packet_sources", "value": 0.98765,
                      "meaning": "99% of sources sent one packet only"}],
    }
    inc.claims = [{"text": "IP addresses originating in the Ukraine area", "source": "Elon Musk, Fox Business, 2025-03-10",
                   "assessment": "unsupported", "evidence": "[origin_country: unsupported] forged sources."}]
    inc.inputs = [{
        "path": "/data/x.pcap", "kind": "pcap", "format": "pcap", "table": "packets", "records": 1000, "rejected": 2,
        "rejections": {"count": 2, "unit": "packet", "samples": [{"where": 17, "reason": "truncated record", "excerpt": "caplen 65536"}]},
        "summary": {"start": _iso(T0), "end": _iso(T0 + timedelta(hours=1))},
    }]
    inc.data_sources = [{"name": "ip-location-db asn", "source": "RouteViews, DB-IP, NRO", "date": "2026-06-17"}]
    inc.provenance = ["Report counts are a reconstruction from published figures.", "Traffic is simulated."]
    return inc


class Page(HTMLParser):
    """Tags, attributes, ids and visible text of an HTML page (html.parser, no dependency)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in ("style",):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("style",):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)

    def ids(self) -> set[str]:
        return {a["id"] for _, a in self.tags if "id" in a}


def parse(page: str) -> Page:
    p = Page()
    p.feed(page)
    p.close()
    return p


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict[str, Path]:
    return write_all(full_incident(), tmp_path_factory.mktemp("report"), tz="America/New_York")


def test_write_all_writes_the_three_files_and_json_is_the_contract(written):
    assert set(written) == {"json", "md", "html"}
    d = load_report(written["json"])
    assert d == json.loads(full_incident().to_json()) | {"generated_at": d["generated_at"]}
    assert [w["peak"] for w in d["outage"]["waves"]] == [20608, 41143, 36064, 19446]


def test_html_has_every_section_in_reading_order(written):
    page = written["html"].read_text()
    p = parse(page)
    order = ["headline", "outage", "attack", "sources", "attribution", "claims", "inputs", "data-sources", "provenance"]
    assert set(order) <= p.ids()
    positions = [page.index(f'id="{i}"') for i in order]
    assert positions == sorted(positions)


def test_headline_answers_the_four_questions(written):
    text = " ".join(parse(written["html"].read_text()).text)
    # 14:02 UTC on 10 March 2025 is 10:02 EDT (daylight saving time began on 9 March).
    assert "Yes: 4 waves of problem reports" in text
    assert "largest peak 41,143 at 2025-03-10 10:02 EDT" in text
    assert "Yes: 1 attack phase" in text
    assert "vectors: http-flood, syn-flood, dns-amplification" in text
    assert "peak 1.25 kpkt/s" in text and "2.03 Mbit/s" in text
    assert "Very low confidence (0.02)" in text
    assert "Reflected traffic and spoofing suspected: the sources' countries say nothing about the attacker" in text


def test_html_waves_table_in_display_zone(written):
    text = " ".join(parse(written["html"].read_text()).text)
    # wave 1 peaks at 10:00 UTC = 06:00 EDT; starts 25 min before, ends 20 min after
    assert "2025-03-10 05:35 EDT" in text and "2025-03-10 06:00 EDT" in text and "2025-03-10 06:20 EDT" in text
    assert "45 min" in text
    for peak in ("20,608", "41,143", "36,064", "19,446"):
        assert peak in text


def test_html_tables_hold_sources_countries_claims_rejections(written):
    text = " ".join(parse(written["html"].read_text()).text)
    assert "203.0.113.7" in text and "AS15895" in text and "Kyivstar" in text
    assert "41.3 %" in text and "15.0 %" in text
    assert "unsupported" in text and "Elon Musk, Fox Business, 2025-03-10" in text
    assert "packet 17" in text and "truncated record" in text
    assert "ip-location-db asn" in text and "2026-06-17" in text
    assert "The source addresses are forged" in text
    assert "countries: 182; networks: 6,382" in text
    assert "single_packet_sources" in text and "0.9877" in text and "99% of sources sent one packet only" in text


def test_html_is_self_contained_and_small(written):
    page = written["html"].read_text()
    p = parse(page)
    tags = {t for t, _ in p.tags}
    assert "script" not in tags and "link" not in tags and "iframe" not in tags and "img" not in tags
    for _, attrs in p.tags:
        for k, v in attrs.items():
            assert not k.startswith("on")
            if k in ("src", "href") and v:
                assert v.startswith("#"), f"external reference {k}={v}"
    csp = [a for t, a in p.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0]["content"]
    assert sum(1 for t, _ in p.tags if t == "svg") == 3  # reports, traffic, vectors
    assert len(page.encode()) < 1_000_000


def test_svg_ids_are_unique_across_charts(written):
    ids = [a["id"] for _, a in parse(written["html"].read_text()).tags if "id" in a]
    assert len(ids) == len(set(ids))
    # every internal reference points to an element that exists
    page = written["html"].read_text()
    for ref in re.findall(r'url\(#([^)]+)\)|href="#([^"]+)"', page):
        name = ref[0] or ref[1]
        assert name in ids, name


def test_markdown_has_headline_tables_and_escapes_time_zone_name(written):
    md = written["md"].read_text()
    assert md.startswith("# fixture incident\n")
    assert "- **Is it an outage?** Yes: 4 waves of problem reports" in md
    assert "| 2 | up | 2025-03-10 09:37 EDT | 2025-03-10 10:02 EDT | 41,143 |" in md
    assert "America/New\\_York" in md  # "_" escaped so it opens no emphasis
    assert "`203.0.113.7`" in md
    assert "**unsupported**" in md


def test_large_series_keep_the_page_small(tmp_path):
    inc = full_incident()
    # a week of minutes and a day of seconds
    base = T0 - timedelta(days=7)
    inc.outage["series"] = [{"t": _iso(base + timedelta(minutes=m)), "value": 40 + (m % 7), "series": "reports"} for m in range(7 * 1440)]
    inc.timelines["traffic"] = [{"t": _iso(T0 + timedelta(seconds=s)), "pps": 10 + s % 13, "bps": 1e4, "rps": 1} for s in range(86_400)]
    paths = write_all(inc, tmp_path)
    assert paths["html"].stat().st_size < 1_000_000


def test_empty_incident_renders_without_sections(tmp_path):
    paths = write_all(Incident(title="nothing"), tmp_path)
    p = parse(paths["html"].read_text())
    assert "headline" in p.ids() and "outage" not in p.ids() and "attack" not in p.ids()
    text = " ".join(p.text)
    assert text.count("Not assessed") >= 3


def test_headline_levels():
    r = {"inputs": [{"kind": "pcap", "table": "packets"}], "outage": {"waves": []}, "attacks": [], "attribution": None}
    h = headline.headline(r)
    assert [x["answer"] for x in h[:2]] == ["Not assessed", "No attack detected"]
    assert h[3]["answer"] == "Not assessed"
    # Clients located but no attack: nothing to attribute, whatever the confidence field says.
    r2 = {"inputs": [{"kind": "access-log", "table": "requests"}], "outage": {"waves": [], "series": [{"t": "x"}]},
          "attacks": [], "attribution": {"confidence": 0.0, "by_country": [{"country": "US", "share": 0.331}]}}
    h2 = headline.headline(r2)
    assert h2[0]["detail"] == "request counts showed no drop below their usual range"
    assert h2[3]["answer"] == "No attack to attribute" and "33.1 %" in h2[3]["detail"]
    assert [headline.confidence_band(c) for c in (0.0, 0.19, 0.2, 0.5, 0.7, 1.0, None)] == [
        "very low", "very low", "low", "moderate", "high", "high", "unknown"]


def test_origin_on_mixed_traffic_describes_the_located_sources():
    # Forged and reflected sources left out by the attribution: the card names the sources it
    # describes and what was left out, never "most sources".
    r = {"inputs": [{"kind": "pcap", "table": "packets"}], "outage": {"waves": []}, "attacks": [{"vector": "syn-flood"}],
         "attribution": {"confidence": 0.12, "reflected": True, "spoofing_suspected": True, "described": "located sources",
                         "sources": 240, "source_classes": {"located": 240, "forged": 59758, "reflector": 400},
                         "by_country": [{"country": "UA", "share": 0.15, "sources": 36}]}}
    card = headline.origin_answer(r)
    assert card["answer"] == "Very low confidence (0.12)"
    assert card["detail"] == ("top country UA (15.0 %) among the 240 sources that completed handshakes "
                              "(59,758 forged and 400 reflector sources left out); they place the sending machines, not the attacker")
    page = html.render(r)
    assert "Countries (registered) of the 240 sources that completed handshakes" in page
    assert "59,758" in page  # sources by kind


def test_formatting_by_hand():
    assert fmt_time("2025-03-10T14:02:00Z", "America/New_York") == "2025-03-10 10:02 EDT"
    assert fmt_time("2025-03-08T14:02:00Z", "America/New_York") == "2025-03-08 09:02 EST"  # before DST
    assert fmt_time("2025-03-10T14:02:05Z") == "2025-03-10 14:02:05 UTC"
    assert fmt_rate(2_030_000, "bit/s") == "2.03 Mbit/s"
    assert fmt_rate(165, "req/s") == "165 req/s"
    assert fmt_share(0.413) == "41.3 %"


def test_reduce_keeps_peaks_and_segments_split_gaps():
    import numpy as np

    times = [T0 + timedelta(seconds=i) for i in range(10_000)]
    values = np.zeros(10_000)
    values[4321] = 99.0
    t, v = charts.reduce(times, values, 100)
    assert len(t) <= 100 and v.max() == 99.0 and times[4321] in t
    gapped = [T0 + timedelta(seconds=i) for i in range(60)] + [T0 + timedelta(hours=3, seconds=i) for i in range(60)]
    assert charts.segments(gapped) == [(0, 60), (60, 120)]


def test_vector_shares_weighted_by_packets():
    r = {"attacks": [
        {"packets": 300, "vectors": [{"vector": "syn-flood", "share": 1.0}]},
        {"packets": 100, "vectors": [{"vector": "syn-flood", "share": 0.5}, {"vector": "http-flood", "share": 0.5}]},
    ]}
    # syn: 300 + 50 = 350 of 400; http: 50 of 400
    assert charts.vector_shares(r) == [("syn-flood", 0.875), ("http-flood", 0.125)]


def test_html_render_accepts_report_json_dict():
    d = json.loads(full_incident().to_json())
    page = html.render(d)
    assert "2025-03-10 14:02:00 UTC" in page  # no zone given: UTC
    assert markdown.render(d).count("| ") > 10


# ----------------------------------------------------------------------------- shared datasets

DATASETS = [
    # (relative path, kind, records from SOURCES.md, attack expected)
    ("pcap/stopddos/pkt.TCP.synflood.spoofed.pcap", "pcap", 37_841, True),
    ("pcap/stopddos/amp.TCP.reflection.SYNACK.pcap", "pcap", 8_000, True),
    ("pcap/stopddos/amp.UDP.snmp.src161.pcapng", "pcap", 4_373, True),
    ("pcap/stopddos/amp.dns.RRSIG.fragmented.pcap", "pcap", 4_412, True),
    # 896 packets of SYN/SYN-ACK mix from 60 sources: no verdict asserted here, only coherence
    ("pcap/stopddos/amp.TCP.syn.optionallyACK.optionallysamePort.pcapng", "pcap", 896, None),
    ("pcap/cic-ddos2019/CIC-DDoS-2019-SynFlood.pcap", "pcap", 26_316, True),
    ("flows/cicids2017-improved/DDoS_5000.csv", "flows", 5_000, True),
    ("flows/cicids2017-improved/DoS_Hulk_5000.csv", "flows", 5_000, True),
    ("flows/cicids2017-improved/DoS_GoldenEye_5000.csv", "flows", 5_000, True),
    ("flows/cicids2017-improved/BENIGN_5000.csv", "flows", 5_000, False),
    ("logs/elastic-apache/apache_logs", "access-log", None, None),
]


@pytest.mark.parametrize(("rel", "kind", "records", "attack"), DATASETS, ids=[d[0].rsplit("/", 1)[-1] for d in DATASETS])
def test_analyze_each_shared_dataset_gives_a_coherent_report(datasets, tmp_path, rel, kind, records, attack):
    from surgescope.pipeline import analyze

    path = datasets / rel
    paths = write_all(analyze([path]), tmp_path)
    d = load_report(paths["json"])
    (inp,) = d["inputs"]
    assert inp["kind"] == kind
    if records is not None:
        assert inp["records"] == records and inp["rejected"] == 0
    else:  # apache_logs: 10,000 lines, line 8899 truncated (accepted leniently or rejected)
        assert inp["records"] + inp["rejected"] == 10_000
    text = " ".join(parse(paths["html"].read_text()).text)
    cards = headline.headline(d)
    if attack is True:
        assert d["attacks"] and cards[1]["answer"].startswith("Yes")
        assert cards[1]["answer"] in text
        assert d["attribution"] is not None and 0.0 <= d["attribution"]["confidence"] <= 1.0
    elif attack is False:
        assert not d["attacks"] and cards[1]["answer"] == "No attack detected"
    # The page states what the JSON holds: input, record count and rejections.
    assert path.name in text and f"{inp['records']:,}" in text
    assert paths["html"].stat().st_size < 1_000_000
