"""Which line above a SEARCH/REPLACE block names its file, and which is only prose.

A model writes prose around its blocks: "...", "Then:", "Here is the fix". Taken for a path,
such a line creates a file literally named `...` or `Then`, or sends the next block to a file
that does not exist. A line is a path only when it looks like one: the path of a file that
exists, or of a new file whose folder exists and whose name has an extension or is a known
extension-less name (Makefile, Dockerfile, ...). Prose is skipped (the block keeps the previous
block's path); a line that looks like a path but names nowhere is refused, saying which line.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass

from ..workspace.paths import PathRefused
from .errors import EditError
from .source import TextSource, canonical_path

KNOWN_NAMES = frozenset({
    "Makefile", "GNUmakefile", "Dockerfile", "Containerfile", "LICENSE", "LICENCE", "COPYING", "NOTICE",
    "README", "CHANGELOG", "AUTHORS", "CODEOWNERS", "Procfile", "Gemfile", "Rakefile", "Justfile", "justfile",
    "Vagrantfile", "Jenkinsfile", "Brewfile", "Pipfile", "MANIFEST", "VERSION", "OWNERS",
})
_EXTENSION = re.compile(r"^[^.].*\.[A-Za-z0-9_+-]{1,12}$|^\.[A-Za-z0-9_.+-]+$")  # name.ext or .dotfile
_DECORATION = "`*'\""
LOOKBACK = 3  # non-blank lines above a block searched for its path (as aider's find_filename)


@dataclass(frozen=True)
class PathLine:
    text: str  # the cleaned path
    looks_like_path: bool  # False: prose


def clean_path_line(line: str) -> PathLine:
    """The path a line would name once markdown decoration is removed, and whether it looks like one."""
    p = line.strip().lstrip("#").strip().strip(_DECORATION).strip()
    p = p.rstrip(":").strip().strip(_DECORATION).strip()
    if not p or any(c.isspace() for c in p) or "..." in p or not any(c.isalnum() for c in p):
        return PathLine(p, False)
    name = posixpath.basename(p.replace("\\", "/"))
    if _EXTENSION.match(name) or name in KNOWN_NAMES:
        return PathLine(p, True)
    return PathLine(p, False)


@dataclass(frozen=True)
class PathJudge:
    """What the workspace says about a candidate path (None: judge by its shape only)."""

    exists: Callable[[str], bool] | None = None
    folder_exists: Callable[[str], bool] | None = None

    @classmethod
    def for_source(cls, source: TextSource) -> PathJudge:
        def exists(path: str) -> bool:
            try:
                return source.read_text(canonical_path(source, path)) is not None
            except (EditError, PathRefused):
                return False

        def folder_exists(path: str) -> bool:
            try:
                folder = posixpath.dirname(canonical_path(source, path))
            except PathRefused:
                return True  # let the edit itself refuse the path, with the reason
            return has_folder(source, folder)

        return cls(exists, folder_exists)

    def path_for(self, candidates: list[tuple[str, int]], previous: str | None) -> str | None:
        """The block's path from the lines above it (nearest last): the nearest that is a path; if all
        are prose, the previous block's path; with neither, a refusal naming the nearest line."""
        for line, line_no in reversed(candidates):
            cand = clean_path_line(line)
            if (self.exists is not None and cand.text and self.exists(cand.text)) or cand.looks_like_path:
                return self._checked(line, line_no, cand)
        if previous is not None:
            return previous  # prose between blocks: the block keeps the previous block's path
        line, line_no = candidates[-1]
        raise EditError(
            f"SEARCH/REPLACE line {line_no}: {line.strip()!r} was taken for the file path, but it does not "
            "look like one (prose, '...', or a word without an extension); put the file's path alone "
            "on the line before '<<<<<<< SEARCH' (or before its ``` fence)"
        )

    def _checked(self, line: str, line_no: int, cand: PathLine) -> str:
        if self.exists is not None and self.exists(cand.text):
            return cand.text
        if self.folder_exists is not None and not self.folder_exists(cand.text):
            folder = posixpath.dirname(cand.text.replace("\\", "/"))
            raise EditError(
                f"SEARCH/REPLACE line {line_no}: {line.strip()!r} was taken for the file path, but neither "
                f"that file nor its folder {folder!r} exists; give the path of an existing file (relative to "
                "the workspace root), or create files in a new folder with write_file or '*** Add File:'"
            )
        return cand.text


def has_folder(source: TextSource, folder: str) -> bool:
    """Whether `folder` ('' for the root) exists in the source; sources that cannot tell say yes."""
    if folder in ("", "."):
        return True
    own = getattr(source, "has_folder", None)
    return bool(own(folder)) if callable(own) else True
