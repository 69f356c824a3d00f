"""`baton run --record FILE` against the scripted server, then the recorded file replayed: the same
run (same change, verdict, tool calls), with secrets and absolute paths kept out of the file."""

from __future__ import annotations

from pathlib import Path

import pytest
from pipeline_helpers import (
    CODER,
    FAKE_KEY,
    PLANNER,
    REVIEWER,
    baton,
    clean_env,
    happy_script,
    make_repo,
    only_run,
    run_args,
    run_dir,
    trace_events,
    tree_state,
)

from baton.pipelines.llm.script import load_script
from baton.pipelines.llm.scripted import ScriptedLLM


def _calls(repo: Path) -> list[tuple[str | None, str]]:
    rec = only_run(repo)
    return [(e["role"], e["data"]["name"]) for e in trace_events(repo, rec) if e["type"] == "tool_call"]


def test_record_then_replay_reproduces_the_run(tmp_path: Path) -> None:
    original = make_repo(tmp_path / "orig")
    script = happy_script()
    # A hostile or careless answer: a key and the workspace's absolute path in the model's text.
    script["models"][PLANNER][0]["content"] = f"Reading {original}/calc/ops.py with key {FAKE_KEY}."
    env = clean_env(tmp_path / "tmp", PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    record = tmp_path / "session.json"
    with ScriptedLLM(script) as url:
        p = baton(*run_args(original, url), "--record", str(record), env=env)
    assert p.returncode == 0, p.stderr
    assert "recorded 7 model answer(s)" in p.stderr
    text = record.read_text()
    assert FAKE_KEY not in text and str(original) not in text and str(tmp_path) not in text
    recorded = load_script(record)
    assert recorded.meta is not None and recorded.meta.roles["planner"] == PLANNER
    assert recorded.meta.run_id == only_run(original).id
    assert [len(recorded.models[m]) for m in (PLANNER, CODER, REVIEWER)] == [2, 3, 2]

    replay = make_repo(tmp_path / "replay")
    before = tree_state(replay)
    with ScriptedLLM(record) as url:  # the recording alone drives the second run
        p = baton(*run_args(replay, url), env=env)
    assert p.returncode == 0, p.stderr
    a, b = only_run(original), only_run(replay)
    assert (b.status, b.verdict, b.files_changed) == (a.status, a.verdict, a.files_changed)
    assert (run_dir(replay, b) / "changes.diff").read_text() == (run_dir(original, a) / "changes.diff").read_text()
    assert _calls(replay) == _calls(original)
    assert tree_state(replay) == before  # the replay proposes; it writes nothing


def test_record_refuses_a_folder_or_a_missing_parent_before_running(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    env = clean_env(tmp_path / "tmp")
    before = tree_state(repo)
    for target, message in [(tmp_path, "is a folder"), (tmp_path / "no" / "s.json", "does not exist")]:
        p = baton(*run_args(repo, "http://127.0.0.1:9/v1"), "--record", str(target), env=env)
        assert p.returncode == 2 and message in p.stderr, p.stderr
    assert tree_state(repo) == before
    runs = repo / ".baton" / "runs"
    assert not runs.exists() or not any(runs.iterdir())  # no run was started


async def test_the_record_sessions_setting_keeps_session_json_in_the_run_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server's (and baton.toml's) `record_sessions`: every run keeps its replayable script."""
    import sys

    from baton.pipelines.config import load_settings
    from baton.pipelines.engine import Engine
    from baton.pipelines.models import Scope, Task
    from baton.pipelines.patterns.plan_implement_review import plan_implement_review

    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    repo = make_repo(tmp_path / "repo")
    with ScriptedLLM(happy_script()) as url:
        settings = load_settings(repo, env={}, overrides={
            "base_url": url, "api_key": FAKE_KEY, "record_sessions": True, "max_retries": 0,
            "test_command": f"{sys.executable} -m pytest -q",
            "roles": {"planner": {"model": PLANNER}, "implementer": {"model": CODER}, "reviewer": {"model": REVIEWER}}})
        task = Task(text="Fix add() in calc/ops.py so that the failing test passes.", scope=Scope(root=str(repo)))
        rec = (await Engine(repo, settings).run(task, plan_implement_review)).record
    session = run_dir(repo, rec) / "session.json"
    assert rec.artifacts["session.json"] == str(session)
    script = load_script(session)
    assert script.meta is not None and script.meta.run_id == rec.id and script.meta.pattern == "plan-implement-review"
    assert sum(len(v) for v in script.models.values()) == rec.usage.calls == 7
    assert FAKE_KEY not in session.read_text() and str(repo) not in session.read_text()


def test_a_parallel_recording_replays_with_its_module_agents_in_another_order(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`baton parallel --record`: module agents call one model at once, so their answers are saved with
    their module's heading as `when` (no hand-written routing) and a replay in another order gives
    each agent its own answers, and the same result."""
    from parallel_helpers import CODER as PCODER
    from parallel_helpers import DECOMPOSER, approve, decompose, module_replies, repo, when
    from parallel_helpers import REVIEWER as PREVIEWER
    from pipeline_helpers import in_process

    from baton.pipelines.llm.script import Fault

    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    args = ("parallel", "Add a docstring to every function.", "--decomposer-model", DECOMPOSER,
            "--implementer-model", PCODER, "--reviewer-model", PREVIEWER, "--json")
    unrouted = [{k: v for k, v in r.items() if k != "when"} for r in (*module_replies("a", 1), *module_replies("b", 2))]
    source = {"models": {DECOMPOSER: [decompose("a", "b")], PCODER: unrouted, PREVIEWER: [approve()]}}
    original, record = repo(tmp_path / "orig"), tmp_path / "parallel.json"
    with ScriptedLLM(source) as url:  # one module at a time, in order: a's two answers, then b's
        done = in_process(*args, "--workspace", str(original), "--base-url", url, "--concurrency", "1",
                          "--record", str(record))
    assert done.returncode == 0, done.stderr
    recorded = load_script(record)
    coder = recorded.models[PCODER]
    assert [r.when for r in coder] == [[when("calc/a.py") + "\n"]] * 2 + [[when("calc/b.py") + "\n"]] * 2
    assert recorded.models[DECOMPOSER][0].when == recorded.models[PREVIEWER][0].when == []

    # Replay with both module agents at once, each one's first answer held until both have asked: the
    # second to ask finds the other module's answers ahead of its own, so only the routes can serve it.
    coder[0].fault = coder[2].fault = Fault(gather=2)
    replay = repo(tmp_path / "replay")
    with ScriptedLLM(recorded) as url:
        again = in_process(*args, "--workspace", str(replay), "--base-url", url, "--concurrency", "2")
    assert again.returncode == 0, again.stderr
    a, b = only_run(original), only_run(replay)
    assert (b.status, b.verdict, b.files_changed) == (a.status, a.verdict, a.files_changed) == (
        a.status.succeeded, "approved", ["calc/a.py", "calc/b.py"])
    assert (run_dir(replay, b) / "changes.diff").read_text() == (run_dir(original, a) / "changes.diff").read_text()
