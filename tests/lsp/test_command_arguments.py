"""Malformed command arguments get a JSON-RPC InvalidParams error that starts with the command
and names the field, and start nothing: no run, no progress, no model request, no edit, no file
written. One server for all the cases (none of them may leave anything behind, and each case
checks that)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from lsp_harness import execute, start_editor, stop_editor
from lsp_session import make_project, options, session, tree
from pygls.exceptions import JsonRpcInvalidParams

from baton.pipelines.llm.scripted import ScriptedLLM

pytestmark = pytest.mark.asyncio(loop_scope="module")

BAD_ARGUMENTS = [
    # (command, arguments, error class, words the message must contain)
    ("baton.planImplementReview", [{}], JsonRpcInvalidParams, ["`task`", "Field required"]),
    ("baton.planImplementReview", [{"task": "   "}], JsonRpcInvalidParams, ["`task`", "empty"]),
    ("baton.planImplementReview", [{"task": 42}], JsonRpcInvalidParams, ["`task`", "string"]),
    ("baton.planImplementReview", [{"task": "x", "confirmPlan": "maybe"}], JsonRpcInvalidParams,
     ["`confirmPlan`", "boolean"]),
    ("baton.planImplementReview", [{"task": "x", "scpoe": "file:///x"}], JsonRpcInvalidParams,
     ["`scpoe`", "unknown field"]),
    ("baton.planImplementReview", ["add a function"], JsonRpcInvalidParams, ["must be an object", '"task"']),
    ("baton.planImplementReview", [{"task": "x"}, {"task": "y"}], JsonRpcInvalidParams,
     ["one argument object", "2 arguments"]),
    ("baton.planImplementReview", [{"task": "x", "scope": "/etc/passwd"}], JsonRpcInvalidParams,
     ["`scope`", "file:// URI"]),
    ("baton.planImplementReview", [{"task": "x", "scope": "file:///etc"}], JsonRpcInvalidParams,
     ["`scope`", "not inside an open workspace folder"]),
    ("baton.cancelRun", [{}], JsonRpcInvalidParams, ["`runId`", "Field required"]),
    ("baton.cancelRun", [{"runId": "no-such-run"}], JsonRpcInvalidParams, ["`runId`", "no-such-run", "baton.listRuns"]),
    ("baton.continueRun", [{"runId": ""}], JsonRpcInvalidParams, ["`runId`", "at least 1 character"]),
    ("baton.listRuns", [{"limit": 0}], JsonRpcInvalidParams, ["`limit`", "greater than or equal to 1"]),
    ("baton.showRun", [{"runId": "20990101-000000-abcd"}], JsonRpcInvalidParams, ["`runId`", "no run"]),
    ("baton.applyRun", [{"run": "x"}], JsonRpcInvalidParams, ["`runId`", "`run`", "unknown field"]),
    ("baton.showStats", [{"verbose": True}], JsonRpcInvalidParams, ["`verbose`", "unknown field"]),
    ("baton.proposedContent", [{"runId": "x"}], JsonRpcInvalidParams, ["`uri`", "Field required"]),
    ("baton.dismissFinding", [{"runId": "x", "index": "first"}], JsonRpcInvalidParams, ["`index`", "integer"]),
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Any]]:
    root = make_project(tmp_path_factory.mktemp("args") / "proj")
    llm = ScriptedLLM({"models": session()})
    client, state = await start_editor([root], "visual-studio-code", options(llm.start()))
    try:
        yield {"root": root, "client": client, "state": state, "llm": llm, "before": tree(root)}
    finally:
        await stop_editor(client)
        llm.stop()


@pytest.mark.parametrize(("command", "arguments", "error", "words"), BAD_ARGUMENTS,
                         ids=[f"{c.split('.')[1]}-{i}" for i, (c, *_) in enumerate(BAD_ARGUMENTS)])
async def test_malformed_arguments_name_the_field_and_start_nothing(shared, command, arguments, error, words):
    client, state, root = shared["client"], shared["state"], shared["root"]
    with pytest.raises(error) as caught:
        await execute(client, command, *arguments)
    message = caught.value.message
    assert message.startswith(command + ": "), message
    for word in words:
        assert word in message, message
    # nothing started: no run directory, no progress, no model call, no edit, no file changed
    runs = root / ".baton" / "runs"
    assert not runs.exists() or not any(runs.iterdir())
    assert client.progress_reports == {}
    assert shared["llm"].requests == []
    assert state.edit_requests == []
    assert tree(root) == shared["before"]
    # and the server is still fine
    assert (await execute(client, "baton.listRuns", {}))["runs"] == []
