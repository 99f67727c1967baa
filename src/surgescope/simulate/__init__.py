"""The project's traffic and report generator: named scenarios for ``surgescope simulate``.

``SCENARIOS`` maps a name to ``fn(path, seed, scale) -> dict`` (the first docstring line is
its description); :func:`run` calls one. Packet scenarios write a pcap: 40 s of ordinary web
traffic toward 10.10.10.10 with, for attack scenarios, the attack from 10 s to 30 s (so the
adaptive baseline has history). ``scale`` multiplies the rates.

>>> sorted(SCENARIOS)[:3]
['access-log', 'access-log-flood', 'ack-flood']
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

TARGET = "10.10.10.10"
BACKGROUND_PPS = 400.0
DURATION_S = 40.0
ATTACK = (10.0, 20.0)  # start, duration


def _write(path, phases, seed: int, name: str) -> dict:
    from surgescope.simulate.packets import generate
    from surgescope.simulate.pcapwriter import write

    table = generate(phases, seed=seed)
    n = write(table, path)
    return {"scenario": name, "path": str(path), "format": "pcap", "packets": n, "target": TARGET,
            "phases": [{"vector": p.vector, "start_s": p.start, "duration_s": p.duration, "rate_pps": p.rate}
                       for p in phases]}


def _background(scale: float):
    from surgescope.simulate.packets import Phase

    return Phase("normal", start=0.0, duration=DURATION_S, rate=BACKGROUND_PPS * scale, target=TARGET)


def _attack(vector: str, rate: float, doc: str, name: str | None = None, **kw) -> Callable:
    def scenario(path, seed: int = 1, scale: float = 1.0) -> dict:
        from surgescope.simulate.packets import Phase

        attack = Phase(vector, start=ATTACK[0], duration=ATTACK[1], rate=rate * scale, target=TARGET, **kw)
        return _write(path, [_background(scale), attack], seed, name or vector)

    scenario.__doc__ = doc
    scenario.__name__ = vector.replace("-", "_")
    return scenario


def _legit(vector: str, rate: float, doc: str, duration: float = 30.0, **kw) -> Callable:
    def scenario(path, seed: int = 1, scale: float = 1.0) -> dict:
        from surgescope.simulate.packets import Phase

        main = Phase(vector, start=5.0, duration=duration, rate=rate * scale, target=TARGET, **kw)
        return _write(path, [_background(scale), main], seed, vector)

    scenario.__doc__ = doc
    scenario.__name__ = vector.replace("-", "_")
    return scenario


def normal(path, seed: int = 1, scale: float = 1.0) -> dict:
    """40 s of ordinary web traffic (browsers, full TCP sessions) toward one server: no attack."""
    return _write(path, [_background(scale)], seed, "normal")


def access_log(path, seed: int = 1, scale: float = 1.0) -> dict:
    """An access log (combined format) of six hours of ordinary traffic, no flood."""
    from surgescope.simulate.accesslog import generate

    g = generate(path, int(200_000 * scale), seed=seed)
    return {"scenario": "access-log", "path": str(path), "format": "combined", "lines": g.lines}


def access_log_flood(path, seed: int = 1, scale: float = 1.0) -> dict:
    """An access log (combined format) with an HTTP flood from 200 bots in its second hour."""
    from surgescope.simulate.accesslog import Flood, generate

    g = generate(path, int(200_000 * scale), seed=seed,
                 floods=[Flood(start_s=3600, duration_s=900, share=0.5, bots=200)])
    return {"scenario": "access-log-flood", "path": str(path), "format": "combined", "lines": g.lines,
            "flood_lines": list(g.flood_lines), "bots": len(g.bots[0])}


def x_reports(path, seed: int = 20250310, scale: float = 1.0) -> dict:
    """Per-minute outage report counts for X on 10 March 2025, reconstructed from published figures."""
    from surgescope.simulate.reports import reconstruct_x_2025_03_10, write_csv

    n = write_csv(reconstruct_x_2025_03_10(seed=seed), path)
    return {"scenario": "x-reports-2025-03-10", "path": str(path), "format": "csv", "rows": n}


def x_traffic(path, seed: int = 20250310, scale: float = 1.0) -> dict:
    """Simulated multi-vector DDoS in four waves aligned with the 10 March 2025 outage (pcap)."""
    from surgescope.simulate.pcapwriter import write
    from surgescope.simulate.x_2025_03_10 import generate_traffic

    n = write(generate_traffic(seed=seed, scale=scale), path)
    return {"scenario": "x-traffic-2025-03-10", "path": str(path), "format": "pcap", "packets": n}


def _scenarios() -> dict[str, Callable]:
    from surgescope.attack import reflection

    s: dict[str, Callable] = {
        "normal": normal,
        "syn-flood": _attack("syn-flood", 5000, "Spoofed SYN flood (random sources and TTLs) on port 80, 10-30 s, over normal traffic."),
        "ack-flood": _attack("ack-flood", 8000, "Spoofed TCP ACK flood, 10-30 s, over normal traffic."),
        "rst-flood": _attack("rst-flood", 5000, "Spoofed TCP RST flood, 10-30 s, over normal traffic."),
        "udp-flood": _attack("udp-flood", 8000, "Spoofed UDP flood to random ports, 10-30 s, over normal traffic."),
        "icmp-flood": _attack("icmp-flood", 5000, "Spoofed ICMP echo flood, 10-30 s, over normal traffic."),
        "ip-fragment": _attack("ip-fragment", 3000, "Flood of orphan IP fragments, 10-30 s, over normal traffic."),
        "tcp-reflection": _attack("tcp-reflection", 5000, "SYN-ACKs reflected off 1,250 web servers (ports 80/443), 10-30 s."),
        "http-flood": _attack("http-flood", 20_000, "HTTP flood: 200 bots, full handshakes, ~7 GET/s each, 10-30 s.", n_sources=200),
        "botnet": _attack("http-flood", 40_000, "Botnet: 500 bots (per-bot TTLs), full handshakes and GET floods, 10-30 s.", name="botnet",
                          n_sources=500),
        "slow-http": _attack("slow-http", 0, "Slowloris: 5 sources holding 150 connections each open with a header line every 10 s, 10-30 s."),
        "download": _legit("download", 8000, "One large download (~100 Mbit/s) to the server from one host: no attack."),
        "speedtest": _legit("speedtest", 16_000, "A speed test: one client, 8 connections, upload then download at ~190 Mbit/s: no attack."),
        "flash-crowd": _legit("flash-crowd", 20_000, "A flash crowd: thousands of browsers each loading one page (<= 6 connections): no attack."),
    }
    for service in reflection.udp_services():
        row = reflection.service_row(service)
        v = row["vector"]
        s[v] = _attack(v, 3000, f"{row['service']} reflection/amplification (UDP source port {row['port']}, "
                       f"~{row['response_bytes']}-byte answers), 10-30 s, over normal traffic.")
    s["access-log"] = access_log
    s["access-log-flood"] = access_log_flood
    s["x-reports-2025-03-10"] = x_reports
    s["x-traffic-2025-03-10"] = x_traffic
    return dict(sorted(s.items()))


SCENARIOS: dict[str, Callable] = _scenarios()


def run(name: str, path: str | Path, seed: int = 1, scale: float = 1.0) -> dict:
    """Run scenario ``name`` writing to ``path``; returns its description of what was written."""
    fn = SCENARIOS.get(name)
    if fn is None:
        raise ValueError(f"unknown scenario {name!r}; `surgescope simulate list` lists them")
    if scale <= 0:
        raise ValueError("scale must be positive")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return fn(path, seed=seed, scale=scale)
