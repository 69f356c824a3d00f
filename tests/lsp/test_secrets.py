"""The API key never shows up in what the server logs (stderr, even at DEBUG where pygls logs
every message), in window/logMessage, in messages, or in the run's artifacts and trace."""

from __future__ import annotations

from lsp_harness import execute, wait_finished, wait_until
from lsp_session import make_project, options, session
from lsprotocol import types as lsp

KEY = "local-secret-7f3a9c2e5b1d"  # not sk-… shaped: only the registered-secret scrub can catch it


async def test_api_key_is_never_logged(tmp_path, scripted, editor, capfd):
    root = make_project(tmp_path / "proj")
    llm = scripted(session())
    opts = options(llm.url, apiKey=KEY)
    client, state = await editor([root], "visual-studio-code", opts, server_args=("--log-level", "DEBUG"))
    # the key also arrives again through didChangeConfiguration
    client.workspace_did_change_configuration(lsp.DidChangeConfigurationParams(settings=opts))
    run_id = (await execute(client, "baton.planImplementReview", {"task": "Add top_words."}))["runId"]
    await wait_finished(client, run_id)
    await wait_until("the edit", state.applied.is_set)
    await execute(client, "baton.listRuns", {})

    err = capfd.readouterr().err
    assert "POST" in err or "Sending" in err or "applyEdit" in err  # DEBUG logging did happen
    assert KEY not in err
    assert "[REDACTED]" in err  # …and the key was there to scrub
    for m in [*client.log_messages, *client.messages]:
        assert KEY not in m.message
    for path in (root / ".baton").rglob("*"):
        if path.is_file() and path.suffix in (".md", ".json", ".jsonl", ".diff", ".patch"):
            assert KEY not in path.read_text(errors="replace"), path
    assert llm.requests and all(KEY not in str(r.headers) for r in llm.requests)
