"""Edit accuracy on real commits: per class of model mistake, how many patches apply exactly,
are refused, or apply wrongly — for Baton, OpenAI Agents SDK's apply_diff and aider, side by side.

    python benchmarks/bench_edit_accuracy.py [--no-peers] [--show-wrong N] [--class TEXT]

The corpus (benchmarks/edit_corpus/corpus.json) holds Python files before and after real
commits of pluggy, toolz and tomli (ids and licenses inside). Each commit is rendered as a
canonical apply_patch and SEARCH/REPLACE patch, then perturbed the way models err
(edit_variants.py); every variant is labelled with the file it must produce, or "must refuse"
when its intent is ambiguous. A refusal of a must-refuse variant is correct; applying it is
wrong. Peers run in their own venv (benchmarks/.venv-peers, made on first use with
`pip install openai-agents aider-chat`; never a project dependency) through edit_peers.py.
Not a test: it prints figures and the goals next to them.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from edit_variants import Variant, apply_patch_variants, search_replace_variants  # noqa: E402

from baton.pipelines.edits import EDIT_ERRORS, MemorySource, changeset_from_patch  # noqa: E402

HERE = Path(__file__).resolve().parent
PEERS_VENV = HERE / ".venv-peers"
PEERS = {"apply_patch": "agents", "search_replace": "aider"}
PEER_NAMES = {"agents": "Agents SDK apply_diff", "aider": "aider editblock"}


def load_variants(only: str | None) -> list[Variant]:
    corpus = json.loads((HERE / "edit_corpus" / "corpus.json").read_text(encoding="utf-8"))
    out: list[Variant] = []
    for it in corpus["items"]:
        if not it["before"].endswith("\n") or not it["after"].endswith("\n") or "\r" in it["before"] + it["after"]:
            continue
        for gen in (apply_patch_variants, search_replace_variants):
            out.extend(v for v in gen(it["id"], it["path"], it["before"], it["after"]) if not only or only in v.cls)
    return out


def baton_apply(v: Variant) -> str | None:
    try:
        cs = changeset_from_patch(v.patch, MemorySource({v.path: v.before}))
    except EDIT_ERRORS:
        return None
    if [e.path for e in cs.edits] not in ([v.path], []) or any(e.new_path for e in cs.edits):
        return f"(changed other files: {[e.path for e in cs.edits]})"
    return cs.edits[0].new_text if cs.edits else v.before


def peers_venv() -> Path | None:
    py = PEERS_VENV / "bin" / "python"
    if not py.exists():
        print(f"creating {PEERS_VENV} (pip install openai-agents aider-chat) ...", file=sys.stderr)
        made = subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], capture_output=True, text=True)
        if made.returncode == 0:
            subprocess.run([str(py), "-m", "pip", "install", "-q", "openai-agents", "aider-chat"], capture_output=True,
                           text=True)
    probe = "import importlib.util, aider.coders.editblock_coder; assert importlib.util.find_spec('agents')"
    ok = subprocess.run([str(py), "-c", probe], capture_output=True, text=True) if py.exists() else None
    if ok is None or ok.returncode != 0:
        print("peers unavailable (could not install openai-agents / aider-chat); Baton only", file=sys.stderr)
        return None
    return py


def run_peers(py: Path, variants: list[Variant]) -> list[dict[str, str | None]]:
    tasks = [{"fmt": v.fmt, "path": v.path, "before": v.before, "patch": v.patch} for v in variants]
    out = subprocess.run([str(py), str(HERE / "edit_peers.py")], input=json.dumps(tasks), capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout)


def outcome(result: str | None, expected: str | None) -> str:
    if result is None:
        return "refused"
    return "exact" if result == expected else "wrong"


def table(variants: list[Variant], results: dict[str, list[str | None]], tools: list[str]) -> dict[str, dict]:
    """Counts per (format, class, tool): exact / refused / wrong; prints them."""
    counts: dict[tuple[str, str], dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(int)))
    for i, v in enumerate(variants):
        for tool in tools:
            r = results[tool][i]
            if r == "n/a":
                continue
            counts[(v.fmt, v.cls)][tool][outcome(r, v.expected)] += 1
            counts[(v.fmt, v.cls)][tool]["n"] += 1
    summary: dict[str, dict] = {}
    for fmt in ("apply_patch", "search_replace"):
        shown = [t for t in tools if t == "baton" or PEERS.get(fmt) == t]
        head = f"{'class':<48}{'n':>5}" + "".join(f"  {PEER_NAMES.get(t, 'Baton'):>26}" for t in shown)
        print(f"\n== {fmt} ==   (each cell: applied exactly / refused / applied wrongly)\n{head}")
        for (f, cls), per in sorted(counts.items(), key=lambda kv: _order(kv[0][1])):
            if f != fmt:
                continue
            n = per["baton"]["n"]
            cells = "".join(f"  {_cell(per[t]):>26}" for t in shown)
            print(f"{cls:<48}{n:>5}{cells}")
        summary[fmt] = {t: _totals(counts, fmt, t) for t in shown}
    return summary


def _order(cls: str) -> tuple[int, str]:
    return (0 if cls == "canonical" else 2 if "must refuse" in cls else 1, cls)


def _cell(c: dict[str, int]) -> str:
    return f"{c['exact']} / {c['refused']} / {c['wrong']}"


def _totals(counts: dict, fmt: str, tool: str) -> dict[str, int]:
    t: dict[str, int] = defaultdict(int)
    for (f, cls), per in counts.items():
        if f != fmt:
            continue
        c = per[tool]
        kind = "canonical" if cls == "canonical" else "refuse" if "must refuse" in cls else "perturbed"
        for k in ("exact", "refused", "wrong", "n"):
            t[f"{kind}_{k}"] += c[k]
        t["wrong"] += c["wrong"]
    return dict(t)


def goals(summary: dict[str, dict], labelled_refuse: dict[str, int]) -> None:
    print("\n== goals (printed, not asserted) ==")
    for fmt, per in summary.items():
        for tool, t in per.items():
            name = PEER_NAMES.get(tool, "Baton")
            canon = f"{t.get('canonical_exact', 0)}/{t.get('canonical_n', 0)}"
            pert_n = t.get("perturbed_n", 0)
            pert = t.get("perturbed_exact", 0) / pert_n if pert_n else 0.0
            print(f"{fmt:<15}{name:<24} wrong applies: {t.get('wrong', 0):>4} (goal 0)   canonical exact: {canon:>9} "
                  f"(goal all)   unambiguous perturbed exact: {pert:6.1%} of {pert_n} (goal >= 97%)")
    print(f"variants labelled 'must refuse' (ambiguous or not in the file): {labelled_refuse}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-peers", action="store_true", help="run Baton only")
    ap.add_argument("--show-wrong", type=int, default=0, metavar="N", help="print the first N wrong results of Baton")
    ap.add_argument("--class", dest="only", default=None, help="only classes whose name contains TEXT")
    args = ap.parse_args()
    corpus = json.loads((HERE / "edit_corpus" / "corpus.json").read_text(encoding="utf-8"))
    variants = load_variants(args.only)
    print(f"corpus: {len(corpus['items'])} commits from " + ", ".join(
        f"{s['repo']} ({s['items']}, {s['license']})" for s in corpus["sources"]) + f"; {len(variants)} patches")
    started = time.perf_counter()
    results: dict[str, list[str | None]] = {"baton": [baton_apply(v) for v in variants]}
    baton_s = time.perf_counter() - started
    tools = ["baton"]
    py = None if args.no_peers else peers_venv()
    if py is not None:
        peer = run_peers(py, variants)
        for name in ("agents", "aider"):
            results[name] = [r[name] for r in peer]
            tools.append(name)
    summary = table(variants, results, tools)
    refuse_labels: dict[str, int] = defaultdict(int)
    for v in variants:
        if v.expected is None:
            refuse_labels[v.cls] += 1
    goals(summary, dict(refuse_labels))
    print(f"Baton: {len(variants)} patches parsed, matched and applied in memory in {baton_s:.1f} s")
    shown = 0
    for v, r in zip(variants, results["baton"], strict=True):
        if shown < args.show_wrong and outcome(r, v.expected) == "wrong":
            shown += 1
            print(f"\n--- WRONG: {v.fmt} / {v.cls} / {v.item}\n{v.patch[:1500]}")


if __name__ == "__main__":
    main()
