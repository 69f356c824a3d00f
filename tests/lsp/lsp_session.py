"""The data of the pytest-lsp tests: the demo project as a tmp git repository, a scripted
model session that drives one whole run (plan, patch, tests, review with a finding), the
texts the run should produce, and the options an editor sends. The editor side is
lsp_harness.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DEMO_PROJECT = REPO / "pipelines" / "demo" / "project"
PY = sys.executable
FAST_TESTS = f"{PY} -c \"import sys; sys.path.insert(0, '.'); from textkit import top_words; print('1 passed')\""
TIMEOUT = 60.0  # safety net only: nothing asserts on time

STATS_PATCH = "\n".join([
    "*** Begin Patch",
    "*** Update File: textkit/stats.py",
    "@@",
    ' """Counting words."""',
    " ",
    " import re",
    "+from collections import Counter",
    " ",
    ' _WORD = re.compile(r"[a-z\']+")',
    "@@ def word_count(text: str) -> int:",
    '     """How many words a text has."""',
    "     return len(words(text))",
    "+",
    "+",
    "+def top_words(text: str, n: int) -> list[tuple[str, int]]:",
    '+    """The n most common words with their counts; ties keep first-seen order."""',
    "+    if n < 0:",
    '+        raise ValueError(f"n must be zero or more, got {n}")',
    "+    return Counter(words(text)).most_common(n)",
    "*** Update File: textkit/__init__.py",
    "@@",
    "-from .stats import word_count, words",
    "+from .stats import top_words, word_count, words",
    " ",
    '-__all__ = ["word_count", "words"]',
    '+__all__ = ["top_words", "word_count", "words"]',
    "*** Add File: tests/test_top_words.py",
    "+from textkit import top_words",
    "+",
    "+",
    "+def test_top_words_counts_and_orders():",
    '+    assert top_words("b a b c b a", 2) == [("b", 3), ("a", 2)]',
    "*** End Patch",
])

TOP_WORDS = '''

def top_words(text: str, n: int) -> list[tuple[str, int]]:
    """The n most common words with their counts; ties keep first-seen order."""
    if n < 0:
        raise ValueError(f"n must be zero or more, got {n}")
    return Counter(words(text)).most_common(n)
'''
NEW_TEST_FILE = '''from textkit import top_words


def test_top_words_counts_and_orders():
    assert top_words("b a b c b a", 2) == [("b", 3), ("a", 2)]
'''
SUGGESTION = '        raise ValueError(f"n must be >= 0, got {n}")'
FINDING_LINE = 22  # `raise ValueError(...)` in the proposed textkit/stats.py

PLAN = {
    "summary": "Add top_words(text, n) to textkit.stats with Counter.most_common, export it, test it.",
    "steps": [
        {"title": "Add top_words to textkit/stats.py", "detail": "Counter(words(text)).most_common(n).",
         "files": ["textkit/stats.py"]},
        {"title": "Export it", "detail": "textkit/__init__.py", "files": ["textkit/__init__.py"]},
        {"title": "Test it", "detail": "A new test file.", "files": ["tests/test_top_words.py"]},
    ],
    "files_to_touch": ["textkit/stats.py", "textkit/__init__.py", "tests/test_top_words.py"],
    "test_strategy": "A new pytest test.",
}


def expected_stats(original: str) -> str:
    text = original.replace("import re\n", "import re\nfrom collections import Counter\n", 1)
    return text + TOP_WORDS


def expected_init(original: str) -> str:
    return (original.replace("from .stats import word_count, words", "from .stats import top_words, word_count, words")
            .replace('__all__ = ["word_count", "words"]', '__all__ = ["top_words", "word_count", "words"]'))


def role_models(prefix: str) -> dict[str, str]:
    return {"planner": f"{prefix}-planner", "implementer": f"{prefix}-coder", "reviewer": f"{prefix}-reviewer"}


def session(prefix: str = "t", *, planner_fault: dict[str, Any] | None = None, verdict: str = "approved",
            plan: dict[str, Any] | None = None, findings: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A short scripted run: plan at once, patch + submit, review with one finding (with a suggestion)."""
    models = role_models(prefix)
    submit_plan: dict[str, Any] = {"tool_calls": [{"name": "submit_plan", "arguments": plan or PLAN}]}
    if planner_fault:
        submit_plan["fault"] = planner_fault
    if findings is None:
        findings = [{"path": "textkit/stats.py", "line": FINDING_LINE, "severity": "warning",
                     "message": "Say what n must be in the error.", "suggestion": SUGGESTION}]
    return {
        models["planner"]: [submit_plan],
        models["implementer"]: [
            {"tool_calls": [{"name": "apply_patch", "arguments": {"patch": STATS_PATCH}}], "expect": ["top_words"]},
            {"tool_calls": [{"name": "submit_changes",
                             "arguments": {"summary": "Added top_words, exported it, tested it.", "tests_passed": True}}]},
        ],
        models["reviewer"]: [
            {"tool_calls": [{"name": "submit_review",
                             "arguments": {"verdict": verdict, "summary": "Does what the task asks.",
                                           "findings": findings}}]},
        ],
    }


def make_project(dest: Path, *, baton_toml: str | None = None) -> Path:
    """The demo project as a committed git repository (a user's checkout)."""
    shutil.copytree(DEMO_PROJECT, dest, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    if baton_toml is not None:
        (dest / "baton.toml").write_text(baton_toml, encoding="utf-8")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid", "-c", "commit.gpgsign=false"]
    for cmd in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "textkit"]):
        subprocess.run([*git, *cmd], cwd=dest, check=True, capture_output=True)
    return dest


def tree(root: Path) -> dict[str, str]:
    """Every file under root except .git/ and .baton/ (to show nothing was written)."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and not rel.startswith((".git/", ".baton/")) and "__pycache__" not in rel:
            out[rel] = p.read_text(encoding="utf-8")
    return out


def server_env(**extra: str) -> dict[str, str]:
    """The server's environment: no real keys, no BATON_* settings from the host."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENAI_", "BATON_", "AZURE_OPENAI")) and k not in ("CI",)}
    env.update(extra)
    return env


def options(url: str, prefix: str | None = "t", **extra: Any) -> dict[str, Any]:
    """initializationOptions as the VS Code extension sends them (the `baton` section).
    prefix=None leaves the models to each folder's baton.toml."""
    opts: dict[str, Any] = {"baseUrl": url, "apiKey": "sk-test-not-a-real-key-1234", "testCommand": FAST_TESTS,
                            "maxRetries": 0, **extra}
    if prefix is not None:
        opts["models"] = role_models(prefix)
    return {"baton": opts}


def folder_models_toml(prefix: str) -> str:
    """A baton.toml giving a folder its own model names, so runs in two folders never share a script."""
    return "".join(f'[roles.{role}]\nmodel = "{model}"\n' for role, model in role_models(prefix).items())
