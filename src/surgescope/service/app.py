"""The live service: FastAPI routes over the report and traffic state.

Endpoints (docs/service.md has curl examples):

- ``POST /v1/reports``: crowd reports or counts as a JSON list (or CSV / JSON lines, read by
  the reports reader); bad records are rejected with their index and reason, the rest kept.
- ``POST /v1/traffic?kind=auto|pcap|access-log|flows``: a capture, access log or flow file, raw
  body or multipart, read by :mod:`surgescope.sources`; attacks are analysed after each upload.
- ``GET /v1/status``, ``GET /v1/alerts``, ``GET /metrics``, ``GET /healthz``, ``GET /``.

Errors are one-line JSON ``{"error": "..."}`` with 400 (bad input), 404, 405, 413 (body over
the limit) or 415 (content type not accepted); an unexpected failure is logged and answered
with a one-line 500, never a traceback.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections import deque
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from surgescope import __version__
from surgescope.incident import iso
from surgescope.service import detector as det
from surgescope.service.dashboard import PAGE
from surgescope.service.metrics import Metrics
from surgescope.service.persist import Persist
from surgescope.service.reports import ReportState, parse_records
from surgescope.service.traffic import Analyzer, TrafficState
from surgescope.service.upload import MAX_BODY, UploadError, receive

log = logging.getLogger("surgescope.service")

#: Largest JSON report body (JSON is parsed in memory, so it has its own, smaller limit).
MAX_JSON_BODY = 32 * 2**20
#: Alerts kept in memory.
MAX_ALERTS = 1000
TRAFFIC_KINDS = ("auto", "pcap", "access-log", "flows")
#: Attack fields an alert carries (the full attack, with its top sources, is in the status).
ALERT_ATTACK_FIELDS = ("start", "end", "vector", "vectors", "target", "packets", "bytes",
                       "peak_pps", "peak_bps", "peak_rps", "sources")
#: Report bodies by content type: a JSON list, a file for the reports reader, or either
#: (told apart by the first byte: ``[`` is a JSON list).
JSON_TYPES = ("application/json",)
FILE_TYPES = ("text/csv", "application/x-ndjson", "application/jsonl", "text/plain", "multipart/form-data")
SNIFFED_TYPES = ("", "application/x-www-form-urlencoded", "application/octet-stream")


def _default(o: Any) -> Any:
    if hasattr(o, "item"):  # NumPy scalars from the analyses
        return o.item()
    if isinstance(o, datetime):
        return iso(o)
    if isinstance(o, set | tuple):
        return list(o)
    return str(o)


def _finite(o: Any) -> Any:
    """NaN and infinities (not JSON) as null, recursively."""
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_finite(v) for v in o]
    return o


def json_response(body: Any, status: int = 200) -> Response:
    try:
        text = json.dumps(body, default=_default, ensure_ascii=False, allow_nan=False)
    except ValueError:  # a NaN from an analysis: strict JSON has no such number
        text = json.dumps(_finite(json.loads(json.dumps(body, default=_default))), ensure_ascii=False)
    return Response(text, status_code=status, media_type="application/json")


def error(status: int, message: str) -> Response:
    """One-line JSON error; the message is flattened to one line."""
    return json_response({"error": " ".join(str(message).split())[:500]}, status)


class Service:
    """The state behind the routes: reports, traffic, alerts, metrics, one lock."""

    def __init__(self, analyze: Analyzer | None = None, window_s: float = 300.0,
                 max_body: int = MAX_BODY, clock=time.time, db: str | Path | None = None) -> None:
        self.lock = threading.Lock()
        self.metrics = Metrics()
        self.max_body = max_body
        self.reports = ReportState(clock=clock)
        self.traffic = TrafficState(analyze, window_s=window_s)
        self.alerts: deque[dict] = deque(maxlen=MAX_ALERTS)
        self._alert_id = 0
        self.started = time.time()
        self.persist = Persist(db) if db else None
        if self.persist:
            self._resume()

    def _resume(self) -> None:
        """Reload what the DuckDB file kept; alerts already fired do not fire again."""
        p = self.persist
        self.reports.load(p.load_bins(), p.load_breakdown())
        for t in p.load_tables():
            self.traffic.load(**t)
        self.alerts.extend(p.load_alerts(MAX_ALERTS))
        self._alert_id = max((a["id"] for a in self.alerts), default=0)
        self.reports.refresh()
        self.reports.alerts()  # the restored waves were announced before the restart
        self.traffic.drop_alerts()

    def fire(self, alerts: list[dict]) -> None:
        fired = []
        for a in alerts:
            self._alert_id += 1
            a = {"id": self._alert_id, "fired_at": iso(int(time.time() * 1e9)), **a}
            self.alerts.append(a)
            fired.append(a)
            log.warning("alert %s %s: %s", a["id"], a.get("type"), a.get("message"))
        self.metrics.inc("alerts_fired", len(alerts))
        if self.persist and fired:
            self.persist.add_alerts(json.loads(json.dumps(fired, default=_default)))

    def add_reports(self, records: list, rejected: int, samples: list[dict]) -> dict:
        with self.lock:
            over = self.reports.add(records)
            if self.persist:
                skip = {r["where"] for r in over}
                kept = [r for i, r in enumerate(records) if i not in skip]
                self.persist.add_bins([(svc, m, c) for m, c, svc, _, _ in kept])
                self.persist.add_breakdown(
                    [(svc, "region", reg, c) for _, c, svc, reg, _ in kept if reg is not None]
                    + [(svc, "problem", prob, c) for _, c, svc, _, prob in kept if prob is not None])
            self.reports.refresh()
            self.fire(self.reports.alerts())
        accepted = len(records) - len(over)
        rejected += len(over)
        self.metrics.inc("reports_received", sum(r[1] for r in records))
        self.metrics.inc("report_records_rejected", rejected)
        return {"accepted": accepted, "rejected": rejected, "rejections": (samples + over)[:20]}

    def status(self) -> dict:
        with self.lock:
            services = self.reports.status()
            self.fire(self.reports.alerts())
            traffic = self.traffic.status()
            self.fire(self.traffic.drop_alerts())
            alerts = list(self.alerts)[-50:]
        return {
            "version": __version__,
            "now": iso(int(time.time() * 1e9)),
            "report_clock": iso(self.reports.now_minute() * 10**9) if self.reports.now_minute() else None,
            "detector": det.NAME,
            "services": services,
            "outage": any(s["outage"] for s in services),
            "traffic": traffic["tables"],
            "attack": traffic["attack"],
            "attacks": traffic["attacks"],
            "attack_detector": traffic["attack_detector"],
            "alerts": alerts,
        }


def _attack_alert(kind: str, table: str, a: dict) -> dict:
    what = f"{a.get('vector', 'unknown vector')} on {a.get('target') or 'the network'}"
    if kind == "attack-start":
        at, message = a.get("start"), f"attack: {what} from {a.get('sources', '?')} sources"
    else:
        at, message = a.get("end"), f"attack over: {what} ({a.get('packets', '?')} packets)"
    return {"type": kind, "table": table, "at": at, "message": message,
            "attack": {k: a.get(k) for k in ALERT_ATTACK_FIELDS}}


def _drop_future(table: pa.Table) -> tuple[pa.Table, list[int]]:
    """Records dated more than a day after the wall clock, removed (1-based positions).

    The traffic clock follows the latest record: one packet from a broken clock in 2999 would
    otherwise push every real record out of the analysis window.
    """
    import pyarrow.compute as pc

    horizon = int((time.time() + 86_400) * 1e9)
    late = pc.greater(table["ts"].cast(pa.int64()), horizon)
    if not pc.any(late).as_py():
        return table, []
    where = pc.indices_nonzero(late).to_pylist()
    return table.filter(pc.invert(late)), [i + 1 for i in where]


def _read_traffic(service: Service, path: Path, kind: str, label: str) -> dict:
    """Read an uploaded file with the project's readers and ingest it (runs in a thread)."""
    from surgescope.sources import InputError, open_input

    try:
        inp = open_input(path, kind)
        if inp.kind == "reports":
            raise InputError(f"{label}: this is a reports file; post it to /v1/reports")
        table = inp.read_all()
    except InputError as e:
        raise UploadError(400, str(e).replace(str(path), label)) from None
    rej = inp.rejections
    table, future = _drop_future(table)
    if future:
        rej.add_many(future[: rej.max_samples], "dated more than a day in the future (accepted-record number)")
        rej.count += len(future) - len(future[: rej.max_samples])
    service.metrics.inc("records_ingested", table.num_rows)
    service.metrics.inc("records_rejected", rej.count)
    if table.num_rows == 0:
        reason = rej.samples[0].reason if rej.samples else "no records"
        raise UploadError(400, f"{label}: no record could be read ({rej.count} rejected; first: {reason})")
    # The attack analysis runs outside the lock so status polls and other uploads are not
    # held up by it; adding the records and merging the results are locked.
    with service.lock:
        window = service.traffic.add(inp.table, table, rej.count)
    records = table.num_rows
    analysis_error = None
    try:
        found = service.traffic.find(inp.table, window)
    except Exception as e:  # the records are in; a failing analysis must not lose them
        log.exception("attack analysis failed on %s", label)
        found, analysis_error = [], f"attack analysis failed ({type(e).__name__}); records kept"
    with service.lock:
        events = service.traffic.merge(inp.table, found)
        service.fire([_attack_alert(what, inp.table, a) for what, a in events])
        service.fire(service.traffic.drop_alerts())
        if service.persist:
            st = service.traffic.tables[inp.table]
            service.persist.save_table(inp.table, st.seconds, st.records_total, st.rejected_total,
                                       st.uploads, st.latest_ns,
                                       json.loads(json.dumps(st.attacks, default=_default)))
    del table, window, found
    # Hand the upload's Arrow buffers back to the system now, not at some later allocation.
    pa.default_memory_pool().release_unused()
    result = {"kind": inp.kind, "format": inp.format, "table": inp.table, "records": records,
              "rejected": rej.count, "rejections": rej.to_dict()["samples"],
              "attacks_new": sum(1 for what, _ in events if what == "attack-start")}
    if analysis_error:
        result["analysis_error"] = analysis_error
    return result


def _read_reports_json(path: Path) -> tuple[list, int, list[dict]]:
    """Reports posted as one JSON list of objects."""
    try:
        items = json.loads(path.read_bytes())
    except (ValueError, RecursionError) as e:
        raise UploadError(400, f"body is not JSON ({e})") from None
    records, samples = parse_records(items)
    return records, len(samples), samples[:20]


def _read_reports_file(path: Path, label: str) -> tuple[list, int, list[dict]]:
    """Reports posted as CSV or JSON lines, read by the project's reports reader."""
    from surgescope.sources import InputError, open_input

    try:
        inp = open_input(path, "reports")
        table = inp.read_all()
    except InputError as e:
        raise UploadError(400, str(e).replace(str(path), label)) from None
    ts = table["ts"].cast("int64").to_pylist()
    records = [
        (t // 60_000_000_000 * 60, c, s or "unknown", r, p)
        for t, c, s, r, p in zip(ts, *(table[k].to_pylist() for k in ("count", "service", "region", "problem")), strict=True)
    ]
    samples = [{"where": r.where, "reason": f"{inp.rejections.unit} {r.where}: {r.reason}"}
               for r in inp.rejections.samples]
    return records, inp.rejections.count, samples


def create_app(db: str | Path | None = None, analyze: Analyzer | None = None,
               window_s: float = 300.0, max_body: int = MAX_BODY) -> FastAPI:
    """The surgescope service as an ASGI app (``surgescope serve`` runs it with uvicorn).

    Report counts are scored by :mod:`surgescope.service.detector`; ``analyze(table,
    table_name)`` finds attacks in a window of traffic (default:
    :func:`surgescope.attack.analyze`). ``db`` (or ``$SURGESCOPE_DB``) is a DuckDB file keeping
    the state across restarts (:mod:`surgescope.service.persist`); without it the state is in
    memory only. ``window_s`` is the traffic window analysed after each upload; ``max_body``
    the largest request body in bytes.

    >>> app = create_app()
    >>> sorted(r.path for r in app.routes if r.path.startswith("/v1"))
    ['/v1/alerts', '/v1/reports', '/v1/status', '/v1/traffic']
    """
    db = db or os.environ.get("SURGESCOPE_DB") or None
    svc = Service(analyze, window_s=window_s, max_body=max_body, db=db)
    app = FastAPI(title="surgescope", version=__version__, docs_url=None, redoc_url=None)
    app.state.service = svc

    @app.middleware("http")
    async def timing(request: Request, call_next):
        t0 = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception:  # the last line of defence: log it, answer one line
            log.exception("unhandled error on %s", request.url.path)
            response = error(500, "internal error (logged by the server)")
        route = request.scope.get("route")
        # The route template, not the raw path: arbitrary paths must not create new series.
        svc.metrics.observe_request(getattr(route, "path", "other"), response.status_code,
                                    time.perf_counter() - t0)
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return error(exc.status_code, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()))
        return error(400, f"{where}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(UploadError)
    async def upload_error(request: Request, exc: UploadError):
        svc.metrics.inc("uploads_rejected")
        return error(exc.status, str(exc))

    @app.post("/v1/reports")
    async def post_reports(request: Request):
        full_type = request.headers.get("content-type", "")
        ctype = full_type.split(";")[0].strip().lower()
        if ctype not in JSON_TYPES + FILE_TYPES + SNIFFED_TYPES:
            raise UploadError(415, f"content type {ctype[:80]!r} not accepted: send application/json, "
                                   "text/csv or application/x-ndjson")
        limit = min(MAX_JSON_BODY, svc.max_body) if ctype in JSON_TYPES else svc.max_body
        up = await receive(request.stream(), full_type, request.headers.get("content-length"), limit)
        try:
            if ctype in SNIFFED_TYPES:  # curl -d / --data-binary without a content type
                with up.path.open("rb") as f:
                    ctype = "application/json" if f.read(4096).lstrip()[:1] == b"[" else "text/csv"
            if ctype in JSON_TYPES:
                if up.size > MAX_JSON_BODY:
                    raise UploadError(413, f"a JSON body is parsed in memory: over the limit of {MAX_JSON_BODY} "
                                           "bytes; send JSON lines or CSV instead")
                records, rejected, samples = await run_in_threadpool(_read_reports_json, up.path)
            else:
                records, rejected, samples = await run_in_threadpool(
                    _read_reports_file, up.path, up.filename or "body")
        finally:
            up.remove()
        if not records:
            first = samples[0]["reason"] if samples else "empty list"
            raise UploadError(400, f"no valid report in the body ({rejected} rejected; first: {first})")
        return json_response(await run_in_threadpool(svc.add_reports, records, rejected, samples[:20]))

    @app.post("/v1/traffic")
    async def post_traffic(request: Request, kind: str = "auto"):
        # Any content type but multipart is the file itself (curl --data-binary sends
        # form-urlencoded by default, and the bytes are intact).
        ctype = request.headers.get("content-type", "").lower()
        up = await receive(request.stream(), ctype, request.headers.get("content-length"), svc.max_body)
        try:
            kind = up.fields.get("kind", kind)
            if kind not in TRAFFIC_KINDS:
                raise UploadError(400, f"unknown kind {kind[:40]!r} (choose from {', '.join(TRAFFIC_KINDS)})")
            if up.size == 0:
                raise UploadError(400, "empty body")
            result = await run_in_threadpool(_read_traffic, svc, up.path, kind, up.filename or "body")
        finally:
            up.remove()
        return json_response(result)

    @app.get("/v1/status")
    async def status():
        return json_response(await run_in_threadpool(svc.status))

    @app.get("/v1/alerts")
    async def alerts(since: int = 0):
        with svc.lock:
            items = [a for a in svc.alerts if a["id"] > since]
        return json_response({"alerts": items})

    @app.get("/metrics")
    async def metrics():
        return PlainTextResponse(svc.metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/healthz")
    async def healthz():
        return json_response({"status": "ok", "version": __version__,
                              "uptime_s": round(time.time() - svc.started, 3)})

    @app.get("/")
    async def dashboard():
        return HTMLResponse(PAGE, headers={
            # The page needs nothing from elsewhere: forbid it outright.
            "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; "
                                       "style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:",
            "X-Content-Type-Options": "nosniff",
        })

    return app

