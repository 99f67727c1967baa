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

The same flows are also written as nfdump 1.6 CSV, Zeek conn.log TSV and Zeek JSON lines
(converted with Polars from the CICFlowMeter rows) and read by the nfdump and Zeek readers,
each against Polars reading the same file with no validation.

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


OTHER_FORMATS = {
    "nfdump": ("""
from surgescope.sources import nfdump
from surgescope.sources.base import Rejections
r = Rejections()
n = sum(b.num_rows for b in nfdump.read(PATH, r))
assert r.count == 0, r.to_dict()
""", """
import polars as pl
n = pl.read_csv(PATH, columns=["ts", "td", "sa", "da", "sp", "dp", "pr", "flg", "ipkt", "ibyt", "opkt", "obyt"],
                infer_schema=False).height - 3  # strings only: the Summary block follows the flows
"""),
    "zeek-tsv": ("""
from surgescope.sources import zeek
from surgescope.sources.base import Rejections
r = Rejections()
n = sum(b.num_rows for b in zeek.read(PATH, r))
assert r.count == 0, r.to_dict()
""", """
import polars as pl
names = open(PATH).read(4096).split("#fields" + chr(9))[1].split(chr(10))[0].split(chr(9))
n = pl.read_csv(PATH, separator=chr(9), comment_prefix="#", has_header=False, new_columns=names, quote_char=None).height
"""),
    "zeek-json": ("""
from surgescope.sources import zeek
from surgescope.sources.base import Rejections
r = Rejections()
n = sum(b.num_rows for b in zeek.read(PATH, r))
assert r.count == 0, r.to_dict()
""", """
import polars as pl
n = pl.read_ndjson(PATH).height
"""),
}


FORMAT_FILES = {"nfdump": "flows.nfdump.csv", "zeek-tsv": "conn.log", "zeek-json": "conn.json"}


def convert(cic: Path, out: Path) -> dict[str, Path]:
    """The CICFlowMeter rows as nfdump 1.6 CSV, Zeek TSV and Zeek JSON lines."""
    import polars as pl

    df = pl.read_csv(cic, columns=COLUMNS, schema_overrides={"Timestamp": pl.String})
    ts = df["Timestamp"].str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_zone="UTC")
    f = pl.DataFrame({
        "ts": ts, "dur": df["Flow Duration"] / 1e6, "sa": df["Src IP"], "da": df["Dst IP"],
        "sp": df["Src Port"], "dp": df["Dst Port"], "pr": df["Protocol"],
        "ipkt": df["Total Fwd Packet"], "opkt": df["Total Bwd packets"],
        "ibyt": df["Total Length of Fwd Packet"], "obyt": df["Total Length of Bwd Packet"],
    })
    paths = {k: out / n for k, n in FORMAT_FILES.items()}
    nf = f.select(
        pl.col("ts").dt.strftime("%Y-%m-%d %H:%M:%S%.3f").alias("ts"),
        (pl.col("ts") + pl.duration(microseconds=(pl.col("dur") * 1e6).cast(pl.Int64))).dt.strftime("%Y-%m-%d %H:%M:%S%.3f").alias("te"),
        pl.col("dur").round(3).alias("td"), "sa", "da", "sp", "dp",
        pl.col("pr").replace_strict({6: "TCP", 17: "UDP", 1: "ICMP"}, default="0", return_dtype=pl.String).alias("pr"),
        pl.lit("...A..S.").alias("flg"), pl.lit(0).alias("fwd"), pl.lit(0).alias("stos"),
        "ipkt", "ibyt", "opkt", "obyt",
    )
    nf.write_csv(paths["nfdump"])
    with open(paths["nfdump"], "a") as fh:
        fh.write("Summary\nflows,bytes,packets,avg_bps,avg_pps,avg_bpp\n0,0,0,0,0,0\n")
    zk = f.select(
        pl.col("ts").dt.epoch("us").map_batches(lambda s: s.cast(pl.String).str.replace(r"(\d{6})$", ".$1")).alias("ts"),
        pl.lit("C").alias("uid"), pl.col("sa").alias("id.orig_h"), pl.col("sp").alias("id.orig_p"),
        pl.col("da").alias("id.resp_h"), pl.col("dp").alias("id.resp_p"),
        pl.col("pr").replace_strict({6: "tcp", 17: "udp", 1: "icmp"}, default="unknown_transport", return_dtype=pl.String).alias("proto"),
        pl.col("dur").alias("duration"), pl.lit("SF").alias("conn_state"), pl.lit("ShADadFf").alias("history"),
        pl.col("ipkt").alias("orig_pkts"), pl.col("ibyt").alias("orig_ip_bytes"),
        pl.col("opkt").alias("resp_pkts"), pl.col("obyt").alias("resp_ip_bytes"),
    )
    with open(paths["zeek-tsv"], "w") as fh:
        fh.write("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n")
        fh.write("#fields\t" + "\t".join(zk.columns) + "\n")
        fh.write(zk.write_csv(separator="\t", include_header=False, quote_style="never"))
        fh.write("#close\t2017-07-08-00-00-00\n")
    zk.write_ndjson(paths["zeek-json"])
    return paths


def run(name: str, path: Path, code_body: str | None = None) -> dict:
    """One peer in a fresh process; its wall time and peak RSS from the kernel (wait4)."""
    lines = (code_body if code_body is not None else RUNNERS[name]).strip("\n").split("\n")
    # Imports happen before the clock starts: the time is the reading, not module loading.
    split = next(i for i, x in enumerate(lines) if not x.startswith(("import ", "from ")))
    code = (
        "import sys, time, json\n"
        f"sys.path.insert(0, {str(ROOT / 'src')!r})\n"
        f"PATH = {str(path)!r}\nCOLUMNS = {COLUMNS!r}\n"
        + "\n".join(lines[:split])
        + "\nt = time.perf_counter()\n"
        + "\n".join(lines[split:])
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
    ap.add_argument("--convert", nargs=2, metavar=("CIC_CSV", "DIR"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.convert:
        convert(Path(args.convert[0]), Path(args.convert[1]))
        return
    tmp = args.keep or Path(tempfile.mkdtemp(prefix="bench_flows_"))
    tmp.mkdir(parents=True, exist_ok=True)
    big = make_input(args.rows, tmp / "flows_big.csv")
    small = make_input(args.rows // 10, tmp / "flows_small.csv")
    size_mb = big.stat().st_size / 1e6
    print(f"input: {big} ({size_mb:.0f} MB), repeated real rows from {SAMPLE.name}")
    results = {name: run(name, big) for name in RUNNERS}
    ours = results["surgescope"]
    print(f"{'reader':<14}{'rows':>10}{'seconds':>10}{'rows/s':>12}{'MB/s':>8}{'peak RSS MB':>13}{'time / surgescope':>20}")
    for name, r in results.items():
        ratio = r["seconds"] / ours["seconds"]
        print(f"{name:<14}{r['rows']:>10,}{r['seconds']:>10.2f}{r['rows'] / r['seconds']:>12,.0f}"
              f"{size_mb / r['seconds']:>8.0f}{r['peak_rss_mb']:>13.0f}{ratio:>20.2f}")
    print()
    print(f"{'format':<11}{'rows':>10}{'surgescope rows/s':>19}{'polars rows/s':>15}{'time / polars':>16}{'surgescope RSS MB':>19}")
    # Converted in a child process: a child forked from a big parent reports the parent's
    # resident pages as its own peak RSS, so the parent stays small.
    subprocess.run([sys.executable, __file__, "--convert", str(big), str(tmp)], check=True)
    paths = {k: tmp / n for k, n in FORMAT_FILES.items()}
    for fmt, path in paths.items():
        ours_f = run("surgescope", path, OTHER_FORMATS[fmt][0])
        peer = run("polars-plain", path, OTHER_FORMATS[fmt][1])
        print(f"{fmt:<11}{ours_f['rows']:>10,}{ours_f['rows'] / ours_f['seconds']:>19,.0f}"
              f"{peer['rows'] / peer['seconds']:>15,.0f}{ours_f['seconds'] / peer['seconds']:>16.2f}{ours_f['peak_rss_mb']:>19.0f}")
    small_run = run("surgescope", small)
    print(f"memory: surgescope peak RSS {small_run['peak_rss_mb']:.0f} MB on {small_run['rows']:,} rows, "
          f"{ours['peak_rss_mb']:.0f} MB on {ours['rows']:,} rows "
          f"(x{ours['peak_rss_mb'] / small_run['peak_rss_mb']:.2f} for x{ours['rows'] / small_run['rows']:.0f} the input)")


if __name__ == "__main__":
    main()
