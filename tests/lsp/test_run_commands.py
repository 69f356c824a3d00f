"""The commands around a finished run: the user declines the edit (nothing is written), then
applyRun sends it again; listRuns, showRun, showStats, proposedFiles/proposedContent,
dismissFinding and dismissRun."""

from __future__ import annotations

from datetime import UTC, datetime

from lsp_harness import execute, wait_finished, wait_until
from lsp_session import (
    NEW_TEST_FILE,
    expected_init,
    expected_stats,
    make_project,
    options,
    session,
    tree,
)
from lsprotocol import types as lsp

from baton.pipelines.models import RunRecord, RunStatus, Scope
from baton.pipelines.store import RunStore


async def test_declined_edit_writes_nothing_and_apply_run_sends_it_again(tmp_path, scripted, editor):
    root = make_project(tmp_path / "proj")
    llm = scripted(session())
    client, state = await editor([root], "visual-studio-code", options(llm.url))
    stats_uri = state.open("textkit/stats.py")
    original = tree(root)
    state.policy = "refuse"

    run_id = (await execute(client, "baton.planImplementReview", {"task": "Add top_words."}))["runId"]
    assert (await wait_finished(client, run_id))["status"] == "succeeded"
    await wait_until("the edit request", lambda: state.answered.is_set())
    await wait_until("the outcome message", lambda: any("not applied" in m.message for m in client.messages))
    assert len(state.edit_requests) == 1  # declined by the user: not asked again
    assert tree(root) == original  # nothing written
    assert "the user declined" in next(m.message for m in client.messages if "not applied" in m.message)
    assert stats_uri not in client.diagnostics  # findings are about the proposal, which is not there

    # listRuns: the run with its status and verdict
    runs = (await execute(client, "baton.listRuns", {}))["runs"]
    assert [(r["runId"], r["status"], r["verdict"], r["pattern"]) for r in runs] == [
        (run_id, "succeeded", "approved", "plan-implement-review")]

    # proposedFiles / proposedContent: what a diff view shows, without writing anything
    files = (await execute(client, "baton.proposedFiles", {"runId": run_id}))["files"]
    assert sorted((f["uri"], f["kind"]) for f in files) == sorted([
        ((root / "textkit/stats.py").as_uri(), "update"), ((root / "textkit/__init__.py").as_uri(), "update"),
        ((root / "tests/test_top_words.py").as_uri(), "create")])
    content = await execute(client, "baton.proposedContent", {"runId": run_id, "uri": stats_uri})
    assert content["text"] == expected_stats(original["textkit/stats.py"])
    assert tree(root) == original

    # applyRun: the same edit again; this time the user accepts
    state.policy = "apply"
    answer = await execute(client, "baton.applyRun", {"runId": run_id})
    assert answer["applied"] is True and answer["leftAlone"] == []
    assert len(state.edit_requests) == 2
    after = tree(root)
    assert after["textkit/stats.py"] == expected_stats(original["textkit/stats.py"])
    assert after["textkit/__init__.py"] == expected_init(original["textkit/__init__.py"])
    assert after["tests/test_top_words.py"] == NEW_TEST_FILE

    # now the findings are on show; dismissFinding removes the one finding
    diags = await wait_until("diagnostics", lambda: client.diagnostics.get(stats_uri))
    assert diags[0].data == {"runId": run_id, "index": 0}
    assert (await execute(client, "baton.dismissFinding", {"runId": run_id, "index": 0})) == {"dismissed": 1}
    await wait_until("the diagnostics to clear", lambda: len(client.diagnostics[stats_uri]) == 0)
    actions = await client.text_document_code_action_async(lsp.CodeActionParams(
        text_document=lsp.TextDocumentIdentifier(uri=stats_uri), range=diags[0].range,
        context=lsp.CodeActionContext(diagnostics=list(diags))))
    assert not actions  # a dismissed finding has no actions any more


async def test_show_run_show_stats_and_dismiss_run(tmp_path, scripted, editor):
    root = make_project(tmp_path / "proj")
    llm = scripted(session())
    client, state = await editor([root], "visual-studio-code", options(llm.url))
    stats_uri = state.open("textkit/stats.py")
    run_id = (await execute(client, "baton.planImplementReview", {"task": "Add top_words."}))["runId"]
    await wait_finished(client, run_id)
    await wait_until("diagnostics", lambda: client.diagnostics.get(stats_uri))

    # showRun opens plan.md and review.md again, and answers their URIs
    client.shown_documents.clear()
    shown = await execute(client, "baton.showRun", {"runId": run_id})
    run_dir = root / ".baton" / "runs" / run_id
    assert shown["plan"] == (run_dir / "plan.md").as_uri() and shown["review"] == (run_dir / "review.md").as_uri()
    assert shown["diff"] == (run_dir / "changes.diff").as_uri()
    assert [d.uri for d in client.shown_documents] == [shown["plan"], shown["review"]]
    assert "top_words" in (run_dir / "plan.md").read_text()
    assert shown["trace"] == (run_dir / "trace.html").as_uri()  # the readable trace, offered by the editor
    assert f"Run {run_id}" in (run_dir / "trace.html").read_text()

    # showStats writes and opens the statistics document
    stats = await execute(client, "baton.showStats", {})
    assert stats["uri"] == (root / ".baton" / "stats.md").as_uri()
    assert client.shown_documents[-1].uri == stats["uri"]
    row = stats["stats"][0]
    assert (row["pattern"], row["runs"], row["succeeded"], row["successRate"]) == ("plan-implement-review", 1, 1, 1.0)
    text = (root / ".baton" / "stats.md").read_text()
    assert "| plan-implement-review | 1 | 1 | 0 | 0 | 100% |" in text
    assert "evals" not in stats and stats["evalStats"] == []  # no eval run here yet

    # after `baton eval`, showStats also answers the last eval's rows per pattern and model set, and
    # counts the eval's runs apart from real work
    from baton.pipelines.eval.results import Calibration, EvalReport, GroupStats
    from baton.pipelines.eval.runner import save_report
    from baton.pipelines.models import RunRecord
    from baton.pipelines.store import RunStore

    done = RunRecord.model_validate_json((run_dir / "run.json").read_text())
    RunStore(root).save(done.model_copy(update={"id": "20260101-000000-eval", "extra": {"eval": {"id": "eval-x"}}}))

    group = GroupStats(pattern="plan-implement-review", model_set="planner=a,implementer=b", cases=2, runs=4,
                       succeeded=3, success_rate=0.75, ci95_low=0.3, ci95_high=0.95, mean_duration_s=12.5,
                       calibration=Calibration())
    save_report(RunStore(root), EvalReport(eval_id="eval-x", suite="s", suite_path="/s", groups=[group]))
    stats = await execute(client, "baton.showStats", {})
    assert stats["evalId"] == "eval-x"
    assert [(r["pattern"], r["runs"]) for r in stats["stats"]] == [("plan-implement-review", 1)]
    assert [(r["pattern"], r["runs"]) for r in stats["evalStats"]] == [("plan-implement-review", 1)]
    assert stats["evals"] == [{"pattern": "plan-implement-review", "modelSet": "planner=a,implementer=b", "runs": 4,
                               "successRate": 0.75, "meanDurationS": 12.5, "ci95Low": 0.3, "ci95High": 0.95}]

    # dismissRun clears the run's diagnostics
    assert (await execute(client, "baton.dismissRun", {"runId": run_id})) == {"dismissed": 1}
    await wait_until("the diagnostics to clear", lambda: len(client.diagnostics[stats_uri]) == 0)


async def test_a_rejected_run_sends_no_edit_until_asked(tmp_path, scripted, editor):
    root = make_project(tmp_path / "proj")
    llm = scripted(session(verdict="rejected"))
    client, state = await editor([root], "visual-studio-code", options(llm.url, reviewRounds=0))
    original = tree(root)
    run_id = (await execute(client, "baton.planImplementReview", {"task": "Add top_words."}))["runId"]
    final = await wait_finished(client, run_id)
    assert (final["status"], final["verdict"]) == ("failed", "rejected")
    msg = await wait_until("the failure message",
                           lambda: next((m for m in client.messages if "“Add top_words.”" in m.message), None))
    assert msg.type == lsp.MessageType.Error and "rejected" in msg.message
    assert state.edit_requests == [] and tree(root) == original
    # the proposal is kept: the user may still look at it and apply it
    answer = await execute(client, "baton.applyRun", {"runId": run_id})
    assert answer["applied"] is True
    assert tree(root)["textkit/stats.py"] == expected_stats(original["textkit/stats.py"])


async def test_list_runs_answers_from_every_folders_index(tmp_path, editor):
    """Stored runs of earlier sessions, in two folders: the index's columns, in the answer's shape."""
    a, b = make_project(tmp_path / "a").resolve(), make_project(tmp_path / "b").resolve()

    def save(root, run_id, minute, **fields):
        store = RunStore(root)
        store.save(RunRecord(id=run_id, pattern="plan-implement-review", task=f"task {run_id}",
                             scope=Scope(root=str(root), path=fields.pop("path", None)),
                             created_at=datetime(2026, 1, 1, 12, minute, tzinfo=UTC), **fields))
        store.close()

    save(a, "r1", 1, status=RunStatus.succeeded, verdict="approved", duration_s=12.5)
    save(b, "r2", 2, status=RunStatus.cancelled, duration_s=3.0)
    save(a, "r3", 3, status=RunStatus.failed, error="implementer: gave up", path="textkit", duration_s=7.25)
    save(b, "r2-child", 4, status=RunStatus.succeeded, parent_id="r2")  # sub-runs are not listed
    client, _ = await editor([a, b], "visual-studio-code", options("http://127.0.0.1:9/v1"))

    runs = (await execute(client, "baton.listRuns", {}))["runs"]
    assert runs == [
        {"runId": "r3", "pattern": "plan-implement-review", "task": "task r3", "status": "failed", "verdict": None,
         "durationS": 7.25, "createdAt": "2026-01-01T12:03:00+00:00", "scope": "textkit",
         "error": "implementer: gave up"},
        {"runId": "r2", "pattern": "plan-implement-review", "task": "task r2", "status": "cancelled",
         "verdict": None, "durationS": 3.0, "createdAt": "2026-01-01T12:02:00+00:00", "scope": None, "error": None},
        {"runId": "r1", "pattern": "plan-implement-review", "task": "task r1", "status": "succeeded",
         "verdict": "approved", "durationS": 12.5, "createdAt": "2026-01-01T12:01:00+00:00", "scope": None,
         "error": None},
    ]
    assert [r["runId"] for r in (await execute(client, "baton.listRuns", {"limit": 2}))["runs"]] == ["r3", "r2"]
