"""WorkspaceView: the files of one workspace root as agents and the repo map see them.

One place decides what is visible: git-aware listing (tracked + untracked-not-ignored, or
.gitignore rules outside git), never `.git/`, `.baton/` or secret files, binary and huge
files listed but not readable, and unsaved editor buffers (the overlay) winning over disk.
The core is sync and cached; the `a*` wrappers run it off the event loop.
"""

from __future__ import annotations

import asyncio
import codecs
import fnmatch
import os
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pathspec

from ..models import Scope
from .listing import list_files
from .paths import (
    PROTECTED_DIRS,
    SECRET_PATTERNS,
    PathRefused,
    is_secret_name,
    normalise_rel,
    resolve_inside,
)

if TYPE_CHECKING:
    from ..config import Settings

DEFAULT_MAX_FILE_BYTES = 512_000
SNIFF_BYTES = 8192
NOTE_BINARY = "binary, skipped"
# Skipped by name, without reading: compiled, archive, image, media and office formats.
BINARY_SUFFIXES = frozenset(
    ".mo .pyc .pyo .so .dll .dylib .exe .o .a .class .jar .war .whl .egg .zip .gz .tgz .bz2 .xz .zst .7z .rar "
    ".tar .png .jpg .jpeg .gif .bmp .ico .webp .tif .tiff .psd .mp3 .mp4 .wav .ogg .flac .avi .mov .mkv .webm "
    ".pdf .doc .docx .xls .xlsx .ppt .pptx .odt .ttf .otf .woff .woff2 .eot .sqlite .sqlite3 .db .dbf .shp "
    ".shx .bin .dat .pkl .pickle .npy .npz .parquet .h5".split()
)


@dataclass(frozen=True)
class OverlayDoc:
    """An unsaved editor buffer: its full text and the editor's version number."""

    text: str
    version: int


class FileSkipped(ValueError):
    """The file exists but Baton does not read it (binary, not UTF-8, or too large)."""

    def __init__(self, path: str, note: str) -> None:
        self.path, self.note = path, note
        super().__init__(f"{path}: {note}; Baton reads only UTF-8 text files")


# One regex for all secret name patterns: a fast "certainly not a secret" before the exact check.
_MAYBE_SECRET = re.compile("|".join(fnmatch.translate(p) for p in SECRET_PATTERNS))


def too_large_note(size: int, limit: int) -> str:
    return f"too large: {size:,} bytes, limit {limit:,}"


def classify_bytes(data: bytes, *, complete: bool) -> str | None:
    """None for UTF-8 text, else the skip note. `complete=False` for a head sniff, where a
    multi-byte character may be cut at the end."""
    if b"\0" in data:
        return NOTE_BINARY
    try:
        codecs.getincrementaldecoder("utf-8")().decode(data, final=complete)
    except UnicodeDecodeError:
        return NOTE_BINARY
    return None


class WorkspaceView:
    """Files of `root`, restricted for listing and search to `scope.path` (reads may go
    anywhere inside the root, for context such as imports)."""

    def __init__(
        self,
        root: Path | str,
        scope: Scope | None = None,
        overlay: Mapping[str, OverlayDoc | tuple[str, int]] | None = None,
        excludes: Iterable[str] = (),
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    ) -> None:
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise FileNotFoundError(f"workspace root {root} is not an existing folder; open a folder as the workspace")
        if max_file_bytes <= 0:
            raise ValueError(f"max_file_bytes must be positive, got {max_file_bytes}")
        self.excludes = tuple(excludes)
        self.max_file_bytes = max_file_bytes
        self._exclude_spec = pathspec.GitIgnoreSpec.from_lines(self.excludes) if self.excludes else None
        self._lock = threading.RLock()
        self._listing: list[str] | None = None
        self._listed: frozenset[str] = frozenset()
        self._listed_at_ns = 0
        self.source = ""  # "git" or "walk", once listed
        self._notes: dict[str, tuple[int, int, str | None]] = {}
        self._entry_notes: dict[str, str | None] = {}  # listed file → note, filled per folder asked
        self._overlay: dict[str, OverlayDoc] = {}
        for key, doc in (overlay or {}).items():
            self.set_overlay(key, doc)
        self.scope_path: str | None = None
        if scope is not None and scope.path:
            _, rel = resolve_inside(self.root, scope.path, excludes=self.excludes)
            if rel and not (self.root / rel).exists() and not any(self.is_under(k, rel) for k in self._overlay):
                raise FileNotFoundError(
                    f"scope {scope.path!r} does not exist under {self.root}; pick an existing file or folder"
                )
            self.scope_path = rel or None

    @classmethod
    def from_settings(
        cls,
        scope: Scope,
        settings: Settings,
        overlay: Mapping[str, OverlayDoc | tuple[str, int]] | None = None,
        root: Path | str | None = None,
    ) -> WorkspaceView:
        """A view with the run's excludes and size limit; `root` overrides scope.root (a sandbox)."""
        return cls(root if root is not None else scope.root_path, scope, overlay,
                   excludes=settings.exclude, max_file_bytes=settings.max_file_bytes)

    # ------------------------------------------------------------------ paths

    @staticmethod
    def is_under(rel: str, base: str | None) -> bool:
        return not base or rel == base or rel.startswith(base + "/")

    def rel(self, path: str | os.PathLike[str]) -> str:
        """Normalise a relative or absolute path to the '/'-separated form used everywhere."""
        p = os.fspath(path)
        if os.path.isabs(p):
            for candidate in (Path(os.path.normpath(p)), Path(p).resolve()):  # literal first, then real
                try:
                    return candidate.relative_to(self.root).as_posix()
                except ValueError:
                    continue
            raise PathRefused(p, "is outside the workspace root; use a path relative to it")
        return normalise_rel(p)

    def is_hidden(self, rel: str) -> bool:
        """Never listed nor readable: .git/, .baton/ and secret or excluded files."""
        parts = rel.split("/")
        if any(p in PROTECTED_DIRS for p in parts):
            return True
        if (".ssh" in parts or _MAYBE_SECRET.match(parts[-1])) and is_secret_name(rel):
            return True
        return bool(self._exclude_spec and self._exclude_spec.match_file(rel))

    def in_scope(self, rel: str) -> bool:
        return self.is_under(self.rel(rel), self.scope_path)

    # ------------------------------------------------------------------ overlay

    def set_overlay(self, path: str, doc: OverlayDoc | tuple[str, int] | None) -> None:
        """Add, replace or (with None) drop one unsaved buffer."""
        rel = self.rel(path)
        with self._lock:
            if doc is None:
                self._overlay.pop(rel, None)
            else:
                self._overlay[rel] = doc if isinstance(doc, OverlayDoc) else OverlayDoc(doc[0], int(doc[1]))
            if doc is not None and self._listing is not None and rel in self._listed:
                self._entry_notes.pop(rel, None)  # a buffer of a listed file: the listing stands
            else:
                self._listing = None
                self._entry_notes = {}

    def version_of(self, path: str) -> int | None:
        doc = self._overlay.get(self.rel(path))
        return doc.version if doc else None

    @property
    def overlay(self) -> Mapping[str, OverlayDoc]:
        return dict(self._overlay)

    # ------------------------------------------------------------------ listing

    def invalidate(self, paths: Iterable[str] | None = None) -> None:
        """Forget the cached listing (after files were created or deleted) and, for the given
        paths or all, their binary/size notes."""
        with self._lock:
            self._listing = None
            self._entry_notes = {}
            if paths is None:
                self._notes.clear()
            else:
                for p in paths:
                    self._notes.pop(self.rel(p), None)

    def _all(self) -> list[str]:
        with self._lock:
            if self._listing is None:
                started = time.time_ns()
                disk, self.source = list_files(self.root)
                visible = [r for r in disk if not self.is_hidden(r)]
                on_disk = set(disk)
                extra = [r for r in self._overlay
                         if r not in on_disk and not self.is_hidden(r) and not (self.root / r).exists()]
                self._listing = sorted(visible + extra) if extra else visible
                self._listed = frozenset(self._listing)
                self._listed_at_ns = started
            return self._listing

    def note_of(self, rel: str) -> str | None:
        """Why a listed file is not readable ("binary, skipped", "too large: ..."), or None."""
        doc = self._overlay.get(rel)
        if doc is not None:
            size = len(doc.text.encode("utf-8"))
            return too_large_note(size, self.max_file_bytes) if size > self.max_file_bytes else None
        full = os.path.join(self.root, rel)
        try:
            st = os.stat(full)
        except OSError:
            return None
        cached = self._notes.get(rel)
        if cached and cached[0] == st.st_size and cached[1] == st.st_mtime_ns:
            return cached[2]
        if st.st_size > self.max_file_bytes:
            note: str | None = too_large_note(st.st_size, self.max_file_bytes)
        elif rel[rel.rfind("."):].lower() in BINARY_SUFFIXES:
            note = NOTE_BINARY
        else:
            try:  # os.read: a third of open()'s cost, which matters over thousands of files
                fd = os.open(full, os.O_RDONLY)
                try:
                    head = os.read(fd, SNIFF_BYTES)
                finally:
                    os.close(fd)
            except OSError:
                return None
            note = classify_bytes(head, complete=len(head) >= st.st_size)
        self._notes[rel] = (st.st_size, st.st_mtime_ns, note)
        return note

    def entries(self, under: str | None = None) -> list[tuple[str, str | None]]:
        """(path, skip note or None) for every listed file under `under` (a folder or a file;
        "" is the whole root; None is the scope). Notes are cached until `invalidate()`."""
        base = self.scope_path if under is None else (self.rel(under) or None)
        with self._lock:
            listing = self._all()
            notes = self._entry_notes
            selected = listing if not base else [r for r in listing if self.is_under(r, base)]
            for r in selected:
                if r not in notes:  # classify lazily: a small scope in a huge root sniffs only its files
                    notes[r] = self.note_of(r)
            return [(r, notes[r]) for r in selected]

    def listed(self) -> list[str]:
        """Every visible file of the whole root, readable or not, without classifying them."""
        return list(self._all())

    def files(self, *, whole_root: bool = False) -> list[str]:
        """Readable text files in the scope (or the whole root), sorted."""
        return [r for r, note in self.entries("" if whole_root else None) if note is None]

    def skipped(self, *, whole_root: bool = False) -> dict[str, str]:
        """Listed files that are not readable, with the reason."""
        return {r: note for r, note in self.entries("" if whole_root else None) if note is not None}

    def is_listed(self, rel: str) -> bool:
        self._all()
        return rel in self._listed

    # ------------------------------------------------------------------ reading

    def resolve(self, path: str) -> tuple[Path, str]:
        """(absolute path, rel) for a path an agent named, or PathRefused with the reason."""
        return resolve_inside(self.root, path, excludes=self.excludes)

    def read_text(self, path: str) -> str:
        """Text of a file (overlay first), exactly as stored (no newline translation).

        Raises PathRefused (outside, .git/, secret, symlink out, ignored by .gitignore),
        FileNotFoundError, IsADirectoryError or FileSkipped, each naming the path.
        """
        full, rel = self.resolve(path)
        doc = self._overlay.get(rel)
        if doc is not None:
            note = self.note_of(rel)
            if note:
                raise FileSkipped(rel, note)
            return doc.text
        if full.is_dir():
            raise IsADirectoryError(f"{rel or '.'}: is a folder; list it with list_files, or name a file")
        if not full.is_file():
            raise FileNotFoundError(f"{rel}: no such file in the workspace; list_files shows what exists")
        self._refuse_ignored(rel, full)
        return self._read_disk(rel, full)

    def _refuse_ignored(self, rel: str, full: Path) -> None:
        if self.is_listed(rel):
            return
        try:
            # File clocks are coarse (a few ms), so "after the listing" gets a generous margin.
            fresh = full.stat().st_mtime_ns >= self._listed_at_ns - 2_000_000_000
        except OSError:
            fresh = False
        if fresh:  # created after the listing: list again once before refusing
            self.invalidate([rel])
            if self.is_listed(rel):
                return
        raise PathRefused(rel, "is ignored by .gitignore; Baton reads only files git would track")

    def _read_disk(self, rel: str, full: Path | str) -> str:
        size = os.stat(full).st_size
        if size > self.max_file_bytes:
            raise FileSkipped(rel, too_large_note(size, self.max_file_bytes))
        with open(full, "rb") as fh:
            data = fh.read(self.max_file_bytes + 1)
        if len(data) > self.max_file_bytes:
            raise FileSkipped(rel, too_large_note(len(data), self.max_file_bytes))
        note = classify_bytes(data, complete=True)
        if note:
            raise FileSkipped(rel, note)
        return data.decode("utf-8")

    def read_listed(self, rel: str) -> str:
        """Fast read of a file this view listed (skips re-resolving; a symlink is re-checked)."""
        doc = self._overlay.get(rel)
        if doc is not None:
            return doc.text
        full = os.path.join(self.root, rel)
        if rel not in self._listed or os.path.islink(full):
            return self.read_text(rel)
        return self._read_disk(rel, full)

    def content_key(self, rel: str) -> tuple[int, int] | tuple[str, int, int]:
        """A cheap key that changes when the content may have: (size, mtime_ns) on disk, or
        ("overlay", version, length) for a buffer. Raises FileNotFoundError if gone."""
        doc = self._overlay.get(rel)
        if doc is not None:
            return ("overlay", doc.version, len(doc.text))
        st = os.stat(os.path.join(self.root, rel))
        return (st.st_size, st.st_mtime_ns)

    def exists(self, path: str) -> bool:
        """True if `path` is a file this view would read (or list as skipped); False for
        missing or refused paths."""
        try:
            full, rel = self.resolve(path)
        except PathRefused:
            return False
        if rel in self._overlay:
            return True
        if not full.is_file():
            return False
        try:
            self._refuse_ignored(rel, full)
        except PathRefused:
            return False
        return True

    def snapshot(self, paths: Iterable[str]) -> dict[str, str]:
        """Texts of the given paths keyed by normalised rel; paths that do not exist are left
        out (a file to be created). Refused or unreadable paths raise."""
        out: dict[str, str] = {}
        for p in paths:
            try:
                text = self.read_text(p)
            except FileNotFoundError:
                continue
            out[self.rel(p)] = text
        return out

    # ------------------------------------------------------------------ async

    async def afiles(self, *, whole_root: bool = False) -> list[str]:
        return await asyncio.to_thread(self.files, whole_root=whole_root)

    async def aentries(self, under: str | None = None) -> list[tuple[str, str | None]]:
        return await asyncio.to_thread(self.entries, under)

    async def aread_text(self, path: str) -> str:
        return await asyncio.to_thread(self.read_text, path)

    async def aexists(self, path: str) -> bool:
        return await asyncio.to_thread(self.exists, path)

    async def asnapshot(self, paths: Iterable[str]) -> dict[str, str]:
        return await asyncio.to_thread(self.snapshot, list(paths))
