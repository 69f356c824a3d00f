"""Shared pieces of the parallel-modules tests: a real git repository with one pytest file per
module, settings pointing every role at the scripted server, and per-module scripted replies
routed by the module's path (`when`), since the module agents call the same model at once."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pipeline_helpers import call, make_repo, reply

from baton.pipelines.config import Settings, load_settings

DECOMPOSER, CODER, REVIEWER = "t-decomposer", "t-coder", "t-reviewer"
NAMES = ("a", "b", "c", "d")


def module_source(name: str, value: int) -> str:
    return f'"""Module {name}."""\n\n\ndef f{name}():\n    return {value}\n'


def project(names: tuple[str, ...] = NAMES) -> dict[str, str]:
    files = {"calc/__init__.py": '"""calc."""\n', "README.md": "calc\n"}
    for i, n in enumerate(names, 1):
        files[f"calc/{n}.py"] = module_source(n, i)
        files[f"tests/test_{n}.py"] = f"from calc.{n} import f{n}\n\n\ndef test_{n}():\n    assert f{n}() == {i}\n"
    return files


def repo(tmp: Path, files: dict[str, str] | None = None) -> Path:
    return make_repo(tmp / "repo", files or project())


def settings(root: Path, url: str, **extra: Any) -> Settings:
    return load_settings(root, env={}, overrides={
        "base_url": url, "api_key": "not-a-real-key", "max_retries": 0,
        "roles": {"decomposer": {"model": DECOMPOSER}, "implementer": {"model": CODER},
                  "reviewer": {"model": REVIEWER}},
        "test_command": f"{sys.executable} -m pytest -q", "repo_map_tokens": 0, **extra})


def when(path: str) -> str:
    """The words only module `path`'s requests contain (its module_request heading)."""
    return f"# Your module: {path}"


def routed(path: str, *calls: dict[str, Any], expect: str | None = None,
           fault: dict[str, Any] | None = None) -> dict[str, Any]:
    out = reply(*calls, expect=expect, fault=fault)
    out["when"] = [when(path)]
    return out


def docstring(name: str, value: int) -> str:
    return module_source(name, value).replace("    return", f'    """Return {value}."""\n    return')


def module_replies(name: str, value: int, *, first_fault: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Write the module's file with a docstring, then submit (the gate runs the tests)."""
    path = f"calc/{name}.py"
    return [routed(path, call("write_file", path=path, content=docstring(name, value)), fault=first_fault),
            routed(path, call("submit_changes", summary=f"Docstring for f{name}.", tests_passed=True))]


def modules_arg(*names: str, **extra: Any) -> list[dict[str, Any]]:
    return [{"path": f"calc/{n}.py", "task": f"Add a docstring to f{n}.", **extra} for n in names]


def decompose(*names: str) -> dict[str, Any]:
    return reply(call("submit_modules", summary="One docstring per module.", modules=modules_arg(*names)))


def approve() -> dict[str, Any]:
    return reply(call("submit_review", verdict="approved", summary="The merged docstrings are fine.", findings=[]))
