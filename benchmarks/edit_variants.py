"""Patches for the edit-accuracy benchmark: canonical renderings of real commits, and variants
that imitate the mistakes models make, each labelled with the file it must produce or None
("must refuse": the intent is ambiguous).

Labels come from simple, independent checks (does the quoted block occur exactly once, up to
whitespace; with a wildcard where a line was dropped), never from the applier under test.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from baton.pipelines.edits.apply_patch import Hunk, parse_apply_patch
from baton.pipelines.edits.pathlines import PathJudge
from baton.pipelines.edits.render import render_apply_patch, render_search_replace
from baton.pipelines.edits.search_replace import parse_search_replace
from baton.pipelines.models import ChangeSet, Edit, EditKind


@dataclass(frozen=True)
class Variant:
    item: str  # corpus item id
    fmt: str  # "apply_patch" | "search_replace"
    cls: str  # perturbation class
    path: str
    before: str
    patch: str
    expected: str | None  # None: must refuse


def _key(s: str) -> str:
    return " ".join(s.split())


def occurrences(lines: list[str], block: list[str], wildcard: int | None = None, at_eof: bool = False) -> int:
    """Places where `block` occurs (whitespace-normalised); block[wildcard] stands for any one line;
    `at_eof`: only at the end of the file (the hunk says '*** End of File')."""
    want = [_key(b) for b in block]
    have = [_key(x) for x in lines]
    if have and have[-1] == "":
        have.pop()  # the split of a final newline
    m = len(want)
    starts = [len(have) - m] if at_eof else range(len(have) - m + 1)
    return sum(1 for i in starts if i >= 0 and all(k == wildcard or have[i + k] == want[k] for k in range(m)))


# ---------------------------------------------------------------- apply_patch


def ap_text(path: str, hunks: list[tuple[str, list[tuple[str, str]], bool]], cr: str = "") -> str:
    out = ["*** Begin Patch", f"*** Update File: {path}"]
    for header, ops, eof in hunks:
        out.append(header)
        out.extend(op + t + cr for op, t in ops)
        if eof:
            out.append("*** End of File")
    out.append("*** End Patch")
    return "\n".join(out) + "\n"


def _hunks(item_path: str, before: str, after: str) -> tuple[str, list[Hunk]] | None:
    text = render_apply_patch(ChangeSet(edits=[Edit(path=item_path, kind=EditKind.update, old_text=before,
                                                    new_text=after)]))
    if "*** Delete File:" in text or "\\ No newline" in text:
        return None
    (op,) = parse_apply_patch(text)
    return text, op.hunks  # type: ignore[union-attr]


def _plain(hunks: list[Hunk]) -> list[tuple[str, list[tuple[str, str]], bool]]:
    return [("@@" + (" " + h.anchors[0] if h.anchors else ""), list(h.ops), h.at_eof) for h in hunks]


def _map_ops(hunks: list[Hunk], fn: Callable[[str, str], str]) -> list[tuple[str, list[tuple[str, str]], bool]]:
    return [(hd, [(op, fn(op, t)) for op, t in ops], eof) for hd, ops, eof in _plain(hunks)]


def _indented(t: str, by: str = "    ") -> str:
    return by + t if t.strip() else t


def _tabs(t: str) -> str:
    ind = t[: len(t) - len(t.lstrip(" "))]
    return "\t" * (len(ind) // 4) + " " * (len(ind) % 4) + t[len(ind):]


def _four_space_file(lines: list[str], text: str) -> bool:
    return "\t" not in text and all((len(t) - len(t.lstrip(" "))) % 4 == 0 for t in lines if t.strip())


def _crlf(s: str) -> str:
    return s.replace("\n", "\r\n")


def _inner_space_line(lines: list[str], hunks: list[Hunk]) -> int | None:
    """Index of a file line that a hunk quotes as context and that has an inner space."""
    for h in hunks:
        for op, t in h.ops:
            if op == " " and " " in t.strip() and lines.count(t) == 1:
                return lines.index(t)
    return None


def apply_patch_variants(item: str, path: str, before: str, after: str) -> Iterator[Variant]:
    got = _hunks(path, before, after)
    if got is None:
        return
    canonical, hunks = got
    lines = before.split("\n")

    def v(cls: str, patch: str, expected: str | None = after, b: str = before) -> Variant:
        return Variant(item, "apply_patch", cls, path, b, patch, expected)

    yield v("canonical", canonical)
    yield v("trailing whitespace", ap_text(path, _map_ops(hunks, lambda op, t: t + "  " if op != "+" else t)))
    yield v("CRLF file, LF patch", canonical, _crlf(after), _crlf(before))
    yield v("CRLF file, patch lines carry \\r", ap_text(path, _plain(hunks), cr="\r"), _crlf(after), _crlf(before))
    if all(any(op == "-" and t.strip() for op, t in h.ops) for h in hunks):
        # (every hunk removes a non-blank line: those lines carry the indentation the '+' lines follow)
        yield v("context mis-indented, changed lines right",
                ap_text(path, _map_ops(hunks, lambda op, t: _indented(t) if op == " " else t)))
    yield v("whole hunk mis-indented", ap_text(path, _map_ops(hunks, lambda op, t: _indented(t))))
    if _four_space_file(lines, before) and all(any(t.startswith(" ") for op, t in h.ops if op != "+") for h in hunks):
        # (only where the quoted lines show the model's tabs: new lines alone do not say which style it meant)
        yield v("tabs for spaces", ap_text(path, _map_ops(hunks, lambda op, t: _tabs(t))))
    k = _inner_space_line(lines, hunks)
    if k is not None:
        line = lines[k]
        odd = line.replace(" ", "\u2005", 1) if not line.startswith(" ") else \
            line[: len(line) - len(line.lstrip())] + line.lstrip().replace(" ", "\u2005", 1)
        b2, a2 = before.replace(line + "\n", odd + "\n", 1), after.replace(line + "\n", odd + "\n", 1)
        if a2 != after:
            yield v("Unicode space in the file", canonical, a2, b2)
    yield from _context_variants(v, path, lines, hunks, after)
    yield from _anchor_variants(v, path, lines, hunks)
    typo = _map_first_removed(hunks)
    if typo is not None:
        yield v("removed line not in the file (must refuse)", ap_text(path, typo), None)


def _context_variants(v: Callable[..., Variant], path: str, lines: list[str], hunks: list[Hunk],
                      after: str) -> Iterator[Variant]:
    plain = _plain(hunks)
    for n, h in enumerate(hunks):
        lead = 0
        while lead < len(h.ops) and h.ops[lead][0] == " ":
            lead += 1
        if lead >= 3 and h.ops[1][1].strip():
            ops = h.ops[:1] + h.ops[2:]
            old = [t for op, t in h.ops if op != "+"]
            unique = occurrences(lines, old, wildcard=1, at_eof=h.at_eof) == 1
            yield v("context line dropped from the middle", ap_text(path, plain[:n] + [(plain[n][0], ops, h.at_eof)]
                                                               + plain[n + 1:]), after if unique else None)
            made_up = h.ops[:2] + [(" ", h.ops[1][1][: len(h.ops[1][1]) - len(h.ops[1][1].lstrip())]
                                    + "# (unchanged code)")] + h.ops[2:]
            yield v("made-up context line", ap_text(path, plain[:n] + [(plain[n][0], made_up, h.at_eof)] + plain[n + 1:]))
            break
    if all(any(op == "-" for op, _ in h.ops) for h in hunks):
        bare = [(hd, [(op, t) for op, t in ops if op != " "], False) for hd, ops, _ in plain]
        unique = all(occurrences(lines, [t for op, t in ops if op == "-"]) == 1 for _, ops, _ in bare)
        adjacent = all(_one_change(h) for h in hunks)
        if adjacent:
            yield v("no context, only changed lines", ap_text(path, bare), after if unique else None)


def _one_change(h: Hunk) -> bool:
    """The hunk is context, one run of '-'/'+' lines, context: without its context it says the same."""
    return bool(re.fullmatch(r" *[-+]*-[-+]* *", "".join(op for op, _ in h.ops)))


_DEF = re.compile(r"^\s*(async\s+def|def|class)\s+\w+")


def _anchor_variants(v: Callable[..., Variant], path: str, lines: list[str], hunks: list[Hunk]) -> Iterator[Variant]:
    plain = _plain(hunks)
    first = hunks[0]
    old = [t for op, t in first.ops if op != "+"]
    starts = [i for i in range(len(lines) - len(old) + 1) if lines[i:i + len(old)] == old]
    if len(starts) == 1:
        end = starts[0] + len(old)
        later = next((ln for ln in lines[end:] if _DEF.match(ln) and lines.count(ln) == 1), None)
        if later is not None:
            yield v("@@ anchor after the hunk", ap_text(path, [("@@ " + later.strip(), plain[0][1], plain[0][2])]
                                                        + plain[1:]))
    yield v("@@ anchor that does not exist", ap_text(path, [("@@ def no_such_function_in_this_file():", plain[0][1],
                                                              plain[0][2])] + plain[1:]))
    yield v("wrong line numbers in @@ -n,m +n,m @@", ap_text(path, [(f"@@ -{i * 40 + 7},5 +{i * 40 + 9},6 @@", ops, eof)
                                                                    for i, (_, ops, eof) in enumerate(plain)]))


def _map_first_removed(hunks: list[Hunk]) -> list[tuple[str, list[tuple[str, str]], bool]] | None:
    plain = _plain(hunks)
    for n, (hd, ops, eof) in enumerate(plain):
        for k, (op, t) in enumerate(ops):
            if op == "-" and t.strip():
                changed = ops[:k] + [("-", t.rstrip() + " + 1")] + ops[k + 1:]
                return plain[:n] + [(hd, changed, eof)] + plain[n + 1:]
    return None


# ---------------------------------------------------------------- SEARCH/REPLACE


def sr_text(blocks: list[tuple[str | None, str, str]], fence: bool = True, between: str = "") -> str:
    out: list[str] = []
    for n, (path, search, replace) in enumerate(blocks):
        if n and between:
            out.append(between)
        if path is not None:
            out.append(path)
        out.extend(["```python"] if fence else [])
        out.append("<<<<<<< SEARCH\n" + search + "=======\n" + replace + ">>>>>>> REPLACE")
        out.extend(["```"] if fence else [])
    return "\n".join(out) + "\n"


def _each_line(text: str, fn: Callable[[str], str]) -> str:
    return "".join(fn(line[:-1]) + "\n" for line in text.splitlines(keepends=True))


def search_replace_variants(item: str, path: str, before: str, after: str) -> Iterator[Variant]:
    text = render_search_replace(ChangeSet(edits=[Edit(path=path, kind=EditKind.update, old_text=before,
                                                       new_text=after)]))
    if "\\ No newline" in text:
        return
    blocks = [(b.path, b.search, b.replace) for b in parse_search_replace(text, PathJudge(exists=lambda p: True))]
    if any(not s.endswith("\n") or not r.endswith("\n") and r for _, s, r in blocks):
        return
    lines = before.split("\n")

    def v(cls: str, patch: str, expected: str | None = after, b: str = before) -> Variant:
        return Variant(item, "search_replace", cls, path, b, patch, expected)

    yield v("canonical", sr_text(blocks))
    yield v("trailing whitespace", sr_text([(p, _each_line(s, lambda t: t + "  "), r) for p, s, r in blocks]))
    yield v("CRLF file, LF blocks", sr_text(blocks), _crlf(after), _crlf(before))
    yield v("whole block mis-indented", sr_text([(p, _each_line(s, _indented), _each_line(r, _indented))
                                                 for p, s, r in blocks]))
    if _four_space_file(lines, before) and all(any(t.startswith(" ") for t in s.split("\n")) for _, s, _ in blocks):
        yield v("tabs for spaces", sr_text([(p, _each_line(s, _tabs), _each_line(r, _tabs)) for p, s, r in blocks]))
    first_search = blocks[0][1]
    at = before.find(first_search)
    if at > 0 and before[:at].endswith("\n") and before[:at - 1].rpartition("\n")[2].strip():
        yield v("spurious blank first SEARCH line", sr_text([(blocks[0][0], "\n" + first_search, blocks[0][2]),
                                                             *blocks[1:]]))
    if len(blocks) > 1:
        yield v("'...' between blocks, no second path", sr_text([blocks[0], *[(None, s, r) for _, s, r in blocks[1:]]],
                                                                  between="..."))
    yield v("prose line between path and block", sr_text([(f"{p}\nThen:", s, r) for p, s, r in blocks]))
    yield v("prose instead of the path (must refuse)", sr_text([("Here is the fix:", s, r) for _, s, r in blocks]),
            None)
