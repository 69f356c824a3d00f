"""What judges a change: a test run's report and the reviewer's findings."""

from __future__ import annotations

import os
import re
import shlex
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import Field

from .base import _Model


def shown_path(path: str | Path, root: str | Path | None = None) -> str:
    """A path as a person reads it: relative to the workspace `root` when inside it (`.venv/bin/python`),
    `~/...` when under the home folder, else as is. For messages; data (tests.json) keeps the real path."""
    text = str(path)
    if root is not None and os.path.isabs(text):
        try:
            rel = Path(text).relative_to(root).as_posix()
            return "." if rel == "." else rel
        except ValueError:
            pass
    home = os.path.expanduser("~").rstrip(os.sep)
    if home and home != "~" and text.startswith(home + os.sep):
        return "~" + text[len(home):]
    return text


# The command's first word: a shell-quoted ('...') or plain token.
_FIRST_WORD = re.compile(r"\s*('[^']*'|[^\s'\"]+)(?=\s|$)")


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
        """The command as messages show it: a detected interpreter's absolute path replaced by its
        label (relative to the workspace), any other absolute program path shortened (`~/...`)."""
        if self.interpreter is not None:
            for form in (shlex.quote(self.interpreter.path), self.interpreter.path):
                if self.command == form or self.command.startswith(form + " "):
                    return self.interpreter.label + self.command[len(form):]
        first = _FIRST_WORD.match(self.command)
        if first is None:
            return self.command
        word = first.group(1)
        program = word[1:-1] if word.startswith("'") else word
        if not os.path.isabs(program):
            return self.command
        short = shown_path(program)
        if short == program:
            return self.command
        return self.command[:first.start(1)] + short + self.command[first.end(1):]

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
