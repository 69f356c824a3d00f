"""triage → fix → validate: from a failure (JUnit XML, a CI log, an issue, or the tests run now)
to a proven fix, or to a clear report of why there is none.

1. reproduce (no model): the failing tests rerun `triage_reruns` times at HEAD in a sandbox →
   reproducible / flaky / not reproducible; with `good`, a bisection names the first bad commit.
2. triage: the triager (read-only tools) → triage.md; low confidence or not fixable stops here.
3. fix: the implementer edits a sandbox; the validator's rules (triage/rules.py) and reruns
   judge each submission and feed every violation back, for `implement_attempts` rounds.
4. review: the reviewer approves or rejects (with `review_rounds` revisions).

A failure's fingerprint is recorded when the run reaches a decision, so the same failure on
the same commit is never attempted twice. Outcomes (record.extra["outcome"]): fixed, flaky,
not-reproducible, not-fixable, failed. Artifacts: triage.md, reproduction.json,
validation.md, changes.diff/.patch/.json, tests.json, review.md, pr.md, run.json.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import git

from ..agents.base import IMPLEMENTER, REVIEWER, TRIAGER, Agent, render
from ..artifacts import render_review_md, render_triage_md
from ..engine import RunContext, RunFailed, RunOutcome
from ..events import EventType
from ..models import (
    ChangeSet,
    ChangesSubmission,
    Failure,
    FailureReport,
    Reproduction,
    Review,
    Role,
    RunStatus,
    StepRecord,
    TestReport,
    Triage,
    TriageRequest,
)
from ..redact import redact
from ..triage.fingerprints import Attempt, AttemptStore, fingerprint
from ..triage.logtext import cut_log
from ..triage.parsers import safe_test_id
from ..triage.report import evidence_text, failure_text, render_pr_md, triage_text, validation_text
from ..triage.reproduce import bisect, rerun
from ..triage.rules import Violation, check_changes, check_reruns, check_suite
from .common import SandboxBench, Workbench
from .review_rounds import review_rounds, submission_text

DECIDED = frozenset({"fixed", "flaky", "not-reproducible", "not-fixable", "failed"})


async def triage_fix_validate(ctx: RunContext) -> RunOutcome:
    req = ctx.task.triage or TriageRequest()
    extra = ctx.record.extra
    extra["outcome"] = "failed"
    commit = await asyncio.to_thread(_head_commit, ctx)
    extra["commit"] = commit
    bench = await Workbench.open(ctx)
    report = req.report
    if report is None:
        report = await _collect(ctx, bench)
        if report is None:
            return await _stop(ctx, "not-reproducible", "the test command passes: there is no failure to triage",
                               None, None)
    report = scrubbed(report)
    await ctx.artifact("failure.json", report.model_dump_json(indent=2))
    fp = fingerprint(report, commit)
    extra["fingerprint"] = fp
    attempts = AttemptStore(ctx.workspace)
    earlier = await asyncio.to_thread(attempts.find, fp)
    if earlier is not None and not req.again:
        extra.update(outcome=earlier.outcome, repeatOf=earlier.run_id)
        return RunOutcome(RunStatus.failed, error=(
            f"already attempted: this failure on commit {commit[:12] or '(none)'} was attempted in run "
            f"{earlier.run_id} ({earlier.outcome}: {earlier.summary}); Baton attempts a failure once per commit "
            "(pass --again to attempt it anyway)"))
    outcome: RunOutcome | None = None
    try:
        outcome = await _attempt(ctx, bench, req, report)
        return outcome
    finally:
        if extra["outcome"] in DECIDED and (outcome is not None or extra.get("decided")):
            await asyncio.to_thread(attempts.record, Attempt(
                fingerprint=fp, commit=commit, run_id=ctx.id, outcome=extra["outcome"],
                summary=(outcome.error if outcome and outcome.error else extra.get("summary", ""))[:300]))


async def _attempt(ctx: RunContext, bench: Workbench, req: TriageRequest, report: FailureReport) -> RunOutcome:
    s = ctx.settings
    ids = report.test_ids
    # ------------------------------------------------------------ reproduce (no model)
    async with ctx.step("reproduce"):
        rep, baseline = await _reproduce(ctx, bench, ids, req.good)
        await ctx.artifact("reproduction.json", rep.model_dump_json(indent=2))
        if baseline is not None:
            await ctx.artifact("tests-before.json", baseline.model_dump_json(indent=2))
    excerpt = failure_text(report)
    evidence = evidence_text(rep, baseline)
    if rep.verdict == "not-reproducible":
        return await _stop(ctx, "not-reproducible", f"not reproducible: the failing tests passed in all {rep.runs} "
                           f"rerun(s) at HEAD{'; ' + rep.note if rep.note else ''}", evidence, excerpt)
    if rep.verdict == "flaky" and not req.fix_flaky:
        return await _stop(ctx, "flaky", f"flaky: failed {rep.failed_runs} of {rep.runs} rerun(s) on the same "
                           "code; reported, not fixed (pass --fix-flaky to attempt a fix)", evidence, excerpt)

    # ------------------------------------------------------------ triage
    async with ctx.step("triage", Role.triager):
        triager = Agent(ctx, TRIAGER, bench.read_tools(), bench.context)
        triage: Triage = await triager.run(render("triage_request", source=report.source, failure=excerpt,
                                                  evidence=evidence), step="triage")
        await ctx.artifact("triage.md", render_triage_md(triage, report.excerpt[-6000:], evidence=evidence))
    if not triage.fixable or triage.confidence == "low" or triage.category in ("environment", "not-reproducible"):
        why = "not fixable by a code change" if not triage.fixable else f"{triage.confidence} confidence"
        return await _stop(ctx, "not-fixable", f"not fixed: the triager judged it {triage.category}, {why}: "
                           f"{triage.summary.strip()[:300]}", evidence, report.excerpt[-6000:], triage)
    if triage.category == "flaky" and not req.fix_flaky:
        return await _stop(ctx, "flaky", f"flaky (the triager's reading): {triage.summary.strip()[:300]}",
                           evidence, report.excerpt[-6000:], triage)

    # ------------------------------------------------------------ fix + validate, review
    async with bench.sandbox() as sb:
        implementer = Agent(ctx, IMPLEMENTER, sb.read_tools() + sb.edit_tools(), bench.context)
        reviewer = Agent(ctx, REVIEWER, sb.read_tools(), bench.context)
        validator = FixValidator(ctx, bench, sb, ids, baseline, s.triage_reruns)
        async with ctx.step("fix", Role.implementer) as step_rec:
            validator.step = step_rec
            submission = await implementer.run(
                render("fix_request", failure=excerpt, triage=triage_text(triage), evidence=evidence,
                       test_command=sb.test_command_label, reruns=s.triage_reruns),
                step="fix", on_submit=validator.check)
        changes = await bench.record_changes(sb)

        def request(round_no: int, submission: ChangesSubmission, changes: ChangeSet) -> str:
            return render("fix_review_request", failure=excerpt, triage=triage_text(triage),
                          submission=submission.summary, diff=bench.diff(changes), validation=validator.text())

        async def on_review(review: Review, round_no: int) -> None:
            await ctx.artifact("review.md", render_review_md(review, round_no=round_no, tests=validator.suite))

        done = await review_rounds(ctx, bench, sb, reviewer=reviewer, implementer=implementer, gate=validator,
                                   submission=submission, changes=changes, request=request, on_review=on_review)
    review, changes, submission, rounds = done.review, done.changes, done.submission, done.rounds
    await ctx.artifact("triage.md", render_triage_md(
        triage, report.excerpt[-6000:], evidence=evidence,
        outcome="fixed" if review.verdict == "approved" else "failed (the reviewer rejected the fix)"))
    if review.verdict != "approved":
        ctx.record.extra["decided"] = True
        return RunOutcome(RunStatus.failed, verdict="rejected", changeset=changes, review=review, tests=validator.suite,
                          error=f"not fixed: the reviewer rejected the fix after {rounds} round(s): "
                                f"{review.summary.strip()[:300]}")
    ctx.record.extra["outcome"] = "fixed"
    await ctx.artifact("pr.md", render_pr_md(report, rep, triage, changes, submission_text(submission),
                                             validator.text(), baseline))
    return RunOutcome(RunStatus.succeeded, verdict="approved", changeset=changes, review=review, tests=validator.suite)


# --------------------------------------------------------------------------- steps


async def _collect(ctx: RunContext, bench: Workbench) -> FailureReport | None:
    """No input: run the test command now and take what fails."""
    async with ctx.step("collect"):
        async with bench.sandbox() as sb:
            report = await sb.run_tests()
        if report is None:
            raise RunFailed("nothing to triage: no failure was given (--junit, --log, --issue) and no test command "
                            "is configured or detected")
        await ctx.artifact("tests-collected.json", report.model_dump_json(indent=2))
        if report.error and not report.failing_tests:
            raise RunFailed(f"the test command could not run: {report.summary_line()}")
        if report.ok:
            return None
        ids = [t for t in (safe_test_id(x) for x in report.failing_tests) if t]
        failures = [Failure(kind="test", test_id=t, message="failed in the test run") for t in ids] or \
            [Failure(kind="crash", message=f"the test command failed: {report.summary_line()}"[:1000])]
        return FailureReport(source="run", failures=failures, excerpt=cut_log(report.output_tail))


async def _reproduce(ctx: RunContext, bench: Workbench, ids: list[str], good: str | None
                     ) -> tuple[Reproduction, TestReport | None]:
    s = ctx.settings
    commit = ctx.record.extra.get("commit", "")
    async with bench.sandbox() as sb:
        if ids:
            rep = await rerun(sb.sandbox, ids, s.triage_reruns, s.test_command, s.test_timeout_s, commit)
        else:
            rep = Reproduction(verdict="not-applicable", commit=commit)
        baseline = await sb.run_tests() if rep.verdict not in ("not-reproducible",) else None
    if good and rep.verdict == "reproducible":
        async with bench.sandbox() as sb:
            culprit, subject = await bisect(sb.sandbox, good, rep.test_ids, s.test_command, s.test_timeout_s)
        rep = rep.model_copy(update={"culprit": culprit, "culprit_subject": subject[:200]})
        ctx.record.extra["culprit"] = culprit
    return rep, baseline


async def _stop(ctx: RunContext, outcome: str, error: str, evidence: str | None, excerpt: str | None,
                triage: Triage | None = None) -> RunOutcome:
    ctx.record.extra["outcome"] = outcome
    ctx.record.extra["summary"] = error[:300]
    await ctx.artifact("triage.md", render_triage_md(triage, excerpt or "", evidence=evidence or "", outcome=outcome))
    return RunOutcome(RunStatus.failed, error=error)


def scrubbed(report: FailureReport) -> FailureReport:
    """Keys and registered secret values a CI log or issue may contain, scrubbed before any of it
    reaches a model, an artifact or the trace."""
    failures = [f.model_copy(update={"message": redact(f.message), "detail": redact(f.detail)}) for f in report.failures]
    return report.model_copy(update={"failures": failures, "excerpt": redact(report.excerpt),
                                     "title": redact(report.title)})


def _head_commit(ctx: RunContext) -> str:
    try:
        repo = git.Repo(ctx.workspace, search_parent_directories=True)
        return repo.head.commit.hexsha if repo.head.is_valid() else ""
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, ValueError):
        return ""


# --------------------------------------------------------------------------- the validator


@dataclass
class FixValidator:
    """Rules first (triage/rules.py), then the reruns and the whole suite; each violation goes back
    to the implementer while attempts remain."""

    ctx: RunContext
    bench: Workbench
    sb: SandboxBench
    ids: list[str]
    baseline: TestReport | None
    runs: int
    attempts: int = 0
    total_attempts: int = 0
    empty_submits: int = 0
    step: StepRecord | None = None
    violations: list[Violation] = field(default_factory=list)
    reruns: list[TestReport] = field(default_factory=list)
    suite: TestReport | None = None

    def reset(self, step: StepRecord | None = None) -> None:
        self.attempts, self.empty_submits, self.step = 0, 0, step

    def text(self) -> str:
        return validation_text(self.violations, self.reruns, self.suite, self.baseline, self.runs)

    async def check(self, submission: ChangesSubmission) -> str | None:
        allowed = self.ctx.settings.implement_attempts
        cs = await self.sb.changeset()
        if cs.is_empty():
            self.empty_submits += 1
            if self.empty_submits >= allowed:
                self.ctx.record.extra["decided"] = True
                raise RunFailed(f"not fixed: the implementer made no change in {self.empty_submits} submission(s)")
            return render("no_changes")
        self.attempts += 1
        self.total_attempts += 1
        self.ctx.record.attempts = self.total_attempts
        if self.step is not None:
            self.step.attempts = self.attempts
        await self.bench.record_changes(self.sb)
        self.reruns, self.suite = [], None
        self.violations = check_changes(cs)
        if not self.violations and self.ids:
            s = self.ctx.settings
            for _ in range(self.runs):
                r = await self.sb.sandbox.run_test_ids(self.ids, s.test_command, s.test_timeout_s)
                self.reruns.append(r)
                if not r.ok:
                    break
            self.violations = check_reruns(self.reruns, self.ids)
        if not self.violations:
            self.suite = await self.sb.run_tests()
            if self.suite is not None:
                await self.ctx.artifact("tests.json", self.suite.model_dump_json(indent=2))
            self.violations = check_suite(self.suite, self.baseline)
        await self.ctx.artifact("validation.md", f"# Validation (attempt {self.total_attempts})\n\n{self.text()}\n")
        self.ctx.bus.emit(EventType.evaluation, f"validation {'failed' if self.violations else 'passed'}",
                          step=self.step.name if self.step else None, name="baton.validation",
                          label="failed" if self.violations else "passed", score=0.0 if self.violations else 1.0,
                          explanation="; ".join(str(v) for v in self.violations)[:2000] or "reruns and suite pass")
        if not self.violations:
            return None
        if self.attempts < allowed:
            return render("fix_rejected", attempt=self.attempts, attempts=allowed,
                          violations="\n".join(f"- {v}" for v in self.violations))
        self.ctx.record.extra["decided"] = True
        raise RunFailed(f"not fixed: the validator rejected the fix {self.attempts} time(s): "
                        + "; ".join(str(v) for v in self.violations[:3]))
