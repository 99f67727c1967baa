"""Slow HTTP (slowloris, slow POST) from access logs and flow records.

Truth is the generators' input (which clients attack, when, how many lines they wrote) and the
files' own text (408 lines counted with a regular expression on the raw log), never the
detector's output. The real CIC-IDS2017 flow files keep their verdicts (DDoS, Hulk, GoldenEye:
http-flood; BENIGN: nothing) in tests/test_attack_real.py, which runs the same analysis.
"""

import json
import re

from textgen import cicflowmeter_rows, slowloris_cic, slowloris_conns, web_conns, write, zeek_tsv

from surgescope.attack import analyze, slow_http
from surgescope.attack.features import as_frame
from surgescope.simulate.accesslog import SlowClients, generate
from surgescope.sources import open_input

T0 = 1741600800.0  # 2025-03-10T10:00:00Z
WINDOW = SlowClients(start_s=3600, duration_s=1200, share=0.1)  # 10:00 to 10:20 of a 09:00 log


def log_attacks(path, **options):
    inp = open_input(path, **options)
    assert inp.kind == "access-log"
    return analyze(inp.read_all(), "requests")["attacks"]


def test_slowloris_log_with_durations(tmp_path):
    """nginx JSON log with $request_time: 300 clients whose requests end at the 60 s timeout."""
    path = tmp_path / "slow.json.log"
    g = generate(path, 60_000, seed=4, fmt="json", duration_s=7200, clients=5_000, slow=[WINDOW])
    (a,) = log_attacks(path)
    assert a["vector"] == "slow-http"
    assert [v["vector"] for v in a["vectors"]] == ["slow-http"]
    assert a["target"] == "x.example"  # the generator's host
    # Every slow line and nothing else: ordinary lines last under 1 s and are never 408.
    assert a["requests"] == g.slow_lines[0]
    assert {s["ip"] for s in a["top_sources"]} <= set(g.slow_clients[0])
    assert a["sources"] <= 300
    # every slow client can be blocked (they completed connections), not only the top 20
    assert len(a["block_sources"]) == a["sources"] > 20 and set(a["block_sources"]) <= set(g.slow_clients[0])
    assert "2025-03-10T10:00:00" <= a["start"] < "2025-03-10T10:00:10"
    assert "2025-03-10T10:19:50" <= a["end"] <= "2025-03-10T10:20:00"
    # The attack is slow, not a flood: ~5 lines/s in all, ~0.02/s per client.
    assert a["peak_rps"] < 20
    assert any("cluster at 60 s" in n for n in a["notes"])
    # 300 clients each holding about one connection per 60 s: about 300 open at once.
    assert 250 <= a["concurrent_connections"] <= 400


def test_slowloris_log_without_durations(tmp_path):
    """Combined format (no request time): the 408s from the attacking clients are the trace."""
    path = tmp_path / "slow.log"
    g = generate(path, 60_000, seed=4, fmt="combined", duration_s=7200, clients=5_000, slow=[WINDOW])
    text = path.read_text()
    n408 = len(re.findall(r'" 408 ', text))
    assert 0.8 * g.slow_lines[0] <= n408 < g.slow_lines[0]  # 10 % of slow lines are 499s
    (a,) = log_attacks(path)
    assert a["vector"] == "slow-http"
    assert a["requests"] == n408
    assert "2025-03-10T10:00:00" <= a["start"] < "2025-03-10T10:00:10"
    assert a["concurrent_connections"] is None


def test_slow_post_in_a_custom_nginx_log_format(tmp_path):
    """Slow POST (R.U.D.Y.-style bodies trickled to /login) from 50 clients, in combined plus
    ``$request_time`` read with that nginx ``log_format``."""
    from surgescope.simulate.accesslog import TIMED_LOG_FORMAT

    path = tmp_path / "timed.log"
    g = generate(path, 60_000, seed=5, fmt="timed", duration_s=7200, clients=5_000,
                 slow=[SlowClients(start_s=3600, duration_s=1200, share=0.05, clients=50, method="POST",
                                   paths=("/login",))])
    assert path.read_text().splitlines()[0].count('"') == 6  # combined's quotes, then the time
    (a,) = log_attacks(path, log_format=TIMED_LOG_FORMAT)
    assert a["vector"] == "slow-http"
    assert a["requests"] == g.slow_lines[0]
    assert {s["ip"] for s in a["top_sources"]} <= set(g.slow_clients[0])
    assert "2025-03-10T10:00:00" <= a["start"] < "2025-03-10T10:00:10"


def test_slow_read_from_five_clients(tmp_path):
    """Slow read: five clients each keep ~28 downloads open, reading 12 kB in 120 s (100 B/s)
    until the server's send timeout; status 200, so only the byte rate marks them."""
    path = tmp_path / "read.json.log"
    g = generate(path, 60_000, seed=7, fmt="json", duration_s=7200, clients=5_000,
                 slow=[SlowClients(start_s=3600, duration_s=1200, share=0.02, clients=5, status=200, body_bytes=12_000,
                                   timeout_s=120, cut_share=0, paths=("/media/intro.mp4",))])
    (a,) = log_attacks(path)
    assert a["vector"] == "slow-http"
    assert a["requests"] == g.slow_lines[0]
    assert {s["ip"] for s in a["top_sources"]} == set(g.slow_clients[0])
    assert a["bytes"] == 12_000 * g.slow_lines[0]


def test_few_concentrated_clients_on_a_busy_site(tmp_path):
    """Three slowloris hosts (about 0.7 lines/s each) under 40 ordinary requests/s: found by
    their own concentration (many slow requests each), not by their share of the traffic."""
    path = tmp_path / "busy.json.log"
    g = generate(path, 300_000, seed=6, fmt="json", duration_s=7200, clients=20_000,
                 slow=[SlowClients(start_s=3600, duration_s=1200, share=0.008, clients=3)])
    table = open_input(path).read_all()
    recs = slow_http.slow_requests(as_frame(table))
    clients = slow_http.slow_clients(recs, "requests")
    attackers = clients.filter("attacker")
    assert set(attackers.filter("concentrated")["src_ip"]) == set(g.slow_clients[0])
    (a,) = analyze(table, "requests")["attacks"]
    assert a["vector"] == "slow-http"
    assert [s["ip"] for s in a["top_sources"]] and {s["ip"] for s in a["top_sources"]} == set(g.slow_clients[0])
    assert a["requests"] == g.slow_lines[0]


def test_slow_attack_during_a_flood_is_one_attack(tmp_path):
    """A flood (200 bots, 15 min) and a slow attack (300 other clients, from 5 min earlier to 5
    min later) on one site: one attack with both vectors, shares from the generator's lines."""
    from surgescope.simulate.accesslog import Flood

    path = tmp_path / "both.json.log"
    g = generate(path, 200_000, seed=1, fmt="json", floods=[Flood(start_s=3600, duration_s=900, share=0.3, bots=200)],
                 slow=[SlowClients(start_s=3300, duration_s=1500, share=0.03, clients=300)])
    (a,) = log_attacks(path)
    assert a["vector"] == "http-flood"
    vec = {v["vector"]: v for v in a["vectors"]}
    assert set(vec) == {"http-flood", "slow-http"}
    assert vec["slow-http"]["packets"] == g.slow_lines[0]
    truth = g.slow_lines[0] / (g.slow_lines[0] + g.flood_lines[0])
    assert abs(vec["slow-http"]["share"] - truth) < 0.01
    assert "2025-03-10T09:55:00" <= a["start"] < "2025-03-10T09:55:10"  # the slow attack's start
    assert 480 <= a["sources"] <= 520  # 200 bots + 300 slow clients (+ a few busy browsers)


def test_normal_log_with_slow_downloads_is_quiet(tmp_path):
    """Ordinary traffic plus long requests that are not an attack: large downloads (long, with
    big bodies), long-polling clients (one request open at a time) and a few browsers' 408s
    (preconnected sockets never used)."""
    path = tmp_path / "normal.json.log"
    generate(path, 40_000, seed=8, fmt="json", duration_s=7200, clients=3_000)

    def line(t, ip, status, size, rt, req="GET /download/big.iso HTTP/1.1"):
        return json.dumps({"time_iso8601": f"2025-03-10T{t}+00:00", "remote_addr": ip, "request": req,
                           "status": str(status), "body_bytes_sent": str(size), "request_time": f"{rt:.3f}",
                           "http_user_agent": "Mozilla/5.0", "host": "x.example"}) + "\n"

    extra = []
    for i in range(40):  # downloads of 20-200 MB taking 30-120 s
        extra.append(line(f"10:{i:02d}:30", f"198.18.0.{i % 10}", 200, (20 + 4 * i) * 1_000_000, 30 + 2 * i))
    for c in range(5):  # long polls: 30 s each, back to back, 40 per client
        for k in range(40):
            extra.append(line(f"10:{k // 2:02d}:{(k % 2) * 30:02d}", f"198.18.1.{c}", 200, 48, 30.0,
                              req="GET /api/poll HTTP/1.1"))
    for i in range(30):  # preconnects closed at the timeout by 30 browsers
        extra.append(line(f"11:{i:02d}:00", f"198.18.2.{i}", 408, 0, 60.0, req="-"))
    with path.open("a") as f:
        f.writelines(extra)
    inp = open_input(path)
    table = inp.read_all()
    assert inp.rejections.count == 0 and table.num_rows == 40_000 + len(extra)
    assert analyze(table, "requests")["attacks"] == []


def test_slowloris_flows_from_few_sources(tmp_path):
    """Zeek conn.log: three hosts keep 150 connections each open to port 80 for eight timeout
    cycles (60 s, nothing answered) among 4,000 ordinary web connections and 10 long downloads.
    The heavy-client rule also sees these hosts open many connections; the merge makes the
    attack slow HTTP, not a flood plus a duplicate."""
    attackers = ["203.0.113.7", "203.0.113.8", "203.0.113.9"]
    conns = web_conns(4000, T0, 1800, long_downloads=10) + slowloris_conns(attackers, 150, T0 + 600, cycles=8)
    conns.sort(key=lambda c: float(c["ts"]))
    inp = open_input(write(tmp_path / "conn.log", zeek_tsv(conns)))
    table = inp.read_all()
    assert inp.format == "zeek" and inp.rejections.count == 0
    (a,) = analyze(table, "flows")["attacks"]
    assert a["vector"] == "slow-http"
    assert a["target"] == "192.0.2.80"
    assert {s["ip"] for s in a["top_sources"]} == set(attackers)
    assert a["flows"] == 3 * 150 * 8
    slow = [v for v in a["vectors"] if v["vector"] == "slow-http"][0]
    assert slow["share"] == 1.0  # all of the attack's traffic is the slow connections
    assert a["target_ports"][0]["port"] == 80
    # Opened from 10:10:00 (plus up to 5 s), the last cycle closed at about 10:18:13.
    assert "2025-03-10T10:10:00" <= a["start"] < "2025-03-10T10:10:05"
    assert "2025-03-10T10:18:00" <= a["end"] < "2025-03-10T10:18:20"
    assert a["concurrent_connections"] == 450


def test_slowloris_cicflowmeter_rows_among_real_benign_flows(tmp_path, datasets):
    """CIC-IDS2017 has DoS Slowloris and Slowhttptest classes but the shared sample has none:
    600 slowloris flows written like CICFlowMeter's (the real header, payload byte counts) from
    the testbed's NAT address, appended to the real BENIGN_5000.csv sample (Wednesday
    12:47-13:10 UTC, when CIC-IDS2017 ran slowloris). The benign flows stay quiet."""
    real = datasets / "flows/cicids2017-improved/BENIGN_5000.csv"
    text = real.read_text()
    header = text.splitlines()[0].split(",")
    rows = slowloris_cic(600, "2017-07-05 12:47:00", 23 * 60)
    path = write(tmp_path / "benign_plus_slowloris.csv", text + ("" if text.endswith("\n") else "\n")
                 + cicflowmeter_rows(header, rows))
    inp = open_input(path)
    table = inp.read_all()
    assert inp.format == "cicflowmeter" and inp.rejections.count == 0 and table.num_rows == 5000 + 600
    (a,) = analyze(table, "flows")["attacks"]
    assert a["vector"] == "slow-http"
    assert (a["target"], a["top_sources"][0]["ip"], a["sources"]) == ("192.168.10.50", "172.16.0.1", 1)
    assert a["flows"] == 600
    assert "2017-07-05T12:47:00" <= a["start"] < "2017-07-05T12:47:10"
    assert "2017-07-05T13:09:00" <= a["end"] <= "2017-07-05T13:12:00"  # last start + up to 120 s


def test_long_normal_flows_are_quiet(tmp_path):
    conns = web_conns(4000, T0, 1800, long_downloads=30)
    table = open_input(write(tmp_path / "conn.log", zeek_tsv(conns))).read_all()
    assert analyze(table, "flows")["attacks"] == []


def test_merge_moves_the_slow_records_out_of_the_flood():
    """Hand-made attack dicts: a flood of 1,000 requests, 300 of them from the slow client
    203.0.113.7, which the slow phase counts with 400 requests (100 outside the flood's
    span). Expected by hand: flood 700, slow 400, total 1,100."""
    flood = {"start": "2025-03-10T10:00:00Z", "end": "2025-03-10T10:10:00Z", "vector": "http-flood",
             "target": "site", "packets": None, "requests": 1000, "bytes": 10_000, "sources": 20,
             "vectors": [{"vector": "http-flood", "share": 1.0, "packets": 1000, "bytes": 10_000}],
             "top_sources": [{"ip": "203.0.113.7", "packets": 300, "bytes": 0},
                             {"ip": "198.51.100.1", "packets": 700, "bytes": 10_000}], "notes": []}
    slow = {"start": "2025-03-10T10:05:00Z", "end": "2025-03-10T10:15:00Z", "vector": "slow-http",
            "target": "site", "packets": None, "requests": 400, "bytes": 0, "sources": 1,
            "vectors": [{"vector": "slow-http", "share": 1.0, "packets": 400, "bytes": 0}],
            "top_sources": [{"ip": "203.0.113.7", "packets": 400, "bytes": 0}], "notes": ["slow"],
            "concurrent_connections": 50}
    other = dict(slow, target="other.example")
    out = slow_http.merge([flood], [slow, other])
    assert len(out) == 2
    m = out[0]
    assert m["vector"] == "http-flood"
    shares = {v["vector"]: (v["packets"], v["share"]) for v in m["vectors"]}
    assert shares == {"http-flood": (700, round(700 / 1100, 6)), "slow-http": (400, round(400 / 1100, 6))}
    assert m["requests"] == 1100 and m["sources"] == 20
    assert (m["start"], m["end"]) == ("2025-03-10T10:00:00Z", "2025-03-10T10:15:00Z")
    assert out[1]["target"] == "other.example" and out[1]["vector"] == "slow-http"
