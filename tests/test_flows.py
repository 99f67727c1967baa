"""Flow readers: CICFlowMeter CSV on the shared CIC-IDS2017 samples, nfdump CSV and Zeek
conn.log on hand-specified fixtures, and hostile input."""

from __future__ import annotations

import csv
import gzip
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from textgen import nfdump_csv_16, nfdump_csv_175, write, zeek_json, zeek_tsv

from surgescope.schema import FLOWS
from surgescope.sources import cicflowmeter, nfdump, open_input, zeek
from surgescope.sources.base import InputError, Rejections

FLOW_FILES = {  # file -> label, per SOURCES.md ("5,000 flows per class")
    "BENIGN_5000.csv": "BENIGN",
    "DDoS_5000.csv": "DDoS",
    "DoS_GoldenEye_5000.csv": "DoS GoldenEye",
    "DoS_Hulk_5000.csv": "DoS Hulk",
}


@pytest.fixture(scope="module")
def flow_dir(datasets):
    return datasets / "flows" / "cicids2017-improved"


def read(path, kind="auto", **options):
    inp = open_input(path, kind, **options)
    table = inp.read_all()
    return inp, pl.from_arrow(table)


def test_flow_directory_holds_the_four_samples(flow_dir):
    assert sorted(p.name for p in flow_dir.glob("*_5000.csv")) == sorted(FLOW_FILES)


@pytest.mark.parametrize("name", sorted(FLOW_FILES))
def test_cicflowmeter_reads_5000_rows_without_rejections(flow_dir, name):
    inp, df = read(flow_dir / name)
    assert (inp.kind, inp.format) == ("flows", "cicflowmeter")
    assert df.height == 5000
    assert inp.rejections.count == 0
    assert df["label"].unique().to_list() == [FLOW_FILES[name]]
    if FLOW_FILES[name] != "BENIGN":
        # SOURCES.md: attack flows come from the testbed's NAT address 172.16.0.1.
        assert df["src_ip"].unique().to_list() == ["172.16.0.1"]
        assert df["src_ip_hi"].unique().to_list() == [0]
        assert df["src_ip_lo"].unique().to_list() == [0xFFFF_0000_0000 | 0xAC100001]


@pytest.mark.parametrize("name", ["DDoS_5000.csv", "BENIGN_5000.csv"])
def test_cicflowmeter_values_match_the_csv_module(flow_dir, name):
    """Every row against Python's csv module reading the same file (an independent parser)."""
    _, df = read(flow_dir / name)
    with open(flow_dir / name, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == df.height
    expect_ts = [datetime.strptime(r["Timestamp"], "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC) for r in rows]
    assert df["ts"].to_list() == expect_ts
    assert df["src_ip"].to_list() == [r["Src IP"] for r in rows]
    assert df["dst_ip"].to_list() == [r["Dst IP"] for r in rows]
    assert df["src_port"].to_list() == [int(r["Src Port"]) for r in rows]
    assert df["dst_port"].to_list() == [int(r["Dst Port"]) for r in rows]
    assert df["proto"].to_list() == [int(r["Protocol"]) for r in rows]
    assert df["packets"].to_list() == [int(r["Total Fwd Packet"]) + int(r["Total Bwd packets"]) for r in rows]
    assert df["bytes"].to_list() == [int(r["Total Length of Fwd Packet"]) + int(r["Total Length of Bwd Packet"]) for r in rows]
    assert df["fwd_packets"].to_list() == [int(r["Total Fwd Packet"]) for r in rows]
    assert df["syn_count"].to_list() == [int(r["SYN Flag Count"]) for r in rows]
    assert df["rst_count"].to_list() == [int(r["RST Flag Count"]) for r in rows]
    assert df["duration_s"].to_list() == pytest.approx([int(r["Flow Duration"]) / 1e6 for r in rows])


def test_cicflowmeter_times_are_utc_matching_the_published_schedule(flow_dir):
    """CIC publishes the attack schedule in New Brunswick time (UTC-3 in July): DDoS LOIT on
    Friday 7 July 2017 15:56-16:16, i.e. 18:56-19:16 UTC. The sample's flows fall in there."""
    _, df = read(flow_dir / "DDoS_5000.csv")
    start = datetime(2017, 7, 7, 18, 56, tzinfo=UTC)
    end = datetime(2017, 7, 7, 19, 17, tzinfo=UTC)
    assert df["ts"].min() >= start and df["ts"].max() < end
    # Read as local time instead, the same flows move three hours later.
    _, local = read(flow_dir / "DDoS_5000.csv", tz="America/Moncton")
    assert (local["ts"] - df["ts"]).unique().to_list() == [timedelta(hours=3)]


def test_cicflowmeter_gzip_reads_the_same(flow_dir, tmp_path):
    gz = tmp_path / "ddos.csv.gz"
    gz.write_bytes(gzip.compress((flow_dir / "DDoS_5000.csv").read_bytes()))
    _, a = read(flow_dir / "DDoS_5000.csv")
    _, b = read(gz)
    assert a.equals(b)


def test_cicflowmeter_streams_in_bounded_batches(flow_dir):
    rej = Rejections()
    batches = list(cicflowmeter.read(flow_dir / "DDoS_5000.csv", rej, chunk_size=64 * 1024))
    assert len(batches) > 10
    assert max(b.num_rows for b in batches) < 1000
    assert sum(b.num_rows for b in batches) == 5000 and rej.count == 0
    assert all(b.schema.equals(FLOWS) for b in batches)


# --- nfdump ----------------------------------------------------------------------------------

NF_FLOWS = [
    dict(ts="2017-06-29 08:39:35", te="2017-06-29 08:39:36", td="1.250", sa="10.0.0.1", da="192.0.2.7",
         sp=51000, dp=443, pr="TCP", flg="...A..S.", ipkt=3, ibyt=1500, opkt=2, obyt=800),
    dict(ts="2017-06-29 08:39:37.250", te="2017-06-29 08:39:37.250", td="0.000", sa="2001:db8::1",
         da="192.0.2.7", sp=0, dp="3.3", pr="ICMP", flg="........", ipkt=1, ibyt=84, opkt=0, obyt=0),
    dict(ts="2017-06-29 08:40:00", te="2017-06-29 08:40:00", td="0.000", sa="203.0.113.9", da="192.0.2.7",
         sp=123, dp=40000, pr="UDP", flg="......", ipkt=1, ibyt=468, opkt=0, obyt=0),
    dict(ts="2017-06-29 08:40:01", te="2017-06-29 08:40:02", td="0.500", sa="198.51.100.4", da="192.0.2.7",
         sp=40001, dp=80, pr="TCP", flg=".A.R.F", ipkt=2, ibyt=80, opkt=0, obyt=0),
]


def test_nfdump_16_csv_with_summary(tmp_path):
    path = write(tmp_path / "nf.csv", nfdump_csv_16(NF_FLOWS))
    inp, df = read(path)
    assert (inp.kind, inp.format) == ("flows", "nfdump")
    assert inp.rejections.count == 0  # the Summary block is not a rejection
    assert df.height == 4
    assert df["ts"].to_list() == [
        datetime(2017, 6, 29, 8, 39, 35, tzinfo=UTC), datetime(2017, 6, 29, 8, 39, 37, 250000, tzinfo=UTC),
        datetime(2017, 6, 29, 8, 40, 0, tzinfo=UTC), datetime(2017, 6, 29, 8, 40, 1, tzinfo=UTC)]
    assert df["proto"].to_list() == [6, 1, 17, 6]
    assert df["src_ip"].to_list() == ["10.0.0.1", "2001:db8::1", "203.0.113.9", "198.51.100.4"]
    assert df["src_port"].to_list() == [51000, None, 123, 40001]  # ICMP: nfdump prints type.code
    assert df["dst_port"].to_list() == [443, None, 40000, 80]
    assert df["packets"].to_list() == [5, 1, 1, 2]
    assert df["bytes"].to_list() == [2300, 84, 468, 80]
    assert df["fwd_packets"].to_list() == [3, 1, 1, 2]
    assert df["fwd_bytes"].to_list() == [1500, 84, 468, 80]
    assert df["duration_s"].to_list() == [1.25, 0.0, 0.0, 0.5]
    # "...A..S." = ACK+SYN (8-position CEUAPRSF); ".A.R.F" = ACK+RST+FIN (6-position UAPRSF)
    assert df["syn_count"].to_list() == [1, 0, 0, 0]
    assert df["ack_count"].to_list() == [1, 0, 0, 1]
    assert df["rst_count"].to_list() == [0, 0, 0, 1]
    assert df["fin_count"].to_list() == [0, 0, 0, 1]


def test_nfdump_175_csv(tmp_path):
    flows = [dict(f, pr=p) for f, p in zip(NF_FLOWS, [6, 1, 17, 6], strict=True)]
    path = write(tmp_path / "nf175.csv", nfdump_csv_175(flows))
    inp, df = read(path)
    assert inp.format == "nfdump" and inp.rejections.count == 0
    assert df["proto"].to_list() == [6, 1, 17, 6]
    assert df["packets"].to_list() == [3, 1, 1, 2]  # only in-packets in the predefined format
    assert df["dst_ip"].to_list() == ["192.0.2.7"] * 4


def test_nfdump_bad_rows_are_rejected_with_line_numbers(tmp_path):
    text = nfdump_csv_16(NF_FLOWS, summary=False).splitlines()
    text[2] = text[2].replace("ICMP", "NOTAPROTO")  # line 3
    text[3] = text[3].replace("203.0.113.9", "203.0.113.999")  # line 4
    text.append("2017-06-29 08:41:00,too,few,fields")  # line 6
    path = write(tmp_path / "bad.csv", "\n".join(text) + "\n")
    rej = Rejections()
    rows = sum(b.num_rows for b in nfdump.read(path, rej))
    assert rows == 2
    assert sorted((r.where, r.reason) for r in rej.samples) == [
        (3, "unknown protocol"), (4, "bad source address"), (6, "expected 48 fields, found 4")]


# --- Zeek --------------------------------------------------------------------------------------

CONNS = [
    {"ts": "1320279566.452687", "uid": "CjhGID4nQcgTWjvg4c", "id.orig_h": "10.47.24.186", "id.orig_p": 55313,
     "id.resp_h": "208.80.152.118", "id.resp_p": 80, "proto": "tcp", "service": "http", "duration": "4.998318",
     "orig_bytes": 1102, "resp_bytes": 45235, "conn_state": "SF", "missed_bytes": 0, "history": "ShADadFf",
     "orig_pkts": 13, "orig_ip_bytes": 1634, "resp_pkts": 38, "resp_ip_bytes": 47223, "tunnel_parents": "(empty)"},
    {"ts": "1320279567.000001", "uid": "C2", "id.orig_h": "198.51.100.7", "id.orig_p": 4444,
     "id.resp_h": "10.47.24.186", "id.resp_p": 25565, "proto": "tcp", "conn_state": "S0", "history": "S",
     "orig_pkts": 1, "orig_ip_bytes": 40, "resp_pkts": 0, "resp_ip_bytes": 0},
    {"ts": "1320279568.5", "uid": "C3", "id.orig_h": "fe80::1", "id.orig_p": 135, "id.resp_h": "ff02::1",
     "id.resp_p": 136, "proto": "icmp", "conn_state": "OTH", "orig_pkts": 1, "orig_ip_bytes": 72,
     "resp_pkts": 0, "resp_ip_bytes": 0},
]


def _check_conns(df: pl.DataFrame) -> None:
    assert df["ts"].to_list() == [
        datetime(2011, 11, 3, 0, 19, 26, 452687, tzinfo=UTC), datetime(2011, 11, 3, 0, 19, 27, 1, tzinfo=UTC),
        datetime(2011, 11, 3, 0, 19, 28, 500000, tzinfo=UTC)]
    assert df["src_ip"].to_list() == ["10.47.24.186", "198.51.100.7", "fe80::1"]
    assert df["dst_port"].to_list() == [80, 25565, 136]
    assert df["proto"].to_list() == [6, 6, 58]
    assert df["packets"].to_list() == [51, 1, 1]
    assert df["bytes"].to_list() == [1634 + 47223, 40, 72]
    assert df["fwd_packets"].to_list() == [13, 1, 1]
    assert df["fwd_bytes"].to_list() == [1634, 40, 72]
    assert df["state"].to_list() == ["SF", "S0", "OTH"]
    assert df["duration_s"].to_list() == [4.998318, None, None]
    # ShADadFf: SYN from S and h (SYN-ACK); ACK from h, A, a; FIN from F and f.
    assert df["syn_count"].to_list() == [2, 1, None]
    assert df["ack_count"].to_list() == [3, 0, None]
    assert df["fin_count"].to_list() == [2, 0, None]
    assert df["rst_count"].to_list() == [0, 0, None]


def test_zeek_tsv(tmp_path):
    inp, df = read(write(tmp_path / "conn.log", zeek_tsv(CONNS)))
    assert (inp.kind, inp.format) == ("flows", "zeek") and inp.rejections.count == 0
    _check_conns(df)


def test_zeek_json_lines(tmp_path):
    conns = [dict(c, ts=float(c["ts"]) if i != 1 else "2011-11-03T00:19:27.000001Z") for i, c in enumerate(CONNS)]
    for c in conns:
        for k in ("duration", "id.orig_p"):
            if k in c:
                c[k] = float(c[k]) if k == "duration" else c[k]
    inp, df = read(write(tmp_path / "conn.json", zeek_json(conns)))
    assert (inp.kind, inp.format) == ("flows", "zeek") and inp.rejections.count == 0
    _check_conns(df)


@pytest.mark.parametrize("chunk_size", [150, 400, 1 << 20])  # header lines at chunk edges, or not
def test_zeek_concatenated_logs_and_bad_lines(tmp_path, chunk_size):
    text = zeek_tsv(CONNS[:2]) + zeek_tsv(CONNS[2:])  # two logs back to back
    lines = text.splitlines()
    lines.insert(9, "not\ta\tconn\trecord")  # line 10, between the two records of the first log
    path = write(tmp_path / "conn.log", "\n".join(lines) + "\n")
    rej = Rejections()
    batches = list(zeek.read(path, rej, chunk_size=chunk_size))
    assert sum(b.num_rows for b in batches) == 3
    assert [(r.where, r.reason) for r in rej.samples] == [(10, "expected 21 fields, found 4")]
    ts = [t for b in batches for t in b.column("ts").to_pylist()]
    assert ts == [datetime(2011, 11, 3, 0, 19, 26, 452687, tzinfo=UTC), datetime(2011, 11, 3, 0, 19, 27, 1, tzinfo=UTC),
                  datetime(2011, 11, 3, 0, 19, 28, 500000, tzinfo=UTC)]


# --- hostile input ---------------------------------------------------------------------------

MUTATIONS = ["truncate", "extra_column", "non_numeric", "invalid_utf8", "nul", "random"]


def _mutate(line: bytes, how: str, data: st.DataObject, sep: bytes, numeric: list[int]) -> bytes:
    """A guaranteed-bad variant of one data line; ``numeric``: indices of fields the reader
    converts to numbers."""
    if how == "truncate":  # cut before the last separator: fewer fields
        return line[: data.draw(st.integers(1, line.rfind(sep)))]
    if how == "extra_column":
        return line + sep + data.draw(st.binary(max_size=5)).replace(b"\n", b"").replace(sep, b"")
    if how == "non_numeric":
        fields = line.split(sep)
        fields[data.draw(st.sampled_from(numeric))] = data.draw(st.sampled_from([b"eighty", b"1e", b"--", b"0x"]))
        return sep.join(fields)
    if how == "invalid_utf8":
        at = data.draw(st.integers(0, len(line)))
        return line[:at] + b"\xff\xfe" + line[at:]
    if how == "nul":
        at = data.draw(st.integers(0, len(line)))
        return line[:at] + b"\x00" + line[at:]
    junk = data.draw(st.binary(min_size=1, max_size=300)).replace(b"\n", b" ").replace(b"\r", b" ")
    return b"X" + junk  # never blank, never a line of the right shape


@pytest.fixture(scope="module")
def hostile_inputs(flow_dir):
    """Per reader: header lines, 40 good data lines, separator, numeric field indices."""
    cic = (flow_dir / "DDoS_5000.csv").read_bytes().split(b"\n")
    nf = nfdump_csv_16((NF_FLOWS * 10)[:40], summary=False).encode().split(b"\n")
    zk = zeek_tsv([dict(CONNS[i % 2], uid=f"C{i}") for i in range(40)]).encode().split(b"\n")
    return {
        cicflowmeter: (cic[:1], cic[1:41], b",", [3, 8]),  # Src Port, Flow Duration
        nfdump: (nf[:1], nf[1:41], b",", [11, 12, 13]),  # ipkt, ibyt, opkt (ports may be ICMP type.code)
        zeek: (zk[:8], zk[8:48], b"\t", [3, 16, 17]),  # id.orig_p, orig_pkts, orig_ip_bytes
    }


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), module=st.sampled_from([cicflowmeter, nfdump, zeek]))
def test_hostile_rows_rejected_by_line(tmp_path, hostile_inputs, data, module):
    head, rows, sep, numeric = hostile_inputs[module]
    rows = list(rows)
    bad = sorted(data.draw(st.sets(st.integers(0, 39), min_size=1, max_size=8)))
    for i in bad:
        rows[i] = _mutate(rows[i], data.draw(st.sampled_from(MUTATIONS)), data, sep, numeric)
    path = write(tmp_path / "hostile.txt", b"\n".join(head + rows) + b"\n")
    rej = Rejections(max_samples=100)
    got = sum(b.num_rows for b in module.read(path, rej))
    assert got == 40 - len(bad)
    assert sorted(r.where for r in rej.samples) == [len(head) + 1 + i for i in bad]
    assert rej.count == len(bad)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blob=st.binary(max_size=3000), module=st.sampled_from([cicflowmeter, nfdump, zeek]))
def test_random_bytes_only_input_error(tmp_path, blob, module):
    """After a valid header, random bytes: rows are read or rejected, nothing else escapes."""
    headers = {cicflowmeter: b"Src IP,Dst IP,Timestamp,Flow Duration\n",
               nfdump: b"ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt\n",
               zeek: zeek_tsv([]).split("#close")[0].encode()}
    for body in (blob, headers[module] + blob):
        path = write(tmp_path / "random.bin", body)
        rej = Rejections(max_samples=10_000)
        rows = 0
        try:
            for b in module.read(path, rej):
                assert b.schema.equals(FLOWS)
                rows += b.num_rows
        except InputError:
            continue
        # Every record and every rejection is a distinct line of the input, numbered within it.
        lines = body.count(b"\n") + 1
        assert rows + rej.count <= lines
        assert all(1 <= s.where <= lines for s in rej.samples)
        assert len({s.where for s in rej.samples}) == len(rej.samples)


CIC_SMALL = ("Src IP,Dst IP,Timestamp,Flow Duration,Label\n"
             "10.0.0.1,10.0.0.2,2017-07-07 19:00:00.000001,10,BENIGN\n"
             "10.0.0.3,10.0.0.2,2017-07-07 19:00:01,20,DDoS\n")


@pytest.mark.parametrize("module", [cicflowmeter, nfdump, zeek])
def test_ten_megabyte_line_is_rejected_and_the_rest_kept(tmp_path, module):
    text = {cicflowmeter: CIC_SMALL, nfdump: nfdump_csv_16(NF_FLOWS[:2], summary=False),
            zeek: zeek_tsv(CONNS[:2])}[module]
    lines = text.rstrip("\n").split("\n")
    if module is zeek:
        lines = lines[:-1]  # drop #close so the last data line is the last line
    # The 10 MB line goes before the last data line, which moves down by one.
    lines.insert(len(lines) - 1, "A" * (10 << 20))
    long_at = len(lines) - 1
    path = write(tmp_path / "long.txt", "\n".join(lines) + "\n")
    rej = Rejections()
    rows = sum(b.num_rows for b in module.read(path, rej, chunk_size=1 << 20))
    assert rows == 2
    assert [(r.where, r.reason) for r in rej.samples] == [(long_at, "line longer than 1048576 bytes")]


JSON_MUTATIONS = ["cut", "not_object", "non_numeric", "invalid_utf8", "nul", "random", "nested"]


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_hostile_zeek_json_lines_rejected_by_line(tmp_path, data):
    conns = [dict(CONNS[i % 2], uid=f"C{i}") for i in range(40)]
    rows = zeek_json(conns).encode().split(b"\n")[:40]
    bad = sorted(data.draw(st.sets(st.integers(0, 39), min_size=1, max_size=8)))
    for i in bad:
        line, how = rows[i], data.draw(st.sampled_from(JSON_MUTATIONS))
        if how == "cut":
            rows[i] = line[: data.draw(st.integers(1, len(line) - 1))]
        elif how == "not_object":
            rows[i] = b"[" + line + b"]"
        elif how == "non_numeric":
            rows[i] = line.replace(b'"orig_pkts": ', b'"orig_pkts": "many", "x": ')
        elif how == "invalid_utf8":
            rows[i] = line.replace(b'"uid": "', b'"uid": "\xff')
        elif how == "nul":
            rows[i] = line[:5] + b"\x00" + line[5:]
        elif how == "nested":
            rows[i] = line.replace(b'"proto": "tcp"', b'"proto": {"name": "tcp"}')
        else:
            rows[i] = b"X" + data.draw(st.binary(min_size=1, max_size=200)).replace(b"\n", b"").replace(b"\r", b"")
    path = write(tmp_path / "conn.json", b"\n".join(rows) + b"\n")
    rej = Rejections(max_samples=100)
    got = sum(b.num_rows for b in zeek.read(path, rej))
    assert got == 40 - len(bad)
    assert sorted(r.where for r in rej.samples) == [i + 1 for i in bad]


def test_cicflowmeter_older_column_spellings(tmp_path, flow_dir):
    """CIC-IDS2017/CIC-DDoS2019 CSVs spell the columns " Source IP", " Total Backward Packets",
    " SYN Flag Count" (leading spaces, long names): the same rows under those names read the same."""
    renames = {"Src IP": " Source IP", "Dst IP": " Destination IP", "Src Port": " Source Port",
               "Dst Port": " Destination Port", "Protocol": " Protocol", "Timestamp": " Timestamp",
               "Flow Duration": " Flow Duration", "Total Fwd Packet": " Total Fwd Packets",
               "Total Bwd packets": " Total Backward Packets",
               "Total Length of Fwd Packet": "Total Length of Fwd Packets",
               "Total Length of Bwd Packet": " Total Length of Bwd Packets", "SYN Flag Count": " SYN Flag Count",
               "Label": " Label"}
    head, body = (flow_dir / "DDoS_5000.csv").read_bytes().split(b"\n", 1)
    old_head = ",".join(renames.get(c, c) for c in head.decode().split(","))
    path = write(tmp_path / "old.csv", old_head.encode() + b"\n" + body)
    inp, old = read(path)
    _, new = read(flow_dir / "DDoS_5000.csv")
    assert (inp.kind, inp.format, inp.rejections.count) == ("flows", "cicflowmeter", 0)
    assert old.equals(new)


def test_nfdump_quiet_output_without_header(tmp_path):
    """``nfdump -q -o csv``: no header, no summary; the records alone are recognised."""
    text = nfdump_csv_16(NF_FLOWS, summary=False).split("\n", 1)[1]
    text = text.replace("203.0.113.9", "not-an-ip", 1)  # line 3 of this file
    inp, df = read(write(tmp_path / "quiet.csv", text))
    assert (inp.kind, inp.format) == ("flows", "nfdump")
    assert df["src_ip"].to_list() == ["10.0.0.1", "2001:db8::1", "198.51.100.4"]
    assert [(r.where, r.reason) for r in inp.rejections.samples] == [(3, "bad source address")]
