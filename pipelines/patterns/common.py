"""What every pattern needs around its agents: the workspace view and repo map (the shared
context every agent's conversation starts with), the sandbox with its read and write tools,
and the changes artifacts (changes.diff, changes.patch, changes.json)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from ..agents.base import render
from ..confine import Confinement, resolve_confinement
from ..edits.diff import render_unified_diff
from ..edits.limits import ChangeLimits, ChangeTooLarge
from ..edits.render import render_apply_patch
from ..edits.tools import edit_tools
from ..engine import RunContext, RunFailed
from ..events import EventType
from ..executor import Executor, LocalExecutor
from ..models import ChangeSet, TestReport
from ..sandbox import Sandbox
from ..tools import Tool, ToolError
from ..workspace.repomap import default_mapper
from ..workspace.tools import read_tools
from ..workspace.view import WorkspaceView

MAX_DIFF_CHARS = 60_000


def format_tests(report: TestReport | None) -> str:
    if report is None:
        return "(the tests have not been run)"
    lines = [report.summary_line()]
    if report.failing_tests:
        lines.append("Failing: " + ", ".join(report.failing_tests[:20]))
    if not report.ok and report.output_tail:
        lines += ["Output (end):", "```", report.output_tail[-4000:].rstrip(), "```"]
    return "\n".join(lines)


@dataclass
class SandboxBench:
    """The sandbox as the implementer and reviewer see it."""

    ctx: RunContext
    sandbox: Sandbox
    view: WorkspaceView
    last_edit_error: str | None = None  # the last refused edit, to explain a run that made no change
    # The implementer's last run_tests report while no write tool has run since: a passing one
    # is the submit's test run too (the tree is the same), so the tests do not run twice.
    unchanged_since_tests: TestReport | None = None
    _announced: bool = False

    @property
    def test_command_label(self) -> str:
        return self.ctx.settings.test_command or "detected automatically (pytest when the project has tests)"

    def read_tools(self) -> list[Tool]:
        self.view.invalidate()
        return read_tools(self.view)

    def edit_tools(self) -> list[Tool]:
        view = self.view

        def on_tests(report: TestReport) -> None:
            view.invalidate()  # the listing may have changed with the edits
            self._announce(report)
            self.unchanged_since_tests = report

        tools = edit_tools(self.sandbox, test_command=self.ctx.settings.test_command,
                           test_timeout_s=self.ctx.settings.test_timeout_s, on_tests=on_tests,
                           python=self.ctx.settings.python, limits=change_limits(self.ctx))
        return [_invalidating(t, self) for t in tools]

    def _announce(self, report: TestReport) -> None:
        """Say once which interpreter a detected test command uses (run output and trace)."""
        if report.interpreter is not None and not self._announced:
            self._announced = True
            self.ctx.bus.emit(EventType.log, f"tests: {report.shown_command} — Python {report.interpreter.label} "
                              f"({report.interpreter.source})", interpreter=report.interpreter.model_dump())

    async def changeset(self) -> ChangeSet:
        return await self.sandbox.changeset()

    async def run_tests(self) -> TestReport | None:
        """The tests on the current tree: a passing run_tests with no write since stands for it."""
        fresh = self.unchanged_since_tests
        if fresh is not None and fresh.ok:
            self.ctx.bus.emit(EventType.log, "tests: unchanged since the implementer's passing run_tests; not run again")
            return fresh
        report = await self.sandbox.run_tests(self.ctx.settings.test_command, self.ctx.settings.test_timeout_s,
                                              python=self.ctx.settings.python)
        if report.command == "(none)":
            return None
        self._announce(report)
        self.unchanged_since_tests = report
        return report


def change_limits(ctx: RunContext) -> ChangeLimits:
    return ChangeLimits(ctx.settings.max_change_files, ctx.settings.max_change_file_bytes)


def _invalidating(tool: Tool, bench: SandboxBench) -> Tool:
    """A write tool that also refreshes the sandbox view's listing after it runs, and remembers a
    refused edit (so a run that ends with no change can say why)."""

    async def handler(args: dict) -> str:  # type: ignore[type-arg]
        if tool.name != "run_tests":
            bench.unchanged_since_tests = None  # a write (even a refused one) may change the tree
        try:
            return await tool.handler(args)
        except ToolError as e:
            if tool.name != "run_tests":
                bench.last_edit_error = f"{tool.name}: {e}"
            raise
        finally:
            bench.view.invalidate()

    return Tool(tool.spec, handler, writes=tool.writes)


@dataclass
class Workbench:
    ctx: RunContext
    view: WorkspaceView
    repo_map: str
    context: str
    confinement: Confinement
    _last_changes: ChangeSet | None = field(default=None)
    executor: Executor = field(default_factory=LocalExecutor)  # every sandbox comes from the executor
    _early: EarlySandbox | None = field(default=None)
    reuse_head: bool = False  # sandboxes clone a kept snapshot of HEAD (no git history in them)

    @classmethod
    async def open(cls, ctx: RunContext, *, early_sandbox: bool = False, reuse_head: bool = False) -> Workbench:
        """Checks first that model-written code can run confined (SandboxUnavailable stops the
        run before any model call), then builds the view and the repo map.

        `early_sandbox`: start making the first sandbox now, beside the listing, the map and
        the planner (checking out a large tree costs seconds; only the implementer needs it).
        The caller must then `close()` the workbench.
        `reuse_head`: sandboxes are hard-link clones of a snapshot of HEAD kept between runs
        (pipelines/head_snapshot.py), for patterns that never use the sandbox's git history."""
        s = ctx.settings
        confinement = await resolve_confinement(s.sandbox, network=s.sandbox_network, test_env=s.test_env)
        if confinement.warning:
            ctx.bus.emit(EventType.log, confinement.warning, warning=True)
        executor = LocalExecutor()
        early = EarlySandbox.start(executor, ctx, reuse_head) if early_sandbox else None
        try:
            bench = await cls._open(ctx, confinement, executor, early)
            bench.reuse_head = reuse_head
            return bench
        except BaseException:
            if early is not None:
                await early.discard()
            raise

    @classmethod
    async def _open(cls, ctx: RunContext, confinement: Confinement, executor: Executor,
                    early: EarlySandbox | None) -> Workbench:
        s = ctx.settings
        view = WorkspaceView(ctx.workspace, ctx.task.scope, overlay=dict(ctx.overlay), excludes=s.exclude,
                             max_file_bytes=s.max_file_bytes)
        repo_map = ""
        if s.repo_map_tokens > 0:
            # the map's disk cache lives with the runs (.baton/, git-ignored): a new process (the
            # CLI) stats files instead of parsing them again; one mapper per cache per process
            mapper = await asyncio.to_thread(default_mapper, ctx.store.base / "cache")  # opens SQLite
            repo_map = await mapper.abuild(view, ctx.task.text, s.repo_map_tokens)
        context = render("context", scope=ctx.task.scope.describe(), repo_map=repo_map or "(empty)")
        return cls(ctx, view, repo_map, context, confinement, executor=executor, _early=early)

    async def close(self) -> None:
        """Remove an early sandbox the run never used (it ended before implementing)."""
        early, self._early = self._early, None
        if early is not None:
            await early.discard()

    def read_tools(self) -> list[Tool]:
        return read_tools(self.view)

    @contextlib.asynccontextmanager
    async def sandbox(self) -> AsyncIterator[SandboxBench]:
        """A sandbox of the workspace (the early one, if it was started), removed on exit."""
        early, self._early = self._early, None
        if early is not None:
            async with early.use() as sb:
                yield self._bench_for(sb)
            return
        async with self.executor.sandbox(*_sandbox_args(self.ctx), reuse_head=self.reuse_head) as sb:
            yield self._bench_for(sb)

    def _bench_for(self, sb: Sandbox) -> SandboxBench:
        sb.confinement = self.confinement  # the executor makes it; the run's settings confine it
        view = WorkspaceView(sb.path, self.ctx.task.scope, excludes=self.ctx.settings.exclude,
                             max_file_bytes=self.ctx.settings.max_file_bytes)
        return SandboxBench(self.ctx, sb, view)

    async def record_changes(self, sb: SandboxBench) -> ChangeSet:
        """changes.diff (read), changes.patch (`baton apply-patch`), changes.json (machines)."""
        cs = await sb.changeset()
        try:  # before any artifact: a 10,000-file or 100 MB change is never written out
            change_limits(self.ctx).check(cs, "the implementer's change")
        except ChangeTooLarge as e:
            raise RunFailed(str(e)) from None
        if cs != self._last_changes:
            await self.ctx.artifact("changes.diff", render_unified_diff(cs) or "(no changes)\n")
            await self.ctx.artifact("changes.patch", render_apply_patch(cs) if not cs.is_empty() else "")
            await self.ctx.artifact("changes.json", cs.model_dump_json(indent=2))
            self._last_changes = cs
        return cs

    def diff(self, cs: ChangeSet) -> str:
        text = render_unified_diff(cs)
        if len(text) > MAX_DIFF_CHARS:
            text = text[:MAX_DIFF_CHARS] + "\n… (diff cut here; read the files with your tools)\n"
        return text or "(no changes)"


def _sandbox_args(ctx: RunContext) -> tuple[Path, dict[str, str], tuple[str, ...]]:
    return ctx.workspace, {p: d.text for p, d in ctx.overlay.items()}, tuple(ctx.settings.exclude)


class EarlySandbox:
    """A sandbox being made in the background; used once, or discarded (removed either way)."""

    def __init__(self, cm: contextlib.AbstractAsyncContextManager[Sandbox]) -> None:
        self._stack = contextlib.AsyncExitStack()
        self._task = asyncio.ensure_future(self._stack.enter_async_context(cm))

    @classmethod
    def start(cls, executor: Executor, ctx: RunContext, reuse_head: bool = False) -> EarlySandbox:
        return cls(executor.sandbox(*_sandbox_args(ctx), reuse_head=reuse_head))

    @contextlib.asynccontextmanager
    async def use(self) -> AsyncIterator[Sandbox]:
        try:
            yield await asyncio.shield(self._task)
        finally:
            await self.discard()

    async def discard(self) -> None:
        """Wait for the set-up to end (it undoes itself if it failed), then remove the sandbox,
        even when the caller is being cancelled."""
        async def undo() -> None:
            with contextlib.suppress(BaseException):
                await self._task
            await self._stack.aclose()

        await asyncio.shield(asyncio.ensure_future(undo()))
