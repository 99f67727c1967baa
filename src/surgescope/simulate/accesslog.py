"""Synthetic HTTP access logs: ordinary traffic plus optional HTTP-flood bursts from bots.

The project's own generator for access-log tests and benchmarks (real logs come from
``../shared/datasets/logs``). Ordinary traffic: ``clients`` addresses with Zipf-like activity,
each with one browser user agent, requesting a site's pages and assets with a realistic mix
of methods, statuses, sizes and referers, at a steady rate over ``duration_s``. Each
:class:`Flood` adds a burst: requests from ``bots`` addresses, uniformly inside its window,
hitting a few paths with bot user agents, many answered 503. Each :class:`SlowClients` adds a
slow HTTP attack: connections from a few hundred clients that end at the server's timeout
(408, long ``request_time``) or are given up (499).

Lines are written in time order, in chunks built column-wise with NumPy and Polars (two
million lines take a few seconds), as ``combined`` (default), ``common``, ``vhost_combined``,
``json`` (nginx ``escape=json`` style keys) or ``timed`` (combined plus ``$request_time``). A ``.gz`` path is gzip-compressed.

:func:`generate` returns the ground truth (:class:`Generated`): lines per component and the
bot addresses, so tests can check what a detector finds.

>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "a.log"
>>> g = generate(p, 1000, seed=1, floods=[Flood(start_s=600, duration_s=300, share=0.5, bots=50)])
>>> g.lines, g.flood_lines[0] + g.normal_lines, len(g.bots[0])
(1000, 1000, 50)
>>> len(p.read_text().splitlines())
1000
"""

from __future__ import annotations

import gzip
import io
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl

from surgescope import ipaddr

#: Lines built and written per chunk (bounded memory whatever the file size).
CHUNK_LINES = 250_000

#: Distinct ids in ordinary URLs ("/status/{n}"), requested with Zipf popularity.
ITEMS = 200_000

PAGES = [
    ("/", 30), ("/index.html", 4), ("/home", 10), ("/explore", 4), ("/search?q={n}", 6),
    ("/api/1.1/timeline.json?cursor={n}", 12), ("/api/1.1/users/show.json?id={n}", 5),
    ("/status/{n}", 8), ("/login", 2), ("/notifications", 3), ("/robots.txt", 1), ("/favicon.ico", 3),
    ("/static/css/app.{n}.css", 4), ("/static/js/main.{n}.js", 5), ("/images/avatar/{n}.jpg", 8),
    ("/sitemap.xml", 1), ("/wp-login.php", 0.2), ("/.env", 0.1),
]
"""(path template, weight); ``{n}`` becomes a random number."""

BROWSERS = [
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/133.0.0.0 Safari/537.36", 30),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.3 Safari/605.1.15", 12),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.3 Mobile/15E148 Safari/604.1", 18),
    ("Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/133.0.6943.89 Mobile Safari/537.36", 16),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:135.0) Gecko/20100101 Firefox/135.0", 7),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/133.0.0.0 Safari/537.36", 3),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/133.0.0.0 Safari/537.36 Edg/133.0.3065.69", 6),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", 2),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", 1),
    ("curl/8.5.0", 0.5),
    ("python-requests/2.32.3", 0.5),
]
"""(user agent, weight) of ordinary clients."""

BOT_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 6.1; WOW64; rv:40.0) Gecko/20100101 Firefox/40.1",
    "Go-http-client/1.1",
    "python-requests/2.31.0",
    "-",
]
"""User agents of flood bots (often old, generic or empty)."""

REFERERS = [("-", 45), ("https://{host}/", 25), ("https://{host}/home", 10), ("https://www.google.com/", 12),
            ("https://t.co/{n}", 6), ("https://duckduckgo.com/", 2)]
METHODS = [("GET", 91), ("POST", 6), ("HEAD", 2), ("OPTIONS", 0.7), ("PUT", 0.3)]
STATUSES = [(200, 84), (304, 6), (404, 4), (301, 2), (302, 2), (403, 0.5), (500, 0.8), (502, 0.3), (503, 0.4)]


TIMED_LOG_FORMAT = ('$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
                    '"$http_referer" "$http_user_agent" $request_time')
"""The nginx ``log_format`` of the ``timed`` format: combined plus the request time."""


@dataclass(frozen=True)
class Flood:
    """One HTTP-flood burst: ``share`` of all lines, from ``bots`` addresses, inside its window."""

    start_s: float
    """Seconds after the log's start."""
    duration_s: float
    share: float
    """Fraction of the file's lines that belong to this burst (0..1)."""
    bots: int = 2000
    paths: tuple[str, ...] = ("/", "/search?q={n}", "/login")
    error_share: float = 0.6
    """Fraction answered 503 (the server overwhelmed)."""


@dataclass(frozen=True)
class SlowClients:
    """A slow HTTP attack (slowloris, slow POST): ``share`` of the file's lines from ``clients``
    addresses, logged inside its window, each a connection the server closed at its request
    timeout.

    A line's time is when it was written (the request's end, as nginx logs); the connection was
    opened ``$request_time`` earlier. Most lines end at ``timeout_s`` (plus a few ms) with
    ``408`` and an empty body; ``cut_share`` of them end earlier, the client giving up (nginx
    ``499``). Only the ``json`` format writes the durations; in the others the 408s are the trace.
    """

    start_s: float
    duration_s: float
    share: float
    clients: int = 300
    timeout_s: float = 60.0
    """The server's header/body timeout (nginx ``client_header_timeout``: 60 s by default)."""
    method: str = "GET"
    """``GET`` for slowloris (headers trickled), ``POST`` for slow POST (body trickled)."""
    paths: tuple[str, ...] = ("/", "/?{n}", "/login")
    cut_share: float = 0.1
    status: int = 408
    """Status of the lines that last until the timeout: 408, or 200 for a slow read (the
    response trickled out to a client that reads a few bytes at a time)."""
    body_bytes: int = 0
    """Body bytes sent on those lines (a slow read's response)."""


@dataclass
class Generated:
    """Ground truth of a generated log."""

    path: Path
    lines: int
    normal_lines: int
    flood_lines: list[int] = field(default_factory=list)
    bots: list[list[str]] = field(default_factory=list)
    clients: int = 0
    slow_lines: list[int] = field(default_factory=list)
    slow_clients: list[list[str]] = field(default_factory=list)
    start: datetime | None = None
    end: datetime | None = None


def _weights(pairs: list[tuple]) -> tuple[list, np.ndarray]:
    values = [v for v, _ in pairs]
    w = np.array([w for _, w in pairs], dtype=float)
    return values, w / w.sum()


def public_v4(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` distinct-ish random unicast IPv4 addresses outside private and reserved ranges."""
    out = np.empty(0, dtype=np.uint32)
    while len(out) < n:
        v = rng.integers(1 << 24, 224 << 24, size=2 * (n - len(out)) + 16, dtype=np.uint64).astype(np.uint32)
        a, b = v >> 24, (v >> 16) & 0xFF
        bad = (a == 10) | (a == 127) | (a == 0) | ((a == 100) & (b >= 64) & (b < 128)) | ((a == 169) & (b == 254))
        bad |= ((a == 172) & (b >= 16) & (b < 32)) | ((a == 192) & (b == 168)) | ((a == 198) & ((b == 18) | (b == 19)))
        out = np.unique(np.concatenate([out, v[~bad]]))
    return rng.permutation(out)[:n]


def _fill(templates: pl.Series, rng: np.random.Generator, items: np.ndarray | None = None) -> pl.Series:
    """Replace ``{n}`` in each template by a number: one of ``items`` with Zipf popularity
    (ordinary traffic: some pages are much more popular), else uniformly random (a flood's
    cache-busting queries)."""
    if items is not None:
        pick = np.minimum(rng.zipf(1.2, size=len(templates)) - 1, len(items) - 1)
        nums = pl.Series(items[pick]).cast(pl.String)
    else:
        nums = pl.Series(rng.integers(1, 2**40, size=len(templates)).astype(np.int64)).cast(pl.String)
    parts = templates.str.split_exact("{n}", 1).struct.unnest()
    has = templates.str.contains("{n}", literal=True)
    return pl.select(
        pl.when(has).then(pl.concat_str([parts["field_0"], nums, parts["field_1"].fill_null("")])).otherwise(templates)
    ).to_series()


def _chunk_counts(lines: int, duration_s: float, floods: list[Flood], edges: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Lines per (time chunk, component): component 0 is ordinary traffic, k the k-th flood."""
    shares = np.array([1.0 - sum(f.share for f in floods)] + [f.share for f in floods])
    if shares[0] < 0:
        raise ValueError("flood shares add up to more than 1")
    per_comp = rng.multinomial(lines, shares)
    lo, hi = edges[:-1], edges[1:]
    out = np.zeros((len(lo), len(shares)), dtype=np.int64)
    windows = [(0.0, duration_s)] + [(f.start_s, f.start_s + f.duration_s) for f in floods]
    for k, (a, b) in enumerate(windows):
        overlap = np.clip(np.minimum(hi, b) - np.maximum(lo, a), 0, None)
        if overlap.sum() <= 0:
            raise ValueError(f"flood {k} lies outside the log's span")
        out[:, k] = rng.multinomial(per_comp[k], overlap / overlap.sum())
    return out


def generate(
    path: str | Path,
    lines: int,
    seed: int = 0,
    fmt: str = "combined",
    *,
    start: str | datetime = "2025-03-10T09:00:00Z",
    duration_s: float = 6 * 3600.0,
    clients: int = 20_000,
    floods: list[Flood] | None = None,
    host: str = "x.example",
    tz: str = "UTC",
    slow: list[SlowClients] | None = None,
) -> Generated:
    """Write ``lines`` access-log lines to ``path`` and return the ground truth.

    ``fmt``: ``combined`` | ``common`` | ``vhost_combined`` | ``json`` | ``timed`` (combined plus
    ``$request_time``: read it with ``log_format=TIMED_LOG_FORMAT``). ``tz``: the zone local
    times are written in (their offset is in each line, so readers convert back to UTC).
    ``slow``: slow HTTP attacks (:class:`SlowClients`), after the floods.
    """
    if fmt not in ("combined", "common", "vhost_combined", "json", "timed"):
        raise ValueError(f"unknown format {fmt!r}")
    floods = list(floods or [])
    slow = list(slow or [])
    rng = np.random.default_rng(seed)
    t0 = datetime.fromisoformat(start.replace("Z", "+00:00")) if isinstance(start, str) else start
    t0_ns = int(t0.timestamp() * 1e9)

    client_v4 = public_v4(rng, clients + sum(f.bots for f in floods) + sum(s.clients for s in slow))
    client_ip = ipaddr.v4_strings(client_v4[:clients])
    bots_ip = []
    at = clients
    for f in floods:
        bots_ip.append(ipaddr.v4_strings(client_v4[at : at + f.bots]))
        at += f.bots
    slow_ip = []
    for s in slow:
        slow_ip.append(ipaddr.v4_strings(client_v4[at : at + s.clients]))
        at += s.clients
    activity = 1.0 / np.arange(1, clients + 1) ** 0.9  # Zipf-like: a few very active clients
    activity /= activity.sum()
    ua_values, ua_p = _weights(BROWSERS)
    client_ua = pl.Series(ua_values).gather(rng.choice(len(ua_values), size=clients, p=ua_p))
    page_values, page_p = _weights(PAGES)
    pages = pl.Series(page_values)
    ref_values, ref_p = _weights(REFERERS)
    refs = pl.Series([r.replace("{host}", host) for r in ref_values])
    meth_values, meth_p = _weights(METHODS)
    stat_values, stat_p = _weights(STATUSES)

    items = rng.integers(10**11, 10**12, size=ITEMS)  # ids of the site's pages, users, images
    n_chunks = max(1, -(-lines // CHUNK_LINES))
    edges = np.linspace(0.0, duration_s, n_chunks + 1)
    # Slow attacks take part in the line shares and windows like floods (components after them).
    counts = _chunk_counts(lines, duration_s, [*floods, *slow], edges, rng)
    windows = [(0.0, duration_s)] + [(f.start_s, f.start_s + f.duration_s) for f in [*floods, *slow]]

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = open(path, "wb")  # noqa: SIM115 - closed below, possibly through gzip
    out = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=3) if path.suffix == ".gz" else raw
    t_first = t_last = None
    try:
        for c in range(n_chunks):
            frames = []
            for k, n in enumerate(counts[c]):
                if n == 0:
                    continue
                a = max(edges[c], windows[k][0])
                b = min(edges[c + 1], windows[k][1])
                ts = t0_ns + (rng.uniform(a, b, size=n) * 1e9).astype(np.int64)
                if k == 0:
                    who = rng.choice(clients, size=n, p=activity)
                    status = np.array(stat_values)[rng.choice(len(stat_values), size=n, p=stat_p)]
                    frames.append(pl.DataFrame({
                        "ts": ts,
                        "ip": client_ip.gather(who),
                        "method": pl.Series(meth_values).gather(rng.choice(len(meth_values), size=n, p=meth_p)),
                        "path": _fill(pages.gather(rng.choice(len(pages), size=n, p=page_p)), rng, items),
                        "status": status.astype(np.int32),
                        "size": np.where(status == 304, 0, rng.lognormal(8.5, 1.6, size=n).astype(np.int64)),
                        "referer": _fill(refs.gather(rng.choice(len(refs), size=n, p=ref_p)), rng, items),
                        "ua": client_ua.gather(who),
                    }))
                elif k > len(floods):
                    frames.append(_slow_frame(slow[k - 1 - len(floods)], slow_ip[k - 1 - len(floods)], ts, rng))
                else:
                    f = floods[k - 1]
                    status = np.where(rng.random(n) < f.error_share, 503, 200).astype(np.int32)
                    fpaths = pl.Series(list(f.paths))
                    frames.append(pl.DataFrame({
                        "ts": ts,
                        "ip": bots_ip[k - 1].gather(rng.integers(0, f.bots, size=n)),
                        "method": pl.Series(["GET"] * n),
                        "path": _fill(fpaths.gather(rng.integers(0, len(fpaths), size=n)), rng),
                        "status": status,
                        "size": np.where(status == 503, 197, rng.integers(20_000, 60_000, size=n)).astype(np.int64),
                        "referer": pl.Series(["-"] * n),
                        "ua": pl.Series(BOT_AGENTS).gather(rng.integers(0, len(BOT_AGENTS), size=n)),
                    }))
            if not frames:
                continue
            df = pl.concat(frames, how="diagonal").sort("ts")  # slow lines add "rt"
            t_first = t_first if t_first is not None else int(df["ts"][0])
            t_last = int(df["ts"][-1])
            out.write(_render(df, fmt, host, tz))
    finally:
        if out is not raw:
            out.close()
        raw.close()
    from_ns = (lambda ns: datetime.fromtimestamp(ns / 1e9, tz=t0.tzinfo)) if t_first is not None else None
    return Generated(
        path=path,
        lines=int(counts.sum()),
        normal_lines=int(counts[:, 0].sum()),
        flood_lines=[int(counts[:, k + 1].sum()) for k in range(len(floods))],
        bots=[b.to_list() for b in bots_ip],
        slow_lines=[int(counts[:, len(floods) + k + 1].sum()) for k in range(len(slow))],
        slow_clients=[s.to_list() for s in slow_ip],
        clients=clients,
        start=from_ns(t_first) if from_ns else None,
        end=from_ns(t_last) if from_ns else None,
    )


def _slow_frame(s: SlowClients, ips: pl.Series, ts: np.ndarray, rng: np.random.Generator) -> pl.DataFrame:
    """Lines of a slow attack logged at ``ts``: ``s.status`` at the timeout, or 499 earlier (cut)."""
    n = len(ts)
    cut = rng.random(n) < s.cut_share
    paths = pl.Series(list(s.paths))
    return pl.DataFrame({
        "ts": ts,
        "ip": ips.gather(rng.integers(0, s.clients, size=n)),
        "method": pl.Series([s.method] * n),
        "path": _fill(paths.gather(rng.integers(0, len(paths), size=n)), rng),
        "status": np.where(cut, 499, s.status).astype(np.int32),
        "size": np.where(cut, 0, s.body_bytes).astype(np.int64),
        "referer": pl.Series(["-"] * n),
        "ua": pl.Series(BOT_AGENTS).gather(rng.integers(0, len(BOT_AGENTS), size=n)),
        "rt": np.where(cut, rng.uniform(0.25, 0.95, size=n) * s.timeout_s, s.timeout_s + rng.uniform(0, 0.005, size=n)),
    })


def _render(df: pl.DataFrame, fmt: str, host: str, tz: str) -> bytes:
    """One chunk of rows -> the bytes of its lines."""
    when = pl.from_epoch(pl.col("ts"), time_unit="ns").dt.replace_time_zone("UTC").dt.convert_time_zone(tz)
    size = pl.col("size").cast(pl.String)
    # Ordinary and flood lines get a made-up sub-second time; slow lines carry their own ("rt").
    rtime = pl.col("size") % 997 / 1000.0
    if "rt" in df.columns:
        rtime = pl.coalesce(pl.col("rt"), rtime)
    if fmt == "json":
        line = pl.concat_str([
            pl.lit('{"time_iso8601":"'), when.dt.strftime("%Y-%m-%dT%H:%M:%S%:z"),
            pl.lit('","remote_addr":"'), pl.col("ip"),
            pl.lit('","request":"'), pl.col("method"), pl.lit(" "), pl.col("path"), pl.lit(' HTTP/1.1"'),
            pl.lit(',"status":"'), pl.col("status").cast(pl.String),
            pl.lit('","body_bytes_sent":"'), size,
            pl.lit('","request_time":"'), rtime.round(3).cast(pl.String),
            pl.lit('","http_referer":"'), pl.when(pl.col("referer") == "-").then(pl.lit("")).otherwise(pl.col("referer")),
            pl.lit('","http_user_agent":"'), pl.when(pl.col("ua") == "-").then(pl.lit("")).otherwise(pl.col("ua")),
            pl.lit('","host":"'), pl.lit(host), pl.lit('"}'),
        ])
    else:
        # Apache's %b writes "-" for an empty body.
        b = pl.when(pl.col("size") == 0).then(pl.lit("-")).otherwise(size)
        parts = [
            pl.col("ip"), pl.lit(" - - ["), when.dt.strftime("%d/%b/%Y:%H:%M:%S %z"), pl.lit('] "'),
            pl.col("method"), pl.lit(" "), pl.col("path"), pl.lit(' HTTP/1.1" '),
            pl.col("status").cast(pl.String), pl.lit(" "), b,
        ]
        if fmt in ("combined", "vhost_combined", "timed"):
            parts += [pl.lit(' "'), pl.col("referer"), pl.lit('" "'), pl.col("ua"), pl.lit('"')]
        if fmt == "timed":
            parts += [pl.lit(" "), rtime.round(3).cast(pl.String)]
        if fmt == "vhost_combined":
            parts = [pl.lit(host + ":443 ")] + parts
        line = pl.concat_str(parts)
    buf = io.BytesIO()
    df.select(line.alias("line")).write_csv(buf, include_header=False, quote_style="never")
    return buf.getvalue()
