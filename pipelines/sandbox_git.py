"""git as the sandbox runs it: hooks and fsmonitor off, optional locks off, none of the GIT_*
variables a hook would set, a timeout; plus what set-up asks git about the user's repository.
Nothing here writes the user's index, HEAD or branches."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path

import git

_GIT_ENV = {"GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0"}
_GIT_TIMEOUT_S = 300
# `git worktree add/remove` read every registered worktree, so two at once on one repository
# can trip over each other's half-made entry: serialise them per repository in this process.
_WORKTREE_LOCKS: dict[Path, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def worktree_lock(repo_root: Path) -> threading.Lock:
    with _LOCKS_GUARD:
        return _WORKTREE_LOCKS.setdefault(repo_root, threading.Lock())


def repo_with_head(root: Path) -> tuple[Path, list[Path], str] | None:
    """(repository root, its git folders, HEAD's commit) when `root` is in a work tree with a
    commit, else None."""
    try:
        top = run_git(root, "rev-parse", "--show-toplevel").strip()
        if not top:
            return None  # a bare repository or inside .git: use a plain copy
        commit = run_git(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}").strip()
        dirs = run_git(root, "rev-parse", "--absolute-git-dir", "--git-common-dir").splitlines()
    except git.GitCommandError:
        return None  # not a repository, or no commit to check out: use a plain copy
    repo_root = Path(top).resolve()
    return repo_root, [(root / d).resolve() for d in dirs if d.strip()], commit


def git_folders(root: Path) -> list[Path]:
    """The work tree around `root` and its git folders (hidden from the test command), or []."""
    try:
        out = run_git(root, "rev-parse", "--show-toplevel", "--absolute-git-dir", "--git-common-dir")
    except git.GitCommandError:
        return []
    return [(root / line).resolve() for line in out.splitlines() if line.strip()]


def write_git_identity(home: Path) -> None:
    """The private HOME gets the user's git name and email only (tests that commit need them;
    the rest of ~/.gitconfig may hold credentials)."""
    text = _git_identity(home)
    if text:
        (home / ".gitconfig").write_text(text, encoding="utf-8")


# The identity as a .gitconfig text, looked up once per version of the user's global config
# files: a fan-out of 64 modules would otherwise start 128 `git config` processes.
_IDENTITY: tuple[tuple[object, ...], str] | None = None


def _global_config_key() -> tuple[object, ...]:
    home = os.environ.get("HOME", "")
    xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    stats: list[object] = [home, xdg]
    for path in (os.path.join(home, ".gitconfig"), os.path.join(xdg, "git", "config")):
        try:
            st = os.stat(path)
        except OSError:
            stats.append(None)
        else:
            stats.append((st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(stats)


def _git_identity(cwd: Path) -> str:
    global _IDENTITY
    key = _global_config_key()
    cached = _IDENTITY
    if cached is not None and cached[0] == key:
        return cached[1]
    lines = []
    for name in ("name", "email"):
        try:
            value = run_git(cwd, "config", "--global", "--get", f"user.{name}").strip()
        except git.GitCommandError:
            continue
        if value and "\n" not in value:
            quoted = value.replace("\\", "\\\\").replace('"', '\\"')
            lines.append(f'\t{name} = "{quoted}"')
    text = "[user]\n" + "\n".join(lines) + "\n" if lines else ""
    _IDENTITY = (key, text)
    return text


def git_env() -> dict[str, str]:
    """Baton's environment without the GIT_* variables that would redirect git (GIT_DIR,
    GIT_INDEX_FILE, GIT_WORK_TREE, GIT_CONFIG_*, … set when Baton runs from a git hook)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(_GIT_ENV)
    return env


def run_git(cwd: Path, *args: str, env: Mapping[str, str] | None = None) -> str:
    """git in `cwd` with hooks disabled and optional locks off (so the user's index is never rewritten).
    `env`: variables set on top (e.g. a private GIT_INDEX_FILE)."""
    return run_git_bytes(cwd, *args, env=env).decode("utf-8", errors="surrogateescape")


def run_git_bytes(cwd: Path, *args: str, env: Mapping[str, str] | None = None) -> bytes:
    argv = ["git", "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", *args]
    full_env = git_env() if env is None else {**git_env(), **env}
    try:
        done = subprocess.run(argv, cwd=cwd, env=full_env, capture_output=True, stdin=subprocess.DEVNULL,
                              timeout=_GIT_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise git.GitCommandError(argv, -1, str(e)) from None
    if done.returncode != 0:
        raise git.GitCommandError(argv, done.returncode, done.stderr.decode("utf-8", "replace"),
                                  done.stdout.decode("utf-8", "replace"))
    return done.stdout
