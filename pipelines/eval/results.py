"""The hand-offs of an eval: one CaseResult per case run, the EvalReport that holds them all."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..models import utcnow


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FailureReason(StrEnum):
    """Why a case did not succeed (the issue's groups, plus the hidden check and other errors)."""

    plan_invalid = "plan invalid"
    patch_refused = "patch refused"
    tests_failed = "tests failed"
    reviewer_rejected = "reviewer rejected"
    validator_rejected = "validator rejected"
    hidden_check_failed = "hidden check failed"
    timeout = "timeout"
    budget = "budget"
    interrupted = "interrupted"
    model_error = "model error"
    setup_error = "setup error"
    other = "other"


class CheckResult(_Model):
    """The hidden check's verdict on the run's change (None fields: that part was not asked for)."""

    passed: bool
    command: str | None = None
    exit_code: int | None = None
    summary: str = ""
    problems: list[str] = Field(default_factory=list, description="must_change / must_not_change violations.")
    output_tail: str = ""


class CaseResult(_Model):
    case_id: str
    pattern: str
    repeat: int = 0
    model_set: str = Field(description="role=model pairs, comma-separated: the table's second key")
    session: Literal["recorded", "live"]
    run_id: str | None = None
    status: str
    verdict: Literal["approved", "rejected"] | None = Field(
        default=None, description="The reviewer's (or validator's) verdict, for calibration.")
    success: bool
    reason: FailureReason | None = None
    error: str | None = None
    check: CheckResult | None = None
    files_changed: list[str] = Field(default_factory=list)
    duration_s: float = 0.0
    waiting_s: float = 0.0
    tokens: int = 0
    cost_usd: float = 0.0
    llm_calls: int = 0
    worker: str = Field(default="local", description="where it ran: local, or the Ray node")


class Calibration(_Model):
    """The reviewer's verdicts against the hidden check, over cases where both are known.

    Positive = approved. tp: approved and passes; fp: approved but fails (the costly error);
    fn: rejected but passes; tn: rejected and fails."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    precision: float | None = None
    recall: float | None = None
    kappa: float | None = None

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn


class GroupStats(_Model):
    """One row of the table: a pattern and a model set."""

    pattern: str
    model_set: str
    cases: int
    runs: int
    succeeded: int
    success_rate: float
    ci95_low: float | None = None
    ci95_high: float | None = None
    mean_duration_s: float | None = None
    p50_duration_s: float | None = None
    p95_duration_s: float | None = None
    waiting_s: float = 0.0
    tokens_per_success: float | None = None
    cost_per_success_usd: float | None = None
    failures: dict[str, int] = Field(default_factory=dict)
    calibration: Calibration


class EvalReport(_Model):
    """`baton eval --json` and report.json: everything `--compare` and `--html` need."""

    version: Literal[1] = 1
    eval_id: str
    suite: str
    suite_path: str
    started_at: datetime = Field(default_factory=utcnow)
    duration_s: float = 0.0
    executor: str = "local"
    repeat: int = 1
    concurrency: int = 1
    groups: list[GroupStats] = Field(default_factory=list)
    results: list[CaseResult] = Field(default_factory=list)
