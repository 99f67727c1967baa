"""Access-log readers (text formats and JSON lines) on real and generated logs.

Truth comes from outside the readers: SOURCES.md counts, values read off the file by eye
(``sed -n 1p``), counts made with awk, an independent parse with Python's ``re`` and
``datetime.strptime``, hand-written lines, and the generator's own ground truth.
"""

from __future__ import annotations

import gzip
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
import zstandard

from surgescope.schema import REQUESTS
from surgescope.simulate.accesslog import Flood, generate
from surgescope.sources import accesslog, accesslog_json, open_input
from surgescope.sources.base import InputError, Rejections


@pytest.fixture(scope="module")
def apache(datasets: Path) -> Path:
    return datasets / "logs" / "elastic-apache" / "apache_logs"


def read(path, module=accesslog, **options) -> tuple[pl.DataFrame, Rejections]:
    rej = Rejections()
    table = pa.Table.from_batches(list(module.read(path, rej, **options)), schema=REQUESTS)
    df = pl.from_arrow(table)
    assert isinstance(df, pl.DataFrame)
    return df, rej


@pytest.fixture(scope="module")
def apache_df(apache: Path) -> tuple[pl.DataFrame, Rejections]:
    return read(apache)


# --- the real Apache log ----------------------------------------------------------------------


def test_apache_counts_match_sources(apache_df):
    df, rej = apache_df
    # SOURCES.md: 10,000 lines, 1,753 client addresses. Line 8899 is accepted leniently.
    assert df.height == 10_000
    assert rej.count == 0
    assert df["src_ip"].n_unique() == 1753
    assert df["src_ip_hi"].null_count() == 0


def test_apache_line_8899_truncated_user_agent(apache, apache_df):
    df, _ = apache_df
    # sed -n 8899p: the user agent lacks its closing quote; lenient reading keeps it to the end.
    row = df.row(8898, named=True)
    assert row["src_ip"] == "46.118.127.106"
    assert row["path"] == "/scripts/grok-py-test/configlib.py"
    assert row["user_agent"] == "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html"
    strict, rej = read(apache, strict=True)
    assert strict.height == 9_999
    assert rej.count == 1
    assert (rej.samples[0].where, rej.samples[0].reason) == (8899, "unterminated quoted field")


def test_apache_first_line_by_eye(apache_df):
    df, _ = apache_df
    # sed -n 1p apache_logs
    assert df.row(0, named=True) == {
        "ts": datetime(2015, 5, 17, 10, 5, 3, tzinfo=UTC),
        "src_ip": "83.149.9.216",
        "src_ip_hi": 0,
        "src_ip_lo": 0xFFFF_0000_0000 | (83 << 24 | 149 << 16 | 9 << 8 | 216),
        "method": "GET",
        "path": "/presentations/logstash-monitorama-2013/images/kibana-search.png",
        "protocol": "HTTP/1.1",
        "status": 200,
        "bytes": 203023,
        "referer": "http://semicomplete.com/presentations/logstash-monitorama-2013/",
        "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/32.0.1700.77 Safari/537.36",
        "host": None,
        "duration_s": None,
    }


def test_apache_column_counts_from_awk(apache_df):
    df, _ = apache_df
    # awk '{print $9}' | sort | uniq -c
    status = dict(df["status"].value_counts().iter_rows())
    assert status == {200: 9126, 304: 445, 404: 213, 301: 164, 206: 45, 500: 3, 416: 2, 403: 2}
    # awk '{print $6}' | sort | uniq -c
    assert dict(df["method"].value_counts().iter_rows()) == {"GET": 9952, "HEAD": 42, "OPTIONS": 1, "POST": 5}
    # awk '$10=="-"' | wc -l ; awk -F'"' '$4=="-"' | wc -l ; awk -F'"' '$6=="-"' | wc -l
    assert df["bytes"].null_count() == 669
    assert df["referer"].null_count() == 4073
    assert df["user_agent"].null_count() == 190


_CLF = re.compile(r'^(\S+) \S+ \S+ \[([^\]]+)\] "(\S+) (\S+) (\S+)" (\d+) (\S+) "([^"]*)" "([^"]*)"?$')


def test_apache_sample_matches_independent_parse(apache, apache_df):
    """Every 37th line parsed with Python's re and datetime equals the reader's row."""
    df, _ = apache_df
    lines = apache.read_text(encoding="utf-8").splitlines()
    checked = 0
    for i in range(0, len(lines), 37):
        m = _CLF.match(lines[i])
        assert m, lines[i]
        ip, when, method, path, proto, status, size, ref, ua = m.groups()
        row = df.row(i, named=True)
        assert row["ts"] == datetime.strptime(when, "%d/%b/%Y:%H:%M:%S %z").astimezone(UTC)
        assert (row["src_ip"], row["method"], row["path"], row["protocol"]) == (ip, method, path, proto)
        assert row["status"] == int(status)
        assert row["bytes"] == (None if size == "-" else int(size))
        assert row["referer"] == (None if ref == "-" else ref)
        assert row["user_agent"] == (None if ua == "-" else ua)
        checked += 1
    assert checked == 271


def test_apache_totals_independent(apache, apache_df):
    df, _ = apache_df
    times, total = [], 0
    for line in apache.read_text(encoding="utf-8").splitlines():
        f = line.split(" ")
        times.append(datetime.strptime(f[3][1:] + " " + f[4][:-1], "%d/%b/%Y:%H:%M:%S %z"))
        total += 0 if f[9] == "-" else int(f[9])
    assert df["bytes"].sum() == total
    assert df["ts"].min() == min(times)
    assert df["ts"].max() == max(times)


def test_apache_sniffed_and_opened(apache):
    inp = open_input(apache)
    assert (inp.kind, inp.format) == ("access-log", "clf")
    assert inp.read_all().num_rows == 10_000


# --- hand-written lines: offsets, escapes, addresses, odd requests ------------------------------


def write(tmp_path: Path, text: str | bytes, name: str = "a.log") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return p


def test_offsets_become_utc(tmp_path):
    p = write(tmp_path,
        '1.2.3.4 - - [10/Mar/2025:06:00:00 -0400] "GET / HTTP/1.1" 200 5 "-" "a"\n'
        '1.2.3.4 - - [10/Mar/2025:11:30:00 +0530] "GET / HTTP/1.1" 200 5 "-" "a"\n'
        '1.2.3.4 - - [31/Dec/2024:23:59:59 -0100] "GET / HTTP/1.1" 200 5 "-" "a"\n')
    df, rej = read(p)
    assert rej.count == 0
    assert df["ts"].to_list() == [
        datetime(2025, 3, 10, 10, 0, tzinfo=UTC),
        datetime(2025, 3, 10, 6, 0, tzinfo=UTC),
        datetime(2025, 1, 1, 0, 59, 59, tzinfo=UTC),
    ]


def test_escaped_quotes_and_odd_requests(tmp_path):
    p = write(tmp_path,
        r'5.6.7.8 - bob [10/Mar/2025:10:00:00 +0000] "GET /q?x=\"y\" HTTP/1.1" 200 10 "http://r/\"x\"" "Agent \"quoted\" \\ end"' "\n"
        r'5.6.7.8 - - [10/Mar/2025:10:00:01 +0000] "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" 400 157 "-" "-"' "\n"
        '5.6.7.8 - - [10/Mar/2025:10:00:02 +0000] "-" 408 - "-" "-"\n'
        '5.6.7.8 - - [10/Mar/2025:10:00:03 +0000] "GET /a b c HTTP/1.0" 404 1 "-" "-"\n'
        '5.6.7.8 - - [10/Mar/2025:10:00:04 +0000] "GET /nover" 200 1 "-" "-"\n')
    df, rej = read(p)
    assert rej.count == 0
    rows = df.select("method", "path", "protocol", "status", "bytes", "referer", "user_agent").rows()
    assert rows == [
        ("GET", '/q?x="y"', "HTTP/1.1", 200, 10, 'http://r/"x"', 'Agent "quoted" \\ end'),
        (None, r"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", None, 400, 157, None, None),
        (None, None, None, 408, None, None, None),
        ("GET", "/a b c", "HTTP/1.0", 404, 1, None, None),
        ("GET", "/nover", None, 200, 1, None, None),
    ]


def test_addresses_v6_and_hostnames(tmp_path):
    p = write(tmp_path,
        '2001:DB8::1 - - [10/Mar/2025:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-"\n'
        'crawler.example.com - - [10/Mar/2025:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-"\n'
        '::ffff:10.0.0.1 - - [10/Mar/2025:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-"\n')
    df, rej = read(p)
    assert rej.count == 0
    assert df["src_ip"].to_list() == ["2001:db8::1", "crawler.example.com", "10.0.0.1"]
    assert df["src_ip_hi"].to_list() == [0x2001_0DB8_0000_0000, None, 0]
    assert df["src_ip_lo"].to_list() == [1, None, 0xFFFF_0A00_0001]


def test_common_crlf_blank_and_rejections(tmp_path):
    p = write(tmp_path,
        '1.1.1.1 - - [10/Mar/2025:10:00:00 +0000] "GET /x HTTP/1.1" 200 7\r\n'
        "\n"
        "   \n"
        "this is not a log line\n"
        '1.1.1.1 - - [99/Foo/2025:10:00:00 +0000] "GET /x HTTP/1.1" 200 7\n'
        '1.1.1.2 - - [10/Mar/2025:10:00:01 +0000] "POST /y HTTP/1.1" 201 -')  # no final newline
    df, rej = read(p, fmt="common")
    assert df.select("src_ip", "method", "path", "status", "bytes").rows() == [
        ("1.1.1.1", "GET", "/x", 200, 7),
        ("1.1.1.2", "POST", "/y", 201, None),
    ]
    assert [(s.where, s.reason) for s in rej.samples] == [
        (4, "not a common access-log line"),
        (5, "bad timestamp"),
    ]
    assert rej.samples[0].excerpt == "this is not a log line"


def test_times_beyond_nanoseconds_are_bad(tmp_path, monkeypatch):
    """A year nanoseconds since 1970 cannot hold is a bad timestamp, not a wrapped-around time."""
    p = write(tmp_path,
        '1.1.1.1 - - [17/May/0015:10:05:03 +0000] "GET /x HTTP/1.1" 200 7 "-" "a"\n'
        '1.1.1.1 - - [17/May/9999:10:05:03 +0000] "GET /x HTTP/1.1" 200 7 "-" "a"\n'
        '1.1.1.1 - - [17/May/ 015:10:05:03 +0000] "GET /x HTTP/1.1" 200 7 "-" "a"\n'
        '1.1.1.1 - - [21/Sep/1677:10:05:03 +0000] "GET /x HTTP/1.1" 200 7 "-" "a"\n'
        '1.1.1.1 - - [01/Jan/1678:00:00:00 +0000] "GET /x HTTP/1.1" 200 7 "-" "a"\n'
        '1.1.1.1 - - [31/Dec/2261:23:59:59 +0000] "GET /x HTTP/1.1" 200 7 "-" "a"\n')
    for fmt in ("auto", "common"):
        df, rej, _ = read_both(p, monkeypatch, fmt=fmt)
        assert [(s.where, s.reason) for s in rej.samples] == [(1, "bad timestamp"), (2, "bad timestamp"), (3, "bad timestamp"), (4, "bad timestamp")]
        assert df["ts"].to_list() == [datetime(1678, 1, 1, tzinfo=UTC), datetime(2261, 12, 31, 23, 59, 59, tzinfo=UTC)]


def test_nginx_log_format(tmp_path):
    fmt = ('$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
           '"$http_referer" "$http_user_agent" $request_time $host')
    p = write(tmp_path,
        '9.9.9.9 - - [10/Mar/2025:10:00:00 +0100] "GET /api HTTP/2.0" 503 197 "-" "Go-http-client/1.1" 0.250 x.example\n'
        '9.9.9.8 - alice [10/Mar/2025:10:00:01 +0100] "POST /login HTTP/1.1" 200 1024 "https://x.example/" "curl/8" 1.5 -\n')
    df, rej = read(p, log_format=fmt)
    assert rej.count == 0
    assert df.select("ts", "src_ip", "method", "path", "protocol", "status", "bytes", "referer", "user_agent", "duration_s", "host").rows() == [
        (datetime(2025, 3, 10, 9, 0, tzinfo=UTC), "9.9.9.9", "GET", "/api", "HTTP/2.0", 503, 197, None, "Go-http-client/1.1", 0.25, "x.example"),
        (datetime(2025, 3, 10, 9, 0, 1, tzinfo=UTC), "9.9.9.8", "POST", "/login", "HTTP/1.1", 200, 1024, "https://x.example/", "curl/8", 1.5, None),
    ]


def test_log_format_iso_and_msec(tmp_path):
    p = write(tmp_path, "1741600800.250 10.1.1.1 GET /a 200\n2025-03-10T10:00:00+02:00 10.1.1.2 HEAD /b 304\n")
    df, rej = read(p, log_format="$msec $remote_addr $request_method $uri $status")
    assert (df.height, rej.count) == (1, 1)
    assert df["ts"][0] == datetime(2025, 3, 10, 10, 0, 0, 250000, tzinfo=UTC)
    df, _ = read(p, log_format="$time_iso8601 $remote_addr $request_method $uri $status")
    assert df["ts"].to_list() == [datetime(2025, 3, 10, 8, 0, tzinfo=UTC)]
    assert df["method"].to_list() == ["HEAD"]


def test_log_format_needs_address_and_time():
    with pytest.raises(InputError):
        accesslog.compile_log_format("$status $request")
    with pytest.raises(InputError):
        accesslog.compile_log_format("$remote_addr $status")
    with pytest.raises(InputError):
        accesslog.builtin_spec("nonsense")


def test_vhost_combined_and_auto(tmp_path):
    p = write(tmp_path,
        'www.example.org:443 1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET / HTTP/1.1" 200 9 "-" "ua"\n'
        '1.2.3.5 - - [10/Mar/2025:10:00:01 +0000] "GET / HTTP/1.1" 200 9 "-" "ua"\n')
    df, rej = read(p)  # auto takes both
    assert rej.count == 0
    assert df.select("host", "src_ip").rows() == [("www.example.org", "1.2.3.4"), (None, "1.2.3.5")]
    df, rej = read(p, fmt="vhost_combined")
    assert (df.height, rej.count, rej.samples[0].where) == (1, 1, 2)


def test_gzip_and_zstd(tmp_path, apache):
    raw = apache.read_bytes()
    gz = write(tmp_path, gzip.compress(raw), "a.log.gz")
    zst = write(tmp_path, zstandard.ZstdCompressor().compress(raw), "a.log.zst")
    for p in (gz, zst):
        df, rej = read(p)
        assert (df.height, rej.count) == (10_000, 0)
        assert open_input(p).format == "clf"


def test_small_chunks_keep_line_numbers(apache):
    """Chunk boundaries fall inside lines: the same rows and rejection line number result."""
    df, rej = read(apache, strict=True, chunk_bytes=4096)
    assert df.height == 9_999
    assert [s.where for s in rej.samples] == [8899]
    assert df["src_ip"].n_unique() == 1753


# --- generated logs: the generator's ground truth ------------------------------------------------


def test_generated_log_ground_truth(tmp_path):
    floods = [Flood(start_s=1800, duration_s=600, share=0.4, bots=300)]
    g = generate(tmp_path / "g.log.gz", 60_000, seed=5, floods=floods, tz="America/New_York", clients=2000)
    df, rej = read(g.path)
    assert (df.height, rej.count) == (60_000, 0)
    assert df["ts"].min() == g.start.replace(microsecond=0)
    assert df["ts"].max() == g.end.replace(microsecond=0)
    bots = df.filter(pl.col("src_ip").is_in(g.bots[0]))
    assert bots.height == g.flood_lines[0]
    # every bot request lies in the flood window (times written to the second)
    start = g.start.replace(microsecond=0).timestamp()
    secs = bots["ts"].dt.epoch("s")
    assert secs.min() >= start + 1800 - 1 and secs.max() <= start + 2400 + 1
    assert df["src_ip_hi"].null_count() == 0


@pytest.mark.parametrize("fmt", ["common", "vhost_combined", "json"])
def test_generated_formats(tmp_path, fmt):
    g = generate(tmp_path / f"g.{fmt}", 5_000, seed=2, fmt=fmt, clients=300, tz="Asia/Kolkata")
    inp = open_input(g.path)
    assert inp.kind == "access-log"
    t = inp.read_all()
    assert (t.num_rows, inp.rejections.count) == (5_000, 0)
    df = pl.from_arrow(t)
    assert df["ts"].min() == g.start.replace(microsecond=0)
    if fmt == "vhost_combined":
        assert df["host"].unique().to_list() == ["x.example"]


# --- sniffing ------------------------------------------------------------------------------------


def test_sniff(apache, datasets):
    assert accesslog.sniff(apache.read_bytes()[:65536])
    assert not accesslog_json.sniff(apache.read_bytes()[:65536])
    flows = next((datasets / "flows").rglob("*.csv"))
    assert not accesslog.sniff(flows.read_bytes()[:65536])
    assert not accesslog_json.sniff(flows.read_bytes()[:65536])
    reports = b'{"time":"2025-03-10T14:02:00Z","service":"x","region":"US","problem":"app","count":3}\n'
    assert not accesslog_json.sniff(reports)
    assert not accesslog.sniff(reports)
    zeek_conn = b'{"ts":1741600800.1,"uid":"C1","id.orig_h":"10.0.0.1","id.orig_p":1,"id.resp_h":"10.0.0.2","id.resp_p":80,"proto":"tcp"}\n'
    assert not accesslog_json.sniff(zeek_conn)
    assert not accesslog.sniff(b"ts,value\n2025-03-10 10:00:00,1\n")


# --- JSON lines ------------------------------------------------------------------------------------

NGINX = {"time_iso8601": "2025-03-10T10:02:00-04:00", "remote_addr": "203.0.113.7", "request": "GET /home?x=1 HTTP/1.1",
         "status": "200", "body_bytes_sent": "5120", "request_time": "0.012", "http_referer": "",
         "http_user_agent": "Mozilla/5.0 \"q\"", "host": "x.example"}
CADDY = {"level": "info", "ts": 1741600920.25, "logger": "http.log.access", "msg": "handled request",
         "request": {"remote_ip": "198.51.100.9", "remote_port": "41342", "client_ip": "198.51.100.10", "proto": "HTTP/2.0",
                     "method": "POST", "host": "api.example", "uri": "/v1/post",
                     "headers": {"User-Agent": ["curl/8.5.0"], "Referer": ["https://r.example/"]}},
         "bytes_read": 0, "duration": 0.5, "size": 10900, "status": 201}
TRAEFIK = {"ClientAddr": "192.0.2.1:58378", "ClientHost": "192.0.2.1", "DownstreamContentSize": 19, "DownstreamStatus": 404,
           "Duration": 107890, "RequestHost": "localhost", "RequestMethod": "GET", "RequestPath": "/missing",
           "RequestProtocol": "HTTP/1.1", "StartUTC": "2025-03-10T10:44:31.069474311Z", "request_User-Agent": "Go-http-client/1.1",
           "time": "2025-03-10T10:44:31Z"}
ALB = {"type": "https", "time": "2025-03-10T14:02:00.186641Z", "elb": "app/x/1", "client:port": "2001:db8::7:51000",
       "request_processing_time": "0.001", "target_processing_time": "0.004", "response_processing_time": "0.000",
       "elb_status_code": "503", "sent_bytes": "197", "request": "GET https://x.example:443/ HTTP/1.1",
       "user_agent": "python-requests/2.31.0", "domain_name": "x.example"}
ZEEK_HTTP = {"ts": 1741615320.5, "uid": "C1", "id.orig_h": "10.9.8.7", "id.orig_p": 5000, "id.resp_h": "10.0.0.1",
             "method": "GET", "host": "x.example", "uri": "/z", "referrer": "-", "user_agent": "ua",
             "status_code": 200, "response_body_len": 42}


def test_json_dialects(tmp_path):
    objs = [NGINX, CADDY, TRAEFIK, ALB, ZEEK_HTTP]
    p = write(tmp_path, "".join(json.dumps(o) + "\n" for o in objs), "a.json")
    assert accesslog_json.sniff(p.read_bytes())
    df, rej = read(p, accesslog_json)
    assert rej.count == 0
    got = df.select("ts", "src_ip", "method", "path", "protocol", "status", "bytes", "referer", "user_agent", "host").rows()
    assert got == [
        (datetime(2025, 3, 10, 14, 2, tzinfo=UTC), "203.0.113.7", "GET", "/home?x=1", "HTTP/1.1", 200, 5120, None, 'Mozilla/5.0 "q"', "x.example"),
        (datetime(2025, 3, 10, 10, 2, 0, 250000, tzinfo=UTC), "198.51.100.10", "POST", "/v1/post", "HTTP/2.0", 201, 10900, "https://r.example/", "curl/8.5.0", "api.example"),
        (datetime(2025, 3, 10, 10, 44, 31, 69474, tzinfo=UTC), "192.0.2.1", "GET", "/missing", "HTTP/1.1", 404, 19, None, "Go-http-client/1.1", "localhost"),
        (datetime(2025, 3, 10, 14, 2, 0, 186641, tzinfo=UTC), "2001:db8::7", "GET", "https://x.example:443/", "HTTP/1.1", 503, 197, None, "python-requests/2.31.0", "x.example"),
        (datetime(2025, 3, 10, 14, 2, 0, 500000, tzinfo=UTC), "10.9.8.7", "GET", "/z", None, 200, 42, None, "ua", "x.example"),
    ]
    assert df["duration_s"][4] is None
    assert df["duration_s"][:4].to_list() == pytest.approx([0.012, 0.5, 107890e-9, 0.005])
    assert df["src_ip_hi"][3] == 0x2001_0DB8_0000_0000
    # Traefik keeps nanoseconds: 10:44:31.069474311
    assert df["ts"].dt.nanosecond()[2] == 69474311


def test_json_rejections(tmp_path):
    lines = [
        json.dumps(NGINX),
        "",
        "{not json",
        "[1, 2, 3]",
        json.dumps({"remote_addr": "1.1.1.1", "status": 200}),
        json.dumps({**NGINX, "time_iso8601": "yesterday"}),
        json.dumps({**NGINX, "remote_addr": None, "status": {"nested": True}}),
        json.dumps({**NGINX, "status": {"nested": True}}),
        "plain text",
    ]
    p = write(tmp_path, "\n".join(lines) + "\n", "b.json")
    df, rej = read(p, accesslog_json)
    assert df.height == 2
    assert df["status"].to_list() == [200, None]
    assert [(s.where, s.reason) for s in rej.samples] == [
        (3, "invalid JSON"),
        (4, "not a JSON object"),
        (5, "no time"),
        (6, "bad timestamp"),
        (7, "no client address"),
        (9, "not a JSON object"),
    ]
    assert rej.count == 6


def test_log_format_unescapes_quoted_fields(tmp_path):
    p = write(tmp_path, r'1.2.3.4 [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" "say \"hi\"" 200' "\n")
    df, rej = read(p, log_format='$remote_addr [$time_local] "$request" "$http_user_agent" $status')
    assert rej.count == 0
    assert df.select("path", "user_agent", "status").rows() == [("/a", 'say "hi"', 200)]


def test_generator_is_deterministic_ordered_and_valid(tmp_path):
    floods = [Flood(start_s=100, duration_s=50, share=0.5, bots=20)]
    a = generate(tmp_path / "a.log", 3_000, seed=9, floods=floods, duration_s=600, clients=100)
    b = generate(tmp_path / "b.log", 3_000, seed=9, floods=floods, duration_s=600, clients=100)
    assert a.path.read_bytes() == b.path.read_bytes()
    lines = a.path.read_text().splitlines()
    assert len(lines) == 3_000 == a.normal_lines + sum(a.flood_lines)
    times = [datetime.strptime(m.group(1), "%d/%b/%Y:%H:%M:%S %z") for m in map(re.compile(r"\[([^\]]+)\]").search, lines)]
    assert times == sorted(times)
    bots = set(a.bots[0])
    assert len(bots) == 20
    assert sum(line.split(" ", 1)[0] in bots for line in lines) == a.flood_lines[0]
    j = generate(tmp_path / "c.json", 500, seed=1, fmt="json", clients=50)
    objs = [json.loads(line) for line in j.path.read_text().splitlines()]
    assert len(objs) == 500 and all(set(o) >= {"time_iso8601", "remote_addr", "request", "status"} for o in objs)
    with pytest.raises(ValueError):
        generate(tmp_path / "d.log", 10, floods=[Flood(start_s=0, duration_s=1, share=1.5)])


def test_apache_logformat_string(tmp_path):
    # Apache's "combined" plus %D (microseconds) and the virtual host, as in httpd.conf
    fmt = '%v %h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" %D'
    p = write(tmp_path,
        'x.example 4.3.2.1 - - [10/Mar/2025:15:00:00 +0100] "GET /p HTTP/1.1" 200 99 "-" "Wget/1.21" 1500\n')
    df, rej = read(p, log_format=fmt)
    assert rej.count == 0
    assert df.select("ts", "host", "src_ip", "method", "path", "status", "bytes", "user_agent", "duration_s").rows() == [
        (datetime(2025, 3, 10, 14, 0, tzinfo=UTC), "x.example", "4.3.2.1", "GET", "/p", 200, 99, "Wget/1.21", 0.0015),
    ]


def test_json_nginx_default_escapes(tmp_path):
    """nginx without escape=json writes \\x22 for a quote: invalid JSON, read as text."""
    line = r'{"time_local":"10/Mar/2025:10:00:00 +0000","remote_addr":"1.2.3.4","request":"GET /?q=\x22x\x22 HTTP/1.1","status":"200","http_user_agent":"a\x22b"}'
    p = write(tmp_path, json.dumps(NGINX) + "\n" + line + "\n", "e.json")
    df, rej = read(p, accesslog_json)
    assert rej.count == 0
    assert df.select("ts", "path", "user_agent").rows()[1] == (datetime(2025, 3, 10, 10, 0, tzinfo=UTC), r"/?q=\x22x\x22", r"a\x22b")


@pytest.mark.parametrize("fmt", ["auto", "combined"])
def test_projection_keeps_the_asked_columns_exactly(apache, apache_df, fmt):
    """``columns=`` leaves the other fields uncaptured (null) and changes nothing else: the
    same lines accepted (line 8899 included), the same values in the columns asked for."""
    full, full_rej = read(apache, fmt=fmt)
    cols = ("ts", "src_ip", "method", "path", "status", "bytes")
    part, rej = read(apache, fmt=fmt, columns=cols)
    assert rej.count == full_rej.count and part.height == full.height == 10_000
    assert part.select(*cols, "src_ip_hi", "src_ip_lo").equals(full.select(*cols, "src_ip_hi", "src_ip_lo"))
    assert part["user_agent"].null_count() == part["referer"].null_count() == part.height
    assert full["user_agent"].null_count() < 1_000  # the full read does fill them ("-" is null)


def test_projection_regex_is_still_anchored(tmp_path):
    """A line that is not combined stays rejected when fewer fields are captured."""
    p = write(tmp_path,
        '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "a"\n'
        '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET / HTTP/1.1" 200 5\n'
        'garbage line\n')
    df, rej = read(p, fmt="combined", columns=("ts", "src_ip"))
    assert df.height == 1 and rej.count == 2
    assert [s.where for s in rej.samples] == [2, 3]


# --- plain lines cut at their spaces == every line through the regexes ---------------------------

ANALYSED = ("ts", "src_ip", "method", "path", "status", "bytes", "host", "duration_s", "user_agent")


#: The reader's routes for plain lines: (name, NATIVE, PLAIN). The compiled scanner takes what it
#: can, _plain the rest, the regexes what neither takes; "regex" is every line through the regexes.
ROUTES = [("native", True, True), ("plain", False, True), ("regex", False, False)]


def read_both(path: Path, monkeypatch, **options) -> tuple[pl.DataFrame, Rejections, int]:
    """Read ``path`` by every route (:data:`ROUTES`); assert that they agree on every column
    (values and types) and every rejection (line, reason, excerpt). Returns the table, the
    rejections and how many lines the plain path cut (with the scanner off); asserts that the
    scanner, when built, took only such lines."""
    counts = {"plain": 0, "scanned": 0}
    real_plain, real_scanned = accesslog._plain, accesslog._scanned

    def counting(real, key):
        def count(lines, spec):
            req, rest = real(lines, spec)
            counts[key] += 0 if req is None else req.height
            return req, rest

        return count

    monkeypatch.setattr(accesslog, "_plain", counting(real_plain, "plain"))
    monkeypatch.setattr(accesslog, "_scanned", counting(real_scanned, "scanned"))
    out, cut = {}, {}
    for name, native, plain in ROUTES:
        monkeypatch.setattr(accesslog, "NATIVE", native)
        monkeypatch.setattr(accesslog, "PLAIN", plain)
        counts.update(plain=0, scanned=0)
        rej = Rejections(max_samples=1_000_000)
        table = pa.Table.from_batches(list(accesslog.read(path, rej, **options)), schema=REQUESTS)
        out[name] = (table, rej)
        cut[name] = dict(counts)
    t0, r0 = out["regex"]
    for name in ("native", "plain"):
        t1, r1 = out[name]
        assert t1.schema == t0.schema
        for col in t0.column_names:
            a, b = t1.column(col), t0.column(col)
            if pa.types.is_timestamp(a.type):  # as stored: a time beyond datetime's range has no Python value
                a, b = a.cast(pa.int64()), b.cast(pa.int64())
            assert a.equals(b), (name, col)
        assert r1.count == r0.count
        assert [(s.where, s.reason, s.excerpt) for s in r1.samples] == [(s.where, s.reason, s.excerpt) for s in r0.samples]
    plain_cut = cut["plain"]["plain"]
    # the scanner takes a subset of the plain lines, and the plain path the rest of them
    assert cut["native"]["scanned"] + cut["native"]["plain"] == plain_cut
    if accesslog._clfscan is None:
        assert cut["native"]["scanned"] == 0
    df = pl.from_arrow(out["native"][0])
    assert isinstance(df, pl.DataFrame)
    return df, out["native"][1], plain_cut


def test_the_scanner_is_built():
    """make install builds the compiled scanner; without it the reader works but is slower."""
    assert accesslog._clfscan is not None
    assert accesslog.native_available()


def test_scanner_takes_the_plain_lines_of_real_logs(apache, monkeypatch):
    """On apache_logs the scanner takes every plain line but those with a non-ASCII head."""
    taken = []
    real = accesslog._scanned

    def count(lines, spec):
        req, rest = real(lines, spec)
        taken.append(0 if req is None else req.height)
        return req, rest

    monkeypatch.setattr(accesslog, "_scanned", count)
    df, rej = read(apache)
    lines = apache.read_bytes().splitlines()
    odd = sum(b"\\" in ln or ln.count(b'"') < 6 for ln in lines)
    assert odd == 4
    assert sum(taken) == 10_000 - odd
    assert df.height == 10_000


@pytest.mark.parametrize("fmt", ["auto", "combined", "common"])
@pytest.mark.parametrize("columns", [None, ANALYSED, ("ts", "src_ip")])
def test_plain_path_apache(apache, monkeypatch, fmt, columns):
    df, rej, cut = read_both(apache, monkeypatch, fmt=fmt, columns=columns)
    assert df.height == 10_000
    # Lines with an escape (3, in referers) or an unclosed user agent (8899) meet the regexes;
    # common reads no referer or agent, so it cuts them all.
    lines = apache.read_bytes().splitlines()
    odd = sum(b"\\" in ln or ln.count(b'"') < 6 for ln in lines)
    assert odd == 4
    assert cut == (10_000 if fmt == "common" else 10_000 - odd)


@pytest.mark.parametrize("gen_fmt", ["combined", "common", "vhost_combined", "json", "timed"])
@pytest.mark.parametrize("fmt", ["auto", "combined", "common"])
def test_plain_path_generated(tmp_path, monkeypatch, gen_fmt, fmt):
    floods = [Flood(start_s=600, duration_s=300, share=0.3, bots=50)]
    g = generate(tmp_path / f"g.{gen_fmt}", 4_000, seed=7, fmt=gen_fmt, clients=300, floods=floods, tz="America/New_York")
    for columns in (None, ANALYSED):
        df, rej, cut = read_both(g.path, monkeypatch, fmt=fmt, columns=columns, chunk_bytes=64 << 10)
        expect = {("vhost_combined", "auto"): 4_000, ("json", "auto"): 0, ("json", "combined"): 0, ("json", "common"): 0}
        assert df.height == expect.get((gen_fmt, fmt), 0 if gen_fmt == "vhost_combined" or (fmt == "combined" and gen_fmt == "common") else 4_000)
        plain_shape = gen_fmt in ("combined", "timed") or (gen_fmt == "common" and fmt == "common")
        assert cut == (4_000 if plain_shape else 0) * (len(columns or ANALYSED) > 0)


# Lines near the plain shape, each off by one detail the check must catch (or must let through).
NEAR_PLAIN = [
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "ua" 0.250 extra "x"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "ua"\r',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "-"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 - "http://r/ x" "a b c"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 99999999999999999999 "-" "ua"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 007 "-" "ua"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "- /a HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/" 200 5 "-" "ua"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTPS/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET  HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a b HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a" 200 5 "-" "ua"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "" 400 0 "-" "-"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a\tb HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 2000 5 "-" "ua"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 20 5 "-" "ua"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" ٢٠٠ 5 "-" "ua"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 ٥ "-" "ua"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "u\\"a"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "\\x41" "ua"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a\\"b HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "ua',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-"x"ua"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 " " "ua"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-"  "ua"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 x',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5x "-" "ua"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 -5 "-" "ua"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1"  200 5 "-" "ua"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000]  "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00  +0000] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00+0000] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000 x] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [10/Mar]2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00\t+0000] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [99/Foo/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [31/Feb/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [10/Mar/2025:24:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [10/Mar/2025:23:59:60 +0000] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +9999] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +05:30] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [1/mar/2025:1:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [ ] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - "bob" [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - b"b [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - bob\\ [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4\t- - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4\u00a0x - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4  - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    ' 1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    'ümlaut.example - - [10/Mar/2025:10:00:00 +0000] "GÉT /ä HTTP/1.1" 200 5 "-" "ua ✓"',
    '2001:db8::1 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    'x.example:443 1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '- - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "ua\x00\x7f\x1b"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "r\x0bx" "ua"',
    # what the compiled scanner must parse exactly as the regexes, or leave to them
    '010.001.2.3 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '256.1.1.1 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4.5 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '1234.1.1.1 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '0.0.0.0 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '255.255.255.255 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '::ffff:1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [10/mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [10/MAR/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [29/Feb/2024:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [29/Feb/2100:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [29/Feb/2000:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [00/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [31/Dec/1969:23:59:59 -2359] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [01/Jan/1678:00:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [01/Jan/1678:00:00:00 +0001] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [31/Dec/2261:23:59:59 +0000] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [31/Dec/2261:23:59:59 -0001] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [10/Mar/0000:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0060] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +2400] "GET /a HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 999999999999999999 "-" "ua"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 9999999999999999999 "-" "ua"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 0 "-" "ua"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "" ""',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "ua" "x\\"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "- -" "ua ✓ ünï"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a-path-longer-than-twelve HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1"',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000]',
    '1 - - [',
    'a b c',
]


@pytest.mark.parametrize("fmt", ["auto", "combined", "common"])
@pytest.mark.parametrize("strict", [False, True])
def test_plain_path_near_misses(tmp_path, monkeypatch, fmt, strict):
    """Each near-miss alone and all of them in one chunk, CRLF and LF, read both ways."""
    text = "\n".join(NEAR_PLAIN) + "\n" + "\r\n".join(NEAR_PLAIN)  # the last line without a newline
    p = write(tmp_path, text)
    for columns in (None, ANALYSED):
        df, rej, cut = read_both(p, monkeypatch, fmt=fmt, strict=strict, columns=columns)
        assert 0 < cut < df.height < 2 * len(NEAR_PLAIN)


def test_times_nanoseconds_cannot_hold_are_rejected_not_wrapped(tmp_path):
    """ISO times and epoch numbers outside 1678-2261 (64-bit nanoseconds since 1970) are bad
    timestamps, in log_format logs and JSON lines alike; a time inside the range still reads."""
    p = write(tmp_path,
              "0015-03-10T10:00:00+00:00 10.1.1.1 GET /a 200\n"
              "9999-03-10T10:00:00Z 10.1.1.2 GET /b 200\n"
              "2025-03-10T10:00:00Z 10.1.1.3 GET /c 200\n")
    df, rej = read(p, log_format="$time_iso8601 $remote_addr $request_method $uri $status")
    assert df["ts"].to_list() == [datetime(2025, 3, 10, 10, 0, tzinfo=UTC)]
    assert [(s.where, s.reason) for s in rej.samples] == [(1, "bad timestamp"), (2, "bad timestamp")]
    p = write(tmp_path, "99999999999.5 10.1.1.1 GET /a 200\n99999999999999 10.1.1.2 GET /b 200\n"
                        "1741600800.250 10.1.1.3 GET /c 200\n", "m.log")
    df, rej = read(p, log_format="$msec $remote_addr $request_method $uri $status")
    assert df["ts"].to_list() == [datetime(2025, 3, 10, 10, 0, 0, 250000, tzinfo=UTC)]
    assert rej.count == 2
    lines = [json.dumps({**NGINX, "time_iso8601": t}) for t in ("9999-12-31T00:00:00Z", "1500-01-01T00:00:00Z")]
    lines += [json.dumps({**NGINX, "time_iso8601": "99999999999"}), json.dumps(NGINX)]
    df, rej = read(write(tmp_path, "\n".join(lines) + "\n", "t.json"), accesslog_json)
    assert df.height == 1 and [(s.where, s.reason) for s in rej.samples] == [(i, "bad timestamp") for i in (1, 2, 3)]


@pytest.mark.parametrize("line", [
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "r\nx" "ua"\n',  # a newline inside
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 99999999999999999999999 "-" "ua"\n',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 1234567890123456789 "-" "ua"\n',
    '1.2.3.4 - - [10/Mar/2025:10:00:00 +0000] "GET /a HTTP/1.1" 200 123456789012345678 "-" "ua"\n',
])
def test_parse_lines_routes_agree_on_frames_read_cannot_make(monkeypatch, line):
    """parse_lines is public: frames not cut by line_batches (a newline inside a line), and
    byte counts around what int64 holds, give the same requests and rejections every route."""
    frame = pl.DataFrame({"n": [1], "line": [line]})
    spec = accesslog.builtin_spec("combined")
    out = []
    for _, native, plain in ROUTES:
        monkeypatch.setattr(accesslog, "NATIVE", native)
        monkeypatch.setattr(accesslog, "PLAIN", plain)
        req, rej = accesslog.parse_lines(frame, spec)
        out.append((req.drop("src_ip_lo", strict=False).to_dicts(), rej.to_dicts()))
    assert out[0] == out[1] == out[2]
