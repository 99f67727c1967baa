"""``--kind auto``: every shared dataset file sniffs to its kind, and the text formats that look
alike (CSV flow exports, report CSVs, JSON lines of reports, flows or requests) do not get
confused."""

from __future__ import annotations

import gzip
import json

import pytest
from textgen import (
    NFDUMP16_HEADER,
    access_log_jsonl,
    nfdump_csv_16,
    nfdump_csv_175,
    write,
    zeek_json,
    zeek_tsv,
)

from surgescope.sources import FORMATS, cicflowmeter, nfdump, reports, sniff, zeek
from surgescope.sources.base import InputError
from surgescope.sources.base import head_bytes as head

DOCS = ("README.md", "LICENSE", "SOURCES.md", "SHA256SUMS", "SAMPLING_STRATEGY.md", "report_friday.md")


def expected_kind(rel: str) -> tuple[str, str] | None:
    """What SOURCES.md says each shared file is; None for documentation."""
    name = rel.rsplit("/", 1)[-1]
    if name in DOCS or name.endswith(".md"):
        return None
    if rel.startswith("pcap/"):
        return ("pcap", "pcap")
    if rel == "logs/elastic-apache/apache_logs":
        return ("access-log", "clf")
    if rel.startswith("flows/") and name.endswith(".csv"):
        return ("flows", "cicflowmeter")
    if rel.startswith("nab/data/") and name.endswith(".csv"):
        return ("reports", "reports")
    raise AssertionError(f"unexpected shared file {rel}")


def shared_files(datasets):
    out = []
    for p in sorted(datasets.rglob("*")):
        rel = p.relative_to(datasets).as_posix()
        if p.is_file() and not rel.startswith(("nab/results/", "nab/labels/", "nab/config/")) and rel != "nab/LICENSE.txt":
            out.append((rel, p))
    return out


def test_every_shared_data_file_sniffs_to_its_kind(datasets):
    files = shared_files(datasets)
    seen = {"pcap": 0, "access-log": 0, "flows": 0, "reports": 0, None: 0}
    for rel, path in files:
        want = expected_kind(rel)
        if want is None:
            with pytest.raises(InputError):
                sniff(path)
        else:
            assert sniff(path)[:2] == want, rel
        seen[want[0] if want else None] += 1
    # SOURCES.md: 6 captures, 1 access log, 4 flow samples (+ the header reference), 58 NAB series.
    assert (seen["pcap"], seen["access-log"], seen["flows"], seen["reports"]) == (6, 1, 5, 58)
    assert seen[None] >= 5


@pytest.fixture()
def fixtures(tmp_path, datasets):
    conns = [{"ts": "1320279566.452687", "uid": "C1", "id.orig_h": "10.0.0.1", "id.orig_p": 5, "id.resp_h": "10.0.0.2",
              "id.resp_p": 80, "proto": "tcp", "conn_state": "S0", "history": "S", "orig_pkts": 1,
              "orig_ip_bytes": 40, "resp_pkts": 0, "resp_ip_bytes": 0}]
    flow = dict(ts="2017-06-29 08:39:35", te="2017-06-29 08:39:36", td="1.250", sa="10.0.0.1", da="192.0.2.7",
                sp=51000, dp=443, pr="TCP", flg="...A..S.", ipkt=3, ibyt=1500, opkt=2, obyt=800)
    cic = (datasets / "flows" / "cicids2017-improved" / "DDoS_5000.csv").read_bytes()[:200_000]
    return {
        "cic.csv": (cic, ("flows", "cicflowmeter")),
        "nf16.csv": (nfdump_csv_16([flow]), ("flows", "nfdump")),
        "nf175.csv": (nfdump_csv_175([dict(flow, pr=6)]), ("flows", "nfdump")),
        "nf-quiet.csv": (nfdump_csv_16([flow], summary=False).split("\n", 1)[1], ("flows", "nfdump")),
        "conn.log": (zeek_tsv(conns), ("flows", "zeek")),
        "conn.json": (zeek_json(conns), ("flows", "zeek")),
        "nab.csv": ("timestamp,value\n2015-02-26 21:42:53,57\n", ("reports", "reports")),
        "single.csv": ("time,service,region,problem\n2025-03-10T14:02:00Z,x,US,app\n", ("reports", "reports")),
        "counts.csv": ("Date,Reports\n2025-03-10T10:02:00-04:00,41143\n", ("reports", "reports")),
        "reports.jsonl": (
            "".join(json.dumps(o) + "\n" for o in [
                {"time": "2025-03-10T14:02:00Z", "service": "x", "region": "US", "problem": "app"},
                {"time": "2025-03-10T14:02:01Z", "count": 3, "service": "x"}]),
            ("reports", "reports")),
        "access.jsonl": (access_log_jsonl(), ("access-log", "json")),
    }


def test_look_alike_text_formats_are_not_confused(tmp_path, fixtures):
    for name, (text, want) in fixtures.items():
        assert sniff(write(tmp_path / name, text))[:2] == want, name
        gz = tmp_path / (name + ".gz")
        gz.write_bytes(gzip.compress(text if isinstance(text, bytes) else text.encode()))
        assert sniff(gz)[:2] == want, name + ".gz"


def test_each_sniffer_claims_only_its_own_format(tmp_path, fixtures):
    """Independently of the sniffing order in FORMATS: exactly one sniffer says yes."""
    for name, (text, (kind, fmt)) in fixtures.items():
        h = head(write(tmp_path / name, text))
        claims = sorted((k, f) for k, f, m in FORMATS if m.sniff(h))
        assert claims == [(kind, fmt)], name


def test_reports_sniffer_rejects_access_log_json(tmp_path):
    """JSON lines with remote_addr/request/status are requests (the access-log reader's), never
    crowd reports, even though they carry a time."""
    h = head(write(tmp_path / "access.jsonl", access_log_jsonl()))
    assert reports.sniff(h) is False
    assert zeek.sniff(h) is False
    for foreign in ("request", "status", "remote_addr", "uri", "method"):
        line = json.dumps({"time": "2025-03-10T14:02:00Z", "service": "x", foreign: "1"}) + "\n"
        assert reports.sniff(line.encode()) is False, foreign


def test_nfdump_header_alone_is_not_reports_or_cic():
    h = (NFDUMP16_HEADER + "\n").encode()
    assert (nfdump.sniff(h), reports.sniff(h), cicflowmeter.sniff(h), zeek.sniff(h)) == (True, False, False, False)
