"""Run one eval case: a fresh temp copy of its project, the pattern on it (against the configured
endpoint or its recorded session), then the hidden check on the resulting change.

The suite is never written: the project is copied (and made a git repository, as a user's would
be), the run's store lives beside the copy, and the hidden files are copied into a sandbox of the
changed copy only after the run has ended, so no agent can see them. The check runs through the
sandbox's test runner (confined, like every command Baton runs on model-written code).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import ConfigError, Settings, load_settings
from ..models import ChangeSet, Pattern, RunRecord, RunStatus, Scope, Task
from .results import CaseResult, CheckResult, FailureReason
from .suite import Case

# Where each pattern's function lives; a pattern not in this version of Baton fails its cases
# with a clear reason instead of breaking the suite.
PATTERN_FUNCTIONS: dict[Pattern, tuple[str, str]] = {
    Pattern.plan_implement_review: ("baton.pipelines.patterns.plan_implement_review", "plan_implement_review"),
    Pattern.parallel_modules: ("baton.pipelines.patterns.parallel_modules", "parallel_modules"),
    Pattern.triage_fix_validate: ("baton.pipelines.patterns.triage_fix_validate", "triage_fix_validate"),
}
# Patterns whose module-level name is a factory of the pattern function.
PATTERN_FACTORIES = frozenset({Pattern.parallel_modules})
_GIT_ID = ["-c", "user.name=Baton eval", "-c", "user.email=eval@baton.invalid", "-c", "commit.gpgsign=false",
           "-c", "core.hooksPath=/dev/null"]
_IGNORE = shutil.ignore_patterns(".baton", "__pycache__", ".pytest_cache", "*.pyc")


@dataclass
class CaseJob:
    """Everything a worker needs to run one case (picklable: it travels to Ray workers)."""

    case: Case
    repeat: int = 0
    models: dict[str, str] = field(default_factory=dict)  # --models: overrides for live runs
    live: bool = False  # ignore recorded sessions, use the configured endpoint
    overrides: dict[str, Any] = field(default_factory=dict)  # --base-url etc. for live runs


@dataclass
class CaseOutput:
    """A case's result and its run folder's files (shipped back into the local store)."""

    result: CaseResult
    run_files: dict[str, bytes] = field(default_factory=dict)
    record: RunRecord | None = None


_ROLE_ORDER = ("decomposer", "triager", "planner", "implementer", "reviewer")


def model_set_label(roles: dict[str, str]) -> str:
    """`planner=a,implementer=b,reviewer=c`, in pipeline order: a model set's name in the table."""
    order = {r: i for i, r in enumerate(_ROLE_ORDER)}
    items = sorted(roles.items(), key=lambda kv: (order.get(kv[0], 99), kv[0]))
    return ",".join(f"{r}={m}" for r, m in items) or "(default models)"


def expand(command: str | None) -> str | None:
    """`{python}` in a suite's commands is the interpreter running Baton (works in any venv)."""
    return command.replace("{python}", shlex.quote(sys.executable)) if command else command


async def run_case(job: CaseJob, subscribers: tuple[Any, ...] = ()) -> CaseOutput:
    """Run one case to the end; never raises for the case's own failures (they become its result)."""
    case = job.case
    tmp = await asyncio.to_thread(_make_tmp, case.id)
    try:
        return await _run_in(tmp, job, subscribers)
    finally:
        await asyncio.shield(asyncio.to_thread(shutil.rmtree, tmp, True))


async def _run_in(tmp: Path, job: CaseJob, subscribers: tuple[Any, ...]) -> CaseOutput:
    case = job.case
    recorded = case.session is not None and not job.live
    base: dict[str, Any] = dict(case_id=case.id, pattern=case.pattern.value, repeat=job.repeat,
                session="recorded" if recorded else "live", worker=socket.gethostname())
    ws = tmp / "ws"
    try:
        await asyncio.to_thread(prepare_project, case, ws)
        fn = load_pattern(case.pattern)
    except CaseSetupError as e:
        return CaseOutput(CaseResult(**base, model_set="-", status="failed", success=False,
                                     reason=FailureReason.setup_error, error=str(e)))
    from ..store import RunStore

    store = RunStore(tmp / "store")
    with _endpoint(case, recorded) as url:
        try:
            settings, roles = _settings(case, ws, job, url)
        except CaseSetupError as e:
            return CaseOutput(CaseResult(**base, model_set="-", status="failed", success=False,
                                         reason=FailureReason.setup_error, error=str(e)))
        try:
            task = _task(case, ws)
        except CaseSetupError as e:
            return CaseOutput(CaseResult(**base, model_set=model_set_label(roles), status="failed", success=False,
                                         reason=FailureReason.setup_error, error=str(e)))
        from ..engine import Engine

        result = await Engine(ws, settings, store=store).run(task, fn, subscribers=subscribers)
    rec = result.record
    check = await _hidden_check(case, ws, result.changeset, rec)
    success = rec.status is RunStatus.succeeded and (check is None or check.passed)
    reason = None if success else classify(rec, check)
    verdict = rec.verdict if rec.verdict in ("approved", "rejected") else None
    res = CaseResult(**base, model_set=model_set_label(roles), run_id=rec.id, status=rec.status.value,
                     verdict=verdict, success=success, reason=reason, error=rec.error if not success else None,
                     check=check, files_changed=rec.files_changed, duration_s=rec.duration_s,
                     waiting_s=rec.waiting_s, tokens=rec.usage.total_tokens, cost_usd=rec.usage.cost_usd,
                     llm_calls=rec.usage.calls)
    files = await asyncio.to_thread(_read_run_folder, store.run_dir(rec.id))
    return CaseOutput(res, files, rec)


def _make_tmp(case_id: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"baton-eval-{case_id}-")).resolve()


class CaseSetupError(Exception):
    """The case could not be prepared (project, repository, session, settings): its reason."""


def load_pattern(pattern: Pattern) -> Any:
    module, name = PATTERN_FUNCTIONS[pattern]
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise CaseSetupError(f"the {pattern.value} pattern is not available in this version of Baton") from None
    if pattern in PATTERN_FACTORIES:  # parallel_modules(modules=None) makes the pattern: the decomposer decides
        fn = fn()
    return fn


def prepare_project(case: Case, ws: Path) -> None:
    """The case's project as a fresh git repository at `ws` (a copy of a suite folder, or a clone)."""
    if case.project is not None:
        shutil.copytree(case.project, ws, ignore=_IGNORE, symlinks=True)
        _git(ws, "init", "-q", "-b", "main")
        _git(ws, "add", "-A")
        _git(ws, *_GIT_ID, "commit", "-q", "--allow-empty", "-m", f"eval case {case.id}")
    else:
        assert case.repo is not None
        _git(ws.parent, "clone", "-q", "--no-hardlinks", case.repo, str(ws))
        if case.commit:
            _git(ws, "-c", "advice.detachedHead=false", "checkout", "-q", case.commit)


def _git(cwd: Path, *args: str) -> None:
    try:
        subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=300,
                       env={"GIT_TERMINAL_PROMPT": "0", "PATH": _path(), "HOME": str(cwd)})
    except FileNotFoundError:
        raise CaseSetupError("git is not installed: eval cases run in git copies of their projects") from None
    except subprocess.CalledProcessError as e:
        raise CaseSetupError(f"git {' '.join(args[:2])} failed in {cwd}: {(e.stderr or '').strip()[:300]}") from None
    except subprocess.TimeoutExpired:
        raise CaseSetupError(f"git {' '.join(args[:2])} took over 300 s") from None


def _path() -> str:
    import os

    return os.environ.get("PATH", "/usr/bin:/bin")


@contextlib.contextmanager
def _endpoint(case: Case, recorded: bool) -> Iterator[str | None]:
    """The scripted server replaying the case's session, or None (the configured endpoint)."""
    if not recorded:
        yield None
        return
    from ..llm.scripted import ScriptedLLM

    assert case.session is not None
    with ScriptedLLM(case.session) as url:
        yield url


def _settings(case: Case, ws: Path, job: CaseJob, url: str | None) -> tuple[Settings, dict[str, str]]:
    overrides: dict[str, Any] = dict(case.settings)
    if case.test_command:
        overrides["test_command"] = expand(case.test_command)
    if url is not None:  # a recorded session: its own model names, no key, no user endpoint
        from ..llm.script import load_script

        assert case.session is not None
        script = load_script(case.session)
        roles = dict(script.meta.roles) if script.meta else {}
        roles = roles or dict(case.models)
        overrides.update(base_url=url, api_key="replay-no-key", max_retries=1)
        overrides["roles"] = {r: {"model": m, "reasoning": False} for r, m in roles.items()}
        env: dict[str, str] | None = {}
    else:
        roles = {**case.models, **job.models}
        overrides.update(job.overrides)
        if roles:
            overrides["roles"] = {r: {"model": m} for r, m in roles.items()}
        env = None
    try:
        settings = load_settings(ws, overrides=overrides, env=env, overrides_source=f"eval case {case.id}")
    except ConfigError as e:
        raise CaseSetupError(str(e)) from None
    return settings, {r.value: c.model for r, c in settings.roles.items() if r.value in roles or not roles}


def _task(case: Case, ws: Path) -> Task:
    scope = Scope(root=str(ws), path=case.module)
    if case.pattern is Pattern.triage_fix_validate:  # the failure input, parsed as `baton triage --log` does
        from ..models import TriageRequest

        report = None
        if case.failure_file is not None:
            from ..triage.parsers import InputError, parse_log

            try:
                report = parse_log(case.failure_file.read_text(encoding="utf-8", errors="replace"), ws)
            except InputError as e:
                raise CaseSetupError(f"{case.failure_file}: {e}") from None
        return Task(text=case.task, scope=scope, pattern=case.pattern, source="ci",
                    triage=TriageRequest(report=report, again=True))
    return Task(text=case.task, scope=scope, pattern=case.pattern)


async def _hidden_check(case: Case, ws: Path, changeset: ChangeSet | None, rec: RunRecord) -> CheckResult | None:
    """Judge the change the run proposed; None when there is nothing to judge (no change proposed)."""
    if changeset is None or (rec.status is not RunStatus.succeeded and rec.verdict is None):
        return None
    from ..sandbox import Sandbox

    changed = set(changeset.paths)
    problems = [f"{p} must change but did not" for p in case.check.must_change if p not in changed]
    problems += [f"{p} must not change but did" for p in case.check.must_not_change if p in changed]
    if not case.check.command:
        return CheckResult(passed=not problems, problems=problems, summary="; ".join(problems) or "files as required")
    async with Sandbox.create(ws) as sb:
        if not changeset.is_empty():
            await sb.apply(changeset)
        if case.check_files is not None:  # only now, in a copy no agent will ever see
            await asyncio.to_thread(shutil.copytree, case.check_files, sb.path, dirs_exist_ok=True, ignore=_IGNORE)
        report = await sb.run_tests(expand(case.check.command), case.check.timeout_s)
    passed = report.ok and not problems
    return CheckResult(passed=passed, command=case.check.command, exit_code=report.exit_code,
                       summary=report.summary_line(), problems=problems, output_tail=report.output_tail[-4000:])


def classify(rec: RunRecord, check: CheckResult | None) -> FailureReason:
    """Group a failed case by cause, from its run record (and the hidden check)."""
    if rec.status is RunStatus.succeeded:
        return FailureReason.hidden_check_failed
    if rec.status is RunStatus.cancelled:
        return FailureReason.interrupted
    err = (rec.error or "").lower()
    failed_steps = [s.name for s in rec.steps if s.status == "failed"]
    if "budget exceeded" in err:
        return FailureReason.budget
    if "timed out" in err or "wall-time limit" in err:
        return FailureReason.timeout
    if rec.verdict == "rejected":
        if rec.pattern is Pattern.plan_implement_review or "review" in err:
            return FailureReason.reviewer_rejected
        return FailureReason.validator_rejected
    if "validat" in err and "reject" in err:
        return FailureReason.validator_rejected
    if "tests still fail" in err or "tests fail" in err:
        return FailureReason.tests_failed
    if "made no change" in err or "patch" in err and "refused" in err:
        return FailureReason.patch_refused
    if failed_steps and failed_steps[0] in ("plan", "decompose", "triage"):
        if "model" in err and ("failed after" in err or "unknown model" in err or "script" in err):
            return FailureReason.model_error
        return FailureReason.plan_invalid
    if "failed after" in err and "attempts" in err or "unknown model" in err:
        return FailureReason.model_error
    return FailureReason.other


def _read_run_folder(path: Path) -> dict[str, bytes]:
    if not path.is_dir():
        return {}
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}
