import sqlite3
import threading

import pytest

from baton.pipelines.models import RunRecord, RunStatus, Scope, Usage
from baton.pipelines.store import RunNotFound, RunStore, RunSummary, new_run_id, percentile


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


def test_eval_runs_are_kept_out_of_the_stats_of_real_work(tmp_path):
    store = RunStore(tmp_path)
    store.save(rec(1, RunStatus.succeeded, 10))
    for i in (2, 3, 4):  # `baton eval` tags its runs; the index keeps the tag in its own column
        store.save(rec(i, RunStatus.failed, 99).model_copy(update={"extra": {"eval": {"id": "eval-x", "case": "c"}}}))
    [work] = store.stats()
    assert (work.runs, work.success_rate, work.mean_duration_s) == (1, 1.0, 10)
    [evals] = store.stats(evals=True)
    assert (evals.runs, evals.success_rate, evals.mean_duration_s) == (3, 0.0, 99)
    store.close()
    (tmp_path / ".baton" / "runs.sqlite").unlink()  # the tag survives a rebuild from run.json
    assert [s.runs for s in RunStore(tmp_path).stats()] == [1]


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


def test_summaries_are_the_listed_runs_without_reading_records(tmp_path):
    store = RunStore(tmp_path)
    store.save(rec(1, RunStatus.succeeded, 3.5).model_copy(update={"verdict": "approved"}))
    store.save(rec(2, RunStatus.failed, 1.0).model_copy(
        update={"error": "planner: gave up", "scope": Scope(root="/w", path="src/app")}))
    store.save(rec(3, RunStatus.running, 0.0, pattern="triage-fix-validate"))
    store.save(rec(4, RunStatus.succeeded, 2.0).model_copy(update={"parent_id": "20260101-000001-abcd"}))
    records = store.list(limit=10)
    rows = store.summaries(limit=10)
    assert [r.id for r in rows] == [r.id for r in records] == [f"20260101-0000{i:02d}-abcd" for i in (3, 2, 1)]
    assert rows == [RunSummary.of(r) for r in records]
    failed = rows[1]
    assert (failed.status, failed.scope_path, failed.error, failed.duration_s) == (
        RunStatus.failed, "src/app", "planner: gave up", 1.0)
    assert rows[2].verdict == "approved" and rows[2].scope_path is None
    assert rows[0].created_at == records[0].created_at
    assert [r.id for r in store.summaries(limit=2)] == [r.id for r in rows[:2]]
    assert [r.id for r in store.summaries(pattern="triage-fix-validate")] == ["20260101-000003-abcd"]
    assert "20260101-000004-abcd" in [r.id for r in store.summaries(include_children=True)]
    # summaries never touch the record column: with every record unreadable they still answer
    store.close()
    conn = sqlite3.connect(tmp_path / ".baton" / "runs.sqlite")
    conn.execute("UPDATE runs SET record = '{not json'")
    conn.commit()
    conn.close()
    again = RunStore(tmp_path)
    assert again.summaries(limit=10) == rows
    with pytest.raises(ValueError):
        again.list(limit=10)


OLD_SCHEMA = """
CREATE TABLE runs (
    id TEXT PRIMARY KEY, pattern TEXT NOT NULL, status TEXT NOT NULL, verdict TEXT, task TEXT NOT NULL,
    created_at TEXT NOT NULL, duration_s REAL NOT NULL, total_tokens INTEGER NOT NULL, cost_usd REAL NOT NULL,
    parent_id TEXT, record TEXT NOT NULL
);
CREATE INDEX runs_pattern ON runs(pattern, created_at);
"""


def old_store(tmp_path, records):
    """A workspace as an older Baton left it: run.json files and an index without the new columns."""
    (tmp_path / ".baton" / "runs").mkdir(parents=True)
    conn = sqlite3.connect(tmp_path / ".baton" / "runs.sqlite")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(OLD_SCHEMA)
    for r in records:
        d = tmp_path / ".baton" / "runs" / r.id
        d.mkdir()
        (d / "run.json").write_text(r.model_dump_json(indent=2))
        conn.execute("INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                     (r.id, r.pattern.value, r.status.value, r.verdict, r.task, r.created_at.isoformat(),
                      r.duration_s, r.usage.total_tokens, r.usage.cost_usd, r.parent_id, r.model_dump_json()))
    conn.commit()
    conn.close()


def test_an_older_index_is_rebuilt_with_the_summary_columns(tmp_path):
    records = [rec(1, RunStatus.succeeded, 3),
               rec(2, RunStatus.failed, 4).model_copy(update={"error": "boom", "scope": Scope(root="/w", path="lib")})]
    old_store(tmp_path, records)
    store = RunStore(tmp_path)
    assert store.summaries() == [RunSummary.of(r) for r in reversed(records)]
    cols = [row[1] for row in sqlite3.connect(store.db_path).execute("PRAGMA table_info(runs)")]
    assert cols[-4:] == ["scope_path", "error", "eval_id", "record"]
    store.save(rec(3, RunStatus.cancelled, 1))
    assert [r.id for r in store.summaries()][0] == "20260101-000003-abcd"
    assert {s.pattern: s.runs for s in store.stats()} == {"plan-implement-review": 3}
    store.close()
    again = RunStore(tmp_path)  # the new index is kept as it is
    assert [r.id for r in again.summaries()] == [f"20260101-0000{i:02d}-abcd" for i in (3, 2, 1)]


def test_two_stores_opening_an_older_index_at_once_both_get_the_new_one(tmp_path):
    records = [rec(i, RunStatus.succeeded, i) for i in range(6)]
    old_store(tmp_path, records)
    stores = [RunStore(tmp_path) for _ in range(2)]
    barrier = threading.Barrier(2)
    results: list = [None, None]

    def open_and_list(k):
        barrier.wait()
        try:
            results[k] = [r.id for r in stores[k].summaries(limit=10)]
        except Exception as e:  # reported below, with the other thread's answer
            results[k] = e

    threads = [threading.Thread(target=open_and_list, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    want = [r.id for r in reversed(records)]
    assert results == [want, want]
