"""Apply an Update File's hunks to a text: find each hunk, rebuild its lines, report fallbacks.

What each line claims is used: `-` lines are the edit (they must be in the file and they decide
the indentation of the `+` lines), context only locates it. An `@@` anchor that cannot be found,
or that comes after the lines it should precede, is a hint: the hunk then goes where its own
lines match exactly once. Every placement that is not the plain reading of the patch (anchor
ignored, context with a gap, fuzzy context, `+` lines re-indented) becomes a note, which the
tool answer gives back to the model and the trace records.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from .errors import EditError
from .indentation import conform, file_style_if_patch_differs, restyle_note
from .matching import Match, find_block
from .text import FileLines, join_text, split_text

if TYPE_CHECKING:
    from .apply_patch import Hunk

_ADVICE = "add more context lines, or an '@@ <line above the change>' anchor, so it matches one"


def apply_hunks(text: str, hunks: list[Hunk], *, path: str, notes: list[str] | None = None) -> str:
    """Apply an Update File's hunks to `text` (pure); fallbacks are appended to `notes`."""
    fl = split_text(text)
    lines = fl.lines
    if not any(line.endswith("\r") for line in lines):
        hunks = [_without_cr(h) for h in hunks]  # `git diff` of a CRLF file: the "\r" is the line ending
    cursor = 0
    reps: list[tuple[int, int, list[str]]] = []
    replaces_last_line = False  # the lines written for the file's last line end with a newline
    for n, hunk in enumerate(hunks, 1):
        what = f"hunk {n} (patch line {hunk.line})"
        old = hunk.old_lines
        if not old:
            pos = _insertion_point(lines, hunk, cursor, what, path)
            reps.append((pos, pos, hunk.new_lines))
            continue
        m, note = _place(lines, hunk, cursor, what, path)
        style = file_style_if_patch_differs(lines, old)
        new, restyled = _rebuild(lines, hunk, m, style)
        how = _how_placed(lines, hunk, m)
        if restyled:
            how.append(restyle_note("'+' lines", style))
        for extra in how:
            note = f"{note}; {extra}" if note else extra
        if note and notes is not None:
            notes.append(f"{path}: {what} placed at {_span(m)}: {note}")
        reps.append((m.start, m.end, new))
        cursor = m.end
        removed_at = [p for p, r in zip(m.positions, hunk.removed_flags, strict=True) if r and p is not None]
        replaces_last_line |= bool(removed_at) and removed_at[-1] == len(lines) - 1
    out = list(lines)
    for start, end, new in sorted(reps, key=lambda r: r[0], reverse=True):
        out[start:end] = new
    if any(h.new_no_newline for h in hunks):
        final = False
    elif any(h.old_no_newline for h in hunks) or replaces_last_line:
        final = True  # as in git and codex: a line the patch writes ends with a newline
    else:
        final = fl.final_newline if lines else True
    return join_text(FileLines(out, fl.eol, final))


def _without_cr(hunk: Hunk) -> Hunk:
    return dataclasses.replace(hunk, anchors=[a.removesuffix("\r") for a in hunk.anchors],
                               ops=[(op, t.removesuffix("\r")) for op, t in hunk.ops])


def _insertion_point(lines: list[str], hunk: Hunk, cursor: int, what: str, path: str) -> int:
    """Where a hunk with only `+` lines goes: after its anchors, else at the end of the file."""
    if hunk.at_eof or not hunk.anchors:
        return len(lines)
    for anchor in hunk.anchors:
        cursor = find_block(lines, [anchor], path=path, start=cursor, first_wins=True,
                            what=f"the '@@ {anchor.strip()}' anchor of {what}").end
    return cursor


def _place(lines: list[str], hunk: Hunk, cursor: int, what: str, path: str) -> tuple[Match, str]:
    """The hunk's match, and a note when its anchor had to be ignored."""
    old = hunk.old_lines

    def find(start: int, first_wins: bool) -> Match:
        return find_block(lines, old, path=path, start=start, first_wins=first_wins, at_eof=hunk.at_eof,
                          removed=hunk.removed_flags, inserted_before=hunk.inserted_before_flags,
                          what=f"the context and '-' lines of {what}", advice=_ADVICE)

    if not hunk.anchors:
        return find(cursor, False), ""
    after = cursor
    missing: str | None = None
    for anchor in hunk.anchors:
        try:
            after = find_block(lines, [anchor], path=path, start=after, first_wins=True,
                               what=f"the '@@ {anchor.strip()}' anchor of {what}").end
        except EditError:
            missing = anchor.strip()
            break
    if missing is None:
        try:
            return find(after, True), ""
        except EditError:
            pass
    # The anchor is a hint: the hunk's own lines decide when they occur exactly once.
    why = (f"the '@@ {missing}' anchor was not found" if missing is not None
           else f"its lines are not after the '@@ {hunk.anchors[-1].strip()}' anchor (line {after})")
    try:
        m = find(cursor, False)
    except EditError as e:
        raise EditError(f"{e}\n(Also: {why}.)", path=e.path) from None
    return m, why


def _rebuild(lines: list[str], hunk: Hunk, m: Match, style: tuple[str, int] | None) -> tuple[list[str], bool]:
    """The new lines for m.start..m.end: file context kept, `-` dropped, `+` (re-indented) added;
    and whether `+` lines had to be put into the file's indentation style (tabs or spaces)."""
    out: list[str] = []
    restyled = False
    at = m.start
    k = 0
    for op, t in hunk.ops:
        if op == "+":
            (line,), changed = conform([m.shift.apply(t)], style)
            out.append(line)
            restyled |= changed
            continue
        p = m.positions[k]
        k += 1
        if p is None:
            continue  # a context line the file does not have
        out.extend(lines[at:p])  # file lines the context skipped: kept
        at = p + 1
        if op == " ":
            out.append(lines[p])  # the file's own context line
    return out, restyled


def _how_placed(lines: list[str], hunk: Hunk, m: Match) -> list[str]:
    notes: list[str] = []
    if m.level == "fuzzy":
        notes.append(f"its context matched only approximately ({m.ratio:.0%} similar)")
    skipped = m.skipped_file_lines()
    if skipped:
        shown = ", ".join(f"{i + 1} {lines[i].strip()!r}" for i in skipped[:3])
        notes.append(f"file line{'s' if len(skipped) > 1 else ''} {shown} missing from its context "
                     f"{'were' if len(skipped) > 1 else 'was'} kept")
    old = hunk.old_lines
    for k in m.unquoted_block_lines():
        notes.append(f"its context line {old[k].strip()!r} is not in the file and was ignored")
    if not m.shift.is_identity and any(op == "+" and t.strip() for op, t in hunk.ops):
        decided = "'-' lines" if any(hunk.removed_flags) else "context lines"
        notes.append(f"the '+' lines were re-indented {m.shift.describe()}, as the {decided} are in the file")
    return notes


def _span(m: Match) -> str:
    return f"line {m.start + 1}" if m.end - m.start <= 1 else f"lines {m.start + 1}-{m.end}"
