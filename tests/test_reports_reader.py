"""Crowd-report reader: NAB series (timestamp,value) as counts, single reports and counts in CSV
and JSON lines, time zones, synonyms, hostile input."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from textgen import write

from surgescope.schema import REPORTS
from surgescope.sources import open_input, reports
from surgescope.sources.base import InputError, Rejections


def read(path, kind="auto", **options):
    inp = open_input(path, kind, **options)
    return inp, pl.from_arrow(inp.read_all())


def test_all_nab_series_read_as_counts(datasets):
    """SOURCES.md: 58 series, 365,558 rows in all. Every row is a record, except the negative
    values of some artificial and sensor series, which cannot be counts and are rejected; the
    csv module tells independently how many those are."""
    files = sorted((datasets / "nab" / "data").rglob("*.csv"))
    assert len(files) == 58
    total = rejected = negative = 0
    for f in files:
        inp, df = read(f)
        assert inp.kind == "reports", f
        with open(f, newline="") as fh:
            neg = sum(float(r["value"]) < 0 for r in csv.DictReader(fh))
        assert inp.rejections.count == neg, f
        assert all(s.reason == "negative count" for s in inp.rejections.samples)
        total += df.height
        rejected += inp.rejections.count
        negative += neg
    assert total + rejected == 365_558
    assert negative > 0  # the check above really exercised rejections


def test_real_tweets_series_have_no_rejections(datasets):
    """The closest analogue of crowd reports: ten series of 5-minute mention counts."""
    files = sorted((datasets / "nab" / "data" / "realTweets").glob("*.csv"))
    assert len(files) == 10
    for f in files:
        inp, df = read(f)
        with open(f, newline="") as fh:
            assert df.height == sum(1 for _ in csv.DictReader(fh))
        assert inp.rejections.count == 0


def test_nab_twitter_values_and_times(datasets):
    path = datasets / "nab" / "data" / "realTweets" / "Twitter_volume_AAPL.csv"
    _, df = read(path)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert df["count"].to_list() == [int(r["value"]) for r in rows]
    assert df["ts"].to_list() == [datetime.strptime(r["timestamp"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC) for r in rows]
    assert df["service"].null_count() == df.height


def test_downdetector_peaks_with_offsets(tmp_path):
    """DESIGN.md's peaks, US Eastern on 10 March 2025 (EDT, UTC-4 since 9 March)."""
    text = (
        "Date,Reports,Service\n"
        "2025-03-10T06:00:00-04:00,20600,X\n"
        '2025-03-10T10:02:00-04:00,"41,143",X\n'
        "2025-03-10 13:02:00-0400,36064,X\n"
        "2025-03-10T18:02:00Z,19446,X\n"
    )
    inp, df = read(write(tmp_path / "dd.csv", text))
    assert inp.kind == "reports" and inp.rejections.count == 0
    assert df["ts"].to_list() == [datetime(2025, 3, 10, h, m, tzinfo=UTC) for h, m in ((10, 0), (14, 2), (17, 2), (18, 2))]
    assert df["count"].to_list() == [20600, 41143, 36064, 19446]
    assert df["service"].to_list() == ["X"] * 4


def test_naive_times_are_utc_unless_a_zone_is_given(tmp_path):
    path = write(tmp_path / "naive.csv", "timestamp,value\n2025-03-10 10:02:00,41143\n")
    _, utc = read(path)
    _, eastern = read(path, tz="America/New_York")
    assert utc["ts"].to_list() == [datetime(2025, 3, 10, 10, 2, tzinfo=UTC)]
    assert eastern["ts"].to_list() == [datetime(2025, 3, 10, 14, 2, tzinfo=UTC)]


def test_single_reports_csv_with_quoted_region(tmp_path):
    text = (
        "time,service,region,problem\n"
        '2025-03-10T14:02:11Z,x,"New York, NY",app\n'
        "2025-03-10T14:02:12Z,x,GB,website\n"
        "2025-03-10T14:02:13Z,x,UA,login\n"
    )
    inp, df = read(write(tmp_path / "single.csv", text))
    assert inp.rejections.count == 0
    assert df["count"].to_list() == [1, 1, 1]
    assert df["region"].to_list() == ["New York, NY", "GB", "UA"]
    assert df["problem"].to_list() == ["app", "website", "login"]


def test_json_lines_reports_and_counts_with_synonyms(tmp_path):
    lines = [
        {"time": "2025-03-10T14:02:00Z", "service": "x", "region": "US", "problem": "app"},
        {"timestamp": 1741615320, "count": 41143, "service": "x"},
        {"ts": "2025-03-10T10:02:00-04:00", "value": 7, "country": "UA", "issue": "login"},
    ]
    path = write(tmp_path / "r.jsonl", "".join(json.dumps(o) + "\n" for o in lines))
    inp, df = read(path)
    assert (inp.kind, inp.rejections.count) == ("reports", 0)
    assert df["ts"].to_list() == [datetime(2025, 3, 10, 14, 2, tzinfo=UTC)] * 3
    assert df["count"].to_list() == [1, 41143, 7]
    assert df["region"].to_list() == ["US", None, "UA"]
    assert df["problem"].to_list() == ["app", None, "login"]


def test_bad_rows_rejected_with_line_numbers(tmp_path):
    text = (
        "timestamp,value\n"
        "2025-03-10 10:00:00,5\n"
        "yesterday,6\n"          # 3: bad time
        "2025-03-10 10:10:00,many\n"  # 4: bad count
        "2025-03-10 10:15:00,-3\n"    # 5: negative
        "2025-03-10 10:20:00,1,2\n"   # 6: wrong field count
        "2025-03-10 10:25:00,\n"      # 7: missing count
        "\n"                          # 8: blank, skipped silently
        "2025-03-10 10:30:00,8.0\n"
    )
    rej = Rejections()
    batches = list(reports.read(write(tmp_path / "bad.csv", text), rej))
    df = pl.from_arrow(batches[0])
    assert df["count"].to_list() == [5, 8]
    assert [(r.where, r.reason) for r in sorted(rej.samples, key=lambda r: r.where)] == [
        (3, "bad time"), (4, "bad count: not a number"), (5, "negative count"),
        (6, "expected 2 fields, found 3"), (7, "missing count")]


def test_file_without_time_column_is_an_input_error(tmp_path):
    with pytest.raises(InputError):
        list(reports.read(write(tmp_path / "x.csv", "service,problem\nx,app\n"), Rejections()))


NAB_HEAD = "timestamp,value\n" + "".join(f"2015-02-26 21:{m:02d}:53,{m}\n" for m in range(40))


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_hostile_rows_rejected_by_line(tmp_path, data):
    lines = NAB_HEAD.encode().split(b"\n")[:41]
    bad = sorted(data.draw(st.sets(st.integers(2, 41), min_size=1, max_size=8)))
    for n in bad:
        line = lines[n - 1]
        how = data.draw(st.sampled_from(["truncate", "extra", "letters", "utf8", "nul", "random"]))
        if how == "truncate":  # keep only part of the time: no comma left
            line = line[: data.draw(st.integers(1, line.index(b",")))]
        elif how == "extra":
            line += b",9"
        elif how == "letters":
            line = line.split(b",")[0] + b"," + data.draw(st.sampled_from([b"abc", b"1x", b"--"]))
        elif how == "utf8":
            line = line[:5] + b"\xc3\x28" + line[5:]
        elif how == "nul":
            line = line[:3] + b"\x00" + line[3:]
        else:
            line = b"Z" + data.draw(st.binary(min_size=1, max_size=200)).replace(b"\n", b"").replace(b"\r", b"")
        lines[n - 1] = line
    path = write(tmp_path / "hostile.csv", b"\n".join(lines) + b"\n")
    rej = Rejections(max_samples=100)
    rows = sum(b.num_rows for b in reports.read(path, rej))
    assert rows == 40 - len(bad)
    assert sorted(r.where for r in rej.samples) == bad


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blob=st.binary(max_size=3000), prefix=st.sampled_from([b"", b"timestamp,value\n", b'{"time": "2025-03-10"}\n']))
def test_random_bytes_only_input_error(tmp_path, blob, prefix):
    body = prefix + blob
    path = write(tmp_path / "random.bin", body)
    rej = Rejections(max_samples=10_000)
    rows = 0
    try:
        for b in reports.read(path, rej):
            assert b.schema.equals(REPORTS)
            rows += b.num_rows
    except InputError:
        return
    # Every record and every rejection is a distinct line of the input, numbered within it.
    lines = body.count(b"\n") + 1
    assert rows + rej.count <= lines
    assert all(1 <= s.where <= lines for s in rej.samples)
    assert len({s.where for s in rej.samples}) == len(rej.samples)


def test_ten_megabyte_line(tmp_path):
    text = "timestamp,value\n2025-03-10 10:00:00,1\n" + "9" * (10 << 20) + "\n2025-03-10 10:05:00,2\n"
    rej = Rejections()
    rows = sum(b.num_rows for b in reports.read(write(tmp_path / "long.csv", text), rej, chunk_size=1 << 20))
    assert rows == 2
    assert [(r.where, r.reason) for r in rej.samples] == [(3, "line longer than 1048576 bytes")]


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_hostile_json_lines_rejected_by_line(tmp_path, data):
    rows = [json.dumps({"time": f"2025-03-10T14:{m:02d}:00Z", "count": m, "service": "x"}).encode() for m in range(40)]
    bad = sorted(data.draw(st.sets(st.integers(0, 39), min_size=1, max_size=8)))
    for i in bad:
        line, how = rows[i], data.draw(st.sampled_from(["cut", "array", "letters", "utf8", "nul", "nested", "random"]))
        if how == "cut":
            rows[i] = line[: data.draw(st.integers(1, len(line) - 1))]
        elif how == "array":
            rows[i] = b"[" + line + b"]"
        elif how == "letters":
            rows[i] = line.replace(b'"count": ', b'"count": "many", "n": ')
        elif how == "utf8":
            rows[i] = line.replace(b'"service": "', b'"service": "\xc3\x28')
        elif how == "nul":
            rows[i] = line[:3] + b"\x00" + line[3:]
        elif how == "nested":
            rows[i] = line.replace(b'"time": ', b'"time": {"t": 1}, "x": ')
        else:
            rows[i] = b"Z" + data.draw(st.binary(min_size=1, max_size=200)).replace(b"\n", b"").replace(b"\r", b"")
    path = write(tmp_path / "r.jsonl", b"\n".join(rows) + b"\n")
    rej = Rejections(max_samples=100)
    got = sum(b.num_rows for b in reports.read(path, rej))
    assert got == 40 - len(bad)
    assert sorted(r.where for r in rej.samples) == [i + 1 for i in bad]


def test_epoch_times_by_magnitude_and_their_limit(tmp_path):
    text = "ts,count\n1741615320,1\n1741615320123,2\n1741615320123456,3\n9223372037,4\n"
    rej = Rejections()
    df = pl.from_arrow(next(reports.read(write(tmp_path / "epoch.csv", text), rej)))
    base = datetime.fromtimestamp(1741615320, UTC)
    assert df["ts"].to_list() == [base, base.replace(microsecond=123000), base.replace(microsecond=123456)]
    # 9,223,372,037 s is past 2262-04-11, the end of nanosecond time: rejected, not wrapped.
    assert [(r.where, r.reason) for r in rej.samples] == [(5, "bad time")]
