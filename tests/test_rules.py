"""Mitigation rules checked by the real tools: ``nft -c -f`` (syntax and semantics, no ruleset
change), ``nginx -t`` on a minimal config including the rules, and ``ipset restore``.

ipset: ``ipset restore`` talks to the kernel (there is no offline check mode). It works here
(root in a network namespace) and the test creates uniquely named sets and destroys them. Where
the ``ipset`` binary or the kernel refuses (no CAP_NET_ADMIN), the test falls back to checking
every line against the restore grammar and says so in the assertion message.
"""

import ipaddress
import json
import shutil
import subprocess
import uuid

import pyarrow as pa
import pyarrow.compute  # noqa: F401 - pa.compute in the tests
import pytest
from typer.testing import CliRunner

from surgescope.attack import analyze
from surgescope.attack.rules import plan, read_allowlist, render
from surgescope.cli import app
from surgescope.simulate.packets import Phase, generate
from surgescope.sources import open_input

TARGET = "10.10.10.10"
BOTS = [f"198.51.100.{i}" for i in range(1, 13)] + ["192.0.2.9", "2001:db8::5"]
ALLOW = ["198.51.100.7/32", "192.0.2.0/24"]


@pytest.fixture(scope="module")
def report(datasets):
    """A report with an HTTP flood (generated botnet), SNMP amplification (real capture),
    TCP SYN-ACK reflection (real) and a spoofed SYN flood (real)."""
    attacks = []
    table = generate([Phase("http-flood", duration=40, rate=4000, target=TARGET, sources=BOTS)], seed=1)
    attacks += analyze(table, "packets")["attacks"]
    for name in ("amp.UDP.snmp.src161.pcapng", "amp.TCP.reflection.SYNACK.pcap", "pkt.TCP.synflood.spoofed.pcap"):
        attacks += analyze(open_input(datasets / "pcap/stopddos" / name).read_all(), "packets")["attacks"]
    assert [a["vector"] for a in attacks] == ["http-flood", "snmp-amplification", "tcp-reflection", "syn-flood"]
    return {"schema": "surgescope/report-v1", "attacks": attacks}


def blocked_networks(text: str) -> list:
    nets = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("deny "):
            nets.append(ipaddress.ip_network(line[5:].rstrip(";")))
        elif line.startswith("elements = {"):
            nets += [ipaddress.ip_network(x.strip()) for x in line[len("elements = {"):].rstrip("}").split(",")]
        elif line.startswith("add ") and "," not in line.split()[2]:
            nets.append(ipaddress.ip_network(line.split()[2]))
    return nets


def test_plan_blocks_bots_reflected_ports_and_rate_limits_spoofed(report):
    p = plan(report, ALLOW)
    nets = p["sources"]
    assert ipaddress.ip_network("198.51.100.0/24") not in nets  # split around the allowlisted .7
    for bot in BOTS:
        covered = any(ipaddress.ip_address(bot) in n for n in nets)
        allowed = any(ipaddress.ip_address(bot) in ipaddress.ip_network(a) for a in ALLOW)
        assert covered != allowed, bot
    assert {(r["proto"], tuple(r["ports"])) for r in p["ports"]} >= {("udp", (161,))}
    assert any(r["proto"] == "tcp" and 80 in r["ports"] for r in p["ports"])
    assert [r["vector"] for r in p["limits"]] == ["syn-flood"]
    # Reflectors and spoofed addresses are not in the blocklist: only the bots' networks are.
    assert all(n.overlaps(ipaddress.ip_network("198.51.100.0/24")) or n == ipaddress.ip_network("2001:db8::5/128")
               for n in nets)


def test_aggregation_into_prefixes(report):
    p = plan(report, [])
    assert ipaddress.ip_network("198.51.100.0/24") in p["sources"]  # 12 bots share it
    assert ipaddress.ip_network("192.0.2.9/32") in p["sources"]  # alone in its /24


def test_nftables_accepted_by_nft(report, tmp_path):
    text = render(report, "nftables", ALLOW)
    f = tmp_path / "rules.nft"
    f.write_text(text)
    r = subprocess.run(["nft", "-c", "-f", str(f)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "udp sport 161 drop" in text
    assert "tcp dport 25565 tcp flags & (syn | ack) == syn limit rate over" in text  # the flood's one port
    allowed = [ipaddress.ip_network(a) for a in ALLOW]
    assert not any(n.overlaps(a) for n in blocked_networks(text) for a in allowed)
    # A deliberately broken address must fail the same check (the checker is not a no-op).
    f.write_text(text.replace("198.51.100.0/30", "198.51.100.300/30"))
    assert subprocess.run(["nft", "-c", "-f", str(f)], capture_output=True).returncode != 0


def test_nginx_config_accepted(report, tmp_path):
    rules = tmp_path / "deny.conf"
    rules.write_text(render(report, "nginx", ALLOW))
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        "worker_processes 1; pid nginx.pid; error_log stderr;\nevents {}\n"
        "http { access_log off; client_body_temp_path tmp; proxy_temp_path tmp; fastcgi_temp_path tmp;\n"
        "uwsgi_temp_path tmp; scgi_temp_path tmp;\n"
        f"server {{ listen 127.0.0.1:18089; include {rules}; }} }}\n"
    )
    r = subprocess.run(["nginx", "-t", "-c", str(conf), "-p", f"{tmp_path}/", "-e", "stderr"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    text = rules.read_text()
    assert "deny 192.0.2.9" not in text  # allowlisted
    assert text.index("allow 198.51.100.7/32;") < text.index("deny ")


_RESTORE_LINE = r"^(create \S+ hash:(net|ip,port) family inet6? -exist|add \S+ \S+ -exist|#.*)$"


def test_ipset_restore(report):
    name = "t" + uuid.uuid4().hex[:8]
    text = render(report, "ipset", ALLOW, name=name)
    assert f"add {name}-refl 10.10.10.10,udp:161 -exist" in text
    ipset = shutil.which("ipset")
    if ipset:
        r = subprocess.run([ipset, "restore"], input=text, capture_output=True, text=True)
        try:
            if r.returncode == 0:
                listed = subprocess.run([ipset, "list", f"{name}-v4"], capture_output=True, text=True).stdout
                assert "198.51.100.0/30" in listed
                return
        finally:
            for s in ("v4", "v6", "refl"):
                subprocess.run([ipset, "destroy", f"{name}-{s}"], capture_output=True)
        kernel_refused = "Operation not permitted" in r.stderr or "Kernel error" in r.stderr
        assert kernel_refused, r.stderr  # a syntax error would be a real failure
    import re

    bad = [line for line in text.splitlines() if not re.match(_RESTORE_LINE, line)]
    assert bad == [], "ipset restore unavailable here (no binary or no CAP_NET_ADMIN): grammar check only"


def test_hostile_report_cannot_inject(tmp_path):
    hostile = {"attacks": [
        {"vector": "http-flood", "target": TARGET, "top_sources": [{"ip": "1.2.3.4; flush ruleset"}, {"ip": "5.6.7.8"}]},
        {"vector": "dns-amplification\"; flush ruleset; #", "target": TARGET},
        {"vector": "dns-amplification", "target": "10.0.0.1 } ; flush ruleset"},
    ]}
    text = render(hostile, "nftables", [])
    assert "flush" not in text.replace("# ", "")
    f = tmp_path / "h.nft"
    f.write_text(text)
    assert subprocess.run(["nft", "-c", "-f", str(f)], capture_output=True).returncode == 0
    assert "5.6.7.8" in text


def test_allowlist_file_and_cli(report, tmp_path):
    allow = tmp_path / "allow.txt"
    allow.write_text("# our monitoring\n198.51.100.7\n192.0.2.0/24  # CDN\n\n")
    assert read_allowlist(allow) == ["198.51.100.7/32", "192.0.2.0/24"]
    rep = tmp_path / "report.json"
    rep.write_text(json.dumps(report))
    r = CliRunner().invoke(app, ["rules", str(rep), "--format", "nginx", "--allowlist", str(allow)])
    assert r.exit_code == 0, r.output
    assert "deny 198.51.100.0/30;" in r.output
    bad = tmp_path / "bad.txt"
    bad.write_text("not-a-cidr\n")
    r = CliRunner().invoke(app, ["rules", str(rep), "--allowlist", str(bad)])
    assert r.exit_code == 2 and "bad.txt:1" in r.output


def test_every_vector_of_a_multi_vector_attack_gets_its_rule(tmp_path):
    """One attack mixing a botnet HTTP flood, a spoofed SYN flood and a DNS reflection (as the
    generator makes them, analysed for real): bots blocked, SYNs limited, DNS source port
    dropped; the same attack twice (two waves) gives each rule once."""
    bots = [f"198.51.100.{i}" for i in range(20, 60)]  # 40 bots: more than the 20 top sources
    table = generate([Phase("http-flood", duration=20, rate=3000, target=TARGET, sources=bots),
                      Phase("syn-flood", duration=20, rate=8000, target=TARGET),
                      Phase("dns-amplification", duration=20, rate=2000, target=TARGET)], seed=5)
    attacks = analyze(table, "packets")["attacks"]
    vectors = {v["vector"] for a in attacks for v in a["vectors"]}
    assert {"http-flood", "syn-flood", "dns-amplification"} <= vectors
    for a in attacks:  # what the attribution step records for forged SYN sources (attacks[].attribution)
        a["attribution"] = {"spoofing_suspected": True}
    report = {"schema": "surgescope/report-v1", "attacks": attacks + attacks}
    p = plan(report, [])
    assert [(r["proto"], r["ports"]) for r in p["ports"]] == [("udp", [53])]
    assert {r["vector"] for r in p["limits"]} == {"syn-flood"}
    # Every bot the analysis saw flooding is blocked (not only the top 20), and no reflector is.
    listed = {ipaddress.ip_address(x) for a in attacks for x in a.get("block_sources", [])}
    assert len(listed) > 20 and listed <= {ipaddress.ip_address(b) for b in bots}
    assert all(any(ip in n for n in p["sources"]) for ip in listed)
    reflectors = {ipaddress.ip_address(x) for x in
                  table.filter(pa.compute.equal(table["src_port"], 53))["src_ip"].to_pylist()}
    assert reflectors and not any(ip in n for n in p["sources"] for ip in reflectors)
    text = render(report, "nftables", [])
    assert text.count('udp sport 53 drop') == 1
    f = tmp_path / "multi.nft"
    f.write_text(text)
    r = subprocess.run(["nft", "-c", "-f", str(f)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_direct_flood_from_real_addresses_blocks_every_source(tmp_path):
    """A UDP flood from 300 unforged bots (each sends many packets with its own TTL) lists all
    300 in block_sources (not only the 20 top sources) and the rules block them, aggregated into
    /24s where many share one; the spoofed SYN flood in the same attack adds none of its forged
    sources."""
    bots = [f"45.{60 + i // 250}.{(i % 250) // 10}.{i % 10 + 1}" for i in range(300)]
    table = generate([Phase("udp-flood", duration=20, rate=20_000, target=TARGET, sources=bots),
                      Phase("syn-flood", start=5, duration=10, rate=8000, target=TARGET)], seed=7)
    (attack,) = analyze(table, "packets")["attacks"]
    assert {v["vector"] for v in attack["vectors"]} == {"udp-flood", "syn-flood"}
    assert len(attack["top_sources"]) <= 20
    # all 300 bots, and none of the SYN flood's thousands of forged sources
    assert sorted(attack["block_sources"], key=ipaddress.ip_address) == sorted(bots, key=ipaddress.ip_address)
    attacks = [attack]
    p = plan({"attacks": attacks}, [])
    assert all(any(ipaddress.ip_address(b) in n for n in p["sources"]) for b in bots)
    assert len(p["sources"]) < 300  # aggregated: bots share /24s
    f = tmp_path / "udp.nft"
    f.write_text(render({"attacks": attacks}, "nftables", []))
    r = subprocess.run(["nft", "-c", "-f", str(f)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
