"""The call index: every call's QA columns and alerts in one SQLite database.

The JSONL alert logs stay the durable record; this index is a fast way to ask across
them, and can always be rebuilt from them (`tonewatch index LOGS... --rebuild`). It is
filled by `tonewatch index`, by `review` (which first indexes the logs it is given), by
replay and live as each log completes (`index_finished_log`, which never fails the call)
and by batch as each call finishes. The default database is ``index.sqlite`` in the user
data folder (platformdirs), beside the live call logs.

Tables: `calls` (one row per call and log: the columns of `monitor.qa_columns`, plus the
start time as epoch seconds, its week and the worst severity as a number), `alerts` (one
row per alert), `logs` (each log file's size and modification time when it was read, so
unchanged logs are not read again, and the warnings it gave), and `reviews` (a reviewer's
mark and note per call, kept by log path and call id so a rebuild keeps them).

Many writers: SQLite in WAL mode, each log written in one `BEGIN IMMEDIATE` transaction
with a generous busy timeout, so several processes on one machine (live, replay, review,
the web app, a batch driver) add calls concurrently without losing one. A batch on many
machines has one writer: the workers send each call's rows back with their result and the
batch driver writes them (SQLite's locks are not to be trusted over a network filesystem).
The database file is 0600 (its WAL files take its mode) and a folder made for it 0700.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from alerts.model import KINDS, SEVERITIES
from monitor.calllog import CallLog, CallLogError, read_calls, severity_rank
from monitor.qa_columns import NUMERIC, REVIEW, alert_rows, call_row, columns, week_of

SCHEMA_VERSION = 4
DB_NAME = "index.sqlite"
_REVIEWS = "LEFT JOIN reviews r ON r.log = c.log AND r.call = c.call"
SORTS = ("date", "duration", "alerts", "worst", "agent", "call")
_DESCENDING = {"duration", "alerts", "worst"}


class IndexDbError(Exception):
    """The index database cannot be opened or written; the message names the file."""


def data_dir() -> Path:
    """tonewatch's per-user data folder (live call logs, the index)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("tonewatch", appauthor=False))


def default_db() -> Path:
    return data_dir() / DB_NAME


def live_log_dir() -> Path:
    """Where `live` writes its call logs by default."""
    return data_dir() / "calls"


def _abs(path: str | Path) -> str:
    return os.path.abspath(os.fspath(path))


# -- schema ----------------------------------------------------------------------------------


def _call_columns() -> list[str]:
    return [c for c in columns() if c not in REVIEW]


def _sql_type(col: str) -> str:
    if col in KINDS or col.startswith(("cue_", "good_")) or col in ("alerts", "good_signs"):
        return "INTEGER"
    if col.startswith("interruptions_") or col == "cue_warnings":
        return "INTEGER"
    return "REAL" if col in NUMERIC else "TEXT"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _schema() -> list[str]:
    cols = ",\n  ".join(f"{_q(c)} {_sql_type(c)}" for c in _call_columns())
    return [
        f"""CREATE TABLE IF NOT EXISTS calls (
  id INTEGER PRIMARY KEY,
  ts REAL, week TEXT, worst_rank INTEGER NOT NULL DEFAULT -1,
  {cols},
  UNIQUE (log, call))""",
        """CREATE TABLE IF NOT EXISTS alerts (
  call_id INTEGER NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
  start REAL, "end" REAL, kind TEXT, cue TEXT, speaker TEXT, severity TEXT,
  rank INTEGER, good INTEGER, message TEXT)""",
        """CREATE TABLE IF NOT EXISTS logs (
  path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, calls INTEGER,
  error TEXT, warnings TEXT)""",
        """CREATE TABLE IF NOT EXISTS reviews (
  log TEXT NOT NULL, call TEXT NOT NULL, reviewed_at TEXT, note TEXT,
  PRIMARY KEY (log, call))""",
        # One index per usual order, so a page of 50 is read off the index, not sorted.
        "CREATE INDEX IF NOT EXISTS calls_ts ON calls(ts, call)",
        "CREATE INDEX IF NOT EXISTS calls_agent ON calls(agent COLLATE NOCASE, ts, call)",
        "CREATE INDEX IF NOT EXISTS calls_worst ON calls(worst_rank, alerts, duration_s, call)",
        "CREATE INDEX IF NOT EXISTS alerts_call ON alerts(call_id)",
        "CREATE INDEX IF NOT EXISTS alerts_cue ON alerts(cue, call_id)",
        "CREATE INDEX IF NOT EXISTS alerts_kind ON alerts(kind, call_id)",
    ]


def _private_file(path: Path) -> None:
    """Create the database file 0600 (and a missing folder 0700) before SQLite opens it."""
    if path.exists():
        return
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


# -- filters ---------------------------------------------------------------------------------


@dataclass
class Filters:
    """What a reviewer asks for; every field given must hold (kinds: any one of them)."""

    kinds: set[str] = field(default_factory=set)
    """alert kinds or phrase cue names (`apology`, or `agent.apology`)"""
    since: datetime | None = None
    until: datetime | None = None
    agent: str | None = None
    min_severity: str | None = None
    reviewed: bool | None = None
    logs: Sequence[str] | None = None
    """only calls from these log files (absolute paths)"""

    def where(self, con: sqlite3.Connection) -> tuple[str, list[Any]]:
        parts: list[str] = []
        args: list[Any] = []
        if self.kinds:
            ors = [f"c.{_q(k)} > 0" for k in sorted(self.kinds) if k in KINDS]
            cues = sorted(k for k in self.kinds if k not in KINDS)
            plain = [k for k in cues if "." not in k]
            dotted = [k for k in cues if "." in k]
            if plain:
                marks = ",".join("?" * len(plain))
                ors.append(
                    f"EXISTS (SELECT 1 FROM alerts a WHERE a.call_id = c.id AND a.cue IN ({marks}))"
                )
                args += plain
            if dotted:
                marks = ",".join("?" * len(dotted))
                ors.append(
                    "EXISTS (SELECT 1 FROM alerts a WHERE a.call_id = c.id AND "
                    f"a.speaker || '.' || a.cue IN ({marks}))"
                )
                args += dotted
            parts.append("(" + " OR ".join(ors) + ")")
        if self.since is not None:
            parts.append("c.ts >= ?")
            args.append(_epoch(self.since))
        if self.until is not None:
            parts.append("c.ts < ?")
            args.append(_epoch(self.until))
        if self.agent:
            parts.append("c.agent = ? COLLATE NOCASE")
            args.append(self.agent)
        if self.min_severity:
            parts.append("c.worst_rank >= ?")
            args.append(severity_rank(self.min_severity))
        if self.reviewed is not None:
            parts.append("r.reviewed_at IS NOT NULL" if self.reviewed else "r.reviewed_at IS NULL")
        if self.logs is not None:
            con.execute("CREATE TEMP TABLE IF NOT EXISTS wanted (path TEXT PRIMARY KEY)")
            con.execute("DELETE FROM wanted")
            con.executemany("INSERT OR IGNORE INTO wanted VALUES (?)", ((p,) for p in self.logs))
            parts.append("c.log IN (SELECT path FROM wanted)")
        return (" WHERE " + " AND ".join(parts)) if parts else "", args


def _epoch(when: datetime) -> float:
    if when.tzinfo is None:
        when = when.astimezone()
    try:
        return when.timestamp()
    except (OverflowError, ValueError, OSError):
        return float("-inf") if when.year < 1970 else float("inf")


def order_by(sort: str, reverse: bool = False) -> str:
    """Every key in one direction, ending in the row id, so an index can serve the order
    (calls with no date sort first when oldest are first)."""
    keys = {
        "date": ["c.ts", "c.call"],
        "duration": ["c.duration_s", "c.call"],
        "alerts": ["c.alerts", "c.worst_rank", "c.call"],
        "worst": ["c.worst_rank", "c.alerts", "c.duration_s", "c.call"],
        "agent": ["c.agent COLLATE NOCASE", "c.ts", "c.call"],
        "call": ["c.call", "c.log"],
    }[sort]
    desc = " DESC" if (sort in _DESCENDING) != reverse else ""
    return " ORDER BY " + ", ".join(k + desc for k in [*keys, "c.id"])


# -- the index -------------------------------------------------------------------------------


@dataclass
class RefreshStats:
    read: int = 0
    unchanged: int = 0
    skipped: int = 0
    calls: int = 0


class CallIndex:
    """An open call index database (see the module docstring)."""

    def __init__(
        self, path: str | Path | None = None, timeout_s: float = 60.0, any_thread: bool = False
    ) -> None:
        """Open (or create) the index. `any_thread`: the connection may be used from a
        thread other than this one (one at a time: the web app's event loop)."""
        self.path = Path(path) if path is not None else default_db()
        try:
            _private_file(self.path)
            self.con = sqlite3.connect(
                self.path,
                timeout=timeout_s,
                isolation_level=None,
                check_same_thread=not any_thread,
            )
            self.con.row_factory = sqlite3.Row
            self.con.execute("PRAGMA foreign_keys = ON")
            self.con.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
            if self.con.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                self.con.execute("PRAGMA journal_mode = WAL")
            self.con.execute("PRAGMA synchronous = NORMAL")
            self._migrate()
        except (sqlite3.Error, OSError) as exc:
            raise IndexDbError(f"{self.path}: cannot open the call index ({_why(exc)})") from None
        self._cols = _call_columns()

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> CallIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once so concurrent writers queue, not deadlock."""
        try:
            self.con.execute("BEGIN IMMEDIATE")
            try:
                yield self.con
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
            self.con.execute("COMMIT")
        except sqlite3.Error as exc:
            raise IndexDbError(f"{self.path}: cannot write the call index ({_why(exc)})") from None

    def _current(self) -> bool:
        version = self.con.execute("PRAGMA user_version").fetchone()[0]
        have = [r[1] for r in self.con.execute("PRAGMA table_info(calls)")]
        return version == SCHEMA_VERSION and have == [
            "id",
            "ts",
            "week",
            "worst_rank",
            *_call_columns(),
        ]

    def _migrate(self) -> None:
        if self._current():
            return
        self.con.execute("BEGIN IMMEDIATE")
        try:
            # Looked at again under the write lock: another process may have just made it.
            if self._current():
                self.con.execute("COMMIT")
                return
            # The calls, alerts and logs tables are a cache of the logs: drop and refill.
            for table in ("alerts", "calls", "logs"):
                self.con.execute(f"DROP TABLE IF EXISTS {table}")
            for stmt in _schema():
                self.con.execute(stmt)
            self.con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise

    # -- writing ---------------------------------------------------------------------------

    def _insert(
        self, con: sqlite3.Connection, row: dict[str, Any], alerts: list[dict[str, Any]]
    ) -> None:
        when = row.get("date")
        started = datetime.fromisoformat(when) if when else None
        values = [row.get(c) for c in self._cols]
        names = ", ".join(_q(c) for c in self._cols)
        marks = ", ".join("?" * (len(self._cols) + 3))
        cur = con.execute(
            f"INSERT INTO calls (ts, week, worst_rank, {names}) VALUES ({marks})",
            [
                started.timestamp() if started else None,
                week_of(started),
                severity_rank(row.get("worst_severity")),
                *values,
            ],
        )
        con.executemany(
            'INSERT INTO alerts (call_id, start, "end", kind, cue, speaker, severity, rank, '
            "good, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    cur.lastrowid,
                    a["start"],
                    a["end"],
                    a["kind"],
                    a["cue"],
                    a["speaker"],
                    a["severity"],
                    a["rank"],
                    a["good"],
                    a["message"],
                )
                for a in alerts
            ],
        )

    def _replace_log(
        self,
        con: sqlite3.Connection,
        path: str,
        entries: list[tuple[dict[str, Any], list[dict[str, Any]]]],
        stat: os.stat_result | None,
        error: str | None = None,
        warnings: Sequence[str] = (),
    ) -> None:
        con.execute("DELETE FROM calls WHERE log = ?", (path,))
        for row, alerts in entries:
            self._insert(con, {**row, "log": path}, alerts)
        con.execute(
            "INSERT OR REPLACE INTO logs VALUES (?, ?, ?, ?, ?, ?)",
            (
                path,
                stat.st_size if stat else None,
                stat.st_mtime_ns if stat else None,
                len(entries),
                error,
                json.dumps(list(warnings)) if warnings else None,
            ),
        )

    def add_entries(
        self, log: str | Path, entries: list[tuple[dict[str, Any], list[dict[str, Any]]]]
    ) -> None:
        """Store calls read elsewhere (a batch worker) for `log`, replacing what it had."""
        path = _abs(log)
        try:
            stat: os.stat_result | None = os.stat(path)
        except OSError:
            stat = None
        with self._write() as con:
            self._replace_log(con, path, entries, stat)

    def add_log(self, log: str | Path, warnings: list[str] | None = None) -> int:
        """Read one log and store its calls (replacing what the index had for it); returns
        how many calls it holds.

        Raises:
            CallLogError: the file cannot be read as a log (also noted in the index).
        """
        stats = self.refresh([log], warnings if warnings is not None else [], force=True)
        if stats.skipped:
            row = self.con.execute("SELECT error FROM logs WHERE path = ?", (_abs(log),))
            found = row.fetchone()
            raise CallLogError(found[0] if found else f"{log}: cannot be indexed")
        return stats.calls

    def refresh(
        self, logs: Iterable[str | Path], warnings: list[str], force: bool = False
    ) -> RefreshStats:
        """Index the logs that changed since they were last read (all of them with
        `force`); files that are not logs are noted (and warned about) each time."""
        known = {
            r[0]: (r[1], r[2], r[3], r[4])
            for r in self.con.execute("SELECT path, size, mtime_ns, error, warnings FROM logs")
        }
        stats = RefreshStats()
        pending: list[tuple[str, list[Any], os.stat_result, str | None, list[str]]] = []

        def flush() -> None:
            if not pending:
                return
            with self._write() as con:
                for path, entries, st, error, notes in pending:
                    self._replace_log(con, path, entries, st, error, notes)
            pending.clear()

        for log in logs:
            path = _abs(log)
            try:
                st = os.stat(path)
            except OSError as exc:
                warnings.append(f"{log}: cannot read ({exc.strerror}), skipped")
                stats.skipped += 1
                continue
            old = known.get(path)
            if not force and old and old[0] == st.st_size and old[1] == st.st_mtime_ns:
                if old[2]:
                    warnings.append(f"{old[2]}, skipped")
                    stats.skipped += 1
                else:
                    stats.unchanged += 1
                if old[3]:
                    warnings.extend(json.loads(old[3]))
                continue
            notes: list[str] = []
            try:
                calls = read_calls(path, notes, tracks=False)
            except CallLogError as exc:
                warnings.append(f"{exc}, skipped")
                stats.skipped += 1
                pending.append((path, [], st, str(exc), []))
                continue
            warnings.extend(notes)
            entries = [entry(c) for c in calls]
            stats.read += 1
            stats.calls += len(entries)
            pending.append((path, entries, st, None, notes))
            if len(pending) >= 200:
                flush()
        flush()
        return stats

    def forget(self, logs: Iterable[str | Path]) -> None:
        """Drop the calls of these log files (a batch's .partial once the call is redone)."""
        paths = [_abs(p) for p in logs]
        with self._write() as con:
            for p in paths:
                con.execute("DELETE FROM calls WHERE log = ?", (p,))
                con.execute("DELETE FROM logs WHERE path = ?", (p,))

    def clear(self) -> None:
        """Empty the calls (for a rebuild); reviewers' marks and notes stay."""
        with self._write() as con:
            con.execute("DELETE FROM alerts")
            con.execute("DELETE FROM calls")
            con.execute("DELETE FROM logs")

    def set_review(self, call_id: int, reviewed: bool, note: str | None) -> None:
        row = self.con.execute("SELECT log, call FROM calls WHERE id = ?", (call_id,)).fetchone()
        if row is None:
            raise KeyError(call_id)
        stamp = datetime.now(timezone.utc).isoformat(timespec="seconds") if reviewed else None
        with self._write() as con:
            con.execute(
                "INSERT OR REPLACE INTO reviews VALUES (?, ?, ?, ?)",
                (row["log"], row["call"], stamp, note or None),
            )

    def set_report(self, call_id: int, report: str | Path) -> None:
        """Note where the call's report was written (the web app's cache)."""
        with self._write() as con:
            con.execute("UPDATE calls SET report = ? WHERE id = ?", (str(report), call_id))

    # -- reading ---------------------------------------------------------------------------

    def _select(self, fields: Sequence[str] | None = None) -> str:
        names = ", ".join(f"c.{_q(c)}" for c in (fields or self._cols))
        return (
            f"SELECT c.id, c.ts, c.worst_rank, {names}, r.reviewed_at, r.note "
            "FROM calls c LEFT JOIN reviews r ON r.log = c.log AND r.call = c.call"
        )

    def query(
        self,
        filters: Filters | None = None,
        sort: str = "date",
        reverse: bool = False,
        limit: int | None = None,
        offset: int = 0,
        fields: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """The calls matching `filters`, in order, as dicts of the QA columns (or only
        `fields` of them), with `id`, `ts`, `worst_rank`, `reviewed_at` and `note`."""
        where, args = (filters or Filters()).where(self.con)
        sql = self._select(fields) + where + order_by(sort, reverse)
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            args += [int(limit), int(offset)]
        cur = self.con.execute(sql, args)
        cur.row_factory = None  # plain tuples: about twice as fast as Row for 100,000 rows
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def count(self, filters: Filters | None = None) -> int:
        where, args = (filters or Filters()).where(self.con)
        sql = f"SELECT count(*) FROM calls c {_REVIEWS}"
        return int(self.con.execute(sql + where, args).fetchone()[0])

    def call(self, call_id: int) -> dict[str, Any] | None:
        cur = self.con.execute(self._select() + " WHERE c.id = ?", (call_id,))
        row = cur.fetchone()
        return dict(row) if row is not None else None

    def alerts(self, call_id: int) -> list[dict[str, Any]]:
        cur = self.con.execute("SELECT * FROM alerts WHERE call_id = ? ORDER BY start", (call_id,))
        return [dict(r) for r in cur.fetchall()]

    def agents(self) -> list[str]:
        cur = self.con.execute(
            "SELECT DISTINCT agent FROM calls WHERE agent IS NOT NULL ORDER BY agent COLLATE NOCASE"
        )
        return [r[0] for r in cur.fetchall()]

    def cue_names(self) -> list[str]:
        cur = self.con.execute("SELECT DISTINCT cue FROM alerts WHERE cue IS NOT NULL ORDER BY cue")
        return [r[0] for r in cur.fetchall()]

    def totals(self) -> tuple[int, int, int]:
        """(calls, log files holding them, files that are not logs)."""
        calls = self.con.execute("SELECT count(*) FROM calls").fetchone()[0]
        logs = self.con.execute("SELECT count(*) FROM logs WHERE error IS NULL").fetchone()[0]
        bad = self.con.execute("SELECT count(*) FROM logs WHERE error IS NOT NULL").fetchone()[0]
        return int(calls), int(logs), int(bad)

    def by_agent(
        self, filters: Filters | None = None, sort: str = "alerts"
    ) -> list[dict[str, Any]]:
        """The filtered calls rolled up per agent (see `ROLLUP`)."""
        where, args = (filters or Filters()).where(self.con)
        sql = (
            f"SELECT {ROLLUP_SQL} FROM calls c "
            "LEFT JOIN reviews r ON r.log = c.log AND r.call = c.call"
            f"{where} GROUP BY coalesce(c.agent, '') ORDER BY {_ROLLUP_ORDER[sort]}"
        )
        cur = self.con.execute(sql, args)
        return [_rollup(dict(r)) for r in cur.fetchall()]

    def trends(self, filters: Filters | None = None) -> list[dict[str, Any]]:
        """Per agent and week: calls, talk hours, alerts per hour of talk, raised and
        yelling seconds, interruptions and good signs."""
        where, args = (filters or Filters()).where(self.con)
        sql = (
            "SELECT coalesce(c.agent, '') AS agent, c.week AS week, count(*) AS calls, "
            "sum(coalesce(c.talk_agent_s, 0) + coalesce(c.talk_customer_s, 0)) / 3600.0 AS talk_h, "
            "sum(c.duration_s) / 3600.0 AS hours, sum(c.alerts) AS alerts, "
            "sum(coalesce(c.raised_agent_s, 0) + coalesce(c.yelling_agent_s, 0)) "
            "AS agent_raised_s, "
            "sum(coalesce(c.interruptions_agent, 0)) AS interruptions, "
            "sum(c.good_signs) AS good_signs "
            "FROM calls c LEFT JOIN reviews r ON r.log = c.log AND r.call = c.call"
            f"{where}{' AND' if where else ' WHERE'} c.week IS NOT NULL "
            "GROUP BY 1, 2 ORDER BY 1, 2"
        )
        out = []
        for r in self.con.execute(sql, args).fetchall():
            d = dict(r)
            d["alerts_per_talk_h"] = round(d["alerts"] / d["talk_h"], 2) if d["talk_h"] else None
            d["agent_raised_s"] = round(d["agent_raised_s"] or 0.0, 1)
            out.append(d)
        return out


ROLLUP = [
    "agent",
    "calls",
    "hours",
    "talk_share_agent",
    "overlap_s",
    "interruptions_agent",
    "raised_agent_s",
    "yelling_agent_s",
    "raised_customer_s",
    "yelling_customer_s",
    "alerts",
    "alerts_per_talk_h",
    *KINDS,
    "cue_warnings",
    "good_signs",
    "worst_severity",
    "reviewed",
]
"""Columns of `review --by agent`: one row per agent over the calls that pass the filters."""

ROLLUP_SQL = ", ".join(
    [
        "c.agent AS agent",
        "count(*) AS calls",
        "round(sum(c.duration_s) / 3600.0, 3) AS hours",
        "round(avg(c.talk_share_agent), 3) AS talk_share_agent",
        "round(sum(coalesce(c.overlap_s, 0)), 1) AS overlap_s",
        "sum(coalesce(c.interruptions_agent, 0)) AS interruptions_agent",
        *(
            f"round(sum(coalesce(c.{lv}_{sp}_s, 0)), 1) AS {lv}_{sp}_s"
            for sp in ("agent", "customer")
            for lv in ("raised", "yelling")
        ),
        "sum(c.alerts) AS alerts",
        "sum(coalesce(c.talk_agent_s, 0) + coalesce(c.talk_customer_s, 0)) AS talk_s",
        *(f"sum(c.{_q(k)}) AS {_q(k)}" for k in KINDS),
        "sum(c.cue_warnings) AS cue_warnings",
        "sum(c.good_signs) AS good_signs",
        "max(c.worst_rank) AS worst_rank",
        "count(r.reviewed_at) AS reviewed",
    ]
)
_ROLLUP_ORDER = {
    "alerts": "sum(c.alerts) DESC, agent",
    "worst": "max(c.worst_rank) DESC, sum(c.alerts) DESC, agent",
    "agent": "agent IS NULL, agent COLLATE NOCASE",
    "duration": "sum(c.duration_s) DESC, agent",
    "date": "agent IS NULL, agent COLLATE NOCASE",
    "call": "agent IS NULL, agent COLLATE NOCASE",
}


def _rollup(d: dict[str, Any]) -> dict[str, Any]:
    talk = d.pop("talk_s") or 0.0
    rank = d.pop("worst_rank")
    d["alerts_per_talk_h"] = round(d["alerts"] * 3600.0 / talk, 2) if talk else None
    d["worst_severity"] = SEVERITIES[rank] if 0 <= rank < len(SEVERITIES) else None
    return {k: d.get(k) for k in ROLLUP}


def entry(call: CallLog) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A call as the index stores it: its QA row and its alerts. The report is the one
    `tonewatch report LOG` writes by default (the log's name with .html), if it is there."""
    report = Path(call.path).with_suffix(".html")
    return call_row(call, report if report.is_file() else None), alert_rows(call)


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)


def index_finished_log(log: str | Path, db: str | Path | None = None, warn: Any = None) -> bool:
    """The hook replay, live and batch call once a log is complete: index it.

    Never raises: the log is the record, and a failure to index it (a locked or broken
    database) is one warning line through `warn` (default: stderr). Returns success.
    `TONEWATCH_NO_INDEX=1` turns the hook off.
    """
    if os.environ.get("TONEWATCH_NO_INDEX"):
        return False
    try:
        with CallIndex(db) as idx:
            idx.refresh([log], [], force=True)
        return True
    except (IndexDbError, OSError, sqlite3.Error) as exc:
        message = f"{log}: not added to the call index ({exc})"
        if warn is None:
            import sys

            print(f"tonewatch: warning: {message}", file=sys.stderr)
        else:
            warn(message)
        return False
