"""Streaming attack detection: replay a capture, log or flow file through the detector.

:class:`StreamDetector` is the batch detector of :mod:`surgescope.attack.detect` fed window by
window: records are classified and aggregated with the same Polars expressions
(:mod:`surgescope.attack.features`, fast path ``detail=False``), heavy clients come from the
last ``client_horizon_s`` of per-client window counts (kept for that horizon only), and the same
:class:`~surgescope.attack.detect.Tracker` turns windows into events. To alert before a
window closes, the window still filling is evaluated every ``eval_every_s`` of traffic time
(rates over the time elapsed in it, at least ``min_partial_s``): an attack whose first
packets arrive mid-window is reported a fraction of a second later, not at the window's end.
Sources are tracked with :class:`~surgescope.attack.sources.SpaceSaving` (bounded memory).

Cost (bench/bench_watch.py: 1.02 M generated packets at ~100 k/s, 60% of them in reader
batches with DNS fragments; CPU seconds per stage with the reader in the detector's thread,
2 cores shared with other work). As fast as possible the work is a two-thread pipeline: the
reader's thread decodes only the fields the detector reads (:data:`READ_COLUMNS`, no address
text; compiled for common frames, ``sources/_framedecode.c``) and classifies each batch
(:func:`classify_records`, keeping only the columns the detector reads): ~0.55 s together;
the detector's thread aggregates the windows a batch closes in one pass (window tables,
rolling heavy clients of the closing windows' clients, candidates: 0.7 s; the tables count
distinct values only for the classes whose rules read them, and what a host sent only for
hosts that are destinations), then applies them slice by slice (tracker steps from column
lists without class ``other``'s rows, Space-Saving merges with IPv4 text and tie order made
from keys: 0.15-0.2 s). Batches are gathered to :data:`BULK_ROWS`, the first smaller
(:data:`BULK_FIRST`) so the detector starts early; each call has ~50 ms of fixed cost.
Early alerts add the filling window's evaluations: all those of a batch are made in one pass
(:func:`_evaluate`: each evaluation is one more key of the window tables) instead of one
Polars pass each (~20 ms of fixed work apiece, which dominated on sparse traffic); they
still re-aggregate each window so far, 1.2 M rows for 1.02 M packets (1.2 s), and the heavy
hitters merge once per closing window (0.25 s), so that mode runs at about half the bulk
mode's rate. Incremental aggregation of the filling window (slice aggregates merged) was not
done: sums merge, but the distinct counts, lone ACKs, SYN-only sources and the per-client
table need key sets, which on a spoofed flood (a new source per packet) are as large as the
records. Measured on 2026-11-23, medians of 5 fresh runs (bench), host speed varying: bulk
0.99-1.20 s (850 k-1.03 M packets/s), early alerts 2.1-2.7 s (380-490 k/s).

:func:`replay` paces the file at its own speed (``speed=1``), ``speed`` times faster, or as
fast as possible (``speed=0``), and yields alerts as they fire::

    {"event": "start"|"vector-change"|"end", "dst", "vector", "vectors",
     "packet_time": time of the last record seen when it fired (ISO),
     "replay_time": the replay clock then (ISO; the capture's own time axis),
     "elapsed_s": wall-clock seconds since the replay began, ...}

>>> import tempfile, os
>>> from surgescope.simulate.packets import generate, Phase
>>> from surgescope.simulate.pcapwriter import write
>>> p = os.path.join(tempfile.mkdtemp(), "s.pcap")
>>> _ = write(generate([Phase("syn-flood", duration=3, rate=2000)]), p)
>>> [a["event"] for a in replay(p, speed=0)]  # doctest: +SKIP
['start', 'end']
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import numpy.ma  # noqa: F401 - at start-up: Polars' first Series from NumPy imports it (53 ms mid-replay)
import polars as pl

from surgescope import ipaddr
from surgescope.attack import features
from surgescope.attack.detect import (
    CLIENT_COLS,
    Thresholds,
    Tracker,
    candidates,
    heavy_clients,
    heavy_expr,
    may_be_heavy,
    slow_expr,
    window_rows,
)
from surgescope.attack.slow_stream import SlowStream
from surgescope.attack.sources import SpaceSaving
from surgescope.incident import iso
from surgescope.schema import PACKETS
from surgescope.sources import open_input

# The classified columns kept, in this order (frames concatenate by position). _row:
# feed_batch's slice of each record. The destination's numbers stand in for its text when
# the reader left that out (see READ_COLUMNS).
_KEEP = (*features.FAST_COLUMNS, *features.DST_NUMBERS, "src_ip", "_row")

READ_COLUMNS = tuple(c for c in PACKETS.names if c not in ("src_ip", "dst_ip", "frame_len", "ttl", "icmp_type", "icmp_code"))
"""The capture fields a replay decodes (:func:`surgescope.sources.pcap.read`'s ``columns``):
what classification reads, without the address text. The source's is made from keys for
the heavy hitters (see :func:`classify_records`; measured: 0.50 -> 0.41 CPU-s to
read the bench's 1 M packets), the destination's from its numbers once per window table
row (:func:`surgescope.attack.features.window_tables`; measured with Polars' conversion:
0.34 -> 0.28 CPU-s to read the bench's 1 M packets)."""


class StreamDetector:
    """Feed record frames in time order with :meth:`feed`; get events back.

    Closed windows are evaluated together (one vectorised pass per fed frame, however many
    windows it spans: sparse inputs such as flow samples cost no more than in batch); the
    window still filling is evaluated on its own for early alerts.
    """

    def __init__(self, table: str, thresholds: Thresholds | None = None, eval_every_s: float = 0.1,
                 min_partial_s: float = 0.2, top_k: int = 1000, small_window: int = 20_000):
        self.table = table
        self.th = thresholds or Thresholds()
        self.ws = self.th.window_s
        self.tracker = Tracker(self.th)
        self.eval_every = eval_every_s
        self.min_partial = min_partial_s
        self.current: list[pl.DataFrame] = []
        self.win: datetime | None = None
        self.last_eval: datetime | None = None
        self.last_ts: datetime | None = None
        self.history: pl.DataFrame | None = None  # per-client counts of the horizon's closed windows
        self.past: pl.DataFrame | None = None  # the same summed per client, for partial windows
        self.sources = SpaceSaving(top_k)
        self.records = 0
        self.engine = "auto"
        """Polars engine of the closing windows' tables: ``streaming`` pays off on frames of
        several hundred thousand records (bulk replay), ``auto`` on the early path's slices."""
        self.cur_n = 0
        self.eval_n = 0
        self.small_window = small_window
        # (client history of a batch's closed windows, edge, last closed window): the horizon
        # sums ``past`` are computed from it only when a filling window is evaluated.
        self._hist_src: tuple[pl.DataFrame, datetime, datetime] | None = None
        self._keep: dict[tuple[str, ...], list[str]] = {}  # classified columns kept, per input layout
        # The heavy hitters' address text made from the source key (see _add_sources): for
        # captures while no IPv6 packet was fed (an IPv4 key is its address; the reader writes
        # IPv4 as dotted quads). Logs and flows keep their files' own text.
        self.text_from_key = table == "packets"

    def _past_now(self) -> pl.DataFrame | None:
        """The closed windows' per-client sums within the horizon (computed on first use)."""
        if self._hist_src is not None:
            hist, edge, last = self._hist_src
            self.past = _past_sums(hist.filter((pl.col("win") > edge) & (pl.col("win") <= last)))
            self._hist_src = None
        return self.past

    def _heavy_rows(self, cur: pl.DataFrame, past: pl.DataFrame | None, by: tuple[str, ...] = ()) -> pl.DataFrame:
        """``cur`` (per-client window counts) with the horizon sums of ``past`` added, and the
        heavy and slow flags. ``by``: key columns of ``past`` besides the client's (several
        evaluations at once: their ``_past`` id) and of ``cur`` (``_p``), kept in the output."""
        keep = [c for c in ("_p",) if c in by]
        if past is not None and past.height:
            cur = cur.join(past, on=[*(c for c in by if c != "_p"), "dst_key", "src_key"], how="left")
            req_h = pl.col("requests") + pl.col("p_req").fill_null(0)
            conn_h = pl.col("conns") + pl.col("p_conn").fill_null(0)
            assets_h = pl.col("assets") + pl.col("p_assets").fill_null(0)
            bytes_h = pl.col("req_bytes") + pl.col("p_req_bytes").fill_null(0)
        else:
            req_h, conn_h = pl.col("requests"), pl.col("conns")
            assets_h, bytes_h = pl.col("assets"), pl.col("req_bytes")
        return cur.select("win", *keep, "dst_key", "src_key", req_h.alias("req_h"), conn_h.alias("conn_h"),
                          assets_h.alias("assets_h"), bytes_h.alias("req_bytes_h")).with_columns(
            heavy_expr(self.table, self.th).alias("heavy")).with_columns(slow_expr(self.table, self.th).alias("slow"))

    def _partial(self, elapsed: float) -> list[dict]:
        return self.tracker.step(self.win, self._partial_rows(elapsed), record=False, partial=True)

    def _partial_rows(self, elapsed: float) -> list[dict]:
        """The filling window's candidate rows (all a partial tracker step can act on)."""
        cl = self.current[0] if len(self.current) == 1 else pl.concat(self.current, how="vertical_relaxed")
        assert self.win is not None
        return _evaluate(self, [(self.win, cl, elapsed, 0)], [self._past_now()])[0]

    def _close_many(self, cl: pl.DataFrame) -> list[dict]:
        """Evaluate complete windows (one or many) with the batch definitions, in time order."""
        if cl.height == 0:
            return []
        w = features.window_tables(cl, self.ws, self.table, detail=False, client_ips=False, engine=self.engine)
        mine = w.by_client.select(*CLIENT_COLS).filter(may_be_heavy(self.table))
        hist = mine if self.history is None else pl.concat([self.history, mine], how="vertical_relaxed")
        heavy = heavy_clients(features.Windows(w.by_class, w.by_dst, _relevant(hist, mine), w.table, w.window_s), self.th)
        cands = candidates(w, self.th, heavy)
        events = _step_windows(self.tracker, cands)
        last = w.by_dst["win"].max()
        edge = last + timedelta(seconds=self.ws - self.th.client_horizon_s)
        self.history = hist.filter(pl.col("win") > edge)
        self.past, self._hist_src = _past_sums(self.history), None
        _add_sources(self.sources, w.by_client, cl, self.text_from_key)
        return events

    def classify(self, df: pl.DataFrame) -> pl.DataFrame:
        """Records -> classified records with their window (the batch definitions), only the
        columns the detector reads (see :func:`classify_records`)."""
        if self.table == "packets" and self.text_from_key and _has_v6(df):
            self._text_from_records()
        return classify_records(df, self.table, self.ws, self.text_from_key, self._keep)

    def _text_from_records(self) -> None:
        """IPv6 showed up: from now on the heavy hitters' text is the records' own (see
        :func:`classify_records`); frames kept from before lack it: null (their IPv4 text
        is made from keys)."""
        self.text_from_key = False
        self.current = [f if "src_ip" in f.columns else
                        f.with_columns(pl.lit(None, pl.String).alias("src_ip")).select(
                            c for c in (*_KEEP, "win") if c in f.columns or c == "src_ip")
                        for f in self.current]

    def feed(self, df: pl.DataFrame, early: bool = True) -> list[dict]:
        """Records (canonical table, time-ordered, may span windows) -> events fired.
        ``early=False`` skips the filling window's evaluation (a paced replay that has fallen
        behind the clock catches up first)."""
        if df.height == 0:
            return []
        self.records += df.height
        return self._feed_classified(self.classify(df), early)

    def _feed_classified(self, cl: pl.DataFrame, early: bool = True, closed: _Call | None = None,
                         pre: _Partials | None = None, i: int = -1) -> list[dict]:
        if cl.height == 0:  # only frames without an IP layer
            return []
        # The latest window and time, not the last row's: classification puts later fragments
        # last, in an order the fragment join does not keep.
        last_win = cl["win"].max()
        events: list[dict] = []
        if self.win is None or last_win != self.win:
            before, cl = _split_last(cl, last_win)
            if closed is not None:
                events += closed.apply()
            else:
                events += self._close_many(pl.concat([*self.current, before], how="vertical_relaxed"))
            self.current, self.cur_n, self.eval_n, self.last_eval = [], 0, 0, None
            # Traffic resumed after a silence longer than the merge gap: attacks have ended.
            events += self.tracker.step(last_win - timedelta(seconds=self.ws), [], record=False)
            self.win = last_win
        self.current.append(cl)
        self.cur_n += cl.height
        self.last_ts = cl["ts"].max()
        due, cheap, elapsed = self._due(self.last_ts, self.last_eval, self.cur_n, self.eval_n, self.win)
        if early and self.eval_every > 0 and due and cheap and (elapsed >= self.min_partial or self.tracker.open):
            self.last_eval = self.last_ts
            self.eval_n = self.cur_n
            rows = pre.rows(i, self.win, self.cur_n) if pre is not None else None
            if rows is None:
                if pre is not None:
                    pre.missed = True
                events += self._partial(elapsed)
            else:  # computed ahead with the batch's other evaluations (same rows)
                events += self.tracker.step(self.win, rows, record=False, partial=True)
        return events

    def _due(self, last_ts: datetime, last_eval: datetime | None, cur_n: int, eval_n: int,
             win: datetime) -> tuple[bool, bool, float]:
        """(due, cheap, elapsed): evaluate the filling window every eval_every_s of traffic
        time; once it is large, only when its record count has doubled, so the
        re-aggregation stays at most twice the window's own cost."""
        due = last_eval is None or (last_ts - last_eval).total_seconds() >= self.eval_every
        cheap = cur_n <= self.small_window or cur_n >= 2 * eval_n
        return due, cheap, (last_ts - win).total_seconds()

    def feed_batch(self, df: pl.DataFrame, ends: np.ndarray, early: bool = True,
                   classified: pl.DataFrame | None = None,
                   ahead: tuple[int, features.Windows] | None = None) -> Iterator[tuple[int, list[dict]]]:
        """The same as :meth:`feed` on each slice ``df[ends[i-1]:ends[i]]`` in turn (yields
        ``(i, events)`` for the slices that fired), without its per-slice costs: the batch is
        classified once (so a later fragment finds its first fragment anywhere in the batch),
        all the windows that close in the batch are evaluated in one vectorised pass
        (:class:`_Closes`) whose results are applied slice by slice, in the same order, and so
        are the filling window's evaluations (:class:`_Partials`). ``classified``: the batch
        already classified (:func:`_classified_ahead`; with ``_row`` when ``ends`` has
        several slices)."""
        if df.height == 0:
            return
        self.records += df.height
        if classified is not None and self.table == "packets" and self.text_from_key and "src_ip" in classified.columns:
            self._text_from_records()
        if len(ends) == 1:  # one slice (bulk mode): no record needs to find its slice
            cl = self.classify(df) if classified is None else classified.drop("_row", strict=False)
            parts = [(0, cl)] if cl.height else []
        else:
            cl = self.classify(df.with_row_index("_row")) if classified is None else classified
            sid = np.searchsorted(ends, cl["_row"].to_numpy(), side="right")
            cl = cl.with_columns(pl.Series("_slice", sid)).drop("_row")
            if not cl["_slice"].is_sorted():  # later fragments go last in each slice, as feed() puts them
                cl = cl.sort("_slice", maintain_order=True)
            offs = np.searchsorted(cl["_slice"].to_numpy(), np.arange(len(ends) + 1), side="left")
            cl = cl.drop("_slice")
            parts = [(i, cl.slice(int(offs[i]), int(offs[i + 1] - offs[i])))
                     for i in range(len(ends)) if offs[i + 1] > offs[i]]
        # Pass 1: the windows each slice closes, as feed() would find them.
        win, current, dones = self.win, list(self.current), {}
        for i, part in parts:
            last_win = part["win"].max()
            if win is None or last_win != win:
                done, last = _split_last(part, last_win)
                dones[i] = [*current, done]
                current, win = [last], last_win
            else:
                current.append(part)
        closes = _Closes.build(self, dones, ahead if len(parts) == 1 else None)
        # The filling window's evaluations, planned ahead and made in one pass (where the plan
        # guessed the tracker's state wrong, an evaluation is made on the spot and the rest of
        # the batch planned again). Out-of-order closes (no _Closes) are evaluated on the spot.
        ahead = early and self.eval_every > 0 and (closes is not None or not dones)
        pre = self._plan(parts, closes) if ahead else None
        # Pass 2: the same steps as feed(), with the closed windows' results precomputed.
        for k, (i, part) in enumerate(parts):
            events = self._feed_classified(part, early, closed=closes.get(i) if closes else None, pre=pre, i=i)
            if pre is not None and pre.missed:
                pre = self._plan(parts[k + 1:], closes)
            if events:
                yield i, events
        if closes:
            closes.finish(self)

    def _plan(self, parts: list[tuple[int, pl.DataFrame]], closes: _Closes | None) -> _Partials:
        """The filling-window evaluations :meth:`_feed_classified` would make on ``parts``
        from the present state, guessing that the tracker's open attacks stay as they are,
        all made in one pass."""
        win, current = self.win, list(self.current)
        cur_n, eval_n, last_eval = self.cur_n, self.eval_n, self.last_eval
        guess_open = bool(self.tracker.open)
        epochs: list[list[pl.DataFrame]] = [current]
        evals: dict[int, tuple] = {}
        last_close: int | None = None
        for i, part in parts:
            last_win = part["win"].max()
            if win is None or last_win != win:
                if any(f.height for f in current) or part["win"].min() < last_win:
                    last_close = i  # a close that changes the client history
                part = part.filter(pl.col("win") == last_win)
                current, win = [part], last_win
                epochs.append(current)
                cur_n, eval_n, last_eval = 0, 0, None
            else:
                current.append(part)
            cur_n += part.height
            last_ts = part["ts"].max()
            due, cheap, elapsed = self._due(last_ts, last_eval, cur_n, eval_n, win)
            if due and cheap and (elapsed >= self.min_partial or guess_open):
                last_eval, eval_n = last_ts, cur_n
                evals[i] = (win, len(epochs) - 1, cur_n, elapsed, last_close)
        return _Partials.build(self, evals, epochs, closes) if evals else _Partials({}, {})

    def close(self) -> list[dict]:
        """End of input: evaluate the last window and close open attacks."""
        events = self._close_many(pl.concat(self.current, how="vertical_relaxed")) if self.current else []
        self.current = []
        return events + self.tracker.flush()


def _has_v6(df: pl.DataFrame) -> bool:
    return "ip_version" not in df.columns or bool((df["ip_version"] == 6).any())


def classify_records(df: pl.DataFrame, table: str, window_s: float, text_from_key: bool,
                     keep: dict[tuple[str, ...], list[str]]) -> pl.DataFrame:
    """What :meth:`StreamDetector.classify` makes of a frame, given the stream's text mode:
    a pure function of its arguments (``keep`` caches the kept columns per input layout), so
    it can run ahead on the reader's thread.

    Captures: while only IPv4 was fed (``text_from_key``) the heavy hitters' text is made
    from keys, and the records go on without theirs (one column less to copy). A reader asked
    for :data:`READ_COLUMNS` leaves the source text out (a fifth of its decoding): once IPv6
    shows up, such frames get the reader's own text here. The destination's text, left out
    too, is made from its numbers by the window tables."""
    if table == "packets":
        if text_from_key:
            df = df.drop("src_ip", strict=False)
        elif "src_ip" not in df.columns or df["src_ip"].null_count() == df.height > df["src_ip_lo"].null_count():
            df = df.with_columns(pl.Series("src_ip", features.address_text(df, "src"), pl.String))  # left out
        if "dst_ip" in df.columns and df["dst_ip"].null_count() == df.height:
            df = df.drop("dst_ip")
    lf = features.classify(df, table)
    key = tuple(df.columns)
    if key not in keep:  # resolving the plan's schema costs ~3 ms: once per input layout
        names = lf.collect_schema().names()
        numbers = "dst_ip" not in names
        keep[key] = [c for c in _KEEP if c in names and (numbers or c not in features.DST_NUMBERS)]
    return lf.select(keep[key]).with_columns(features.window_col(window_s)).collect()


def _classified_ahead(frames: Iterator[pl.DataFrame], det: StreamDetector,
                      rows: bool) -> Iterator[tuple[pl.DataFrame, pl.DataFrame, None]]:
    """(frame, its classified records, None) for :meth:`StreamDetector.feed_batch`, classified
    here (on the reader's thread, see :func:`_prefetch`) with the text mode the detector
    will be in when it takes the frame: the same stream order decides it. ``rows``: with
    the ``_row`` index early alerts slice by."""
    text_from_key = det.text_from_key
    for df in frames:
        if det.table == "packets" and text_from_key and _has_v6(df):
            text_from_key = False
        src = df.with_row_index("_row") if rows else df
        cl = classify_records(src, det.table, det.ws, text_from_key, det._keep)
        # Past here a capture's records are read through ``cl`` alone, and the replay's clock
        # through their times: the rest of the frame is freed now, not after its queue wait.
        yield (df.select("ts") if det.table == "packets" else df), cl, None


def _tables_ahead(items: Iterator[tuple], det: StreamDetector) -> Iterator[tuple]:
    """Bulk mode (one slice per batch): (frame, classified, (rows, window tables)) with the
    tables of the windows the batch closes, computed here, on a thread of their own, from
    the stream alone: the records before the batch's last window plus those held from the
    previous batch's last window, as :meth:`StreamDetector.feed_batch` finds them."""
    win, current = None, []
    for df, cl, _ in items:
        ahead = None
        if cl.height:
            last_win = cl["win"].max()
            if win is None or last_win != win:
                done, last = _split_last(cl, last_win)
                closing = [f for f in (*current, done) if f.height]
                if closing:
                    frame = pl.concat(closing, how="vertical_relaxed") if len(closing) > 1 else closing[0]
                    ahead = (frame.height, features.window_tables(frame, det.ws, det.table, detail=False, client_ips=False))
                current, win = [last], last_win
            else:
                current.append(cl)
        yield df, cl, ahead


def _split_last(part: pl.DataFrame, last_win: datetime) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(records before window ``last_win``, records in it): two slices when the records are
    in window order (no later fragment moved last), else two filters."""
    w = part["win"]
    if w.is_sorted():
        k = int(w.search_sorted(last_win, side="left"))
        return part.slice(0, k), part.slice(k)
    return part.filter(pl.col("win") < last_win), part.filter(pl.col("win") == last_win)


def _add_sources(ss: SpaceSaving, by_client: pl.DataFrame, records: pl.DataFrame, text_from_key: bool = False) -> None:
    """Merge closed windows' per-client counts into the heavy hitters, exactly as
    ``ss.add_frame`` of every (address, records, bytes) row would, but handing it only the
    ``k + 1`` clients that decide the merge (its top ``k`` and the next count); the rest only
    adds to the total. Measured on 1 M spoofed sources: the text of every client window was
    most of the close's cost. (One key per address: exact for IPv4, a 64-bit hash for IPv6.)

    ``text_from_key``: every source is IPv4 with the reader's dotted-quad text, so its text is
    made from its key (the IPv4-mapped address) for the ``k + 1`` clients kept, and ties are
    ranked by that text's order computed from the octets: no lookup in ``records`` (measured
    on the bench capture's spoofed flood, where a hundred thousand sources tie at the
    ``k + 1``-th count: 125 -> 30 ms per million packets)."""
    if by_client.height == 0:
        return
    per = by_client.group_by("src_key").agg(pl.col("records").sum().alias("count"), pl.col("bytes").sum())
    above, tied, need = per, None, 0
    if per.height > ss.k + 1:
        floor = per["count"].top_k(ss.k + 1).min()
        above = per.filter(pl.col("count") > floor)
        tied = per.filter(pl.col("count") == floor)
        need = ss.k + 1 - above.height
    if text_from_key:
        if tied is not None:
            keys = tied["src_key"].to_numpy()
            if need < len(keys):
                order = _text_rank(keys)
                tied = tied[np.sort(np.argpartition(order, need - 1)[:need])] if need > 0 else tied.clear()
            above = pl.concat([above, tied])
        ip = ipaddr.v4_strings(ipaddr.v4_ints(above["src_key"].to_numpy())).alias("ip")
        keep = above.with_columns(ip)
    else:
        keys = above["src_key"] if tied is None else pl.concat([above["src_key"], tied["src_key"]])
        text = (records.select("src_key", "src_ip").filter(pl.col("src_key").is_in(keys.implode()))
                .group_by("src_key").agg(pl.col("src_ip").first().alias("ip")))
        if text["ip"].has_nulls():
            # Records decoded without their text while only IPv4 was fed: their dotted quads.
            quads = ipaddr.v4_strings(ipaddr.v4_ints(text["src_key"].to_numpy()))
            text = text.with_columns(pl.when(pl.col("ip").is_null()).then(quads).otherwise(pl.col("ip")).alias("ip"))
        keep = above.join(text, on="src_key", how="left")
        if tied is not None:
            # Ties at the (k+1)-th count are taken by address text, as add_frame sorts them (a
            # spoofed flood's sources all tie at one or two packets).
            keep = pl.concat([keep, tied.join(text, on="src_key", how="left").bottom_k(need, by="ip")])
    ss.add_frame(keep.select("ip", "count", "bytes"))
    # add_frame added the kept clients' weight; the others count toward the total only.
    ss.total += float(per["count"].sum() - keep["count"].sum())


_OCTET_RANK = np.argsort(np.argsort(np.array([str(i) for i in range(256)]), kind="stable")).astype(np.uint64)
"""Rank of each octet's decimal text in string order ("1" < "10" < "100" < "101" < ... < "2"):
dotted quads compare as their octets' texts do, one octet after the other (a shorter text is
a prefix of the longer and its "." sorts before any digit, as the shorter string does)."""


def _text_rank(keys: np.ndarray) -> np.ndarray:
    """A number per IPv4(-mapped) key that sorts as the key's dotted-quad text does."""
    v4 = ipaddr.v4_ints(keys).astype(np.uint64)
    out = np.zeros(len(v4), dtype=np.uint64)
    for shift in (24, 16, 8, 0):
        out = (out << np.uint64(8)) | _OCTET_RANK[(v4 >> np.uint64(shift)) & np.uint64(255)]
    return out


def _step_windows(tracker: Tracker, cands: pl.DataFrame) -> list[dict]:
    """Closed windows' tracker steps, in time order (``cands``: their candidate rows, sorted
    by window; see :func:`~surgescope.attack.detect.window_rows`)."""
    events: list[dict] = []
    for win, rows in window_rows(cands):
        events += tracker.step(win, rows, record=False)
    return events


def _relevant(hist: pl.DataFrame, mine: pl.DataFrame) -> pl.DataFrame:
    """The client history of the clients in ``mine`` (the windows being closed) only: their
    rolling horizon sums are all the close reads, and each client's sums depend on its own
    rows alone (measured: the whole horizon rolled again was ~7% of a bulk replay)."""
    if hist.height == mine.height:
        return hist
    return hist.join(mine.select("dst_key", "src_key").unique(), on=["dst_key", "src_key"], how="semi", maintain_order="left")


def _past_sums(history: pl.DataFrame) -> pl.DataFrame:
    """Per-client sums of the closed windows within the horizon (for the filling window)."""
    return history.group_by("dst_key", "src_key").agg(
        pl.col("requests").sum().alias("p_req"), pl.col("conns").sum().alias("p_conn"),
        pl.col("assets").sum().alias("p_assets"), pl.col("req_bytes").sum().alias("p_req_bytes"))


class _Call:
    """One slice's share of a :class:`_Closes`: what ``_close_many`` would have done there."""

    def __init__(self, closes: _Closes, lo: datetime | None, hi: datetime | None, rows: tuple[int, int]):
        self.closes, self.lo, self.hi, self.rows = closes, lo, hi, rows

    def apply(self) -> list[dict]:
        if self.lo is None:  # nothing to close (the first slice)
            return []
        return self.closes.apply(self.lo, self.hi, self.rows)


class _Closes:
    """All the windows closed in one batch, evaluated with one pass of the batch definitions
    (window tables, rolling heavy clients, candidates), then applied per closing slice in
    order: tracker steps, heavy-hitter merge and client history exactly as ``_close_many``
    called once per slice does. Per-window results do not depend on how windows are grouped
    (every group-by and rolling sum is keyed by window), except the Space-Saving merges,
    which stay one per closing slice."""

    def __init__(self, det: StreamDetector, calls: dict[int, tuple], frame: pl.DataFrame,
                 tables: features.Windows | None = None):
        self.det = det
        self.calls = {i: _Call(self, *c) for i, c in calls.items()}
        self.last: datetime | None = None
        self.frame = frame
        w = tables or features.window_tables(frame, det.ws, det.table, detail=False, client_ips=False)
        mine = w.by_client.select(*CLIENT_COLS).filter(may_be_heavy(det.table))
        self.hist = mine if det.history is None else pl.concat([det.history, mine], how="vertical_relaxed")
        heavy = heavy_clients(features.Windows(w.by_class, w.by_dst, _relevant(self.hist, mine), w.table, w.window_s), det.th)
        self.cands = candidates(w, det.th, heavy)
        self.clients = w.by_client.select("win", "src_key", "records", "bytes")

    @staticmethod
    def build(det: StreamDetector, dones: dict[int, list[pl.DataFrame]],
              ahead: tuple[int, features.Windows] | None = None) -> _Closes | None:
        """None when there is nothing to close, or when the closing slices' windows are not
        disjoint and increasing (out-of-order records): then each slice closes on its own."""
        calls: dict[int, tuple] = {}
        frames, prev, n = [], None, 0
        for i, parts in dones.items():
            f = pl.concat(parts, how="vertical_relaxed") if len(parts) > 1 else parts[0]
            if f.height == 0:
                calls[i] = (None, None, (n, 0))
                continue
            lo, hi = f["win"].min(), f["win"].max()
            if prev is not None and lo <= prev:
                return None
            prev = hi
            calls[i] = (lo, hi, (n, f.height))  # its rows in the concatenated frame
            n += f.height
            frames.append(f)
        if not frames:
            return None
        frame = pl.concat(frames, how="vertical_relaxed")
        # Tables computed ahead (_tables_ahead) for the same records: a single closing slice.
        tables = ahead[1] if ahead is not None and len(frames) == 1 and ahead[0] == frame.height else None
        return _Closes(det, calls, frame, tables)

    def get(self, i: int) -> _Call | None:
        return self.calls.get(i)

    def apply(self, lo: datetime, hi: datetime, rows: tuple[int, int]) -> list[dict]:
        det = self.det
        inside = (pl.col("win") >= lo) & (pl.col("win") <= hi)
        events = _step_windows(det.tracker, self.cands.filter(inside))
        edge = hi + timedelta(seconds=det.ws - det.th.client_horizon_s)
        det._hist_src = (self.hist, edge, hi)
        det.past = None
        self.last = hi
        _add_sources(det.sources, self.clients.filter(inside), self.frame.slice(*rows), det.text_from_key)
        return events

    def finish(self, det: StreamDetector) -> None:
        """The client history after the batch's last close, for the next batch."""
        if self.last is not None:
            edge = self.last + timedelta(seconds=det.ws - det.th.client_horizon_s)
            det.history = self.hist.filter((pl.col("win") > edge) & (pl.col("win") <= self.last))


class _Partials:
    """Evaluations of filling windows at several slices of one batch, computed in one pass
    of the batch definitions: each evaluation's records (the window so far) are one more key
    (``_p``) of the window tables, with its own span and its own horizon sums (the closed
    windows' per-client counts as they stand then). Each evaluation's candidate rows are what
    ``_partial`` returns at that slice; the fixed cost of a Polars pass (~20 ms, most of the
    early-alert mode's time on sparse traffic) is paid once per batch, not per evaluation."""

    def __init__(self, evals: dict[int, tuple], rows: dict[int, list[dict]]):
        self.evals, self._rows = evals, rows
        self.missed = False  # an evaluation was asked that the plan did not make

    def rows(self, i: int, win: datetime, n: int) -> list[dict] | None:
        """The candidate rows of the evaluation at slice ``i``, if it was computed for the
        same window and records (None: evaluate on the spot)."""
        e = self.evals.get(i)
        if e is None or e[0] != win or e[2] != n:
            return None
        return self._rows.get(i, [])

    @staticmethod
    def build(det: StreamDetector, evals: dict[int, tuple], epochs: list[list[pl.DataFrame]],
              closes: _Closes | None) -> _Partials:
        items: list[tuple[datetime, pl.DataFrame, float, int]] = []
        pasts: list[pl.DataFrame | None] = []
        epoch_frames: dict[int, pl.DataFrame] = {}
        past_ids: dict[int | None, int] = {}
        for win, e, n, elapsed, last_close in evals.values():
            if e not in epoch_frames:
                parts = epochs[e]
                epoch_frames[e] = parts[0] if len(parts) == 1 else pl.concat(parts, how="vertical_relaxed")
            # The horizon sums as they stand at this slice: after the batch's last close
            # before it, or those from before the batch.
            call = closes.get(last_close) if closes is not None and last_close is not None else None
            key = last_close if call is not None else None
            if key not in past_ids:
                past_ids[key] = len(pasts)
                if call is None:
                    pasts.append(det._past_now())
                else:
                    assert closes is not None and call.hi is not None  # a close that changed the history
                    edge = call.hi + timedelta(seconds=det.ws - det.th.client_horizon_s)
                    pasts.append(_past_sums(closes.hist.filter((pl.col("win") > edge) & (pl.col("win") <= call.hi))))
            items.append((win, epoch_frames[e].slice(0, n), elapsed, past_ids[key]))
        return _Partials(evals, dict(zip(evals, _evaluate(det, items, pasts), strict=True)))


def _evaluate(det: StreamDetector, items: list[tuple[datetime, pl.DataFrame, float, int]],
              pasts: list[pl.DataFrame | None]) -> list[list[dict]]:
    """Evaluations of filling windows: for each (window, its records so far, time elapsed in
    it, index of its horizon sums in ``pasts``), the candidate rows of that window, all in one
    pass of the batch definitions (each evaluation is one more key ``_p`` of the window
    tables). Rates are over the time elapsed (at least ``min_partial_s``)."""
    frames = [f.with_columns(pl.lit(p, pl.UInt32).alias("_p")) for p, (_, f, _, _) in enumerate(items)]
    big = frames[0] if len(frames) == 1 else pl.concat(frames, how="vertical_relaxed")
    w = features.window_tables(big, det.ws, det.table, detail=False, client_ips=False, by=("_p",))
    cur = w.by_client.select(*CLIENT_COLS, "_p")
    tagged = [past.with_columns(pl.lit(k, pl.UInt32).alias("_past")) for k, past in enumerate(pasts)
              if past is not None and past.height]
    past_all = pl.concat(tagged, how="vertical_relaxed") if tagged else None
    if past_all is not None:
        cur = cur.with_columns(pl.col("_p").replace_strict(list(range(len(items))), [it[3] for it in items],
                                                           return_dtype=pl.UInt32).alias("_past"))
    heavy = det._heavy_rows(cur, past_all, by=("_past", "_p"))
    spans = [max(min(elapsed, det.ws), det.min_partial) for _, _, elapsed, _ in items]
    span = pl.col("_p").replace_strict(list(range(len(items))), spans, return_dtype=pl.Float64)
    cands = candidates(w, det.th, heavy, span_s=span, by=("_p",)).filter(pl.col("candidate"))
    out: list[list[dict]] = [[] for _ in items]
    for r in cands.to_dicts():
        p = r.pop("_p")
        if r["win"] == items[p][0]:  # only the filling window's rows act in a partial step
            out[p].append(r)
    return out


def _alert(e: dict, packet_time, replay_time, elapsed: float, detector: StreamDetector) -> dict:
    out = {
        "event": e["event"], "dst": e["dst"], "vector": e["vector"], "vectors": e["vectors"],
        "packet_time": iso(packet_time), "replay_time": iso(replay_time), "elapsed_s": round(elapsed, 6),
        "window": iso(e["window"]),
    }
    if "added" in e:
        out["added"] = e["added"]
    if e["event"] == "end" and "attack" in e:
        # slow HTTP (SlowStream): the figures of the whole attack, exact
        a = e["attack"]
        out.update(start=a["start"], end=a["end"], requests=a["requests"], sources=a["sources"],
                   top_sources=a["top_sources"][:10])
    elif e["event"] == "end":
        out["start"] = iso(e["start_win"])
        out["end"] = iso(e["end_win"])
        out["top_sources"] = [
            {"ip": s["ip"], "packets": int(s["count"]), "error_bound": int(s["error"]), "share": round(s["share"], 6)}
            for s in detector.sources.top(10)
        ]
        out["heavy_hitter_bound"] = detector.sources.bound()
    return out


def replay(path: str | Path, kind: str = "auto", speed: float = 1.0, thresholds: Thresholds | None = None,
           eval_every_s: float = 0.1, min_slice: int = 256) -> Iterator[dict]:
    """Replay ``path`` through :class:`StreamDetector`; yield alerts the moment they fire.

    ``speed``: 1 = the file's own pace, X = X times faster, 0 = as fast as possible. Records
    are handed over in slices of ``eval_every_s`` of traffic time (paced: each when the replay
    clock reaches its last record); as fast as possible, slices of sparse traffic are merged
    up to ``min_slice`` records so a file of rare records is not fed one by one, and each
    reader batch goes to :meth:`StreamDetector.feed_batch` in one call (the same slices and
    events, without classifying or closing windows slice by slice).
    ``eval_every_s=0`` is bulk mode: whole reader batches, windows evaluated only when they
    close (throughput first; alerts come at batch granularity).

    Logs and flow exports also go through :class:`~surgescope.attack.slow_stream.SlowStream`
    (slow HTTP shows in them only as connections end, not in per-window rates); its alerts come
    with the slice (or, as fast as possible, the reader batch) that completes the evidence.
    """
    if speed < 0:
        raise ValueError("speed must be >= 0")
    inp = open_input(path, kind)
    if inp.kind == "pcap":
        inp.options = {**inp.options, "columns": READ_COLUMNS}
    det = StreamDetector(inp.table, thresholds, eval_every_s=eval_every_s)
    slow = SlowStream(inp.table) if inp.table in ("requests", "flows") else None
    frames: Iterator = _frames(inp.batches(), READ_COLUMNS if inp.kind == "pcap" else None)
    # (frame, its classified records, its closing windows' tables), the last two made ahead.
    items: Iterator[tuple] = ((df, None, None) for df in frames)
    if speed <= 0:
        # As fast as possible: reader batches gathered to BULK_ROWS (BULK_FIRST first); the
        # streaming engine serves _close_many (the last window). The same events: slices and
        # alert times are those of the records, not of the batches (bulk mode's alerts fire at
        # the end of the batch that holds their evidence). Each batch is classified on the
        # reader's thread too (its Polars work releases the GIL): the detector's thread starts
        # with the closes (bench capture, medians of 8 alternating fresh runs: bulk 1.01 ->
        # 0.98 s; the reader and classification take about as long as the closes).
        items = _classified_ahead(_gathered(frames, BULK_ROWS, BULK_FIRST), det, rows=eval_every_s > 0)
        det.engine = "streaming"
        if eval_every_s <= 0:
            # Bulk mode: the closing windows' tables on a third thread, so that reading,
            # classifying, the tables and the detector's steps overlap (medians of 12
            # alternating fresh runs: 0.96 -> 0.91 s).
            items = _tables_ahead(_prefetch(items), det)
    wall0 = time.monotonic()
    t0 = None
    last = None
    for df, classified, ahead in _prefetch(items):
        if t0 is None:
            t0 = df["ts"][0]
        ts_ns = df["ts"].dt.epoch("ns").to_numpy()
        t0_ns = int(t0.timestamp() * 1e9) if isinstance(t0, datetime) else int(t0)
        if eval_every_s > 0:
            step_ns = int(eval_every_s * 1e9)
            cuts = np.flatnonzero(np.diff((ts_ns - t0_ns) // step_ns)) + 1
            if speed <= 0 and len(cuts):
                cuts = _merge_cuts(cuts, min_slice)
        else:
            cuts = np.zeros(0, dtype=np.int64)  # bulk mode: whole reader batches
        ends = np.concatenate([cuts, [df.height]]).astype(int)
        if speed <= 0:
            # As fast as possible: the same slices, fed in one call (see feed_batch).
            # Alerts made as their slices are applied (an end alert's heavy hitters are those
            # of that moment), slow HTTP's in pieces of its own step, then all in time order.
            fired = [(t, _alert(e, t, t, time.monotonic() - wall0, det))
                     for i, events in det.feed_batch(df, ends, classified=classified, ahead=ahead)
                     for t in [df["ts"][int(ends[i]) - 1]] for e in events]
            if slow:
                fired += [(t, _alert(e, t, t, time.monotonic() - wall0, det)) for t, e in _slow_pieces(slow, df, ts_ns)]
                fired.sort(key=lambda ta: ta[0])
            yield from (alert for _, alert in fired)
            last = df["ts"][-1]
            continue
        due = wall0 + (ts_ns[ends - 1] - t0_ns) / 1e9 / speed
        a = 0
        for i, b in enumerate(ends):
            # A replay that has fallen behind hands over every slice already due at once: one
            # at a time (a sparse log at high speed: a line a slice) cost ~2 ms each, and it
            # never caught up.
            if i + 1 < len(ends) and due[i + 1] <= time.monotonic():
                continue
            part = df.slice(int(a), int(b - a))
            a = b
            last = part["ts"][-1]
            wait = due[i] - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            behind = wait < -eval_every_s / speed
            events = det.feed(part, early=not behind) + (slow.feed(part) if slow else [])
            for e in events:
                yield _alert(e, last, _clock(t0, wall0, speed, last), time.monotonic() - wall0, det)
    for e in det.close() + (slow.close() if slow else []):
        yield _alert(e, last, _clock(t0, wall0, speed, last), time.monotonic() - wall0, det)


def _slow_pieces(slow: SlowStream, df: pl.DataFrame, ts_ns: np.ndarray) -> list[tuple[datetime, dict]]:
    """``df`` fed to ``slow`` in pieces of its ``every`` step; (time of the piece's last
    record, event) of what they fire."""
    step = int(slow.every.total_seconds() * 1e9)
    buckets = ts_ns // step
    cuts = np.concatenate([[0], np.flatnonzero(np.diff(buckets)) + 1, [df.height]]).astype(int)
    # The pieces' slow-HTTP records made at once (each from its own row), then cut by the
    # same time steps; records out of time order are made piece by piece instead.
    recs = slow.records(df)
    rb = recs["ts"].dt.epoch("ns").to_numpy() // step
    whole = bool(np.all(np.diff(buckets) >= 0) and np.all(np.diff(rb) >= 0))
    out = []
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        if b > a:
            part = None
            if whole:
                lo, hi = np.searchsorted(rb, [buckets[a], buckets[a] + 1])
                part = recs.slice(int(lo), int(hi - lo))
            out += [(df["ts"][int(b) - 1], e) for e in slow.feed(df.slice(int(a), int(b - a)), part)]
    return out


BULK_ROWS = 600_000
"""Records per detector call in a replay as fast as possible. Each call has a fixed cost
(~50 ms: plans, the client history, heavy-hitter merge, tracker), so larger calls amortise it;
with the compiled frame decode the reader keeps ahead of them (bench capture, medians of 8
alternating fresh runs: 400 k 1.13 s, 500 k 1.07 s, 600 k 1.03 s; before that decode, larger
calls lost the overlap with the reader thread)."""

BULK_FIRST = 150_000
"""Records of the first such call; the next ones double up to :data:`BULK_ROWS`. The detector
starts once the reader has this many instead of waiting for a full batch (bench capture, 1 M
packets, medians of 8 alternating fresh runs: wall 1.24 -> 1.04 s; starting at 100 k gained
less). Bulk mode's alerts fire at batch ends, so their ``packet_time`` moves with this; their
windows, vectors and order do not."""


def _gathered(frames: Iterator[pl.DataFrame], rows: int, first: int | None = None) -> Iterator[pl.DataFrame]:
    """Consecutive frames concatenated until they hold at least ``rows`` records; with
    ``first``, the first batch holds at least that many and the next ones double up to
    ``rows`` (the detector starts while the reader is still filling its larger batches)."""
    buf: list[pl.DataFrame] = []
    held = 0
    target = rows if first is None else min(first, rows)
    for df in frames:
        buf.append(df)
        held += df.height
        if held >= target:
            yield pl.concat(buf, how="vertical_relaxed") if len(buf) > 1 else buf[0]
            buf, held = [], 0
            target = min(2 * target, rows)
    if buf:
        yield pl.concat(buf, how="vertical_relaxed") if len(buf) > 1 else buf[0]


def _frames(batches: Iterable, columns: Sequence[str] | None = None) -> Iterator[pl.DataFrame]:
    """Reader batches as time-ordered Polars frames (empty ones skipped). ``columns``: only
    these (those the reader was asked for: the others are null, and converting null string
    columns to Polars cost 26 ms and 16 MB of fresh memory per million records each)."""
    for batch in batches:
        df = pl.from_arrow(batch if columns is None else batch.select(list(columns)))
        assert isinstance(df, pl.DataFrame)
        if df.height:
            yield df.sort("ts") if not df["ts"].is_sorted() else df


def _prefetch(items: Iterator, depth: int = 2) -> Iterator:
    """``items`` produced by a background thread, up to ``depth`` ahead: the reader decodes
    the next batch while the detector's Polars work (which releases the GIL) runs on this
    one. Exceptions (bad input) are raised here, in order; closing this generator early
    (a consumer that stops at the first alert) stops the thread at its next batch."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(x) -> bool:
        while not stop.is_set():
            try:
                q.put(x, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for x in items:
                if not put((None, x)):
                    return
            put((None, done))
        except BaseException as e:  # handed to the consumer, raised there
            put((e, None))

    t = threading.Thread(target=work, name="surgescope-replay-reader", daemon=True)
    t.start()
    try:
        while True:
            err, x = q.get()
            if err is not None:
                raise err
            if x is done:
                return
            yield x
    finally:
        stop.set()


def _merge_cuts(cuts: np.ndarray, min_slice: int) -> np.ndarray:
    """Keep only the cuts that leave at least ``min_slice`` records since the previous kept one
    (a loop over time steps, not records)."""
    kept, prev = [], 0
    for c in cuts.tolist():
        if c - prev >= min_slice:
            kept.append(c)
            prev = c
    return np.asarray(kept, dtype=np.int64)


def _clock(t0, wall0: float, speed: float, last):
    """The replay clock: where the replay is on the capture's time axis now."""
    if t0 is None:
        return None
    if speed <= 0:
        return last
    return t0 + timedelta(seconds=(time.monotonic() - wall0) * speed)
