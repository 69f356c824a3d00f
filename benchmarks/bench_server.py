#!/usr/bin/env python3
"""Language-server latency while runs are in flight, next to a bare pygls server.

    python benchmarks/bench_server.py [--requests 2000] [--delay 0.25] [--loads 0,1,8] [--json FILE]

The cheap request is `textDocument/codeAction` on an open document that has no findings: an
editor sends it on nearly every cursor move (VS Code does), so it is the request whose
latency a user feels, and both servers answer it from memory with the same work (parse,
dispatch, `[]`). That isolates what the benchmark is about — whether the server stays free
while runs work — from SQLite and thread hops. `baton.listRuns` (what the run picker calls:
a SQLite query per workspace folder, off the loop) is timed too, next to an executeCommand
of the bare server that returns a constant.

Load: K = 0, 1, 8 runs in flight, each in its own workspace folder (a copy of the demo
project, a git repository, with a baton.toml naming its own scripted models), each run
restarted as soon as it ends. The scripted model (`baton scripted-llm`, its own process)
answers every call after `--delay` seconds, so a run is plan → implement (apply_patch, the
test command in a git-worktree sandbox) → review, mostly waiting on the model as with a real
one but ending every second or so — far busier than real use. The edit each run sends is
declined by the benchmark's client, so the files stay as they were and the next patch applies.

Both servers run all the time and the requests alternate between them in random order, so
the bare server sees the same machine load (a 2-core VM shared with other jobs swings a lot);
the ratio of the two p99s is what says whether Baton's own design costs latency.

Also timed: how long `baton.planImplementReview` takes to answer `{runId}`; it must not wait
on any model, so it should be a few ms while each model call takes `--delay` s.
Not a test: figures depend on the machine and on what else it is doing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_lsp_client import Client, code_action_params

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEMO_PROJECT = REPO / "pipelines" / "demo" / "project"
PY = sys.executable
FAST_TESTS = f"{PY} -c \"import sys; sys.path.insert(0, '.'); from textkit import top_words; print('1 passed')\""

BARE_SERVER = '''
"""A bare pygls server: answers the same cheap request, does nothing else."""
from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer

server = LanguageServer("bare", "1")


@server.feature(lsp.TEXT_DOCUMENT_CODE_ACTION,
                lsp.CodeActionOptions(code_action_kinds=[lsp.CodeActionKind.QuickFix]))
def code_action(ls, params):
    return []


@server.command("bench.noop")
async def noop(ls, *args):
    return {"runs": []}


server.start_io()
'''

# The implementer's patch of the recorded demo session (adds top_words to textkit).
_DEMO_SESSION = json.loads((REPO / "pipelines" / "demo" / "session.json").read_text())
PATCH = next(call["arguments"]["patch"] for reply in _DEMO_SESSION["models"]["demo-coder"]
             for call in reply.get("tool_calls", []) if call["name"] == "apply_patch")

PLAN = {"summary": "Add top_words.", "steps": [{"title": "Add top_words", "files": ["textkit/stats.py"]}],
        "files_to_touch": ["textkit/stats.py", "textkit/__init__.py"]}


# --------------------------------------------------------------------------- setup


def folder_script(prefix: str, runs: int, delay: float) -> dict[str, list[dict[str, Any]]]:
    """`runs` runs' worth of replies for one folder's models, each answered after `delay` s."""
    fault = {"delay": delay} if delay > 0 else None

    def reply(name: str, args: dict[str, Any]) -> dict[str, Any]:
        r: dict[str, Any] = {"tool_calls": [{"name": name, "arguments": args}]}
        if fault:
            r["fault"] = fault
        return r

    return {
        f"{prefix}-planner": [reply("submit_plan", PLAN) for _ in range(runs)],
        f"{prefix}-coder": [r for _ in range(runs) for r in (
            reply("apply_patch", {"patch": PATCH}),
            reply("submit_changes", {"summary": "Added top_words.", "tests_passed": True}))],
        f"{prefix}-reviewer": [reply("submit_review", {"verdict": "approved", "summary": "Fine.", "findings": []})
                               for _ in range(runs)],
    }


def make_folder(dest: Path, prefix: str) -> Path:
    shutil.copytree(DEMO_PROJECT, dest, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    toml = "".join(f'[roles.{role}]\nmodel = "{prefix}-{m}"\n'
                   for role, m in (("planner", "planner"), ("implementer", "coder"), ("reviewer", "reviewer")))
    (dest / "baton.toml").write_text(toml)
    git = ["git", "-c", "user.name=b", "-c", "user.email=b@b.invalid", "-c", "commit.gpgsign=false"]
    for cmd in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "textkit"]):
        subprocess.run([*git, *cmd], cwd=dest, check=True, capture_output=True)
    return dest


def start_scripted(script_path: Path) -> tuple[subprocess.Popen[str], str]:
    """`baton scripted-llm` in its own process, so its threads do not share our GIL."""
    proc = subprocess.Popen([PY, "-m", "baton.pipelines.cli", "scripted-llm", "--script", str(script_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "http://" not in line:
        proc.kill()
        raise SystemExit(f"scripted-llm did not start: {line!r}")
    return proc, line.split(" on ", 1)[1].split()[0]


# --------------------------------------------------------------------------- measuring


async def sample(n: int, send: Callable[[], Any], gap_ms: float = 2.0) -> list[float]:
    """n requests, one at a time, at random moments (0–gap_ms apart): latency in ms each."""
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        await send()
        out.append((time.perf_counter() - t0) * 1000)
        await asyncio.sleep(random.uniform(0, gap_ms) / 1000)
    return out


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))]


def summary(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "p50": pct(values, 50), "p90": pct(values, 90), "p99": pct(values, 99),
            "max": max(values), "mean": statistics.fmean(values)}


class Load:
    """Keeps k runs in flight (one per folder), restarting each as it ends."""

    def __init__(self, client: Client, folders: list[Path]) -> None:
        self.client, self.folders = client, folders
        self.stop = asyncio.Event()
        self.start_ms: list[float] = []
        self.outcomes: dict[str, int] = {}
        self.live: dict[Path, str] = {}
        self.tasks: list[asyncio.Task[None]] = []
        self.first_finished = asyncio.Event()

    async def _driver(self, folder: Path) -> None:
        while not self.stop.is_set():
            t0 = time.perf_counter()
            answer = await self.client.execute("baton.planImplementReview",
                                               {"task": "Add top_words(text, n).", "scope": folder.as_uri()})
            self.start_ms.append((time.perf_counter() - t0) * 1000)
            run_id = answer.runId if hasattr(answer, "runId") else answer["runId"]
            self.live[folder] = run_id
            done = self.client.finished.setdefault(run_id, asyncio.Event())
            stop = asyncio.ensure_future(self.stop.wait())
            await asyncio.wait([asyncio.ensure_future(done.wait()), stop], return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if done.is_set():
                self.live.pop(folder, None)
                self.outcomes["finished"] = self.outcomes.get("finished", 0) + 1
                self.first_finished.set()

    def start(self) -> None:
        self.tasks = [asyncio.create_task(self._driver(f)) for f in self.folders]

    async def end(self) -> None:
        self.stop.set()
        await asyncio.gather(*self.tasks)
        for run_id in list(self.live.values()):
            with contextlib.suppress(Exception):
                await self.client.execute("baton.cancelRun", {"runId": run_id})
        for run_id in list(self.live.values()):
            ev = self.client.finished.setdefault(run_id, asyncio.Event())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ev.wait(), 60)
            self.outcomes["cancelled at the end"] = self.outcomes.get("cancelled at the end", 0) + 1


async def sample_pair(n: int, baton: Callable[[], Any], bare: Callable[[], Any],
                      gap_ms: float = 2.0) -> tuple[list[float], list[float]]:
    """n requests to each server, interleaved in random order, so both see the same machine load."""
    out_baton: list[float] = []
    out_bare: list[float] = []
    for _ in range(n):
        pair = [(baton, out_baton), (bare, out_bare)]
        random.shuffle(pair)
        for send, out in pair:
            t0 = time.perf_counter()
            await send()
            out.append((time.perf_counter() - t0) * 1000)
            await asyncio.sleep(random.uniform(0, gap_ms) / 1000)
    return out_baton, out_bare


async def bench(args: argparse.Namespace, tmp: Path, url: str, folders: list[Path]) -> dict[str, Any]:
    script = tmp / "bare_server.py"
    script.write_text(BARE_SERVER)
    bare = Client()
    await bare.start([PY, str(script)], [folders[0]], None)
    baton = Client(args.server_stderr)
    options = {"baseUrl": url, "apiKey": "bench-no-key", "testCommand": FAST_TESTS, "maxRetries": 0}
    await baton.start(args.server_cmd.split() if args.server_cmd else [PY, "-m", "baton.server"], folders, options)
    bare_uri = bare.open(folders[0] / "textkit" / "stats.py")
    baton_uri = baton.open(folders[0] / "textkit" / "stats.py")

    def baton_ca() -> Any:
        return baton.lc.text_document_code_action_async(code_action_params(baton_uri))

    def bare_ca() -> Any:
        return bare.lc.text_document_code_action_async(code_action_params(bare_uri))

    results: dict[str, Any] = {}
    try:
        # warm up: imports, caches, the first run's one-time costs
        warm = Load(baton, folders[:1])
        warm.start()
        await sample_pair(100, baton_ca, bare_ca)
        await load_until_one_finished(warm)
        for k in args.loads:
            load = Load(baton, folders[:k])
            load.start()
            if k:
                await asyncio.sleep(args.warmup)
            notes_before = baton.notifications
            t0 = time.perf_counter()
            ca, ca_bare = await sample_pair(args.requests, baton_ca, bare_ca)
            lr, noop = await sample_pair(args.list_requests, lambda: baton.execute("baton.listRuns", {}),
                                         lambda: bare.execute("bench.noop", {}))
            elapsed = time.perf_counter() - t0
            await load.end()
            results[str(k)] = {"codeAction": summary(ca), "bare codeAction": summary(ca_bare),
                               "listRuns": summary(lr), "bare executeCommand": summary(noop),
                               "start": summary(load.start_ms) if load.start_ms else None,
                               "runs": dict(load.outcomes),
                               "notifications_per_s": (baton.notifications - notes_before) / elapsed}
            r = results[str(k)]
            print(f"  {k} run(s) in flight: codeAction p99 Baton {r['codeAction']['p99']:.2f} ms, "
                  f"bare {r['bare codeAction']['p99']:.2f} ms; runs {dict(load.outcomes)}", flush=True)
    finally:
        await baton.stop()
        await bare.stop()
    return results


async def load_until_one_finished(load: Load) -> None:
    await load.first_finished.wait()
    await load.end()


def report(results: dict[str, Any], args: argparse.Namespace) -> None:
    head = f"{'':<24}{'p50':>8}{'p90':>8}{'p99':>8}{'max':>9}"
    print(f"\ntextDocument/codeAction latency, ms: {args.requests} requests to each server per line, interleaved, "
          f"so both see the same machine load (scripted model: {args.delay}s per call)")
    print(f"{'runs in flight':<16}{head}{'Baton p99 / bare p99':>22}")
    for k, r in results.items():
        for who, key in (("bare pygls", "bare codeAction"), ("Baton", "codeAction")):
            c = r[key]
            ratio = f"{r['codeAction']['p99'] / r['bare codeAction']['p99']:>22.2f}" if who == "Baton" else ""
            print(f"{k:<16}{who:<24}{c['p50']:>8.2f}{c['p90']:>8.2f}{c['p99']:>8.2f}{c['max']:>9.2f}{ratio}")
    print(f"\nbaton.listRuns latency, ms ({args.list_requests} requests per line; bare: an executeCommand returning a constant)")
    print(f"{'runs in flight':<16}{head}")
    for k, r in results.items():
        for who, key in (("bare pygls (bench.noop)", "bare executeCommand"), ("Baton listRuns", "listRuns")):
            c = r[key]
            print(f"{k:<16}{who:<24}{c['p50']:>8.2f}{c['p90']:>8.2f}{c['p99']:>8.2f}{c['max']:>9.2f}")
    print(f"\nbaton.planImplementReview answer ({{runId}}), ms (the model takes {args.delay * 1000:.0f} ms per call)")
    for k, r in results.items():
        if r["start"]:
            s = r["start"]
            print(f"  {k} run(s) in flight: n={s['n']}, p50 {s['p50']:.1f}, p99 {s['p99']:.1f}, max {s['max']:.1f}; "
                  f"{r['runs'].get('finished', 0)} runs finished while measuring; "
                  f"{r['notifications_per_s']:.0f} notifications/s from the server")


async def main_async(args: argparse.Namespace) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="baton-bench-server-"))
    scripted = None
    try:
        k_max = max(args.loads)
        folders = [make_folder(tmp / f"w{i}", f"w{i}") for i in range(max(k_max, 1))]
        script: dict[str, Any] = {}
        for i in range(len(folders)):
            script.update(folder_script(f"w{i}", args.runs_per_folder, args.delay))
        (tmp / "script.json").write_text(json.dumps({"models": script}))
        scripted, url = start_scripted(tmp / "script.json")
        print(f"scripted model at {url}; {len(folders)} workspace folders under {tmp}", flush=True)
        results = await bench(args, tmp, url, folders)
        report(results, args)
        if args.json:
            text = json.dumps({"results": results, "args": vars(args)}, indent=2)
            await asyncio.to_thread(Path(args.json).write_text, text)
        return 0
    finally:
        if scripted is not None:
            scripted.terminate()
            scripted.wait(10)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=2000, help="codeAction requests per scenario (default 2000)")
    p.add_argument("--list-requests", type=int, default=300, help="listRuns requests per scenario (default 300)")
    p.add_argument("--delay", type=float, default=0.25, help="scripted model latency per call, s (default 0.25)")
    p.add_argument("--loads", type=lambda s: [int(x) for x in s.split(",")], default=[0, 1, 8],
                   help="runs in flight, comma-separated (default 0,1,8)")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of load before measuring (default 2)")
    p.add_argument("--runs-per-folder", type=int, default=60, help="scripted runs per folder (default 60)")
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    p.add_argument("--keep", action="store_true", help="keep the temporary folders")
    p.add_argument("--server-cmd", metavar="CMD", help="start Baton's server with this command instead "
                   "(e.g. a wrapper that turns on asyncio's slow-callback log, to profile)")
    p.add_argument("--server-stderr", metavar="FILE", help="append the Baton server's stderr to FILE")
    args = p.parse_args()
    random.seed(1)
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
