"""The command line's contract: version, one-line errors with exit code 2."""

from typer.testing import CliRunner

from surgescope import __version__
from surgescope.cli import app

runner = CliRunner()


def test_version():
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0
    assert __version__ in r.output


def test_missing_file_is_one_line_exit_2(tmp_path):
    r = runner.invoke(app, ["analyze", str(tmp_path / "nope.pcap"), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2
    assert "no such file" in r.output
    assert "Traceback" not in r.output


def test_unknown_format_is_one_line_exit_2(tmp_path):
    f = tmp_path / "x.bin"
    f.write_bytes(b"\x00\x01\x02 definitely not a known format \xff" * 10)
    r = runner.invoke(app, ["analyze", str(f), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2
    assert "unknown format" in r.output


def test_analyze_with_anonymiser_list_and_bad_mmdb(tmp_path, datasets):
    log = datasets / "logs" / "elastic-apache" / "apache_logs"
    exits = tmp_path / "exits.txt"
    exits.write_text("# two exits seen in the log\n83.149.9.216\n24.236.252.67/32\n")
    r = runner.invoke(app, ["analyze", str(log), "--out", str(tmp_path / "o"), "--anonymisers", str(exits)])
    assert r.exit_code == 0, r.output
    import json

    report = json.loads((tmp_path / "o" / "report.json").read_text())
    figures = [f for f in report["attribution"]["evidence"] if f.get("name") == "anonymiser_share"]
    assert figures and 0 < figures[0]["value"] < 0.01  # 2 of 1,753 clients

    r = runner.invoke(app, ["analyze", str(log), "--out", str(tmp_path / "p"), "--mmdb", str(tmp_path / "none.mmdb")])
    assert r.exit_code == 2
    assert "none.mmdb" in r.output


def test_analyze_custom_log_format(tmp_path):
    """A log in a user's own nginx log_format, which no sniffer knows, reads with --log-format."""
    import json

    fmt = '$time_iso8601 $remote_addr $status $request_time "$request" "$http_user_agent"'
    lines = [
        '2025-03-10T10:02:00+01:00 198.51.100.7 200 0.012 "GET /home HTTP/1.1" "curl/8.0"',
        '2025-03-10T10:02:01+01:00 2001:db8::5 503 1.500 "POST /api HTTP/2.0" "Mozilla/5.0 <x>"',
        "garbage that is not the format",
    ]
    log = tmp_path / "custom.log"
    log.write_text("\n".join(lines) + "\n")
    r = runner.invoke(app, ["analyze", str(log), "--out", str(tmp_path / "o"), "--log-format", fmt])
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    (inp,) = report["inputs"]
    assert (inp["kind"], inp["records"], inp["rejected"]) == ("access-log", 2, 1)
    assert inp["rejections"]["samples"][0]["where"] == 3
    assert inp["summary"]["start"] == "2025-03-10T09:02:00Z"  # +01:00 converted to UTC
    assert {s["src_ip"] for s in inp["summary"]["top_sources"]} == {"198.51.100.7", "2001:db8::5"}


def test_progress_names_each_analysis_step(datasets):
    """Reading shows records; the analyses after it (seconds on big inputs) name their step."""
    from rich.console import Console
    from rich.progress import Progress

    from surgescope.cli import Reporter
    from surgescope.pipeline import analyze

    console = Console(record=True, force_terminal=True, width=120)
    steps: list[str] = []
    with Progress(console=console, auto_refresh=False) as progress:
        rep = Reporter(progress, "reading")

        def stage(what: str) -> None:
            steps.append(what)
            rep.stage(what)
            progress.refresh()

        analyze([datasets / "logs/elastic-apache/apache_logs"], progress=rep.records, stage=stage)
    assert steps == ["outage waves", "attacks", "attribution"]
    shown = console.export_text()
    assert "reading apache_logs" in shown and "attribution" in shown
