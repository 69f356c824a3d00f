"""Size limits on a change: 10,000 files or a 100 MB line are refused with a clear error to the
model, nothing lands in the sandbox, and a run whose tests wrote too many files fails before any
artifact of the change is written or the reviewer is asked."""

from __future__ import annotations

from pathlib import Path

import pytest
from pipeline_helpers import (
    CODER,
    PLANNER,
    REVIEWER,
    baton,
    call,
    clean_env,
    leftovers,
    make_repo,
    only_run,
    planner_replies,
    reply,
    run_args,
    run_dir,
    submit,
    tree_state,
)

from baton.pipelines.edits.limits import ChangeLimits
from baton.pipelines.edits.tools import edit_tools
from baton.pipelines.llm.scripted import ScriptedLLM
from baton.pipelines.models import RunStatus
from baton.pipelines.sandbox import Sandbox
from baton.pipelines.tools import ToolError


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


async def test_a_ten_thousand_file_patch_is_refused_and_nothing_lands(repo: Path) -> None:
    patch = "*** Begin Patch\n" + "".join(f"*** Add File: gen/f{i}.py\n+X = {i}\n" for i in range(10_000)) + "*** End Patch\n"
    before = tree_state(repo)
    async with Sandbox.create(repo) as sb:
        tools = {t.name: t for t in edit_tools(sb, test_command=None, test_timeout_s=60)}
        with pytest.raises(ToolError) as caught:
            await tools["apply_patch"].handler({"patch": patch})
        assert str(caught.value) == ("this edit touches 10000 files; at most 2000 are allowed (max_change_files). "
                                     "Make a smaller change, e.g. one module at a time")
        assert (await sb.changeset()).is_empty() and not (sb.path / "gen").exists()
    assert tree_state(repo) == before


async def test_a_100_mb_line_is_refused_without_being_written(repo: Path) -> None:
    before = tree_state(repo)
    async with Sandbox.create(repo) as sb:
        tools = {t.name: t for t in edit_tools(sb, test_command=None, test_timeout_s=60)}
        with pytest.raises(ToolError, match=r"^big.txt: this edit would make it 100,000,000 bytes or more; at most "
                                            r"4,000,000 are allowed per file \(max_change_file_bytes\)"):
            await tools["write_file"].handler({"path": "big.txt", "content": "a" * 100_000_000})
        assert not (sb.path / "big.txt").exists()
    assert tree_state(repo) == before


def test_limits_count_renames_twice_and_multibyte_text_in_bytes() -> None:
    from baton.pipelines.edits.limits import ChangeTooLarge
    from baton.pipelines.models import ChangeSet, Edit, EditKind

    limits = ChangeLimits(max_files=1, max_file_bytes=10)
    rename = ChangeSet(edits=[Edit(path="a.py", kind=EditKind.rename, old_text="x", new_text="x", new_path="b.py")])
    with pytest.raises(ChangeTooLarge, match="touches 2 files; at most 1"):
        limits.check(rename)
    ChangeLimits(max_files=2, max_file_bytes=10).check(rename)
    with pytest.raises(ChangeTooLarge, match="12 bytes"):
        limits.check(ChangeSet(edits=[Edit(path="a.py", kind=EditKind.create, new_text="é" * 6)]))


CONFTEST = ("*** Begin Patch\n*** Add File: tests/conftest.py\n+import pathlib\n+for i in range(60):\n"
            "+    pathlib.Path(f'gen_{i}.txt').write_text('x')\n*** End Patch\n")


def test_a_run_whose_tests_write_too_many_files_fails_before_recording_the_change(repo: Path, tmp_path: Path) -> None:
    (repo / "baton.toml").write_text("max_change_files = 50\n")  # not a setting that needs trust
    before = tree_state(repo)
    script = {"models": {
        PLANNER: planner_replies(),
        CODER: [reply(call("apply_patch", patch=CONFTEST)), reply(call("run_tests")), submit()],
        REVIEWER: [reply(call("read_file", path="calc/ops.py"))],
    }}
    llm = ScriptedLLM(script)
    with llm as url:
        p = baton(*run_args(repo, url), env=clean_env(tmp_path / "tmp"))
    assert p.returncode == 1, p.stdout + p.stderr
    rec = only_run(repo)
    assert rec.status is RunStatus.failed
    assert rec.error == ("the implementer's change touches 61 files; at most 50 are allowed (max_change_files). "
                         "Make a smaller change, e.g. one module at a time")
    assert not any((run_dir(repo, rec) / name).exists() for name in ("changes.diff", "changes.patch", "changes.json"))
    assert [r.model for r in llm.requests].count(REVIEWER) == 0
    assert tree_state(repo) == before and leftovers(tmp_path / "tmp") == []
