"""Repo map: a compact outline of the scope, most relevant files first, within a token budget.

Order: files the task or the caller names; files defining identifiers the task names; their
imports, then their importers (Python import graph resolved to workspace files); then the
rest of the scope by how many files import them. Ranking needs only a line scan of each
Python file (imports and definition names); `ast` runs only for the files that are shown.
Everything is cached by content digest behind a (size, mtime_ns) check, in memory and, if a
cache folder is given, on disk, so a warm rebuild after one edit rescans one file. The text
itself is laid out by mapformat.py.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

from .mapcache import DiskCache, FileFacts, StatRow
from .mapformat import render_map
from .outline import Symbol, outline
from .paths import PathRefused
from .pyimports import ModuleIndex, digest_text, scan_disk_files, scan_text
from .view import FileSkipped, WorkspaceView

log = logging.getLogger(__name__)

CHARS_PER_TOKEN = 4
RACY_NS = 2_000_000_000  # mtimes this close to the last check may hide a same-size rewrite
MAX_IMPORTERS = 20  # per named file
# Cold scans of at least this many files go to a process pool. On Django (2,774 Python files,
# 2 CPUs) the pool was no faster than scanning in-process (pool start-up eats the gain), so
# only much larger trees use it; see benchmarks/README.md.
PARALLEL_MIN_FILES = 5000
MAX_ROOTS = 8
MAX_FACTS = 100_000
CODE_SUFFIXES = frozenset(
    ".py .pyi .js .jsx .mjs .cjs .ts .tsx .go .rs .java .kt .kts .scala .rb .php .c .h .cc .cpp .hpp .cs "
    ".swift .m .lua .sh .ex .exs .erl .hs .ml .clj .dart .vue .svelte .md .markdown .mdx".split()
)
_PATHLIKE = re.compile(r"[\w./\-]+")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")
_CALLED = re.compile(r"([A-Za-z_]\w{2,})\(")
_BACKTICKED = re.compile(r"`([^`\n]+)`")


def _is_py(rel: str) -> bool:
    return rel.endswith((".py", ".pyi"))


def _suffix(rel: str) -> str:
    name = rel.rsplit("/", 1)[-1]
    return name[name.rfind("."):].lower() if "." in name else ""


def code_idents(text: str) -> set[str]:
    """Identifiers that look like code in free text: snake_case, CamelCase, `quoted`, or called()."""
    out = {t for t in _IDENT.findall(text)
           if "_" in t.strip("_") or (any(c.isupper() for c in t[1:]) and any(c.islower() for c in t))}
    out.update(_CALLED.findall(text))
    for quoted in _BACKTICKED.findall(text):
        out.update(_IDENT.findall(quoted))
    return out


@dataclass
class _Stat:
    key: tuple[object, ...]
    digest: str
    seen_ns: int

    def stale(self, key: tuple[object, ...]) -> bool:
        if key != self.key:
            return True
        # disk key (size, mtime_ns): a write in the same clock tick as our read keeps both
        return len(key) == 2 and int(key[1]) >= self.seen_ns - RACY_NS  # type: ignore[call-overload]


@dataclass
class _RootState:
    listing: tuple[str, ...] = ()
    index: ModuleIndex = field(default_factory=ModuleIndex)
    basenames: dict[str, list[str]] = field(default_factory=dict)
    stems: dict[str, list[str]] = field(default_factory=dict)
    stats: dict[str, _Stat] = field(default_factory=dict)
    edges: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)  # rel → (digest, targets)
    dirty_stats: dict[str, StatRow] = field(default_factory=dict)


class RepoMapper:
    """Builds repo maps and keeps what it parsed between calls (one instance per process is
    enough; roots are kept apart). Thread-safe: builds are serialised."""

    def __init__(
        self,
        cache_dir: Path | str | None = None,
        *,
        workers: int | None = None,
        parallel_min_files: int = PARALLEL_MIN_FILES,
    ) -> None:
        self.workers = workers if workers is not None else min(4, os.cpu_count() or 1)
        self.parallel_min_files = parallel_min_files
        self._facts: dict[str, FileFacts] = {}
        self._dirty_facts: dict[str, FileFacts] = {}
        self._roots: OrderedDict[str, _RootState] = OrderedDict()
        self._disk = DiskCache(Path(cache_dir)) if cache_dir is not None else None
        self._disk_loaded = False
        self._lock = threading.Lock()
        self._checked: set[str] = set()
        self.last_stats: dict[str, float] = {}

    # ------------------------------------------------------------------ public

    def build(self, view: WorkspaceView, task_text: str, token_budget: int, *, focus: Iterable[str] = ()) -> str:
        """The map text, at most `token_budget` * 4 characters."""
        with self._lock:
            started = time.perf_counter()
            self.last_stats = {"read": 0, "scanned": 0, "outlined": 0}
            self._checked = set()  # files already verified during this build
            text = self._build(view, task_text or "", max(0, token_budget) * CHARS_PER_TOKEN, list(focus))
            self._persist(view)
            if len(self._facts) > MAX_FACTS:  # long sessions: drop facts of old file versions
                live = {st.digest for state in self._roots.values() for st in state.stats.values()}
                self._facts = {d: f for d, f in self._facts.items() if d in live}
            self.last_stats["seconds"] = time.perf_counter() - started
            return text

    async def abuild(self, view: WorkspaceView, task_text: str, token_budget: int, *,
                     focus: Iterable[str] = ()) -> str:
        return await asyncio.to_thread(self.build, view, task_text, token_budget, focus=list(focus))

    def close(self) -> None:
        if self._disk is not None:
            self._disk.close()

    # ------------------------------------------------------------------ state and facts

    def _state(self, view: WorkspaceView) -> _RootState:
        key = str(view.root)
        state = self._roots.get(key)
        if state is None:
            state = _RootState()
            if self._disk is not None:
                if not self._disk_loaded:
                    self._facts.update(self._disk.load())
                    self._disk_loaded = True
                for rel, (size, mtime, digest, seen) in self._disk.load_stats(key).items():
                    state.stats[rel] = _Stat((size, mtime), digest, seen)
            self._roots[key] = state
            while len(self._roots) > MAX_ROOTS:
                self._roots.popitem(last=False)
        self._roots.move_to_end(key)
        listing = tuple(view.listed())  # names only: the import index needs no file contents
        if listing != state.listing:
            state.listing = listing
            state.index = ModuleIndex.build(listing)
            state.edges.clear()
            state.basenames, state.stems = defaultdict(list), defaultdict(list)
            for rel in listing:
                name = rel.rsplit("/", 1)[-1]
                state.basenames[name].append(rel)
                state.stems[name.split(".", 1)[0]].append(rel)
        return state

    def _record(self, state: _RootState, rel: str, key: tuple[object, ...], digest: str,
                facts: FileFacts | None, now: int) -> None:
        state.stats[rel] = _Stat(key, digest, now)
        self._checked.add(rel)
        if len(key) == 2:
            state.dirty_stats[rel] = (int(key[0]), int(key[1]), digest, now)  # type: ignore[call-overload]
        if facts is not None and digest not in self._facts:
            self._facts[digest] = facts
            self._dirty_facts[digest] = facts

    def _facts_for(self, view: WorkspaceView, state: _RootState, rels: Iterable[str]) -> dict[str, FileFacts]:
        """Facts of each readable file, scanning only what changed since it was last seen."""
        now = time.time_ns()
        out: dict[str, FileFacts] = {}
        misses: list[tuple[str, tuple[object, ...]]] = []
        for rel in rels:
            key: tuple[object, ...]
            try:
                key = view.content_key(rel)
            except OSError:
                continue
            st = state.stats.get(rel)
            if st is not None and st.digest in self._facts and (
                    not st.stale(key) or (rel in self._checked and st.key == key)):
                out[rel] = self._facts[st.digest]
            else:
                misses.append((rel, key))
        if not misses:
            return out
        plain: list[tuple[str, tuple[object, ...]]] = [(r, k) for r, k in misses if len(k) == 2 and not os.path.islink(os.path.join(view.root, r))]
        if len(plain) >= self.parallel_min_files and self.workers > 1:
            done = self._scan_parallel(view, state, plain, now, out)
            misses = [(r, k) for r, k in misses if r not in done]
        for rel, key in misses:
            try:
                text = view.read_listed(rel)
            except (OSError, FileSkipped, PathRefused, UnicodeDecodeError):
                continue
            self.last_stats["read"] += 1
            digest = digest_text(text)
            facts = self._facts.get(digest)
            if facts is None:
                imports, defs = scan_text(rel, text)
                facts = FileFacts(imports, frozenset(defs))
                self.last_stats["scanned"] += 1
            self._record(state, rel, key, digest, facts, now)
            out[rel] = self._facts[digest]
        return out

    def _scan_parallel(self, view: WorkspaceView, state: _RootState, plain: list[tuple[str, tuple[object, ...]]],
                       now: int, out: dict[str, FileFacts]) -> set[str]:
        keys = dict(plain)
        rels = list(keys)
        n = self.workers * 4
        chunks = [rels[i::n] for i in range(n)]
        done: set[str] = set()
        try:
            # forkserver: safe to start from a thread (builds run under asyncio.to_thread)
            with ProcessPoolExecutor(self.workers, mp_context=get_context("forkserver")) as pool:
                results = pool.map(scan_disk_files, [str(view.root)] * n, chunks, [view.max_file_bytes] * n)
                for chunk in results:
                    for rel, digest, imports, defs in chunk:
                        done.add(rel)
                        self.last_stats["read"] += 1
                        if digest is None:
                            continue
                        self._record(state, rel, keys[rel], digest, FileFacts(imports, frozenset(defs)), now)
                        out[rel] = self._facts[digest]
                        self.last_stats["scanned"] += 1
        except Exception as e:  # a broken pool must not break the map: scan in-process instead
            log.warning("parallel repo scan failed (%s); scanning in-process", e)
            return set()
        return done

    def _symbols(self, view: WorkspaceView, state: _RootState, rel: str) -> tuple[list[Symbol], str | None]:
        facts = self._facts_for(view, state, [rel]).get(rel)
        if facts is None:
            return [], None
        if facts.symbols is None:
            try:
                text = view.read_listed(rel)
            except (OSError, FileSkipped, PathRefused, UnicodeDecodeError):
                return [], None
            facts.symbols, facts.note = outline(rel, text) if _suffix(rel) in CODE_SUFFIXES else ([], None)
            self._dirty_facts[state.stats[rel].digest] = facts
            self.last_stats["outlined"] += 1
        return facts.symbols, facts.note

    def _persist(self, view: WorkspaceView) -> None:
        state = self._roots.get(str(view.root))
        if self._disk is not None and state is not None:
            self._disk.save(self._dirty_facts, str(view.root), state.dirty_stats)
        self._dirty_facts = {}
        if state is not None:
            state.dirty_stats = {}

    # ------------------------------------------------------------------ ranking

    def _named(self, view: WorkspaceView, state: _RootState, text: str, focus: list[str]) -> list[str]:
        listed = set(state.listing)
        out: list[str] = []
        for f in focus:
            try:
                rel = view.rel(f)
            except PathRefused:
                continue
            if rel in listed:
                out.append(rel)
        for tok in dict.fromkeys(_PATHLIKE.findall(text)):
            tok = tok.strip(".-/")
            if not tok or ("." not in tok and "/" not in tok):
                continue
            if tok in listed:
                out.append(tok)
                continue
            base = tok.rsplit("/", 1)[-1]
            found = [r for r in state.basenames.get(base, ()) if r == tok or r.endswith("/" + tok)]
            if not found and "/" not in tok and _suffix(tok) not in CODE_SUFFIXES:
                found = state.index.lookup(tok)  # a dotted module name
            if 1 <= len(found) <= 5:
                out += sorted(found, key=lambda r: not view.is_under(r, view.scope_path))
        for ident in sorted(code_idents(text)):
            found = state.stems.get(ident, [])
            if 1 <= len(found) <= 3:
                out += found
        return [r for r in dict.fromkeys(out) if view.note_of(r) is None]

    def _build(self, view: WorkspaceView, task_text: str, budget: int, focus: list[str]) -> str:
        if budget <= 0:
            return ""
        state = self._state(view)
        scope = view.files()
        named = self._named(view, state, task_text, focus)
        facts = self._facts_for(view, state, [r for r in dict.fromkeys([*scope, *named]) if _is_py(r)])
        self.last_stats["files"] = len(scope)

        # files defining identifiers the task mentions (ignoring names defined all over)
        idents = code_idents(task_text)
        definers: dict[str, list[str]] = defaultdict(list)
        if idents:
            for rel in scope:
                f = facts.get(rel)
                if f is not None and not f.defs.isdisjoint(idents):
                    for name in f.defs & idents:
                        definers[name].append(rel)
        by_ident = [r for name in sorted(definers) if len(definers[name]) <= 5 for r in definers[name]]

        targets: dict[str, tuple[str, ...]] = {}
        for rel, f in facts.items():
            digest = state.stats[rel].digest
            cached = state.edges.get(rel)
            if cached is None or cached[0] != digest:
                found = {t for imp in f.imports for t in state.index.resolve(rel, imp) if t != rel}
                cached = (digest, tuple(sorted(found)))
                state.edges[rel] = cached
            targets[rel] = cached[1]
        importers: dict[str, list[str]] = defaultdict(list)
        for rel, ts in targets.items():
            for t in ts:
                importers[t].append(rel)

        def rank(rel: str) -> tuple[object, ...]:
            f = facts.get(rel)
            empty = (f is not None and not f.defs) or _suffix(rel) not in CODE_SUFFIXES
            return (-len(importers.get(rel, ())), empty, rel.count("/"), rel)

        first = list(dict.fromkeys([*named, *by_ident]))
        near: list[str] = []
        for rel in first:
            near += sorted(targets.get(rel, ()), key=rank)
        for rel in first:
            near += sorted(importers.get(rel, ()), key=rank)[:MAX_IMPORTERS]
        order = list(dict.fromkeys([*first, *near, *sorted(scope, key=rank)]))
        where = view.scope_path or "the workspace"
        header = f"Repo map of {where} ({len(scope)} files; most relevant first; numbers are line numbers):"
        text, shown = render_map(order, header=header, budget=budget, named=set(named), idents=idents,
                                 symbols_of=lambda rel: self._symbols(view, state, rel))
        self.last_stats["shown"] = shown
        return text

_default_mappers: dict[str | None, RepoMapper] = {}
_default_lock = threading.Lock()


def default_mapper(cache_dir: Path | str | None = None) -> RepoMapper:
    """One shared mapper per cache folder, so repeated maps in a process stay warm."""
    key = None if cache_dir is None else str(Path(cache_dir).resolve())
    with _default_lock:
        mapper = _default_mappers.get(key)
        if mapper is None:
            mapper = _default_mappers[key] = RepoMapper(cache_dir)
        return mapper


def build_repo_map(view: WorkspaceView, task_text: str, token_budget: int, *, focus: Iterable[str] = (),
                   mapper: RepoMapper | None = None, cache_dir: Path | str | None = None) -> str:
    """A compact outline of the view's scope that fits `token_budget` (≈ chars/4), most relevant first."""
    return (mapper or default_mapper(cache_dir)).build(view, task_text, token_budget, focus=focus)


async def abuild_repo_map(view: WorkspaceView, task_text: str, token_budget: int, *, focus: Iterable[str] = (),
                          mapper: RepoMapper | None = None, cache_dir: Path | str | None = None) -> str:
    return await (mapper or default_mapper(cache_dir)).abuild(view, task_text, token_budget, focus=focus)
