"""Reproduce before anything else, with no model: the failing tests rerun N times at HEAD in a
sandbox (reproducible / flaky with the evidence / not reproducible), and with a known-good
commit a bisection that names the first bad commit.

The bisection is `git bisect start --first-parent` done by Baton one step at a time: each
commit is checked out in the sandbox's own worktree and its tests run through
`Sandbox.run_test_ids`, i.e. confined like every other test run. Not `git bisect run`: that runs
the repository's code outside the confinement, and `git bisect` itself writes refs (and an
empty packed-refs file) into the user's .git even from a linked worktree."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import git

from ..models import Reproduction, TestReport
from ..sandbox import Sandbox, SandboxError

MAX_BISECT_STEPS = 40


class BisectError(SandboxError):
    """`--good REF` could not be used; the message says why and what to pass instead."""


def _failed_ids(report: TestReport, ids: Sequence[str]) -> set[str]:
    """Which of `ids` failed in this run (a parametrised or class id matches its own cases)."""
    failing = set(report.failing_tests)
    out = set()
    for tid in ids:
        if tid in failing or any(f.startswith(tid + "::") or f.startswith(tid + "[") for f in failing):
            out.add(tid)
    return out


def judge(report: TestReport, ids: Sequence[str]) -> str:
    """'bad' (one of the ids failed), 'good' (they ran and passed) or 'skip' (could not tell)."""
    if report.error or report.timed_out:
        return "skip"
    if _failed_ids(report, ids) or report.errors:
        return "bad"
    if report.exit_code == 0 and report.passed > 0:
        return "good"
    return "skip"  # nothing collected (the test does not exist there), usage error, …


async def rerun(sb: Sandbox, ids: Sequence[str], runs: int, command: str | None, timeout_s: float,
                commit: str, on_run: Callable[[int, TestReport], None] | None = None) -> Reproduction:
    """Run `ids` `runs` times in the same sandbox and classify the outcome."""
    present = [t for t in ids if (sb.path / t.split("::", 1)[0]).is_file()]
    missing = [t for t in ids if t not in present]
    if not present:
        return Reproduction(verdict="not-reproducible", test_ids=list(ids), commit=commit,
                            note="none of the failing tests exists at this commit: "
                                 + ", ".join(missing[:5]))
    per_test = {t: 0 for t in present}
    reports: list[TestReport] = []
    failed_runs = 0
    undecided = 0
    for n in range(1, runs + 1):
        report = await sb.run_test_ids(present, command, timeout_s)
        reports.append(_bounded(report))
        if on_run is not None:
            on_run(n, report)
        verdict = judge(report, present)
        if verdict == "bad":
            failed_runs += 1
            for t in _failed_ids(report, present) or present:
                per_test[t] += 1
        elif verdict == "skip":
            undecided += 1
    note = ""
    if missing:
        note = "not found at this commit (not rerun): " + ", ".join(missing[:5])
    if undecided == runs:
        last = reports[-1]
        return Reproduction(verdict="not-reproducible", runs=runs, test_ids=present, commit=commit,
                            reports=reports, per_test_failures=per_test,
                            note=(note + "; " if note else "") + f"the tests could not be run: {last.summary_line()}")
    verdict_name: Literal["reproducible", "flaky", "not-reproducible"]
    if failed_runs == runs:
        verdict_name = "reproducible"
    elif failed_runs == 0:
        verdict_name = "not-reproducible"
    else:
        verdict_name = "flaky"
    return Reproduction(verdict=verdict_name, runs=runs, failed_runs=failed_runs, test_ids=present, commit=commit,
                        per_test_failures=per_test, reports=reports, note=note)


async def bisect(sb: Sandbox, good: str, ids: Sequence[str], command: str | None, timeout_s: float,
                 on_step: Callable[[str, str], None] | None = None) -> tuple[str, str]:
    """The first bad commit between `good` and HEAD for `ids`; (sha, subject). The sandbox's
    worktree is reset to HEAD first (its copy of uncommitted changes is dropped: commits only)."""
    if sb.git_root is None:
        raise BisectError("--good needs a git repository with commits; this workspace has none")
    try:
        good_sha = (await sb.git("rev-parse", "--verify", "--quiet", f"{good}^{{commit}}")).strip()
    except git.GitCommandError:
        good_sha = ""
    if not good_sha:
        raise BisectError(f"--good {good}: no such commit in this repository (pass a commit, tag or branch)")
    head = (await sb.git("rev-parse", "HEAD")).strip()
    if good_sha == head:
        raise BisectError(f"--good {good}: that is HEAD itself, where the tests fail; pass an older commit")
    try:
        await sb.git("merge-base", "--is-ancestor", good_sha, head)
    except git.GitCommandError:
        raise BisectError(f"--good {good}: not an ancestor of HEAD, so bisect cannot walk from it") from None
    await sb.git("reset", "--hard", "--quiet", "HEAD")
    await sb.git("clean", "-fdq")
    # the known-good commit must really pass, or every answer after would be wrong
    await sb.git("checkout", "--quiet", "--detach", good_sha)
    if judge(await sb.run_test_ids(ids, command, timeout_s), ids) != "good":
        raise BisectError(f"--good {good}: the failing tests do not pass there either (or cannot run), "
                          "so it is not a good commit for this failure")
    revs = (await sb.git("rev-list", "--first-parent", "--reverse", f"{good_sha}..{head}")).split()
    lo, hi = 0, len(revs) - 1  # revs[hi] fails (HEAD); every commit before revs[lo] passes
    skipped: set[int] = set()
    for _ in range(MAX_BISECT_STEPS):
        if lo >= hi:
            sha = revs[hi]
            subject = (await sb.git("log", "-1", "--format=%s", sha)).strip()
            return sha, subject
        mid = _pick(lo, hi, skipped)
        if mid is None:
            raise BisectError("bisect could not decide: the commits between "
                              f"{revs[lo][:12]} and {revs[hi][:12]} could not be tested (the tests did not run there)")
        await sb.git("checkout", "--quiet", "--detach", revs[mid])
        verdict = judge(await sb.run_test_ids(ids, command, timeout_s), ids)
        if on_step is not None:
            on_step(revs[mid], verdict)
        if verdict == "bad":
            hi = mid
        elif verdict == "good":
            lo = mid + 1
        else:
            skipped.add(mid)
    raise BisectError(f"bisect did not finish in {MAX_BISECT_STEPS} steps")


def _pick(lo: int, hi: int, skipped: set[int]) -> int | None:
    """The untested commit in [lo, hi) closest to the middle (skipped ones are avoided)."""
    middle = (lo + hi) // 2
    for offset in range(hi - lo):
        for k in (middle - offset, middle + offset):
            if lo <= k < hi and k not in skipped:
                return k
    return None


def _bounded(report: TestReport) -> TestReport:
    return report.model_copy(update={"output_tail": report.output_tail[-3000:]})
