"""The call index at 10,000 and 100,000 calls: SQLite (what tonewatch uses) against DuckDB.

The calls come from the real pipeline: the five fixture calls are replayed once each
(`--fast --no-transcribe`) and read back into QA rows and alert rows (`monitor.callindex`),
then copied N times with new call ids, agents (200 of them) and start times spread over
twelve weeks. Each database gets the same tables and indexes and the same rows through its
own bulk path (SQLite: inserts in one transaction, through `CallIndex`; DuckDB: `COPY` from
CSV files, their writing counted), then answers the same questions, each the median
of 5 runs, every row fetched into Python:

- worst first: all calls, most severe first (what `review --sort worst` asks);
- agent + since: one agent's calls of the last 30 days, by date;
- kind + severity: calls with customer yelling or a profanity cue, warning or worse;
- one page: page 1,000 of 50 rows, worst first, with the count of matches (the web app);
- trends: per agent and week, alerts per hour of talk and the other trend figures.

Then `tonewatch review --db DB --sort worst --kind customer_yelling --json OUT` runs as a
user runs it (a fresh process, median of 3). Also the build of the index from logs on disk
(`tonewatch index`, SQLite) for `--from-logs N` logs (default 10,000; 0 to leave it out).

    python bench/bench_index.py [--calls 10000 100000] [--from-logs 10000] [--no-duckdb]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.callindex import CallIndex, Filters, _call_columns, _q, entry  # noqa: E402
from monitor.calllog import read_calls  # noqa: E402
from monitor.qa_columns import week_of  # noqa: E402

FIXTURES = ["agent_barge_in", "agent_matching", "calm_call", "customer_yelling", "gain_step"]


def templates(work: Path) -> list[tuple[dict[str, Any], list[dict[str, Any]], Path]]:
    out = []
    for name in FIXTURES:
        log = work / f"{name}.jsonl"
        cmd = [sys.executable, "-m", "monitor", "replay", str(ROOT / "fixtures" / f"{name}.flac")]
        cmd += ["--fast", "--quiet", "--no-transcribe", "--log", str(log), "--call-id", name]
        env = {**os.environ, "TONEWATCH_NO_INDEX": "1"}
        subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL, env=env)
        (call,) = read_calls(log, [], tracks=False)
        row, alerts = entry(call)
        out.append((row, alerts, log))
    return out


def make_rows(tpl: list[Any], n: int, seed: int = 1) -> list[tuple[dict[str, Any], list[Any]]]:
    rng = random.Random(seed)
    start = datetime(2026, 9, 7, tzinfo=timezone.utc)
    rows = []
    for i in range(n):
        row, alerts, _ = tpl[i % len(tpl)]
        when = start + timedelta(seconds=rng.uniform(0, 84 * 86400))
        extra = []
        if i % 7 == 3:  # some calls with a profanity cue
            extra = [
                {
                    "start": 12.0,
                    "end": 13.0,
                    "kind": "phrase",
                    "cue": "profanity",
                    "speaker": "customer",
                    "severity": "warning",
                    "rank": 1,
                    "good": 0,
                    "message": "The caller is cursing.",
                }
            ]
        r = {
            **row,
            "call": f"c{i:06d}",
            "agent": f"agent{rng.randrange(200):03d}",
            "date": when.isoformat(timespec="seconds"),
            "log": f"/calls/{when:%Y-%m-%d}/c{i:06d}.jsonl",
        }
        if extra:
            r["phrase"] = (r.get("phrase") or 0) + 1
            r["alerts"] = (r.get("alerts") or 0) + 1
            r["cue_customer_profanity"] = 1
            if r["worst_severity"] in (None, "info"):
                r["worst_severity"] = "warning"
        rows.append((r, alerts + extra))
    return rows


CPU: dict[str, float] = {}


def median_time(fn: Callable[[], Any], runs: int = 5, label: str = "") -> tuple[float, Any]:
    """Median wall seconds of `fn` (its median process CPU seconds go to CPU[label])."""
    times, cpus, out = [], [], None
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    CPU[label] = statistics.median(cpus)
    return statistics.median(times), out


SINCE = datetime(2026, 11, 30, tzinfo=timezone.utc) - timedelta(days=30)
SELECT_ALL = "SELECT c.* FROM calls c"
QUERIES = {
    "worst first": (
        SELECT_ALL + " ORDER BY c.worst_rank DESC, c.alerts DESC, c.duration_s DESC, c.call",
        [],
    ),
    "agent + since": (
        SELECT_ALL + " WHERE c.agent = ? AND c.ts >= ? ORDER BY c.ts, c.call",
        ["agent007", SINCE.timestamp()],
    ),
    "kind + severity": (
        SELECT_ALL + " WHERE (c.customer_yelling > 0 OR EXISTS (SELECT 1 FROM alerts a "
        "WHERE a.call_id = c.id AND a.cue IN (?))) AND c.worst_rank >= ? "
        "ORDER BY c.worst_rank DESC, c.alerts DESC, c.call",
        ["profanity", 1],
    ),
    "one page": (
        SELECT_ALL + " ORDER BY c.worst_rank DESC, c.alerts DESC, c.duration_s DESC, "
        "c.call DESC, c.id DESC LIMIT 50 OFFSET 49950",
        [],
    ),
    "trends": (
        "SELECT c.agent, c.week, count(*), sum(c.alerts) * 3600.0 / "
        "nullif(sum(coalesce(c.talk_agent_s, 0) + coalesce(c.talk_customer_s, 0)), 0), "
        "sum(coalesce(c.raised_agent_s, 0)), sum(coalesce(c.interruptions_agent, 0)), "
        "sum(c.good_signs) FROM calls c GROUP BY 1, 2 ORDER BY 1, 2",
        [],
    ),
}


def bench_sqlite(db: Path, rows: list[Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    idx = CallIndex(db)
    t0, c0 = time.perf_counter(), time.process_time()
    with idx._write() as con:
        for r, alerts in rows:
            idx._insert(con, r, alerts)
    out["build"] = time.perf_counter() - t0
    CPU[f"sqlite {len(rows)} build"] = time.process_time() - c0
    con = idx.con
    for name, (sql, args) in QUERIES.items():
        if name == "one page":
            q = sql

            def run(q: str = q) -> Any:
                n = con.execute("SELECT count(*) FROM calls").fetchone()[0]
                return n, con.execute(q).fetchall()
        else:

            def run(sql: str = sql, args: list[Any] = args) -> Any:
                return con.execute(sql, args).fetchall()

        out[name], _ = median_time(run, label=f"sqlite {len(rows)} {name}")
    # Through the module, as review asks it (rows as dicts of the QA columns).
    out["review query"], res = median_time(
        lambda: idx.query(Filters(kinds={"customer_yelling", "profanity"}), "worst"),
        label=f"sqlite {len(rows)} review query",
    )
    out["review page"], _ = median_time(
        lambda: (idx.count(Filters()), idx.query(Filters(), "worst", limit=50, offset=49950)),
        label=f"sqlite {len(rows)} review page",
    )
    out["review rows"] = len(res)
    idx.close()
    out["size_mb"] = db.stat().st_size / 1e6
    return out


def bench_duckdb(db: Path, rows: list[Any]) -> dict[str, float]:
    import duckdb

    out: dict[str, float] = {}
    cols = _call_columns()
    con = duckdb.connect(str(db))
    from monitor.callindex import _schema

    for stmt in _schema():
        stmt = stmt.replace("id INTEGER PRIMARY KEY", "id INTEGER PRIMARY KEY")
        stmt = stmt.replace(" REFERENCES calls(id) ON DELETE CASCADE", "")
        stmt = stmt.replace(" COLLATE NOCASE", "")
        con.execute(stmt)
    t0, c0 = time.perf_counter(), time.process_time()
    recs, arecs = [], []
    for i, (r, alerts) in enumerate(rows, 1):
        started = datetime.fromisoformat(r["date"])
        recs.append(
            {
                "id": i,
                "ts": started.timestamp(),
                "week": week_of(started),
                "worst_rank": {"info": 0, "warning": 1, "critical": 2}.get(
                    r.get("worst_severity") or "", -1
                ),
                **{c: r.get(c) for c in cols},
            }
        )
        for a in alerts:
            arecs.append({"call_id": i, **a})
    # DuckDB's bulk path without pandas: COPY from CSV files (their writing counted).
    names = ["id", "ts", "week", "worst_rank", *cols]
    anames = ["call_id", "start", "end", "kind", "cue", "speaker", "severity", "rank"]
    anames += ["good", "message"]
    calls_csv, alerts_csv = db.with_suffix(".calls.csv"), db.with_suffix(".alerts.csv")
    for path, fields, items in ((calls_csv, names, recs), (alerts_csv, anames, arecs)):
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(fields)
            for rec in items:
                w.writerow(["" if rec.get(f) is None else rec.get(f) for f in fields])
    con.execute("BEGIN")
    con.execute(f"COPY calls ({', '.join(_q(c) for c in names)}) FROM '{calls_csv}' (HEADER)")
    con.execute(f"COPY alerts FROM '{alerts_csv}' (HEADER)")
    con.execute("COMMIT")
    out["build"] = time.perf_counter() - t0
    CPU[f"duckdb {len(rows)} build"] = time.process_time() - c0
    for name, (sql, args) in QUERIES.items():
        if name == "one page":

            def run(q: str = sql) -> Any:
                n = con.execute("SELECT count(*) FROM calls").fetchone()
                return n, con.execute(q).fetchall()
        else:

            def run(sql: str = sql, args: list[Any] = args) -> Any:
                return con.execute(sql, args).fetchall()

        out[name], _ = median_time(run, label=f"duckdb {len(rows)} {name}")
    con.close()
    out["size_mb"] = db.stat().st_size / 1e6
    return out


def _children_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def time_review_command(db: Path, work: Path, runs: int = 3) -> tuple[float, int]:
    env = {**os.environ, "XDG_DATA_HOME": str(work / "data")}
    times, cpus, n = [], [], 0
    out = work / "review.json"
    for _ in range(runs):
        t0, c0 = time.perf_counter(), _children_cpu()
        subprocess.run(
            [sys.executable, "-m", "monitor", "review", "--db", str(db), "--sort", "worst"]
            + ["--kind", "customer_yelling", "--json", str(out)],
            check=True,
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        times.append(time.perf_counter() - t0)
        cpus.append(_children_cpu() - c0)
        n = len(json.loads(out.read_text()))
    CPU[f"review command {db.name}"] = statistics.median(cpus)
    return statistics.median(times), n


def from_logs(tpl: list[Any], n: int, work: Path) -> tuple[float, float]:
    """Write n logs (the templates' records with new ids) and time `tonewatch index`."""
    folder = work / "logs"
    texts = [p.read_text(encoding="utf-8").splitlines() for _, _, p in tpl]
    for i in range(n):
        sub = folder / f"d{i // 1000:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        lines = []
        for line in texts[i % len(texts)]:
            rec = json.loads(line)
            rec["call"] = f"c{i:06d}"
            lines.append(json.dumps(rec))
        (sub / f"c{i:06d}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    db = work / "from-logs.sqlite"
    env = {**os.environ, "XDG_DATA_HOME": str(work / "data")}
    cmd = [sys.executable, "-m", "monitor", "index", str(folder), "--db", str(db)]
    t0, c0 = time.perf_counter(), _children_cpu()
    subprocess.run(cmd, check=True, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    first = time.perf_counter() - t0
    CPU["index first"] = _children_cpu() - c0
    t0, c0 = time.perf_counter(), _children_cpu()
    subprocess.run(cmd, check=True, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    again = time.perf_counter() - t0
    CPU["index again"] = _children_cpu() - c0
    return first, again


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--from-logs", type=int, default=10_000)
    ap.add_argument("--no-duckdb", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tonewatch-bench-index-") as tmp:
        work = Path(tmp)
        tpl = templates(work)
        results: dict[tuple[str, int], dict[str, float]] = {}
        review: dict[int, tuple[float, int]] = {}
        for n in args.calls:
            rows = make_rows(tpl, n)
            results[("sqlite", n)] = bench_sqlite(work / f"s{n}.sqlite", rows)
            review[n] = time_review_command(work / f"s{n}.sqlite", work)
            if not args.no_duckdb:
                results[("duckdb", n)] = bench_duckdb(work / f"d{n}.duckdb", rows)
        keys = ["build", *QUERIES, "size_mb"]
        print("wall seconds (median of 5; build once)")
        print(f"{'engine':<8} {'calls':>7} " + " ".join(f"{k:>15}" for k in keys))
        for (engine, n), r in results.items():
            cells = [f"{r[k]:>13.3f} s" if k != "size_mb" else f"{r[k]:>12.1f} MB" for k in keys]
            print(f"{engine:<8} {n:>7} " + " ".join(cells))
        print("process CPU seconds (all threads; DuckDB runs a query on several)")
        for engine, n in results:
            cells = [f"{CPU[f'{engine} {n} {k}']:>13.3f} s" for k in keys[:-1]]
            print(f"{engine:<8} {n:>7} " + " ".join(cells))
        for n in args.calls:
            r = results[("sqlite", n)]
            t, rows_out = review[n]
            print(
                f"sqlite {n} calls: CallIndex.query (yelling or profanity, worst first) "
                f"{r['review query']:.3f} s ({CPU[f'sqlite {n} review query']:.3f} s CPU) for "
                f"{int(r['review rows'])} rows; a page of 50 worst first, with the count, "
                f"{r['review page']:.3f} s; "
                f"`tonewatch review --kind customer_yelling --sort worst --json` {t:.2f} s "
                f"({CPU[f'review command s{n}.sqlite']:.2f} s CPU; whole process, {rows_out} "
                "rows, start-up included)"
            )
        if args.from_logs:
            first, again = from_logs(tpl, args.from_logs, work)
            print(
                f"`tonewatch index` from {args.from_logs} logs on disk: {first:.1f} s "
                f"({CPU['index first']:.1f} s CPU, {args.from_logs / CPU['index first']:.0f} "
                f"logs per CPU second); again, nothing changed: {again:.1f} s "
                f"({CPU['index again']:.1f} s CPU)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
