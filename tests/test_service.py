"""The live service over a real socket: uvicorn on 127.0.0.1 in a thread, httpx against it.

The outage checks replay 10 March 2025 as the project's generator reconstructs it from the
Downdetector figures published in the press (:mod:`surgescope.simulate.reports`; the figures
are in ../shared/press/002_*.txt, US Eastern = UTC-4 that day). The truth the tests check is
the published one, not the generator's: four waves peaking at about 20,608 reports (6:00),
41,143 (10:02), 36,064 (13:02) and 19,446 (14:02), with troughs between them.
"""

from __future__ import annotations

import io
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import cache

import httpx
import polars as pl
import pytest
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from surgescope.service import create_app
from surgescope.simulate.reports import reconstruct_x_2025_03_10

ET = timedelta(hours=-4)  # EDT on 10 March 2025 (DST began on 9 March)
# Published peaks (Eastern time, reports), ../shared/press/002_d87856ec168d9d8a.txt.
PEAKS = [("06:00", 20608), ("10:02", 41143), ("13:02", 36064), ("14:02", 19446)]


def utc(hhmm: str) -> str:
    """ISO UTC text of an Eastern time on 10 March 2025."""
    h, m = map(int, hhmm.split(":"))
    return (datetime(2025, 3, 10, h, m, tzinfo=UTC) - ET).strftime("%Y-%m-%dT%H:%M:%SZ")


@cache
def x_day() -> pl.DataFrame:
    """The generator's reconstruction (one day of history before), as report rows."""
    t = pl.from_arrow(reconstruct_x_2025_03_10(days_before=1, seed=1))
    return t.select(pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%SZ").alias("time"),
                    "count", "service", "region", "problem")


def csv_body(df: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.write_csv(buf)
    return buf.getvalue()


def post_csv(client: httpx.Client, df: pl.DataFrame) -> httpx.Response:
    return client.post("/v1/reports", content=csv_body(df), headers={"content-type": "text/csv"})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """uvicorn serving an app on 127.0.0.1:<free port> in a background thread."""

    def __init__(self, app):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        for _ in range(200):  # up to 10 s
            if self.server.started:
                return self
            time.sleep(0.05)
        raise RuntimeError("server did not start")

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class FreshApp:
    """An ASGI app that forwards to ``self.app``, so each test gets a fresh service on one socket."""

    def __init__(self) -> None:
        self.app = create_app()

    async def __call__(self, scope, receive, send) -> None:
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with LiveServer(FreshApp()) as s:
        yield s


@pytest.fixture
def live(server: LiveServer) -> LiveServer:
    server.server.config.app.app = create_app()  # fresh state, same socket
    return server


@pytest.fixture
def client(live: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, timeout=30) as c:
        yield c


def metric(client: httpx.Client, name: str) -> float:
    text = client.get("/metrics").text
    m = re.search(rf"^{name} (\S+)$", text, re.M)
    assert m, f"{name} not in /metrics"
    return float(m.group(1))


def et(iso_text: str) -> str:
    """HH:MM Eastern of an ISO UTC time from the service."""
    return (datetime.fromisoformat(iso_text) + ET).strftime("%H:%M")


def test_reconstructed_surge_is_an_outage_with_the_published_waves(client: httpx.Client) -> None:
    day = x_day()
    before = metric(client, "surgescope_reports_received_total")
    # Up to 14:10 Eastern: the fourth wave is under way.
    part = day.filter(pl.col("time") <= utc("14:10"))
    r = post_csv(client, part)
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": part.height, "rejected": 0, "rejections": []}
    st = client.get("/v1/status").json()
    (x,) = st["services"]
    assert x["service"] == "x" and x["outage"] is True and st["outage"] is True
    assert x["minute"] == utc("14:09")  # the 14:10 minute may still get reports
    assert x["rate_per_min"] > 10 * x["baseline_per_min"]
    assert [(et(w["peak_at"]), w["peak"]) for w in x["waves"]] == PEAKS
    assert x["waves"][-1]["ongoing"] is True  # the fourth wave is still open

    # The rest of the day: the outage is over, four waves, each closed.
    assert post_csv(client, day.filter(pl.col("time") > utc("14:10"))).status_code == 200
    st = client.get("/v1/status").json()
    (x,) = st["services"]
    assert x["outage"] is False
    assert [(et(w["peak_at"]), w["peak"]) for w in x["waves"]] == PEAKS
    assert all(not w["ongoing"] and w["start"] <= w["peak_at"] < w["end"] for w in x["waves"])
    # Real troughs keep the waves apart: the first is over by 9:30 ("appeared to have stopped
    # until around 9:30"), and the others do not overlap.
    assert et(x["waves"][0]["end"]) <= "09:30"
    assert all(a["end"] <= b["start"] for a, b in zip(x["waves"], x["waves"][1:], strict=False))
    assert x["reports_total"] == day["count"].sum()
    by_region = day.group_by("region").agg(pl.col("count").sum()).sort("count", descending=True)
    assert x["by_region"][0] == {"region": by_region["region"][0], "reports": by_region["count"][0]}

    alerts = client.get("/v1/alerts").json()["alerts"]
    assert [(a["type"], et(a["wave"]["peak_at"])) for a in alerts] == [
        (kind, t) for t, _ in PEAKS for kind in ("outage-start", "outage-end")]
    assert metric(client, "surgescope_alerts_fired_total") == 8
    assert metric(client, "surgescope_reports_received_total") - before == x["reports_total"]


def test_late_data_gives_the_same_waves_as_in_order(client: httpx.Client) -> None:
    day = x_day()
    noon = day.filter(pl.col("time") < utc("12:00"))
    # The afternoon arrives before the morning: the service rescores the whole series.
    assert post_csv(client, day.filter(pl.col("time") >= utc("12:00"))).status_code == 200
    assert post_csv(client, noon).status_code == 200
    (s,) = client.get("/v1/status").json()["services"]
    assert [(et(w["peak_at"]), w["peak"]) for w in s["waves"]] == PEAKS


def test_single_reports_are_counted_per_minute(client: httpx.Client) -> None:
    t0 = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
    reports = [{"time": (t0 + timedelta(seconds=20 * i)).isoformat(), "service": "y",
                "region": "DE" if i % 3 else "US", "problem": "app"} for i in range(9)]
    assert client.post("/v1/reports", json=reports).json()["accepted"] == 9
    (y,) = client.get("/v1/status").json()["services"]
    # 9 reports, 3 per minute, over 09:00-09:02; the minute of the latest report is still open.
    assert [p["value"] for p in y["series"]] == [3, 3]
    assert y["reports_total"] == 9
    assert {r["region"]: r["reports"] for r in y["by_region"]} == {"DE": 6, "US": 3}
    assert y["by_problem"] == [{"problem": "app", "reports": 9}]


def test_bad_reports_are_rejected_with_their_index_and_the_rest_kept(client: httpx.Client) -> None:
    body = [
        {"time": "2025-03-10T10:00:00Z", "service": "x"},
        {"time": "not a time", "service": "x"},
        {"service": "x"},
        {"time": "2025-03-10T10:00:00Z", "count": -3},
        {"time": "2025-03-10T10:00:00Z", "count": True},
        {"time": "2025-03-10T10:00:00Z", "service": ["x"]},
        "x",
        {"time": 1741600800, "count": 7, "service": "x"},
        {"time": "2999-01-01T00:00:00Z", "service": "x"},
    ]
    before = metric(client, "surgescope_report_records_rejected_total")
    r = client.post("/v1/reports", json=body)
    assert r.status_code == 200
    j = r.json()
    assert j["accepted"] == 2 and j["rejected"] == 7
    assert [x["where"] for x in j["rejections"]] == [1, 2, 3, 4, 5, 6, 8]
    assert "future" in j["rejections"][-1]["reason"]
    assert "time" in j["rejections"][0]["reason"] and "count" in j["rejections"][2]["reason"]
    assert metric(client, "surgescope_report_records_rejected_total") - before == 7
    (x,) = client.get("/v1/status").json()["services"]
    assert x["reports_total"] == 8


@pytest.mark.parametrize(("path", "content", "ctype", "status"), [
    ("/v1/reports", b"{not json", "application/json", 400),
    ("/v1/reports", b"[]", "application/json", 400),
    ("/v1/reports", b'[{"time": "bad"}]', "application/json", 400),
    ("/v1/reports", b"\x89PNG", "image/png", 415),
    ("/v1/traffic", b"", "application/octet-stream", 400),
    ("/v1/traffic", b"hello world\nthis is no log\n", "text/plain", 400),
    ("/v1/traffic", b"\x00\xff" * 100, "application/octet-stream", 400),
    ("/v1/traffic?kind=bogus", b"x", "application/octet-stream", 400),
    ("/v1/traffic", b"a=b", "application/x-www-form-urlencoded", 400),
    ("/v1/reports", b"[1, 2]", "application/x-www-form-urlencoded", 400),
    ("/v1/reports", b"<html>", "text/html", 415),
    ("/v1/traffic", b"--zz\r\nbroken", "multipart/form-data; boundary=zz", 400),
    ("/v1/traffic", b"x", "multipart/form-data", 400),
])
def test_bad_input_gets_a_one_line_json_error(client: httpx.Client, path, content, ctype, status) -> None:
    before = metric(client, "surgescope_uploads_rejected_total")
    r = client.post(path, content=content, headers={"content-type": ctype})
    assert r.status_code == status
    assert r.headers["content-type"] == "application/json"
    assert "\n" not in r.text and set(r.json()) == {"error"} and r.json()["error"]
    assert "Traceback" not in r.text
    assert metric(client, "surgescope_uploads_rejected_total") - before == 1


def test_unknown_route_and_method_are_json_errors(client: httpx.Client) -> None:
    r = client.get("/nope")
    assert r.status_code == 404 and set(r.json()) == {"error"}
    r = client.get("/v1/reports")
    assert r.status_code == 405 and set(r.json()) == {"error"}


def test_body_over_the_limit_gets_413_without_reading_it_all() -> None:
    with LiveServer(create_app(max_body=1000)) as live, httpx.Client(base_url=live.url) as c:
        r = c.post("/v1/traffic", content=b"x" * 5000)
        assert r.status_code == 413 and "limit" in r.json()["error"]

        # Chunked (no Content-Length): cut off while streaming.
        def chunks():
            for _ in range(10):
                yield b"y" * 500

        r = c.post("/v1/traffic", content=chunks())
        assert r.status_code == 413 and "limit" in r.json()["error"]


def test_metrics_exposition_counts_requests(client: httpx.Client) -> None:
    for _ in range(3):
        assert client.get("/healthz").json()["status"] == "ok"
    text = client.get("/metrics").text
    assert 'surgescope_request_duration_seconds_count{path="/healthz",status="200"} 3' in text
    # Every sample line is "name{labels} value": parseable by a Prometheus scraper.
    for line in text.splitlines():
        assert line.startswith("#") or re.fullmatch(r'[a-z_]+(\{[^}]*\})? [0-9.e+-]+', line), line


def test_reports_as_csv_are_read_by_the_reports_reader(client: httpx.Client) -> None:
    csv = (
        "time,service,region,problem\n"
        "2025-03-10T10:00:05Z,x,US,app\n"
        "2025-03-10T10:00:40Z,x,GB,login\n"
        "yesterday,x,US,app\n"
        "2025-03-10T10:01:10Z,x,US,app\n"
    )
    r = client.post("/v1/reports", content=csv, headers={"content-type": "text/csv"})
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["accepted"] == 3 and j["rejected"] == 1
    assert j["rejections"][0]["where"] == 4  # the 4th line of the file
    (x,) = client.get("/v1/status").json()["services"]
    assert x["reports_total"] == 3 and [p["value"] for p in x["series"]] == [2]


def test_reports_posted_the_way_curl_d_sends_them(client: httpx.Client) -> None:
    # curl -d '[...]' labels the body application/x-www-form-urlencoded; it is JSON all the same.
    body = b'[{"time": "2025-03-10T10:02:00-04:00", "count": 41143, "service": "x"}]'
    r = client.post("/v1/reports", content=body,
                    headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200 and r.json()["accepted"] == 1
    (x,) = client.get("/v1/status").json()["services"]
    assert x["reports_total"] == 41143


def test_flow_file_upload_multipart_and_raw(client: httpx.Client, datasets) -> None:
    path = datasets / "flows" / "cicids2017-improved" / "BENIGN_5000.csv"
    before = metric(client, "surgescope_records_ingested_total")
    with path.open("rb") as f:
        r = client.post("/v1/traffic", files={"file": (path.name, f, "text/csv")}, data={"kind": "flows"})
    assert r.status_code == 200, r.text
    j = r.json()
    # SOURCES.md: 5,000 flows per class file.
    assert (j["table"], j["format"], j["records"], j["rejected"]) == ("flows", "cicflowmeter", 5000, 0)
    assert metric(client, "surgescope_records_ingested_total") - before == 5000

    r = client.post("/v1/traffic", content=path.read_bytes())  # raw body, kind sniffed
    assert r.status_code == 200 and r.json()["records"] == 5000
    flows = client.get("/v1/status").json()["traffic"]["flows"]
    assert flows["records_total"] == 10_000 and flows["uploads"] == 2


def test_real_syn_flood_capture_is_an_attack(client: httpx.Client, datasets) -> None:
    path = datasets / "pcap" / "stopddos" / "pkt.TCP.synflood.spoofed.pcap"
    before = metric(client, "surgescope_records_ingested_total")
    r = client.post("/v1/traffic", content=path.read_bytes(),
                    headers={"content-type": "application/vnd.tcpdump.pcap"})
    assert r.status_code == 200, r.text
    j = r.json()
    # SOURCES.md: 37,841 packets; a spoofed SYN flood to port 25565 on 10.10.10.10.
    assert (j["table"], j["records"], j["rejected"], j["attacks_new"]) == ("packets", 37841, 0, 1)
    assert metric(client, "surgescope_records_ingested_total") - before == 37841
    st = client.get("/v1/status").json()
    (attack,) = st["attacks"]
    assert attack["vector"] == "syn-flood" and attack["target"] == "10.10.10.10"
    # The flood fills the first 4 s of the 23 s capture: it is over at the capture's end.
    assert attack["ongoing"] is False and st["attack"] is None
    assert attack["start"] == "2021-04-28T10:30:21.099Z"  # the first packet (tshark: 10:30:21.099510)
    assert attack["sources"] > 30_000  # "~37,600 random source addresses"
    assert st["traffic"]["packets"]["records_total"] == 37841
    alerts = client.get("/v1/alerts").json()["alerts"]
    assert [(a["type"], a["attack"]["vector"]) for a in alerts] == [
        ("attack-start", "syn-flood"), ("attack-end", "syn-flood")]
    assert "top_sources" not in alerts[0]["attack"]
    assert metric(client, "surgescope_alerts_fired_total") == 2

    # The same capture again adds records but announces no second attack.
    assert client.post("/v1/traffic", content=path.read_bytes()).json()["attacks_new"] == 0
    assert len(client.get("/v1/alerts").json()["alerts"]) == 2


def test_attack_is_ongoing_until_later_traffic_shows_it_over(client: httpx.Client, tmp_path) -> None:
    # The project's generator: a minute of web browsing, and a SYN flood from 50 s to the end
    # of the capture (90 s); a second capture continues with browsing only.
    from surgescope.simulate.packets import Phase, generate
    from surgescope.simulate.pcapwriter import write

    first, second = tmp_path / "a.pcap", tmp_path / "b.pcap"
    write(generate([Phase("normal", start=0, duration=60, rate=50),
                    Phase("syn-flood", start=50, duration=40, rate=1_000)], seed=3), first)
    write(generate([Phase("normal", start=90, duration=30, rate=50)], seed=4), second)

    assert client.post("/v1/traffic", content=first.read_bytes()).json()["attacks_new"] == 1
    st = client.get("/v1/status").json()
    assert st["attack"]["vector"] == "syn-flood" and st["attack"]["ongoing"] is True
    assert [a["type"] for a in client.get("/v1/alerts").json()["alerts"]] == ["attack-start"]

    assert client.post("/v1/traffic", content=second.read_bytes()).json()["attacks_new"] == 0
    st = client.get("/v1/status").json()
    assert st["attack"] is None and [a["ongoing"] for a in st["attacks"]] == [False]
    assert [a["type"] for a in client.get("/v1/alerts").json()["alerts"]] == ["attack-start", "attack-end"]


def test_reflection_capture_uploaded_as_multipart(client: httpx.Client, datasets) -> None:
    path = datasets / "pcap" / "stopddos" / "amp.UDP.snmp.src161.pcapng"  # classic pcap inside
    with path.open("rb") as f:
        r = client.post("/v1/traffic", files={"file": (path.name, f)}, data={"kind": "pcap"})
    assert r.status_code == 200, r.text
    assert (r.json()["format"], r.json()["records"]) == ("pcap", 4373)  # SOURCES.md
    (attack,) = client.get("/v1/status").json()["attacks"]
    assert attack["vector"] == "snmp-amplification"
    assert attack["reflected_service"]["port"] == 161


def test_state_survives_a_restart_with_a_duckdb_file(tmp_path, datasets) -> None:
    db = tmp_path / "service.duckdb"
    day = x_day()
    with LiveServer(create_app(db=db)) as live, httpx.Client(base_url=live.url, timeout=60) as c:
        assert post_csv(c, day).status_code == 200
        flows = datasets / "flows" / "cicids2017-improved" / "BENIGN_5000.csv"
        assert c.post("/v1/traffic", content=flows.read_bytes()).status_code == 200
        before = c.get("/v1/status").json()
        alerts = c.get("/v1/alerts").json()["alerts"]
    assert len(alerts) == 8
    with LiveServer(create_app(db=db)) as live, httpx.Client(base_url=live.url, timeout=60) as c:
        after = c.get("/v1/status").json()
        (x,) = after["services"]
        assert x["reports_total"] == day["count"].sum()
        assert [(et(w["peak_at"]), w["peak"]) for w in x["waves"]] == PEAKS
        assert x["by_region"] == before["services"][0]["by_region"]
        assert after["traffic"]["flows"]["records_total"] == 5000
        assert after["traffic"]["flows"]["series"] == before["traffic"]["flows"]["series"]
        # The alerts are kept, and none fires again for what was already announced.
        assert c.get("/v1/alerts").json()["alerts"] == alerts


def test_a_failing_attack_analysis_keeps_the_records(datasets) -> None:
    def broken(table, name):
        raise RuntimeError("boom")

    path = datasets / "flows" / "cicids2017-improved" / "DDoS_5000.csv"
    with LiveServer(create_app(analyze=broken)) as live, httpx.Client(base_url=live.url, timeout=60) as c:
        r = c.post("/v1/traffic", content=path.read_bytes())
        assert r.status_code == 200
        assert r.json()["records"] == 5000 and "attack analysis failed" in r.json()["analysis_error"]
        assert c.get("/v1/status").json()["traffic"]["flows"]["records_total"] == 5000


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
REPORT_LIKE = st.fixed_dictionaries({}, optional={
    "time": st.one_of(st.text(max_size=30), st.integers(), st.floats(), st.just("2025-03-10T10:02:00Z")),
    "count": JSON_VALUES, "service": JSON_VALUES, "region": JSON_VALUES, "problem": JSON_VALUES,
})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.lists(REPORT_LIKE | JSON_VALUES, max_size=6))
def test_hostile_report_bodies_never_crash_the_service(server: LiveServer, body) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        # json.dumps writes NaN and Infinity as bare words, which Python's parser accepts.
        r = c.post("/v1/reports", content=json.dumps(body), headers={"content-type": "application/json"})
        assert r.status_code in (200, 400), r.text
        j = r.json()
        assert ("error" in j) if r.status_code == 400 else (j["accepted"] + j["rejected"] == len(body))
        assert c.get("/v1/status").status_code == 200


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(head=st.sampled_from([b"", b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x0a\x0d\x0d\x0a",
                             b"127.0.0.1 - - [", b"#fields\t", b"id,Flow ID,", b"\x1f\x8b"]),
       tail=st.binary(max_size=300), kind=st.sampled_from(["auto", "pcap", "access-log", "flows"]))
def test_hostile_traffic_bodies_get_a_json_answer(server: LiveServer, head, tail, kind) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        r = c.post(f"/v1/traffic?kind={kind}", content=head + tail)
        assert r.status_code in (200, 400), r.text
        assert "\n" not in r.text.strip() and "Traceback" not in r.text


def test_live_reports_complete_minutes_by_the_wall_clock() -> None:
    from surgescope.service.reports import ReportState, parse_records

    now = [datetime(2025, 3, 10, 10, 5, 10, tzinfo=UTC).timestamp()]
    state = ReportState(clock=lambda: now[0])
    records, _ = parse_records([{"time": "2025-03-10T10:00:30Z", "count": 4, "service": "x"}])
    state.add(records)
    (x,) = state.status()
    # Reports are live (the latest is minutes old): 10:00 to 10:04 are complete, quiet ones are 0.
    assert [(p["t"], p["value"]) for p in x["series"]] == [
        ("2025-03-10T10:00:00Z", 4), ("2025-03-10T10:01:00Z", 0), ("2025-03-10T10:02:00Z", 0),
        ("2025-03-10T10:03:00Z", 0), ("2025-03-10T10:04:00Z", 0)]
    now[0] += 2 * 3600  # two hours without a report: back to event time (a replay, not live)
    (x,) = state.status()
    assert [p["t"] for p in x["series"]] == []  # only the minute of the latest report, still open


def test_gzipped_access_log_upload(client: httpx.Client, datasets) -> None:
    import gzip

    raw = (datasets / "logs" / "elastic-apache" / "apache_logs").read_bytes()
    r = client.post("/v1/traffic", content=gzip.compress(raw, compresslevel=1))
    assert r.status_code == 200, r.text
    j = r.json()
    # SOURCES.md: 10,000 lines; line 8899 is truncated (accepted leniently or rejected).
    assert j["table"] == "requests" and j["records"] + j["rejected"] == 10_000
    assert j["rejected"] == 0 or [s["where"] for s in j["rejections"]] == [8899]
    per_s = client.get("/v1/status").json()["traffic"]["requests"]
    # The latest timestamp in the file (grep/sort: 20/May/2015:21:05:59 +0000).
    assert per_s["latest"] == "2015-05-20T21:05:59Z" and per_s["records_total"] == j["records"]


def test_an_internal_failure_is_a_one_line_500(live: LiveServer) -> None:
    service = live.server.config.app.app.state.service

    def broken() -> dict:
        raise RuntimeError("boom")

    service.status = broken
    with httpx.Client(base_url=live.url) as c:
        r = c.get("/v1/status")
        assert r.status_code == 500 and r.json() == {"error": "internal error (logged by the server)"}
        assert c.get("/healthz").status_code == 200  # and the service goes on


def test_junk_service_names_cannot_grow_the_state_without_bound(monkeypatch, client) -> None:
    import surgescope.service.reports as reports

    monkeypatch.setattr(reports, "MAX_SERVICES", 3)
    body = [{"time": "2025-03-10T10:00:00Z", "service": f"s{i}"} for i in range(5)]
    j = client.post("/v1/reports", json=body).json()
    assert (j["accepted"], j["rejected"]) == (3, 2)
    assert [r["where"] for r in j["rejections"]] == [3, 4]
    assert [s["service"] for s in client.get("/v1/status").json()["services"]] == ["s0", "s1", "s2"]


def test_a_drop_of_requests_in_the_servers_log_is_an_outage(client: httpx.Client, tmp_path) -> None:
    # The project's generator: three hours at about 330 requests per minute, twenty minutes at
    # 30 per minute (the site is down), then normal again.
    from surgescope.simulate.accesslog import generate

    parts = [("09:00", 3 * 3600, 60_000), ("12:00", 20 * 60, 600), ("12:20", 40 * 60, 13_000)]
    logs = []
    for i, (start, seconds, lines) in enumerate(parts):
        path = tmp_path / f"{i}.log"
        generate(path, lines, seed=i, start=f"2025-03-10T{start}:00Z", duration_s=seconds, clients=2000)
        logs.append(path)

    for path in logs[:2]:
        r = client.post("/v1/traffic?kind=access-log", content=path.read_bytes())
        assert r.status_code == 200 and r.json()["rejected"] == 0
    requests = client.get("/v1/status").json()["traffic"]["requests"]
    assert requests["outage"] is True
    (drop,) = requests["drops"]
    assert drop["direction"] == "down" and "2025-03-10T12:00:00Z" <= drop["start"] <= "2025-03-10T12:02:00Z"

    assert client.post("/v1/traffic", content=logs[2].read_bytes()).status_code == 200
    requests = client.get("/v1/status").json()["traffic"]["requests"]
    assert requests["outage"] is False
    (drop,) = requests["drops"]
    assert "2025-03-10T12:18:00Z" <= drop["end"] <= "2025-03-10T12:22:00Z"
    types = [a["type"] for a in client.get("/v1/alerts").json()["alerts"]]
    assert types.count("traffic-drop-start") == 1 and types.count("traffic-drop-end") == 1


def test_a_packet_from_a_broken_clock_does_not_hide_the_attack(client: httpx.Client, tmp_path) -> None:
    import pyarrow as pa

    from surgescope.simulate.packets import Phase, generate
    from surgescope.simulate.pcapwriter import write

    t = generate([Phase("syn-flood", duration=3, rate=2000)], seed=2)
    ts = t["ts"].cast(pa.int64()).to_pylist()
    ts[100] = 4_102_444_800 * 10**9  # 2100-01-01: pcap's 32-bit seconds still hold it
    t = t.set_column(0, "ts", pa.array(ts, pa.int64()).cast(t.schema.field("ts").type))
    path = tmp_path / "clock.pcap"
    write(t, path)
    r = client.post("/v1/traffic", content=path.read_bytes())
    assert r.status_code == 200, r.text
    j = r.json()
    assert (j["records"], j["rejected"]) == (t.num_rows - 1, 1)
    assert j["rejections"][0]["where"] == 101 and "future" in j["rejections"][0]["reason"]
    st = client.get("/v1/status").json()
    assert [a["vector"] for a in st["attacks"]] == ["syn-flood"]
    assert st["traffic"]["packets"]["latest"] < "2025-03-11"
