"""`baton run`: plan-implement-review headless, for terminals and CI.

Exit codes: 0 approved; 1 rejected, failed or cancelled (Ctrl-C or SIGTERM end the run cleanly:
status `cancelled` in run.json, sandbox removed) or `--apply` refused; 2 usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import ConfigError, Settings, load_settings
from .errors import UsageError
from .models import Pattern, RunRecord, RunStatus, Scope, Task
from .progress_display import make_display

if TYPE_CHECKING:
    from .edits.diff import DiffStats


def _common_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workspace", "-w", default=".", help="workspace root (default: current directory)")
    p.add_argument("--json", action="store_true", help="print the result as JSON (for machines)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    g = p.add_argument_group("model settings (override baton.toml and the environment)")
    g.add_argument("--base-url", help="OpenAI-compatible endpoint, e.g. http://localhost:11434/v1")
    g.add_argument("--model", help="model for every role")
    for role in ("planner", "implementer", "reviewer"):
        g.add_argument(f"--{role}-model", help=f"model for the {role}")
    g.add_argument("--test-command", help="test command run in the sandbox (default: detect pytest)")
    g.add_argument("--run-timeout", type=float, metavar="SECONDS", help="wall-time limit of the run")
    g.add_argument("--budget-tokens", type=int, help="stop the run past this many tokens")
    g.add_argument("--sandbox", choices=("auto", "bwrap", "sandbox-exec", "none"),
                   help="OS sandbox for the tests the model wrote (default auto; none runs them unconfined)")


def record_argument(p: argparse.ArgumentParser) -> None:
    """`--record FILE`, shared by every pattern's command (`_execute` honours it)."""
    p.add_argument("--record", metavar="FILE",
                   help="save the model's answers as a scripted-server script (secrets and absolute paths "
                        "removed), to replay this session as a regression case (`baton eval`, `baton scripted-llm`)")


def run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("task", help="what to do, in plain words")
    p.add_argument("--module", "-m", metavar="PATH", help="restrict the run to this file or folder of the workspace")
    p.add_argument("--apply", action="store_true",
                   help="write the approved changes to the workspace (refused if a touched file changed meanwhile)")
    _common_arguments(p)
    record_argument(p)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    o: dict[str, Any] = {}
    if args.base_url:
        o["base_url"] = args.base_url
    roles: dict[str, dict[str, str]] = {}
    if args.model:
        for r in ("planner", "implementer", "reviewer", "triager", "decomposer"):
            roles[r] = {"model": args.model}
    for r in ("planner", "implementer", "reviewer"):
        v = getattr(args, f"{r}_model", None)
        if v:
            roles[r] = {"model": v}
    if roles:
        o["roles"] = roles
    if args.test_command:
        o["test_command"] = args.test_command
    if args.run_timeout is not None:  # 0 or less is refused by the settings, not silently ignored
        o["run_timeout_s"] = args.run_timeout
    if args.budget_tokens is not None:
        o["budget_tokens"] = args.budget_tokens
    if getattr(args, "sandbox", None):
        o["sandbox"] = args.sandbox
    return o


def resolve_workspace(args: argparse.Namespace) -> Path:
    ws = Path(args.workspace).expanduser()
    if not ws.is_dir():
        raise UsageError(f"--workspace {args.workspace}: not a directory")
    return ws.resolve()


def build_scope(ws: Path, module: str | None) -> Scope:
    if module is None:
        return Scope(root=str(ws))
    target = (ws / module).resolve() if not Path(module).is_absolute() else Path(module).resolve()
    if target != ws and ws not in target.parents:
        raise UsageError(f"--module {module}: must be inside the workspace {ws}")
    if not target.exists():
        raise UsageError(f"--module {module}: no such file or folder in {ws}")
    return Scope(root=str(ws), path=target.relative_to(ws).as_posix())


def load(ws: Path, args: argparse.Namespace) -> Settings:
    try:
        return load_settings(ws, overrides=_overrides(args), overrides_source="command-line flags")
    except ConfigError as e:
        raise UsageError(str(e)) from None


def check_store(ws: Path) -> None:
    """Refuse, before any model call, a workspace whose `.baton` Baton cannot safely write."""
    from .store import RunStore, StoreRefused

    try:
        RunStore(ws).ensure()
    except StoreRefused as e:
        raise UsageError(f"{ws}: {e}") from None


def run(args: argparse.Namespace) -> int:
    ws = resolve_workspace(args)
    scope = build_scope(ws, args.module)
    settings = load(ws, args)
    if not args.task.strip():
        raise UsageError("the task is empty: say what should be done")
    check_store(ws)
    task = Task(text=args.task, scope=scope, pattern=Pattern.plan_implement_review)
    from .patterns.plan_implement_review import plan_implement_review

    return execute(ws, settings, task, plan_implement_review, args, apply=args.apply)


def execute(ws: Path, settings: Settings, task: Task, pattern: Any, args: argparse.Namespace, *, apply: bool) -> int:
    """Run a pattern to the end with progress output; Ctrl-C cancels cleanly."""
    return asyncio.run(_execute(ws, settings, task, pattern, args, apply=apply))


async def _execute(ws: Path, settings: Settings, task: Task, pattern: Any, args: argparse.Namespace,
                   *, apply: bool) -> int:
    result = await run_to_end(ws, settings, task, pattern, args)
    rec = result.record
    applied: list[str] = []
    apply_error: str | None = None
    if apply and rec.status is RunStatus.succeeded and result.changeset and not result.changeset.is_empty():
        from .sandbox import apply_to_workspace

        try:
            await apply_to_workspace(ws, result.changeset, excludes=settings.exclude)
            applied = sorted(set(result.changeset.paths))
        except Exception as e:  # EditError: a touched file changed since the snapshot
            apply_error = f"not applied: {e}"
    stats: DiffStats | None = None
    if result.changeset is not None:
        from .edits.diff import diff_stats

        stats = diff_stats(result.changeset)
    if args.json:
        out = {"runId": rec.id, "status": rec.status.value, "verdict": rec.verdict, "error": rec.error,
               "artifacts": rec.artifacts, "durationS": rec.duration_s, "applied": applied,
               "applyError": apply_error, "tokens": rec.usage.total_tokens, "diffStat": _stats_json(stats)}
        print(json.dumps(out, indent=2, default=str))
    else:
        print_summary(rec, stats, applied, apply_error, apply, ws)
    if apply_error:
        return 1
    return 0 if rec.status is RunStatus.succeeded else 1


async def run_to_end(ws: Path, settings: Settings, task: Task, pattern: Any, args: argparse.Namespace) -> Any:
    """Every run command's engine part: settle what a killed Baton left, start the run with the
    display and `--record`, cancel it cleanly on SIGINT/SIGTERM, wait for its RunResult."""
    from .engine import Engine
    from .recovery import recover

    display = make_display(quiet=args.quiet or args.json, stream=sys.stderr)
    engine = Engine(ws, settings)
    found = await asyncio.to_thread(recover, engine.store)  # what a killed Baton left behind
    if not (args.quiet or args.json):
        for run_id in found.interrupted:
            print(f"baton: run {run_id} was interrupted (its process is gone); marked interrupted", file=sys.stderr)
    recorder = make_recorder(args, ws, settings, task)
    handle = engine.start(task, pattern, subscribers=[display], recorder=recorder)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, handle.cancel, f"cancelled ({signal.Signals(sig).name})")
        except (NotImplementedError, RuntimeError):
            pass
    try:
        return await handle.wait()
    finally:
        display.close()
        await save_recording(recorder, args, handle.id)


async def save_recording(recorder: Any, args: argparse.Namespace, run_id: str) -> None:
    """Write `--record`'s script (also after a failed or cancelled run: it is a regression case too)."""
    if recorder is None:
        return
    recorder.meta.run_id = run_id
    saved = await asyncio.to_thread(recorder.save, args.record)
    print(f"recorded {recorder.calls} model answer(s) to {_shown(str(saved))}", file=sys.stderr)


def make_recorder(args: argparse.Namespace, ws: Path, settings: Settings, task: Task) -> Any:
    """A SessionRecorder when `--record FILE` was given (every pattern's command: `record_argument`);
    checked before the run starts, so a bad path costs no model call."""
    target = getattr(args, "record", None)
    if not target:
        return None
    path = Path(target).expanduser()
    if path.is_dir():
        raise UsageError(f"--record {target}: is a folder; give a file name such as session.json")
    if not path.parent.is_dir():
        raise UsageError(f"--record {target}: the folder {path.parent} does not exist")
    from .llm.recording import recorder_for

    return recorder_for(ws, settings, task)


def _stats_json(stats: DiffStats | None) -> dict[str, Any] | None:
    if stats is None:
        return None
    return {"files": [{"path": f.path, "kind": f.kind.value, "added": f.added, "removed": f.removed,
                       "newPath": f.new_path} for f in stats.files],
            "added": stats.added, "removed": stats.removed}


def _shown(path: str) -> str:
    """A path relative to the current folder when it is under it, else absolute."""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return path
    return path if rel.startswith("..") else rel


SUMMARY_ARTIFACTS = ("plan.md", "decisions.json", "changes.diff", "changes.patch", "tests.json", "review.md",
                     "run.json", "trace.jsonl")


def print_summary(rec: RunRecord, stats: DiffStats | None, applied: list[str], apply_error: str | None,
                  apply: bool, ws: Path) -> None:
    out = sys.stdout
    verdict = f", verdict: {rec.verdict}" if rec.verdict else ""
    print(f"\nrun {rec.id}: {rec.status.value}{verdict} in {rec.duration_s:.1f}s", file=out)
    if rec.error:
        print(f"error: {rec.error}", file=out)
    if stats is not None and stats.files:
        print(f"changes: {stats.summary()}", file=out)
    for name in SUMMARY_ARTIFACTS:
        if name in rec.artifacts:
            print(f"  {name:<15} {_shown(rec.artifacts[name])}", file=out)
    u = rec.usage
    print(f"model use: {u.calls} calls, {u.total_tokens} tokens ({u.cached_tokens} cached)"
          + (f", ${u.cost_usd:.4f}" if u.cost_usd else ""), file=out)
    if applied:
        print(f"applied to the workspace: {', '.join(applied)}", file=out)
    elif apply_error:
        print(apply_error, file=out)
    elif rec.status is RunStatus.succeeded and not apply and "changes.patch" in rec.artifacts:
        print(f"nothing written; apply with `baton apply-patch {_shown(rec.artifacts['changes.patch'])} "
              f"--workspace {_shown(str(ws))}` or re-run with --apply", file=out)
