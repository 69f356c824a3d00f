"""ChangeSet → LSP WorkspaceEdit the user reviews inline before anything is written.

Minimal text edits (one per changed hunk, not whole-file replacement), versioned
TextDocumentEdits for documents the snapshot saw open, Create/Rename/DeleteFile for file
operations, and one ChangeAnnotation per hunk (needsConfirmation by default) so editors
that support it preview each change with a checkbox. Clients without documentChanges get
the plain `changes` map (file operations are then reported, not sent).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lsprotocol import types as lsp

from baton.pipelines.models import ChangeSet, Edit, EditKind
from baton.pipelines.workspace.paths import resolve_inside


@dataclass(frozen=True)
class Hunk:
    """Replace old lines [start, end) with new_lines (all keep their line endings)."""

    start: int
    end: int
    new_lines: tuple[str, ...]
    new_start: int  # first line of the replacement in the new text (0-based)

    @property
    def label_range(self) -> str:
        a, b = self.start + 1, max(self.start + 1, self.end)
        return f"line {a}" if a == b else f"lines {a}–{b}"


def hunks(old: str, new: str) -> list[Hunk]:
    """The changed regions between two texts, by lines."""
    a = old.splitlines(keepends=True)
    b = new.splitlines(keepends=True)
    out = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag != "equal":
            out.append(Hunk(i1, i2, tuple(b[j1:j2]), j1))
    return out


def _utf16_len(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


def _position(lines: list[str], line: int) -> lsp.Position:
    """Start of `line`; past the last line → end of the document (no phantom trailing line)."""
    if line < len(lines):
        return lsp.Position(line=line, character=0)
    if not lines:
        return lsp.Position(line=0, character=0)
    last = lines[-1]
    if last.endswith(("\n", "\r")):
        return lsp.Position(line=len(lines), character=0)
    return lsp.Position(line=len(lines) - 1, character=_utf16_len(last))


def text_edits(old: str, new: str) -> list[tuple[lsp.Range, str, Hunk]]:
    lines = old.splitlines(keepends=True)
    out = []
    for h in hunks(old, new):
        rng = lsp.Range(start=_position(lines, h.start), end=_position(lines, h.end))
        out.append((rng, "".join(h.new_lines), h))
    return out


def path_to_uri(root: Path, rel: str) -> str:
    return (root / rel).as_uri()


def check_edit_paths(cs: ChangeSet, root: Path) -> None:
    """Refuse (PathRefused) a change that names `.git` or `.baton` at any depth, climbs out of
    the root or goes through a symlink that leaves it: the editor would write what we send."""
    for path in cs.paths:
        resolve_inside(root, path, allow_secret=True)


@dataclass
class EditOptions:
    document_changes: bool = True
    resource_operations: bool = True
    annotations: bool = True
    needs_confirmation: bool = True
    run_label: str = "Baton"
    descriptions: Mapping[str, str] = field(default_factory=dict)  # path → description (plan step)
    # path → group label: every change to a grouped path carries that group's one annotation
    # (parallel modules: one per module, so Refactor Preview accepts module by module)
    groups: Mapping[str, str] = field(default_factory=dict)


@dataclass
class BuiltEdit:
    edit: lsp.WorkspaceEdit
    skipped: list[str]  # operations the client cannot take (plain `changes` has no file ops)
    hunk_count: int


def build_workspace_edit(
    cs: ChangeSet, root: Path, versions: Mapping[str, int | None], opts: EditOptions
) -> BuiltEdit:
    """The WorkspaceEdit for a ChangeSet. `versions`: rel path → open document version.

    Raises PathRefused when an edit names a path the editor must not write (check_edit_paths)."""
    check_edit_paths(cs, root)
    annotations: dict[str, lsp.ChangeAnnotation] = {}
    doc_changes: list = []
    plain: dict[str, list[lsp.TextEdit]] = {}
    skipped: list[str] = []
    n_hunks = 0

    def annotate(key: str, label: str, path: str) -> str | None:
        if not (opts.document_changes and opts.annotations):
            return None
        group = opts.groups.get(path)
        if group is not None:
            key, label = f"group:{group}", group
        annotations[key] = lsp.ChangeAnnotation(
            label=label,
            needs_confirmation=opts.needs_confirmation,
            description=opts.descriptions.get(path) or opts.run_label,
        )
        return key

    def edits_for(e: Edit, path: str, old: str, new: str) -> list[lsp.TextEdit | lsp.AnnotatedTextEdit]:
        nonlocal n_hunks
        out: list[lsp.TextEdit | lsp.AnnotatedTextEdit] = []
        for i, (rng, text, h) in enumerate(text_edits(old, new), 1):
            n_hunks += 1
            ann = annotate(f"{path}#{i}", f"{path}: {h.label_range}", path)
            out.append(lsp.AnnotatedTextEdit(range=rng, new_text=text, annotation_id=ann) if ann
                       else lsp.TextEdit(range=rng, new_text=text))
        return out

    for e in cs.edits:
        uri = path_to_uri(root, e.path)
        if e.kind is EditKind.update:
            assert e.old_text is not None and e.new_text is not None
            edits = edits_for(e, e.path, e.old_text, e.new_text)
            if not edits:
                continue
            if opts.document_changes:
                doc_changes.append(lsp.TextDocumentEdit(
                    text_document=lsp.OptionalVersionedTextDocumentIdentifier(uri=uri, version=versions.get(e.path)),
                    edits=edits))
            else:
                plain[uri] = [lsp.TextEdit(range=te.range, new_text=te.new_text) for te in edits]
        elif e.kind is EditKind.create:
            assert e.new_text is not None
            if opts.document_changes and opts.resource_operations:
                ann = annotate(f"{e.path}#create", f"{e.path}: create file", e.path)
                doc_changes.append(lsp.CreateFile(uri=uri, options=lsp.CreateFileOptions(overwrite=False, ignore_if_exists=False),
                                                  annotation_id=ann))
                ann2 = annotate(f"{e.path}#content", f"{e.path}: contents", e.path)
                insert = lsp.Range(start=lsp.Position(line=0, character=0), end=lsp.Position(line=0, character=0))
                te = (lsp.AnnotatedTextEdit(range=insert, new_text=e.new_text, annotation_id=ann2) if ann2
                      else lsp.TextEdit(range=insert, new_text=e.new_text))
                doc_changes.append(lsp.TextDocumentEdit(
                    text_document=lsp.OptionalVersionedTextDocumentIdentifier(uri=uri, version=None), edits=[te]))
                n_hunks += 1
            else:
                # Most clients create the buffer for an unknown URI; the user saves it.
                insert = lsp.Range(start=lsp.Position(line=0, character=0), end=lsp.Position(line=0, character=0))
                plain[uri] = [lsp.TextEdit(range=insert, new_text=e.new_text)]
                n_hunks += 1
        elif e.kind is EditKind.delete:
            if opts.document_changes and opts.resource_operations:
                ann = annotate(f"{e.path}#delete", f"{e.path}: delete file", e.path)
                doc_changes.append(lsp.DeleteFile(uri=uri, options=lsp.DeleteFileOptions(ignore_if_not_exists=True),
                                                  annotation_id=ann))
                n_hunks += 1
            else:
                skipped.append(f"delete {e.path}")
        elif e.kind is EditKind.rename:
            assert e.new_path is not None and e.old_text is not None
            new_uri = path_to_uri(root, e.new_path)
            if opts.document_changes and opts.resource_operations:
                ann = annotate(f"{e.path}#rename", f"{e.path} → {e.new_path}: rename", e.path)
                doc_changes.append(lsp.RenameFile(old_uri=uri, new_uri=new_uri,
                                                  options=lsp.RenameFileOptions(overwrite=False), annotation_id=ann))
                n_hunks += 1
                if e.new_text is not None and e.new_text != e.old_text:
                    edits = edits_for(e, e.new_path, e.old_text, e.new_text)
                    doc_changes.append(lsp.TextDocumentEdit(
                        text_document=lsp.OptionalVersionedTextDocumentIdentifier(uri=new_uri, version=None), edits=edits))
            else:
                skipped.append(f"rename {e.path} → {e.new_path}")

    if opts.document_changes:
        edit = lsp.WorkspaceEdit(document_changes=doc_changes, change_annotations=annotations or None)
    else:
        edit = lsp.WorkspaceEdit(changes=plain)
    return BuiltEdit(edit=edit, skipped=skipped, hunk_count=n_hunks)


def apply_text_edits(text: str, edits: list[tuple[lsp.Range, str]]) -> str:
    """Apply LSP text edits to a text the way a client does (used in tests and rebases)."""
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))

    def offset(pos: lsp.Position) -> int:
        if pos.line >= len(lines):
            return len(text)
        line = lines[pos.line]
        # character is in UTF-16 units
        units, idx = 0, 0
        while idx < len(line) and units < pos.character:
            units += len(line[idx].encode("utf-16-le")) // 2
            idx += 1
        return offsets[pos.line] + idx

    spans = sorted(((offset(r.start), offset(r.end), t) for r, t in edits), reverse=True)
    for start, end, new in spans:
        text = text[:start] + new + text[end:]
    return text
