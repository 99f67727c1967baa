"""Service metrics in the Prometheus text exposition format (version 0.0.4).

A handful of counters and one latency histogram do not justify a dependency
(``prometheus_client``): the format is a few lines of text per series.

>>> m = Metrics()
>>> m.inc("reports_received", 2892727)
>>> m.observe_request("/v1/status", 200, 0.004)
>>> "surgescope_reports_received_total 2892727" in m.render()
True
"""

from __future__ import annotations

import threading
from collections import defaultdict

#: Counter name -> help text. Exposed as ``surgescope_<name>_total``.
COUNTERS = {
    "reports_received": "Crowd reports received (a count record adds its count).",
    "report_records_rejected": "Report records rejected as malformed.",
    "records_ingested": "Traffic records (packets, requests, flows) ingested.",
    "records_rejected": "Traffic records rejected by the readers.",
    "uploads_rejected": "Request bodies rejected whole (bad format, too large).",
    "alerts_fired": "Alerts fired (outage and attack starts and ends).",
}

#: Latency histogram bucket upper bounds in seconds.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def _label(value: str) -> str:
    # Label values are escaped as the exposition format requires (backslash, quote, newline).
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _num(v: float) -> str:
    # Exact integers (``:g`` would round 2892727 to 2.89273e+06).
    return str(int(v)) if float(v).is_integer() else repr(float(v))


class Metrics:
    """Thread-safe counters and a request-latency histogram per (path, status)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counters: dict[str, float] = dict.fromkeys(COUNTERS, 0)
        self._hist: dict[tuple[str, int], list[float]] = defaultdict(lambda: [0.0] * len(BUCKETS))
        self._sum: dict[tuple[str, int], float] = defaultdict(float)
        self._count: dict[tuple[str, int], int] = defaultdict(int)

    def inc(self, name: str, by: float = 1) -> None:
        with self._lock:
            self.counters[name] += by

    def observe_request(self, path: str, status: int, seconds: float) -> None:
        key = (path, int(status))
        with self._lock:
            buckets = self._hist[key]
            for i, le in enumerate(BUCKETS):
                if seconds <= le:
                    buckets[i] += 1
            self._sum[key] += seconds
            self._count[key] += 1

    def render(self) -> str:
        """The exposition text for ``GET /metrics``."""
        lines: list[str] = []
        with self._lock:
            for name, help_text in COUNTERS.items():
                full = f"surgescope_{name}_total"
                lines += [f"# HELP {full} {help_text}", f"# TYPE {full} counter",
                          f"{full} {_num(self.counters[name])}"]
            h = "surgescope_request_duration_seconds"
            lines += [f"# HELP {h} HTTP request latency by route and status.", f"# TYPE {h} histogram"]
            for (path, status), buckets in sorted(self._hist.items()):
                lab = f'path="{_label(path)}",status="{status}"'
                for le, n in zip(BUCKETS, buckets, strict=True):
                    lines.append(f'{h}_bucket{{{lab},le="{le:g}"}} {_num(n)}')
                lines.append(f'{h}_bucket{{{lab},le="+Inf"}} {self._count[(path, status)]}')
                lines.append(f"{h}_sum{{{lab}}} {self._sum[(path, status)]:.6f}")
                lines.append(f"{h}_count{{{lab}}} {self._count[(path, status)]}")
        return "\n".join(lines) + "\n"
