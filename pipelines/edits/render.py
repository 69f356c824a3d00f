"""A ChangeSet written back as an apply_patch or SEARCH/REPLACE text (the inverse of parsing).

Each file's rendering is checked by parsing and applying it to the old text; context grows
until the result is byte-identical (and unique), up to the whole file. A change the format
cannot express as hunks (a CRLF file gaining LF endings) becomes Delete File + Add File.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable

from ..models import ChangeSet, Edit, EditKind
from .apply_patch import BEGIN, END, EOF_MARK, NO_NEWLINE, apply_ops, parse_apply_patch
from .builder import ChangeBuilder
from .errors import EditError
from .pathlines import PathJudge
from .search_replace import apply_blocks, parse_search_replace
from .source import MemorySource
from .text import split_keepends, split_text

_CONTEXTS = (3, 8, 24, 96)


def render_apply_patch(changeset: ChangeSet) -> str:
    body: list[str] = []
    for e in changeset.edits:
        if e.kind is EditKind.create:
            body.extend(_add(e.path, e.new_text or ""))
        elif e.kind is EditKind.delete:
            body.append(f"*** Delete File: {e.path}")
        else:
            body.extend(_update(e))
    return "\n".join([BEGIN, *body, END]) + "\n"


def _add(path: str, text: str) -> list[str]:
    out = [f"*** Add File: {path}"]
    lines = text.split("\n")
    last = lines.pop()
    final = last == ""
    if not final:
        lines.append(last)
    out.extend("+" + line for line in lines)
    if text and not final:
        out.append(NO_NEWLINE)
    return out


def _update(e: Edit) -> list[str]:
    old, new = e.old_text or "", e.new_text if e.new_text is not None else ""
    head = [f"*** Update File: {e.path}"] + ([f"*** Move to: {e.new_path}"] if e.new_path else [])
    if old == new:
        return head if e.new_path else []
    a, b = _tagged(old), _tagged_like(new, old)
    if b is not None:
        for context in (*_CONTEXTS, len(a) + len(b)):
            lines = head + _patch_hunks(a, b, context)
            if _check(lines, e):
                return lines
    # Not expressible as hunks on this file's line endings: replace the whole file.
    if e.new_path:
        return [f"*** Delete File: {e.path}", *_add(e.new_path, new)]
    return [f"*** Delete File: {e.path}", *_add(e.path, new)]


Tagged = list[tuple[str, bool]]  # (line, ends with a newline)


def _tagged(text: str) -> Tagged:
    fl = split_text(text)
    return [(line, k < len(fl.lines) - 1 or fl.final_newline) for k, line in enumerate(fl.lines)]


def _tagged_like(new: str, old: str) -> Tagged | None:
    """`new` as lines in `old`'s line-ending convention, or None if that cannot reproduce it."""
    if split_text(old).eol == "\r\n":
        fl = split_text(new)
        if fl.eol != "\r\n" and "\n" in new:
            return None
        return _tagged(new)
    pieces = new.split("\n")
    final = pieces[-1] == ""
    if final:
        pieces.pop()
    if new == "":
        return []
    return [(p, k < len(pieces) - 1 or final) for k, p in enumerate(pieces)]


def _patch_hunks(a: Tagged, b: Tagged, context: int) -> list[str]:
    out: list[str] = []
    for group in difflib.SequenceMatcher(None, a, b, autojunk=False).get_grouped_opcodes(context):
        out.append("@@")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                for line, nl in a[i1:i2]:
                    out.append(" " + line)
                    if not nl:
                        out.append(NO_NEWLINE)
                continue
            for line, nl in a[i1:i2]:
                out.append("-" + line)
                if not nl:
                    out.append(NO_NEWLINE)
            for line, nl in b[j1:j2]:
                out.append("+" + line)
                if not nl:
                    out.append(NO_NEWLINE)
        if a and group[-1][2] == len(a):
            out.append(EOF_MARK)
    return out


def _check(lines: list[str], e: Edit) -> bool:
    text = "\n".join([BEGIN, *lines, END]) + "\n"
    return _reproduces(e, lambda b: apply_ops(b, parse_apply_patch(text)))


def _reproduces(e: Edit, run: Callable[[ChangeBuilder], None]) -> bool:
    builder = ChangeBuilder(MemorySource({e.path: e.old_text}))
    try:
        run(builder)
    except EditError:
        return False
    return builder.read(e.target_path) == e.new_text


# ------------------------------------------------------------------ SEARCH/REPLACE


def render_search_replace(changeset: ChangeSet) -> str:
    """SEARCH/REPLACE blocks for creates and updates; the format has no delete or rename."""
    out: list[str] = []
    for e in changeset.edits:
        if e.kind in (EditKind.delete, EditKind.rename):
            raise EditError(
                f"{e.path}: SEARCH/REPLACE blocks cannot {e.kind.value} a file; render this change "
                "with render_apply_patch instead",
                path=e.path,
            )
        out.extend(_sr_update(e))
    return "\n".join(out) + ("\n" if out else "")


def _sr_update(e: Edit) -> list[str]:
    old, new = e.old_text or "", e.new_text or ""
    if old == new and e.kind is not EditKind.create:
        return []
    a, b = split_keepends(old), split_keepends(new)
    for context in (*_CONTEXTS, len(a) + len(b)):
        lines: list[str] = _block(e.path, "", new) if e.kind is EditKind.create else []
        for group in [] if lines else _groups(a, b, context):
            i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
            lines.extend(_block(e.path, "".join(a[i1:i2]), "".join(b[j1:j2])))
        if _reproduces(e, _blocks_runner("\n".join(lines) + "\n")):
            return lines
    raise EditError(
        f"{e.path}: this change cannot be written as SEARCH/REPLACE blocks (a line of the file looks "
        "like a block marker); use render_apply_patch",
        path=e.path,
    )


def _blocks_runner(text: str) -> Callable[[ChangeBuilder], None]:
    def run(builder: ChangeBuilder) -> None:
        # every line before a block here is a path this renderer wrote
        apply_blocks(builder, parse_search_replace(text, PathJudge(exists=lambda path: True)))

    return run


def _groups(a: list[str], b: list[str], context: int) -> list[list[tuple[str, int, int, int, int]]]:
    return list(difflib.SequenceMatcher(None, a, b, autojunk=False).get_grouped_opcodes(context))


def _block(path: str, search: str, replace: str) -> list[str]:
    return [path, "<<<<<<< SEARCH", *_section(search), "=======", *_section(replace), ">>>>>>> REPLACE"]


def _section(text: str) -> list[str]:
    if text == "":
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        return lines[:-1]
    return [*lines, NO_NEWLINE]
