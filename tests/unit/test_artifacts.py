import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baton.pipelines.artifacts import (
    PlanParseError,
    parse_plan_md,
    render_plan_md,
    render_review_md,
)
from baton.pipelines.models import Decision, Finding, Plan, PlanStep, Review

PLAN = Plan(
    summary="Add a `greet` function.\nIt says hello.",
    steps=[PlanStep(title="Write greet", detail="In hello.py.\nReturn a string.", files=["hello.py"]),
           PlanStep(title="Test it", files=["tests/test_hello.py"])],
    files_to_touch=["hello.py", "tests/test_hello.py"],
    decisions=[Decision(title="Return, not print", choice="return a str", rationale="testable",
                        alternatives=["print", "log"])],
    risks=["none really"],
    test_strategy="pytest tests/test_hello.py",
)


def test_plan_md_round_trips():
    assert parse_plan_md(render_plan_md(PLAN, "add greet")) == PLAN


def test_user_edits_to_plan_md_are_read_back():
    md = render_plan_md(PLAN, "add greet").replace("2. Test it", "2. Test it well").replace(
        "   Files: `tests/test_hello.py`", "   Files: `tests/test_hello.py`\n3. Update the README\n   Files: `README.md`")
    plan = parse_plan_md(md)
    assert [s.title for s in plan.steps] == ["Write greet", "Test it well", "Update the README"]
    assert plan.steps[2].files == ["README.md"]


def test_broken_plan_md_says_what_is_wrong():
    with pytest.raises(PlanParseError, match="no `## Steps`"):
        parse_plan_md("# Plan\n\n## Summary\nx\n")
    with pytest.raises(PlanParseError, match="before any numbered step"):
        parse_plan_md("## Steps\nstray text\n1. a\n")
    with pytest.raises(PlanParseError, match="steps"):
        parse_plan_md("## Summary\nx\n## Steps\n\n")


line = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="`#<>-*;:"),
               min_size=1, max_size=30).map(str.strip).filter(bool)


@settings(max_examples=60, deadline=None)
@given(titles=st.lists(line, min_size=1, max_size=4), summary=line, risks=st.lists(line, max_size=3))
def test_plan_md_round_trip_property(titles, summary, risks):
    plan = Plan(summary=summary, steps=[PlanStep(title=t) for t in titles], risks=risks)
    assert parse_plan_md(render_plan_md(plan)) == plan


def test_review_md_has_verdict_first():
    md = render_review_md(Review(verdict="rejected", summary="no", findings=[
        Finding(path="a.py", line=3, severity="error", message="bug", suggestion="x = 2")]))
    assert md.splitlines()[0] == "Verdict: rejected"
    assert "`a.py:3`" in md and "x = 2" in md
