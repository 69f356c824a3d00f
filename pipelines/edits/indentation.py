"""How far a matched block is indented from where the patch wrote it, and how to shift new lines.

The lines an edit removes decide: they are the edit, context only locates it. When the removed
lines match the file at their own indentation, the new lines are written as given, however far
off the context was quoted. Only when the removed lines themselves are offset (or, for a pure
insertion, the context is) are the new lines shifted by that offset, in columns, and written in
the file's own indentation style (tabs or spaces), so a patch quoted with spaces lands in a
tab-indented file as tabs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

_TAB_WIDTHS = (4, 8, 2)


def indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def columns(indent: str, tab: int) -> int:
    return len(indent.expandtabs(tab))


@dataclass(frozen=True)
class Shift:
    """Maps a patch line's indentation to the file's. The identity when nothing is offset."""

    delta: int = 0  # columns to add
    tab: int = 4
    file_tabs: bool = False  # the file indents these lines with tabs
    known: dict[str, str] = field(default_factory=dict)  # patch indent -> file indent, seen on deciding lines

    @property
    def is_identity(self) -> bool:
        return self.delta == 0 and all(k == v for k, v in self.known.items())

    def apply(self, line: str) -> str:
        if self.is_identity or not line.strip():
            return line
        ind = indent_of(line)
        body = line[len(ind):]
        if ind in self.known:
            return self.known[ind] + body
        col = max(0, columns(ind, self.tab) + self.delta)
        if self.file_tabs:
            return "\t" * (col // self.tab) + " " * (col % self.tab) + body
        return " " * col + body

    def describe(self) -> str:
        if self.delta:
            return f"{'+' if self.delta > 0 else ''}{self.delta} columns"
        return "from tabs to spaces" if not self.file_tabs else "from spaces to tabs"


def shift_for(pairs: Sequence[tuple[str, str, bool]]) -> Shift:
    """The shift implied by (patch line, file line, is_removed) pairs of one match.

    Removed lines decide when there are any; otherwise (a pure insertion) the context does."""
    usable = [(p, f, r) for p, f, r in pairs if p.strip() and f.strip()]
    deciding = [(p, f) for p, f, r in usable if r] or [(p, f) for p, f, _ in usable]
    if not deciding:
        return Shift()
    known: dict[str, str] = {}
    for p, f in deciding:
        known.setdefault(indent_of(p), indent_of(f))
    if all(k == v for k, v in known.items()):
        return Shift()
    file_indents = [indent_of(f) for _, f in deciding if indent_of(f)]
    file_tabs = bool(file_indents) and all("\t" in i for i in file_indents)
    for tab in _TAB_WIDTHS:
        deltas = {columns(indent_of(f), tab) - columns(indent_of(p), tab) for p, f in deciding}
        if len(deltas) == 1:
            return Shift(deltas.pop(), tab, file_tabs, known)
    p, f = deciding[0]
    return Shift(columns(indent_of(f), 4) - columns(indent_of(p), 4), 4, file_tabs, known)
