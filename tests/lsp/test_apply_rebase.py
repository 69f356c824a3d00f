"""Edits meet a user who keeps typing: a refusal because a document moved on is answered by a
rebase onto the current text and one more request; a change that no longer merges leaves that
file alone and says so; text typed while the run was in flight is merged before the first
request. And a client without showDocument gets the documents' paths in messages."""

from __future__ import annotations

import pytest
from lsp_harness import execute, run_updates, wait_finished, wait_until
from lsp_session import (
    FINDING_LINE,
    NEW_TEST_FILE,
    expected_init,
    expected_stats,
    make_project,
    options,
    session,
    tree,
)
from lsprotocol import types as lsp

USER_LINE = "# edited by the user while Baton was working\n"
CLIENTS = ["visual-studio-code", "neovim"]


def stats_edit(req: lsp.ApplyWorkspaceEditParams, uri: str) -> tuple[int | None, list] | None:
    """(version, edits) for one document in an edit request, whichever form it came in."""
    if req.edit.document_changes is not None:
        for c in req.edit.document_changes:
            if isinstance(c, lsp.TextDocumentEdit) and c.text_document.uri == uri:
                return c.text_document.version, list(c.edits)
        return None
    edits = (req.edit.changes or {}).get(uri)
    return None if edits is None else (None, list(edits))


@pytest.mark.parametrize("caps", CLIENTS)
async def test_stale_document_is_rebased_and_asked_once_more(tmp_path, scripted, editor, caps):
    root = make_project(tmp_path / "proj")
    client, state = await editor([root], caps, options(scripted(session()).url))
    stats_uri = state.open("textkit/stats.py")
    original = tree(root)
    state.policy = "stale-then-apply"

    def user_types(params):
        if len(state.edit_requests) == 1:  # the user typed just before the editor got the edit
            state.type_into(stats_uri, USER_LINE + state.text(stats_uri))
    state.before_answer = user_types

    run_id = (await execute(client, "baton.planImplementReview", {"task": "Add top_words."}))["runId"]
    await wait_finished(client, run_id)
    await wait_until("the second edit request to be applied", state.applied.is_set)
    assert len(state.edit_requests) == 2
    first, second = (stats_edit(r, stats_uri) for r in state.edit_requests)
    if caps == "visual-studio-code":
        assert first[0] == 1 and second[0] == 2  # the rebased edit is for the version the editor has now
    # the rebased edits keep the user's line and add the proposal
    assert tree(root)["textkit/stats.py"] == USER_LINE + expected_stats(original["textkit/stats.py"])
    assert tree(root)["tests/test_top_words.py"] == NEW_TEST_FILE
    await wait_until("the outcome message", lambda: any("after a rebase" in m.message for m in client.messages))
    # the review's finding follows its line through the rebase (one line down)
    diags = await wait_until("diagnostics", lambda: client.diagnostics.get(stats_uri))
    assert [d.range.start.line for d in diags] == [FINDING_LINE]  # 0-based: FINDING_LINE - 1, plus the user's line
    assert state.text(stats_uri).splitlines()[FINDING_LINE].strip().startswith("raise ValueError")


async def test_a_conflicting_change_leaves_that_file_alone(tmp_path, scripted, editor):
    root = make_project(tmp_path / "proj")
    client, state = await editor([root], "visual-studio-code", options(scripted(session()).url))
    stats_uri = state.open("textkit/stats.py")
    original = tree(root)
    mine = "\n\ndef top_words(text, n):\n    return []\n"

    def user_writes_the_same_function(params):
        if len(state.edit_requests) == 1:
            state.type_into(stats_uri, state.text(stats_uri) + mine)
            return
    state.before_answer = user_writes_the_same_function
    state.policy = "stale-then-apply"

    run_id = (await execute(client, "baton.planImplementReview", {"task": "Add top_words."}))["runId"]
    await wait_finished(client, run_id)
    await wait_until("the second edit request to be applied", state.applied.is_set)
    second = state.edit_requests[1]
    assert stats_edit(second, stats_uri) is None  # nothing for the conflicting file
    assert state.text(stats_uri) == original["textkit/stats.py"] + mine  # the user's text is untouched
    after = tree(root)
    assert after["textkit/stats.py"] == original["textkit/stats.py"]
    assert after["textkit/__init__.py"] == expected_init(original["textkit/__init__.py"])
    msg = await wait_until("the outcome message",
                           lambda: next((m.message for m in client.messages if "left alone" in m.message), None))
    assert "textkit/stats.py" in msg and "overlap" in msg
    assert client.diagnostics.get(stats_uri) in (None, [], ())  # findings are about the proposal: not shown


async def test_text_typed_during_the_run_is_merged_before_the_first_request(tmp_path, scripted, editor):
    root = make_project(tmp_path / "proj")
    client, state = await editor([root], "visual-studio-code", options(scripted(session()).url))
    stats_uri = state.open("textkit/stats.py")
    original = tree(root)
    run_id = (await execute(client, "baton.planImplementReview", {"task": "Add top_words.", "confirmPlan": True}))["runId"]
    await wait_until("the plan gate", lambda: any(u["status"] == "waiting" for u in run_updates(client, run_id)))
    state.type_into(stats_uri, USER_LINE + original["textkit/stats.py"])  # version 2
    await execute(client, "baton.continueRun", {"runId": run_id})
    await wait_finished(client, run_id)
    await wait_until("the edit", state.applied.is_set)
    assert len(state.edit_requests) == 1
    version, _ = stats_edit(state.edit_requests[0], stats_uri)
    assert version == 2
    assert state.text(stats_uri) == USER_LINE + expected_stats(original["textkit/stats.py"])


async def test_client_without_show_document_gets_messages_with_the_paths(tmp_path, scripted, editor):
    """Neovim 0.7 has no window/showDocument: the paths come as window/showMessage."""
    root = make_project(tmp_path / "proj")
    client, state = await editor([root], "neovim@v0.7.0", options(scripted(session()).url))
    run_id = (await execute(client, "baton.planImplementReview", {"task": "Add top_words."}))["runId"]
    await wait_finished(client, run_id)
    await wait_until("the edit", state.applied.is_set)
    run_dir = root / ".baton" / "runs" / run_id
    assert client.shown_documents == []
    for name in ("plan.md", "review.md"):
        await wait_until(f"a message naming {name}",
                         lambda n=name: any(m.message.endswith(f"{n} is ready: .baton/runs/{run_id}/{n}")
                                            for m in client.messages))
    shown = await execute(client, "baton.showRun", {"runId": run_id})
    assert shown["plan"] == (run_dir / "plan.md").as_uri()
    assert client.shown_documents == []
    assert tree(root)["tests/test_top_words.py"] == NEW_TEST_FILE
