"""An isolated copy of the workspace where edits are applied and tests run, never the user's tree.

In a git repository the copy is HEAD plus the user's uncommitted changes (modified, staged,
untracked-not-ignored, deletions) and the editor overlay. HEAD comes from `git worktree add
--detach <tmp> HEAD` (a sandbox whose git history is used, e.g. by triage's bisect), or, with
`reuse_head`, as a hard-link clone of a snapshot of HEAD kept between runs (head_snapshot.py:
no file data written per run, nothing registered in the user's repository). Outside git it is a
temp copy that honours .gitignore. `changeset()` reports what changed
relative to that starting snapshot, as edits whose old_text is the snapshot text, so they
can be applied to the user's tree later. Cleanup (worktree removed, temp dirs deleted)
happens on success, failure and cancellation; the user's files, index, HEAD and branches
are never written (git runs with optional locks off, hooks and fsmonitor disabled, and
without the inherited GIT_DIR / GIT_INDEX_FILE / GIT_WORK_TREE / … a git hook would set).

The test command runs confined (sandbox_tests.py, pipelines/confine.py): only the sandbox
folder and a private HOME/TMPDIR are writable, the user's repository and its `.git` are hidden,
the worktree's `.git` link is masked (empty, read-only), its output is scrubbed of known secrets
and of the sandbox's absolute paths (the model sees workspace-relative paths). git runs as
sandbox_git.py sets it up; a clone's change detection is sandbox_clone.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Literal

import git

from .confine import Confinement
from .edits import snapshot
from .edits.apply import apply_changeset
from .edits.diff import DiffStats
from .edits.errors import BinaryFileError, EditError
from .edits.source import DirectorySource
from .edits.testrun import DetectedTests
from .edits.text import check_writable_text, decode_text
from .errors import BatonError
from .head_snapshot import HeadSnapshot, SnapshotUnavailable, acquire, clone_tree
from .models import ChangeSet, Edit, EditKind
from .recovery import SANDBOX_PREFIX, write_sandbox_marker
from .sandbox_clone import ClonedHead
from .sandbox_git import repo_with_head, run_git, run_git_bytes, worktree_lock
from .sandbox_tests import ConfinedTests
from .secretscan import register_known_secrets
from .workspace.paths import is_secret_name, protected_component, resolve_inside

_BINARY = object()  # marker: a binary file or a symlink, which a ChangeSet cannot express
_ADD_ATTEMPTS = 4
log = logging.getLogger(__name__)


class SandboxError(BatonError, RuntimeError):
    """The sandbox could not be created; the message says why and what to check."""


class Sandbox(ClonedHead, ConfinedTests):
    """Use `async with Sandbox.create(root, overlay) as sb:`; everything is removed on exit."""

    def __init__(self, root: Path, tmp: Path, excludes: Iterable[str], confinement: Confinement | None = None) -> None:
        self.root = root
        self.excludes = tuple(excludes)
        self.confinement = confinement  # None: resolved ("auto") at the first test run
        self._tmp = tmp
        self._private = tmp / "private"  # the test command's HOME, TMPDIR and JUnit folder
        self._user_paths: list[Path] = [root]  # hidden from the test command
        self._git_link: bytes | None = None  # the worktree's `.git` file, restored if a test changed it
        self._user_paths_complete = False  # the repository around `root` and its git folders added
        self.mode: Literal["worktree", "clone", "copy"] = "copy"
        self.path = tmp / "ws"
        self._repo_root: Path | None = None
        self._worktree: Path | None = None
        self._clone: Path | None = None  # clone mode: the repository's copy (links to the kept snapshot)
        self._head: HeadSnapshot | None = None  # clone mode: the kept snapshot, held until cleanup
        self._in_place: set[str] = set()  # clone mode: linked files written in place (baseline from git)
        self._base: Path | None = None  # copy and clone modes: pristine snapshot
        self._recorded: dict[str, object] = {}  # root-relative path → snapshot text / None / _BINARY
        self.skipped_binary: list[str] = []
        self._detected: DetectedTests | None = None  # the detected test command, once found
        self._closed = False

    @classmethod
    def create(
        cls, root: Path | str, overlay: Mapping[str, str] | None = None, excludes: Iterable[str] = (),
        *, confinement: Confinement | None = None, reuse_head: bool = False,
    ) -> _SandboxContext:
        """`reuse_head`: in a git repository, clone a kept snapshot of HEAD instead of checking out
        a worktree (no git history in the sandbox: `git()` is refused)."""
        return _SandboxContext(Path(root), dict(overlay or {}), tuple(excludes), confinement, reuse_head)

    @property
    def source(self) -> DirectorySource:
        return DirectorySource(self.path, self.excludes)

    # ------------------------------------------------------------------ setup

    @classmethod
    def _setup(cls, root: Path, overlay: dict[str, str], excludes: tuple[str, ...],
               confinement: Confinement | None = None, reuse_head: bool = False) -> Sandbox:
        if not root.is_dir():
            raise SandboxError(f"{root}: the workspace root is not a directory")
        root = root.resolve()
        sb = cls(root, Path(tempfile.mkdtemp(prefix=SANDBOX_PREFIX)).resolve(), excludes, confinement)
        try:
            write_sandbox_marker(sb._tmp, root)  # first: a crash from here on is cleaned up (recovery.py)
            sb._ensure_private()
            repo = repo_with_head(root)
            if repo is not None and reuse_head and sb._setup_clone(*repo):
                pass
            elif repo is not None:
                sb._setup_worktree(repo[0], repo[1])
            else:
                sb._setup_copy()
            sb._write_overlay(overlay)
            # the sandbox holds the workspace's files (a subset): only the overlay can add a secret file
            register_known_secrets([root], excludes, files=[sb.path / rel for rel in sb._recorded if is_secret_name(rel, excludes)])
        except BaseException:
            sb._cleanup()
            raise
        return sb

    def _setup_worktree(self, repo_root: Path, git_dirs: list[Path]) -> None:
        self.mode, self._repo_root = "worktree", repo_root
        self._user_paths += [repo_root, *git_dirs]
        wt = self._worktree = self._tmp / self._tmp.name  # set first: cleanup undoes a half-made one
        write_sandbox_marker(self._tmp, self.root, repo_root)  # before git registers it in the user's repository
        for attempt in range(_ADD_ATTEMPTS):
            try:
                with worktree_lock(repo_root):
                    run_git(repo_root, "worktree", "add", "--detach", "--quiet", str(wt), "HEAD")
                break
            except git.GitCommandError as e:
                # another process adding a worktree at the same moment: git reads its half-made entry
                if "failed to read" not in str(e.stderr) or attempt == _ADD_ATTEMPTS - 1:
                    raise SandboxError(f"{repo_root}: `git worktree add` failed: {str(e.stderr).strip()}") from None
                shutil.rmtree(wt, ignore_errors=True)
                time.sleep(0.2 * (attempt + 1))
        self.path = wt / self.root.relative_to(repo_root)
        self._git_link = (wt / ".git").read_bytes()
        self._copy_uncommitted(repo_root, wt)

    def _setup_clone(self, repo_root: Path, git_dirs: list[Path], commit: str) -> bool:
        """HEAD as hard links to the kept snapshot; False (nothing left made) when no snapshot can
        be used here, and the caller makes a worktree."""
        try:
            head = acquire(repo_root, git_dirs[-1], commit)
        except (SnapshotUnavailable, OSError) as e:
            log.info("no kept snapshot of HEAD (%s); checking out a worktree", e)
            return False
        self._head = head  # released by _cleanup, whatever happens next
        self.mode, self._repo_root = "clone", repo_root
        self._user_paths += [repo_root, *git_dirs, head.folder.parent]
        self._user_paths_complete = True
        clone = self._clone = self._tmp / self._tmp.name
        clone_tree(head.tree, clone)
        rel = self.root.relative_to(repo_root)
        self.path, self._base = clone / rel, head.tree / rel
        self._copy_uncommitted(repo_root, clone)  # each copy unlinks the linked file first
        return True

    def _copy_uncommitted(self, repo_root: Path, copy: Path) -> None:
        """The user's uncommitted changes (modified, staged, untracked-not-ignored, deletions) into
        `copy`, the sandbox's copy of the repository at HEAD; recorded as the baseline."""
        changed = run_git(repo_root, "diff", "--name-only", "-z", "--no-renames", "--ignore-submodules", "HEAD")
        untracked = run_git(repo_root, "ls-files", "--others", "--exclude-standard", "-z")
        for rel in sorted({p for p in (changed + untracked).split("\0") if p}):
            if ".baton" in Path(rel).parts:
                continue
            snapshot.copy_entry(repo_root / rel, copy / rel)
            root_rel = self._root_rel(copy / rel)
            if root_rel is not None:
                self._recorded[root_rel] = _read_path(copy / rel)

    def _setup_copy(self) -> None:
        self.mode = "copy"
        self._base = self._tmp / "base"
        snapshot.copy_tree(self.root, self._base)
        snapshot.copy_tree(self._base, self.path)

    def _write_overlay(self, overlay: dict[str, str]) -> None:
        for path, text in overlay.items():
            _, rel = resolve_inside(self.root, path, allow_secret=True)
            if not rel:
                raise SandboxError(f"overlay path {path!r} names the workspace root, not a file")
            check_writable_text(text, rel)
            target = self.path / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_symlink() or target.is_file():
                target.unlink()  # never write through a link (clone mode: into the kept snapshot)
            target.write_bytes(text.encode("utf-8"))
            self._recorded[rel] = text

    def _root_rel(self, sandbox_path: Path) -> str | None:
        try:
            return sandbox_path.relative_to(self.path).as_posix()
        except ValueError:
            return None

    # ------------------------------------------------------------------ use

    async def apply(self, changeset: ChangeSet) -> DiffStats:
        """Apply all-or-nothing inside the sandbox (EditError / PathRefused when it cannot)."""
        return await asyncio.to_thread(apply_changeset, self.path, changeset, excludes=self.excludes)

    async def changeset(self, summary: str = "") -> ChangeSet:
        """Everything changed in the sandbox since its snapshot (workspace + overlay)."""
        return await asyncio.to_thread(self.collect_changeset, summary)

    def collect_changeset(self, summary: str = "") -> ChangeSet:
        """Blocking form of changeset(), for worker threads."""
        edits: list[Edit] = []
        self.skipped_binary = []
        for rel in self._candidates():
            if protected_component(rel) is not None or is_secret_name(rel, self.excludes):
                continue
            base = self._baseline(rel)
            current = self._read(rel)
            if base is _BINARY or current is _BINARY:
                self.skipped_binary.append(rel)
                continue
            if base == current:
                continue
            if base is None:
                edits.append(Edit(path=rel, kind=EditKind.create, new_text=str(current)))
            elif current is None:
                edits.append(Edit(path=rel, kind=EditKind.delete, old_text=str(base)))
            else:
                edits.append(Edit(path=rel, kind=EditKind.update, old_text=str(base), new_text=str(current)))
        return ChangeSet(edits=edits, summary=summary)

    @property
    def git_root(self) -> Path | None:
        """The sandbox's own worktree (worktree mode), where git may check out other commits."""
        return self._worktree

    async def git(self, *args: str) -> str:
        """git in the sandbox's worktree (hooks off, optional locks off); never in the user's tree."""
        if self._worktree is None:
            raise SandboxError("this sandbox is a plain copy (no git history): git commands need a git repository")
        return await asyncio.to_thread(run_git, self._worktree, *args)

    # ------------------------------------------------------------------ snapshot comparison

    def _candidates(self) -> list[str]:
        found = set(self._recorded)
        if self.mode == "worktree":
            assert self._worktree is not None
            out = run_git(self._worktree, "status", "--porcelain=v1", "-z", "--untracked-files=all",
                       "--no-renames", "--ignore-submodules")
            for entry in out.split("\0"):
                if len(entry) > 3:
                    rel = self._root_rel(self._worktree / entry[3:])
                    if rel is not None:
                        found.add(rel)
        elif self.mode == "clone":
            found |= self._clone_candidates()  # sandbox_clone.py
        else:
            assert self._base is not None
            found |= set(snapshot.list_files(self._base)) | set(snapshot.list_files(self.path))
        return sorted(found)

    def _baseline(self, rel: str) -> object:
        if rel in self._recorded:
            return self._recorded[rel]
        if self.mode == "clone" and rel in self._in_place:
            return self._from_git(rel)  # the snapshot's copy is this very file, as written
        if self.mode in ("copy", "clone"):
            assert self._base is not None
            return _read_path(self._base / rel)
        return self._from_git(rel)

    def _from_git(self, rel: str) -> object:
        """The file as HEAD has it (with the repository's filters), None when HEAD has no such file."""
        if self._head is not None and self._clone is not None and self._repo_root is not None:
            git_dir, rev = self._repo_root, self._head.commit
            repo_rel = (self.path / rel).relative_to(self._clone).as_posix()
        else:
            assert self._worktree is not None
            git_dir, rev = self._worktree, "HEAD"
            repo_rel = (self.path / rel).relative_to(self._worktree).as_posix()
        try:
            data = run_git_bytes(git_dir, "cat-file", "--filters", f"{rev}:{repo_rel}")
        except git.GitCommandError:
            return None  # not in HEAD: the file is new
        return _as_text(data)

    def _read(self, rel: str) -> object:
        return _read_path(self.path / rel)

    # ------------------------------------------------------------------ cleanup

    async def close(self) -> None:
        if not self._closed:
            await asyncio.shield(asyncio.to_thread(self._cleanup))

    def _cleanup(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._worktree is not None and self._repo_root is not None:
            with worktree_lock(self._repo_root):
                try:
                    run_git(self._repo_root, "worktree", "remove", "--force", str(self._worktree))
                except git.GitCommandError:
                    shutil.rmtree(self._worktree, ignore_errors=True)
                    with contextlib.suppress(git.GitCommandError):
                        run_git(self._repo_root, "worktree", "prune")
        shutil.rmtree(self._tmp, ignore_errors=True)
        if self._head is not None:
            self._head.release()  # after the links are gone: the snapshot may be removed now


class _SandboxContext:
    """`async with`: builds the sandbox off the event loop; removes it on exit or cancellation."""

    def __init__(self, root: Path, overlay: dict[str, str], excludes: tuple[str, ...],
                 confinement: Confinement | None, reuse_head: bool = False) -> None:
        self._args = (root, overlay, excludes, confinement, reuse_head)
        self._sandbox: Sandbox | None = None

    async def __aenter__(self) -> Sandbox:
        task = asyncio.ensure_future(asyncio.to_thread(Sandbox._setup, *self._args))
        try:
            self._sandbox = await asyncio.shield(task)
        except asyncio.CancelledError:
            # the setup thread cannot be stopped: let it finish, then undo what it made
            with contextlib.suppress(BaseException):
                await asyncio.shield(_wait_cleanup(task))
            raise
        return self._sandbox

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._sandbox is not None:
            await self._sandbox.close()


async def _wait_cleanup(task: asyncio.Future[Sandbox]) -> None:
    with contextlib.suppress(BaseException):
        await task
    if not task.cancelled() and task.exception() is None:
        await asyncio.to_thread(task.result()._cleanup)


async def apply_to_workspace(root: Path | str, changeset: ChangeSet, *, excludes: Iterable[str] = ()) -> DiffStats:
    """apply_changeset on the user's tree, off the event loop (for `baton run --apply`)."""
    return await asyncio.to_thread(apply_changeset, root, changeset, excludes=tuple(excludes))


# ------------------------------------------------------------------ helpers


def _as_text(data: bytes | None) -> object:
    if data is None:
        return None
    try:
        return decode_text(data, "")
    except BinaryFileError:
        return _BINARY


def _read_path(path: Path) -> object:
    if path.is_symlink() or not path.is_file():
        return None if not path.exists() or path.is_dir() else _BINARY
    try:
        return _as_text(path.read_bytes())
    except OSError as e:
        raise EditError(f"{path.name}: a file in the sandbox cannot be read ({e.strerror})") from None
