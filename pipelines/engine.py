"""The engine: runs one pattern as an asyncio task with events, a trace, timeouts, budgets,
cancellation and a run record. Patterns are plain async functions of a RunContext
(run_context.py); a started run is a RunHandle (run_handle.py).

Everything a run produces goes under `.baton/runs/<id>/`; nothing here writes the user's
files (applying a ChangeSet is the caller's explicit act: an accepted workspace edit or
`baton run --apply`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import traceback
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .config import Settings
from .errors import BatonError
from .events import EventBus, EventSink, EventType
from .models import RunRecord, RunStatus, Task, utcnow
from .owner import this_process
from .redact import redact
from .run_context import (
    PatternFn,
    PlanGate,
    RunCancelled,
    RunContext,
    RunFailed,
    RunOutcome,
    RunResult,
)
from .run_handle import RunHandle, TraceWriter, check_budget
from .slots import RunSlots
from .store import RunStore, new_run_id
from .workspace.view import OverlayDoc

log = logging.getLogger(__name__)

__all__ = ["Engine", "OverlayDoc", "PatternFn", "PlanGate", "RunCancelled", "RunContext", "RunFailed",
           "RunHandle", "RunOutcome", "RunResult", "TraceWriter"]


def _new_llm_client(settings: Settings, bus: EventBus) -> Any:
    from .llm.lazy import LazyLLMClient  # the openai SDK is imported beside the run's start-up

    return LazyLLMClient(settings, bus)


class Engine:
    """Starts runs of any pattern on one workspace."""

    def __init__(self, workspace: Path | str, settings: Settings, store: RunStore | None = None,
                 slots: RunSlots | None = None) -> None:
        self.workspace = Path(workspace).resolve()
        self.settings = settings
        self.store = store or RunStore(self.workspace)
        self.slots = slots  # shared by every engine of a process that runs many at once (the run host)

    def start(
        self,
        task: Task,
        pattern: PatternFn,
        *,
        run_id: str | None = None,
        subscribers: Iterable[EventSink] = (),
        gate: PlanGate | None = None,
        overlay: dict[str, OverlayDoc] | None = None,
        settings: Settings | None = None,
        parent_id: str | None = None,
        llm: Any = None,
        recorder: Any = None,
    ) -> RunHandle:
        """Start a run as a background task and return at once (the editor never waits on a model)."""
        settings = settings or self.settings
        rid = run_id or new_run_id()
        bus = EventBus(rid)
        for s in subscribers:
            bus.subscribe(s)
        record = RunRecord(id=rid, pattern=task.pattern, task=task.text, scope=task.scope, status=RunStatus.pending,
                           parent_id=parent_id, owner=this_process())
        ctx = RunContext(id=rid, task=task, settings=settings, store=self.store, bus=bus, record=record,
                         llm=llm if llm is not None else _new_llm_client(settings, bus), overlay=dict(overlay or {}), gate=gate)
        if recorder is None and settings.record_sessions:  # the setting: session.json in the run folder
            from .llm.recording import recorder_for

            recorder = recorder_for(self.workspace, settings, task, rid)
            ctx.session_recorder = recorder
        if recorder is not None:  # `--record`: a SessionRecorder keeps the model's answers as a script
            ctx.llm.recorder = recorder
        return RunHandle(ctx, lambda handle: self._run(handle, pattern, owns_llm=llm is None))

    async def run(self, task: Task, pattern: PatternFn, **kwargs: Any) -> RunResult:
        return await self.start(task, pattern, **kwargs).wait()

    async def _run(self, handle: RunHandle, pattern: PatternFn, *, owns_llm: bool) -> RunResult:
        ctx = handle.ctx
        rec = ctx.record
        await asyncio.to_thread(self.store.ensure)
        trace = TraceWriter(self.store.run_dir(ctx.id) / "trace.jsonl")
        rec.artifacts["trace.jsonl"] = str(self.store.run_dir(ctx.id) / "trace.jsonl")
        rec.artifacts["run.json"] = str(self.store.run_dir(ctx.id) / "run.json")
        ctx.bus.subscribe(trace)
        from .otel import (
            subscriber_from_env,  # OTLP export when OTEL_EXPORTER_OTLP_* is set (extra `otel`)
        )

        spans = subscriber_from_env()
        if spans is not None:
            ctx.bus.subscribe(spans)
        unsubscribe_budget = ctx.bus.subscribe(lambda e: check_budget(handle, e))
        rec.status = RunStatus.running
        await ctx.checkpoint()
        ctx.bus.emit(EventType.run_started, rec.task, pattern=rec.pattern.value, scope=ctx.task.scope.describe(),
                     models={r.value: c.model for r, c in ctx.settings.roles.items()})
        outcome: RunOutcome | None = None
        external_cancel = False
        t0 = time.monotonic()
        ctx._slots = self.slots
        try:
            await ctx.acquire_slot()
            async with asyncio.timeout(ctx.settings.run_timeout_s) as tm:
                ctx._timeout = tm
                outcome = await pattern(ctx)
        except asyncio.CancelledError:
            if handle.fail_reason:
                outcome = RunOutcome(RunStatus.failed, error=handle.fail_reason)
            elif handle.cancel_reason:
                outcome = RunOutcome(RunStatus.cancelled, error=handle.cancel_reason)
            else:  # the loop is shutting down: record it, then let the cancel propagate
                external_cancel = True
                outcome = RunOutcome(RunStatus.cancelled, error="cancelled (shutdown)")
        except RunCancelled as e:
            outcome = RunOutcome(RunStatus.cancelled, error=str(e) or "cancelled by the user")
        except TimeoutError:
            outcome = RunOutcome(RunStatus.failed, error=f"the run exceeded its wall-time limit of "
                                 f"{ctx.settings.run_timeout_s:g}s (run_timeout_s)")
        except RunFailed as e:
            outcome = RunOutcome(RunStatus.failed, error=str(e))
        except Exception as e:  # a BatonError (LLMError, AgentError, …) carries a readable message
            known = isinstance(e, BatonError)
            msg = str(e) if known else f"internal error: {type(e).__name__}: {e}"
            if not known:
                log.exception("run %s crashed", ctx.id)
                ctx.bus.emit(EventType.failure, msg, traceback=redact(traceback.format_exc()[-4000:]))
            outcome = RunOutcome(RunStatus.failed, error=msg)
        finally:
            unsubscribe_budget()
            ctx.release_slot()
        assert outcome is not None
        rec.status = outcome.status
        rec.verdict = outcome.verdict  # type: ignore[assignment]
        rec.error = outcome.error
        rec.finished_at = utcnow()
        # Working time only: waiting for the user at the plan gate is reported apart (waiting_s).
        rec.duration_s = round(max(0.0, time.monotonic() - t0 - ctx.waited_s), 3)
        rec.waiting_s = round(ctx.waited_s, 3)
        rec.usage_by_role = {k: v.model_copy() for k, v in getattr(ctx.llm, "usage_by_role", {}).items()}
        if outcome.changeset is not None:
            rec.files_changed = sorted(set(outcome.changeset.paths))
        for s in rec.steps:
            if outcome.status is RunStatus.cancelled:
                if s.status == "running":
                    s.status = "cancelled"
            elif s.status in ("running", "cancelled"):  # stopped by the run's own limit (wall time, budget)
                s.status, s.error = "failed", outcome.error
        if outcome.status is not RunStatus.succeeded:
            ctx.bus.emit(EventType.failure, outcome.error or outcome.status.value, status=outcome.status.value)
        ctx.bus.emit(EventType.run_finished, f"{outcome.status.value}" + (f": {outcome.error}" if outcome.error else ""),
                     status=outcome.status.value, verdict=outcome.verdict, duration_s=rec.duration_s,
                     waiting_s=rec.waiting_s,
                     tokens=rec.usage.total_tokens, cost_usd=round(rec.usage.cost_usd, 6))
        trace.close()
        if ctx.session_recorder is not None:
            text = ctx.session_recorder.to_json()
            await asyncio.shield(asyncio.to_thread(self.store.write_artifact, ctx.id, "session.json", text))
            rec.artifacts["session.json"] = str(self.store.run_dir(ctx.id) / "session.json")
        if owns_llm and hasattr(ctx.llm, "aclose"):
            with contextlib.suppress(Exception):
                await asyncio.shield(ctx.llm.aclose())
        await ctx.save(rec)
        result = RunResult(record=rec, changeset=outcome.changeset, plan=outcome.plan, review=outcome.review,
                           tests=outcome.tests)
        if external_cancel:
            raise asyncio.CancelledError()
        return result
