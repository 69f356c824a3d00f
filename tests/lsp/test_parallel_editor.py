"""baton.parallelModules from the editor: the run id at once, "k/n modules merged" progress, and
one workspace edit for the merged result with one change annotation per module, so the user
can accept module by module (here: the edit's own annotations, applied one module at a time)."""

from __future__ import annotations

import pytest
from lsp_harness import execute, progress_kinds, wait_finished, wait_until
from lsp_session import PY, make_project, options, tree
from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcInvalidParams

from baton.server.edits import apply_text_edits

PASSING = f"{PY} -c \"import textkit\""
STATS, TESTS = "textkit/stats.py", "tests/test_stats.py"


def routed(module: str, name: str, **arguments: object) -> dict[str, object]:
    return {"when": [f"# Your module: {module}"], "tool_calls": [{"name": name, "arguments": arguments}]}


def script() -> dict[str, object]:
    return {
        "t-coder": [
            routed(STATS, "replace_in_file", path=STATS, search='"""Counting words."""',
                   replace='"""Counting words (module A)."""'),
            routed(STATS, "submit_changes", summary="A done."),
            routed("tests", "replace_in_file", path=TESTS, search="from textkit import word_count, words",
                   replace="from textkit import word_count, words  # module B"),
            routed("tests", "submit_changes", summary="B done."),
        ],
        "t-reviewer": [{"tool_calls": [{"name": "submit_review", "arguments": {
            "verdict": "approved", "summary": "Both modules are fine.", "findings": []}}]}],
    }


async def test_parallel_run_sends_one_edit_with_an_annotation_per_module(tmp_path, scripted, editor):
    root = make_project(tmp_path / "proj")
    llm = scripted(script())
    client, state = await editor([root], "visual-studio-code", options(llm.url, testCommand=PASSING))
    original = tree(root)
    answer = await execute(client, "baton.parallelModules", {
        "task": "Mark each module.", "modules": [(root / "textkit/stats.py").as_uri(), (root / "tests").as_uri()]})
    run_id = answer["runId"]
    final = await wait_finished(client, run_id)
    assert final["status"] == "succeeded", final
    await wait_until("the edit to be applied", state.applied.is_set)

    messages = [r.message for r in progress_kinds(client, run_id) if isinstance(r, lsp.WorkDoneProgressReport)]
    assert "0/2 modules merged" in messages and "2/2 modules merged" in messages, messages

    assert len(state.edit_requests) == 1
    edit = state.edit_requests[0].edit
    ann = edit.change_annotations
    assert sorted(a.label for a in ann.values()) == ["Module tests", "Module textkit/stats.py"]
    assert all(a.needs_confirmation for a in ann.values())
    docs = {c.text_document.uri: c for c in edit.document_changes if isinstance(c, lsp.TextDocumentEdit)}
    by_module: dict[str, dict[str, list[lsp.AnnotatedTextEdit]]] = {}
    for uri, change in docs.items():
        for e in change.edits:
            by_module.setdefault(ann[e.annotation_id].label, {}).setdefault(uri, []).append(e)
    # accepting only module A in Refactor Preview: A's file changes, B's does not
    only_a = {uri: apply_text_edits(original[uri.removeprefix(root.as_uri() + "/")], [(e.range, e.new_text) for e in es])
              for uri, es in by_module["Module textkit/stats.py"].items()}
    assert list(only_a) == [(root / STATS).as_uri()]
    assert only_a[(root / STATS).as_uri()].startswith('"""Counting words (module A)."""')
    assert set(by_module["Module tests"]) == {(root / TESTS).as_uri()}

    after = tree(root)  # the harness accepted the whole edit
    assert after[STATS].startswith('"""Counting words (module A)."""')
    assert "# module B" in after[TESTS]


async def test_modules_outside_the_workspace_are_refused(tmp_path, scripted, editor):
    root = make_project(tmp_path / "proj")
    other = tmp_path / "elsewhere"
    other.mkdir()
    llm = scripted(script())
    client, _ = await editor([root], "visual-studio-code", options(llm.url, testCommand=PASSING))
    original = tree(root)
    with pytest.raises(JsonRpcInvalidParams, match="baton.parallelModules: `scope`: .* is not inside an open workspace"):
        await execute(client, "baton.parallelModules", {"task": "x", "modules": [other.as_uri()]})
    with pytest.raises(JsonRpcInvalidParams, match="one of them is the workspace folder itself"):
        await execute(client, "baton.parallelModules", {"task": "x", "modules": [root.as_uri()]})
    with pytest.raises(JsonRpcInvalidParams, match="`modules`"):
        await execute(client, "baton.parallelModules", {"task": "x", "modules": "textkit"})
    assert tree(root) == original and llm.requests == []
