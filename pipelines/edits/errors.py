"""Errors of the edit layer. Their messages go back to the model verbatim, so each one says
what was wrong, where, and what to do instead."""

from __future__ import annotations

from ..errors import BatonError
from ..workspace.paths import PathRefused


class EditError(BatonError, ValueError):
    """An edit could not be parsed, matched or applied; nothing was written."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        self.path = path
        super().__init__(message)


class BinaryFileError(EditError):
    """The file holds binary data (NUL bytes or not UTF-8); Baton edits text files only."""


# What callers catch around any edit call: a bad edit, or a path the workspace refuses.
EDIT_ERRORS: tuple[type[Exception], ...] = (EditError, PathRefused)
