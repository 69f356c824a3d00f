"""Find a block of lines in a file: exact, then whitespace-tolerant, then with a gap, then fuzzy.

A miss or an ambiguous hit raises EditError showing the closest lines with their numbers,
so the model can copy the real text and try again (the aider "did you mean" loop).

A caller can mark lines of the block as `removed` (apply_patch marks its `-` lines): those are
the lines the edit removes, so a fuzzy match may not take them for different lines; they
must equal the file's lines after whitespace normalisation, and only the other (context)
lines may differ slightly. Otherwise `return a * b * 2` could "match" `return a * b` and the
edit would delete a line the model never quoted. The removed lines also decide the
indentation of the new lines (indentation.py). With `gaps=True` (apply_patch hunks) a block whose
context skips a file line, or quotes one the file lacks, still places where the rest matches
uniquely and in order (gapped.py).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from .errors import EditError
from .gapped import gapped_matches
from .indentation import Shift, shift_for
from .normalise import loose as _loose
from .normalise import normal as _normal

Level = Literal["exact", "rstrip", "indent", "gapped", "fuzzy"]
FUZZY_THRESHOLD = 0.9  # difflib ratio of the joined lines; below this a block does not match
_MAX_FUZZY_WORK = 4_000_000  # window count × block chars; beyond it fuzzy matching is skipped
_HINT_LINES = 12


@dataclass(frozen=True)
class Match:
    start: int  # first matched line (0-based)
    end: int  # one past the last matched line
    level: Level
    positions: tuple[int | None, ...] = ()  # file line of each block line; None: not in the file
    shift: Shift = Shift()  # how new lines are re-indented (identity unless the removed lines are offset)
    ratio: float = 1.0  # similarity of a fuzzy match

    def reindent(self, lines: Sequence[str]) -> list[str]:
        """Shift replacement lines by the indentation offset the deciding lines showed."""
        return [self.shift.apply(line) for line in lines]

    def skipped_file_lines(self) -> list[int]:
        """File lines inside the match that the block does not quote (a gapped match keeps them)."""
        have = {p for p in self.positions if p is not None}
        return [i for i in range(self.start, self.end) if i not in have]

    def unquoted_block_lines(self) -> list[int]:
        """Block lines the file does not have (context a gapped match ignored)."""
        return [k for k, p in enumerate(self.positions) if p is None]


_KEYS: dict[str, Callable[[str], str]] = {"exact": lambda s: s, "rstrip": str.rstrip, "indent": _loose}


def find_block(
    lines: Sequence[str],
    block: Sequence[str],
    *,
    path: str,
    start: int = 0,
    at_eof: bool = False,
    first_wins: bool = False,
    removed: Sequence[bool] | None = None,
    inserted_before: Sequence[bool] | None = None,
    fuzzy: bool = True,
    what: str = "the SEARCH text",
    advice: str = "include more surrounding lines so it matches exactly one",
) -> Match:
    """Locate `block` in `lines[start:]`. `first_wins` takes the first hit instead of failing on several.

    `removed[k]` marks block line k as one the edit removes: a fuzzy match must have it equal to
    the file's line after whitespace normalisation (the exact and whitespace levels always do),
    and these lines decide the indentation shift. Passing `inserted_before` (one flag per block
    line, new lines go right before it, and one for after the last) allows a gapped match (gapped.py)."""
    if not block:
        raise EditError(f"{path}: {what} is empty; quote the lines to change")
    if removed is not None and len(removed) != len(block):
        raise ValueError(f"removed has {len(removed)} flags for a block of {len(block)} lines")
    m = len(block)
    last = len(lines) - m
    for level in ("exact", "rstrip", "indent"):
        key = _KEYS[level]
        want = [key(b) for b in block]
        have = [key(x) for x in lines]
        if at_eof and last >= start and have[last:] == want:
            return _make(level, last, m, lines, block, removed)
        hits = [i for i in range(start, last + 1) if have[i] == want[0] and have[i:i + m] == want]
        if len(hits) == 1 or (hits and first_wins):
            return _make(level, hits[0], m, lines, block, removed)
        if hits:
            raise ambiguous_error(path, what, hits, m, advice)
    if removed is not None and inserted_before is not None:
        placements = gapped_matches(lines, block, removed, inserted_before, start=start, at_eof=at_eof)
        if len(placements) == 1:  # even after an anchor: a context with a gap is placed only when unique
            return _placed("gapped", placements[0], lines, block, removed)
        if placements:
            spans = [(min(p for p in pos if p is not None), max(p for p in pos if p is not None) + 1)
                     for pos in placements]
            if len(set(spans)) == 1:
                (a, b), = set(spans)
                raise EditError(f"{path}: {what} fits {_span(a, b - a)} in {len(spans)} ways: the file has lines its "
                                "context leaves out, and where the changed lines go among them is unclear; quote the "
                                "context exactly as in the file", path=path)
            raise ambiguous_error(path, what, [a for a, _ in spans], m, advice, [b - a for a, b in spans])
    scored = _fuzzy_scores(lines, block, start)
    if not fuzzy:
        raise _no_match(path, what, lines, block, scored, start)
    good = [(r, i) for r, i in scored if r >= FUZZY_THRESHOLD and _mostly_exact(lines[i:i + m], block)]
    if good:
        best_r, best_i = good[0]
        rivals = [i for r, i in good[1:] if abs(i - best_i) >= m or r >= best_r - 1e-9]
        if rivals and not first_wins:
            raise ambiguous_error(path, what, sorted([best_i, *rivals[:4]]), m, advice)
        if _removed_lines_equal(lines[best_i:best_i + m], block, removed):
            match = _make("fuzzy", best_i, m, lines, block, removed)
            return Match(match.start, match.end, "fuzzy", match.positions, match.shift, best_r)
        # The closest place would lose lines the block does not quote. No other place is tried:
        # one whose removed lines happen to be exact is not what the context points at.
        raise _no_match(path, what, lines, block, good, start, removed)
    raise _no_match(path, what, lines, block, scored, start)


def _make(level: Level, i: int, m: int, lines: Sequence[str], block: Sequence[str],
          removed: Sequence[bool] | None) -> Match:
    return _placed(level, tuple(range(i, i + m)), lines, block, removed)


def _placed(level: Level, positions: Sequence[int | None], lines: Sequence[str], block: Sequence[str],
            removed: Sequence[bool] | None) -> Match:
    mapped = [p for p in positions if p is not None]
    start, end = mapped[0], mapped[-1] + 1
    if level in ("exact", "rstrip"):
        return Match(start, end, level, tuple(positions))
    flags = removed if removed is not None else [True] * len(block)
    pairs = [(b, lines[p], r) for b, p, r in zip(block, positions, flags, strict=True) if p is not None]
    return Match(start, end, level, tuple(positions), shift_for(pairs))


def _mostly_exact(window: Sequence[str], block: Sequence[str]) -> bool:
    """Fuzzy matches need at least half the lines identical (ignoring indentation): a one-line
    block never matches fuzzily, and `return a - b` is never taken for `return a + b`."""
    same = sum(1 for x, b in zip(window, block, strict=True) if x.strip() == b.strip())
    return same >= 1 and 2 * same >= len(block)


def _removed_lines_equal(window: Sequence[str], block: Sequence[str], removed: Sequence[bool] | None) -> bool:
    if removed is None:
        return True
    return all(_normal(x) == _normal(b) for x, b, r in zip(window, block, removed, strict=True) if r)


def _fuzzy_scores(lines: Sequence[str], block: Sequence[str], start: int) -> list[tuple[float, int]]:
    """(ratio, start line) of every window of len(block) lines, best first."""
    m = len(block)
    n_windows = len(lines) - m + 1 - start
    target = "\n".join(b.strip() for b in block)
    if n_windows <= 0 or n_windows * max(len(target), 1) > _MAX_FUZZY_WORK:
        return []
    stripped = [x.strip() for x in lines]
    sm = difflib.SequenceMatcher(None, autojunk=False)
    sm.set_seq2(target)
    scored = []
    for i in range(start, start + n_windows):
        sm.set_seq1("\n".join(stripped[i:i + m]))
        if sm.real_quick_ratio() < 0.5 or sm.quick_ratio() < 0.5:
            continue
        scored.append((sm.ratio(), i))
    scored.sort(key=lambda t: (-t[0], t[1]))
    return scored


def _excerpt(lines: Sequence[str], i: int, m: int) -> str:
    shown = lines[i:i + min(m, _HINT_LINES)]
    width = len(str(i + len(shown)))
    out = [f"  {str(i + k + 1).rjust(width)} | {line}" for k, line in enumerate(shown)]
    if m > _HINT_LINES:
        out.append(f"  {''.rjust(width)} | ... ({m - _HINT_LINES} more lines)")
    return "\n".join(out)


def _span(i: int, m: int) -> str:
    return f"line {i + 1}" if m == 1 else f"lines {i + 1}-{i + m}"


def ambiguous_error(path: str, what: str, hits: list[int], m: int, advice: str,
                    sizes: list[int] | None = None) -> EditError:
    """`sizes`: the length of each hit when they differ (gapped matches), else m for all."""
    sizes = sizes or [m] * len(hits)
    where = ", ".join(_span(i, k) for i, k in zip(hits[:5], sizes, strict=False)) + (" ..." if len(hits) > 5 else "")
    return EditError(f"{path}: {what} matches {len(hits)} places ({where}); {advice}", path=path)


def _removed_differences(lines: Sequence[str], block: Sequence[str], removed: Sequence[bool], i: int) -> str:
    """Which lines to remove differ from the file at line i (a fuzzy match may not remove them)."""
    diffs = [(k, b) for k, (b, r) in enumerate(zip(block, removed, strict=True))
             if r and _normal(lines[i + k]) != _normal(b)]
    if not diffs:
        return ""
    out = ["\nThe lines to remove must match the file (only context lines may differ slightly), but:"]
    for k, b in diffs[:3]:
        out.append(f"  line {i + k + 1} is {lines[i + k].strip()!r}, not {b.strip()!r}")
    if len(diffs) > 3:
        out.append(f"  ... and {len(diffs) - 3} more")
    return "\n".join(out)


def _no_match(
    path: str,
    what: str,
    lines: Sequence[str],
    block: Sequence[str],
    scored: list[tuple[float, int]],
    start: int,
    removed: Sequence[bool] | None = None,
) -> EditError:
    m = len(block)
    head = f"{path}: {what} ({m} line{'s' if m != 1 else ''}) could not be found"
    if start:
        head += f" after line {start}"
    if not lines:
        return EditError(f"{head}: the file is empty", path=path)
    if not scored:  # nothing scored (too big or too different): anchor the hint on the first line
        first = block[0].strip()
        close = difflib.get_close_matches(first, [x.strip() for x in lines[start:]], n=1, cutoff=0.6)
        if close:
            i = start + [x.strip() for x in lines[start:]].index(close[0])
            scored = [(0.0, i)]
    hint = ""
    if scored:
        ratio, i = scored[0]
        pct = f" ({ratio:.0%} similar)" if ratio else ""
        hint = f"\nDid you mean {_span(i, m)}{pct}:\n{_excerpt(lines, i, m)}"
        if removed is not None:
            hint += _removed_differences(lines, block, removed, i)
    return EditError(
        f"{head}.{hint}\nCopy the lines exactly as they are in the file (read it again if unsure) and retry.",
        path=path,
    )
