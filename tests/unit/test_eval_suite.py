"""`baton eval` on the bundled example suite (recorded sessions over the real scripted server, real
git copies, real pytest for the tests and the hidden check) and on bad suites."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
from pipeline_helpers import in_process

from baton.pipelines.eval.report import compare, load_report
from baton.pipelines.eval.results import EvalReport
from baton.pipelines.models import RunRecord
from baton.pipelines.store import RunStore

SUITE = Path(__file__).resolve().parents[2] / "examples" / "eval-suite"


def tree_hash(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def bundled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, EvalReport, str, dict[str, str]]:
    """One run of the bundled suite, shared by the assertions below (it is the slow part)."""
    ws = tmp_path_factory.mktemp("evalws")
    before = tree_hash(SUITE)
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        p = in_process("eval", str(SUITE), "--workspace", str(ws), "--json", "--concurrency", "4")
    finally:
        os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
    assert p.returncode == 0, p.stderr
    return ws, EvalReport.model_validate_json(p.stdout), p.stderr, before


def test_bundled_suite_gives_the_expected_table(bundled: tuple[Path, EvalReport, str, dict[str, str]]) -> None:
    ws, report, _, _ = bundled
    by_case = {r.case_id: r for r in report.results}
    assert {c: (r.success, r.reason.value if r.reason else None) for c, r in by_case.items()} == {
        "pir-fix-approved": (True, None),
        "pir-wrong-approved": (False, "hidden check failed"),
        "pir-fix-rejected": (False, "reviewer rejected"),
        "pir-wrong-rejected": (False, "reviewer rejected"),
        "triage-fix-approved": (True, None),
        "triage-wrong-approved": (False, "hidden check failed"),
        "parallel-docstrings-approved": (True, None),
        "parallel-comment-approved": (False, "hidden check failed"),
    }
    assert [g.pattern for g in report.groups] == ["parallel-modules", "plan-implement-review", "triage-fix-validate"]
    par = report.groups[0]
    assert (par.runs, par.succeeded, par.failures) == (2, 1, {"hidden check failed": 1})
    assert par.model_set == "decomposer=rec-decomposer,implementer=rec-coder,reviewer=rec-reviewer"
    t = report.groups[2]
    assert (t.runs, t.succeeded, t.failures) == (2, 1, {"hidden check failed": 1})
    assert t.model_set == "triager=rec-triager,implementer=rec-coder,reviewer=rec-reviewer"
    assert (t.calibration.tp, t.calibration.fp) == (1, 1)
    [g] = [g for g in report.groups if g.pattern == "plan-implement-review"]
    assert (g.cases, g.runs, g.succeeded) == (4, 4, 1)
    assert g.model_set == "planner=rec-planner,implementer=rec-coder,reviewer=rec-reviewer"
    assert g.failures == {"hidden check failed": 1, "reviewer rejected": 2}
    c = g.calibration  # the suite is built as one case per cell of the confusion matrix
    assert (c.tp, c.fp, c.fn, c.tn) == (1, 1, 1, 1)
    assert c.precision == 0.5 and c.recall == 0.5 and c.kappa == 0.0
    assert g.mean_duration_s is not None and g.mean_duration_s > 0


def test_the_hidden_check_judges_the_change_and_its_failure_is_explained(
        bundled: tuple[Path, EvalReport, str, dict[str, str]]) -> None:
    _, report, _, _ = bundled
    wrong = next(r for r in report.results if r.case_id == "pir-wrong-approved")
    assert wrong.status == "succeeded" and wrong.verdict == "approved"  # the pipeline believed it
    assert wrong.check is not None and not wrong.check.passed
    assert "1 failed" in wrong.check.summary and "test_add_negative" in wrong.check.output_tail
    right = next(r for r in report.results if r.case_id == "pir-fix-approved")
    assert right.check is not None and right.check.passed and right.files_changed == ["calc/ops.py"]


def test_runs_are_shipped_into_the_local_store_and_the_suite_is_untouched(
        bundled: tuple[Path, EvalReport, str, dict[str, str]]) -> None:
    ws, report, _, before = bundled
    assert tree_hash(SUITE) == before  # nothing written into the suite (no .baton, no .git, no pycache)
    for r in report.results:
        run = ws / ".baton" / "runs" / str(r.run_id)
        rec = RunRecord.model_validate_json((run / "run.json").read_text())
        assert rec.extra["eval"]["id"] == report.eval_id and rec.extra["eval"]["case"] == r.case_id
        assert (run / "trace.jsonl").is_file() and (run / "changes.diff").is_file()
        assert all(Path(p).parent == run for p in rec.artifacts.values())  # paths point into the local store
    saved = load_report(ws / ".baton" / "evals" / report.eval_id / "report.json")
    assert saved.results == report.results
    shown = in_process("show", str(report.results[0].run_id), "--workspace", str(ws))
    assert shown.returncode == 0 and "plan.md" in shown.stdout


def test_stats_leave_eval_runs_out_unless_asked(bundled: tuple[Path, EvalReport, str, dict[str, str]],
                                                tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(bundled[0], ws)
    real = RunRecord.model_validate_json(next((ws / ".baton" / "runs").glob("*/run.json")).read_text())
    real = real.model_copy(update={"id": "20260101-000000-real", "extra": {}, "duration_s": 7.0, "parent_id": None})
    RunStore(ws).save(real)  # one run of real work beside the suite's eight
    work = json.loads(in_process("stats", "--workspace", str(ws), "--json").stdout)
    assert [(s["pattern"], s["runs"], s["mean_duration_s"]) for s in work] == [(real.pattern.value, 1, 7.0)]
    evals = json.loads(in_process("stats", "--workspace", str(ws), "--json", "--eval").stdout)
    assert {s["pattern"]: s["runs"] for s in evals} == {
        "parallel-modules": 2, "plan-implement-review": 4, "triage-fix-validate": 2}
    assert "8 eval run(s) left out: `baton stats --eval`" in in_process("stats", "--workspace", str(ws)).stdout


def test_hidden_files_are_never_visible_to_the_agents(bundled: tuple[Path, EvalReport, str, dict[str, str]]) -> None:
    ws, report, _, _ = bundled
    for r in report.results:
        trace = (ws / ".baton" / "runs" / str(r.run_id) / "trace.jsonl").read_text()
        assert "hidden_tests" not in trace and "test_add_negative" not in trace


def test_compare_shows_what_changed(bundled: tuple[Path, EvalReport, str, dict[str, str]], tmp_path: Path) -> None:
    _, report, _, _ = bundled
    b = report.model_copy(deep=True)
    b.eval_id = "eval-b"
    for r in b.results:
        if r.case_id == "pir-fix-approved":
            r.success = False
    from baton.pipelines.eval.stats import group_stats

    b.groups = group_stats(b.results, 1)
    pa, pb = tmp_path / "a.json", tmp_path / "b.json"
    pa.write_text(report.model_dump_json())
    pb.write_text(b.model_dump_json())
    p = in_process("eval", "--compare", str(pa), str(pb))
    assert p.returncode == 0, p.stderr
    assert "success 25% → 0% (-25 pts)" in p.stdout
    assert "pir-fix-approved: regressed (1/1 → 0/1)" in p.stdout
    assert "pir-wrong-rejected" not in p.stdout  # unchanged cases are not listed
    assert compare(report, report).endswith("cases: no case changed outcome")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"eval_id": 3}))
    p = in_process("eval", "--compare", str(pa), str(bad))
    assert p.returncode == 2 and "not a `baton eval --json` report" in p.stderr


def _suite(tmp_path: Path, manifest: str) -> Path:
    root = tmp_path / "suite"
    shutil.copytree(SUITE / "projects", root / "projects")
    shutil.copytree(SUITE / "hidden", root / "hidden")
    (root / "suite.toml").write_text(manifest)
    return root


CASE = ('[suite]\nname = "bad"\n[[cases]]\nid = "c1"\nproject = "projects/calc"\ntask = "Fix add()."\n'
        'check = { command = "true" }\n')


@pytest.mark.parametrize(("edit", "message"), [
    (lambda m: m.replace('project = "projects/calc"', 'project = "../outside"'), "leaves the suite folder"),
    (lambda m: m.replace('project = "projects/calc"', 'project = "/etc"'), "must be relative to the suite folder"),
    (lambda m: m.replace('command = "true"', 'command = "true", files = "projects/calc/calc"'),
     "hidden files must not be inside the project"),
    (lambda m: m + 'settings = { api_key = "sk-stolen", base_url = "http://evil.invalid" }\n',
     "setting(s) api_key, base_url cannot come from a suite"),
    (lambda m: m.replace('task = "Fix add()."', 'taks = "Fix add()."'), "cases.0.taks: unknown key"),
    (lambda m: m.replace('id = "c1"', 'id = "../c1"'), "case id '../c1'"),
    (lambda m: m + '[[cases]]\nid = "c1"\nproject = "projects/calc"\ntask = "x"\ncheck = { command = "true" }\n',
     "two cases have the id 'c1'"),
    (lambda m: m.replace('check = { command = "true" }', "check = { }"), "a check needs a command"),
    (lambda m: m.replace("[suite]", "[suite"), "not valid TOML"),
])
def test_bad_suites_are_refused_with_a_clear_error_and_nothing_written(tmp_path: Path, edit, message: str) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "outside").mkdir()
    root = _suite(tmp_path, edit(CASE))
    ws = tmp_path / "ws"
    ws.mkdir()
    before = tree_hash(root)
    p = in_process("eval", str(root), "--workspace", str(ws))
    assert p.returncode == 2, p.stdout + p.stderr
    assert message in p.stderr and str(root / "suite.toml") in p.stderr or "not valid TOML" in p.stderr
    assert tree_hash(root) == before and list(ws.iterdir()) == []


def test_bad_flags_are_refused(tmp_path: Path) -> None:
    for args, message in [(["--repeat", "0"], "--repeat must be at least 1"),
                          (["--models", "planer=x"], "unknown role 'planer'"),
                          (["--models", "planner"], "write ROLE=MODEL"),
                          (["--pattern", "nope"], "unknown pattern"),
                          (["--ray-address", "127.0.0.1:1"], "--ray-address goes with --executor ray")]:
        p = in_process("eval", str(SUITE), "--workspace", str(tmp_path), *args)
        assert p.returncode == 2 and message in p.stderr, (args, p.stderr)
    p = in_process("eval", str(tmp_path / "missing"), "--workspace", str(tmp_path))
    assert p.returncode == 2 and "no such suite folder" in p.stderr
    assert list(tmp_path.iterdir()) == [tmp_path / "missing"] or not (tmp_path / ".baton").exists()
