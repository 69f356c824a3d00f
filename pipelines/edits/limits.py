"""Size limits on a change: files it touches and bytes per file.

A model asked to refactor never writes 10,000 files or a 100 MB line; one that does is broken
or hostile, and each such change would become several huge artifacts and a huge request to
the reviewer. The limits (Settings.max_change_files, max_change_file_bytes) are far above any
real change and come with an error that says what was too big and which setting raises it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..models import ChangeSet
from .errors import EditError

DEFAULT_MAX_FILES = 2_000
DEFAULT_MAX_FILE_BYTES = 4_000_000


class ChangeTooLarge(EditError):
    """A change past a size limit; nothing of it was applied or recorded."""


@dataclass(frozen=True)
class ChangeLimits:
    max_files: int = DEFAULT_MAX_FILES
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES

    def check_file_count(self, paths: Iterable[object], what: str = "the change") -> None:
        touched = set(paths)
        if len(touched) > self.max_files:
            raise ChangeTooLarge(
                f"{what} touches {len(touched)} files; at most {self.max_files} are allowed (max_change_files). "
                "Make a smaller change, e.g. one module at a time")

    def check(self, cs: ChangeSet, what: str = "the change") -> None:
        """Raise ChangeTooLarge when `cs` touches too many files or writes too big a file."""
        self.check_file_count(cs.paths, what)
        for edit in cs.edits:
            if edit.new_text is None:
                continue
            chars = len(edit.new_text)  # bytes >= characters: no need to encode a 100 MB text to refuse it
            size = chars if chars > self.max_file_bytes else len(edit.new_text.encode("utf-8"))
            if size > self.max_file_bytes:
                raise ChangeTooLarge(
                    f"{edit.target_path}: {what} would make it {size:,} bytes or more; at most {self.max_file_bytes:,} "
                    "are allowed per file (max_change_file_bytes). Generated or data files do not belong in "
                    "a code change", path=edit.target_path)
