"""Engine mechanics with patterns that need no model: steps, failures, timeouts, cancel, budgets, trace."""

import asyncio
import json

from baton.pipelines.config import load_settings
from baton.pipelines.engine import Engine, RunFailed, RunOutcome
from baton.pipelines.events import EventType
from baton.pipelines.models import Role, RunStatus, Scope, Task, Usage


class Accounting:
    """Stands in for the LLM client's usage ledger only (these patterns call no model)."""

    def __init__(self):
        self.usage_by_role = {}


def make(tmp_path, **overrides):
    settings = load_settings(tmp_path, overrides=overrides, env={})
    engine = Engine(tmp_path, settings)
    task = Task(text="do it", scope=Scope(root=str(tmp_path)))
    return engine, task


async def test_successful_run_writes_record_trace_and_artifacts(tmp_path):
    engine, task = make(tmp_path)
    events = []

    async def pattern(ctx):
        async with ctx.step("plan", Role.planner):
            await ctx.artifact("plan.md", "# Plan\n")
        return RunOutcome(RunStatus.succeeded, verdict="approved")

    result = await engine.run(task, pattern, llm=Accounting(), subscribers=[events.append])
    rec = result.record
    assert rec.status is RunStatus.succeeded and rec.verdict == "approved"
    assert [s.name for s in rec.steps] == ["plan"] and rec.steps[0].status == "succeeded"
    run_dir = tmp_path / ".baton" / "runs" / rec.id
    assert (run_dir / "plan.md").read_text() == "# Plan\n"
    trace = [json.loads(line) for line in (run_dir / "trace.jsonl").read_text().splitlines()]
    types = [t["type"] for t in trace]
    assert types[0] == "run_started" and types[-1] == "run_finished"
    assert "step_started" in types and "handoff" in types
    assert [e.type for e in events] == [EventType(t) for t in types]
    assert engine.store.get(rec.id).status is RunStatus.succeeded


async def test_failed_step_fails_the_run_with_its_reason(tmp_path):
    engine, task = make(tmp_path)

    async def pattern(ctx):
        async with ctx.step("implement", Role.implementer):
            raise RunFailed("the implementer made no changes")

    rec = (await engine.run(task, pattern, llm=Accounting())).record
    assert rec.status is RunStatus.failed and rec.error == "the implementer made no changes"
    assert rec.steps[0].status == "failed"


async def test_step_timeout(tmp_path):
    engine, task = make(tmp_path, stepTimeoutS=0.1)

    async def pattern(ctx):
        async with ctx.step("slow"):
            await asyncio.sleep(5)

    rec = (await engine.run(task, pattern, llm=Accounting())).record
    assert rec.status is RunStatus.failed and "timed out after 0.1s" in rec.error


async def test_run_timeout(tmp_path):
    engine, task = make(tmp_path, runTimeoutS=0.1)

    async def pattern(ctx):
        await asyncio.sleep(5)

    rec = (await engine.run(task, pattern, llm=Accounting())).record
    assert rec.status is RunStatus.failed and "wall-time limit" in rec.error


async def test_cancel_mid_step(tmp_path):
    engine, task = make(tmp_path)
    started = asyncio.Event()

    async def pattern(ctx):
        async with ctx.step("implement"):
            started.set()
            await asyncio.sleep(30)

    handle = engine.start(task, pattern, llm=Accounting())
    await started.wait()
    assert handle.cancel()
    rec = (await handle.wait()).record
    assert rec.status is RunStatus.cancelled and rec.steps[0].status == "cancelled"
    assert engine.store.get(rec.id).status is RunStatus.cancelled


async def test_token_budget_stops_the_run(tmp_path):
    engine, task = make(tmp_path, budgetTokens=100)
    acc = Accounting()

    async def pattern(ctx):
        for _ in range(10):
            acc.usage_by_role["planner"] = acc.usage_by_role.get("planner", Usage()) + Usage(calls=1, prompt_tokens=40)
            ctx.bus.emit(EventType.llm_call, "call", role="planner")
            await asyncio.sleep(0)
        return RunOutcome(RunStatus.succeeded)

    rec = (await engine.run(task, pattern, llm=acc)).record
    assert rec.status is RunStatus.failed and "token budget exceeded: 120 > 100" in rec.error
    assert rec.usage_by_role["planner"].prompt_tokens == 120


async def test_a_roles_own_budget_stops_the_run_naming_the_role(tmp_path):
    (tmp_path / "baton.toml").write_text("[roles.reviewer]\nbudget_tokens = 50\n[roles.planner]\nbudget_cost_usd = 5.0\n")
    engine, task = make(tmp_path, budgetTokens=10_000)
    acc = Accounting()

    async def pattern(ctx):
        for role in ("planner", "planner", "reviewer", "reviewer", "reviewer"):
            acc.usage_by_role[role] = acc.usage_by_role.get(role, Usage()) + Usage(calls=1, prompt_tokens=20,
                                                                                    cost_usd=1.0)
            ctx.bus.emit(EventType.llm_call, "call", role=role)
            await asyncio.sleep(0)
        return RunOutcome(RunStatus.succeeded)

    rec = (await engine.run(task, pattern, llm=acc)).record
    assert rec.status is RunStatus.failed
    assert rec.error == "reviewer token budget exceeded: 60 > 50 (roles.reviewer.budget_tokens)"
    assert rec.usage_by_role["planner"].prompt_tokens == 40  # under its cost budget, far under the run's


async def test_plan_gate_pauses_the_wall_clock(tmp_path):
    engine, task = make(tmp_path, runTimeoutS=0.3)

    class Gate:
        async def review_plan(self, ctx, plan, path):
            assert ctx.record.status is RunStatus.waiting
            await asyncio.sleep(0.6)  # longer than the run's wall-time limit
            return plan

    async def pattern(ctx):
        plan = await ctx.wait_for_plan("the plan", tmp_path / "plan.md")
        return RunOutcome(RunStatus.succeeded, error=None if plan == "the plan" else "lost")

    rec = (await engine.run(task, pattern, llm=Accounting(), gate=Gate())).record
    assert rec.status is RunStatus.succeeded, rec.error


async def test_unexpected_exception_is_an_internal_error_with_traceback_in_trace(tmp_path):
    engine, task = make(tmp_path)

    async def pattern(ctx):
        raise KeyError("boom")

    rec = (await engine.run(task, pattern, llm=Accounting())).record
    assert rec.status is RunStatus.failed and rec.error.startswith("internal error: KeyError")
    trace = (tmp_path / ".baton" / "runs" / rec.id / "trace.jsonl").read_text()
    assert "Traceback" in trace


async def until(predicate, limit_s=30.0):
    """Wait for a state (runs hop to threads for the store), with a safety limit only."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while not predicate():
        assert loop.time() < deadline, "state not reached"
        await asyncio.sleep(0.01)


async def test_concurrency_limit_queues_runs_past_it(tmp_path):
    from baton.pipelines.slots import RunSlots

    settings = load_settings(tmp_path, overrides={"concurrency": 1}, env={})
    slots = RunSlots()
    engine = Engine(tmp_path, settings, slots=slots)
    first_may_finish = asyncio.Event()
    order: list[str] = []

    def pattern(name):
        async def run(ctx):
            order.append(f"{name} started")
            if name == "first":
                await first_may_finish.wait()
            order.append(f"{name} finished")
            return RunOutcome(RunStatus.succeeded)
        return run

    events = []
    first = engine.start(Task(text="one", scope=Scope(root=str(tmp_path))), pattern("first"), llm=Accounting())
    await until(lambda: order == ["first started"])  # the first run holds the only slot
    second = engine.start(Task(text="two", scope=Scope(root=str(tmp_path))), pattern("second"), llm=Accounting(),
                          subscribers=[events.append])
    await until(lambda: order and any(e.type is EventType.log and "queued" in e.message for e in events))
    assert order == ["first started"]
    first_may_finish.set()
    assert (await first.wait()).record.status is RunStatus.succeeded
    assert (await second.wait()).record.status is RunStatus.succeeded
    assert order == ["first started", "first finished", "second started", "second finished"]
    assert slots.active == 0


async def test_a_run_cancelled_while_queued_gives_its_turn_back(tmp_path):
    from baton.pipelines.slots import RunSlots

    settings = load_settings(tmp_path, overrides={"concurrency": 1}, env={})
    slots = RunSlots()
    engine = Engine(tmp_path, settings, slots=slots)
    release, working = asyncio.Event(), asyncio.Event()

    async def blocking(ctx):
        working.set()
        await release.wait()
        return RunOutcome(RunStatus.succeeded)

    async def quick(ctx):
        return RunOutcome(RunStatus.succeeded)

    first = engine.start(Task(text="one", scope=Scope(root=str(tmp_path))), blocking, llm=Accounting())
    await working.wait()
    queued = engine.start(Task(text="two", scope=Scope(root=str(tmp_path))), quick, llm=Accounting())
    await until(lambda: slots.active == 1 and len(slots._waiters) == 1)
    assert queued.cancel()
    assert (await queued.wait()).record.status is RunStatus.cancelled
    release.set()
    await first.wait()
    third = engine.start(Task(text="three", scope=Scope(root=str(tmp_path))), quick, llm=Accounting())
    assert (await third.wait()).record.status is RunStatus.succeeded and slots.active == 0


async def test_a_run_at_the_plan_gate_gives_its_slot_to_a_queued_run(tmp_path):
    from baton.pipelines.slots import RunSlots

    settings = load_settings(tmp_path, overrides={"concurrency": 1}, env={})
    slots = RunSlots()
    engine = Engine(tmp_path, settings, slots=slots)
    gate_open = asyncio.Event()
    order: list[str] = []

    class Gate:
        async def review_plan(self, ctx, plan, path):
            order.append("gated waiting")
            await gate_open.wait()
            return plan

    async def gated(ctx):
        await ctx.wait_for_plan("the plan", tmp_path / "plan.md")
        order.append("gated implementing")
        return RunOutcome(RunStatus.succeeded)

    other_may_finish = asyncio.Event()

    async def other(ctx):
        order.append("other started")
        await other_may_finish.wait()
        order.append("other finished")
        return RunOutcome(RunStatus.succeeded)

    first = engine.start(Task(text="one", scope=Scope(root=str(tmp_path))), gated, llm=Accounting(), gate=Gate())
    await until(lambda: order == ["gated waiting"])
    assert slots.active == 0  # waiting for the user holds no slot
    second = engine.start(Task(text="two", scope=Scope(root=str(tmp_path))), other, llm=Accounting())
    await until(lambda: order == ["gated waiting", "other started"])  # not queued behind the gate
    gate_open.set()  # the user continues while the other run works: the gated run queues for its slot
    await until(lambda: len(slots._waiters) == 1)
    assert order == ["gated waiting", "other started"] and slots.active == 1
    other_may_finish.set()
    assert (await second.wait()).record.status is RunStatus.succeeded
    assert (await first.wait()).record.status is RunStatus.succeeded
    assert order == ["gated waiting", "other started", "other finished", "gated implementing"]
    assert slots.active == 0


async def test_run_json_names_the_owner_and_the_step_in_progress(tmp_path):
    import os

    from baton.pipelines.models import RunRecord

    engine, task = make(tmp_path)
    inside = asyncio.Event()
    finish = asyncio.Event()

    async def pattern(ctx):
        async with ctx.step("implement", Role.implementer):
            inside.set()
            await finish.wait()
        return RunOutcome(RunStatus.succeeded)

    handle = engine.start(task, pattern, llm=Accounting())
    await inside.wait()
    saved = RunRecord.model_validate_json((tmp_path / ".baton" / "runs" / handle.id / "run.json").read_text())
    assert saved.status is RunStatus.running and saved.owner is not None and saved.owner.pid == os.getpid()
    assert [(s.name, s.status) for s in saved.steps] == [("implement", "running")]
    finish.set()
    assert (await handle.wait()).record.status is RunStatus.succeeded
