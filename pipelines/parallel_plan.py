"""The module list of a parallel run: validated before anything runs, ordered for the merge.

Checks, each with an error naming the module and what to change: every module path exists and
lies in the run's scope; write sets stay inside the workspace and name no protected or secret
file; dependencies name known modules and form no cycle; write sets do not overlap. Overlap is
not fatal: `serialise_overlaps` makes the later module depend on the earlier, so it runs on top
of the earlier one's merged result instead of beside it.

The list also travels through the plan gate as a `Plan` (one step per module: title = path,
detail = task, Files = write set, a `Depends on:` line), so the user edits it like any plan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pathspec

from .errors import BatonError
from .models import ModuleTask, Plan, PlanStep, Scope
from .workspace.paths import PROTECTED_DIRS, is_secret_name

_GLOB = re.compile(r"[*?\[]")
_DEPENDS = re.compile(r"^depends on:\s*(.*)$", re.IGNORECASE)


class ModulePlanError(BatonError, ValueError):
    """The module list cannot run as given; the message names the module and the fix."""


@dataclass(frozen=True)
class Overlap:
    first: str
    second: str
    files: tuple[str, ...]

    def describe(self) -> str:
        shown = ", ".join(self.files[:5]) + (" …" if len(self.files) > 5 else "")
        return f"modules {self.first} and {self.second} may both write {shown}"


def normalise(modules: list[ModuleTask], scope: Scope, files: list[str]) -> list[ModuleTask]:
    """Check paths and fill default write sets; `files` are the workspace's files (root-relative)."""
    root = Path(scope.root)
    out: list[ModuleTask] = []
    seen: set[str] = set()
    for m in modules:
        path = _clean(m.path, f"module {m.path!r}")
        if not (root / path).exists() and path not in files:
            raise ModulePlanError(f"module {path}: no such file or folder in the workspace")
        if scope.path and path != scope.path and not path.startswith(scope.path + "/"):
            raise ModulePlanError(f"module {path}: outside the run's scope {scope.path}")
        if path in seen:
            raise ModulePlanError(f"module {path} is listed twice; merge the two tasks into one")
        seen.add(path)
        if not m.task.strip():
            raise ModulePlanError(f"module {path}: its task is empty; say what to do there")
        write_set = [_clean(w, f"module {path}: write set entry {w!r}") for w in m.write_set]
        if not write_set:
            write_set = [path] if (root / path).is_file() else [f"{path}/**"]
        for w in write_set:
            top = w.split("/")[0]
            if top in PROTECTED_DIRS or is_secret_name(w.rstrip("*/") or w, ()):
                raise ModulePlanError(f"module {path}: write set entry {w!r} names a protected or secret path")
        out.append(m.model_copy(update={"path": path, "task": m.task.strip(), "write_set": write_set,
                                        "depends_on": [_clean(d, f"module {path}: dependency {d!r}")
                                                       for d in m.depends_on]}))
    known = {m.path for m in out}
    for m in out:
        for d in m.depends_on:
            if d not in known:
                raise ModulePlanError(f"module {m.path} depends on {d}, which is not a module of this run "
                                      f"(modules: {', '.join(sorted(known))})")
            if d == m.path:
                raise ModulePlanError(f"module {m.path} depends on itself")
    merge_order(out)  # raises on a cycle
    return out


def write_spec(m: ModuleTask) -> pathspec.PathSpec:
    return pathspec.GitIgnoreSpec.from_lines([_as_pattern(w) for w in m.write_set])


def may_write(m: ModuleTask, rel: str) -> bool:
    return write_spec(m).match_file(rel)


def overlaps(modules: list[ModuleTask], files: list[str]) -> list[Overlap]:
    """Pairs whose write sets share a file: an existing file both match, or a literal path of one
    that the other's globs match."""
    specs = [write_spec(m) for m in modules]
    found: list[Overlap] = []
    for i, a in enumerate(modules):
        for j in range(i + 1, len(modules)):
            b = modules[j]
            shared = {f for f in files if specs[i].match_file(f) and specs[j].match_file(f)}
            shared |= {w for w in a.write_set if not _GLOB.search(w) and specs[j].match_file(w)}
            shared |= {w for w in b.write_set if not _GLOB.search(w) and specs[i].match_file(w)}
            shared |= _nested_prefixes(a.write_set, b.write_set)
            if shared:
                found.append(Overlap(a.path, b.path, tuple(sorted(shared))))
    return found


def serialise_overlaps(modules: list[ModuleTask], found: list[Overlap]) -> list[ModuleTask]:
    """The later module of each overlapping pair depends on the earlier one (list order)."""
    extra: dict[str, set[str]] = {}
    for o in found:
        extra.setdefault(o.second, set()).add(o.first)
    return [m.model_copy(update={"depends_on": sorted(set(m.depends_on) | extra.get(m.path, set()))})
            for m in modules]


def merge_order(modules: list[ModuleTask]) -> list[ModuleTask]:
    """Dependencies first; otherwise the list's own order (deterministic: no timing decides)."""
    by_path = {m.path: m for m in modules}
    state: dict[str, int] = {}
    out: list[ModuleTask] = []

    def visit(m: ModuleTask, chain: list[str]) -> None:
        if state.get(m.path) == 2:
            return
        if state.get(m.path) == 1:
            cycle = chain[chain.index(m.path):] + [m.path]
            raise ModulePlanError("the module dependencies form a cycle: " + " → ".join(cycle)
                                  + "; remove one of these dependencies")
        state[m.path] = 1
        for d in m.depends_on:
            if d in by_path:
                visit(by_path[d], chain + [m.path])
        state[m.path] = 2
        out.append(m)

    for m in modules:
        visit(m, [])
    return out


# ------------------------------------------------------------------ the plan gate


def modules_to_plan(summary: str, modules: list[ModuleTask]) -> Plan:
    steps = []
    for m in modules:
        detail = m.task + (f"\nDepends on: {', '.join(m.depends_on)}" if m.depends_on else "")
        steps.append(PlanStep(title=m.path, detail=detail, files=list(m.write_set)))
    files = sorted({w for m in modules for w in m.write_set})
    return Plan(summary=summary, steps=steps, files_to_touch=files,
                test_strategy="Each module's tests in its own sandbox; the test command after every merge.")


def plan_to_modules(plan: Plan) -> list[ModuleTask]:
    out = []
    for step in plan.steps:
        task_lines, deps = [], []
        for line in step.detail.splitlines():
            m = _DEPENDS.match(line.strip())
            if m:
                deps += [d.strip().strip("`") for d in m.group(1).split(",") if d.strip()]
            else:
                task_lines.append(line)
        out.append(ModuleTask(path=step.title.strip().strip("`"), task="\n".join(task_lines).strip(),
                              write_set=list(step.files), depends_on=deps))
    return out


# ------------------------------------------------------------------ helpers


def _clean(path: str, what: str) -> str:
    p = path.replace("\\", "/").strip()
    parts = [x for x in p.split("/") if x not in ("", ".")]
    if p.startswith("/") or (len(p) > 1 and p[1] == ":") or ".." in parts or not parts:
        raise ModulePlanError(f"{what}: must be a path relative to the workspace root, inside it")
    return "/".join(parts)


def _as_pattern(w: str) -> str:
    return "/" + w if not w.startswith("/") else w  # anchored at the root, like a write-set entry means


def _nested_prefixes(a: list[str], b: list[str]) -> set[str]:
    """Folder globs where one lies inside the other ('pkg/**' and 'pkg/sub/**') share future files."""
    out: set[str] = set()
    for x in a:
        for y in b:
            px, py = _literal_prefix(x), _literal_prefix(y)
            if px is None or py is None:
                continue
            if px == py or px.startswith(py + "/") or py.startswith(px + "/"):
                out.add(max(px, py, key=len) + "/**")
    return out


def _literal_prefix(w: str) -> str | None:
    """'pkg/a/**' → 'pkg/a'; a literal file or a glob with wildcards before the end → None."""
    if w.endswith("/**") and not _GLOB.search(w[:-3]):
        return w[:-3]
    return None
