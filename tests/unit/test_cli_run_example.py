"""The "done when" of headless plan-implement-review: `baton scripted-llm` started as its own
process with the hand-written script of examples/fix-failing-test/, then `baton run` against it
over HTTP fixes the example project's real failing tests, and `baton stats` reports the run."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

from pipeline_helpers import BATON, baton, clean_env, git, leftovers, only_run, run_dir, tree_state

from baton.pipelines.models import ChangeSet, RunStatus, TestReport

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fix-failing-test"
TASK = "Fix c_to_f in convert.py so that the failing tests pass."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(env: dict[str, str]) -> tuple[subprocess.Popen[str], int]:
    """`baton scripted-llm --script script.json --port P` on a free port P (tried again if taken meanwhile)."""
    for _ in range(3):
        port = free_port()
        server = subprocess.Popen([BATON, "scripted-llm", "--script", str(EXAMPLE / "script.json"),
                                   "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=env)
        banner = server.stdout.readline()  # type: ignore[union-attr]
        if banner.startswith(f"Scripted OpenAI-compatible server on http://127.0.0.1:{port}/v1"):
            return server, port
        _, err = server.communicate(timeout=30)
        assert server.returncode == 2 and "cannot listen" in err, banner + err
    raise AssertionError("no free port for the scripted server after 3 tries")


def test_example_runs_headless_against_the_scripted_llm_process(tmp_path: Path) -> None:
    assert TASK in (EXAMPLE / "README.md").read_text()  # the README's command is the one tested here
    repo = tmp_path / "convert"
    shutil.copytree(EXAMPLE / "project", repo, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "start")
    env = clean_env(tmp_path / "tmp")
    failing = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=repo, env=env,
                             capture_output=True, text=True, timeout=120)
    assert failing.returncode == 1 and "2 failed" in failing.stdout  # a real failing test to fix
    before = tree_state(repo)

    server, port = start_server(env)
    try:
        url = f"http://127.0.0.1:{port}/v1"
        p = baton("run", TASK, "--workspace", str(repo), "--base-url", url, env=env)  # models from baton.toml
        stats = baton("stats", "--json", "--workspace", str(repo), env=env)
    finally:
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr
    replies = sum(len(v) for v in json.loads((EXAMPLE / "script.json").read_text())["models"].values())
    assert server.returncode == 0 and f"stopped after {replies} requests" in out, out + err

    rec = only_run(repo)
    assert rec.status is RunStatus.succeeded and rec.verdict == "approved"
    assert {m: u.calls for m, u in rec.usage_by_role.items()} == {"planner": 2, "implementer": 3, "reviewer": 1}
    d = run_dir(repo, rec)
    for name in ("plan.md", "decisions.json", "changes.diff", "changes.patch", "changes.json", "tests.json",
                 "review.md", "run.json", "trace.jsonl"):
        assert (d / name).is_file() and (d / name).stat().st_size > 0, name
    assert "1. Use the offset 32 in c_to_f" in (d / "plan.md").read_text()
    assert "+    return celsius * 9 / 5 + 32" in (d / "changes.diff").read_text()
    [edit] = ChangeSet.model_validate_json((d / "changes.json").read_text()).edits
    assert edit.path == "convert.py" and "+ 32\n" in (edit.new_text or "")
    tests = TestReport.model_validate_json((d / "tests.json").read_text())
    assert tests.ok and tests.passed == 2
    assert (d / "review.md").read_text().startswith("Verdict: approved\n")

    assert stats.returncode == 0, stats.stderr
    [row] = json.loads(stats.stdout)
    assert (row["pattern"], row["runs"], row["succeeded"], row["success_rate"]) == ("plan-implement-review", 1, 1, 1.0)
    assert row["mean_duration_s"] == rec.duration_s > 0
    assert tree_state(repo) == before and leftovers(tmp_path / "tmp") == []
