"""A long editor session stays bounded: the server keeps only the newest finished runs (older
ones are read from the store), and the run host's proxy forgets a run once it has ended."""

from __future__ import annotations

from pathlib import Path

from baton.pipelines.models import RunRecord, RunStatus, Scope
from baton.server.hostwire import FROM_HOST, RunEnded, RunError
from baton.server.runproxy import RunHost, RunProxy
from baton.server.runs import KEEP_FINISHED, RunManager, ServerRun


async def test_the_run_manager_keeps_the_newest_finished_runs_and_every_live_one(tmp_path: Path) -> None:
    manager = RunManager(ls=None)
    live = ServerRun(id="live", task_text="t", workspace=tmp_path, versions={})
    manager.runs["live"] = live
    for i in range(KEEP_FINISHED + 5):
        run = ServerRun(id=f"r{i:02}", task_text="t", workspace=tmp_path, versions={})
        run.done.set()
        manager.runs[run.id] = run
    manager.prune()
    assert list(manager.runs) == ["live"] + [f"r{i:02}" for i in range(5, KEEP_FINISHED + 5)]


async def test_the_proxy_forgets_a_run_when_it_ends(tmp_path: Path) -> None:
    host = RunHost()
    record = RunRecord(id="a", pattern="plan-implement-review", task="t", scope=Scope(root=str(tmp_path)))
    for run_id in ("a", "b"):
        host.runs[run_id] = RunProxy(host, run_id, record.model_copy(update={"id": run_id}), on_event=lambda e: None)
    proxies = dict(host.runs)
    ended = record.model_copy(update={"status": RunStatus.succeeded})
    host._dispatch(FROM_HOST.validate_json(RunEnded(id="a", record=ended).model_dump_json()))
    host._dispatch(FROM_HOST.validate_json(RunError(id="b", message="boom").model_dump_json()))
    assert host.runs == {}
    assert (await proxies["a"].wait()).record.status is RunStatus.succeeded
    failed = (await proxies["b"].wait()).record
    assert failed.status is RunStatus.failed and failed.error == "the run could not run: boom"


def test_an_unknown_message_is_refused_with_the_field_named() -> None:
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as caught:
        FROM_HOST.validate_json(b'{"kind": "result", "id": "a"}')
    assert "record" in str(caught.value)
    with pytest.raises(ValidationError) as caught:
        FROM_HOST.validate_json(b'{"kind": "bogus"}')
    assert "'hello', 'event', 'result', 'released', 'error'" in str(caught.value)
