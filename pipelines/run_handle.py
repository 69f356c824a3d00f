"""A started run as its owner sees it (cancel, fail, wait), the trace file its events go to,
and the budget check that ends a run from outside its task."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import IO, Any

from .events import Event, EventType
from .models import RunRecord
from .run_context import RunContext, RunResult


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


def check_budget(handle: RunHandle, event: Event) -> None:
    """After each model call: end the run as failed once a token or cost budget is spent."""
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
