"""Proposed edits: whole-file texts so a change can be diffed, rebased onto newer buffers and applied
all-or-nothing."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, model_validator

from .base import _Model


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
