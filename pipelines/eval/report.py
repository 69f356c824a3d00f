"""The eval report as text: the table per pattern and model set, failures, calibration, and
`--compare` of two JSON reports."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from ..errors import UsageError
from .results import EvalReport, GroupStats


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.0f}%"


def _num(x: float | None, fmt: str = "{:.2f}") -> str:
    return "-" if x is None else fmt.format(x)


def _dur(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}s"


def rate(g: GroupStats) -> str:
    text = f"{g.succeeded}/{g.runs} {_pct(g.success_rate)}"
    if g.ci95_low is not None and g.ci95_high is not None:
        text += f" [{_pct(g.ci95_low)}-{_pct(g.ci95_high)}]"
    return text


def format_table(report: EvalReport) -> str:
    lines = [f"eval {report.eval_id}: suite {report.suite!r}, {len(report.results)} case run(s), "
             f"executor {report.executor}, {report.duration_s:.1f}s"]
    sets = sorted({g.model_set for g in report.groups})
    names = {m: chr(ord("A") + i) if i < 26 else str(i) for i, m in enumerate(sets)}
    head = (f"{'PATTERN':<22} {'MODELS':<6} {'CASES':>5} {'SUCCESS (95% CI)':<22} {'MEAN':>7} {'P50':>7} "
            f"{'P95':>7} {'TOK/OK':>8} {'$/OK':>8}")
    lines += ["", head]
    for g in report.groups:
        cost = "-" if not g.cost_per_success_usd else f"${g.cost_per_success_usd:.4f}"
        lines.append(f"{g.pattern:<22} {names[g.model_set]:<6} {g.cases:>5} {rate(g):<22} {_dur(g.mean_duration_s):>7} "
                     f"{_dur(g.p50_duration_s):>7} {_dur(g.p95_duration_s):>7} "
                     f"{_num(g.tokens_per_success, '{:.0f}'):>8} {cost:>8}")
    for m in sets:
        lines.append(f"model set {names[m]}: {m}")
    for g in report.groups:
        if g.failures:
            reasons = ", ".join(f"{k} {v}" for k, v in g.failures.items())
            lines.append(f"failures {g.pattern} [{g.model_set}]: {reasons}")
    lines.append("")
    lines.append("reviewer calibration against the hidden check (approved = positive):")
    for g in report.groups:
        c = g.calibration
        if c.n == 0:
            lines.append(f"  {g.pattern} [{g.model_set}]: no verdicts to judge")
            continue
        lines.append(f"  {g.pattern} [{g.model_set}]: approved-but-failing {c.fp}, rejected-but-passing {c.fn}, "
                     f"precision {_num(c.precision)}, recall {_num(c.recall)}, kappa {_num(c.kappa)} (n={c.n})")
    failed = [r for r in report.results if not r.success]
    if failed:
        lines += ["", "failed cases:"]
        for r in failed:
            why = r.error or (r.check.summary if r.check else "")
            lines.append(f"  {r.case_id}#{r.repeat} {r.pattern}: {r.reason.value if r.reason else '?'}"
                         + (f" — {why.strip().splitlines()[0][:140]}" if why and why.strip() else "")
                         + (f" (run {r.run_id})" if r.run_id else ""))
    return "\n".join(lines)


def load_report(path: str | Path) -> EvalReport:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise UsageError(f"{p}: cannot read the eval report ({e.strerror or e})") from None
    try:
        return EvalReport.model_validate_json(text)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "<root>"
        raise UsageError(f"{p}: not a `baton eval --json` report ({where}: {err['msg']})") from None


def compare(a: EvalReport, b: EvalReport) -> str:
    """What changed from report A to report B, per (pattern, model set) and per case."""
    lines = [f"compare {a.eval_id} (A) → {b.eval_id} (B)"]
    ga = {(g.pattern, g.model_set): g for g in a.groups}
    gb = {(g.pattern, g.model_set): g for g in b.groups}
    for key in sorted(set(ga) | set(gb)):
        x, y = ga.get(key), gb.get(key)
        label = f"{key[0]} [{key[1]}]"
        if x is None or y is None:
            lines.append(f"  {label}: only in {'B' if x is None else 'A'}")
            continue
        lines.append(f"  {label}: success {_pct(x.success_rate)} → {_pct(y.success_rate)} "
                     f"({(y.success_rate - x.success_rate) * 100:+.0f} pts), mean {_dur(x.mean_duration_s)} → "
                     f"{_dur(y.mean_duration_s)}, tokens/ok {_num(x.tokens_per_success, '{:.0f}')} → "
                     f"{_num(y.tokens_per_success, '{:.0f}')}, kappa {_num(x.calibration.kappa)} → "
                     f"{_num(y.calibration.kappa)}")
    # Per case (pattern-independent id): success counts over repeats.
    ca: dict[str, list[bool]] = {}
    cb: dict[str, list[bool]] = {}
    for r in a.results:
        ca.setdefault(r.case_id, []).append(r.success)
    for r in b.results:
        cb.setdefault(r.case_id, []).append(r.success)
    changed = []
    for cid in sorted(set(ca) | set(cb)):
        sa, sb = ca.get(cid), cb.get(cid)
        if sa is None or sb is None:
            changed.append(f"  {cid}: only in {'B' if sa is None else 'A'}")
        elif (sum(sa), len(sa)) != (sum(sb), len(sb)):
            verb = "fixed" if sum(sb) / len(sb) > sum(sa) / len(sa) else "regressed" if sum(sb) / len(sb) < sum(sa) / len(sa) else "changed"
            changed.append(f"  {cid}: {verb} ({sum(sa)}/{len(sa)} → {sum(sb)}/{len(sb)})")
    lines.append("cases:" if changed else "cases: no case changed outcome")
    lines += changed
    return "\n".join(lines)
