"""What the repo map knows about one file's content, and its optional on-disk cache.

Facts are keyed by a digest of the content, so a sandbox copy or a branch switch that only
changes mtimes re-reads files but does not re-parse them. The disk cache is SQLite (stdlib,
incremental writes: a warm rebuild after one edit writes one row, not the whole cache) and
holds facts by digest and, per root, the (size, mtime_ns) → digest index, so a new process
only stats files; it is JSON text, never pickle, because it lives inside the workspace.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .outline import Symbol
from .pyimports import Import

log = logging.getLogger(__name__)

CACHE_VERSION = 1
CACHE_FILE = f"repomap-v{CACHE_VERSION}.sqlite3"
PRUNE_AFTER_NS = 30 * 24 * 3600 * 1_000_000_000


@dataclass
class FileFacts:
    """Imports and defined names (from the line scan), and the outline once it was needed."""

    imports: list[Import] = field(default_factory=list)
    defs: frozenset[str] = frozenset()
    symbols: list[Symbol] | None = None
    note: str | None = None  # why the outline is partial (e.g. a syntax error)

    def to_json(self) -> str:
        return json.dumps({
            "i": [[lvl, mod, list(names)] for lvl, mod, names in self.imports],
            "d": sorted(self.defs),
            "s": None if self.symbols is None else [s.as_list() for s in self.symbols],
            "n": self.note,
        }, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> FileFacts:
        data = json.loads(text)
        symbols = data.get("s")
        return cls(
            imports=[(int(lvl), str(mod), tuple(names)) for lvl, mod, names in data["i"]],
            defs=frozenset(data["d"]),
            symbols=None if symbols is None else [Symbol.from_list(s) for s in symbols],
            note=data.get("n"),
        )


# rel → (size, mtime_ns, digest, seen_at_ns)
StatRow = tuple[int, int, str, int]


class DiskCache:
    """facts(digest → JSON) and stats(root, rel → size, mtime, digest) in
    `<cache_dir>/repomap-v1.sqlite3`. Any SQLite trouble turns the disk cache off with a
    warning; the map still works from memory."""

    def __init__(self, cache_dir: Path) -> None:
        self.path = Path(cache_dir) / CACHE_FILE
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=5.0, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("CREATE TABLE IF NOT EXISTS facts (digest TEXT PRIMARY KEY, data TEXT NOT NULL)")
            db.execute(
                "CREATE TABLE IF NOT EXISTS stats (root TEXT NOT NULL, rel TEXT NOT NULL, size INTEGER NOT NULL,"
                " mtime INTEGER NOT NULL, digest TEXT NOT NULL, seen INTEGER NOT NULL, PRIMARY KEY (root, rel))"
            )
            # forget files not seen for a month (old sandboxes, deleted branches) and their facts
            db.execute("DELETE FROM stats WHERE seen < ?", (time.time_ns() - PRUNE_AFTER_NS,))
            db.execute("DELETE FROM facts WHERE digest NOT IN (SELECT digest FROM stats)")
            self._db = db
        except (sqlite3.Error, OSError) as e:
            self._disable(e)

    def _disable(self, error: Exception) -> None:
        log.warning("repo map cache %s unusable (%s); continuing without a disk cache", self.path, error)
        if self._db is not None:
            try:
                self._db.close()
            except sqlite3.Error:
                pass
        self._db = None

    @property
    def enabled(self) -> bool:
        return self._db is not None

    def load(self) -> dict[str, FileFacts]:
        if self._db is None:
            return {}
        out: dict[str, FileFacts] = {}
        with self._lock:
            try:
                rows = self._db.execute("SELECT digest, data FROM facts").fetchall()
            except sqlite3.Error as e:
                self._disable(e)
                return {}
        for digest, data in rows:
            try:
                out[digest] = FileFacts.from_json(data)
            except (ValueError, KeyError, TypeError):
                continue  # a damaged row is re-made from the file
        return out

    def load_stats(self, root: str) -> dict[str, StatRow]:
        if self._db is None:
            return {}
        with self._lock:
            try:
                rows = self._db.execute(
                    "SELECT rel, size, mtime, digest, seen FROM stats WHERE root = ?", (root,)
                ).fetchall()
            except sqlite3.Error as e:
                self._disable(e)
                return {}
        return {rel: (size, mtime, digest, seen) for rel, size, mtime, digest, seen in rows}

    def save(self, facts: dict[str, FileFacts], root: str, stats: dict[str, StatRow]) -> None:
        """Write new or changed facts and stat rows in one transaction."""
        if self._db is None or not (facts or stats):
            return
        fact_rows = [(d, f.to_json()) for d, f in facts.items()]
        stat_rows = [(root, rel, *row) for rel, row in stats.items()]
        with self._lock:
            try:
                self._db.execute("BEGIN")
                self._db.executemany("INSERT OR REPLACE INTO facts (digest, data) VALUES (?, ?)", fact_rows)
                self._db.executemany(
                    "INSERT OR REPLACE INTO stats (root, rel, size, mtime, digest, seen) VALUES (?, ?, ?, ?, ?, ?)",
                    stat_rows,
                )
                self._db.execute("COMMIT")
            except sqlite3.Error as e:
                self._disable(e)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
