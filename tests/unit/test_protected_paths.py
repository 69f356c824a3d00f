"""`.git` and `.baton` are refused at any depth — for the agents' tools, for `--apply` and for the
editor's edit — and a `.baton` that is a symlink or not a folder is refused before Baton writes
there. Each case checks that the user's tree, `.git` included, is byte-identical afterwards."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pipeline_helpers import (
    PROJECT,
    baton,
    clean_env,
    git,
    happy_script,
    make_repo,
    run_args,
    tree_state,
)

from baton.pipelines.edits.apply import apply_changeset
from baton.pipelines.edits.tools import edit_tools
from baton.pipelines.llm.scripted import ScriptedLLM
from baton.pipelines.models import ChangeSet, Edit, EditKind
from baton.pipelines.sandbox import Sandbox, apply_to_workspace
from baton.pipelines.store import RunStore, StoreRefused
from baton.pipelines.tools import ToolError
from baton.pipelines.workspace.paths import PathRefused, resolve_inside
from baton.pipelines.workspace.tools import read_tools
from baton.pipelines.workspace.view import WorkspaceView
from baton.server.edits import EditOptions, build_workspace_edit

NESTED = {**PROJECT, "sub/.baton/keep.txt": "nested store\n", "a/.git/config": "[core]\n", "a/readme.md": "a\n"}
BAD_PATHS = ["sub/.baton/x.txt", "a/.git/config", "a/.git/hooks/pre-commit", "deep/er/.git/HEAD"]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    r = make_repo(tmp_path / "repo", {k: v for k, v in NESTED.items() if "/.git/" not in k})
    (r / "a" / ".git").mkdir()  # a nested repository's .git (not committable: git skips it)
    (r / "a" / ".git" / "config").write_text("[core]\n")
    return r


@pytest.mark.parametrize("path", BAD_PATHS)
def test_resolve_inside_refuses_protected_folders_at_any_depth(repo: Path, path: str) -> None:
    with pytest.raises(PathRefused, match=r"is inside .*\.(git|baton)/, which agents may not read or change"):
        resolve_inside(repo, path)


def test_a_symlink_into_a_nested_git_folder_is_refused(repo: Path) -> None:
    os.symlink(repo / "a" / ".git" / "config", repo / "cfg")
    with pytest.raises(PathRefused, match=r"is a symlink into a \.git/ folder"):
        resolve_inside(repo, "cfg")


async def test_read_tools_refuse_nested_protected_folders(repo: Path) -> None:
    tools = {t.name: t for t in read_tools(WorkspaceView(repo))}
    for path in ("sub/.baton/keep.txt", "a/.git/config"):
        with pytest.raises(ToolError, match="may not read or change"):
            await tools["read_file"].handler({"path": path})
    listed = await tools["list_files"].handler({})
    assert "keep.txt" not in listed and ".git" not in listed


@pytest.mark.parametrize("path", ["sub/.baton/x.txt", "a/.git/config"])
async def test_edit_tools_refuse_nested_protected_folders(repo: Path, path: str) -> None:
    before = tree_state(repo)
    async with Sandbox.create(repo) as sb:
        tools = {t.name: t for t in edit_tools(sb, test_command=None, test_timeout_s=60)}
        with pytest.raises(ToolError, match="may not read or change"):
            await tools["write_file"].handler({"path": path, "content": "planted\n"})
        with pytest.raises(ToolError, match="may not read or change"):
            await tools["apply_patch"].handler({"patch": f"*** Begin Patch\n*** Add File: {path}\n+x\n*** End Patch\n"})
        assert (await sb.changeset()).is_empty()
    assert tree_state(repo) == before


@pytest.mark.parametrize("path", ["sub/.baton/x.txt", "a/.git/hooks/pre-commit"])
async def test_apply_refuses_nested_protected_folders_and_writes_nothing(repo: Path, path: str) -> None:
    before = tree_state(repo)
    cs = ChangeSet(edits=[Edit(path="README.md", kind=EditKind.update, old_text="calc\n", new_text="calc!\n"),
                          Edit(path=path, kind=EditKind.create, new_text="#!/bin/sh\necho owned\n")])
    with pytest.raises(PathRefused, match="may not read or change"):
        await apply_to_workspace(repo, cs)
    with pytest.raises(PathRefused):
        apply_changeset(repo, ChangeSet(edits=[Edit(path="a/readme.md", kind=EditKind.rename, old_text="a\n",
                                                    new_text="a\n", new_path="sub/.baton/readme.md")]))
    assert tree_state(repo) == before


@pytest.mark.parametrize("path", ["sub/.baton/x.txt", "a/.git/config", "../outside.txt"])
def test_the_editor_edit_is_never_built_for_protected_paths(repo: Path, path: str) -> None:
    cs = ChangeSet(edits=[Edit(path=path, kind=EditKind.create, new_text="x\n")])
    with pytest.raises(PathRefused):
        build_workspace_edit(cs, repo, {}, EditOptions())


# --------------------------------------------------------------------------- the store's own folder


def test_a_baton_symlink_is_refused_and_nothing_is_written_through_it(tmp_path: Path) -> None:
    ws, outside = tmp_path / "ws", tmp_path / "outside"
    ws.mkdir()
    outside.mkdir()
    os.symlink(outside, ws / ".baton")
    with pytest.raises(StoreRefused, match=r"^\.baton is a symlink; .*Remove it \(`rm \.baton`\)"):
        RunStore(ws).ensure()
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize("make", ["file", "runs-link", "db-link", "gitignore-link", "cache-link"])
def test_a_baton_that_is_not_a_plain_folder_is_refused(tmp_path: Path, make: str) -> None:
    ws, outside = tmp_path / "ws", tmp_path / "outside"
    ws.mkdir()
    outside.mkdir()
    if make == "file":
        (ws / ".baton").write_text("not a folder\n")
    else:
        (ws / ".baton").mkdir()
        name = {"runs-link": "runs", "db-link": "runs.sqlite", "gitignore-link": ".gitignore", "cache-link": "cache"}[make]
        os.symlink(outside / name, ws / ".baton" / name)
    with pytest.raises(StoreRefused, match=r"is (a symlink|not a folder)"):
        RunStore(ws).ensure()
    assert list(outside.iterdir()) == []


def test_baton_run_with_a_committed_baton_symlink_stops_before_any_request(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    repo = make_repo(tmp_path / "repo")
    os.symlink("../outside", repo / ".baton")
    git(repo, "add", ".baton")
    git(repo, "commit", "-q", "-m", "a store link")
    before = tree_state(repo)
    llm = ScriptedLLM(happy_script())
    with llm as url:
        p = baton(*run_args(repo, url), env=clean_env(tmp_path / "tmp"))
    assert p.returncode == 2, p.stdout + p.stderr
    assert llm.requests == []
    assert ".baton is a symlink" in p.stderr and "rm .baton" in p.stderr
    assert list(outside.iterdir()) == [] and tree_state(repo) == before
