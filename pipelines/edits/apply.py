"""Write a ChangeSet to a directory all-or-nothing.

First every file is checked (path allowed, current text equals the edit's old_text, target
free, text not binary); then new contents are staged in temp files beside their targets;
then they are renamed into place, keeping a hard-link backup of each replaced or deleted
file. Any failure rolls back what was done, so the tree is exactly as before.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..models import ChangeSet, EditKind
from .diff import DiffStats, diff_stats
from .errors import EditError
from .source import DirectorySource
from .text import check_writable_text, decode_text


@dataclass
class _Step:
    kind: str  # "write" (replace existing), "create", "remove"
    rel: str
    target: Path
    data: bytes = b""
    mode: int | None = None
    tmp: Path | None = None
    backup: Path | None = None
    done: bool = False


def check_changeset(root: Path | str, changeset: ChangeSet, *, excludes: Iterable[str] = ()) -> DiffStats:
    """Validate that the ChangeSet applies to `root` now, without writing anything."""
    _plan(DirectorySource(root, excludes), changeset)
    return diff_stats(changeset)


def apply_changeset(root: Path | str, changeset: ChangeSet, *, excludes: Iterable[str] = ()) -> DiffStats:
    """Apply every edit or none. Raises EditError / PathRefused with the tree untouched."""
    _execute(_plan(DirectorySource(root, excludes), changeset))
    return diff_stats(changeset)


def _execute(steps: list[_Step]) -> None:
    """Stage every write, then commit each step; on any failure undo them all."""
    created_dirs: list[Path] = []
    current = ""
    try:
        for s in steps:
            current = s.rel
            _stage(s, created_dirs)
        for s in steps:
            current = s.rel
            _commit(s)
    except BaseException as e:
        _rollback(steps, created_dirs)
        if isinstance(e, OSError):
            raise EditError(f"{current}: could not write it ({e.strerror or e}); the workspace was restored, "
                            "nothing changed", path=current) from None
        raise
    for s in steps:
        if s.backup is not None:
            with contextlib.suppress(OSError):
                s.backup.unlink()


# ------------------------------------------------------------------ plan


def _plan(src: DirectorySource, changeset: ChangeSet) -> list[_Step]:
    steps: list[_Step] = []
    seen: set[str] = set()

    def claim(path: str) -> tuple[Path, str]:
        full, rel = src.resolve(path)
        if rel in seen:
            raise EditError(f"{rel}: the change set touches this file twice; merge those edits into one", path=rel)
        seen.add(rel)
        return full, rel

    for e in changeset.edits:
        full, rel = claim(e.path)
        if e.kind is EditKind.create:
            _must_be_free(full, rel, "create")
        else:
            _must_match(src, full, rel, e.old_text or "")
        if e.new_text is not None:
            check_writable_text(e.new_text, e.target_path)
        data = (e.new_text or "").encode("utf-8")
        if e.kind is EditKind.rename:
            new_full, new_rel = claim(e.new_path or "")
            _must_be_free(new_full, new_rel, f"rename {rel} to")
            steps.append(_Step("create", new_rel, new_full, data, mode=_mode(full)))
            steps.append(_Step("remove", rel, full))
        elif e.kind is EditKind.create:
            steps.append(_Step("create", rel, full, data))
        elif e.kind is EditKind.delete:
            steps.append(_Step("remove", rel, full))
        else:
            real = Path(os.path.realpath(full))  # write through an in-root symlink, keep the link
            steps.append(_Step("write", rel, real, data, mode=_mode(real)))
    return steps


def _must_be_free(full: Path, rel: str, what: str) -> None:
    if os.path.lexists(full):
        raise EditError(f"{rel}: cannot {what} it: the file already exists in the workspace; re-read it "
                        "and edit it instead", path=rel)
    for parent in full.parents:
        if parent.exists():
            if not parent.is_dir():
                raise EditError(f"{rel}: cannot {what} it: {parent.name} is a file, not a folder", path=rel)
            break


def _must_match(src: DirectorySource, full: Path, rel: str, old_text: str) -> None:
    if not os.path.lexists(full):
        raise EditError(f"{rel}: the file no longer exists in the workspace; nothing was written", path=rel)
    if full.is_dir():
        raise EditError(f"{rel}: is a directory, not a file", path=rel)
    try:
        data = full.read_bytes()
    except OSError as e:
        raise EditError(f"{rel}: cannot be read ({e.strerror})", path=rel) from None
    if data != old_text.encode("utf-8"):
        decode_text(data, rel)  # a binary file gets the binary error
        raise EditError(
            f"{rel}: the file changed since this edit was made (its text is not the edit's old text); "
            "nothing was written; re-read the file and make the edit again",
            path=rel,
        )


def _mode(path: Path) -> int | None:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None


# ------------------------------------------------------------------ stage, commit, rollback


def _stage(s: _Step, created_dirs: list[Path]) -> None:
    if s.kind == "remove":
        return
    parent = s.target.parent
    missing = [p for p in (parent, *parent.parents) if not p.exists()]
    for d in reversed(missing):
        d.mkdir()
        created_dirs.append(d)
    tmp = parent / f".baton-{uuid.uuid4().hex[:12]}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # umask applies for new files
    s.tmp = tmp
    with os.fdopen(fd, "wb") as fh:
        fh.write(s.data)
    if s.mode is not None:
        os.chmod(tmp, s.mode)


def _commit(s: _Step) -> None:
    if s.kind in ("write", "remove"):
        s.backup = s.target.parent / f".baton-{uuid.uuid4().hex[:12]}.bak"
        if s.kind == "write":
            try:
                os.link(s.target, s.backup)
            except OSError:
                shutil.copy2(s.target, s.backup)
            assert s.tmp is not None
            os.replace(s.tmp, s.target)
        else:
            os.replace(s.target, s.backup)
    else:
        assert s.tmp is not None
        try:
            os.link(s.tmp, s.target)  # fails if something appeared at the target meanwhile
        except FileExistsError:
            raise
        except OSError:  # no hard links on this file system
            if os.path.lexists(s.target):
                raise FileExistsError(s.target) from None
            os.replace(s.tmp, s.target)
        else:
            s.done = True
            os.unlink(s.tmp)
    s.tmp = None
    s.done = True


def _rollback(steps: list[_Step], created_dirs: list[Path]) -> None:
    for s in reversed(steps):
        with contextlib.suppress(OSError):
            if s.done and s.kind == "create":
                os.unlink(s.target)
            elif s.backup is not None and os.path.lexists(s.backup):
                os.replace(s.backup, s.target)
            if s.tmp is not None and os.path.lexists(s.tmp):
                os.unlink(s.tmp)
    for d in reversed(created_dirs):
        with contextlib.suppress(OSError):
            d.rmdir()
