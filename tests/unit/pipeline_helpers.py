"""Shared pieces of the end-to-end pipeline tests: a real git repository with a real pytest
project, scripts for the scripted model server, the `baton` CLI as a subprocess, and the
fingerprint of a user's tree (files, index, HEAD, refs, worktrees) that a run must not change.

Nothing here fakes a part of Baton: the model is the scripted OpenAI-compatible server over
real HTTP, the repository is a real `git init`, the tests in the sandbox are real pytest runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from baton.pipelines.head_snapshot import STORE_PREFIX, held_snapshots
from baton.pipelines.llm.scripted import RecordedRequest, ScriptedLLM
from baton.pipelines.models import RunRecord

# The installed console script, exactly as a user runs it.
BATON = str(Path(sys.executable).with_name("baton"))

PLANNER, CODER, REVIEWER = "t-planner", "t-coder", "t-reviewer"
MODEL_FLAGS = ["--planner-model", PLANNER, "--implementer-model", CODER, "--reviewer-model", REVIEWER]
FAKE_KEY = "sk-test-DO-NOT-LEAK-0123456789abcdef"  # a fake key: it must never reach a trace or output

TASK = "Fix add() in calc/ops.py so that the failing test passes."

OPS = '"""Arithmetic."""\n\n\ndef add(a, b):\n    return a - b\n\n\ndef mul(a, b):\n    return a * b\n'
OPS_FIXED = OPS.replace("return a - b", "return a + b")
TEST_OPS = ("from calc.ops import add, mul\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n\n"
            "def test_mul():\n    assert mul(2, 3) == 6\n")
PROJECT = {
    "calc/__init__.py": '"""calc: tiny arithmetic (a Baton test project)."""\n',
    "calc/ops.py": OPS,
    "tests/test_ops.py": TEST_OPS,
    "README.md": "calc\n",
}


def patch(path: str, old: str, new: str, context_before: str = "def add(a, b):") -> str:
    """An apply_patch text replacing one line (after a context line) in one file."""
    return (f"*** Begin Patch\n*** Update File: {path}\n@@\n {context_before}\n-{old}\n+{new}\n*** End Patch\n")


FIX_PATCH = patch("calc/ops.py", "    return a - b", "    return a + b")


# --------------------------------------------------------------------------- repositories


def git(repo: Path, *args: str) -> str:
    """git without optional locks, so looking at a repository never rewrites its index."""
    return subprocess.run(["git", "--no-optional-locks", "-C", str(repo), "-c", "user.name=Test",
                           "-c", "user.email=test@example.invalid", "-c", "commit.gpgsign=false", *args],
                          capture_output=True, text=True, check=True).stdout


def write_files(root: Path, files: Mapping[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")


def make_repo(root: Path, files: Mapping[str, str] = PROJECT) -> Path:
    """A committed git repository (user.name/email set) holding `files`."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Test")
    git(root, "config", "user.email", "test@example.invalid")
    write_files(root, files)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    return root


def tree_state(repo: Path) -> dict[str, Any]:
    """Every byte a run must leave alone: all files (incl. .git: index, HEAD, refs, config), except
    Baton's own .baton/, plus what git reports (status, worktrees)."""
    hashes: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(repo):
        rel_dir = Path(dirpath).relative_to(repo)
        if rel_dir == Path("."):
            if ".baton" in dirnames:
                dirnames.remove(".baton")
        for name in filenames:
            p = Path(dirpath) / name
            hashes[(rel_dir / name).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return {
        "files": hashes,
        "status": git(repo, "status", "--porcelain=v1", "--untracked-files=all"),
        "worktrees": git(repo, "worktree", "list", "--porcelain"),
    }


def leftovers(tmp: Path) -> list[str]:
    """What a run left in its temp dir (sandboxes, junit files). The kept snapshots of HEAD
    (pipelines/head_snapshot.py) stay by design; one still held by a sandbox is a leftover."""
    if not tmp.exists():
        return []
    out = sorted(p.name for p in tmp.iterdir() if not p.name.startswith(STORE_PREFIX))
    return out + [f"held snapshot {p.name}" for p in held_snapshots(tmp)]




# --------------------------------------------------------------------------- scripts


def call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"name": name, "arguments": arguments}


def reply(*calls: dict[str, Any], content: str | None = None, expect: str | Iterable[str] | None = None,
          fault: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if content:
        out["content"] = content
    if calls:
        out["tool_calls"] = list(calls)
    if expect:
        out["expect"] = [expect] if isinstance(expect, str) else list(expect)
    if fault:
        out["fault"] = fault
    return out


def plan_args(summary: str = "Make add() return the sum instead of the difference.") -> dict[str, Any]:
    return {
        "summary": summary,
        "steps": [{"title": "Return a + b from add()", "detail": "Replace the subtraction with an addition.",
                   "files": ["calc/ops.py"]}],
        "files_to_touch": ["calc/ops.py"],
        "decisions": [{"title": "Fix in place", "choice": "change the operator",
                       "rationale": "the smallest change that makes the test pass",
                       "alternatives": ["rewrite add() with sum()"]}],
        "risks": ["none beyond add() itself"],
        "test_strategy": "tests/test_ops.py::test_add covers it; run the whole suite.",
    }


def planner_replies() -> list[dict[str, Any]]:
    return [
        reply(call("read_file", path="calc/ops.py"), content="Reading the code.", expect="Fix add()"),
        reply(call("submit_plan", **plan_args()), expect="return a - b"),
    ]


def approve(summary: str = "The fix is correct and the tests pass.", expect: str | None = "+    return a + b"
            ) -> dict[str, Any]:
    return reply(call("submit_review", verdict="approved", summary=summary, findings=[]), expect=expect)


def reject(message: str, line: int = 5, summary: str = "Needs a docstring.") -> dict[str, Any]:
    return reply(call("submit_review", verdict="rejected", summary=summary, findings=[
        {"path": "calc/ops.py", "line": line, "severity": "error", "message": message,
         "suggestion": '    """Return the sum of a and b."""'}]))


def submit(summary: str = "Fixed add() to return a + b.", expect: str | None = None) -> dict[str, Any]:
    return reply(call("submit_changes", summary=summary, tests_passed=True), expect=expect)


def happy_script() -> dict[str, Any]:
    """plan → apply_patch → run_tests → submit → approved."""
    return {"models": {
        PLANNER: planner_replies(),
        CODER: [reply(call("apply_patch", patch=FIX_PATCH), expect="Return a + b from add()"),
                reply(call("run_tests"), expect="Applied"),
                submit(expect="PASSED")],
        REVIEWER: [reply(call("read_file", path="calc/ops.py"), expect="+    return a + b"),
                   approve(expect="return a + b")],
    }}


def requests_of(server: ScriptedLLM, model: str) -> list[RecordedRequest]:
    return [r for r in server.requests if r.model == model]


def request_text(req: RecordedRequest) -> str:
    """Everything the model was sent, JSON-escaped strings unescaped (message contents joined)."""
    body = req.body or {}
    parts = []
    for m in body.get("messages", []):
        parts.append(str(m.get("content") or ""))
        for tc in m.get("tool_calls") or []:
            args = json.loads(tc["function"]["arguments"] or "{}")
            parts += [str(v) for v in args.values()] if isinstance(args, dict) else [str(args)]
    return "\n".join(parts)


# --------------------------------------------------------------------------- the CLI


def clean_env(tmp: Path, **extra: str) -> dict[str, str]:
    """The environment of a `baton` subprocess: no real endpoint or key, a private temp dir (to see
    leftovers), and no pytest plugin autoload in the sandbox's test runs (the tiny project needs none;
    loading the dev venv's plugins costs seconds)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "BATON_", "AZURE_OPENAI"))}
    tmp.mkdir(parents=True, exist_ok=True)
    env.update(TMPDIR=str(tmp), PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", PYTHONDONTWRITEBYTECODE="1",
               OPENAI_API_KEY=FAKE_KEY)
    env.update(extra)
    return env


def baton(*args: str, env: Mapping[str, str], cwd: Path | None = None, timeout: float = 120
          ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BATON, *args], capture_output=True, text=True, env=dict(env), cwd=cwd,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def run_args(repo: Path, url: str, task: str = TASK, *extra: str) -> list[str]:
    return ["run", task, "--workspace", str(repo), "--base-url", url, *MODEL_FLAGS, *extra]


def only_run(repo: Path) -> RunRecord:
    """The one run in the repository's store, read from its run.json."""
    dirs = [d for d in (repo / ".baton" / "runs").iterdir() if d.is_dir()]
    assert len(dirs) == 1, dirs
    return RunRecord.model_validate_json((dirs[0] / "run.json").read_text(encoding="utf-8"))


def run_dir(repo: Path, rec: RunRecord) -> Path:
    return repo / ".baton" / "runs" / rec.id


def trace_events(repo: Path, rec: RunRecord) -> list[dict[str, Any]]:
    lines = (run_dir(repo, rec) / "trace.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def in_process(*args: str) -> subprocess.CompletedProcess[str]:
    """`baton ARGS` through `baton.pipelines.cli.main` in this process, output captured."""
    import contextlib
    import io

    from baton.pipelines.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return subprocess.CompletedProcess(["baton", *args], code, out.getvalue(), err.getvalue())
