"""Streaming attack detection: alert latency and replay throughput of ``surgescope watch``.

1. **Latency.** 60 s of generated normal web traffic toward 10.10.10.10, then a real attack
   capture (default: StopDDoS ``pkt.TCP.synflood.spoofed.pcap``, victim 10.10.10.10) retimed to
   start 0.37 s into the 61st second (mid-window). Replayed at its own pace (``--speed 1``,
   about a minute of wall time) and as fast as possible; prints the start alert's replay-clock
   time minus the first attack packet's time. Target: < 1 s.
2. **Throughput.** About 1 M generated packets (browsing, a 500-bot HTTP flood, a spoofed SYN
   flood and DNS amplification at ~100 k packets/s) replayed with ``speed=0``; prints packets
   per second of the whole replay (reading, classifying, windows, detector). Peer on the same
   file in the same run: ``tshark -q -z io,stat,1`` (per-second counts, the simplest windowed
   statistic a capture tool offers), as the ratio ours/tshark. Target: 1 M packets/s.

Each run is its own process so its peak RSS is its own (``os.wait4``).

Run: ``.venv/bin/python bench/bench_watch.py [--speed 1] [--attack PCAP] [--skip-latency] [--stages]
[--runs N]`` (``--stages``: CPU seconds per stage of each mode, from one more run with the reader
in the detector's thread; ``--runs``: throughput runs per mode, default 3, the median printed
with the range: on a shared machine single runs vary by a third).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
DATASETS = ROOT.parent / "shared" / "datasets"
PY = sys.executable

LATENCY = """
import json, sys
from datetime import datetime
from surgescope.attack.watch import replay
first = datetime.fromisoformat(sys.argv[2])
for a in replay(sys.argv[1], speed=float(sys.argv[3])):
    if a["event"] == "start":
        rt = datetime.fromisoformat(a["replay_time"].replace("Z", "+00:00"))
        print(json.dumps({"latency_s": (rt - first).total_seconds(), "alert": a}))
        break
"""

THROUGHPUT = """
import json, sys, time
from surgescope.attack.watch import replay
t0, c0 = time.perf_counter(), time.process_time()
alerts = [a["event"] + ":" + a["vector"] for a in replay(sys.argv[1], speed=0, eval_every_s=float(sys.argv[2]))]
print(json.dumps({"seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0, "alerts": alerts}))
"""

# Where the time goes: CPU seconds of each stage of a replay (the reader in this thread, so
# that each stage's CPU is its own; wrappers around the stages of surgescope.attack.watch).
STAGES = """
import collections, json, sys, time
from surgescope.attack import watch
acc = collections.defaultdict(float)
def timed(obj, name, label):
    f = getattr(obj, name)
    def w(*a, **k):
        c = time.process_time()
        try:
            return f(*a, **k)
        finally:
            acc[label] += time.process_time() - c
    setattr(obj, name, w)
def reader(items):
    it = iter(items)
    while True:
        c = time.process_time()
        x = next(it, None)
        acc["read"] += time.process_time() - c
        if x is None:
            return
        yield x
watch._prefetch = reader
timed(watch.StreamDetector, "classify", "classify")
timed(watch._Closes, "__init__", "closing windows (tables, heavy clients, candidates)")
timed(watch._Closes, "apply", "closes applied (tracker, heavy hitters)")
timed(watch, "_add_sources", "  of which heavy hitters")
timed(watch._Partials, "build", "filling-window evaluations, batched")
timed(watch.StreamDetector, "_partial", "filling-window evaluations, on the spot")
c0 = time.process_time()
list(watch.replay(sys.argv[1], speed=0, eval_every_s=float(sys.argv[2])))
acc["total"] = time.process_time() - c0
print(json.dumps(acc))
"""

# The reader alone on the same file: the ceiling of the replay's throughput.
READER = """
import json, sys, time
from surgescope.sources import open_input
t0, c0 = time.perf_counter(), time.process_time()
n = sum(b.num_rows for b in open_input(sys.argv[1]).batches())
print(json.dumps({"seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0, "packets": n}))
"""


def run(cmd: list[str]) -> tuple[str, float, float]:
    """(stdout, wall seconds, peak RSS MiB) of a child process."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    if status != 0:
        raise SystemExit(f"failed: {' '.join(cmd[:3])} ... (status {status})")
    return out, time.perf_counter() - t0, usage.ru_maxrss / 1024


def build_latency(attack: Path) -> tuple[Path, str]:
    import polars as pl

    from surgescope.simulate.packets import Phase, generate
    from surgescope.simulate.pcapwriter import write
    from surgescope.sources import open_input

    real = pl.from_arrow(open_input(attack).read_all())
    target = real["dst_ip"].mode()[0]
    normal = pl.from_arrow(generate([Phase("normal", duration=60, rate=400, target=target)], seed=1))
    first = normal.select(pl.col("ts").min() + pl.duration(milliseconds=60_370)).item()
    real = real.with_columns((pl.col("ts") - real["ts"].min() + first).cast(pl.Datetime("ns", "UTC")))
    path = OUT / f"watch-latency-{attack.stem}.pcap"
    write(pl.concat([normal, real]).sort("ts").to_arrow(), path)
    return path, first.isoformat()


def build_throughput() -> Path:
    path = OUT / "watch-throughput-v1.pcap"
    if path.exists():
        return path
    from surgescope.simulate.packets import Phase, generate
    from surgescope.simulate.pcapwriter import write

    t = generate([
        Phase("normal", duration=10, rate=10_000),
        Phase("http-flood", start=1, duration=9, rate=50_000, n_sources=500),
        Phase("syn-flood", start=3, duration=5, rate=60_000),
        Phase("dns-amplification", start=6, duration=4, rate=10_000),
    ], seed=1)
    write(t, path, snaplen=128)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--speed", type=float, default=1.0, help="replay speed for the latency run (1 = real time)")
    ap.add_argument("--attack", type=Path, default=DATASETS / "pcap/stopddos/pkt.TCP.synflood.spoofed.pcap")
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--stages", action="store_true", help="also print CPU seconds per stage of each mode")
    ap.add_argument("--runs", type=int, default=3, help="throughput runs per mode (median printed)")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)

    if not args.skip_latency:
        path, first = build_latency(args.attack)
        for speed in (args.speed, 0.0):
            out, wall, rss = run([PY, "-c", LATENCY, str(path), first, str(speed)])
            r = json.loads(out)
            print(f"latency (speed {speed:g}): start alert {r['latency_s'] * 1000:.0f} ms after the first attack "
                  f"packet (replay clock), vector {r['alert']['vector']}; wall {wall:.1f} s, peak RSS {rss:.0f} MiB")

    path = build_throughput()
    from surgescope.sources import open_input

    n = sum(b.num_rows for b in open_input(path).batches())
    _, t_wall, t_rss = run(["tshark", "-r", str(path), "-q", "-z", "io,stat,1"])
    peer = n / t_wall
    print(f"peer tshark -z io,stat,1: {t_wall:.2f} s = {peer:,.0f} packets/s, peak RSS {t_rss:.0f} MiB")
    out, _, rss = run([PY, "-c", READER, str(path)])
    r = json.loads(out)
    print(f"reader alone (surgescope.sources, no detector): {r['seconds']:.2f} s = {n / r['seconds']:,.0f} packets/s "
          f"(CPU {r['cpu']:.2f} s); peak RSS {rss:.0f} MiB")
    for label, every in (("early alerts, --eval-every 0.1, the default", 0.1),
                         ("bulk, --eval-every 0: windows evaluated when they close", 0.0)):
        runs = []
        for _ in range(max(1, args.runs)):
            out, wall, rss = run([PY, "-c", THROUGHPUT, str(path), str(every)])
            runs.append((json.loads(out), rss))
        runs.sort(key=lambda x: x[0]["seconds"])
        r, rss = runs[len(runs) // 2]
        ours = n / r["seconds"]
        rates = [n / x["seconds"] for x, _ in runs]
        cpu = sorted(x["cpu"] for x, _ in runs)[len(runs) // 2]
        # CPU seconds too: on a shared machine they vary less than wall time.
        print(f"throughput ({label}): {n:,} packets (speed 0), median of {len(runs)} runs {r['seconds']:.2f} s = "
              f"{ours:,.0f} packets/s (runs {min(rates):,.0f}-{max(rates):,.0f}; median CPU {cpu:.2f} s = "
              f"{n / cpu:,.0f} packets per CPU-second); peak RSS {rss:.0f} MiB; ratio ours/tshark = {ours / peer:.1f}x; "
              f"target 1,000,000 packets/s {'met' if ours >= 1e6 else 'not met'}; alerts {r['alerts']}")
        if len({tuple(x["alerts"]) for x, _ in runs}) > 1:
            print("  alerts differ between runs!")
        if args.stages:
            out, _, _ = run([PY, "-c", STAGES, str(path), str(every)])
            st = json.loads(out)
            top = [k for k in st if k != "total" and not k.startswith(" ")]
            st["other (slicing, Python)"] = st["total"] - sum(st[k] for k in top)
            order = ["read", "classify", "closing windows (tables, heavy clients, candidates)",
                     "closes applied (tracker, heavy hitters)", "  of which heavy hitters",
                     "filling-window evaluations, batched", "filling-window evaluations, on the spot",
                     "other (slicing, Python)", "total"]
            print("  CPU s per stage (reader in the same thread): "
                  + ", ".join(f"{k.strip()} {st[k]:.2f}" for k in order if k in st))


if __name__ == "__main__":
    main()
