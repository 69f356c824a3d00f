"""`baton demo`: the whole plan → implement → review pipeline on a bundled example project,
against the scripted model server replaying a recorded session. No key, no network.

The project is copied to a temporary folder (made a git repository, as a user's would be),
so nothing of the user's is touched; the artifacts stay there for inspection.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

from ..config import load_settings
from ..models import Pattern, RunStatus, Scope, Task

DEMO_TASK = "Add a top_words(text, n) function to textkit that returns the n most common words with their counts, with tests."
ROLES = {"planner": "demo-planner", "implementer": "demo-coder", "reviewer": "demo-reviewer"}


def demo_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", metavar="DIR", help="where to copy the example project (default: a new temp folder)")
    p.add_argument("--quiet", "-q", action="store_true", help="print only the summary")


def _copy_project(dest: Path) -> None:
    src = resources.files(__package__).joinpath("project")
    with resources.as_file(src) as path:
        shutil.copytree(path, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    git = shutil.which("git")
    if git:
        env_args = ["-c", "user.name=Baton demo", "-c", "user.email=demo@baton.invalid", "-c", "commit.gpgsign=false"]
        for cmd in (["init", "-q", "-b", "main"], ["add", "-A"], [*env_args, "commit", "-q", "-m", "textkit"]):
            subprocess.run([git, *cmd], cwd=dest, check=True, capture_output=True)


def demo(args: argparse.Namespace) -> int:
    from ..errors import UsageError
    from ..llm.scripted import ScriptedLLM

    dest = Path(args.dir).resolve() if args.dir else Path(tempfile.mkdtemp(prefix="baton-demo-"))
    if dest.exists() and not dest.is_dir():
        raise UsageError(f"--dir {dest}: not a folder; give a new or empty folder")
    if dest.exists() and any(dest.iterdir()):
        raise UsageError(f"--dir {dest}: the folder is not empty; give a new or empty folder")
    dest.mkdir(parents=True, exist_ok=True)
    _copy_project(dest)
    script = resources.files(__package__).joinpath("session.json")
    out = sys.stdout
    print("Baton demo — REPLAY of a recorded model session (scripted OpenAI-compatible server; no API key,\n"
          "no network). The pipeline, tools, sandbox and tests below are real.\n", file=out)
    print(f"project: {dest}\ntask:    {DEMO_TASK}\n", file=out)
    sandbox = _demo_sandbox(out)
    with resources.as_file(script) as script_path, ScriptedLLM(script_path) as url:
        settings = load_settings(dest, overrides={
            "base_url": url, "api_key": "replay-no-key",
            "roles": {role: {"model": model, "reasoning": False} for role, model in ROLES.items()},
            "test_command": f"{sys.executable} -m pytest -q", "max_retries": 1, "sandbox": sandbox,
        }, env={}, overrides_source="demo")
        task = Task(text=DEMO_TASK, scope=Scope(root=str(dest)), pattern=Pattern.plan_implement_review)
        rec = asyncio.run(_run(dest, settings, task, quiet=args.quiet))
    return _report(dest, rec, out)


def _demo_sandbox(out) -> str:  # type: ignore[no-untyped-def]
    """The OS sandbox when there is one. Without it the demo still runs: its code is Baton's own
    bundled recording, not a live model's; a real run would stop and say what to install."""
    from ..confine import SandboxUnavailable, resolve_confinement_sync

    try:
        resolve_confinement_sync("auto")
    except SandboxUnavailable as e:
        print(f"note: no OS sandbox here, so the demo's bundled tests run unconfined; real runs stop "
              f"until you fix this: {e}\n", file=out)
        return "none"
    return "auto"


async def _run(dest: Path, settings, task: Task, *, quiet: bool):  # type: ignore[no-untyped-def]
    from ..engine import Engine
    from ..patterns.plan_implement_review import plan_implement_review
    from ..progress_display import make_display

    display = make_display(quiet=quiet, stream=sys.stderr)
    try:
        result = await Engine(dest, settings).run(task, plan_implement_review, subscribers=[display])
    finally:
        display.close()
    return result.record


def _report(dest: Path, rec, out) -> int:  # type: ignore[no-untyped-def]
    from ..models import TestReport

    run_dir = dest / ".baton" / "runs" / rec.id

    def section(title: str, name: str) -> None:
        path = run_dir / name
        if path.is_file():
            print(f"\n──── {title} ({name}) " + "─" * max(0, 50 - len(title) - len(name)), file=out)
            print(path.read_text(encoding="utf-8").rstrip(), file=out)

    section("Plan", "plan.md")
    section("Proposed change", "changes.diff")
    tests = run_dir / "tests.json"
    if tests.is_file():
        print("\n──── Tests (tests.json) " + "─" * 36, file=out)
        print(TestReport.model_validate_json(tests.read_text()).summary_line(), file=out)
    section("Review", "review.md")
    print(f"\nrun {rec.id}: {rec.status.value}" + (f", verdict {rec.verdict}" if rec.verdict else "")
          + f" in {rec.duration_s:.1f}s", file=out)
    if rec.error:
        print(f"error: {rec.error}", file=out)
    print(f"artifacts: {run_dir}", file=out)
    print("The project itself is unchanged: Baton proposes; in the editor you review the edit inline,\n"
          f"on the command line `baton run --apply` writes it. Try: baton runs -w {dest}", file=out)
    return 0 if rec.status is RunStatus.succeeded else 1
