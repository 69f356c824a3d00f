"""What judges a change: a test run's report and the reviewer's findings."""

from __future__ import annotations

import shlex
from enum import StrEnum
from typing import Literal

from pydantic import Field

from .base import _Model


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
