"""Cheap sandboxes for a fan-out: one snapshot of the workspace per run, hard-link clones per module.

`Sandbox.create` checks out the whole tree, so N modules would cost N × repository size. Here the
snapshot (a normal Sandbox: worktree + uncommitted changes + editor overlay) is made once; each
module gets a clone whose folders are new and whose files are hard links to the snapshot's, so
set-up costs one link per file and no file data. Edits never write through a link: the edit
layer writes a temporary file and renames it over the old one (edits/apply.py), which leaves
the snapshot's copy untouched. `changeset()` skips files whose inode is still the snapshot's,
so comparing a clone costs a `stat` per file, not a read.

The integration sandbox, where the merge queue applies module after module and runs the tests,
is a full copy (made once): model-written tests that rewrite files in place cannot reach the
snapshot through it. Known limit: a module's own tests that open a tracked file for writing
in place (not via rename) write through the link into the snapshot its siblings read; the merge
queue's validation on the independent integration copy is what catches the consequence.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

from .confine import Confinement
from .edits.snapshot import SKIP_DIRS
from .sandbox import Sandbox
from .sandbox_git import git_folders


class ClonedSandbox(Sandbox):
    """A Sandbox in copy mode whose baseline is a shared snapshot folder (never written)."""

    def __init__(self, root: Path, tmp: Path, excludes: Iterable[str], baseline: Path,
                 confinement: Confinement | None = None, user_git: list[Path] | None = None) -> None:
        super().__init__(root, tmp, excludes, confinement)
        self.mode = "copy"
        self._base = baseline
        self.path = tmp / "ws"
        if user_git is not None:  # the repository around `root`, found once for the whole pool
            self._user_paths += user_git
            self._user_paths_complete = True

    def _candidates(self) -> list[str]:
        assert self._base is not None
        base, mine = _inodes(self._base), _inodes(self.path)
        changed = {rel for rel, ino in mine.items() if base.get(rel) != ino}
        changed |= {rel for rel in base if rel not in mine}
        return sorted(changed | set(self._recorded))


class SandboxPool:
    """Clones of one snapshot folder (`base`), made and removed off the event loop."""

    def __init__(self, root: Path, base: Path, excludes: Iterable[str] = (), *,
                 confinement: Confinement | None = None) -> None:
        self.root, self.base, self.excludes = Path(root), Path(base), tuple(excludes)
        self.confinement = confinement  # how the clones' tests run (None: "auto" at the first run)
        self._user_git: list[Path] | None = None  # hidden from every clone's tests; one git call per pool

    @contextlib.asynccontextmanager
    async def clone(self, source: Path | None = None, *, full_copy: bool = False) -> AsyncIterator[ClonedSandbox]:
        """A clone of the snapshot, or of `source` (then frozen first, so later changes to `source`
        do not move this clone's baseline). `full_copy` copies file data instead of linking."""
        task = asyncio.ensure_future(asyncio.to_thread(self._make, source, full_copy))
        try:
            sb = await asyncio.shield(task)
        except asyncio.CancelledError:
            with contextlib.suppress(BaseException):
                made = await task
                await asyncio.to_thread(made._cleanup)
            raise
        try:
            yield sb
        finally:
            await sb.close()

    def _make(self, source: Path | None, full_copy: bool) -> ClonedSandbox:
        tmp = Path(tempfile.mkdtemp(prefix="baton-module-")).resolve()
        try:
            baseline = self.base
            if source is not None:
                baseline = tmp / "base"
                link_tree(source, baseline)
            if self._user_git is None:
                self._user_git = git_folders(self.root)
            sb = ClonedSandbox(self.root, tmp, self.excludes, baseline, self.confinement, self._user_git)
            if full_copy:
                shutil.copytree(baseline, sb.path, symlinks=True, ignore=shutil.ignore_patterns(*SKIP_DIRS))
            else:
                link_tree(baseline, sb.path)
            return sb
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def link_tree(src: Path, dst: Path) -> int:
    """Recreate `src`'s folders under `dst` with every file hard-linked (symlinks copied as links).
    Returns the number of entries linked."""
    count = 0
    dst.mkdir(parents=True, exist_ok=True)
    for dirpath, dirnames, filenames in os.walk(src, followlinks=False):
        here = Path(dirpath)
        rel = here.relative_to(src)
        target_dir = dst / rel
        keep = []
        for d in dirnames:
            if d in SKIP_DIRS and here == src:
                continue
            s = here / d
            if s.is_symlink():
                os.symlink(os.readlink(s), target_dir / d)
                count += 1
            else:
                (target_dir / d).mkdir()
                keep.append(d)
        dirnames[:] = keep
        for f in filenames:
            if f in SKIP_DIRS and here == src:
                continue  # a worktree's `.git` file
            s = here / f
            if s.is_symlink():
                os.symlink(os.readlink(s), target_dir / f)
            else:
                os.link(s, target_dir / f)
            count += 1
    return count


def _inodes(root: Path) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        if here == root:
            dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
        rel_dir = here.relative_to(root).as_posix()
        for name in filenames + [d for d in dirnames if (here / d).is_symlink()]:
            if here == root and name in SKIP_DIRS:
                continue
            st = os.lstat(here / name)
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            out[rel] = (st.st_ino, st.st_dev)
    return out
