"""The commands on runs that exist: cancel, continue past the plan gate, list, show, apply the
proposed change again, statistics, the proposed files' contents, and dismissing findings.

A run is found in this session first, then in any workspace folder's store, so a run from an
earlier session (or the CLI) can still be shown and applied."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from pygls.exceptions import JsonRpcInvalidParams, JsonRpcInvalidRequest
from pygls.uris import to_fs_path

from baton.pipelines.artifacts import PlanParseError
from baton.pipelines.eval.latest import latest_eval_rows
from baton.pipelines.models import ChangeSet, RunRecord
from baton.pipelines.store import RunNotFound, RunSummary
from baton.pipelines.trace_html import write_trace_html

from .command_args import (
    APPLY_RUN,
    CANCEL_RUN,
    CONTINUE_RUN,
    DISMISS_FINDING,
    DISMISS_RUN,
    LIST_RUNS,
    PROPOSED_CONTENT,
    PROPOSED_FILES,
    SHOW_RUN,
    SHOW_STATS,
    DismissFindingArgs,
    ListRunsArgs,
    NoArgs,
    ProposedContentArgs,
    RunIdArgs,
    parse_args,
)
from .progress import baton_capability, client_opens_artifacts


def run_summary(run: RunSummary) -> dict[str, Any]:
    return {"runId": run.id, "pattern": run.pattern.value, "task": run.task, "status": run.status.value,
            "verdict": run.verdict, "durationS": run.duration_s, "createdAt": run.created_at.isoformat(),
            "scope": run.scope_path, "error": run.error}


async def load_changeset(store: Any, run_id: str) -> ChangeSet:
    text = await asyncio.to_thread(store.read_artifact, run_id, "changes.json")
    if text is None:
        raise JsonRpcInvalidRequest(message=f"run {run_id} has no proposed changes (no changes.json)")
    return ChangeSet.model_validate_json(text)


def _run(ls: Any, run_id: str) -> Any:
    run = ls.runs.get(run_id)
    if run is None:
        raise JsonRpcInvalidParams(message=f"`runId`: no run {run_id!r} in this session; baton.listRuns lists them")
    return run


async def _store_for(ls: Any, run_id: str) -> tuple[Any, RunRecord]:
    """Find a run in the session or in any workspace folder's store (SQLite: off the loop)."""
    run = ls.runs.get(run_id)
    roots = [run.workspace] if run else ls.workspace_roots()
    for root in roots:
        store = ls.runs.store(root)
        try:
            return store, await asyncio.to_thread(store.get, run_id)
        except RunNotFound:
            continue
    raise JsonRpcInvalidParams(message=f"`runId`: no run {run_id!r} in this workspace; baton.listRuns lists them")


async def cancel_run(ls: Any, *raw: Any) -> dict[str, Any]:
    args = parse_args(CANCEL_RUN, raw, RunIdArgs)
    _run(ls, args.run_id)
    return {"cancelled": ls.runs.cancel(args.run_id)}


async def continue_run(ls: Any, *raw: Any) -> dict[str, Any]:
    args = parse_args(CONTINUE_RUN, raw, RunIdArgs)
    _run(ls, args.run_id)
    try:
        plan = await ls.runs.continue_run(args.run_id)
    except PlanParseError as e:
        raise JsonRpcInvalidRequest(message=f"{e}. Fix plan.md and continue again; the run keeps waiting.") from None
    except ValueError as e:
        raise JsonRpcInvalidRequest(message=str(e)) from None
    return {"continued": True, "steps": len(plan.steps)}


async def list_runs(ls: Any, *raw: Any) -> dict[str, Any]:
    args = parse_args(LIST_RUNS, raw, ListRunsArgs)
    stores = [ls.runs.store(root) for root in ls.workspace_roots()]

    def read_all() -> list[RunSummary]:  # one hop off the loop for every folder's index
        return [row for store in stores for row in store.summaries(args.limit)]

    rows = {row.id: row for row in await asyncio.to_thread(read_all)}
    for run in ls.runs.runs.values():  # live state beats the last saved record
        if run.handle is not None:
            rows[run.id] = RunSummary.of(run.result.record if run.result else run.handle.record)
    ordered = sorted(rows.values(), key=lambda r: (r.created_at, r.id), reverse=True)[: args.limit]
    return {"runs": [run_summary(r) for r in ordered]}


async def show_run(ls: Any, *raw: Any) -> dict[str, Any]:
    args = parse_args(SHOW_RUN, raw, RunIdArgs)
    store, rec = await _store_for(ls, args.run_id)
    out: dict[str, Any] = {}
    for key, name in (("plan", "plan.md"), ("review", "review.md"), ("triage", "triage.md"), ("diff", "changes.diff")):
        path = store.run_dir(rec.id) / name
        if await asyncio.to_thread(path.is_file):
            out[key] = path.as_uri()
    if not client_opens_artifacts(ls):  # Baton's extension opens them itself, from the answer
        for key in ("plan", "review", "triage"):
            if key in out:
                await ls.show_document(out[key])
    if rec.status.finished and (store.run_dir(rec.id) / "trace.jsonl").is_file():
        # the readable trace: one self-contained page the editor offers to open
        out["trace"] = (await asyncio.to_thread(write_trace_html, rec, store.run_dir(rec.id))).as_uri()
    if not out:
        raise JsonRpcInvalidRequest(message=f"run {rec.id} has no documents yet (status {rec.status.value})")
    return out


async def apply_run(ls: Any, *raw: Any) -> dict[str, Any]:
    args = parse_args(APPLY_RUN, raw, RunIdArgs)
    store, rec = await _store_for(ls, args.run_id)
    cs = await load_changeset(store, rec.id)
    run = ls.runs.get(rec.id) or ls.runs.adopt(rec)
    outcome = await ls.runs.send_edit(run, cs)
    return {"applied": outcome.applied, "rebased": outcome.rebased, "leftAlone": outcome.left_alone,
            "failureReason": outcome.failure_reason}


async def show_stats(ls: Any, *raw: Any) -> dict[str, Any]:
    parse_args(SHOW_STATS, raw, NoArgs)
    roots = ls.workspace_roots()
    if not roots:
        raise JsonRpcInvalidRequest(message="Baton needs an open folder to show its statistics")
    store = ls.runs.store(roots[0])
    await asyncio.to_thread(store.ensure)
    stats = await asyncio.to_thread(store.stats)  # real work; `baton eval` runs apart, in evalStats
    eval_stats = await asyncio.to_thread(store.stats, True)
    uri: str | None = None
    if not baton_capability(ls, "statsView"):  # Baton's extension draws its own view from the answer
        text = render_stats_md(stats)
        await asyncio.to_thread(store.base.joinpath("stats.md").write_text, text, "utf-8")
        uri = store.base.joinpath("stats.md").as_uri()
        await ls.show_document(uri)
    return {"uri": uri, "stats": [_stats_row(s) for s in stats], "evalStats": [_stats_row(s) for s in eval_stats],
            **(await asyncio.to_thread(latest_eval_rows, store))}


async def proposed_files(ls: Any, *raw: Any) -> dict[str, Any]:
    args = parse_args(PROPOSED_FILES, raw, RunIdArgs)
    store, rec = await _store_for(ls, args.run_id)
    cs = await load_changeset(store, rec.id)
    root = Path(rec.scope.root)
    files = []
    for e in cs.edits:
        item = {"uri": (root / e.path).as_uri(), "kind": e.kind.value}
        if e.new_path:
            item["newUri"] = (root / e.new_path).as_uri()
        files.append(item)
    return {"files": files}


async def proposed_content(ls: Any, *raw: Any) -> dict[str, Any]:
    args = parse_args(PROPOSED_CONTENT, raw, ProposedContentArgs)
    store, rec = await _store_for(ls, args.run_id)
    cs = await load_changeset(store, rec.id)
    # pure string work (normpath/relpath of absolute paths make no syscalls): fine on the loop
    root = os.path.normpath(rec.scope.root)  # noqa: ASYNC240
    path = os.path.normpath(to_fs_path(args.uri) or "") if args.uri.startswith("file:") else ""  # noqa: ASYNC240
    if not path.startswith(root + os.sep):
        raise JsonRpcInvalidParams(message=f"`uri`: {args.uri} is not a file in run {rec.id}'s workspace ({root})")
    rel = Path(os.path.relpath(path, root)).as_posix()  # noqa: ASYNC240
    for e in cs.edits:
        if rel in (e.path, e.new_path):
            return {"text": e.new_text}
    raise JsonRpcInvalidParams(message=f"`uri`: run {rec.id} proposes no change to {rel}")


async def dismiss_run(ls: Any, *raw: Any) -> dict[str, Any]:
    args = parse_args(DISMISS_RUN, raw, RunIdArgs)
    return {"dismissed": ls.runs.findings.dismiss(args.run_id)}


async def dismiss_finding(ls: Any, *raw: Any) -> dict[str, Any]:
    args = parse_args(DISMISS_FINDING, raw, DismissFindingArgs)
    if args.index is None:
        return {"dismissed": ls.runs.findings.dismiss(args.run_id)}
    return {"dismissed": ls.runs.findings.dismiss(args.run_id, args.index)}


def _stats_row(s: Any) -> dict[str, Any]:
    return {"pattern": s.pattern, "runs": s.runs, "successRate": s.success_rate, "meanDurationS": s.mean_duration_s,
            "p50DurationS": s.p50_duration_s, "p95DurationS": s.p95_duration_s, "finished": s.finished,
            "succeeded": s.succeeded}


def render_stats_md(stats: list[Any]) -> str:
    lines = ["# Baton statistics", "", "Success rate counts finished runs; durations are wall time.", "",
             "| pattern | runs | succeeded | failed | cancelled | success rate | mean | p50 | p95 | mean tokens |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]

    def f(x: float | None, unit: str = "s") -> str:
        return "–" if x is None else f"{x:.1f}{unit}"

    for s in stats:
        rate = "–" if s.success_rate is None else f"{s.success_rate * 100:.0f}%"
        tokens = "–" if s.mean_tokens is None else f"{s.mean_tokens:.0f}"
        lines.append(f"| {s.pattern} | {s.runs} | {s.succeeded} | {s.failed} | {s.cancelled} | {rate} | "
                     f"{f(s.mean_duration_s)} | {f(s.p50_duration_s)} | {f(s.p95_duration_s)} | {tokens} |")
    if not stats:
        lines.append("| (no runs yet) | | | | | | | | | |")
    return "\n".join(lines) + "\n"
