"""The validator's rules, checked before any model looks at a fix. A fix is rejected, with the
reason fed back to the implementer, when it makes the tests pass by weakening them: a test file
deleted, test functions or asserts removed, skip/xfail added, tolerances widened, tests
deselected in the configuration, or sleeps, retries or raised timeouts added anywhere.
The dynamic rules (the failing tests now pass N times, the whole suite passes, no fewer tests
ran) are checked on the sandbox's test reports."""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from ..models import ChangeSet, EditKind, TestReport
from ..workspace.pyparse import parse_python

_SKIP = re.compile(r"pytest\.mark\.(?:skip|skipif|xfail)\b|pytest\.(?:skip|xfail|importorskip)\s*\(|"
                   r"unittest\.(?:skip|skipIf|skipUnless|expectedFailure)\b|\.skipTest\s*\(|@skip\w*\b|@expectedFailure")
_SLEEP = re.compile(r"\b(?:time\.sleep|asyncio\.sleep|sleep)\s*\(")
_RETRY = re.compile(r"\b(?:retry|retries|retrying|tenacity|backoff|flaky|reruns|rerun_failures|max_attempts)\b", re.I)
_DESELECT = re.compile(r"--deselect\b|--ignore(?:-glob)?\b|(?:^|\s)-k\s|collect_ignore|--lf\b|--last-failed\b|"
                       r"-p\s+no:|norecursedirs|--co\b|--collect-only\b")
_TOLERANCE_KW = {"rel", "abs", "rel_tol", "abs_tol", "delta", "atol", "rtol", "tolerance", "tol", "epsilon", "eps"}
_TIMEOUT_WORD = re.compile(r"timeout", re.I)
_CONFIG_TIMEOUT = re.compile(r"^\s*[\w.-]*timeout[\w.-]*\s*[=:]\s*([0-9.]+)", re.I | re.M)
_CONFIG_FILES = {"pytest.ini", "pyproject.toml", "setup.cfg", "tox.ini", "conftest.py", "noxfile.py"}


@dataclass(frozen=True)
class Violation:
    rule: str  # short name: test-deleted, assert-removed, skip-added, …
    path: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.path}: {self.detail}"


def is_test_path(path: str) -> bool:
    p = PurePosixPath(path)
    return (p.suffix == ".py" and (p.name.startswith("test_") or p.stem.endswith("_test") or p.name == "conftest.py"
            or any(part in ("tests", "test", "testing") for part in p.parts[:-1])))


# --------------------------------------------------------------------------- static rules


def check_changes(cs: ChangeSet) -> list[Violation]:
    """Every way this change set weakens the tests or hides a failure, as violations."""
    out: list[Violation] = []
    for e in cs.edits:
        old, new = e.old_text or "", e.new_text or ""
        path = e.path
        if is_test_path(path) and e.kind in (EditKind.delete, EditKind.rename):
            out.append(Violation("test-deleted", path, "a test file was deleted or moved; fix the code, keep the tests"))
            continue
        if e.kind is EditKind.delete:
            continue
        added = _added_lines(old, new)
        if is_test_path(path) and path.endswith(".py"):
            out += _test_file_rules(path, old, new, added)
        if path.endswith(".py"):
            out += _python_rules(path, old, new)
        name = PurePosixPath(path).name
        if name in _CONFIG_FILES or path.endswith((".ini", ".cfg", ".toml")):
            out += _config_rules(path, old, new, added)
    return out


def _test_file_rules(path: str, old: str, new: str, added: str) -> list[Violation]:
    out: list[Violation] = []
    old_tree, new_tree = _parse(old), _parse(new)
    if new_tree is None:
        return [Violation("syntax", path, "the test file no longer parses")]
    if old_tree is not None:
        old_tests, new_tests = _test_functions(old_tree), _test_functions(new_tree)
        gone = sorted(old_tests - new_tests)
        if gone:
            out.append(Violation("test-removed", path, "test function(s) removed or renamed: " + ", ".join(gone[:5])))
        a_old, a_new = _assert_count(old_tree), _assert_count(new_tree)
        if a_new < a_old:
            out.append(Violation("assert-removed", path, f"assertions went from {a_old} to {a_new}; a fix may not "
                                 "delete or weaken what the tests check"))
        widened = _widened_tolerances(old_tree, new_tree)
        if widened:
            out.append(Violation("tolerance-widened", path, widened))
    if _count(_SKIP, new) > _count(_SKIP, old):
        out.append(Violation("skip-added", path, "a skip, skipif or xfail was added: " + _first(_SKIP, added)))
    return out


def _python_rules(path: str, old: str, new: str) -> list[Violation]:
    out: list[Violation] = []
    if _count(_SLEEP, new) > _count(_SLEEP, old):
        out.append(Violation("sleep-added", path, "a sleep was added; waiting hides races instead of fixing them"))
    if _count(_RETRY, new) > _count(_RETRY, old):
        out.append(Violation("retry-added", path, "a retry or rerun was added; a fix must make it pass the first time"))
    old_tree, new_tree = _parse(old), _parse(new)
    if old_tree is not None and new_tree is not None:
        raised = _raised(_keyword_numbers(old_tree, lambda k: bool(_TIMEOUT_WORD.search(k))),
                         _keyword_numbers(new_tree, lambda k: bool(_TIMEOUT_WORD.search(k))))
        if raised:
            out.append(Violation("timeout-raised", path, raised))
    return out


def _config_rules(path: str, old: str, new: str, added: str) -> list[Violation]:
    out: list[Violation] = []
    if _DESELECT.search(added):
        out.append(Violation("tests-deselected", path, "the test configuration now deselects or ignores tests: "
                             + _first(_DESELECT, added)))
    if _count(_SKIP, new) > _count(_SKIP, old) and path.endswith(".py"):
        out.append(Violation("skip-added", path, "a skip or xfail was added to the test configuration"))
    old_t = max((float(v) for v in _CONFIG_TIMEOUT.findall(old)), default=None)
    new_t = max((float(v) for v in _CONFIG_TIMEOUT.findall(new)), default=None)
    if new_t is not None and (old_t is None or new_t > old_t):
        out.append(Violation("timeout-raised", path, f"a test timeout was raised or added ({old_t} → {new_t})"))
    return out


# --------------------------------------------------------------------------- dynamic rules


def check_reruns(reports: Sequence[TestReport], ids: Sequence[str]) -> list[Violation]:
    """The previously failing tests must pass in every rerun."""
    out = []
    for n, r in enumerate(reports, 1):
        if not r.ok or r.passed == 0:
            failing = ", ".join(r.failing_tests[:5]) or r.summary_line()
            out.append(Violation("still-failing", ", ".join(ids[:3]),
                                 f"rerun {n} of {len(reports)} did not pass: {failing}"))
            break
    return out


def check_suite(after: TestReport | None, before: TestReport | None) -> list[Violation]:
    """The whole test command passes, and no fewer tests ran (and no more were skipped) than before."""
    if after is None:
        return []
    out = []
    if not after.ok:
        what = ", ".join(after.failing_tests[:5]) or after.error or f"exit {after.exit_code}"
        out.append(Violation("suite-failing", after.command, f"the whole test command fails after the fix: {what}"))
    ran_after = after.passed + after.failed + after.errors
    if ran_after == 0 and after.error is None:
        out.append(Violation("no-tests-ran", after.command, "the test command ran no test"))
    if before is not None:
        ran_before = before.passed + before.failed + before.errors
        if ran_after < ran_before:
            out.append(Violation("fewer-tests", after.command, f"{ran_after} tests ran after the fix, {ran_before} before"))
        if after.skipped > before.skipped:
            out.append(Violation("more-skipped", after.command,
                                 f"{after.skipped} tests skipped after the fix, {before.skipped} before"))
    return out


# --------------------------------------------------------------------------- helpers


def _parse(text: str) -> ast.Module | None:
    try:
        return parse_python(text)
    except (SyntaxError, ValueError):
        return None


def _test_functions(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            names.add(node.name)
    return names


def _assert_count(tree: ast.Module) -> int:
    """assert statements, unittest self.assert*/fail* calls and pytest.raises/warns."""
    n = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert):
            n += 1
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            attr = node.func.attr
            if attr.startswith(("assert", "fail")) or attr in ("raises", "warns", "approx"):
                n += 1
    return n


def _keyword_numbers(tree: ast.Module, want: object) -> Counter[tuple[str, float]]:
    found: Counter[tuple[str, float]] = Counter()
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg and want(node.arg):  # type: ignore[operator]
            value = _number(node.value)
            if value is not None:
                found[(node.arg, value)] += 1
    return found


def _number(node: ast.expr) -> float | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _number(node.operand)
        return -inner if inner is not None else None
    if isinstance(node, ast.BinOp):  # 1e-6 * 10, 60 * 5, 10 ** -3 (bounded: no 10 ** 10 ** 10)
        left, right = _number(node.left), _number(node.right)
        if left is None or right is None:
            return None
        try:
            if isinstance(node.op, ast.Add):
                return left + right
            if isinstance(node.op, ast.Sub):
                return left - right
            if isinstance(node.op, ast.Mult):
                return left * right
            if isinstance(node.op, ast.Div):
                return left / right
            if isinstance(node.op, ast.Pow) and abs(right) <= 64 and abs(left) <= 1e6:
                return float(left ** right)
        except (ArithmeticError, ValueError, TypeError):
            return None
    return None


def _raised(old: Counter[tuple[str, float]], new: Counter[tuple[str, float]]) -> str:
    """A keyword whose largest value grew, or that appeared with a value where it had none."""
    grown = []
    for kw in sorted({k for k, _ in new}):
        new_max = max(v for k, v in new if k == kw)
        old_vals = [v for k, v in old if k == kw]
        if not old_vals or new_max > max(old_vals):
            grown.append(f"{kw}={new_max:g}" + (f" (was {max(old_vals):g})" if old_vals else " (new)"))
    return ", ".join(grown)


def _widened_tolerances(old: ast.Module, new: ast.Module) -> str:
    widened = _raised(_keyword_numbers(old, lambda k: k in _TOLERANCE_KW),
                      _keyword_numbers(new, lambda k: k in _TOLERANCE_KW))
    places_old = _keyword_numbers(old, lambda k: k == "places")
    places_new = _keyword_numbers(new, lambda k: k == "places")
    fewer = [v for (_, v) in places_new if not places_old or v < min(v2 for _, v2 in places_old)]
    if places_new and places_old and fewer:
        widened = ", ".join(filter(None, [widened, f"places={min(fewer):g} (was {min(v for _, v in places_old):g})"]))
    return widened


def _added_lines(old: str, new: str) -> str:
    old_lines = Counter(old.splitlines())
    added = []
    for line in new.splitlines():
        if old_lines[line] > 0:
            old_lines[line] -= 1
        else:
            added.append(line)
    return "\n".join(added)


def _count(pattern: re.Pattern[str], text: str) -> int:
    return len(pattern.findall(text))


def _first(pattern: re.Pattern[str], text: str) -> str:
    for line in text.splitlines():
        if pattern.search(line):
            return line.strip()[:160]
    return ""
