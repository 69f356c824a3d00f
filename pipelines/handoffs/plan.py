"""The planner's output: the plan the user may edit at the plan gate, and its design decisions."""

from __future__ import annotations

from pydantic import Field

from .base import _Model


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
