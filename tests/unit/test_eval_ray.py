"""`baton eval --executor ray` runs the bundled suite on a local Ray cluster (started on loopback),
with the same outcomes as the local executor and every run folder shipped back into the local store.
One test only: starting Ray takes seconds (~25 s on a loaded 2-core machine)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pipeline_helpers import baton, clean_env

from baton.pipelines.eval.results import EvalReport
from baton.pipelines.models import RunRecord

SUITE = Path(__file__).resolve().parents[2] / "examples" / "eval-suite"


def test_the_example_suite_runs_on_a_local_ray_cluster(tmp_path: Path) -> None:
    try:
        import ray  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true and the ray extra is missing: pip install -e '.[ray]'")
        pytest.skip("the ray extra is missing: pip install -e '.[ray]'")
    ws = tmp_path / "ws"
    ws.mkdir()
    env = clean_env(tmp_path / "tmp", PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", RAY_USAGE_STATS_ENABLED="0")
    p = baton("eval", str(SUITE), "--workspace", str(ws), "--executor", "ray", "--concurrency", "2", "--json",
              "--pattern", "plan-implement-review", env=env, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    report = EvalReport.model_validate_json(p.stdout)
    assert report.executor == "ray"
    assert {r.case_id: r.success for r in report.results} == {
        "pir-fix-approved": True, "pir-wrong-approved": False, "pir-fix-rejected": False, "pir-wrong-rejected": False}
    assert all(r.worker.startswith("ray:") for r in report.results)
    [g] = report.groups
    assert (g.calibration.tp, g.calibration.fp, g.calibration.fn, g.calibration.tn) == (1, 1, 1, 1)
    for r in report.results:  # each case's run folder came back from its Ray task into this store
        run = ws / ".baton" / "runs" / str(r.run_id)
        rec = RunRecord.model_validate_json((run / "run.json").read_text())
        assert rec.extra["eval"]["id"] == report.eval_id and (run / "trace.jsonl").is_file()
    leftover = [p.name for p in (tmp_path / "tmp").iterdir() if p.name.startswith(("baton-eval-", "baton-ray-case-"))]
    assert leftover == []
