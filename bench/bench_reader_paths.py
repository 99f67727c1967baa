"""The access-log reader's routes on the same chunks: the compiled scanner first
(``accesslog.NATIVE = True``, then the plain path and the regexes for the rest), plain lines
cut at byte positions by Polars (``NATIVE = False, PLAIN = True``), and every line through the
regexes (``NATIVE = False, PLAIN = False``).

Input: the first chunks of the bench log that ``bench_accesslog.py`` builds (bench/out/
combined-2000000-v3.log, built here if missing). Each chunk is parsed and turned into a record
batch on one thread, the two paths taking turns so that load from other processes falls on
both; prints the median and minimum seconds per path and stage, then one whole read of the file
each way (``read`` with the analyses' columns, on the reader's threads), median of ``--runs``.

Run: ``.venv/bin/python bench/bench_reader_paths.py [--chunks 6] [--runs 3] [--fmt combined]``.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from bench_accesslog import build  # noqa: E402

from surgescope.pipeline import ANALYSED_REQUEST_COLUMNS  # noqa: E402
from surgescope.sources import accesslog  # noqa: E402
from surgescope.sources.base import Rejections  # noqa: E402

#: route -> (accesslog.NATIVE, accesslog.PLAIN)
ROUTES = {"native": (True, True), "plain": (False, True), "regex": (False, False)}


def cpu() -> float:
    """CPU seconds of this process, all threads (steadier than wall time on a shared machine)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--chunks", type=int, default=6)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--fmt", default="auto", choices=["auto", "combined", "common"])
    ap.add_argument("--all-columns", action="store_true", help="capture every column (no projection)")
    args = ap.parse_args()
    log = build(2_000_000)
    columns = None if args.all_columns else ANALYSED_REQUEST_COLUMNS
    spec = accesslog.builtin_spec(args.fmt).project(columns)
    frames = []
    for frame in accesslog.line_batches(log, Rejections()):
        frames.append(frame)
        if len(frames) == args.chunks:
            break
    lines = sum(f.height for f in frames)
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.runs):
        for route, (native, plain) in ROUTES.items():
            accesslog.NATIVE, accesslog.PLAIN = native, plain
            parse = batch = 0.0
            for f in frames:
                t0 = cpu()
                req, _ = accesslog.parse_lines(f, spec)
                t1 = cpu()
                accesslog.to_batch(req)
                t2 = cpu()
                parse, batch = parse + t1 - t0, batch + t2 - t1
            times.setdefault((route, "parse_lines"), []).append(parse)
            times.setdefault((route, "to_batch"), []).append(batch)
    print(f"{lines:,} lines in {len(frames)} chunks of {log.name}, fmt={args.fmt}, columns={'all' if columns is None else 'analysed'}, CPU seconds")
    print(f"{'path':<8} {'stage':<12} {'median s':>9} {'min s':>7} {'lines/s':>12}")
    for (route, stage), ts in times.items():
        med = statistics.median(ts)
        print(f"{route:<8} {stage:<12} {med:9.3f} {min(ts):7.3f} {lines / med:12,.0f}")
    print(f"\nwhole file, read() on {accesslog.WORKERS} threads:")
    for route, (native, plain) in ROUTES.items():
        accesslog.NATIVE, accesslog.PLAIN = native, plain
        walls, cpus = [], []
        for _ in range(args.runs):
            rej = Rejections()
            t0, c0 = time.perf_counter(), cpu()
            rows = sum(b.num_rows for b in accesslog.read(log, rej, fmt=args.fmt, columns=columns))
            walls.append(time.perf_counter() - t0)
            cpus.append(cpu() - c0)
        med = statistics.median(walls)
        print(f"{route:<8} {rows:,} rows, {rej.count} rejected: median {med:.2f} s wall ({rows / med:,.0f} lines/s), "
              f"{statistics.median(cpus):.2f} s CPU; runs {', '.join(f'{w:.2f}' for w in walls)}")


if __name__ == "__main__":
    main()
