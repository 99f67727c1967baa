"""Charts of the report as inline SVG text, written by hand from strings (no plotting library).

Why hand-written SVG: static vector graphics need no JavaScript (the report runs no script at
all, opens with no network, can carry a strict Content-Security-Policy and shows no console
errors), and a chart is a few tens of kilobytes. Vega-Lite/Altair or Plotly would need their
JavaScript runtimes (0.5-3.5 MB) inlined into every report. The charts were drawn with
Matplotlib until issue 2's access-log target (``surgescope analyze`` on 2 M lines at >= 10x
GoAccess: about 7 CPU-s for the whole command on this machine) measured it as a bottleneck:
importing it cost 1.3 CPU-s in the command (0.7-0.85 alone; preloaded on a thread while
reading, it took a core from the reader) and drawing the three charts 0.45-0.9 CPU-s more,
about 2 of those 7 CPU-s. Three simple charts (lines, shaded spans, bars, ticks) are little
code by hand: drawn here they cost 10-13 ms, and ``analyze`` on the 2 M-line log went from
8.9 to 7.0 CPU-s (medians of 3 alternating runs). The page is smaller too (demo: 254 -> 108 kB).

Every text that may come from an input (series, vector names) is clipped and escaped with
:func:`html.escape`, so it is SVG text, never markup. Element ids are salted per chart
(``rep-``, ``trf-``, ``vec-``) so the three charts can live on one page. Coordinates are scaled
with NumPy; the only per-point Python work is formatting the path strings, which
:func:`reduce` bounds to :data:`MAX_POINTS` per line.

Each function takes the report dict and returns SVG markup, or None when there is nothing to
draw. Times are shown in ``tz`` (an IANA zone name) or UTC.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from surgescope.report.fmt import clip, fmt_int, fmt_time, parse_time

MAX_POINTS = 1200
"""Points per drawn line; longer series are reduced by keeping each bin's maximum (peaks stay)."""

VECTOR_COLOURS = ("#c0392b", "#2471a3", "#7d3c98", "#b9770e", "#117a65", "#566573", "#a04000", "#1f618d")

FONT = "DejaVu Sans, Arial, Helvetica, sans-serif"
FONT_SIZE = 12.5
"""Base text size in user units; charts are 900 units wide (600 for the vector bars)."""
SMALL = 10.5
CHAR_W = 0.6
"""Average glyph width as a fraction of the font size (DejaVu Sans), to size margins for labels."""

INK, MUTED, GRID = "#1c2833", "#5d6d7e", "#e3e6e8"

_TIME_KEYS = ("t", "ts", "time", "timestamp", "start")
_VALUE_KEYS = ("value", "count", "reports", "pps", "rps", "bps", "packets", "requests")


def points(seq: Sequence[dict[str, Any]]) -> tuple[list[datetime], np.ndarray]:
    """Times and values of a series given as ``[{t, value}, ...]`` (common key names accepted)."""
    ts, values, _ = _points(seq)
    return [datetime.fromtimestamp(t, UTC) for t in ts.tolist()], values


def _points(seq: Sequence[dict[str, Any]], value_key: str | None = None,
            also: tuple[str, ...] = ()) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Epoch seconds and values of a series, in time order, without the points whose time is
    unknown or whose value is not a finite number; ``also``: more numeric fields of the same
    points (NaN where missing)."""
    if not seq:
        return np.zeros(0), np.zeros(0), [np.zeros(0) for _ in also]
    first = seq[0]
    tk = next((k for k in _TIME_KEYS if k in first), None)
    vk = value_key or next((k for k in _VALUE_KEYS if k in first), None)
    if tk is None or vk is None:
        return np.zeros(0), np.zeros(0), [np.zeros(0) for _ in also]
    ts = _epochs_of([p.get(tk) for p in seq])
    values = _floats([p.get(vk) for p in seq], missing=0.0)
    extra = [_floats([p.get(k) for p in seq], missing=np.nan) for k in also]
    # A point with no known time or no finite value is not drawn (as Matplotlib skipped NaN).
    known = ~np.isnan(ts) & np.isfinite(values)
    order = np.flatnonzero(known)[np.argsort(ts[known], kind="stable")]
    return ts[order], values[order], [x[order] for x in extra]


def _epochs_of(raw: list[Any]) -> np.ndarray:
    """Epoch seconds (NaN if unknown) of time values. report.json's ``...Z`` ISO texts are parsed
    by NumPy in one call; anything else (offsets, datetimes, epoch ns) by parse_time, one by one."""
    try:
        text = np.array(raw, dtype=str)
        if len(text) and bool(np.all(np.char.endswith(text, "Z"))):
            ns = np.char.rstrip(text, "Z").astype("datetime64[ns]").astype(np.int64)
            return ns / 1e9
    except (TypeError, ValueError):
        pass
    parsed = [parse_time(t) for t in raw]
    return np.array([t.timestamp() if t is not None else np.nan for t in parsed], dtype=float)


def _floats(raw: list[Any], missing: float) -> np.ndarray:
    """Numbers of a field: ``missing`` for None; anything not a number counts as 0 (as float(x or 0))."""
    obj = np.array(raw, dtype=object)
    obj[np.equal(obj, None)] = missing
    try:
        return obj.astype(float)
    except (TypeError, ValueError):
        return np.array([_float(x, missing) for x in obj.tolist()])


def _float(x: Any, missing: float) -> float:
    if x is None:
        return missing
    try:
        return float(x or 0.0)
    except (TypeError, ValueError):
        return 0.0


def _epoch(times: Sequence[datetime]) -> np.ndarray:
    """Seconds since the epoch of aware datetimes, as floats (the charts' x coordinates)."""
    return np.fromiter((t.timestamp() for t in times), dtype=float, count=len(times))


def _reduce_idx(values: np.ndarray, max_points: int) -> np.ndarray:
    """Indices of at most ``max_points`` points, each its bin's (first) maximum."""
    n = len(values)
    if n <= max_points:
        return np.arange(n)
    starts = np.unique(np.linspace(0, n, max(1, max_points) + 1).astype(int)[:-1])
    v = np.nan_to_num(np.asarray(values, dtype=float), nan=-np.inf)
    peak = np.maximum.reduceat(v, starts)
    bin_of = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, n)))
    hit = np.flatnonzero(v == peak[bin_of])
    # The first hit of each bin: where the bin number changes along the hits.
    return hit[np.unique(bin_of[hit], return_index=True)[1]]


def reduce(times: list[datetime], values: np.ndarray, max_points: int = MAX_POINTS) -> tuple[list[datetime], np.ndarray]:
    """At most ``max_points`` points, each the maximum of its bin, so peaks survive."""
    if len(times) <= max_points:
        return times, values
    idx = _reduce_idx(values, max_points)
    return [times[i] for i in idx], values[idx]


def _zone_name(tz: str | None, when: datetime | None) -> str:
    if not tz:
        return "UTC"
    return (when or datetime.now(UTC)).astimezone(ZoneInfo(tz)).strftime("%Z")


def _outage_series(report: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """(name, points) of the series the waves were found in: reports first, else requests."""
    outage = report.get("outage") or {}
    seq = outage.get("series") or []
    names = [str(p.get("series", "reports")) for p in seq]
    groups: dict[str, list[dict[str, Any]]] = {}
    if len(set(names)) == 1:  # the usual case: one series, no regrouping
        groups[names[0]] = seq
    else:
        for name, p in zip(names, seq, strict=True):
            groups.setdefault(name, []).append(p)
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


def _si(v: float) -> str:
    """Axis label with an SI prefix for large values and plain decimals below 1000 (0.9, not 900m)."""
    for prefix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(v) >= scale:
            return f"{v / scale:g}{prefix}"
    return f"{v:g}"


def _thousands(v: float) -> str:
    return f"{v:,.0f}"


def _label_sides(xs: list[float], span: float, near: float = 0.12) -> list[str]:
    """Horizontal alignment of peak labels: neighbours closer than ``near`` of the span lean apart."""
    sides = ["center"] * len(xs)
    for i in range(1, len(xs)):
        if span > 0 and (xs[i] - xs[i - 1]) / span < near:
            sides[i - 1] = "right" if sides[i - 1] == "center" else sides[i - 1]
            sides[i] = "left"
    return sides


# --------------------------------------------------------------------------- SVG pieces


def _n(x: float) -> str:
    """A coordinate with one decimal (a tenth of a unit is below a pixel at any page width)."""
    return f"{x:.1f}"


def _text(x: float, y: float, s: str, *, size: float = FONT_SIZE, anchor: str = "start", colour: str = INK,
          rotate: bool = False, baseline: str | None = None) -> str:
    """One ``<text>``; ``s`` is escaped here (callers pass raw text, clipped)."""
    extra = f' transform="rotate(-90 {_n(x)} {_n(y)})"' if rotate else ""
    extra += f' dominant-baseline="{baseline}"' if baseline else ""
    return (f'<text x="{_n(x)}" y="{_n(y)}" font-size="{size}" text-anchor="{anchor}" fill="{colour}"{extra}>'
            f"{escape(s)}</text>")


def _line_path(xs: np.ndarray, ys: np.ndarray, starts: np.ndarray | None = None) -> str:
    """Path data through the points; ``starts`` (bool per point) begins a new piece there (a gap)."""
    cmd = np.full(len(xs), "L")
    if len(xs):
        cmd[0] = "M"
    if starts is not None:
        cmd[starts] = "M"
    return "".join(f"{c}{x:.1f},{y:.1f}" for c, x, y in zip(cmd.tolist(), xs.tolist(), ys.tolist(), strict=True))


def _dots_path(xs: np.ndarray, ys: np.ndarray) -> str:
    """Zero-length segments that a round line cap draws as dots (one element for all markers)."""
    return "".join(f"M{x:.1f},{y:.1f}h0" for x, y in zip(xs.tolist(), ys.tolist(), strict=True))


def _doc(width: float, height: float, salt: str, label: str, body: list[str]) -> str:
    """The chart's ``<svg>``: fluid width (CSS ``svg.chart``), an accessible name and a title."""
    return (
        f'<svg role="img" aria-label="{escape(label)}" class="chart" xmlns="http://www.w3.org/2000/svg" '
        f'width="{_n(width)}" height="{_n(height)}" viewBox="0 0 {_n(width)} {_n(height)}" '
        f'font-family="{FONT}" font-size="{FONT_SIZE}" id="{salt}-chart">'
        f"<title>{escape(label)}</title>" + "".join(body) + "</svg>"
    )


class _Box:
    """A plot area in SVG units mapping data (x: epoch seconds or values, y: values) linearly onto it."""

    def __init__(self, left: float, top: float, width: float, height: float,
                 x0: float, x1: float, y0: float, y1: float) -> None:
        self.left, self.top, self.width, self.height = left, top, width, height
        self.x0, self.x1 = (x0, x1) if x1 > x0 else (x0 - 1.0, x0 + 1.0)
        self.y0, self.y1 = (y0, y1) if y1 > y0 else (y0, y0 + 1.0)

    @property
    def right(self) -> float:
        return self.left + self.width

    @property
    def bottom(self) -> float:
        return self.top + self.height

    def x(self, v: Any) -> Any:
        return self.left + (np.asarray(v, dtype=float) - self.x0) * (self.width / (self.x1 - self.x0))

    def y(self, v: Any) -> Any:
        return self.bottom - (np.asarray(v, dtype=float) - self.y0) * (self.height / (self.y1 - self.y0))

    def clip(self, cid: str) -> str:
        return (f'<clipPath id="{cid}"><rect x="{_n(self.left)}" y="{_n(self.top)}" width="{_n(self.width)}" '
                f'height="{_n(self.height)}"/></clipPath>')

    def frame(self) -> str:
        """Left and bottom axis lines (no top or right spine, as in the report's style)."""
        return (f'<path d="M{_n(self.left)},{_n(self.top)}V{_n(self.bottom)}H{_n(self.right)}" '
                f'fill="none" stroke="{INK}" stroke-width="1"/>')


def _nice_ticks(hi: float, n: int = 6) -> np.ndarray:
    """0 and round steps (1, 2, 2.5, 5 x 10^k) up to ``hi``, about ``n`` of them."""
    if not hi > 0 or not math.isfinite(hi):
        return np.array([0.0])
    raw = hi / n
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    return np.arange(0.0, hi * (1 + 1e-9), step)


def _y_axis(box: _Box, ticks: np.ndarray, fmt: Any, *, labels: bool = True, size: float = FONT_SIZE) -> list[str]:
    """Horizontal grid lines with tick marks and (if ``labels``) formatted values on the left."""
    ys = box.y(ticks)
    grid = "".join(f"M{_n(box.left)},{y:.1f}H{_n(box.right)}" for y in ys.tolist())
    marks = "".join(f"M{_n(box.left - 4)},{y:.1f}h4" for y in ys.tolist())
    out = [f'<path d="{grid}" stroke="{GRID}" stroke-width="1"/>', f'<path d="{marks}" stroke="{INK}" stroke-width="1"/>']
    if labels:
        out += [_text(box.left - 7, y + size * 0.35, fmt(v), size=size, anchor="end") for v, y in zip(ticks.tolist(), ys.tolist(), strict=True)]
    return out


def _y_label_width(ticks: np.ndarray, fmt: Any, size: float = FONT_SIZE) -> float:
    return max(len(fmt(v)) for v in ticks.tolist()) * size * CHAR_W


_TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
               86400, 2 * 86400, 7 * 86400, 14 * 86400, 28 * 86400, 91 * 86400, 182 * 86400, 364 * 86400)
"""Tick steps in seconds, each a round amount of clock or calendar time."""


def _time_ticks(t0: float, t1: float, zone: Any, max_ticks: int) -> tuple[np.ndarray, list[str], str]:
    """Ticks at round local clock times between ``t0`` and ``t1`` (epoch seconds): their epoch
    seconds, their labels and the date(s) they fall on (shown once, beside the axis)."""
    span = max(t1 - t0, 1.0)
    year = _TIME_STEPS[-1]
    step = next((s for s in _TIME_STEPS if span / s <= max_ticks - 1), year * math.ceil(span / year / (max_ticks - 1)))
    off0 = _offset(zone, t0)
    local = np.arange(math.ceil((t0 + off0) / step) * step, t1 + off0 + 1e-6, step)
    # Back to UTC with each tick's own offset, so a tick after a DST change still sits on the round hour.
    ticks = np.array([lt - _offset(zone, lt - off0) for lt in local.tolist()])
    when = [datetime.fromtimestamp(t, zone) for t in ticks.tolist()]
    if step >= 86400:
        labels = [d.strftime("%b %d") for d in when]
    else:
        clock = "%H:%M:%S" if step < 60 else "%H:%M"
        labels = [d.strftime("%b %d") if step >= 3600 and d.hour == 0 and d.minute == 0 else d.strftime(clock) for d in when]
    return ticks, labels, _dates(t0, t1, zone, years=step >= 86400)


def _dates(t0: float, t1: float, zone: Any, *, years: bool = False) -> str:
    """The local date (or year) of a time range, or its first and last: what tick labels leave out."""
    first, last = datetime.fromtimestamp(t0, zone), datetime.fromtimestamp(t1, zone)
    if years:
        return first.strftime("%Y") if first.year == last.year else f"{first:%Y} – {last:%Y}"
    if first.date() == last.date():
        return first.strftime("%Y-%m-%d")
    return f"{first:%Y-%m-%d} – {last:%m-%d}" if first.year == last.year else f"{first:%Y-%m-%d} – {last:%Y-%m-%d}"


def _offset(zone: Any, t: float) -> float:
    return datetime.fromtimestamp(t, UTC).astimezone(zone).utcoffset().total_seconds()


def _x_axis(box: _Box, zone: Any, max_ticks: int, *, labels: bool = True, size: float = FONT_SIZE,
            inset: bool = False) -> tuple[list[str], str]:
    """Vertical grid lines and tick marks at round local times, labelled under the box if ``labels``
    (with ``inset``, only labels that fit inside the box's width: side-by-side panels)."""
    ticks, names, date = _time_ticks(box.x0, box.x1, zone, max_ticks)
    keep = (ticks >= box.x0 - 1e-6) & (ticks <= box.x1 + 1e-6)
    xs = box.x(ticks[keep])
    names = [s for s, k in zip(names, keep.tolist(), strict=True) if k]
    grid = "".join(f"M{x:.1f},{_n(box.top)}V{_n(box.bottom)}" for x in xs.tolist())
    marks = "".join(f"M{x:.1f},{_n(box.bottom)}v4" for x in xs.tolist())
    out = [f'<path d="{grid}" stroke="{GRID}" stroke-width="1"/>', f'<path d="{marks}" stroke="{INK}" stroke-width="1"/>']
    if labels:
        out += [_text(x, box.bottom + 6 + size, s, size=size, anchor="middle") for x, s in zip(xs.tolist(), names, strict=True)
                if not inset or box.left + len(s) * size * CHAR_W / 2 <= x <= box.right - len(s) * size * CHAR_W / 2]
    return out, date


def _span(box: _Box, a: float, b: float, colour: str, opacity: float) -> str:
    """A shaded time span, cut to the box."""
    xa, xb = float(box.x(max(a, box.x0))), float(box.x(min(b, box.x1)))
    return (f'<rect x="{_n(xa)}" y="{_n(box.top)}" width="{_n(max(xb - xa, 0.0))}" height="{_n(box.height)}" '
            f'fill="{colour}" fill-opacity="{opacity}"/>')


# --------------------------------------------------------------------------- the charts


def reports_chart(report: dict[str, Any], tz: str | None = None) -> str | None:
    """Report counts over time, zoomed on the waves, each wave shaded and its peak labelled."""
    name, series = _outage_series(report)
    # The detector's expected value comes with the points (NaN where it had no baseline yet).
    with_expected = bool(series) and "expected" in series[0]
    ts, values, extra = _points(series, also=("expected",) if with_expected else ())
    expected = extra[0] if with_expected else None
    waves = [w for w in (report.get("outage") or {}).get("waves") or [] if parse_time(w.get("start"))]
    if not len(ts):
        return None
    if waves:
        # Zoom on the waves (two hours either side): the full series is in report.json.
        lo = min(parse_time(w["start"]) for w in waves) - timedelta(hours=2)
        hi = max(parse_time(w.get("end") or w["start"]) for w in waves) + timedelta(hours=2)
        keep = np.flatnonzero((ts >= lo.timestamp()) & (ts <= hi.timestamp()))
        if len(keep):
            ts, values = ts[keep], values[keep]
            expected = expected[keep] if expected is not None else None
    full = len(ts)
    idx = _reduce_idx(values, MAX_POINTS)
    ts_r, values_r = ts[idx], values[idx]
    if expected is None or full > MAX_POINTS * 4 or np.isnan(expected).all():
        expected = None
    top = float(values_r.max()) if len(values_r) else 1.0
    zone = ZoneInfo(tz) if tz else UTC
    yticks = _nice_ticks(top * 1.3)
    ylabel = f"{clip(name, 40)} per interval"
    left = 16 + SMALL + _y_label_width(yticks, _thousands) + 12
    w, h = 900.0, 340.0
    box = _Box(left, 14, w - left - 18, h - 14 - 62, float(ts[0]), float(ts[-1]), 0.0, max(top * 1.3, 1.0))
    body = [f"<defs>{box.clip('rep-plot')}</defs>"]
    peaks = [(wv, parse_time(wv.get("peak_at"))) for wv in waves]
    shades, marks = [], []
    xs_peak = [p.timestamp() if p else 0.0 for _, p in peaks]
    span = float(ts[-1] - ts[0]) if len(ts) > 1 else 0.0
    for i, ((wv, p), side) in enumerate(zip(peaks, _label_sides(xs_peak, span), strict=True), 1):
        a, b = parse_time(wv.get("start")), parse_time(wv.get("end"))
        colour = "#c0392b" if wv.get("direction", "up") == "up" else "#7d3c98"
        if a and b:
            shades.append(_span(box, a.timestamp(), b.timestamp(), colour, 0.10 if i % 2 else 0.18))
        if p is not None and wv.get("peak") is not None and box.x0 <= p.timestamp() <= box.x1:
            px, py = float(box.x(p.timestamp())), float(box.y(float(wv["peak"])))
            marks.append(f'<path d="M{_n(px - 4.5)},{_n(py - 8)}h9l-4.5,8z" fill="{colour}"/>')
            anchor = {"center": "middle", "right": "end", "left": "start"}[side]
            dx = {"center": 0, "right": -4, "left": 4}[side]
            marks.append(_text(px + dx, py - 12 - SMALL * 1.2, f"wave {i}: {fmt_int(wv['peak'])}", size=SMALL, anchor=anchor, colour=colour))
            marks.append(_text(px + dx, py - 12, fmt_time(p, tz, date=False), size=SMALL, anchor=anchor, colour=colour))
    body += shades
    body += _y_axis(box, yticks, _thousands)
    xaxis, date = _x_axis(box, zone, 10)
    body += xaxis
    # Steps centred on each point (as Matplotlib's steps-mid): H/V path commands, half the numbers.
    x, y = box.x(ts_r), box.y(values_r)
    mids = ((x[:-1] + x[1:]) / 2).tolist()
    steps = f"M{x[0]:.1f},{y[0]:.1f}" + "".join(f"H{m:.1f}V{v:.1f}" for m, v in zip(mids, y[1:].tolist(), strict=True)) + f"H{x[-1]:.1f}"
    g = '<g clip-path="url(#rep-plot)">'
    g += f'<path d="{steps}V{_n(box.bottom)}H{x[0]:.1f}Z" fill="#2471a3" fill-opacity="0.25"/>'
    g += f'<path d="{steps}" fill="none" stroke="#2471a3" stroke-width="1.2" stroke-linejoin="round"/>'
    if expected is not None:
        e = expected[idx]
        ok = ~np.isnan(e)
        gap = ok & ~np.concatenate([[False], ok[:-1]])  # a point after a missing one starts a new piece
        line = _line_path(box.x(ts_r[ok]), box.y(e[ok]), gap[ok])
        g += f'<path d="{line}" fill="none" stroke="#5d6d7e" stroke-width="1.1" stroke-dasharray="5 3"/>'
    body.append(g + "</g>")
    body += marks
    body.append(box.frame())
    body.append(_text(12, box.top + box.height / 2, ylabel, rotate=True, anchor="middle", baseline="middle"))
    body.append(_text(box.left + box.width / 2, h - 10, f"time ({_zone_name(tz, datetime.fromtimestamp(ts[len(ts) // 2], UTC))})", anchor="middle"))
    body.append(_text(box.right, box.bottom + 8 + 2.3 * FONT_SIZE, date, anchor="end"))
    if expected is not None:
        lx, ly = box.left + 10, box.top + 12
        body.append(f'<path d="M{_n(lx)},{_n(ly)}h22" stroke="#2471a3" stroke-width="1.2"/>')
        body.append(_text(lx + 28, ly + 3.5, ylabel, size=SMALL - 0.5))
        body.append(f'<path d="M{_n(lx)},{_n(ly + 16)}h22" stroke="#5d6d7e" stroke-width="1.1" stroke-dasharray="5 3"/>')
        body.append(_text(lx + 28, ly + 19.5, "expected (baseline)", size=SMALL - 0.5))
    return _doc(w, h, "rep", "problem reports over time with outage waves", body)


METRICS = (("pps", "packets/s"), ("bps", "bits/s"), ("rps", "requests/s"), ("value", "value"))
"""Traffic timeline fields drawn, one panel row each, with their axis labels."""


def _traffic_series(report: dict[str, Any]) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(label, epoch seconds, values) per drawn metric of the traffic timelines (not the outage series)."""
    out = []
    for name, seq in (report.get("timelines") or {}).items():
        if name in ("reports", "requests") or not isinstance(seq, list) or not seq or not isinstance(seq[0], dict):
            continue
        keys = [(k, label) for k, label in METRICS if k in seq[0]]
        for k, label in keys:
            ts, values, _ = _points(seq, value_key=k)
            if len(ts) and np.any(values):
                out.append((label if name == "traffic" else f"{clip(name, 16)} {label}", ts, values))
    return out[:3]


def segments(times: list[datetime], gap_factor: float = 20.0, min_gap_s: float = 60.0) -> list[tuple[int, int]]:
    """Index ranges [a, b) of the stretches of a timeline separated by gaps (capture excerpts)."""
    if len(times) < 2:
        return [(0, len(times))]
    return _segments(_epoch(times), gap_factor, min_gap_s)


def _segments(ts: np.ndarray, gap_factor: float = 20.0, min_gap_s: float = 60.0) -> list[tuple[int, int]]:
    if len(ts) < 2:
        return [(0, len(ts))]
    d = np.diff(ts)
    step = float(np.median(d))
    cuts = np.flatnonzero(d > max(min_gap_s, gap_factor * step)) + 1
    edges = [0, *cuts.tolist(), len(ts)]
    return list(zip(edges[:-1], edges[1:], strict=True))


def traffic_chart(report: dict[str, Any], tz: str | None = None) -> str | None:
    """Traffic timelines with the attack phases shaded and their vectors named.

    One panel row per metric; a timeline made of separate excerpts (a capture kept only around
    each attack) gets one column per excerpt, so each stays readable. With more excerpts than
    columns fit, one continuous axis whose lines break at each gap.
    """
    series = _traffic_series(report)
    attacks = report.get("attacks") or []
    if not series:
        return None
    segs = _segments(series[0][1])
    if len(segs) > 6:  # too many excerpts for columns: draw one continuous axis
        segs = [(0, len(series[0][1]))]
    rows, cols = len(series), len(segs)
    zone = ZoneInfo(tz) if tz else UTC
    # Columns share their time range (that of the first series' excerpt), rows their value range.
    first_ts = series[0][1]
    col_range = [(float(first_ts[a]), float(first_ts[b - 1])) for a, b in segs]
    phases = []
    colours: dict[str, str] = {}
    for att in attacks:
        s0, e0 = parse_time(att.get("start")), parse_time(att.get("end"))
        v = str(att.get("vector") or "attack")
        colour = colours.setdefault(v, VECTOR_COLOURS[len(colours) % len(VECTOR_COLOURS)])
        names = [str(x.get("vector")) for x in att.get("vectors") or [] if x.get("vector")] or [v]
        if s0 and e0:
            phases.append((s0.timestamp(), e0.timestamp(), colour, [clip(n, 22) for n in names[:3]]))
    head = 8 + max(len(p[3]) for p in phases) * SMALL * 1.15 if phases else 10.0  # the vector names above the top row
    row_h, gap_y = 125.0, 22.0
    w = 900.0
    h = head + rows * row_h + (rows - 1) * gap_y + 62
    yticks = [_nice_ticks(float(np.nanmax(v)) * 1.08) for _, _, v in series]
    label_w = max(_y_label_width(t, _si) for t in yticks)
    left = 14 + SMALL + label_w + 12
    gap_x = 18.0 if cols > 1 else 0.0
    col_w = (w - left - 16 - gap_x * (cols - 1)) / cols
    max_ticks = 10 if cols == 1 else 4 if cols <= 4 else 3
    tick_size = FONT_SIZE if cols == 1 else SMALL - 0.5
    body, defs = [], []
    date = ""
    for r, (label, ts, values) in enumerate(series):
        top_y = head + r * (row_h + gap_y)
        own = _segments(ts) if cols > 1 else [(0, len(ts))]
        for c in range(cols):
            x0, x1 = col_range[c]
            # A little room below zero so a quiet stretch is not hidden under the axis line.
            y1 = max(float(yticks[r][-1]), float(np.nanmax(values)) * 1.08, 1e-9)
            box = _Box(left + c * (col_w + gap_x), top_y, col_w, row_h, x0, x1, -0.04 * y1, y1)
            cid = f"trf-p{r}-{c}"
            defs.append(box.clip(cid))
            for a, b, colour, _names in phases:
                if a <= box.x1 and b >= box.x0:
                    body.append(_span(box, a, b, colour, 0.15))
            body += _y_axis(box, yticks[r], _si, labels=c == 0)
            axis, d = _x_axis(box, zone, max_ticks, labels=r == rows - 1, size=tick_size, inset=cols > 1)
            body += axis
            date = date or d
            if c < len(own):
                a, b = own[c]
                body.append(_traffic_line(box, ts[a:b], values[a:b], MAX_POINTS // cols, cid, one_axis=cols == 1))
            body.append(box.frame())
            if r == 0:
                for a, _b, colour, names in phases:
                    if a <= box.x1 and _b >= box.x0:
                        xa = float(box.x(max(a, box.x0))) + 2
                        for k, n in enumerate(names):
                            y = box.top - 4 - (len(names) - 1 - k) * SMALL * 1.15
                            body.append(_text(xa, y, n, size=SMALL - 1, colour=colour))
        body.append(_text(12, top_y + row_h / 2, label, size=SMALL, rotate=True, anchor="middle", baseline="middle"))
    note = "; one column per capture excerpt" if cols > 1 else ""
    if cols > 1:  # the excerpts' dates, from the first to the last
        date = _dates(float(first_ts[0]), float(first_ts[-1]), zone)
    when = f", {date}" if date else ""
    body.append(_text(left + (w - left - 16) / 2, h - 10,
                      f"time ({_zone_name(tz, datetime.fromtimestamp(first_ts[0], UTC))}{when}); shaded: attack phases{note}", size=SMALL, anchor="middle"))
    return _doc(w, h, "trf", "traffic over time with attack phases", [f"<defs>{''.join(defs)}</defs>", *body])


def _traffic_line(box: _Box, ts: np.ndarray, values: np.ndarray, max_points: int, cid: str, *, one_axis: bool) -> str:
    """One series in one panel: a line (broken at gaps on a continuous axis), dots when few points."""
    idx = _reduce_idx(values, max_points)
    x, y = box.x(ts[idx]), box.y(values[idx])
    starts = None
    if one_axis:
        cuts = np.array([a for a, _ in _segments(ts)[1:]], dtype=int)
        seg = np.searchsorted(cuts, idx, side="right")
        starts = np.concatenate([[False], seg[1:] != seg[:-1]])
    out = f'<g clip-path="url(#{cid})"><path d="{_line_path(x, y, starts)}" fill="none" stroke="#34495e" stroke-width="1.1" stroke-linejoin="round"/>'
    # Few points (a short capture, or windows only where traffic was seen): mark each one so a
    # straight line between two of them is not read as measured.
    if len(idx) < 120:
        out += f'<path d="{_dots_path(x, y)}" stroke="#34495e" stroke-width="5" stroke-linecap="round"/>'
    return out + "</g>"


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
    names = [clip(k, 30) for k, _ in shares]
    vals = np.array([100 * v for _, v in shares])
    bar_h, pitch = 26.0, 35.0
    left = 12 + max(len(n) for n in names) * FONT_SIZE * CHAR_W + 10
    w = 600.0
    h = 14 + pitch * len(names) + 52
    hi = float(vals.max()) * 1.2 if vals.max() > 0 else 1.0
    box = _Box(left, 10, w - left - 14, pitch * len(names), 0.0, hi, 0.0, 1.0)
    ticks = _nice_ticks(hi, 6)
    xs = box.x(ticks)
    body = [f'<path d="{"".join(f"M{x:.1f},{_n(box.top)}V{_n(box.bottom)}" for x in xs.tolist())}" stroke="{GRID}" stroke-width="1"/>']
    body.append(f'<path d="{"".join(f"M{x:.1f},{_n(box.bottom)}v4" for x in xs.tolist())}" stroke="{INK}" stroke-width="1"/>')
    body += [_text(x, box.bottom + 6 + FONT_SIZE, f"{t:g}", anchor="middle") for x, t in zip(xs.tolist(), ticks.tolist(), strict=True)]
    ends = box.x(vals)
    for i, (n, v, end) in enumerate(zip(names, vals.tolist(), ends.tolist(), strict=True)):
        y = box.top + i * pitch + (pitch - bar_h) / 2
        colour = VECTOR_COLOURS[i % len(VECTOR_COLOURS)]
        body.append(f'<rect x="{_n(box.left)}" y="{_n(y)}" width="{_n(end - box.left)}" height="{_n(bar_h)}" fill="{colour}"/>')
        body.append(_text(box.left - 8, y + bar_h / 2 + FONT_SIZE * 0.35, n, anchor="end"))
        body.append(f'<path d="M{_n(box.left - 4)},{_n(y + bar_h / 2)}h4" stroke="{INK}" stroke-width="1"/>')
        body.append(_text(end + 5, y + bar_h / 2 + SMALL * 0.35, f"{v:.1f} %", size=SMALL))
    body.append(box.frame())
    body.append(_text(box.left + box.width / 2, h - 10, "share of attack traffic (%)", anchor="middle"))
    return _doc(w, h, "vec", "share of each attack vector", body)
