"""Memory vs input size: peak RSS reading and analysing an access log of N and 10N lines.

Inputs: generated combined logs (:mod:`surgescope.simulate.accesslog`, same shape as in
bench_accesslog.py) of N = 200,000 and 10N = 2,000,000 lines, cached under bench/out/.
Each run is its own process, so its peak RSS is its own (``os.wait4``):

- reader: ``open_input(FILE).batches()`` streamed, counting rows (the streaming path);
- analyze: ``surgescope analyze FILE --out DIR`` (the whole command line).

The target: 10x the input must not take 10x the memory; the streaming reader should be flat.
Run: ``.venv/bin/python bench/bench_memory.py [--lines N]``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_accesslog import OUT, PY, READER, SURGESCOPE, build, run  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, default=200_000, help="N (the large input is 10N)")
    args = ap.parse_args()
    sizes = [args.lines, 10 * args.lines]
    logs = [build(n) for n in sizes]
    rows = []
    for n, log in zip(sizes, logs, strict=True):
        wall_r, rss_r, out = run([PY, "-c", READER, str(log)])
        assert int(out.split()[0]) == n
        dest = OUT / f"mem-{n}"
        shutil.rmtree(dest, ignore_errors=True)
        wall_a, rss_a, _ = run([SURGESCOPE, "analyze", str(log), "--out", str(dest)])
        rows.append((n, log.stat().st_size / 2**20, rss_r, wall_r, rss_a, wall_a))
    print(f"{'lines':>10} {'MiB in':>8} {'reader RSS MiB':>15} {'reader s':>9} {'analyze RSS MiB':>16} {'analyze s':>10}")
    for n, mib, rss_r, wall_r, rss_a, wall_a in rows:
        print(f"{n:>10,} {mib:8.0f} {rss_r:15.0f} {wall_r:9.2f} {rss_a:16.0f} {wall_a:10.2f}")
    (_, _, r0, _, a0, _), (_, _, r1, _, a1, _) = rows
    print(f"10x input -> reader RSS x{r1 / r0:.2f}, analyze RSS x{a1 / a0:.2f}")


if __name__ == "__main__":
    main()
