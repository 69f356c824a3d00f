"""`baton triage`: from a failing CI run, a test report or an issue to a validated fix, headless.

Exit codes: 0 fixed (validated and approved); 1 failed (the fix was rejected, the run failed or
was cancelled); 2 usage error; 3 flaky (reported with the evidence, not fixed); 4 not
reproducible; 5 not fixable (environment, low confidence, or the triager found no code fix).
A failure already attempted on the same commit is not attempted again: the earlier result is
printed and its exit code returned.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from .cli_run import (
    _common_arguments,
    _overrides,
    _shown,
    record_argument,
    resolve_workspace,
)
from .config import ConfigError, load_settings
from .errors import BatonError, UsageError
from .models import FailureReport, Pattern, RunStatus, Scope, Task, TriageRequest

EXIT_CODES = {"fixed": 0, "failed": 1, "flaky": 3, "not-reproducible": 4, "not-fixable": 5}
ARTIFACTS = ("triage.md", "reproduction.json", "validation.md", "changes.diff", "changes.patch", "review.md", "pr.md",
             "run.json")


def triage_arguments(p: argparse.ArgumentParser) -> None:
    src = p.add_argument_group("the failure (none given: run the test command now and triage what fails)")
    src.add_argument("--junit", metavar="FILE", help="JUnit XML report of the failing run (pytest --junitxml)")
    src.add_argument("--log", metavar="FILE", help="raw CI log (pytest, unittest, mypy, ruff, GitHub Actions); - reads stdin")
    src.add_argument("--issue", metavar="FILE", help="issue text, or GitHub issue JSON {title, body, labels}")
    p.add_argument("--good", metavar="REF", help="a commit where the tests passed: bisect names the first bad commit")
    p.add_argument("--branch", metavar="NAME", help="commit the validated fix on this new branch (never pushed; "
                   "your current branch, index and files stay as they are)")
    p.add_argument("--apply", action="store_true", help="write the validated fix to the workspace")
    p.add_argument("--fix-flaky", action="store_true", help="attempt a fix even when the failure proves flaky")
    p.add_argument("--again", action="store_true", help="attempt even if this failure was already attempted on "
                   "this commit")
    p.add_argument("--reruns", type=int, metavar="N", help="reruns to reproduce and to prove a fix (triage_reruns, default 3)")
    p.add_argument("--triager-model", help="model for the triager")
    _common_arguments(p)
    record_argument(p)


def read_failure(args: argparse.Namespace, ws: Path) -> FailureReport | None:
    """The one failure input named on the command line, parsed (InputError → usage error)."""
    from .triage.parsers import InputError, parse_issue, parse_junit, parse_log, read_input

    given = [n for n in ("junit", "log", "issue") if getattr(args, n)]
    if len(given) > 1:
        raise UsageError(f"give one failure input, not {' and '.join('--' + n for n in given)}")
    try:
        if args.junit:
            return parse_junit(read_input(Path(args.junit), "--junit"), ws, name=f"--junit {args.junit}")
        if args.log:
            text = sys.stdin.read() if args.log == "-" else read_input(Path(args.log), "--log")
            report = parse_log(text, ws)
            if not report.failures:
                raise UsageError(f"--log {args.log}: no failure found in it (no failing test, type or lint error, "
                                 "or traceback); pass the failing job's log")
            return report
        if args.issue:
            return parse_issue(read_input(Path(args.issue), "--issue"))
    except InputError as e:
        raise UsageError(str(e)) from None
    return None


def triage(args: argparse.Namespace) -> int:
    ws = resolve_workspace(args)
    if args.branch and args.apply:
        raise UsageError("--branch and --apply: choose one (a new branch, or the working tree)")
    if args.reruns is not None and args.reruns < 1:
        raise UsageError(f"--reruns {args.reruns}: must be 1 or more")
    overrides = _overrides(args)
    if args.reruns is not None:
        overrides["triage_reruns"] = args.reruns
    if args.triager_model:
        overrides.setdefault("roles", {})["triager"] = {"model": args.triager_model}
    try:
        settings = load_settings(ws, overrides=overrides, overrides_source="command-line flags")
    except ConfigError as e:
        raise UsageError(str(e)) from None
    report = read_failure(args, ws)
    if args.branch:
        from .triage.branch import BranchError, check_branch_name

        try:
            check_branch_name(ws, args.branch)
        except BranchError as e:
            raise UsageError(str(e)) from None
    title = (report.title or (report.failures[0].test_id or report.failures[0].message) if report and report.failures
             else "the failing tests")
    task = Task(text=f"Triage and fix: {title}"[:500], scope=Scope(root=str(ws)), pattern=Pattern.triage_fix_validate,
                source="issue" if report and report.source == "issue" else "ci",
                triage=TriageRequest(report=report, good=args.good, fix_flaky=args.fix_flaky, again=args.again))
    return asyncio.run(_execute(ws, settings, task, args))


async def _execute(ws: Path, settings: Any, task: Task, args: argparse.Namespace) -> int:
    from .cli_run import run_to_end
    from .patterns.triage_fix_validate import triage_fix_validate

    result = await run_to_end(ws, settings, task, triage_fix_validate, args)
    rec = result.record
    outcome = str(rec.extra.get("outcome", "failed")) if rec.status is not RunStatus.cancelled else "failed"
    written: list[str] = []
    branch_commit: str | None = None
    write_error: str | None = None
    fixed = rec.status is RunStatus.succeeded and outcome == "fixed" and result.changeset is not None
    if fixed and result.changeset is not None and (args.apply or args.branch):
        try:
            if args.apply:
                from .sandbox import apply_to_workspace

                await apply_to_workspace(ws, result.changeset, excludes=settings.exclude)
                written = sorted(set(result.changeset.paths))
            else:
                from .triage.branch import commit_on_new_branch

                message = f"Fix: {task.text.removeprefix('Triage and fix: ')}"[:200] + \
                    f"\n\nValidated by Baton triage run {rec.id}."
                branch_commit = await asyncio.to_thread(commit_on_new_branch, ws, result.changeset, args.branch,
                                                        str(rec.extra.get("commit") or "HEAD"), message)
        except BatonError as e:  # EditError, PathRefused, BranchError: the fix stays in the artifacts
            write_error = f"not written: {e}"
    code = EXIT_CODES.get(outcome, 1)
    if write_error:
        code = 1
    if args.json:
        print(json.dumps({"runId": rec.id, "outcome": outcome, "status": rec.status.value, "error": rec.error,
                          "exitCode": code, "repeatOf": rec.extra.get("repeatOf"),
                          "fingerprint": rec.extra.get("fingerprint"), "culprit": rec.extra.get("culprit"),
                          "artifacts": rec.artifacts, "applied": written, "branch": args.branch if branch_commit else None,
                          "branchCommit": branch_commit, "writeError": write_error}, indent=2, default=str))
        return code
    out = sys.stdout
    print(f"\ntriage run {rec.id}: {outcome} in {rec.duration_s:.1f}s", file=out)
    if rec.extra.get("repeatOf"):
        print(f"already attempted in run {rec.extra['repeatOf']}; its result:", file=out)
    if rec.error:
        print(f"  {rec.error}", file=out)
    if rec.extra.get("culprit"):
        print(f"first bad commit: {rec.extra['culprit']}", file=out)
    for name in ARTIFACTS:
        if name in rec.artifacts:
            print(f"  {name:<17} {_shown(rec.artifacts[name])}", file=out)
    if written:
        print(f"applied to the workspace: {', '.join(written)}", file=out)
    if branch_commit:
        print(f"committed on new branch {args.branch}: {branch_commit[:12]} (not pushed)", file=out)
    if write_error:
        print(write_error, file=out)
    return code
