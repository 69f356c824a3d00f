"""Python import graph without parsing: a line scan for imports and definitions, and the
resolution of module names to files of the workspace.

The repo map must rank thousands of files before it renders a few; `ast.parse` of every file
costs seconds on a large repository, this scan a small fraction of that. It may see an
`import` inside a docstring; the ranking tolerates that.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

# (level, module, names): `from ..a.b import c, d` → (2, "a.b", ("c", "d")); `import a.b` → (0, "a.b", ())
Import = tuple[int, str, tuple[str, ...]]

_FROM = re.compile(r"from\s+(\.*)\s*([\w.]*)\s+import\s+(.*)", re.S)
_NAME = re.compile(r"[A-Za-z_]\w*")


def _names(spec: str) -> tuple[str, ...]:
    spec = spec.replace("(", " ").replace(")", " ").replace("\\", " ")
    out = []
    for part in spec.split(","):
        words = part.split()
        if words and _NAME.fullmatch(words[0]):
            out.append(words[0])
    return tuple(out)


def _line_prefix(text: str, i: int) -> str:
    """What stands before position i on its line, without surrounding blanks."""
    return text[text.rfind("\n", 0, i) + 1: i].strip(" \t")


def _statement(text: str, i: int) -> str:
    """The import statement starting at i, joined over parentheses and backslashes."""
    n = len(text)
    end = text.find("\n", i)
    stmt = text[i: n if end == -1 else end].split("#", 1)[0].rstrip()
    while end != -1 and (stmt.count("(") > stmt.count(")") or stmt.endswith("\\")):
        nxt = text.find("\n", end + 1)
        line = text[end + 1: n if nxt == -1 else nxt]
        stmt = stmt.rstrip("\\") + " " + line.split("#", 1)[0].strip()
        end = nxt
    return stmt.split(";", 1)[0]


def scan_python(text: str) -> tuple[list[Import], list[str]]:
    """Imports and defined names (classes and functions at any depth) of Python source.

    Finds keywords with str.find (C speed) and looks only at the few lines that start with
    one; a per-line loop in Python costs twice as much on a large repository.
    """
    imports: list[Import] = []
    defs: list[str] = []
    for kw in ("def ", "class "):
        i = text.find(kw)
        while i != -1:
            if _line_prefix(text, i) in ("", "async"):
                m = _NAME.match(text, i + len(kw))
                if m:
                    defs.append(m.group(0))
            i = text.find(kw, i + 1)
    for kw in ("import ", "from "):
        i = text.find(kw)
        while i != -1:
            if _line_prefix(text, i) == "":
                stmt = _statement(text, i)
                if kw == "import ":
                    for part in stmt[7:].split(","):
                        words = part.split()
                        if words and all(_NAME.fullmatch(w) for w in words[0].split(".")):
                            imports.append((0, words[0], ()))
                else:
                    m = _FROM.match(stmt)
                    if m and (m.group(1) or m.group(2)):
                        imports.append((len(m.group(1)), m.group(2), _names(m.group(3))))
            i = text.find(kw, i + 1)
    return imports, defs


def module_names(rel: str, packages: set[str]) -> list[str]:
    """Dotted names a file can be imported by: from the root, and from every folder that is
    not itself a package (a source root such as `src/`)."""
    stem = rel[:-3] if rel.endswith(".py") else rel[:-4]
    parts = stem.split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    if not parts:
        return []
    names = [".".join(parts)]
    for k in range(1, len(parts)):
        if "/".join(parts[:k]) not in packages:  # parts[:k] is a source root, not a package
            names.append(".".join(parts[k:]))
    return names


@dataclass
class ModuleIndex:
    """Dotted module name → files, built from a listing alone (no reads)."""

    modules: dict[str, list[str]] = field(default_factory=dict)
    _paths: set[str] | None = None

    @classmethod
    def build(cls, listing: Iterable[str]) -> ModuleIndex:
        py = [r for r in listing if r.endswith((".py", ".pyi"))]
        packages = {r.rsplit("/", 1)[0] for r in py if r.endswith(("/__init__.py", "/__init__.pyi"))}
        index = cls()
        for rel in py:
            for name in module_names(rel, packages):
                files = index.modules.setdefault(name, [])
                if rel not in files:
                    files.append(rel)
        return index

    def lookup(self, dotted: str) -> list[str]:
        found = self.modules.get(dotted)
        if found:
            return found
        # installed-name prefixes the tree does not have (`baton.pipelines.x` for `pipelines/x.py`)
        parts = dotted.split(".")
        for k in range(1, len(parts) - 1):
            found = self.modules.get(".".join(parts[k:]))
            if found:
                return found
        return []

    def _file_of(self, base: str) -> str | None:
        """'a/b' → 'a/b.py' or 'a/b/__init__.py' if the workspace has it."""
        for suffix in (".py", "/__init__.py", ".pyi", "/__init__.pyi"):
            path = (base + suffix).lstrip("/")
            if path in self.paths:
                return path
        return None

    def resolve(self, importer: str, imp: Import) -> list[str]:
        """Files of the workspace that `importer`'s import statement `imp` refers to: the named
        submodules, plus the module itself when some name is not a submodule."""
        level, module, names = imp
        out: list[str] = []
        unresolved = not names or "*" in names
        if level:
            pkg = importer.split("/")[:-1]
            if level - 1 > len(pkg):
                return []
            base = "/".join(pkg[: len(pkg) - (level - 1)] + (module.split(".") if module else []))
            for nm in names:
                found = self._file_of(f"{base}/{nm}") if nm != "*" else None
                if found:
                    out.append(found)
                else:
                    unresolved = True
            if unresolved:
                found = self._file_of(base)
                if found:
                    out.append(found)
            return out
        for nm in names:
            found_list = self.lookup(f"{module}.{nm}") if nm != "*" else []
            if found_list:
                out += found_list
            else:
                unresolved = True
        if unresolved:
            out += self.lookup(module)
        return out

    @property
    def paths(self) -> set[str]:
        if self._paths is None:
            self._paths = {f for files in self.modules.values() for f in files}
        return self._paths


def digest_text(text: str) -> str:
    """Content key shared by memory and disk caches (stable across processes, unlike hash())."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def scan_text(rel: str, text: str) -> tuple[list[Import], list[str]]:
    return scan_python(text) if rel.endswith((".py", ".pyi")) else ([], [])


ScanResult = tuple[str, str | None, list[Import], list[str]]


def scan_disk_files(root: str, rels: list[str], max_bytes: int) -> list[ScanResult]:
    """Worker for a process pool: read, digest and scan plain files (no overlay, no symlinks:
    the caller keeps those). A file that is unreadable, binary or too large gets digest None."""
    out: list[ScanResult] = []
    for rel in rels:
        try:
            with open(os.path.join(root, rel), "rb") as fh:
                data = fh.read(max_bytes + 1)
            if len(data) > max_bytes or b"\0" in data:
                raise ValueError(rel)
            text = data.decode("utf-8")
        except (OSError, ValueError):
            out.append((rel, None, [], []))
            continue
        imports, defs = scan_text(rel, text)
        out.append((rel, digest_text(text), imports, defs))
    return out
