"""DuckDB store: ingest, fingerprints (same bytes add nothing), atomicity per input."""

from __future__ import annotations

import csv
import hashlib
import shutil
from datetime import UTC, datetime

import duckdb
import pytest
from typer.testing import CliRunner

from surgescope import store
from surgescope.cli import app
from surgescope.sources import cicflowmeter
from surgescope.sources.base import InputError

FLOWS = ["BENIGN_5000.csv", "DDoS_5000.csv", "DoS_GoldenEye_5000.csv", "DoS_Hulk_5000.csv"]


@pytest.fixture()
def flow_paths(datasets):
    return [datasets / "flows" / "cicids2017-improved" / n for n in FLOWS]


def test_ingest_counts_and_labels(tmp_path, flow_paths, datasets):
    db = tmp_path / "case.duckdb"
    nab = datasets / "nab" / "data" / "realTweets" / "Twitter_volume_AAPL.csv"
    results = store.ingest([*flow_paths, nab], db)
    assert [r["status"] for r in results] == ["ingested"] * 5
    assert [r["records"] for r in results] == [5000] * 4 + [15902]  # SOURCES.md; AAPL: 15,903 lines - header
    assert [r["table"] for r in results] == ["flows"] * 4 + ["reports"]
    assert [r["fingerprint"] for r in results] == [hashlib.sha256(p.read_bytes()).hexdigest() for p in [*flow_paths, nab]]
    by_label = store.query(db, "SELECT label, count(*) AS n FROM flows GROUP BY label ORDER BY label").to_pylist()
    assert by_label == [{"label": lab, "n": 5000} for lab in ("BENIGN", "DDoS", "DoS GoldenEye", "DoS Hulk")]
    attackers = store.query(db, "SELECT DISTINCT src_ip FROM flows WHERE label <> 'BENIGN'").to_pylist()
    assert attackers == [{"src_ip": "172.16.0.1"}]
    inputs = store.query(db, "SELECT path, kind, format, records, rejected FROM inputs ORDER BY input_id").to_pylist()
    assert [(i["kind"], i["format"], i["records"], i["rejected"]) for i in inputs] == (
        [("flows", "cicflowmeter", 5000, 0)] * 4 + [("reports", "reports", 15902, 0)])


def test_times_survive_at_full_precision(tmp_path, flow_paths):
    """Microsecond timestamps of the CSV (read here with the csv module) come back unchanged."""
    db = tmp_path / "case.duckdb"
    store.ingest(flow_paths[1:2], db)
    t = store.read_table(db, "flows")
    with open(flow_paths[1], newline="") as f:
        expect = sorted(datetime.strptime(r["Timestamp"], "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)
                        for r in csv.DictReader(f))
    assert t.schema.field("ts").type.tz == "UTC"
    assert sorted(t.column("ts").to_pylist()) == expect


def test_same_bytes_twice_add_nothing(tmp_path, flow_paths):
    db = tmp_path / "case.duckdb"
    store.ingest(flow_paths[:2], db)
    copy = tmp_path / "renamed.csv"
    shutil.copy(flow_paths[0], copy)
    again = store.ingest([flow_paths[1], copy], db)
    assert [r["status"] for r in again] == ["already ingested"] * 2
    assert again[1]["first_path"] == str(flow_paths[0])
    assert store.query(db, "SELECT count(*) AS n FROM flows").to_pylist() == [{"n": 10000}]
    assert store.query(db, "SELECT count(*) AS n FROM inputs").to_pylist() == [{"n": 2}]


@pytest.mark.parametrize("error", [RuntimeError("disk on fire"), KeyboardInterrupt()])
def test_failure_mid_input_rolls_the_input_back(tmp_path, flow_paths, monkeypatch, error):
    db = tmp_path / "case.duckdb"
    store.ingest(flow_paths[:1], db)  # a committed input that must stay
    real_read = cicflowmeter.read
    yielded = []

    def failing_read(path, rejections, **options):
        for i, batch in enumerate(real_read(path, rejections, chunk_size=128 * 1024)):
            if i == 3:
                raise error
            yielded.append(batch.num_rows)
            yield batch

    monkeypatch.setattr(cicflowmeter, "read", failing_read)
    with pytest.raises(type(error)):
        store.ingest(flow_paths[1:2], db)
    assert len(yielded) == 3 and sum(yielded) > 0  # batches really were inserted, then undone
    assert store.query(db, "SELECT count(*) AS n FROM flows").to_pylist() == [{"n": 5000}]
    assert store.query(db, "SELECT count(*) AS n FROM flows WHERE label = 'DDoS'").to_pylist() == [{"n": 0}]
    assert store.query(db, "SELECT count(*) AS n FROM inputs").to_pylist() == [{"n": 1}]
    # The failed input is not marked as ingested: the next attempt ingests it fully.
    monkeypatch.setattr(cicflowmeter, "read", real_read)
    [r] = store.ingest(flow_paths[1:2], db)
    assert (r["status"], r["records"]) == ("ingested", 5000)


def test_missing_input_is_an_input_error(tmp_path):
    with pytest.raises(InputError):
        store.ingest([tmp_path / "nope.csv"], tmp_path / "case.duckdb")


def test_store_file_is_plain_duckdb(tmp_path, flow_paths):
    db = tmp_path / "case.duckdb"
    store.ingest(flow_paths[1:2], db)
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        assert {"inputs", "flows", "packets", "requests", "reports"} <= tables
    finally:
        con.close()


def test_cli_ingest_prints_one_json_line_per_input(tmp_path, flow_paths):
    db = tmp_path / "case.duckdb"
    runner = CliRunner()
    first = runner.invoke(app, ["ingest", str(flow_paths[1]), "--db", str(db)])
    second = runner.invoke(app, ["ingest", str(flow_paths[1]), "--db", str(db)])
    assert first.exit_code == 0 and '"status": "ingested"' in first.output
    assert second.exit_code == 0 and '"status": "already ingested"' in second.output
    missing = runner.invoke(app, ["ingest", str(tmp_path / "nope.csv"), "--db", str(db)])
    assert missing.exit_code == 2


def test_every_kind_ingests_with_the_sources_md_counts(tmp_path, datasets):
    """Captures, the access log, flows and a report series into one store; the numbers are the
    ones SOURCES.md gives (apache_logs: 10,000 lines, all accepted by the access-log reader)."""
    expect = {
        "pcap/cic-ddos2019/CIC-DDoS-2019-SynFlood.pcap": ("packets", 26_316),
        "pcap/stopddos/amp.TCP.reflection.SYNACK.pcap": ("packets", 8_000),
        "pcap/stopddos/amp.TCP.syn.optionallyACK.optionallysamePort.pcapng": ("packets", 896),
        "pcap/stopddos/amp.UDP.snmp.src161.pcapng": ("packets", 4_373),
        "pcap/stopddos/amp.dns.RRSIG.fragmented.pcap": ("packets", 4_412),
        "pcap/stopddos/pkt.TCP.synflood.spoofed.pcap": ("packets", 37_841),
        "logs/elastic-apache/apache_logs": ("requests", 10_000),
        "flows/cicids2017-improved/DoS_Hulk_5000.csv": ("flows", 5_000),
        "nab/data/realTweets/Twitter_volume_GOOG.csv": ("reports", None),
    }
    db = tmp_path / "case.duckdb"
    results = store.ingest([datasets / p for p in expect], db)
    for (rel, (table, n)), r in zip(expect.items(), results, strict=True):
        assert r["table"] == table, rel
        if n is not None:
            assert r["records"] + r["rejected"] == n, rel
    sums = store.query(db, "SELECT table_name, sum(records)::BIGINT AS n FROM inputs GROUP BY 1").to_pylist()
    totals = {d["table_name"]: d["n"] for d in sums}
    for table in ("packets", "requests", "flows", "reports"):
        stored = store.query(db, f"SELECT count(*) AS n FROM {table}").to_pylist()[0]["n"]
        assert stored == totals[table]
    assert totals["packets"] == 26_316 + 8_000 + 896 + 4_373 + 4_412 + 37_841


KILL_SCRIPT = """
import sys, time
from surgescope import store
from surgescope.sources import cicflowmeter

real = cicflowmeter.read

def slow(path, rejections, **options):
    for i, batch in enumerate(real(path, rejections, chunk_size=128 * 1024)):
        yield batch
        if i == 2:
            print("inserted", flush=True)  # three batches are in the open transaction
            time.sleep(60)

cicflowmeter.read = slow
store.ingest([sys.argv[1]], sys.argv[2])
"""


def test_killed_ingest_leaves_nothing(tmp_path, flow_paths):
    """SIGKILL in the middle of an input (no Python cleanup at all): the store reopens without
    any of that input's rows, and the input can then be ingested in full."""
    import signal
    import subprocess
    import sys

    db = tmp_path / "case.duckdb"
    store.ingest(flow_paths[:1], db)
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(flow_paths[1]), str(db)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "inserted"  # type: ignore[union-attr]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert store.query(db, "SELECT count(*) AS n FROM flows").to_pylist() == [{"n": 5000}]
    assert store.query(db, "SELECT count(*) AS n FROM inputs").to_pylist() == [{"n": 1}]
    [r] = store.ingest(flow_paths[1:2], db)
    assert (r["status"], r["records"]) == ("ingested", 5000)
