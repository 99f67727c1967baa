"""Charts of the report as inline SVG text, drawn with Matplotlib.

Why Matplotlib SVG: it is already a dependency, it produces static vector graphics with no
JavaScript (so the report runs no script at all, opens with no network, can carry a strict
Content-Security-Policy and shows no console errors), and a chart is a few tens of kilobytes.
Vega-Lite/Altair or Plotly would need their JavaScript runtimes (0.5-3.5 MB) inlined into every
report. Text is written as SVG ``<text>`` (``svg.fonttype = none``), which Matplotlib escapes
as XML, and mathtext is off (``text.parse_math = False``) so a ``$`` in a label is a dollar.

Each function takes the report dict and returns SVG markup, or None when there is nothing to
draw. Times are shown in ``tz`` (an IANA zone name) or UTC.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

import matplotlib
import matplotlib.dates as mdates
import matplotlib.ticker
import numpy as np

# Figures are made with the object API (``Figure``), never pyplot: no global backend or state
# is touched, and savefig(format="svg") picks the SVG canvas by itself.
from matplotlib.figure import Figure

from surgescope.report.fmt import clip, fmt_int, fmt_time, parse_time

MAX_POINTS = 1200
"""Points per drawn line; longer series are reduced by keeping each bin's maximum (peaks stay)."""

VECTOR_COLOURS = ("#c0392b", "#2471a3", "#7d3c98", "#b9770e", "#117a65", "#566573", "#a04000", "#1f618d")

RC = {
    "svg.fonttype": "none",
    "text.parse_math": False,
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial"],
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
}

_TIME_KEYS = ("t", "ts", "time", "timestamp", "start")
_VALUE_KEYS = ("value", "count", "reports", "pps", "rps", "bps", "packets", "requests")


def points(seq: Sequence[dict[str, Any]]) -> tuple[list[datetime], np.ndarray]:
    """Times and values of a series given as ``[{t, value}, ...]`` (common key names accepted)."""
    if not seq:
        return [], np.zeros(0)
    first = seq[0]
    tk = next((k for k in _TIME_KEYS if k in first), None)
    vk = next((k for k in _VALUE_KEYS if k in first), None)
    if tk is None or vk is None:
        return [], np.zeros(0)
    times, values = [], []
    for p in seq:
        t = parse_time(p.get(tk))
        if t is None:
            continue
        times.append(t)
        try:
            values.append(float(p.get(vk) or 0.0))
        except (TypeError, ValueError):
            values.append(0.0)
    order = np.argsort(np.array([t.timestamp() for t in times])) if times else np.zeros(0, int)
    return [times[i] for i in order], np.asarray(values, dtype=float)[order]


def reduce(times: list[datetime], values: np.ndarray, max_points: int = MAX_POINTS) -> tuple[list[datetime], np.ndarray]:
    """At most ``max_points`` points, each the maximum of its bin, so peaks survive."""
    n = len(times)
    if n <= max_points:
        return times, values
    edges = np.linspace(0, n, max_points + 1).astype(int)
    idx = [int(a + np.argmax(values[a:b])) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]
    return [times[i] for i in idx], values[idx]


def _svg(fig: Figure, salt: str, label: str) -> str:
    """The figure as inline SVG markup: no XML prolog, no comments, fluid width, an accessible name."""
    buf = io.StringIO()
    with matplotlib.rc_context({**RC, "svg.hashsalt": salt}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    s = buf.getvalue()
    s = s[s.index("<svg"):]
    s = re.sub(r"<!--.*?-->", "", s, flags=re.S)
    s = re.sub(r"<metadata>.*?</metadata>", "", s, flags=re.S)
    # Element ids must be unique across the several SVGs inlined in one page.
    s = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{salt}-{m.group(1)}"', s)
    s = re.sub(r'(url\(#|href="#)([^)"]+)', lambda m: f"{m.group(1)}{salt}-{m.group(2)}", s)
    return s.replace("<svg ", f'<svg role="img" aria-label="{escape(label)}" class="chart" ', 1)


def _axis_time(ax: Any, tz: str | None) -> None:
    zone = ZoneInfo(tz) if tz else UTC
    loc = mdates.AutoDateLocator(tz=zone, minticks=4, maxticks=10)
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc, tz=zone))


def _zone_name(tz: str | None, when: datetime | None) -> str:
    if not tz:
        return "UTC"
    return (when or datetime.now(UTC)).astimezone(ZoneInfo(tz)).strftime("%Z")


def _outage_series(report: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """(name, points) of the series the waves were found in: reports first, else requests."""
    outage = report.get("outage") or {}
    groups: dict[str, list[dict[str, Any]]] = {}
    for p in outage.get("series") or []:
        groups.setdefault(str(p.get("series", "reports")), []).append(p)
    for name in ("reports", "requests", *groups):
        if groups.get(name):
            return name, groups[name]
    timelines = report.get("timelines") or {}
    for name in ("reports", "requests"):
        if timelines.get(name):
            return name, timelines[name]
    return "reports", []


def outage_series_name(report: dict[str, Any]) -> str:
    """Which series the outage section is about: ``reports`` or ``requests``."""
    return _outage_series(report)[0]


def _si(v: float, _pos: Any = None) -> str:
    """Axis label with an SI prefix for large values and plain decimals below 1000 (0.9, not 900m)."""
    for prefix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(v) >= scale:
            return f"{v / scale:g}{prefix}"
    return f"{v:g}"


def _label_sides(xs: list[float], span: float, near: float = 0.12) -> list[str]:
    """Horizontal alignment of peak labels: neighbours closer than ``near`` of the span lean apart."""
    sides = ["center"] * len(xs)
    for i in range(1, len(xs)):
        if span > 0 and (xs[i] - xs[i - 1]) / span < near:
            sides[i - 1] = "right" if sides[i - 1] == "center" else sides[i - 1]
            sides[i] = "left"
    return sides


def reports_chart(report: dict[str, Any], tz: str | None = None) -> str | None:
    """Report counts over time, zoomed on the waves, each wave shaded and its peak labelled."""
    name, series = _outage_series(report)
    times, values = points(series)
    waves = [w for w in (report.get("outage") or {}).get("waves") or [] if parse_time(w.get("start"))]
    if not times:
        return None
    # The detector's expected value, aligned with the points (NaN where it had no baseline yet).
    expected = None
    if series and "expected" in series[0]:
        by_t = {parse_time(p.get("t")): p.get("expected") for p in series}
        expected = np.array([float(by_t.get(t)) if by_t.get(t) is not None else np.nan for t in times])
    if waves:
        # Zoom on the waves (two hours either side): the full series is in report.json.
        from datetime import timedelta

        lo = min(parse_time(w["start"]) for w in waves) - timedelta(hours=2)
        hi = max(parse_time(w.get("end") or w["start"]) for w in waves) + timedelta(hours=2)
        keep = [i for i, t in enumerate(times) if lo <= t <= hi]
        if keep:
            times, values = [times[i] for i in keep], values[keep]
            expected = expected[keep] if expected is not None else None
    full = len(times)
    times_r, values_r = reduce(times, values)
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(9, 3.4))
        ax = fig.add_subplot()
        ax.fill_between(times_r, values_r, step="mid", color="#2471a3", alpha=0.25, linewidth=0)
        ax.plot(times_r, values_r, color="#2471a3", linewidth=0.9, drawstyle="steps-mid", label=f"{name} per interval")
        if expected is not None and full <= MAX_POINTS * 4 and not np.isnan(expected).all():
            ax.plot(times, expected, color="#5d6d7e", linewidth=0.8, linestyle="--", label="expected (baseline)")
        else:
            expected = None
        top = float(values_r.max()) if len(values_r) else 1.0
        peaks = [(w, parse_time(w.get("peak_at"))) for w in waves]
        xs = [p.timestamp() if p else 0.0 for _, p in peaks]
        span = (times[-1] - times[0]).total_seconds() if len(times) > 1 else 0.0
        for i, ((w, p), side) in enumerate(zip(peaks, _label_sides(xs, span), strict=True), 1):
            a, b = parse_time(w.get("start")), parse_time(w.get("end"))
            colour = "#c0392b" if w.get("direction", "up") == "up" else "#7d3c98"
            if a and b:
                ax.axvspan(a, b, color=colour, alpha=0.10 if i % 2 else 0.18, linewidth=0)
            if p is not None and w.get("peak") is not None:
                ax.plot([p], [float(w["peak"])], "v", color=colour, markersize=5)
                dx = {"center": 0, "right": -3, "left": 3}[side]
                ax.annotate(
                    f"wave {i}: {fmt_int(w['peak'])}\n{fmt_time(p, tz, date=False)}",
                    (p, float(w["peak"])), xytext=(dx, 6), textcoords="offset points",
                    ha=side, va="bottom", fontsize=8, color=colour,
                )
        ax.set_ylim(0, top * 1.3)
        ax.set_ylabel(f"{name} per interval")
        mid = times[len(times) // 2]
        ax.set_xlabel(f"time ({_zone_name(tz, mid)})")
        _axis_time(ax, tz)
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
        if expected is not None:
            ax.legend(loc="upper left", fontsize=7, frameon=False)
        return _svg(fig, "rep", "problem reports over time with outage waves")


METRICS = (("pps", "packets/s"), ("bps", "bits/s"), ("rps", "requests/s"), ("value", "value"))
"""Traffic timeline fields drawn, one panel row each, with their axis labels."""


def _traffic_series(report: dict[str, Any]) -> list[tuple[str, list[datetime], np.ndarray]]:
    """(label, times, values) per drawn metric of the traffic timelines (not the outage series)."""
    out = []
    for name, seq in (report.get("timelines") or {}).items():
        if name in ("reports", "requests") or not isinstance(seq, list) or not seq:
            continue
        keys = [(k, label) for k, label in METRICS if k in seq[0]]
        for k, label in keys:
            times, values = points([{"t": p.get("t"), "value": p.get(k)} for p in seq])
            if times and np.any(values):
                out.append((label if name == "traffic" else f"{clip(name, 16)} {label}", times, values))
    return out[:3]


def segments(times: list[datetime], gap_factor: float = 20.0, min_gap_s: float = 60.0) -> list[tuple[int, int]]:
    """Index ranges [a, b) of the stretches of a timeline separated by gaps (capture excerpts)."""
    if len(times) < 2:
        return [(0, len(times))]
    ts = np.array([t.timestamp() for t in times])
    d = np.diff(ts)
    step = float(np.median(d)) if len(d) else 1.0
    cuts = np.flatnonzero(d > max(min_gap_s, gap_factor * step)) + 1
    edges = [0, *cuts.tolist(), len(times)]
    return list(zip(edges[:-1], edges[1:], strict=True))


def traffic_chart(report: dict[str, Any], tz: str | None = None) -> str | None:
    """Traffic timelines with the attack phases shaded and their vectors named.

    One panel row per metric; a timeline made of separate excerpts (a capture kept only around
    each attack) gets one column per excerpt, so each stays readable.
    """
    series = _traffic_series(report)
    attacks = report.get("attacks") or []
    if not series:
        return None
    segs = segments(series[0][1])
    if len(segs) > 6:  # too many excerpts for columns: draw one continuous axis
        segs = [(0, len(series[0][1]))]
    rows, cols = len(series), len(segs)
    colours: dict[str, str] = {}
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(9, 1.2 + 1.6 * rows))
        axes = fig.subplots(rows, cols, sharex="col", sharey="row", squeeze=False)
        for r, (label, times, values) in enumerate(series):
            for c, (a, b) in enumerate(segments(times) if len(segs) > 1 else [(0, len(times))]):
                if c >= cols:
                    break
                ax = axes[r, c]
                t_seg, v_seg = reduce(times[a:b], values[a:b], MAX_POINTS // cols)
                # Few points (a short capture, or windows only where traffic was seen): mark each
                # one so a straight line between two of them is not read as measured.
                ax.plot(t_seg, v_seg, color="#34495e", linewidth=0.8, marker="o" if len(t_seg) < 120 else None,
                        markersize=2.5)
                lo, hi = times[a], times[b - 1]
                for att in attacks:
                    s0, e0 = parse_time(att.get("start")), parse_time(att.get("end"))
                    v = str(att.get("vector") or "attack")
                    colour = colours.setdefault(v, VECTOR_COLOURS[len(colours) % len(VECTOR_COLOURS)])
                    if s0 and e0 and s0 <= hi and e0 >= lo:
                        ax.axvspan(max(s0, lo), min(e0, hi), color=colour, alpha=0.15, linewidth=0)
                        if r == 0:
                            names = [str(x.get("vector")) for x in att.get("vectors") or [] if x.get("vector")] or [v]
                            ax.annotate("\n".join(clip(n, 22) for n in names[:3]), (max(s0, lo), 1.0),
                                        xycoords=("data", "axes fraction"), xytext=(2, 2), textcoords="offset points",
                                        fontsize=7, va="bottom", color=colour)
                if c == 0:
                    ax.set_ylabel(label, fontsize=8)
                ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_si))
                if r == rows - 1:
                    zone = ZoneInfo(tz) if tz else UTC
                    if cols > 1:
                        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(nbins=3))
                        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S", tz=zone))
                        ax.tick_params(axis="x", labelsize=7)
                    else:
                        _axis_time(ax, tz)
        first = series[0][1][0]
        note = "; one column per capture excerpt" if cols > 1 else ""
        fig.supxlabel(f"time ({_zone_name(tz, first)}); shaded: attack phases{note}", fontsize=8)
        return _svg(fig, "trf", "traffic over time with attack phases")


def vector_shares(report: dict[str, Any]) -> list[tuple[str, float]]:
    """Share of each vector over all attacks, weighted by each attack's packets (or requests)."""
    total: dict[str, float] = {}
    for a in report.get("attacks") or []:
        weight = float(a.get("packets") or a.get("requests") or 1)
        vectors = a.get("vectors") or [{"vector": a.get("vector"), "share": 1.0}]
        for v in vectors:
            if v.get("vector"):
                total[str(v["vector"])] = total.get(str(v["vector"]), 0.0) + weight * float(v.get("share") or 0)
    s = sum(total.values()) or 1.0
    return sorted(((k, x / s) for k, x in total.items()), key=lambda kv: -kv[1])


def vector_chart(report: dict[str, Any]) -> str | None:
    """Horizontal bars: each vector's share of the attack traffic."""
    shares = vector_shares(report)[:10]
    if not shares:
        return None
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(6, 0.6 + 0.35 * len(shares)))
        ax = fig.add_subplot()
        names = [clip(k, 30) for k, _ in shares][::-1]
        vals = [100 * v for _, v in shares][::-1]
        ax.barh(names, vals, color=[VECTOR_COLOURS[i % len(VECTOR_COLOURS)] for i in range(len(vals))][::-1])
        for y, v in enumerate(vals):
            ax.annotate(f"{v:.1f} %", (v, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
        ax.set_xlim(0, max(vals) * 1.2)
        ax.set_xlabel("share of attack traffic (%)")
        ax.grid(axis="y", visible=False)
        return _svg(fig, "vec", "share of each attack vector")
