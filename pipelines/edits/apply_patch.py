"""The `apply_patch` format of OpenAI's coding models (codex), parsed and applied.

    *** Begin Patch
    *** Add File: path          then "+line" lines
    *** Delete File: path
    *** Update File: path       optional "*** Move to: new/path", then hunks:
    @@ optional anchor line     " " context, "-" removed, "+" added, optional "*** End of File"
    *** End Patch

Matches codex's parser (lenient marker whitespace, heredoc wrapper, a first hunk without
`@@`, bare empty lines as empty context). Extensions: consecutive `@@ anchor` lines narrow
step by step; a unified-diff header `@@ -1,3 +1,4 @@` counts as a plain `@@`; a line
`\\ No newline at end of file` after a line says that side ends without a final newline.
Differences (stricter, on purpose): Add File and Move to refuse to overwrite an existing
file, a hunk without an anchor must match exactly one place after the previous hunk, and
when a hunk only matches fuzzily its `-` lines must still equal the file's lines (up to
whitespace): only context lines may differ, so nothing the model did not quote is removed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..models import ChangeSet
from .builder import ChangeBuilder
from .errors import EditError
from .hunks import apply_hunks
from .source import TextSource
from .text import FileLines, join_text

BEGIN, END = "*** Begin Patch", "*** End Patch"
ADD, DELETE, UPDATE, MOVE = "*** Add File: ", "*** Delete File: ", "*** Update File: ", "*** Move to: "
EOF_MARK = "*** End of File"
NO_NEWLINE = "\\ No newline at end of file"
_UNIFIED_HEADER = re.compile(r"^@@ -\d+(?:,\d+)? \+\d+(?:,\d+)? @@ ?(.*)$")
_HEADERS = "'*** Add File: <path>', '*** Delete File: <path>' or '*** Update File: <path>'"


@dataclass
class Hunk:
    """One `@@` section: anchors to find in order, then ops (' ', '-', '+', text)."""

    line: int
    anchors: list[str] = field(default_factory=list)
    ops: list[tuple[str, str]] = field(default_factory=list)
    at_eof: bool = False
    old_no_newline: bool = False
    new_no_newline: bool = False

    @property
    def old_lines(self) -> list[str]:
        return [t for op, t in self.ops if op != "+"]

    @property
    def new_lines(self) -> list[str]:
        return [t for op, t in self.ops if op != "-"]

    @property
    def removed_flags(self) -> list[bool]:
        """One flag per old line: True for a '-' line (it must match the file, even fuzzily)."""
        return [op == "-" for op, _ in self.ops if op != "+"]

    @property
    def inserted_before_flags(self) -> list[bool]:
        """One flag per old line: True when '+' lines come right before it (after the old line
        before); one more flag at the end for '+' lines after the last old line."""
        flags: list[bool] = []
        pending = False
        for op, _ in self.ops:
            if op == "+":
                pending = True
            else:
                flags.append(pending)
                pending = False
        return [*flags, pending]


@dataclass
class AddFile:
    path: str
    lines: list[str]
    line: int
    no_newline: bool = False

    @property
    def text(self) -> str:
        return join_text(FileLines(self.lines, "\n", not self.no_newline))


@dataclass
class DeleteFile:
    path: str
    line: int


@dataclass
class UpdateFile:
    path: str
    line: int
    move_to: str | None = None
    hunks: list[Hunk] = field(default_factory=list)


PatchOp = AddFile | DeleteFile | UpdateFile


def looks_like_apply_patch(text: str) -> bool:
    return any(line.strip() == BEGIN for line in text.splitlines()[:50])


def parse_apply_patch(text: str) -> list[PatchOp]:
    """Parse the patch into file operations, or raise EditError naming the line."""
    lines, offset = _envelope(text)
    ops: list[PatchOp] = []
    i = 0
    while i < len(lines):
        raw = lines[i]
        head = raw.strip()
        num = i + 1 + offset
        if head == "":
            i += 1
        elif head.startswith(ADD.strip()):
            i, added = _parse_add(lines, i + 1, _path(head, ADD, num), num)
            ops.append(added)
        elif head.startswith(DELETE.strip()):
            ops.append(DeleteFile(_path(head, DELETE, num), num))
            i += 1
        elif head.startswith(UPDATE.strip()):
            i, updated = _parse_update(lines, i + 1, _path(head, UPDATE, num), num, offset)
            ops.append(updated)
        elif ops and isinstance(ops[-1], AddFile) and not head.startswith("***"):
            raise EditError(f"apply_patch line {num}: {raw!r}: every line of '*** Add File: {ops[-1].path}' "
                            "must start with '+'")
        else:
            raise EditError(f"apply_patch line {num}: {raw!r} is not a valid file header; expected {_HEADERS}")
    return ops


def _envelope(text: str) -> tuple[list[str], int]:
    """The lines between Begin and End Patch, and the patch line number of the first one minus 1."""
    if text.count("\n") and text.count("\n") == text.count("\r\n"):
        text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    first = 0
    while first < len(lines) and lines[first].strip() == "":
        first += 1
    last = len(lines) - 1
    while last >= first and lines[last].strip() == "":
        last -= 1
    body = lines[first:last + 1]
    if len(body) >= 2 and body[0].strip() in ("<<EOF", "<<'EOF'", '<<"EOF"') and body[-1].strip().endswith("EOF"):
        body, first = body[1:-1], first + 1
    if len(body) >= 2 and body[0].strip().startswith("```") and body[-1].strip() == "```":
        body, first = body[1:-1], first + 1
    if not body:
        raise EditError("apply_patch: the patch is empty; it must start with '*** Begin Patch'")
    if body[0].strip() != BEGIN:
        raise EditError(f"apply_patch line {first + 1}: a patch must start with '{BEGIN}', got {body[0]!r}")
    if len(body) < 2 or body[-1].strip() != END:
        raise EditError(
            f"apply_patch: missing '{END}' at the end of the patch (the last line is {body[-1]!r}); "
            "send the whole patch, ending with that line"
        )
    return body[1:-1], first + 1


def _path(head: str, marker: str, num: int) -> str:
    path = head[len(marker.strip()):].strip()
    if not path:
        raise EditError(f"apply_patch line {num}: '{marker.strip()}' needs a path after it")
    return path


def _parse_add(lines: list[str], i: int, path: str, num: int) -> tuple[int, AddFile]:
    op = AddFile(path, [], num)
    while i < len(lines):
        line = lines[i]
        if line.startswith("+"):
            op.lines.append(line[1:])
        elif line.startswith("\\") and op.lines:
            op.no_newline = True
        elif line.strip() == "" and _more_added_lines(lines, i):
            op.lines.append("")  # a model dropped the "+" of an empty line
        else:
            break
        i += 1
    return i, op


def _more_added_lines(lines: list[str], i: int) -> bool:
    while i < len(lines) and lines[i].strip() == "":
        i += 1
    return i < len(lines) and lines[i].startswith("+")


def _parse_update(lines: list[str], i: int, path: str, num: int, offset: int) -> tuple[int, UpdateFile]:
    op = UpdateFile(path, num)
    if i < len(lines) and lines[i].strip().startswith(MOVE.strip()):
        op.move_to = _path(lines[i].strip(), MOVE, i + 1 + offset)
        i += 1
    while i < len(lines):
        if lines[i].strip() == "":
            i += 1
            continue
        if lines[i].startswith("*"):
            break
        i, hunk = _parse_hunk(lines, i, first=not op.hunks, offset=offset, path=path)
        op.hunks.append(hunk)
    if not op.hunks and op.move_to is None:
        raise EditError(f"apply_patch line {num}: 'Update File: {path}' has no hunks; add '@@' hunks with the change")
    return i, op


def _parse_hunk(lines: list[str], i: int, *, first: bool, offset: int, path: str) -> tuple[int, Hunk]:
    hunk = Hunk(line=i + 1 + offset)
    saw_header = False
    while i < len(lines) and lines[i].startswith("@@") and not hunk.ops:
        m = _UNIFIED_HEADER.match(lines[i].rstrip())
        anchor = m.group(1) if m else lines[i][2:].removeprefix(" ")
        if anchor.strip():
            hunk.anchors.append(anchor)
        saw_header = True
        i += 1
    if not saw_header and not first:
        raise EditError(f"apply_patch line {i + 1 + offset}: expected an '@@' line to start the next hunk, got {lines[i]!r}")
    bare_tail = 0  # trailing empty lines without a " " prefix: separators, not context
    while i < len(lines):
        line = lines[i]
        if line.strip() == EOF_MARK:
            hunk.at_eof = True
            i += 1
            break
        if line in ("", "\r"):  # an empty context line without its " " (as "\r" from a CRLF diff)
            hunk.ops.append((" ", ""))
            bare_tail += 1
        elif line[0] in " -+":
            hunk.ops.append((line[0], line[1:]))
            bare_tail = 0
        elif line.startswith("\\") and hunk.ops:
            last = hunk.ops[-1][0]
            hunk.old_no_newline |= last in " -"
            hunk.new_no_newline |= last in " +"
        elif not hunk.ops:
            raise EditError(
                f"apply_patch line {i + 1 + offset}: unexpected line {line!r} in a hunk of {path}; every "
                "hunk line starts with ' ' (context), '-' (removed) or '+' (added)"
            )
        else:
            break
        i += 1
    if bare_tail:
        del hunk.ops[len(hunk.ops) - bare_tail:]
    if not hunk.ops:
        raise EditError(f"apply_patch line {hunk.line}: a hunk of {path} has no lines; give context and +/- lines")
    return i, hunk


# ------------------------------------------------------------------ applying (matching: hunks.py)


def apply_ops(builder: ChangeBuilder, ops: list[PatchOp]) -> None:
    """Apply the operations to the builder; notes on fallback placements go to builder.notes."""
    for op in ops:
        if isinstance(op, AddFile):
            builder.create(op.path, op.text, how="Add File")
        elif isinstance(op, DeleteFile):
            builder.delete(op.path, how="Delete File")
        else:
            current = builder.read(op.path)
            rel = builder.path(op.path)
            if current is None:
                raise EditError(f"{rel}: cannot Update File: the file does not exist (use '*** Add File:' to create it)",
                                path=rel)
            new = apply_hunks(current, op.hunks, path=rel, notes=builder.notes) if op.hunks else current
            if op.move_to is not None:
                builder.move(rel, op.move_to, new)
            else:
                builder.update(rel, new)


def changeset_from_apply_patch(patch: str, source: TextSource, summary: str = "") -> ChangeSet:
    ops = parse_apply_patch(patch)
    if not ops:
        raise EditError("apply_patch: the patch has no file operations between Begin and End Patch")
    builder = ChangeBuilder(source)
    apply_ops(builder, ops)
    return builder.changeset(summary)
