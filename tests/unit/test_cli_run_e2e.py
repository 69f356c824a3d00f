"""`baton run` end to end as a subprocess: a real git repository with a real pytest project, the
scripted model over real HTTP, and everything a run leaves behind checked (artifacts, run.json,
trace, the store, `baton runs|show|stats|trace`), plus `--apply` and the user's tree untouched."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from pipeline_helpers import (
    CODER,
    FAKE_KEY,
    FIX_PATCH,
    OPS,
    OPS_FIXED,
    PLANNER,
    REVIEWER,
    TASK,
    baton,
    call,
    clean_env,
    git,
    happy_script,
    in_process,
    leftovers,
    make_repo,
    only_run,
    planner_replies,
    reply,
    requests_of,
    run_args,
    run_dir,
    submit,
    trace_events,
    tree_state,
)

from baton.pipelines.edits import changeset_from_patch
from baton.pipelines.edits.source import DirectorySource
from baton.pipelines.llm.scripted import ScriptedLLM
from baton.pipelines.models import ChangeSet, EditKind, RunRecord, RunStatus, TestReport
from baton.pipelines.store import RunStore

ARTIFACTS = {"plan.md", "decisions.json", "changes.diff", "changes.patch", "changes.json", "tests.json",
             "review.md", "review-round-1.md", "run.json", "trace.jsonl"}


# --------------------------------------------------------------------------- 1. an approved run


class ApprovedRun:
    """One approved run, shared by the tests that each look at one part of what it left."""

    def __init__(self, base: Path) -> None:
        self.repo = make_repo(base / "repo")
        self.tmp = base / "tmp"
        self.env = clean_env(self.tmp)
        self.before = tree_state(self.repo)
        self.server = ScriptedLLM(happy_script())
        with self.server as url:
            self.proc = baton(*run_args(self.repo, url), env=self.env)
        self.after = tree_state(self.repo)
        self.rec = only_run(self.repo)
        self.dir = run_dir(self.repo, self.rec)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`baton ARGS --workspace REPO` in this process (the history commands only read the store)."""
        return in_process(*args, "--workspace", str(self.repo))


@pytest.fixture(scope="module")
def approved(tmp_path_factory: pytest.TempPathFactory) -> ApprovedRun:
    return ApprovedRun(tmp_path_factory.mktemp("approved"))


def test_approved_run_exits_0_with_a_summary(approved: ApprovedRun) -> None:
    p = approved.proc
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"run {approved.rec.id}: succeeded, verdict: approved" in p.stdout
    assert "changes: 1 file changed, +1 -1" in p.stdout
    assert "nothing written; apply with `baton apply-patch" in p.stdout and "changes.patch" in p.stdout
    for name in ("plan.md", "changes.diff", "changes.patch", "review.md", "run.json", "trace.jsonl"):
        assert str(approved.dir / name) in p.stdout
    assert "plan: succeeded" in p.stderr and "run finished: succeeded" in p.stderr  # progress lines
    assert "Traceback" not in p.stderr


def test_approved_run_writes_every_artifact_with_sensible_content(approved: ApprovedRun) -> None:
    d = approved.dir
    assert {p.name for p in d.iterdir()} == ARTIFACTS
    plan = (d / "plan.md").read_text()
    assert plan.startswith(f"# Plan: {TASK}")
    assert "## Steps" in plan and "1. Return a + b from add()" in plan and "- `calc/ops.py`" in plan
    assert json.loads((d / "decisions.json").read_text())[0]["title"] == "Fix in place"
    diff = (d / "changes.diff").read_text()
    assert "--- a/calc/ops.py\n+++ b/calc/ops.py" in diff and "-    return a - b\n+    return a + b" in diff
    cs = ChangeSet.model_validate_json((d / "changes.json").read_text())
    assert [(e.path, e.kind, e.old_text, e.new_text) for e in cs.edits] == [
        ("calc/ops.py", EditKind.update, OPS, OPS_FIXED)]
    # changes.patch is what `baton apply-patch` takes: against the user's tree it is the same change
    from_patch = changeset_from_patch((d / "changes.patch").read_text(), DirectorySource(approved.repo))
    assert [(e.path, e.new_text) for e in from_patch.edits] == [("calc/ops.py", OPS_FIXED)]
    tests = TestReport.model_validate_json((d / "tests.json").read_text())
    assert tests.ok and (tests.passed, tests.failed, tests.errors) == (2, 0, 0)
    review = (d / "review.md").read_text()
    assert review.splitlines()[0] == "Verdict: approved"
    assert "# Review (round 1)" in review and "The fix is correct" in review and "2 passed" in review


def test_approved_run_record(approved: ApprovedRun) -> None:
    rec = approved.rec
    assert rec.pattern.value == "plan-implement-review" and rec.task == TASK
    assert rec.scope.root == str(approved.repo) and rec.scope.path is None
    assert rec.status is RunStatus.succeeded and rec.verdict == "approved" and rec.error is None
    assert [(s.name, s.role.value if s.role else None, s.status) for s in rec.steps] == [
        ("plan", "planner", "succeeded"), ("implement", "implementer", "succeeded"),
        ("review", "reviewer", "succeeded")]
    assert all(s.duration_s > 0 for s in rec.steps) and rec.duration_s >= sum(s.duration_s for s in rec.steps)
    assert rec.attempts == 1 and rec.steps[1].attempts == 1
    assert rec.files_changed == ["calc/ops.py"] and rec.finished_at is not None
    assert set(rec.artifacts) == ARTIFACTS and all(Path(p).is_file() for p in rec.artifacts.values())
    # usage per role, as the scripted server reported it (its second call per role hits the prompt cache)
    calls = {PLANNER: 2, CODER: 3, REVIEWER: 2}
    assert {r: u.calls for r, u in rec.usage_by_role.items()} == {
        "planner": calls[PLANNER], "implementer": calls[CODER], "reviewer": calls[REVIEWER]}
    assert all(u.prompt_tokens > 0 and u.completion_tokens > 0 and u.cached_tokens > 0
               for u in rec.usage_by_role.values())
    assert {m: len(requests_of(approved.server, m)) for m in calls} == calls
    by_role: dict[str, list[int]] = {}
    for ev in trace_events(approved.repo, rec):
        if ev["type"] == "llm_call":
            by_role.setdefault(ev["role"], []).append(ev["data"]["cached_tokens"])
    assert {r: sum(v) for r, v in by_role.items()} == {r: u.cached_tokens for r, u in rec.usage_by_role.items()}


def test_approved_run_trace(approved: ApprovedRun) -> None:
    events = trace_events(approved.repo, approved.rec)
    types = [e["type"] for e in events]
    assert types[0] == "run_started" and types[-1] == "run_finished"
    assert events[-1]["data"]["status"] == "succeeded" and events[-1]["data"]["verdict"] == "approved"
    assert {e["run_id"] for e in events} == {approved.rec.id}
    assert types.count("llm_call") == 7 and "failure" not in types
    tools = [(e["role"], e["data"]["name"], e["data"]["ok"]) for e in events if e["type"] == "tool_call"]
    assert tools == [("planner", "read_file", True), ("planner", "submit_plan", True),
                     ("implementer", "apply_patch", True), ("implementer", "run_tests", True),
                     ("implementer", "submit_changes", True),
                     ("reviewer", "read_file", True), ("reviewer", "submit_review", True)]
    handoffs = [e["data"]["artifact"] for e in events if e["type"] == "handoff"]
    assert {"plan.md", "decisions.json", "changes.diff", "tests.json", "review.md"} <= set(handoffs)
    steps = [(e["type"], e["step"]) for e in events if e["type"].startswith("step_")]
    assert steps == [(t, s) for s in ("plan", "implement", "review") for t in ("step_started", "step_finished")]


def test_no_secret_reaches_artifacts_or_output(approved: ApprovedRun) -> None:
    texts = [p.read_text() for p in approved.dir.iterdir()] + [approved.proc.stdout, approved.proc.stderr]
    assert not [t for t in texts if FAKE_KEY in t]
    assert all(FAKE_KEY not in json.dumps(r.headers) for r in approved.server.requests)


def test_approved_run_leaves_the_users_tree_and_temp_untouched(approved: ApprovedRun) -> None:
    assert approved.after == approved.before
    assert leftovers(approved.tmp) == []
    assert (approved.repo / ".baton" / ".gitignore").read_text().strip().endswith("*")
    run_json = approved.dir.relative_to(approved.repo) / "run.json"
    assert git(approved.repo, "check-ignore", str(run_json)).strip() == str(run_json)
    assert git(approved.repo, "check-ignore", ".baton/.gitignore").strip() == ".baton/.gitignore"


def test_store_row_matches_run_json(approved: ApprovedRun) -> None:
    store = RunStore(approved.repo)
    try:
        assert store.get(approved.rec.id) == approved.rec
        assert store.get(approved.rec.id[:15]) == approved.rec  # a unique prefix
    finally:
        store.close()


def test_runs_show_stats_and_trace_read_the_run(approved: ApprovedRun) -> None:
    rec = approved.rec
    runs = approved.cli("runs")
    assert runs.returncode == 0
    row = next(line for line in runs.stdout.splitlines() if line.startswith(rec.id))
    assert row.split()[1:4] == ["plan-implement-review", "succeeded", "approved"] and TASK[:40] in row
    listed = json.loads(approved.cli("runs", "--json").stdout)
    assert [RunRecord.model_validate(r) for r in listed] == [rec]

    show = approved.cli("show", rec.id[:15])
    assert show.returncode == 0, show.stderr
    assert show.stdout.startswith(f"run {rec.id}  plan-implement-review  succeeded  verdict: approved")
    for section in ("──── plan.md", "──── review.md", "──── changes.diff", "──── tests.json"):
        assert section in show.stdout
    assert "+    return a + b" in show.stdout and "2 passed" in show.stdout
    assert RunRecord.model_validate_json(approved.cli("show", rec.id, "--json").stdout) == rec

    stats = baton("stats", "--json", "--workspace", str(approved.repo), env=approved.env)  # as CI runs it
    assert stats.returncode == 0
    [row_stats] = json.loads(stats.stdout)
    assert row_stats["pattern"] == "plan-implement-review"
    assert (row_stats["runs"], row_stats["finished"], row_stats["succeeded"], row_stats["failed"]) == (1, 1, 1, 0)
    assert row_stats["success_rate"] == 1.0 and row_stats["mean_duration_s"] == rec.duration_s
    assert row_stats["mean_tokens"] == rec.usage.total_tokens
    table = approved.cli("stats").stdout
    assert "plan-implement-review" in table and "100%" in table

    trace = approved.cli("trace", rec.id)
    assert trace.returncode == 0
    lines = trace.stdout.splitlines()
    assert lines[0] == f"trace of run {rec.id} (plan-implement-review, succeeded)"
    assert len(lines) == 1 + len(trace_events(approved.repo, rec))
    assert "run_started" in lines[1] and "run_finished" in lines[-1]
    assert any("llm_call" in ln and PLANNER in ln and "cached=" in ln for ln in lines)
    assert any("tool_call" in ln and "apply_patch ok" in ln for ln in lines)
    raw = approved.cli("trace", rec.id, "--json").stdout
    assert raw == (approved.dir / "trace.jsonl").read_text()


def test_history_commands_refuse_unknown_runs_and_folders(approved: ApprovedRun, tmp_path: Path) -> None:
    for cmd in ("show", "trace"):
        p = approved.cli(cmd, "19990101-000000-dead")
        assert p.returncode == 2 and "no run '19990101-000000-dead'" in p.stderr and "baton runs" in p.stderr
    p = in_process("runs", "--workspace", str(tmp_path / "nope"))
    assert p.returncode == 2 and "not a directory" in p.stderr
    empty = in_process("stats", "--workspace", str(tmp_path))
    assert empty.returncode == 0 and empty.stdout.strip() == "no runs yet"
    assert in_process("runs", "--workspace", str(tmp_path)).stdout.startswith("no runs yet")
    for cmd in ("show", "trace"):
        p = in_process(cmd, "20260101", "--workspace", str(tmp_path))
        assert p.returncode == 2 and "has no Baton runs yet" in p.stderr
    assert list(tmp_path.iterdir()) == []  # reading history never creates a store


# --------------------------------------------------------------------------- 2. --apply


def test_apply_writes_the_approved_change(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    before = tree_state(repo)
    with ScriptedLLM(happy_script()) as url:
        p = baton(*run_args(repo, url, TASK, "--apply"), env=clean_env(tmp_path / "tmp"))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "applied to the workspace: calc/ops.py" in p.stdout
    assert (repo / "calc" / "ops.py").read_text() == OPS_FIXED
    after = tree_state(repo)
    changed = {k for k in before["files"] if before["files"][k] != after["files"].get(k)}
    assert changed == {"calc/ops.py"} and set(after["files"]) == set(before["files"])
    assert after["status"] == " M calc/ops.py\n"
    assert leftovers(tmp_path / "tmp") == []


class EditsDuringReview(ScriptedLLM):
    """The scripted server, plus a user who edits a file the run touches the moment the reviewer is
    asked (so after the sandbox's snapshot and before `--apply`): deterministic, no timing."""

    def __init__(self, script: dict, path: Path, text: str) -> None:
        super().__init__(script)
        self.path, self.text, self.done = path, text, False

    def record(self, req) -> None:  # type: ignore[no-untyped-def]
        if req.model == REVIEWER and not self.done:
            self.path.write_text(self.text)
            self.done = True
        super().record(req)


def test_apply_refuses_when_a_touched_file_changed_during_the_run(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    before = tree_state(repo)
    users_text = OPS + "\n\ndef sub(a, b):\n    return a - b\n"
    server = EditsDuringReview(happy_script(), repo / "calc" / "ops.py", users_text)
    with server as url:
        p = baton(*run_args(repo, url, TASK, "--apply", "--json"), env=clean_env(tmp_path / "tmp"))
    assert server.done
    assert p.returncode == 1, p.stdout + p.stderr
    out = json.loads(p.stdout)
    assert out["status"] == "succeeded" and out["verdict"] == "approved" and out["applied"] == []
    assert out["applyError"].startswith("not applied: ") and "calc/ops.py" in out["applyError"]
    assert (repo / "calc" / "ops.py").read_text() == users_text  # the user's edit stands; nothing written
    after = tree_state(repo)
    assert {k for k in before["files"] if before["files"][k] != after["files"].get(k)} == {"calc/ops.py"}
    assert after["status"] == " M calc/ops.py\n" and after["worktrees"] == before["worktrees"]
    # the proposal is still there to rebase or apply by hand
    cs = ChangeSet.model_validate_json((run_dir(repo, only_run(repo)) / "changes.json").read_text())
    assert cs.edits[0].new_text == OPS_FIXED


def test_apply_is_not_done_for_a_rejected_run(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    before = tree_state(repo)
    rejected = reply(call("submit_review", verdict="rejected", summary="Wrong approach.", findings=[]))
    script = {"models": {
        PLANNER: planner_replies(),
        CODER: [reply(call("apply_patch", patch=FIX_PATCH)), submit(), submit(expect="round 1")],
        REVIEWER: [rejected, rejected],
    }}
    with ScriptedLLM(script) as url:
        p = baton(*run_args(repo, url, TASK, "--apply"), env=clean_env(tmp_path / "tmp"))
    assert p.returncode == 1
    assert "failed, verdict: rejected" in p.stdout and "applied to the workspace" not in p.stdout
    assert tree_state(repo) == before


# --------------------------------------------------------------------------- bad input (8)


def assert_nothing_written(repo: Path, before: dict) -> None:
    assert tree_state(repo) == before
    assert not (repo / ".baton").exists()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


@pytest.mark.parametrize("args, message", [
    (["   "], "the task is empty: say what should be done"),
    (["do it", "--module", "../elsewhere"], "--module ../elsewhere: must be inside the workspace"),
    (["do it", "--module", "calc/nope.py"], "--module calc/nope.py: no such file or folder"),
    (["do it", "--run-timeout", "0"], "command-line flags: `run_timeout_s`: Input should be greater than 0"),
])
def test_bad_arguments_exit_2_and_write_nothing(repo: Path, tmp_path: Path, args: list[str], message: str) -> None:
    before = tree_state(repo)
    p = baton("run", *args, "--workspace", str(repo), "--base-url", "http://127.0.0.1:9/v1",
              env=clean_env(tmp_path / "tmp"))
    assert p.returncode == 2 and message in p.stderr and "Traceback" not in p.stderr, p.stderr
    assert p.stderr.startswith("baton run: ")
    assert_nothing_written(repo, before)


def test_workspace_that_is_not_a_folder_exits_2(tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("x")
    for ws in (tmp_path / "missing", tmp_path / "file.txt"):
        p = baton("run", "do it", "--workspace", str(ws), env=clean_env(tmp_path / "tmp"))
        assert p.returncode == 2 and f"--workspace {ws}: not a directory" in p.stderr
    assert not (tmp_path / "missing").exists() and (tmp_path / "file.txt").read_text() == "x"


@pytest.mark.parametrize("toml, key, problem", [
    ("step_timeout = 5\n", "step_timeout", "unknown setting; did you mean `step_timeout_s`?"),
    ("max_turns = \"many\"\n", "max_turns", "valid integer"),
    ("[roles.planner]\nmodle = \"x\"\n", "roles.planner.modle", "unknown setting; did you mean `model`?"),
    ("test_command = [\n", "<file>", "not valid TOML"),
])
def test_bad_baton_toml_exits_2_naming_the_file_and_key(repo: Path, tmp_path: Path, toml: str, key: str,
                                                        problem: str) -> None:
    (repo / "baton.toml").write_text(toml)
    before = tree_state(repo)
    p = baton("run", "do it", "--workspace", str(repo), env=clean_env(tmp_path / "tmp"))
    assert p.returncode == 2, p.stderr
    assert f"{repo / 'baton.toml'}: `{key}`: " in p.stderr and problem in p.stderr, p.stderr
    assert_nothing_written(repo, before)


def test_planner_that_never_submits_a_valid_plan_fails_with_the_validation_message(repo: Path,
                                                                                   tmp_path: Path) -> None:
    before = tree_state(repo)
    bad = reply(call("submit_plan", summary="just do it"))
    again = reply(call("submit_plan", summary="just do it"), expect="steps: Field required")
    with ScriptedLLM({"models": {PLANNER: [bad, again, again, again]}}) as url:
        p = baton(*run_args(repo, url), env=clean_env(tmp_path / "tmp"))
    assert p.returncode == 1, p.stdout + p.stderr
    rec = only_run(repo)
    assert rec.status is RunStatus.failed and rec.steps[0].status == "failed"
    assert "could not produce a valid submit_plan after 3 repairs" in rec.error
    assert "steps: Field required" in rec.error and rec.error in p.stdout
    assert "plan.md" not in rec.artifacts and rec.usage_by_role["planner"].calls == 4
    assert tree_state(repo) == before and leftovers(tmp_path / "tmp") == []
