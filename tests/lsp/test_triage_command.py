"""`baton.triageFixValidate` over stdio: a JUnit report sent by the editor is reproduced,
triaged, fixed and validated in the run host, and the validated fix arrives as one workspace
edit the editor applies; bad arguments are InvalidParams errors naming the field, and start
nothing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from lsp_harness import execute, start_editor, stop_editor, wait_finished, wait_until
from lsp_session import PY, options, server_env, tree
from pygls.exceptions import JsonRpcInvalidParams

from baton.pipelines.llm.scripted import ScriptedLLM

pytestmark = pytest.mark.asyncio

OPS = "def add(a, b):\n    return a - b\n"
TESTS = "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
PATCH = "*** Begin Patch\n*** Update File: calc.py\n@@\n def add(a, b):\n-    return a - b\n+    return a + b\n*** End Patch\n"
JUNIT = ('<testsuite><testcase classname="tests.test_calc" name="test_add" file="tests/test_calc.py">'
         '<failure message="assert -1 == 5">tests/test_calc.py:5: AssertionError</failure></testcase></testsuite>')
MODELS = {"triager": "tr-triager", "implementer": "tr-coder", "reviewer": "tr-reviewer"}


def project(root: Path) -> Path:
    (root / "tests").mkdir(parents=True)
    (root / "calc.py").write_text(OPS)
    (root / "tests" / "test_calc.py").write_text(TESTS)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid", "-c", "commit.gpgsign=false"]
    for cmd in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "calc"]):
        subprocess.run([*git, *cmd], cwd=root, check=True, capture_output=True)
    return root


def script() -> dict[str, Any]:
    return {"models": {
        MODELS["triager"]: [{"tool_calls": [{"name": "submit_triage", "arguments": {
            "category": "code-bug", "summary": "add() subtracts.", "cause": "calc.add returns a - b.",
            "failing_tests": ["tests/test_calc.py::test_add"], "suspected_files": ["calc.py"], "confidence": "high",
            "fixable": True}}], "expect": ["untrusted data", "failed 2 of 2"]}],
        MODELS["implementer"]: [{"tool_calls": [{"name": "apply_patch", "arguments": {"patch": PATCH}}]},
                                {"tool_calls": [{"name": "submit_changes", "arguments": {"summary": "add() adds."}}]}],
        MODELS["reviewer"]: [{"tool_calls": [{"name": "submit_review", "arguments": {
            "verdict": "approved", "summary": "Right fix.", "findings": []}}], "expect": "passed 2 of 2"}],
    }}


async def test_a_junit_report_from_the_editor_is_fixed_and_arrives_as_one_edit(tmp_path: Path) -> None:
    root = project(tmp_path / "calc")
    llm = ScriptedLLM(script())
    opts = options(llm.start(), prefix=None, models=MODELS, testCommand=f"{PY} -m pytest -q")
    opts["baton"]["triageReruns"] = 2
    client, state = await start_editor([root], "visual-studio-code", opts,
                                       env=server_env(PYTEST_DISABLE_PLUGIN_AUTOLOAD="1"))
    try:
        answer = await execute(client, "baton.triageFixValidate", {"junit": JUNIT})
        final = await wait_finished(client, answer["runId"])
        assert final["status"] == "succeeded", final
        await wait_until("the fix to be applied", lambda: state.applied.is_set())
        assert (root / "calc.py").read_text() == OPS.replace("a - b", "a + b")
        run_dir = root / ".baton" / "runs" / answer["runId"]
        record = json.loads((run_dir / "run.json").read_text())
        assert record["pattern"] == "triage-fix-validate" and record["extra"]["outcome"] == "fixed"
        assert (run_dir / "pr.md").is_file() and (run_dir / "triage.md").is_file()
    finally:
        await stop_editor(client)
        llm.stop()


@pytest.mark.parametrize(("arguments", "words"), [
    ({"junit": JUNIT, "log": "FAILED tests/test_calc.py::test_add"}, ["one failure input", "`junit`", "`log`"]),
    ({"junit": "<testsuite><testcase"}, ["`junit`", "not well-formed XML"]),
    ({"log": "   "}, ["`log`", "is empty"]),
    ({"logUri": "/tmp/ci.log"}, ["`logUri`", "file:// URI"]),
    ({"logUri": "file:///nonexistent/ci.log"}, ["`logUri`", "cannot be read"]),
    ({"issue": "{broken json"}, ["`issue`", "does not parse"]),
    ({"failure": "x"}, ["`failure`", "unknown field"]),
    ({"tests": ["--rootdir=/"]}, ["`tests`", "not a pytest id"]),
    ({"tests": ["tests/test_calc.py::test_add"], "issue": "x"}, ["one failure input"]),
])
async def test_bad_triage_arguments_name_the_field_and_start_nothing(tmp_path: Path, arguments: dict[str, Any],
                                                                     words: list[str]) -> None:
    root = project(tmp_path / "calc")
    before = tree(root)
    llm = ScriptedLLM(script())
    client, _ = await start_editor([root], "visual-studio-code", options(llm.start(), prefix=None, models=MODELS))
    try:
        with pytest.raises(JsonRpcInvalidParams) as err:
            await execute(client, "baton.triageFixValidate", arguments)
        message = str(err.value)
        assert message.startswith("baton.triageFixValidate") or "baton.triageFixValidate" in message
        for w in words:
            assert w in message, message
        assert llm.requests == [] and tree(root) == before and not (root / ".baton" / "runs").exists()
    finally:
        await stop_editor(client)
        llm.stop()


async def test_a_test_named_by_the_code_action_that_passes_is_not_reproducible(tmp_path: Path) -> None:
    root = project(tmp_path / "calc")
    (root / "calc.py").write_text(OPS.replace("a - b", "a + b"))  # uncommitted: the sandbox copies it
    before = tree(root)
    llm = ScriptedLLM(script())
    opts = options(llm.start(), prefix=None, models=MODELS, testCommand=f"{PY} -m pytest -q")
    opts["baton"]["triageReruns"] = 1
    client, state = await start_editor([root], "visual-studio-code", opts,
                                       env=server_env(PYTEST_DISABLE_PLUGIN_AUTOLOAD="1"))
    try:
        answer = await execute(client, "baton.triageFixValidate", {"tests": ["tests/test_calc.py::test_add"],
                                                                   "scope": root.as_uri()})
        final = await wait_finished(client, answer["runId"])
        assert final["status"] == "failed"
        record = json.loads((root / ".baton" / "runs" / answer["runId"] / "run.json").read_text())
        assert record["extra"]["outcome"] == "not-reproducible"
        assert "passed in all 1 rerun(s)" in record["error"]
        assert llm.requests == [] and state.edit_requests == [] and tree(root) == before
    finally:
        await stop_editor(client)
        llm.stop()
