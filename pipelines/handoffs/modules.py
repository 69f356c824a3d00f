"""Parallel modules: the decomposer's split into independent modules, and what became of each one."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from .base import _Model


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
