"""Baton in a real editor: Neovim 0.7's built-in LSP client starts `python -m baton.server`,
runs baton.planImplementReview on a temporary copy of the demo project against the scripted
model (the demo's recorded session, real pytest in the sandbox), applies the edit, writes the
buffers; the test checks the files on disk and runs the project's tests on them.

Needs `nvim` (Debian's neovim 0.7.2: `apt-get install -y neovim`). Without it the test skips
saying so; with CI=true it fails instead. Facts about Neovim 0.7 this relies on are in
/work/shared/E2E-CLIENTS.md: no `nvim -l`, vim.lsp.start_client + buf_attach_client, no
showDocument (the paths come as messages), no documentChanges advertised (plain `changes`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from baton.pipelines.llm.scripted import ScriptedLLM

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
LUA = Path(__file__).with_name("neovim_e2e.lua")
PLUGIN_LUA = Path(__file__).with_name("neovim_plugin_e2e.lua")
DEMO = REPO / "pipelines" / "demo"
TASK = "Add a top_words(text, n) function to textkit that returns the n most common words with their counts, with tests."
TIMEOUT_S = 240  # safety net for a loaded machine; nothing asserts on time
CI = os.environ.get("CI") == "true"

EXPECTED_STATS_TAIL = '''

def top_words(text: str, n: int) -> list[tuple[str, int]]:
    """The n most common words with their counts; ties keep first-seen order."""
    if n < 0:
        raise ValueError(f"n must be zero or more, got {n}")
    return Counter(words(text)).most_common(n)
'''


def nvim_or_skip() -> str:
    nvim = shutil.which("nvim")
    if nvim is None:
        reason = "Neovim is not installed (apt-get install -y neovim)"
        if CI:
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)
    out = subprocess.run([nvim, "--version"], capture_output=True, text=True, timeout=30).stdout
    m = re.match(r"NVIM v(\d+)\.(\d+)", out)
    if not m or (int(m.group(1)), int(m.group(2))) < (0, 7):
        pytest.fail(f"need Neovim 0.7 or newer, found: {out.splitlines()[0] if out else 'nothing'}")
    return nvim


def make_project(dest: Path) -> Path:
    shutil.copytree(DEMO / "project", dest, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid", "-c", "commit.gpgsign=false"]
    for cmd in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "textkit"]):
        subprocess.run([*git, *cmd], cwd=dest, check=True, capture_output=True)
    return dest


def test_neovim_runs_plan_implement_review_and_writes_the_edit(tmp_path):
    nvim = nvim_or_skip()
    root = make_project(tmp_path / "proj")
    original_stats = (root / "textkit" / "stats.py").read_text()
    result_path = tmp_path / "result.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "BATON_"))}
    env["HOME"] = str(tmp_path)  # no user config, no shada
    with ScriptedLLM(DEMO / "session.json") as url:
        config = {
            "root": str(root), "python": sys.executable, "task": TASK, "result": str(result_path),
            # a local endpoint needs no API key
            "options": {"baseUrl": url, "testCommand": f"{sys.executable} -m pytest -q", "maxRetries": 0,
                        "models": {"planner": "demo-planner", "implementer": "demo-coder",
                                   "reviewer": "demo-reviewer"}},
        }
        (tmp_path / "config.json").write_text(json.dumps(config))
        env["NVIM_E2E_CONFIG"] = str(tmp_path / "config.json")
        proc = subprocess.run([nvim, "--headless", "-u", "NONE", "-i", "NONE", "-n", "-c", f"luafile {LUA}"],
                              cwd=root, env=env, capture_output=True, text=True, timeout=TIMEOUT_S,
                              stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"nvim exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-4000:]}"
    result = json.loads(result_path.read_text())
    assert result["errors"] == [], (result["errors"], proc.stderr[-4000:])

    assert "baton.planImplementReview" in result["commands"]
    assert "`tsak`" in result["bad_argument_error"] and "unknown field" in result["bad_argument_error"]
    run_id = result["run_id"]
    assert result["final"]["status"] == "succeeded" and result["final"]["verdict"] == "approved"

    # progress: begin → reports → end, shown by Neovim's $/progress handler
    kinds = [p["kind"] for p in result["progress"]]
    assert kinds[0] == "begin" and kinds[-1] == "end" and "report" in kinds
    assert any((p.get("message") or "").startswith("implementing") for p in result["progress"])

    # no showDocument in 0.7: plan.md and review.md are named in messages, by short path
    for name in ("plan.md", "review.md"):
        assert any(m.endswith(f"{name} is ready: .baton/runs/{run_id}/{name}") for m in result["messages"]), \
            result["messages"]

    # one edit, as plain `changes` (0.7 does not advertise documentChanges), applied
    assert result["edit_forms"] == ["changes"]
    assert result["edits"][0]["applied"] is True
    assert any("changes applied" in m for m in result["messages"])
    assert [(d["source"], d["lnum"]) for d in result["diagnostics"]] == [("baton", 22)]  # finding at line 23 of stats.py (0-based 22)

    # the buffers were written: the files on disk are the proposal, and its tests pass
    assert result["modified_after_write"] == []
    stats = (root / "textkit" / "stats.py").read_text()
    assert stats == original_stats.replace("import re\n", "import re\nfrom collections import Counter\n", 1) + EXPECTED_STATS_TAIL
    assert "top_words" in (root / "textkit" / "__init__.py").read_text()
    assert "def test_top_words_rejects_negative_n" in (root / "tests" / "test_stats.py").read_text()
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=root,
                           capture_output=True, text=True, timeout=TIMEOUT_S)
    assert tests.returncode == 0 and "4 passed" in tests.stdout, tests.stdout
    assert [(r["runId"], r["status"]) for r in result["runs"]] == [(run_id, "succeeded")]


def test_the_neovim_plugin_opens_plan_and_review_asks_before_applying_and_lists_runs(tmp_path):
    """client-nvim/: :BatonRunModule on the current file's folder, plan.md and review.md in
    splits as they arrive, progress echoed and in the statusline, the diff shown and the
    change applied only after the user said yes, :BatonRuns in the quickfix list."""
    nvim = nvim_or_skip()
    root = make_project(tmp_path / "proj")
    original_stats = (root / "textkit" / "stats.py").read_text()
    result_path = tmp_path / "result.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "BATON_"))}
    env["HOME"] = str(tmp_path)
    with ScriptedLLM(DEMO / "session.json") as url:
        config = {
            "root": str(root), "python": sys.executable, "task": TASK, "result": str(result_path),
            "plugin": str(REPO / "client-nvim"),
            "options": {"baseUrl": url, "testCommand": f"{sys.executable} -m pytest -q", "maxRetries": 0,
                        "models": {"planner": "demo-planner", "implementer": "demo-coder",
                                   "reviewer": "demo-reviewer"}},
        }
        (tmp_path / "config.json").write_text(json.dumps(config))
        env["NVIM_E2E_CONFIG"] = str(tmp_path / "config.json")
        proc = subprocess.run([nvim, "--headless", "-u", "NONE", "-i", "NONE", "-n", "-c", f"luafile {PLUGIN_LUA}"],
                              cwd=root, env=env, capture_output=True, text=True, timeout=TIMEOUT_S,
                              stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"nvim exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-4000:]}"
    result = json.loads(result_path.read_text())
    assert result["errors"] == [], (result["errors"], proc.stderr[-4000:])
    assert result["commands"] is True
    assert result["echoes"][0] == "Baton: no active run to cancel"
    run_id = result["run_id"]
    assert result["final"]["status"] == "succeeded" and result["final"]["verdict"] == "approved"

    # plan.md and review.md were opened in splits as they arrived
    run_dir = root / ".baton" / "runs" / run_id
    assert {str(run_dir / "plan.md"), str(run_dir / "review.md")} <= set(result["windows"]), result["windows"]
    # progress in the message area and the statusline
    assert "Baton: implementing" in result["statuslines"], result["statuslines"]
    assert any(e.startswith("Baton: implementing — Add a top_words") for e in result["echoes"]), result["echoes"]
    assert result["statuslines"][-1] == "Baton: succeeded (approved)"

    # asked once, with the diff, before anything was applied
    assert len(result["confirms"]) == 1
    asked = result["confirms"][0]
    assert "\n".join(asked["stats_before"]) + "\n" == original_stats  # nothing applied while asking
    assert "+++ b/textkit/stats.py" in asked["diff"] and "+def top_words(text: str, n: int) -> list[tuple[str, int]]:" \
        in asked["diff"]
    assert "textkit/stats.py" in "\n".join(asked["summary"])
    assert "def top_words" in (root / "textkit" / "stats.py").read_text()  # applied after yes, then written

    # :BatonRuns: the run in the quickfix list, opening its review
    assert len(result["quickfix"]) == 1 and run_id in result["quickfix"][0]["text"]
    assert result["quickfix"][0]["file"] == str(run_dir / "review.md")
