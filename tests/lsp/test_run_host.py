"""Runs execute in a child process of the server (the run host). If it dies mid-run, the run
fails with a clear error and the next run gets a new host; when the editor shuts the server
down, in-flight runs are cancelled and recorded as such, and no process is left behind."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytest
from lsp_harness import execute, stop_editor, wait_finished, wait_until
from lsp_session import make_project, options, session, tree

from baton.pipelines.head_snapshot import held_snapshots

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the run host through /proc")


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        out += [int(c) for c in text]
    return out


def run_host_pid(server_pid: int) -> int | None:
    for child in children(server_pid):
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        if b"baton.server.runhost" in cmdline:
            return child
    return None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "State:\tZ" not in status.read_text()


async def test_a_dead_run_host_fails_its_runs_and_the_next_run_gets_a_new_one(tmp_path, scripted, editor):
    root = make_project(tmp_path / "proj")
    script = session()
    script["t-planner"] = [{"fault": {"hang": True}}, *script["t-planner"]]
    llm = scripted(script)
    client, state = await editor([root], "visual-studio-code", options(llm.url))
    original = tree(root)
    first = (await execute(client, "baton.planImplementReview", {"task": "Add top_words."}))["runId"]
    await wait_until("the planner call to hang", lambda: any(r.outcome == "hanging" for r in llm.requests))
    host = run_host_pid(client._server.pid)
    assert host is not None
    os.kill(host, signal.SIGKILL)

    final = await wait_finished(client, first)
    assert final["status"] == "interrupted"
    assert final["message"] == f"the process that ran it (pid {host} on {os.uname().nodename}) ended without " \
                               "finishing it; last step: plan"
    await wait_until("the failure message", lambda: any("interrupted" in m.message
                                                        for m in client.messages))
    stored = json.loads((root / ".baton" / "runs" / first / "run.json").read_text())
    assert stored["status"] == "interrupted" and stored["error"] == final["message"]
    assert state.edit_requests == [] and tree(root) == original

    second = (await execute(client, "baton.planImplementReview", {"task": "Add top_words."}))["runId"]
    assert (await wait_finished(client, second))["status"] == "succeeded"
    await wait_until("the edit", state.applied.is_set)
    assert run_host_pid(client._server.pid) not in (None, host)
    runs = {r["runId"]: r["status"] for r in (await execute(client, "baton.listRuns", {}))["runs"]}
    assert runs == {first: "interrupted", second: "succeeded"}


async def test_shutdown_cancels_runs_in_flight_and_leaves_no_process(tmp_path, scripted, editor):
    root = make_project(tmp_path / "proj")
    script = session()
    script["t-planner"] = [{"fault": {"hang": True}}]
    llm = scripted(script)
    client, state = await editor([root], "visual-studio-code", options(llm.url))
    run_id = (await execute(client, "baton.planImplementReview", {"task": "Add top_words."}))["runId"]
    await wait_until("the planner call to hang", lambda: any(r.outcome == "hanging" for r in llm.requests))
    server, host = client._server.pid, run_host_pid(client._server.pid)
    assert host is not None

    await stop_editor(client)  # shutdown + exit, as an editor does when it closes
    assert not alive(server) and not alive(host)
    record = json.loads((root / ".baton" / "runs" / run_id / "run.json").read_text())
    assert record["status"] == "cancelled" and "shutting down" in record["error"]
    await wait_until("the model call to be dropped", lambda: llm.requests[0].outcome == "client-disconnected")
    assert state.edit_requests == []


def git_files(root: Path) -> dict[str, str]:
    import hashlib

    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in (root / ".git").rglob("*") if p.is_file()}


async def test_a_run_host_killed_mid_run_leaves_no_sandbox(tmp_path, scripted, editor):
    """kill -9 of the run host while the implementer works in its sandbox (a clone of the kept
    snapshot of HEAD: nothing registered in the repository): the server marks the run interrupted
    (last step: implement) and removes the sandbox's temp folder; the snapshot's lease died with
    the host."""
    import subprocess

    from lsp_session import server_env

    root = make_project(tmp_path / "proj")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    script = session()
    script["t-coder"] = [script["t-coder"][0], {"fault": {"hang": True}}]  # patch applied, then the model hangs
    llm = scripted(script)
    client, state = await editor([root], "visual-studio-code", options(llm.url), env=server_env(TMPDIR=str(tmp)))
    original = tree(root)
    git_before = git_files(root)

    def worktrees() -> int:
        return subprocess.run(["git", "--no-optional-locks", "worktree", "list", "--porcelain"], cwd=root,
                              capture_output=True, text=True, check=True).stdout.count("worktree ")

    run_id = (await execute(client, "baton.planImplementReview", {"task": "Add top_words."}))["runId"]
    await wait_until("the implementer call to hang",
                     lambda: any(r.model == "t-coder" and r.outcome == "hanging" for r in llm.requests))
    assert worktrees() == 1 and [p.name for p in tmp.iterdir() if p.name.startswith("baton-sandbox-")]
    assert held_snapshots(tmp)
    host = run_host_pid(client._server.pid)
    assert host is not None
    os.kill(host, signal.SIGKILL)

    final = await wait_finished(client, run_id)
    assert final["status"] == "interrupted" and final["message"].endswith("; last step: implement")
    record = json.loads((root / ".baton" / "runs" / run_id / "run.json").read_text())
    assert record["status"] == "interrupted"
    assert [(s["name"], s["status"]) for s in record["steps"]] == [("plan", "succeeded"), ("implement", "interrupted")]
    assert worktrees() == 1 and [p.name for p in tmp.iterdir() if p.name.startswith("baton-sandbox-")] == []
    assert held_snapshots(tmp) == []
    assert tree(root) == original and state.edit_requests == []
    assert git_files(root) == git_before  # byte for byte
