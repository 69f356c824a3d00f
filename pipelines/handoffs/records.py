"""What a run cost and how it went (run.json): the record behind history, stats and recovery."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field

from ..owner import ProcessOwner
from .base import Pattern, Role, _Model, utcnow
from .task import Scope


class Usage(_Model):
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @classmethod
    def total(cls, usages: Iterable[Usage]) -> Usage:
        out = cls()
        for u in usages:
            out = out + u
        return out

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            calls=self.calls + other.calls,
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
            cost_usd=self.cost_usd + other.cost_usd,
        )


class RunStatus(StrEnum):
    pending = "pending"
    running = "running"
    waiting = "waiting"  # paused at the plan gate
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"
    interrupted = "interrupted"  # its process died mid-run (kill -9, a crash, a power cut); found at start-up

    @property
    def finished(self) -> bool:
        return self in (RunStatus.succeeded, RunStatus.failed, RunStatus.cancelled, RunStatus.interrupted)


class StepRecord(_Model):
    name: str
    role: Role | None = None
    status: Literal["running", "succeeded", "failed", "cancelled", "skipped", "interrupted"] = "running"
    started_at: datetime = Field(default_factory=utcnow)
    duration_s: float = 0.0
    attempts: int = 1
    error: str | None = None


class RunRecord(_Model):
    """run.json: everything needed for history, stats and a post-mortem."""

    id: str
    pattern: Pattern
    task: str
    scope: Scope
    status: RunStatus = RunStatus.pending
    verdict: Literal["approved", "rejected"] | None = None
    created_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    duration_s: float = Field(default=0.0, description="Working time; excludes waiting_s.")
    waiting_s: float = Field(default=0.0, description="Time spent waiting for the user (the plan gate).")
    steps: list[StepRecord] = Field(default_factory=list)
    usage_by_role: dict[str, Usage] = Field(default_factory=dict)
    attempts: int = 0
    error: str | None = None
    artifacts: dict[str, str] = Field(default_factory=dict, description="name → absolute path")
    files_changed: list[str] = Field(default_factory=list)
    parent_id: str | None = Field(default=None, description="For sub-runs of parallel modules.")
    owner: ProcessOwner | None = Field(default=None, description="The process running it (crash recovery).")
    extra: dict[str, Any] = Field(default_factory=dict)

    @property
    def usage(self) -> Usage:
        return Usage.total(self.usage_by_role.values())
