"""Cases per hour of `baton eval` on the bundled example suite: the local executor vs Ray (a local
cluster on loopback, this machine's cores). Prints figures; asserts nothing.

    .venv/bin/python benchmarks/bench_eval.py [--repeat 2] [--concurrency 2] [--no-ray]

Ray's start-up (ray.init) is reported apart: on one machine it is overhead that a long-lived
cluster pays once; the per-case rate is what scales with nodes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from baton.pipelines.eval.runner import run_suite
from baton.pipelines.eval.suite import load_suite
from baton.pipelines.executor import Executor, LocalExecutor
from baton.pipelines.store import RunStore

SUITE = Path(__file__).resolve().parents[1] / "examples" / "eval-suite"


async def measure(executor: Executor, repeat: int) -> tuple[int, float]:
    suite = load_suite(SUITE)
    with tempfile.TemporaryDirectory() as ws:
        t0 = time.monotonic()
        report = await run_suite(suite, suite.cases, executor, store=RunStore(ws), repeat=repeat)
        elapsed = time.monotonic() - t0
    await executor.aclose()
    return len(report.results), elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--no-ray", action="store_true")
    a = ap.parse_args()
    os.environ.setdefault("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    print(f"example suite, repeat {a.repeat}, concurrency {a.concurrency}, {os.cpu_count()} CPUs")
    n, s = asyncio.run(measure(LocalExecutor(a.concurrency), a.repeat))
    print(f"local: {n} cases in {s:.1f}s = {n / s * 3600:.0f} cases/hour")
    if a.no_ray:
        return
    from baton.pipelines.ray_executor import RayExecutor

    t0 = time.monotonic()
    ray_ex = RayExecutor(a.concurrency)
    start = time.monotonic() - t0
    n, s = asyncio.run(measure(ray_ex, a.repeat))
    print(f"ray:   {n} cases in {s:.1f}s = {n / s * 3600:.0f} cases/hour (plus {start:.1f}s to start the local cluster)")


if __name__ == "__main__":
    main()
