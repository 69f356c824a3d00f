"""The peers' own tests, transcribed as data (tests/unit/peer_cases/*.json), run against Baton.

OpenAI Codex's codex-rs/apply-patch scenarios and unit tests, and aider's test_editblock.py
(both Apache-2.0; sources, commits and every deliberate difference are in the JSON files).
Every case either produces the peer's expected files, or is a documented refusal: the error
must match, say what to do, and nothing is written.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from baton.pipelines.edits import (
    EDIT_ERRORS,
    MemorySource,
    changeset_from_patch,
    parse_search_replace,
    replace_text,
)
from baton.pipelines.edits.pathlines import PathJudge
from baton.pipelines.models import ChangeSet

HERE = Path(__file__).parent / "peer_cases"
FILES = sorted(HERE.glob("*.json"))


def load() -> list[Any]:
    out = []
    for f in FILES:
        doc = json.loads(f.read_text(encoding="utf-8"))
        assert doc["license"].startswith("Apache-2.0") and doc["source"].startswith("https://github.com/")
        out.extend(pytest.param(c, id=f"{f.stem}:{c['id']}") for c in doc["cases"])
    return out


CASES = load()


def tree_after(files: dict[str, str], cs: ChangeSet) -> dict[str, str]:
    out = dict(files)
    for e in cs.edits:
        out.pop(e.path, None)
        if e.new_text is not None:
            out[e.target_path] = e.new_text
    return out


def run(case: dict[str, Any]) -> Any:
    files = case["files"]
    if case["format"] == "replace_text":
        return {"whole.txt": replace_text(files["whole.txt"], case["search"], case["replace"], path="whole.txt")}
    if case["format"] == "parse_search_replace":
        blocks = parse_search_replace(case["patch"], PathJudge.for_source(MemorySource(files)))
        return [[b.path, b.search, b.replace] for b in blocks]
    return tree_after(files, changeset_from_patch(case["patch"], MemorySource(dict(files))))


def test_the_transcriptions_are_complete():
    assert {f.name for f in FILES} == {"codex_apply_patch.json", "aider_editblock.json"}
    assert len(CASES) >= 70
    for param in CASES:
        case = param.values[0]
        assert ("refuse" in case) != ("expect" in case or "blocks" in case), case["id"]
        if "refuse" in case:
            assert case["why"], f"{case['id']}: a refusal must say why it differs or agrees"


@pytest.mark.parametrize("case", CASES)
def test_peer_case(case):
    before = json.dumps(case["files"], sort_keys=True)
    if "refuse" in case:
        with pytest.raises(EDIT_ERRORS) as err:
            run(case)
        msg = str(err.value)
        assert re.search(case["refuse"], msg), msg
        # a refusal tells the model what to do (or exactly what is wrong with its text)
        assert re.search(r"use |put |give |add |quote |include |copy |change it|must |expected |has no |needs |does not "
                         r"exist|not a valid|could not be found", msg), msg
    else:
        got = run(case)
        assert got == case.get("expect", case.get("blocks"))
    assert json.dumps(case["files"], sort_keys=True) == before  # the input tree is never changed
