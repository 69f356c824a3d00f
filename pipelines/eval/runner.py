"""Run a suite: every case × repeat as one job of the engine's executor interface (pipelines/
executor.py: local asyncio, or Ray), each run folder shipped back into the local store as its case
ends, and the report (table rows + every case result) built.

The driver keeps the rate limit whatever the executor: the executor's `limit` bounds the cases in
flight from the driver's side, so a Ray cluster cannot flood a rate-limited endpoint. A remote
executor gets each case packed with its suite files (shipping.py).
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..executor import Executor, Job, JobResult
from ..models import RunRecord
from ..store import RunStore
from .case import CaseJob, CaseOutput, model_set_label, run_case
from .results import CaseResult, EvalReport, FailureReason
from .shipping import pack_job, run_packed
from .stats import group_stats
from .suite import Case, Suite

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def new_eval_id() -> str:
    return datetime.now(UTC).strftime("eval-%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def case_jobs(jobs: list[CaseJob], remote: bool) -> list[Job[CaseOutput]]:
    """One executor job per case run, keyed `case#repeat`; packed with its files for a remote executor."""
    if not remote:
        return [Job.of(f"{j.case.id}#{j.repeat}", run_case, j) for j in jobs]
    files: dict[str, bytes] = {}  # one tar per case, whatever the repeats
    out: list[Job[CaseOutput]] = []
    for j in jobs:
        packed = pack_job(j, files.get(j.case.id))
        files[j.case.id] = packed.files
        out.append(Job.of(f"{j.case.id}#{j.repeat}", run_packed, packed))
    return out


async def run_suite(suite: Suite, cases: list[Case], executor: Executor, *, store: RunStore,
                    repeat: int = 1, models: dict[str, str] | None = None, live: bool = False,
                    overrides: dict[str, Any] | None = None,
                    on_result: Callable[[CaseResult], None] | None = None) -> EvalReport:
    eval_id = new_eval_id()
    specs = [CaseJob(case=c, repeat=r, models=dict(models or {}), live=live, overrides=dict(overrides or {}))
             for r in range(repeat) for c in cases]
    by_key = {f"{j.case.id}#{j.repeat}": j for j in specs}
    t0 = time.monotonic()
    jobs = await asyncio.to_thread(case_jobs, specs, executor.remote)
    shipping: list[asyncio.Task[None]] = []  # strong references until every folder is in the store

    def done(res: JobResult[CaseOutput]) -> None:
        out = res.value
        if out is None:
            return
        if executor.remote:
            out.result.worker = f"{executor.name}:{out.result.worker}"
        if out.record is not None and out.result.run_id:
            shipping.append(asyncio.create_task(asyncio.to_thread(ship_run, store, out, eval_id)))
        if on_result is not None:
            on_result(out.result)

    try:
        outcomes = await executor.run(jobs, on_done=done)
    finally:
        await asyncio.gather(*shipping, return_exceptions=True)
    for t in shipping:  # a folder that could not be written is an error of this eval, not of a case
        t.result()
    results = [res.value.result if res.value is not None else lost_case(by_key[res.key], res, executor)
               for res in outcomes]
    for res, r in zip(outcomes, results, strict=True):
        if res.value is None and on_result is not None:
            on_result(r)
    results.sort(key=lambda r: (r.pattern, r.case_id, r.repeat))
    report = EvalReport(eval_id=eval_id, suite=suite.name, suite_path=str(suite.root),
                        duration_s=round(time.monotonic() - t0, 3), executor=executor.name, repeat=repeat,
                        concurrency=executor.limit, groups=group_stats(results, repeat), results=results)
    await asyncio.to_thread(save_report, store, report)
    return report


def lost_case(job: CaseJob, res: JobResult[CaseOutput], executor: Executor) -> CaseResult:
    """A case whose job gave no output (its worker died, it timed out): a failure with the reason."""
    reason = FailureReason.timeout if res.status == "timed_out" else FailureReason.other
    return CaseResult(case_id=job.case.id, pattern=job.case.pattern.value, repeat=job.repeat,
                      model_set=model_set_label({**job.case.models, **job.models}),
                      session="recorded" if job.case.session is not None and not job.live else "live",
                      status=res.status, success=False, reason=reason,
                      error=res.error or f"the {executor.name} executor returned no result",
                      duration_s=res.duration_s,
                      worker=f"{executor.name}:?" if executor.remote else socket.gethostname())


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
