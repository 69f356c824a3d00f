"""What a pattern runs with: the RunContext (task, settings, events, artifacts, steps, the plan
gate, concurrency slots) and the small types a pattern returns or raises. Split from the engine
so patterns and agents depend on this, not on how runs are started and recorded."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .config import Settings
from .events import EventBus, EventType
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
)
from .slots import RunSlots
from .store import RunStore
from .workspace.view import OverlayDoc


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
