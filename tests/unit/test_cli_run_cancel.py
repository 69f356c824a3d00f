"""`baton run` stopped from outside: SIGINT/SIGTERM while the model hangs, the run's wall-time limit,
and a step's time limit. Each ends with a recorded status, the sandbox gone and the tree as it was.

No timed assertions: the tests wait for the scripted server to report the hanging request, and the
limits under test (1 s) only bound how long the run takes."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
from pipeline_helpers import (
    BATON,
    CODER,
    FIX_PATCH,
    PLANNER,
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
from baton.pipelines.models import RunStatus
from baton.pipelines.store import RunStore

HANG = {"fault": {"hang": True}}


def stored_status(repo: Path, run_id: str) -> RunStatus:
    store = RunStore(repo)
    try:
        return store.get(run_id).status
    finally:
        store.close()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_mid_run_cancels_it_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    repo = make_repo(tmp_path / "repo")
    before = tree_state(repo)
    tmp = tmp_path / "tmp"
    script = {"models": {PLANNER: planner_replies(), CODER: [reply(call("apply_patch", patch=FIX_PATCH)), HANG]}}
    server = ScriptedLLM(script)
    with server as url:
        proc = subprocess.Popen([BATON, *run_args(repo, url)], env=clean_env(tmp), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        try:
            # the patch is applied in the sandbox and the implementer's next call hangs: cancel now
            hanging = server.wait_for(lambda reqs: any(r.model == CODER and r.outcome == "hanging" for r in reqs),
                                      timeout=90)
            assert hanging, proc.stderr.read() if proc.poll() is not None else "no hanging request"
            assert leftovers(tmp), "the sandbox should exist while the implementer works"
            proc.send_signal(sig)
            out, err = proc.communicate(timeout=90)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 1, out + err
    rec = only_run(repo)
    assert rec.status is RunStatus.cancelled and rec.error == f"cancelled ({sig.name})"
    assert f"run {rec.id}: cancelled" in out and "Traceback" not in err
    assert [(s.name, s.status) for s in rec.steps] == [("plan", "succeeded"), ("implement", "cancelled")]
    assert stored_status(repo, rec.id) is RunStatus.cancelled
    events = trace_events(repo, rec)
    assert events[-1]["type"] == "run_finished" and events[-1]["data"]["status"] == "cancelled"
    assert rec.usage_by_role["implementer"].calls == 1  # the hanging call never answered
    assert tree_state(repo) == before
    assert leftovers(tmp) == []
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_run_timeout_fails_a_run_whose_model_hangs(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    before = tree_state(repo)
    with ScriptedLLM({"models": {PLANNER: [HANG]}}) as url:
        p = subprocess.run([BATON, *run_args(repo, url), "--run-timeout", "1"], env=clean_env(tmp_path / "tmp"),
                           capture_output=True, text=True, timeout=90)
    assert p.returncode == 1, p.stdout + p.stderr
    rec = only_run(repo)
    assert rec.status is RunStatus.failed
    assert rec.error == "the run exceeded its wall-time limit of 1s (run_timeout_s)"
    assert [(s.name, s.status) for s in rec.steps] == [("plan", "failed")]
    assert rec.steps[0].error == rec.error
    assert f"error: {rec.error}" in p.stdout
    assert tree_state(repo) == before and leftovers(tmp_path / "tmp") == []


def test_step_timeout_from_baton_toml_names_the_step(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    (repo / "baton.toml").write_text("step_timeout_s = 1\n")
    before = tree_state(repo)
    with ScriptedLLM({"models": {PLANNER: [HANG]}}) as url:
        p = subprocess.run([BATON, *run_args(repo, url)], env=clean_env(tmp_path / "tmp"),
                           capture_output=True, text=True, timeout=90)
    assert p.returncode == 1, p.stdout + p.stderr
    rec = only_run(repo)
    assert rec.status is RunStatus.failed
    assert rec.error == "step 'plan' timed out after 1s; raise step_timeout_s in baton.toml if the model is slow"
    assert [(s.name, s.status, s.error) for s in rec.steps] == [("plan", "failed", "step 'plan' timed out after 1s")]
    assert tree_state(repo) == before and leftovers(tmp_path / "tmp") == []
