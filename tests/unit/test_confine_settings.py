"""The confinement settings from the user's side: `sandbox`, `sandbox_network` and `test_env`
come from the user (environment, flags), never from the repository; "none" warns every run;
no sandbox on the machine stops the run before any model call with what to install."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from pipeline_helpers import (
    baton,
    clean_env,
    happy_script,
    leftovers,
    make_repo,
    only_run,
    run_args,
    run_dir,
    tree_state,
)

from baton.pipelines.config import ConfigError, load_settings
from baton.pipelines.confine import Confinement, Layout, bwrap_args, sandbox_exec_profile
from baton.pipelines.llm.scripted import ScriptedLLM


@pytest.mark.parametrize("toml, key", [
    ('sandbox = "none"\n', "sandbox"),
    ("sandbox_network = true\n", "sandbox_network"),
    ('test-env = ["AWS_SECRET_ACCESS_KEY"]\n', "test_env"),
])
def test_a_repository_cannot_loosen_the_sandbox_untrusted(tmp_path: Path, toml: str, key: str) -> None:
    """Until the user trusts the workspace (trust.py), the repository's confinement settings stop the run."""
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "baton.toml").write_text(toml)
    env = {"HOME": str(tmp_path / "home")}
    with pytest.raises(ConfigError, match=rf"baton.toml: `{key}` comes from the workspace, which you have not trusted"):
        load_settings(ws, env=env)
    (ws / "baton.toml").unlink()
    (ws / "pyproject.toml").write_text("[tool.baton]\n" + toml)
    with pytest.raises(ConfigError, match=rf"\[tool.baton\]: `{key}` comes from the workspace"):
        load_settings(ws, env=env)


def test_the_user_sets_them_from_the_environment_and_flags(tmp_path: Path) -> None:
    s = load_settings(tmp_path, env={"BATON_SANDBOX": "none", "BATON_SANDBOX_NETWORK": "true",
                                     "BATON_TEST_ENV": "DATABASE_URL, CI"})
    assert (s.sandbox, s.sandbox_network, s.test_env) == ("none", True, ["DATABASE_URL", "CI"])
    assert load_settings(tmp_path, {"sandbox": "bwrap"}, env={}).sandbox == "bwrap"
    assert load_settings(tmp_path, env={}).sandbox == "auto"
    with pytest.raises(ConfigError, match="environment: `sandbox`"):
        load_settings(tmp_path, env={"BATON_SANDBOX": "docker"})
    with pytest.raises(ConfigError, match="OPENAI_API_KEY is Baton's API key"):
        load_settings(tmp_path, env={"BATON_TEST_ENV": "OPENAI_API_KEY"})
    with pytest.raises(ConfigError, match="is not an environment variable name"):
        load_settings(tmp_path, {"test_env": ["A B"]}, env={})


def test_the_environment_is_an_allowlist_plus_test_env(tmp_path: Path) -> None:
    layout = Layout(cwd=tmp_path, writable=(tmp_path,), home=tmp_path / "h", tmp=tmp_path / "t")
    source = {"PATH": "/usr/bin", "LANG": "C.UTF-8", "OPENAI_API_KEY": "sk-x", "AWS_SECRET_ACCESS_KEY": "a",
              "DATABASE_URL": "postgres://db", "HOME": "/root", "PYTHONPATH": "/elsewhere", "GIT_DIR": "/r/.git"}
    env = Confinement("bwrap", "bwrap", test_env=("DATABASE_URL", "OPENAI_API_KEY")).environment(
        layout, {"PYTHONPATH": "/ws/src"}, source)
    assert env == {"PATH": "/usr/bin", "LANG": "C.UTF-8", "DATABASE_URL": "postgres://db", "HOME": str(tmp_path / "h"),
                   "TMPDIR": str(tmp_path / "t"), "TMP": str(tmp_path / "t"), "TEMP": str(tmp_path / "t"),
                   "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": "/ws/src"}


def test_the_macos_profile_confines_like_bwrap(tmp_path: Path) -> None:
    """sandbox-exec cannot run here; its profile is checked for the same promises as bwrap's options."""
    ws, repo = tmp_path / "ws", tmp_path / "repo"
    layout = Layout(cwd=ws, writable=(ws,), home=tmp_path / "h", tmp=tmp_path / "t", hidden=(repo,),
                    reexposed=(repo / ".venv",), masked=(ws / ".git",))
    profile = sandbox_exec_profile(layout, network=False)
    assert profile.index("(deny file-write*)") < profile.index(f'(allow file-write* (subpath "{ws}")')
    assert f'(deny file-read* (subpath "{repo}"))' in profile
    assert profile.index(f'(deny file-read* (subpath "{repo}"))') < profile.index(f'(subpath "{repo / ".venv"}")')
    assert f'(deny file-read* file-write* (literal "{ws / ".git"}"))' in profile and "(deny network-outbound (remote ip))" in profile
    assert "network-outbound" not in sandbox_exec_profile(layout, network=True)
    args = bwrap_args(layout, network=False)
    assert "--share-net" not in args and args[:3] == ["--die-with-parent", "--new-session", "--unshare-all"]
    assert "--share-net" in bwrap_args(layout, network=True)


# --------------------------------------------------------------------------- whole runs


def test_sandbox_none_from_the_user_warns_on_every_run(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    env = clean_env(tmp_path / "tmp", BATON_SANDBOX="none")
    with ScriptedLLM(happy_script()) as url:
        p = baton(*run_args(repo, url), env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    assert 'warning: sandbox = "none": model-written code' in p.stderr
    rec = only_run(repo)
    trace = (run_dir(repo, rec) / "trace.jsonl").read_text()
    warnings = [json.loads(line) for line in trace.splitlines() if '"warning":true' in line.replace(" ", "")]
    assert len(warnings) == 1 and "runs unconfined" in warnings[0]["message"]


def test_no_sandbox_on_the_machine_stops_the_run_before_any_model_call(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    before = tree_state(repo)
    bin_dir = tmp_path / "bin"  # git, but no bwrap
    bin_dir.mkdir()
    (bin_dir / "git").symlink_to(shutil.which("git"))
    env = clean_env(tmp_path / "tmp", PATH=str(bin_dir))
    server = ScriptedLLM(happy_script())
    with server as url:
        p = baton(*run_args(repo, url), env=env)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "install bubblewrap" in p.stdout + p.stderr and 'sandbox = "none"' in p.stdout + p.stderr
    assert server.requests == []
    after = tree_state(repo)
    assert {k: v for k, v in after["files"].items() if not k.startswith(".baton/")} == before["files"]
    assert leftovers(tmp_path / "tmp") == []
