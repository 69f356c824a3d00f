"""One signal per event, whatever the client: Baton's extension (experimental.baton.*) gets
notifications and no duplicate progress, messages or documents; a client without work-done
progress (eglot) gets the milestones as messages; a discarded change is a neutral message;
findings come back after a restart; the server's and the run host's log levels survive the trip."""

from __future__ import annotations

import json
import os

from lsp_harness import capabilities_for, execute, wait_finished, wait_until
from lsp_session import FINDING_LINE, make_project, options, server_env, session, tree
from lsprotocol import types as lsp

from baton.pipelines.owner import this_process
from baton.pipelines.recovery import MARKER, SandboxMarker

TASK = "Add top_words(text, n) to textkit."
BATON_EXTENSION = {"baton": {"notifications": True, "artifacts": True, "statsView": True}}


def with_extension() -> lsp.ClientCapabilities:
    caps = capabilities_for("visual-studio-code")
    caps.experimental = BATON_EXTENSION
    return caps


def like_eglot() -> lsp.ClientCapabilities:
    """eglot 1.9: no window.workDoneProgress, no showDocument, no change annotations."""
    caps = capabilities_for("neovim")
    caps.window = lsp.WindowClientCapabilities(work_done_progress=False)
    return caps


def notes(client, method: str, run_id: str) -> list[dict]:
    return [p for m, p in client.baton_notes if m == method and p.get("runId") == run_id]


async def test_the_extension_gets_notifications_and_no_duplicate_progress_messages_or_documents(
        tmp_path, scripted, editor):
    root = make_project(tmp_path / "proj")
    llm = scripted(session())
    client, state = await editor([root], options=options(llm.url), capabilities=with_extension())
    run_id = (await execute(client, "baton.planImplementReview", {"task": TASK}))["runId"]
    await wait_finished(client, run_id)
    outcome = await wait_until("the edit outcome", lambda: notes(client, "baton/editOutcome", run_id))
    assert outcome[0]["applied"] is True and outcome[0]["task"] == TASK
    run_dir = root / ".baton" / "runs" / run_id
    artifacts = notes(client, "baton/artifact", run_id)
    assert [(a["name"], a["uri"]) for a in artifacts] == [("plan.md", (run_dir / "plan.md").as_uri()),
                                                           ("review.md", (run_dir / "review.md").as_uri())]
    assert all(u["task"] == TASK for u in client.run_updates if u["runId"] == run_id)
    assert client.shown_documents == []  # the extension opened them itself
    assert f"baton-run-{run_id}" not in client.progress_reports  # its own status item, no second one
    assert client.messages == []  # every message came as a notification with its actions
    answer = await execute(client, "baton.showStats")
    assert answer["uri"] is None and answer["stats"][0]["runs"] == 1
    assert not (root / ".baton" / "stats.md").exists() and client.shown_documents == []
    shown = await execute(client, "baton.showRun", {"runId": run_id})  # the extension opens what it answers
    assert shown["plan"] == (run_dir / "plan.md").as_uri() and client.shown_documents == []


async def test_a_client_without_progress_gets_milestones_with_task_names_and_short_paths(
        tmp_path, scripted, editor):
    root = make_project(tmp_path / "proj")
    llm = scripted(session())
    client, state = await editor([root], options=options(llm.url), capabilities=like_eglot())
    run_id = (await execute(client, "baton.planImplementReview", {"task": TASK}))["runId"]
    await wait_finished(client, run_id)
    await wait_until("the edit", state.applied.is_set)
    said = await wait_until("the outcome message", lambda: [m.message for m in client.messages
                                                            if "changes applied" in m.message] and
                            [m.message for m in client.messages])
    name = f"Baton “{TASK}”: "
    assert f"{name}plan.md is ready: .baton/runs/{run_id}/plan.md" in said
    assert f"{name}implementing" in said
    assert any(m.startswith(f"{name}tests passed: ") for m in said), said
    assert f"{name}review approved: Does what the task asks." in said
    assert any(m.startswith(f"{name}changes applied") for m in said), said
    assert not any(str(root) in m for m in said), said  # short paths only
    assert client.progress_reports == {}


async def test_a_discarded_change_is_a_neutral_message_that_offers_it_again(tmp_path, scripted, editor):
    root = make_project(tmp_path / "proj")
    llm = scripted(session())
    client, state = await editor([root], options=options(llm.url))
    state.policy = "discard"
    original = tree(root)
    run_id = (await execute(client, "baton.planImplementReview", {"task": TASK}))["runId"]
    await wait_finished(client, run_id)
    outcome = await wait_until("the edit outcome", lambda: notes(client, "baton/editOutcome", run_id))
    assert outcome[0]["applied"] is False and outcome[0]["declined"] is True
    message = await wait_until("the message", lambda: [m for m in client.messages if "not applied" in m.message])
    assert message[0].type == lsp.MessageType.Info
    assert message[0].message == (f"Baton “{TASK}”: the proposed change was not applied; nothing was written. "
                                  "baton.applyRun offers it again")
    assert tree(root) == original


async def test_findings_come_back_after_a_restart_while_the_file_is_unchanged(tmp_path, scripted, editor):
    root = make_project(tmp_path / "proj")
    llm = scripted(session())
    client, state = await editor([root], options=options(llm.url))
    stats_uri = (root / "textkit/stats.py").as_uri()
    run_id = (await execute(client, "baton.planImplementReview", {"task": TASK}))["runId"]
    await wait_finished(client, run_id)
    first = await wait_until("the findings", lambda: client.diagnostics.get(stats_uri))
    saved_at = root / ".baton" / "runs" / run_id / "findings.json"
    await wait_until("findings.json", saved_at.is_file)  # written off the loop, after the publish
    saved = json.loads(saved_at.read_text())
    assert list(saved["files"]) == ["textkit/stats.py"]

    again, _ = await editor([root], options=options(llm.url))  # a window reload: a new server
    restored = await wait_until("the findings again", lambda: again.diagnostics.get(stats_uri))
    assert [(d.range.start.line, d.message, d.data) for d in restored] == \
        [(FINDING_LINE - 1, first[0].message, {"runId": run_id, "index": 0})]
    assert (await execute(again, "baton.dismissFinding", {"runId": run_id, "index": 0})) == {"dismissed": 1}
    await wait_until("the dismissal", lambda: len(again.diagnostics[stats_uri]) == 0)

    third, _ = await editor([root], options=options(llm.url))
    await execute(third, "baton.listRuns")  # answered after initialized: the restore has run
    await wait_until("the restore to finish", lambda: any("findings" in m.message for m in third.log_messages))
    assert not third.diagnostics.get(stats_uri)


async def test_a_changed_file_gets_no_stale_findings_after_a_restart(tmp_path, scripted, editor):
    root = make_project(tmp_path / "proj")
    llm = scripted(session())
    client, state = await editor([root], options=options(llm.url))
    stats = root / "textkit/stats.py"
    run_id = (await execute(client, "baton.planImplementReview", {"task": TASK}))["runId"]
    await wait_finished(client, run_id)
    await wait_until("the findings", lambda: client.diagnostics.get(stats.as_uri()))
    stats.write_text(stats.read_text() + "\n# edited since\n")
    again, _ = await editor([root], options=options(llm.url))
    await wait_until("the restore to finish", lambda: any("findings" in m.message for m in again.log_messages))
    assert not again.diagnostics.get(stats.as_uri())


async def test_log_levels_reach_the_editor_as_they_are(tmp_path, scripted, editor):
    root = make_project(tmp_path / "proj")
    llm = scripted(session())
    client, _ = await editor([root], options=options(llm.url))
    started = await wait_until("the run host's start", lambda: [m for m in client.log_messages
                                                                if "run host started" in m.message])
    assert started[0].type == lsp.MessageType.Info and not started[0].message.startswith(("INFO", "ERROR"))


async def test_the_run_host_s_records_reach_any_editor_under_their_level(tmp_path, scripted, editor):
    """The run host's log records (it runs the engine in a child process) arrive as
    window/logMessage with their own level, so an editor that files stderr as errors (Neovim,
    Emacs) sees a warning as a warning and an info line as info."""
    root = make_project(tmp_path / "proj")
    cache = root / ".baton" / "cache"  # no .baton/runs yet: the server's own recovery skips this folder
    cache.mkdir(parents=True)
    (cache / "repomap-v1.sqlite3").write_text("not a database\n")  # the run's repo map warns and goes on
    tmp = tmp_path / "tmp"
    stale = tmp / "baton-sandbox-stale"  # left by a dead process: the run host's recovery removes it
    (stale / "ws").mkdir(parents=True)
    me = this_process()
    dead = me.model_copy(update={"start_ticks": (me.start_ticks or 0) + 1})  # my pid, another process's start
    (stale / MARKER).write_text(SandboxMarker(owner=dead, root=str(root)).model_dump_json())
    llm = scripted(session())
    client, _ = await editor([root], "neovim", options(llm.url), env=server_env(TMPDIR=str(tmp)))
    run_id = (await execute(client, "baton.planImplementReview", {"task": TASK}))["runId"]
    assert (await wait_finished(client, run_id))["status"] == "succeeded"

    def logged(text: str) -> list[lsp.LogMessageParams]:
        return [m for m in client.log_messages if text in m.message]

    warned = await wait_until("the run host's warning", lambda: logged("repo map cache"))
    removed = await wait_until("the run host's info line", lambda: logged("removed the sandbox"))
    assert [(m.type, m.message.split(": ")[0]) for m in warned] == \
        [(lsp.MessageType.Warning, "baton.pipelines.workspace.mapcache")]
    assert [(m.type, m.message) for m in removed] == \
        [(lsp.MessageType.Info, f"baton.pipelines.recovery: removed the sandbox {stale.resolve()} "
                                "left by a process that is gone")]
    assert not stale.exists() and os.getpid() == me.pid
