"""What the VS Code e2e tests drive: code-server started with the built .vsix, a browser
window on it used as a person would (Command Palette, Explorer menu, notifications), the
projects they open, and the gestures of a run. The tests and their fixtures are in
test_vscode_e2e.py."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
CLIENT = REPO / "client-vscode"
CACHE = Path(os.environ.get("BATON_E2E_CACHE", CLIENT / ".e2e"))
CI = os.environ.get("CI") == "true"
PYTHON = Path(sys.executable)
STUB = CLIENT / "test" / "fixtures" / "stub_server.py"
SCRIPT = CLIENT / "test" / "fixtures" / "scripted-pir.json"
TIMEOUT_MS = 60_000
STATS_BEFORE = "def total(values):\n    return sum(values)\n"


def need(ok: object, reason: str) -> None:
    """Skip when a prerequisite is missing, but fail under CI=true."""
    if ok:
        return
    if CI:
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


def manifest() -> dict[str, Any]:
    return json.loads((CLIENT / "package.json").read_text())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(what: str, probe: Callable[[], Any], timeout: float = TIMEOUT_MS / 1000) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def server_version() -> str:
    out = subprocess.run(
        [str(PYTHON), "-m", "baton.server", "--version"], capture_output=True, text=True, timeout=60
    )
    return out.stdout.split()[-1]


def write_script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return path


class CodeServer:
    def __init__(self, url: str, user_data: Path, process: subprocess.Popen[bytes]) -> None:
        self.url, self.user_data, self.process = url, user_data, process

    def baton_logs(self) -> list[Path]:
        """Each window's Baton output channel as VS Code writes it to disk, newest last."""
        return sorted(
            self.user_data.glob("logs/*/exthost*/baton.baton/Baton.log"),
            key=lambda p: p.stat().st_mtime,
        )


@contextlib.contextmanager
def running_code_server(code_server_bin: Path, vsix: Path, root: Path) -> Iterator[CodeServer]:
    """A fresh code-server (own user data and extensions dir) with the .vsix installed."""
    user_data, extensions = root / "user-data", root / "extensions"
    (user_data / "User").mkdir(parents=True)
    (user_data / "User" / "settings.json").write_text(
        json.dumps(
            {
                "baton.interpreter": str(PYTHON),
                "workbench.startupEditor": "none",
                "security.workspace.trust.enabled": False,
                "telemetry.telemetryLevel": "off",
                "workbench.tips.enabled": False,
                "extensions.ignoreRecommendations": True,
                "update.mode": "none",
                "git.enabled": False,
            }
        )
    )
    env = {**os.environ, "XDG_CONFIG_HOME": str(root / "config")}
    env.pop("OPENAI_API_KEY", None)  # a "missing key" must really be missing
    common = ["--user-data-dir", str(user_data), "--extensions-dir", str(extensions)]
    installed = subprocess.run(
        [str(code_server_bin), *common, "--install-extension", str(vsix)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert installed.returncode == 0, (
        f"installing {vsix.name} failed:\n{installed.stdout}\n{installed.stderr}"
    )
    port = free_port()
    log = open(root / "code-server.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [
            str(code_server_bin),
            "--auth",
            "none",
            "--bind-addr",
            f"127.0.0.1:{port}",
            "--disable-telemetry",
            "--disable-update-check",
            "--disable-workspace-trust",
            *common,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if process.poll() is not None:
            raise AssertionError(
                f"code-server exited: {(root / 'code-server.log').read_text()[-2000:]}"
            )
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    try:
        wait_until("code-server to answer /healthz", healthy)
        yield CodeServer(url, user_data, process)
    finally:
        # code-server, its extension hosts and their language servers share one process group.
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        log.close()


class Window:
    """One VS Code window in the browser, with the few gestures the tests need."""

    def __init__(self, page: Any, server: CodeServer) -> None:
        self.page, self.server = page, server

    def open(self, folder: Path | None) -> Window:
        query = f"?folder={folder}" if folder is not None else "?ew=true"
        self.page.goto(self.server.url + "/" + query)
        self.page.wait_for_selector(".monaco-workbench", timeout=TIMEOUT_MS)
        if folder is not None:
            self.page.wait_for_selector(
                ".explorer-folders-view .monaco-list-row", timeout=TIMEOUT_MS
            )
        return self

    def palette(self, text: str) -> list[str]:
        """Types into the Command Palette and returns the rows it shows."""
        box = self.page.locator(".quick-input-widget input")
        for _ in range(10):
            self.page.keyboard.press("Escape")
            self.page.keyboard.press("F1")
            try:  # F1 is lost while another part of the window grabs focus (e.g. a document opening)
                box.wait_for(state="visible", timeout=3000)
                break
            except Exception:
                continue
        box.fill(">" + text)
        rows = self.page.locator(".quick-input-list .monaco-list-row")
        rows.first.wait_for(state="visible", timeout=TIMEOUT_MS)
        return [r.strip() for r in rows.all_inner_texts()]

    def command(self, title: str) -> None:
        """Runs a command from the palette (retrying while the window is still loading extensions)."""
        rows: list[str] = []

        def listed() -> bool:
            nonlocal rows
            rows = self.palette(title)
            return any(r.startswith(title) for r in rows)

        try:
            wait_until(f"{title!r} in the palette", listed, timeout=30)
        except AssertionError:
            raise AssertionError(f"{title!r} is not in the palette: {rows}") from None
        self.page.locator(".quick-input-list .monaco-list-row", has_text=title).first.click()

    def choose(self, entry: Any) -> None:
        """Picks a context-menu item with hover + Enter: VS Code ignores a click that lands while the
        menu is still opening (it guards against the right-click's own mouse-up)."""
        entry.hover()
        self.page.keyboard.press("Enter")
        self.page.locator(".context-view .monaco-menu").first.wait_for(
            state="hidden", timeout=TIMEOUT_MS
        )

    def explorer_menu(self, row: str, item: str) -> Any:
        """Right-clicks an Explorer row and returns the context-menu item (retrying while the
        freshly loaded window still swallows the right-click)."""
        entry = self.page.locator(".context-view .action-label", has_text=item).first
        for _ in range(15):
            self.page.locator(".explorer-folders-view .monaco-list-row", has_text=row).first.click(
                button="right"
            )
            try:
                entry.wait_for(state="visible", timeout=2000)
                return entry
            except Exception:
                self.page.keyboard.press("Escape")
        labels = self.page.locator(".context-view .action-label").all_inner_texts()
        raise AssertionError(f"{item!r} not in the Explorer menu of {row!r}: {labels}")

    def toast(self, text: str) -> Any:
        toast = self.page.locator(".notifications-toasts .notification-toast", has_text=text).first
        toast.wait_for(state="visible", timeout=TIMEOUT_MS)
        return toast

    def type_task(self, task: str) -> None:
        box = self.page.locator(".quick-input-widget input")
        box.wait_for(state="visible", timeout=TIMEOUT_MS)
        box.fill(task)
        self.page.keyboard.press("Enter")

    def baton_log(self, containing: str) -> str:
        def probe() -> str | None:
            for log in reversed(self.server.baton_logs()):
                text = log.read_text(errors="replace")
                if containing in text:
                    return text
            return None

        return str(wait_until(f"the Baton output to say {containing!r}", probe))


def make_project(root: Path, settings: dict[str, Any] | None = None) -> Path:
    (root / "textkit").mkdir(parents=True)
    (root / "textkit" / "__init__.py").write_text("")
    (root / "textkit" / "stats.py").write_text(STATS_BEFORE)
    if settings:
        (root / ".vscode").mkdir()
        (root / ".vscode" / "settings.json").write_text(json.dumps(settings))
    return root


def run_on_module(window: Window, project: Path, task: str) -> None:
    window.open(project)
    window.choose(window.explorer_menu("textkit", "Run on this module"))
    window.type_task(task)
    plan_tab = window.page.locator(".tabs-container .tab", has_text="plan.md").first
    plan_tab.wait_for(state="visible", timeout=TIMEOUT_MS)


def refactor_preview(window: Window) -> Any:
    panel = window.page.locator(".bulk-edit-panel")
    panel.wait_for(state="visible", timeout=TIMEOUT_MS * 3)  # a real model run takes longer
    boxes = panel.locator("input.edit-checkbox")
    boxes.first.wait_for(state="visible", timeout=TIMEOUT_MS)
    assert not any(b.is_checked() for b in boxes.all()), (
        "needsConfirmation changes must start unticked"
    )
    return panel


def stub_project(tmp_path: Path) -> Path:
    stub = write_script(
        tmp_path / "stub-python",
        f'[ "$3" = "--version" ] && {{ echo "baton-lsp 0.0.0"; exit 0; }}\n'
        f'exec "{PYTHON}" "{STUB}" pipeline',
    )
    return make_project(tmp_path / "p", {"baton.interpreter": str(stub)})


def applied_answer(project: Path) -> bool:
    path = wait_until(
        "the stub to record the editor's answer",
        lambda: next(project.glob(".baton/runs/*/applied.json"), None),
    )
    return bool(json.loads(path.read_text())["applied"])


def real_server_commands() -> list[str] | str:
    """The commands `python -m baton.server` advertises, or why it could not be asked."""
    proc = subprocess.Popen(
        [str(PYTHON), "-m", "baton.server"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {"processId": None, "rootUri": None, "capabilities": {}},
        }
    ).encode()
    try:
        out, err = proc.communicate(
            f"Content-Length: {len(body)}\r\n\r\n".encode() + body, timeout=30
        )
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    match = re.search(rb'"executeCommandProvider"\s*:\s*\{[^}]*"commands"\s*:\s*(\[[^\]]*\])', out)
    if match:
        return list(json.loads(match.group(1)))
    lines = [line for line in err.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "no answer to initialize"


def real_project(tmp_path: Path, url: str) -> Path:
    return make_project(
        tmp_path / "p",
        {
            "baton.interpreter": str(PYTHON),
            "baton.baseUrl": url,
            "baton.models.planner": "scripted-planner",
            "baton.models.implementer": "scripted-implementer",
            "baton.models.reviewer": "scripted-reviewer",
            "baton.testCommand": f"{PYTHON} -c \"print('ok')\"",
            "baton.needsConfirmation": True,
            "baton.trace.server": "verbose",
        },
    )


def set_api_key(window: Window, key: str) -> None:
    window.command("Baton: Set API key")
    box = window.page.locator(".quick-input-widget input")
    box.wait_for(state="visible", timeout=TIMEOUT_MS)
    box.fill(key)
    window.page.keyboard.press("Enter")
    window.toast("API key saved")


@contextlib.contextmanager
def scripted_llm_process(script: Path) -> Iterator[str]:
    """`baton scripted-llm` on a free port; yields its base URL."""
    proc = subprocess.Popen(
        [
            str(PYTHON),
            "-m",
            "baton.pipelines.cli",
            "scripted-llm",
            "--script",
            str(script),
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"on (http://\S+/v1)", line)
        assert match, (
            f"scripted-llm did not start: {line}{proc.stderr.read() if proc.stderr else ''}"
        )
        yield match.group(1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
