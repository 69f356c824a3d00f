"""SEARCH/REPLACE on one text: exact substring first, then line matching (see matching.py).

Line endings: when the file is CRLF and the SEARCH text is LF (or one line), both texts are
converted to CRLF, so a model's LF edit keeps the file CRLF. A SEARCH text written in the
file's own style is used byte for byte, which lets a rendered change reproduce any file.
"""

from __future__ import annotations

from .errors import EditError
from .matching import ambiguous_error, find_block
from .text import FileLines, join_text, line_style, split_text, to_crlf


def replace_text(text: str, search: str, replace: str, *, path: str) -> str:
    """Return `text` with the one place matching `search` replaced by `replace`, or raise EditError."""
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
    m = find_block(fl.lines, block, path=path, advice=_ADVICE)
    new = m.reindent(split_text(replace).lines) if replace else []
    out = FileLines(fl.lines[: m.start] + new + fl.lines[m.end:], fl.eol, fl.final_newline if fl.lines else True)
    return join_text(out)


_ADVICE = "include more surrounding lines in SEARCH so it matches exactly one"


def _occurrences(text: str, needle: str) -> list[int]:
    """Start offsets of every (overlapping) occurrence; stops counting after a few."""
    out: list[int] = []
    i = text.find(needle)
    while i != -1 and len(out) < 6:
        out.append(i)
        i = text.find(needle, i + 1)
    return out
