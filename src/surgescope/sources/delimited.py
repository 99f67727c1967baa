"""Line-oriented text inputs (CSV, TSV, JSON lines): bounded chunks of whole lines with line
numbers, field splitting with Polars, and typed conversion that rejects bad rows instead of
failing. Shared by the flow readers (CICFlowMeter, nfdump, Zeek) and the crowd-report reader.

- :func:`raw_chunks` cuts the byte stream into chunks of whole lines (about ``chunk_size``
  bytes) and numbers them; a line longer than ``max_line`` is rejected without being held.
- Fast path, for big files: :func:`parse_chunk` (CSV/TSV) finds the lines and counts each
  line's separators with NumPy over the raw bytes, checks NUL bytes and UTF-8 once per chunk,
  and hands the good lines to Polars ``read_csv`` with quoting off, so one line is one row;
  :func:`parse_json_chunk` hands clean JSON-lines chunks to Polars' NDJSON reader. Both return
  an ``excerpt`` function so rejected rows can be quoted without keeping every line's text.
  :class:`DelimitedFile` wraps this for files with one header line.
- Careful path, for dirty chunks and small files: :func:`line_batches` yields
  ``DataFrame(line, text)``; :func:`split_fields` and :func:`json_fields` split those, the rare
  quoted CSV line going through the standard :mod:`csv` module.
- The readers then cast what they need (:func:`with_ints`, :func:`parse_times`) and
  :func:`reject_where` removes the rows whose values did not convert, each with its first reason.

Blank lines are skipped, never counted as rejections.

>>> import io
>>> from surgescope.sources.base import Rejections
>>> rej = Rejections()
>>> f = io.BytesIO(b"a,b\\n1,2\\n\\xff,3\\n4,5,6\\n7,8\\n")
>>> frames = list(line_batches(f, rej))
>>> frames[0]["line"].to_list()
[1, 2, 4, 5]
>>> fields = split_fields(frames[0].slice(1), ["a", "b"], ",", rej)
>>> fields.select("line", "a", "b").rows()
[(2, '1', '2'), (5, '7', '8')]
>>> [(r.where, r.reason) for r in rej.samples]
[(3, 'invalid UTF-8'), (4, 'expected 2 fields, found 3')]
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import BinaryIO

import numpy as np
import polars as pl

from surgescope.sources.base import InputError, Rejections, iter_chunks

#: Longest accepted line in bytes; longer lines (e.g. a 10 MB garbage line) are rejected whole
#: without being held in memory beyond this bound.
MAX_LINE = 1 << 20

#: Bytes read per batch: batches of lines stay around this size whatever the file size.
CHUNK_BYTES = 8 << 20


def clean_lines(parts: list[bytes], first: int, rejections: Rejections, max_line: int) -> pl.DataFrame:
    """Decode and number one batch of raw lines; bad lines are rejected, blank ones dropped."""
    body = b"\n".join(parts)
    text: str | None = None
    if b"\x00" not in body:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = None
    if text is not None:
        lines = pl.Series("text", text.split("\n"), dtype=pl.String)
        df = pl.DataFrame({"line": pl.int_range(first, first + len(lines), eager=True, dtype=pl.Int64), "text": lines})
    else:
        # A dirty chunk: find the offending lines one by one (rare, so a Python loop is fine).
        keep_n: list[int] = []
        keep_t: list[str] = []
        for i, p in enumerate(parts):
            n = first + i
            if b"\x00" in p:
                rejections.add(n, "NUL byte", p[:200])
                continue
            try:
                keep_t.append(p.decode("utf-8"))
            except UnicodeDecodeError:
                rejections.add(n, "invalid UTF-8", p[:200])
                continue
            keep_n.append(n)
        df = pl.DataFrame({"line": pl.Series(keep_n, dtype=pl.Int64), "text": pl.Series(keep_t, dtype=pl.String)})
    df = df.with_columns(pl.col("text").str.strip_suffix("\r"))
    long = df.filter(pl.col("text").str.len_bytes() > max_line)
    if long.height:
        rejections.add_many(long["line"].to_list(), f"line longer than {max_line} bytes",
                            long["text"].str.slice(0, 200).to_list())
        df = df.filter(pl.col("text").str.len_bytes() <= max_line)
    return df.filter(pl.col("text").str.strip_chars() != "")


def raw_chunks(
    f: BinaryIO,
    rejections: Rejections,
    chunk_size: int = CHUNK_BYTES,
    max_line: int = MAX_LINE,
) -> Iterator[tuple[bytes, int]]:
    """Whole lines of a byte stream as ``(body, first_line_number)`` in bounded chunks.

    ``body`` holds complete lines joined by ``\\n`` (no trailing newline). Memory is bounded
    by ``chunk_size + max_line``: an over-long line is rejected as soon as it exceeds
    ``max_line`` and its remaining bytes are skipped up to the next newline.
    """
    done = 0  # lines fully consumed so far
    carry = b""
    skipping = False  # inside an over-long line that was already rejected
    for chunk in iter_chunks(f, chunk_size):
        buf = carry + chunk if carry else chunk
        cut = buf.rfind(b"\n")
        if cut < 0:
            if skipping:
                carry = b""
            elif len(buf) > max_line:
                rejections.add(done + 1, f"line longer than {max_line} bytes", buf[:200])
                skipping, carry = True, b""
            else:
                carry = buf
            continue
        body = buf[:cut]
        carry = buf[cut + 1 :]
        first = done + 1
        nlines = body.count(b"\n") + 1
        if skipping:
            # The first line is the tail of the rejected over-long line.
            nl = body.find(b"\n")
            body = body[nl + 1 :] if nl >= 0 else None  # type: ignore[assignment]
            first += 1
            skipping = False
        done += nlines
        if len(carry) > max_line:
            rejections.add(done + 1, f"line longer than {max_line} bytes", carry[:200])
            skipping, carry = True, b""
        if body is not None:
            yield body, first
    if carry and not skipping:
        # A last line without its newline is kept: files often end that way.
        yield carry, done + 1


def line_batches(
    f: BinaryIO,
    rejections: Rejections,
    chunk_size: int = CHUNK_BYTES,
    max_line: int = MAX_LINE,
) -> Iterator[pl.DataFrame]:
    """Numbered, decoded, non-blank lines of a byte stream, in bounded batches."""
    for body, first in raw_chunks(f, rejections, chunk_size, max_line):
        yield clean_lines(body.split(b"\n"), first, rejections, max_line)


Excerpt = Callable[[Sequence[int]], list[str]]
"""Line numbers -> the text of those lines (for rejection samples)."""


class DelimitedFile:
    """Fast path for one-header CSV/TSV files: numpy finds the lines and checks their field
    counts over the raw bytes, Polars ``read_csv`` parses the good ones, and no per-line Python
    object is made unless a chunk holds bad or quoted lines.

    >>> import io
    >>> from surgescope.sources.base import Rejections
    >>> rej = Rejections()
    >>> d = DelimitedFile(io.BytesIO(b"a,b\\n1,2\\n3\\n\\n5,6\\n"), rej)
    >>> d.header
    ['a', 'b']
    >>> [df.rows() for df, _ in d.batches(["a", "b"], ["b"])]
    [[(2, '2'), (5, '6')]]
    >>> [(r.where, r.reason, r.excerpt) for r in rej.samples]
    [(3, 'expected 2 fields, found 1', '3')]
    """

    def __init__(self, f: BinaryIO, rejections: Rejections, sep: str = ",", quoting: bool = True,
                 chunk_size: int = CHUNK_BYTES, max_line: int = MAX_LINE):
        self.rejections, self.sep, self.quoting, self.max_line = rejections, sep, quoting, max_line
        self._chunks = raw_chunks(f, rejections, chunk_size, max_line)
        self._pending: tuple[bytes, int] | None = None
        self.header: list[str] | None = None
        self.header_line = 0
        for body, first in self._chunks:
            # The header is the first non-blank line (usually the first line of the file).
            pos = i = 0
            while True:
                nl = body.find(b"\n", pos)
                text = body[pos: len(body) if nl < 0 else nl].decode("utf-8", "replace")
                text = text.lstrip("\ufeff").rstrip("\r")
                if text.strip():
                    self.header = [h.strip().strip('"') for h in text.split(sep)]
                    self.header_line = first + i
                    # Kept so a header-less file can hand its first line back as data.
                    self._from_header = (body[pos:], first + i)
                    if nl >= 0:
                        self._pending = (body[nl + 1:], first + i + 1)
                    return
                if nl < 0:
                    break
                pos, i = nl + 1, i + 1

    def no_header(self) -> None:
        """The line taken as header is data after all (e.g. ``nfdump -q`` prints none)."""
        if self.header is not None:
            self._pending = self._from_header
            self.header = None

    def columns(self, cols: Mapping[str, int], required: Sequence[str], what: str,
                stop: str | None = None) -> Iterator[tuple[pl.DataFrame, Excerpt]]:
        """:meth:`batches` of the columns ``cols`` maps (name -> header position), each frame's
        columns named ``line`` and those names in header order; :class:`InputError` starting
        with ``what`` when a ``required`` name is not among them."""
        missing = [c for c in required if c not in cols]
        if missing:
            raise InputError(f"{what} (no column for {', '.join(missing)})")
        assert self.header is not None
        names = [f"c{i}" for i in range(len(self.header))]
        keep = sorted(cols, key=cols.__getitem__)
        for raw, excerpt in self.batches(names, [f"c{cols[k]}" for k in keep], stop=stop):
            raw.columns = ["line", *keep]
            yield raw, excerpt

    def batches(self, names: Sequence[str], keep: Sequence[str], stop: str | None = None) -> Iterator[tuple[pl.DataFrame, Excerpt]]:
        """``(DataFrame(line, *keep), excerpt)`` per chunk; ``names`` are all the columns.

        ``stop``: a line with exactly this text ends the data (nfdump's ``Summary``).
        """
        n = len(names)
        idx = [list(names).index(k) for k in keep]
        for body, first in _chain([self._pending] if self._pending else [], self._chunks):
            if stop is not None:
                at = _find_line(body, stop.encode())
                if at >= 0:
                    body = body[:max(at - 1, 0)] if at > 0 else b""
                    if body:
                        yield parse_chunk(body, first, n, idx, list(keep), self.sep, self.quoting, self.rejections, self.max_line)
                    return
            if body:
                yield parse_chunk(body, first, n, idx, list(keep), self.sep, self.quoting, self.rejections, self.max_line)


def parse_chunk(body: bytes, first: int, n: int, idx: list[int], keep: list[str], sep: str, quoting: bool,
                rej: Rejections, max_line: int = MAX_LINE) -> tuple[pl.DataFrame, Excerpt]:
    """One chunk of whole lines (from :func:`raw_chunks`) -> ``(DataFrame(line, *keep), excerpt)``.

    ``n`` fields per line; ``idx`` the positions of the ``keep`` columns. Blank lines are
    skipped; lines too long, with NUL bytes, invalid UTF-8 or the wrong field count are rejected.
    """
    a = np.frombuffer(body, dtype=np.uint8)
    nl = np.flatnonzero(a == 10)
    starts = np.concatenate(([0], nl + 1)).astype(np.int64)
    ends = np.concatenate((nl, [len(a)])).astype(np.int64)
    has_cr = False
    if b"\r" in body:
        cr = (ends > starts) & (a[np.maximum(ends - 1, 0)] == 13)
        ends = ends - cr
        has_cr = bool(cr.any())
    ends_l, starts_l = ends, starts

    def excerpt(lines: Sequence[int]) -> list[str]:
        out = []
        for ln in lines:
            i = int(ln) - first
            s, e = int(starts_l[i]), int(ends_l[i])
            out.append(body[s:min(e, s + 200)].decode("utf-8", "replace"))
        return out

    count = len(starts)
    bad = np.zeros(count, dtype=bool)
    blank = ends == starts

    def reject(mask: np.ndarray, reason: str) -> None:
        new = mask & ~bad & ~blank
        if new.any():
            lines = (np.flatnonzero(new) + first).tolist()
            room = max(0, rej.max_samples - len(rej.samples))
            rej.add_many(lines, reason, excerpt(lines[:room]))
            bad[new] = True

    reject(ends - starts > max_line, f"line longer than {max_line} bytes")
    if b"\x00" in body:
        z = np.zeros(count, dtype=bool)
        z[np.searchsorted(starts, np.flatnonzero(a == 0), side="right") - 1] = True
        reject(z, "NUL byte")
    reject(_utf8_errors(body, starts), "invalid UTF-8")
    quoted = np.zeros(count, dtype=bool)
    if quoting and b'"' in body:
        quoted[np.searchsorted(starts, np.flatnonzero(a == 34), side="right") - 1] = True
        quoted &= ~bad & ~blank
    seps = np.flatnonzero(a == ord(sep))  # sorted positions: count per line by bisection
    fields = np.searchsorted(seps, ends) - np.searchsorted(seps, starts) + 1
    wrong = (fields != n) & ~quoted
    for k in np.unique(fields[wrong & ~bad & ~blank]):
        reject(wrong & (fields == k), f"expected {n} fields, found {int(k)}")
    good = ~bad & ~blank & ~quoted
    frames = []
    if good.any():
        if good.all() and not has_cr:
            data = body
        else:
            data = b"\n".join([body[s:e] for s, e in zip(starts[good].tolist(), ends[good].tolist(), strict=True)])
        parsed = pl.read_csv(io.BytesIO(data), has_header=False, separator=sep, quote_char=None,
                             infer_schema=False, columns=idx)
        parsed.columns = keep  # projected columns come back in the requested order
        lines = pl.Series("line", np.flatnonzero(good) + first, dtype=pl.Int64)
        if parsed.height != len(lines):  # one line must be one row; defend anyway
            reject(good, "unparseable line")
        else:
            frames.append(parsed.insert_column(0, lines))
    if quoted.any():
        qi = np.flatnonzero(quoted)
        qdf = pl.DataFrame({
            "line": pl.Series(qi + first, dtype=pl.Int64),
            "text": [body[int(starts[i]):int(ends[i])].decode("utf-8") for i in qi],
        })
        q = _split_quoted(qdf, [f"_{i}" for i in range(n)], [f"_{i}" for i in idx], sep, rej)
        frames.append(q.drop("text").rename({f"_{i}": k for i, k in zip(idx, keep, strict=True)}))
    if not frames:
        return pl.DataFrame(schema={"line": pl.Int64, **{k: pl.String for k in keep}}), excerpt
    out = frames[0] if len(frames) == 1 else pl.concat(frames, how="vertical_relaxed").sort("line")
    return out, excerpt


def _utf8_errors(body: bytes, starts: np.ndarray) -> np.ndarray:
    """Lines holding invalid UTF-8: one C-speed decode for a clean chunk; otherwise decode
    from error to error, so the cost stays linear however many lines are bad."""
    bad = np.zeros(len(starts), dtype=bool)
    view = memoryview(body)
    pos = 0
    while pos < len(body):
        try:
            codecs.utf_8_decode(view[pos:], "strict", True)
            break
        except UnicodeDecodeError as e:
            line = int(np.searchsorted(starts, pos + e.start, side="right") - 1)
            bad[line] = True
            nxt = body.find(b"\n", pos + e.start)
            if nxt < 0:
                break
            pos = nxt + 1
    return bad


def _find_line(body: bytes, text: bytes) -> int:
    """Offset of a line that is exactly ``text`` (optionally ``\\r``-terminated), or -1."""
    for cand in (text, text + b"\r"):
        if body.startswith(cand + b"\n") or body == cand:
            return 0
        at = body.find(b"\n" + cand + b"\n")
        if at >= 0:
            return at + 1
        if body.endswith(b"\n" + cand):
            return len(body) - len(cand)
    return -1


def _chain(first: list, rest: Iterator) -> Iterator:
    yield from first
    yield from rest


def split_fields(
    lines: pl.DataFrame,
    names: Sequence[str],
    sep: str,
    rejections: Rejections,
    keep: Sequence[str] | None = None,
    quoting: bool = True,
) -> pl.DataFrame:
    """Split ``lines`` (from :func:`line_batches`) into String columns named ``names``.

    Lines whose field count differs from ``len(names)`` are rejected. Only the ``keep`` columns
    (default all) are materialised, plus ``line`` and ``text`` (for rejection excerpts).
    ``quoting`` enables ``"``-quoted fields (CSV); formats that never quote (TSV, nfdump) pass
    False so a stray quote is an ordinary character.
    """
    names = list(names)
    keep = list(keep) if keep is not None else names
    n = len(names)
    empty = pl.DataFrame(schema={"line": pl.Int64, "text": pl.String, **{k: pl.String for k in keep}})
    if lines.height == 0:
        return empty
    quoted = pl.col("text").str.contains('"', literal=True) if quoting else pl.lit(False)
    lines = lines.with_columns(
        _q=quoted, _n=pl.col("text").str.count_matches(sep, literal=True) + 1
    )
    plain = lines.filter(~pl.col("_q"))
    bad = plain.filter(pl.col("_n") != n)
    if bad.height:
        # Group by count so the reason names the count actually found.
        for (cnt,), grp in bad.group_by("_n", maintain_order=True):
            rejections.add_many(grp["line"].to_list(), f"expected {n} fields, found {cnt}",
                                grp["text"].str.slice(0, 200).to_list())
    plain = plain.filter(pl.col("_n") == n)
    frames = []
    if plain.height:
        joined = plain.select(pl.col("text").str.join("\n")).item()
        idx = [names.index(k) for k in keep]
        parsed = pl.read_csv(
            io.BytesIO(joined.encode("utf-8")), has_header=False, separator=sep, quote_char=None,
            infer_schema=False, columns=idx,
        )
        # Projected columns come back in the requested order; name them by position (the
        # automatic column_N names differ between Polars versions).
        parsed.columns = keep
        if parsed.height != plain.height:  # one line must be one row; defend anyway
            rejections.add_many(plain["line"].to_list(), "unparseable line",
                                plain["text"].str.slice(0, 200).to_list())
        else:
            frames.append(pl.concat([plain.select("line", "text"), parsed.select(keep)], how="horizontal"))
    quoted_rows = lines.filter(pl.col("_q"))
    if quoted_rows.height:
        frames.append(_split_quoted(quoted_rows, names, keep, sep, rejections))
    if not frames:
        return empty
    out = pl.concat(frames, how="vertical_relaxed") if len(frames) > 1 else frames[0]
    return out.sort("line") if len(frames) > 1 else out


def _split_quoted(rows: pl.DataFrame, names: list[str], keep: list[str], sep: str, rejections: Rejections) -> pl.DataFrame:
    """Quoted CSV lines via :mod:`csv` (rare: real exports seldom quote); one line, one record."""
    n = len(names)
    idx = [names.index(k) for k in keep]
    cols: dict[str, list] = {"line": [], "text": [], **{k: [] for k in keep}}
    for line_no, text in rows.select("line", "text").iter_rows():
        try:
            fields = next(csv.reader([text], delimiter=sep, strict=True))
        except (csv.Error, StopIteration):
            rejections.add(line_no, "unbalanced quotes", text)
            continue
        if len(fields) != n:
            rejections.add(line_no, f"expected {n} fields, found {len(fields)}", text)
            continue
        cols["line"].append(line_no)
        cols["text"].append(text)
        for k, i in zip(keep, idx, strict=True):
            cols[k].append(fields[i])
    return pl.DataFrame(cols, schema={"line": pl.Int64, "text": pl.String, **{k: pl.String for k in keep}})


def reject_where(df: pl.DataFrame, checks: Sequence[tuple[str, pl.Expr]], rejections: Rejections,
                 excerpt: Excerpt | None = None) -> pl.DataFrame:
    """Drop the rows where any ``(reason, bad_expr)`` holds, recording the first reason per row.

    Excerpts come from the ``text`` column when there is one, else from ``excerpt``.
    """
    if df.height == 0 or not checks:
        return df
    reason = pl.when(checks[0][1]).then(pl.lit(checks[0][0]))
    for r, e in checks[1:]:
        reason = reason.when(e).then(pl.lit(r))
    why = df.select(reason.otherwise(None).alias("_why")).to_series()
    if why.null_count() == len(why):
        return df
    bad = df.select("line", *(["text"] if "text" in df.columns else [])).with_columns(_why=why).filter(pl.col("_why").is_not_null())
    for (reason_text,), grp in bad.group_by("_why", maintain_order=True):
        lines = grp["line"].to_list()
        room = max(0, rejections.max_samples - len(rejections.samples))
        if "text" in grp.columns:
            texts = grp["text"].head(room).str.slice(0, 200).to_list()
        else:
            texts = excerpt(lines[:room]) if excerpt else None
        rejections.add_many(lines, str(reason_text), texts)
    return df.filter(why.is_null())


def unconverted(raw: str, typed: str) -> pl.Expr:
    """True where ``raw`` held a value but its conversion ``typed`` came out null."""
    r = pl.col(raw)
    return r.is_not_null() & (r.str.strip_chars() != "") & pl.col(typed).is_null()


def to_int(col: str, dtype: pl.DataType = pl.Int64) -> pl.Expr:
    """A String column as an integer (decimal; ``0x`` hex and whole floats like ``12.0`` too).

    An expression computes every form on every row; :func:`with_ints` is the faster eager
    version for big batches.
    """
    s = pl.col(col).str.strip_chars()
    as_int = s.cast(pl.Int64, strict=False)
    as_float = s.cast(pl.Float64, strict=False)
    whole = pl.when(as_float.is_finite() & (as_float == as_float.floor()) & (as_float.abs() < 2**62)).then(as_float.cast(pl.Int64))
    hexa = pl.when(s.str.starts_with("0x")).then(s.str.slice(2).str.to_integer(base=16, strict=False))
    return pl.coalesce(as_int, whole, hexa).cast(dtype, strict=False)


def with_ints(df: pl.DataFrame, columns: dict[str, str]) -> pl.DataFrame:
    """Add integer columns ``{new: source}``: one plain cast per column, and the slower forms
    of :func:`to_int` only for the rows where it failed (none in clean data)."""
    new = {}
    for out, src in columns.items():
        raw = df[src]
        fast = raw.cast(pl.Int64, strict=False)
        miss = fast.is_null() & raw.is_not_null()
        if miss.any():
            slow = pl.DataFrame({"v": raw}).select(to_int("v")).to_series()
            fast = fast.fill_null(slow)
        new[out] = fast
    return df.with_columns(**new)


def to_float(col: str) -> pl.Expr:
    s = pl.col(col).str.strip_chars().cast(pl.Float64, strict=False)
    return pl.when(s.is_finite()).then(s)


# --- time ---------------------------------------------------------------------------------

#: Formats tried in order; the first that parses a value wins. ``%#z`` accepts ``Z``, ``+01:00``
#: and ``+0100``. ISO ``T`` separators are normalised to a space first.
AWARE_FORMATS = ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%d %H:%M%#z", "%Y/%m/%d %H:%M:%S%.f%#z"]
NAIVE_FORMATS = [
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M:%S%.f",
    "%Y/%m/%d.%H:%M:%S",  # nfdump's own time window syntax
    "%d/%m/%Y %I:%M:%S %p",  # CICFlowMeter (Java) "dd/MM/yyyy hh:mm:ss a"
    "%d/%m/%Y %H:%M:%S",
    "%Y-%m-%d",
]


def parse_times(raw: pl.Series, tz: str = "UTC", formats: Sequence[str] | None = None) -> pl.Series:
    """Text times -> ``Datetime(ns, UTC)``; values that match no format become null.

    Times with an offset are converted to UTC; naive times are taken in ``tz`` (default UTC).
    Plain numbers are Unix epoch times: seconds, or milli/micro/nanoseconds by magnitude.
    The first format is tried on everything, the others only when values remain unparsed, so a
    clean file costs one pass.

    >>> s = pl.Series(["2025-03-10T10:02:00-04:00", "2025-03-10 14:02:00", "1741615320", "x"])
    >>> [str(t) for t in parse_times(s).to_list()]
    ['2025-03-10 14:02:00+00:00', '2025-03-10 14:02:00+00:00', '2025-03-10 14:02:00+00:00', 'None']
    """
    s = raw.cast(pl.String)
    out = pl.Series(raw.name, [None] * len(s), dtype=pl.Datetime("ns", "UTC"))
    todo = s.is_not_null() & (s.str.strip_chars() != "")
    tried = list(formats) if formats else []
    for i, fmt in enumerate(tried + [f for f in AWARE_FORMATS + NAIVE_FORMATS if f not in tried]):
        if not (todo & out.is_null()).any():
            return out
        if i == len(tried):
            # The caller's formats saw the raw text; the general ones see it normalised.
            s = s.str.strip_chars().str.replace(r"^(\d{4}-\d\d-\d\d)T", "$1 ")
        aware = "%z" in fmt or "%#z" in fmt
        try:
            got = s.str.to_datetime(fmt, strict=False, time_unit="ns", **({} if aware else {"time_zone": None}))
        except (pl.exceptions.ComputeError, pl.exceptions.InvalidOperationError):
            continue
        if got.dtype.time_zone is None:  # type: ignore[union-attr]
            got = got.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC")
        else:
            got = got.dt.convert_time_zone("UTC")
        out = out.fill_null(got)
    if (todo & out.is_null()).any():
        out = out.fill_null(_epoch(s))
    return out


def _epoch(s: pl.Series) -> pl.Series:
    """Decimal Unix times -> Datetime(ns, UTC), exact to the nanosecond (no float rounding).

    Magnitude decides the unit: < 1e11 seconds, < 1e14 milliseconds, < 1e17 microseconds, else
    nanoseconds (seconds until the year 5138; milliseconds from 1973 on).
    """
    g = s.str.extract_groups(r"^(\d{1,19})(?:\.(\d+))?$")
    df = pl.DataFrame({"i": g.struct.field("1").cast(pl.Int64, strict=False), "f": g.struct.field("2")})
    frac = pl.col("f").str.slice(0, 9).str.pad_end(9, "0").cast(pl.Int64, strict=False).fill_null(0)
    i = pl.col("i")
    top = 2**63 - 1  # beyond it a time would wrap around, so such values become null
    ns = (
        pl.when(i < 10**11).then(pl.when(i <= top // 10**9 - 1).then(i * 10**9 + frac))
        .when(i < 10**14).then(pl.when(i <= top // 10**6 - 1).then(i * 10**6 + frac // 1000))
        .when(i < 10**17).then(pl.when(i <= top // 1000 - 1).then(i * 1000 + frac // 10**6))
        .otherwise(i)
    )
    return df.select(ns.cast(pl.Datetime("ns", "UTC"))).to_series().alias(s.name)


# --- JSON lines ---------------------------------------------------------------------------


def json_fields(lines: pl.DataFrame, keys: Sequence[str], rejections: Rejections) -> pl.DataFrame:
    """JSON-lines objects -> String columns ``keys`` (absent key -> null), plus ``line``/``text``.

    Polars decodes the whole batch at once; if anything in it is not valid JSON (or a wanted key
    holds an array/object), the batch is decoded line by line with :mod:`json` so that only the
    bad lines are rejected. Numbers keep their exact text (no float rounding of timestamps).
    """
    keys = list(keys)
    schema = {"line": pl.Int64, "text": pl.String, **{k: pl.String for k in keys}}
    if lines.height == 0:
        return pl.DataFrame(schema=schema)
    struct = pl.Struct({k: pl.String for k in keys})
    try:
        dec = lines["text"].str.json_decode(struct)
        not_obj = ~lines["text"].str.strip_chars().str.starts_with("{")
        if not not_obj.any():
            return pl.concat([lines.select("line", "text"), dec.struct.unnest()], how="horizontal")
    except pl.exceptions.PolarsError:
        pass
    return _json_slow(lines, keys, rejections, schema)


def _json_slow(lines: pl.DataFrame, keys: list[str], rejections: Rejections, schema: dict) -> pl.DataFrame:
    import json

    cols: dict[str, list] = {k: [] for k in schema}
    for line_no, text in lines.select("line", "text").iter_rows():
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError):
            rejections.add(line_no, "invalid JSON", text)
            continue
        if not isinstance(obj, dict):
            rejections.add(line_no, "not a JSON object", text)
            continue
        bad = [k for k in keys if isinstance(obj.get(k), dict | list)]
        if bad:
            rejections.add(line_no, f"bad {bad[0]}: not a scalar", text)
            continue
        cols["line"].append(line_no)
        cols["text"].append(text)
        for k in keys:
            v = obj.get(k)
            cols[k].append(None if v is None else ("true" if v is True else "false" if v is False else str(v)))
    return pl.DataFrame(cols, schema=schema)


def parse_json_chunk(body: bytes, first: int, keys: Sequence[str], rej: Rejections,
                     max_line: int = MAX_LINE) -> tuple[pl.DataFrame, Excerpt | None]:
    """One chunk of JSON lines -> ``(DataFrame(line, *keys), excerpt)``, all values as text.

    A clean chunk (every line an object, valid UTF-8, no blank lines) goes through Polars'
    NDJSON reader in one call; anything else through :func:`json_fields`, which finds the bad
    lines (the frame then carries ``text`` and the excerpt function is None).
    """
    schema = {k: pl.String for k in keys}
    if body and b"\x00" not in body and b"\r" not in body and b"\n\n" not in body and not body.endswith(b"\n"):
        a = np.frombuffer(body, dtype=np.uint8)
        nl = np.flatnonzero(a == 10)
        starts = np.concatenate(([0], nl + 1)).astype(np.int64)
        ends = np.concatenate((nl, [len(a)])).astype(np.int64)
        if (a[starts] == ord("{")).all() and (ends - starts <= max_line).all() and not _utf8_errors(body, starts).any():
            try:
                df = pl.read_ndjson(io.BytesIO(body), schema=schema)
            except pl.exceptions.PolarsError:
                df = None
            if df is not None and df.height == len(starts):
                def excerpt(lines: Sequence[int]) -> list[str]:
                    out = []
                    for ln in lines:
                        i = int(ln) - first
                        s, e = int(starts[i]), int(ends[i])
                        out.append(body[s:min(e, s + 200)].decode("utf-8", "replace"))
                    return out

                line = pl.Series("line", np.arange(first, first + len(starts)), dtype=pl.Int64)
                return df.insert_column(0, line), excerpt
    lines = clean_lines(body.split(b"\n"), first, rej, max_line)
    return json_fields(lines, keys, rej), None
