"""The capture reader's CPU with the compiled one-pass frame decode and with the NumPy decode.

Input: the watch benchmark's capture (bench/out/watch-throughput-v1.pcap, 1.02 M packets; made
by ``bench/bench_watch.py --skip-latency --runs 1`` when missing), read as ``surgescope watch``
reads it (``columns=READ_COLUMNS``). Both decoders run in this one process, alternating, so a
noisy machine slows both alike; CPU is ``time.process_time()``, the medians of ``--runs`` each.
Run: ``.venv/bin/python bench/bench_framedecode.py [--runs 15]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from surgescope.attack.watch import READ_COLUMNS
from surgescope.sources import _decode, pcap
from surgescope.sources.base import Rejections

ROOT = Path(__file__).resolve().parents[1]
CAPTURE = ROOT / "bench" / "out" / "watch-throughput-v1.pcap"


def read_cpu(native: bool) -> tuple[float, int]:
    """(CPU seconds, rows) of one full read of the capture."""
    _decode.NATIVE = native
    t0 = time.process_time()
    rows = sum(b.num_rows for b in pcap.read(CAPTURE, Rejections(), columns=READ_COLUMNS))
    return time.process_time() - t0, rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15, help="reads per decoder (default 15)")
    args = ap.parse_args()
    if not CAPTURE.exists():
        subprocess.run([sys.executable, str(ROOT / "bench" / "bench_watch.py"), "--skip-latency", "--runs", "1"],
                       check=True)
    if _decode._framedecode is None:
        sys.exit("the compiled frame decode is not built (make install)")
    read_cpu(True), read_cpu(False)  # warm the page cache and imports
    cpu: dict[bool, list[float]] = {True: [], False: []}
    rows: set[int] = set()
    for _ in range(args.runs):
        for native in (True, False):
            t, n = read_cpu(native)
            cpu[native].append(t)
            rows.add(n)
    _decode.NATIVE = True
    assert len(rows) == 1, rows
    nat, ref = statistics.median(cpu[True]), statistics.median(cpu[False])
    print(f"reader CPU on {CAPTURE.name} ({rows.pop():,} rows, columns=READ_COLUMNS), "
          f"medians of {args.runs} alternating reads:")
    print(f"  compiled frame decode  {nat:.3f} s")
    print(f"  NumPy decode           {ref:.3f} s   ({ref / nat:.2f}x)")


if __name__ == "__main__":
    main()
