"""Formatting shared by the HTML and Markdown renderings: times, counts, rates, shares.

All functions take the plain values a ``report.json`` holds (ISO-8601 text, numbers, None) and
return display text; none of them escapes (the renderer escapes for its own syntax).

>>> fmt_time("2025-03-10T14:02:00Z", "America/New_York")
'2025-03-10 10:02 EDT'
>>> fmt_rate(1_250_000, "bit/s")
'1.25 Mbit/s'
>>> fmt_share(0.4213)
'42.1 %'
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

MAX_TEXT = 160
"""Untrusted strings are cut to this many characters when shown (a 10 MB path stays a line)."""


def parse_time(t: Any) -> datetime | None:
    """A datetime (UTC-aware) from ISO text, a datetime or epoch nanoseconds; None if unknown."""
    if t is None or t == "":
        return None
    if isinstance(t, datetime):
        return t if t.tzinfo else t.replace(tzinfo=UTC)
    if isinstance(t, int | float):
        return datetime.fromtimestamp(t / 1e9, UTC)
    try:
        d = datetime.fromisoformat(str(t).replace("Z", "+00:00"))
    except ValueError:
        return None
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def fmt_time(t: Any, tz: str | None = None, date: bool = True, seconds: bool = False) -> str:
    """``2025-03-10 14:02:00 UTC``, or in ``tz`` (an IANA zone) with its abbreviation."""
    d = parse_time(t)
    if d is None:
        return "—" if t in (None, "") else str(t)[:MAX_TEXT]
    if tz:
        d = d.astimezone(ZoneInfo(tz))
        return d.strftime(("%Y-%m-%d " if date else "") + ("%H:%M:%S %Z" if seconds else "%H:%M %Z"))
    d = d.astimezone(UTC)
    return d.strftime(("%Y-%m-%d " if date else "") + "%H:%M:%S UTC")


def fmt_int(n: Any) -> str:
    if n is None:
        return "—"
    try:
        return f"{int(n):,}"
    except (TypeError, ValueError):
        return str(n)[:MAX_TEXT]


def fmt_rate(x: Any, unit: str) -> str:
    """A rate with an SI prefix: ``1.25 Mbit/s``, ``830 pkt/s``."""
    if x is None:
        return "—"
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)[:MAX_TEXT]
    for prefix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(v) >= scale:
            return f"{v / scale:.3g} {prefix}{unit}"
    return f"{v:.3g} {unit}" if v != int(v) else f"{int(v)} {unit}"


def fmt_share(x: Any) -> str:
    if x is None:
        return "—"
    try:
        return f"{100 * float(x):.1f} %"
    except (TypeError, ValueError):
        return str(x)[:MAX_TEXT]


def fmt_duration(start: Any, end: Any) -> str:
    a, b = parse_time(start), parse_time(end)
    if a is None or b is None:
        return "—"
    s = int((b - a).total_seconds())
    if s < 120:
        return f"{s} s"
    if s < 2 * 3600:
        return f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def clip(s: Any, n: int = MAX_TEXT) -> str:
    """Text of ``s`` cut to ``n`` characters (with an ellipsis) and with control characters made visible."""
    t = "" if s is None else str(s)
    t = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" if ord(c) < 256 else "\ufffd" for c in t)
    return t if len(t) <= n else t[: n - 1] + "…"


TEXT_TOPS = (("top_paths", "path", "path (query removed)"), ("top_user_agents", "user_agent", "user agent"))
"""(report key, field, label) of the top request texts an attack or input summary may hold."""
