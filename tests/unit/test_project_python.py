"""The detected test command runs with the project's own interpreter (.venv/venv, a configured
one, what Poetry reports), says so in the run output and tests.json, and a passing run_tests
with no write since is not run a second time at submit."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from pipeline_helpers import (
    CODER,
    FIX_PATCH,
    PLANNER,
    PROJECT,
    REVIEWER,
    approve,
    baton,
    call,
    clean_env,
    happy_script,
    make_repo,
    only_run,
    patch,
    planner_replies,
    reply,
    run_args,
    run_dir,
    submit,
    trace_events,
    tree_state,
)

from baton.pipelines.edits.pyenv import find_project_python
from baton.pipelines.edits.testrun import detect_tests
from baton.pipelines.llm.scripted import ScriptedLLM
from baton.pipelines.models import RunStatus, TestReport

MARK = "BATON_TEST_PROJECT_VENV"


def fake_venv(root: Path, name: str = ".venv") -> Path:
    """A virtual environment whose python is a wrapper around this interpreter that marks its
    children's environment, so a test can tell which interpreter ran it."""
    py = root / name / "bin" / "python"
    py.parent.mkdir(parents=True)
    py.write_text(f"#!/bin/sh\n{MARK}=1 exec {sys.executable} \"$@\"\n")
    py.chmod(py.stat().st_mode | stat.S_IXUSR)
    return py


def executable(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def test_a_workspace_venv_is_chosen_before_venv_and_baton_s_own(tmp_path: Path) -> None:
    assert find_project_python(tmp_path)[0].path == sys.executable
    assert "Baton's own" in find_project_python(tmp_path)[0].source
    plain = fake_venv(tmp_path, "venv")
    assert find_project_python(tmp_path)[0].path == str(plain)
    dot = fake_venv(tmp_path, ".venv")
    chosen, notes = find_project_python(tmp_path)
    assert (chosen.path, chosen.source, chosen.label(tmp_path), notes) == (str(dot), "the workspace's .venv",
                                                                             ".venv/bin/python", [])


def test_a_configured_interpreter_wins_and_a_missing_one_is_said(tmp_path: Path) -> None:
    fake_venv(tmp_path)
    other = fake_venv(tmp_path / "elsewhere", "env")
    chosen, _ = find_project_python(tmp_path, str(other))
    assert chosen.path == str(other) and "configured" in chosen.source
    chosen, _ = find_project_python(tmp_path, str(other.parent.parent))  # a venv folder is accepted too
    assert chosen.path == str(other)
    chosen, notes = find_project_python(tmp_path, str(tmp_path / "missing" / "python"))
    assert chosen.path == str(tmp_path / ".venv" / "bin" / "python")
    assert notes == [f"the configured interpreter {tmp_path / 'missing' / 'python'} is not an executable file; "
                     "looked further"]


def test_poetry_s_environment_is_asked_for_when_the_project_uses_poetry(tmp_path: Path, monkeypatch) -> None:
    env_py = fake_venv(tmp_path / "cache" / "calc-py3.11", "env")
    bin_dir = tmp_path / "bin"
    executable(bin_dir / "poetry", f"#!/bin/sh\n[ \"$1 $2 $3\" = 'env info --executable' ] && echo {env_py}\n")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text("[tool.poetry]\nname = 'calc'\n")
    chosen, _ = find_project_python(project)
    assert (chosen.path, chosen.source) == (str(env_py), "Poetry's environment for the project")
    executable(bin_dir / "poetry", "#!/bin/sh\necho 'no env' >&2; exit 1\n")
    chosen, notes = find_project_python(project)
    assert chosen.path == sys.executable and notes == ["Poetry reported no environment for the project (exit 1)"]


def test_detection_looks_in_the_user_s_tree_not_the_sandbox_copy(tmp_path: Path) -> None:
    user, sandbox = tmp_path / "user", tmp_path / "sandbox"
    (sandbox / "tests").mkdir(parents=True)
    py = fake_venv(user)
    found = detect_tests(sandbox, user)
    assert found is not None and found.command == f"{py} -m pytest -q"
    assert found.interpreter.label == ".venv/bin/python"
    assert detect_tests(tmp_path / "user") is None  # no tests: nothing to detect


def test_a_run_uses_the_project_venv_shows_it_and_runs_passing_tests_once(tmp_path: Path) -> None:
    files = {**PROJECT, ".gitignore": ".venv/\n",
             "tests/test_env.py": f"import os\n\n\ndef test_project_venv():\n    assert os.environ.get({MARK!r}) == '1'\n"}
    repo = make_repo(tmp_path / "repo", files)
    py = fake_venv(repo)
    before = tree_state(repo)
    with ScriptedLLM(happy_script()) as url:
        p = baton(*run_args(repo, url), env=clean_env(tmp_path / "tmp"))
    assert p.returncode == 0, p.stdout + p.stderr
    rec = only_run(repo)
    assert rec.status is RunStatus.succeeded
    tests = TestReport.model_validate_json((run_dir(repo, rec) / "tests.json").read_text())
    assert tests.ok and tests.passed == 3  # test_env passed: the tests ran with the project's .venv
    assert tests.interpreter is not None and tests.interpreter.path == str(py)
    assert tests.interpreter.source == "the workspace's .venv"
    assert "tests: .venv/bin/python -m pytest -q — Python .venv/bin/python (the workspace's .venv)" in p.stderr
    review = (run_dir(repo, rec) / "review.md").read_text()
    assert "`.venv/bin/python -m pytest -q: exit 0, 3 passed" in review and str(repo) not in review
    logs = [e["message"] for e in trace_events(repo, rec) if e["type"] == "log"]
    assert "tests: unchanged since the implementer's passing run_tests; not run again" in logs
    assert tree_state(repo) == before


def test_a_write_after_a_passing_run_tests_makes_the_submit_run_them_again(tmp_path: Path) -> None:
    breaks_mul = patch("calc/ops.py", "    return a * b", "    return a + b", context_before="def mul(a, b):")
    script = {"models": {
        PLANNER: planner_replies(),
        CODER: [reply(call("apply_patch", patch=FIX_PATCH)), reply(call("run_tests"), expect="Applied"),
                reply(call("apply_patch", patch=breaks_mul), expect="PASSED"), submit(expect="Applied"),
                reply(call("apply_patch", patch=patch("calc/ops.py", "    return a + b", "    return a * b",
                                                      context_before="def mul(a, b):")),
                      expect="tests/test_ops.py::test_mul"),
                submit(expect="Applied")],
        REVIEWER: [approve(expect=None)],
    }}
    repo = make_repo(tmp_path / "repo")
    with ScriptedLLM(script) as url:
        p = baton(*run_args(repo, url), env=clean_env(tmp_path / "tmp"))
    assert p.returncode == 0, p.stdout + p.stderr
    rec = only_run(repo)
    assert rec.attempts == 2  # the submit after the breaking write ran the tests and refused
    logs = [e["message"] for e in trace_events(repo, rec) if e["type"] == "log"]
    assert not any("not run again" in m for m in logs)


def test_the_editor_s_interpreter_counts_only_when_no_one_set_python(tmp_path: Path) -> None:
    """VS Code sends its Python extension's pick as `editorPython`: used when nothing else sets
    `python`, while the user's own setting (editor, baton.toml, BATON_PYTHON) wins."""
    from baton.server.options import settings_for

    root = make_repo(tmp_path / "proj")
    picked = {"editorPython": "/opt/picked/bin/python"}
    assert settings_for(root, picked, env={})[0].python == "/opt/picked/bin/python"
    assert settings_for(root, {**picked, "python": "/mine/bin/python"}, env={})[0].python == "/mine/bin/python"
    assert settings_for(root, picked, env={"BATON_PYTHON": "/env/bin/python"})[0].python == "/env/bin/python"
    settings, warnings = settings_for(root, {"editorPython": "  "}, env={})
    assert settings.python is None and warnings == []


def test_paths_in_messages_are_relative_to_the_workspace_or_home_else_as_is(tmp_path: Path, monkeypatch) -> None:
    from baton.pipelines.handoffs.verdicts import shown_path

    home, work = tmp_path / "home" / "u", tmp_path / "home" / "u" / "proj"
    monkeypatch.setenv("HOME", str(home))
    assert shown_path(work / ".venv" / "bin" / "python", work) == ".venv/bin/python"
    assert shown_path(home / "envs" / "py" / "bin" / "python", work) == "~/envs/py/bin/python"
    assert shown_path(str(home / "envs" / "py" / "bin" / "python")) == "~/envs/py/bin/python"
    assert shown_path("/opt/py/bin/python", work) == "/opt/py/bin/python"
    assert shown_path(str(home) + "-other/bin/python") == str(home) + "-other/bin/python"  # not under HOME
    assert shown_path(".venv/bin/python", work) == ".venv/bin/python"  # already relative


def test_a_configured_command_s_interpreter_is_shown_short_and_kept_whole_in_tests_json(
        tmp_path: Path, monkeypatch) -> None:
    """A configured test command names its interpreter by absolute path: review.md and every message
    built from summary_line show it short (here under HOME), tests.json keeps the real path."""
    from baton.pipelines.artifacts import render_review_md
    from baton.pipelines.models import Review

    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    py = home / "proj" / ".venv" / "bin" / "python"
    for command, shown in [(f"{py} -m pytest -q", "~/proj/.venv/bin/python -m pytest -q"),
                           (f"'{py}' -m pytest -q", "~/proj/.venv/bin/python -m pytest -q"),
                           (f"{py}", "~/proj/.venv/bin/python"),
                           ("/opt/py/bin/python -m pytest", "/opt/py/bin/python -m pytest"),
                           ("pytest -q", "pytest -q")]:
        report = TestReport(command=command, exit_code=0, passed=3)
        assert report.summary_line() == f"{shown}: exit 0, 3 passed, 0 failed, 0 errors, 0 skipped (0.0s)"
        assert report.model_dump()["command"] == command
    report = TestReport(command=f"{py} -m pytest -q", exit_code=0, passed=3)
    review = render_review_md(Review(verdict="approved", summary="ok"), tests=report)
    assert "`~/proj/.venv/bin/python -m pytest -q: exit 0, 3 passed" in review and str(home) not in review
    assert TestReport.model_validate_json(report.model_dump_json()).command == f"{py} -m pytest -q"


def test_an_interpreter_outside_the_workspace_is_labelled_from_home(tmp_path: Path, monkeypatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    user, sandbox = home / "proj", tmp_path / "sandbox"
    (sandbox / "tests").mkdir(parents=True)
    user.mkdir(parents=True)
    other = fake_venv(home / "envs", "calc")
    found = detect_tests(sandbox, user, str(other))
    assert found is not None and found.interpreter.label == "~/envs/calc/bin/python"
    report = TestReport(command=found.command + " tests/test_x.py", interpreter=found.interpreter, exit_code=0)
    assert report.shown_command == "~/envs/calc/bin/python -m pytest -q tests/test_x.py"


def test_a_run_with_a_configured_absolute_test_command_shows_it_short_in_review_md(tmp_path: Path) -> None:
    """End to end: the interpreter named by `--test-command` lives under HOME; review.md, the run
    output and the trace show `~/...`, tests.json keeps the absolute command."""
    home = tmp_path / "home"
    py = fake_venv(home / "envs", "calc")
    files = {**PROJECT,
             "tests/test_env.py": f"import os\n\n\ndef test_project_venv():\n    assert os.environ.get({MARK!r}) == '1'\n"}
    repo = make_repo(tmp_path / "repo", files)
    with ScriptedLLM(happy_script()) as url:
        p = baton(*run_args(repo, url), "--test-command", f"{py} -m pytest -q",
                  env=clean_env(tmp_path / "tmp", HOME=str(home)))
    assert p.returncode == 0, p.stdout + p.stderr
    rec = only_run(repo)
    tests = TestReport.model_validate_json((run_dir(repo, rec) / "tests.json").read_text())
    assert tests.ok and tests.passed == 3 and tests.command == f"{py} -m pytest -q"
    review = (run_dir(repo, rec) / "review.md").read_text()
    assert "`~/envs/calc/bin/python -m pytest -q: exit 0, 3 passed" in review and str(home) not in review
    assert str(py) not in p.stderr


async def test_selected_test_ids_run_with_the_project_venv_and_are_shown_short(tmp_path: Path) -> None:
    """Triage re-runs failing ids through `run_test_ids`: same interpreter, same short label."""
    from baton.pipelines.sandbox import Sandbox

    repo = make_repo(tmp_path / "repo")
    (repo / ".gitignore").write_text(".venv/\n")
    fake_venv(repo)
    async with Sandbox.create(repo) as sb:
        report = await sb.run_test_ids(["tests/test_ops.py"])
    assert report.interpreter is not None and report.interpreter.label == ".venv/bin/python"
    assert report.summary_line().startswith(".venv/bin/python -m pytest -q tests/test_ops.py")
    assert str(repo) not in report.summary_line()
