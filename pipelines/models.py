"""Pydantic hand-off types: the only things agents, the engine, the CLI and the server pass.

Every artifact under `.baton/runs/<id>/` and every submit tool's JSON schema comes from
these models, so a change here is a change of Baton's wire format.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .owner import ProcessOwner


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


# --------------------------------------------------------------------------- task & scope


class Scope(_Model):
    """What a run may look at: the whole workspace, or one file or folder inside it."""

    root: str = Field(description="Absolute path of the workspace root.")
    path: str | None = Field(
        default=None,
        description="Path of the selected file or folder, relative to root, '/'-separated; "
        "None means the whole workspace.",
    )

    @field_validator("path")
    @classmethod
    def _relative_path(cls, v: str | None) -> str | None:
        if v is None:
            return None
        v = v.replace("\\", "/").strip()
        if v in ("", "."):
            return None
        if v.startswith("/") or (len(v) > 1 and v[1] == ":"):
            raise ValueError(f"scope path must be relative to the workspace root, got {v!r}")
        parts = [p for p in v.split("/") if p not in ("", ".")]
        if any(p == ".." for p in parts):
            raise ValueError(f"scope path must stay inside the workspace root, got {v!r}")
        return "/".join(parts)

    @property
    def root_path(self) -> Path:
        return Path(self.root)

    def describe(self) -> str:
        return self.path or "the whole workspace"


class Task(_Model):
    """A unit of work handed to a pattern."""

    text: str = Field(min_length=1, description="What the user asked for.")
    scope: Scope
    pattern: Pattern = Pattern.plan_implement_review
    source: Literal["user", "issue", "ci", "test-failure"] = "user"
    triage: TriageRequest | None = Field(default=None, description="What triage-fix-validate starts from.")
    modules: list[str] = Field(
        default_factory=list,
        description="Parallel modules: files or folders (relative to the root) the user chose, one agent each; "
        "empty lets the decomposer split the task.")

    @field_validator("text")
    @classmethod
    def _non_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("the task is empty: say what should be done")
        return v.strip()


# --------------------------------------------------------------------------- planning


class Decision(_Model):
    """A design choice the planner made, with why, and what it rejected."""

    title: str = Field(description="Short name of the decision.")
    choice: str = Field(description="What was decided.")
    rationale: str = Field(description="Why this choice.")
    alternatives: list[str] = Field(default_factory=list, description="Options considered and not taken.")


class PlanStep(_Model):
    title: str = Field(description="One line: what this step does.")
    detail: str = Field(default="", description="How, in a few sentences.")
    files: list[str] = Field(default_factory=list, description="Workspace-relative paths this step touches.")


class Plan(_Model):
    """The planner's output; rendered as plan.md, decisions as decisions.json."""

    summary: str = Field(description="What will change and why, in two or three sentences.")
    steps: list[PlanStep] = Field(min_length=1, description="Ordered implementation steps.")
    files_to_touch: list[str] = Field(default_factory=list, description="Every path expected to change.")
    decisions: list[Decision] = Field(default_factory=list)
    risks: list[str] = Field(default_factory=list)
    test_strategy: str = Field(default="", description="How the change will be tested.")


# --------------------------------------------------------------------------- edits


class EditKind(StrEnum):
    create = "create"
    update = "update"
    delete = "delete"
    rename = "rename"


class Edit(_Model):
    """One file's change. Texts are whole files so a change can be diffed, rebased and checked."""

    path: str = Field(description="Workspace-relative path ('/'-separated) before the change.")
    kind: EditKind
    old_text: str | None = Field(default=None, description="Full text before (None for create).")
    new_text: str | None = Field(default=None, description="Full text after (None for delete).")
    new_path: str | None = Field(default=None, description="Target path for rename.")

    @model_validator(mode="after")
    def _consistent(self) -> Edit:
        k = self.kind
        if k is EditKind.create and (self.old_text is not None or self.new_text is None):
            raise ValueError(f"create of {self.path}: needs new_text and no old_text")
        if k is EditKind.delete and (self.old_text is None or self.new_text is not None):
            raise ValueError(f"delete of {self.path}: needs old_text and no new_text")
        if k is EditKind.update and (self.old_text is None or self.new_text is None):
            raise ValueError(f"update of {self.path}: needs old_text and new_text")
        if k is EditKind.rename and (self.new_path is None or self.old_text is None):
            raise ValueError(f"rename of {self.path}: needs new_path and old_text")
        return self

    @property
    def target_path(self) -> str:
        return self.new_path or self.path


class ChangeSet(_Model):
    """All edits of one run; applied all-or-nothing."""

    edits: list[Edit] = Field(default_factory=list)
    summary: str = ""
    notes: list[str] = Field(default_factory=list, description=(
        "How edits were placed when not exactly as written (an ignored @@ anchor, context with a gap, "
        "re-indented lines): told to the model and recorded in the trace."))

    @property
    def paths(self) -> list[str]:
        out: list[str] = []
        for e in self.edits:
            out.append(e.path)
            if e.new_path:
                out.append(e.new_path)
        return out

    def is_empty(self) -> bool:
        return not self.edits


class ChangesSubmission(_Model):
    """What the implementer submits: the sandbox already holds the edits; this explains them."""

    summary: str = Field(description="What was changed, in a few sentences.")
    tests_passed: bool | None = Field(default=None, description="Whether the last test run passed, in your view.")
    notes: str = Field(default="", description="Anything the reviewer should know.")


# --------------------------------------------------------------------------- tests


class Interpreter(_Model):
    """The Python a detected test command runs with, and why it was chosen."""

    path: str = Field(description="Absolute path of the interpreter (the user's own environment).")
    label: str = Field(description="The path as shown: relative to the workspace when inside it.")
    source: str = Field(description="Why it was chosen, e.g. \"the workspace's .venv\".")


class TestReport(_Model):
    __test__ = False  # not a pytest class

    command: str
    interpreter: Interpreter | None = Field(default=None, description="Set when the command was detected.")
    exit_code: int | None = Field(default=None, description="None when killed (timeout/cancel) or not started.")
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    failing_tests: list[str] = Field(default_factory=list)
    output_tail: str = ""
    duration_s: float = 0.0
    timed_out: bool = False
    error: str | None = Field(default=None, description="Why the command could not run, if it could not.")

    @property
    def ok(self) -> bool:
        return (
            self.exit_code == 0
            and not self.timed_out
            and self.error is None
            and self.failed == 0
            and self.errors == 0
        )

    @property
    def shown_command(self) -> str:
        """The command with a detected interpreter's absolute path replaced by its short label."""
        if self.interpreter is not None:
            for form in (shlex.quote(self.interpreter.path), self.interpreter.path):
                if self.command.startswith(form + " "):
                    return self.interpreter.label + self.command[len(form):]
        return self.command

    def summary_line(self) -> str:
        cmd = self.shown_command
        if self.error:
            return f"{cmd}: could not run ({self.error})"
        if self.timed_out:
            return f"{cmd}: timed out after {self.duration_s:.1f}s"
        return (
            f"{cmd}: exit {self.exit_code}, {self.passed} passed, {self.failed} failed, "
            f"{self.errors} errors, {self.skipped} skipped ({self.duration_s:.1f}s)"
        )


# --------------------------------------------------------------------------- review


class Severity(StrEnum):
    error = "error"
    warning = "warning"
    info = "info"
    hint = "hint"


class Finding(_Model):
    path: str = Field(description="Workspace-relative path of the file the finding is about.")
    line: int | None = Field(default=None, ge=1, description="1-based line in the proposed (new) text.")
    severity: Severity = Severity.warning
    message: str
    suggestion: str | None = Field(
        default=None, description="Replacement text for that line, if there is a concrete fix."
    )


class Review(_Model):
    verdict: Literal["approved", "rejected"]
    summary: str
    findings: list[Finding] = Field(default_factory=list)


# --------------------------------------------------------------------------- triage & decomposition


class Triage(_Model):
    """The triager's reading of a failure: what kind, where, and whether a code fix is in reach."""

    category: Literal["code-bug", "test-bug", "environment", "flaky", "not-reproducible"] = Field(
        description="code-bug: the code under test is wrong; test-bug: the test itself is wrong; environment: "
        "a dependency, tool, data or setting outside the code; flaky: passes and fails on the same code; "
        "not-reproducible: cannot be made to fail here.")
    summary: str = Field(description="What fails and why, in one or two sentences.")
    cause: str = Field(default="", description="The root cause, naming the lines or behaviour at fault.")
    failing_tests: list[str] = Field(default_factory=list, description="Test ids like tests/test_x.py::test_y.")
    suspected_files: list[str] = Field(default_factory=list, description="Workspace-relative paths most likely at fault.")
    suspected_symbols: list[str] = Field(default_factory=list, description="Functions, classes or methods at fault.")
    fix_strategy: str = Field(default="", description="The smallest change that fixes the cause (not the symptom).")
    confidence: Literal["low", "medium", "high"] = "medium"
    fixable: bool = Field(description="Whether a change to this repository's code can fix it (false for "
                          "environment problems or when the cause is unclear).")


# --------------------------------------------------------------------------- failures (triage input)


class Failure(_Model):
    """One failure read from a JUnit file, a CI log, an issue or a test run. All text is untrusted."""

    kind: Literal["test", "type", "lint", "crash", "issue"]
    test_id: str | None = Field(default=None, description="pytest-style id: path/to/test_x.py::Class::test_y.")
    path: str | None = None
    line: int | None = Field(default=None, ge=1)
    error_kind: str = Field(default="", description="Exception type or checker code, e.g. AssertionError, E501.")
    message: str = ""
    detail: str = Field(default="", description="Traceback or output excerpt (bounded).")


class FailureReport(_Model):
    """Everything a triage run starts from: the parsed failures and the text they came from."""

    source: Literal["junit", "log", "issue", "run"]
    failures: list[Failure] = Field(default_factory=list)
    excerpt: str = Field(default="", description="The informative part of the input (cut, with the cut stated).")
    title: str = Field(default="", description="The issue's title, when the input is an issue.")

    @property
    def test_ids(self) -> list[str]:
        return sorted({f.test_id for f in self.failures if f.test_id})


class TriageRequest(_Model):
    """The input of a triage-fix-validate run (CLI flags or the LSP command's arguments)."""

    report: FailureReport | None = Field(default=None, description="None: run the test command now and "
                                         "triage what fails.")
    good: str | None = Field(default=None, description="A commit where the tests passed: bisect from it.")
    fix_flaky: bool = Field(default=False, description="Also try to fix a failure that proves flaky.")
    again: bool = Field(default=False, description="Attempt even if this failure was attempted on this commit.")


class Reproduction(_Model):
    """The failing tests rerun at HEAD N times in the sandbox, before any model is asked."""

    verdict: Literal["reproducible", "flaky", "not-reproducible", "not-applicable"]
    runs: int = 0
    failed_runs: int = 0
    test_ids: list[str] = Field(default_factory=list)
    per_test_failures: dict[str, int] = Field(default_factory=dict, description="test id → failed runs of N.")
    commit: str = ""
    reports: list[TestReport] = Field(default_factory=list)
    note: str = ""
    culprit: str | None = Field(default=None, description="First bad commit found by bisect (with --good).")
    culprit_subject: str = ""


class ModuleTask(_Model):
    path: str = Field(description="Workspace-relative file or folder this sub-task owns.")
    task: str = Field(description="What to do in that module.")
    write_set: list[str] = Field(
        default_factory=list,
        description="Files or globs ('pkg/a/**', 'docs/a.md') this module may write; empty means the module "
        "path itself (a file, or everything under the folder).")
    depends_on: list[str] = Field(
        default_factory=list,
        description="Paths of modules whose result this one needs: it starts after they are merged.")


class ModuleSplit(_Model):
    """The decomposer's output: independent modules that may be changed concurrently."""

    summary: str
    modules: list[ModuleTask] = Field(min_length=1)


class ModuleStatus(StrEnum):
    merged = "merged"  # in the integration result, validated
    left_out = "left-out"  # failed, timed out, over budget, or conflicting after its re-run
    skipped = "skipped"  # a module it depends on was left out
    cancelled = "cancelled"


class ModuleReport(_Model):
    """One module of a parallel run, as modules.json and run.json report it."""

    path: str
    task: str
    write_set: list[str]
    depends_on: list[str] = Field(default_factory=list)
    status: ModuleStatus = ModuleStatus.left_out
    reason: str | None = Field(default=None, description="Why it was left out or skipped.")
    conflict: Literal["textual", "semantic"] | None = Field(default=None, description="Conflict met when merging.")
    resolved_by_rerun: bool = False
    attempts: int = 0
    merge_index: int | None = Field(default=None, description="1-based position in the merge order, if merged.")
    files: list[str] = Field(default_factory=list)
    queued_s: float = 0.0
    duration_s: float = 0.0
    tokens: int = 0
    cost_usd: float = 0.0
    discarded_tokens: int = Field(default=0, description="Tokens spent on work that was thrown away.")


# --------------------------------------------------------------------------- accounting & records


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


HANDOFF_MODELS: dict[str, type[BaseModel]] = {
    m.__name__: m
    for m in (
        Task,
        Scope,
        Plan,
        PlanStep,
        Decision,
        Edit,
        ChangeSet,
        ChangesSubmission,
        TestReport,
        Review,
        Finding,
        Triage,
        Failure,
        FailureReport,
        Reproduction,
        TriageRequest,
        ModuleSplit,
        ModuleTask,
        ModuleReport,
        Usage,
        StepRecord,
        RunRecord,
    )
}


def json_schemas() -> dict[str, dict[str, Any]]:
    """The JSON schema of every hand-off type, generated from the models themselves."""
    return {name: m.model_json_schema() for name, m in HANDOFF_MODELS.items()}


Task.model_rebuild()
