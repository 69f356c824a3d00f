"""Text as lines, with the file's line ending and final newline remembered.

Edits compare and replace lines without their endings; writing the file back uses the
ending and final-newline state the file had, so a patch written with LF applied to a CRLF
file keeps CRLF, and a file without a final newline keeps lacking one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from .errors import BinaryFileError

LineStyle = Literal["crlf", "lf", "mixed", "none"]
_BARE_LF = re.compile(r"(?<!\r)\n")


@dataclass
class FileLines:
    """A text split into lines. `eol` is "\\r\\n" only when every line ending was CRLF."""

    lines: list[str]
    eol: str = "\n"
    final_newline: bool = True


def split_text(text: str) -> FileLines:
    """Split on "\\n". A CRLF-only text loses its "\\r"s into `eol`; mixed texts keep them as content."""
    if text == "":
        return FileLines([], "\n", False)
    pieces = text.split("\n")
    final_newline = pieces[-1] == ""
    if final_newline:
        pieces.pop()
    terminated = pieces if final_newline else pieces[:-1]
    if terminated and all(p.endswith("\r") for p in terminated):
        for i in range(len(terminated)):
            pieces[i] = pieces[i][:-1]
        return FileLines(pieces, "\r\n", final_newline)
    return FileLines(pieces, "\n", final_newline)


def join_text(fl: FileLines) -> str:
    """Inverse of split_text: join_text(split_text(t)) == t for every t."""
    if not fl.lines:
        return ""
    return fl.eol.join(fl.lines) + (fl.eol if fl.final_newline else "")


def line_style(text: str) -> LineStyle:
    lf = text.count("\n")
    if lf == 0:
        return "none"
    crlf = text.count("\r\n")
    if crlf == lf:
        return "crlf"
    return "lf" if crlf == 0 else "mixed"


def to_crlf(text: str) -> str:
    return _BARE_LF.sub("\r\n", text)


def split_keepends(text: str) -> list[str]:
    """Lines with their "\\n" kept ("\\r" stays part of the line): the unit of diffs and SEARCH text."""
    if text == "":
        return []
    out = text.split("\n")
    last = out.pop()
    out = [line + "\n" for line in out]
    if last:
        out.append(last)
    return out


def decode_text(data: bytes, rel: str) -> str:
    """UTF-8 text of a file, or BinaryFileError for NUL bytes / invalid UTF-8."""
    if b"\0" in data:
        raise BinaryFileError(f"{rel}: is a binary file (it contains NUL bytes); Baton edits text files only", path=rel)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BinaryFileError(
            f"{rel}: is not UTF-8 text (invalid byte at offset {e.start}); Baton edits text files only", path=rel
        ) from None


def check_writable_text(text: str, rel: str) -> None:
    """Refuse new content that would make a binary file."""
    if "\0" in text:
        raise BinaryFileError(f"{rel}: the new content contains NUL bytes; Baton writes text files only", path=rel)
