"""The module list of a parallel run: the user's (validated) or the decomposer's (sent back once
with the reason when it is invalid or overlaps), overlap that remains serialised, and the plan
artifacts (modules.json, plan.md) the plan gate shows."""

from __future__ import annotations

from pathlib import Path

from ..agents.base import DECOMPOSER, Agent, render
from ..artifacts import render_plan_md
from ..engine import RunContext, RunFailed
from ..events import EventType
from ..models import ModuleReport, ModuleSplit, ModuleStatus, ModuleTask, Plan, Role
from ..parallel_plan import ModulePlanError, merge_order, normalise, overlaps, serialise_overlaps
from .common import Workbench
from .parallel_report import modules_json


async def decompose(ctx: RunContext, bench: Workbench, given: list[ModuleTask] | None,
                    files: list[str]) -> tuple[str, list[ModuleTask]]:
    """(summary, modules): the user's modules, or the decomposer's."""
    async with ctx.step("decompose", Role.decomposer):
        if given is not None:
            try:
                return f"{len(given)} module(s) chosen by the user", settle(ctx, given, files)
            except ModulePlanError as e:
                raise RunFailed(str(e)) from None
        agent = Agent(ctx, DECOMPOSER, bench.read_tools(), bench.context)
        split: ModuleSplit = await agent.run(render("decompose_request", task=ctx.task.text), step="decompose")
        try:
            modules = normalise(split.modules, ctx.task.scope, files)
            found = overlaps(modules, files)
            problem = "; ".join(o.describe() for o in found)
        except ModulePlanError as e:
            problem = str(e)
        if not problem:
            return split.summary.strip(), modules
        # once back to the decomposer with the reason
        ctx.bus.emit(EventType.log, f"module list sent back to the decomposer: {problem}", step="decompose")
        split = await agent.run(render("decompose_fix", problem=problem), step="decompose")
        try:
            return split.summary.strip(), settle(ctx, split.modules, files)
        except ModulePlanError as e:
            raise RunFailed(f"the decomposer's module list cannot run: {e}") from None


def settle(ctx: RunContext, modules: list[ModuleTask], files: list[str]) -> list[ModuleTask]:
    """Validate, then serialise whatever still overlaps."""
    modules = normalise(modules, ctx.task.scope, files)
    found = overlaps(modules, files)
    if found:
        ctx.bus.emit(EventType.log, "overlapping write sets run one after the other: "
                     + "; ".join(o.describe() for o in found), step="decompose")
        modules = serialise_overlaps(modules, found)
    merge_order(modules)
    return modules


async def write_plan(ctx: RunContext, summary: str, plan: Plan, modules: list[ModuleTask]) -> Path:
    reports = [ModuleReport(path=m.path, task=m.task, write_set=m.write_set, depends_on=m.depends_on,
                            status=ModuleStatus.left_out, reason="not run yet") for m in modules]
    await ctx.artifact("modules.json", modules_json(summary, reports))
    return await ctx.artifact("plan.md", render_plan_md(plan, ctx.task.text))
