"""The end of a parallel run: the merged change's artifacts (bounded first), the tests on the
whole result, one reviewer pass over the merged diff, the efficiency figures and the outcome."""

from __future__ import annotations

from ..agents.base import REVIEWER, Agent, render
from ..artifacts import render_plan_md, render_review_md
from ..config import Settings
from ..edits.diff import render_unified_diff
from ..edits.limits import ChangeTooLarge
from ..edits.render import render_apply_patch
from ..engine import RunContext, RunFailed, RunOutcome
from ..models import (
    ChangeSet,
    ModuleReport,
    ModuleStatus,
    Plan,
    Review,
    Role,
    RunStatus,
    TestReport,
)
from ..sandbox import Sandbox
from ..workspace.tools import read_tools
from ..workspace.view import WorkspaceView
from .common import MAX_DIFF_CHARS, Workbench, change_limits, format_tests


async def changes_artifacts(ctx: RunContext, changes: ChangeSet) -> None:
    try:  # before any artifact or review request: the merged change is still bounded
        change_limits(ctx).check(changes, "the merged change")
    except ChangeTooLarge as e:
        raise RunFailed(str(e)) from None
    await ctx.artifact("changes.diff", render_unified_diff(changes) or "(no changes)\n")
    await ctx.artifact("changes.patch", render_apply_patch(changes) if not changes.is_empty() else "")
    await ctx.artifact("changes.json", changes.model_dump_json(indent=2))


async def final_tests(ctx: RunContext, integration: Sandbox) -> TestReport | None:
    s = ctx.settings
    async with ctx.step("test"):
        report = await integration.run_tests(s.test_command, s.test_timeout_s, python=s.python)
        if report.command == "(none)":
            return None
        await ctx.artifact("tests.json", report.model_dump_json(indent=2))
        return report


async def review_merged(ctx: RunContext, bench: Workbench, integration: Sandbox, changes: ChangeSet,
                        tests: TestReport | None, plan: Plan, reports: list[ModuleReport]) -> Review:
    s = ctx.settings
    async with ctx.step("review", Role.reviewer):
        view = WorkspaceView(integration.path, ctx.task.scope, excludes=s.exclude, max_file_bytes=s.max_file_bytes)
        reviewer = Agent(ctx, REVIEWER, read_tools(view), bench.context)
        diff = render_unified_diff(changes)
        if len(diff) > MAX_DIFF_CHARS:
            diff = diff[:MAX_DIFF_CHARS] + "\n… (diff cut here; read the files with your tools)\n"
        merged = [r for r in reports if r.status is ModuleStatus.merged]
        summary = "\n".join(f"- {r.path}: merged ({', '.join(r.files)})" for r in merged)
        left = [r for r in reports if r.status is not ModuleStatus.merged]
        if left:
            summary += "\n\nLeft out (not in the diff):\n" + "\n".join(f"- {r.path}: {r.reason}" for r in left)
        review: Review = await reviewer.run(
            render("review_request", task=ctx.task.text, plan=render_plan_md(plan, ctx.task.text),
                   submission=summary, diff=diff or "(no changes)", tests=format_tests(tests)), step="review")
        await ctx.artifact("review.md", render_review_md(review, tests=tests))
        return review


def efficiency(s: Settings, reports: list[ModuleReport], wall_s: float) -> dict[str, float | int]:
    busy = sum(r.duration_s for r in reports)
    return {
        "wall_s": round(wall_s, 3),
        "sum_module_s": round(busy, 3),
        "speedup": round(busy / wall_s, 2) if wall_s > 0 else 0.0,
        "concurrency": s.parallel_concurrency,
        "discarded_tokens": sum(r.discarded_tokens for r in reports),
        "textual_conflicts": sum(1 for r in reports if r.conflict == "textual"),
        "semantic_conflicts": sum(1 for r in reports if r.conflict == "semantic"),
    }


def outcome(merged: int, changes: ChangeSet, plan: Plan, review: Review | None, tests: TestReport | None,
            reports: list[ModuleReport]) -> RunOutcome:
    left = [r for r in reports if r.status is not ModuleStatus.merged]
    if not merged:
        why = "; ".join(f"{r.path}: {r.reason}" for r in left)[:1500]
        return RunOutcome(RunStatus.failed, error=f"no module could be merged: {why}", changeset=changes, plan=plan)
    if tests is not None and not tests.ok:
        return RunOutcome(RunStatus.failed, error=f"the merged result fails the tests: {tests.summary_line()}",
                          changeset=changes, plan=plan, review=review, tests=tests)
    assert review is not None
    if review.verdict != "approved":
        return RunOutcome(RunStatus.failed, verdict="rejected", changeset=changes, plan=plan, review=review,
                          tests=tests, error=f"the reviewer rejected the merged change: {review.summary.strip()[:300]}")
    return RunOutcome(RunStatus.succeeded, verdict="approved", changeset=changes, plan=plan, review=review,
                      tests=tests)
