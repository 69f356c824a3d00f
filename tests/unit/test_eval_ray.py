"""`baton eval --executor ray` runs the bundled suite on a local Ray cluster (started on loopback),
with the same outcomes as the local executor and every run folder shipped back into the local store.
One Ray test only: starting Ray takes seconds (~25 s on a loaded 2-core machine). The remote path
itself (jobs shipped as data, the suite's files travelling with them) is also proven without Ray."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pipeline_helpers import baton, clean_env

from baton.pipelines.eval.results import EvalReport
from baton.pipelines.eval.runner import run_suite
from baton.pipelines.eval.suite import load_suite
from baton.pipelines.executor import Job, LocalExecutor
from baton.pipelines.models import RunRecord
from baton.pipelines.store import RunStore

SUITE = Path(__file__).resolve().parents[2] / "examples" / "eval-suite"
T = TypeVar("T")


class PicklingExecutor(LocalExecutor):
    """A remote executor with no cluster: each job crosses a pickle boundary both ways, and the
    suite folder is gone before the first job runs (so a case must carry its own files)."""

    name = "pickled"
    remote = True

    def __init__(self, limit: int, suite: Path, dies: str) -> None:
        super().__init__(limit)
        self.suite, self.dies = suite, dies

    async def _invoke(self, job: Job[T]) -> T:
        shutil.rmtree(self.suite, ignore_errors=True)
        if job.key == self.dies:
            raise ConnectionError("the worker node went away")
        assert job.shipped is not None, f"{job.key} is a closure"
        fn, payload = pickle.loads(pickle.dumps(job.shipped))
        value: Any = await fn(payload)
        return pickle.loads(pickle.dumps(value))  # type: ignore[no-any-return]


async def test_a_remote_executor_gets_self_contained_jobs_and_the_driver_stores_their_runs(tmp_path: Path) -> None:
    suite_copy = tmp_path / "suite"
    shutil.copytree(SUITE, suite_copy, ignore=shutil.ignore_patterns("__pycache__"))
    suite = load_suite(suite_copy)
    cases = [c for c in suite.cases if c.id in ("pir-fix-approved", "pir-wrong-rejected", "pir-fix-rejected")]
    store = RunStore(tmp_path / "ws")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        report = await run_suite(suite, cases, PicklingExecutor(2, suite_copy, dies="pir-fix-rejected#0"),
                                 store=store)
    finally:
        os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
    assert not suite_copy.exists()
    assert (report.executor, report.concurrency) == ("pickled", 2)
    got = {(r.case_id, r.repeat): (r.success, r.verdict, r.reason and r.reason.value) for r in report.results}
    assert got == {("pir-fix-approved", 0): (True, "approved", None),
                   ("pir-wrong-rejected", 0): (False, "rejected", "reviewer rejected"),
                   ("pir-fix-rejected", 0): (False, None, "other")}  # its worker died: a failure, with the cause
    [lost] = [r for r in report.results if r.run_id is None]
    assert "ConnectionError: the worker node went away" in str(lost.error) and lost.worker == "pickled:?"
    assert all(r.worker.startswith("pickled:") for r in report.results)
    for r in report.results:
        if r.run_id is None:
            continue
        rec = store.get(str(r.run_id))
        assert rec.extra["eval"]["case"] == r.case_id
        assert (store.run_dir(str(r.run_id)) / "trace.jsonl").is_file()


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
