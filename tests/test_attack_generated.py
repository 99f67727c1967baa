"""Reflection services missing from the shared data, and legitimate bursts, on captures made
by the project's generator, written as pcap and read back by the project's pcap reader.

Truth here is the generator's input (which service, which vector), never the detector's output.
"""

import pytest

from surgescope.attack import analyze, reflection
from surgescope.simulate import SCENARIOS
from surgescope.simulate.packets import Phase, generate
from surgescope.simulate.pcapwriter import write
from surgescope.sources import open_input

TARGET = "10.10.10.10"


def roundtrip(tmp_path, table, name="t.pcap"):
    path = tmp_path / name
    write(table, path)
    inp = open_input(path)
    assert inp.format == "pcap" or inp.kind == "pcap"
    return inp.read_all()


@pytest.mark.parametrize("service", reflection.udp_services())
def test_every_reflection_service(tmp_path, service):
    row = reflection.service_row(service)
    table = generate(
        [
            Phase("normal", duration=6, rate=150, target=TARGET),
            Phase(row["vector"], start=3, duration=2, rate=400, target=TARGET, n_sources=80),
        ],
        seed=3,
    )
    (a,) = analyze(roundtrip(tmp_path, table), "packets")["attacks"]
    assert a["vector"] == row["vector"]
    assert a["reflected_service"]["port"] == row["port"]
    assert a["target"] == TARGET
    assert a["sources"] <= 80  # the reflector pool, not the browsers of the background
    # It started when the generator started it (3 s after the capture), within one window.
    assert a["start"].startswith("2025-03-10T10:00:0")
    assert "2025-03-10T10:00:03" <= a["start"] < "2025-03-10T10:00:04"


@pytest.mark.parametrize("vector", ["ack-flood", "rst-flood", "udp-flood", "icmp-flood", "ip-fragment", "tcp-reflection"])
def test_direct_floods(vector):
    table = generate(
        [Phase("normal", duration=6, rate=150, target=TARGET),
         Phase(vector, start=3, duration=2, rate=3000, target=TARGET)],
        seed=5,
    )
    (a,) = analyze(table, "packets")["attacks"]
    assert a["vector"] == vector


def test_botnet_http_flood_from_bots_only():
    bots = [f"198.51.100.{i}" for i in range(1, 41)]
    table = generate(
        [Phase("normal", duration=50, rate=300, target=TARGET),
         Phase("http-flood", start=5, duration=40, rate=8000, target=TARGET, sources=bots)],
        seed=9,
    )
    (a,) = analyze(table, "packets")["attacks"]
    assert a["vector"] == "http-flood"
    assert {s["ip"] for s in a["top_sources"]} <= set(bots)
    assert a["sources"] == len(bots)


def test_slowloris_is_slow_http_not_a_flood(tmp_path):
    attackers = ["203.0.113.7", "203.0.113.8", "198.51.100.20"]
    table = generate(
        [Phase("normal", duration=50, rate=300, target=TARGET),
         Phase("slow-http", start=10, duration=35, target=TARGET, sources=attackers)],
        seed=3,
    )
    (a,) = analyze(roundtrip(tmp_path, table), "packets")["attacks"]
    assert a["vector"] == "slow-http"
    assert {s["ip"] for s in a["top_sources"]} == set(attackers)
    assert "2025-03-10T10:00:10" <= a["start"] < "2025-03-10T10:00:11"


@pytest.mark.parametrize(
    ("vector", "rate"),
    # The rates of the CLI scenarios (SCENARIOS): ~100 Mbit/s download, ~190 Mbit/s speed
    # test, 20,000 packets/s of browsers; 12 s of each (the scenarios run 30 s).
    [("download", 8000), ("speedtest", 16000), ("flash-crowd", 20000)],
)
def test_no_false_alarm_on_legitimate_bursts(tmp_path, vector, rate):
    table = generate(
        [Phase("normal", duration=16, rate=300, target=TARGET),
         Phase(vector, start=2, duration=12, rate=rate, target=TARGET)],
        seed=2,
    )
    read = roundtrip(tmp_path, table)
    assert read.num_rows == table.num_rows
    assert analyze(read, "packets")["attacks"] == []


def test_scenarios_are_described():
    assert {"download", "speedtest", "flash-crowd", "botnet", "syn-flood", "normal"} <= set(SCENARIOS)
    assert all((fn.__doc__ or "").strip() for fn in SCENARIOS.values())


def test_multi_vector_waves_with_weighted_pools():
    """The demo's shape: HTTP flood from a weighted botnet pool in waves, then reflection and a
    spoofed SYN flood; each vector is found with its own sources."""
    bots = [f"203.0.113.{i}" for i in range(1, 21)]
    table = generate(
        [
            Phase("normal", duration=50, rate=200, target=TARGET),
            Phase("http-flood", start=2, duration=46, rate=4000, target=TARGET, sources=bots,
                  weights=list(range(1, 21)), wave=(20.0, 0.5)),
            Phase("ntp-amplification", start=15, duration=10, rate=1000, target=TARGET),
            Phase("syn-flood", start=32, duration=10, rate=1000, target=TARGET),
        ],
        seed=11,
    )
    attacks = analyze(table, "packets")["attacks"]
    assert len(attacks) == 1
    vectors = {v["vector"]: v for v in attacks[0]["vectors"]}
    assert set(vectors) == {"http-flood", "ntp-amplification", "syn-flood"}
    assert "2025-03-10T10:00:15" <= vectors["ntp-amplification"]["start"] < "2025-03-10T10:00:16"
    assert "2025-03-10T10:00:32" <= vectors["syn-flood"]["start"] < "2025-03-10T10:00:33"
    # The heaviest-weighted bot leads the HTTP flood's sources.
    assert attacks[0]["top_sources"][0]["ip"] in bots[-5:]


def test_access_log_flood_from_slow_bots(tmp_path):
    """Access logs (the project's log generator): 200 bots, each only ~0.55 requests/s but
    repeating a few paths, during 15 minutes of six hours; the bots are the sources found."""
    from surgescope.simulate.accesslog import Flood
    from surgescope.simulate.accesslog import generate as generate_log

    path = tmp_path / "access.log"
    g = generate_log(path, 200_000, seed=1, floods=[Flood(start_s=3600, duration_s=900, share=0.5, bots=200)])
    (a,) = analyze(open_input(path).read_all(), "requests")["attacks"]
    assert a["vector"] == "http-flood"
    bots = set(g.bots[0])
    assert len({s["ip"] for s in a["top_sources"]} & bots) >= 15  # of the top 20
    assert abs(a["requests"] - g.flood_lines[0]) < 0.02 * g.flood_lines[0]
    assert "2025-03-10T09:59" <= a["start"] < "2025-03-10T10:01"  # the flood began at 10:00
    assert any("5xx/429" in n for n in a["notes"])


def test_real_access_log_no_attack(datasets):
    table = open_input(datasets / "logs/elastic-apache/apache_logs").read_all()
    assert table.num_rows == 10_000  # SOURCES.md
    assert analyze(table, "requests")["attacks"] == []


def test_busy_access_log_without_flood_is_quiet(tmp_path):
    """600,000 ordinary lines in six hours (~28 requests/s, above the 20/s HTTP floor), Zipf
    activity so a few clients are very busy: no attack."""
    from surgescope.simulate.accesslog import generate as generate_log

    path = tmp_path / "busy.log"
    generate_log(path, 600_000, seed=2)
    assert analyze(open_input(path).read_all(), "requests")["attacks"] == []
