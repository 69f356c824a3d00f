"""Edit formats (apply_patch, SEARCH/REPLACE, whole file) into ChangeSets; matching; apply; diffs."""

from .apply import apply_changeset, check_changeset
from .apply_patch import changeset_from_apply_patch, parse_apply_patch
from .builder import ChangeBuilder, delete_file, replace_in_file, write_file
from .diff import DiffStats, FileStat, diff_stats, render_unified_diff
from .errors import EDIT_ERRORS, BinaryFileError, EditError
from .formats import changeset_from_patch, detect_format
from .render import render_apply_patch, render_search_replace
from .replace import replace_text
from .search_replace import changeset_from_search_replace, parse_search_replace
from .source import DirectorySource, MemorySource, TextSource

__all__ = [
    "EDIT_ERRORS",
    "BinaryFileError",
    "ChangeBuilder",
    "DiffStats",
    "DirectorySource",
    "EditError",
    "FileStat",
    "MemorySource",
    "TextSource",
    "apply_changeset",
    "changeset_from_apply_patch",
    "changeset_from_patch",
    "changeset_from_search_replace",
    "check_changeset",
    "delete_file",
    "detect_format",
    "diff_stats",
    "parse_apply_patch",
    "parse_search_replace",
    "render_apply_patch",
    "render_search_replace",
    "render_unified_diff",
    "replace_in_file",
    "replace_text",
    "write_file",
]
