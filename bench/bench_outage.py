"""Outage detector speed: batch points/s of the default detector on the whole NAB corpus.

Peers in the same run, on the same input:
- a naive rolling z-score in Polars (NAB's "windowed Gaussian" idea, no calibration, no hold);
- the default detector's streaming path (``score_one``/``learn_one``) on a slice.

Run: .venv/bin/python bench/bench_outage.py [--data ../shared/datasets/nab] [--repeat 3]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from surgescope.outage import detectors  # noqa: E402
from surgescope.outage.baseline import seasonal_count_scores  # noqa: E402
from surgescope.outage.nab import load_corpus  # noqa: E402


def rolling_z(values: np.ndarray, window: int = 500) -> np.ndarray:
    s = pl.Series(values)
    prev = s.shift(1)
    mu = prev.rolling_mean(window, min_samples=10)
    sd = prev.rolling_std(window, min_samples=10)
    return ((s - mu).abs() / sd).fill_null(0).to_numpy()


def timed(fn, series, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for x in series:
            fn(x)
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "datasets" / "nab"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--stream-points", type=int, default=5000)
    args = ap.parse_args()

    corpus = load_corpus(args.data)
    series = [f.values for f in corpus]
    stamps = {id(f.values): f.ts for f in corpus}
    n = sum(len(x) for x in series)
    print(f"input: NAB corpus, {len(series)} series, {n:,} points")

    t_default = timed(lambda x: detectors.default_scores(stamps[id(x)], x), series, args.repeat)
    t_seasonal = timed(lambda x: seasonal_count_scores(x, period=288, window=288), series, args.repeat)
    t_z = timed(rolling_z, series, args.repeat)
    longest = max(series, key=len)[: args.stream_points]

    def stream(x: np.ndarray) -> None:
        det = detectors.Default()
        for v in x:
            det.score_one(v)
            det.learn_one(v)

    t_stream = timed(stream, [longest], 1)
    rate = n / t_default
    print(f"default detector, batch:        {rate:12,.0f} points/s  ({t_default:.3f} s)")
    print(f"seasonal count baseline, batch: {n / t_seasonal:12,.0f} points/s")
    print(f"peer: Polars rolling z-score:   {n / t_z:12,.0f} points/s  (default/peer = {t_z / t_default:.2f}x)")
    print(f"peer: default, streaming path:  {len(longest) / t_stream:12,.0f} points/s  "
          f"(batch/streaming = {rate / (len(longest) / t_stream):,.0f}x)")
    print(f"target >= 1,000,000 points/s: {'met' if rate >= 1e6 else 'NOT met'}")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
