#!/usr/bin/env python3
"""Workspace benchmark: listing, search and the repo map on a large repository, next to aider's RepoMap.

    python benchmarks/bench_workspace.py [PATH] [--tokens 2048] [--task TEXT] [--no-aider]

Without PATH, Django 5.0's sdist is fetched from PyPI with `pip download` into
benchmarks/.cache/ (ignored by git) and unpacked there. Aider runs in its own venv under
benchmarks/.cache/aider-venv (created here; never a project dependency), in a subprocess,
on the same files, task and token budget. Not a test: figures vary with the machine.

Nothing in PATH is changed except that aider writes its tag cache (.aider.tags.cache.v*)
there; the benchmark deletes it again when it created it. "Touching one file" bumps its
mtime (content unchanged) and restores it afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
DJANGO = "5.0"
DJANGO_TASK = ("Fix QuerySet.bulk_create in django/db/models/query.py so that update_conflicts works "
               "with fields that set db_column")
AIDER_VENV = CACHE / "aider-venv"
INSTALL_TIMEOUT_S = 1800
AIDER_TIMEOUT_S = 1800

sys.path.insert(0, str(HERE.parent))  # run from a checkout without installing, if need be


def prepare_cache() -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    ignore = CACHE / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# benchmark downloads and venvs: never committed\n*\n")


def fetch_django() -> Path:
    target = CACHE / f"Django-{DJANGO}"
    if (target / "django").is_dir():
        return target
    sdist = CACHE / "sdist"
    print(f"fetching Django {DJANGO} sdist from PyPI into {sdist} ...", flush=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                    f"django=={DJANGO}", "-d", str(sdist), "-q"], check=True)
    tarball = next(p for p in sdist.iterdir() if p.name.lower().startswith("django-") and p.name.endswith(".tar.gz"))
    with tarfile.open(tarball) as tar:
        tar.extractall(CACHE, filter="data")
    return target


@dataclass(frozen=True)
class Timing:
    """Median wall and CPU seconds. CPU time (all threads of this process, not child
    processes) moves far less than wall time when the machine is shared and busy."""

    wall: float
    cpu: float

    def __str__(self) -> str:
        return f"{fmt(self.wall):>8} {fmt(self.cpu):>8}"


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[Timing, Any]:
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        result = fn()
        cpus.append(time.process_time() - c)
        walls.append(time.perf_counter() - t)
    return Timing(statistics.median(walls), statistics.median(cpus)), result


def fmt(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


# --------------------------------------------------------------------------- Baton


def bench_baton(root: Path, task: str, tokens: int, touch_rel: str) -> dict[str, Any]:
    from baton.pipelines.workspace.repomap import RepoMapper, code_idents
    from baton.pipelines.workspace.tools import read_tools
    from baton.pipelines.workspace.view import OverlayDoc, WorkspaceView

    out: dict[str, Any] = {}
    view = WorkspaceView(root)
    out["listing_s"], files = timed(lambda: WorkspaceView(root).files(whole_root=True), repeat=3)
    files = view.files(whole_root=True)
    out["files"], out["skipped"], out["source"] = len(files), len(view.skipped(whole_root=True)), view.source
    out["python_files"] = sum(f.endswith(".py") for f in files)
    out["listing_warm_s"], _ = timed(lambda: view.files(whole_root=True), repeat=5)

    search = {t.name: t for t in read_tools(view)}["search"]
    out["search_s"], hits = timed(lambda: asyncio.run(search.handler({"pattern": r"def get_\w+\("})), repeat=3)
    out["search_head"] = hits.splitlines()[0]

    def cold(**kw: Any) -> tuple[Timing, str, RepoMapper]:
        mapper = RepoMapper(**kw)
        timing, text = timed(lambda: mapper.build(view, task, tokens))
        return timing, text, mapper

    colds = [cold(parallel_min_files=10**9) for _ in range(3)]
    out["cold_s"] = Timing(statistics.median(c[0].wall for c in colds), statistics.median(c[0].cpu for c in colds))
    text, mapper = colds[-1][1], colds[-1][2]
    out["cold_stats"] = dict(mapper.last_stats)
    out["map_chars"], out["map_text"] = len(text), text
    out["cold_pool_s"], pooled_text, pool = cold(parallel_min_files=1, workers=min(4, os.cpu_count() or 1))
    out["pool_workers"] = pool.workers
    out["pool_same"] = pooled_text == text

    out["warm_s"], warm_text = timed(lambda: mapper.build(view, task, tokens), repeat=5)
    out["warm_same"] = warm_text == text

    full = root / touch_rel
    st = full.stat()
    try:
        def touched() -> str:
            os.utime(full, ns=(st.st_atime_ns, time.time_ns()))
            return mapper.build(view, task, tokens)
        out["touch_s"], _ = timed(touched, repeat=5)
    finally:
        os.utime(full, ns=(st.st_atime_ns, st.st_mtime_ns))

    original = full.read_text()
    edited = WorkspaceView(root)
    edited.files(whole_root=True)
    versions = iter(range(1, 100))

    def edit() -> str:  # an unsaved editor change: new text, new version, nothing written
        version = next(versions)
        edited.set_overlay(touch_rel, OverlayDoc(original + f"\n\ndef added_by_bench_{version}():\n    pass\n", version))
        return mapper.build(edited, task, tokens)
    out["edit_s"], edit_text = timed(edit, repeat=5)
    out["edit_stats"] = dict(mapper.last_stats)
    out["edit_visible"] = "added_by_bench_5" in edit_text or touch_rel not in text

    with tempfile.TemporaryDirectory() as tmp:
        first = RepoMapper(Path(tmp), parallel_min_files=10**9)
        out["cold_disk_write_s"], _ = timed(lambda: first.build(view, task, tokens))
        first.close()
        second = RepoMapper(Path(tmp))
        out["new_process_disk_s"], _ = timed(lambda: second.build(view, task, tokens))
        out["new_process_stats"] = dict(second.last_stats)
        second.close()

    tracemalloc.start()
    RepoMapper(parallel_min_files=10**9).build(WorkspaceView(root), task, tokens)
    out["traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    out["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["idents"] = sorted(code_idents(task))
    out["mentioned"] = [f for f in files if f in task]
    return out


# --------------------------------------------------------------------------- aider

AIDER_SCRIPT = textwrap.dedent('''
    import json, os, resource, sys, time, warnings
    warnings.simplefilter("ignore")
    with open(sys.argv[1]) as fh:
        args = json.load(fh)
    from aider.io import InputOutput
    from aider.repomap import RepoMap

    class CharsModel:
        """Stand-in for aider.models.Model: chars/4 tokens, as Baton counts (no tokenizer download)."""
        name = "chars-per-4"
        def token_count(self, text):
            return len(text) / 4

    root = args["root"]
    io = InputOutput(yes=True, pretty=False)
    others = [os.path.join(root, f) for f in args["files"]]

    def build(rm):
        t, c = time.perf_counter(), time.process_time()
        text = rm.get_repo_map([], others, mentioned_fnames=set(args["mentioned"]),
                               mentioned_idents=set(args["idents"]), force_refresh=True)
        return (time.perf_counter() - t, time.process_time() - c), text or ""

    def median(pairs):
        return [sorted(p[0] for p in pairs)[len(pairs) // 2], sorted(p[1] for p in pairs)[len(pairs) // 2]]

    rm = RepoMap(map_tokens=args["tokens"], root=root, main_model=CharsModel(), io=io)
    cold, text = build(rm)
    warm = median([build(rm)[0] for _ in range(3)])
    touch_path = os.path.join(root, args["touch"])
    st = os.stat(touch_path)
    touches = []
    try:
        for _ in range(3):
            os.utime(touch_path, ns=(st.st_atime_ns, time.time_ns()))
            touches.append(build(rm)[0])
    finally:
        os.utime(touch_path, ns=(st.st_atime_ns, st.st_mtime_ns))
    import aider
    print(json.dumps({"cold_s": list(cold), "warm_s": warm, "touch_s": median(touches), "map_chars": len(text),
                      "map_head": text[:1500], "version": aider.__version__,
                      "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
''')


def aider_python() -> Path | None:
    py = AIDER_VENV / "bin" / "python"
    if py.exists() and subprocess.run([str(py), "-c", "import aider.repomap"], capture_output=True).returncode == 0:
        return py
    print(f"installing aider-chat into {AIDER_VENV} (once; a few minutes) ...", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(AIDER_VENV)], check=True, capture_output=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True,
                       capture_output=True, timeout=INSTALL_TIMEOUT_S)
        done = subprocess.run([str(py), "-m", "pip", "install", "-q", "aider-chat"], capture_output=True,
                              text=True, timeout=INSTALL_TIMEOUT_S)
    except (subprocess.SubprocessError, OSError) as e:
        print(f"aider could not be installed ({e}); showing Baton's figures only")
        return None
    if done.returncode != 0:
        print("aider could not be installed; showing Baton's figures only:\n" + done.stderr[-2000:])
        return None
    return py


def bench_aider(root: Path, files: list[str], task_info: dict[str, Any], tokens: int, touch_rel: str) -> dict[str, Any] | None:
    py = aider_python()
    if py is None:
        return None
    cache_dirs_before = {p.name for p in root.glob(".aider.tags.cache.v*")}
    for name in cache_dirs_before:  # a cold run needs an empty tag cache; keep the user's aside
        shutil.move(str(root / name), str(CACHE / f"saved-{name}"))
    args = {"root": str(root), "files": files, "tokens": tokens, "touch": touch_rel,
            "mentioned": task_info["mentioned"], "idents": task_info["idents"]}
    env = {**os.environ, "AIDER_CHECK_UPDATE": "false", "AIDER_ANALYTICS": "false", "PYTHONWARNINGS": "ignore"}
    args_file = CACHE / "aider-args.json"  # thousands of paths: too long for a command line
    args_file.write_text(json.dumps(args))
    try:
        run = subprocess.run([str(py), "-c", AIDER_SCRIPT, str(args_file)], capture_output=True, text=True,
                             timeout=AIDER_TIMEOUT_S, cwd=root, env=env, stdin=subprocess.DEVNULL)
    finally:
        for p in root.glob(".aider.tags.cache.v*"):
            shutil.rmtree(p, ignore_errors=True)
        for name in cache_dirs_before:
            shutil.move(str(CACHE / f"saved-{name}"), str(root / name))
    lines = [x for x in run.stdout.splitlines() if x.startswith("{")]
    if run.returncode != 0 or not lines:
        print(f"aider's RepoMap failed (exit {run.returncode}):\n{run.stderr[-3000:]}")
        return None
    return json.loads(lines[-1])


# --------------------------------------------------------------------------- report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", nargs="?", type=Path, help="repository to measure (default: Django 5.0 sdist)")
    parser.add_argument("--tokens", type=int, default=2048, help="repo map token budget (default 2048)")
    parser.add_argument("--task", help="task text for the map (default: a Django bug fix)")
    parser.add_argument("--touch", help="file to touch for the warm-after-change figure (relative path)")
    parser.add_argument("--no-aider", action="store_true", help="skip aider")
    parser.add_argument("--show-map", action="store_true", help="print both maps' first lines")
    args = parser.parse_args()

    prepare_cache()
    root = (args.path or fetch_django()).resolve()
    if not root.is_dir():
        print(f"{root}: not a folder", file=sys.stderr)
        return 2
    task = args.task or (DJANGO_TASK if args.path is None else "Improve the error messages")
    touch = args.touch or ("django/db/models/query.py" if args.path is None else None)

    from baton.pipelines.workspace.view import WorkspaceView
    files = WorkspaceView(root).files(whole_root=True)
    if touch is None:
        touch = next((f for f in files if f.endswith(".py")), files[0])
    print(f"repository: {root}\ntask: {task!r}\ntoken budget: {args.tokens}\n", flush=True)

    b = bench_baton(root, task, args.tokens, touch)
    print(f"files listed: {b['files']} text + {b['skipped']} skipped (binary/too large), "
          f"{b['python_files']} Python; listing via {b['source']}")
    rows = [
        ("file listing (cold, incl. binary sniff)", b["listing_s"]),
        ("file listing (cached)", b["listing_warm_s"]),
        (f"search 'def get_\\w+\\(' ({b['search_head'].split(' for ')[0]})", b["search_s"]),
        ("repo map cold (in-process scan)", b["cold_s"]),
        (f"repo map cold (process pool, {b['pool_workers']} workers)", b["cold_pool_s"]),
        ("repo map cold, writing the disk cache", b["cold_disk_write_s"]),
        ("repo map in a new process, from the disk cache", b["new_process_disk_s"]),
        ("repo map warm", b["warm_s"]),
        ("repo map warm after touching one file", b["touch_s"]),
        ("repo map warm after editing one file (overlay)", b["edit_s"]),
    ]
    print(f"\nBaton{'':<50} {'wall':>8} {'cpu':>8}")
    for name, timing in rows:
        print(f"  {name:<52} {timing}")
    print(f"  {'cold map: files read / scanned / outlined':<52} "
          f"{b['cold_stats']['read']:.0f} / {b['cold_stats']['scanned']:.0f} / {b['cold_stats']['outlined']:.0f}")
    print(f"  {'map size':<52} {b['map_chars']:>7} chars (~{b['map_chars'] // 4} tokens)")
    print(f"  {'peak traced Python memory, one cold map':<52} {b['traced_peak_mb']:>7.1f} MB")
    print(f"  {'peak RSS of this process so far':<52} {b['maxrss_mb']:>7.1f} MB")
    print(f"  (process-pool CPU time excludes its workers; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs)")
    checks = [k for k in ("pool_same", "warm_same", "edit_visible") if not b[k]]
    if checks:
        print(f"  WARNING: consistency checks failed: {checks}")

    a = None if args.no_aider else bench_aider(root, files, b, args.tokens, touch)
    if a:
        print(f"\nBaton vs aider {a['version']} RepoMap (same files, task, {args.tokens}-token budget, chars/4 tokens)")
        print(f"  {'':<30} {'Baton wall':>10} {'aider wall':>10} {'ratio':>6}   {'Baton cpu':>10} {'aider cpu':>10} {'ratio':>6}")
        for name, key in (("cold map", "cold_s"), ("warm map", "warm_s"), ("warm after touching one file", "touch_s")):
            bt, (aw, ac) = b[key], a[key]
            print(f"  {name:<30} {fmt(bt.wall):>10} {fmt(aw):>10} {aw / bt.wall:>5.0f}x   "
                  f"{fmt(bt.cpu):>10} {fmt(ac):>10} {ac / max(bt.cpu, 1e-9):>5.0f}x")
        print(f"  {'map size (chars)':<30} {b['map_chars']:>10} {a['map_chars']:>10}")
        print(f"  {'peak RSS (MB)':<30} {b['maxrss_mb']:>10.0f} {a['maxrss_mb']:>10.0f}")
    if args.show_map:
        print("\n--- Baton map (head) ---\n" + b["map_text"][:1500])
        if a:
            print("\n--- aider map (head) ---\n" + a["map_head"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
