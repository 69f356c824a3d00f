"""The parallel-modules pattern end to end against the scripted server: fan-out, merge queue,
conflicts, write sets, failures, cancellation. Real git repositories, real pytest runs in the
sandboxes, the user's tree checked byte for byte."""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path

import pytest
from parallel_helpers import (
    CODER,
    DECOMPOSER,
    REVIEWER,
    approve,
    call,
    decompose,
    docstring,
    module_replies,
    repo,
    routed,
    settings,
)
from pipeline_helpers import leftovers, reply, tree_state

from baton.pipelines.engine import Engine
from baton.pipelines.llm.scripted import ScriptedLLM
from baton.pipelines.models import ModuleTask, Pattern, RunStatus, Scope, Task
from baton.pipelines.patterns.parallel_modules import parallel_modules
from baton.pipelines.store import RunStore


@pytest.fixture(autouse=True)
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Sandboxes go to a temp dir of this test's own, to see what is left behind."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    return tmp


def task(root: Path, text: str = "Add a docstring to every function.") -> Task:
    return Task(text=text, scope=Scope(root=str(root)), pattern=Pattern.parallel_modules)


def run_dir(root: Path, rid: str) -> Path:
    return root / ".baton" / "runs" / rid


async def test_n_modules_in_parallel_are_merged_in_order(tmp_path: Path, private_tmp: Path) -> None:
    root = repo(tmp_path)
    before = tree_state(root)
    gather = {"gather": 4}  # every module's first answer waits until all four agents are asking at once
    script = {"models": {
        DECOMPOSER: [decompose("a", "b", "c", "d")],
        CODER: [r for i, n in enumerate("abcd", 1) for r in module_replies(n, i, first_fault=gather)],
        REVIEWER: [approve()],
    }}
    server = ScriptedLLM(script)
    with server as url:
        result = await Engine(root, settings(root, url, parallel_concurrency=4)).run(task(root), parallel_modules())
    rec = result.record
    assert rec.status is RunStatus.succeeded, rec.error
    assert server.peak_in_flight >= 4
    assert rec.pattern is Pattern.parallel_modules
    assert sorted(e.path for e in result.changeset.edits) == [f"calc/{n}.py" for n in "abcd"], rec.extra
    assert {e.path: e.new_text for e in result.changeset.edits}["calc/c.py"] == docstring("c", 3)
    mods = rec.extra["modules"]
    assert [(m["path"], m["status"], m["merge_index"]) for m in mods] == [
        (f"calc/{n}.py", "merged", i) for i, n in enumerate("abcd", 1)]
    assert all(m["tokens"] > 0 and m["duration_s"] > 0 for m in mods)
    par = rec.extra["parallel"]
    assert par["peak_concurrency"] == 4 and par["merged"] == 4 and par["modules"] == 4
    d = run_dir(root, rec.id)
    for n in "abcd":
        folder = d / "modules" / f"calc_{n}.py"
        assert "Add a docstring" in (folder / "task.md").read_text()
        assert f"+    \"\"\"Return {'abcd'.index(n) + 1}.\"\"\"" in (folder / "changes.diff").read_text()
        assert json.loads((folder / "tests.json").read_text())["passed"] == 4
        assert any(json.loads(line)["type"] == "llm_call" for line in (folder / "trace.jsonl").read_text().splitlines())
    merge_md = (d / "merge.md").read_text()
    assert "4/4 modules merged." in merge_md and "## Parallel efficiency" in merge_md
    assert json.loads((d / "modules.json").read_text())["modules"][0]["status"] == "merged"
    assert "approved" in (d / "review.md").read_text().lower()
    assert tree_state(root) == before
    assert leftovers(private_tmp) == []


async def test_one_module_failing_does_not_stop_the_others(tmp_path: Path, private_tmp: Path) -> None:
    root = repo(tmp_path)
    before = tree_state(root)
    broken = routed("calc/b.py", fault={"status": 400})
    script = {"models": {
        DECOMPOSER: [decompose("a", "b", "c")],
        CODER: [*module_replies("a", 1), broken, *module_replies("c", 3)],
        REVIEWER: [approve()],
    }}
    with ScriptedLLM(script) as url:
        result = await Engine(root, settings(root, url)).run(task(root), parallel_modules())
    rec = result.record
    assert rec.status is RunStatus.succeeded, rec.error
    assert sorted(e.path for e in result.changeset.edits) == ["calc/a.py", "calc/c.py"]
    status = {m["path"]: (m["status"], m["reason"]) for m in rec.extra["modules"]}
    assert status["calc/a.py"][0] == "merged" and status["calc/c.py"][0] == "merged"
    assert status["calc/b.py"][0] == "left-out" and "HTTP 400" in status["calc/b.py"][1]
    merge_md = (run_dir(root, rec.id) / "merge.md").read_text()
    assert "`calc/b.py` (left-out)" in merge_md and "2/3 modules merged." in merge_md
    assert tree_state(root) == before and leftovers(private_tmp) == []


async def test_an_edit_outside_the_write_set_is_refused(tmp_path: Path) -> None:
    root = repo(tmp_path)
    sneaky = routed("calc/a.py", call("write_file", path="calc/b.py", content="def fb():\n    return 0\n"))
    script = {"models": {
        DECOMPOSER: [decompose("a", "b")],
        CODER: [sneaky, *[dict(r, expect="outside this module's write set") if i == 0 else r
                          for i, r in enumerate(module_replies("a", 1))], *module_replies("b", 2)],
        REVIEWER: [approve()],
    }}
    with ScriptedLLM(script) as url:
        result = await Engine(root, settings(root, url)).run(task(root), parallel_modules())
    rec = result.record
    assert rec.status is RunStatus.succeeded, rec.error
    edits = {e.path: e.new_text for e in result.changeset.edits}
    assert edits["calc/b.py"] == docstring("b", 2)  # module b's own change, not a's intrusion
    trace = (run_dir(root, rec.id) / "modules" / "calc_a.py" / "trace.jsonl").read_text()
    assert "calc/b.py lie(s) outside this module's write set" in trace


async def test_cancel_stops_every_agent_and_leaves_no_sandbox(tmp_path: Path, private_tmp: Path) -> None:
    root = repo(tmp_path)
    before = tree_state(root)
    script = {"models": {
        DECOMPOSER: [decompose("a", "b", "c")],
        CODER: [routed(f"calc/{n}.py", fault={"hang": True}) for n in "abc"],
        REVIEWER: [approve()],
    }}
    server = ScriptedLLM(script)
    with server as url:
        handle = Engine(root, settings(root, url)).start(task(root), parallel_modules())
        hanging = await asyncio.to_thread(server.wait_for, lambda reqs: sum(
            r.outcome == "hanging" for r in reqs) == 3, 30)
        assert hanging
        handle.cancel()
        result = await handle.wait()
        disconnected = await asyncio.to_thread(server.wait_for, lambda reqs: sum(
            r.outcome == "client-disconnected" for r in reqs) == 3, 30)
    assert result.record.status is RunStatus.cancelled
    assert disconnected  # every agent's request was abandoned, not left running
    assert tree_state(root) == before
    assert leftovers(private_tmp) == []


async def test_semantic_conflict_is_found_by_the_merge_validation_and_fixed_by_the_rerun(tmp_path: Path) -> None:
    files = {"calc/__init__.py": "", "calc/a.py": "def helper():\n    return 1\n",
             "calc/b.py": "def fb():\n    return 2\n",
             "tests/test_a.py": "from calc.a import helper\n\n\ndef test_helper():\n    assert helper() == 1\n",
             "tests/test_b.py": "from calc.b import fb\n\n\ndef test_fb():\n    assert fb() == 2\n"}
    root = repo(tmp_path, files)
    rename = "*** Begin Patch\n*** Update File: calc/a.py\n@@\n-def helper():\n+def assist():\n*** End Patch\n"
    rename_test = ("from calc.a import assist\n\n\ndef test_helper():\n    assert assist() == 1\n")
    uses = lambda fn: f"from calc.a import {fn}\n\n\ndef fb():\n    return {fn}() + 1\n"  # noqa: E731
    modules = [ModuleTask(path="calc/a.py", task="Rename helper to assist.", write_set=["calc/a.py", "tests/test_a.py"]),
               ModuleTask(path="calc/b.py", task="Compute fb from helper.")]
    script = {"models": {
        CODER: [
            routed("calc/a.py", call("apply_patch", patch=rename), call("write_file", path="tests/test_a.py",
                                                                        content=rename_test)),
            routed("calc/a.py", call("submit_changes", summary="Renamed.")),
            routed("calc/b.py", call("write_file", path="calc/b.py", content=uses("helper"))),
            routed("calc/b.py", call("submit_changes", summary="Uses helper.")),
            {"when": ["second attempt, on top of the merged result", "calc/b.py"],
             "expect": ["cannot import name 'helper'"],
             "tool_calls": [call("write_file", path="calc/b.py", content=uses("assist"))]},
            {"when": ["second attempt, on top of the merged result", "calc/b.py"],
             "tool_calls": [call("submit_changes", summary="Uses assist now.")]},
        ],
        REVIEWER: [approve()],
    }}
    with ScriptedLLM(script) as url:
        result = await Engine(root, settings(root, url)).run(task(root, "Rename and use."), parallel_modules(modules))
    rec = result.record
    assert rec.status is RunStatus.succeeded, rec.error
    b = next(m for m in rec.extra["modules"] if m["path"] == "calc/b.py")
    assert (b["status"], b["conflict"], b["resolved_by_rerun"], b["attempts"]) == ("merged", "semantic", True, 2)
    assert b["discarded_tokens"] > 0 and rec.extra["parallel"]["semantic_conflicts"] == 1
    assert {e.path: e.new_text for e in result.changeset.edits}["calc/b.py"] == uses("assist")
    assert "- semantic: `calc/b.py`: resolved by its re-run" in (run_dir(root, rec.id) / "merge.md").read_text()


async def test_textual_conflict_is_resolved_by_the_rerun(tmp_path: Path) -> None:
    root = repo(tmp_path)
    # both globs match calc/plugins/base.py, a file that does not exist yet: no check can see the
    # overlap up front, so the merge queue meets it
    modules = [ModuleTask(path="calc/a.py", task="Register a.", write_set=["calc/a.py", "calc/plugins/*.py"]),
               ModuleTask(path="calc/b.py", task="Register b.", write_set=["calc/b.py", "calc/plugins/b*.py"])]
    script = {"models": {
        CODER: [
            routed("calc/a.py", call("write_file", path="calc/plugins/base.py", content="PLUGINS = ['a']\n")),
            routed("calc/a.py", call("submit_changes", summary="a registered.")),
            routed("calc/b.py", call("write_file", path="calc/plugins/base.py", content="PLUGINS = ['b']\n")),
            routed("calc/b.py", call("submit_changes", summary="b registered.")),
            {"when": ["second attempt, on top of the merged result", "calc/b.py"],
             "expect": ["textual conflict", "calc/plugins/base.py"],
             "tool_calls": [call("write_file", path="calc/plugins/base.py", content="PLUGINS = ['a', 'b']\n")]},
            {"when": ["second attempt, on top of the merged result", "calc/b.py"],
             "tool_calls": [call("submit_changes", summary="b registered after a.")]},
        ],
        REVIEWER: [approve()],
    }}
    with ScriptedLLM(script) as url:
        result = await Engine(root, settings(root, url)).run(task(root, "Register."), parallel_modules(modules))
    rec = result.record
    assert rec.status is RunStatus.succeeded, rec.error
    b = next(m for m in rec.extra["modules"] if m["path"] == "calc/b.py")
    assert (b["status"], b["conflict"], b["resolved_by_rerun"]) == ("merged", "textual", True)
    assert {e.path: e.new_text for e in result.changeset.edits}["calc/plugins/base.py"] == "PLUGINS = ['a', 'b']\n"


async def test_overlapping_write_sets_are_serialised(tmp_path: Path) -> None:
    root = repo(tmp_path)
    modules = [ModuleTask(path="calc/a.py", task="Note a.", write_set=["calc/a.py", "README.md"]),
               ModuleTask(path="calc/b.py", task="Note b.", write_set=["calc/b.py", "README.md"])]
    script = {"models": {
        CODER: [
            routed("calc/a.py", call("write_file", path="README.md", content="calc\nnote a\n")),
            routed("calc/a.py", call("submit_changes", summary="a noted.")),
            # b runs on top of a's merged result: it reads README.md and finds a's line there
            routed("calc/b.py", call("read_file", path="README.md")),
            routed("calc/b.py", call("write_file", path="README.md", content="calc\nnote a\nnote b\n"),
                   expect="note a"),
            routed("calc/b.py", call("submit_changes", summary="b noted.")),
        ],
        REVIEWER: [approve()],
    }}
    with ScriptedLLM(script) as url:
        result = await Engine(root, settings(root, url)).run(task(root, "Notes."), parallel_modules(modules))
    rec = result.record
    assert rec.status is RunStatus.succeeded, rec.error
    b = next(m for m in rec.extra["modules"] if m["path"] == "calc/b.py")
    assert b["depends_on"] == ["calc/a.py"] and b["conflict"] is None
    assert {e.path: e.new_text for e in result.changeset.edits}["README.md"] == "calc\nnote a\nnote b\n"


async def test_module_over_its_token_budget_is_left_out(tmp_path: Path) -> None:
    root = repo(tmp_path)
    script = {"models": {
        DECOMPOSER: [decompose("a", "b")],
        CODER: [*module_replies("a", 1), *module_replies("b", 2)],
        REVIEWER: [approve()],
    }}
    with ScriptedLLM(script) as url:
        s = settings(root, url, module_budget_tokens=1)
        result = await Engine(root, s).run(task(root), parallel_modules())
    rec = result.record
    assert rec.status is RunStatus.failed and "no module could be merged" in (rec.error or "")
    assert all("token budget exceeded" in m["reason"] for m in rec.extra["modules"])


async def test_a_429_slows_every_agent_sharing_the_client(tmp_path: Path) -> None:
    """One shared backoff: after agent A meets a 429 with Retry-After, agent B's next call waits too."""
    from baton.pipelines.events import EventBus, EventType
    from baton.pipelines.llm.client import LLMClient
    from baton.pipelines.llm.conversation import Conversation
    from baton.pipelines.models import Role

    script = {"models": {CODER: [
        {"when": ["agent A"], "fault": {"status": 429, "retry_after": 1.5}},
        {"when": ["agent A"], "content": "A again"},
        {"when": ["agent B"], "content": "B"},
    ]}}
    server = ScriptedLLM(script)
    with server as url:
        bus = EventBus("r")
        retried = asyncio.Event()
        bus.subscribe(lambda e: retried.set() if e.type is EventType.retry else None)
        client = LLMClient(settings(tmp_path, url, max_retries=2), bus)
        try:
            a = asyncio.create_task(client.turn(Role.implementer, Conversation(system="s", user="agent A"), []))
            await retried.wait()  # A has met the 429: the shared backoff is set
            b = await client.turn(Role.implementer, Conversation(system="s", user="agent B"), [])
            await a
        finally:
            await client.aclose()
    assert b.content == "B"
    limited = next(r for r in server.requests if r.outcome == "fault:status 429")
    later = [r for r in server.requests if r.received_at > limited.received_at]
    assert len(later) == 2 and all(r.received_at - limited.received_at >= 1.5 for r in later)


async def test_overlap_goes_back_to_the_decomposer_once(tmp_path: Path) -> None:
    root = repo(tmp_path)
    overlapping = reply(call("submit_modules", summary="two", modules=[
        {"path": "calc/a.py", "task": "Docstring a.", "write_set": ["calc/a.py", "README.md"]},
        {"path": "calc/b.py", "task": "Docstring b.", "write_set": ["calc/b.py", "README.md"]}]))
    script = {"models": {
        DECOMPOSER: [overlapping, dict(decompose("a", "b"), expect="modules calc/a.py and calc/b.py may both write "
                                                                    "README.md")],
        CODER: [*module_replies("a", 1), *module_replies("b", 2)],
        REVIEWER: [approve()],
    }}
    with ScriptedLLM(script) as url:
        result = await Engine(root, settings(root, url)).run(task(root), parallel_modules())
    rec = result.record
    assert rec.status is RunStatus.succeeded, rec.error
    assert [m["write_set"] for m in rec.extra["modules"]] == [["calc/a.py"], ["calc/b.py"]]
    stats = {s.pattern: s for s in RunStore(root).stats()}
    assert stats["parallel-modules"].runs == 1 and stats["parallel-modules"].succeeded == 1


class DropModuleGate:
    """The user edits the module list at the plan gate: module b is removed."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def review_plan(self, ctx, plan, plan_path):  # type: ignore[no-untyped-def]
        self.seen.append(await asyncio.to_thread(plan_path.read_text))
        return plan.model_copy(update={"steps": [s for s in plan.steps if s.title != "calc/b.py"]})


async def test_plan_gate_lets_the_user_edit_the_module_list(tmp_path: Path) -> None:
    root = repo(tmp_path)
    script = {"models": {
        DECOMPOSER: [decompose("a", "b")],
        CODER: [*module_replies("a", 1)],
        REVIEWER: [approve()],
    }}
    gate = DropModuleGate()
    with ScriptedLLM(script) as url:
        result = await Engine(root, settings(root, url, confirm_plan=True)).run(task(root), parallel_modules(),
                                                                               gate=gate)
    rec = result.record
    assert rec.status is RunStatus.succeeded, rec.error
    assert "1. calc/a.py" in gate.seen[0] and "2. calc/b.py" in gate.seen[0] and "Files: `calc/b.py`" in gate.seen[0]
    assert [m["path"] for m in rec.extra["modules"]] == ["calc/a.py"]
    assert [e.path for e in result.changeset.edits] == ["calc/a.py"]


async def test_a_merged_change_past_max_change_files_fails_before_its_artifacts(tmp_path: Path,
                                                                                private_tmp: Path) -> None:
    """Each module writes one file (within the limit); the merged change of two is over it."""
    root = repo(tmp_path)
    before = tree_state(root)
    script = {"models": {
        DECOMPOSER: [decompose("a", "b")],
        CODER: [r for i, n in enumerate("ab", 1) for r in module_replies(n, i)],
        REVIEWER: [approve()],
    }}
    server = ScriptedLLM(script)
    with server as url:
        result = await Engine(root, settings(root, url, max_change_files=1)).run(task(root), parallel_modules())
    rec = result.record
    assert rec.status is RunStatus.failed
    assert rec.error == ("the merged change touches 2 files; at most 1 are allowed (max_change_files). "
                         "Make a smaller change, e.g. one module at a time")
    assert not (run_dir(root, rec.id) / "changes.diff").exists()
    assert [r.model for r in server.requests].count(REVIEWER) == 0
    assert tree_state(root) == before and leftovers(private_tmp) == []
