"""Errors that stop a command before it starts anything: a missing API key (refused at once,
with data.reason for the client), bad settings, unknown commands. Malformed arguments are in
test_command_arguments.py."""

from __future__ import annotations

import pytest
from lsp_harness import execute
from lsp_session import make_project, options, server_env, session
from pygls.exceptions import JsonRpcException, JsonRpcInvalidRequest

from baton.pipelines.trust import WorkspaceNotTrusted
from baton.server.options import settings_for
from baton.server.start_commands import require_key


async def test_the_command_list_is_advertised(tmp_path, scripted, editor):
    root = make_project(tmp_path / "proj")
    _, state = await editor([root], "visual-studio-code", options(scripted(session()).url))
    provider = state.init_result.capabilities.execute_command_provider
    assert set(provider.commands) == {
        "baton.planImplementReview", "baton.parallelModules", "baton.cancelRun", "baton.continueRun", "baton.listRuns", "baton.showRun",
        "baton.applyRun", "baton.showStats", "baton.proposedFiles", "baton.proposedContent", "baton.dismissRun",
        "baton.dismissFinding", "baton.triageFixValidate"}


async def test_missing_api_key_is_refused_at_once(tmp_path, editor):
    """No baseUrl, no key, no OPENAI_API_KEY: Baton would talk to api.openai.com without a key."""
    root = make_project(tmp_path / "proj")
    env = server_env()
    assert "OPENAI_API_KEY" not in env
    client, state = await editor([root], "visual-studio-code", {"baton": {"models": {"planner": "o4-mini"}}}, env=env)
    with pytest.raises(JsonRpcInvalidRequest) as caught:
        await execute(client, "baton.planImplementReview", {"task": "Add top_words."})
    assert caught.value.data == {"reason": "missingApiKey"}
    assert "No API key" in caught.value.message and "OPENAI_API_KEY" in caught.value.message
    assert client.progress_reports == {} and state.edit_requests == []
    assert not (root / ".baton" / "runs").exists()


def test_api_key_may_come_from_the_environment(tmp_path):
    """The same check passes when the server's environment has OPENAI_API_KEY (no network needed)."""
    root = make_project(tmp_path / "proj")
    with_key, _ = settings_for(root, {}, env={"OPENAI_API_KEY": "sk-from-the-environment-123"})
    require_key(with_key)  # does not raise
    assert with_key.api_key_value() == "sk-from-the-environment-123"
    without, _ = settings_for(root, {}, env={})
    with pytest.raises(JsonRpcInvalidRequest) as caught:
        require_key(without)
    assert caught.value.data == {"reason": "missingApiKey"}
    local, _ = settings_for(root, {"baseUrl": "http://127.0.0.1:11434/v1"}, env={})
    require_key(local)  # a local endpoint needs no key


async def test_bad_settings_are_reported_and_dropped_a_bad_baton_toml_refuses_the_run(tmp_path, scripted, editor):
    root = make_project(tmp_path / "proj", baton_toml="max_turns = 'many'\n")
    llm = scripted(session())
    opts = options(llm.url, maxRetries="lots")
    client, state = await editor([root], "visual-studio-code", opts)
    with pytest.raises(JsonRpcInvalidRequest) as caught:
        await execute(client, "baton.planImplementReview", {"task": "Add top_words."})
    assert "baton.toml" in caught.value.message and "max_turns" in caught.value.message
    shown = [m.message for m in client.messages]
    assert any("max_retries" in m and "ignoring" in m for m in shown), shown
    assert llm.requests == [] and client.progress_reports == {}


async def test_unknown_command_is_an_error(tmp_path, scripted, editor):
    root = make_project(tmp_path / "proj")
    client, _ = await editor([root], "visual-studio-code", options(scripted(session()).url))
    with pytest.raises(JsonRpcException) as caught:
        await execute(client, "baton.noSuchCommand", {})
    assert "baton.noSuchCommand" in caught.value.message


async def test_a_committed_test_command_or_workspace_settings_need_trust(tmp_path, scripted, editor):
    """The repository's baton.toml and the editor's workspace settings may not choose what runs
    until the user trusts the workspace; the refusal names the setting, the place and the remedy."""
    root = make_project(tmp_path / "proj", baton_toml='test_command = "touch owned"\n')
    llm = scripted(session())
    opts = options(llm.url)
    del opts["baton"]["testCommand"]  # so the repository's value would take effect
    client, _ = await editor([root], "visual-studio-code", opts)
    with pytest.raises(JsonRpcInvalidRequest) as caught:
        await execute(client, "baton.planImplementReview", {"task": "Add top_words."})
    assert caught.value.data == {"reason": "untrustedWorkspace", "source": str(root / "baton.toml"),
                                 "settings": ["test_command"]}
    assert "`test_command` comes from the workspace" in caught.value.message
    assert f"baton trust --workspace {root}" in caught.value.message
    assert llm.requests == [] and client.progress_reports == {} and not (root / "owned").exists()
    assert not (root / ".baton" / "runs").exists()


def test_workspace_settings_count_only_when_the_editor_trusts_the_workspace(tmp_path):
    root = make_project(tmp_path / "proj")
    untrusted = {"baseUrl": "http://127.0.0.1:9/v1", "workspaceTrusted": False,
                 "workspaceSettings": {"baseUrl": "http://attacker.invalid/v1", "maxTurns": "x"}}
    with pytest.raises(WorkspaceNotTrusted) as caught:
        settings_for(root, untrusted, env={})
    assert caught.value.source == "editor workspace settings (baton.*)" and caught.value.keys == ["base_url"]
    settings, warnings = settings_for(root, {**untrusted, "workspaceTrusted": True}, env={})
    assert settings.base_url == "http://attacker.invalid/v1"
    assert warnings == ["Baton: ignoring the editor workspace setting `max_turns`: Input should be a valid "
                        "integer, unable to parse string as an integer (got 'x')"]
