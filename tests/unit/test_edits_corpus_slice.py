"""A slice of the edit-accuracy corpus as a test: real commits and their model-mistake variants
(benchmarks/edit_variants.py) never apply wrongly, and canonical patches apply exactly.
The whole corpus, next to the peers, is benchmarks/bench_edit_accuracy.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from baton.pipelines.edits import EDIT_ERRORS, MemorySource, changeset_from_patch

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))
from edit_variants import apply_patch_variants, search_replace_variants  # noqa: E402

CORPUS = json.loads((BENCH / "edit_corpus" / "corpus.json").read_text(encoding="utf-8"))
SLICE = [CORPUS["items"][k] for k in (0, 41, 82)]  # one commit of each repository


@pytest.mark.parametrize("item", SLICE, ids=lambda it: it["id"])
def test_variants_of_a_real_commit_apply_exactly_or_are_refused(item):
    variants = [*apply_patch_variants(item["id"], item["path"], item["before"], item["after"]),
                *search_replace_variants(item["id"], item["path"], item["before"], item["after"])]
    assert {v.cls for v in variants} >= {"canonical", "trailing whitespace", "@@ anchor that does not exist"}
    for v in variants:
        try:
            cs = changeset_from_patch(v.patch, MemorySource({v.path: v.before}))
            got = cs.edits[0].new_text if cs.edits else v.before
        except EDIT_ERRORS:
            got = None
        assert got == v.expected or (got is None and v.cls != "canonical"), f"{v.fmt} / {v.cls}:\n{v.patch}"
