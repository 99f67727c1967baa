"""Packet-capture field extraction: surgescope vs dpkt vs ``tshark -T fields`` on the same file.

Input: a 1,000,000-packet classic pcap made by replaying every frame of the shared real
captures (../shared/datasets/pcap, 81,838 frames: SYN floods, SYN-ACK and SNMP reflection,
DNS with IP fragments, ICMP, ARP) in a loop with fresh timestamps, 1 us apart. It is built
once and cached under bench/out/, also as pcapng (converted by editcap). tshark is timed on the first 100,000 packets of the same
file (on the full million it would take minutes; its throughput does not depend on length).

Every tool extracts the same fields (except the "dpkt pcap.Reader only" row, which decodes
nothing and is shown as a lower bound on any dpkt-based reader): time, source and destination address, protocol, ports,
IP length, frame length, TCP flags, TTL, IP ID, more-fragments flag, fragment offset, ICMP
type/code, transport payload length. Each tool runs in its own process, so its peak RSS is
its own (``os.wait4``). Run: ``.venv/bin/python bench/bench_pcap.py``.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets" / "pcap"
OUT = ROOT / "bench" / "out"
BIG = OUT / "pcap-1m.pcap"
SLICE = OUT / "pcap-100k.pcap"
BIG_NG = OUT / "pcap-1m.pcapng"
N_BIG, N_SLICE = 1_000_000, 100_000
FLUSH_ROWS = 262_144  # rows per batch, as surgescope.sources.base.BATCH_ROWS
T0_US = 1_741_600_000 * 1_000_000  # 2025-03-10

TSHARK_FIELDS = [
    "frame.time_epoch", "ip.src", "ip.dst", "ip.proto", "tcp.srcport", "tcp.dstport", "udp.srcport",
    "udp.dstport", "ip.len", "frame.len", "tcp.flags", "ip.ttl", "ip.id", "ip.flags.mf", "ip.frag_offset",
    "icmp.type", "icmp.code", "tcp.len",
]


def _real_frames() -> list[bytes]:
    """Every frame of the shared captures, read with a minimal classic-pcap walk (all are LE usec)."""
    frames = []
    for p in sorted(DATASETS.rglob("*.pcap*")):
        data = p.read_bytes()
        assert data[:4] == b"\xd4\xc3\xb2\xa1", p
        pos = 24
        while pos + 16 <= len(data):
            incl = struct.unpack_from("<I", data, pos + 8)[0]
            frames.append(data[pos + 16 : pos + 16 + incl])
            pos += 16 + incl
    return frames


def build_inputs() -> None:
    if BIG.exists() and SLICE.exists() and BIG_NG.exists():
        return
    OUT.mkdir(parents=True, exist_ok=True)
    frames = _real_frames()
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262_144, 1)
    rec = struct.Struct("<IIII")
    parts = []
    for i in range(N_BIG):
        f = frames[i % len(frames)]
        sec, usec = divmod(T0_US + i, 1_000_000)
        parts.append(rec.pack(sec, usec, len(f), len(f)) + f)
        if i + 1 == N_SLICE:
            SLICE.write_bytes(header + b"".join(parts))
    BIG.write_bytes(header + b"".join(parts))
    # The same packets as pcapng (SHB, IDB, EPBs), written by Wireshark's own editcap.
    subprocess.run(["editcap", "-F", "pcapng", str(BIG), str(BIG_NG)], check=True)


# ------------------------------------------------------------------ the contenders (in children)


def run_surgescope(path: str) -> int:
    from surgescope.sources import pcap
    from surgescope.sources.base import Rejections

    rej = Rejections(unit="packet")
    n = 0
    for batch in pcap.read(path, rej):
        n += batch.num_rows
    assert rej.count == 0
    return n


def run_dpkt(path: str) -> int:
    """dpkt's idiomatic reader: pcap.Reader, then Ethernet (VLAN tags included) / IP / TCP, UDP, ICMP."""
    import socket

    import dpkt

    cols: dict[str, list] = {k: [] for k in (
        "ts", "src", "dst", "proto", "sport", "dport", "ip_len", "frame_len", "flags", "ttl", "id",
        "mf", "off", "icmp_type", "icmp_code", "payload")}
    ntoa = socket.inet_ntoa
    total = 0
    with open(path, "rb") as f:
        for ts, buf in dpkt.pcap.Reader(f):
            cols["ts"].append(ts)
            cols["frame_len"].append(len(buf))
            try:
                ip = dpkt.ethernet.Ethernet(buf).data
            except dpkt.UnpackError:
                ip = None
            if not isinstance(ip, dpkt.ip.IP):
                for k in ("src", "dst", "proto", "ip_len", "ttl", "id", "mf", "off", "sport", "dport",
                          "flags", "icmp_type", "icmp_code", "payload"):
                    cols[k].append(None)
                continue
            cols["src"].append(ntoa(ip.src))
            cols["dst"].append(ntoa(ip.dst))
            cols["proto"].append(ip.p)
            cols["ip_len"].append(ip.len)
            cols["ttl"].append(ip.ttl)
            cols["id"].append(ip.id)
            cols["mf"].append(bool(ip.mf))
            cols["off"].append(ip.offset >> 3)
            l4 = ip.data
            tcp = isinstance(l4, dpkt.tcp.TCP)
            udp = isinstance(l4, dpkt.udp.UDP)
            cols["sport"].append(l4.sport if tcp or udp else None)
            cols["dport"].append(l4.dport if tcp or udp else None)
            cols["flags"].append(l4.flags if tcp else None)
            icmp = isinstance(l4, dpkt.icmp.ICMP)
            cols["icmp_type"].append(l4.type if icmp else None)
            cols["icmp_code"].append(l4.code if icmp else None)
            cols["payload"].append(len(l4.data) if tcp or udp else None)
            if len(cols["ts"]) == FLUSH_ROWS:  # stream like surgescope does: drop each batch
                total += FLUSH_ROWS
                for v in cols.values():
                    v.clear()
    return total + len(cols["ts"])


def run_dpkt_reader(path: str) -> int:
    """dpkt's pcap.Reader alone: timestamps and raw frames, no field decoded (a lower bound)."""
    import dpkt

    n = 0
    with open(path, "rb") as f:
        for _ts, _buf in dpkt.pcap.Reader(f):
            n += 1
    return n


def child(tool: str, path: str) -> None:
    # Imports (pyarrow, polars, numpy, dpkt) happen before the clock starts.
    if tool == "surgescope":
        import surgescope.sources.pcap  # noqa: F401
    else:
        import dpkt  # noqa: F401
    t, c = time.perf_counter(), time.process_time()
    n = {"surgescope": run_surgescope, "dpkt": run_dpkt, "dpkt-reader": run_dpkt_reader}[tool](path)
    print(json.dumps({"packets": n, "seconds": time.perf_counter() - t, "cpu": time.process_time() - c}))


# ------------------------------------------------------------------ driver


def measure(cmd: list[str], stdout_json: bool) -> dict:
    """Run one contender in its own process: packets, seconds, and that process's peak RSS."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{cmd[0]} failed with exit code {proc.returncode}")
    rss_mb = usage.ru_maxrss / 1024  # KiB on Linux
    if stdout_json:
        r = json.loads(out.decode().strip().splitlines()[-1])
        return {"packets": r["packets"], "seconds": r["seconds"], "cpu": r["cpu"], "rss_mb": rss_mb}
    cpu = usage.ru_utime + usage.ru_stime
    return {"packets": out.count(b"\n"), "seconds": wall, "cpu": cpu, "rss_mb": rss_mb}


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
        return
    if sys.argv[1:] == ["--build"]:
        build_inputs()
        return
    py = sys.executable
    me = str(Path(__file__).resolve())
    # Built in a child, so this driver stays small and its children's RSS is their own.
    subprocess.run([py, me, "--build"], check=True)
    results = {}
    results["surgescope (1M)"] = measure([py, me, "--child", "surgescope", str(BIG)], True)
    results["surgescope pcapng (1M)"] = measure([py, me, "--child", "surgescope", str(BIG_NG)], True)
    results["surgescope (100k)"] = measure([py, me, "--child", "surgescope", str(SLICE)], True)
    results["dpkt (1M)"] = measure([py, me, "--child", "dpkt", str(BIG)], True)
    results["dpkt pcap.Reader only (1M)"] = measure([py, me, "--child", "dpkt-reader", str(BIG)], True)
    tshark = ["tshark", "-r", str(SLICE), "-n", "-o", "ip.defragment:FALSE", "-T", "fields"]
    for f in TSHARK_FIELDS:
        tshark += ["-e", f]
    results["tshark -T fields (100k)"] = r = measure(tshark, False)
    # tshark's start-up (loading every dissector) is not per-packet work: measure it on a
    # capture with no packets and take it off, so its rate is not understated.
    empty = OUT / "empty.pcap"
    empty.write_bytes(SLICE.read_bytes()[:24])
    start = measure([*tshark[:2], str(empty), *tshark[3:]], False)
    r["seconds"] -= start["seconds"]
    r["cpu"] -= start["cpu"]

    assert results["surgescope (1M)"]["packets"] == results["dpkt (1M)"]["packets"] == N_BIG
    assert results["surgescope pcapng (1M)"]["packets"] == N_BIG
    assert results["tshark -T fields (100k)"]["packets"] == results["surgescope (100k)"]["packets"] == N_SLICE
    ours = results["surgescope (1M)"]
    ours_wall, ours_cpu = ours["packets"] / ours["seconds"], ours["packets"] / ours["cpu"]
    print(f"input: {BIG.name} ({BIG.stat().st_size / 2**20:.0f} MiB, {N_BIG:,} packets); tshark on {SLICE.name}")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; python {sys.version.split()[0]}")
    print(f"{'tool':<26}{'packets':>10}{'wall s':>8}{'pkts/s wall':>13}{'cpu s':>8}{'pkts/s cpu':>12}"
          f"{'ratio wall':>11}{'ratio cpu':>10}{'peak RSS MB':>12}")
    for name, r in results.items():
        wall, cpu = r["packets"] / r["seconds"], r["packets"] / r["cpu"]
        print(f"{name:<26}{r['packets']:>10,}{r['seconds']:>8.2f}{wall:>13,.0f}{r['cpu']:>8.2f}{cpu:>12,.0f}"
              f"{ours_wall / wall:>10.1f}x{ours_cpu / cpu:>9.1f}x{r['rss_mb']:>12.0f}")
    print("ratio = surgescope (1M) packets/s over the row's packets/s. The cpu columns (the process's own")
    print("CPU time) are the fair comparison on a shared machine; wall time includes waiting for CPU.")
    print(f"tshark start-up ({start['seconds']:.2f} s wall, {start['cpu']:.2f} s cpu on an empty capture) is subtracted.")


if __name__ == "__main__":
    main()
