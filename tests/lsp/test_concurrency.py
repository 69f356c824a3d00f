"""Many runs at once, and a server that stays responsive: two runs in two workspace folders
(each folder names its own models in baton.toml) overlap and both finish with their own edit;
requests are answered while runs sit in model calls; cancel from the command and from the
progress UI stops the run, closes its model connection and writes nothing."""

from __future__ import annotations

from lsp_harness import execute, progress_kinds, run_updates, wait_finished, wait_until
from lsp_session import expected_stats, folder_models_toml, make_project, options, session, tree
from lsprotocol import types as lsp


def two_folders(tmp_path):
    a = make_project(tmp_path / "a", baton_toml=folder_models_toml("a"))
    b = make_project(tmp_path / "b", baton_toml=folder_models_toml("b"))
    return a, b


async def test_two_runs_at_once_each_with_its_own_edit(tmp_path, scripted, editor):
    a, b = two_folders(tmp_path)
    llm = scripted({**session("a"), **session("b")})
    client, state = await editor([a, b], "visual-studio-code", options(llm.url, prefix=None))
    originals = {a: tree(a), b: tree(b)}

    # the plan gate holds both runs after planning, so they are certainly in flight together
    ids = {}
    for root in (a, b):
        answer = await execute(client, "baton.planImplementReview",
                               {"task": "Add top_words.", "scope": root.as_uri(), "confirmPlan": True})
        ids[root] = answer["runId"]
    assert ids[a] != ids[b]
    for root in (a, b):
        await wait_until("the plan gate", lambda r=root: any(u["status"] == "waiting" for u in run_updates(client, ids[r])))
    listed = {r["runId"]: r["status"] for r in (await execute(client, "baton.listRuns", {}))["runs"]}
    assert listed == {ids[a]: "waiting", ids[b]: "waiting"}
    assert tree(a) == originals[a] and tree(b) == originals[b]

    for root in (b, a):
        assert (await execute(client, "baton.continueRun", {"runId": ids[root]}))["continued"] is True
    for root in (a, b):
        assert (await wait_finished(client, ids[root]))["status"] == "succeeded"
    await wait_until("both edits", lambda: len(state.edit_requests) == 2 and state.answered.is_set())
    await wait_until("both outcome messages", lambda: sum("changes applied" in m.message for m in client.messages) == 2)

    # one edit per run, each inside its own folder, each applied
    for req in state.edit_requests:
        uris = {c.text_document.uri for c in req.edit.document_changes if isinstance(c, lsp.TextDocumentEdit)}
        folders = {root for root in (a, b) if all(u.startswith(root.as_uri() + "/") for u in uris)}
        assert len(folders) == 1, uris
    for root in (a, b):
        assert tree(root)["textkit/stats.py"] == expected_stats(originals[root]["textkit/stats.py"])
    # each run used only its folder's models
    by_model = {r.model for r in llm.requests}
    assert by_model == {"a-planner", "a-coder", "a-reviewer", "b-planner", "b-coder", "b-reviewer"}


async def test_requests_are_answered_while_runs_wait_on_the_model_and_cancel_works(tmp_path, scripted, editor):
    a, b = two_folders(tmp_path)
    hang = {"fault": {"hang": True}}  # the model never answers: the runs stay in flight until cancelled
    script = {**session("a"), **session("b")}
    script["a-planner"] = [hang]
    script["b-planner"] = [hang]
    llm = scripted(script)
    client, state = await editor([a, b], "visual-studio-code", options(llm.url, prefix=None))
    originals = {a: tree(a), b: tree(b)}
    ids = {}
    for root in (a, b):
        ids[root] = (await execute(client, "baton.planImplementReview",
                                   {"task": "Add top_words.", "scope": root.as_uri()}))["runId"]
    await wait_until("both planner calls to hang",
                     lambda: sum(r.outcome == "hanging" for r in llm.requests) == 2)

    # the server answers other requests while both runs sit in model calls
    for _ in range(20):
        runs = (await execute(client, "baton.listRuns", {}))["runs"]
        assert {r["runId"]: r["status"] for r in runs} == {ids[a]: "running", ids[b]: "running"}
    assert [r.outcome for r in llm.requests] == ["hanging", "hanging"]  # still in flight after all the answers

    # cancel a from the command, b from the progress notification's cancel button
    assert await execute(client, "baton.cancelRun", {"runId": ids[a]}) == {"cancelled": True}
    await wait_until("b's progress to begin", lambda: progress_kinds(client, ids[b]))
    client.window_work_done_progress_cancel(lsp.WorkDoneProgressCancelParams(token=f"baton-run-{ids[b]}"))
    for root in (a, b):
        final = await wait_finished(client, ids[root])
        assert final["status"] == "cancelled"
        assert isinstance(progress_kinds(client, ids[root])[-1], lsp.WorkDoneProgressEnd)
    assert "progress notification" in (await wait_finished(client, ids[b]))["message"]
    # the model connections were closed, nothing was sent to the editor, nothing written
    await wait_until("the hanging calls to be dropped",
                     lambda: [r.outcome for r in llm.requests] == ["client-disconnected"] * 2)
    assert state.edit_requests == []
    assert tree(a) == originals[a] and tree(b) == originals[b]
    listed = {r["runId"]: r["status"] for r in (await execute(client, "baton.listRuns", {}))["runs"]}
    assert listed == {ids[a]: "cancelled", ids[b]: "cancelled"}
    # cancelling again is harmless and says so
    assert await execute(client, "baton.cancelRun", {"runId": ids[a]}) == {"cancelled": False}


async def test_concurrency_setting_queues_runs_but_not_behind_the_plan_gate(tmp_path, scripted, editor):
    a, b = two_folders(tmp_path)
    c = make_project(tmp_path / "c", baton_toml=folder_models_toml("c"))
    hanging = session("a")
    hanging["a-planner"] = [{"fault": {"hang": True}}]  # the working run holds its slot until cancelled
    llm = scripted({**hanging, **session("b"), **session("c")})
    client, _ = await editor([a, b, c], "visual-studio-code", options(llm.url, prefix=None, concurrency=1))

    async def start(root, **extra):
        return (await execute(client, "baton.planImplementReview",
                              {"task": "Add top_words.", "scope": root.as_uri(), **extra}))["runId"]

    # a run waiting at the plan gate holds no slot: the next run works at once
    gated = await start(c, confirmPlan=True)
    await wait_until("the plan gate", lambda: any(u["status"] == "waiting" for u in run_updates(client, gated)))
    working = await start(a)
    await wait_until("the working run's model call",
                     lambda: any(r.model.startswith("a-") and r.outcome == "hanging" for r in llm.requests))
    # the one slot is taken by a run that works: the next one queues and calls no model
    queued = await start(b)
    await wait_until("the third run queued",
                     lambda: any("queued" in (u.get("message") or "") for u in run_updates(client, queued)))
    assert not any(r.model.startswith("b-") for r in llm.requests), "the queued run called its model"
    assert not any("queued" in (u.get("message") or "") for u in run_updates(client, working))
    assert (await execute(client, "baton.cancelRun", {"runId": working})) == {"cancelled": True}
    assert (await wait_finished(client, working))["status"] == "cancelled"
    assert (await wait_finished(client, queued))["status"] == "succeeded"
    assert (await execute(client, "baton.continueRun", {"runId": gated}))["continued"] is True
    assert (await wait_finished(client, gated))["status"] == "succeeded"
    b_requests = [i for i, r in enumerate(llm.requests) if r.model.startswith("b-")]
    a_requests = [i for i, r in enumerate(llm.requests) if r.model.startswith("a-")]
    assert b_requests and min(b_requests) > max(a_requests)

