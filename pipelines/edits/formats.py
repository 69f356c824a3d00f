"""Pick the edit format of a patch text and turn it into a ChangeSet (what the CLI and the
apply_patch tool call, so both go through the same code)."""

from __future__ import annotations

from typing import Literal

from ..models import ChangeSet
from .apply_patch import changeset_from_apply_patch, looks_like_apply_patch
from .errors import EditError
from .search_replace import changeset_from_search_replace, looks_like_search_replace
from .source import TextSource

PatchFormat = Literal["apply_patch", "search_replace"]


def detect_format(text: str) -> PatchFormat:
    if looks_like_apply_patch(text):
        return "apply_patch"
    if looks_like_search_replace(text):
        return "search_replace"
    if not text.strip():
        raise EditError("the patch is empty")
    raise EditError(
        "not a patch: expected the apply_patch format (a '*** Begin Patch' line ... '*** End Patch') "
        "or SEARCH/REPLACE blocks (a path line, '<<<<<<< SEARCH', old lines, '=======', new lines, "
        "'>>>>>>> REPLACE')"
    )


def changeset_from_patch(text: str, source: TextSource, summary: str = "") -> ChangeSet:
    if detect_format(text) == "apply_patch":
        return changeset_from_apply_patch(text, source, summary)
    return changeset_from_search_replace(text, source, summary)
