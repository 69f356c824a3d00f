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
