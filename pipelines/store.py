"""Run store: `.baton/runs/<id>/` artifacts plus a SQLite index (WAL) for history and stats.

The files are the truth (run.json per run); the index is rebuilt from them when it is
missing, so deleting `runs.sqlite` loses nothing. All methods are synchronous and quick;
async callers run them with `asyncio.to_thread`.
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

from pydantic import BaseModel

from .models import RunRecord, RunStatus

BATON_DIR = ".baton"
_SCHEMA = """
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
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_pattern ON runs(pattern, created_at);
"""


class RunNotFound(LookupError):
    pass


class PatternStats(BaseModel):
    pattern: str
    runs: int
    finished: int
    succeeded: int
    failed: int
    cancelled: int
    success_rate: float | None  # succeeded / finished; None when nothing finished
    mean_duration_s: float | None
    p50_duration_s: float | None
    p95_duration_s: float | None
    mean_tokens: float | None
    mean_cost_usd: float | None


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
        """Create `.baton/` with a `.gitignore` that ignores everything in it (itself included)."""
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        gi = self.base / ".gitignore"
        if not gi.exists():
            gi.write_text("# Baton's run artifacts; not part of your project.\n*\n")

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    def write_artifact(self, run_id: str, name: str, text: str) -> Path:
        self.ensure()
        d = self.run_dir(run_id)
        d.mkdir(parents=True, exist_ok=True)
        path = d / name
        tmp = path.with_name(f".{name}.tmp")
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
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            self._conn = conn
            if fresh:
                self._reindex_locked()
        return self._conn

    def _reindex_locked(self) -> None:
        """Rebuild the index from every run.json on disk."""
        assert self._conn is not None
        for rj in sorted(self.runs_dir.glob("*/run.json")):
            try:
                rec = RunRecord.model_validate_json(rj.read_text(encoding="utf-8"))
            except Exception:
                continue  # a damaged run.json is skipped; `baton show` reports it
            self._upsert_locked(rec)
        self._conn.commit()

    def _upsert_locked(self, rec: RunRecord) -> None:
        assert self._conn is not None
        u = rec.usage
        self._conn.execute(
            "INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                rec.id,
                rec.pattern.value,
                rec.status.value,
                rec.verdict,
                rec.task,
                rec.created_at.isoformat(),
                rec.duration_s,
                u.total_tokens,
                u.cost_usd,
                rec.parent_id,
                rec.model_dump_json(),
            ),
        )

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

    def list(self, limit: int = 20, pattern: str | None = None, include_children: bool = False) -> list[RunRecord]:
        sql = "SELECT record FROM runs"
        where: list[str] = []
        args: list[str | int] = []
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
            rows = self._db().execute(sql, args).fetchall()
        return [RunRecord.model_validate_json(r[0]) for r in rows]

    def stats(self) -> builtins.list[PatternStats]:  # `list` here is the method above
        """Per pattern: runs, success rate over finished runs, duration mean/p50/p95, tokens, cost."""
        with self._lock:
            rows = self._db().execute(
                "SELECT pattern, status, duration_s, total_tokens, cost_usd FROM runs WHERE parent_id IS NULL"
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
                    failed=sum(1 for i in finished if i[0] == RunStatus.failed),
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
