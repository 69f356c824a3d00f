"""A pristine checkout of HEAD kept between runs; a run's sandbox is a hard-link clone of it.

`git worktree add` writes every file of the tree and the clean-up removes them again: on a
sympy-sized repository that is 0.3-2.5 s per run here (creating files is what costs on this
disk). A snapshot of HEAD is written once per commit with a private index (`git read-tree` +
`git checkout-index`), so nothing is registered in the user's repository, and each sandbox
links its files: one link per file, no file data. Edits never write through a link (edits/apply.py
replaces a file by rename) and the sandbox unlinks a file before copying the user's uncommitted
version over it.

A test that writes a linked file in place would change the snapshot for the runs after it. So the
manifest holds every file's mode, size and content hash, and every `acquire` checks them all
before the snapshot is used again (one `git hash-object --stdin-paths`, ~0.15 s on sympy's 2,087
files, in its own process so it does not fight the run's threads for the GIL; `clone_tree` links
with `cp -al` for the same reason): a snapshot that fails is
condemned (never handed out again, removed once no sandbox holds it) and a fresh one is made.
Runs that share a snapshot at the same time share its inodes, so an in-place write in one is
seen by the other until the next check; the sandbox lists such files as changed (stat against
the manifest) and reads their baseline from git.

Store: `<tmp>/baton-snapshots-<uid>/<repository key>/<commit>.<token>/` holding `tree/`,
`manifest.json` and `lease` (each sandbox using the snapshot holds a shared flock on it; removal
takes it exclusively). The store must be a private folder of this user, or it is not used (the
sandbox falls back to a worktree). One snapshot per repository is kept (its newest HEAD), and at
most `MAX_KEPT` across repositories, the most recently used.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import secrets
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import git

from .errors import BatonError
from .linktree import link_tree, scan
from .sandbox_git import git_env, run_git

log = logging.getLogger(__name__)
MAX_KEPT = 4  # snapshots kept across repositories, one each (each is one checkout of a tree)
STORE_PREFIX = "baton-snapshots-"
_MANIFEST = "manifest.json"
_LEASE = "lease"
_CONDEMNED = "condemned"
_REFUSED = ".refused"  # `<commit>.refused` in a repository's folder: that tree cannot be kept
_FORMAT = 1

# repository-relative path -> [mode, size, mtime_ns, git blob id of the raw content]
Manifest = dict[str, list[object]]


class SnapshotUnavailable(BatonError, RuntimeError):
    """No kept snapshot can be used here (the store is not private, git failed, …): the caller
    checks out a worktree instead. `for_commit`: it never will be for this commit (its tree)."""

    def __init__(self, message: str, *, for_commit: bool = False) -> None:
        super().__init__(message)
        self.for_commit = for_commit


class HeadSnapshot:
    """One kept snapshot, held for one sandbox (a shared lock on its lease) until `release()`."""

    def __init__(self, folder: Path, lease_fd: int, manifest: Manifest, commit: str, built: bool) -> None:
        self.folder = folder
        self.tree = folder / "tree"
        self.commit = commit
        self.built = built  # made for this sandbox (else reused from an earlier run)
        self._manifest = manifest
        self._fd: int | None = lease_fd
        self._inodes: dict[str, int] | None = None

    @property
    def inodes(self) -> dict[str, int]:
        """Inode of every file and symlink of the tree, by repository-relative path (found once):
        a sandbox file with the same inode is still the snapshot's."""
        if self._inodes is None:
            self._inodes = {rel: entry.inode() for rel, entry in scan(self.tree)}
        return self._inodes

    def written_in_place(self, repo_rel: str, st: os.stat_result) -> bool:
        """Whether this linked file no longer has the size, mode or mtime it was checked out with."""
        entry = self._manifest.get(repo_rel)
        if entry is None:
            return False
        mode, size, mtime_ns = entry[0], entry[1], entry[2]
        return (stat.S_IMODE(st.st_mode), st.st_size, st.st_mtime_ns) != (mode, size, mtime_ns)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def store_root() -> Path:
    return Path(tempfile.gettempdir()) / f"{STORE_PREFIX}{os.getuid()}"


def acquire(repo_root: Path, git_common_dir: Path, commit: str) -> HeadSnapshot:
    """A checked snapshot of `commit`, made now if none is kept (blocking: call in a thread)."""
    store = _private_dir(store_root())
    key_dir = _private_dir(store / _repo_key(repo_root, git_common_dir))
    with _locked(key_dir / "lock"):
        _remove_stale_builds(key_dir)
        refused = key_dir / f"{commit}{_REFUSED}"
        if refused.is_file():  # said once per commit, not rebuilt and refused again every run
            raise SnapshotUnavailable(refused.read_text(encoding="utf-8", errors="replace"))
        try:
            snap = _reuse(key_dir, commit) or _build(repo_root, key_dir, commit)
        except SnapshotUnavailable as e:
            if e.for_commit:
                refused.write_text(str(e), encoding="utf-8")
            raise
    try:
        _evict(store, keep=snap.folder)
    except OSError as e:  # upkeep only: the snapshot in hand is fine
        log.warning("kept snapshots: old ones could not be removed from %s (%s)", store, e)
    return snap


def held_snapshots(tmp_dir: Path | None = None) -> list[Path]:
    """The kept snapshots under `tmp_dir` (default: the temp folder) that a sandbox still holds."""
    root = Path(tmp_dir or tempfile.gettempdir())
    held = []
    for lease in sorted(root.glob(f"{STORE_PREFIX}*/*/*/{_LEASE}")):
        fd = _open_lease(lease.parent)
        if fd is None:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            held.append(lease.parent)
        finally:
            os.close(fd)
    return held


# ------------------------------------------------------------------ reuse and build


def _reuse(key_dir: Path, commit: str) -> HeadSnapshot | None:
    folders = [f for f in key_dir.glob(f"{commit}.*") if f.is_dir() and not (f / _CONDEMNED).exists()]
    for folder in sorted(folders, key=_mtime, reverse=True):
        fd = _open_lease(folder)
        if fd is None:
            continue
        fcntl.flock(fd, fcntl.LOCK_SH)
        manifest = _read_manifest(folder)
        if manifest is not None and not _differences(folder / "tree", manifest):
            with contextlib.suppress(OSError):
                os.utime(folder)  # most recently used
            return HeadSnapshot(folder, fd, manifest, commit, built=False)
        with contextlib.suppress(OSError):
            (folder / _CONDEMNED).touch()  # written in place since: never handed out again
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    return None


def _build(repo_root: Path, key_dir: Path, commit: str) -> HeadSnapshot:
    token = secrets.token_hex(6)
    work = key_dir / f".build-{token}"
    work.mkdir(mode=0o700)
    try:
        tree = work / "tree"
        tree.mkdir()
        index = {"GIT_INDEX_FILE": str(work / "index")}  # private: the user's index is never read or written
        try:
            run_git(repo_root, "read-tree", commit, env=index)
            run_git(repo_root, "checkout-index", "--all", "--force", f"--prefix={tree}/", env=index)
        except git.GitCommandError as e:
            raise SnapshotUnavailable(f"{repo_root}: a snapshot of {commit[:12]} could not be checked out: "
                                      f"{str(e.stderr).strip()}") from None
        (work / "index").unlink(missing_ok=True)
        manifest = _scan(tree)
        (work / _MANIFEST).write_text(json.dumps({"format": _FORMAT, "commit": commit, "files": manifest}),
                                      encoding="utf-8")
        (work / _LEASE).touch()
        folder = key_dir / f"{commit}.{token}"
        os.rename(work, folder)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    fd = _open_lease(folder)
    if fd is None:
        raise SnapshotUnavailable(f"{folder}: the snapshot vanished as it was made")
    fcntl.flock(fd, fcntl.LOCK_SH)
    return HeadSnapshot(folder, fd, manifest, commit, built=True)


def clone_tree(tree: Path, dest: Path) -> None:
    """`dest` made as a copy of `tree` whose files and symlinks are hard links (`cp -al`: one
    process, no GIL; Python's own walk where cp has no -l, e.g. macOS)."""
    try:
        done = subprocess.run(["cp", "-al", "--", str(tree), str(dest)], capture_output=True,
                              stdin=subprocess.DEVNULL, timeout=600)
        if done.returncode == 0:
            return
    except (OSError, subprocess.TimeoutExpired):
        pass
    shutil.rmtree(dest, ignore_errors=True)
    link_tree(tree, dest)


def _scan(tree: Path) -> Manifest:
    stats: dict[str, os.stat_result] = {}
    for dirpath, _dirs, files in os.walk(tree):
        for name in files:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode):
                stats[os.path.relpath(path, tree).replace(os.sep, "/")] = st
    ids = _blob_ids(tree, list(stats))
    return {rel: [stat.S_IMODE(st.st_mode), st.st_size, st.st_mtime_ns, ids[rel]] for rel, st in stats.items()}


def _differences(tree: Path, manifest: Manifest) -> list[str]:
    """Files whose mode, size or content is not what the manifest says (the first few)."""
    bad: list[str] = []
    for rel, (mode, size, _mtime, _blob) in manifest.items():
        try:
            st = os.lstat(tree / rel)
            same = stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == mode and st.st_size == size
        except OSError:
            same = False
        if not same:
            bad.append(rel)
    if bad:
        return bad[:5]
    try:
        ids = _blob_ids(tree, list(manifest))
    except SnapshotUnavailable:
        return ["(the files could not be hashed)"]
    return [rel for rel, entry in manifest.items() if ids.get(rel) != entry[3]][:5]


def _blob_ids(tree: Path, rels: list[str]) -> dict[str, str]:
    """git's blob id of each file's raw bytes (no filters), hashed in one git process."""
    if not rels:
        return {}
    names = "".join(f"{rel}\n" for rel in rels)
    if any("\n" in rel or rel.startswith('"') for rel in rels):  # --stdin-paths reads lines, unquotes "…"
        raise SnapshotUnavailable(f"{tree}: a file name holds a newline or starts with a double quote; "
                                  "no snapshot is kept for this tree", for_commit=True)
    try:
        done = subprocess.run(["git", "hash-object", "--no-filters", "--stdin-paths"], cwd=tree, env=git_env(),
                              input=names.encode("utf-8", "surrogateescape"), capture_output=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SnapshotUnavailable(f"{tree}: git hash-object failed: {e}") from None
    ids = done.stdout.decode("ascii", "replace").split()
    if done.returncode != 0 or len(ids) != len(rels):
        raise SnapshotUnavailable(f"{tree}: git hash-object failed: {done.stderr.decode('utf-8', 'replace').strip()}")
    return dict(zip(rels, ids, strict=True))


def _read_manifest(folder: Path) -> Manifest | None:
    try:
        data = json.loads((folder / _MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != _FORMAT or not isinstance(data.get("files"), dict):
        return None
    files: Manifest = data["files"]
    return files


# ------------------------------------------------------------------ store upkeep


def _evict(store: Path, keep: Path) -> None:
    """Remove, when no sandbox holds them: condemned snapshots, the repository's snapshots of
    other commits (one checkout per repository is kept), and all but the MAX_KEPT most recently
    used across repositories."""
    folders = [f for key in _subdirs(store) for f in _subdirs(key) if not f.name.startswith(".")]
    folders.sort(key=_mtime, reverse=True)
    kept = 1
    for folder in folders:
        if folder == keep:
            continue
        if folder.parent != keep.parent and not (folder / _CONDEMNED).exists() and kept < MAX_KEPT:
            kept += 1
            continue
        _remove_if_unused(folder)


def _remove_if_unused(folder: Path) -> None:
    fd = _open_lease(folder)
    if fd is None:
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return  # a sandbox still links it
            raise
        doomed = folder.with_name(f".evict-{secrets.token_hex(6)}")
        with contextlib.suppress(OSError):
            os.rename(folder, doomed)
            shutil.rmtree(doomed, ignore_errors=True)
    finally:
        os.close(fd)


def _remove_stale_builds(key_dir: Path) -> None:
    """Builds run under the key's lock, so a half-made one seen while holding it was abandoned."""
    for f in key_dir.iterdir():
        if f.name.startswith((".build-", ".evict-")):
            shutil.rmtree(f, ignore_errors=True)


def _subdirs(folder: Path) -> list[Path]:
    try:
        return [f for f in folder.iterdir() if f.is_dir() and not f.is_symlink()]
    except OSError:
        return []


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _open_lease(folder: Path) -> int | None:
    try:
        return os.open(folder / _LEASE, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _private_dir(path: Path) -> Path:
    """`path` as a folder only this user can enter (made if missing); anything else is refused:
    on a shared /tmp another user could have made it first."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise SnapshotUnavailable(f"{path}: not a private folder of this user, so no snapshot is kept there "
                                  "(remove it, or set TMPDIR to a private folder)")
    return path


def _repo_key(repo_root: Path, git_common_dir: Path) -> str:
    return hashlib.sha256(f"{repo_root}\0{git_common_dir}".encode()).hexdigest()[:16]
