"""Outlines: the classes and functions of a file with line numbers, short enough for a prompt.

Python goes through `ast` (exact, with argument names); other languages get a keyword
regex (function/class/def/fn/func/...), Markdown its headings. Used by the `outline` tool
and by the repo map, which caches the symbols per file content.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from .pyparse import parse_python

MAX_SIGNATURE = 120
MAX_RETURN = 40


@dataclass(frozen=True)
class Symbol:
    """One outline line: `text` is what is shown (e.g. "def run(self, task) -> Plan")."""

    line: int
    depth: int
    name: str
    text: str

    def as_list(self) -> list[object]:
        return [self.line, self.depth, self.name, self.text]

    @classmethod
    def from_list(cls, data: list[object]) -> Symbol:
        line, depth, name, text = data
        return cls(int(line), int(depth), str(name), str(text))  # type: ignore[call-overload]


# --------------------------------------------------------------------------- Python


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _args(a: ast.arguments) -> str:
    names = [x.arg for x in a.posonlyargs]
    if a.posonlyargs:
        names.append("/")
    names += [x.arg for x in a.args]
    if a.vararg:
        names.append("*" + a.vararg.arg)
    elif a.kwonlyargs:
        names.append("*")
    names += [x.arg for x in a.kwonlyargs]
    if a.kwarg:
        names.append("**" + a.kwarg.arg)
    return ", ".join(names)


def _def_text(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    prefix = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
    text = f"{prefix} {node.name}({_args(node.args)})"
    if node.returns is not None:
        ret = ast.unparse(node.returns)
        if len(ret) <= MAX_RETURN:
            text += f" -> {ret}"
    return _clip(text, MAX_SIGNATURE)


def _class_text(node: ast.ClassDef) -> str:
    bases = [ast.unparse(b) for b in node.bases] + [f"{k.arg}={ast.unparse(k.value)}" for k in node.keywords if k.arg]
    return _clip(f"class {node.name}({', '.join(bases)})" if bases else f"class {node.name}", MAX_SIGNATURE)


def _walk(body: list[ast.stmt], depth: int, out: list[Symbol]) -> None:
    for node in body:
        if isinstance(node, ast.ClassDef):
            out.append(Symbol(node.lineno, depth, node.name, _class_text(node)))
            _walk(node.body, depth + 1, out)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            out.append(Symbol(node.lineno, depth, node.name, _def_text(node)))
            # nested functions are implementation detail: not outlined
        elif isinstance(node, ast.If | ast.Try | ast.With | ast.AsyncWith):
            # `if TYPE_CHECKING:` / `try: ... except ImportError:` blocks at module or class level
            for block in (node.body, getattr(node, "orelse", []), getattr(node, "finalbody", [])):
                _walk(block, depth, out)
            for handler in getattr(node, "handlers", []):
                _walk(handler.body, depth, out)


def python_outline(text: str) -> list[Symbol]:
    """Classes, methods and functions of Python source. Raises SyntaxError."""
    tree = parse_python(text)
    out: list[Symbol] = []
    _walk(tree.body, 0, out)
    return out


# --------------------------------------------------------------------------- other languages

_MODIFIERS = (
    r"(?:(?:export|public|private|protected|internal|static|async|abstract|final|default|override|open|"
    r"sealed|data|inline|unsafe|extern|virtual|partial|declare|pub(?:\([^)]*\))?)\s+)*"
)
_PLAIN = re.compile(
    r"^(?P<indent>[ \t]*)" + _MODIFIERS
    + r"(?P<kw>function\*?|class|interface|struct|enum|trait|impl|type|def|fn|func|module|object|record|"
    r"namespace|protocol|extension|macro_rules!)\s+(?P<name>[A-Za-z_$][\w$]*)",
    re.M,
)
_GO_METHOD = re.compile(r"^func\s+\([^)]*\)\s+(?P<name>\w+)", re.M)
_HEADING = re.compile(r"^(?P<hashes>#{1,6})\s+(?P<title>\S.*?)\s*#*\s*$", re.M)
MARKDOWN_SUFFIXES = (".md", ".markdown", ".mdx")


def plain_outline(text: str, rel: str = "") -> list[Symbol]:
    """Definition-looking lines of any language (Markdown: headings). May be empty."""
    out: list[Symbol] = []
    if rel.lower().endswith(MARKDOWN_SUFFIXES):
        for m in _HEADING.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            out.append(Symbol(line, len(m["hashes"]) - 1, m["title"], _clip(m.group(0).strip(), MAX_SIGNATURE)))
        return out
    for m in sorted([*_PLAIN.finditer(text), *_GO_METHOD.finditer(text)], key=lambda m: m.start()):
        start = m.start()
        line_end = text.find("\n", start)
        raw = text[start: line_end if line_end != -1 else len(text)]
        indent = len(m.groupdict().get("indent") or "")
        depth = 0 if indent == 0 else 1 + (indent - 1) // 4
        shown = raw.strip().rstrip("{:").rstrip()
        out.append(Symbol(text.count("\n", 0, start) + 1, depth, m["name"], _clip(shown, MAX_SIGNATURE)))
    return out


def outline(rel: str, text: str) -> tuple[list[Symbol], str | None]:
    """(symbols, note): Python via ast, falling back to the plain outline with a note when the
    file does not parse; other files via the plain outline."""
    if rel.endswith((".py", ".pyi")):
        try:
            return python_outline(text), None
        except (SyntaxError, ValueError, RecursionError) as e:
            where = f" (line {e.lineno}: {e.msg})" if isinstance(e, SyntaxError) else ""
            return plain_outline(text, rel), f"could not parse as Python{where}; plain outline"
    return plain_outline(text, rel), None


def render_symbols(symbols: list[Symbol], *, indent: str = "  ") -> list[str]:
    """`  12 class Foo(Base)` lines, nested symbols indented, numbers right-aligned."""
    if not symbols:
        return []
    width = len(str(max(s.line for s in symbols)))
    return [f"{indent}{s.line:>{width}} {'  ' * s.depth}{s.text}" for s in symbols]
