"""Run the peers' appliers on the benchmark's patches (inside benchmarks/.venv-peers, never Baton's venv).

    benchmarks/.venv-peers/bin/python benchmarks/edit_peers.py < tasks.json > results.json

tasks: [{"fmt": "apply_patch"|"search_replace", "path": ..., "before": ..., "patch": ...}]
results: one per task: {"agents": text | null | "n/a", "aider": text | null | "n/a"} (null: refused).

- OpenAI Agents SDK `agents.apply_diff.apply_diff(input, diff)` on each Update File section of an
  apply_patch text (the V4A format it implements).
- aider's SEARCH/REPLACE applier as its EditBlockCoder uses it: `find_original_update_blocks`
  (with the one file as the valid file names), then for each block what `do_replace` does
  without touching a disk (an empty SEARCH appends, or creates the named file; otherwise
  `replace_most_similar_chunk`, and a block naming a missing file is tried on the file in the chat).
  aider reads the file's text as it is (CRLF kept), as here.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import sys
from pathlib import Path


@functools.cache
def _agents_apply_diff():  # noqa: ANN202
    """agents/apply_diff.py loaded from the installed openai-agents wheel by itself: the package's
    __init__ imports the whole SDK, which needs a newer openai than aider-chat pins in the same venv."""
    spec = importlib.util.find_spec("agents")
    assert spec is not None and spec.submodule_search_locations, "openai-agents is not installed"
    path = Path(next(iter(spec.submodule_search_locations))) / "apply_diff.py"
    mod_spec = importlib.util.spec_from_file_location("agents_apply_diff", path)
    assert mod_spec is not None and mod_spec.loader is not None
    module = importlib.util.module_from_spec(mod_spec)
    sys.modules["agents_apply_diff"] = module
    mod_spec.loader.exec_module(module)
    return module.apply_diff


def agents_apply(path: str, before: str, patch: str) -> str | None:
    apply_diff = _agents_apply_diff()

    body = patch.replace("\r\n", "\n").split("\n")
    start = next((i for i, line in enumerate(body) if line.strip() == f"*** Update File: {path}"), None)
    if start is None:
        return None
    end = next((i for i in range(start + 1, len(body)) if body[i].strip() == "*** End Patch"), len(body))
    try:
        return apply_diff(before, "\n".join(body[start + 1:end]) + "\n")
    except Exception:  # noqa: BLE001 - any failure of the peer is a refusal
        return None


def aider_apply(path: str, before: str, patch: str) -> str | None:
    from aider.coders.editblock_coder import (
        DEFAULT_FENCE,
        find_original_update_blocks,
        replace_most_similar_chunk,
    )

    try:
        blocks = list(find_original_update_blocks(patch, DEFAULT_FENCE, [path]))
    except ValueError:
        return None
    text = before
    for fname, search, replace in blocks:
        if fname != path and not search.strip():
            return f"(created another file: {fname!r})"  # as do_replace does for a missing file
        if not search.strip():
            text = text + replace
            continue
        # A block for a missing file is tried on the files in the chat (here: the one file), as apply_edits does.
        out = replace_most_similar_chunk(text, search, replace)
        if not out:
            return None
        text = out
    return text


def main() -> None:
    tasks = json.load(sys.stdin)
    results = []
    for t in tasks:
        if t["fmt"] == "apply_patch":
            results.append({"agents": agents_apply(t["path"], t["before"], t["patch"]), "aider": "n/a"})
        else:
            results.append({"agents": "n/a", "aider": aider_apply(t["path"], t["before"], t["patch"])})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
