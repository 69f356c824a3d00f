"""Runs started from the editor: background tasks with strong references, progress, the
plan gate, and what happens when a run ends (edit sent for inline review, findings shown).

The runs themselves execute in the run host, a child process (runhost.py, runproxy.py), so
this process only speaks LSP: a busy run cannot slow the editor's requests down."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp

from baton.pipelines.artifacts import parse_plan_md
from baton.pipelines.config import Settings
from baton.pipelines.engine import OverlayDoc, RunResult
from baton.pipelines.models import ChangeSet, Plan, RunRecord, RunStatus, Task
from baton.pipelines.store import RunNotFound, RunStore, new_run_id

from .apply import send_changeset
from .progress import EDIT_OUTCOME, ProgressReporter, short_task
from .review import FindingsBoard
from .runproxy import RunHost, RunProxy

log = logging.getLogger(__name__)
KEEP_FINISHED = 20  # finished runs kept in memory (for their edit and findings); older ones come from the store


@dataclass
class ServerRun:
    id: str
    task_text: str
    workspace: Path
    versions: dict[str, int | None]
    handle: RunProxy | None = None
    reporter: ProgressReporter | None = None
    step: str | None = None
    result: RunResult | None = None
    plan_path: Path | None = None
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
        self.host = RunHost()
        self.host.settle = self.settle
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stores: dict[Path, RunStore] = {}

    async def recover(self, roots: list[Path]) -> None:
        """Settle what a killed Baton left in these workspaces (recovery.py), off the loop."""
        from baton.pipelines.recovery import recover_existing

        for root in roots:
            try:
                await asyncio.to_thread(recover_existing, root)
            except Exception:
                log.exception("crash recovery in %s failed", root)

    async def settle(self, records: list[Any]) -> dict[str, Any]:
        """The run host died with these runs in flight: mark them interrupted and remove their
        sandboxes, then answer the records as stored."""
        from baton.pipelines.recovery import recover

        out: dict[str, Any] = {}
        for root in sorted({Path(r.scope.root) for r in records}):
            store = self.store(root)
            await asyncio.to_thread(recover, store)
            for rec in records:
                if Path(rec.scope.root) == root:
                    try:
                        out[rec.id] = await asyncio.to_thread(store.get, rec.id)
                    except RunNotFound:
                        continue  # it never reached the store (died while starting)
        return out

    def prune(self) -> None:
        """Forget all but the KEEP_FINISHED newest finished runs (bounded over a long session)."""
        finished = [r for r in self.runs.values() if r.done.is_set()]
        for run in finished[: max(0, len(finished) - KEEP_FINISHED)]:
            del self.runs[run.id]

    def warm_up(self, *patterns: str) -> None:
        """Start the run host now, importing the patterns, so the first run does not wait for it."""
        self.host.preload = sorted(set(self.host.preload) | set(patterns))
        self.spawn(self.host.ensure())

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
        """One store per workspace root (roots come resolved: workspace_roots, run records)."""
        ws = Path(workspace)
        if ws not in self._stores:
            self._stores[ws] = RunStore(ws)
        return self._stores[ws]

    def snapshot(self, root: Path) -> tuple[dict[str, OverlayDoc], dict[str, int | None]]:
        """Open buffers under the root (text + version): they take precedence over disk.

        Runs on the event loop, so paths are compared as strings (no syscalls); the root is
        already resolved, and a buffer opened through a symlink is simply not in the overlay."""
        overlay: dict[str, OverlayDoc] = {}
        versions: dict[str, int | None] = {}
        prefix = str(root).rstrip(os.sep) + os.sep
        for doc in list(self.ls.workspace.text_documents.values()):
            path = os.path.normpath(doc.path)
            if not path.startswith(prefix):
                continue
            rel = Path(path[len(prefix):]).as_posix()
            if rel.startswith((".baton/", ".git/")):
                continue
            overlay[rel] = OverlayDoc(doc.source, doc.version)
            versions[rel] = doc.version
        return overlay, versions

    # -------------------------------------------------------------- start / cancel / continue

    async def start(self, task: Task, pattern: str, settings: Settings) -> ServerRun:
        """Start a run in the run host and return at once (no model is waited on).
        `pattern` is "module:function"; settings.confirm_plan turns on the plan gate."""
        root = Path(task.scope.root)
        overlay, versions = self.snapshot(root)
        run = ServerRun(id=new_run_id(), task_text=task.text, workspace=root, versions=versions)
        run.reporter = ProgressReporter(self.ls, run, self.spawn)
        run.handle = await self.host.start(run.id, pattern, task, settings, overlay, settings.confirm_plan,
                                           on_event=run.reporter)
        self.runs[run.id] = run
        self.spawn(run.reporter.begin())
        run.reporter.notify_update("running", message="starting")
        self.spawn(self._finish(run))
        return run

    def adopt(self, rec: Any) -> ServerRun:
        """A run from an earlier session (or the CLI), so its edit can be sent again."""
        run = ServerRun(id=rec.id, task_text=rec.task, workspace=Path(rec.scope.root), versions={})
        run.reporter = ProgressReporter(self.ls, run, self.spawn)
        run.done.set()  # it is not running here: prunable like any finished run
        self.runs[run.id] = run
        self.prune()
        return run

    def get(self, run_id: str) -> ServerRun | None:
        return self.runs.get(run_id)

    def cancel(self, run_id: str, reason: str = "cancelled from the editor") -> bool:
        """Ask the run to stop; False when it has already ended."""
        run = self.runs.get(run_id)
        if run is None or run.handle is None:
            return False
        return run.handle.cancel(reason)

    def cancel_token(self, token: Any) -> None:
        for run in self.runs.values():
            if run.reporter and run.reporter.token == token:
                self.cancel(run.id, "cancelled from the progress notification")

    async def continue_run(self, run_id: str) -> Plan:
        """Re-read and validate plan.md, then release the plan gate with it.

        A plan.md that does not parse raises PlanParseError and the run keeps waiting."""
        run = self.runs[run_id]
        if run.status is not RunStatus.waiting or run.plan_path is None:
            raise ValueError(f"run {run_id} is not waiting for its plan (status: {run.status.value})")
        plan = await self.read_plan(run)
        assert run.handle is not None
        if not await run.handle.release(plan):
            raise ValueError(f"run {run_id} is not waiting for its plan any more (status: {run.status.value})")
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
                run.reporter.tell(summary, kind)
        finally:
            run.done.set()
            self.prune()

    async def send_edit(self, run: ServerRun, cs: ChangeSet) -> Any:
        assert run.reporter is not None
        descriptions = _descriptions(run.result.plan if run.result else None, cs)
        groups = _module_groups(run.result.record if run.result else None, descriptions)
        outcome = await send_changeset(self.ls, run.workspace, cs, run.versions,
                                       needs_confirmation=await self.ls.needs_confirmation(run.workspace),
                                       label=f"Baton: {run.task_text.splitlines()[0][:60]}",
                                       descriptions=descriptions, groups=groups)
        parts = []
        if outcome.applied:
            parts.append(f"changes applied ({outcome.hunks} change(s))" + (" after a rebase" if outcome.rebased else ""))
        elif outcome.declined:
            parts.append("the proposed change was not applied; nothing was written. baton.applyRun offers it again")
        else:
            parts.append(f"changes not applied: {outcome.failure_reason}")
        if outcome.left_alone:
            parts.append("left alone: " + "; ".join(outcome.left_alone))
        if outcome.skipped_ops:
            parts.append("this editor cannot " + ", ".join(outcome.skipped_ops) + "; see changes.diff")
        message = ". ".join(parts)
        problem = bool(outcome.left_alone or outcome.skipped_ops) or not (outcome.applied or outcome.declined)
        self.ls.protocol.notify(EDIT_OUTCOME, {
            "runId": run.id, "task": short_task(run.task_text, 200), "applied": outcome.applied,
            "declined": outcome.declined, "rebased": outcome.rebased, "changes": outcome.hunks,
            "leftAlone": list(outcome.left_alone), "failureReason": outcome.failure_reason, "message": message})
        run.reporter.tell(message, lsp.MessageType.Warning if problem else lsp.MessageType.Info)
        run.reporter.log(message)
        review = run.result.review if run.result else None
        if outcome.applied and review and review.findings:
            proposed = {e.target_path: e.new_text for e in cs.edits if e.new_text is not None}
            self.findings.publish(run.id, run.workspace, review.findings, proposed, outcome.texts)
        return outcome

    async def shutdown(self, grace_s: float = 10.0) -> None:
        """Cancel every run, give them up to `grace_s` to record it, and stop the run host."""
        await self.host.shutdown(grace_s=grace_s)


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


def _module_groups(record: RunRecord | None, descriptions: dict[str, str]) -> dict[str, str]:
    """Parallel modules: each merged module's files share one change annotation ("Module pkg/a"),
    described by the module's task, so the user accepts or rejects module by module."""
    out: dict[str, str] = {}
    modules = record.extra.get("modules") if record is not None else None
    if not isinstance(modules, list):
        return out
    for m in modules:
        if not isinstance(m, dict) or m.get("status") != "merged":
            continue
        label = f"Module {m.get('path')}"
        for f in m.get("files") or []:
            out.setdefault(str(f), label)
            descriptions[str(f)] = str(m.get("task", ""))[:200]
    return out
