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


def indent_style(lines: Sequence[str]) -> tuple[str, int] | None:
    """("spaces", unit) or ("tabs", 4) when every indented line of the file uses that; None if mixed or flat."""
    spaces = [len(indent_of(x)) for x in lines if x.strip() and x[0] == " "]
    tabs = any(x.strip() and x[0] == "\t" for x in lines)
    if spaces and not tabs:
        unit = min(spaces)
        return ("spaces", unit if 2 <= unit <= 8 else 4)
    if tabs and not spaces:
        return ("tabs", 4)
    return None


def file_style_if_patch_differs(file_lines: Sequence[str], quoted: Sequence[str]) -> tuple[str, int] | None:
    """The file's indentation style when the lines the patch quotes use the other one (tabs for
    spaces, or spaces for tabs): evidence that the model's new lines are in the wrong style too.
    None otherwise, and new lines are written as given (a file may mean to mix them)."""
    style, theirs = indent_style(file_lines), indent_style(quoted)
    return style if style is not None and theirs is not None and theirs[0] != style[0] else None


def conform(lines: Sequence[str], style: tuple[str, int] | None) -> tuple[list[str], bool]:
    """New lines indented in the file's own style (tabs in a spaces-only file become spaces, and back).

    Returns the lines and whether any changed."""
    if style is None:
        return list(lines), False
    kind, unit = style
    out, changed = [], False
    for line in lines:
        ind = indent_of(line)
        if kind == "spaces" and "\t" in ind:
            new = ind.expandtabs(unit) + line[len(ind):]
        elif kind == "tabs" and ind and "\t" not in ind and len(ind) % unit == 0:
            new = "\t" * (len(ind) // unit) + line[len(ind):]
        else:
            new = line
        changed |= new != line
        out.append(new)
    return out, changed


def restyle_note(what: str, style: tuple[str, int] | None) -> str:
    kind = style[0] if style else "spaces"
    other = "tabs" if kind == "spaces" else "spaces"
    return f"the {what} were indented with {other}; the file indents with {kind}, so they were converted"
