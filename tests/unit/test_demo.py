"""`baton demo` as a user runs it: a fresh folder, the bundled project, the recorded session replayed
by the scripted server, the whole pipeline for real; and its bad input."""

from __future__ import annotations

import os
from pathlib import Path

from pipeline_helpers import baton, clean_env, git, leftovers

from baton.pipelines.models import RunRecord, RunStatus


def test_demo_runs_the_pipeline_on_a_fresh_folder(tmp_path: Path) -> None:
    dest = tmp_path / "demo"
    env = clean_env(tmp_path / "tmp")
    del env["OPENAI_API_KEY"]  # the demo needs no key
    p = baton("demo", "--dir", str(dest), env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    out = p.stdout
    assert "REPLAY" in out and "no API key" in out
    assert "──── Plan (plan.md)" in out and "# Plan: Add a top_words(text, n) function" in out
    assert "──── Proposed change (changes.diff)" in out and "+def top_words(text: str, n: int)" in out
    assert "4 passed" in out and "Verdict: approved" in out
    assert out.index("plan.md") < out.index("changes.diff") < out.index("4 passed") < out.index("Verdict: approved")
    [run_dir] = (dest / ".baton" / "runs").iterdir()
    rec = RunRecord.model_validate_json((run_dir / "run.json").read_text())
    assert rec.status is RunStatus.succeeded and rec.verdict == "approved"
    assert f"run {rec.id}: succeeded, verdict approved" in out
    # the copied project is a committed repository the run did not change
    assert git(dest, "status", "--porcelain") == "" and "def top_words" not in (dest / "textkit" / "stats.py").read_text()
    assert leftovers(tmp_path / "tmp") == []


def test_demo_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    p = baton("demo", "--dir", str(tmp_path), env=clean_env(tmp_path / "tmp"))
    assert p.returncode == 2 and "the folder is not empty" in p.stderr and "Traceback" not in p.stderr
    assert sorted(os.listdir(tmp_path)) == ["keep.txt", "tmp"] and (tmp_path / "keep.txt").read_text() == "mine"


def test_demo_refuses_a_dir_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("mine")
    p = baton("demo", "--dir", str(tmp_path / "file"), env=clean_env(tmp_path / "tmp"))
    assert p.returncode == 2 and "--dir" in p.stderr and "not a folder" in p.stderr and "Traceback" not in p.stderr
    assert (tmp_path / "file").read_text() == "mine"
