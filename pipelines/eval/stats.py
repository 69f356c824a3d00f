"""The numbers of an eval table: Wilson intervals, duration percentiles, cost per success and the
reviewer's calibration (confusion matrix, precision, recall, Cohen's kappa) against hidden checks."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable

from ..store import percentile
from .results import Calibration, CaseResult, GroupStats

Z95 = 1.959963984540054


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of a success rate (sound at 0/n and n/n, unlike the normal one)."""
    if n <= 0:
        return None
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def calibration(pairs: Iterable[tuple[bool, bool]]) -> Calibration:
    """From (approved, check passed) pairs. Kappa is agreement beyond chance: 0 for a reviewer that
    approves everything, whatever the pass rate; None when it is undefined (one class only)."""
    c = Counter((a, p) for a, p in pairs)
    tp, fp, fn, tn = c[(True, True)], c[(True, False)], c[(False, True)], c[(False, False)]
    n = tp + fp + fn + tn
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    kappa = None
    if n:
        po = (tp + tn) / n
        pe = ((tp + fp) * (tp + fn) + (fn + tn) * (fp + tn)) / (n * n)
        if pe < 1:
            kappa = (po - pe) / (1 - pe)
    return Calibration(tp=tp, fp=fp, fn=fn, tn=tn, precision=precision, recall=recall, kappa=kappa)


def group_stats(results: list[CaseResult], repeat: int) -> list[GroupStats]:
    """One row per (pattern, model set), in a stable order."""
    groups: dict[tuple[str, str], list[CaseResult]] = {}
    for r in results:
        groups.setdefault((r.pattern, r.model_set), []).append(r)
    out = []
    for (pattern, model_set), rs in sorted(groups.items()):
        ok = [r for r in rs if r.success]
        durations = [r.duration_s for r in rs if r.status != "cancelled"]
        ci = wilson(len(ok), len(rs)) if repeat > 1 else None
        failures = Counter(r.reason.value for r in rs if not r.success and r.reason is not None)
        pairs = [(r.verdict == "approved", r.check.passed) for r in rs if r.verdict and r.check is not None]
        out.append(GroupStats(
            pattern=pattern, model_set=model_set, cases=len({r.case_id for r in rs}), runs=len(rs),
            succeeded=len(ok), success_rate=len(ok) / len(rs),
            ci95_low=ci[0] if ci else None, ci95_high=ci[1] if ci else None,
            mean_duration_s=sum(durations) / len(durations) if durations else None,
            p50_duration_s=percentile(durations, 50), p95_duration_s=percentile(durations, 95),
            waiting_s=sum(r.waiting_s for r in rs),
            tokens_per_success=sum(r.tokens for r in rs) / len(ok) if ok else None,
            cost_per_success_usd=sum(r.cost_usd for r in rs) / len(ok) if ok else None,
            failures=dict(sorted(failures.items())), calibration=calibration(pairs),
        ))
    return out
