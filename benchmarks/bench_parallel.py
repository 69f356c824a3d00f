"""Parallel modules: wall time against the ideal, peak memory, and sandbox set-up cost.

    python benchmarks/bench_parallel.py [--sizes 1 8 32 64] [--concurrency 16] [--latency 0.5]
                                        [--large PATH | --no-large]

Part 1 — the fan-out. For each size N a fresh subprocess runs the pattern end to end (user-given
modules, no decomposer) against the scripted server, which adds `--latency` seconds to every
model call. Each module makes two calls (an edit, then submit), so its model time is 2 × latency.
The test command is `true`, so the figures show Baton's own overhead, not a test suite's. The
openai SDK is imported before the clock starts (the editor's run host imports it at start-up).

    ideal = 2 × latency × ⌈N / concurrency⌉   (the slowest module's model time per wave)
          + the merge queue's time (merge + validation, measured: it is sequential by design)
          + the final test run and the reviewer's one call (measured)

Peak memory is the subprocess's peak RSS (the scripted server runs in it too).

Part 2 — sandbox set-up on a small repository (the generated one) and a Django-sized one
(Django 5.0's sdist as a git repository, fetched from PyPI into benchmarks/.cache/ as
bench_workspace.py does; or `--large PATH`): one `Sandbox.create` (git worktree + uncommitted
files, what plan-implement-review uses per run), one hard-link clone from the shared snapshot
(what each module gets), and the integration sandbox's full copy (once per run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "unit"))


def make_project(root: Path, n: int) -> Path:
    from pipeline_helpers import make_repo

    files = {"pkg/__init__.py": ""}
    for i in range(n):
        files[f"pkg/m{i:03d}.py"] = f"def f{i}():\n    return {i}\n"
    return make_repo(root, files)


def script(n: int, latency: float) -> dict[str, object]:
    slow = {"delay": latency}
    coder = []
    for i in range(n):
        path = f"pkg/m{i:03d}.py"
        when = [f"# Your module: {path}"]
        coder.append({"when": when, "fault": slow, "tool_calls": [{"name": "write_file", "arguments": {
            "path": path, "content": f'def f{i}():\n    """Return {i}."""\n    return {i}\n'}}]})
        coder.append({"when": when, "fault": slow, "tool_calls": [{"name": "submit_changes",
                                                                    "arguments": {"summary": "done"}}]})
    review = [{"fault": slow, "tool_calls": [{"name": "submit_review", "arguments": {
        "verdict": "approved", "summary": "ok", "findings": []}}]}]
    return {"models": {"b-coder": coder, "b-reviewer": review}}


async def one(n: int, concurrency: int, latency: float) -> dict[str, float]:
    import openai  # noqa: F401  # imported before the clock starts, as in a running server's run host

    from baton.pipelines.config import load_settings
    from baton.pipelines.engine import Engine
    from baton.pipelines.llm.scripted import ScriptedLLM
    from baton.pipelines.models import Pattern, Scope, Task
    from baton.pipelines.patterns.parallel_modules import run_parallel_modules

    with tempfile.TemporaryDirectory(prefix="bench-parallel-") as d:
        root = make_project(Path(d) / "repo", n)
        with ScriptedLLM(script(n, latency)) as url:
            settings = load_settings(root, env={}, overrides={
                "base_url": url, "api_key": "bench", "max_retries": 0, "test_command": "true",
                "repo_map_tokens": 0, "parallel_concurrency": concurrency,
                "roles": {"implementer": {"model": "b-coder"}, "reviewer": {"model": "b-reviewer"}}})
            task = Task(text="Add docstrings.", scope=Scope(root=str(root)), pattern=Pattern.parallel_modules,
                        modules=[f"pkg/m{i:03d}.py" for i in range(n)])
            t0 = time.monotonic()
            result = await Engine(root, settings).run(task, run_parallel_modules)
            wall = time.monotonic() - t0
        rec = result.record
        if rec.status.value != "succeeded":
            raise SystemExit(f"N={n}: the run {rec.status.value}: {rec.error}")
        steps = {s.name: s.duration_s for s in rec.steps}
        merge_s = sum(v for k, v in steps.items() if k.startswith("merge:"))
        tail_s = steps.get("test", 0.0) + steps.get("review", 0.0)
        ideal = 2 * latency * math.ceil(n / concurrency) + merge_s + tail_s
        par = rec.extra["parallel"]
        return {"n": n, "wall_s": wall, "ideal_s": ideal, "merge_s": merge_s, "tail_s": tail_s,
                "speedup": par["speedup"], "peak_concurrency": par["peak_concurrency"],
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def fan_out_table(sizes: list[int], concurrency: int, latency: float) -> None:
    print(f"\n## Fan-out: concurrency {concurrency}, {latency:g}s per model call, test command `true`\n")
    print("| modules | wall | ideal | wall/ideal | merge queue | speedup vs serial | peak agents | peak RSS |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    rows = []
    for n in sizes:
        out = subprocess.run([sys.executable, __file__, "--one", str(n), "--concurrency", str(concurrency),
                              "--latency", str(latency)], capture_output=True, text=True, check=False)
        if out.returncode != 0:
            print(f"| {n} | failed: {out.stderr.strip()[-300:]} |")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(r)
        print(f"| {n} | {r['wall_s']:.2f}s | {r['ideal_s']:.2f}s | {r['wall_s'] / r['ideal_s']:.2f}× | "
              f"{r['merge_s']:.2f}s | {r['speedup']:.1f}× | {r['peak_concurrency']} | {r['peak_rss_mb']:.0f} MB |",
              flush=True)
    if len(rows) >= 2:
        a, b = rows[0], rows[-1]
        per = (b["peak_rss_mb"] - a["peak_rss_mb"]) / max(1, b["n"] - a["n"])
        print(f"\nMemory per extra module: {per * 1024:.0f} KB ({a['n']} → {b['n']} modules).")


def setup_table(large: Path | None) -> None:
    from baton.pipelines.sandbox import Sandbox
    from baton.pipelines.sandbox_pool import SandboxPool

    async def measure(root: Path) -> tuple[float, float, float, int]:
        t0 = time.monotonic()
        async with Sandbox.create(root) as base:
            t_worktree = time.monotonic() - t0
            pool = SandboxPool(root, base.path)
            clones = []
            for _ in range(5):
                t1 = time.monotonic()
                async with pool.clone() as sb:
                    clones.append(time.monotonic() - t1)
                    files = sum(1 for p in sb.path.rglob("*") if p.is_file())
            t2 = time.monotonic()
            async with pool.clone(full_copy=True):
                t_copy = time.monotonic() - t2
        return t_worktree, sorted(clones)[len(clones) // 2], t_copy, files

    print("\n## Sandbox set-up\n")
    print("| repository | files | worktree (`Sandbox.create`) | hard-link clone per module | full copy (integration) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory(prefix="bench-parallel-") as d:
        repos = [("small (generated, 64 modules)", make_project(Path(d) / "small", 64))]
        if large is not None:
            repos.append((f"large ({large.name})", large))
        for name, root in repos:
            w, c, f, files = asyncio.run(measure(root))
            print(f"| {name} | {files} | {w:.3f}s | {c:.3f}s | {f:.3f}s |", flush=True)


def django_repo() -> Path:
    """Django 5.0's sdist (bench_workspace.py fetches it) committed as a git repository, once."""
    from bench_workspace import CACHE, fetch_django, prepare_cache

    prepare_cache()  # benchmarks/.cache/ with its own .gitignore: nothing there is committed
    src = fetch_django()
    repo = CACHE / "django-git"
    if not (repo / ".git").is_dir():
        subprocess.run(["cp", "-a", str(src), str(repo)], check=True)
        git = ["git", "-c", "user.name=b", "-c", "user.email=b@b.invalid", "-c", "commit.gpgsign=false"]
        for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "django"]):
            subprocess.run([*git, *cmd], cwd=repo, check=True, capture_output=True)
    return repo


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[1, 8, 32, 64])
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--latency", type=float, default=0.5)
    p.add_argument("--large", type=Path, help="a large git repository (default: Django 5.0 from PyPI)")
    p.add_argument("--no-large", action="store_true")
    p.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one is not None:
        print(json.dumps(asyncio.run(one(args.one, args.concurrency, args.latency))))
        return
    fan_out_table(args.sizes, args.concurrency, args.latency)
    setup_table(None if args.no_large else (args.large or django_repo()))


if __name__ == "__main__":
    main()
