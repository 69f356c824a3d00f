"""Triage inputs: JUnit XML, raw CI logs (pytest, unittest, mypy, ruff, tracebacks, GitHub
Actions timestamps and ANSI colours), long logs cut with the cut stated, and issues (text or
GitHub JSON). Every input is untrusted: bad XML, entity declarations and option-like test ids
are refused with a clear message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pipeline_helpers import PROJECT, clean_env, make_repo

from baton.pipelines.triage.fingerprints import fingerprint
from baton.pipelines.triage.logtext import clean_log, cut_log
from baton.pipelines.triage.parsers import (
    InputError,
    parse_issue,
    parse_junit,
    parse_log,
    safe_test_id,
)


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A real failing pytest run of the calc project: (repo, its JUnit XML, its terminal output)."""
    base = tmp_path_factory.mktemp("junit")
    repo = make_repo(base / "repo", PROJECT)
    junit = base / "junit.xml"
    p = subprocess.run([sys.executable, "-m", "pytest", "-rA", "--color=yes", f"--junitxml={junit}",
                        "-p", "no:cacheprovider"], cwd=repo, env=clean_env(base / "tmp"), capture_output=True, text=True)
    assert p.returncode == 1, p.stdout
    return repo, junit.read_text(encoding="utf-8"), p.stdout


def test_junit_from_a_real_pytest_run_names_the_failing_test_and_error(real_run: tuple[Path, str, str]) -> None:
    repo, xml, _ = real_run
    report = parse_junit(xml, repo)
    assert report.source == "junit"
    assert [f.test_id for f in report.failures] == ["tests/test_ops.py::test_add"]
    f = report.failures[0]
    assert f.error_kind == "AssertionError"
    assert "assert -1 == 5" in f.message
    assert "add(2, 3)" in f.detail


def test_a_github_actions_log_with_ansi_and_timestamps_gives_the_same_failure(real_run: tuple[Path, str, str]) -> None:
    repo, xml, out = real_run
    assert "\x1b[" in out  # the run really was coloured
    gha = "\n".join(f"2026-01-02T03:04:{i % 60:02d}.1234567Z {line}" for i, line in enumerate(
        ["##[group]Run pytest", *out.splitlines(), "##[endgroup]", "##[error]Process completed with exit code 1."]))
    report = parse_log(gha, repo)
    assert [f.test_id for f in report.failures] == ["tests/test_ops.py::test_add"]
    assert report.failures[0].error_kind == "AssertionError"
    assert "\x1b" not in report.excerpt and "2026-01-02T" not in report.excerpt and "##[group]" not in report.excerpt
    assert "Process completed with exit code 1." in report.excerpt
    # the same failure, read from either input, has the same fingerprint (one attempt per failure)
    assert fingerprint(report, "abc") == fingerprint(parse_junit(xml, repo), "abc")
    assert fingerprint(report, "abc") != fingerprint(report, "def")


def test_unittest_mypy_ruff_and_traceback_logs(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_ops.py").write_text("")
    log = "\n".join([
        "FAIL: test_add (tests.test_ops.TestOps.test_add)",
        "----------------------------------------------------------------------",
        "Traceback (most recent call last):",
        '  File "/w/tests/test_ops.py", line 5, in test_add',
        "    self.assertEqual(add(2, 3), 5)",
        "AssertionError: -1 != 5",
        "",
        "----------------------------------------------------------------------",
        "Ran 2 tests in 0.001s",
        "FAILED (failures=1)",
        "calc/ops.py:4: error: Incompatible return value type (got \"str\", expected \"int\")  [return-value]",
        "calc/ops.py:1:8: F401 [*] `os` imported but unused",
    ])
    report = parse_log(log, tmp_path)
    by_kind = {f.kind: f for f in report.failures}
    assert by_kind["test"].test_id == "tests/test_ops.py::TestOps::test_add"
    assert by_kind["test"].error_kind == "AssertionError"
    assert (by_kind["type"].path, by_kind["type"].line, by_kind["type"].error_kind) == ("calc/ops.py", 4, "return-value")
    assert (by_kind["lint"].path, by_kind["lint"].line, by_kind["lint"].error_kind) == ("calc/ops.py", 1, "F401")
    crash = parse_log('Traceback (most recent call last):\n  File "app.py", line 3, in <module>\n    main()\n'
                      'KeyError: \'user\'\n', tmp_path).failures
    assert [(f.kind, f.path, f.line, f.error_kind) for f in crash] == [("crash", "app.py", 3, "KeyError")]


def test_a_long_log_is_cut_to_its_informative_parts_and_says_so() -> None:
    noise = [f"Collecting package-{i} (from -r requirements.txt)" for i in range(5000)]
    log = "\n".join(noise[:2500] + ["FAILED tests/test_ops.py::test_add - assert -1 == 5"] + noise[2500:] +
                    ["1 failed, 1 passed in 0.1s"])
    cut = cut_log(clean_log(log))
    assert cut.startswith("[log cut from 5002 to ")
    assert "FAILED tests/test_ops.py::test_add" in cut and "1 failed, 1 passed" in cut
    assert "line(s) cut" in cut
    assert len(cut.splitlines()) < 100


def test_bad_junit_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not well-formed XML"):
        parse_junit("<testsuite><testcase", tmp_path)
    with pytest.raises(InputError, match="DOCTYPE or entity"):
        parse_junit('<!DOCTYPE x [<!ENTITY a "aaaa">]><testsuite/>', tmp_path)
    with pytest.raises(InputError, match="root element is <html>"):
        parse_junit("<html/>", tmp_path)


def test_hostile_test_ids_never_become_runnable(tmp_path: Path) -> None:
    for bad in ("--rootdir=/", "-p evil", "/etc/passwd.py::x", "../up.py::t", "t.py::x; rm -rf ~", "t.py::$(id)",
                "a.py\n::b"):
        assert safe_test_id(bad) is None, bad
    assert safe_test_id("tests/test_x.py::TestA::test_b[1-2]") == "tests/test_x.py::TestA::test_b[1-2]"
    xml = ('<testsuite><testcase classname="" name="x" file="--rootdir=/tmp"><failure message="m"/></testcase>'
           "</testsuite>")
    report = parse_junit(xml, tmp_path)
    assert report.failures[0].test_id is None and "unusable test id" in report.failures[0].message


def test_issue_text_and_github_json() -> None:
    report = parse_issue('{"title": "add is broken", "body": "tests/test_ops.py::test_add fails since Monday.",'
                         ' "labels": [{"name": "bug"}]}')
    assert report.source == "issue" and report.title == "add is broken"
    assert report.test_ids == ["tests/test_ops.py::test_add"]
    assert "Labels: bug" in report.excerpt
    plain = parse_issue("The CSV export crashes on empty files")
    assert [f.kind for f in plain.failures] == ["issue"]
    with pytest.raises(InputError, match="does not parse"):
        parse_issue("{not json")
    with pytest.raises(InputError, match="empty"):
        parse_issue('{"title": "", "body": ""}')
