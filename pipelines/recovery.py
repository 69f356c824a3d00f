"""Crash recovery: what a killed Baton process left behind is found and settled at start-up.

A run killed with its process (kill -9, a crash, a power cut) never records its end: its
run.json says `running` forever, and its sandbox (a git worktree registered in the user's
repository, or a temp copy) stays on disk. Every run record and every sandbox folder names
its owner (pid, host, process start time: owner.py), so the next Baton process to start
(`baton run`, the history commands, the language server, the run host) can tell a dead run
from one that another live process is still running, and:

- marks the dead run `interrupted`, with its last step, in run.json, the index and its trace;
- removes the dead sandbox's git worktree from the user's repository, its temp folder, and
  prunes the repository's worktree list.

A sandbox folder is `<tmp>/baton-sandbox-*/` with a `baton-owner.json` marker that the
sandbox writes before it creates anything else (`write_sandbox_marker`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from .events import Event, EventType
from .models import RunRecord, RunStatus, utcnow
from .owner import ProcessOwner, this_process
from .store import RunStore

log = logging.getLogger(__name__)

SANDBOX_PREFIX = "baton-sandbox-"
MARKER = "baton-owner.json"
_UNFINISHED = (RunStatus.pending, RunStatus.running, RunStatus.waiting)
_GIT_ENV_DROP = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
                 "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_NAMESPACE")


class SandboxMarker(BaseModel):
    """`<sandbox tmp>/baton-owner.json`: who made the sandbox and in which repository."""

    model_config = ConfigDict(extra="forbid")

    owner: ProcessOwner
    root: str  # the workspace root the sandbox copies
    repo_root: str | None = None  # set before `git worktree add`: where the worktree is registered


@dataclass
class Recovered:
    """What one recovery pass found and settled."""

    interrupted: list[str] = field(default_factory=list)  # run ids marked interrupted
    sandboxes: list[str] = field(default_factory=list)  # sandbox folders removed
    errors: list[str] = field(default_factory=list)  # what could not be cleaned (and why)


def write_sandbox_marker(tmp: Path, root: Path, repo_root: Path | None = None) -> None:
    """Record this process as the owner of the sandbox folder `tmp` (atomically replaced)."""
    marker = SandboxMarker(owner=this_process(), root=str(root), repo_root=str(repo_root) if repo_root else None)
    part = tmp / f".{MARKER}.tmp"
    part.write_text(marker.model_dump_json(), encoding="utf-8")
    part.replace(tmp / MARKER)


def recover(store: RunStore, tmp_dir: Path | None = None) -> Recovered:
    """Settle the dead runs of this store and every dead sandbox in the temp folder.
    Synchronous (SQLite, git, file removal): async callers use `asyncio.to_thread`."""
    found = Recovered()
    recover_runs(store, found)
    recover_sandboxes(tmp_dir or Path(tempfile.gettempdir()), found)
    prune_worktrees(store.workspace, found)
    for run_id in found.interrupted:
        log.warning("run %s was interrupted (its process is gone); marked interrupted", run_id)
    for path in found.sandboxes:
        log.info("removed the sandbox %s left by a process that is gone", path)
    for error in found.errors:
        log.warning("crash recovery: %s", error)
    return found


def recover_existing(workspace: Path, tmp_dir: Path | None = None) -> Recovered | None:
    """`recover` for a workspace that already has a run store; None (nothing touched) when it
    has none, so reading history never creates `.baton/`."""
    store = RunStore(workspace)
    if not store.runs_dir.is_dir():
        return None
    try:
        return recover(store, tmp_dir)
    finally:
        store.close()


# --------------------------------------------------------------------------- runs


def recover_runs(store: RunStore, found: Recovered) -> None:
    for rec in store.unfinished():
        if rec.owner is not None and rec.owner.is_alive():
            continue
        current = _read_run_json(store, rec.id) or rec
        if current.status.finished:  # it did finish; the index missed it
            store.save(current)
            continue
        if current.owner is not None and current.owner != rec.owner and current.owner.is_alive():
            continue
        store.save(_interrupted(store, current))
        found.interrupted.append(rec.id)


def _read_run_json(store: RunStore, run_id: str) -> RunRecord | None:
    path = store.run_dir(run_id) / "run.json"
    try:
        return RunRecord.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValidationError):
        return None


def _interrupted(store: RunStore, rec: RunRecord) -> RunRecord:
    """The record of a run whose process died: status, error naming the last step, steps that
    were running marked interrupted, its duration up to its last trace event."""
    trace = store.run_dir(rec.id) / "trace.jsonl"
    last = _mtime(trace) or _mtime(store.run_dir(rec.id) / "run.json")
    last_step = rec.steps[-1].name if rec.steps else None
    who = rec.owner.describe() if rec.owner else "a Baton without owner records"
    error = (f"the process that ran it ({who}) ended without finishing it"
             + (f"; last step: {last_step}" if last_step else "; before its first step"))
    steps = [s.model_copy(update={"status": "interrupted", "error": "interrupted"}) if s.status == "running" else s
             for s in rec.steps]
    duration = max(0.0, (last - rec.created_at).total_seconds()) if last else rec.duration_s
    out = rec.model_copy(update={"status": RunStatus.interrupted, "error": error, "steps": steps,
                                 "finished_at": utcnow(), "duration_s": round(duration, 3)})
    if trace.is_file():
        event = Event(type=EventType.run_finished, run_id=rec.id, message=f"interrupted: {error}",
                      data={"status": RunStatus.interrupted.value, "last_step": last_step,
                            "recovered_by": this_process().describe()})
        with contextlib.suppress(OSError), trace.open("a", encoding="utf-8") as fh:
            fh.write(event.to_json_line() + "\n")
    return out


def _mtime(path: Path) -> datetime | None:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime).astimezone()
    except OSError:
        return None


# --------------------------------------------------------------------------- sandboxes


def recover_sandboxes(tmp_dir: Path, found: Recovered) -> None:
    """Remove every sandbox folder in `tmp_dir` whose owner is gone (only folders of this user)."""
    try:
        entries = [e for e in os.scandir(tmp_dir) if e.name.startswith(SANDBOX_PREFIX)]
    except OSError:
        return
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
            continue  # a symlink or someone else's folder: never ours to remove
        folder = Path(entry.path).resolve()  # as the sandbox registered it (a symlinked /tmp)
        marker = _read_marker(folder)
        if marker is None or marker.owner.is_alive():
            continue  # no marker: being made right now, or not Baton's
        _remove_sandbox(folder, marker, found)


def _read_marker(folder: Path) -> SandboxMarker | None:
    try:
        return SandboxMarker.model_validate_json((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValidationError):
        return None


def _remove_sandbox(folder: Path, marker: SandboxMarker, found: Recovered) -> None:
    worktree = folder / folder.name  # where Sandbox puts it; never a path read from the marker
    if marker.repo_root and (worktree / ".git").is_file():
        repo = Path(marker.repo_root)
        try:
            _git(repo, "worktree", "remove", "--force", str(worktree))
        except (OSError, subprocess.CalledProcessError) as e:
            found.errors.append(f"{worktree}: `git worktree remove` in {repo} failed ({_why(e)}); removing the folder")
    shutil.rmtree(folder, ignore_errors=True)
    if folder.exists():
        found.errors.append(f"{folder}: could not be removed entirely")
        return
    if marker.repo_root:
        prune_worktrees(Path(marker.repo_root), found)
    found.sandboxes.append(str(folder))


def prune_worktrees(repo: Path, found: Recovered) -> None:
    """`git worktree prune` when the repository lists a Baton sandbox whose folder is gone."""
    try:
        listing = _git(repo, "worktree", "list", "--porcelain")
    except (OSError, subprocess.CalledProcessError):
        return  # not a git repository (a temp-copy sandbox) or no git: nothing registered
    stale = [line[len("worktree "):] for line in listing.splitlines()
             if line.startswith("worktree ") and f"/{SANDBOX_PREFIX}" in line
             and not Path(line[len("worktree "):]).exists()]
    if not stale:
        return
    try:
        _git(repo, "worktree", "prune")
    except (OSError, subprocess.CalledProcessError) as e:
        found.errors.append(f"{repo}: `git worktree prune` failed ({_why(e)})")


def _git(repo: Path, *args: str) -> str:
    """git in `repo` with hooks off, no optional locks, and no inherited GIT_DIR & co (run from a
    git hook they would point somewhere else)."""
    env = {k: v for k, v in os.environ.items() if k not in _GIT_ENV_DROP}
    env.update(GIT_OPTIONAL_LOCKS="0", GIT_TERMINAL_PROMPT="0")
    return subprocess.run(["git", "-C", str(repo), "-c", "core.hooksPath=/dev/null", *args], env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, check=True, timeout=60).stdout


def _why(e: BaseException) -> str:
    if isinstance(e, subprocess.CalledProcessError):
        return (e.stderr or "").strip() or f"exit code {e.returncode}"
    return str(e)
