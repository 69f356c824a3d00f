import json

import pytest
from pydantic import ValidationError

from baton.pipelines.models import (
    ChangeSet,
    Edit,
    EditKind,
    Plan,
    Review,
    RunRecord,
    Scope,
    Task,
    TestReport,
    Usage,
    json_schemas,
)


def test_every_handoff_model_has_a_json_schema_from_the_model():
    schemas = json_schemas()
    for name in ("Task", "Scope", "Plan", "Decision", "Edit", "ChangeSet", "TestReport", "Review",
                 "Finding", "Triage", "RunRecord"):
        assert schemas[name]["type"] == "object", name
        assert schemas[name]["properties"], name
    assert set(schemas["Review"]["properties"]["verdict"]["enum"]) == {"approved", "rejected"}
    # a schema is valid JSON
    json.dumps(schemas)


def test_scope_path_is_normalised_and_must_stay_inside_root():
    assert Scope(root="/w", path="./src//pkg/").path == "src/pkg"
    assert Scope(root="/w", path=".").path is None
    with pytest.raises(ValidationError, match="inside the workspace root"):
        Scope(root="/w", path="src/../../etc")
    with pytest.raises(ValidationError, match="relative"):
        Scope(root="/w", path="/etc/passwd")


def test_empty_task_is_refused_with_a_clear_message():
    with pytest.raises(ValidationError, match="the task is empty"):
        Task(text="   ", scope=Scope(root="/w"))


def test_plan_needs_at_least_one_step():
    with pytest.raises(ValidationError, match="steps"):
        Plan(summary="s", steps=[])


def test_edit_kinds_are_checked():
    Edit(path="a.py", kind=EditKind.create, new_text="x")
    with pytest.raises(ValidationError, match="create of a.py"):
        Edit(path="a.py", kind=EditKind.create, old_text="x", new_text="y")
    with pytest.raises(ValidationError, match="rename of a.py"):
        Edit(path="a.py", kind=EditKind.rename, old_text="x")
    cs = ChangeSet(edits=[Edit(path="a.py", kind="rename", old_text="x", new_text="x", new_path="b.py")])
    assert cs.paths == ["a.py", "b.py"]


def test_unknown_fields_are_errors_not_silently_dropped():
    with pytest.raises(ValidationError, match="verdictt"):
        Review.model_validate({"verdict": "approved", "summary": "ok", "verdictt": 1})


def test_review_verdict_is_approved_or_rejected():
    with pytest.raises(ValidationError):
        Review(verdict="maybe", summary="?")


def test_test_report_ok_and_summary():
    r = TestReport(command="pytest", exit_code=0, passed=3)
    assert r.ok and "3 passed" in r.summary_line()
    assert not TestReport(command="pytest", exit_code=1, failed=1).ok
    assert not TestReport(command="pytest", timed_out=True).ok


def test_run_record_round_trips_and_sums_usage():
    rec = RunRecord(id="r1", pattern="plan-implement-review", task="t", scope=Scope(root="/w"),
                    usage_by_role={"planner": Usage(calls=1, prompt_tokens=10, completion_tokens=5),
                                   "implementer": Usage(calls=2, prompt_tokens=7, cached_tokens=3)})
    again = RunRecord.model_validate_json(rec.model_dump_json())
    assert again == rec
    assert again.usage.prompt_tokens == 17 and again.usage.calls == 3 and again.usage.total_tokens == 22
