"""The QA web app over the call index: calls, filters, trends, reports and review notes.

`tonewatch serve [--db PATH] [--port N] [--host ADDR] [--token TOKEN]` serves, from the
call index (`monitor.callindex`):

- ``/``: the calls table, filtered (agent, date range, kind or phrase cue, minimum
  severity, reviewed or not) and sorted (worst first, date, duration, alerts, agent),
  50 rows a page however many calls match; ``/export.csv`` the same filter as CSV (the QA
  columns, with the reviewers' marks and notes);
- ``/trends``: per-agent weekly plots (alerts per hour of talk, seconds raised or yelling,
  interruptions, good signs), drawn on the server as SVG;
- ``/call/ID``: one call, with its report (`monitor.report.write_report`, with the
  recording as a player when the file is reachable) and a form to mark it reviewed and
  leave a note, kept in the index (``reviews`` table) and exported with the rest.

Built on Starlette (a small, maintained ASGI toolkit: routing, forms, responses, nothing
else) served by uvicorn (its reference server), with Jinja2 templates that escape every
value. It listens on 127.0.0.1; any other address needs a token (logs hold what callers
said): `--token`, or one is made and printed. A browser presents it once as
``?token=...`` and keeps it in an HttpOnly cookie. Reports are cached beside the index in
a 0700 folder, each file 0600, and shown in a sandboxed frame (its script runs, but
apart from the app: no access to its pages, cookies or forms).
"""

from __future__ import annotations

import argparse
import contextlib
import hmac
import html
import ipaddress
import os
import secrets
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from alerts.model import KINDS, SEVERITIES
from monitor.callindex import SORTS, CallIndex, Filters, IndexDbError, default_db
from monitor.errors import EXIT_USAGE, CommandError
from monitor.qa_columns import default_cues
from monitor.review import SHORT, csv_text, worst_text

PAGE_SIZE = 50
COOKIE = "tonewatch_token"
LOOPBACK = ("127.0.0.1", "::1", "localhost")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", metavar="PATH", help=f"call index database (default: {default_db()})"
    )
    parser.add_argument("--port", type=int, default=8765, help="TCP port (default: 8765)")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        metavar="ADDR",
        help="address to listen on (default: 127.0.0.1, this machine only; any other "
        "address needs a token)",
    )
    parser.add_argument(
        "--token",
        metavar="TOKEN",
        help="access token (default: none on 127.0.0.1; made up and printed otherwise; "
        "or TONEWATCH_TOKEN)",
    )


def is_loopback(host: str) -> bool:
    if host in LOOPBACK:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    import uvicorn

    if not 0 < args.port < 65536:
        raise CommandError(f"--port {args.port}: give a port from 1 to 65535", EXIT_USAGE)
    token = args.token or os.environ.get("TONEWATCH_TOKEN") or None
    if token is not None and len(token) < 16:
        raise CommandError("--token: use at least 16 characters", EXIT_USAGE)
    if token is None and not is_loopback(args.host):
        token = secrets.token_urlsafe(24)
    db = Path(args.db) if args.db else default_db()
    try:
        CallIndex(db).close()
    except IndexDbError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    app = create_app(db, token)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{shown}:{args.port}/"
    print(f"tonewatch serve: {db} at {url}" + (f"?token={token}" if token else ""), flush=True)
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning")
    server = uvicorn.Server(config)
    try:
        server.run()
    except (OSError, SystemExit) as exc:
        raise CommandError(f"{args.host}:{args.port}: cannot listen ({exc})", EXIT_USAGE) from None
    return 0 if server.started else EXIT_USAGE


# -- the app ---------------------------------------------------------------------------------


def _templates() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(_template_source), autoescape=True, trim_blocks=True
    )
    env.filters["clock"] = _clock
    env.filters["pct"] = lambda v: "-" if v is None else f"{100 * float(v):.0f}%"
    env.filters["local"] = _local
    return env


def _template_source(name: str) -> str:
    return resources.files("monitor").joinpath("serve_assets", name).read_text(encoding="utf-8")


def _clock(seconds: Any) -> str:
    m, s = divmod(int(round(float(seconds or 0))), 60)
    return f"{m:02d}:{s:02d}"


def _local(iso: str | None) -> str:
    if not iso:
        return "?"
    return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")


def _day(text: str | None, end: bool = False) -> datetime | None:
    """A date box's value (YYYY-MM-DD) as the start of that day, or the next (`end`)."""
    if not text:
        return None
    try:
        day = datetime.fromisoformat(text)
    except ValueError:
        return None
    if day.tzinfo is None:
        day = day.astimezone()
    return day + timedelta(days=1) if end and len(text) <= 10 else day


class Query:
    """The filters, order and page of a request to the calls table or the export."""

    def __init__(self, params: Any) -> None:
        self.agent = (params.get("agent") or "").strip()
        self.since = params.get("since") or ""
        self.until = params.get("until") or ""
        self.kind = params.get("kind") or ""
        self.severity = params.get("severity") or ""
        self.reviewed = params.get("reviewed") or ""
        sort = params.get("sort") or "worst"
        self.sort = sort if sort in SORTS else "worst"
        self.reverse = params.get("reverse") == "1"
        try:
            self.page = max(1, int(params.get("page") or 1))
        except ValueError:
            self.page = 1

    def filters(self) -> Filters:
        return Filters(
            kinds={self.kind} if self.kind else set(),
            since=_day(self.since),
            until=_day(self.until, end=True),
            agent=self.agent or None,
            min_severity=self.severity if self.severity in SEVERITIES else None,
            reviewed={"yes": True, "no": False}.get(self.reviewed),
        )

    def params(self, **change: Any) -> str:
        values = {
            "agent": self.agent,
            "since": self.since,
            "until": self.until,
            "kind": self.kind,
            "severity": self.severity,
            "reviewed": self.reviewed,
            "sort": self.sort,
            "reverse": "1" if self.reverse else "",
            "page": str(self.page),
        }
        values.update({k: str(v) for k, v in change.items()})
        return urlencode({k: v for k, v in values.items() if v})


def create_app(db: Path, token: str | None = None, report_dir: Path | None = None) -> Any:
    """The Starlette app over the index at `db` (opened once; SQLite in WAL mode lets the
    other writers carry on meanwhile)."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, RedirectResponse, Response
    from starlette.routing import Route

    idx = CallIndex(db, timeout_s=10.0, any_thread=True)
    env = _templates()
    reports = report_dir or db.with_name(db.name + ".reports")
    css = _template_source("serve.css")
    kinds = list(KINDS)
    cues = sorted({n for _, n, _ in default_cues()})

    def page(name: str, status: int = 200, **values: Any) -> HTMLResponse:
        body = env.get_template(name).render(css=css, **values)
        return HTMLResponse(body, status_code=status, headers=_SECURITY_HEADERS)

    def not_found(what: str) -> HTMLResponse:
        return page("message.html", 404, title="Not found", message=what)

    async def calls(request: Request) -> Response:
        q = Query(request.query_params)
        f = q.filters()
        total = idx.count(f)
        pages = max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE)
        q.page = min(q.page, pages)
        rows = idx.query(f, q.sort, q.reverse, limit=PAGE_SIZE, offset=(q.page - 1) * PAGE_SIZE)
        for r in rows:
            r["counts"] = ", ".join(f"{SHORT.get(k, k)} {r[k]}" for k in KINDS if r.get(k))
            r["worst"] = worst_text(r)
        return page(
            "calls.html",
            q=q,
            rows=rows,
            total=total,
            pages=pages,
            agents=idx.agents(),
            kinds=kinds,
            cues=sorted(set(cues) | set(idx.cue_names())),
            severities=SEVERITIES,
            sorts=SORTS,
        )

    async def export(request: Request) -> Response:
        q = Query(request.query_params)
        rows = idx.query(q.filters(), q.sort, q.reverse)
        return Response(
            csv_text(rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="tonewatch-calls.csv"'},
        )

    async def trends(request: Request) -> Response:
        q = Query(request.query_params)
        f = q.filters()
        chosen = request.query_params.getlist("agents")
        data = idx.trends(f)
        top = _busiest(data, 6)
        shown = [a for a in chosen if a] or top
        series = [d for d in data if d["agent"] in shown]
        plots = [
            (title, _svg_lines(series, key, unit))
            for title, key, unit in (
                ("Alerts per hour of talk", "alerts_per_talk_h", "/h"),
                ("Agent's time raised or yelling (s)", "agent_raised_s", "s"),
                ("Interruptions by the agent", "interruptions", ""),
                ("Good signs (apology, empathy)", "good_signs", ""),
            )
        ]
        return page(
            "trends.html",
            q=q,
            plots=plots,
            agents=idx.agents(),
            shown=shown,
            legend=[(a, _colour(i)) for i, a in enumerate(shown)],
        )

    async def call(request: Request) -> Response:
        row = _call_or_none(request)
        if row is None:
            return not_found("No such call in the index.")
        alerts = idx.alerts(row["id"])
        back = request.query_params.get("back") or ""
        return page(
            "call.html",
            row=row,
            alerts=alerts,
            audio=_audio_files(row),
            log_exists=Path(row["log"]).is_file(),
            back=back if back.startswith("/") and not back.startswith("//") else "/",
            saved=request.query_params.get("saved") == "1",
        )

    async def report(request: Request) -> Response:
        row = _call_or_none(request)
        if row is None:
            return not_found("No such call in the index.")
        log = Path(row["log"])
        if not log.is_file():
            return not_found(f"The log {log} is not there any more.")
        try:
            path = await run_in_threadpool(_report_file, row, reports)
        except CommandError as exc:
            return page("message.html", 500, title="No report", message=str(exc))
        if row.get("report") != str(path):
            with contextlib.suppress(IndexDbError):
                idx.set_report(row["id"], path)
        return HTMLResponse(path.read_text(encoding="utf-8"), headers=_REPORT_HEADERS)

    async def review(request: Request) -> Response:
        if not _same_origin(request):
            return page("message.html", 403, title="Refused", message="Cross-site form refused.")
        row = _call_or_none(request)
        if row is None:
            return not_found("No such call in the index.")
        form = await request.form()
        note = str(form.get("note") or "").strip()[:4000]
        idx.set_review(row["id"], form.get("reviewed") == "on", note)
        back = str(form.get("back") or "/")
        where = f"/call/{row['id']}?" + urlencode({"saved": "1", "back": back})
        return RedirectResponse(where, status_code=303)

    def _call_or_none(request: Request) -> dict[str, Any] | None:
        try:
            return idx.call(int(request.path_params["id"]))
        except (ValueError, KeyError):
            return None

    app = Starlette(
        routes=[
            Route("/", calls),
            Route("/export.csv", export),
            Route("/trends", trends),
            Route("/call/{id}", call),
            Route("/call/{id}/report", report),
            Route("/call/{id}/review", review, methods=["POST"]),
        ],
        lifespan=_closing(idx),
    )
    if token is not None:
        return TokenGate(app, token)
    return app


def _closing(idx: CallIndex) -> Any:
    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> Any:
        yield
        idx.close()

    return lifespan


_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "frame-src 'self'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
# The report is tonewatch's own self-contained page (inline script, data: audio), shown in a
# frame of the call page only.
_REPORT_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; "
    "style-src 'unsafe-inline'; img-src data:; media-src data:; frame-ancestors 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _same_origin(request: Any) -> bool:
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


class TokenGate:
    """ASGI middleware: only requests with the token (cookie, or ``?token=`` once) pass."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from starlette.requests import Request
        from starlette.responses import PlainTextResponse, RedirectResponse

        request = Request(scope)
        given = request.query_params.get("token")
        if given is not None and hmac.compare_digest(given, self.token):
            rest = {k: v for k, v in request.query_params.items() if k != "token"}
            target = request.url.path + (("?" + urlencode(rest)) if rest else "")
            response: Any = RedirectResponse(target, status_code=303)
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict")
        elif hmac.compare_digest(request.cookies.get(COOKIE, ""), self.token):
            await self.app(scope, receive, send)
            return
        else:
            response = PlainTextResponse(
                "tonewatch: this page needs the access token (open the address that "
                "`tonewatch serve` printed)",
                status_code=401,
            )
        await response(scope, receive, send)


# -- reports ---------------------------------------------------------------------------------


def _audio_files(row: dict[str, Any]) -> list[Path] | None:
    """The call's recording(s), when every file is reachable from here."""
    source = row.get("source")
    if not source:
        return None
    log_dir = Path(row["log"]).parent
    files = []
    for part in str(source).split(";"):
        p = Path(part)
        candidates = [p] if p.is_absolute() else [p, log_dir / p]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            return None
        files.append(found.absolute())
    return files if 1 <= len(files) <= 2 else None


def _report_file(row: dict[str, Any], folder: Path) -> Path:
    """The call's report, made with monitor.report on first request and kept while the
    log is unchanged."""
    from monitor.report import write_report

    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    log = Path(row["log"])
    stamp = log.stat().st_mtime_ns
    out = folder / f"{row['id']}-{stamp}.html"
    if out.is_file():
        return out
    audio = _audio_files(row)
    tmp = out.with_suffix(".tmp")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    given: Any = None if audio is None else (audio[0] if len(audio) == 1 else audio)
    write_report(log, tmp, audio=given, call_id=row["call"], warnings=[])
    os.replace(tmp, out)
    return out


# -- trends ----------------------------------------------------------------------------------

_PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b"]


def _colour(i: int) -> str:
    return _PALETTE[i % len(_PALETTE)]


def _busiest(data: list[dict[str, Any]], n: int) -> list[str]:
    calls: dict[str, int] = {}
    for d in data:
        calls[d["agent"]] = calls.get(d["agent"], 0) + d["calls"]
    return sorted(calls, key=lambda a: (-calls[a], a))[:n]


def _svg_lines(series: list[dict[str, Any]], key: str, unit: str) -> str:
    """A line per agent of `key` over the weeks, as an inline SVG (already escaped)."""
    weeks = sorted({d["week"] for d in series})
    agents = list(dict.fromkeys(d["agent"] for d in series))
    w, h, left, bottom, top, right = 560, 220, 48, 36, 12, 24
    if not weeks:
        return '<p class="empty">No calls with a date match these filters.</p>'
    values = [float(d[key]) for d in series if d.get(key) is not None]
    peak = max(values + [1e-9])
    scale = _nice(peak)

    def x(i: int) -> float:
        return left + (w - left - right) * (i / max(1, len(weeks) - 1) if len(weeks) > 1 else 0.5)

    def y(v: float) -> float:
        return top + (h - top - bottom) * (1 - v / scale)

    parts = [f'<svg class="plot" viewBox="0 0 {w} {h}" role="img" aria-label="{html.escape(key)}">']
    for k in range(6):
        v = scale * k / 5
        parts.append(
            f'<line x1="{left}" x2="{w - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" class="grid"/>'
            f'<text x="{left - 6}" y="{y(v) + 4:.1f}" class="tick" text-anchor="end">'
            f"{_short(v)}{html.escape(unit)}</text>"
        )
    step = max(1, len(weeks) // 8)
    for i, wk in enumerate(weeks):
        if i % step == 0:
            parts.append(
                f'<text x="{x(i):.1f}" y="{h - bottom + 16}" class="tick" text-anchor="middle">'
                f"{html.escape(wk[5:])}</text>"
            )
    at = {wk: i for i, wk in enumerate(weeks)}
    for n, agent in enumerate(agents):
        pts = [
            (x(at[d["week"]]), y(float(d[key])))
            for d in series
            if d["agent"] == agent and d.get(key) is not None
        ]
        colour = _colour(n)
        if len(pts) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in pts)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>'
            )
        for px, py in pts:
            parts.append(
                f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}">'
                f"<title>{html.escape(agent)}</title></circle>"
            )
    parts.append("</svg>")
    return "".join(parts)


def _nice(peak: float) -> float:
    """A round top for the axis at or above `peak`."""
    import math

    mag = 10 ** math.floor(math.log10(peak)) if peak > 0 else 1
    for f in (1, 2, 5, 10):
        if f * mag >= peak:
            return float(f * mag)
    return float(10 * mag)


def _short(v: float) -> str:
    return f"{v:.0f}" if v >= 10 or v == int(v) else f"{v:.1f}"


@contextlib.contextmanager
def running(app: Any, host: str = "127.0.0.1", timeout_s: float = 30.0) -> Any:
    """Serve `app` from a thread on a free port (tests, screenshots, benchmarks); yields
    its base URL and stops the server afterwards."""
    import threading
    import time

    import uvicorn

    config = uvicorn.Config(app, host=host, port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the web app did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=timeout_s)
