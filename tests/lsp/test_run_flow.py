"""One whole run from the editor: command → run id at once → progress → plan.md and review.md
shown → one workspace/applyEdit whose edits turn the original text into the proposal →
findings as diagnostics with code actions. For VS Code's and Neovim's capabilities."""

from __future__ import annotations

import pytest
from lsp_harness import execute, progress_kinds, run_updates, wait_finished, wait_until
from lsp_session import (
    FINDING_LINE,
    NEW_TEST_FILE,
    SUGGESTION,
    expected_init,
    expected_stats,
    make_project,
    options,
    session,
    tree,
)
from lsprotocol import types as lsp

from baton.server.edits import apply_text_edits

CLIENTS = ["visual-studio-code", "neovim"]


@pytest.mark.parametrize("caps", CLIENTS)
async def test_run_from_command_to_applied_edit(tmp_path, scripted, editor, caps):
    root = make_project(tmp_path / "proj")
    llm = scripted(session())
    client, state = await editor([root], caps, options(llm.url))
    stats_uri = state.open("textkit/stats.py")
    original = tree(root)

    answer = await execute(client, "baton.planImplementReview", {"task": "Add top_words(text, n) to textkit."})
    run_id = answer["runId"]
    assert isinstance(run_id, str) and run_id
    # The command answered before the run got anywhere near the end: nothing applied yet.
    assert tree(root) == original

    final = await wait_finished(client, run_id)
    assert final["status"] == "succeeded" and final["verdict"] == "approved"
    await wait_until("the edit to be applied", state.applied.is_set)

    # progress: begin with the task, reports naming the steps, end with the outcome
    reports = progress_kinds(client, run_id)
    assert isinstance(reports[0], lsp.WorkDoneProgressBegin) and "top_words" in reports[0].title
    assert reports[0].cancellable is True
    messages = [r.message for r in reports if isinstance(r, lsp.WorkDoneProgressReport)]
    for step in ("planning", "implementing", "reviewing"):
        assert any(m and m.startswith(step) for m in messages), (step, messages)
    assert isinstance(reports[-1], lsp.WorkDoneProgressEnd) and "succeeded" in reports[-1].message
    steps = [u["step"] for u in run_updates(client, run_id) if u.get("step")]
    assert steps[:3] == ["plan", "implement", "review"]

    # documents: plan.md first, then review.md (neovim 0.11 and VS Code both support showDocument)
    run_dir = root / ".baton" / "runs" / run_id
    shown = [d.uri for d in client.shown_documents]
    assert shown == [(run_dir / "plan.md").as_uri(), (run_dir / "review.md").as_uri()]

    # exactly one edit request; its edits turn the original text into the proposal
    assert len(state.edit_requests) == 1
    edit = state.edit_requests[0].edit
    stats_after = expected_stats(original["textkit/stats.py"])
    if caps == "visual-studio-code":
        assert edit.changes is None
        docs = {c.text_document.uri: c for c in edit.document_changes if isinstance(c, lsp.TextDocumentEdit)}
        creates = [c.uri for c in edit.document_changes if isinstance(c, lsp.CreateFile)]
        assert creates == [(root / "tests/test_top_words.py").as_uri()]
        assert docs[stats_uri].text_document.version == 1  # the version the snapshot saw
        assert docs[(root / "textkit/__init__.py").as_uri()].text_document.version is None  # not open
        stats_edits = docs[stats_uri].edits
        assert len(stats_edits) == 2  # minimal hunks, not a whole-file replacement
        ann = edit.change_annotations
        assert all(e.annotation_id in ann for e in stats_edits)
        assert all(a.needs_confirmation is True for a in ann.values())
        assert any("Add top_words to textkit/stats.py" in (a.description or "") for a in ann.values())
        assert apply_text_edits(original["textkit/stats.py"], [(e.range, e.new_text) for e in stats_edits]) == stats_after
    else:  # Neovim advertises neither documentChanges nor annotations: the plain `changes` map
        assert edit.document_changes is None and edit.change_annotations is None
        stats_edits = edit.changes[stats_uri]
        assert len(stats_edits) == 2
        assert apply_text_edits(original["textkit/stats.py"], [(e.range, e.new_text) for e in stats_edits]) == stats_after

    after = tree(root)
    assert after["textkit/stats.py"] == stats_after
    assert after["textkit/__init__.py"] == expected_init(original["textkit/__init__.py"])
    assert after["tests/test_top_words.py"] == NEW_TEST_FILE
    assert set(after) == set(original) | {"tests/test_top_words.py"}

    # findings: a diagnostic on the proposed line, with "apply suggestion" and "dismiss" actions
    diags = await wait_until("the review's diagnostics", lambda: client.diagnostics.get(stats_uri))
    assert [(d.source, d.range.start.line) for d in diags] == [("baton", FINDING_LINE - 1)]
    actions = await client.text_document_code_action_async(lsp.CodeActionParams(
        text_document=lsp.TextDocumentIdentifier(uri=stats_uri), range=diags[0].range,
        context=lsp.CodeActionContext(diagnostics=list(diags))))
    titles = [a.title for a in actions]
    assert len(actions) == 2 and titles[1] == "Baton: dismiss this finding", titles
    fix = actions[0]
    new_stats = apply_text_edits(stats_after, [(e.range, e.new_text) for e in fix.edit.changes[stats_uri]])
    assert new_stats.splitlines()[FINDING_LINE - 1] == SUGGESTION
    assert fix.command.command == "baton.dismissFinding"
    # the editor applies the fix: the file changes, so the findings are cleared
    state.type_into(stats_uri, new_stats)
    await wait_until("the diagnostics to clear", lambda: len(client.diagnostics[stats_uri]) == 0)
