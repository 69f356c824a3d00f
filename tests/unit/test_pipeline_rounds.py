"""plan-implement-review through `baton run` when things go wrong inside the run: a rejected review
and a revision, a review that stays rejected, failing tests fixed on the next attempt, and an
implementer that never makes a change. The conversation each model sees is read back from the
scripted server's recorded requests."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from pipeline_helpers import (
    CODER,
    FIX_PATCH,
    OPS_FIXED,
    PLANNER,
    REVIEWER,
    TASK,
    approve,
    baton,
    call,
    clean_env,
    git,
    in_process,
    leftovers,
    make_repo,
    only_run,
    patch,
    planner_replies,
    reject,
    reply,
    request_text,
    requests_of,
    run_args,
    run_dir,
    submit,
    trace_events,
    tree_state,
)

from baton.pipelines.llm.scripted import ScriptedLLM
from baton.pipelines.models import ChangeSet, RunStatus, TestReport
from baton.pipelines.store import RunStore

FINDING = "add() has no docstring; say what it returns"
DOC_PATCH = ('*** Begin Patch\n*** Update File: calc/ops.py\n@@\n def add(a, b):\n'
             '+    """Return the sum of a and b."""\n     return a + b\n*** End Patch\n')
OPS_DOCUMENTED = OPS_FIXED.replace("def add(a, b):\n", 'def add(a, b):\n    """Return the sum of a and b."""\n')


def run(tmp_path: Path, script: dict, *extra: str
        ) -> tuple[ScriptedLLM, subprocess.CompletedProcess[str], Path, dict]:
    """`baton run TASK ...` on a fresh repository against `script`; the tree's state from before."""
    repo = make_repo(tmp_path / "repo")
    before = tree_state(repo)
    server = ScriptedLLM(script)
    with server as url:
        proc = baton(*run_args(repo, url, TASK, *extra), env=clean_env(tmp_path / "tmp"))
    return server, proc, repo, before


# --------------------------------------------------------------------------- 3. rejected, then revised


def test_rejected_then_revised_then_approved(tmp_path: Path) -> None:
    script = {"models": {
        PLANNER: planner_replies(),
        CODER: [reply(call("apply_patch", patch=FIX_PATCH)), submit(),
                reply(call("apply_patch", patch=DOC_PATCH), expect=FINDING),
                submit("Added the docstring.")],
        REVIEWER: [reject(FINDING), approve("Documented now.", expect='+    """Return the sum of a and b."""')],
    }}
    server, p, repo, before = run(tmp_path, script)
    assert p.returncode == 0, p.stdout + p.stderr
    rec = only_run(repo)
    assert rec.status is RunStatus.succeeded and rec.verdict == "approved"
    assert [s.name for s in rec.steps] == ["plan", "implement", "review", "revise:1", "review:2"]
    assert rec.attempts == 2  # one test run per accepted submission

    coder = requests_of(server, CODER)
    assert len(coder) == 4
    revise = request_text(coder[2])
    assert "The reviewer rejected your change (round 1)" in revise and FINDING in revise
    assert "calc/ops.py:5" in revise and "Return the sum of a and b." in revise  # location and suggestion
    # the implementer's conversation continues: round 2 resends round 1 unchanged, then the findings
    assert coder[2].body["messages"][: len(coder[1].body["messages"])] == coder[1].body["messages"]
    assert FIX_PATCH in revise
    reviewer = requests_of(server, REVIEWER)
    assert "The implementer revised the change after your review" in request_text(reviewer[1])
    assert reviewer[1].body["messages"][: len(reviewer[0].body["messages"])] == reviewer[0].body["messages"]

    d = run_dir(repo, rec)
    first = (d / "review-round-1.md").read_text()
    assert first.splitlines()[0] == "Verdict: rejected" and FINDING in first and "`calc/ops.py:5`" in first
    second = (d / "review-round-2.md").read_text()
    assert second.splitlines()[0] == "Verdict: approved" and "# Review (round 2)" in second
    assert (d / "review.md").read_text() == second
    cs = ChangeSet.model_validate_json((d / "changes.json").read_text())
    assert [(e.path, e.new_text) for e in cs.edits] == [("calc/ops.py", OPS_DOCUMENTED)]
    assert tree_state(repo) == before


def test_rejected_twice_fails_with_the_verdict(tmp_path: Path) -> None:
    script = {"models": {
        PLANNER: planner_replies(),
        CODER: [reply(call("apply_patch", patch=FIX_PATCH)), submit(),
                reply(call("apply_patch", patch=DOC_PATCH)), submit("Added the docstring.")],
        REVIEWER: [reject(FINDING), reject("still not documented well enough", summary="Still missing docs.")],
    }}
    server, p, repo, before = run(tmp_path, script, "--json")
    assert p.returncode == 1
    out = json.loads(p.stdout)
    assert out["status"] == "failed" and out["verdict"] == "rejected"
    assert out["error"] == "the reviewer rejected the change after 2 round(s): Still missing docs."
    rec = only_run(repo)
    assert (rec.status, rec.verdict, rec.error) == (RunStatus.failed, "rejected", out["error"])
    store = RunStore(repo)
    try:
        assert store.get(rec.id).status is RunStatus.failed and store.stats()[0].success_rate == 0.0
    finally:
        store.close()
    d = run_dir(repo, rec)
    assert (d / "review.md").read_text().splitlines()[0] == "Verdict: rejected"
    assert (d / "review-round-2.md").is_file() and all(s.status == "succeeded" for s in rec.steps)
    assert tree_state(repo) == before and server.remaining(REVIEWER) == 0


# --------------------------------------------------------------------------- 4. failing tests, fixed


def test_failing_tests_are_sent_back_and_fixed_on_the_second_attempt(tmp_path: Path) -> None:
    off_by_one = patch("calc/ops.py", "    return a - b", "    return a + b + 1")
    second = patch("calc/ops.py", "    return a + b + 1", "    return a + b")
    script = {"models": {
        PLANNER: planner_replies(),
        CODER: [reply(call("apply_patch", patch=off_by_one)), submit("Fixed add()."),
                reply(call("apply_patch", patch=second), expect="tests/test_ops.py::test_add"),
                submit("Fixed add() for real.", expect="Applied")],
        REVIEWER: [approve()],
    }}
    server, p, repo, before = run(tmp_path, script)
    assert p.returncode == 0, p.stdout + p.stderr
    refused = request_text(requests_of(server, CODER)[2])
    assert "The tests fail after your changes (attempt 1 of 3)" in refused
    assert "1 passed, 1 failed" in refused and "Failing: tests/test_ops.py::test_add" in refused
    assert "assert 6 == 5" in refused  # pytest's own failure output reached the model
    rec = only_run(repo)
    assert rec.status is RunStatus.succeeded and rec.attempts == 2 and rec.steps[1].attempts == 2
    refusals = [e for e in trace_events(repo, rec) if e["type"] == "tool_call" and not e["data"]["ok"]]
    assert [e["data"]["name"] for e in refusals] == ["submit_changes"]
    assert "refused: The tests fail" in refusals[0]["data"]["error"]
    tests = TestReport.model_validate_json((run_dir(repo, rec) / "tests.json").read_text())
    assert tests.ok and tests.passed == 2
    assert tree_state(repo) == before


def test_tests_that_keep_failing_fail_the_run_with_the_attempts(tmp_path: Path) -> None:
    wrong = patch("calc/ops.py", "    return a - b", "    return a * b")
    script = {"models": {
        PLANNER: planner_replies(),
        CODER: [reply(call("apply_patch", patch=wrong)), submit(), submit(expect="attempt 1 of 2")],
    }}
    repo = make_repo(tmp_path / "repo")
    (repo / "baton.toml").write_text("implement_attempts = 2\n")
    before = tree_state(repo)
    with ScriptedLLM(script) as url:
        p = baton(*run_args(repo, url), env=clean_env(tmp_path / "tmp"))
    assert p.returncode == 1
    rec = only_run(repo)
    assert rec.status is RunStatus.failed and rec.attempts == 2
    assert rec.error == ("the tests still fail after 2 attempt(s): " + rec.error.split(": ", 1)[1])
    assert "1 failed" in rec.error and "failing: tests/test_ops.py::test_add" in rec.error
    assert [(s.name, s.status) for s in rec.steps] == [("plan", "succeeded"), ("implement", "failed")]
    assert {"changes.diff", "tests.json"} <= set(rec.artifacts)  # kept for the post-mortem
    assert tree_state(repo) == before and leftovers(tmp_path / "tmp") == []


# --------------------------------------------------------------------------- 5. never a valid patch


def test_an_implementer_that_never_makes_a_change_fails_cleanly(tmp_path: Path) -> None:
    stale = patch("calc/ops.py", "    return a / b", "    return a // b", context_before="def div(a, b):")
    script = {"models": {
        PLANNER: [reply(fault={"status": 429, "retry_after": 0.2}), *planner_replies()],  # one retry on the way
        CODER: [reply(call("apply_patch", patch=stale)),
                reply(call("apply_patch", patch=stale), expect="def div(a, b):"),
                submit("Done."),
                submit("Done, really.", expect="You have not changed any file yet"),
                submit("Done!")],
    }}
    server, p, repo, before = run(tmp_path, script)
    assert p.returncode == 1, p.stdout + p.stderr
    rec = only_run(repo)
    assert rec.status is RunStatus.failed and rec.verdict is None
    assert rec.error.startswith("the implementer made no change: it submitted 3 time(s) without changing any file; "
                                "its last refused edit: apply_patch: ")
    assert "calc/ops.py" in rec.error and rec.error in p.stdout
    assert rec.attempts == 0 and server.remaining(CODER) == 0
    assert {"plan.md", "decisions.json", "run.json", "trace.jsonl"} <= set(rec.artifacts)
    assert all(Path(a).is_file() for a in rec.artifacts.values())
    events = trace_events(repo, rec)
    assert events[-1]["type"] == "run_finished" and events[-1]["data"]["status"] == "failed"
    assert [e["data"]["ok"] for e in events if e["type"] == "tool_call" and e["data"]["name"] == "apply_patch"] == [
        False, False]
    assert tree_state(repo) == before
    assert leftovers(tmp_path / "tmp") == []
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    # the post-mortem view names the retry and the refused edits
    trace = in_process("trace", rec.id, "--workspace", str(repo))
    assert trace.returncode == 0
    assert re.search(r"retry +planner +attempt 1 in 0\.2\ds: HTTP 429", trace.stdout), trace.stdout
    assert "apply_patch ERROR: calc/ops.py: the context and '-' lines of hunk 1" in trace.stdout
    assert "submit_changes ERROR: refused: You have not changed any file yet" in trace.stdout
