"""The test command as an attacker writes it: a model-written conftest.py that tries to write
outside the workspace, into the user's tree and `.git/hooks`, to read `.env`, `id_rsa`, the
real HOME and Baton's key, and to reach the network. Real bubblewrap, a real git repository,
real pytest. Every attempt fails or is scrubbed, the tests fail (no pretended success), and
the user's tree with its `.git` is byte-identical afterwards."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from baton.pipelines.confine import Confinement, SandboxUnavailable, resolve_confinement_sync
from baton.pipelines.sandbox import Sandbox

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None and os.environ.get("CI") != "true",
                                reason="bubblewrap (bwrap) is not installed; .ci/run installs it")

KEY = "sk-test-confine-0123456789abcdefXYZ"
ENV_TOKEN = "envtoken-7f3a9c2e11d04b"
DOTENV_SECRET = "dotenv-value-a81c44e0f2"
SSH_LINE = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW"
HOME_KEY_LINE = "QyNTUxOQAAACBhbWVtb3J5LWhvbWUta2V5LWxpbmUtMDEyMzQ1Njc4OWFiY2RlZmdo"
PEM = f"-----BEGIN OPENSSH PRIVATE KEY-----\n{SSH_LINE}\n-----END OPENSSH PRIVATE KEY-----\n"
HOME_PEM = f"-----BEGIN OPENSSH PRIVATE KEY-----\n{HOME_KEY_LINE}\n-----END OPENSSH PRIVATE KEY-----\n"

CONFTEST = '''
import os, socket, pathlib, json

RESULTS = {}

def attempt(name, fn):
    try:
        fn()
        RESULTS[name] = "ok"
    except Exception as e:
        RESULTS[name] = "blocked: " + type(e).__name__ + ": " + str(e)
    print("ATTACK", name, RESULTS[name])

def write(path, text="pwned"):
    def go():
        p = pathlib.Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return go

def read_print(path):
    def go():
        print("LEAK", path, pathlib.Path(path).read_text())
    return go

def git_link_hook():
    text = pathlib.Path("{worktree}/.git").read_text() or "gitdir: {worktree_gitdir}"  # masked: try the known place
    link = text.split("gitdir:")[1].strip()
    common = pathlib.Path(link).parent.parent
    write(str(common / "hooks" / "pre-commit"), "#!/bin/sh\\necho owned\\n")()

def rewrite_git_link():
    pathlib.Path("{worktree}/.git").write_text("gitdir: {user_git}\\n")

def network():
    socket.create_connection(("127.0.0.1", {port}), timeout=5).close()

def key_from_env():
    print("LEAK env", os.environ["OPENAI_API_KEY"])

def token_from_env():
    print("LEAK env", os.environ["MY_SERVICE_TOKEN"])

attempt("outside", write("{outside}"))
attempt("baton_venv", write("{venv}/pwned.txt"))
attempt("user_tree", write("{user}/pwned.txt"))
attempt("user_git_hook", write("{user_git}/hooks/pre-commit", "#!/bin/sh\\necho owned\\n"))
attempt("git_link_hook", git_link_hook)
attempt("rewrite_git_link", rewrite_git_link)
attempt("read_user_env", read_print("{user}/.env"))
attempt("read_user_key", read_print("{user}/id_rsa"))
attempt("read_home_key", read_print("{home}/.ssh/id_ed25519"))
attempt("read_sandbox_env", read_print(".env"))
attempt("read_sandbox_key", read_print("id_rsa"))
attempt("network", network)
attempt("key_from_env", key_from_env)
attempt("token_from_env", token_from_env)
attempt("read_baton_environ", read_print("/proc/{baton_pid}/environ"))
pathlib.Path("attack.json").write_text(json.dumps(RESULTS))
'''

TEST_ATTACK = '''
import json, pathlib

def test_every_attack_worked():
    results = json.loads(pathlib.Path("attack.json").read_text())
    assert all(v == "ok" for v in results.values()), results
'''


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "--no-optional-locks", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
                           *args], capture_output=True, text=True, check=True).stdout


def snapshot(root: Path) -> dict[str, str]:
    """Every file under root, `.git` included, by content hash (and its mode)."""
    out = {}
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            p = Path(dirpath) / name
            out[p.relative_to(root).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest() + oct(p.stat().st_mode)
    return out


@pytest.fixture
def world(tmp_path, monkeypatch):
    """A user's repository with secrets, a home with an ssh key, Baton's key in the environment."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text(HOME_PEM)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("MY_SERVICE_TOKEN", ENV_TOKEN)
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "app.py").write_text("X = 1\n")
    (repo / "tests").mkdir()
    (repo / "tests" / "test_app.py").write_text("from app import X\n\ndef test_x():\n    assert X == 1\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "init")
    (repo / ".env").write_text(f"SERVICE_PASSWORD={DOTENV_SECRET}\nDEBUG=1\n")  # untracked: copied to the sandbox
    (repo / "id_rsa").write_text(PEM)
    return repo, home, tmp, home / "outside.txt"


def fill(template: str, **values: object) -> str:
    for name, value in values.items():
        template = template.replace("{" + name + "}", str(value))
    return template


def _listener() -> socket.socket:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    return s


async def _attack(repo: Path, home: Path, outside: Path, confinement: Confinement | None, venv: Path = Path(sys.prefix)):
    listener = _listener()
    try:
        async with Sandbox.create(repo, confinement=confinement) as sb:
            worktree = sb._worktree
            assert worktree is not None
            (sb.path / "conftest.py").write_text(fill(
                CONFTEST, worktree=worktree, venv=venv,
                worktree_gitdir=(worktree / ".git").read_text().split("gitdir:")[1].strip(), user=repo,
                user_git=repo / ".git", home=home, outside=outside, port=listener.getsockname()[1], baton_pid=os.getpid()))
            (sb.path / "tests" / "test_attack.py").write_text(TEST_ATTACK)
            report = await sb.run_tests(f"{sys.executable} -m pytest -q -s", 120)
            link_after = (worktree / ".git").read_text()
            changes = await sb.changeset()
            return report, link_after, changes, sb.path
    finally:
        listener.close()


async def test_a_hostile_conftest_reaches_nothing_and_its_tests_fail(world):
    repo, home, tmp, outside = world
    before = snapshot(repo)
    report, link_after, changes, sb_path = await _attack(repo, home, outside, None)
    out = report.output_tail

    for name in ("outside", "baton_venv", "user_tree", "user_git_hook", "git_link_hook", "rewrite_git_link", "read_user_env",
                 "read_user_key", "read_home_key", "network", "key_from_env", "token_from_env",
                 "read_baton_environ"):
        assert f"ATTACK {name} blocked" in out, (name, out)
    # the sandbox's own copies can be read (the project may need them), but never leave scrubbed
    assert "ATTACK read_sandbox_env ok" in out and "ATTACK read_sandbox_key ok" in out
    assert "[REDACTED]" in out
    for secret in (KEY, ENV_TOKEN, DOTENV_SECRET, SSH_LINE, HOME_KEY_LINE):
        assert secret not in out
    assert "Read-only file system" in out and ("Connection refused" in out or "unreachable" in out)
    # no pretended success: the attack failed, so do the tests
    assert not report.ok and report.failed == 1 and "tests/test_attack.py::test_every_attack_worked" in report.failing_tests
    # the model reads workspace-relative paths, never the sandbox's absolute ones
    assert str(sb_path) not in out and str(tmp) not in out
    assert link_after.startswith("gitdir: ") and str(repo / ".git" / "worktrees") in link_after
    assert {e.path for e in changes.edits} == {"conftest.py", "tests/test_attack.py", "attack.json"}
    assert not outside.exists() and not (Path(sys.prefix) / "pwned.txt").exists()
    assert snapshot(repo) == before
    assert list(tmp.iterdir()) == []


async def test_unconfined_on_request_the_same_conftest_gets_through_but_secrets_stay_scrubbed(world):
    """sandbox = "none" (the user's explicit choice): the env is still an allowlist, output still
    scrubbed, and Baton puts the worktree's `.git` link back before its own git calls."""
    repo, home, tmp, outside = world
    report, link_after, changes, _ = await _attack(repo, home, outside, Confinement("none"), venv=home / "venv")
    out = report.output_tail
    assert "ATTACK user_tree ok" in out and "ATTACK read_home_key ok" in out  # why "none" warns every run
    assert "ATTACK key_from_env blocked: KeyError" in out and "ATTACK token_from_env blocked: KeyError" in out
    for secret in (KEY, ENV_TOKEN, DOTENV_SECRET, SSH_LINE, HOME_KEY_LINE):
        assert secret not in out
    assert str(repo / ".git" / "worktrees") in link_after  # restored after the rewrite
    assert {e.path for e in changes.edits} == {"conftest.py", "tests/test_attack.py", "attack.json"}


async def test_a_project_venv_inside_the_hidden_repository_stays_usable(world):
    """The user's repository is hidden, but its virtualenv (the interpreter the tests need) is put back."""
    repo, *_ = world
    venv = repo / ".venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (venv / "bin" / "tool").write_text("#!/bin/sh\necho venv-tool-ran\n")
    (venv / "bin" / "tool").chmod(0o755)
    async with Sandbox.create(repo) as sb:
        report = await sb.run_tests(f"{venv}/bin/tool && cat {repo}/app.py", 60)
    assert "venv-tool-ran" in report.output_tail
    assert "X = 1" not in report.output_tail and not report.ok  # the repository itself stays hidden


async def test_git_variables_from_a_hook_do_not_reach_the_users_index(world, monkeypatch):
    """Run from a git hook, GIT_DIR / GIT_INDEX_FILE / GIT_WORK_TREE point at the user's repository:
    Baton's git calls on the sandbox ignore them."""
    repo, *_ = world
    before = snapshot(repo)
    monkeypatch.setenv("GIT_DIR", str(repo / ".git"))
    monkeypatch.setenv("GIT_INDEX_FILE", str(repo / ".git" / "index"))
    monkeypatch.setenv("GIT_WORK_TREE", str(repo))
    async with Sandbox.create(repo) as sb:
        (sb.path / "new.py").write_text("Y = 2\n")
        (sb.path / "app.py").write_text("X = 3\n")
        changes = await sb.changeset()
        report = await sb.run_tests("git status --porcelain; echo GIT_DIR=${GIT_DIR:-unset}", 60)
    assert sorted(e.path for e in changes.edits) == ["app.py", "new.py"]
    assert "GIT_DIR=unset" in report.output_tail
    assert snapshot(repo) == before


def test_missing_bwrap_stops_with_what_to_install(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    with pytest.raises(SandboxUnavailable, match=r"install bubblewrap.*apt-get install bubblewrap.*sandbox = \"none\""):
        resolve_confinement_sync("auto", path=str(empty))
    with pytest.raises(SandboxUnavailable, match="macOS only"):
        resolve_confinement_sync("sandbox-exec", path=str(empty))
    assert resolve_confinement_sync("none", path=str(empty)).warning is not None


async def test_a_sandbox_without_any_confiner_refuses_to_run_tests(world, monkeypatch):
    repo, home, tmp, _ = world
    only_git = tmp.parent / "only-git"
    only_git.mkdir()
    (only_git / "git").symlink_to(shutil.which("git"))
    monkeypatch.setenv("PATH", str(only_git))  # bubblewrap missing; git still there
    async with Sandbox.create(repo) as sb:
        with pytest.raises(SandboxUnavailable):
            await asyncio.wait_for(sb.run_tests("true", 30), 60)


async def test_the_private_home_has_the_users_git_identity_and_nothing_else(world):
    """Tests that commit need user.name/email; the rest of ~/.gitconfig (credentials) stays out."""
    repo, home, *_ = world
    (home / ".gitconfig").write_text('[user]\n\tname = Ada \\"Tester\\"\n\temail = ada@example.invalid\n'
                                     '[url "https://tok-3f9a1c77e2@example.invalid/"]\n\tinsteadOf = https://x/\n')
    async with Sandbox.create(repo) as sb:
        report = await sb.run_tests("cd $TMPDIR && git config --global --list; echo HOME=$HOME", 60)
    out = report.output_tail
    assert 'user.name=Ada "Tester"' in out and "user.email=ada@example.invalid" in out
    assert "tok-3f9a1c77e2" not in out and "HOME=~" in out and str(home) not in out
