"""Send a run's ChangeSet to the editor as one workspace/applyEdit — and only that.

The server never writes the user's files itself. Before sending, edits to files that are
not open are checked against the disk; after a refusal, open documents whose version moved
are rebased (three-way merge onto the current text) and the edit is asked once more. If a
file no longer merges, it is left alone and the user is told.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException

from baton.pipelines.merge import MergeConflict, three_way_merge
from baton.pipelines.models import ChangeSet, Edit, EditKind
from baton.pipelines.workspace.paths import PathRefused

from .edits import EditOptions, build_workspace_edit, check_edit_paths, path_to_uri

log = logging.getLogger(__name__)


@dataclass
class ApplyOutcome:
    applied: bool
    rebased: bool = False
    left_alone: list[str] = field(default_factory=list)  # files whose edits no longer apply
    skipped_ops: list[str] = field(default_factory=list)
    failure_reason: str | None = None
    hunks: int = 0
    declined: bool = False  # the editor said no without a reason: the user discarded the change
    texts: dict[str, str] = field(default_factory=dict)  # path → text the editor now has (applied only)


def client_edit_options(ls: Any, needs_confirmation: bool, label: str, descriptions: dict[str, str],
                        groups: dict[str, str] | None = None) -> EditOptions:
    caps = ls.client_capabilities
    we = caps.workspace.workspace_edit if caps and caps.workspace else None
    doc_changes = bool(we and we.document_changes)
    resource_ops = bool(we and we.resource_operations)
    annotations = bool(we and we.change_annotation_support)
    return EditOptions(document_changes=doc_changes, resource_operations=resource_ops, annotations=annotations,
                       needs_confirmation=needs_confirmation, run_label=label, descriptions=descriptions,
                       groups=groups or {})


def open_document(ls: Any, root: Path, rel: str) -> Any | None:
    uri = path_to_uri(root, rel)
    return ls.workspace.text_documents.get(uri)


async def current_text(ls: Any, root: Path, rel: str) -> tuple[str | None, int | None]:
    """(text, version) of a file now: the open buffer if any, else the disk (off-loop)."""
    doc = open_document(ls, root, rel)
    if doc is not None:
        return doc.source, doc.version

    def read() -> str | None:
        p = root / rel
        try:
            with p.open("r", encoding="utf-8", newline="") as fh:
                return fh.read()
        except FileNotFoundError:
            return None

    return await asyncio.to_thread(read), None


async def rebase(ls: Any, root: Path, cs: ChangeSet) -> tuple[ChangeSet, dict[str, int | None], list[str]]:
    """Rebase every edit onto the file's current text. Returns (changeset, versions, left alone)."""
    edits: list[Edit] = []
    versions: dict[str, int | None] = {}
    left: list[str] = []
    for e in cs.edits:
        now, version = await current_text(ls, root, e.path)
        versions[e.path] = version
        if e.kind is EditKind.create:
            if now is None:
                edits.append(e)
            elif now == e.new_text:
                continue  # already there
            else:
                left.append(f"{e.path}: it exists now, so Baton does not create it")
            continue
        if now is None:
            left.append(f"{e.path}: it no longer exists")
            continue
        if e.kind is EditKind.delete:
            if now == e.old_text:
                edits.append(e)
            else:
                left.append(f"{e.path}: it changed since the run, so Baton does not delete it")
            continue
        assert e.old_text is not None
        if now == e.old_text:
            edits.append(e)
            continue
        target = e.new_text if e.new_text is not None else e.old_text
        if now == target and e.kind is EditKind.update:
            continue  # already there (applied before)
        try:
            merged = three_way_merge(e.old_text, target, now, e.path)
        except MergeConflict as conflict:
            left.append(str(conflict))
            continue
        edits.append(e.model_copy(update={"old_text": now, "new_text": merged}))
    return ChangeSet(edits=edits, summary=cs.summary), versions, left


async def send_changeset(
    ls: Any,
    root: Path,
    cs: ChangeSet,
    snapshot_versions: dict[str, int | None],
    *,
    needs_confirmation: bool,
    label: str,
    descriptions: dict[str, str] | None = None,
    groups: dict[str, str] | None = None,
) -> ApplyOutcome:
    """One workspace/applyEdit (plus at most one rebased retry). Nothing is written otherwise."""
    opts = client_edit_options(ls, needs_confirmation, label, descriptions or {}, groups)
    try:
        check_edit_paths(cs, root)  # before reading any of its paths from the disk
    except PathRefused as e:
        return ApplyOutcome(applied=False, failure_reason=f"refused: {e}")
    # The client applies ranges to whatever text it has, so first make sure every file is
    # still the text the run saw; otherwise rebase before asking.
    versions: dict[str, int | None] = {}
    stale = False
    for edit in cs.edits:
        now, version = await current_text(ls, root, edit.path)
        expected = None if edit.kind is EditKind.create else edit.old_text
        if now != expected:
            stale = True
        if version is not None:  # open in the editor: the version the snapshot saw, if any
            versions[edit.path] = snapshot_versions.get(edit.path, version)
    outcome = ApplyOutcome(applied=False)
    if stale:
        cs, versions, outcome.left_alone = await rebase(ls, root, cs)
        outcome.rebased = True
    for attempt in (1, 2):
        if cs.is_empty():
            outcome.failure_reason = ("nothing left to apply" if outcome.left_alone
                                      else "the proposed changes are already in the files")
            return outcome
        built = build_workspace_edit(cs, root, versions, opts)
        outcome.skipped_ops, outcome.hunks = built.skipped, built.hunk_count
        try:
            result: lsp.ApplyWorkspaceEditResult = await ls.workspace_apply_edit_async(
                lsp.ApplyWorkspaceEditParams(edit=built.edit, label=label))
        except JsonRpcException as e:  # the editor failed while applying: say so, never crash the run's end
            outcome.failure_reason = f"the editor could not apply the edit ({e.message or type(e).__name__})"
            return outcome
        if result.applied:
            outcome.applied = True
            outcome.failure_reason = None
            outcome.texts = {e.target_path: e.new_text for e in cs.edits if e.new_text is not None}
            return outcome
        outcome.failure_reason = result.failure_reason or "the editor did not apply the edit"
        if attempt == 2:
            break
        # Refused: because a document moved on since the snapshot (rebase and ask again),
        # or because the user said no (stop).
        moved = [p for p, v in versions.items()
                 if (doc := open_document(ls, root, p)) is not None and v is not None and doc.version != v]
        if not moved:
            outcome.declined = not result.failure_reason
            break
        log.info("edit refused with stale documents %s; rebasing", moved)
        cs, versions, left = await rebase(ls, root, cs)
        outcome.left_alone += left
        outcome.rebased = True
    return outcome
