"""Streaming replay: alerts as they fire, their latency, pacing, and the CLI.

The latency case is the one the issue asks for: 60 s of generated normal traffic, then a real
attack capture retimed to follow it, starting mid-window. The first attack packet's time is
known from the retiming (not from the detector).
"""

import json
import time
from datetime import datetime, timedelta

import polars as pl
import pytest
from typer.testing import CliRunner

from surgescope.attack.watch import replay
from surgescope.cli import app
from surgescope.simulate.packets import Phase, generate
from surgescope.simulate.pcapwriter import write
from surgescope.sources import open_input


def prefixed(tmp_path, datasets, capture: str, normal_s: float = 60.0) -> tuple:
    """(pcap path, first attack packet time): normal traffic then the real capture."""
    real = pl.from_arrow(open_input(datasets / "pcap" / capture).read_all())
    normal = pl.from_arrow(generate([Phase("normal", duration=normal_s, rate=400, target="10.10.10.10")], seed=5))
    first = normal["ts"].min() + timedelta(seconds=normal_s + 0.37)
    real = real.with_columns((pl.col("ts") - real["ts"].min() + first).cast(pl.Datetime("ns", "UTC")))
    path = tmp_path / "prefixed.pcap"
    write(pl.concat([normal, real]).sort("ts").to_arrow(), path, snaplen=128)
    return path, first


def t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize(
    ("capture", "vector"),
    [("stopddos/pkt.TCP.synflood.spoofed.pcap", "syn-flood"), ("stopddos/amp.TCP.reflection.SYNACK.pcap", "tcp-reflection")],
)
def test_start_alert_within_one_second(tmp_path, datasets, capture, vector):
    path, first = prefixed(tmp_path, datasets, capture)
    alerts = list(replay(path, speed=0))
    assert [a["event"] for a in alerts][0] == "start"  # nothing fired during the normal minute
    start = alerts[0]
    assert start["vector"] == vector and start["dst"] == "10.10.10.10"
    latency = (t(start["replay_time"]) - first).total_seconds()
    assert 0 <= latency < 1.0
    assert alerts[-1]["event"] == "end"
    assert alerts[-1]["top_sources"] and alerts[-1]["heavy_hitter_bound"] >= 0


def test_paced_replay_keeps_the_capture_clock(tmp_path):
    table = generate([Phase("normal", duration=3, rate=100), Phase("syn-flood", start=2, duration=1, rate=1500)], seed=1)
    path = tmp_path / "p.pcap"
    write(table, path)
    t0 = time.monotonic()
    alerts = list(replay(path, speed=3.0))
    wall = time.monotonic() - t0
    assert wall >= 3 / 3 * 0.9  # 3 s of traffic at 3x takes about 1 s, never less
    start = next(a for a in alerts if a["event"] == "start")
    assert start["vector"] == "syn-flood"
    # The replay clock is on the capture's time axis: at or after the flood's start (2 s).
    assert t(start["replay_time"]) >= t("2025-03-10T10:00:02Z")


def test_flow_replay_finds_the_http_flood(datasets):
    alerts = list(replay(datasets / "flows/cicids2017-improved/DDoS_5000.csv", speed=0))
    assert [(a["event"], a["vector"]) for a in alerts] == [("start", "http-flood"), ("end", "http-flood")]
    assert alerts[-1]["top_sources"][0]["ip"] == "172.16.0.1"  # SOURCES.md: the attacking NAT address


def test_benign_flows_raise_nothing(datasets):
    assert list(replay(datasets / "flows/cicids2017-improved/BENIGN_5000.csv", speed=0)) == []


@pytest.mark.parametrize(
    ("capture", "vector"),
    # The SYN-ACK capture also holds a few non-IP frames (no addresses): they are skipped.
    [("amp.UDP.snmp.src161.pcapng", "snmp-amplification"), ("amp.TCP.reflection.SYNACK.pcap", "tcp-reflection")],
)
@pytest.mark.parametrize("every", [None, "0"])
def test_cli_watch_prints_json_lines(datasets, capture, vector, every):
    """Early alerts (default) and bulk mode (``--eval-every 0``) both from the command line."""
    more = ["--eval-every", every] if every else []
    r = CliRunner().invoke(app, ["watch", str(datasets / "pcap/stopddos" / capture), "--speed", "0", *more])
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in r.output.splitlines()]
    assert [x["event"] for x in lines] == ["start", "end"]
    assert lines[0]["vector"] == vector
    assert all(s["ip"] for s in lines[-1]["top_sources"])


def test_cli_watch_bad_input(tmp_path):
    f = tmp_path / "x.bin"
    f.write_bytes(b"\x00garbage" * 20)
    r = CliRunner().invoke(app, ["watch", str(f), "--speed", "0"])
    assert r.exit_code == 2 and "Traceback" not in r.output


def _tshark_epochs(path) -> tuple[float, float]:
    """First and last frame times of a capture, from tshark (independent of our reader)."""
    import subprocess

    out = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-e", "frame.time_epoch"],
                         capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), float(out[-1])


@pytest.mark.parametrize("capture", ["amp.dns.RRSIG.fragmented.pcap", "pkt.TCP.synflood.spoofed.pcap"])
def test_early_and_bulk_modes_agree(datasets, capture):
    """As fast as possible, early alerts (the filling window evaluated every 0.1 s) and bulk
    mode (windows evaluated when they close) report the same attack: same vector, same start
    and end windows, and the same on a second run (the fragmented capture's later fragments
    once made the early mode close its attack 4 s late, and their order varied run to run)."""
    path = datasets / "pcap/stopddos" / capture
    first, last = _tshark_epochs(path)

    def events(every: float) -> list[tuple]:
        return [(a["event"], a["vector"], a["window"], a.get("start"), a.get("end"))
                for a in replay(path, speed=0, eval_every_s=every)]

    early, bulk = events(0.1), events(0.0)
    assert early == bulk == events(0.1)
    vector = "dns-amplification" if "dns" in capture else "syn-flood"
    assert [(e[0], e[1]) for e in early] == [("start", vector), ("end", vector)]
    # The capture is attack traffic from its first packet: the attack starts with it.
    start, end = t(early[-1][3]).timestamp(), t(early[-1][4]).timestamp()
    assert start == int(first) and end <= int(last) + 1


def test_bulk_batches_start_small(tmp_path, monkeypatch):
    """As fast as possible, the detector's first batch is BULK_FIRST records, the next ones
    double up to BULK_ROWS (it starts before the reader has a full batch); in bulk mode the
    events, their windows and vectors are those of whole batches, only the alert times (the
    end of the batch that fired) move."""
    from surgescope.attack import watch

    frames = [pl.DataFrame({"i": range(k * 10, k * 10 + 10)}) for k in range(20)]
    sizes = [f.height for f in watch._gathered(iter(frames), 60, 15)]
    assert sizes == [20, 30, 60, 60, 30] and sum(sizes) == 200
    assert pl.concat(list(watch._gathered(iter(frames), 60, 15)))["i"].to_list() == list(range(200))
    p = str(tmp_path / "m.pcap")
    write(generate([Phase("normal", duration=6, rate=2000), Phase("syn-flood", start=2, duration=2, rate=20000),
                    Phase("dns-amplification", start=3, duration=2, rate=20000)], seed=2), p)

    frames, sizes = watch._frames, []

    def small(batches, columns=None):  # reader batches of 2,000 records, so that gathering them matters
        for df in frames(batches, columns):
            yield from (df.slice(a, 2_000) for a in range(0, df.height, 2_000))

    feed = watch.StreamDetector.feed_batch

    def counted(self, df, ends, *args, **kwargs):
        sizes.append(df.height)
        return feed(self, df, ends, *args, **kwargs)

    monkeypatch.setattr(watch, "_frames", small)
    monkeypatch.setattr(watch.StreamDetector, "feed_batch", counted)
    monkeypatch.setattr(watch, "BULK_ROWS", 20_000)

    def alerts(first: int) -> list[tuple]:
        monkeypatch.setattr(watch, "BULK_FIRST", first)
        sizes.clear()
        out = [(a["event"], a["vector"], a["vectors"], a["window"], a.get("start"), a.get("end"))
               for a in replay(p, speed=0, eval_every_s=0)]
        return out, list(sizes)

    (ramped, ramp), (whole, flat) = alerts(5_000), alerts(20_000)
    assert 5_000 <= ramp[0] < ramp[1] < 20_000 <= ramp[2] and min(flat[:-1]) >= 20_000 and len(ramp) > len(flat)
    assert ramped == whole
    assert [a[0] for a in ramped][:2] == ["start", "vector-change"] and ramped[-1][0] == "end"


def test_bulk_tables_computed_ahead_are_the_detectors(tmp_path, datasets, monkeypatch):
    """In bulk mode the window tables of the windows each batch closes are computed on a
    thread ahead of the detector (watch._tables_ahead): the detector's own thread then makes
    only the last window's (at the end of input), and the alerts, top sources included, are
    those it makes when it computes every table itself."""
    import threading

    from surgescope.attack import features, watch

    p = str(tmp_path / "m.pcap")
    write(generate([Phase("normal", duration=6, rate=2000), Phase("syn-flood", start=2, duration=2, rate=20000),
                    Phase("dns-amplification", start=3, duration=2, rate=20000)], seed=2), p)
    monkeypatch.setattr(watch, "BULK_FIRST", 20_000)
    monkeypatch.setattr(watch, "BULK_ROWS", 40_000)
    tables, threads = features.window_tables, []

    def counted(*a, **k):
        threads.append(threading.current_thread() is threading.main_thread())
        return tables(*a, **k)

    monkeypatch.setattr(features, "window_tables", counted)

    def alerts() -> list[dict]:
        threads.clear()
        return [{k: v for k, v in a.items() if k != "elapsed_s"} for a in replay(p, speed=0, eval_every_s=0)]

    ahead, in_main = alerts(), list(threads)
    monkeypatch.setattr(watch, "_tables_ahead", lambda items, det: ((df, cl, None) for df, cl, _ in items))
    assert ahead == alerts()
    assert in_main.count(True) == 1 and in_main.count(False) >= 3 and threads.count(True) == len(threads)
    assert ahead[-1]["event"] == "end" and ahead[-1]["top_sources"]


@pytest.mark.parametrize("capture", ["stopddos/amp.TCP.reflection.SYNACK.pcap", "cic-ddos2019/CIC-DDoS-2019-SynFlood.pcap"])
def test_batch_feed_matches_slice_by_slice_feed(tmp_path, datasets, capture, monkeypatch):
    """As fast as possible, replay hands each reader batch to ``feed_batch`` in one call; it
    must fire what feeding the same 0.1 s slices one by one through ``feed`` fires (the
    paced path), with the same heavy hitters when an attack ends."""
    from surgescope.attack.watch import StreamDetector
    from surgescope.incident import iso

    path, _ = prefixed(tmp_path, datasets, capture, normal_s=5)
    # Slice by slice, each evaluation of the filling window is made on the spot; the fast
    # path makes a batch's evaluations in one pass, and on the spot only those where it
    # guessed the tracker's state wrong.
    spot = []
    on_the_spot = StreamDetector._partial

    def counted(self, elapsed):
        spot.append(elapsed)
        return on_the_spot(self, elapsed)

    monkeypatch.setattr(StreamDetector, "_partial", counted)
    inp = open_input(path)
    det = StreamDetector(inp.table)
    slow: list[tuple] = []
    t0 = None
    for batch in inp.batches():
        df = pl.from_arrow(batch)
        t0 = df["ts"][0] if t0 is None else t0
        tick = ((pl.col("ts") - t0).dt.total_nanoseconds() // 100_000_000).alias("tick")
        for part in df.with_columns(tick).partition_by("tick", maintain_order=True, include_key=False):
            for e in det.feed(part):
                top = [(s["ip"], int(s["count"])) for s in det.sources.top(10)] if e["event"] == "end" else None
                slow.append((e["event"], e["vector"], iso(e["window"]), top))
    slow += [(e["event"], e["vector"], iso(e["window"]), [(s["ip"], int(s["count"])) for s in det.sources.top(10)])
             for e in det.close()]
    evaluations = len(spot)
    spot.clear()
    fast = [(a["event"], a["vector"], a["window"], [(s["ip"], s["packets"]) for s in a["top_sources"]] if a["event"] == "end" else None)
            for a in replay(path, speed=0, min_slice=1)]
    assert fast == slow
    assert [e[0] for e in fast] == ["start", "end"]
    assert len(spot) < 0.1 * evaluations, (len(spot), evaluations)


@pytest.mark.parametrize("speed", [0, 20_000])
def test_log_replay_alerts_slow_http(tmp_path, speed):
    """A slowloris in an nginx JSON log (300 clients, 10:00-10:20): the replay alerts its start
    once the evidence is in and its end one phase gap after the last slow line, with the batch
    analysis's figures; as fast as possible and paced."""
    from surgescope.attack import analyze
    from surgescope.simulate.accesslog import SlowClients, generate

    path = tmp_path / "slow.json.log"
    generate(path, 60_000, seed=4, fmt="json", duration_s=7200, clients=5_000,
             slow=[SlowClients(start_s=3600, duration_s=1200, share=0.1)])
    (batch,) = analyze(open_input(path).read_all(), "requests")["attacks"]
    alerts = list(replay(path, speed=speed))
    assert [(a["event"], a["vector"]) for a in alerts] == [("start", "slow-http"), ("end", "slow-http")]
    start, end = alerts
    assert batch["start"] <= start["packet_time"] < "2025-03-10T10:40:00"
    assert (end["start"], end["end"], end["requests"]) == (batch["start"], batch["end"], batch["requests"])
    json.dumps(alerts)  # JSON lines as printed by `surgescope watch`


def test_slow_records_made_per_batch_are_those_made_per_piece(tmp_path, datasets, monkeypatch):
    """As fast as possible, the slow-HTTP records of a reader batch are made at once and cut
    into the stream's time steps: the alerts are those of records made piece by piece (a
    generated slowloris log, a real flow export with its slow DoS)."""
    from surgescope.attack.slow_stream import SlowStream
    from surgescope.simulate.accesslog import SlowClients, generate

    log = tmp_path / "slow.log"
    generate(log, 30_000, seed=5, duration_s=3600, clients=2_000, slow=[SlowClients(start_s=1200, duration_s=900, share=0.1)])
    flows = datasets / "flows/cicids2017-improved/DoS_Hulk_5000.csv"

    def alerts(path) -> list[dict]:
        return [{k: v for k, v in a.items() if k != "elapsed_s"} for a in replay(path, speed=0, eval_every_s=0)]

    at_once = [alerts(log), alerts(flows)]
    feed, made = SlowStream.feed, []

    def piece_by_piece(self, df, recs=None):
        made.append(recs is not None)
        return feed(self, df, None)

    monkeypatch.setattr(SlowStream, "feed", piece_by_piece)
    assert at_once == [alerts(log), alerts(flows)]
    assert all(made) and len(made) > 100
    assert ("start", "slow-http") in [(a["event"], a["vector"]) for a in at_once[0]]


@pytest.mark.parametrize(("capture", "ipv6"), [("stopddos/pkt.TCP.synflood.spoofed.pcap", False),
                                              ("stopddos/amp.TCP.reflection.SYNACK.pcap", True)])
def test_replay_reads_fewer_columns_with_the_same_alerts(tmp_path, datasets, monkeypatch, capture, ipv6):
    """A replay decodes captures without the source text (watch.READ_COLUMNS): the heavy
    hitters' text is made from keys while only IPv4 was seen, and from the address numbers
    once IPv6 shows up (in the second file, written by the generator's pcap writer: the
    capture's four non-IP frames come back as IPv6 packets). Alerts, end alerts' top sources
    included, are those of a replay of fully decoded records."""
    from surgescope.attack import watch
    from surgescope.schema import PACKETS

    path = prefixed(tmp_path, datasets, capture, normal_s=5)[0] if ipv6 else datasets / "pcap" / capture
    seen = pl.from_arrow(open_input(path).read_all())["ip_version"]
    assert (seen == 6).any() == ipv6

    def alerts(every: float) -> list[dict]:
        return [{k: v for k, v in a.items() if k != "elapsed_s"} for a in replay(path, speed=0, eval_every_s=every)]

    lean = [alerts(0.1), alerts(0.0)]
    monkeypatch.setattr(watch, "READ_COLUMNS", tuple(PACKETS.names))
    assert lean == [alerts(0.1), alerts(0.0)]
    assert lean[0][-1]["event"] == "end" and len(lean[0][-1]["top_sources"]) == 10


def test_heavy_hitter_text_from_keys_is_the_records_text(datasets):
    """Space-Saving fed from keys (IPv4 text and tie order made from the key) holds what it
    holds when fed from the records' text, on a spoofed flood where thousands of sources
    tie at the k+1-th count."""
    from surgescope.attack import features, watch
    from surgescope.attack.sources import SpaceSaving

    df = pl.from_arrow(open_input(datasets / "pcap/stopddos/pkt.TCP.synflood.spoofed.pcap").read_all())
    cl = features.classify(df, "packets").collect()
    by_client = features.window_tables(cl, 1.0, "packets", detail=False, client_ips=False).by_client
    for k in (5, 50, 1000):
        a, b = SpaceSaving(k), SpaceSaving(k)
        for (_,), part in by_client.group_by("win", maintain_order=True):
            watch._add_sources(a, part, cl, text_from_key=False)
            watch._add_sources(b, part, cl, text_from_key=True)
        assert (a.count, a.error, a.bytes, a.total) == (b.count, b.error, b.bytes, b.total)
        assert len(a.count) == k


def test_windows_of_other_traffic_still_step_the_tracker():
    """Closed windows' rows of class ``other`` (which no rule makes a candidate) are left out
    of the tracker's steps, but their windows are still stepped: one with only such rows,
    past the merge gap, ends the open attack there."""
    from datetime import UTC

    from surgescope.attack.detect import Thresholds, Tracker
    from surgescope.attack.watch import _step_windows

    th = Thresholds()
    t0 = datetime(2025, 3, 10, tzinfo=UTC)

    def row(s: int, vector: str, candidate: bool) -> dict:
        return {"win": t0 + timedelta(seconds=s), "dst_key": 1, "dst_ip": "10.0.0.1", "vector": vector,
                "rate": 5000.0, "records": 5000, "candidate": candidate}

    gap = int(th.merge_gap_s) + 2
    events = _step_windows(Tracker(th), pl.DataFrame([row(0, "syn-flood", True), row(gap, "other", False)]))
    assert [(e["event"], e["window"]) for e in events] == [("start", t0), ("end", t0)]
    assert events[1]["end_win"] == t0 + timedelta(seconds=th.window_s)
