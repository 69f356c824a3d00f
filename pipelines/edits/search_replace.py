"""SEARCH/REPLACE blocks (aider's edit format), parsed and applied.

    path/to/file.py
    ```python                      (optional fence)
    <<<<<<< SEARCH
    old lines
    =======
    new lines
    >>>>>>> REPLACE
    ```

The path is the nearest line before the block that is not a fence, when it looks like a path
(pathlines.py: an existing file, or a new one whose folder exists); prose there ("...",
"Then:") is skipped and the block reuses the previous block's path, so several blocks per
file need the path only once. An empty SEARCH on a missing file creates it. Extension: `\\ No newline at end of file` right
after a section means that section's text has no final newline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..models import ChangeSet
from .builder import ChangeBuilder
from .errors import EditError
from .pathlines import LOOKBACK, PathJudge
from .source import TextSource

SEARCH_RE = re.compile(r"^\s*<{5,9} SEARCH\s*$")
DIVIDER_RE = re.compile(r"^\s*={5,9}\s*$")
REPLACE_RE = re.compile(r"^\s*>{5,9} REPLACE\s*$")
NO_NEWLINE = "\\ No newline at end of file"


@dataclass
class Block:
    path: str
    search: str
    replace: str
    line: int  # patch line of `<<<<<<< SEARCH`


def looks_like_search_replace(text: str) -> bool:
    return any(SEARCH_RE.match(line) for line in text.splitlines())


def parse_search_replace(text: str, judge: PathJudge | None = None) -> list[Block]:
    """The blocks of `text`. The judge (PathJudge.for_source) checks path lines against the files;
    without one only their shape counts."""
    judge = judge or PathJudge()
    if text.count("\n") and text.count("\n") == text.count("\r\n"):
        text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    blocks: list[Block] = []
    candidates: list[tuple[str, int]] = []  # the last few non-fence lines (and numbers) before a block
    last_path: str | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if SEARCH_RE.match(line):
            start = i + 1
            path = judge.path_for(candidates, last_path) if candidates else last_path
            if path is None:
                raise EditError(
                    f"SEARCH/REPLACE line {start}: no file path before this block; put the path alone on "
                    "the line before '<<<<<<< SEARCH' (or before its ``` fence)"
                )
            search, i = _section(lines, i + 1, DIVIDER_RE, "'=======' divider", start)
            replace, i = _section(lines, i + 1, REPLACE_RE, "'>>>>>>> REPLACE' line", start)
            blocks.append(Block(path, search, replace, start))
            last_path, candidates = path, []
        elif DIVIDER_RE.match(line) or REPLACE_RE.match(line):
            raise EditError(f"SEARCH/REPLACE line {i + 1}: {line.strip()!r} outside a block; "
                            "each block starts with '<<<<<<< SEARCH'")
        elif line.strip() and not line.strip().startswith("```"):
            candidates = [*candidates[-(LOOKBACK - 1):], (line, i + 1)]
        i += 1
    return blocks


def _section(lines: list[str], i: int, end: re.Pattern[str], what: str, start: int) -> tuple[str, int]:
    """The text from line i up to the `end` marker, and the marker's index."""
    body: list[str] = []
    while i < len(lines):
        line = lines[i]
        if end.match(line):
            if body and body[-1] == NO_NEWLINE:
                return "\n".join(body[:-1]), i
            return "".join(b + "\n" for b in body), i
        if SEARCH_RE.match(line) or (end is DIVIDER_RE and REPLACE_RE.match(line)):
            break
        body.append(line)
        i += 1
    raise EditError(
        f"SEARCH/REPLACE line {start}: the block has no {what}; a block is '<<<<<<< SEARCH', the old "
        "lines, '=======', the new lines, '>>>>>>> REPLACE'"
    )


def apply_blocks(builder: ChangeBuilder, blocks: list[Block]) -> None:
    for n, block in enumerate(blocks, 1):
        try:
            builder.replace(block.path, block.search, block.replace)
        except EditError as e:
            if len(blocks) == 1:
                raise
            raise EditError(f"SEARCH/REPLACE block {n} (line {block.line}): {e}", path=e.path) from None


def changeset_from_search_replace(text: str, source: TextSource, summary: str = "") -> ChangeSet:
    blocks = parse_search_replace(text, PathJudge.for_source(source))
    if not blocks:
        raise EditError("SEARCH/REPLACE: no blocks found; a block starts with a line '<<<<<<< SEARCH'")
    builder = ChangeBuilder(source)
    apply_blocks(builder, blocks)
    return builder.changeset(summary)
