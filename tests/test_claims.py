"""Public claims assessed against evidence: the file format, its errors, and the judgements on
real captures (SOURCES.md says what each is) and on generated traffic with a known origin."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from surgescope.attribution.claims import assess, load
from surgescope.attribution.enrich import sample_addresses
from surgescope.attribution.verdict import attribute
from surgescope.cli import app
from surgescope.simulate.packets import Phase, generate
from surgescope.sources import open_input

SHIPPED = "src/surgescope/data/demo/claims.yaml"


def claim(**what):
    return {"who": "A. Person", "when": "2025-03-10", "where": "TV interview", "text": "It was them.", "what": what}


def report_for(table, attacks):
    return {"inputs": [{"table": "packets", "kind": "pcap", "summary": {}}], "attacks": attacks,
            "attribution": attribute(attacks, [table])}


@pytest.fixture(scope="module")
def spoofed(datasets):
    t = open_input(datasets / "pcap/stopddos/pkt.TCP.synflood.spoofed.pcap", "auto").read_all()
    return report_for(t, [{"vector": "syn-flood", "start": "2021-04-28T10:30:21Z", "end": "2021-04-28T10:30:26Z",
                           "peak_pps": 9000}])


@pytest.fixture(scope="module")
def from_ukraine():
    ips = sample_addresses(5, np.random.default_rng(9), "UA", "isp")
    t = generate([Phase("udp-flood", duration=4, rate=2000, sources=ips)], seed=2, t0="2025-03-10T14:00:00Z")
    return report_for(t, [{"vector": "udp-flood", "start": "2025-03-10T14:00:00Z", "end": "2025-03-10T14:00:04Z",
                           "peak_pps": 2000}])


def test_shipped_claims_file_is_valid():
    claims = load(SHIPPED)
    assert [c["who"].split(",")[0].split(" (")[0] for c in claims] == ["Elon Musk", "Elon Musk", "Dark Storm Team", "cybersecurity experts"]
    assert claims[0]["what"]["origin_country"] == "UA"


def test_origin_claim_on_forged_sources_is_unsupported(spoofed):
    [c] = assess([claim(attack=True, origin_country="UA")], spoofed)
    assert c["assessment"] == "unsupported"
    assert "forged" in c["evidence"]
    assert c["source"].startswith("A. Person, TV interview, 2025-03-10")


def test_origin_claim_on_a_direct_flood(from_ukraine):
    right, wrong = assess([claim(origin_country="UA"), claim(origin_country="US")], from_ukraine)
    assert right["assessment"] == "supported" and "100%" in right["evidence"]
    assert wrong["assessment"] == "contradicted"


def test_actor_is_unverifiable_and_says_what_would_help(from_ukraine):
    [c] = assess([claim(attack=True, actor="Dark Storm Team")], from_ukraine)
    assert c["assessment"] == "unverifiable"
    assert "cannot be confirmed" in c["evidence"] and "Evidence that would help" in c["evidence"]
    assert [k["aspect"] for k in c["checks"]] == ["attack", "actor"]
    assert c["checks"][0]["assessment"] == "supported"


def test_vector_size_and_window(from_ukraine):
    v_ok, v_bad, size_ok, size_big, win_ok, win_off = assess([
        claim(vector="udp-flood"), claim(vector=["http-flood"]),
        claim(size={"peak_pps": 3000}), claim(size={"peak_pps": 1_000_000}),
        claim(window={"start": "2025-03-10T13:00:00Z", "end": "2025-03-10T15:00:00Z"}),
        claim(window={"start": "2025-03-11T13:00:00Z", "end": "2025-03-11T15:00:00Z"}),
    ], from_ukraine)
    assert (v_ok["assessment"], v_bad["assessment"]) == ("supported", "contradicted")
    assert (size_ok["assessment"], size_big["assessment"]) == ("supported", "unsupported")
    assert win_ok["assessment"] == "supported" and win_off["assessment"] == "unverifiable"


def test_no_traffic_means_attack_claims_are_unverifiable():
    report = {"inputs": [{"table": "reports", "kind": "reports"}], "attacks": [], "attribution": None,
              "outage": {"waves": [{"start": "2025-03-10T10:00:00Z"}]}}
    [c] = assess([claim(attack=True, origin_country="UA")], report)
    assert c["assessment"] == "unverifiable"
    assert "outage reports alone cannot tell an attack from a failure" in c["evidence"]


@pytest.mark.parametrize("text, message", [
    ("claims: [\n  {who: a\n", "not valid YAML at line"),
    ("claims: []\n", "non-empty list"),
    ("- who: a\n  when: 2025-03-10\n  where: x\n  text: y\n", "claim 1: missing 'what'"),
    ("- {who: a, when: 2025-03-10, where: x, text: y, what: {origin_country: Ukraine}}\n", "alpha-2"),
    ("- {who: a, when: 2025-03-10, where: x, text: y, what: {colour: red}}\n", "unknown 'what' key"),
    ("- {who: a, when: 2025-03-10, where: x, text: y, what: {window: {start: yesterday, end: 2}}}\n", "not an ISO-8601"),
])
def test_bad_files_give_one_line_errors(tmp_path, text, message):
    f = tmp_path / "claims.yaml"
    f.write_text(text)
    with pytest.raises(ValueError, match=message) as e:
        load(f)
    assert "\n" not in str(e.value)


def test_cli_bad_claims_file_exits_2(tmp_path, datasets):
    bad = tmp_path / "claims.yaml"
    bad.write_text("claims: [\n  {who: a\n")
    r = CliRunner().invoke(app, ["analyze", str(datasets / "pcap/stopddos/amp.UDP.snmp.src161.pcapng"),
                                 "--out", str(tmp_path / "o"), "--claims", str(bad)])
    assert r.exit_code == 2
    flat = " ".join(r.output.split())  # Rich wraps long lines at the test terminal's width
    assert "not valid YAML at line 3" in flat and "Traceback" not in r.output


def test_confirmed_attack_does_not_confirm_an_uncheckable_origin(datasets):
    """CIC-DDoS2019 (SOURCES.md): a real SYN flood, but from the rewritten address 172.16.0.5."""
    t = open_input(datasets / "pcap/cic-ddos2019/CIC-DDoS-2019-SynFlood.pcap", "auto").read_all()
    report = report_for(t, [{"vector": "syn-flood", "start": "2018-11-03T10:30:31Z", "end": "2018-11-03T10:30:32Z"}])
    [c] = assess([claim(attack=True, origin_country="UA")], report)
    assert [k["assessment"] for k in c["checks"]] == ["supported", "unverifiable"]
    assert c["assessment"] == "unverifiable"
    assert "rewritten" in c["evidence"]


def test_reflected_origin_claim_names_the_reflectors(datasets):
    t = open_input(datasets / "pcap/stopddos/amp.UDP.snmp.src161.pcapng", "auto").read_all()
    report = report_for(t, [{"vector": "snmp-amplification", "start": "2021-05-15T14:50:40Z", "end": "2021-05-15T14:50:41Z"}])
    us, ua = assess([claim(origin_country="US"), claim(origin_country="UA")], report)
    assert us["assessment"] == ua["assessment"] == "unsupported"
    assert "reflectors" in us["evidence"] and "% of sources are in US" in us["evidence"]


def test_origin_claim_on_bots_beside_forged_sources():
    """Bots (40 in UA, 60 in BR) flood over a spoofed SYN flood: the claim is judged on the bots
    that completed handshakes, and the evidence says the forged sources were left out."""
    rng = np.random.default_rng(21)
    bots = sample_addresses(40, rng, "UA", "isp") + sample_addresses(60, rng, "BR", "isp")
    t = generate([Phase("http-flood", duration=6, rate=3000, target="203.0.113.80", sources=bots),
                  Phase("syn-flood", duration=6, rate=6000, target="203.0.113.80")],
                 seed=21, t0="2025-03-10T14:00:00Z")
    report = report_for(t, [{"vector": "http-flood", "start": "2025-03-10T14:00:00Z", "end": "2025-03-10T14:00:06Z",
                             "vectors": [{"vector": "http-flood", "share": 0.4}, {"vector": "syn-flood", "share": 0.6}],
                             "peak_pps": 9000}])
    assert report["attribution"]["described"] == "located sources"
    ua, br, us = assess([claim(origin_country="UA"), claim(origin_country="BR"), claim(origin_country="US")], report)
    assert ua["assessment"] == "unsupported" and "completed handshakes" in ua["evidence"]
    assert "forged" in ua["evidence"]
    assert br["assessment"] == "supported"  # 60 % of the real machines
    assert us["assessment"] == "contradicted"


def test_addresses_locate_attacker_is_decided_by_published_evidence(spoofed):
    """The experts' objection holds whatever the traffic; its opposite is contradicted."""
    objection, opposite = assess([claim(addresses_locate_attacker=False), claim(addresses_locate_attacker=True)], spoofed)
    assert objection["assessment"] == "supported" and opposite["assessment"] == "contradicted"
    assert "published evidence alone" in objection["evidence"] and "forged sources" in objection["evidence"]
    no_traffic = {"inputs": [], "attacks": [], "attribution": None}
    [alone] = assess([claim(addresses_locate_attacker=False)], no_traffic)
    assert alone["assessment"] == "supported" and "In the traffic given" not in alone["evidence"]
    with pytest.raises(ValueError, match="true or false"):
        assess([claim(addresses_locate_attacker="maybe")], no_traffic)


def test_attack_evidence_names_every_vector():
    report = {"inputs": [{"table": "packets"}], "attribution": None, "attacks": [
        {"vector": "http-flood", "vectors": [{"vector": "http-flood", "share": 0.6}, {"vector": "syn-flood", "share": 0.4}]},
        {"vector": "dns-amplification", "vectors": [{"vector": "dns-amplification", "share": 1.0}]}]}
    [c] = assess([claim(attack=True, vector="syn-flood")], report)
    assert c["assessment"] == "supported"
    assert "(dns-amplification, http-flood, syn-flood)" in c["evidence"]
