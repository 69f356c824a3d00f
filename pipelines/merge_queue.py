"""The merge queue's one step: apply a module's change set onto the integration sandbox with a
three-way merge per file, then validate; undo it when either fails.

A file the integration has not touched since the module's snapshot is taken as the module left
it. A file changed on both sides is merged (base = the module's snapshot
text, `merge.three_way_merge`): disjoint regions combine, overlapping ones are a *textual* conflict. A merge that applies
but turns the validator red is a *semantic* conflict. Either way the integration is restored
exactly, so the queue goes on with the next module. No model ever resolves a conflict here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .edits.errors import EDIT_ERRORS
from .merge import MergeConflict, three_way_merge
from .models import ChangeSet, Edit, EditKind, TestReport
from .sandbox import Sandbox

Validator = Callable[[], Awaitable[TestReport | None]]


@dataclass
class MergeResult:
    ok: bool
    conflict: Literal["textual", "semantic"] | None = None
    detail: str = ""
    files: list[str] = field(default_factory=list)
    tests: TestReport | None = None


async def merge_changeset(integration: Sandbox, cs: ChangeSet, validate: Validator) -> MergeResult:
    plan = await asyncio.to_thread(three_way, integration.path, cs)
    if isinstance(plan, str):
        return MergeResult(False, "textual", plan)
    if plan.is_empty():
        return MergeResult(True, detail="nothing left to merge: the integration already holds these changes")
    try:
        await integration.apply(plan)
    except EDIT_ERRORS as e:
        return MergeResult(False, "textual", f"the merged change does not apply: {e}")
    files = sorted(set(plan.paths))
    report = await validate()
    if report is not None and not report.ok:
        await integration.apply(inverse(plan))
        return MergeResult(False, "semantic", report.summary_line(), files, report)
    return MergeResult(True, files=files, tests=report)


def three_way(root: Path, cs: ChangeSet) -> ChangeSet | str:
    """The module's edits rebased onto the integration's current files, or why they conflict."""
    edits: list[Edit] = []
    conflicts: list[str] = []
    for e in cs.edits:
        cur = _read(root / e.path)
        if e.kind is EditKind.create:
            if cur is None:
                edits.append(e)
            elif cur != e.new_text:
                conflicts.append(f"{e.path}: created by this module, but the merged result already has a "
                                 "different file there")
        elif e.kind is EditKind.delete:
            if cur == e.old_text:
                edits.append(e)
            elif cur is not None:
                conflicts.append(f"{e.path}: deleted by this module, but changed in the merged result")
        elif e.kind is EditKind.update:
            assert e.old_text is not None and e.new_text is not None
            if cur is None:
                conflicts.append(f"{e.path}: changed by this module, but deleted in the merged result")
            elif cur == e.old_text:
                edits.append(e)
            elif cur != e.new_text:
                try:
                    merged = three_way_merge(e.old_text, e.new_text, cur, e.path)
                except MergeConflict as c:
                    conflicts.append(f"{e.path}: near line {c.line}, changed both by this module and in the "
                                     "merged result")
                else:
                    edits.append(Edit(path=e.path, kind=EditKind.update, old_text=cur, new_text=merged))
        else:  # rename: only when the source is untouched and the target free
            target = _read(root / e.target_path)
            if cur == e.old_text and target is None:
                edits.append(e)
            else:
                conflicts.append(f"{e.path} → {e.target_path}: renamed by this module, but the merged result "
                                 "changed the file or already has the target")
    if conflicts:
        return "textual conflict: " + "; ".join(conflicts)
    return ChangeSet(edits=edits, summary=cs.summary)


def inverse(cs: ChangeSet) -> ChangeSet:
    """The change set that undoes `cs` once it has been applied."""
    out: list[Edit] = []
    for e in reversed(cs.edits):
        if e.kind is EditKind.create:
            out.append(Edit(path=e.path, kind=EditKind.delete, old_text=e.new_text))
        elif e.kind is EditKind.delete:
            out.append(Edit(path=e.path, kind=EditKind.create, new_text=e.old_text))
        elif e.kind is EditKind.update:
            out.append(Edit(path=e.path, kind=EditKind.update, old_text=e.new_text, new_text=e.old_text))
        else:
            out.append(Edit(path=e.target_path, kind=EditKind.rename, new_path=e.path,
                            old_text=e.new_text if e.new_text is not None else e.old_text))
    return ChangeSet(edits=out, summary="undo")


def _read(path: Path) -> str | None:
    if not path.is_file() or path.is_symlink():
        return None
    return path.read_bytes().decode("utf-8", errors="surrogateescape")
