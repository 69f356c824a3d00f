"""`baton show ID | head` and friends: a reader that leaves early ends the command quietly
(exit 141, like other Unix tools), never with a BrokenPipeError traceback."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pipeline_helpers import BATON

from baton.pipelines.models import RunRecord, RunStatus, Scope
from baton.pipelines.store import RunStore


@pytest.mark.parametrize("command", [["show", "20260101-000000-abcd"], ["runs"], ["stats"]])
def test_a_closed_pipe_ends_the_command_without_a_traceback(tmp_path: Path, command: list[str]) -> None:
    store = RunStore(tmp_path)
    store.save(RunRecord(id="20260101-000000-abcd", pattern="plan-implement-review", task="fix add()",
                         scope=Scope(root=str(tmp_path)), status=RunStatus.succeeded, duration_s=1.0))
    store.write_artifact("20260101-000000-abcd", "plan.md", "# Plan\n\n" + "- a step\n" * 5000)
    proc = subprocess.Popen([BATON, *command, "-w", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the first line (`| head -0`)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert err == ""
