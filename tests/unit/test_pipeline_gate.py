"""The plan gate inside plan-implement-review, at the pattern level: the run pauses after planning,
the gate's (edited) plan is what the implementer is asked to implement, and a gate that cancels
stops the run before any sandbox exists. Without the gate the sandbox is made beside the planner,
and a run that fails while planning removes it before the run ends."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from pipeline_helpers import (
    CODER,
    FIX_PATCH,
    PLANNER,
    REVIEWER,
    approve,
    call,
    git,
    leftovers,
    make_repo,
    plan_args,
    planner_replies,
    reply,
    request_text,
    requests_of,
    submit,
    tree_state,
)

from baton.pipelines.artifacts import parse_plan_md
from baton.pipelines.config import load_settings
from baton.pipelines.engine import Engine, RunCancelled
from baton.pipelines.llm.scripted import ScriptedLLM
from baton.pipelines.models import Plan, PlanStep, RunStatus, Scope, Task
from baton.pipelines.patterns.common import EarlySandbox
from baton.pipelines.patterns.plan_implement_review import plan_implement_review

EDITED_STEP = "Use operator.add instead of the + operator (edited by the user)"


def settings(repo: Path, url: str, **extra: object):  # type: ignore[no-untyped-def]
    return load_settings(repo, env={}, overrides={
        "base_url": url, "api_key": "not-a-real-key",
        "roles": {"planner": {"model": PLANNER}, "implementer": {"model": CODER}, "reviewer": {"model": REVIEWER}},
        "test_command": f"{sys.executable} -m pytest -q", "max_retries": 0, **extra})


class EditingGate:
    """What the editor does with the plan gate on: show plan.md, let the user edit, continue."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Plan, str]] = []

    async def review_plan(self, ctx, plan: Plan, plan_path: Path) -> Plan:  # type: ignore[no-untyped-def]
        self.seen.append((ctx.record.status.value, plan, await asyncio.to_thread(plan_path.read_text)))
        return plan.model_copy(update={"steps": [PlanStep(title=EDITED_STEP, files=["calc/ops.py"])]})


@pytest.fixture(autouse=True)
def no_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # the sandbox's pytest needs none


async def test_the_implementer_gets_the_plan_the_gate_returns(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    before = tree_state(repo)
    script = {"models": {
        PLANNER: planner_replies(),
        CODER: [reply(call("apply_patch", patch=FIX_PATCH), expect=EDITED_STEP), submit()],
        REVIEWER: [approve()],
    }}
    gate = EditingGate()
    server = ScriptedLLM(script)
    with server as url:
        task = Task(text="Fix add() in calc/ops.py so that the failing test passes.", scope=Scope(root=str(repo)))
        result = await Engine(repo, settings(repo, url, confirm_plan=True)).run(task, plan_implement_review, gate=gate)
    rec = result.record
    assert rec.status is RunStatus.succeeded, rec.error
    [(status, planned, plan_md)] = gate.seen
    assert status == "waiting" and planned == Plan.model_validate(plan_args())
    assert parse_plan_md(plan_md) == planned  # plan.md was written before the pause
    first = request_text(requests_of(server, CODER)[0])
    assert f"1. {EDITED_STEP}" in first and "Return a + b from add()" not in first
    run_dir = repo / ".baton" / "runs" / rec.id
    assert Plan.model_validate_json((run_dir / "plan.json").read_text()).steps[0].title == EDITED_STEP
    assert tree_state(repo) == before


async def test_without_confirm_plan_the_gate_is_not_asked(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    script = {"models": {
        PLANNER: planner_replies(),
        CODER: [reply(call("apply_patch", patch=FIX_PATCH), expect="Return a + b from add()"), submit()],
        REVIEWER: [approve()],
    }}
    gate = EditingGate()
    with ScriptedLLM(script) as url:
        task = Task(text="Fix add() in calc/ops.py so that the failing test passes.", scope=Scope(root=str(repo)))
        rec = (await Engine(repo, settings(repo, url)).run(task, plan_implement_review, gate=gate)).record
    assert rec.status is RunStatus.succeeded, rec.error
    assert gate.seen == [] and "plan.json" not in rec.artifacts


async def test_a_gate_that_cancels_stops_before_the_sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_repo(tmp_path / "repo")
    before = tree_state(repo)

    class Cancelling:
        async def review_plan(self, ctx, plan, plan_path):  # type: ignore[no-untyped-def]
            raise RunCancelled("the user discarded the plan")

    server = ScriptedLLM({"models": {PLANNER: planner_replies()}})
    with server as url:
        task = Task(text="Fix add() in calc/ops.py so that the failing test passes.", scope=Scope(root=str(repo)))
        rec = (await Engine(repo, settings(repo, url, confirm_plan=True)).run(task, plan_implement_review,
                                                                            gate=Cancelling())).record
    assert rec.status is RunStatus.cancelled and rec.error == "the user discarded the plan"
    assert [s.name for s in rec.steps] == ["plan"] and requests_of(server, CODER) == []
    assert tree_state(repo) == before


async def test_time_at_the_plan_gate_is_reported_apart_from_the_run_duration(tmp_path: Path) -> None:
    """A run of a few seconds that waited at the gate must not show the wait as duration (nor in stats)."""
    import time

    from baton.pipelines.store import RunStore

    class SlowUser:
        async def review_plan(self, ctx, plan, plan_path):  # type: ignore[no-untyped-def]
            await asyncio.sleep(1.0)  # the user reading plan.md
            return plan

    repo = make_repo(tmp_path / "repo")
    script = {"models": {PLANNER: planner_replies(), CODER: [reply(call("apply_patch", patch=FIX_PATCH)), submit()],
                         REVIEWER: [approve()]}}
    with ScriptedLLM(script) as url:
        task = Task(text="Fix add() in calc/ops.py so that the failing test passes.", scope=Scope(root=str(repo)))
        t0 = time.monotonic()
        rec = (await Engine(repo, settings(repo, url, confirm_plan=True)).run(task, plan_implement_review,
                                                                              gate=SlowUser())).record
        elapsed = time.monotonic() - t0
    assert rec.status is RunStatus.succeeded, rec.error
    assert rec.waiting_s >= 1.0
    assert rec.duration_s <= elapsed - rec.waiting_s  # working time only
    [row] = RunStore(repo).stats()
    assert row.mean_duration_s == rec.duration_s


async def test_a_run_that_fails_while_planning_removes_the_sandbox_made_beside_the_planner(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_repo(tmp_path / "repo")
    before = tree_state(repo)
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # where the sandbox is made
    # every early sandbox is kept referenced, so nothing but the run's own clean-up can remove it
    # (an abandoned one would otherwise be closed by asyncio's async-generator finaliser)
    early: list[EarlySandbox] = []
    made = EarlySandbox.__init__

    def keep(self: EarlySandbox, *args: Any, **kwargs: Any) -> None:
        made(self, *args, **kwargs)
        early.append(self)

    monkeypatch.setattr(EarlySandbox, "__init__", keep)
    # the planner reads a file, then its model has no answer left: the run fails in the plan step
    server = ScriptedLLM({"models": {PLANNER: [reply(call("read_file", path="calc/ops.py"))]}})
    with server as url:
        task = Task(text="Fix add() in calc/ops.py so that the failing test passes.", scope=Scope(root=str(repo)))
        rec = (await Engine(repo, settings(repo, url)).run(task, plan_implement_review)).record
    assert rec.status is RunStatus.failed and [s.name for s in rec.steps] == ["plan"]
    assert "has run out" in (rec.error or "")
    # checked as the run returns, before the event loop's shutdown could finalise anything
    assert len(early) == 1 and leftovers(tmp_path / "tmp") == []
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert tree_state(repo) == before
