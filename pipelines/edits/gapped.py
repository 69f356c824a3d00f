"""Place a hunk whose context has a gap: a file line the model left out, or a line it made up.

Models often drop one line from the middle of the context they quote, or quote a context
line the file does not have. A window of the block's length then never matches, and a fuzzy
window lands one line off. Here every line the hunk quotes is matched in order to a file
line (up to whitespace and typographic punctuation), allowing a few faults: a run of up to
MAX_GAP file lines the context skips (kept as they are), or a context line the file lacks
(ignored). Lines to remove are never skipped and never skip a file line between them; a gap
is never allowed where added lines would go (their place would be a guess). A placement is
used only when it is the only one.
"""

from __future__ import annotations

from collections.abc import Sequence

from .normalise import loose

MAX_GAP = 2  # file lines the context may skip in one place
MAX_FAULTS = 2  # skipped runs plus made-up context lines, per hunk
_MAX_PLACEMENTS = 20  # enough to know a block is ambiguous

Positions = tuple[int | None, ...]


def gapped_matches(
    lines: Sequence[str],
    block: Sequence[str],
    removed: Sequence[bool],
    inserted_before: Sequence[bool],
    *,
    start: int = 0,
    at_eof: bool = False,
) -> list[Positions]:
    """Every placement with a distinct effect (file line of each block line, None: not in the
    file), in file order; of placements with the same effect, the one with the fewest faults.

    `inserted_before[k]`: the hunk adds lines right before block line k (after line k-1); its
    last entry (index len(block)) is for lines added after the last block line. Two placements
    have the same effect when they remove the same file lines and insert at the same points:
    they differ only in which context they took for which line, and context is kept anyway."""
    keys = [loose(x) for x in lines]
    want = [loose(b) for b in block]
    m, n = len(block), len(lines)
    found: dict[Positions, tuple[int, Positions]] = {}

    def gap_allowed(k: int) -> bool:
        """May file lines be skipped between block lines k-1 and k?"""
        if removed[k - 1] and removed[k]:
            return False  # the model says these removed lines are adjacent
        return not (inserted_before[k] and not removed[k - 1])

    def done(pos: list[int | None], faults: int) -> None:
        mapped = [p for p in pos if p is not None]
        solid = sum(1 for p, b in zip(pos, block, strict=True) if p is not None and b.strip())
        if solid < 2 or (at_eof and mapped[-1] != n - 1):
            return
        effect = _effect(pos, removed, inserted_before)
        if effect not in found or found[effect][0] > faults:
            found[effect] = (faults, tuple(pos))

    def walk(k: int, prev: int, pos: list[int | None], faults: int) -> None:
        if len(found) > _MAX_PLACEMENTS:
            return
        if k == m:
            if prev >= 0:
                done(pos, faults)
            return
        can_skip_line = not removed[k] and faults < MAX_FAULTS
        if prev < 0:  # nothing placed yet: block line k may start anywhere
            for j in range(start, n):
                if keys[j] == want[k]:
                    walk(k + 1, j, [*pos, j], faults)
            if can_skip_line:
                walk(k + 1, prev, [*pos, None], faults + 1)
            return
        j = prev + 1
        if j < n and keys[j] == want[k]:
            walk(k + 1, j, [*pos, j], faults)
        if faults < MAX_FAULTS and pos[-1] is not None and gap_allowed(k):
            for jj in range(j + 1, min(n, j + 1 + MAX_GAP)):
                if keys[jj] == want[k]:
                    walk(k + 1, jj, [*pos, jj], faults + 1)
        if can_skip_line:
            walk(k + 1, prev, [*pos, None], faults + 1)

    walk(0, -1, [], 0)
    return sorted((pos for _, pos in found.values()), key=lambda pos: min(p for p in pos if p is not None))


def _effect(pos: Sequence[int | None], removed: Sequence[bool], inserted_before: Sequence[bool]) -> Positions:
    """What a placement changes: the file lines it removes and where each run of added lines goes."""
    first = min(p for p in pos if p is not None)
    out: list[int | None] = []
    last_mapped: int | None = None
    for k, p in enumerate([*pos, None]):
        if inserted_before[k]:
            out.append(-1 - (last_mapped + 1 if last_mapped is not None else first))  # negative: an insertion
        if k < len(pos):
            if p is not None and removed[k]:
                out.append(p)
            if p is not None:
                last_mapped = p
    return tuple(out)
