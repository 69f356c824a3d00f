"""What a run is asked to do (Task) and what it may look at (Scope): the input of every pattern."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from .base import Pattern, _Model
from .triage import TriageRequest


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
