"""SEARCH/REPLACE on one text: exact substring first, then line matching (see matching.py).

Line endings: when the file is CRLF and the SEARCH text is LF (or one line), both texts are
converted to CRLF, so a model's LF edit keeps the file CRLF. A SEARCH text written in the
file's own style is used byte for byte, which lets a rendered change reproduce any file.
"""

from __future__ import annotations

from .errors import EditError
from .indentation import conform, file_style_if_patch_differs, indent_style, restyle_note
from .matching import ambiguous_error, find_block
from .text import FileLines, join_text, line_style, split_text, to_crlf


def replace_text(text: str, search: str, replace: str, *, path: str, notes: list[str] | None = None) -> str:
    """Return `text` with the one place matching `search` replaced by `replace`, or raise EditError.

    A fallback that changes how the REPLACE text lands (a spurious blank first SEARCH line
    dropped, lines re-indented) is appended to `notes`."""
    if search == "" or (search.strip() == "" and text.strip() != ""):
        if text == "":
            return replace
        raise EditError(
            f"{path}: the SEARCH text is empty but the file is not; quote the existing lines to "
            "replace (an empty SEARCH only creates a new or empty file)",
            path=path,
        )
    if line_style(text) == "crlf" and line_style(search) in ("lf", "none"):
        search, replace = to_crlf(search), to_crlf(replace)
    hits = _occurrences(text, search)
    if len(hits) == 1:
        i = hits[0]
        return text[:i] + replace + text[i + len(search):]
    if len(hits) > 1:
        line_starts = [text.count("\n", 0, i) for i in hits]
        raise ambiguous_error(path, "the SEARCH text", line_starts, search.count("\n") + (not search.endswith("\n")), _ADVICE)
    fl = split_text(text)
    block = split_text(search).lines
    new_lines = split_text(replace).lines if replace else []
    how: list[str] = []
    try:
        m = find_block(fl.lines, block, path=path, advice=_ADVICE, fuzzy=not _blank_first(block))
    except EditError as first:
        if not _blank_first(block):
            raise
        # aider's well-known case: a blank line the model put at the top of SEARCH. Tried before any
        # fuzzy match, which would take the file's line above for that blank line and replace it.
        # REPLACE loses a blank first line too only when the model padded both alike
        drop = 1 if _leading_blanks(new_lines) == _leading_blanks(block) else 0
        try:
            m = find_block(fl.lines, block[1:], path=path, advice=_ADVICE)
        except EditError:
            raise first from None
        block, new_lines = block[1:], new_lines[drop:]
        how.append("the blank first line of SEARCH is not in the file there, so it was matched without it")
    if m.level == "fuzzy":
        how.append(f"the SEARCH text matched only approximately ({m.ratio:.0%} similar)")
    if not m.shift.is_identity and any(x.strip() for x in new_lines):
        how.append(f"the REPLACE lines were re-indented {m.shift.describe()}, as the SEARCH lines are in the file")
    new, restyled = conform(m.reindent(new_lines), file_style_if_patch_differs(fl.lines, block))
    if restyled:
        how.append(restyle_note("REPLACE lines", indent_style(fl.lines)))
    if how and notes is not None:
        where = f"line {m.start + 1}" if m.end - m.start == 1 else f"lines {m.start + 1}-{m.end}"
        notes.append(f"{path}: SEARCH/REPLACE placed at {where}: " + "; ".join(how))
    out = FileLines(fl.lines[: m.start] + new + fl.lines[m.end:], fl.eol, fl.final_newline if fl.lines else True)
    return join_text(out)


def _leading_blanks(lines: list[str]) -> int:
    return next((k for k, line in enumerate(lines) if line.strip()), len(lines))


def _blank_first(block: list[str]) -> bool:
    return len(block) >= 2 and not block[0].strip()


_ADVICE = "include more surrounding lines in SEARCH so it matches exactly one"


def _occurrences(text: str, needle: str) -> list[int]:
    """Start offsets of every (overlapping) occurrence; stops counting after a few.

    A needle of several lines counts only where it starts a line: one starting mid-line would
    join or split lines the model quoted whole (a SEARCH whose first line is a spurious blank
    would otherwise eat the line ending above it)."""
    whole_lines = "\n" in needle
    out: list[int] = []
    i = text.find(needle)
    while i != -1 and len(out) < 6:
        if not whole_lines or i == 0 or text[i - 1] == "\n":
            out.append(i)
        i = text.find(needle, i + 1)
    return out
