"""Run store: `.baton/runs/<id>/` artifacts plus a SQLite index (WAL) for history and stats.

The files are the truth (run.json per run); the index is rebuilt from them when it is
missing or was made by an older Baton, so deleting `runs.sqlite` loses nothing. The history
(`summaries`) is answered from the index's columns alone. All methods are synchronous and
quick; async callers run them with `asyncio.to_thread`.
"""

from __future__ import annotations

import builtins
import json
import math
import secrets
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from .errors import BatonError
from .models import Pattern, RunRecord, RunStatus

BATON_DIR = ".baton"
# The summary columns come before `record`, so a query that does not select the record never
# reads its (often overflowing) bytes. An index whose columns differ from these (an older
# Baton's) is dropped and rebuilt from the run.json files when the store opens it.
_COLUMNS = ("id", "pattern", "status", "verdict", "task", "created_at", "duration_s", "total_tokens",
            "cost_usd", "parent_id", "scope_path", "error", "eval_id", "record")
_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    pattern TEXT NOT NULL,
    status TEXT NOT NULL,
    verdict TEXT,
    task TEXT NOT NULL,
    created_at TEXT NOT NULL,
    duration_s REAL NOT NULL,
    total_tokens INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    parent_id TEXT,
    scope_path TEXT,
    error TEXT,
    eval_id TEXT,  -- set for runs of `baton eval` (record.extra.eval.id): kept out of the stats of real work
    record TEXT NOT NULL
)"""
_CREATE_INDEXES = (
    "CREATE INDEX IF NOT EXISTS runs_pattern ON runs(pattern, created_at)",
    "CREATE INDEX IF NOT EXISTS runs_recent ON runs(created_at, id)",  # newest first, LIMIT n
)
_INSERT = f"INSERT OR REPLACE INTO runs ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
_SUMMARY_COLUMNS = "id, pattern, status, verdict, task, created_at, duration_s, scope_path, error, parent_id"


class RunNotFound(LookupError):
    pass


class StoreRefused(BatonError):
    """`.baton` (or a folder or file Baton writes inside it) is a symlink or not a folder: writing
    there would follow a link a repository can commit, possibly to outside the workspace."""


def _must_be_real(path: Path, *, folder: bool, workspace: Path) -> None:
    """Refuse a symlink (at `path` itself) or a non-folder where Baton keeps its folders."""
    rel = path.relative_to(workspace).as_posix()
    if path.is_symlink():
        raise StoreRefused(f"{rel} is a symlink; Baton keeps its runs there and will not follow a link "
                           f"(it may lead outside the workspace). Remove it (`rm {rel}`) and run again.")
    if folder and path.exists() and not path.is_dir():
        raise StoreRefused(f"{rel} is not a folder; Baton keeps its runs there. Move it away and run again.")


class PatternStats(BaseModel):
    pattern: str
    runs: int
    finished: int
    succeeded: int
    failed: int  # interrupted runs included: a run its process died in failed its pattern
    cancelled: int
    interrupted: int = 0
    success_rate: float | None  # succeeded / finished; None when nothing finished
    mean_duration_s: float | None
    p50_duration_s: float | None
    p95_duration_s: float | None
    mean_tokens: float | None
    mean_cost_usd: float | None


class RunSummary(BaseModel):
    """A run as the history lists it: only the index's columns, without reading the record."""

    model_config = ConfigDict(frozen=True)

    id: str
    pattern: Pattern
    status: RunStatus
    verdict: Literal["approved", "rejected"] | None = None
    task: str
    created_at: datetime
    duration_s: float
    scope_path: str | None = None  # Scope.path: relative to the root; None for the whole workspace
    error: str | None = None
    parent_id: str | None = None

    @classmethod
    def of(cls, rec: RunRecord) -> RunSummary:
        """The summary of a record in memory (a live run), equal to what the index holds for it."""
        return cls(id=rec.id, pattern=rec.pattern, status=rec.status, verdict=rec.verdict, task=rec.task,
                   created_at=rec.created_at, duration_s=rec.duration_s, scope_path=rec.scope.path,
                   error=rec.error, parent_id=rec.parent_id)


def eval_id_of(rec: RunRecord) -> str | None:
    """The eval a run belongs to (`baton eval` tags its runs in `extra.eval`), or None for real work."""
    tag = rec.extra.get("eval")
    if isinstance(tag, dict) and tag.get("id"):
        return str(tag["id"])
    return None


def new_run_id() -> str:
    """Sortable and unique: UTC time to the second plus 4 random hex digits."""
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


class RunStore:
    def __init__(self, workspace: Path | str) -> None:
        self.workspace = Path(workspace).resolve()
        self.base = self.workspace / BATON_DIR
        self.runs_dir = self.base / "runs"
        self.db_path = self.base / "runs.sqlite"
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    # ------------------------------------------------------------------ files

    def ensure(self) -> None:
        """Create `.baton/` with a `.gitignore` that ignores everything in it (itself included).

        Raises StoreRefused when `.baton`, `.baton/runs` or a file Baton writes there is a symlink
        or not what it should be: a repository can commit a `.baton` symlink pointing anywhere."""
        from .workspace.mapcache import (
            CACHE_FILE,  # the repo map's disk cache lives in .baton/cache
        )

        cache = self.base / "cache"
        for folder in (self.base, self.runs_dir, cache):
            _must_be_real(folder, folder=True, workspace=self.workspace)
        gi = self.base / ".gitignore"
        for db in (self.db_path, cache / CACHE_FILE):
            for file in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
                _must_be_real(file, folder=False, workspace=self.workspace)
        _must_be_real(gi, folder=False, workspace=self.workspace)
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        if not gi.exists():
            gi.write_text("# Baton's run artifacts; not part of your project.\n*\n")

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    def write_artifact(self, run_id: str, name: str, text: str) -> Path:
        self.ensure()
        d = self.run_dir(run_id)
        _must_be_real(d, folder=True, workspace=self.workspace)
        d.mkdir(parents=True, exist_ok=True)
        path = d / name
        tmp = path.with_name(f".{name}.tmp")
        _must_be_real(tmp, folder=False, workspace=self.workspace)
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        return path

    def read_artifact(self, run_id: str, name: str) -> str | None:
        path = self.run_dir(run_id) / name
        return path.read_text(encoding="utf-8") if path.is_file() else None

    # ------------------------------------------------------------------ index

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self.ensure()
            fresh = not self.db_path.exists()
            conn = sqlite3.connect(self.db_path, check_same_thread=False, timeout=10)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                self._conn = conn
                if _columns(conn) not in ((), _COLUMNS):
                    self._migrate_locked()
                conn.execute(_CREATE_TABLE)
                for sql in _CREATE_INDEXES:
                    conn.execute(sql)
                conn.commit()
                if fresh:
                    self._reindex_locked()
                    conn.commit()
            except BaseException:
                self._conn = None
                conn.close()
                raise
        return self._conn

    def _migrate_locked(self) -> None:
        """The index was made by an older Baton (other columns): drop it and rebuild it from the
        run.json files, in one write transaction, so a second process opening the store at the
        same time waits and then finds the new table."""
        conn = self._conn
        assert conn is not None
        conn.execute("BEGIN IMMEDIATE")
        try:
            if _columns(conn) not in ((), _COLUMNS):  # not already done by another process
                conn.execute("DROP TABLE runs")  # its indexes go with it
                conn.execute(_CREATE_TABLE)
                self._reindex_locked()
            conn.commit()
        except BaseException:
            conn.rollback()
            raise

    def _reindex_locked(self) -> None:
        """Index every run.json on disk (the caller commits)."""
        assert self._conn is not None
        for rj in sorted(self.runs_dir.glob("*/run.json")):
            try:
                rec = RunRecord.model_validate_json(rj.read_text(encoding="utf-8"))
            except Exception:
                continue  # a damaged run.json is skipped; `baton show` reports it
            self._upsert_locked(rec)

    def _upsert_locked(self, rec: RunRecord) -> None:
        assert self._conn is not None
        u = rec.usage
        row = {
            "id": rec.id,
            "pattern": rec.pattern.value,
            "status": rec.status.value,
            "verdict": rec.verdict,
            "task": rec.task,
            "created_at": rec.created_at.isoformat(),
            "duration_s": rec.duration_s,
            "total_tokens": u.total_tokens,
            "cost_usd": u.cost_usd,
            "parent_id": rec.parent_id,
            "scope_path": rec.scope.path,
            "error": rec.error,
            "eval_id": eval_id_of(rec),
            "record": rec.model_dump_json(),
        }
        self._conn.execute(_INSERT, [row[c] for c in _COLUMNS])

    def save(self, rec: RunRecord) -> Path:
        """Write run.json and index it."""
        path = self.write_artifact(rec.id, "run.json", rec.model_dump_json(indent=2))
        with self._lock:
            self._db()
            self._upsert_locked(rec)
            assert self._conn is not None
            self._conn.commit()
        return path

    def get(self, run_id: str) -> RunRecord:
        """A run by id or unique id prefix (`baton show 20261126-0545`)."""
        with self._lock:
            rows = self._db().execute(
                "SELECT record FROM runs WHERE id = ? OR id LIKE ? ORDER BY id LIMIT 3",
                (run_id, run_id.replace("%", "") + "%"),
            ).fetchall()
        exact = [r for r in rows if json.loads(r[0])["id"] == run_id]
        if exact:
            rows = exact
        if not rows:
            raise RunNotFound(f"no run {run_id!r} in {self.runs_dir}; `baton runs` lists them")
        if len(rows) > 1:
            ids = ", ".join(json.loads(r[0])["id"] for r in rows)
            raise RunNotFound(f"run id {run_id!r} is ambiguous ({ids}); give more of it")
        return RunRecord.model_validate_json(rows[0][0])

    def unfinished(self) -> builtins.list[RunRecord]:
        """Runs the index holds as pending, running or waiting (crash recovery checks their owners)."""
        with self._lock:
            rows = self._db().execute(
                "SELECT record FROM runs WHERE status IN (?, ?, ?) ORDER BY id",
                (RunStatus.pending.value, RunStatus.running.value, RunStatus.waiting.value),
            ).fetchall()
        out = []
        for (record,) in rows:
            try:
                out.append(RunRecord.model_validate_json(record))
            except ValueError:
                continue  # a record this Baton cannot read; `baton show` reports it
        return out

    def list(self, limit: int = 20, pattern: str | None = None, include_children: bool = False) -> list[RunRecord]:
        """The newest runs' full records (each run.json as indexed, validated)."""
        rows = self._recent("record", limit, pattern, include_children)
        return [RunRecord.model_validate_json(r[0]) for r in rows]

    def summaries(self, limit: int = 20, pattern: str | None = None,
                  include_children: bool = False) -> builtins.list[RunSummary]:
        """The newest runs like `list`, but only their indexed columns: no record is read or parsed."""
        rows = self._recent(_SUMMARY_COLUMNS, limit, pattern, include_children)
        return [
            RunSummary(id=r[0], pattern=r[1], status=r[2], verdict=r[3], task=r[4], created_at=r[5],
                       duration_s=r[6], scope_path=r[7], error=r[8], parent_id=r[9])
            for r in rows
        ]

    def _recent(self, columns: str, limit: int, pattern: str | None,
                include_children: bool) -> builtins.list[tuple[Any, ...]]:
        sql = f"SELECT {columns} FROM runs"
        where: builtins.list[str] = []
        args: builtins.list[str | int] = []
        if pattern:
            where.append("pattern = ?")
            args.append(pattern)
        if not include_children:
            where.append("parent_id IS NULL")
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        args.append(limit)
        with self._lock:
            return self._db().execute(sql, args).fetchall()

    def stats(self, evals: bool = False) -> builtins.list[PatternStats]:  # `list` here is the method above
        """Per pattern: runs, success rate over finished runs, duration mean/p50/p95, tokens, cost.

        Real work only by default; `evals=True`: only the runs of `baton eval` (cases on recorded
        sessions or scripted failures would skew the figures of the work people do)."""
        which = "IS NOT NULL" if evals else "IS NULL"
        with self._lock:
            rows = self._db().execute(
                "SELECT pattern, status, duration_s, total_tokens, cost_usd FROM runs "
                f"WHERE parent_id IS NULL AND eval_id {which}"
            ).fetchall()
        by: dict[str, list[tuple[str, float, int, float]]] = {}
        for pattern, status, dur, tok, cost in rows:
            by.setdefault(pattern, []).append((status, dur, tok, cost))
        out = []
        for pattern in sorted(by):
            items = by[pattern]
            finished = [i for i in items if RunStatus(i[0]).finished]
            durations = [i[1] for i in finished]
            n_ok = sum(1 for i in finished if i[0] == RunStatus.succeeded)
            out.append(
                PatternStats(
                    pattern=pattern,
                    runs=len(items),
                    finished=len(finished),
                    succeeded=n_ok,
                    failed=sum(1 for i in finished if i[0] in (RunStatus.failed, RunStatus.interrupted)),
                    interrupted=sum(1 for i in finished if i[0] == RunStatus.interrupted),
                    cancelled=sum(1 for i in finished if i[0] == RunStatus.cancelled),
                    success_rate=(n_ok / len(finished)) if finished else None,
                    mean_duration_s=(sum(durations) / len(durations)) if durations else None,
                    p50_duration_s=percentile(durations, 50),
                    p95_duration_s=percentile(durations, 95),
                    mean_tokens=(sum(i[2] for i in finished) / len(finished)) if finished else None,
                    mean_cost_usd=(sum(i[3] for i in finished) / len(finished)) if finished else None,
                )
            )
        return out

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _columns(conn: sqlite3.Connection) -> tuple[str, ...]:
    """The runs table's column names in order; () when there is no table yet."""
    return tuple(row[1] for row in conn.execute("PRAGMA table_info(runs)"))
