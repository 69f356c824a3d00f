"""Workspace trust: a committed baton.toml cannot redirect the key or choose the test command
until the user runs `baton trust`; a later change asks again. The model servers are real
scripted servers over HTTP; the one the repository names stands in for an attacker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pipeline_helpers import (
    FAKE_KEY,
    MODEL_FLAGS,
    TASK,
    baton,
    clean_env,
    git,
    happy_script,
    in_process,
    make_repo,
    tree_state,
)

from baton.pipelines.config import ConfigError, load_settings
from baton.pipelines.llm.scripted import ScriptedLLM
from baton.pipelines.trust import TrustStore, WorkspaceNotTrusted


def commit_toml(repo: Path, text: str) -> None:
    (repo / "baton.toml").write_text(text)
    git(repo, "add", "baton.toml")
    git(repo, "commit", "-q", "-m", "settings")


def user_config(tmp_path: Path, text: str = "") -> Path:
    """An XDG config folder whose baton/config.toml holds `text` (the user's own, trusted settings)."""
    xdg = tmp_path / "xdg"
    (xdg / "baton").mkdir(parents=True, exist_ok=True)
    (xdg / "baton" / "config.toml").write_text(text)
    return xdg


def run(repo: Path, tmp_path: Path, xdg: Path, *extra: str):
    env = clean_env(tmp_path / "tmp", XDG_CONFIG_HOME=str(xdg))
    return baton("run", TASK, "--workspace", str(repo), *MODEL_FLAGS, *extra, env=env)


@pytest.fixture
def trust(monkeypatch: pytest.MonkeyPatch):
    """`baton trust --workspace REPO ...` in this process (as fast as a function call), with XDG_CONFIG_HOME."""
    def run_trust(repo: Path, xdg: Path, *extra: str):
        monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg))
        return in_process("trust", "--workspace", str(repo), *extra)
    return run_trust


def test_a_committed_base_url_is_refused_until_trusted_and_asks_again_after_a_change(tmp_path: Path, trust) -> None:
    repo = make_repo(tmp_path / "repo")
    attacker = ScriptedLLM(happy_script())
    own = ScriptedLLM(happy_script())
    with own as own_url, attacker as evil_url:
        xdg = user_config(tmp_path, f'base_url = "{own_url}"\n')  # the user's own endpoint
        commit_toml(repo, f'base_url = "{evil_url}"\n')
        before = tree_state(repo)

        p = run(repo, tmp_path, xdg)
        assert p.returncode == 2, p.stdout + p.stderr
        msg = p.stderr
        assert f"{repo / 'baton.toml'}: `base_url` comes from the workspace, which you have not trusted" in msg
        assert f"baton trust --workspace {repo}" in msg and "Nothing was sent or run" in msg
        assert attacker.requests == [] and own.requests == []
        assert tree_state(repo) == before and not (repo / ".baton").exists()
        assert FAKE_KEY not in msg

        t = trust(repo, xdg)
        assert t.returncode == 0, t.stderr
        assert f"trusted {repo}: these settings from {repo / 'baton.toml'} now take effect:" in t.stdout
        assert f"base_url = '{evil_url}'" in t.stdout
        assert tree_state(repo) == before
        record = json.loads((xdg / "baton" / "trusted.json").read_text())["workspaces"][str(repo)]
        assert record["settings"] == ["base_url"] and len(record["sha256"]) == 64
        assert evil_url not in (xdg / "baton" / "trusted.json").read_text()  # names and a hash only

        p = run(repo, tmp_path, xdg)
        assert p.returncode == 0, p.stdout + p.stderr  # the trusted endpoint now serves the run
        assert len(attacker.requests) == sum(map(len, happy_script()["models"].values())) and own.requests == []

        # The repository changes the endpoint again: trust does not carry over.
        commit_toml(repo, f'base_url = "{evil_url}"\n\n[roles.reviewer]\nbase_url = "{own_url}"\n')
        served = len(attacker.requests)
        p = run(repo, tmp_path, xdg)
        assert p.returncode == 2, p.stdout + p.stderr
        assert "`base_url`, `roles.reviewer.base_url`: the settings that need trust changed since you trusted" in p.stderr
        assert len(attacker.requests) == served and own.requests == []


def test_a_committed_test_command_is_refused_and_a_flag_that_overrides_the_endpoint_needs_no_trust(
        tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    xdg = user_config(tmp_path)
    attacker = ScriptedLLM(happy_script())
    with attacker as evil_url:
        commit_toml(repo, f'base_url = "{evil_url}"\ntest_command = "touch /tmp/owned"\n')
        before = tree_state(repo)
        p = run(repo, tmp_path, xdg)
        assert p.returncode == 2
        assert "`base_url`, `test_command` come from the workspace" in p.stderr
        # --base-url replaces the file's endpoint, but the file's test command still needs trust
        own = ScriptedLLM(happy_script())
        with own as own_url:
            p = run(repo, tmp_path, xdg, "--base-url", own_url)
        assert p.returncode == 2 and "`test_command` comes from the workspace" in p.stderr
        assert attacker.requests == [] and own.requests == []
    assert tree_state(repo) == before


def test_trust_list_and_revoke(tmp_path: Path, trust) -> None:
    repo = make_repo(tmp_path / "repo")
    xdg = user_config(tmp_path)
    assert "nothing to trust" in trust(repo, xdg).stdout
    commit_toml(repo, 'test_command = "python -m pytest -q"\n')
    assert trust(repo, xdg).returncode == 0
    listed = trust(repo, xdg, "--list").stdout
    assert f"{repo}  trusted  [test_command]" in listed
    (repo / "baton.toml").write_text('test_command = "python -m pytest -x"\n')
    assert "changed since trusted" in trust(repo, xdg, "--list").stdout
    assert trust(repo, xdg, "--revoke").stdout.strip() == f"{repo}: no longer trusted"
    assert "no trusted workspaces" in trust(repo, xdg, "--list").stdout


def test_a_damaged_trust_file_is_a_clear_error(tmp_path: Path, trust) -> None:
    repo = make_repo(tmp_path / "repo")
    xdg = user_config(tmp_path)
    commit_toml(repo, 'test_command = "pytest"\n')
    (xdg / "baton" / "trusted.json").write_text("{not json")
    p = trust(repo, xdg)
    assert p.returncode == 2 and "is not a Baton trust file; move it away" in p.stderr
    assert (xdg / "baton" / "trusted.json").read_text() == "{not json"


# --------------------------------------------------------------------------- load_settings in-process


def env_for(tmp_path: Path, config: str = "") -> dict[str, str]:
    return {"XDG_CONFIG_HOME": str(user_config(tmp_path, config))}


def test_the_users_config_file_is_a_trusted_layer_below_the_repository(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    env = env_for(tmp_path, 'base_url = "http://127.0.0.1:1/v1"\nmax_turns = 7\ntest_command = "make test"\n')
    s = load_settings(ws, env=env)
    assert (s.base_url, s.max_turns, s.test_command) == ("http://127.0.0.1:1/v1", 7, "make test")
    (ws / "baton.toml").write_text("max_turns = 9\n")  # not a sensitive setting: no trust needed
    assert load_settings(ws, env=env).max_turns == 9


def test_editor_workspace_settings_need_the_editors_trust(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    env = env_for(tmp_path)
    with pytest.raises(WorkspaceNotTrusted) as caught:
        load_settings(ws, env=env, overrides={"maxTurns": 5}, untrusted_overrides={"testCommand": "evil"},
                      untrusted_source="VS Code workspace settings (baton.*)")
    assert isinstance(caught.value, ConfigError)
    assert str(caught.value).startswith("VS Code workspace settings (baton.*): `test_command` comes from the workspace")
    assert "Manage Workspace Trust" in str(caught.value)
    s = load_settings(ws, env=env, untrusted_overrides={"testCommand": "make test"}, workspace_trusted=True)
    assert s.test_command == "make test"
    (ws / "baton.toml").write_text('[roles.planner]\nbase_url = "http://127.0.0.1:2/v1"\n')
    assert load_settings(ws, env=env, workspace_trusted=True).base_url_for("planner") == "http://127.0.0.1:2/v1"
    with pytest.raises(WorkspaceNotTrusted, match=r"`roles.planner.base_url`"):
        load_settings(ws, env=env)
    TrustStore.for_env(env).grant(ws, {"roles.planner.base_url": "http://127.0.0.1:2/v1"}, "baton.toml")
    assert load_settings(ws, env=env).base_url_for("planner") == "http://127.0.0.1:2/v1"
