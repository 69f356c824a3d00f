"""Apply a batch of edits to a large real repository and print times and peak memory.

    python benchmarks/bench_edits.py [PATH] [--files N] [--edits-per-file K]

Without PATH it uses the Django 5.0 sdist that bench_workspace.py fetches into
benchmarks/.cache/. The repository is copied to a temp folder first (nothing is written to
PATH). For N Python files it builds K edits each — SEARCH/REPLACE blocks taken from the
files' own lines — in three forms, and times: parsing + matching into a ChangeSet
(apply_patch form, SEARCH/REPLACE form), the all-or-nothing apply of the whole batch, the
rejection of a batch whose last edit does not match (nothing written), and rendering the
unified diff. Not a test; figures depend on the machine.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from baton.pipelines.edits.apply import apply_changeset  # noqa: E402
from baton.pipelines.edits.diff import diff_stats, render_unified_diff  # noqa: E402
from baton.pipelines.edits.errors import EditError  # noqa: E402
from baton.pipelines.edits.formats import changeset_from_patch  # noqa: E402
from baton.pipelines.edits.render import render_apply_patch  # noqa: E402
from baton.pipelines.edits.source import DirectorySource  # noqa: E402
from baton.pipelines.models import ChangeSet, Edit, EditKind  # noqa: E402


def pick_edits(root: Path, n_files: int, per_file: int, seed: int = 7) -> list[tuple[str, str, str]]:
    """(path, search, replace) triples: unique 3-line blocks of real files, each given a comment."""
    rng = random.Random(seed)
    files = sorted(p for p in root.rglob("*.py") if p.stat().st_size > 2000)
    rng.shuffle(files)
    out: list[tuple[str, str, str]] = []
    for path in files:
        if len({p for p, _, _ in out}) >= n_files:
            break
        text = path.read_text(encoding="utf-8", errors="replace")
        lines = text.splitlines(keepends=True)
        chosen: list[int] = []
        for start in rng.sample(range(0, max(1, len(lines) - 3)), k=min(len(lines) - 3, 60)):
            block = "".join(lines[start:start + 3])
            if block.strip() and text.count(block) == 1 and all(abs(start - c) > 4 for c in chosen):
                chosen.append(start)
            if len(chosen) == per_file:
                break
        rel = path.relative_to(root).as_posix()
        for start in sorted(chosen):
            block = "".join(lines[start:start + 3])
            indent = block[: len(block) - len(block.lstrip())].split("\n")[-1]
            out.append((rel, block, f"{indent}# edited by bench_edits\n{block}"))
    return out


def search_replace_text(edits: list[tuple[str, str, str]]) -> str:
    parts = []
    for path, search, replace in edits:
        parts.append(f"{path}\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n")
    return "\n".join(parts)


def timed(fn, repeat: int = 3):  # type: ignore[no-untyped-def]
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", nargs="?", help="repository to copy and edit (default: Django 5.0 sdist)")
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--edits-per-file", type=int, default=3)
    args = ap.parse_args()
    if args.path:
        src = Path(args.path).resolve()
    else:
        from bench_workspace import fetch_django, prepare_cache

        prepare_cache()
        src = fetch_django()
    with tempfile.TemporaryDirectory(prefix="baton-bench-edits-") as tmp:
        root = Path(tmp) / "repo"
        shutil.copytree(src, root, ignore=shutil.ignore_patterns(".git", "__pycache__"))
        edits = pick_edits(root, args.files, args.edits_per_file)
        files = len({p for p, _, _ in edits})
        print(f"repository: {src}\nbatch: {len(edits)} edits in {files} files\n")
        source = DirectorySource(root)
        sr_text = search_replace_text(edits)

        t_sr, cs = timed(lambda: changeset_from_patch(sr_text, source))
        patch_text = render_apply_patch(cs)
        t_ap, cs2 = timed(lambda: changeset_from_patch(patch_text, source))
        assert cs2 == cs, "apply_patch and SEARCH/REPLACE forms must give the same ChangeSet"
        t_diff, diff = timed(lambda: render_unified_diff(cs))
        stats = diff_stats(cs)

        broken = ChangeSet(edits=[*cs.edits[:-1], Edit(path=cs.edits[-1].path, kind=EditKind.update,
                                                        old_text="not the file's text\n", new_text="x\n")])
        before = {e.path: (root / e.path).read_bytes() for e in cs.edits}
        t0 = time.perf_counter()
        try:
            apply_changeset(root, broken)
            raise SystemExit("a batch with a stale file was applied; that is a bug")
        except EditError:
            pass
        t_reject = time.perf_counter() - t0
        assert all((root / p).read_bytes() == b for p, b in before.items()), "a rejected batch wrote files"

        t0 = time.perf_counter()
        apply_changeset(root, cs)
        t_apply = time.perf_counter() - t0
        # Memory measured apart (tracemalloc slows everything it watches): parsing the batch again.
        tracemalloc.start()
        changeset_from_patch(sr_text, DirectorySource(root))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        import resource

        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        assert all(open(root / e.path, encoding="utf-8", newline="").read() == e.new_text for e in cs.edits)

        rows = [
            ("SEARCH/REPLACE text → ChangeSet (parse + match)", t_sr),
            ("apply_patch text → ChangeSet (parse + match)", t_ap),
            ("unified diff of the batch", t_diff),
            ("all-or-nothing apply, refused (last file stale; nothing written)", t_reject),
            ("all-or-nothing apply of the batch", t_apply),
        ]
        for label, secs in rows:
            print(f"{label:<66} {secs * 1000:9.1f} ms")
        print(f"{'diff':<66} {stats.summary() if hasattr(stats, 'summary') else stats}")
        print(f"{'diff size':<66} {len(diff):9,d} chars")
        print(f"{'peak traced Python memory while parsing the batch':<66} {peak / 2**20:9.1f} MiB")
        print(f"{'peak RSS of the process':<66} {rss:9.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
