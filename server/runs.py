"""Runs started from the editor: background tasks with strong references, progress, the
plan gate, and what happens when a run ends (edit sent for inline review, findings shown)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp

from baton.pipelines.artifacts import parse_plan_md
from baton.pipelines.config import Settings
from baton.pipelines.engine import Engine, OverlayDoc, PatternFn, RunContext, RunHandle, RunResult
from baton.pipelines.models import ChangeSet, Plan, RunStatus, Task
from baton.pipelines.store import RunStore

from .apply import send_changeset
from .progress import ProgressReporter
from .review import FindingsBoard

log = logging.getLogger(__name__)


@dataclass
class ServerRun:
    id: str
    task_text: str
    workspace: Path
    needs_confirmation: bool
    versions: dict[str, int | None]
    handle: RunHandle | None = None
    reporter: ProgressReporter | None = None
    step: str | None = None
    result: RunResult | None = None
    plan_path: Path | None = None
    gate: asyncio.Future[Plan] | None = None
    edit_outcome: Any = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def status(self) -> RunStatus:
        if self.result is not None:
            return self.result.record.status
        return self.handle.record.status if self.handle else RunStatus.pending


class RunManager:
    def __init__(self, ls: Any) -> None:
        self.ls = ls
        self.runs: dict[str, ServerRun] = {}
        self.findings = FindingsBoard(ls)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stores: dict[Path, RunStore] = {}

    # -------------------------------------------------------------- plumbing

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Start background work and keep a strong reference until it ends (esbonio's rule)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("background task failed", exc_info=t.exception())

        task.add_done_callback(done)
        return task

    def store(self, workspace: Path) -> RunStore:
        ws = workspace.resolve()
        if ws not in self._stores:
            self._stores[ws] = RunStore(ws)
        return self._stores[ws]

    def snapshot(self, root: Path) -> tuple[dict[str, OverlayDoc], dict[str, int | None]]:
        """Open buffers under the root (text + version): they take precedence over disk."""
        overlay: dict[str, OverlayDoc] = {}
        versions: dict[str, int | None] = {}
        root = root.resolve()
        for doc in list(self.ls.workspace.text_documents.values()):
            try:
                rel = Path(doc.path).resolve().relative_to(root).as_posix()
            except (ValueError, OSError):
                continue
            if rel.startswith((".baton/", ".git/")):
                continue
            overlay[rel] = OverlayDoc(doc.source, doc.version)
            versions[rel] = doc.version
        return overlay, versions

    # -------------------------------------------------------------- start / cancel / continue

    def start(self, task: Task, pattern: PatternFn, settings: Settings, *, confirm_plan: bool) -> ServerRun:
        root = Path(task.scope.root)
        overlay, versions = self.snapshot(root)
        engine = Engine(root, settings, store=self.store(root))
        from baton.pipelines.store import new_run_id

        run = ServerRun(id=new_run_id(), task_text=task.text, workspace=root,
                        needs_confirmation=settings.needs_confirmation, versions=versions)
        run.reporter = ProgressReporter(self.ls, run, self.spawn)
        self.runs[run.id] = run
        run.handle = engine.start(task, pattern, run_id=run.id, subscribers=[run.reporter],
                                  gate=_Gate(self, run) if confirm_plan else None, overlay=overlay)
        self.spawn(run.reporter.begin())
        run.reporter.notify_update("running", message="starting")
        self.spawn(self._finish(run))
        return run

    def adopt(self, rec: Any) -> ServerRun:
        """A run from an earlier session (or the CLI), so its edit can be sent again."""
        run = ServerRun(id=rec.id, task_text=rec.task, workspace=Path(rec.scope.root), versions={},
                        needs_confirmation=True)
        run.reporter = ProgressReporter(self.ls, run, self.spawn)
        run.needs_confirmation = self.ls.needs_confirmation(run.workspace)
        self.runs[run.id] = run
        return run

    def get(self, run_id: str) -> ServerRun | None:
        return self.runs.get(run_id)

    def cancel(self, run_id: str, reason: str = "cancelled from the editor") -> bool:
        run = self.runs.get(run_id)
        if run is None or run.handle is None:
            return False
        if run.gate is not None and not run.gate.done():
            run.gate.cancel()
        return run.handle.cancel(reason)

    def cancel_token(self, token: Any) -> None:
        for run in self.runs.values():
            if run.reporter and run.reporter.token == token:
                self.cancel(run.id, "cancelled from the progress notification")

    async def continue_run(self, run_id: str) -> Plan:
        """Re-read and validate plan.md, then release the plan gate with it.

        A plan.md that does not parse raises PlanParseError and the run keeps waiting."""
        run = self.runs[run_id]
        if run.gate is None or run.gate.done():
            raise ValueError(f"run {run_id} is not waiting for its plan (status: {run.status.value})")
        plan = await self.read_plan(run)
        if run.gate is not None and not run.gate.done():
            run.gate.set_result(plan)
        return plan

    async def read_plan(self, run: ServerRun) -> Plan:
        """plan.md as the user left it: the open buffer (even unsaved) or the file."""
        assert run.plan_path is not None
        doc = self.ls.workspace.text_documents.get(run.plan_path.as_uri())
        text = doc.source if doc is not None else await asyncio.to_thread(run.plan_path.read_text, encoding="utf-8")
        return parse_plan_md(text)

    # -------------------------------------------------------------- the end of a run

    async def _finish(self, run: ServerRun) -> None:
        assert run.handle is not None and run.reporter is not None
        try:
            result = await run.handle.wait()
        except asyncio.CancelledError:
            run.reporter.end("stopped")
            raise
        run.result = result
        rec = result.record
        summary = rec.status.value + (f" ({rec.verdict})" if rec.verdict else "")
        if rec.error:
            summary += f": {rec.error}"
        run.reporter.end(summary[:200])
        run.reporter.notify_update(rec.status.value, message=rec.error, verdict=rec.verdict)
        run.reporter.log(f"run finished: {summary}",
                         lsp.MessageType.Info if rec.status is RunStatus.succeeded else lsp.MessageType.Warning)
        try:
            if rec.status is RunStatus.succeeded and result.changeset and not result.changeset.is_empty():
                await self.send_edit(run, result.changeset)
            elif rec.status is not RunStatus.cancelled:
                kind = lsp.MessageType.Info if rec.status is RunStatus.succeeded else lsp.MessageType.Error
                self.ls.window_show_message(lsp.ShowMessageParams(type=kind, message=f"Baton run {run.id}: {summary}"))
        finally:
            run.done.set()

    async def send_edit(self, run: ServerRun, cs: ChangeSet) -> Any:
        assert run.reporter is not None
        descriptions = _descriptions(run.result.plan if run.result else None, cs)
        outcome = await send_changeset(self.ls, run.workspace, cs, run.versions,
                                       needs_confirmation=run.needs_confirmation,
                                       label=f"Baton: {run.task_text.splitlines()[0][:60]}",
                                       descriptions=descriptions)
        run.edit_outcome = outcome
        parts = []
        if outcome.applied:
            parts.append(f"changes applied ({outcome.hunks} change(s))" + (" after a rebase" if outcome.rebased else ""))
        else:
            parts.append(f"changes not applied: {outcome.failure_reason}")
        if outcome.left_alone:
            parts.append("left alone: " + "; ".join(outcome.left_alone))
        if outcome.skipped_ops:
            parts.append("this editor cannot " + ", ".join(outcome.skipped_ops) + "; see changes.diff")
        message = f"Baton run {run.id}: " + ". ".join(parts)
        kind = lsp.MessageType.Info if outcome.applied and not outcome.left_alone else lsp.MessageType.Warning
        self.ls.window_show_message(lsp.ShowMessageParams(type=kind, message=message))
        run.reporter.log(message)
        review = run.result.review if run.result else None
        if outcome.applied and review and review.findings:
            proposed = {e.target_path: e.new_text for e in cs.edits if e.new_text is not None}
            await self.findings.publish(run.id, run.workspace, review.findings, proposed)
        return outcome

    async def shutdown(self) -> None:
        for run in self.runs.values():
            if run.handle is not None:
                run.handle.cancel("the language server is shutting down")
        pending = [r.handle.task for r in self.runs.values() if r.handle is not None]
        if pending:
            await asyncio.wait(pending, timeout=10)


class _Gate:
    """The plan gate: wait for baton.continueRun, which hands over plan.md as edited."""

    def __init__(self, manager: RunManager, run: ServerRun) -> None:
        self.manager, self.run = manager, run

    async def review_plan(self, ctx: RunContext, plan: Plan, plan_path: Path) -> Plan:
        self.run.plan_path = plan_path
        self.run.gate = asyncio.get_running_loop().create_future()
        try:
            return await self.run.gate
        finally:
            self.run.gate = None


def _descriptions(plan: Plan | None, cs: ChangeSet) -> dict[str, str]:
    """Per file: the plan step(s) that name it, as the change annotation's description."""
    out: dict[str, str] = {}
    if plan is None:
        return out
    for i, step in enumerate(plan.steps, 1):
        for f in step.files:
            out.setdefault(f, f"Step {i}: {step.title}")
    for p in cs.paths:
        out.setdefault(p, plan.summary.splitlines()[0][:120] if plan.summary else "")
    return out
