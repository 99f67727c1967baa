"""``analyze``: inputs -> tables -> analyses -> :class:`Incident`. No printing, no files written.

Each input is streamed once. An access-log reader is told which columns the analyses read
(:data:`ANALYSED_REQUEST_COLUMNS`), and while streaming each batch is cut further
(:func:`slim`: a path becomes a static-asset flag and a key of its query-less stem, a user
agent a key, and a bounded tally names the frequent keys; methods, referers and protocols are
dropped), so the table held for the analyses is a fraction of the input. Then the per-input
summary (time span, records per second, top sources, paths and user agents) and the analyses
run on that table.

Memory is therefore still linear in the number of records (about 80 bytes a request, plus the
analyses' working sets), not constant: see bench/bench_memory.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl
import pyarrow as pa

from surgescope.incident import Incident, iso
from surgescope.sources import Input, InputError, open_input
from surgescope.tally import TEXT_KEYS, TextTally, path_stem, stem_is_asset, text_key

Progress = Callable[[str, int], None]
"""Called with (input path, records read so far)."""

Stage = Callable[[str], None]
"""Called with the name of the analysis step starting (for a progress line)."""


def summarise(table: pa.Table, top_n: int = 10, texts: dict[str, TextTally] | None = None) -> dict:
    """Time span, records per second and top sources of one canonical table; for requests
    whose text was kept as keys (:func:`slim`) with its ``texts`` tally, also the top paths
    and user agents."""
    n = table.num_rows
    out: dict = {"records": n}
    if n == 0:
        return out
    # Only the columns used: converting a whole access-log table would copy every path and
    # user agent (measured: 1.28 GB -> 0.89 GB peak at 2 M lines).
    df = pl.from_arrow(table.select([c for c in ("ts", "count", "src_ip") if c in table.column_names]))
    assert isinstance(df, pl.DataFrame)
    t0, t1 = df["ts"].min(), df["ts"].max()
    span = (t1 - t0).total_seconds() if t0 is not None else 0.0  # type: ignore[operator]
    weight = pl.col("count") if "count" in df.columns else pl.lit(1)
    total = int(df.select(weight.sum()).item()) if "count" in df.columns else n
    out.update(
        start=iso(t0), end=iso(t1), duration_s=span,
        records_per_s=(total / span) if span > 0 else float(total),
    )
    if "count" in df.columns:
        out["total_count"] = total
    if "src_ip" in df.columns:
        per_source = df.filter(pl.col("src_ip").is_not_null()).group_by("src_ip").agg(pl.len().alias("records"))
        # one row per distinct source: the count is the group-by's height (no second pass)
        out["distinct_sources"] = per_source.height
        top = per_source.sort(["records", "src_ip"], descending=[True, False]).head(top_n)
        out["top_sources"] = top.to_dicts()
    for key, col in TEXT_KEYS.items():
        if texts and col in texts and key in table.column_names:
            keys = pl.from_arrow(table.column(key))
            assert isinstance(keys, pl.Series)
            out[f"top_{col}s"] = texts[col].top(keys, top_n, col)
    return out


def open_access_log(path: str | Path, kind: str, log_format: str) -> Input:
    """Open ``path`` with a custom access-log format.

    A custom format may not look like any known one, so an input the sniffer does not know
    is taken as an access log; inputs sniffed as another kind (a capture beside the log) keep
    their own reader.
    """
    try:
        inp = open_input(path, kind)
    except InputError:
        if kind not in ("auto", "access-log"):
            raise
        inp = open_input(path, "access-log")
    if inp.kind == "access-log" and inp.format == "clf":
        inp.options["log_format"] = log_format
    return inp


REQUEST_TEXT = ("method", "path", "protocol", "referer", "user_agent")
"""Free-text columns of the requests table that no analysis reads whole: most of a log's
bytes (measured: 786 MiB of a 2 M-line table, 150 MiB without them). The pipeline keeps only
what the analyses use of them: the static-asset flag of each path, and keys of the paths and
user agents (:mod:`surgescope.tally`)."""


ANALYSED_REQUEST_COLUMNS = ("ts", "src_ip", "path", "status", "bytes", "host", "duration_s", "user_agent")
"""The requests columns the analyses read (``path`` and ``user_agent`` only as keys, see
:func:`slim`): a reader that can skip the others
(:meth:`surgescope.sources.accesslog.Spec.project`) is told so."""


def key_texts(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The first half of :func:`slim`, pure and thread-safe (the reader runs it on its threads):
    a requests batch gains ``asset`` (the path is a page's static asset,
    :func:`surgescope.tally.stem_is_asset`) and the keys of its path (query string
    removed) and user agent (:data:`TEXT_KEYS`); ``path`` becomes its stem; the other free text
    (:data:`REQUEST_TEXT`) is dropped. Text becomes string_view, Polars' own layout: every
    analysis converts the table to Polars, and views convert without a copy.
    """
    if "path" not in batch.schema.names or "path_key" in batch.schema.names:
        return batch
    text = pl.from_arrow(batch.select(["path", "user_agent"]))
    assert isinstance(text, pl.DataFrame)
    stems = text.select(path_stem(pl.col("path")), "user_agent")
    keys = stems.select(text_key(pl.col("path")).alias("path_key"), text_key(pl.col("user_agent")).alias("ua_key"))
    asset = stems.select(stem_is_asset(pl.col("path")))["path"].to_numpy()
    keep = [c for c in batch.schema.names if c not in REQUEST_TEXT]
    out = batch.select(keep).append_column("asset", pa.array(asset, pa.bool_()))
    for key in TEXT_KEYS:
        # Copied out through NumPy: the array Polars exports keeps the batch's texts alive
        # (measured: +190 MiB of peak RSS on a 2 M-line log, about one user agent a line).
        k = keys[key]
        out = out.append_column(key, pa.array(k.fill_null(0).to_numpy(), pa.uint64(), mask=k.is_null().to_numpy()))
    views = pa.schema([f.with_type(pa.string_view()) if f.type == pa.string() else f for f in out.schema])
    out = out.cast(views)
    newest = pl.CompatLevel.newest()
    for col in TEXT_KEYS.values():  # the texts the tally reads, dropped by tally_texts
        out = out.append_column(col, stems[col].to_arrow(compat_level=newest))
    return out


def tally_texts(batch: pa.RecordBatch, texts: dict[str, TextTally] | None) -> pa.RecordBatch:
    """The second half of :func:`slim`, in file order: ``texts`` tallies the text of the
    frequent keys of a :func:`key_texts` batch, whose texts are then dropped."""
    if texts is not None:
        for key, col in TEXT_KEYS.items():
            keys, values = pl.from_arrow(batch.column(key)), pl.from_arrow(batch.column(col))
            assert isinstance(keys, pl.Series) and isinstance(values, pl.Series)
            texts.setdefault(col, TextTally()).add(keys, values)
    return batch.drop_columns(list(TEXT_KEYS.values()))


def slim(batch: pa.RecordBatch, table: str, texts: dict[str, TextTally] | None = None) -> pa.RecordBatch:
    """The columns of one batch that the analyses read.

    Requests lose their free text (:data:`REQUEST_TEXT`) and gain ``asset`` and the keys of
    their path and user agent (:func:`key_texts`, which the reader may have run already);
    ``texts``, when given, tallies the text of the frequent keys (:func:`tally_texts`). Other
    tables are kept whole.

    >>> from surgescope.schema import REQUESTS
    >>> b = pa.RecordBatch.from_pylist([{"ts": 0, "path": "/s.css?v=1"}], schema=REQUESTS)
    >>> s = slim(b, "requests")
    >>> "path" in s.schema.names, s.column("asset").to_pylist()
    (False, [True])
    """
    if table != "requests" or "path" not in batch.schema.names:
        return batch
    return tally_texts(key_texts(batch), texts)


OPTIONAL_REQUEST_COLUMNS = ("host", "duration_s")
"""Requests columns that only some log formats fill; dropped by :func:`read_input` when null
throughout."""


def read_input(inp: Input, progress: Progress | None = None, keep_all: bool = False) -> pa.Table:
    """Every batch of ``inp`` as one table; with ``keep_all=False`` only the columns the
    analyses read (:func:`slim`), reduced batch by batch so the text is released while
    streaming."""
    batches, seen = [], 0
    if not keep_all and inp.table == "requests":
        inp.options.setdefault("columns", ANALYSED_REQUEST_COLUMNS)
        # The costly half of slim on the reader's threads (measured: the main thread, which
        # also cuts the chunks into lines, was the read's bottleneck once parsing got cheap).
        inp.options.setdefault("transform", key_texts)
    for b in inp.batches():
        batches.append(b if keep_all else slim(b, inp.table, inp.texts))
        seen += b.num_rows
        if progress:
            progress(str(inp.path), seen)
    if not batches:
        batches = [slim(pa.RecordBatch.from_pylist([], schema=inp.schema), inp.table)]
    table = pa.Table.from_batches(batches, schema=batches[0].schema)
    if keep_all or inp.table != "requests":
        return table
    # Fields the log format does not have (a combined log has no virtual host, no request
    # time) are null throughout: 24 bytes a request for nothing. The analyses read them only
    # where present.
    empty = [c for c in OPTIONAL_REQUEST_COLUMNS if c in table.column_names and table.column(c).null_count == table.num_rows]
    return table.drop_columns(empty) if table.num_rows else table


def analyze(
    paths: Sequence[str | Path],
    kind: str = "auto",
    claims: str | Path | None = None,
    progress: Progress | None = None,
    mmdb_paths: Sequence[str | Path] = (),
    anonymisers: str | Path | None = None,
    log_format: str | None = None,
    stage: Stage | None = None,
) -> Incident:
    """Read every input and run every analysis that applies to it.

    ``mmdb_paths`` and ``anonymisers`` are the user's own enrichment data for attribution;
    ``log_format`` is an nginx ``log_format`` (or Apache ``LogFormat``) string for access logs
    in a custom format.
    """
    incident = Incident(title="surgescope report: " + ", ".join(Path(p).name for p in paths))
    tables: list[tuple[Input, pa.Table]] = []
    for p in paths:
        inp = open_access_log(p, kind, log_format) if log_format else open_input(p, kind)
        table = read_input(inp, progress)
        tables.append((inp, table))
        incident.inputs.append(
            {
                "path": str(inp.path),
                "kind": inp.kind,
                "format": inp.format,
                "table": inp.table,
                "records": table.num_rows,
                "rejected": inp.rejections.count,
                "rejections": inp.rejections.to_dict(),
            }
        )
    # Only the claims read the per-input summaries: they are made on a thread beside the other
    # analyses (mostly Polars work outside the GIL), so a core those leave idle makes them.
    with ThreadPoolExecutor(1, thread_name_prefix="summarise") as pool:
        summaries = [pool.submit(summarise, table, texts=inp.texts) for inp, table in tables]

        def summarised() -> None:
            for entry, summary in zip(incident.inputs, summaries, strict=True):
                entry["summary"] = summary.result()

        run_analyses(incident, tables, claims, mmdb_paths, anonymisers, stage, inputs_summarised=summarised)
        summarised()
    return incident


def run_analyses(
    incident: Incident,
    tables: list[tuple[Input, pa.Table]],
    claims: str | Path | None,
    mmdb_paths: Sequence[str | Path] = (),
    anonymisers: str | Path | None = None,
    stage: Stage | None = None,
    inputs_summarised: Callable[[], None] | None = None,
) -> None:
    """The pillar analyses, each filling its section of the incident.

    Kept in one place so the order is visible: outage beside attacks, then attribution (which
    reads the attacks), then claims (which read everything, the per-input summaries included:
    ``inputs_summarised`` is called first when they are still being made).
    """
    from surgescope import analyses

    say = stage or (lambda _: None)
    # Outage and attacks read the tables only and write their own sections (``outage``;
    # ``attacks`` and the traffic timeline): the outage runs on a thread beside the attacks,
    # both mostly Polars work outside the GIL.
    with ThreadPoolExecutor(1, thread_name_prefix="outage") as pool:
        say("outage waves")
        waves = pool.submit(analyses.outage, incident, tables)
        say("attacks")
        analyses.attacks(incident, tables)
        waves.result()
    say("attribution")
    analyses.attribution(incident, tables, mmdb_paths, anonymisers)
    if claims is not None:
        if inputs_summarised is not None:
            inputs_summarised()
        say("claims")
        analyses.claims(incident, claims)
