"""The commands that start a run: their arguments become a Task and a Scope, the run starts as
a background task in the run host, and the command answers at once with the run id."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pygls.exceptions import JsonRpcInvalidParams, JsonRpcInvalidRequest
from pygls.uris import to_fs_path

from baton.pipelines.config import ConfigError, Settings
from baton.pipelines.models import Failure, FailureReport, Pattern, Scope, Task, TriageRequest
from baton.pipelines.trust import WorkspaceNotTrusted

from .command_args import (
    PARALLEL_MODULES,
    PLAN_IMPLEMENT_REVIEW,
    TRIAGE_FIX_VALIDATE,
    ParallelModulesArgs,
    PlanImplementReviewArgs,
    TriageFixValidateArgs,
    parse_args,
)

# Pattern → "module:function", imported by the run host (never by the server: the openai SDK
# alone takes ~0.5 s to import, and runs do not execute here).
PATTERNS = {Pattern.plan_implement_review: "baton.pipelines.patterns.plan_implement_review:plan_implement_review",
            Pattern.parallel_modules: "baton.pipelines.patterns.parallel_modules:run_parallel_modules",
            Pattern.triage_fix_validate: "baton.pipelines.patterns.triage_fix_validate:triage_fix_validate"}


def resolve_scope(folders: list[Path], scope_uri: str | None) -> Scope:
    """The workspace folder holding the scope (or the first folder), and the scope inside it.

    Touches the disk (resolve, exists): call it off the event loop."""
    if scope_uri is not None:
        if not scope_uri.startswith("file:"):
            raise JsonRpcInvalidParams(message=f"`scope`: expected a file:// URI of a file or folder, got {scope_uri!r}")
        path = Path(to_fs_path(scope_uri) or scope_uri).resolve()
        root = next((f for f in sorted(folders, key=lambda p: -len(p.parts)) if f == path or f in path.parents), None)
        if root is None:
            raise JsonRpcInvalidParams(message=f"`scope`: {path} is not inside an open workspace folder")
        if not path.exists():
            raise JsonRpcInvalidParams(message=f"`scope`: {path} does not exist")
        rel = path.relative_to(root).as_posix()
        return Scope(root=str(root), path=None if rel == "." else rel)
    if not folders:
        raise JsonRpcInvalidRequest(message="Baton needs an open folder: open a workspace folder and run the command again")
    return Scope(root=str(folders[0]))


def failure_report(args: TriageFixValidateArgs, root: Path) -> FailureReport | None:
    """The failure the command names, parsed (blocking: call it off the loop). Bad input is an
    InvalidParams error naming the field."""
    from baton.pipelines.triage.parsers import (
        InputError,
        parse_issue,
        parse_junit,
        parse_log,
        read_input,
        safe_test_id,
    )

    field = "junit" if args.junit else "log" if args.log else "logUri" if args.log_uri else "issue"
    try:
        if args.junit is not None:
            return parse_junit(args.junit, root, name="`junit`")
        if args.log_uri is not None:
            path = Path(to_fs_path(args.log_uri) or args.log_uri)
            text = read_input(path, "`logUri`")
            if text.lstrip().startswith("<"):
                return parse_junit(text, root, name=f"`logUri` {path}")
            report = parse_log(text, root)
            if not report.failures:
                raise InputError(f"`logUri` {path}: no failure found in it (no failing test, type or lint error, "
                                 "or traceback)")
            return report
        if args.log is not None:
            report = parse_log(args.log, root)
            return report if report.failures else parse_issue(args.log)  # pasted text that is no log
        if args.issue is not None:
            return parse_issue(args.issue)
        if args.tests is not None:
            return FailureReport(source="run", failures=[Failure(kind="test", test_id=safe_test_id(t),
                                                                 message="chosen in the editor") for t in args.tests])
    except InputError as e:
        msg = str(e)
        raise JsonRpcInvalidParams(message=msg if msg.startswith("`") else f"`{field}`: {msg}") from None
    return None


def resolve_modules(folders: list[Path], uris: list[str]) -> Scope:
    """One workspace folder holding every module; the scope is that folder, with the modules'
    paths inside it (touches the disk: call it off the event loop)."""
    scopes = [resolve_scope(folders, u) for u in uris]
    roots = sorted({s.root for s in scopes})
    if len(roots) > 1:
        raise JsonRpcInvalidParams(message=f"`modules`: the modules lie in different workspace folders "
                                           f"({', '.join(roots)}); run one parallel run per folder")
    if any(s.path is None for s in scopes):
        raise JsonRpcInvalidParams(message="`modules`: one of them is the workspace folder itself; select the "
                                           "folders or files inside it")
    return Scope(root=roots[0])


async def _settings(ls: Any, root: Path) -> Any:
    try:
        settings, warnings = await ls.settings_async(root)
    except WorkspaceNotTrusted as e:
        raise JsonRpcInvalidRequest(message=f"Baton: {e}", data={
            "reason": "untrustedWorkspace", "source": e.source, "settings": e.keys}) from None
    except ConfigError as e:
        for w in getattr(e, "option_warnings", []):
            ls.warn_once(w)
        raise JsonRpcInvalidRequest(message=f"Baton settings: {e}. Fix it and run the command again.") from None
    for w in warnings:
        ls.warn_once(w)
    return settings


def _is_openai(url: str | None) -> bool:
    """Same rule as baton.pipelines.llm.client.is_openai_endpoint (no base URL means OpenAI's);
    not imported from there because that module imports the openai SDK (~0.5 s, on the loop)."""
    host = (urlparse(url or "https://api.openai.com/v1").hostname or "").lower()
    return host == "api.openai.com" or host.endswith(".api.openai.com")


def require_key(settings: Settings) -> None:
    """Fail the command at once (not minutes later) when OpenAI's endpoint has no key."""
    if settings.api_key is None and any(_is_openai(settings.base_url_for(r)) for r in settings.roles):
        raise JsonRpcInvalidRequest(
            message="No API key: Baton talks to api.openai.com but no key is set. Use 'Baton: Set API key', "
                    "set OPENAI_API_KEY for the server, or point baton.baseUrl at a local endpoint (Ollama, vLLM).",
            data={"reason": "missingApiKey"})


async def _run_settings(ls: Any, root: Path, confirm_plan: bool | None = None) -> Settings:
    """The settings a run starts with: refused at once when they are bad or lack the API key."""
    settings: Settings = await _settings(ls, root)
    require_key(settings)
    if confirm_plan is not None:
        settings = settings.model_copy(update={"confirm_plan": confirm_plan})
    return settings


async def plan_implement_review_cmd(ls: Any, *raw: Any) -> dict[str, Any]:
    args = parse_args(PLAN_IMPLEMENT_REVIEW, raw, PlanImplementReviewArgs)
    scope = await asyncio.to_thread(resolve_scope, ls.workspace_roots(), args.scope)
    settings = await _run_settings(ls, Path(scope.root), args.confirm_plan)
    task = Task(text=args.task, scope=scope, pattern=Pattern.plan_implement_review)
    run = await ls.runs.start(task, PATTERNS[Pattern.plan_implement_review], settings)
    return {"runId": run.id}


async def parallel_modules_cmd(ls: Any, *raw: Any) -> dict[str, Any]:
    args = parse_args(PARALLEL_MODULES, raw, ParallelModulesArgs)
    folders = ls.workspace_roots()
    uris = args.modules or []
    if uris:
        scope = await asyncio.to_thread(resolve_modules, folders, uris)
        paths = [s.path for s in await asyncio.to_thread(lambda: [resolve_scope(folders, u) for u in uris])]
    else:
        scope = await asyncio.to_thread(resolve_scope, folders, None)
        paths = []
    settings = await _run_settings(ls, Path(scope.root), args.confirm_plan)
    task = Task(text=args.task, scope=scope, pattern=Pattern.parallel_modules, modules=[p for p in paths if p])
    run = await ls.runs.start(task, PATTERNS[Pattern.parallel_modules], settings)
    return {"runId": run.id}


async def triage_fix_validate_cmd(ls: Any, *raw: Any) -> dict[str, Any]:
    args = parse_args(TRIAGE_FIX_VALIDATE, raw, TriageFixValidateArgs)
    given = [n for n, v in (("junit", args.junit), ("log", args.log), ("logUri", args.log_uri),
                            ("issue", args.issue), ("tests", args.tests)) if v is not None]
    if len(given) > 1:
        raise JsonRpcInvalidParams(message=f"give one failure input, not {' and '.join(f'`{g}`' for g in given)}")
    scope = await asyncio.to_thread(resolve_scope, ls.workspace_roots(), args.scope)
    root = Path(scope.root)
    report = await asyncio.to_thread(failure_report, args, root)
    settings = await _run_settings(ls, root)
    title = report.title or (report.failures[0].test_id or report.failures[0].message) if report and \
        report.failures else "the failing tests"
    task = Task(text=f"Triage and fix: {title}"[:500], scope=Scope(root=str(root)),
                pattern=Pattern.triage_fix_validate, source="issue" if args.issue else "ci",
                triage=TriageRequest(report=report, good=args.good))
    run = await ls.runs.start(task, PATTERNS[Pattern.triage_fix_validate], settings)
    return {"runId": run.id}
