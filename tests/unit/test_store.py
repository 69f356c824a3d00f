import sqlite3

import pytest

from baton.pipelines.models import RunRecord, RunStatus, Scope, Usage
from baton.pipelines.store import RunNotFound, RunStore, new_run_id, percentile


def rec(i, status, dur, pattern="plan-implement-review", tokens=100):
    return RunRecord(id=f"20260101-0000{i:02d}-abcd", pattern=pattern, task=f"t{i}", scope=Scope(root="/w"),
                     status=status, duration_s=dur,
                     usage_by_role={"planner": Usage(calls=1, prompt_tokens=tokens, cost_usd=0.01)})


def test_save_get_list_and_wal(tmp_path):
    store = RunStore(tmp_path)
    for i, st in enumerate([RunStatus.succeeded, RunStatus.failed, RunStatus.running]):
        store.save(rec(i, st, 10.0 * (i + 1)))
    assert (tmp_path / ".baton" / ".gitignore").read_text().strip().endswith("*")
    assert (tmp_path / ".baton" / "runs" / "20260101-000000-abcd" / "run.json").is_file()
    assert [r.id for r in store.list()][0] == "20260101-000002-abcd"
    assert store.get("20260101-000001").status is RunStatus.failed  # unique prefix
    with pytest.raises(RunNotFound, match="ambiguous"):
        store.get("20260101-0000")
    with pytest.raises(RunNotFound, match="baton runs"):
        store.get("nope")
    mode = sqlite3.connect(store.db_path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_stats_per_pattern(tmp_path):
    store = RunStore(tmp_path)
    durations = [10, 20, 30, 40]
    for i, d in enumerate(durations):
        store.save(rec(i, RunStatus.succeeded if i % 2 == 0 else RunStatus.failed, d))
    store.save(rec(9, RunStatus.running, 0))
    store.save(rec(10, RunStatus.cancelled, 5, pattern="triage-fix-validate", tokens=50))
    stats = {s.pattern: s for s in store.stats()}
    pir = stats["plan-implement-review"]
    assert (pir.runs, pir.finished, pir.succeeded, pir.failed) == (5, 4, 2, 2)
    assert pir.success_rate == 0.5 and pir.mean_duration_s == 25 and pir.p50_duration_s == 20 and pir.p95_duration_s == 40
    assert pir.mean_tokens == 100
    tfv = stats["triage-fix-validate"]
    assert tfv.success_rate == 0.0 and tfv.cancelled == 1


def test_index_is_rebuilt_from_run_json_files(tmp_path):
    store = RunStore(tmp_path)
    store.save(rec(1, RunStatus.succeeded, 3))
    store.close()
    (tmp_path / ".baton" / "runs.sqlite").unlink()
    for extra in ("runs.sqlite-wal", "runs.sqlite-shm"):
        (tmp_path / ".baton" / extra).unlink(missing_ok=True)
    again = RunStore(tmp_path)
    assert [r.id for r in again.list()] == ["20260101-000001-abcd"]


def test_ids_sort_by_time_and_percentile():
    a = new_run_id()
    assert len(a) == len("20260101-000000-abcd")
    assert percentile([], 50) is None and percentile([5], 95) == 5 and percentile([1, 2, 3, 4], 50) == 2
