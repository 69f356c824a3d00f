"""Plan-implement-review runs against a model endpoint that fails a lot, and what they leave.

    python benchmarks/bench_faults.py [--runs 200] [--fault-rate 0.3] [--concurrency 4] [--seed 1]

Each run is a real plan → implement (apply_patch, run_tests in the bubblewrap sandbox, submit)
→ review on its own small git repository, against the scripted OpenAI-compatible server over
real HTTP. Before every model answer, with probability `--fault-rate`, the server first fails
the request with a transient fault — 429 with Retry-After, 500, 503, a malformed body, a cut
answer (mid-stream for the runs whose implementer streams), a dropped connection — and it may
do so again on the retry (the chance applies to every attempt); a `delay` fault slows the
answer itself. Baton's settings are the defaults (4 retries, backoff from 0.5 s).

It prints runs, succeeded, failed cleanly (with their reasons), user trees changed (must be
0), worktrees and temp folders left (must be 0), and the time and tokens spent on recovery:
the waits before retries, and the prompt tokens sent again by the failed attempts. Not a
test; figures depend on the machine and the seed.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import hashlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from baton.pipelines.config import load_settings
from baton.pipelines.engine import Engine
from baton.pipelines.events import Event, EventType
from baton.pipelines.llm import scripted_wire as wire
from baton.pipelines.llm.scripted import ScriptedLLM
from baton.pipelines.models import Pattern, RunStatus, Scope, Task
from baton.pipelines.patterns.plan_implement_review import plan_implement_review

TASK = "Fix add() in calc/ops.py so that the failing test passes."
OPS = '"""Arithmetic."""\n\n\ndef add(a, b):\n    return a - b\n'
PROJECT = {
    "calc/__init__.py": "",
    "calc/ops.py": OPS,
    "tests/test_ops.py": "from calc.ops import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n",
}
PATCH = ("*** Begin Patch\n*** Update File: calc/ops.py\n@@\n def add(a, b):\n-    return a - b\n"
         "+    return a + b\n*** End Patch\n")
PLAN = {
    "summary": "Make add() return the sum.",
    "steps": [{"title": "Return a + b", "detail": "Replace the subtraction.", "files": ["calc/ops.py"]}],
    "files_to_touch": ["calc/ops.py"],
    "decisions": [{"title": "Fix in place", "choice": "change the operator", "rationale": "smallest change",
                   "alternatives": []}],
    "risks": [],
    "test_strategy": "tests/test_ops.py",
}
FAULTS: list[tuple[str, dict[str, Any]]] = [
    ("429", {"status": 429, "retry_after": 0.2}),
    ("500", {"status": 500}),
    ("503", {"status": 503}),
    ("malformed", {"malformed": True}),
    ("cut", {"truncate": True}),
    ("drop", {"drop": True}),
    ("delay", {"delay": 0.3}),
]


def call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"tool_calls": [{"name": name, "arguments": arguments}]}


def answers() -> dict[str, list[dict[str, Any]]]:
    return {
        "planner": [call("read_file", path="calc/ops.py"), call("submit_plan", **PLAN)],
        "implementer": [call("apply_patch", patch=PATCH), call("run_tests"),
                        call("submit_changes", summary="add() returns a + b", tests_passed=True)],
        "reviewer": [call("submit_review", verdict="approved", summary="Correct; tests pass.", findings=[])],
    }


def with_faults(replies: list[dict[str, Any]], rng: random.Random, rate: float, injected: collections.Counter[str]
                ) -> list[dict[str, Any]]:
    """Before each answer, while the dice say so, a transient fault (a delay rides on the answer)."""
    out: list[dict[str, Any]] = []
    for answer in replies:
        answer = dict(answer)
        while rng.random() < rate:
            kind, fault = rng.choice(FAULTS)
            injected[kind] += 1
            if kind == "delay":
                answer["fault"] = fault
                break
            out.append({"fault": fault})
        out.append(answer)
    return out


# --------------------------------------------------------------------------- one run


@dataclass
class Outcome:
    status: str
    error: str | None
    tree_changed: bool
    worktrees_left: int
    duration_s: float
    retries: int = 0
    retry_wait_s: float = 0.0
    tokens: int = 0


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=Bench", "-c", "user.email=bench@example.invalid",
                           *args], capture_output=True, text=True, check=True).stdout


def make_repo(root: Path) -> Path:
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    for rel, text in PROJECT.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    return root


def tree_hash(repo: Path) -> str:
    """Every file of the user's tree, `.git` included (Baton's own .baton/ aside)."""
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(repo):
        if Path(dirpath) == repo and ".baton" in dirnames:
            dirnames.remove(".baton")
        files += [Path(dirpath) / name for name in filenames]
    h = hashlib.sha256()
    for p in sorted(files):
        h.update(p.relative_to(repo).as_posix().encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


async def one_run(i: int, base: Path, url: str, stream: bool) -> Outcome:
    repo = await asyncio.to_thread(make_repo, base / f"run{i:04d}")
    before = await asyncio.to_thread(tree_hash, repo)
    roles: dict[str, Any] = {"planner": {"model": f"planner-{i}"}, "reviewer": {"model": f"reviewer-{i}"},
                             "implementer": {"model": f"implementer-{i}", "stream": stream}}
    settings = load_settings(repo, {"base_url": url, "api_key": "sk-bench-not-a-real-key-000000", "roles": roles,
                                    "test_command": f"{sys.executable} -m pytest -q"}, env={},
                             overrides_source="bench")
    retries: list[Event] = []
    task = Task(text=TASK, scope=Scope(root=str(repo)), pattern=Pattern.plan_implement_review)
    t0 = time.monotonic()
    result = await Engine(repo, settings).run(
        task, plan_implement_review, subscribers=[lambda e: retries.append(e) if e.type is EventType.retry else None])
    duration = time.monotonic() - t0
    after = await asyncio.to_thread(tree_hash, repo)
    worktrees = len([ln for ln in git(repo, "worktree", "list", "--porcelain").splitlines() if ln.startswith("worktree ")])
    rec = result.record
    return Outcome(rec.status.value, rec.error, before != after, worktrees - 1, duration, len(retries),
                   sum(float(e.data.get("delay_s") or 0) for e in retries), rec.usage.total_tokens)


# --------------------------------------------------------------------------- the whole bench


async def bench(args: argparse.Namespace, base: Path) -> int:
    rng = random.Random(args.seed)
    injected: collections.Counter[str] = collections.Counter()
    models: dict[str, list[dict[str, Any]]] = {}
    for i in range(args.runs):
        for role, replies in answers().items():
            models[f"{role}-{i}"] = with_faults(replies, rng, args.fault_rate, injected)
    server = ScriptedLLM({"models": models})
    slots = asyncio.Semaphore(args.concurrency)
    done = 0

    async def guarded(i: int) -> Outcome:
        nonlocal done
        async with slots:
            out = await one_run(i, base / "repos", url, stream=i % 2 == 1)
        done += 1
        if done % 20 == 0 or done == args.runs:
            print(f"  {done}/{args.runs} runs done", file=sys.stderr, flush=True)
        return out

    t0 = time.monotonic()
    with server as url:
        outcomes = await asyncio.gather(*(guarded(i) for i in range(args.runs)))
    wall = time.monotonic() - t0

    faulted = [r for r in server.requests if (r.outcome or "").startswith("fault:") or r.outcome == "server-stopped"]
    resent_tokens = sum(wire.tokens(len(wire.prompt_text(r.body))) for r in faulted if isinstance(r.body, dict))
    ok = [o for o in outcomes if o.status == RunStatus.succeeded.value]
    failed = [o for o in outcomes if o.status != RunStatus.succeeded.value]
    reasons = collections.Counter((o.error or o.status)[:160] for o in failed)
    temp_left = sorted(p.name for p in (base / "tmp").iterdir())
    clean = [o for o in ok if o.retries == 0]
    with_retries = [o for o in ok if o.retries > 0]

    def mean(xs: list[float]) -> float:
        return sum(xs) / len(xs) if xs else 0.0

    print(f"runs: {len(outcomes)} (fault rate {args.fault_rate:.0%} per model answer, seed {args.seed}, "
          f"concurrency {args.concurrency}, wall {wall:.1f}s)")
    print(f"faults injected: {sum(injected.values())} ("
          + ", ".join(f"{k} {injected[k]}" for k, _ in FAULTS) + ")")
    print(f"succeeded: {len(ok)} ({len(ok) / len(outcomes):.1%})")
    print(f"failed cleanly: {len(failed)}")
    for reason, n in reasons.most_common():
        print(f"  {n} × {reason}")
    print(f"user trees changed: {sum(o.tree_changed for o in outcomes)}")
    print(f"worktrees left: {sum(o.worktrees_left for o in outcomes)}; temp folders left: {len(temp_left)}"
          + (f" {temp_left[:5]}" if temp_left else ""))
    print(f"recovery: {sum(o.retries for o in outcomes)} retries, {sum(o.retry_wait_s for o in outcomes):.1f}s "
          f"waiting in total; {len(faulted)} failed requests re-sent ~{resent_tokens} prompt tokens "
          f"({resent_tokens / max(1, sum(o.tokens for o in outcomes)):.1%} of the {sum(o.tokens for o in outcomes)} "
          f"tokens the runs used)")
    print(f"run time: {mean([o.duration_s for o in clean]):.2f}s mean without a retry ({len(clean)} runs), "
          f"{mean([o.duration_s for o in with_retries]):.2f}s with retries ({len(with_retries)} runs)")
    bad = sum(o.tree_changed for o in outcomes) + sum(o.worktrees_left for o in outcomes) + len(temp_left)
    return 1 if bad else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--fault-rate", type=float, default=0.3)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    for name in [n for n in os.environ if n.startswith(("OPENAI_", "BATON_"))]:
        del os.environ[name]  # the bench's own endpoint and key only
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # the tiny project's tests need no plugin
    base = Path(tempfile.mkdtemp(prefix="baton-bench-faults-"))
    (base / "tmp").mkdir()
    tempfile.tempdir = str(base / "tmp")  # sandboxes go here: anything left shows
    try:
        return asyncio.run(bench(args, base))
    finally:
        tempfile.tempdir = None
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
