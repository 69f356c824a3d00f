"""The HTML trace (`baton trace RUN --html`) and eval report (`baton eval --html`) open in headless
Chromium with no console errors, fetch nothing, and show every step, model call and case."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from vscode_harness import need

from baton.pipelines.eval.results import EvalReport
from baton.pipelines.models import RunRecord

pytestmark = pytest.mark.e2e
SUITE = Path(__file__).resolve().parents[2] / "examples" / "eval-suite"


@pytest.fixture(scope="module")
def page_factory() -> Iterator[Any]:
    try:
        from playwright import sync_api
    except ImportError:
        need(False, "the playwright package is missing: pip install -e '.[e2e]'")
    chromium = os.environ.get("BATON_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    need(chromium, "Chromium is missing: apt-get install -y chromium (or set BATON_CHROMIUM)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=["--no-sandbox"], headless=True)
        try:
            yield browser
        finally:
            browser.close()


def in_process(*args: str) -> subprocess.CompletedProcess[str]:
    """`baton ARGS` in this process, output captured."""
    from baton.pipelines.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return subprocess.CompletedProcess(["baton", *args], code, out.getvalue(), err.getvalue())


def open_page(browser: Any, path: Path) -> tuple[Any, list[str], list[str]]:
    page = browser.new_page()
    errors: list[str] = []
    fetched: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: fetched.append(r.url) if not r.url.startswith("file://") else None)
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, errors, fetched


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, EvalReport, Path]:
    ws = tmp_path_factory.mktemp("ws")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        p = in_process("eval", str(SUITE), "--workspace", str(ws), "--json", "--html", str(ws / "report.html"),
                       "--concurrency", "4", "--pattern", "plan-implement-review")
    finally:
        os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
    assert p.returncode == 0, p.stderr
    return ws, EvalReport.model_validate_json(p.stdout), ws / "report.html"


# `evaluated` comes first: it runs asyncio, which cannot start once the sync Playwright API is up.
def test_html_trace_renders_every_step_and_model_call(evaluated: Any, page_factory: Any) -> None:
    ws, report, _ = evaluated
    rejected = next(r for r in report.results if r.case_id == "pir-wrong-rejected")
    p = in_process("trace", str(rejected.run_id), "--workspace", str(ws), "--html")
    assert p.returncode == 0, p.stderr
    path = Path(p.stdout.strip())
    run_dir = ws / ".baton" / "runs" / str(rejected.run_id)
    rec = RunRecord.model_validate_json((run_dir / "run.json").read_text())
    events = [json.loads(x) for x in (run_dir / "trace.jsonl").read_text().splitlines()]
    page, errors, fetched = open_page(page_factory, path)
    assert errors == [] and fetched == []
    shown_steps = page.eval_on_selector_all("[data-step]", "els => els.map(e => e.dataset.step)")
    assert shown_steps == [s.name for s in rec.steps] and {"plan", "implement", "review"} <= set(shown_steps)
    calls = page.eval_on_selector_all("#model-calls tr", "rows => rows.length") - 1
    assert calls == sum(1 for e in events if e["type"] == "llm_call") == rec.usage.calls
    assert page.inner_text("#status") == "failed"
    assert "reviewer rejected" in page.inner_text("#failure")  # the failure reason, on top
    assert "passed" in page.inner_text("#last-tests")  # the last tests.json, without digging
    assert page.eval_on_selector_all("#events tr.tool_call", "rows => rows.length") == sum(
        1 for e in events if e["type"] == "tool_call")
    page.close()


def test_html_eval_report_renders_the_table_chart_and_cases(evaluated: Any, page_factory: Any) -> None:
    _, report, path = evaluated
    page, errors, fetched = open_page(page_factory, path)
    assert errors == [] and fetched == []
    assert page.eval_on_selector_all("#groups tr", "rows => rows.length") - 1 == len(report.groups)
    assert page.eval_on_selector_all("#cases tr", "rows => rows.length") - 1 == len(report.results) == 4
    assert page.is_visible("#chart")
    text = page.inner_text("#calibration")
    assert "0.50" in text and "0.00" in text  # precision/recall 0.5, kappa 0 on the example suite
    page.close()
