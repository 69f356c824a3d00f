"""The Baton VS Code extension in real VS Code: code-server 4.100.3 driven by Playwright + Chromium.

The built .vsix is installed into a fresh code-server; each test opens a temporary project in
a new browser window and uses the UI as a person would (Command Palette, Explorer context
menu, Refactor Preview). What it checks:

- the extension activates, its commands are in the palette and the Explorer menu, and the
  server passes its `python -m baton.server --version` check;
- bad input gets a clear message: no folder open, an empty task, an interpreter that cannot
  run, one without baton-lsp, a server that keeps crashing;
- the whole client path of a run — Run on this module… → plan.md opens → the Refactor Preview
  shows the change unticked → tick + Apply writes the file / Discard writes nothing — first
  against a stub LSP server (test/fixtures/stub_server.py, always), and (FULL FLOW, marked
  below) against the real Baton server and the scripted model once the server offers its
  commands.

Needs code-server (client-vscode/scripts/install-code-server.sh), Debian's Chromium and the
`playwright` package (the `e2e` extra). Without them the tests skip saying what is missing;
with CI=true they fail instead. Screenshots of failed tests go to client-vscode/.e2e/screenshots.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from vscode_harness import (
    CACHE,
    CLIENT,
    PYTHON,
    SCRIPT,
    STATS_BEFORE,
    STUB,
    TIMEOUT_MS,
    CodeServer,
    Window,
    applied_answer,
    make_project,
    manifest,
    need,
    real_project,
    real_server_commands,
    refactor_preview,
    run_on_module,
    running_code_server,
    scripted_llm_process,
    server_version,
    set_api_key,
    stub_project,
    wait_until,
    write_script,
)

pytestmark = pytest.mark.e2e

# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def playwright_api() -> Any:
    try:
        from playwright import sync_api
    except ImportError:
        need(False, "the playwright package is missing: pip install -e '.[e2e]'")
    return sync_api


@pytest.fixture(scope="module")
def chromium() -> str:
    path = (
        os.environ.get("BATON_CHROMIUM")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
    )
    need(path, "Chromium is missing: apt-get install -y chromium (or set BATON_CHROMIUM)")
    return str(path)


@pytest.fixture(scope="module")
def code_server_bin() -> Path:
    path = Path(
        os.environ.get(
            "BATON_CODE_SERVER", CACHE / "code-server" / "node_modules" / ".bin" / "code-server"
        )
    )
    need(
        path.exists(),
        f"code-server is missing at {path}: run client-vscode/scripts/install-code-server.sh",
    )
    return path


@pytest.fixture(scope="module")
def vsix() -> Path:
    """The packaged extension; rebuilt when a source file is newer than it."""
    target = CLIENT / f"baton-{manifest()['version']}.vsix"
    sources = [CLIENT / "package.json", *CLIENT.joinpath("src").rglob("*.ts")]
    if target.exists() and target.stat().st_mtime >= max(p.stat().st_mtime for p in sources):
        return target
    npm = shutil.which("npm") or ""
    need(npm, "npm is missing: install Node 20 to build the extension")
    if not (CLIENT / "node_modules").exists():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=CLIENT,
            check=True,
            capture_output=True,
            timeout=600,
        )
    built = subprocess.run(
        [npm, "run", "package"], cwd=CLIENT, capture_output=True, text=True, timeout=600
    )
    assert built.returncode == 0, f"npm run package failed:\n{built.stdout}\n{built.stderr}"
    return target


@pytest.fixture(scope="module")
def code_server(
    code_server_bin: Path, vsix: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CodeServer]:
    with running_code_server(code_server_bin, vsix, tmp_path_factory.mktemp("code-server")) as server:
        yield server


@pytest.fixture(scope="module")
def browser(playwright_api: Any, chromium: str) -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"], headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def window(
    browser: Any, code_server: CodeServer, request: pytest.FixtureRequest
) -> Iterator[Window]:
    failed_before = request.session.testsfailed
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        yield Window(page, code_server)
    finally:
        if request.session.testsfailed > failed_before:
            shots = CACHE / "screenshots"
            shots.mkdir(parents=True, exist_ok=True)
            name = re.sub(r"[^\w.-]+", "_", request.node.name)
            try:
                page.screenshot(path=str(shots / f"{name}.png"))
                logs = code_server.baton_logs()
                if logs:
                    shutil.copy(logs[-1], shots / f"{name}.Baton.log")
            except Exception as e:  # the screenshot must not hide the failure
                print(f"screenshot failed: {e}")
        page.close()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")


# --------------------------------------------------------------------------- activation


def test_activates_lists_its_commands_and_checks_the_server(window: Window, project: Path) -> None:
    window.open(project)
    # Run on this module… is in the Explorer menu of folders and of files.
    window.explorer_menu("textkit", "Run on this module")
    window.page.keyboard.press("Escape")
    window.page.locator(".explorer-folders-view .monaco-list-row", has_text="textkit").first.click()
    window.page.locator(
        ".explorer-folders-view .monaco-list-row", has_text="stats.py"
    ).first.wait_for(timeout=TIMEOUT_MS)
    window.explorer_menu("stats.py", "Run on this module")
    window.page.keyboard.press("Escape")
    # Every command is in the palette under "Baton:".
    rows = window.palette("Baton: ")
    titles = [
        f"Baton: {c['title']}"
        for c in manifest()["contributes"]["commands"]
        if c["command"] not in ("baton.cancel", "baton.continue")
    ]  # shown only while runs are active
    missing = [t for t in titles if not any(r.startswith(t) for r in rows)]
    assert not missing, f"missing from the palette: {missing}; it shows {rows}"
    window.page.keyboard.press("Escape")
    # Running one activates the extension, which finds the interpreter and checks the server.
    window.command("Baton: Show log")
    log = window.baton_log("Server check passed")
    assert f"Server check passed: baton-lsp {server_version()} in {PYTHON}" in log


# --------------------------------------------------------------------------- bad input


def test_no_folder_open_says_to_open_one(window: Window) -> None:
    window.open(None)
    window.command("Baton: Plan, implement and review…")
    toast = window.toast("needs an open folder")
    assert "File > Open Folder" in toast.inner_text()


def test_empty_task_is_refused_in_place_and_nothing_runs(window: Window, project: Path) -> None:
    window.open(project)
    window.command("Baton: Plan, implement and review…")
    window.type_task("   ")
    title = window.page.locator(".quick-input-widget .quick-input-title")
    wait_until("the empty-task hint", lambda: "task is empty" in title.inner_text())
    assert window.page.locator(".quick-input-widget").is_visible()
    window.page.keyboard.press("Escape")
    assert not (project / ".baton").exists()
    assert (project / "textkit" / "stats.py").read_text() == STATS_BEFORE


def test_interpreter_that_cannot_run_is_named_with_the_setting(
    window: Window, tmp_path: Path
) -> None:
    missing = tmp_path / "no" / "python"
    window.open(make_project(tmp_path / "p", {"baton.interpreter": str(missing)}))
    window.command("Baton: Restart server")
    toast = window.toast("cannot be run")
    text = toast.inner_text()
    assert str(missing) in text and "ENOENT" in text and "baton.interpreter" in text
    assert toast.locator(".monaco-button", has_text="Open setting").is_visible()


def test_interpreter_without_baton_offers_to_install_it(window: Window, tmp_path: Path) -> None:
    # The venv's own Python with site-packages switched off: a real interpreter without baton-lsp.
    bare = write_script(tmp_path / "bare-python", f'exec "{PYTHON}" -I -S "$@"')
    window.open(make_project(tmp_path / "p", {"baton.interpreter": str(bare)}))
    window.command("Baton: Restart server")
    toast = window.toast("is not installed in")
    assert str(bare) in toast.inner_text()
    assert toast.locator(".monaco-button", has_text="Install baton-lsp").is_visible()
    assert toast.locator(".monaco-button", has_text="Open setting").is_visible()


def test_a_crashing_server_is_restarted_three_times_then_reported(
    window: Window, tmp_path: Path
) -> None:
    crashy = write_script(
        tmp_path / "crashy-python",
        f'[ "$3" = "--version" ] && {{ echo "baton-lsp 0.0.0"; exit 0; }}\n'
        f'exec "{PYTHON}" "{STUB}" crash',
    )
    window.open(make_project(tmp_path / "p", {"baton.interpreter": str(crashy)}))
    window.command("Baton: Restart server")
    toast = window.toast("crashed 4 times in 3 minutes")
    assert toast.locator(".monaco-button", has_text="Show log").is_visible()
    log = window.baton_log("was not restarted")
    assert all(f"restarting it ({n} of 3)" in log for n in (1, 2, 3)), log


# --------------------------------------------------------------------------- a run, end to end


def test_run_on_module_tick_and_apply_writes_the_file(window: Window, tmp_path: Path) -> None:
    project = stub_project(tmp_path)
    run_on_module(window, project, "add a mean() helper")
    panel = refactor_preview(window)
    assert (project / "textkit" / "stats.py").read_text() == STATS_BEFORE, (
        "nothing is written before Apply"
    )
    panel.locator("input.edit-checkbox").first.check()
    panel.locator(".monaco-button", has_text="Apply").click()
    assert applied_answer(project) is True
    wait_until(
        "stats.py on disk to have mean()",
        lambda: "def mean(values)" in (project / "textkit" / "stats.py").read_text(),
    )


# --------------------------------------------------------------------------- FULL FLOW (real server)
# The same gestures against the real Baton server and the scripted model. They skip (fail under
# CI=true) when the server cannot start or does not offer baton.planImplementReview.


@pytest.fixture(scope="module")
def real_server_ready() -> None:
    commands = real_server_commands()
    need(
        isinstance(commands, list) and "baton.planImplementReview" in commands,
        f"the Baton server is not ready for the full flow yet: {commands}",
    )


def test_full_flow_missing_api_key_offers_set_api_key(
    window: Window, tmp_path: Path, real_server_ready: None
) -> None:
    project = make_project(tmp_path / "p")  # OpenAI's endpoint, no key anywhere
    window.open(project)
    window.command("Baton: Set API key")  # an empty answer removes a key an earlier test stored
    window.page.locator(".quick-input-widget input").wait_for(state="visible", timeout=TIMEOUT_MS)
    window.page.keyboard.press("Enter")
    window.command("Baton: Plan, implement and review…")
    window.type_task("add a mean() helper")
    toast = window.toast("API key")
    assert toast.locator(".monaco-button", has_text="Set API key").is_visible()
    assert (project / "textkit" / "stats.py").read_text() == STATS_BEFORE


FINDING = "mean() of an empty list divides by zero"


def review_with_finding(tmp_path: Path) -> Path:
    """The bundled script, with the reviewer's one finding on mean()'s division (line 7)."""
    script = json.loads(SCRIPT.read_text())
    review = script["models"]["scripted-reviewer"][0]["tool_calls"][0]["arguments"]
    review["findings"] = [{"path": "textkit/stats.py", "line": 7, "severity": "warning", "message": FINDING}]
    path = tmp_path / "script.json"
    path.write_text(json.dumps(script))
    return path


def test_full_flow_plan_gate_discard_apply_again_and_findings_after_reload(
    window: Window, tmp_path: Path, real_server_ready: None
) -> None:
    """Run on this module… with the plan gate → ONE "plan ready" notification (Continue / Cancel
    run), plan.md open and the Explorer not expanded into .baton/ → Continue → Refactor Preview
    (unticked) → Discard writes nothing and says so neutrally, offering Apply again → Apply again →
    tick + Apply writes the file → the review's finding shows, and is still there after a reload."""
    with scripted_llm_process(review_with_finding(tmp_path)) as url:
        project = real_project(tmp_path, url)
        settings = project / ".vscode" / "settings.json"
        settings.write_text(json.dumps({**json.loads(settings.read_text()), "baton.confirmPlan": True}))
        stats = project / "textkit" / "stats.py"
        page = window.page
        window.open(project)
        set_api_key(window, "scripted-test-key")
        run_on_module(window, project, "add a mean() helper")  # plan.md opens
        toast = window.toast("is ready")
        assert "add a mean() helper" in toast.inner_text() and "baton.continueRun" not in toast.inner_text()
        assert toast.locator(".monaco-button", has_text="Cancel run").is_visible()
        toast.locator(".monaco-button", has_text="Continue").first.click()
        panel = refactor_preview(window)
        assert stats.read_text() == STATS_BEFORE, "nothing is written before Apply"
        panel.locator(".monaco-button", has_text="Discard").click()
        panel.wait_for(state="hidden", timeout=TIMEOUT_MS)
        toast = window.toast("proposed change was not applied")
        assert toast.locator(".codicon-warning, .codicon-error").count() == 0, "a Discard is not a problem"
        assert stats.read_text() == STATS_BEFORE, "Discard must write nothing"
        toast.locator(".monaco-button", has_text="Apply again").click()
        panel = refactor_preview(window)
        panel.locator("input.edit-checkbox").first.check()
        panel.locator(".monaco-button", has_text="Apply").click()
        wait_until("stats.py on disk to have mean()", lambda: "def mean(values)" in stats.read_text())
        window.toast(" applied.")
        # One notification per event: the server sent none of its own (they name command ids).
        window.command("Notifications: Show Notifications")
        center = page.locator(".notifications-center")
        center.wait_for(state="visible", timeout=TIMEOUT_MS)
        texts = " | ".join(center.locator(".monaco-list-row").all_inner_texts())
        assert "baton.continueRun" not in texts and "baton.applyRun" not in texts, texts
        assert texts.count("is ready") == 0 and texts.count("not applied") <= 1, texts
        page.keyboard.press("Escape")
        # Run documents open without the Explorer expanding .baton/runs/<id>/.
        rows = " | ".join(page.locator(".explorer-folders-view .monaco-list-row").all_inner_texts())
        assert not any(name in rows for name in ("plan.md", "review.md", "runs.sqlite")), rows
        # The finding is on stats.py; after a window reload the new server shows it again.
        open_file(window, "stats.py")
        page.locator(".monaco-editor .squiggly-warning").first.wait_for(state="attached", timeout=TIMEOUT_MS)
        log = window.baton_log('"apiKey": "***"')  # the LSP trace masks the key
        assert "scripted-test-key" not in log
        assert not re.search(r"\[error\].* INFO ", log), "INFO lines must not be filed as errors"
        page.reload()
        page.wait_for_selector(".monaco-workbench", timeout=TIMEOUT_MS)
        open_file(window, "stats.py")
        page.locator(".monaco-editor .squiggly-warning").first.wait_for(state="attached", timeout=TIMEOUT_MS)


def open_file(window: Window, name: str) -> None:
    """Quick Open (the palette without ">"): the file by name."""
    box = window.page.locator(".quick-input-widget input")
    for _ in range(10):
        window.page.keyboard.press("Escape")
        window.page.keyboard.press("F1")
        try:
            box.wait_for(state="visible", timeout=3000)
            break
        except Exception:
            continue
    box.fill(name)
    row = window.page.locator(".quick-input-list .monaco-list-row", has_text=name).first
    row.wait_for(state="visible", timeout=TIMEOUT_MS)
    row.click()
    window.page.locator(".tabs-container .tab", has_text=name).first.wait_for(state="visible", timeout=TIMEOUT_MS)


def test_full_flow_parallel_modules_accepted_module_by_module(
    window: Window, tmp_path: Path, real_server_ready: None
) -> None:
    """Explorer multi-select of two folders → one parallel run → one Refactor Preview whose
    changes are grouped per module → tick only module alpha + Apply → alpha written, beta not."""
    commands = real_server_commands()
    need(isinstance(commands, list) and "baton.parallelModules" in commands,
         f"the Baton server has no baton.parallelModules: {commands}")
    before = "def value():\n    return 1\n"
    replies = []
    for name in ("alpha", "beta"):
        when = [f"# Your module: {name}"]
        replies += [
            {"when": when, "tool_calls": [{"name": "write_file", "arguments": {
                "path": f"{name}/mod.py", "content": f'def value():\n    """{name} done."""\n    return 1\n'}}]},
            {"when": when, "tool_calls": [{"name": "submit_changes", "arguments": {"summary": f"{name} done."}}]},
        ]
    review = [{"tool_calls": [{"name": "submit_review", "arguments": {
        "verdict": "approved", "summary": "Both modules are fine.", "findings": []}}]}]
    script = tmp_path / "parallel.json"
    script.write_text(json.dumps({"models": {"scripted-implementer": replies, "scripted-reviewer": review}}))
    with scripted_llm_process(script) as url:
        project = real_project(tmp_path, url)
        for name in ("alpha", "beta"):
            (project / name).mkdir()
            (project / name / "mod.py").write_text(before)
        window.open(project)
        set_api_key(window, "scripted-test-key")
        rows = window.page.locator(".explorer-folders-view .monaco-list-row")
        rows.filter(has_text="alpha").first.click()
        rows.filter(has_text="beta").first.click(modifiers=["Control"])
        window.choose(window.explorer_menu("beta", "Run on this module"))
        window.type_task("mark each module")
        panel = refactor_preview(window)
        assert (project / "alpha" / "mod.py").read_text() == before, "nothing is written before Apply"
        # each module's changes carry one change annotation: its label names the module
        toggle = window.page.locator('.action-label[aria-label*="Group Changes By Type"]').first
        if toggle.count():
            toggle.click()
        else:
            window.command("Group Changes By Type")
        panel.locator(".monaco-list-row", has_text="Module alpha").first.wait_for(state="visible", timeout=TIMEOUT_MS)
        panel.locator(".monaco-list-row", has_text="Module beta").first.wait_for(state="visible", timeout=TIMEOUT_MS)
        # a category row (the module) has no checkbox of its own: tick its file, alpha/mod.py
        ticks = panel.locator(".monaco-list-row", has_text="alpha").filter(
            has=window.page.locator("input.edit-checkbox"))
        ticks.first.locator("input.edit-checkbox").check()
        panel.locator(".monaco-button", has_text="Apply").click()
        wait_until("alpha/mod.py on disk to be changed", lambda: "alpha done" in (project / "alpha" / "mod.py").read_text())
        assert (project / "beta" / "mod.py").read_text() == before, "module beta was not accepted"
