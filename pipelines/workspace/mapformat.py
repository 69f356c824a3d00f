"""Lay out the repo map text: file blocks in rank order until the character budget is spent.

A block is the path and its outline. When a file's outline is too long for its share of the
map, top-level symbols and names the task mentions are kept first, then public ones, shown
in file order with a count of what was left out; when even that does not fit, the path alone.
"""

from __future__ import annotations

from collections.abc import Callable

from .outline import Symbol, render_symbols

MAX_SYMBOLS = 30  # per file nobody named
MAX_SMALL_SYMBOLS = 10  # top-level only, when the full outline does not fit
MAX_NAMED_SYMBOLS = 200
MIN_OUTLINE_ROOM = 200  # below this much room left, only paths are added (and nothing is parsed)
MORE = "  … {} more (outline shows all)"

SymbolsOf = Callable[[str], tuple[list[Symbol], str | None]]


def file_block(rel: str, symbols: list[Symbol], note: str | None, *, named: bool, small: bool,
               max_chars: int, idents: set[str]) -> list[str]:
    """The path line and as many outline lines as fit in `max_chars`."""
    if not named:  # private helpers of files nobody named are noise
        symbols = [s for s in symbols if not s.name.startswith("_") or s.name.endswith("__")]
    if small:
        symbols = [s for s in symbols if s.depth == 0]
    head = f"{rel}:" if symbols else rel
    if note and named:
        head += f"  ({note})"
    lines = render_symbols(symbols)
    limit = MAX_NAMED_SYMBOLS if named else (MAX_SMALL_SYMBOLS if small else MAX_SYMBOLS)
    room = max_chars - len(head) - 1
    if len(lines) <= limit and sum(len(x) + 1 for x in lines) <= room:
        return [head, *lines]
    room -= len(MORE) + 8

    def priority(i: int) -> tuple[int, int]:
        s = symbols[i]
        if s.depth == 0:
            return (0, i)
        if s.name in idents:
            return (1, i)
        return (2 if not s.name.startswith("_") else 3, i)

    chosen: list[int] = []
    for i in sorted(range(len(symbols)), key=priority):
        if len(chosen) >= limit or len(lines[i]) + 1 > room:
            break
        chosen.append(i)
        room -= len(lines[i]) + 1
    chosen.sort()
    return [head, *(lines[i] for i in chosen), MORE.format(len(symbols) - len(chosen))]


def render_map(order: list[str], *, header: str, budget: int, named: set[str], idents: set[str],
               symbols_of: SymbolsOf) -> tuple[str, int]:
    """(text of at most `budget` characters, number of files shown). `symbols_of` is called
    only for files that may still get an outline, so parsing stops when the map is full."""
    out: list[str] = []
    used = 0
    if len(header) + 1 <= budget:
        out.append(header)
        used = len(header) + 1
    shown = 0
    for rel in order:
        remaining = budget - used
        if remaining < len(rel) + 1:
            break
        block = [rel]
        if remaining >= MIN_OUTLINE_ROOM:
            is_named = rel in named
            # one named file may take half the map, any other a sixth
            cap = min(remaining, budget // 2 if is_named else max(budget // 6, 400))
            symbols, note = symbols_of(rel)
            for small in (False, True):
                candidate = file_block(rel, symbols, note, named=is_named, small=small, max_chars=cap, idents=idents)
                if sum(len(line) + 1 for line in candidate) <= remaining:
                    block = candidate
                    break
        out += block
        used += sum(len(line) + 1 for line in block)
        shown += 1
    rest = len(order) - shown
    footer = f"… {rest} more files (list_files and outline show them)"
    if rest and used + len(footer) + 1 <= budget:
        out.append(footer)
    return "\n".join(out)[:budget], shown
