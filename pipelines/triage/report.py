"""The documents a triage run leaves: the evidence text (reruns, bisect), the failure as the
agents see it, validation.md, and pr.md (a pull request body: failure, evidence, cause, fix,
validation)."""

from __future__ import annotations

from collections.abc import Sequence

from ..edits.diff import diff_stats
from ..models import ChangeSet, FailureReport, Reproduction, TestReport, Triage
from .rules import Violation

MAX_FAILURE_CHARS = 12_000


def failure_text(report: FailureReport) -> str:
    """The parsed failures first, then the (already cut) excerpt of the input, bounded."""
    lines = []
    for f in report.failures[:30]:
        where = f.test_id or (f"{f.path}:{f.line}" if f.path else f.kind)
        kind = f" {f.error_kind}" if f.error_kind else ""
        lines.append(f"- {where}:{kind} {f.message}".rstrip())
    if len(report.failures) > 30:
        lines.append(f"- … and {len(report.failures) - 30} more")
    text = "\n".join(lines)
    if report.excerpt:
        text += "\n\n" + report.excerpt
    if len(text) > MAX_FAILURE_CHARS:
        text = text[:MAX_FAILURE_CHARS] + f"\n[… cut at {MAX_FAILURE_CHARS} characters …]"
    return text


def evidence_text(rep: Reproduction | None, baseline: TestReport | None = None) -> str:
    if rep is None:
        return "(none collected)"
    out = []
    if rep.verdict == "not-applicable":
        out.append("Reproduction: not applicable (the input names no test to rerun).")
    else:
        out.append(f"Reproduction at {rep.commit[:12] or 'the working tree'}: **{rep.verdict}** — "
                   f"failed {rep.failed_runs} of {rep.runs} run(s).")
        for tid, n in sorted(rep.per_test_failures.items()):
            out.append(f"- `{tid}`: failed {n} of {rep.runs}")
    if rep.note:
        out.append(f"Note: {rep.note}")
    if rep.culprit:
        out.append(f"Bisect: first bad commit `{rep.culprit[:12]}` ({rep.culprit_subject}).")
    if baseline is not None:
        out.append(f"Whole test command before any fix: `{baseline.summary_line()}`")
    return "\n".join(out)


def triage_text(t: Triage) -> str:
    parts = [f"Category: {t.category} ({t.confidence} confidence)", f"Summary: {t.summary}"]
    if t.cause:
        parts.append(f"Cause: {t.cause}")
    if t.suspected_files:
        parts.append("Suspected files: " + ", ".join(t.suspected_files))
    if t.suspected_symbols:
        parts.append("Suspected symbols: " + ", ".join(t.suspected_symbols))
    if t.fix_strategy:
        parts.append(f"Fix strategy: {t.fix_strategy}")
    return "\n".join(parts)


def validation_text(violations: Sequence[Violation], reruns: Sequence[TestReport], suite: TestReport | None,
                    baseline: TestReport | None, runs: int) -> str:
    out = []
    if violations:
        out.append("Rejected:")
        out += [f"- {v}" for v in violations]
    else:
        out.append("All rules passed: no test deleted, skipped, xfailed or weakened; no sleeps, retries or "
                   "raised timeouts.")
    if reruns:
        ok = sum(1 for r in reruns if r.ok and r.passed > 0)
        out.append(f"Failing tests rerun: passed {ok} of {len(reruns)} (required: {runs} of {runs}).")
    if suite is not None:
        out.append(f"Whole test command after the fix: `{suite.summary_line()}`")
    if baseline is not None:
        out.append(f"Before the fix: `{baseline.summary_line()}`")
    return "\n".join(out)


def render_pr_md(report: FailureReport, rep: Reproduction | None, triage: Triage, changes: ChangeSet,
                 submission: str, validation: str, baseline: TestReport | None) -> str:
    title = triage.summary.strip().splitlines()[0][:72] if triage.summary.strip() else "Fix failing tests"
    stats = diff_stats(changes)
    out = [f"# Fix: {title}", "",
           "Proposed by Baton (triage → fix → validate). Validated by rules and reruns before review.", ""]
    out += ["## Failure", ""]
    out += [f"- `{f.test_id or f.path or f.kind}` {f.error_kind}".rstrip() for f in report.failures[:20]] or ["(none)"]
    out += ["", "## Evidence", "", evidence_text(rep, baseline), ""]
    out += ["## Cause", "", (triage.cause or triage.summary).strip(), ""]
    out += ["## Fix", "", submission.strip() or "(no summary)", "", f"Changes: {stats.summary()}", ""]
    out += ["## Validation", "", validation.strip(), ""]
    return "\n".join(out)
