"""The command line: a thin layer over the library. Every command is documented in README.md.

Errors the user can fix (missing file, unknown format, bad arguments) print one line on stderr
and exit with code 2, never a traceback. Heavy modules are imported inside the commands so
``surgescope --help`` stays fast.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from surgescope import __version__

app = typer.Typer(
    name="surgescope",
    help="Outage waves, DDoS characterisation and attribution with honest confidence, from evidence.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
bench_app = typer.Typer(help="Benchmarks scored by published standards.", no_args_is_help=True)
geo_app = typer.Typer(help="Offline geolocation and AS data.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
app.add_typer(geo_app, name="geo")

err = Console(stderr=True, soft_wrap=True)  # soft wrap: an error stays one line
out = Console(soft_wrap=True)


class Kind(StrEnum):
    auto = "auto"
    access_log = "access-log"
    pcap = "pcap"
    flows = "flows"
    reports = "reports"


class RuleFormat(StrEnum):
    nftables = "nftables"
    ipset = "ipset"
    nginx = "nginx"


def fail(message: str) -> typer.Exit:
    err.print(f"surgescope: {message}", markup=False, highlight=False)
    return typer.Exit(code=2)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the errors a user can fix into one line and exit code 2."""
    from surgescope.sources.base import InputError

    try:
        yield
    except InputError as e:
        raise fail(str(e)) from None
    except (FileNotFoundError, IsADirectoryError, PermissionError) as e:
        raise fail(f"{e.filename}: {e.strerror}") from None
    except (ValueError, json.JSONDecodeError) as e:
        raise fail(str(e)) from None


class Reporter:
    """Progress lines on stderr: records read per input, then the analysis step under way."""

    def __init__(self, progress: Progress, label: str) -> None:
        self._progress, self._label = progress, label
        self._tasks: dict[str, TaskID] = {}
        self._stage: TaskID | None = None

    def records(self, name: str, done: int) -> None:
        if name not in self._tasks:
            self._tasks[name] = self._progress.add_task(f"{self._label} {Path(name).name}", total=None)
        self._progress.update(self._tasks[name], completed=done)

    def stage(self, what: str) -> None:
        if self._stage is None:
            self._stage = self._progress.add_task(what, total=None)
        self._progress.update(self._stage, description=what)


@contextmanager
def record_progress(label: str) -> Iterator[Reporter]:
    """Rich progress lines counting records and naming the step under way; shown only on a terminal."""
    with Progress(
        SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
        TextColumn("{task.completed:,} records"), TimeElapsedColumn(),
        console=err, transient=True, disable=not err.is_terminal,
    ) as progress:
        yield Reporter(progress, label)


def _geodata() -> None:
    from surgescope.attribution import geodata

    geodata.preload()


def _analysis_modules() -> None:
    # What the analyses and the report import once reading is done (0.13 CPU-s of Python
    # start-up, measured with python -X importtime), imported while the input is read.
    import surgescope.analyses
    import surgescope.attack
    import surgescope.attribution.verdict
    import surgescope.outage
    import surgescope.report.html  # noqa: F401


def preload(*tasks: Callable[[], object]) -> threading.Thread:
    """Run slow, side-effect-free loads (imports, data tables) on a background thread; join
    it before the main thread needs them.

    The address tables (0.2 s) would otherwise add to the command's time; the reading and
    analyses meanwhile are mostly Polars work outside the GIL, so the loads overlap them. (The
    report's charts no longer need Matplotlib, whose 1.3 CPU-s import preloaded here took a
    core from the reader.) A failing load is left for the main thread to meet again and report.
    """

    def load() -> None:
        for task in tasks:
            try:
                task()
            except Exception:  # noqa: BLE001 - the main thread meets it again and reports it
                return

    thread = threading.Thread(target=load, name="preload", daemon=True)
    thread.start()
    return thread


def _version(value: bool) -> None:
    if value:
        out.print(f"surgescope {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")] = False,
) -> None:
    """surgescope: is it down, was it a DDoS, and how far can the origin story be trusted."""


@app.command()
def analyze(
    inputs: Annotated[list[Path], typer.Argument(help="Captures, access logs, flow exports or report files (gzip/zstd accepted).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for report.html, report.json, report.md.")],
    kind: Annotated[Kind, typer.Option(help="Input kind; auto sniffs it from the content.")] = Kind.auto,
    claims: Annotated[Path | None, typer.Option(help="Public claims to assess (YAML).")] = None,
    mmdb: Annotated[list[Path] | None, typer.Option(help="Your own MMDB (GeoLite2, DB-IP, IPinfo); repeatable.")] = None,
    anonymisers: Annotated[Path | None, typer.Option(help="File of anonymiser exits (Tor/VPN), one address or CIDR a line.")] = None,
    log_format: Annotated[str | None, typer.Option(help="nginx log_format (or Apache LogFormat) of custom access logs.")] = None,
) -> None:
    """Analyse your own files and write the incident report.

    Example: surgescope analyze ../shared/datasets/pcap/stopddos/pkt.TCP.synflood.spoofed.pcap --out out
    """
    from surgescope.pipeline import analyze as run
    from surgescope.report import write_all

    tables = preload(_analysis_modules, _geodata)
    with user_errors(), record_progress("reading") as progress:
        incident = run(inputs, kind.value, claims=claims, progress=progress.records, stage=progress.stage,
                       mmdb_paths=mmdb or (), anonymisers=anonymisers, log_format=log_format)
        progress.stage("writing the report")
        tables.join()
        paths = write_all(incident, out_dir)
    for line in summary_lines(incident.to_dict()):
        out.print(line, markup=False, highlight=False)
    out.print(f"report: {paths.get('html', paths.get('json'))}", markup=False, highlight=False)


def summary_lines(report: dict) -> list[str]:
    """One line per input and one headline, for the terminal."""
    lines = []
    for i in report["inputs"]:
        s = i.get("summary", {})
        span = f", {s['start']} .. {s['end']}" if s.get("start") else ""
        lines.append(f"{i['path']}: {i['kind']} ({i.get('format', '?')}), {i['records']:,} records, {i['rejected']:,} rejected{span}")
    waves = report.get("outage", {}).get("waves", [])
    attacks = report.get("attacks", [])
    lines.append(
        f"{len(waves)} outage wave(s); {len(attacks)} attack(s)"
        + (": " + ", ".join(sorted({a['vector'] for a in attacks})) if attacks else "")
    )
    return lines


@app.command()
def ingest(
    inputs: Annotated[list[Path], typer.Argument(help="Files to add to the store.")],
    db: Annotated[Path, typer.Option(help="DuckDB file (created if missing).")],
    kind: Annotated[Kind, typer.Option(help="Input kind; auto sniffs it.")] = Kind.auto,
) -> None:
    """Append inputs to a DuckDB store; a file already ingested adds nothing.

    Example: surgescope ingest ../shared/datasets/logs/elastic-apache/apache_logs --db case.duckdb
    """
    from surgescope.store import ingest as run

    with user_errors(), record_progress("ingesting") as progress:
        results = run(inputs, db, kind.value, progress=progress.records)
    for r in results:
        out.print(json.dumps(r), markup=False, highlight=False)


@app.command()
def detect(
    series: Annotated[Path, typer.Argument(help="CSV with a timestamp and a value column.")],
) -> None:
    """Outage waves of one count series, as JSON on stdout.

    Example: surgescope detect ../shared/datasets/nab/data/realTweets/Twitter_volume_AAPL.csv
    """
    from surgescope.outage import detect_file
    from surgescope.sources.base import Rejections

    rejected = Rejections()
    with user_errors():
        waves = detect_file(series, rejected)
    if rejected.count:
        first = rejected.samples[0]
        err.print(f"surgescope: {series}: {rejected.count} row(s) rejected (first at line {first.where}: {first.reason})",
                  markup=False, highlight=False)
    sys.stdout.write(json.dumps({"waves": waves}, indent=2) + "\n")


@app.command()
def rules(
    report: Annotated[Path, typer.Argument(help="A report.json written by analyze or demo.")],
    format: Annotated[RuleFormat, typer.Option("--format", help="Rule syntax.")] = RuleFormat.nftables,
    allowlist: Annotated[Path | None, typer.Option(help="File of CIDRs never to block, one per line.")] = None,
) -> None:
    """Mitigation rules for the attacks in a report.

    Example: surgescope rules out/report.json --format nftables
    """
    from surgescope.attack.rules import read_allowlist, render
    from surgescope.incident import load_report

    with user_errors():
        allow = read_allowlist(allowlist) if allowlist else []
        sys.stdout.write(render(load_report(report), format.value, allow))


@app.command()
def watch(
    input: Annotated[Path, typer.Argument(help="Capture, access log or flow file to replay.")],
    replay: Annotated[bool, typer.Option("--replay", help="Replay the file at its own pace.")] = True,
    speed: Annotated[float, typer.Option(help="Replay speed factor; 0 means as fast as possible.")] = 1.0,
    kind: Annotated[Kind, typer.Option(help="Input kind; auto sniffs it.")] = Kind.auto,
    eval_every: Annotated[float, typer.Option(
        min=0.0, help="Evaluate the window still filling every this many seconds of traffic (alerts before it "
        "closes); 0 evaluates windows only when they close (highest throughput; as fast as possible, alerts "
        "then fire at the end of the batch of records that holds their evidence).")] = 0.1,
) -> None:
    """Replay traffic through the streaming detector; alerts as JSON lines on stdout.

    Example: surgescope watch ../shared/datasets/pcap/stopddos/amp.UDP.snmp.src161.pcapng --speed 0
    """
    from surgescope.attack.watch import replay as run

    with user_errors():
        for alert in run(input, kind=kind.value, speed=speed, eval_every_s=eval_every):
            sys.stdout.write(json.dumps(alert) + "\n")
            sys.stdout.flush()


@app.command()
def stix(
    report: Annotated[Path, typer.Argument(help="A report.json written by analyze or demo.")],
    output: Annotated[Path | None, typer.Option("--out", help="Write the bundle here instead of stdout.")] = None,
) -> None:
    """A STIX 2.1 bundle of the incident (indicators, attack patterns, verdict, claim opinions).

    Example: surgescope stix out/report.json --out out/bundle.json
    """
    from surgescope.attribution.stix import bundle_from_report
    from surgescope.incident import load_report

    with user_errors():
        text = bundle_from_report(load_report(report))
    if output:
        output.write_text(text)
    else:
        sys.stdout.write(text + "\n")


@app.command()
def simulate(
    scenario: Annotated[str, typer.Argument(help="Scenario name; `surgescope simulate list` lists them.")],
    out_file: Annotated[Path | None, typer.Option("--out", help="File to write (pcap, log or CSV by scenario).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same file).")] = 1,
    scale: Annotated[float, typer.Option(help="Multiply the scenario's size by this.")] = 1.0,
) -> None:
    """Generate traffic or reports for testing defences (the project's own generator).

    Example: surgescope simulate syn-flood --out syn.pcap
    """
    from surgescope.simulate import SCENARIOS, run

    if scenario == "list":
        for name, fn in SCENARIOS.items():
            out.print(f"{name}: {(fn.__doc__ or '').strip().splitlines()[0]}", markup=False, highlight=False)
        return
    if out_file is None:
        raise fail("--out is required")
    with user_errors():
        info = run(scenario, out_file, seed=seed, scale=scale)
    out.print(json.dumps(info), markup=False, highlight=False)


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the demo report.")] = Path("demo-out"),
) -> None:
    """Replay 10 March 2025 end to end from bundled data and write the report.

    Example: surgescope demo --out demo-out
    """
    from surgescope.demo import run

    with user_errors():
        paths = run(out_dir)
    out.print(f"report: {paths.get('html', paths.get('json'))}", markup=False, highlight=False)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    db: Annotated[Path | None, typer.Option(help="DuckDB file keeping state across restarts.")] = None,
) -> None:
    """The live service: an HTTP API for reports and traffic, and a dashboard.

    Example: surgescope serve --port 8000
    """
    import uvicorn

    from surgescope.service import create_app

    uvicorn.run(create_app(db=db), host=host, port=port, log_level="info")


@bench_app.command("nab")
def bench_nab(
    data: Annotated[Path, typer.Option(help="NAB checkout (data/, labels/, config/).")],
    write_results: Annotated[Path | None, typer.Option(help="Write NAB-format per-row results here.")] = None,
) -> None:
    """NAB score of the default outage detector (standard, low-FP and low-FN profiles).

    Example: surgescope bench nab --data ../shared/datasets/nab
    """
    from surgescope.outage.nab import run_benchmark

    with user_errors():
        result = run_benchmark(data, write_results=write_results)
    out.print(json.dumps(result, indent=2), markup=False, highlight=False)


@geo_app.command("update")
def geo_update(
    source_dir: Annotated[Path | None, typer.Option(help="Use these already-downloaded data files instead of fetching.")] = None,
) -> None:
    """Rebuild the shipped country/AS range tables from their public sources.

    Example: surgescope geo update
    """
    from surgescope.attribution.geodata import update

    with user_errors():
        info = update(source_dir)
    out.print(json.dumps(info, indent=2), markup=False, highlight=False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
