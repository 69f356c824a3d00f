"""`--branch NAME`: commit a validated fix on a new branch without touching the user's current
branch, index or working tree. The commit is built with a temporary index file (read-tree of
the base commit, blobs written to the object store, write-tree, commit-tree) and the new ref is
created only if it does not exist; nothing is pushed."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import git

from ..errors import BatonError
from ..models import ChangeSet, EditKind

_ENV = {"GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0"}


class BranchError(BatonError, RuntimeError):
    """The fix could not be committed on a new branch; says why and what to do."""


def check_branch_name(workspace: Path, branch: str) -> None:
    """Refuse at once (before any model is asked) a name that is invalid or already taken."""
    repo = _repo(workspace, branch)
    _check_new(repo.git, branch)


def _repo(workspace: Path, branch: str) -> git.Repo:
    try:
        repo = git.Repo(workspace, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise BranchError(f"--branch {branch}: {workspace} is not in a git repository") from None
    if repo.working_tree_dir is None or not repo.head.is_valid():
        raise BranchError(f"--branch {branch}: the repository has no working tree or no commit")
    return repo


def _check_new(g: git.Git, branch: str) -> None:
    try:
        g.check_ref_format("--branch", branch)
    except git.GitCommandError:
        raise BranchError(f"--branch {branch!r}: not a valid branch name") from None
    try:
        g.rev_parse("--verify", "--quiet", f"refs/heads/{branch}")
    except git.GitCommandError:
        return
    raise BranchError(f"--branch {branch}: that branch exists already; name a new one (Baton never "
                      "commits on an existing branch)")


def commit_on_new_branch(workspace: Path, changeset: ChangeSet, branch: str, base: str, message: str) -> str:
    """The new commit's sha. `base` is the commit the fix was made and validated on."""
    repo = _repo(workspace, branch)
    g = repo.git
    _check_new(g, branch)
    ref = f"refs/heads/{branch}"
    assert repo.working_tree_dir is not None  # _repo refuses a bare repository
    prefix = Path(workspace).resolve().relative_to(Path(repo.working_tree_dir).resolve()).as_posix()
    prefix = "" if prefix == "." else prefix + "/"
    fd, index = tempfile.mkstemp(prefix="baton-index-")
    os.close(fd)
    os.unlink(index)  # read-tree creates it
    env = {**_ENV, "GIT_INDEX_FILE": index}
    try:
        g.read_tree(base, env=env)
        for e in changeset.edits:
            path = prefix + e.path
            if e.kind in (EditKind.delete, EditKind.rename):
                _check_base(g, base, path, e.old_text, branch)
                g.update_index("--force-remove", "--", path, env=env)
            if e.kind is EditKind.update:
                _check_base(g, base, path, e.old_text, branch)
            if e.kind in (EditKind.create, EditKind.update, EditKind.rename):
                target = prefix + (e.new_path or e.path)
                text = e.new_text if e.new_text is not None else e.old_text or ""
                sha = _write_blob(g, target, text)
                mode = _mode(g, base, path)
                g.update_index("--add", "--cacheinfo", f"{mode},{sha},{target}", env=env)
        tree = g.write_tree(env=env)
        commit = g.commit_tree(tree, "-p", base, "-m", message, env=_identity(repo))
        g.update_ref("-m", "baton triage: validated fix", ref, commit, "")  # "" = must not exist yet
        return str(commit)
    except git.GitCommandError as e:
        raise BranchError(f"--branch {branch}: git failed: {str(e.stderr).strip()[:500]}") from None
    finally:
        Path(index).unlink(missing_ok=True)


def _check_base(g: git.Git, base: str, path: str, old_text: str | None, branch: str) -> None:
    """The fix was made against the sandbox's copy, which includes uncommitted changes; committing
    it onto `base` is only right when that file was unchanged from `base`."""
    try:
        committed = g.cat_file("--filters", f"{base}:{path}", strip_newline_in_stdout=False)
    except git.GitCommandError:
        committed = None
    if committed != old_text:
        raise BranchError(f"--branch {branch}: {path} has uncommitted changes that the fix builds on; commit "
                          "them first or use --apply")


def _mode(g: git.Git, base: str, path: str) -> str:
    try:
        out = g.ls_tree(base, "--", path)
    except git.GitCommandError:
        return "100644"
    return out.split(" ", 1)[0] if out else "100644"


def _identity(repo: git.Repo) -> dict[str, str]:
    """The user's configured identity, or Baton's when none is set (CI)."""
    env = dict(_ENV)
    reader = repo.config_reader()
    if not reader.has_option("user", "name"):
        env.update(GIT_AUTHOR_NAME="Baton", GIT_COMMITTER_NAME="Baton")
    if not reader.has_option("user", "email"):
        env.update(GIT_AUTHOR_EMAIL="baton@localhost", GIT_COMMITTER_EMAIL="baton@localhost")
    return env


def _write_blob(g: git.Git, target: str, text: str) -> str:
    """hash-object -w with the path's attributes (eol filters) applied, from a temp file."""
    fd, name = tempfile.mkstemp(prefix="baton-blob-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8"))
        return str(g.hash_object("-w", "--path", target, name)).strip()
    finally:
        Path(name).unlink(missing_ok=True)
