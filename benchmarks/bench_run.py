"""A zero-latency `baton run`, its wall time by phase, against its floor.

    python benchmarks/bench_run.py [--repeat 3] [--large PATH --large-test-command CMD] [--no-example]

The model is the scripted OpenAI-compatible server in this process (answers at once), so what
is left is Baton's own cost plus the tests. The floor is what no orchestration can avoid:
starting the interpreter (`python -c pass`) plus one run of the test command. Phases come
from the run's trace (timestamps of run_started, the first step, run_finished) and the
process's wall time measured here:

- start-up: process start → run_started (interpreter, imports, settings, store)
- before the first model call: run_started → first llm_call started (listing, repo map)
- tests: every test run (the implementer's run_tests and the submit's gate)
- model calls: the scripted model's answers as the client saw them (HTTP + SDK)
- rest of the run: steps, sandbox set-up and clean-up, artifacts
- exit: run_finished → the process has exited

On the bundled example it replays the demo session (`baton demo`'s project and script). With
`--large PATH` (a git checkout, e.g. sympy) it runs a short generic script there: the planner
plans at once, the implementer adds one file and runs the tests, the reviewer approves; give a
quick `--large-test-command` (the floor uses the same command). Its first run is cold (it builds
the repo map's disk cache and the kept snapshot of HEAD); the table is the median of the others.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from baton.pipelines.demo import DEMO_TASK, ROLES, _copy_project
from baton.pipelines.llm.scripted import ScriptedLLM

BATON = str(Path(sys.executable).with_name("baton"))
DEMO = Path(__file__).resolve().parents[1] / "pipelines" / "demo"


def ts(event: dict) -> float:
    return datetime.fromisoformat(event["ts"].replace("Z", "+00:00")).timestamp()


def floor(cwd: Path, test_command: str) -> tuple[float, float]:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    start = time.perf_counter() - t0
    t0 = time.perf_counter()
    subprocess.run(test_command, shell=True, cwd=cwd, capture_output=True)
    return start, time.perf_counter() - t0


def one_run(root: Path, script: dict | Path, task: str, test_command: str | None) -> dict[str, float]:
    args = [BATON, "run", task, "-w", str(root), "-q", "--planner-model", ROLES["planner"],
            "--implementer-model", ROLES["implementer"], "--reviewer-model", ROLES["reviewer"]]
    if test_command:
        args += ["--test-command", test_command]
    with ScriptedLLM(script) as url:
        t0 = time.time()
        proc = subprocess.run([*args, "--base-url", url], capture_output=True, text=True,
                              env={**_env(), "OPENAI_API_KEY": "bench-no-key"})
        t_exit = time.time()
    if proc.returncode != 0:
        raise SystemExit(f"the run failed:\n{proc.stdout}\n{proc.stderr}")
    run_dir = max((root / ".baton" / "runs").iterdir(), key=lambda d: d.stat().st_mtime)
    events = [json.loads(line) for line in (run_dir / "trace.jsonl").read_text().splitlines()]
    started = ts(next(e for e in events if e["type"] == "run_started"))
    finished = ts(next(e for e in events if e["type"] == "run_finished"))
    llm = [e for e in events if e["type"] == "llm_call"]
    first_llm = min(ts(e) - e["data"].get("duration_s", 0) for e in llm)
    tool_tests = sum(e["data"].get("duration_s", 0) for e in events
                     if e["type"] == "tool_call" and e["data"].get("name") == "run_tests")
    gate = [e for e in events if e["type"] == "log" and e["data"].get("milestone") == "tests"]
    reused = any("not run again" in e["message"] for e in events if e["type"] == "log")
    tests_report = json.loads((run_dir / "tests.json").read_text())
    gate_tests = 0.0 if reused else tests_report.get("duration_s", 0.0) * len(gate)
    model = sum(e["data"].get("duration_s", 0) for e in llm)
    wall = t_exit - t0
    tests = tool_tests + gate_tests
    return {"wall": wall, "start-up": started - t0, "before the first model call": first_llm - started,
            "tests": tests, "model calls": model,
            "rest of the run": (finished - started) - (first_llm - started) - tests - model,
            "exit": t_exit - finished, "test runs": (1 if tool_tests else 0) + (0 if reused else len(gate))}


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "BATON_"))}


def generic_script(new_file: str) -> dict:
    plan = {"summary": "Add a note file.", "steps": [{"title": "Add the note", "detail": "One new file.",
                                                      "files": [new_file]}],
            "files_to_touch": [new_file], "test_strategy": "Run the given tests."}
    patch = f"*** Begin Patch\n*** Add File: {new_file}\n+# a benchmark note\n*** End Patch\n"
    return {"models": {
        ROLES["planner"]: [{"tool_calls": [{"name": "submit_plan", "arguments": plan}]}],
        ROLES["implementer"]: [{"tool_calls": [{"name": "apply_patch", "arguments": {"patch": patch}}]},
                               {"tool_calls": [{"name": "run_tests", "arguments": {}}]},
                               {"tool_calls": [{"name": "submit_changes",
                                                "arguments": {"summary": "Added the note.", "tests_passed": True}}]}],
        ROLES["reviewer"]: [{"tool_calls": [{"name": "submit_review", "arguments": {
            "verdict": "approved", "summary": "Fine.", "findings": []}}]}],
    }}


def report(title: str, runs: list[dict[str, float]], start: float, test: float) -> None:
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    fl = start + test
    orchestration = med["wall"] - med["tests"] - med["model calls"]
    print(f"\n{title} (median of {len(runs)})")
    print("| phase | seconds |\n| --- | ---: |")
    for k in ("start-up", "before the first model call", "tests", "model calls", "rest of the run", "exit", "wall"):
        print(f"| {k} | {med[k]:.2f} |")
    print(f"| test runs per run | {med['test runs']:.0f} |")
    print(f"| floor: interpreter start {start:.2f} + one test run {test:.2f} | {fl:.2f} |")
    print(f"| wall / floor | {med['wall'] / fl:.2f}x |")
    print(f"| orchestration (wall - tests - model calls) | {orchestration:.2f} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--large", type=Path, help="a large git checkout (e.g. sympy); it is copied, never changed")
    ap.add_argument("--large-test-command", default=f"{sys.executable} -c \"print('1 passed')\"")
    ap.add_argument("--no-example", action="store_true", help="skip the bundled example (only --large)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="baton-bench-run-") as tmp:
        runs = []
        for i in range(0 if a.no_example else a.repeat):
            root = Path(tmp) / f"example-{i}"
            root.mkdir()
            _copy_project(root)
            runs.append(one_run(root, DEMO / "session.json", DEMO_TASK, None))
        if runs:
            start, test = floor(Path(tmp) / "example-0", f"{sys.executable} -m pytest -q -p no:cacheprovider")
            report("bundled example (textkit, demo session, detected pytest)", runs, start, test)
        if a.large:
            root = Path(tmp) / "large"
            subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(a.large), str(root)], check=True)
            files = len(subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True).stdout.split())
            runs = [one_run(root, generic_script(f"baton_bench_note_{i}.py"), "Add a note file.", a.large_test_command)
                    for i in range(a.repeat)]
            start, test = floor(root, a.large_test_command)
            warm = runs[1:] or runs  # the first run builds the map's cache and the kept snapshot of HEAD
            report(f"{a.large.name} ({files} files; warm runs: the map's disk cache and the kept snapshot of HEAD)",
                   warm, start, test)
            print("cold first run: " + ", ".join(f"{k} {v:.2f}" for k, v in runs[0].items()))
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
