"""plan → implement (+ tests, bounded attempts) → review (+ bounded revision rounds).

Artifacts under .baton/runs/<id>/: plan.md, decisions.json, changes.diff, changes.json,
tests.json, review.md, run.json, trace.jsonl. The user's files are never written here;
the approved ChangeSet is returned for the editor (or `--apply`) to apply.
"""

from __future__ import annotations

from ..agents.base import IMPLEMENTER, PLANNER, REVIEWER, Agent, render
from ..artifacts import render_decisions_json, render_plan_md, render_review_md
from ..engine import RunContext, RunFailed, RunOutcome
from ..events import EventType
from ..models import (
    ChangeSet,
    ChangesSubmission,
    Plan,
    Review,
    Role,
    RunStatus,
    StepRecord,
    TestReport,
)
from .common import SandboxBench, Workbench, format_tests
from .review_rounds import review_rounds, submission_text


async def plan_implement_review(ctx: RunContext) -> RunOutcome:
    s = ctx.settings
    # Without the plan gate nothing happens between planning and implementing, so the sandbox
    # (seconds of checkout on a large tree) is made beside the listing, the map and the planner.
    # With the gate, the user may change files while reviewing the plan: it is made after.
    bench = await Workbench.open(ctx, early_sandbox=not (s.confirm_plan and ctx.gate is not None), reuse_head=True)
    try:
        return await _plan_implement_review(ctx, bench)
    finally:
        await bench.close()


async def _plan_implement_review(ctx: RunContext, bench: Workbench) -> RunOutcome:
    s = ctx.settings

    # ---------------------------------------------------------------- plan
    async with ctx.step("plan", Role.planner):
        planner = Agent(ctx, PLANNER, bench.read_tools(), bench.context)
        plan = await planner.run(render("plan_request", task=ctx.task.text), step="plan")
        plan_path = await ctx.artifact("plan.md", render_plan_md(plan, ctx.task.text))
        await ctx.artifact("decisions.json", render_decisions_json(plan))
    if s.confirm_plan and ctx.gate is not None:
        plan = await ctx.wait_for_plan(plan, plan_path)
        await ctx.artifact("plan.json", plan.model_dump_json(indent=2))

    # ---------------------------------------------------------------- implement, review
    async with bench.sandbox() as sb:
        implementer = Agent(ctx, IMPLEMENTER, sb.read_tools() + sb.edit_tools(), bench.context)
        reviewer = Agent(ctx, REVIEWER, sb.read_tools(), bench.context)
        gate = TestGate(ctx, bench, sb)

        async with ctx.step("implement", Role.implementer) as step_rec:
            gate.step = step_rec
            submission = await implementer.run(
                render("implement_request", task=ctx.task.text, plan=render_plan_md(plan, ctx.task.text),
                       test_command=sb.test_command_label),
                step="implement", on_submit=gate.check)
        changes = await bench.record_changes(sb)

        def request(round_no: int, submission: ChangesSubmission, changes: ChangeSet) -> str:
            if round_no == 1:
                return render("review_request", task=ctx.task.text, plan=render_plan_md(plan, ctx.task.text),
                              submission=submission_text(submission), diff=bench.diff(changes),
                              tests=format_tests(gate.last))
            return render("rereview_request", diff=bench.diff(changes),
                          submission=submission_text(submission), tests=format_tests(gate.last))

        async def on_review(review: Review, round_no: int) -> None:
            ctx.bus.emit(EventType.log, f"review {review.verdict}: {review.summary.strip()[:200]}",
                         milestone="review", verdict=review.verdict)
            text = render_review_md(review, round_no=round_no, tests=gate.last)
            await ctx.artifact("review.md", text)
            if s.review_rounds > 0:
                await ctx.artifact(f"review-round-{round_no}.md", text)

        done = await review_rounds(ctx, bench, sb, reviewer=reviewer, implementer=implementer, gate=gate,
                                   submission=submission, changes=changes, request=request, on_review=on_review)

    review, changes, rounds = done.review, done.changes, done.rounds
    if review.verdict == "approved":
        return RunOutcome(RunStatus.succeeded, verdict="approved", changeset=changes, plan=plan, review=review,
                          tests=gate.last)
    return RunOutcome(RunStatus.failed, verdict="rejected", changeset=changes, plan=plan, review=review,
                      tests=gate.last,
                      error=f"the reviewer rejected the change after {rounds} round(s): {review.summary.strip()[:300]}")


class TestGate:
    """Runs the tests when the implementer submits; sends failures back while attempts remain."""

    __test__ = False

    def __init__(self, ctx: RunContext, bench: Workbench, sb: SandboxBench) -> None:
        self.ctx, self.bench, self.sb = ctx, bench, sb
        self.attempts = 0
        self.total_attempts = 0
        self.empty_submits = 0
        self.last: TestReport | None = None
        self.step: StepRecord | None = None

    def reset(self, step: StepRecord | None = None) -> None:
        self.attempts = 0
        self.empty_submits = 0
        self.step = step

    async def check(self, submission: ChangesSubmission) -> str | None:
        cs: ChangeSet = await self.sb.changeset()
        allowed = self.ctx.settings.implement_attempts
        if cs.is_empty():
            self.empty_submits += 1
            if self.empty_submits >= allowed:
                why = f"; its last refused edit: {self.sb.last_edit_error}" if self.sb.last_edit_error else ""
                raise RunFailed(f"the implementer made no change: it submitted {self.empty_submits} time(s) "
                                f"without changing any file{why}"[:1500])
            return render("no_changes")
        self.attempts += 1
        self.total_attempts += 1
        self.ctx.record.attempts = self.total_attempts  # recorded as it happens: a failed run keeps it
        if self.step is not None:
            self.step.attempts = self.attempts
        await self.bench.record_changes(self.sb)  # kept for the post-mortem even if the run fails here
        report: TestReport | None = await self.sb.run_tests()
        if report is None:  # no test command and none detected: nothing to gate on
            self.ctx.bus.emit(EventType.log, "no test command configured or detected; tests skipped")
            return None
        self.last = report
        await self.ctx.artifact("tests.json", report.model_dump_json(indent=2))
        self.ctx.bus.emit(EventType.log, f"tests {'passed' if report.ok else 'failed'}: {report.summary_line()}",
                          milestone="tests", ok=report.ok)
        if report.ok:
            return None
        if self.attempts < allowed:
            return render("tests_failed", attempt=self.attempts, attempts=allowed, report=format_tests(report))
        raise RunFailed(f"the tests still fail after {self.attempts} attempt(s): {report.summary_line()}"
                        + (f"; failing: {', '.join(report.failing_tests[:5])}" if report.failing_tests else ""))


__all__ = ["Plan", "plan_implement_review"]
