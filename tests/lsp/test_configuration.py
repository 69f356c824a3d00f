"""Configuration from initializationOptions, pushed with workspace/didChangeConfiguration
(section `baton`), or pulled with workspace/configuration when the client sends `settings:
null`; needsConfirmation reaches the change annotations."""

from __future__ import annotations

from lsp_harness import execute, wait_finished, wait_until
from lsp_session import make_project, options, session
from lsprotocol import types as lsp


def annotations_need_confirmation(state) -> set[bool]:
    return {a.needs_confirmation for a in (state.edit_requests[-1].edit.change_annotations or {}).values()}


async def test_pushed_configuration_replaces_the_initial_options(tmp_path, scripted, editor):
    root = make_project(tmp_path / "proj")
    llm = scripted(session())
    # started with models the script does not know; the settings push fixes them
    client, state = await editor([root], "visual-studio-code", options(llm.url, prefix="wrong"))
    client.workspace_did_change_configuration(lsp.DidChangeConfigurationParams(
        settings=options(llm.url, needsConfirmation=False)))
    run_id = (await execute(client, "baton.planImplementReview", {"task": "Add top_words."}))["runId"]
    assert (await wait_finished(client, run_id))["status"] == "succeeded"
    await wait_until("the edit", state.applied.is_set)
    assert {r.model for r in llm.requests} == {"t-planner", "t-coder", "t-reviewer"}
    assert annotations_need_confirmation(state) == {False}


async def test_settings_are_pulled_when_the_client_sends_none(tmp_path, scripted, editor):
    root = make_project(tmp_path / "proj")
    llm = scripted(session())
    section = options(llm.url)["baton"]
    client, state = await editor([root], "visual-studio-code", None, configuration={"baton": section})
    state.policy = "refuse"
    run_id = (await execute(client, "baton.planImplementReview", {"task": "Add top_words."}))["runId"]
    assert (await wait_finished(client, run_id))["status"] == "succeeded"
    await wait_until("the edit", state.answered.is_set)
    assert annotations_need_confirmation(state) == {True}  # the default

    # the user changes a setting; the client only says "changed" and the server asks again
    client.set_configuration({**section, "needsConfirmation": False}, section="baton")
    client.workspace_did_change_configuration(lsp.DidChangeConfigurationParams(settings=None))
    await wait_until("the server to log the update",
                     lambda: any("configuration updated" in m.message for m in client.log_messages))
    state.policy = "apply"
    answer = await execute(client, "baton.applyRun", {"runId": run_id})  # sends the same edit again
    assert answer["applied"] is True
    assert annotations_need_confirmation(state) == {False}

    # sending it once more finds the proposal already in the files: nothing to send
    again = await execute(client, "baton.applyRun", {"runId": run_id})
    assert again["applied"] is False and "already" in again["failureReason"]
    assert len(state.edit_requests) == 2
