"""Git-style unified diffs and +/- line counts of a ChangeSet (for review, artifacts, the CLI)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from ..models import ChangeSet, Edit, EditKind
from .text import split_keepends

_LETTER = {EditKind.create: "A", EditKind.delete: "D", EditKind.update: "M", EditKind.rename: "R"}


@dataclass(frozen=True)
class FileStat:
    path: str
    kind: EditKind
    added: int
    removed: int
    new_path: str | None = None

    def line(self) -> str:
        name = f"{self.path} -> {self.new_path}" if self.new_path else self.path
        return f"{_LETTER[self.kind]} {name} (+{self.added} -{self.removed})"


@dataclass(frozen=True)
class DiffStats:
    files: list[FileStat] = field(default_factory=list)

    @property
    def added(self) -> int:
        return sum(f.added for f in self.files)

    @property
    def removed(self) -> int:
        return sum(f.removed for f in self.files)

    def summary(self) -> str:
        n = len(self.files)
        return f"{n} file{'s' if n != 1 else ''} changed, +{self.added} -{self.removed}"

    def render(self) -> str:
        return "\n".join([*(f.line() for f in self.files), self.summary()])


def _pair(edit: Edit) -> tuple[list[str], list[str]]:
    return split_keepends(edit.old_text or ""), split_keepends(edit.new_text or "")


def diff_stats(changeset: ChangeSet) -> DiffStats:
    files = []
    for e in changeset.edits:
        a, b = _pair(e)
        added = removed = 0
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
            if tag != "equal":
                removed += i2 - i1
                added += j2 - j1
        files.append(FileStat(e.path, e.kind, added, removed, e.new_path))
    return DiffStats(files)


def _range(start: int, length: int) -> str:
    """Unified-diff range: 'start,len', 'start' for one line, 'start-1,0' for none (as git)."""
    first = start + 1
    if length == 1:
        return str(first)
    if length == 0:
        first -= 1
    return f"{first},{length}"


def _hunks(a: list[str], b: list[str], context: int = 3) -> list[str]:
    out: list[str] = []
    for group in difflib.SequenceMatcher(None, a, b, autojunk=False).get_grouped_opcodes(context):
        i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
        out.append(f"@@ -{_range(i1, i2 - i1)} +{_range(j1, j2 - j1)} @@\n")
        for tag, x1, x2, y1, y2 in group:
            if tag == "equal":
                out.extend(_line(" ", s) for s in a[x1:x2])
                continue
            out.extend(_line("-", s) for s in a[x1:x2])
            out.extend(_line("+", s) for s in b[y1:y2])
    return out


def _line(prefix: str, s: str) -> str:
    if s.endswith("\n"):
        return prefix + s
    return prefix + s + "\n\\ No newline at end of file\n"


def render_unified_diff(changeset: ChangeSet) -> str:
    """A diff `git apply` accepts: a/ b/ prefixes, /dev/null for create and delete, rename headers."""
    parts: list[str] = []
    for e in changeset.edits:
        a, b = _pair(e)
        src, dst = e.path, e.target_path
        parts.append(f"diff --git a/{src} b/{dst}\n")
        old_name, new_name = f"a/{src}", f"b/{dst}"
        if e.kind is EditKind.create:
            parts.append("new file mode 100644\n")
            old_name = "/dev/null"
        elif e.kind is EditKind.delete:
            parts.append("deleted file mode 100644\n")
            new_name = "/dev/null"
        elif e.kind is EditKind.rename:
            similarity = int(100 * difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()) if a or b else 100
            parts.append(f"similarity index {similarity}%\nrename from {src}\nrename to {dst}\n")
        hunks = _hunks(a, b)
        if hunks:
            parts.append(f"--- {old_name}\n+++ {new_name}\n")
            parts.extend(hunks)
    return "".join(parts)
