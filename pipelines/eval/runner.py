"""Run a suite: every case × repeat through an executor (local asyncio or Ray), each run folder
shipped back into the local store, and the report (table rows + every case result) built.

The driver keeps the rate limit: at most `concurrency` cases are in flight whatever the
executor, so a Ray cluster cannot flood a rate-limited endpoint.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from ..models import RunRecord
from ..store import RunStore
from .case import CaseJob, CaseOutput, run_case
from .results import CaseResult, EvalReport
from .stats import group_stats
from .suite import Case, Suite

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class CaseExecutor(Protocol):
    """Runs one case job somewhere and hands back its output."""

    name: str

    async def run(self, job: CaseJob) -> CaseOutput: ...

    async def aclose(self) -> None: ...


class LocalExecutor:
    """Cases as tasks of this event loop (each case's commands are subprocesses, off the loop)."""

    name = "local"

    async def run(self, job: CaseJob) -> CaseOutput:
        return await run_case(job)

    async def aclose(self) -> None:
        return None


def new_eval_id() -> str:
    return datetime.now(UTC).strftime("eval-%Y%m%d-%H%M%S-") + secrets.token_hex(2)


async def run_suite(suite: Suite, cases: list[Case], executor: CaseExecutor, *, store: RunStore,
                    repeat: int = 1, concurrency: int = 4, models: dict[str, str] | None = None,
                    live: bool = False, overrides: dict | None = None,
                    on_result: Callable[[CaseResult], None] | None = None) -> EvalReport:
    eval_id = new_eval_id()
    limiter = asyncio.Semaphore(concurrency)
    jobs = [CaseJob(case=c, repeat=r, models=dict(models or {}), live=live, overrides=dict(overrides or {}))
            for r in range(repeat) for c in cases]
    t0 = time.monotonic()

    async def one(job: CaseJob) -> CaseResult:
        async with limiter:
            out = await executor.run(job)
        if out.record is not None and out.result.run_id:
            await asyncio.to_thread(ship_run, store, out, eval_id)
        if on_result is not None:
            on_result(out.result)
        return out.result

    results = list(await asyncio.gather(*(one(j) for j in jobs)))
    results.sort(key=lambda r: (r.pattern, r.case_id, r.repeat))
    report = EvalReport(eval_id=eval_id, suite=suite.name, suite_path=str(suite.root),
                        duration_s=round(time.monotonic() - t0, 3), executor=executor.name, repeat=repeat,
                        concurrency=concurrency, groups=group_stats(results, repeat), results=results)
    await asyncio.to_thread(save_report, store, report)
    return report


def ship_run(store: RunStore, out: CaseOutput, eval_id: str) -> None:
    """Copy a case's run folder into the local store and index it (tagged with the eval)."""
    assert out.record is not None
    if not _RUN_ID.match(out.record.id):
        raise ValueError(f"a worker sent back a bad run id {out.record.id!r}")
    store.ensure()
    dest = store.run_dir(out.record.id)
    for rel, data in out.run_files.items():
        target = (dest / rel).resolve()
        if dest.resolve() not in target.parents:  # names come from a worker: keep them inside
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    rec: RunRecord = out.record.model_copy(deep=True)
    rec.artifacts = {name: str(dest / name) for name in rec.artifacts if (dest / name).is_file()}
    rec.extra = {**rec.extra, "eval": {"id": eval_id, "case": out.result.case_id, "repeat": out.result.repeat,
                                       "model_set": out.result.model_set, "success": out.result.success}}
    store.save(rec)


def evals_dir(store: RunStore) -> Path:
    return store.runs_dir.parent / "evals"


def save_report(store: RunStore, report: EvalReport) -> Path:
    d = evals_dir(store) / report.eval_id
    d.mkdir(parents=True, exist_ok=True)
    path = d / "report.json"
    path.write_text(report.model_dump_json(indent=2), encoding="utf-8")
    (evals_dir(store) / "latest.json").write_text(json.dumps({"eval_id": report.eval_id, "report": str(path)}),
                                                  encoding="utf-8")
    return path
