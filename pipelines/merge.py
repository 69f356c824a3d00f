"""Three-way line merge: rebase a run's proposed text onto a file the user changed since.

base = the text the run saw, ours = the run's proposal, theirs = the file now. Changes
that touch different lines combine; overlapping or adjacent changes are a conflict
(the caller then leaves the file alone and says so). Line endings are kept as they are.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass


class MergeConflict(ValueError):
    def __init__(self, path: str, line: int) -> None:
        self.path, self.line = path, line
        super().__init__(
            f"{path}: your edits near line {line} overlap Baton's proposed change; "
            "the proposal no longer applies there (see the run's changes.diff)"
        )


@dataclass(frozen=True)
class _Change:
    start: int  # in base lines
    end: int
    lines: list[str]


def _changes(base: list[str], other: list[str]) -> list[_Change]:
    sm = difflib.SequenceMatcher(None, base, other, autojunk=False)
    return [_Change(i1, i2, other[j1:j2]) for tag, i1, i2, j1, j2 in sm.get_opcodes() if tag != "equal"]


def _conflict(a: _Change, b: _Change) -> bool:
    # Two changes conflict when their base ranges overlap or touch (an insertion at the
    # edge of another change is ambiguous in order, so it counts too).
    return a.start <= b.end and b.start <= a.end


def three_way_merge(base: str, ours: str, theirs: str, path: str = "file") -> str:
    if theirs == base:
        return ours
    if ours == base or ours == theirs:
        return theirs
    b = base.splitlines(keepends=True)
    mine = _changes(b, ours.splitlines(keepends=True))
    yours = _changes(b, theirs.splitlines(keepends=True))
    for m in mine:
        for y in yours:
            if _conflict(m, y) and not (m.start == y.start and m.end == y.end and m.lines == y.lines):
                raise MergeConflict(path, m.start + 1)
    # Deduplicate identical changes made on both sides, then apply all in base order.
    combined = {(c.start, c.end, tuple(c.lines)): c for c in [*mine, *yours]}
    out: list[str] = []
    pos = 0
    for c in sorted(combined.values(), key=lambda c: (c.start, c.end)):
        out.extend(b[pos:c.start])
        out.extend(c.lines)
        pos = c.end
    out.extend(b[pos:])
    return "".join(out)
