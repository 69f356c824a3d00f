"""`baton runs | show | stats | trace`: read the run store for history, stats and post-mortems."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path

from .errors import UsageError
from .models import RunRecord
from .recovery import recover
from .store import BATON_DIR, RunNotFound, RunStore


def _workspace_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workspace", "-w", default=".", help="workspace root (default: current directory)")


def _store(args: argparse.Namespace) -> RunStore | None:
    """The workspace's run store, or None when it has none yet (reading history never creates one)."""
    ws = Path(args.workspace).resolve()
    if not ws.is_dir():
        raise UsageError(f"--workspace {args.workspace}: not a directory")
    store = RunStore(ws)
    if not store.runs_dir.is_dir():
        return None
    recover(store)  # runs whose process died show as interrupted, not running forever
    return store


def _existing(args: argparse.Namespace) -> RunStore:
    store = _store(args)
    if store is None:
        ws = Path(args.workspace).resolve()
        raise UsageError(f"no run {args.run_id!r}: {ws} has no Baton runs yet (no {BATON_DIR}/runs/ folder)")
    return store


def _get(store: RunStore, run_id: str) -> RunRecord:
    try:
        return store.get(run_id)
    except RunNotFound as e:
        raise UsageError(str(e)) from None


def _dur(s: float | None) -> str:
    if s is None:
        return "-"
    return f"{s:.1f}s" if s < 120 else f"{s / 60:.1f}m"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.0f}%"


# --------------------------------------------------------------------------- runs


def runs_arguments(p: argparse.ArgumentParser) -> None:
    _workspace_arg(p)
    p.add_argument("--limit", "-n", type=int, default=20)
    p.add_argument("--pattern", help="only this pattern (plan-implement-review, parallel-modules, triage-fix-validate)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def runs(args: argparse.Namespace) -> int:
    store = _store(args)
    records = store.list(limit=args.limit, pattern=args.pattern) if store is not None else []
    if args.json:
        print(json.dumps([r.model_dump(mode="json") for r in records], indent=2))
        return 0
    if not records:
        print("no runs yet; start one with `baton run \"TASK\"` or try `baton demo`")
        return 0
    print(f"{'RUN':<22} {'PATTERN':<22} {'STATUS':<11} {'VERDICT':<9} {'TIME':>7}  TASK")
    for r in records:
        task = r.task.splitlines()[0][:60]
        print(f"{r.id:<22} {r.pattern.value:<22} {r.status.value:<11} {r.verdict or '-':<9} {_dur(r.duration_s):>7}  {task}")
    return 0


# --------------------------------------------------------------------------- show


def show_arguments(p: argparse.ArgumentParser) -> None:
    _workspace_arg(p)
    p.add_argument("run_id", help="run id (or a unique prefix)")
    p.add_argument("--json", action="store_true", help="print run.json")


def show(args: argparse.Namespace) -> int:
    store = _existing(args)
    rec = _get(store, args.run_id)
    if args.json:
        print(rec.model_dump_json(indent=2))
        return 0
    print(f"run {rec.id}  {rec.pattern.value}  {rec.status.value}" + (f"  verdict: {rec.verdict}" if rec.verdict else ""))
    print(f"task: {rec.task}")
    print(f"scope: {rec.scope.describe()}  ({rec.scope.root})")
    if rec.error:
        print(f"error: {rec.error}")
    u = rec.usage
    print(f"duration {_dur(rec.duration_s)}, {u.calls} model calls, {u.total_tokens} tokens "
          f"({u.cached_tokens} cached), ${u.cost_usd:.4f}")
    for name in ("triage.md", "plan.md", "review.md", "changes.diff"):
        text = store.read_artifact(rec.id, name)
        if text:
            print(f"\n──── {name} " + "─" * max(0, 60 - len(name)))
            print(text.rstrip())
    tests = store.read_artifact(rec.id, "tests.json")
    if tests:
        from .models import TestReport

        print("\n──── tests.json " + "─" * 50)
        print(TestReport.model_validate_json(tests).summary_line())
    print(f"\nartifacts: {store.run_dir(rec.id)}")
    return 0


# --------------------------------------------------------------------------- stats


def stats_arguments(p: argparse.ArgumentParser) -> None:
    _workspace_arg(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--eval", action="store_true",
                   help="the runs of `baton eval` instead of real work (they are left out by default)")


def stats(args: argparse.Namespace) -> int:
    store = _store(args)
    rows = store.stats(evals=args.eval) if store is not None else []
    if args.json:
        print(json.dumps([s.model_dump() for s in rows], indent=2))
        return 0
    others = sum(s.runs for s in store.stats(evals=not args.eval)) if store is not None else 0
    if args.eval:
        hint = f" ({others} run(s) of real work: `baton stats`)" if others else ""
        print("eval runs only (`baton eval`); per case and model set: the eval's report" + hint)
    elif others:
        print(f"real work only; {others} eval run(s) left out: `baton stats --eval`")
    if not rows:
        print("no eval runs yet" if args.eval else "no runs yet")
        return 0
    print(f"{'PATTERN':<22} {'RUNS':>5} {'OK':>4} {'FAIL':>5} {'CANC':>5} {'INTR':>5} {'SUCCESS':>8} {'MEAN':>7} {'P50':>7} {'P95':>7} {'TOKENS':>8} {'COST':>8}")
    for s in rows:
        tokens = "-" if s.mean_tokens is None else f"{s.mean_tokens:.0f}"
        cost = "-" if s.mean_cost_usd is None else f"${s.mean_cost_usd:.3f}"
        print(f"{s.pattern:<22} {s.runs:>5} {s.succeeded:>4} {s.failed:>5} {s.cancelled:>5} {s.interrupted:>5} {_pct(s.success_rate):>8} "
              f"{_dur(s.mean_duration_s):>7} {_dur(s.p50_duration_s):>7} {_dur(s.p95_duration_s):>7} {tokens:>8} {cost:>8}")
    return 0


# --------------------------------------------------------------------------- trace


def trace_arguments(p: argparse.ArgumentParser) -> None:
    _workspace_arg(p)
    p.add_argument("run_id", help="run id (or a unique prefix)")
    p.add_argument("--json", action="store_true", help="print the raw trace.jsonl")
    p.add_argument("--html", nargs="?", const="", metavar="FILE",
                   help="write one self-contained page (timeline, hand-offs, model and tool calls); "
                        "default FILE: trace.html in the run folder")


def format_trace_line(ev: dict, t0: datetime | None) -> str:
    ts = datetime.fromisoformat(ev["ts"])
    rel = (ts - t0).total_seconds() if t0 else 0.0
    kind = ev["type"]
    who = ev.get("role") or ev.get("step") or ""
    data = ev.get("data") or {}
    msg = ev.get("message", "")
    detail = ""
    if kind == "llm_call":
        detail = (f"{data.get('model', '')} {data.get('duration_s', 0):.2f}s "
                  f"in={data.get('prompt_tokens', 0)} out={data.get('completion_tokens', 0)} "
                  f"cached={data.get('cached_tokens', 0)} tools={data.get('tool_calls', 0)}")
    elif kind == "tool_call":
        if data.get("ok", True):
            detail = f"{data.get('name', '')} ok {data.get('duration_s', 0):.2f}s"
        else:  # the first line of why it was refused (the whole text is in trace.jsonl)
            why = str(data.get("error") or "").strip().splitlines()
            detail = f"{data.get('name', '')} ERROR" + (f": {why[0][:160]}" if why else "")
    elif kind == "retry":
        detail = f"attempt {data.get('attempt')} in {data.get('delay_s', 0):.2f}s: {data.get('cause', '')}"
    elif kind == "step_finished":
        detail = f"{data.get('status')} in {data.get('duration_s', 0):.2f}s" + (f": {data['error']}" if data.get("error") else "")
    text = detail or msg
    return f"{rel:8.2f}s  {kind:<13} {who:<12} {text}".rstrip()


def trace(args: argparse.Namespace) -> int:
    store = _existing(args)
    rec = _get(store, args.run_id)
    path = store.run_dir(rec.id) / "trace.jsonl"
    if not path.is_file():
        raise UsageError(f"run {rec.id} has no trace.jsonl at {path}")
    if getattr(args, "html", None) is not None:
        from .trace_html import write_trace_html

        target = Path(args.html).expanduser() if args.html else None
        if target is not None and target.is_dir():
            raise UsageError(f"--html {args.html}: is a folder; give a file name such as trace.html")
        print(write_trace_html(rec, store.run_dir(rec.id), target))
        return 0
    lines = path.read_text(encoding="utf-8").splitlines()
    if args.json:
        sys.stdout.write("\n".join(lines) + "\n")
        return 0
    t0 = None
    print(f"trace of run {rec.id} ({rec.pattern.value}, {rec.status.value})")
    for n, line in enumerate(lines, 1):
        try:
            ev = json.loads(line)
        except json.JSONDecodeError:
            print(f"  (line {n} is not JSON; the trace was cut off here)")
            break
        t0 = t0 or datetime.fromisoformat(ev["ts"])
        print(format_trace_line(ev, t0))
    return 0
