"""decompose → one implementer per module, concurrently → merge queue → whole tests → one review.

1. The modules come from the user (`--modules`, Explorer multi-select) or from the decomposer
   (read-only tools), are validated (`parallel_plan`), and written as modules.json and plan.md;
   the plan gate lets the user edit the list before anything runs. An invalid or overlapping
   list goes back to the decomposer once; overlap that remains is serialised.
2. Every module runs through the executor at most `parallel_concurrency` at once, each in a
   hard-link clone of one shared snapshot (`sandbox_pool`), its edits held to its write set.
   A module that depends on others starts once they are merged, on a clone of the merged result.
3. The merge queue takes modules in dependency order, never in finishing order, and validates
   after each merge (`merge_queue.py`). A textual or semantic conflict re-runs that module once on top
   of the merged result; if that fails too, it is left out and its siblings' work is kept.
4. The test command on the whole result, one reviewer pass over the merged diff, and the report
   (`parallel_report`). The user's files are never written here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..agents.base import DECOMPOSER, REVIEWER, Agent, render
from ..artifacts import render_plan_md, render_review_md
from ..edits.diff import render_unified_diff
from ..engine import PatternFn, RunContext, RunFailed, RunOutcome
from ..events import EventType
from ..executor import Job, JobResult, LocalExecutor
from ..merge_queue import merge_changeset
from ..models import (
    ModuleReport,
    ModuleSplit,
    ModuleStatus,
    ModuleTask,
    Plan,
    Review,
    Role,
    RunStatus,
    TestReport,
)
from ..parallel_plan import (
    ModulePlanError,
    merge_order,
    modules_to_plan,
    normalise,
    overlaps,
    plan_to_modules,
    serialise_overlaps,
)
from ..sandbox import Sandbox
from ..sandbox_pool import ClonedSandbox, SandboxPool
from ..workspace.tools import read_tools
from ..workspace.view import WorkspaceView
from .common import MAX_DIFF_CHARS, Workbench, change_limits, format_tests
from .parallel_module import (
    ModuleFailed,
    ModuleTrace,
    ModuleWork,
    module_folder,
    module_llm,
    run_module,
    task_md,
    tests_json,
    write_module_files,
)
from .parallel_report import modules_json, record_efficiency, render_merge_md


def parallel_modules(modules: list[ModuleTask] | None = None) -> PatternFn:
    """The pattern; `modules` (or the task's own `modules` paths) given by the user skip the decomposer."""

    async def pattern(ctx: RunContext) -> RunOutcome:
        chosen = modules
        if chosen is None and ctx.task.modules:
            chosen = [ModuleTask(path=p, task=f"{ctx.task.text}\n\n(Only in {p}.)") for p in ctx.task.modules]
        return await ParallelRun(ctx, chosen).run()

    return pattern


# The run host imports patterns as "module:function" of a RunContext.
run_parallel_modules = parallel_modules()


@dataclass
class _Slot:
    """One module's progress through fan-out and merge."""

    module: ModuleTask
    report: ModuleReport
    done: asyncio.Future[JobResult[ModuleWork]]
    decided: asyncio.Event = field(default_factory=asyncio.Event)


class ParallelRun:
    def __init__(self, ctx: RunContext, modules: list[ModuleTask] | None) -> None:
        self.ctx, self.given = ctx, modules
        self.s = ctx.settings
        self.slots: dict[str, _Slot] = {}
        self.summary = ""
        self.integration: ClonedSandbox | None = None
        self.integration_lock = asyncio.Lock()
        self.pool: SandboxPool | None = None
        self.bench: Workbench | None = None
        self.merged = 0

    # ------------------------------------------------------------------ the run

    async def run(self) -> RunOutcome:
        ctx, s = self.ctx, self.s
        self.bench = bench = await Workbench.open(ctx)
        files = await asyncio.to_thread(bench.view.files, whole_root=True)
        modules = await self._decompose(bench, files)
        plan = modules_to_plan(self.summary, modules)
        plan_path = await self._write_plan(plan, modules)
        if s.confirm_plan and ctx.gate is not None:
            plan = await ctx.wait_for_plan(plan, plan_path)
            try:
                modules = self._settle(plan_to_modules(plan), files)
            except ModulePlanError as e:
                raise RunFailed(f"the edited module list cannot run: {e}") from None
            plan = modules_to_plan(plan.summary, modules)
            await self._write_plan(plan, modules)
        order = merge_order(modules)
        for m in order:
            self.slots[m.path] = _Slot(m, ModuleReport(path=m.path, task=m.task, write_set=m.write_set,
                                                       depends_on=m.depends_on),
                                       asyncio.get_running_loop().create_future())
        overlay = {p: d.text for p, d in ctx.overlay.items()}
        executor = LocalExecutor(s.parallel_concurrency)
        t0 = time.monotonic()
        async with executor.sandbox(ctx.workspace, overlay, s.exclude) as base:
            self.pool = SandboxPool(ctx.workspace, base.path, s.exclude, confinement=bench.confinement)
            async with self.pool.clone(full_copy=True) as integration:
                self.integration = integration
                jobs = [Job(m.path, self._job_fn(m), timeout_s=None, wait_for=self._deps_fn(m)) for m in order]
                fan_out = asyncio.ensure_future(executor.run(jobs, on_done=self._job_done))
                try:
                    await self._merge_queue(order, executor)
                    await fan_out
                finally:
                    if not fan_out.done():
                        fan_out.cancel()
                        await asyncio.gather(fan_out, return_exceptions=True)
                fan_out_s = time.monotonic() - t0
                changes = await integration.changeset(self.summary)
                await self._changes_artifacts(changes)
                tests = await self._final_tests(integration) if self.merged else None
                review = await self._review(integration, changes, tests, plan) if self.merged else None
        reports = [sl.report for sl in self.slots.values()]
        await ctx.artifact("modules.json", modules_json(self.summary, reports))
        await ctx.artifact("merge.md", render_merge_md(reports, fan_out_s, self._efficiency(reports, fan_out_s)))
        record_efficiency(ctx.record, reports, self._efficiency(reports, fan_out_s), executor.peak)
        return self._outcome(changes, plan, review, tests, reports)

    # ------------------------------------------------------------------ decompose

    async def _decompose(self, bench: Workbench, files: list[str]) -> list[ModuleTask]:
        ctx = self.ctx
        async with ctx.step("decompose", Role.decomposer):
            if self.given is not None:
                self.summary = f"{len(self.given)} module(s) chosen by the user"
                try:
                    return self._settle(self.given, files)
                except ModulePlanError as e:
                    raise RunFailed(str(e)) from None
            agent = Agent(ctx, DECOMPOSER, bench.read_tools(), bench.context)
            split: ModuleSplit = await agent.run(render("decompose_request", task=ctx.task.text), step="decompose")
            self.summary = split.summary.strip()
            try:
                modules = normalise(split.modules, ctx.task.scope, files)
                found = overlaps(modules, files)
                problem = "; ".join(o.describe() for o in found)
            except ModulePlanError as e:
                problem = str(e)
            if problem:  # once back to the decomposer with the reason
                ctx.bus.emit(EventType.log, f"module list sent back to the decomposer: {problem}", step="decompose")
                split = await agent.run(render("decompose_fix", problem=problem), step="decompose")
                self.summary = split.summary.strip()
                try:
                    return self._settle(split.modules, files)
                except ModulePlanError as e:
                    raise RunFailed(f"the decomposer's module list cannot run: {e}") from None
            return modules

    def _settle(self, modules: list[ModuleTask], files: list[str]) -> list[ModuleTask]:
        """Validate, then serialise whatever still overlaps."""
        modules = normalise(modules, self.ctx.task.scope, files)
        found = overlaps(modules, files)
        if found:
            self.ctx.bus.emit(EventType.log, "overlapping write sets run one after the other: "
                              + "; ".join(o.describe() for o in found), step="decompose")
            modules = serialise_overlaps(modules, found)
        merge_order(modules)
        return modules

    async def _write_plan(self, plan: Plan, modules: list[ModuleTask]):  # type: ignore[no-untyped-def]
        reports = [ModuleReport(path=m.path, task=m.task, write_set=m.write_set, depends_on=m.depends_on,
                                status=ModuleStatus.left_out, reason="not run yet") for m in modules]
        await self.ctx.artifact("modules.json", modules_json(self.summary, reports))
        return await self.ctx.artifact("plan.md", render_plan_md(plan, self.ctx.task.text))

    # ------------------------------------------------------------------ fan-out

    def _deps_fn(self, m: ModuleTask) -> Callable[[], asyncio.Future[None]] | None:
        if not m.depends_on:
            return None

        async def wait() -> None:
            for d in m.depends_on:
                await self.slots[d].decided.wait()

        return wait  # type: ignore[return-value]

    def _job_fn(self, m: ModuleTask):  # type: ignore[no-untyped-def]
        async def job() -> ModuleWork:
            missing = [d for d in m.depends_on if self.slots[d].report.status is not ModuleStatus.merged]
            if missing:
                raise _Skipped(f"skipped: module(s) it depends on were left out: {', '.join(missing)}")
            return await self._work(m, rerun=None, on_merged=bool(m.depends_on))

        return job

    async def _work(self, m: ModuleTask, *, rerun: tuple[str, str] | None, on_merged: bool) -> ModuleWork:
        """One attempt at a module in a fresh clone (of the merged result when `on_merged`)."""
        assert self.pool is not None and self.bench is not None and self.integration is not None
        trace = ModuleTrace(m)
        unsubscribe = self.ctx.bus.subscribe(trace)
        llm = module_llm(self.ctx, m)
        report = self.slots[m.path].report
        work: ModuleWork | None = None
        try:
            if on_merged:
                async with self.integration_lock:
                    clone = self.pool.clone(self.integration.path)
                    sb = await clone.__aenter__()
            else:
                clone = self.pool.clone()
                sb = await clone.__aenter__()
            try:
                work = await run_module(self.ctx, m, sb, llm, self.bench.context, self.summary or self.ctx.task.text,
                                        rerun=rerun)
            except RunFailed as e:  # the module's own wall-time limit
                raise ModuleFailed(f"module {m.path}: {e}") from None
            finally:
                await clone.__aexit__(None, None, None)
            return work
        finally:
            unsubscribe()
            report.tokens += llm.usage.total_tokens
            report.cost_usd = round(report.cost_usd + llm.usage.cost_usd, 6)
            report.attempts += 1
            if work is None:
                report.discarded_tokens += llm.usage.total_tokens
            files = {"task.md": _task_md(m, rerun), "trace.jsonl": trace.text()}
            if work is not None:
                files["changes.diff"] = render_unified_diff(work.changeset) or "(no changes)\n"
                files["tests.json"] = tests_json(work.tests)
            await asyncio.shield(asyncio.to_thread(write_module_files, module_folder(self.ctx, m), files))

    def _job_done(self, result: JobResult[ModuleWork]) -> None:
        slot = self.slots[result.key]
        slot.report.queued_s, slot.report.duration_s = result.queued_s, result.duration_s
        if not slot.done.done():
            slot.done.set_result(result)

    # ------------------------------------------------------------------ the merge queue

    async def _merge_queue(self, order: list[ModuleTask], executor: LocalExecutor) -> None:
        ctx, total = self.ctx, len(order)
        ctx.bus.emit(EventType.log, f"0/{total} modules merged", merged=0, modules=total, step="merge")
        for m in order:
            slot = self.slots[m.path]
            result = await slot.done
            rep = slot.report
            try:
                if result.status == "cancelled":
                    rep.status, rep.reason = ModuleStatus.cancelled, "cancelled"
                elif isinstance(result.exception, _Skipped):
                    rep.status, rep.reason = ModuleStatus.skipped, str(result.exception)
                elif not result.ok or result.value is None:
                    rep.status, rep.reason = ModuleStatus.left_out, result.error or result.status
                else:
                    await self._merge_one(m, result.value, executor)
            finally:
                slot.decided.set()
            ctx.bus.emit(EventType.log, f"{self.merged}/{total} modules merged"
                         + ("" if rep.status is ModuleStatus.merged else f" ({m.path} {rep.status.value}: {rep.reason})"),
                         merged=self.merged, modules=total, module=m.path, module_status=rep.status.value,
                         step="merge")

    async def _merge_one(self, m: ModuleTask, work: ModuleWork, executor: LocalExecutor) -> None:
        assert self.integration is not None
        rep = self.slots[m.path].report
        async with self.ctx.step(f"merge:{m.path}"):
            async with self.integration_lock:
                res = await merge_changeset(self.integration, work.changeset, self._validate)
        if res.ok:
            self._merged(rep, res.files)
            return
        rep.conflict = res.conflict
        rep.discarded_tokens += work.usage.total_tokens
        self.ctx.bus.emit(EventType.log, f"{m.path}: {res.conflict} conflict; re-running it once on the merged "
                          f"result: {res.detail[:300]}", step=f"merge:{m.path}", conflict=res.conflict)
        detail = format_tests(res.tests) if res.tests is not None else res.detail
        rerun = await executor.run([Job(f"rerun:{m.path}", lambda: self._work(m, rerun=(res.detail, detail),
                                                                                on_merged=True),
                                        timeout_s=None)])
        again = rerun[0]
        rep.duration_s = round(rep.duration_s + again.duration_s, 3)
        if not again.ok or again.value is None:
            rep.status, rep.reason = ModuleStatus.left_out, (f"{res.conflict} conflict ({res.detail[:300]}); "
                                                             f"the re-run failed: {again.error}")
            return
        async with self.ctx.step(f"merge:{m.path}:2"):
            async with self.integration_lock:
                res2 = await merge_changeset(self.integration, again.value.changeset, self._validate)
        if res2.ok:
            rep.resolved_by_rerun = True
            self._merged(rep, res2.files)
        else:
            rep.discarded_tokens += again.value.usage.total_tokens
            rep.status, rep.reason = ModuleStatus.left_out, (f"{res.conflict} conflict, and again after its re-run "
                                                             f"({res2.conflict}: {res2.detail[:300]})")

    def _merged(self, rep: ModuleReport, files: list[str]) -> None:
        self.merged += 1
        rep.status, rep.reason, rep.merge_index, rep.files = ModuleStatus.merged, None, self.merged, files

    async def _validate(self) -> TestReport | None:
        assert self.integration is not None
        report = await self.integration.run_tests(self.s.test_command, self.s.test_timeout_s, python=self.s.python)
        return None if report.command == "(none)" else report

    # ------------------------------------------------------------------ the whole result

    async def _final_tests(self, integration: Sandbox) -> TestReport | None:
        async with self.ctx.step("test"):
            report = await integration.run_tests(self.s.test_command, self.s.test_timeout_s, python=self.s.python)
            if report.command == "(none)":
                return None
            await self.ctx.artifact("tests.json", report.model_dump_json(indent=2))
            return report

    async def _review(self, integration: Sandbox, changes, tests: TestReport | None, plan: Plan) -> Review:  # type: ignore[no-untyped-def]
        ctx = self.ctx
        assert self.bench is not None
        async with ctx.step("review", Role.reviewer):
            view = WorkspaceView(integration.path, ctx.task.scope, excludes=self.s.exclude,
                                 max_file_bytes=self.s.max_file_bytes)
            reviewer = Agent(ctx, REVIEWER, read_tools(view), self.bench.context)
            diff = render_unified_diff(changes)
            if len(diff) > MAX_DIFF_CHARS:
                diff = diff[:MAX_DIFF_CHARS] + "\n… (diff cut here; read the files with your tools)\n"
            merged = [sl.report for sl in self.slots.values() if sl.report.status is ModuleStatus.merged]
            summary = "\n".join(f"- {r.path}: merged ({', '.join(r.files)})" for r in merged)
            left = [sl.report for sl in self.slots.values() if sl.report.status is not ModuleStatus.merged]
            if left:
                summary += "\n\nLeft out (not in the diff):\n" + "\n".join(f"- {r.path}: {r.reason}" for r in left)
            review: Review = await reviewer.run(
                render("review_request", task=ctx.task.text, plan=render_plan_md(plan, ctx.task.text),
                       submission=summary, diff=diff or "(no changes)", tests=format_tests(tests)), step="review")
            await ctx.artifact("review.md", render_review_md(review, tests=tests))
            return review

    async def _changes_artifacts(self, changes) -> None:  # type: ignore[no-untyped-def]
        from ..edits.limits import ChangeTooLarge
        from ..edits.render import render_apply_patch

        try:  # before any artifact or review request: the merged change is still bounded
            change_limits(self.ctx).check(changes, "the merged change")
        except ChangeTooLarge as e:
            raise RunFailed(str(e)) from None
        await self.ctx.artifact("changes.diff", render_unified_diff(changes) or "(no changes)\n")
        await self.ctx.artifact("changes.patch", render_apply_patch(changes) if not changes.is_empty() else "")
        await self.ctx.artifact("changes.json", changes.model_dump_json(indent=2))

    def _efficiency(self, reports: list[ModuleReport], wall_s: float) -> dict[str, float | int]:
        busy = sum(r.duration_s for r in reports)
        return {
            "wall_s": round(wall_s, 3),
            "sum_module_s": round(busy, 3),
            "speedup": round(busy / wall_s, 2) if wall_s > 0 else 0.0,
            "concurrency": self.s.parallel_concurrency,
            "discarded_tokens": sum(r.discarded_tokens for r in reports),
            "textual_conflicts": sum(1 for r in reports if r.conflict == "textual"),
            "semantic_conflicts": sum(1 for r in reports if r.conflict == "semantic"),
        }

    def _outcome(self, changes, plan: Plan, review: Review | None, tests: TestReport | None,  # type: ignore[no-untyped-def]
                 reports: list[ModuleReport]) -> RunOutcome:
        left = [r for r in reports if r.status is not ModuleStatus.merged]
        if not self.merged:
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


class _Skipped(ModuleFailed):
    """A module whose dependency was left out is not run."""


def _task_md(m: ModuleTask, rerun: tuple[str, str] | None) -> str:
    text = task_md(m)
    if rerun is not None:
        text += f"\n## Re-run after a conflict\n\n{rerun[0]}\n"
    return text
