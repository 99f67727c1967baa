"""HTTP access logs in Apache/nginx text formats -> the ``requests`` table.

Formats (option ``fmt``):

- ``combined`` — ``%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"`` (Apache's and
  nginx's default). Extra fields after the user agent are ignored.
- ``common`` — the same without referer and user agent.
- ``vhost_combined`` — ``%v:%p`` in front of ``combined``; the virtual host fills ``host``.
- ``auto`` (default) — any of the three, line by line.
- ``log_format='...'`` — any nginx ``log_format`` string, compiled to one regular expression;
  the variables in :data:`NGINX_VARIABLES` fill columns, every other variable is skipped. An
  Apache ``LogFormat`` string (``%h %l %u %t "%r" %>s %b ...``) is accepted too.

Times keep their offset and become UTC (``[17/May/2015:10:05:03 -0700]`` is 17:05:03 UTC).
Quoted fields may hold backslash-escaped quotes (``\\"``, Apache's escaping), which are
unescaped; nginx's ``\\xHH`` escapes are left as they are (they are already safe to show).

Bad input is counted, never fatal: a line that does not match the format, has an impossible
time, or is longer than ``max_line`` bytes (default 64 KiB) is rejected with its 1-based line
number and the reason. Empty lines are skipped silently. Invalid UTF-8 is decoded with
U+FFFD replacement characters and the line kept. A user agent cut off before its closing
quote (as on line 8899 of the Elastic ``apache_logs`` sample) is accepted, running to the end
of the line, unless ``strict=True``, which rejects it as "unterminated quoted field".

Parsing is vectorised: the file is read in chunks of bytes split at newlines, each chunk
becomes one Arrow string array without copying line by line, and Polars
``str.extract_groups`` runs the format's regular expression over the whole chunk. For the
built-in formats, lines of the plain shape (no escapes, three-word request, ...) take cheaper
routes with the same result: a compiled scanner (``_clfscan.c``, :func:`_scanned`) where it is
built, then :func:`_plain`; the regexes read only what neither takes.

>>> import tempfile, pathlib
>>> from surgescope.sources.base import Rejections
>>> p = pathlib.Path(tempfile.mkdtemp()) / "access.log"
>>> _ = p.write_text('10.0.0.1 - - [17/May/2015:10:05:03 +0200] "GET /a HTTP/1.1" 200 512 "-" "curl/8"\\n'
...                  'garbage\\n')
>>> rej = Rejections()
>>> t = pa.Table.from_batches(read(p, rej))
>>> t.column("ts")[0].as_py().isoformat(), t.column("path")[0].as_py(), rej.count, rej.samples[0].where
('2015-05-17T08:05:03+00:00', '/a', 1, 2)
"""

from __future__ import annotations

import os
import re
from collections import deque
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from surgescope import ipaddr
from surgescope.schema import REQUESTS
from surgescope.sources.base import InputError, Rejections, open_binary

try:  # the compiled scanner of plain lines (_clfscan.c); without it the Polars routes do it all
    from surgescope.sources import _clfscan
except ImportError:  # pragma: no cover - a build without a C compiler
    _clfscan = None

#: Lines longer than this (bytes) are rejected as "line too long" and never held whole.
MAX_LINE_BYTES = 64 * 1024

#: Polars engine for the per-chunk work; chunks themselves run on ``WORKERS`` threads.
ENGINE = "in-memory"

#: Chunks parsed at once (Polars releases the GIL, so threads use the cores; memory stays
#: bounded at about WORKERS + 1 chunks).
WORKERS = max(1, min(4, os.cpu_count() or 1))

#: Bytes read per chunk; one chunk of combined lines is ~80 k lines, one record batch.
#: (Measured peak RSS of the reader on 2 M lines: 8 MiB 290 MiB, 16 MiB 410, 32 MiB 520.)
CHUNK_BYTES = 16 << 20

# A quoted field's content: anything but a quote, where a backslash escapes the next byte.
# Lines keep their trailing newline (cheaper than cutting it out), so fields stop at "\n".
_Q = r'(?:[^"\\\n]|\\.)*'
_CLF_TIME = "%d/%b/%Y:%H:%M:%S %z"
_HEAD = r'(?P<ip>\S+) \S+ \S+ \[(?P<ts_clf>[^\]]*)\] "(?P<request>' + _Q + r')" (?P<status>\d{3}|-) (?P<bytes>\d+|-)'
_REF_UA = r' "(?P<referer>' + _Q + r')" "(?P<ua>' + _Q + r')'
_VHOST = r"(?P<vhost>[^\s:]+)(?::\d+)? "
# The fast pass: no escapes, no optional parts. Every capture group and every alternation costs
# (measured: 7 plain groups 1.6 M lines/s, the escape-aware lenient form 0.4 M lines/s), so
# the common case gets the simplest regex and only the lines it misses meet the lenient one.
_FAST_HEAD = r'(?P<ip>\S+) \S+ \S+ \[(?P<ts_clf>[^\]]*)\] "(?P<request>[^"\\\n]*)" (?P<status>\d{3}) (?P<bytes>\d+|-)'
_FAST_REF_UA = r' "(?P<referer>[^"\\\n]*)" "(?P<ua>[^"\\\n]*)"'

#: Built-in formats: (fast regex used on every line, lenient regex for the lines it misses).
BUILTIN: dict[str, tuple[str, str | None]] = {
    "combined": ("^" + _FAST_HEAD + _FAST_REF_UA, "^" + _HEAD + _REF_UA + '(?P<q>"?)'),
    "common": ("^" + _FAST_HEAD, "^" + _HEAD),
    "vhost_combined": ("^" + _VHOST + _FAST_HEAD + _FAST_REF_UA, "^" + _VHOST + _HEAD + _REF_UA + '(?P<q>"?)'),
    "auto": ("^" + _FAST_HEAD + _FAST_REF_UA, "^(?:" + _VHOST + ")?" + _HEAD + "(?:" + _REF_UA + '(?P<q>"?))?'),
}

#: nginx variables that fill a column of the requests table (others are matched and skipped).
NGINX_VARIABLES: dict[str, str] = {
    "remote_addr": "ip",
    "realip_remote_addr": "ip",
    "time_local": "ts_clf",
    "time_iso8601": "ts_iso",
    "msec": "ts_msec",
    "request": "request",
    "request_method": "method",
    "request_uri": "path",
    "uri": "path",
    "server_protocol": "protocol",
    "status": "status",
    "body_bytes_sent": "bytes",
    "bytes_sent": "bytes",
    "http_referer": "referer",
    "http_user_agent": "ua",
    "host": "host",
    "http_host": "host",
    "server_name": "host",
    "request_time": "rtime",
    "request_time_us": "rtime_us",  # not nginx's: Apache's %D, microseconds
}

# Shapes of the values of some variables, where "anything up to the next literal" is not
# enough (a space inside $time_local) or too loose.
_VAR_SHAPE = {
    "time_local": r"\d{1,2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}",
    "status": r"\d{3}|-",
    "msec": r"\d+(?:\.\d+)?",
    "request_time": r"\d+(?:\.\d+)?|-",
    "request_time_us": r"\d+|-",
}

#: The requests-table columns each named group fills (for :meth:`Spec.project`).
GROUP_COLUMNS: dict[str, tuple[str, ...]] = {
    "request": ("method", "path", "protocol"), "method": ("method",), "path": ("path",),
    "protocol": ("protocol",), "status": ("status",), "bytes": ("bytes",), "referer": ("referer",),
    "ua": ("user_agent",), "vhost": ("host",), "host": ("host",), "rtime": ("duration_s",),
    "rtime_us": ("duration_s",),
}
#: Groups kept by every projection: the address and time make a line valid, ``q`` marks a
#: quoted field cut short (``strict``).
ALWAYS = frozenset({"ip", "ts_clf", "ts_iso", "ts_msec", "q"})

_SNIFF = re.compile(r'^(?:[^\s:]+(?::\d+)? )?\S+ \S+ \S+ \[[^\]]+\] "')


@dataclass(frozen=True)
class Spec:
    """A compiled line format: regexes with named groups (see :data:`NGINX_VARIABLES`)."""

    name: str
    regex: str
    lenient: str | None = None
    groups: frozenset[str] = field(default_factory=frozenset)

    def project(self, columns: Collection[str] | None) -> Spec:
        """The same format capturing only what fills ``columns`` (names of the requests
        table); the other fields are still matched, as non-capturing groups, and come out null.

        Every capture group costs (measured on the combined format: 7 groups 1.2 M lines/s,
        without referer and user agent 2.2 M), and the analyses read neither.

        >>> spec = builtin_spec("combined").project({"ts", "src_ip", "status"})
        >>> sorted(spec.groups)
        ['ip', 'q', 'status', 'ts_clf']
        """
        if columns is None:
            return self
        wanted = set(columns)
        keep = {g for g in self.groups if g in ALWAYS or wanted & set(GROUP_COLUMNS.get(g, ()))}

        def cut(regex: str) -> str:
            return re.sub(r"\(\?P<(\w+)>", lambda m: m.group(0) if m.group(1) in keep else "(?:", regex)

        lenient = cut(self.lenient) if self.lenient is not None else None
        return Spec(self.name, cut(self.regex), lenient, frozenset(keep))


_APACHE = {
    "h": "$remote_addr", "a": "$remote_addr", "l": "$remote_logname", "u": "$remote_user",
    "t": "[$time_local]", "r": "$request", "s": "$status", "b": "$body_bytes_sent",
    "B": "$body_bytes_sent", "O": "$bytes_sent", "v": "$server_name", "V": "$host",
    "D": "$request_time_us", "T": "$request_time", "m": "$request_method", "U": "$uri",
    "H": "$server_protocol", "%": "%",
}
_APACHE_HEADERS = {"referer": "$http_referer", "user-agent": "$http_user_agent", "host": "$http_host"}


def apache_to_nginx(log_format: str) -> str:
    """An Apache ``LogFormat`` string as the equivalent nginx ``log_format`` string.

    >>> apache_to_nginx('%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" %D')
    '$remote_addr $remote_logname $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time_us'
    """
    skipped = iter(range(1_000_000))

    def one(m: re.Match) -> str:
        arg, code = m.group(1), m.group(2)
        if code == "i" and arg is not None:
            return _APACHE_HEADERS.get(arg.lower(), f"$apache_skip_{next(skipped)}")
        if arg is None and code in _APACHE:
            return _APACHE[code]
        return f"$apache_skip_{next(skipped)}"

    return re.sub(r"%(?:[<>]|!?\d{3}(?:,\d{3})*)?(?:\{([^}]*)\})?([a-zA-Z%])", one, log_format)


def compile_log_format(log_format: str) -> Spec:
    """Compile an nginx ``log_format`` (or Apache ``LogFormat``) string to a :class:`Spec`.

    A string with ``%`` directives and no ``$`` variables is read as Apache's (see
    :func:`apache_to_nginx`).

    >>> spec = compile_log_format('$remote_addr [$time_local] "$request" $status $request_time')
    >>> sorted(spec.groups)
    ['ip', 'request', 'rtime', 'status', 'ts_clf']
    """
    if "$" not in log_format and "%" in log_format:
        log_format = apache_to_nginx(log_format)
    tokens = re.split(r"\$(?:\{(\w+)\}|(\w+))", log_format)
    # re.split with two groups: literal, braced, bare, literal, braced, bare, ..., literal
    literals = tokens[0::3]
    names = [b or c for b, c in zip(tokens[1::3], tokens[2::3], strict=True)]
    if not names:
        raise InputError(f"log_format {log_format!r} has no $variables")
    out, used = ["^", re.escape(literals[0])], set()
    for i, var in enumerate(names):
        before, after = literals[i], literals[i + 1]
        if before.endswith('"') and after.startswith('"'):
            shape = _Q
        elif var in _VAR_SHAPE:
            shape = _VAR_SHAPE[var]
        elif after:
            shape = "[^" + re.escape(after[0]) + r"\n]*"
        else:
            shape = r"[^\n]*"
        col = NGINX_VARIABLES.get(var)
        if col and col not in used:
            used.add(col)
            out.append(f"(?P<{col}>{shape})")
        else:
            out.append(f"(?:{shape})")
        out.append(re.escape(after))
    if "ip" not in used:
        raise InputError(f"log_format {log_format!r} has no client address ($remote_addr)")
    if not used & {"ts_clf", "ts_iso", "ts_msec"}:
        raise InputError(f"log_format {log_format!r} has no time ($time_local, $time_iso8601 or $msec)")
    return Spec("log_format", "".join(out), None, frozenset(used))


def builtin_spec(fmt: str) -> Spec:
    if fmt not in BUILTIN:
        raise InputError(f"unknown access-log format {fmt!r} (choose from {', '.join(BUILTIN)} or pass log_format=)")
    strict, lenient = BUILTIN[fmt]
    names = set(re.findall(r"\(\?P<(\w+)>", strict + (lenient or "")))
    return Spec(fmt, strict, lenient, frozenset(names))


def sniff(head: bytes) -> bool:
    """Do the first complete, non-empty lines look like CLF/combined (optionally vhost-prefixed)?"""
    text = head.decode("utf-8", "replace")
    lines = text.split("\n")
    if len(head) >= 65536 or not text.endswith("\n"):
        lines = lines[:-1] or lines  # the last line may be cut by the head's length
    lines = [ln for ln in lines[:50] if ln.strip()][:10]
    if not lines or not _SNIFF.match(lines[0]):
        return False
    return sum(bool(_SNIFF.match(ln)) for ln in lines) * 2 >= len(lines)


# --------------------------------------------------------------------------------------------
# Lines: bytes -> frames of (line number, text), bounded


def _lines_frame(data: memoryview, first: int, ascii_hint: bool = False) -> pl.DataFrame:
    """``data`` (whole lines, each ending in ``\n``) -> frame ``n`` (1-based), ``line``.

    One Arrow string array is laid over the chunk with NumPy offsets instead of splitting it in
    Python (measured on 117 MB: ``str.split`` + ``explode`` 2.3 s, this 0.05 s). Each line
    keeps its newline (cutting it out would copy the chunk); the regexes stop at it.
    """
    plain_ascii = ascii_hint or data.obj.isascii()  # valid UTF-8 without checking (the usual case)
    if plain_ascii and native_available() and len(data) < 2**31:
        # The compiled scanner lays the views itself: one memchr pass (see _clfscan.lines).
        n = _clfscan.count(data)
        views = np.empty((n, 16), np.uint8)
        if _clfscan.lines(data, views) != n:  # never: data ends with a newline (see above)
            raise InputError("line views do not match the line count")
        nums = pl.Series("n", np.arange(first, first + n, dtype=np.int64))
        arr = pa.Array.from_buffers(pa.string_view(), n, [None, pa.py_buffer(views), pa.py_buffer(data)])
        return pl.DataFrame([nums, pl.Series("line", arr)])
    buf = np.frombuffer(data, dtype=np.uint8)
    nl = np.flatnonzero(buf == 10)
    n = len(nl)
    offsets = np.empty(n + 1, dtype=np.int64)
    offsets[0] = 0
    offsets[1:] = nl + 1
    nums = pl.Series("n", np.arange(first, first + n, dtype=np.int64))
    if plain_ascii:
        arr = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))
        return pl.DataFrame([nums, pl.Series("line", arr)])
    # Only lines with non-ASCII bytes can be invalid UTF-8: check just those, in Python, and
    # decode the invalid ones with U+FFFD replacement characters.
    raw = pl.Series("line", pa.Array.from_buffers(pa.large_binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)]))
    high = np.flatnonzero(buf >= 0x80)
    bad, fixed = [], []
    for i in np.unique(np.searchsorted(offsets[1:], high, side="right")).tolist():
        b = bytes(data[offsets[i] : offsets[i + 1]])
        try:
            b.decode("utf-8")
        except UnicodeDecodeError:
            bad.append(i)
            fixed.append(b.decode("utf-8", "replace"))
    if bad:
        raw = raw.scatter(bad, b"\n").cast(pl.String).scatter(bad, pl.Series(fixed, dtype=pl.String))
    return pl.DataFrame([nums, raw.cast(pl.String)])


def line_batches(
    path: str | Path,
    rejections: Rejections,
    max_line: int = MAX_LINE_BYTES,
    chunk_bytes: int = CHUNK_BYTES,
) -> Iterator[pl.DataFrame]:
    """Frames of (``n``: 1-based line number, ``line``: text without its newline).

    Memory is bounded by ``chunk_bytes`` + ``max_line``: a line longer than ``max_line`` that
    spans chunks is skipped as it streams by (and rejected as "line too long"), never held.
    Lines longer than ``max_line`` inside one chunk are returned; callers reject them by length
    (see :func:`too_long`).
    """
    with open_binary(path) as f:
        carry = b""  # start of the unfinished line
        done = 0  # lines fully consumed so far
        skipping = False  # inside an over-long line that is already rejected
        while True:
            # Read straight in after the carried bytes: no copy of the chunk to join them.
            buf = bytearray(len(carry) + chunk_bytes)
            buf[: len(carry)] = carry
            got = _fill(f, memoryview(buf)[len(carry) :])
            if got == 0:
                break
            end = len(carry) + got
            view = memoryview(buf)[:end]
            start = 0
            if skipping:
                i = buf.find(b"\n", 0, end)
                if i < 0:
                    carry = b""
                    continue
                start, done, skipping = i + 1, done + 1, False
            last = buf.rfind(b"\n", start, end)
            if last < 0:
                carry = bytes(view[start:end])
            else:
                frame = _lines_frame(view[start : last + 1], done + 1, ascii_hint=buf.isascii())
                carry = bytes(view[last + 1 : end])
                done += frame.height
                yield frame
            if len(carry) > max_line:
                # Not held: passed on as a one-row frame holding its start, marked too long, so
                # the caller rejects it in file order with the others.
                yield pl.DataFrame({"n": [done + 1], "line": [carry[:200].decode("utf-8", "replace")], "too_long": [True]})
                carry, skipping = b"", True
        if carry and not skipping:
            yield _lines_frame(memoryview(carry + b"\n"), done + 1)


def _fill(f, into: memoryview) -> int:
    """Read until ``into`` is full or the input ends; the number of bytes read."""
    got = 0
    while got < len(into):
        n = f.readinto(into[got:])
        if not n:
            break
        got += n
    return got


# --------------------------------------------------------------------------------------------
# Parsing: frame of lines -> requests columns + rejected lines

_STR_COLS = ("ip", "vhost", "request", "method", "path", "protocol", "referer", "ua", "host", "q")
_REQUEST = r"^(?P<method>[A-Za-z][A-Za-z_-]*) (?P<path>.*?)(?: (?P<protocol>[A-Za-z]+/\d+(?:\.\d+)?))?$"


def too_long(lines: pl.DataFrame, max_line: int) -> pl.Series:
    """Mask of the lines to reject as "line too long" (by length, or marked by line_batches)."""
    mask = lines["line"].str.len_bytes() > max_line
    if "too_long" in lines.columns:
        mask = mask | lines["too_long"]
    return mask


def epoch_ns(text: pl.Expr) -> pl.Expr:
    """Decimal text of a time since the epoch -> UTC datetime, exact to the nanosecond.

    The unit follows the number of integer digits: up to 11 seconds, 14 milliseconds, 17
    microseconds, else nanoseconds (``1741600800.25``, ``1741600800250``). Going through a
    float would turn ``.250`` into ``.249999``.
    """
    parts = text.str.strip_chars().str.extract_groups(r"^(-?\d+)(?:\.(\d{1,9})\d*)?$")
    whole = parts.struct.field("1")
    digits = whole.str.strip_chars_start("-").str.len_bytes()
    i64 = pl.Int64

    def lit(v: int) -> pl.Expr:
        return pl.lit(v, i64)

    unit = pl.when(digits <= 11).then(lit(10**9)).when(digits <= 14).then(lit(10**6)).when(digits <= 17).then(lit(10**3)).otherwise(lit(1))
    frac = parts.struct.field("2").fill_null("").str.pad_end(9, "0").cast(pl.Int64, strict=False)
    n = whole.cast(pl.Int64, strict=False)
    ns = n * unit + frac * unit // 10**9
    # 64-bit nanoseconds hold +-292 years around 1970: larger values would wrap around
    fits = n.abs() < lit(2**63 - 1) // unit - 1
    return pl.when(fits).then(ns).cast(pl.Datetime("ns", "UTC"))


def _unescape(e: pl.Expr) -> pl.Expr:
    return e.str.replace_all(r'\\(["\\])', "$1")


def _dash_null(e: pl.Expr) -> pl.Expr:
    return pl.when(e == "-").then(None).otherwise(e)


def _groups(regex: str) -> list[str]:
    return re.findall(r"\(\?P<(\w+)>", regex)


def _extract(lines: pl.DataFrame, regex: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(matched: ``n``, ``line`` and one text column per named group; unmatched: ``n``, ``line``).

    The streaming engine splits the frame into morsels and runs them on every core.
    """
    names = _groups(regex)
    df = (
        lines.lazy()
        .with_columns(pl.col("line").str.extract_groups(regex).struct.unnest())
        .collect(engine=ENGINE)
    )
    ok = df["ip"].is_not_null()
    everything = bool(ok.all())
    missing = [pl.lit(None, pl.String).alias(c) for c in _STR_COLS if c not in names]
    if "q" not in names:
        missing = [m for m in missing if m.meta.output_name() != "q"] + [pl.lit('"').alias("q")]
    hit = df if everything else df.filter(ok)
    hit = hit.with_columns(*missing).select("n", "line", *_STR_COLS, *[c for c in names if c not in _STR_COLS])
    return hit, df.clear().select("n", "line") if everything else df.filter(~ok).select("n", "line")


def split_requests(df: pl.DataFrame) -> pl.DataFrame:
    """Fill method/path/protocol from ``request`` ("GET /a HTTP/1.1").

    The plain shape (three words, the last ``HTTP/...``) is split with ``str.split_exact``
    (measured 10x cheaper than a capturing regex); only odd request lines (spaces in the path,
    no protocol, TLS bytes) meet the regex. A request line without a method keeps its whole
    text in ``path``.
    """
    need = df["request"].is_not_null() & df["method"].is_null()
    if not need.any():
        return df
    sp = df["request"].str.split_exact(" ", 3).struct.unnest()
    plain = need & sp["field_3"].is_null() & sp["field_2"].str.starts_with("HTTP/") & (sp["field_0"].str.len_bytes() > 0)
    df = df.with_columns(
        method=pl.when(plain).then(sp["field_0"]).otherwise(pl.col("method")),
        path=pl.when(plain).then(sp["field_1"]).otherwise(pl.col("path")),
        protocol=pl.when(plain).then(sp["field_2"]).otherwise(pl.col("protocol")),
    )
    odd = (need & ~plain).fill_null(True) & need
    if odd.any():
        idx = pl.Series(np.flatnonzero(odd.to_numpy()))
        req = df["request"].gather(idx)
        parts = req.str.extract_groups(_REQUEST).struct.unnest()
        keep = parts["method"].is_null() & (req != "-") & (req != "")
        df = df.with_columns(
            df["method"].scatter(idx, parts["method"]),
            df["path"].scatter(idx, pl.select(pl.when(keep).then(req).otherwise(parts["path"])).to_series()),
            df["protocol"].scatter(idx, parts["protocol"]),
        )
    return df


_NS_FIRST, _NS_END = datetime(1678, 1, 1, tzinfo=UTC), datetime(2262, 1, 1, tzinfo=UTC)


def in_ns_range(t: pl.Expr) -> pl.Expr:
    """A parsed time (microseconds) as UTC nanoseconds; null outside what nanoseconds since 1970
    can hold (years 1678-2261), where a year 0015 or 9999 would otherwise wrap around to some
    time in 1769 or 1815."""
    return pl.when(t.is_between(_NS_FIRST, _NS_END, closed="left")).then(t).cast(pl.Datetime("ns", "UTC"))


def iso_time(text: pl.Expr) -> pl.Expr:
    """ISO 8601 text (offset or Z) -> UTC nanoseconds (exact: Traefik writes them); null if
    unparsable or out of range (checked on a microsecond parse, which cannot wrap around)."""
    us = text.str.to_datetime(time_unit="us", time_zone="UTC", strict=False)
    ns = text.str.to_datetime(time_unit="ns", time_zone="UTC", strict=False)
    return pl.when(us.is_between(_NS_FIRST, _NS_END, closed="left")).then(ns)


def _clf_time(text: pl.Expr) -> pl.Expr:
    """CLF time text -> UTC datetime (ns); null when it does not parse or is out of range
    (:func:`in_ns_range`)."""
    return in_ns_range(text.str.to_datetime(_CLF_TIME, strict=False, time_unit="us"))


def _convert(raw: pl.DataFrame) -> pl.DataFrame:
    """Text groups -> typed requests columns (``src_ip`` still text), plus ``n``, ``q``, ``line``."""
    g = set(raw.columns)
    ts_parts = []
    if "ts_clf" in g:
        ts_parts.append(_clf_time(pl.col("ts_clf")))
    if "ts_iso" in g:
        ts_parts.append(iso_time(pl.col("ts_iso")))
    if "ts_msec" in g:
        ts_parts.append(epoch_ns(pl.col("ts_msec")))
    ts = pl.coalesce(ts_parts) if ts_parts else pl.lit(None, pl.Datetime("ns", "UTC"))

    def num(name: str, dtype: pl.DataType) -> pl.Expr:
        return pl.col(name).cast(dtype, strict=False) if name in g else pl.lit(None, dtype)

    raw = split_requests(raw)
    return raw.lazy().select(
        "n",
        ts.alias("ts"),
        pl.col("ip").alias("src_ip"),
        _dash_null(pl.col("method")).alias("method"),
        pl.col("path"),
        pl.col("protocol"),
        num("status", pl.Int32()).alias("status"),
        num("bytes", pl.Int64()).alias("bytes"),
        _dash_null(pl.col("referer")).alias("referer"),
        _dash_null(pl.col("ua")).alias("user_agent"),
        _dash_null(pl.coalesce("vhost", "host")).alias("host"),
        pl.coalesce(num("rtime", pl.Float64()), num("rtime_us", pl.Float64()) / 1e6).alias("duration_s"),
        "q",
        "line",
    ).collect(engine=ENGINE)


# --------------------------------------------------------------------------------------------
# Plain lines: the head captured by a narrower regex, the quoted tail cut at its quotes

#: Read the lines of the plain shape by :func:`_plain`; False sends every line through the
#: regexes alone (the tests read both ways and compare).
PLAIN = True

# The plain head: no quote or whitespace in the first three fields, one space in the time,
# three words in the request (the last HTTP/...), ASCII digits, no escape. Each part is a subset
# of what the fast regex allows at the same place, so where this matches, the fast regex
# captures the same ip, time, request, status and bytes, and split_requests would cut the
# request into these three words. (Spelling the time out, digits and year range, made
# parsing dearer than the regexes alone: measured.)
_PLAIN_HEAD = (
    r'^(?P<ip>[^\s"]+) [^\s"]+ [^\s"]+ \[(?P<ts_clf>[^\]\s"]* [^\]\s"]*)\] "(?P<method>[^ "\\\n]+) (?P<path>[^ "\\\n]+) '
    r'(?P<protocol>HTTP/[^ "\\\n]*)" (?P<status>[0-9]{3}) (?P<bytes>[0-9]+|-)'
)
#: Format -> (the head regex, True when a quoted referer and user agent follow).
_PLAIN_FORMATS = {
    "combined": (_PLAIN_HEAD + ' "', True),
    "auto": (_PLAIN_HEAD + ' "', True),
    "common": (_PLAIN_HEAD + r"(?: |\r?\n|$)", False),
}


def _plain(lines: pl.DataFrame, spec: Spec) -> tuple[pl.DataFrame | None, pl.DataFrame]:
    """(requests of the plain lines, as :func:`_convert` makes them, or None; the other lines).

    Plain: ``IP L U [TIME ZONE] "METHOD PATH HTTP/x" STATUS BYTES``, then for combined
    `` "REFERER" "USER AGENT"`` and anything, with no backslash. The regex engine walks every
    byte of a match to capture, so the head (about half a line) is captured by a narrower
    regex, request words included (no :func:`split_requests`), and the referer and agent are
    cut at the line's quotes (``str.splitn``) instead of walked. Measured with
    bench/bench_reader_paths.py on 636 k combined lines, analysed columns: parse and batch
    0-19 % less CPU than the regexes alone, run to run on a shared 2-core machine (a
    capture-free check plus ``str.split_exact`` at the spaces was no cheaper than the regexes:
    each Polars string pass costs about as much as the capture it replaces). The values are
    the ones the regexes give; every other line is left to them.
    """
    regex, combined = _PLAIN_FORMATS[spec.name]
    g = spec.groups
    line = pl.col("line")
    h = pl.col("h").struct
    q = pl.col("q").struct
    ok = h.field("ip").is_not_null()
    if combined:
        # No quote before the request's, so the quotes cut the line into: the head, the
        # request, the text up to the referer, the referer, what is between (must be one
        # space), the user agent, and a seventh part when the agent's quote is closed.
        ok = ok & (q.field("field_4") == " ") & q.field("field_6").is_not_null() & ~line.str.contains("\\", literal=True)
        ok = ok & ~q.field("field_3").str.contains("\n", literal=True) & ~q.field("field_5").str.contains("\n", literal=True)

    def want(group: str, e: pl.Expr | None, dtype: pl.DataType) -> pl.Expr:
        return e if group in g and e is not None else pl.lit(None, dtype)

    text = pl.String()
    df = (
        lines.lazy()
        .with_columns(h=line.str.extract_groups(regex), **({"q": line.str.splitn('"', 7)} if combined else {}))
        .select(
            ok.fill_null(False).alias("ok"),
            "n",
            _clf_time(h.field("ts_clf")).alias("ts"),
            h.field("ip").alias("src_ip"),
            want("request", _dash_null(h.field("method")), text).alias("method"),
            want("request", h.field("path"), text).alias("path"),
            want("request", h.field("protocol"), text).alias("protocol"),
            want("status", h.field("status").cast(pl.Int32, strict=False), pl.Int32()).alias("status"),
            want("bytes", h.field("bytes").cast(pl.Int64, strict=False), pl.Int64()).alias("bytes"),
            want("referer", _dash_null(q.field("field_3")) if combined else None, text).alias("referer"),
            want("ua", _dash_null(q.field("field_5")) if combined else None, text).alias("user_agent"),
            pl.lit(None, text).alias("host"),
            pl.lit(None, pl.Float64()).alias("duration_s"),
            pl.lit('"').alias("q"),
            "line",
        )
        .collect(engine=ENGINE)
    )
    good = df["ok"]
    if good.all():
        return df.drop("ok"), lines.clear()
    if not good.any():
        return None, lines
    return df.filter(good).drop("ok"), lines.filter(~good)


# --------------------------------------------------------------------------------------------
# Plain lines, compiled: the same shape as _plain, scanned byte by byte (_clfscan.c)

#: Read plain lines with the compiled scanner when it is built; False leaves them to
#: :func:`_plain` and the regexes (the tests read all ways and compare).
NATIVE = True


def native_available() -> bool:
    """Is the compiled scanner of plain lines built (and switched on)?"""
    return NATIVE and _clfscan is not None


def _scanned(lines: pl.DataFrame, spec: Spec) -> tuple[pl.DataFrame | None, pl.DataFrame]:
    """(requests of the plain lines, as :func:`_plain` makes them, plus ``src_ip_lo`` where the
    address is a canonical IPv4 one (see :func:`to_batch`), or None; the other lines).

    The scanner reads the lines where Polars holds them (an Arrow string_view array) and
    returns views into the same buffers, so no text is copied. It takes a subset of the lines
    :func:`_plain` takes (ASCII head, an exact CLF time in range, ...); the rest go on to it.
    Measured with bench/bench_reader_paths.py: see the module docstring of ``_clfscan.c``.
    """
    combined = _PLAIN_FORMATS[spec.name][1]
    arr = lines["line"].to_arrow(compat_level=pl.CompatLevel.newest())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type != pa.string_view():
        arr = arr.cast(pa.string_view())
    n = len(arr)
    _, views, *data = arr.buffers()
    if len(data) > _clfscan.MAX_BUFFERS:  # (chunks of about a GiB of repaired UTF-8)
        return None, lines
    views = views.slice(arr.offset * 16, n * 16)
    ok = np.empty(n, np.uint8)
    ts = np.empty(n, np.int64)
    status = np.empty(n, np.int32)
    nbytes = np.empty(n, np.int64)
    # One 16-byte view per line for each text field, in the scanner's order (_clfscan.FIELDS).
    fields = np.empty((len(_clfscan.FIELDS), n, 16), np.uint8)
    dash = np.empty((len(_clfscan.FIELDS), n), np.uint8)
    lo = np.empty(n, np.uint64)
    if not _clfscan.scan(views, tuple(data), n, combined, ok, ts, status, nbytes, fields, dash, lo):
        return None, lines
    g = spec.groups

    def null(dtype: pl.DataType) -> pl.Series:
        return pl.repeat(None, n, dtype=dtype, eager=True)

    def text(field: str, group: str, dash_null: bool) -> pl.Series:
        i = _clfscan.FIELDS.index(field)
        if group not in g or (field in ("referer", "ua") and not combined):
            return null(pl.String())
        valid = None
        if dash_null and dash[i].any():
            valid = pa.py_buffer(np.packbits(dash[i] == 0, bitorder="little"))
        a = pa.Array.from_buffers(pa.string_view(), n, [valid, pa.py_buffer(fields[i]), *data])
        return pl.Series(a)

    missing = nbytes < 0
    df = pl.DataFrame(
        {
            "n": lines["n"],
            "ts": pl.Series(ts).cast(pl.Datetime("ns", "UTC")),
            "src_ip": text("ip", "ip", False),
            "method": text("method", "request", True),
            "path": text("path", "request", False),
            "protocol": text("protocol", "request", False),
            "status": pl.Series(status) if "status" in g else null(pl.Int32()),
            "bytes": pl.Series(nbytes).set(pl.Series(missing), None) if "bytes" in g else null(pl.Int64()),
            "referer": text("referer", "referer", True),
            "user_agent": text("ua", "ua", True),
            "host": null(pl.String()),
            "duration_s": null(pl.Float64()),
            "q": pl.repeat('"', n, eager=True),
            "line": lines["line"],
            # the address parsed already where it is a canonical IPv4 (see to_batch)
            "src_ip_lo": pl.Series(lo).set(pl.Series(lo == 0), None),
        }
    )
    good = pl.Series(ok.view(np.bool_))
    if good.all():
        return df, lines.clear()
    return df.filter(good), lines.filter(~good)


def parse_lines(
    lines: pl.DataFrame, spec: Spec, strict: bool = False, max_line: int = MAX_LINE_BYTES
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Parse one frame of lines -> (accepted requests with ``src_ip`` text, and ``src_ip_lo``
    where the scanner parsed the address already; rejected ``n, reason, line``).

    Steps with nothing to do are skipped, not run on empty frames: when the compiled scanner
    takes a whole chunk, the fixed costs of the other routes were a third of the chunk's time
    (measured: 25 ms against 15 ms for the scan alone, 75 k lines).
    """
    lines = lines.select("n", "line", *(["too_long"] if "too_long" in lines.columns else []))
    over = too_long(lines, max_line)
    long = lines.filter(over).select("n", "line") if over.any() else None
    lines = lines.filter(~over).select("n", "line") if long is not None else lines.select("n", "line")
    ready = []  # requests of the plain lines, read by the cheaper routes
    if native_available() and spec.name in _PLAIN_FORMATS and lines.height:
        scanned, lines = _scanned(lines, spec)
        ready.append(scanned)
    if PLAIN and spec.name in _PLAIN_FORMATS and lines.height:
        plain, lines = _plain(lines, spec)
        ready.append(plain)
    miss = None
    if lines.height or not any(df is not None for df in ready):
        hit, miss = _extract(lines, spec.regex)
        if spec.lenient is None and hit["line"].str.contains("\\", literal=True).any():
            # A log_format regex admits backslash escapes in quoted fields.
            hit = hit.with_columns(_unescape(pl.col(c)) for c in ("request", "path", "referer", "ua"))
        if spec.lenient is not None and miss.height:
            hit2, miss = _extract(miss, spec.lenient)
            if hit2.height:
                # Only the lenient regex admits backslash escapes: unescape just its lines.
                hit2 = hit2.with_columns(_unescape(pl.col(c)) for c in ("request", "path", "referer", "ua"))
                hit = pl.concat([hit, hit2], how="diagonal_relaxed").sort("n")
        ready.append(_convert(hit))
    parts = [df for df in ready if df is not None and df.height]
    if len(parts) == 1:
        req = parts[0]
    elif parts:
        req = pl.concat(parts, how="diagonal").sort("n")
    else:
        req = next(df for df in ready if df is not None)
    bad = req["ts"].is_null()
    if strict:
        bad = bad | (req["q"] == "")
    rejected = []
    if long is not None:
        rejected.append(long.select("n", pl.lit("line too long").alias("reason"), pl.col("line").str.slice(0, 200)))
    if miss is not None and miss.height:
        blank = miss["line"].str.strip_chars().str.len_bytes() == 0
        rejected.append(miss.filter(~blank).select("n", pl.lit(f"not a {spec.name} access-log line").alias("reason"), "line"))
    if bad.any():
        why = pl.when(pl.col("ts").is_null()).then(pl.lit("bad timestamp")).otherwise(pl.lit("unterminated quoted field"))
        rejected.append(req.filter(bad).select("n", why.alias("reason"), "line"))
        req = req.filter(~bad)
    if rejected:
        rej = pl.concat(rejected).sort("n").with_columns(pl.col("line").str.strip_chars_end("\r\n"))
    else:
        rej = pl.DataFrame(schema={"n": pl.Int64, "reason": pl.String, "line": pl.String})
    return req.drop("n", "q", "line"), rej


def addresses(ip: pl.Series) -> tuple[np.ndarray, np.ndarray, pl.Series]:
    """(hi, lo, canonical text) of text addresses, parsing each distinct address once.

    Logs repeat their clients: parsing the distinct ones and joining back is 2.5x cheaper than
    parsing every row (measured on 500 k rows of 20 k clients). Text that is no address (a
    hostname logged by ``HostnameLookups``) is kept as it is, with null hi/lo.
    """
    uniq = ip.unique()
    hi, lo = ipaddr.from_strings(uniq)
    ok = ipaddr.valid(hi, lo)
    v4 = ipaddr.is_v4(hi, lo)
    text = uniq.clone()  # scatter works in place; uniq stays the join key
    if v4.any():
        text = text.scatter(np.flatnonzero(v4), ipaddr.v4_strings(ipaddr.v4_ints(lo[v4])))
    v6 = np.flatnonzero(ok & ~v4)
    if len(v6):
        text = text.scatter(v6, pl.Series(ipaddr.to_strings(hi[v6], lo[v6]), dtype=pl.String))
    key = pl.DataFrame({"ip": uniq, "k": np.arange(len(uniq), dtype=np.int64)})
    k = pl.DataFrame({"ip": ip}).join(key, on="ip", how="left", maintain_order="left", nulls_equal=True)["k"].to_numpy()
    return hi[k], lo[k], text.gather(k)


def to_batch(df: pl.DataFrame) -> pa.RecordBatch:
    """Requests frame with ``src_ip`` text -> Arrow batch of :data:`REQUESTS` (addresses parsed).

    Where the frame holds ``src_ip_lo`` already (the compiled scanner parsed a canonical IPv4
    address: its text is its canonical form), only the other rows are parsed here.
    """
    if "src_ip_lo" in df.columns:
        known = df["src_ip_lo"]
        hi, lo, text = np.zeros(df.height, np.uint64), known.fill_null(0).to_numpy(writable=True), df["src_ip"]
        rest = np.flatnonzero(known.is_null().to_numpy())
        if len(rest):
            idx = pl.Series(rest)
            rhi, rlo, rtext = addresses(df["src_ip"].gather(idx))
            hi[rest], lo[rest] = rhi, rlo
            text = text.scatter(idx, rtext)
        df = df.drop("src_ip_lo")
    else:
        hi, lo, text = addresses(df["src_ip"])
    ok = ipaddr.valid(hi, lo)
    # string_view is Polars' own layout (no copy); the one cast below makes the schema's strings.
    newest = pl.CompatLevel.newest()
    cols = {name: df[name].to_arrow(compat_level=newest) for name in df.columns if name != "src_ip"}
    cols["src_ip"] = text.to_arrow(compat_level=newest)
    cols["src_ip_hi"] = pa.array(hi, type=pa.uint64(), mask=~ok)
    cols["src_ip_lo"] = pa.array(lo, type=pa.uint64(), mask=~ok)
    arrays = [cols[f.name].cast(f.type) for f in REQUESTS]
    return pa.RecordBatch.from_arrays(arrays, schema=REQUESTS)


def add_rejections(rejections: Rejections, rej: pl.DataFrame) -> None:
    """Count every rejected line; keep the first samples with line number, reason, excerpt."""
    room = max(0, rejections.max_samples - len(rejections.samples))
    for n, reason, line in rej.head(room).iter_rows():
        rejections.add(n, reason, line or "")
    rejections.count += max(0, rej.height - room)


def read(
    path: str | Path,
    rejections: Rejections,
    *,
    fmt: str = "auto",
    log_format: str | None = None,
    strict: bool = False,
    max_line: int = MAX_LINE_BYTES,
    chunk_bytes: int = CHUNK_BYTES,
    columns: Collection[str] | None = None,
    transform: Transform | None = None,
    **_ignored: object,
) -> Iterator[pa.RecordBatch]:
    """Stream an access log as :data:`~surgescope.schema.REQUESTS` batches (one per chunk).

    ``fmt``: ``auto`` | ``combined`` | ``common`` | ``vhost_combined``; ``log_format``: an nginx
    ``log_format`` string (overrides ``fmt``); ``strict``: reject a last quoted field that lacks
    its closing quote instead of accepting it to the end of the line; ``columns``: the
    requests-table columns the caller reads (the others are left null, see :meth:`Spec.project`);
    ``transform``: applied to each batch on the reader's threads (see :func:`guarded`).
    """
    spec = (compile_log_format(log_format) if log_format else builtin_spec(fmt)).project(columns)

    work = guarded(lambda lines: parse_lines(lines, spec, strict=strict, max_line=max_line), transform)
    yield from ordered_map(work, line_batches(path, rejections, max_line=max_line, chunk_bytes=chunk_bytes), rejections)


Work = Callable[[pl.DataFrame], tuple["pa.RecordBatch | None", pl.DataFrame]]

Transform = Callable[[pa.RecordBatch], pa.RecordBatch]
"""A caller's per-batch reduction, run on the reader's threads so that it uses the cores while
the next chunk is read (the pipeline's :func:`surgescope.pipeline.key_texts`)."""


#: Parse attempts a chunk that raised may make while it is halved to find its bad lines. Past
#: this many, a part that still raises is rejected whole, with the error as the reason: a fault
#: that hits every line would otherwise cost one parse per line (measured: about 6 ms each,
#: some 15 CPU-minutes for a 16 MiB chunk). Up to about 30 bad lines a chunk are found exactly.
MAX_RETRIES = 1024


def guarded(parse: Callable[[pl.DataFrame], tuple[pl.DataFrame, pl.DataFrame]], transform: Transform | None = None) -> Work:
    """A chunk's work: ``parse``, :func:`to_batch` then ``transform``, with a safety net.

    Should a chunk raise anyway (an input no test foresaw), it is halved and each half parsed
    again, down to single lines, so that only the lines that still fail are rejected, with the
    error's type as the reason: one odd line never costs the chunk, nor the run (and the search
    is bounded by :data:`MAX_RETRIES`).
    """

    def one(lines: pl.DataFrame) -> tuple[pa.RecordBatch | None, pl.DataFrame]:
        req, rej = parse(lines)
        if not req.height:
            return None, rej
        batch = to_batch(req)
        return (transform(batch) if transform else batch), rej

    def work(lines: pl.DataFrame) -> tuple[pa.RecordBatch | None, pl.DataFrame]:
        try:
            return one(lines)
        except Exception as first:
            batches: list[pa.RecordBatch] = []
            rejected: list[pl.DataFrame] = []
            attempts = 0

            def reject(part: pl.DataFrame, error: Exception) -> None:
                reason = f"unreadable line ({type(error).__name__})"
                rejected.append(part.select("n", pl.lit(reason).alias("reason"), pl.col("line").str.strip_chars_end("\r\n").str.slice(0, 200)))

            def settle(part: pl.DataFrame, error: Exception) -> None:
                """``part`` raised ``error``: keep what its halves read, in file order."""
                nonlocal attempts
                if part.height == 1:
                    reject(part, error)
                    return
                mid = part.height // 2
                for half in (part.slice(0, mid), part.slice(mid)):
                    if attempts >= MAX_RETRIES:
                        reject(half, error)
                        continue
                    attempts += 1
                    try:
                        batch, rej = one(half)
                    except Exception as e:
                        settle(half, e)
                        continue
                    if batch is not None:
                        batches.append(batch)
                    rejected.append(rej.select("n", "reason", "line"))

            settle(lines, first)
            merged = pa.Table.from_batches(batches, schema=batches[0].schema if batches else REQUESTS).combine_chunks().to_batches()
            return (merged[0] if merged else None), pl.concat(rejected).sort("n")

    return work


def ordered_map(
    work, frames: Iterator[pl.DataFrame], rejections: Rejections, workers: int | None = None
) -> Iterator[pa.RecordBatch]:
    """Run ``work(frame) -> (batch, rejected)`` on a few threads, yielding batches in file order.

    At most ``workers`` chunks are in flight, so memory stays bounded; rejections are added
    in file order so the samples are the first rejected lines.
    """
    workers = workers or WORKERS
    with ThreadPoolExecutor(workers) as pool:
        pending: deque = deque()
        for frame in frames:
            pending.append(pool.submit(work, frame))
            if len(pending) >= workers:
                yield from _done(pending.popleft().result(), rejections)
        while pending:
            yield from _done(pending.popleft().result(), rejections)


def _done(result: tuple[pa.RecordBatch | None, pl.DataFrame], rejections: Rejections) -> Iterator[pa.RecordBatch]:
    batch, rej = result
    if rej.height:
        add_rejections(rejections, rej)
    if batch is not None:
        yield batch
