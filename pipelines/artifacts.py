"""Render hand-offs as the documents users read (plan.md, review.md, triage.md) and read an
edited plan.md back, so the plan gate can continue with the user's corrections.

The plan.md format round-trips: `parse_plan_md(render_plan_md(p)) == p`.
"""

from __future__ import annotations

import json
import re

from pydantic import ValidationError

from .errors import BatonError
from .models import Decision, Plan, PlanStep, Review, TestReport, Triage


class PlanParseError(BatonError, ValueError):
    """plan.md could not be read back; says which section/line and what is expected."""


# --------------------------------------------------------------------------- plan.md


def render_plan_md(plan: Plan, task: str = "") -> str:
    out: list[str] = []
    title = task.strip().splitlines()[0] if task.strip() else "Plan"
    out += [f"# Plan: {title}", ""]
    out += ["<!-- Baton plan. With the plan gate on, edit this file and run `Baton: Continue run`;",
            "     keep the `## ` section headings and the numbered steps. -->", ""]
    out += ["## Summary", "", plan.summary.strip(), ""]
    out += ["## Steps", ""]
    for i, step in enumerate(plan.steps, 1):
        out.append(f"{i}. {step.title.strip()}")
        for line in step.detail.strip().splitlines():
            out.append(f"   {line}" if line.strip() else "")
        if step.files:
            out.append("   Files: " + ", ".join(f"`{f}`" for f in step.files))
    out.append("")
    out += ["## Files to touch", ""]
    out += [f"- `{f}`" for f in plan.files_to_touch] or ["(none listed)"]
    out.append("")
    out += ["## Decisions", ""]
    if not plan.decisions:
        out += ["(none)", ""]
    for d in plan.decisions:
        out += [f"### {d.title.strip()}", "", f"- Choice: {d.choice.strip()}", f"- Rationale: {d.rationale.strip()}"]
        if d.alternatives:
            out.append("- Alternatives: " + "; ".join(a.strip() for a in d.alternatives))
        out.append("")
    out += ["## Risks", ""]
    out += [f"- {r.strip()}" for r in plan.risks] or ["(none)"]
    out.append("")
    out += ["## Test strategy", "", plan.test_strategy.strip() or "(none)", ""]
    return "\n".join(out)


_SECTION = re.compile(r"^##\s+(.+?)\s*$")
_STEP = re.compile(r"^\s{0,2}(\d+)[.)]\s+(.*\S)\s*$")
_BULLET = re.compile(r"^\s*[-*]\s+(.*\S)\s*$")
_CODE = re.compile(r"`([^`]+)`")
_NONE = {"(none)", "(none listed)", ""}


def _files(text: str) -> list[str]:
    found = _CODE.findall(text)
    if found:
        return [f.strip() for f in found if f.strip()]
    return [f.strip() for f in text.split(",") if f.strip()]


def parse_plan_md(text: str) -> Plan:
    """Read an (edited) plan.md back into a Plan; raises PlanParseError saying what is wrong."""
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    sections: dict[str, list[str]] = {}
    current: str | None = None
    for line in text.splitlines():
        m = _SECTION.match(line)
        if m and not line.startswith("###"):
            current = m.group(1).strip().lower()
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
    if "steps" not in sections:
        raise PlanParseError("plan.md has no `## Steps` section; keep the section headings of the generated plan")

    def body(name: str) -> str:
        return "\n".join(sections.get(name, [])).strip()

    steps: list[PlanStep] = []
    for lineno, line in enumerate(sections["steps"], 1):
        m = _STEP.match(line)
        if m:
            steps.append(PlanStep(title=m.group(2)))
            continue
        stripped = line.strip()
        if not stripped:
            if steps and steps[-1].detail:
                steps[-1] = steps[-1].model_copy(update={"detail": steps[-1].detail + "\n"})
            continue
        if not steps:
            raise PlanParseError(
                f"plan.md, `## Steps`, line {lineno}: {stripped[:60]!r} comes before any numbered step "
                "(steps look like `1. Do this`)"
            )
        if stripped.lower().startswith("files:"):
            steps[-1] = steps[-1].model_copy(update={"files": _files(stripped[6:])})
        else:
            detail = (steps[-1].detail + "\n" + stripped) if steps[-1].detail else stripped
            steps[-1] = steps[-1].model_copy(update={"detail": detail})
    steps = [s.model_copy(update={"detail": re.sub(r"\n{2,}", "\n", s.detail).strip()}) for s in steps]

    def bullets(name: str) -> list[str]:
        items = []
        for line in sections.get(name, []):
            m = _BULLET.match(line)
            if m:
                items.append(m.group(1))
        return items

    files = [f for b in bullets("files to touch") for f in _files(b)]
    decisions: list[Decision] = []
    cur: dict[str, str] | None = None
    for line in sections.get("decisions", []):
        if line.startswith("### "):
            if cur is not None:
                decisions.append(_decision(cur))
            cur = {"title": line[4:].strip()}
            continue
        m = _BULLET.match(line)
        if m and cur is not None and ":" in m.group(1):
            key, _, value = m.group(1).partition(":")
            cur[key.strip().lower()] = value.strip()
    if cur is not None:
        decisions.append(_decision(cur))
    summary = body("summary")
    test_strategy = body("test strategy")
    try:
        return Plan(
            summary=summary if summary not in _NONE else "",
            steps=steps,
            files_to_touch=files,
            decisions=decisions,
            risks=[r for r in bullets("risks") if r not in _NONE],
            test_strategy=test_strategy if test_strategy not in _NONE else "",
        )
    except ValidationError as e:
        err = e.errors()[0]
        raise PlanParseError(f"plan.md: {'.'.join(map(str, err['loc']))}: {err['msg']}") from None


def _decision(d: dict[str, str]) -> Decision:
    alts = [a.strip() for a in d.get("alternatives", "").split(";") if a.strip()]
    return Decision(title=d["title"], choice=d.get("choice", ""), rationale=d.get("rationale", ""), alternatives=alts)


def render_decisions_json(plan: Plan) -> str:
    return json.dumps([d.model_dump() for d in plan.decisions], indent=2) + "\n"


# --------------------------------------------------------------------------- review.md


def render_review_md(review: Review, *, round_no: int = 1, tests: TestReport | None = None) -> str:
    out = [f"Verdict: {review.verdict}", "", f"# Review (round {round_no})", "", review.summary.strip(), ""]
    if tests is not None:
        out += ["## Tests", "", f"`{tests.summary_line()}`", ""]
    out += ["## Findings", ""]
    if not review.findings:
        out.append("(none)")
    for f in review.findings:
        where = f"{f.path}:{f.line}" if f.line else f.path
        out.append(f"- **{f.severity.value}** `{where}` — {f.message.strip()}")
        if f.suggestion:
            out.append("  Suggestion:")
            out.append("  ```")
            out += [f"  {line}" for line in f.suggestion.splitlines()]
            out.append("  ```")
    out.append("")
    return "\n".join(out)


# --------------------------------------------------------------------------- triage.md


def render_triage_md(triage: Triage | None, failure_excerpt: str = "", *, evidence: str = "",
                     outcome: str = "") -> str:
    """triage.md: the outcome, the triager's reading (when a model was asked), the evidence Baton
    collected itself (reruns, bisect) and an excerpt of the failure."""
    if triage is None:
        out = [f"# Triage: {outcome or 'stopped before the triager'}", ""]
    else:
        head = f"# Triage: {triage.category} ({triage.confidence} confidence, "
        head += "fixable)" if triage.fixable else "not fixable)"
        out = [head, ""]
        if outcome:
            out += [f"Outcome: **{outcome}**", ""]
        out += [triage.summary.strip(), ""]
        if triage.failing_tests:
            out += ["## Failing tests", ""] + [f"- `{t}`" for t in triage.failing_tests] + [""]
        if triage.suspected_files or triage.suspected_symbols:
            out += ["## Suspected", ""] + [f"- `{f}`" for f in triage.suspected_files]
            out += [f"- `{sym}` (symbol)" for sym in triage.suspected_symbols] + [""]
        if triage.cause:
            out += ["## Cause", "", triage.cause.strip(), ""]
        if triage.fix_strategy:
            out += ["## Fix strategy", "", triage.fix_strategy.strip(), ""]
    if evidence:
        out += ["## Evidence", "", evidence.strip(), ""]
    if failure_excerpt:
        out += ["## Failure (excerpt)", "", "```", failure_excerpt.rstrip().replace("```", "ʼʼʼ"), "```", ""]
    return "\n".join(out)
