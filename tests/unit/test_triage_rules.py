"""The validator's rules: each way a fix can make tests pass by weakening them is rejected with
a reason, and an honest fix passes."""

from __future__ import annotations

import pytest

from baton.pipelines.models import ChangeSet, Edit, EditKind, TestReport
from baton.pipelines.triage.rules import check_changes, check_reruns, check_suite

TEST = '''import pytest
from calc.ops import add


def test_add():
    assert add(2, 3) == 5
    assert add(0, 0) == 0


def test_ratio():
    assert ratio(1, 3) == pytest.approx(0.333, rel=1e-3)
'''
CODE = "import requests\n\n\ndef fetch(url):\n    return requests.get(url, timeout=5)\n\n\ndef add(a, b):\n    return a - b\n"


def update(path: str, old: str, new: str) -> ChangeSet:
    return ChangeSet(edits=[Edit(path=path, kind=EditKind.update, old_text=old, new_text=new)])


def rules(cs: ChangeSet) -> set[str]:
    return {v.rule for v in check_changes(cs)}


def test_an_honest_fix_passes_every_rule() -> None:
    assert rules(update("calc/ops.py", CODE, CODE.replace("a - b", "a + b"))) == set()
    # a new test and a stricter tolerance are fine
    stricter = TEST.replace("rel=1e-3", "rel=1e-6") + "\n\ndef test_more():\n    assert add(1, 1) == 2\n"
    assert rules(update("tests/test_ops.py", TEST, stricter)) == set()


@pytest.mark.parametrize(("path", "old", "new", "rule"), [
    ("tests/test_ops.py", TEST, TEST.replace("def test_add", "@pytest.mark.skip(reason='later')\ndef test_add"),
     "skip-added"),
    ("tests/test_ops.py", TEST, TEST.replace("def test_add", "@pytest.mark.xfail\ndef test_add"), "skip-added"),
    ("tests/test_ops.py", TEST, TEST.replace("    assert add(2, 3) == 5\n", ""), "assert-removed"),
    ("tests/test_ops.py", TEST, TEST.replace("assert add(2, 3) == 5", "add(2, 3)"), "assert-removed"),
    ("tests/test_ops.py", TEST, TEST.replace("def test_add", "def check_add"), "test-removed"),
    ("tests/test_ops.py", TEST, TEST.replace("rel=1e-3", "rel=0.5"), "tolerance-widened"),
    ("tests/test_ops.py", TEST, TEST.replace("== 5", "== 5 or True"), None),  # caught by review, not a rule
    ("calc/ops.py", CODE, CODE.replace("def add", "import time\n\n\ndef add").replace(
        "return a - b", "time.sleep(2)\n    return a - b"), "sleep-added"),
    ("calc/ops.py", CODE, CODE.replace("timeout=5", "timeout=5 * 60"), "timeout-raised"),
    ("calc/ops.py", CODE, CODE.replace("def fetch", "@retry(tries=3)\ndef fetch"), "retry-added"),
    ("pytest.ini", "[pytest]\n", "[pytest]\naddopts = --deselect tests/test_ops.py::test_add\n", "tests-deselected"),
    ("pyproject.toml", "[tool.pytest.ini_options]\ntimeout = 10\n", "[tool.pytest.ini_options]\ntimeout = 600\n",
     "timeout-raised"),
])
def test_weakening_fixes_are_rejected_with_the_rule(path: str, old: str, new: str, rule: str | None) -> None:
    found = rules(update(path, old, new))
    assert found == ({rule} if rule else set()), found


def test_a_deleted_test_file_is_rejected() -> None:
    cs = ChangeSet(edits=[Edit(path="tests/test_ops.py", kind=EditKind.delete, old_text=TEST)])
    (violation,) = check_changes(cs)
    assert violation.rule == "test-deleted" and "keep the tests" in str(violation)


def test_hostile_numbers_cannot_hang_the_rules() -> None:
    huge = CODE.replace("timeout=5", "timeout=10 ** 10 ** 10")
    assert rules(update("calc/ops.py", CODE, huge)) == set()  # not evaluated (bounded), so not judged


def report(passed: int, failed: int = 0, skipped: int = 0, failing: list[str] | None = None) -> TestReport:
    return TestReport(command="pytest", exit_code=1 if failed else 0, passed=passed, failed=failed, skipped=skipped,
                      failing_tests=failing or [])


def test_dynamic_rules_need_every_rerun_green_and_no_fewer_tests() -> None:
    ids = ["tests/test_ops.py::test_add"]
    assert check_reruns([report(1), report(1), report(1)], ids) == []
    (v,) = check_reruns([report(1), report(0, 1, failing=ids)], ids)
    assert v.rule == "still-failing" and "rerun 2 of 2" in v.detail
    before = report(1, 1)
    assert check_suite(report(2), before) == []
    assert {v.rule for v in check_suite(report(1, 1, failing=["tests/test_ops.py::test_mul"]), before)} == {
        "suite-failing"}
    assert {v.rule for v in check_suite(report(1), before)} == {"fewer-tests"}
    assert {v.rule for v in check_suite(report(2, skipped=1), before)} == {"more-skipped"}
    assert {v.rule for v in check_suite(report(0), None)} == {"no-tests-ran"}
