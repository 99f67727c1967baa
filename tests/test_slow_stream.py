"""Slow HTTP in a stream (surgescope.attack.slow_stream): the batch definition on a buffer.

Truth: the generators' input (when the slow clients start and stop) and the batch analysis of
the same file (tests/test_slow_http.py checks that one against the generators), never the
stream's own output.
"""

from datetime import datetime

import polars as pl
from textgen import cicflowmeter_rows, slowloris_cic, slowloris_conns, web_conns, write, zeek_tsv

from surgescope.attack import analyze
from surgescope.attack.slow_stream import SlowStream
from surgescope.simulate.accesslog import SlowClients, generate
from surgescope.sources import open_input

T0 = 1741600800.0  # 2025-03-10T10:00:00Z


def stream(table, name: str, slice_s: float = 10.0) -> list[dict]:
    """Feed ``table`` in slices of ``slice_s`` of its own time, as a replay does."""
    df = pl.from_arrow(table).sort("ts")
    s = SlowStream(name)
    events = []
    cuts = df.with_columns(pl.col("ts").dt.truncate(f"{int(slice_s)}s").alias("slice")).partition_by("slice", maintain_order=True)
    for part in cuts:
        events += s.feed(part.drop("slice"))
    return events + s.close()


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def test_slowloris_log_starts_and_ends_like_the_batch_attack(tmp_path):
    """nginx JSON log with $request_time, 300 slowloris clients from 10:00 to 10:20."""
    path = tmp_path / "slow.json.log"
    generate(path, 60_000, seed=4, fmt="json", duration_s=7200, clients=5_000,
             slow=[SlowClients(start_s=3600, duration_s=1200, share=0.1)])
    table = open_input(path).read_all()
    (batch,) = analyze(table, "requests")["attacks"]
    events = stream(table, "requests")
    assert [(e["event"], e["vector"], e["dst"]) for e in events] == [
        ("start", "slow-http", "x.example"), ("end", "slow-http", "x.example")]
    start, end = events
    # Alerted once the thresholds were met: within two minutes of the first slow line (they
    # come when connections time out, 60 s after they opened).
    assert batch["start"] <= iso(start["window"]) < "2025-03-10T10:02:00"
    # Ended one phase gap (300 s) after the last slow line, with the batch attack's figures.
    assert "2025-03-10T10:24:50" <= iso(end["window"]) <= "2025-03-10T10:25:10"
    a = end["attack"]
    assert (a["start"], a["end"], a["requests"], a["sources"]) == (batch["start"], batch["end"], batch["requests"], batch["sources"])


def test_normal_log_with_slow_downloads_is_quiet(tmp_path):
    path = tmp_path / "normal.json.log"
    generate(path, 40_000, seed=8, fmt="json", duration_s=7200, clients=3_000)
    assert stream(open_input(path).read_all(), "requests") == []


def test_slowloris_flows_and_quiet_real_benign_flows(tmp_path, datasets):
    """Zeek conn.log with three slowloris hosts among ordinary web connections; then the real
    CIC-IDS2017 BENIGN sample, alone and with 600 slowloris rows appended."""
    attackers = ["203.0.113.7", "203.0.113.8", "203.0.113.9"]
    conns = web_conns(4000, T0, 1800, long_downloads=10) + slowloris_conns(attackers, 150, T0 + 600, cycles=8)
    conns.sort(key=lambda c: float(c["ts"]))
    table = open_input(write(tmp_path / "conn.log", zeek_tsv(conns))).read_all()
    events = stream(table, "flows")
    assert [(e["event"], e["dst"]) for e in events] == [("start", "192.0.2.80"), ("end", "192.0.2.80")]
    assert {s["ip"] for s in events[1]["attack"]["top_sources"]} == set(attackers)

    real = datasets / "flows/cicids2017-improved/BENIGN_5000.csv"
    assert stream(open_input(real).read_all(), "flows") == []
    text = real.read_text()
    header = text.splitlines()[0].split(",")
    mixed = write(tmp_path / "benign_plus_slowloris.csv", text + ("" if text.endswith("\n") else "\n")
                  + cicflowmeter_rows(header, slowloris_cic(600, "2017-07-05 12:47:00", 23 * 60)))
    events = stream(open_input(mixed).read_all(), "flows")
    assert [(e["event"], e["dst"]) for e in events] == [("start", "192.168.10.50"), ("end", "192.168.10.50")]


def test_slices_a_little_out_of_order_give_the_same_events(tmp_path):
    """Logs are written when requests end, so lines come a little out of time order: feeding
    each pair of 10 s slices in swapped order changes neither the events nor the figures."""
    path = tmp_path / "slow.json.log"
    generate(path, 30_000, seed=5, fmt="json", duration_s=3600, clients=2_000,
             slow=[SlowClients(start_s=600, duration_s=900, share=0.1)])
    df = pl.from_arrow(open_input(path).read_all()).sort("ts")
    parts = df.with_columns(pl.col("ts").dt.truncate("10s").alias("s")).partition_by("s", maintain_order=True)
    swapped = [p for i in range(0, len(parts), 2) for p in reversed(parts[i:i + 2])]
    runs = []
    for order in (parts, swapped):
        s = SlowStream("requests")
        events = [e for p in order for e in s.feed(p.drop("s"))] + s.close()
        runs.append([(e["event"], e["dst"], e["attack"]["start"], e["attack"]["requests"]) for e in events])
    assert [r[0] for r in runs[0]] == ["start", "end"]
    assert runs[0][-1] == runs[1][-1]  # the end's figures: the whole attack, whatever the order
    assert [r[:2] for r in runs[0]] == [r[:2] for r in runs[1]]
