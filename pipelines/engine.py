"""The engine: runs one pattern as an asyncio task with events, a trace, timeouts, budgets,
cancellation and a run record. Patterns are plain async functions of a RunContext.

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
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from .config import Settings
from .errors import BatonError
from .events import Event, EventBus, EventSink, EventType
from .models import (
    ChangeSet,
    Plan,
    Review,
    Role,
    RunRecord,
    RunStatus,
    StepRecord,
    Task,
    TestReport,
    utcnow,
)
from .owner import this_process
from .redact import redact
from .slots import RunSlots
from .store import RunStore, new_run_id
from .workspace.view import OverlayDoc

log = logging.getLogger(__name__)


class RunFailed(Exception):
    """A step failed in a way that ends the run; the message is the run's error."""


class RunCancelled(Exception):
    """The user cancelled (from the editor, the CLI or the plan gate)."""


class PlanGate(Protocol):
    """Pauses a run after planning so the user can edit plan.md; returns the plan to go on with."""

    async def review_plan(self, ctx: RunContext, plan: Plan, plan_path: Path) -> Plan: ...


@dataclass
class RunOutcome:
    """What a pattern returns; the engine turns it into the final RunRecord."""

    status: RunStatus
    verdict: str | None = None
    error: str | None = None
    changeset: ChangeSet | None = None
    plan: Plan | None = None
    review: Review | None = None
    tests: TestReport | None = None


@dataclass
class RunResult:
    record: RunRecord
    changeset: ChangeSet | None = None
    plan: Plan | None = None
    review: Review | None = None
    tests: TestReport | None = None

    @property
    def ok(self) -> bool:
        return self.record.status is RunStatus.succeeded


PatternFn = Callable[["RunContext"], Awaitable[RunOutcome]]


@dataclass
class RunContext:
    """Everything a pattern needs: task, settings, events, artifacts, the LLM client."""

    id: str
    task: Task
    settings: Settings
    store: RunStore
    bus: EventBus
    record: RunRecord
    llm: Any  # baton.pipelines.llm.client.LLMClient (typed loosely: imported lazily)
    overlay: dict[str, OverlayDoc] = field(default_factory=dict)
    gate: PlanGate | None = None
    started: float = field(default_factory=time.monotonic)
    _timeout: asyncio.Timeout | None = None
    _paused_at: float | None = None
    waited_s: float = 0.0  # time spent waiting for the user (the plan gate): not run duration
    _saving: asyncio.Future[None] | None = None
    _slots: RunSlots | None = None  # the process's concurrency slots, when it limits runs
    _holds_slot: bool = False
    session_recorder: Any = None  # settings.record_sessions: saved as session.json when the run ends

    @property
    def workspace(self) -> Path:
        return Path(self.task.scope.root)

    # -------------------------------------------------------------- artifacts

    async def artifact(self, name: str, text: str) -> Path:
        """Write `.baton/runs/<id>/<name>` off the event loop and announce it as a hand-off."""
        path = await asyncio.to_thread(self.store.write_artifact, self.id, name, text)
        self.record.artifacts[name] = str(path)
        self.bus.emit(EventType.handoff, f"wrote {name}", artifact=name, path=str(path))
        return path

    async def checkpoint(self) -> None:
        """Save run.json as it stands, so a run whose process dies is found with its last step
        (recovery.py)."""
        await self.save(self.record.model_copy(deep=True))  # copied on the loop: the thread sees no change

    async def save(self, record: RunRecord) -> None:
        """Save off the loop, after every earlier save (an older record never overwrites a newer
        one), and to the end even when the caller is cancelled."""
        previous = self._saving

        async def save_after() -> None:
            if previous is not None:
                await asyncio.wait([previous])
            await asyncio.to_thread(self.store.save, record)

        self._saving = asyncio.ensure_future(save_after())
        await asyncio.shield(self._saving)

    # -------------------------------------------------------------- steps

    @contextlib.asynccontextmanager
    async def step(self, name: str, role: Role | None = None, *, timeout_s: float | None = None) -> AsyncIterator[StepRecord]:
        """A named step: events, a StepRecord, and the per-step timeout."""
        rec = StepRecord(name=name, role=role)
        self.record.steps.append(rec)
        t0 = time.monotonic()
        self.bus.emit(EventType.step_started, name, step=name, role=role.value if role else None)
        limit = timeout_s if timeout_s is not None else self.settings.step_timeout_s
        try:
            await self.checkpoint()
            async with asyncio.timeout(limit):
                yield rec
        except TimeoutError:
            rec.status, rec.error = "failed", f"step {name!r} timed out after {limit:g}s"
            raise RunFailed(f"{rec.error}; raise step_timeout_s in baton.toml if the model is slow") from None
        except asyncio.CancelledError:
            rec.status, rec.error = "cancelled", "cancelled"
            raise
        except Exception as e:
            rec.status, rec.error = "failed", str(e) or type(e).__name__
            raise
        else:
            if rec.status == "running":
                rec.status = "succeeded"
        finally:
            rec.duration_s = round(time.monotonic() - t0, 3)
            self.bus.emit(
                EventType.step_finished,
                f"{name} {rec.status}",
                step=name,
                role=role.value if role else None,
                status=rec.status,
                duration_s=rec.duration_s,
                error=rec.error,
            )

    # -------------------------------------------------------------- the plan gate

    async def wait_for_plan(self, plan: Plan, plan_path: Path) -> Plan:
        """Pause the run (and its wall-time clock) until the gate answers with a plan."""
        if self.gate is None:
            return plan
        self.record.status = RunStatus.waiting
        self.bus.emit(EventType.waiting, "waiting for the plan to be confirmed", path=str(plan_path))
        loop = asyncio.get_running_loop()
        remaining = None
        if self._timeout is not None and self._timeout.when() is not None:
            remaining = self._timeout.when() - loop.time()  # type: ignore[operator]
            self._timeout.reschedule(None)
        paused = time.monotonic()
        self.release_slot()  # a run waiting for the user does not keep another run from working
        try:
            plan = await self.gate.review_plan(self, plan, plan_path)
        finally:
            self.waited_s += time.monotonic() - paused
            self.record.waiting_s = round(self.waited_s, 3)
            self.record.status = RunStatus.running
        await self.acquire_slot()
        if self._timeout is not None and remaining is not None:
            self._timeout.reschedule(loop.time() + remaining)
        return plan

    # -------------------------------------------------------------- concurrency slots

    async def acquire_slot(self) -> None:
        """Wait for a slot (the `concurrency` setting), saying so when the run has to queue."""
        if self._slots is None or self._holds_slot:
            return
        limit = self.settings.concurrency
        if self._slots.active >= limit:
            self.bus.emit(EventType.log, f"queued: {self._slots.active} run(s) already working "
                          f"(concurrency = {limit})", queued=True)
        await self._slots.acquire(limit)
        self._holds_slot = True

    def release_slot(self) -> None:
        if self._slots is not None and self._holds_slot:
            self._holds_slot = False
            self._slots.release()


class TraceWriter:
    """Appends every event, secrets scrubbed, to trace.jsonl as it happens (for post-mortems)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: IO[str] | None = path.open("a", encoding="utf-8")

    def __call__(self, event: Event) -> None:
        if self._fh is not None:
            self._fh.write(event.to_json_line() + "\n")
            self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


class RunHandle:
    """A started run: cancel it, wait for it, subscribe to its events."""

    def __init__(self, ctx: RunContext, runner: Callable[[RunHandle], Coroutine[Any, Any, RunResult]]) -> None:
        self.ctx = ctx
        self.id = ctx.id
        self.bus = ctx.bus
        self.cancel_reason: str | None = None
        self.fail_reason: str | None = None
        self.task: asyncio.Task[RunResult] = asyncio.get_running_loop().create_task(runner(self), name=f"baton-run-{ctx.id}")

    @property
    def record(self) -> RunRecord:
        return self.ctx.record

    def cancel(self, reason: str = "cancelled by the user") -> bool:
        if self.task.done():
            return False
        self.cancel_reason = self.cancel_reason or reason
        self.task.cancel()
        return True

    def fail(self, reason: str) -> None:
        """End the run as failed from outside its task (budgets)."""
        if not self.task.done() and self.fail_reason is None:
            self.fail_reason = reason
            self.task.cancel()

    async def wait(self) -> RunResult:
        return await asyncio.shield(self.task)


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
        unsubscribe_budget = ctx.bus.subscribe(lambda e: self._check_budget(handle, e))
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

    def _check_budget(self, handle: RunHandle, event: Event) -> None:
        if event.type is not EventType.llm_call:
            return
        s = handle.ctx.settings
        by_role = dict(getattr(handle.ctx.llm, "usage_by_role", {}))
        tokens = sum(u.total_tokens for u in by_role.values())
        cost = sum(u.cost_usd for u in by_role.values())
        if s.budget_tokens is not None and tokens > s.budget_tokens:
            handle.fail(f"token budget exceeded: {tokens} > {s.budget_tokens} (budget_tokens)")
            return
        if s.budget_cost_usd is not None and cost > s.budget_cost_usd:
            handle.fail(f"cost budget exceeded: ${cost:.4f} > ${s.budget_cost_usd} (budget_cost_usd)")
            return
        for role, used in by_role.items():  # a role's own budget (roles.<role>.budget_*)
            conf = next((c for r, c in s.roles.items() if r.value == role), None)
            if conf is None:
                continue
            if conf.budget_tokens is not None and used.total_tokens > conf.budget_tokens:
                handle.fail(f"{role} token budget exceeded: {used.total_tokens} > {conf.budget_tokens} "
                            f"(roles.{role}.budget_tokens)")
                return
            if conf.budget_cost_usd is not None and used.cost_usd > conf.budget_cost_usd:
                handle.fail(f"{role} cost budget exceeded: ${used.cost_usd:.4f} > ${conf.budget_cost_usd} "
                            f"(roles.{role}.budget_cost_usd)")
                return
