"""workspace/executeCommand handlers → pipelines. Each takes one argument object, validated
with pydantic; a malformed one is a JSON-RPC InvalidParams error naming the field, and
starts nothing. Run commands answer at once with the run id."""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams, JsonRpcInvalidRequest
from pygls.uris import to_fs_path

from baton.pipelines.artifacts import PlanParseError
from baton.pipelines.config import ConfigError, Settings
from baton.pipelines.eval.latest import latest_eval_rows
from baton.pipelines.models import (
    ChangeSet,
    Failure,
    FailureReport,
    Pattern,
    RunRecord,
    Scope,
    Task,
    TriageRequest,
)
from baton.pipelines.store import RunNotFound, RunSummary
from baton.pipelines.trace_html import write_trace_html
from baton.pipelines.trust import WorkspaceNotTrusted

from .progress import baton_capability, client_opens_artifacts

T = TypeVar("T", bound=BaseModel)
Handler = Callable[..., Awaitable[dict[str, Any]]]

PLAN_IMPLEMENT_REVIEW = "baton.planImplementReview"
PARALLEL_MODULES = "baton.parallelModules"
TRIAGE_FIX_VALIDATE = "baton.triageFixValidate"
CANCEL_RUN = "baton.cancelRun"
CONTINUE_RUN = "baton.continueRun"
LIST_RUNS = "baton.listRuns"
SHOW_RUN = "baton.showRun"  # also writes and returns the run's trace.html
APPLY_RUN = "baton.applyRun"
SHOW_STATS = "baton.showStats"
PROPOSED_FILES = "baton.proposedFiles"
PROPOSED_CONTENT = "baton.proposedContent"
DISMISS_RUN = "baton.dismissRun"
DISMISS_FINDING = "baton.dismissFinding"


# Pattern → "module:function", imported by the run host (never by the server: the openai SDK
# alone takes ~0.5 s to import, and runs do not execute here).
PATTERNS = {Pattern.plan_implement_review: "baton.pipelines.patterns.plan_implement_review:plan_implement_review",
            Pattern.parallel_modules: "baton.pipelines.patterns.parallel_modules:run_parallel_modules",
            Pattern.triage_fix_validate: "baton.pipelines.patterns.triage_fix_validate:triage_fix_validate"}


class Args(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, alias_generator=to_camel)


class PlanImplementReviewArgs(Args):
    task: str = Field(description="What to do.")
    scope: str | None = Field(default=None, description="file:// URI of a file or folder; default: the workspace.")
    confirm_plan: bool | None = None

    @field_validator("task")
    @classmethod
    def _task(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("the task is empty: say what should be done")
        return v


class ParallelModulesArgs(Args):
    task: str = Field(description="The change to make in every module.")
    modules: list[str] | None = Field(default=None, description="file:// URIs of the modules (files or folders); "
                                      "default: the decomposer splits the task.")
    confirm_plan: bool | None = None

    @field_validator("task")
    @classmethod
    def _task(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("the task is empty: say what should be done")
        return v


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


class TriageFixValidateArgs(Args):
    """At most one failure input; none: run the test command now and triage what fails."""

    junit: str | None = Field(default=None, description="JUnit XML text.")
    log: str | None = Field(default=None, description="CI log text (pasted text that is no log is read as an issue).")
    log_uri: str | None = Field(default=None, description="file:// URI of a CI log or JUnit XML file.")
    issue: str | None = Field(default=None, description="Issue text, or GitHub issue JSON.")
    scope: str | None = Field(default=None, description="file:// URI inside the workspace folder to triage in.")
    good: str | None = Field(default=None, description="A commit where the tests passed: bisect from it.")
    tests: list[str] | None = Field(default=None, min_length=1, max_length=200,
                                    description="pytest ids to triage (a code action on a test); rerun first.")

    @field_validator("tests")
    @classmethod
    def _tests(cls, v: list[str] | None) -> list[str] | None:
        from baton.pipelines.triage.parsers import safe_test_id

        for t in v or []:
            if safe_test_id(t) is None:
                raise ValueError(f"{t[:100]!r} is not a pytest id inside the workspace (like tests/test_x.py::test_y)")
        return v

    @field_validator("junit", "log", "issue")
    @classmethod
    def _text(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("is empty: give the failure text, or leave the field out to run the tests now")
        return v

    @field_validator("log_uri")
    @classmethod
    def _uri(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith("file:"):
            raise ValueError(f"expected a file:// URI of a log or JUnit file, got {v!r}")
        return v


class RunIdArgs(Args):
    run_id: str = Field(min_length=1)


class ListRunsArgs(Args):
    limit: int = Field(default=20, ge=1, le=500)


class ProposedContentArgs(Args):
    run_id: str = Field(min_length=1)
    uri: str


class DismissFindingArgs(Args):
    run_id: str = Field(min_length=1)
    index: int | None = None


class NoArgs(Args):
    pass


def parse_args(command: str, raw: tuple[Any, ...], model: type[T]) -> T:
    """One argument object (or none when every field has a default)."""
    if len(raw) > 1:
        raise JsonRpcInvalidParams(message=f"{command}: expected one argument object, got {len(raw)} arguments")
    value = raw[0] if raw else {}
    if value is None or value == []:  # Lua's empty table {} is sent as [] by Neovim
        value = {}
    if not isinstance(value, dict):
        raise JsonRpcInvalidParams(message=f"{command}: the argument must be an object like "
                                           f"{_example(model)}, got {type(value).__name__}")
    try:
        return model.model_validate(value)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            field = ".".join(str(p) for p in err["loc"]) or "<argument>"
            msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
            problems.append(f"`{field}`: {msg}")
        raise JsonRpcInvalidParams(message=f"{command}: " + "; ".join(problems),
                                   data={"fields": [".".join(map(str, x["loc"])) for x in e.errors()]}) from None


def _example(model: type[BaseModel]) -> str:
    fields = [f.alias or n for n, f in model.model_fields.items() if f.is_required()]
    return "{" + ", ".join(f'"{f}": ...' for f in fields) + "}"


# --------------------------------------------------------------------------- helpers


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


def run_summary(run: RunSummary) -> dict[str, Any]:
    return {"runId": run.id, "pattern": run.pattern.value, "task": run.task, "status": run.status.value,
            "verdict": run.verdict, "durationS": run.duration_s, "createdAt": run.created_at.isoformat(),
            "scope": run.scope_path, "error": run.error}


async def load_changeset(store: Any, run_id: str) -> ChangeSet:
    text = await asyncio.to_thread(store.read_artifact, run_id, "changes.json")
    if text is None:
        raise JsonRpcInvalidRequest(message=f"run {run_id} has no proposed changes (no changes.json)")
    return ChangeSet.model_validate_json(text)


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


def _require_key(settings: Settings) -> None:
    """Fail the command at once (not minutes later) when OpenAI's endpoint has no key."""
    if settings.api_key is None and any(_is_openai(settings.base_url_for(r)) for r in settings.roles):
        raise JsonRpcInvalidRequest(
            message="No API key: Baton talks to api.openai.com but no key is set. Use 'Baton: Set API key', "
                    "set OPENAI_API_KEY for the server, or point baton.baseUrl at a local endpoint (Ollama, vLLM).",
            data={"reason": "missingApiKey"})


def _run(ls: Any, run_id: str) -> Any:
    run = ls.runs.get(run_id)
    if run is None:
        raise JsonRpcInvalidParams(message=f"`runId`: no run {run_id!r} in this session; baton.listRuns lists them")
    return run


async def _store_for(ls: Any, run_id: str) -> tuple[Any, RunRecord]:
    """Find a run in the session or in any workspace folder's store (SQLite: off the loop)."""
    run = ls.runs.get(run_id)
    roots = [run.workspace] if run else ls.workspace_roots()
    for root in roots:
        store = ls.runs.store(root)
        try:
            return store, await asyncio.to_thread(store.get, run_id)
        except RunNotFound:
            continue
    raise JsonRpcInvalidParams(message=f"`runId`: no run {run_id!r} in this workspace; baton.listRuns lists them")


def _command(server: Any, name: str) -> Callable[[Handler], Handler]:
    """`@_command(server, name)`, and every JSON-RPC error the handler raises starts with the
    command's name, so the editor's error popup says which command failed."""

    def decorator(fn: Handler) -> Handler:
        @functools.wraps(fn)
        async def handler(ls: Any, *raw: Any) -> dict[str, Any]:
            try:
                return await fn(ls, *raw)
            except JsonRpcException as e:
                if not e.message.startswith(name):
                    e.message = f"{name}: {e.message}"
                    e.args = (e.message,)
                raise

        server.command(name)(handler)
        return fn

    return decorator


def install(server: Any) -> None:
    """Register every command on the pygls server."""

    @_command(server, PLAN_IMPLEMENT_REVIEW)
    async def plan_implement_review_cmd(ls: Any, *raw: Any) -> dict[str, Any]:
        args = parse_args(PLAN_IMPLEMENT_REVIEW, raw, PlanImplementReviewArgs)
        scope = await asyncio.to_thread(resolve_scope, ls.workspace_roots(), args.scope)
        settings = await _settings(ls, Path(scope.root))
        _require_key(settings)
        if args.confirm_plan is not None:
            settings = settings.model_copy(update={"confirm_plan": args.confirm_plan})
        task = Task(text=args.task, scope=scope, pattern=Pattern.plan_implement_review)
        run = await ls.runs.start(task, PATTERNS[Pattern.plan_implement_review], settings)
        return {"runId": run.id}

    @_command(server, PARALLEL_MODULES)
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
        settings = await _settings(ls, Path(scope.root))
        _require_key(settings)
        if args.confirm_plan is not None:
            settings = settings.model_copy(update={"confirm_plan": args.confirm_plan})
        task = Task(text=args.task, scope=scope, pattern=Pattern.parallel_modules, modules=[p for p in paths if p])
        run = await ls.runs.start(task, PATTERNS[Pattern.parallel_modules], settings)
        return {"runId": run.id}

    @_command(server, TRIAGE_FIX_VALIDATE)
    async def triage_fix_validate_cmd(ls: Any, *raw: Any) -> dict[str, Any]:
        args = parse_args(TRIAGE_FIX_VALIDATE, raw, TriageFixValidateArgs)
        given = [n for n, v in (("junit", args.junit), ("log", args.log), ("logUri", args.log_uri),
                                ("issue", args.issue), ("tests", args.tests)) if v is not None]
        if len(given) > 1:
            raise JsonRpcInvalidParams(message=f"give one failure input, not {' and '.join(f'`{g}`' for g in given)}")
        scope = await asyncio.to_thread(resolve_scope, ls.workspace_roots(), args.scope)
        root = Path(scope.root)
        report = await asyncio.to_thread(failure_report, args, root)
        settings = await _settings(ls, root)
        _require_key(settings)
        title = report.title or (report.failures[0].test_id or report.failures[0].message) if report and \
            report.failures else "the failing tests"
        task = Task(text=f"Triage and fix: {title}"[:500], scope=Scope(root=str(root)),
                    pattern=Pattern.triage_fix_validate, source="issue" if args.issue else "ci",
                    triage=TriageRequest(report=report, good=args.good))
        run = await ls.runs.start(task, PATTERNS[Pattern.triage_fix_validate], settings)
        return {"runId": run.id}

    @_command(server, CANCEL_RUN)
    async def cancel_run(ls: Any, *raw: Any) -> dict[str, Any]:
        args = parse_args(CANCEL_RUN, raw, RunIdArgs)
        _run(ls, args.run_id)
        return {"cancelled": ls.runs.cancel(args.run_id)}

    @_command(server, CONTINUE_RUN)
    async def continue_run(ls: Any, *raw: Any) -> dict[str, Any]:
        args = parse_args(CONTINUE_RUN, raw, RunIdArgs)
        _run(ls, args.run_id)
        try:
            plan = await ls.runs.continue_run(args.run_id)
        except PlanParseError as e:
            raise JsonRpcInvalidRequest(message=f"{e}. Fix plan.md and continue again; the run keeps waiting.") from None
        except ValueError as e:
            raise JsonRpcInvalidRequest(message=str(e)) from None
        return {"continued": True, "steps": len(plan.steps)}

    @_command(server, LIST_RUNS)
    async def list_runs(ls: Any, *raw: Any) -> dict[str, Any]:
        args = parse_args(LIST_RUNS, raw, ListRunsArgs)
        stores = [ls.runs.store(root) for root in ls.workspace_roots()]

        def read_all() -> list[RunSummary]:  # one hop off the loop for every folder's index
            return [row for store in stores for row in store.summaries(args.limit)]

        rows = {row.id: row for row in await asyncio.to_thread(read_all)}
        for run in ls.runs.runs.values():  # live state beats the last saved record
            if run.handle is not None:
                rows[run.id] = RunSummary.of(run.result.record if run.result else run.handle.record)
        ordered = sorted(rows.values(), key=lambda r: (r.created_at, r.id), reverse=True)[: args.limit]
        return {"runs": [run_summary(r) for r in ordered]}

    @_command(server, SHOW_RUN)
    async def show_run(ls: Any, *raw: Any) -> dict[str, Any]:
        args = parse_args(SHOW_RUN, raw, RunIdArgs)
        store, rec = await _store_for(ls, args.run_id)
        out: dict[str, Any] = {}
        for key, name in (("plan", "plan.md"), ("review", "review.md"), ("triage", "triage.md"), ("diff", "changes.diff")):
            path = store.run_dir(rec.id) / name
            if await asyncio.to_thread(path.is_file):
                out[key] = path.as_uri()
        if not client_opens_artifacts(ls):  # Baton's extension opens them itself, from the answer
            for key in ("plan", "review", "triage"):
                if key in out:
                    await ls.show_document(out[key])
        if rec.status.finished and (store.run_dir(rec.id) / "trace.jsonl").is_file():
            # the readable trace: one self-contained page the editor offers to open
            out["trace"] = (await asyncio.to_thread(write_trace_html, rec, store.run_dir(rec.id))).as_uri()
        if not out:
            raise JsonRpcInvalidRequest(message=f"run {rec.id} has no documents yet (status {rec.status.value})")
        return out

    @_command(server, APPLY_RUN)
    async def apply_run(ls: Any, *raw: Any) -> dict[str, Any]:
        args = parse_args(APPLY_RUN, raw, RunIdArgs)
        store, rec = await _store_for(ls, args.run_id)
        cs = await load_changeset(store, rec.id)
        run = ls.runs.get(rec.id) or ls.runs.adopt(rec)
        outcome = await ls.runs.send_edit(run, cs)
        return {"applied": outcome.applied, "rebased": outcome.rebased, "leftAlone": outcome.left_alone,
                "failureReason": outcome.failure_reason}

    @_command(server, SHOW_STATS)
    async def show_stats(ls: Any, *raw: Any) -> dict[str, Any]:
        parse_args(SHOW_STATS, raw, NoArgs)
        roots = ls.workspace_roots()
        if not roots:
            raise JsonRpcInvalidRequest(message="Baton needs an open folder to show its statistics")
        store = ls.runs.store(roots[0])
        await asyncio.to_thread(store.ensure)
        stats = await asyncio.to_thread(store.stats)
        uri: str | None = None
        if not baton_capability(ls, "statsView"):  # Baton's extension draws its own view from the answer
            text = render_stats_md(stats)
            await asyncio.to_thread(store.base.joinpath("stats.md").write_text, text, "utf-8")
            uri = store.base.joinpath("stats.md").as_uri()
            await ls.show_document(uri)
        return {"uri": uri, "stats": [{"pattern": s.pattern, "runs": s.runs, "successRate": s.success_rate,
                                       "meanDurationS": s.mean_duration_s, "p50DurationS": s.p50_duration_s,
                                       "p95DurationS": s.p95_duration_s, "finished": s.finished,
                                       "succeeded": s.succeeded} for s in stats],
                **(await asyncio.to_thread(latest_eval_rows, store))}

    @_command(server, PROPOSED_FILES)
    async def proposed_files(ls: Any, *raw: Any) -> dict[str, Any]:
        args = parse_args(PROPOSED_FILES, raw, RunIdArgs)
        store, rec = await _store_for(ls, args.run_id)
        cs = await load_changeset(store, rec.id)
        root = Path(rec.scope.root)
        files = []
        for e in cs.edits:
            item = {"uri": (root / e.path).as_uri(), "kind": e.kind.value}
            if e.new_path:
                item["newUri"] = (root / e.new_path).as_uri()
            files.append(item)
        return {"files": files}

    @_command(server, PROPOSED_CONTENT)
    async def proposed_content(ls: Any, *raw: Any) -> dict[str, Any]:
        args = parse_args(PROPOSED_CONTENT, raw, ProposedContentArgs)
        store, rec = await _store_for(ls, args.run_id)
        cs = await load_changeset(store, rec.id)
        # pure string work (normpath/relpath of absolute paths make no syscalls): fine on the loop
        root = os.path.normpath(rec.scope.root)  # noqa: ASYNC240
        path = os.path.normpath(to_fs_path(args.uri) or "") if args.uri.startswith("file:") else ""  # noqa: ASYNC240
        if not path.startswith(root + os.sep):
            raise JsonRpcInvalidParams(message=f"`uri`: {args.uri} is not a file in run {rec.id}'s workspace ({root})")
        rel = Path(os.path.relpath(path, root)).as_posix()  # noqa: ASYNC240
        for e in cs.edits:
            if rel in (e.path, e.new_path):
                return {"text": e.new_text}
        raise JsonRpcInvalidParams(message=f"`uri`: run {rec.id} proposes no change to {rel}")

    @_command(server, DISMISS_RUN)
    async def dismiss_run(ls: Any, *raw: Any) -> dict[str, Any]:
        args = parse_args(DISMISS_RUN, raw, RunIdArgs)
        return {"dismissed": ls.runs.findings.dismiss(args.run_id)}

    @_command(server, DISMISS_FINDING)
    async def dismiss_finding(ls: Any, *raw: Any) -> dict[str, Any]:
        args = parse_args(DISMISS_FINDING, raw, DismissFindingArgs)
        if args.index is None:
            return {"dismissed": ls.runs.findings.dismiss(args.run_id)}
        return {"dismissed": ls.runs.findings.dismiss(args.run_id, args.index)}


def render_stats_md(stats: list[Any]) -> str:
    lines = ["# Baton statistics", "", "Success rate counts finished runs; durations are wall time.", "",
             "| pattern | runs | succeeded | failed | cancelled | success rate | mean | p50 | p95 | mean tokens |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]

    def f(x: float | None, unit: str = "s") -> str:
        return "–" if x is None else f"{x:.1f}{unit}"

    for s in stats:
        rate = "–" if s.success_rate is None else f"{s.success_rate * 100:.0f}%"
        tokens = "–" if s.mean_tokens is None else f"{s.mean_tokens:.0f}"
        lines.append(f"| {s.pattern} | {s.runs} | {s.succeeded} | {s.failed} | {s.cancelled} | {rate} | "
                     f"{f(s.mean_duration_s)} | {f(s.p50_duration_s)} | {f(s.p95_duration_s)} | {tokens} |")
    if not stats:
        lines.append("| (no runs yet) | | | | | | | | | |")
    return "\n".join(lines) + "\n"
