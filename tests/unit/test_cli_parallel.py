"""`baton parallel` bad input: clear errors, exit 2, the user's tree byte-identical."""

from __future__ import annotations

from pathlib import Path

import pytest
from parallel_helpers import repo
from pipeline_helpers import in_process, tree_state


@pytest.mark.parametrize(("args", "message"), [
    (["--modules", "../elsewhere"], "--modules ../elsewhere: must be inside the workspace"),
    (["--modules", "calc/missing.py"], "--modules calc/missing.py: no such file or folder"),
    (["--modules", "."], "that is the whole workspace"),
    (["--concurrency", "0"], "parallel_concurrency"),
])
def test_bad_flags_are_refused_and_nothing_is_written(tmp_path: Path, args: list[str], message: str) -> None:
    root = repo(tmp_path)
    before = tree_state(root)
    done = in_process("parallel", "Add docstrings.", "--workspace", str(root), "--base-url", "http://127.0.0.1:9/v1",
                      *args)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert tree_state(root) == before
    assert not (root / ".baton").exists()


def test_empty_task_is_refused(tmp_path: Path) -> None:
    root = repo(tmp_path)
    done = in_process("parallel", "  ", "--workspace", str(root))
    assert done.returncode == 2 and "the task is empty" in done.stderr


def test_parallel_run_with_modules_json_and_apply(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from parallel_helpers import CODER, REVIEWER, approve, docstring, module_replies

    from baton.pipelines.llm.scripted import ScriptedLLM

    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    root = repo(tmp_path)
    script = {"models": {CODER: [*module_replies("a", 1), *module_replies("b", 2)], REVIEWER: [approve()]}}
    with ScriptedLLM(script) as url:
        done = in_process("parallel", "Add a docstring to every function.", "--workspace", str(root),
                          "--base-url", url, "--implementer-model", CODER, "--reviewer-model", REVIEWER,
                          "--modules", "calc/a.py", "calc/b.py", "--concurrency", "2", "--apply", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["status"] == "succeeded" and sorted(out["applied"]) == ["calc/a.py", "calc/b.py"]
    assert (root / "calc/a.py").read_text() == docstring("a", 1)
    assert (root / "calc/c.py").read_text().count('"""') == 2  # untouched: only the module docstring
