"""Crash recovery: `baton run` killed with SIGKILL mid-run leaves a run that says `running` and its
sandbox's temp folder; the next Baton command marks the run `interrupted` with its last step and
removes the temp folder. A worktree sandbox (triage's) killed the same way leaves a git worktree
registered in the user's repository, which the next command removes too. A run or a sandbox whose owner is
alive (another Baton at work) is never touched, and a reused pid does not pass for its owner.

The run is held by the scripted model server (a hanging answer): no timed waits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from pipeline_helpers import (
    BATON,
    CODER,
    FIX_PATCH,
    baton,
    call,
    clean_env,
    git,
    leftovers,
    make_repo,
    only_run,
    planner_replies,
    reply,
    run_args,
    trace_events,
    tree_state,
)

from baton.pipelines.llm.scripted import ScriptedLLM
from baton.pipelines.models import RunRecord, RunStatus, Scope
from baton.pipelines.owner import ProcessOwner, process_start_ticks, this_process
from baton.pipelines.recovery import MARKER, Recovered, SandboxMarker, recover, recover_sandboxes
from baton.pipelines.store import RunStore

HANG = {"fault": {"hang": True}}


def worktrees(repo: Path) -> int:
    return git(repo, "worktree", "list", "--porcelain").count("worktree ")


def kill_9(proc: subprocess.Popen[str]) -> None:
    """SIGKILL (what a crash looks like to Baton), then reap the process and close its pipes."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)


def test_kill_9_of_baton_run_is_recovered_by_the_next_command(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    before = tree_state(repo)
    tmp = tmp_path / "tmp"
    env = clean_env(tmp)
    script = {"models": {"t-planner": planner_replies(), CODER: [reply(call("apply_patch", patch=FIX_PATCH)), HANG]}}
    server = ScriptedLLM(script)
    with server as url:
        proc = subprocess.Popen([BATON, *run_args(repo, url)], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        try:
            hanging = server.wait_for(lambda reqs: any(r.model == CODER and r.outcome == "hanging" for r in reqs),
                                      timeout=90)
            assert hanging, proc.stderr.read() if proc.poll() is not None else "no hanging request"
            # the sandbox is a clone of the kept snapshot of HEAD: nothing registered in the repository
            assert leftovers(tmp) and worktrees(repo) == 1, "the sandbox should exist while the implementer works"
            assert any(name.startswith("held snapshot") for name in leftovers(tmp))
        finally:
            kill_9(proc)
    # what SIGKILL leaves: a run that says running and a temp folder; the snapshot's lease died with it
    dead = only_run(repo)
    assert dead.status is RunStatus.running and dead.owner is not None and dead.owner.pid == proc.pid
    assert [(s.name, s.status) for s in dead.steps] == [("plan", "succeeded"), ("implement", "running")]
    assert worktrees(repo) == 1 and [n for n in leftovers(tmp) if n.startswith("baton-sandbox-")]
    assert not [n for n in leftovers(tmp) if n.startswith("held snapshot")]

    listed = baton("runs", "--workspace", str(repo), env=env)
    assert listed.returncode == 0, listed.stderr
    assert f"{dead.id}" in listed.stdout and " interrupted " in listed.stdout

    rec = only_run(repo)
    assert rec.status is RunStatus.interrupted
    assert rec.error == (f"the process that ran it (pid {proc.pid} on {dead.owner.host}) "
                         "ended without finishing it; last step: implement")
    assert [(s.name, s.status) for s in rec.steps] == [("plan", "succeeded"), ("implement", "interrupted")]
    assert rec.finished_at is not None and rec.duration_s > 0
    last = trace_events(repo, rec)[-1]
    assert last["type"] == "run_finished" and last["data"]["status"] == "interrupted"
    assert last["data"]["last_step"] == "implement"
    assert worktrees(repo) == 1 and leftovers(tmp) == []
    assert tree_state(repo) == before  # .git included

    stats = json.loads(baton("stats", "--workspace", str(repo), "--json", env=env).stdout)
    assert [(s["pattern"], s["runs"], s["failed"], s["interrupted"], s["succeeded"]) for s in stats] == [
        ("plan-implement-review", 1, 1, 1, 0)]
    shown = baton("show", rec.id, "--workspace", str(repo), env=env)
    assert "interrupted" in shown.stdout and "last step: implement" in shown.stdout


HOLD_WORKTREE = """
import asyncio, sys
from baton.pipelines.sandbox import Sandbox

async def main():
    async with Sandbox.create(sys.argv[1]) as sb:
        print(sb.mode, flush=True)
        await asyncio.sleep(600)

asyncio.run(main())
"""


def test_a_killed_worktree_sandbox_is_unregistered_from_the_repository_by_recovery(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    before = tree_state(repo)
    tmp = tmp_path / "tmp"
    env = clean_env(tmp)
    proc = subprocess.Popen([sys.executable, "-c", HOLD_WORKTREE, str(repo)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "worktree", proc.stderr.read() if proc.stderr else ""
        assert worktrees(repo) == 2 and leftovers(tmp)
    finally:
        kill_9(proc)
    assert worktrees(repo) == 2  # SIGKILL: nobody removed it

    found = Recovered()
    recover_sandboxes(tmp, found)  # what every Baton command does at start-up (`recover`)
    assert found.errors == [] and len(found.sandboxes) == 1 and Path(found.sandboxes[0]).name.startswith("baton-sandbox-")
    assert worktrees(repo) == 1 and leftovers(tmp) == []
    assert tree_state(repo) == before  # .git included: the worktree's admin folder is gone too


def _record(store: RunStore, run_id: str, owner: ProcessOwner | None, status: RunStatus = RunStatus.running
            ) -> RunRecord:
    rec = RunRecord(id=run_id, pattern="plan-implement-review", task="t", scope=Scope(root=str(store.workspace)),
                    status=status, owner=owner)
    store.save(rec)
    return rec


def _sandbox(tmp: Path, name: str, owner: ProcessOwner, root: Path) -> Path:
    folder = tmp / f"baton-sandbox-{name}"
    (folder / "ws").mkdir(parents=True)
    (folder / "ws" / "f.txt").write_text("x")
    (folder / MARKER).write_text(SandboxMarker(owner=owner, root=str(root)).model_dump_json())
    return folder


def test_a_live_owner_is_left_alone_and_a_reused_pid_is_not_its_owner(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    store = RunStore(root)
    me = this_process()
    assert me.pid == os.getpid() and me.start_ticks == process_start_ticks(os.getpid())
    reused = me.model_copy(update={"start_ticks": (me.start_ticks or 0) + 1})  # my pid, another process's start
    elsewhere = me.model_copy(update={"host": me.host + "-elsewhere", "pid": 1})
    _record(store, "r-live", me)
    _record(store, "r-reused", reused, RunStatus.waiting)
    _record(store, "r-remote", elsewhere)
    _record(store, "r-done", reused, RunStatus.succeeded)
    live = _sandbox(tmp, "live", me, root)
    stale = _sandbox(tmp, "stale", reused, root)
    foreign = tmp / "baton-sandbox-nomarker"
    foreign.mkdir()
    other = tmp / "unrelated"
    other.mkdir()
    try:
        found = recover(store, tmp)
        assert found.interrupted == ["r-reused"] and found.sandboxes == [str(stale.resolve())]
        assert {r: store.get(r).status for r in ("r-live", "r-reused", "r-remote", "r-done")} == {
            "r-live": RunStatus.running, "r-reused": RunStatus.interrupted, "r-remote": RunStatus.running,
            "r-done": RunStatus.succeeded}
        assert store.get("r-reused").error.endswith("before its first step")
        assert sorted(p.name for p in tmp.iterdir()) == sorted([foreign.name, live.name, "unrelated"])
        assert (live / "ws" / "f.txt").read_text() == "x"
        # a second pass finds nothing more to do
        again = recover(store, tmp)
        assert again.interrupted == [] and again.sandboxes == []
    finally:
        store.close()


def test_history_commands_never_create_a_store(tmp_path: Path) -> None:
    ws = tmp_path / "empty"
    ws.mkdir()
    env = clean_env(tmp_path / "tmp")
    for args in (["runs"], ["stats"]):
        p = baton(*args, "--workspace", str(ws), env=env)
        assert p.returncode == 0, p.stderr
    assert list(ws.iterdir()) == []
