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
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

from .confine import Confinement
from .edits.snapshot import SKIP_DIRS
from .linktree import inodes, link_tree
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
        base, mine = inodes(self._base), inodes(self.path)
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
