"""`ast.parse` that is safe to call from several threads at once.

CPython 3.11 (before 3.11.8) keeps the AST constructor's recursion depth in per-interpreter
state; two threads parsing at once can corrupt it and one of them fails with "SystemError: AST
constructor recursion depth mismatch" (python/cpython gh-106905). Baton parses off the event
loop in worker threads (outlines, repo map, triage rules), often for several runs at once (an
eval with concurrency, the server's runs), so every parse goes through one lock. Parsing is
quick next to reading the file, so the lock costs little.
"""

from __future__ import annotations

import ast
import threading

_LOCK = threading.Lock()


def parse_python(text: str) -> ast.Module:
    """`ast.parse(text)`, serialised across threads. Raises SyntaxError/ValueError as it does."""
    with _LOCK:
        return ast.parse(text)
