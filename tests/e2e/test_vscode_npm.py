"""The VS Code extension's own checks, run by `pytest` so the one test command covers them.

- `npm test`: unit tests of the TypeScript logic (node:test, no VS Code download);
- `npm run lint` and `npm run check-types`: ESLint (flat config) and `tsc --strict`;
- `npm run test:integration`: the extension's launch/settings/argument code against the real
  `python -m baton.server` and the scripted model; its own skip (server not ready) becomes a
  pytest skip, and with CI=true it fails instead;
- `npm run package`: the .vsix holds the bundle, manifest, README, LICENSE, CHANGELOG and icon,
  and nothing else.

Needs Node 20 + npm; `node_modules` is installed with `npm ci` on first use. Without Node the
tests skip, saying so (with CI=true they fail).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile

import pytest
from vscode_harness import CLIENT, need

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def npm() -> str:
    path = shutil.which("npm")
    need(
        path and shutil.which("node"),
        "Node 20 and npm are needed for the VS Code extension's tests",
    )
    assert path is not None
    if not (CLIENT / "node_modules" / ".package-lock.json").exists():
        done = subprocess.run(
            [path, "ci", "--no-audit", "--no-fund"],
            cwd=CLIENT,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert done.returncode == 0, (
            f"npm ci failed in {CLIENT}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return path


def run(npm: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BATON_PYTHON": sys.executable}
    return subprocess.run(
        [npm, "run", *args], cwd=CLIENT, capture_output=True, text=True, timeout=600, env=env
    )


def explain(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout ---\n{result.stdout[-6000:]}\n--- stderr ---\n{result.stderr[-3000:]}"


def test_unit_tests_pass(npm: str) -> None:
    result = run(npm, "test")
    assert result.returncode == 0, explain(result)
    summary = dict(re.findall(r"^ℹ (\w+) (\d+)$", result.stdout, re.MULTILINE))
    assert int(summary.get("pass", 0)) > 0 and summary.get("fail") == "0", explain(result)


def test_lint_and_types_are_clean(npm: str) -> None:
    for script in ("lint", "check-types"):
        result = run(npm, script)
        assert result.returncode == 0, f"npm run {script}: {explain(result)}"


def test_integration_against_the_real_server(npm: str) -> None:
    result = run(npm, "test:integration")
    counts = {
        k: int(v)
        for k, v in re.findall(
            r"^# (pass|fail|skipped|cancelled) (\d+)$", result.stdout, re.MULTILINE
        )
    }
    assert (
        result.returncode == 0 and counts.get("fail", 0) == 0 and counts.get("cancelled", 0) == 0
    ), explain(result)
    if counts.get("pass", 0) == 0:
        reasons = sorted(set(re.findall(r"# SKIP (.+)$", result.stdout, re.MULTILINE)))
        need(
            False,
            "extension integration test skipped: " + ("; ".join(reasons) or "no reason given"),
        )


def test_package_builds_a_clean_vsix(npm: str) -> None:
    version = json.loads((CLIENT / "package.json").read_text())["version"]
    result = run(npm, "package")
    assert result.returncode == 0, explain(result)
    vsix = CLIENT / f"baton-{version}.vsix"
    with zipfile.ZipFile(vsix) as z:
        names = set(z.namelist())
        manifest = json.loads(z.read("extension/package.json"))
    for required in (
        "extension/dist/extension.js",
        "extension/package.json",
        "extension/readme.md",
        "extension/changelog.md",
        "extension/LICENSE.txt",
        "extension/images/icon.png",
    ):
        assert required in names, f"{required} missing from {vsix.name}: {sorted(names)}"
    stray = [
        n
        for n in names
        if n.startswith(
            ("extension/src/", "extension/node_modules/", "extension/test/", "extension/out/")
        )
    ]
    assert not stray, f"{vsix.name} carries sources or dependencies: {stray[:10]}"
    assert manifest["main"] == "./dist/extension.js" and manifest["version"] == version
