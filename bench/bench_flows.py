"""Flow-record reading speed and memory: the CICFlowMeter reader against peers on one file.

Input: the shared CIC-IDS2017 DDoS sample (real rows) repeated until the file has ``--rows``
rows (default 400,000, about 265 MB), written to a temporary directory.

Peers, each in its own process on the same file, extracting the same 16 columns:
- ``polars-plain``: ``pl.read_csv`` of those columns as typed by Polars' inference, with no
  row validation, no rejection account, no address/time conversion (a lower bound);
- ``duckdb``: ``read_csv`` of those columns into Arrow (same: no per-row accounting);
- ``python-csv``: the standard library ``csv`` module with int/datetime conversion per row (what a
  hand-written reader does).

Memory: the surgescope reader on the file and on a 10x smaller one; streaming means the peak
RSS should barely move (the whole-file peers grow with the input).

Run: .venv/bin/python bench/bench_flows.py [--rows 400000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent / "shared" / "datasets" / "flows" / "cicids2017-improved" / "DDoS_5000.csv"
COLUMNS = ["Src IP", "Dst IP", "Timestamp", "Flow Duration", "Src Port", "Dst Port", "Protocol",
           "Total Fwd Packet", "Total Bwd packets", "Total Length of Fwd Packet",
           "Total Length of Bwd Packet", "SYN Flag Count", "ACK Flag Count", "RST Flag Count",
           "FIN Flag Count", "Label"]

RUNNERS = {
    "surgescope": """
from surgescope.sources import cicflowmeter
from surgescope.sources.base import Rejections
r = Rejections()
n = sum(b.num_rows for b in cicflowmeter.read(PATH, r))
assert r.count == 0, r.to_dict()
""",
    "polars-plain": """
import polars as pl
n = pl.read_csv(PATH, columns=COLUMNS).height
""",
    "duckdb": """
import duckdb
cols = ", ".join('"' + c + '"' for c in COLUMNS)
n = duckdb.sql(f"SELECT {cols} FROM read_csv('{PATH}')").to_arrow_table().num_rows
""",
    "python-csv": """
import csv
from datetime import datetime, timezone
n = 0
with open(PATH, newline="") as f:
    for row in csv.DictReader(f):
        datetime.strptime(row["Timestamp"], "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=timezone.utc)
        for c in COLUMNS[3:15]:
            int(row[c])
        n += 1
""",
}


def run(name: str, path: Path) -> dict:
    """One peer in a fresh process; its wall time and peak RSS from the kernel (wait4)."""
    code = (
        "import sys, time, json\n"
        f"sys.path.insert(0, {str(ROOT / 'src')!r})\n"
        f"PATH = {str(path)!r}\nCOLUMNS = {COLUMNS!r}\n"
        "t = time.perf_counter()\n"
        + RUNNERS[name]
        + "\nprint(json.dumps({'rows': n, 'seconds': time.perf_counter() - t}))\n"
    )
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    out = p.stdout.read()  # type: ignore[union-attr]
    _, status, usage = os.wait4(p.pid, 0)
    if status != 0:
        raise SystemExit(f"{name} failed")
    res = json.loads(out.strip().splitlines()[-1])  # the last line: a peer may print too
    res["peak_rss_mb"] = usage.ru_maxrss / 1024
    return res


def make_input(rows: int, path: Path) -> Path:
    head, body = SAMPLE.read_bytes().split(b"\n", 1)
    body = body if body.endswith(b"\n") else body + b"\n"
    per = body.count(b"\n")
    with open(path, "wb") as f:
        f.write(head + b"\n")
        for _ in range(max(1, rows // per)):
            f.write(body)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=400_000)
    ap.add_argument("--keep", type=Path, help="write the input here instead of a temp dir")
    args = ap.parse_args()
    tmp = args.keep or Path(tempfile.mkdtemp(prefix="bench_flows_"))
    tmp.mkdir(parents=True, exist_ok=True)
    big = make_input(args.rows, tmp / "flows_big.csv")
    small = make_input(args.rows // 10, tmp / "flows_small.csv")
    size_mb = big.stat().st_size / 1e6
    print(f"input: {big} ({size_mb:.0f} MB), repeated real rows from {SAMPLE.name}")
    results = {name: run(name, big) for name in RUNNERS}
    ours = results["surgescope"]
    print(f"{'reader':<14}{'rows':>10}{'seconds':>10}{'rows/s':>12}{'MB/s':>8}{'peak RSS MB':>13}{'surgescope speed x':>20}")
    for name, r in results.items():
        ratio = r["seconds"] / ours["seconds"]
        print(f"{name:<14}{r['rows']:>10,}{r['seconds']:>10.2f}{r['rows'] / r['seconds']:>12,.0f}"
              f"{size_mb / r['seconds']:>8.0f}{r['peak_rss_mb']:>13.0f}{ratio:>20.2f}")
    small_run = run("surgescope", small)
    print(f"memory: surgescope peak RSS {small_run['peak_rss_mb']:.0f} MB on {small_run['rows']:,} rows, "
          f"{ours['peak_rss_mb']:.0f} MB on {ours['rows']:,} rows "
          f"(x{ours['peak_rss_mb'] / small_run['peak_rss_mb']:.2f} for x{ours['rows'] / small_run['rows']:.0f} the input)")


if __name__ == "__main__":
    main()
