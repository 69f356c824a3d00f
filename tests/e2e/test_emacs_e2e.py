"""Baton in Emacs + eglot (Debian's emacs-nox 28 and elpa-eglot 1.9), batch mode: eglot starts
`python -m baton.server`, runs baton.planImplementReview on a copy of the demo project against
the scripted model; eglot has no work-done progress, so the run's milestones (plan ready,
implementing, tests, review verdict, outcome) must arrive as window/showMessage; the edit is
applied and saved, and the files on disk are the proposal.

Needs `emacs` with eglot (`apt-get install -y emacs-nox elpa-eglot`). Without them the test
skips saying so; with CI=true it fails instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_neovim_e2e import CI, DEMO, TASK, TIMEOUT_S, make_project

from baton.pipelines.llm.scripted import ScriptedLLM

pytestmark = pytest.mark.e2e

EL = Path(__file__).with_name("emacs_e2e.el")


def emacs_or_skip() -> str:
    emacs = shutil.which("emacs")
    reason = None
    if emacs is None:
        reason = "Emacs is not installed (apt-get install -y emacs-nox elpa-eglot)"
    else:
        probe = subprocess.run([emacs, "--batch", "-q", "--eval", "(progn (package-initialize) (require 'eglot))"],
                               capture_output=True, text=True, timeout=60)
        if probe.returncode != 0:
            reason = f"eglot is not available to Emacs (apt-get install -y elpa-eglot): {probe.stderr[-300:]}"
    if reason is not None:
        if CI:
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)
    assert emacs is not None
    return emacs


@pytest.mark.parametrize("answer", ["yes", "no"])
def test_eglot_shows_the_milestones_and_applies_the_edit_only_when_the_user_says_yes(tmp_path, answer):
    emacs = emacs_or_skip()
    root = make_project(tmp_path / "proj")
    result_path = tmp_path / "result.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "BATON_"))}
    env["HOME"] = str(tmp_path)
    with ScriptedLLM(DEMO / "session.json") as url:
        options = {"baton": {"baseUrl": url, "testCommand": f"{sys.executable} -m pytest -q", "maxRetries": 0,
                             "models": {"planner": "demo-planner", "implementer": "demo-coder",
                                        "reviewer": "demo-reviewer"}}}
        config = {"root": str(root), "python": sys.executable, "task": TASK, "result": str(result_path),
                  "options_json": json.dumps(options)}
        (tmp_path / "config.json").write_text(json.dumps(config))
        env["EMACS_E2E_CONFIG"] = str(tmp_path / "config.json")
        env["EMACS_E2E_ANSWER"] = answer
        proc = subprocess.run([emacs, "--batch", "-q", "-l", str(EL)], cwd=root, env=env, capture_output=True,
                              text=True, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"emacs exited {proc.returncode}\n{proc.stderr[:3000]}"
    result = json.loads(result_path.read_text())
    assert result["errors"] == [], (result["errors"], proc.stderr[-4000:])
    run_id = result["run_id"]
    said = [m["message"] for m in result["messages"]]
    name = f"Baton “{TASK[:59]}…”: "
    assert f"{name}plan.md is ready: .baton/runs/{run_id}/plan.md" in said, said
    assert f"{name}implementing" in said, said  # eglot has no work-done progress: milestones
    assert any(m.startswith(f"{name}tests passed: ") for m in said), said
    assert any(m.startswith(f"{name}review approved: ") for m in said), said
    # eglot asked before editing files no buffer visits (the test answered yes, as a user would)
    assert len(result["prompts"]) == 1 and "tests/test_stats.py" in result["prompts"][0], result["prompts"]
    outcome = [m for m in said if m.startswith((f"{name}changes applied", f"{name}changes not applied"))]
    assert len(outcome) == 1, said
    assert not any(str(root / ".baton") in m for m in said), said  # short paths only
    if answer == "yes":
        assert outcome[0].startswith(f"{name}changes applied"), said
        assert "def top_words" in (root / "textkit" / "stats.py").read_text()  # applied and saved
        assert "def test_top_words_counts_and_orders" in (root / "tests" / "test_stats.py").read_text()
    else:  # declined: said so, and every file as it was
        assert outcome[0].startswith(f"{name}changes not applied"), said
        assert "User cancelled" in outcome[0], outcome
        assert "def top_words" not in (root / "textkit" / "stats.py").read_text()
        assert "top_words" not in (root / "tests" / "test_stats.py").read_text()
        assert "top_words" not in (root / "textkit" / "__init__.py").read_text()
