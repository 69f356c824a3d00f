"""The plan gate: with confirmPlan the run pauses after planning with plan.md open; a broken
plan.md is refused (the run keeps waiting), an edited one is re-read (from the unsaved buffer)
and the implementer works from it; cancel at the gate stops the run. Planner and reviewer
never get write tools."""

from __future__ import annotations

import json

import pytest
from lsp_harness import execute, run_updates, wait_finished, wait_until
from lsp_session import make_project, options, session, tree
from pygls.exceptions import JsonRpcInvalidRequest

EXTRA_STEP = "4. Mention the tie order in the module docstring"


def tool_names(request) -> set[str]:
    return {t.get("function", t).get("name") for t in (request.body or {}).get("tools", [])}


async def start_gated_run(client, state, llm):
    run_id = (await execute(client, "baton.planImplementReview", {"task": "Add top_words.", "confirmPlan": True}))["runId"]
    await wait_until("the plan gate", lambda: any(u["status"] == "waiting" for u in run_updates(client, run_id)))
    return run_id


async def test_continue_with_an_edited_plan_after_a_broken_one(tmp_path, scripted, editor):
    root = make_project(tmp_path / "proj")
    llm = scripted(session())
    client, state = await editor([root], "visual-studio-code", options(llm.url))
    original = tree(root)
    run_id = await start_gated_run(client, state, llm)
    plan_md = root / ".baton" / "runs" / run_id / "plan.md"
    # plan.md is shown and the message sent around the `waiting` update, in no fixed order: wait
    # for each itself
    await wait_until("plan.md shown", lambda: client.shown_documents)
    assert [d.uri for d in client.shown_documents] == [plan_md.as_uri()]
    await wait_until("the plan-ready message", lambda: any(
        m.message.startswith("Baton “") and "the plan is ready" in m.message and "baton.continueRun" in m.message
        for m in client.messages))
    assert {r.model for r in llm.requests} == {"t-planner"}  # nothing after planning yet

    # a plan.md without its Steps section is refused with the reason; the run keeps waiting
    good = plan_md.read_text()
    plan_md.write_text(good.replace("## Steps", "## Stpes"))
    with pytest.raises(JsonRpcInvalidRequest) as caught:
        await execute(client, "baton.continueRun", {"runId": run_id})
    assert "## Steps" in caught.value.message and "keeps waiting" in caught.value.message
    runs = (await execute(client, "baton.listRuns", {}))["runs"]
    assert [(r["runId"], r["status"]) for r in runs] == [(run_id, "waiting")]
    assert {r.model for r in llm.requests} == {"t-planner"}

    # the user fixes it in the editor and adds a step, without saving: the buffer is what counts
    plan_md.write_text(good)
    edited = good.replace("\n## Files to touch", f"{EXTRA_STEP}\n\n## Files to touch")
    assert edited != good
    state.open(str(plan_md.relative_to(root)), edited)
    answer = await execute(client, "baton.continueRun", {"runId": run_id})
    assert answer == {"continued": True, "steps": 4}
    assert (await wait_finished(client, run_id))["status"] == "succeeded"
    await wait_until("the edit", state.applied.is_set)

    implementer_first = next(r for r in llm.requests if r.model == "t-coder")
    assert EXTRA_STEP.split(". ", 1)[1] in json.dumps(implementer_first.body)
    saved = json.loads((plan_md.parent / "plan.json").read_text())
    assert len(saved["steps"]) == 4
    # continuing twice is an error that says why
    with pytest.raises(JsonRpcInvalidRequest) as caught:
        await execute(client, "baton.continueRun", {"runId": run_id})
    assert "not waiting for its plan" in caught.value.message
    assert tree(root) != original  # the accepted edit was written

    # planner and reviewer only ever had read tools; the implementer had apply_patch
    by_role = {m: set().union(*(tool_names(r) for r in llm.requests if r.model == m))
               for m in ("t-planner", "t-coder", "t-reviewer")}
    assert "apply_patch" in by_role["t-coder"]
    writes = by_role["t-coder"] - by_role["t-planner"] - {"submit_changes"}
    assert writes and not writes & by_role["t-planner"] and not writes & by_role["t-reviewer"]
    assert "read_file" in by_role["t-planner"] and "read_file" in by_role["t-reviewer"]


async def test_cancel_at_the_plan_gate(tmp_path, scripted, editor):
    root = make_project(tmp_path / "proj")
    llm = scripted(session())
    client, state = await editor([root], "neovim", options(llm.url, confirmPlan=True))
    original = tree(root)
    # confirmPlan from the settings (not the argument) turns the gate on too
    run_id = (await execute(client, "baton.planImplementReview", {"task": "Add top_words."}))["runId"]
    await wait_until("the plan gate", lambda: any(u["status"] == "waiting" for u in run_updates(client, run_id)))
    assert await execute(client, "baton.cancelRun", {"runId": run_id}) == {"cancelled": True}
    assert (await wait_finished(client, run_id))["status"] == "cancelled"
    assert {r.model for r in llm.requests} == {"t-planner"}
    assert state.edit_requests == [] and tree(root) == original
