"""What every hand-off type shares: strict validation, timestamps, and the role and pattern names."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


def utcnow() -> datetime:
    return datetime.now(UTC)


class _Model(BaseModel):
    """Base: forbid unknown fields so a model's typo is an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Role(StrEnum):
    planner = "planner"
    implementer = "implementer"
    reviewer = "reviewer"
    triager = "triager"
    decomposer = "decomposer"


class Pattern(StrEnum):
    plan_implement_review = "plan-implement-review"
    parallel_modules = "parallel-modules"
    triage_fix_validate = "triage-fix-validate"
