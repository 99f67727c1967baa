"""Access logs: ``surgescope analyze`` and the bare reader vs GoAccess on the same file.

Input: a 2,000,000-line combined log made by the project's generator
(:mod:`surgescope.simulate.accesslog`: 20,000 clients with browser user agents, a site's pages
and assets over six hours, plus two HTTP-flood bursts of 5 and 4 minutes from 200 and 150 bots), built once and cached
under bench/out/. Three runs, each in its own process so its peak RSS is its own (``os.wait4``),
repeated in ``--runs`` rounds (default 3; the table shows medians, then each round's ratios):

- ``surgescope analyze FILE --out bench/out/a`` — the real command line, end to end (reading,
  the per-input summary, every analysis, the report files);
- the reader alone: ``open_input(FILE).batches()`` counting rows (what streaming costs);
- ``goaccess FILE --log-format=COMBINED -o bench/out/goaccess.json`` (Debian's GoAccess).

Then (unless ``--no-stages``) one more run of the same stages split open, printing seconds and
peak RSS after each: reading, the per-input summary, outage, attacks, attribution, report files.

Run: ``.venv/bin/python bench/bench_accesslog.py [--lines N] [--runs 3] [--no-stages]``. Target: >= 10x GoAccess.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
PY = sys.executable
SURGESCOPE = str(Path(PY).with_name("surgescope"))

READER = """
import sys
from surgescope.sources import open_input
inp = open_input(sys.argv[1], "access-log")
n = sum(b.num_rows for b in inp.batches())
print(n, inp.rejections.count)
"""

# The stages of ``surgescope analyze`` timed one after the other in one process (what
# pipeline.analyze and the CLI do, split open): seconds and peak RSS so far after each.
STAGES = """
import resource, sys, time
t0 = time.perf_counter()
from surgescope import analyses, pipeline
from surgescope.incident import Incident
from surgescope.report import write_all
from surgescope.sources import open_input
def lap(name):
    global t0
    now = time.perf_counter()
    print(name, now - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    t0 = now
lap("imports")
inp = open_input(sys.argv[1], "auto")
table = pipeline.read_input(inp)
lap("read")
incident = Incident(title="bench")
incident.inputs.append({"path": sys.argv[1], "kind": inp.kind, "records": table.num_rows,
                        "rejected": inp.rejections.count, "summary": pipeline.summarise(table)})
lap("summarise")
tables = [(inp, table)]
analyses.outage(incident, tables)
lap("outage")
analyses.attacks(incident, tables)
lap("attacks")
analyses.attribution(incident, tables)
lap("attribution")
write_all(incident, sys.argv[2])
lap("report files")
"""


def build(lines: int) -> Path:
    """The generated log (cached): same seed and floods every time."""
    path = OUT / f"combined-{lines}-v3.log"
    if path.exists():
        return path
    from surgescope.simulate.accesslog import Flood, generate

    OUT.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    # Two bursts of ~2,000 and ~1,700 requests/s (at 2 M lines) from 200 and 150 bots.
    floods = [Flood(start_s=3600, duration_s=300, share=0.3, bots=200), Flood(start_s=10_800, duration_s=240, share=0.2, bots=150)]
    generate(tmp, lines, seed=20250310, floods=floods)
    tmp.rename(path)
    return path


def run(cmd: list[str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MiB, stdout) of one child process, via os.wait4."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT)
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed with exit code {proc.returncode}")
    return wall, usage.ru_maxrss / 1024, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, default=2_000_000)
    ap.add_argument("--runs", type=int, default=3, help="rounds of the three runs (medians are shown)")
    ap.add_argument("--no-stages", dest="stages", action="store_false", help="skip the per-stage breakdown run")
    args = ap.parse_args()
    log = build(args.lines)
    size = log.stat().st_size
    print(f"input: {log.relative_to(ROOT)} ({args.lines:,} lines, {size / 2**20:.0f} MiB), {os.cpu_count()} cores")

    # Rounds of the three runs in turn, so that a slow spell of the machine falls on all three;
    # the table shows medians, and each round's own ratio is printed below it.
    runs: dict[str, list[tuple[float, float]]] = {}
    analyze_out = OUT / "a"
    for _ in range(args.runs):
        shutil.rmtree(analyze_out, ignore_errors=True)
        wall, rss, _ = run([SURGESCOPE, "analyze", str(log), "--out", str(analyze_out)])
        runs.setdefault("surgescope analyze", []).append((wall, rss))
        wall, rss, out = run([PY, "-c", READER, str(log)])
        rows, rejected = (int(x) for x in out.split())
        assert rows == args.lines and rejected == 0, (rows, rejected)
        runs.setdefault("surgescope reader", []).append((wall, rss))
        wall, rss, _ = run(["goaccess", str(log), "--log-format=COMBINED", "-o", str(OUT / "goaccess.json")])
        runs.setdefault("goaccess 1.7", []).append((wall, rss))

    ga = statistics.median(w for w, _ in runs["goaccess 1.7"])
    print(f"{'tool':<20} {'seconds':>8} {'lines/s':>12} {'x GoAccess':>11} {'peak RSS MiB':>13}   (median of {args.runs})")
    for name, rs in runs.items():
        wall, rss = statistics.median(w for w, _ in rs), max(r for _, r in rs)
        print(f"{name:<20} {wall:8.2f} {args.lines / wall:12,.0f} {ga / wall:11.1f} {rss:13.0f}")
    for i in range(args.runs):
        g = runs["goaccess 1.7"][i][0]
        print(f"round {i + 1}: GoAccess {g:.1f} s; analyze {runs['surgescope analyze'][i][0]:.2f} s = "
              f"{g / runs['surgescope analyze'][i][0]:.1f}x; reader {g / runs['surgescope reader'][i][0]:.1f}x")
    if args.stages:
        stages_out = OUT / "a-stages"
        shutil.rmtree(stages_out, ignore_errors=True)
        _, _, out = run([PY, "-c", STAGES, str(log), str(stages_out)])
        print(f"\nsurgescope analyze by stage (one process):\n{'stage':<20} {'seconds':>8} {'peak RSS MiB so far':>20}")
        for line in out.splitlines():
            name, secs, rss = line.rsplit(" ", 2)
            print(f"{name:<20} {float(secs):8.2f} {float(rss):20.0f}")


if __name__ == "__main__":
    main()
