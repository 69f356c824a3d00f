"""A failure to triage: what it starts from (parsed failures), whether it reproduces, and the triager's
reading of it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import _Model
from .verdicts import TestReport


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
