"""One module of a parallel run: an implementer confined to its write set, in its own sandbox,
with its own test gate, token budget and trace.

The write set is enforced where edits are applied (`WriteSetGuard.apply`): a change set that
touches a path outside it is refused to the agent with the reason and never reaches the
sandbox. Files the module's tests leave outside the write set are not part of its result.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..agents.base import IMPLEMENTER, Agent, render
from ..edits.diff import DiffStats
from ..edits.errors import EditError
from ..edits.source import DirectorySource
from ..engine import RunContext
from ..errors import BatonError
from ..events import Event
from ..llm.scoped import ScopedLLM
from ..models import ChangeSet, ChangesSubmission, ModuleTask, Role, StepRecord, TestReport, Usage
from ..parallel_plan import write_spec
from ..sandbox import Sandbox
from ..workspace.view import WorkspaceView
from .common import SandboxBench, format_tests


class ModuleFailed(BatonError):
    """A module's agent could not finish (no change, tests still red); its siblings go on."""


class OutsideWriteSet(EditError):
    """An edit named a path outside the module's write set."""


@dataclass
class ModuleWork:
    """What a module's agent produced: data only (a remote executor ships it back as it is)."""

    changeset: ChangeSet
    summary: str
    tests: TestReport | None
    attempts: int
    usage: Usage
    outside: list[str] = field(default_factory=list)  # written by its tests outside the write set: dropped


class WriteSetGuard:
    """The sandbox as a module's edit tools see it: writes outside the write set are refused."""

    def __init__(self, sandbox: Sandbox, module: ModuleTask) -> None:
        self._sb, self.module = sandbox, module
        self._spec = write_spec(module)
        self.path = sandbox.path
        self.excludes = sandbox.excludes

    @property
    def source(self) -> DirectorySource:
        return self._sb.source

    def allows(self, rel: str) -> bool:
        return self._spec.match_file(rel)

    async def apply(self, changeset: ChangeSet) -> DiffStats:
        refused = sorted({p for p in changeset.paths if not self.allows(p)})
        if refused:
            raise OutsideWriteSet(
                f"refused: {', '.join(refused)} lie(s) outside this module's write set "
                f"({', '.join(self.module.write_set)}); nothing was changed. Another agent owns those files: "
                "change only files in your write set")
        return await self._sb.apply(changeset)

    async def changeset(self, summary: str = "") -> ChangeSet:
        cs = await self._sb.changeset(summary)
        return ChangeSet(edits=[e for e in cs.edits if all(self.allows(p) for p in [e.path, e.target_path])],
                         summary=summary)

    async def outside(self) -> list[str]:
        cs = await self._sb.changeset()
        return sorted({p for p in cs.paths if not self.allows(p)})

    async def run_tests(self, *args: Any, **kwargs: Any) -> TestReport:
        return await self._sb.run_tests(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:  # everything else is the sandbox's own
        return getattr(self._sb, name)


def slug(path: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", path).strip("_") or "root"


def module_llm(ctx: RunContext, module: ModuleTask) -> ScopedLLM:
    s = ctx.settings
    return ScopedLLM(ctx.llm, module.path, budget_tokens=s.module_budget_tokens,
                     budget_cost_usd=s.module_budget_cost_usd)


async def run_module(ctx: RunContext, module: ModuleTask, sandbox: Sandbox, llm: ScopedLLM, context: str,
                     overall: str, *, rerun: tuple[str, str] | None = None) -> ModuleWork:
    """Run the module's implementer to a green (or absent) test run in `sandbox`; `llm.usage` tells
    what it spent even when it fails."""
    s = ctx.settings
    mctx = dataclasses.replace(ctx, llm=llm)
    guard = WriteSetGuard(sandbox, module)
    view = WorkspaceView(sandbox.path, ctx.task.scope, excludes=s.exclude, max_file_bytes=s.max_file_bytes)
    bench = SandboxBench(mctx, guard, view)  # type: ignore[arg-type]  # the guard has the Sandbox API the bench uses
    agent = Agent(mctx, IMPLEMENTER, bench.read_tools() + bench.edit_tools(), context)
    gate = _ModuleGate(bench, module, s.implement_attempts)
    fields = dict(path=module.path, task=module.task, overall=overall, write_set=", ".join(module.write_set),
                  test_command=bench.test_command_label)
    if rerun is None:
        message = render("module_request", **fields)
    else:
        message = render("module_rerun", conflict=rerun[0], detail=rerun[1], **fields)
    step = f"{'rerun' if rerun else 'module'}:{module.path}"
    agent.conversation.route = message.split("\n", 1)[0] + "\n"  # "# Your module: PATH": routes a recording
    async with ctx.step(step, Role.implementer, timeout_s=s.module_timeout_s) as rec:
        gate.step = rec
        submission: ChangesSubmission = await agent.run(message, step=step, on_submit=gate.check)
    return ModuleWork(changeset=await guard.changeset(submission.summary.strip()), summary=submission.summary.strip(),
                      tests=gate.last, attempts=gate.attempts, usage=llm.usage, outside=await guard.outside())


class _ModuleGate:
    """Runs the tests when the module's implementer submits; sends failures back while attempts remain."""

    def __init__(self, bench: SandboxBench, module: ModuleTask, attempts: int) -> None:
        self.bench, self.module, self.allowed = bench, module, attempts
        self.attempts = 0
        self.empty = 0
        self.last: TestReport | None = None
        self.step: StepRecord | None = None

    async def check(self, submission: ChangesSubmission) -> str | None:
        cs = await self.bench.changeset()
        if cs.is_empty():
            self.empty += 1
            if self.empty >= self.allowed:
                why = f"; its last refused edit: {self.bench.last_edit_error}" if self.bench.last_edit_error else ""
                raise ModuleFailed(f"module {self.module.path}: the agent made no change in its write set "
                                   f"after {self.empty} submission(s){why}"[:1500])
            return render("no_changes")
        self.attempts += 1
        if self.step is not None:
            self.step.attempts = self.attempts
        report = await self.bench.run_tests()
        if report is None:
            return None
        self.last = report
        if report.ok:
            return None
        if self.attempts < self.allowed:
            return render("tests_failed", attempt=self.attempts, attempts=self.allowed, report=format_tests(report))
        raise ModuleFailed(f"module {self.module.path}: the tests still fail after {self.attempts} attempt(s): "
                           f"{report.summary_line()}")


class ModuleTrace:
    """Collects a module's events (those of its steps) for modules/<slug>/trace.jsonl."""

    def __init__(self, module: ModuleTask) -> None:
        self.suffix = ":" + module.path
        self.lines: list[str] = []

    def __call__(self, event: Event) -> None:
        if event.step is not None and event.step.endswith(self.suffix):
            self.lines.append(event.to_json_line())

    def text(self) -> str:
        return "\n".join(self.lines) + ("\n" if self.lines else "")


def module_folder(ctx: RunContext, module: ModuleTask) -> Path:
    return ctx.store.run_dir(ctx.id) / "modules" / slug(module.path)


def write_module_files(folder: Path, files: dict[str, str]) -> None:
    """Blocking: modules/<slug>/{task.md, diff, tests.json, trace.jsonl} (run via to_thread)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        tmp = folder / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(folder / name)


def task_md(module: ModuleTask) -> str:
    deps = ", ".join(module.depends_on) or "(none)"
    return (f"# Module {module.path}\n\n{module.task}\n\n- Write set: {', '.join(module.write_set)}\n"
            f"- Depends on: {deps}\n")


def tests_json(report: TestReport | None) -> str:
    return report.model_dump_json(indent=2) if report is not None else json.dumps(None)
