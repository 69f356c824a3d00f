"""Extract the edit corpus from local clones of real projects (run once by hand; never in CI).

    python benchmarks/edit_corpus/build_corpus.py REPO_GIT_DIR [REPO_GIT_DIR ...] [--per-repo 40]

For each repository (a git directory: a clone or a bare mirror) it walks the non-merge history
from HEAD and keeps Python files a commit modified: the file before and after the commit, when
both are UTF-8, at most MAX_BYTES, and the change is 1-4 hunks of at most MAX_CHANGED lines.
The result, corpus.json next to this script, holds only those file pairs with the repository,
commit id and license; the benchmark derives every patch from them.
"""

from __future__ import annotations

import argparse
import difflib
import json
import subprocess
from pathlib import Path

MAX_BYTES = 24_000
MAX_CHANGED = 40
HERE = Path(__file__).parent

# What each repository is, as recorded in corpus.json (name from the mirror folder or origin URL).
KNOWN = {
    "pytest-dev/pluggy": "MIT",
    "pytoolz/toolz": "BSD-3-Clause",
    "hukkin/tomli": "MIT",
}


def git(gd: Path, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", str(gd), *args], capture_output=True, text=True, check=True).stdout


def blob(gd: Path, rev: str, path: str) -> str | None:
    out = subprocess.run(["git", "--git-dir", str(gd), "show", f"{rev}:{path}"], capture_output=True, check=False)
    if out.returncode != 0 or len(out.stdout) > MAX_BYTES or b"\0" in out.stdout:
        return None
    try:
        return out.stdout.decode("utf-8")
    except UnicodeDecodeError:
        return None


def suitable(before: str, after: str) -> bool:
    a, b = before.splitlines(keepends=True), after.splitlines(keepends=True)
    groups = list(difflib.SequenceMatcher(None, a, b, autojunk=False).get_grouped_opcodes(3))
    changed = sum(max(i2 - i1, j2 - j1) for g in groups for tag, i1, i2, j1, j2 in g if tag != "equal")
    return 1 <= len(groups) <= 4 and 0 < changed <= MAX_CHANGED and before != after


def items_of(gd: Path, name: str, per_repo: int) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for commit in git(gd, "log", "--no-merges", "--format=%H", "HEAD").split():
        parents = git(gd, "rev-list", "--parents", "-n", "1", commit).split()[1:]
        if len(parents) != 1:
            continue
        for row in git(gd, "diff-tree", "-r", "--no-commit-id", "--name-status", parents[0], commit).splitlines():
            status, _, path = row.partition("\t")
            if status != "M" or not path.endswith(".py"):
                continue
            before, after = blob(gd, parents[0], path), blob(gd, commit, path)
            if before is None or after is None or not suitable(before, after):
                continue
            out.append({"id": f"{name}@{commit[:10]}:{path}", "repo": name, "commit": commit, "path": path,
                        "before": before, "after": after})
            break  # one file per commit: more commits, more variety
        if len(out) >= per_repo:
            break
    return out


def repo_name(gd: Path) -> str:
    folder = gd.parent.name if gd.name == "repo" else gd.name
    return folder.replace("+", "/").removesuffix(".git")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("git_dirs", nargs="+", type=Path)
    ap.add_argument("--per-repo", type=int, default=40)
    args = ap.parse_args()
    sources, items = [], []
    for gd in args.git_dirs:
        name = repo_name(gd)
        found = items_of(gd, name, args.per_repo)
        sources.append({"repo": name, "url": f"https://github.com/{name}", "head": git(gd, "rev-parse", "HEAD").strip(),
                        "license": KNOWN.get(name, "see the repository"), "items": len(found)})
        items.extend(found)
    doc = {"about": "Python files before and after real commits; each item names its repository and commit. The files "
                    "remain under their projects' licenses (listed per source).", "sources": sources, "items": items}
    (HERE / "corpus.json").write_text(json.dumps(doc, indent=0, ensure_ascii=False) + "\n", encoding="utf-8")
    size = (HERE / "corpus.json").stat().st_size
    print(f"{len(items)} items from {len(sources)} repositories, {size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
