"""List the files of a workspace root the way git would: tracked + untracked-not-ignored.

In a git work tree `git ls-files -co --exclude-standard` is the truth (it knows the index,
`.git/info/exclude` and global excludes). Outside git (a temp-copy sandbox, a plain folder,
or a folder git itself ignores) the tree is walked and every `.gitignore` on the way is
honoured with gitignore semantics (deeper files win, an ignored folder is never entered).
Sync on purpose: callers on an event loop go through `asyncio.to_thread`.
"""

from __future__ import annotations

import logging
import os
import stat
import subprocess
from pathlib import Path

import pathspec

from .paths import PROTECTED_DIRS

log = logging.getLogger(__name__)

GIT_TIMEOUT_S = 60.0
# Folders never listed wherever they appear: nested repositories and Baton's own state.
SKIP_DIR_NAMES = frozenset(PROTECTED_DIRS)
# Variables a git hook or a parent git command may have set; they would point git elsewhere.
_GIT_ENV_DROP = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_PREFIX", "GIT_COMMON_DIR")


def list_files(root: Path) -> tuple[list[str], str]:
    """All candidate files under `root` as sorted '/'-separated relative paths, and the source
    used ("git" or "walk"). Nothing here knows about secrets or binaries: the view filters."""
    root = root.resolve()
    if _use_git(root):
        listed = _git_ls_files(root)
        if listed is not None:
            return _existing_files(root, listed), "git"
    return sorted(_walk(root)), "walk"


# --------------------------------------------------------------------------- git


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[bytes] | None:
    env = {k: v for k, v in os.environ.items() if k not in _GIT_ENV_DROP}
    try:
        return subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True, env=env, timeout=GIT_TIMEOUT_S, check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:  # git missing or hung: walk instead
        log.info("git %s in %s failed (%s); walking the tree instead", args[0], root, e)
        return None


def _use_git(root: Path) -> bool:
    """Git decides only when root is a work tree (or a folder of one) that git does not ignore.

    A sandbox copy kept under an ignored folder of another repository (e.g. `.baton/`) must
    be walked: git would report all of it as ignored.
    """
    if (root / ".git").exists():
        return True
    top = _git(root, "rev-parse", "--show-toplevel")
    if top is None or top.returncode != 0:
        return False
    toplevel = Path(os.fsdecode(top.stdout.strip())).resolve()
    try:
        prefix = root.relative_to(toplevel).as_posix()
    except ValueError:
        return False
    if prefix in ("", "."):
        return True
    ignored = _git(toplevel, "check-ignore", "-q", "--", prefix + "/")
    return ignored is not None and ignored.returncode == 1


def _git_ls_files(root: Path) -> list[str] | None:
    out = _git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    if out is None or out.returncode != 0:
        if out is not None:
            log.info("git ls-files in %s failed: %s", root, out.stderr.decode(errors="replace").strip())
        return None
    names = sorted({os.fsdecode(n) for n in out.stdout.split(b"\0") if n})  # unmerged paths repeat
    return [n for n in names if not _in_skipped_dir(n)]


def _in_skipped_dir(rel: str) -> bool:
    parts = rel.split("/")
    return any(p in SKIP_DIR_NAMES for p in parts[:-1]) or parts[-1] in SKIP_DIR_NAMES


def _existing_files(root: Path, names: list[str]) -> list[str]:
    """Drop what git lists but is not a regular file here: deleted files, submodules, nested
    repos ('dir/'), and symlinks that leave the root or point at folders. One lstat per file
    (a stat more only for symlinks), so this costs about what `git ls-files` itself does."""
    out: list[str] = []
    root_s = str(root)
    lstat = os.lstat
    for rel in names:
        if rel.endswith("/"):
            continue
        full = root_s + "/" + rel if os.sep == "/" else os.path.join(root_s, rel)
        try:
            mode = lstat(full).st_mode
        except OSError:
            continue  # deleted in the work tree
        if stat.S_ISREG(mode):
            out.append(rel)
        elif stat.S_ISLNK(mode) and _link_ok(root, full):
            out.append(rel)
    return out  # names come sorted


def _link_ok(root: Path, full: str) -> bool:
    target = Path(os.path.realpath(full))
    if not target.is_file():
        return False
    try:
        parts = target.relative_to(root).parts
    except ValueError:
        return False
    return not any(part in SKIP_DIR_NAMES for part in parts)


# --------------------------------------------------------------------------- walk


def _read_ignore(path: str) -> pathspec.GitIgnoreSpec | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    spec = pathspec.GitIgnoreSpec.from_lines(lines)
    return spec if len(spec) else None


def _ignored(stack: list[tuple[str, pathspec.GitIgnoreSpec]], rel: str, is_dir: bool) -> bool:
    """Deepest .gitignore with a matching pattern decides, as in git."""
    for base, spec in reversed(stack):
        sub = rel[len(base) + 1:] if base else rel
        result = spec.check_file(sub + "/" if is_dir else sub)
        if result.include is not None:
            return bool(result.include)
    return False


def _walk(root: Path) -> list[str]:
    """Depth-first scandir walk; symlinked folders are not entered (git records only the link)."""
    out: list[str] = []
    pending: list[tuple[str, list[tuple[str, pathspec.GitIgnoreSpec]]]] = [("", [])]
    root_s = str(root)
    while pending:
        rel_dir, parent_stack = pending.pop()
        path = os.path.join(root_s, rel_dir) if rel_dir else root_s
        try:
            with os.scandir(path) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            continue
        stack = parent_stack
        if any(e.name == ".gitignore" for e in entries):
            spec = _read_ignore(os.path.join(path, ".gitignore"))
            if spec is not None:
                stack = [*parent_stack, (rel_dir, spec)]
        subdirs: list[str] = []
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            try:
                is_link = entry.is_symlink()
                is_dir = not is_link and entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_dir:
                if entry.name not in SKIP_DIR_NAMES and not _ignored(stack, rel, True):
                    subdirs.append(rel)
                continue
            if _ignored(stack, rel, False):
                continue
            if is_link:
                if not _link_ok(root, entry.path):
                    continue
            elif not entry.is_file(follow_symlinks=False):
                continue  # sockets, fifos, devices
            out.append(rel)
        pending.extend((d, stack) for d in reversed(subdirs))
    return out
