"""`baton eval SUITE`: run a suite of cases and print the table; `--compare A.json B.json`; `--html`.

Exit codes: 0 the eval ran (and met `--min-success` if given); 1 below `--min-success`;
2 usage error (bad suite, bad flags).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from .errors import UsageError
from .models import Role


def eval_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("suite", nargs="?", help="suite folder (with suite.toml or suite.yaml) or its manifest")
    p.add_argument("--workspace", "-w", default=".",
                   help="where the runs and the report are stored (.baton/; default: current directory)")
    p.add_argument("--pattern", help="only the cases of this pattern")
    p.add_argument("--models", nargs="+", metavar="ROLE=MODEL", default=[],
                   help="models for live runs, e.g. planner=o4-mini implementer=gpt-4.1")
    p.add_argument("--live", action="store_true",
                   help="run every case against the configured endpoint, even those with a recorded session")
    p.add_argument("--base-url", help="OpenAI-compatible endpoint for live runs")
    p.add_argument("--repeat", type=int, default=1, metavar="N", help="runs per case (gives a 95%% interval)")
    p.add_argument("--concurrency", type=int, default=2, metavar="N", help="cases in flight at once (default 2)")
    p.add_argument("--executor", choices=("local", "ray"), default="local", help="where cases run")
    p.add_argument("--ray-address", metavar="ADDR",
                   help="Ray cluster to submit to (default: start a local one); needs baton-lsp[ray]")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--html", nargs="?", const="", metavar="FILE",
                   help="also write a self-contained HTML report (default: next to report.json)")
    p.add_argument("--compare", nargs=2, metavar=("A.json", "B.json"), help="show what changed between two reports")
    p.add_argument("--min-success", type=float, metavar="RATE",
                   help="exit 1 when the overall success rate is below RATE (0..1), for CI")
    p.add_argument("--quiet", "-q", action="store_true", help="no per-case progress lines")


def parse_models(items: list[str]) -> dict[str, str]:
    roles = {r.value for r in Role}
    out: dict[str, str] = {}
    for item in items:
        role, sep, model = item.partition("=")
        if not sep or not model.strip():
            raise UsageError(f"--models {item}: write ROLE=MODEL, e.g. implementer=gpt-4.1")
        if role not in roles:
            raise UsageError(f"--models {item}: unknown role {role!r}; roles are {', '.join(sorted(roles))}")
        out[role] = model.strip()
    return out


def eval(args: argparse.Namespace) -> int:  # noqa: A001 - the subcommand's name
    from .eval.report import compare, format_table, load_report

    if args.compare:
        if args.suite:
            raise UsageError("--compare takes two report files and no suite")
        print(compare(load_report(args.compare[0]), load_report(args.compare[1])))
        return 0
    if not args.suite:
        raise UsageError("give a suite folder, e.g. `baton eval examples/eval-suite`, or --compare A.json B.json")
    if args.repeat < 1:
        raise UsageError("--repeat must be at least 1")
    if args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    if args.min_success is not None and not 0 <= args.min_success <= 1:
        raise UsageError("--min-success is a rate between 0 and 1")
    if args.ray_address and args.executor != "ray":
        raise UsageError("--ray-address goes with --executor ray")
    models = parse_models(args.models)
    ws = Path(args.workspace).expanduser()
    if not ws.is_dir():
        raise UsageError(f"--workspace {args.workspace}: not a directory")
    from .eval.suite import SuiteError, load_suite

    try:
        suite = load_suite(args.suite)
        cases = suite.select(args.pattern)
    except SuiteError as e:
        raise UsageError(str(e)) from None
    if not cases:
        raise UsageError(f"{suite.manifest}: no case of pattern {args.pattern}")
    overrides: dict[str, Any] = {}
    if args.base_url:
        overrides["base_url"] = args.base_url
    report = asyncio.run(_run(args, suite, cases, ws.resolve(), models, overrides))
    html_path = None
    if args.html is not None:
        from .eval.html import write_html
        from .eval.runner import evals_dir
        from .store import RunStore

        target = Path(args.html) if args.html else evals_dir(RunStore(ws)) / report.eval_id / "report.html"
        html_path = write_html(report, target)
    if args.json:
        print(report.model_dump_json(indent=2))
    else:
        print(format_table(report))
        from .eval.runner import evals_dir
        from .store import RunStore

        print(f"\nreport: {evals_dir(RunStore(ws)) / report.eval_id / 'report.json'}")
        if html_path:
            print(f"html:   {html_path}")
    if args.min_success is not None:
        total = len(report.results)
        ok = sum(1 for r in report.results if r.success)
        if total and ok / total < args.min_success:
            print(f"baton eval: success rate {ok}/{total} is below --min-success {args.min_success:g}", file=sys.stderr)
            return 1
    return 0


async def _run(args: argparse.Namespace, suite: Any, cases: list[Any], ws: Path, models: dict[str, str],
               overrides: dict[str, Any]) -> Any:
    from .eval.runner import run_suite
    from .executor import Executor, LocalExecutor
    from .store import RunStore

    executor: Executor
    if args.executor == "ray":
        from .ray_executor import RayExecutor

        executor = RayExecutor(args.concurrency, address=args.ray_address)
    else:
        executor = LocalExecutor(args.concurrency)

    def progress(r: Any) -> None:
        if not (args.quiet or args.json):
            mark = "ok  " if r.success else "FAIL"
            why = "" if r.success else f"  ({r.reason.value if r.reason else '?'})"
            print(f"  {mark} {r.pattern:<22} {r.case_id}#{r.repeat} {r.duration_s:.1f}s{why}", file=sys.stderr)

    try:
        return await run_suite(suite, cases, executor, store=RunStore(ws), repeat=args.repeat,
                               models=models, live=args.live, overrides=overrides, on_result=progress)
    finally:
        await executor.aclose()
