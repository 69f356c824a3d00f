"""Engine events → what the editor shows: work-done progress, log messages, documents,
and the `baton/runUpdate` notification that drives the VS Code status bar.

One signal per event. A client with Baton's own extension says so in its capabilities
(`experimental.baton.notifications`, `experimental.baton.artifacts`): it then shows runs and
their messages from `baton/runUpdate` / `baton/editOutcome` and opens `baton/artifact`
documents itself, and the server sends no work-done progress, no showMessage and no
showDocument for them. Other clients get the standard LSP forms, and those without
work-done progress (eglot) get the run's milestones as `window/showMessage`.

Events arrive from the run host (runproxy.py) on the server's loop and are handled
synchronously, so anything that is an LSP *request* (showDocument, the progress `create`) is
scheduled as a task kept alive by the run manager.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types as lsp

from baton.pipelines.events import Event, EventType
from baton.pipelines.handoffs.verdicts import shown_path

if TYPE_CHECKING:
    from .runs import ServerRun

log = logging.getLogger(__name__)

RUN_UPDATE = "baton/runUpdate"
EDIT_OUTCOME = "baton/editOutcome"
ARTIFACT = "baton/artifact"

_STEP_TITLES = {
    "plan": "planning",
    "implement": "implementing",
    "review": "reviewing",
    "revise": "revising after review",
    "triage": "triaging",
    "fix": "fixing",
    "validate": "validating",
    "decompose": "decomposing",
    "merge": "merging",
    "module": "working on modules",
    "rerun": "re-running a module after a conflict",
    "test": "testing the merged result",
}


def supports_show_document(ls: Any) -> bool:
    caps = ls.client_capabilities
    return bool(caps and caps.window and caps.window.show_document and caps.window.show_document.support)


def supports_configuration(ls: Any) -> bool:
    caps = ls.client_capabilities
    return bool(caps and caps.workspace and caps.workspace.configuration)


def supports_progress(ls: Any) -> bool:
    caps = ls.client_capabilities
    return bool(caps and caps.window and caps.window.work_done_progress)


def baton_capability(ls: Any, name: str) -> bool:
    """`experimental.baton.<name>` is true in the client's capabilities (Baton's own clients)."""
    caps = ls.client_capabilities
    experimental = getattr(caps, "experimental", None) if caps else None
    baton = experimental.get("baton") if isinstance(experimental, dict) else None
    return isinstance(baton, dict) and baton.get(name) is True


def client_shows_runs(ls: Any) -> bool:
    """The client shows run state and messages itself from baton/runUpdate and baton/editOutcome."""
    return baton_capability(ls, "notifications")


def client_opens_artifacts(ls: Any) -> bool:
    """The client opens plan.md / review.md itself from baton/artifact."""
    return baton_capability(ls, "artifacts")


def short_task(text: str, limit: int = 60) -> str:
    first = (text.strip().splitlines() or [""])[0]
    return first if len(first) <= limit else first[: limit - 1] + "…"


def short_path(path: Path, root: Path) -> str:
    """A path relative to the workspace when inside it, else `~/...` under the home folder (messages
    stay readable)."""
    return shown_path(path, root)


class ProgressReporter:
    """Maps one run's events to the editor; created by the run manager per run."""

    def __init__(self, ls: Any, run: ServerRun, spawn: Callable[[Any], Any]) -> None:
        self.ls = ls
        self.run = run
        self.spawn = spawn
        self.token: str | None = None
        # new → creating → open → closed; or off (no client support, or the client refused)
        self.state = "new"
        self._pending: list[lsp.WorkDoneProgressReport] = []
        self._end_message: str | None = None

    @property
    def began(self) -> bool:
        return self.state == "open"

    # -------------------------------------------------------------- lifecycle

    async def begin(self) -> None:
        """Create the server-initiated progress (the command has already answered).

        Reports and the end that arrive while the client has not answered `create` yet are
        kept and sent after `begin`, so a fast run still shows begin → report → end."""
        if self.state != "new":
            return
        if not supports_progress(self.ls) or client_shows_runs(self.ls):
            self.state = "off"  # the extension's own status item shows the run: no second one
            return
        self.state = "creating"
        token = f"baton-run-{self.run.id}"
        try:
            await self.ls.work_done_progress.create_async(token)
        except Exception as e:  # a client may refuse; logs still flow
            log.info("client refused work-done progress: %s", e)
            self.state = "off"
            self._pending.clear()
            return
        self.token = token
        title = "Baton: " + short_task(self.run.task_text, 80)
        self.ls.work_done_progress.begin(token, lsp.WorkDoneProgressBegin(title=title, cancellable=True,
                                                                          message="starting", percentage=0))
        self.state = "open"
        for report in self._pending:
            self.ls.work_done_progress.report(token, report)
        self._pending.clear()
        if self._end_message is not None:
            self.end(self._end_message)

    def end(self, message: str) -> None:
        if self.state == "open" and self.token:
            self.ls.work_done_progress.end(self.token, lsp.WorkDoneProgressEnd(message=message))
            self.state = "closed"
        elif self.state in ("new", "creating"):
            self._end_message = message

    def _report(self, message: str, percentage: int | None = None) -> None:
        report = lsp.WorkDoneProgressReport(message=message, percentage=percentage, cancellable=True)
        if self.state == "open" and self.token:
            self.ls.work_done_progress.report(self.token, report)
        elif self.state in ("new", "creating"):
            self._pending.append(report)

    def notify_update(self, status: str, step: str | None = None, message: str | None = None,
                      verdict: str | None = None) -> None:
        self.ls.protocol.notify(RUN_UPDATE, {"runId": self.run.id, "status": status, "step": step,
                                             "message": message, "verdict": verdict,
                                             "task": short_task(self.run.task_text, 200)})

    def log(self, message: str, kind: lsp.MessageType = lsp.MessageType.Log) -> None:
        self.ls.window_log_message(lsp.LogMessageParams(type=kind, message=f"[{self.name}] {message}"))

    @property
    def name(self) -> str:
        """How messages name the run: its task, short."""
        return f"“{short_task(self.run.task_text)}”"

    def tell(self, message: str, kind: lsp.MessageType = lsp.MessageType.Info) -> None:
        """A message for clients that do not show runs themselves (the extension does)."""
        if not client_shows_runs(self.ls):
            self.ls.window_show_message(lsp.ShowMessageParams(type=kind, message=f"Baton {self.name}: {message}"))

    def milestone(self, message: str, kind: lsp.MessageType = lsp.MessageType.Info) -> None:
        """A milestone (implementing, tests, verdict): a message for clients with no progress UI."""
        if self.state == "off" and not supports_progress(self.ls):
            self.tell(message, kind)

    # -------------------------------------------------------------- events

    def __call__(self, ev: Event) -> None:
        try:
            self._on_event(ev)
        except Exception:
            log.exception("progress reporting failed for %s", ev.type)

    def _on_event(self, ev: Event) -> None:
        t = ev.type
        if t is EventType.step_started:
            name = ev.step or ""
            human = _STEP_TITLES.get(name.split(":")[0], name)
            self.run.step = name
            self._report(human, self._percent(name))
            self.notify_update("running", step=name, message=human)
            self.log(f"step {name} started")
            if name.split(":")[0] in ("implement", "revise", "review"):
                self.milestone(human)
        elif t is EventType.step_finished:
            self.log(ev.message + (f" ({ev.data.get('duration_s', 0):.1f}s)" if ev.data.get("duration_s") else ""))
        elif t is EventType.tool_call:
            name = ev.data.get("name", "")
            self._report(f"{_STEP_TITLES.get((self.run.step or '').split(':')[0], self.run.step or '')}: {name}")
            if not ev.data.get("ok", True):
                self.log(f"tool {name} refused: {str(ev.data.get('error', ''))[:200]}")
        elif t is EventType.retry:
            self.log(f"model call retry: {ev.message or ev.data.get('cause', '')}", lsp.MessageType.Warning)
        elif t is EventType.handoff:
            name = ev.data.get("artifact")
            path = ev.data.get("path")
            self.log(f"wrote {name}: {short_path(Path(path), self.run.workspace) if path else ''}")
            if name in ("plan.md", "review.md", "triage.md") and path:
                self.spawn(self.show_document(Path(path)))
        elif t is EventType.waiting:
            if ev.data.get("path"):
                self.run.plan_path = Path(ev.data["path"])
            self._report("waiting for you: edit plan.md, then continue the run")
            self.notify_update("waiting", step=self.run.step, message="waiting for you: plan.md is ready")
            self.tell("the plan is ready. Edit plan.md if needed, then continue the run "
                      "(baton.continueRun) or cancel it (baton.cancelRun).")
        elif t is EventType.failure:
            self.log(f"failure: {ev.message}", lsp.MessageType.Warning)
        elif t is EventType.log and ev.data.get("warning"):
            self.log(ev.message, lsp.MessageType.Warning)
            self.ls.window_show_message(lsp.ShowMessageParams(type=lsp.MessageType.Warning, message=f"Baton: {ev.message}"))
        elif t is EventType.log:
            self.log(ev.message)
            milestone = ev.data.get("milestone")
            if milestone == "tests":
                self._report(ev.message[:120])
                self.milestone(ev.message, lsp.MessageType.Info if ev.data.get("ok") else lsp.MessageType.Warning)
            elif milestone == "review":
                self.milestone(ev.message)
            if ev.data.get("queued"):
                self._report(ev.message)
                self.notify_update("running", message=ev.message)
            elif isinstance(ev.data.get("merged"), int) and isinstance(ev.data.get("modules"), int):
                # the merge queue: "3/8 modules merged"
                done, total = ev.data["merged"], max(1, ev.data["modules"])
                self._report(f"{done}/{ev.data['modules']} modules merged", int(100 * done / total))
                self.notify_update("running", step="merge", message=f"{done}/{ev.data['modules']} modules merged")
        elif t is EventType.llm_call:
            d = ev.data
            self.log(f"{ev.role or ''} model call {d.get('model', '')}: {d.get('duration_s', 0):.2f}s, "
                     f"{d.get('prompt_tokens', 0)}+{d.get('completion_tokens', 0)} tokens")

    def _percent(self, step: str) -> int | None:
        order = ["plan", "implement", "review", "revise"]
        base = step.split(":")[0]
        return int(100 * order.index(base) / len(order)) if base in order else None

    async def show_document(self, path: Path) -> None:
        uri = path.as_uri()
        if client_opens_artifacts(self.ls):
            self.ls.protocol.notify(ARTIFACT, {"runId": self.run.id, "name": path.name, "uri": uri,
                                               "task": short_task(self.run.task_text, 200)})
            return
        if supports_show_document(self.ls):
            try:
                await self.ls.window_show_document_async(lsp.ShowDocumentParams(uri=uri, take_focus=True))
                return
            except Exception as e:
                log.info("showDocument failed (%s); falling back to a message", e)
        self.ls.window_show_message(lsp.ShowMessageParams(
            type=lsp.MessageType.Info,
            message=f"Baton {self.name}: {path.name} is ready: {short_path(path, self.run.workspace)}"))
