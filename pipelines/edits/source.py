"""Where edits read the current text of a file: the workspace, an editor overlay, a sandbox.

Edit formats only need `read_text(rel) -> str | None`, so the same parsing and matching code
runs on the user's files, on unsaved buffers and on the sandbox copy.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Protocol, runtime_checkable

from ..workspace.paths import PathRefused, normalise_rel, resolve_inside
from .errors import EditError
from .text import decode_text


@runtime_checkable
class TextSource(Protocol):
    def read_text(self, rel: str) -> str | None:
        """Current text of `rel`, None if it does not exist. May raise PathRefused / EditError."""
        ...


def canonical_path(source: TextSource, path: str) -> str:
    """The '/'-separated relative path the source uses for `path` (refusing escapes)."""
    own = getattr(source, "canonical_path", None)
    return str(own(path)) if callable(own) else plain_canonical_path(path)


def plain_canonical_path(path: str) -> str:
    """Relative, normalised, and inside the root; for sources without a directory to check."""
    if not isinstance(path, str) or not path.strip():
        raise PathRefused(repr(path), "a path is required (relative to the workspace root)")
    raw = path.strip().replace("\\", "/")
    if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        raise PathRefused(path, "is absolute; use a path relative to the workspace root")
    rel = posixpath.normpath(normalise_rel(raw))
    if rel == ".." or rel.startswith("../"):
        raise PathRefused(path, "climbs out of the workspace root with '..'")
    if rel in ("", "."):
        raise PathRefused(path, "names the workspace root itself, not a file")
    return rel


class DirectorySource:
    """Files under a root directory, every path checked by workspace.paths.resolve_inside."""

    def __init__(self, root: Path | str, excludes: Iterable[str] = ()) -> None:
        self.root = Path(root).resolve()
        self.excludes = tuple(excludes)

    def resolve(self, path: str) -> tuple[Path, str]:
        full, rel = resolve_inside(self.root, path, excludes=self.excludes)
        if not rel:
            raise PathRefused(path, "names the workspace root itself, not a file")
        return full, rel

    def canonical_path(self, path: str) -> str:
        return self.resolve(path)[1]

    def has_folder(self, rel: str) -> bool:
        try:
            return self.resolve(rel)[0].is_dir()
        except PathRefused:
            return False

    def read_text(self, rel: str) -> str | None:
        full, rel = self.resolve(rel)
        if full.is_dir():
            raise EditError(f"{rel}: is a directory, not a file", path=rel)
        if not full.exists():
            return None
        try:
            data = full.read_bytes()
        except OSError as e:
            raise EditError(f"{rel}: cannot be read ({e.strerror})", path=rel) from None
        return decode_text(data, rel)


class MemorySource:
    """Texts held in memory (an editor overlay), falling back to another source for the rest."""

    def __init__(self, files: Mapping[str, str | None], base: TextSource | None = None) -> None:
        self.base = base
        self.files = {self.canonical_path(p): t for p, t in files.items()}

    def canonical_path(self, path: str) -> str:
        return canonical_path(self.base, path) if self.base is not None else plain_canonical_path(path)

    def has_folder(self, rel: str) -> bool:
        prefix = self.canonical_path(rel) + "/"
        if any(k.startswith(prefix) and t is not None for k, t in self.files.items()):
            return True
        own = getattr(self.base, "has_folder", None)
        return bool(own(rel)) if callable(own) else False

    def read_text(self, rel: str) -> str | None:
        key = self.canonical_path(rel)
        if key in self.files:
            return self.files[key]
        return self.base.read_text(key) if self.base is not None else None
