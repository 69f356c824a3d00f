"""decompose → one implementer per module, concurrently → merge queue → whole tests → one review.

1. The modules come from the user (`--modules`, Explorer multi-select) or from the decomposer
   (read-only tools; `parallel_decompose`), are validated (`parallel_plan`), and written as
   modules.json and plan.md;
   the plan gate lets the user edit the list before anything runs. An invalid or overlapping
   list goes back to the decomposer once; overlap that remains is serialised.
2. Every module runs through the executor at most `parallel_concurrency` at once, each in a
   hard-link clone of one shared snapshot (`sandbox_pool`), its edits held to its write set.
   A module that depends on others starts once they are merged, on a clone of the merged result.
3. The merge queue takes modules in dependency order, never in finishing order, and validates
   after each merge (`merge_queue.py`). A textual or semantic conflict re-runs that module once on top
   of the merged result; if that fails too, it is left out and its siblings' work is kept.
4. The test command on the whole result, one reviewer pass over the merged diff
   (`parallel_finish`), and the report (`parallel_report`). The user's files are never written here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..edits.diff import render_unified_diff
from ..engine import PatternFn, RunContext, RunFailed, RunOutcome
from ..events import EventType
from ..executor import Job, JobResult, LocalExecutor
from ..merge_queue import merge_changeset
from ..models import (
    ModuleReport,
    ModuleStatus,
    ModuleTask,
    TestReport,
)
from ..parallel_plan import (
    ModulePlanError,
    merge_order,
    modules_to_plan,
    plan_to_modules,
)
from ..sandbox_pool import ClonedSandbox, SandboxPool
from .common import Workbench, format_tests
from .parallel_decompose import decompose, settle, write_plan
from .parallel_finish import changes_artifacts, efficiency, final_tests, outcome, review_merged
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
        self.summary, modules = await decompose(ctx, bench, self.given, files)
        plan = modules_to_plan(self.summary, modules)
        plan_path = await write_plan(ctx, self.summary, plan, modules)
        if s.confirm_plan and ctx.gate is not None:
            plan = await ctx.wait_for_plan(plan, plan_path)
            try:
                modules = settle(ctx, plan_to_modules(plan), files)
            except ModulePlanError as e:
                raise RunFailed(f"the edited module list cannot run: {e}") from None
            plan = modules_to_plan(plan.summary, modules)
            await write_plan(ctx, self.summary, plan, modules)
        order = merge_order(modules)
        for m in order:
            self.slots[m.path] = _Slot(m, ModuleReport(path=m.path, task=m.task, write_set=m.write_set,
                                                       depends_on=m.depends_on),
                                       asyncio.get_running_loop().create_future())
        overlay = {p: d.text for p, d in ctx.overlay.items()}
        executor = LocalExecutor(s.parallel_concurrency)
        t0 = time.monotonic()
        async with executor.sandbox(ctx.workspace, overlay, s.exclude, reuse_head=True) as base:
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
                await changes_artifacts(ctx, changes)
                tests = await final_tests(ctx, integration) if self.merged else None
                reports = [sl.report for sl in self.slots.values()]
                review = (await review_merged(ctx, bench, integration, changes, tests, plan, reports)
                          if self.merged else None)
        await ctx.artifact("modules.json", modules_json(self.summary, reports))
        await ctx.artifact("merge.md", render_merge_md(reports, fan_out_s, efficiency(s, reports, fan_out_s)))
        record_efficiency(ctx.record, reports, efficiency(s, reports, fan_out_s), executor.peak)
        return outcome(self.merged, changes, plan, review, tests, reports)

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

class _Skipped(ModuleFailed):
    """A module whose dependency was left out is not run."""


def _task_md(m: ModuleTask, rerun: tuple[str, str] | None) -> str:
    text = task_md(m)
    if rerun is not None:
        text += f"\n## Re-run after a conflict\n\n{rerun[0]}\n"
    return text
