"""STIX 2.1 export, validated with the OASIS stix2-validator (an independent checker)."""

from __future__ import annotations

import json

import pytest
from stix2validator import validate_string
from typer.testing import CliRunner

from surgescope.attribution.claims import assess, load
from surgescope.attribution.stix import bundle_from_report
from surgescope.attribution.verdict import attribute
from surgescope.cli import app
from surgescope.incident import Incident
from surgescope.sources import open_input

CLAIMS = "src/surgescope/data/demo/claims.yaml"
CASES = {
    "amp.UDP.snmp.src161.pcapng": "snmp-amplification",
    "amp.TCP.reflection.SYNACK.pcap": "tcp-reflection",
    "pkt.TCP.synflood.spoofed.pcap": "syn-flood",
}


def _report(datasets, capture, vector):
    t = open_input(datasets / "pcap/stopddos" / capture, "auto").read_all()
    top = [{"ip": ip, "packets": 1} for ip in t.column("src_ip").unique().to_pylist()[:10]]
    attacks = [{"start": "2021-05-15T14:50:40Z", "end": "2021-05-15T14:51:00Z", "vector": vector,
                "vectors": [{"vector": vector, "share": 1.0}], "packets": t.num_rows, "top_sources": top}]
    inc = Incident(title=f"test {capture}", attacks=attacks)
    inc.inputs.append({"path": capture, "kind": "pcap", "table": "packets", "records": t.num_rows, "rejected": 0})
    inc.attribution = attribute(attacks, [t])
    report = inc.to_dict()
    report["claims"] = assess(CLAIMS, report)
    return report


@pytest.mark.parametrize("capture", sorted(CASES))
def test_bundle_is_valid_stix(datasets, capture):
    report = _report(datasets, capture, CASES[capture])
    text = bundle_from_report(report)
    result = validate_string(text)
    assert result.is_valid, [str(e) for e in result.errors]
    objs = json.loads(text)["objects"]
    types = [o["type"] for o in objs]
    for t in ("identity", "attack-pattern", "indicator", "observed-data", "note", "opinion", "report"):
        assert t in types, t
    creator = next(o for o in objs if o["type"] == "identity")
    assert creator["name"] == "surgescope"
    assert all(o.get("created_by_ref") == creator["id"] for o in objs if o["type"] not in ("identity", "ipv4-addr", "ipv6-addr"))
    [ap] = [o for o in objs if o["type"] == "attack-pattern"]
    assert ap["name"] == CASES[capture]
    verdict = next(o for o in objs if o["type"] == "note" and o["abstract"].startswith("Attribution verdict"))
    assert report["attribution"]["verdict"] in verdict["content"]
    opinions = [o["opinion"] for o in objs if o["type"] == "opinion"]
    assert len(opinions) == len(load(CLAIMS)) == 4  # one per claim in the shipped file
    assert opinions[-1] == "agree"  # the experts' objection holds on published evidence


def test_reflection_indicator_is_a_fingerprint_not_addresses(datasets):
    objs = json.loads(bundle_from_report(_report(datasets, "amp.UDP.snmp.src161.pcapng", "snmp-amplification")))["objects"]
    [ind] = [o for o in objs if o["type"] == "indicator"]
    assert "src_port = 161" in ind["pattern"] and "ipv4-addr" not in ind["pattern"]


def test_direct_attack_indicator_lists_the_top_sources(datasets):
    report = _report(datasets, "pkt.TCP.synflood.spoofed.pcap", "syn-flood")
    objs = json.loads(bundle_from_report(report))["objects"]
    [ind] = [o for o in objs if o["type"] == "indicator"]
    for s in report["attacks"][0]["top_sources"]:
        assert f"ipv4-addr:value = '{s['ip']}'" in ind["pattern"]


def test_cli_stix_command(tmp_path, datasets):
    report = _report(datasets, "amp.TCP.reflection.SYNACK.pcap", "tcp-reflection")
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report, default=str))
    out = tmp_path / "bundle.json"
    r = CliRunner().invoke(app, ["stix", str(path), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert validate_string(out.read_text()).is_valid
