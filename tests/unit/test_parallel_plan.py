"""The module list is checked before anything runs: each bad list gets an error naming the module."""

from __future__ import annotations

from pathlib import Path

import pytest

from baton.pipelines.models import ModuleTask, Scope
from baton.pipelines.parallel_plan import (
    ModulePlanError,
    merge_order,
    modules_to_plan,
    normalise,
    overlaps,
    plan_to_modules,
    serialise_overlaps,
)

FILES = ["pkg/a/x.py", "pkg/a/y.py", "pkg/b/z.py", "pkg/c.py", "README.md"]


@pytest.fixture
def scope(tmp_path: Path) -> Scope:
    for f in FILES:
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text("x\n")
    return Scope(root=str(tmp_path))


def m(path: str, *write: str, deps: tuple[str, ...] = ()) -> ModuleTask:
    return ModuleTask(path=path, task=f"work on {path}", write_set=list(write), depends_on=list(deps))


def test_default_write_sets_are_the_module_itself(scope: Scope) -> None:
    out = normalise([m("pkg/a"), m("pkg/c.py")], scope, FILES)
    assert [x.write_set for x in out] == [["pkg/a/**"], ["pkg/c.py"]]
    assert overlaps(out, FILES) == []


@pytest.mark.parametrize(("modules", "message"), [
    ([m("pkg/nope")], "module pkg/nope: no such file or folder"),
    ([m("../etc")], "must be a path relative to the workspace root"),
    ([m("pkg/a", ".git/config")], "names a protected or secret path"),
    ([m("pkg/a", ".env")], "names a protected or secret path"),
    ([m("pkg/a"), m("pkg/a")], "module pkg/a is listed twice"),
    ([m("pkg/a", deps=("pkg/zzz",))], "depends on pkg/zzz, which is not a module of this run"),
    ([m("pkg/a", deps=("pkg/c.py",)), m("pkg/c.py", deps=("pkg/a",))], "cycle: pkg/a → pkg/c.py → pkg/a"),
])
def test_bad_module_lists_are_refused(scope: Scope, modules: list[ModuleTask], message: str) -> None:
    with pytest.raises(ModulePlanError, match=message.replace("(", r"\(").replace("/", "/")):
        normalise(modules, scope, FILES)


def test_module_outside_the_scope_is_refused(scope: Scope) -> None:
    narrow = scope.model_copy(update={"path": "pkg/a"})
    with pytest.raises(ModulePlanError, match="module pkg/b: outside the run's scope pkg/a"):
        normalise([m("pkg/b")], narrow, FILES)


def test_overlaps_are_found_and_serialised(scope: Scope) -> None:
    mods = normalise([m("pkg/a", "pkg/a/**", "README.md"), m("pkg/b", "pkg/b/**", "README.md"),
                      m("pkg/c.py", "pkg/**")], scope, FILES)
    found = overlaps(mods, FILES)
    pairs = {(o.first, o.second): o.files for o in found}
    assert pairs[("pkg/a", "pkg/b")] == ("README.md",)
    assert "pkg/a/x.py" in pairs[("pkg/a", "pkg/c.py")]
    serial = serialise_overlaps(mods, found)
    assert [x.depends_on for x in serial] == [[], ["pkg/a"], ["pkg/a", "pkg/b"]]
    assert [x.path for x in merge_order(serial)] == ["pkg/a", "pkg/b", "pkg/c.py"]


def test_merge_order_puts_dependencies_first_and_keeps_list_order_otherwise(scope: Scope) -> None:
    mods = normalise([m("pkg/c.py", deps=("pkg/b",)), m("pkg/a"), m("pkg/b")], scope, FILES)
    assert [x.path for x in merge_order(mods)] == ["pkg/b", "pkg/c.py", "pkg/a"]


def test_module_list_round_trips_through_the_plan_gate(scope: Scope) -> None:
    mods = normalise([m("pkg/a"), m("pkg/c.py", "pkg/c.py", "README.md", deps=("pkg/a",))], scope, FILES)
    back = plan_to_modules(modules_to_plan("two modules", mods))
    assert back == mods
