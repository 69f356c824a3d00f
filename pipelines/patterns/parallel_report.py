"""The report of a parallel run: modules.json, merge.md (order, conflicts, left-out modules,
parallel efficiency) and the `parallel` section of run.json."""

from __future__ import annotations

import json

from ..models import ModuleReport, ModuleStatus, RunRecord


def modules_json(summary: str, reports: list[ModuleReport]) -> str:
    return json.dumps({"summary": summary, "modules": [r.model_dump(mode="json") for r in reports]}, indent=2)


def render_merge_md(reports: list[ModuleReport], wall_s: float, eff: dict[str, float | int]) -> str:
    merged = sorted((r for r in reports if r.status is ModuleStatus.merged), key=lambda r: r.merge_index or 0)
    out = ["# Merge report", "", f"{len(merged)}/{len(reports)} modules merged.", "", "## Merge order", ""]
    if not merged:
        out.append("(nothing merged)")
    for r in merged:
        how = " (after a re-run on the merged result)" if r.resolved_by_rerun else ""
        out.append(f"{r.merge_index}. `{r.path}`{how}: {', '.join(f'`{f}`' for f in r.files) or '(no files)'}")
    out += ["", "## Conflicts", ""]
    conflicts = [r for r in reports if r.conflict]
    if not conflicts:
        out.append("(none)")
    for kind in ("textual", "semantic"):
        for r in (c for c in conflicts if c.conflict == kind):
            result = "resolved by its re-run" if r.resolved_by_rerun else f"left out: {r.reason}"
            out.append(f"- {kind}: `{r.path}`: {result}")
    out += ["", "## Left out", ""]
    left = [r for r in reports if r.status is not ModuleStatus.merged]
    if not left:
        out.append("(none)")
    for r in left:
        out.append(f"- `{r.path}` ({r.status.value}): {r.reason}")
    out += ["", "## Parallel efficiency", "",
            f"- Wall time of fan-out and merge: {eff['wall_s']:.1f}s",
            f"- Sum of module times: {eff['sum_module_s']:.1f}s",
            f"- Speedup achieved: {eff['speedup']:.2f}× at concurrency {eff['concurrency']}",
            f"- Tokens spent on discarded work: {eff['discarded_tokens']}",
            f"- Conflicts found: {eff['textual_conflicts']} textual, {eff['semantic_conflicts']} semantic",
            "", "| module | status | attempts | queued | time | tokens | cost |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in reports:
        out.append(f"| `{r.path}` | {r.status.value} | {r.attempts} | {r.queued_s:.1f}s | {r.duration_s:.1f}s | "
                   f"{r.tokens} | ${r.cost_usd:.4f} |")
    return "\n".join(out) + "\n"


def record_efficiency(record: RunRecord, reports: list[ModuleReport], eff: dict[str, float | int],
                      peak: int) -> None:
    """run.json: per-module status, timings, tokens, cost, and the efficiency figures."""
    record.extra["modules"] = [r.model_dump(mode="json") for r in reports]
    record.extra["parallel"] = {**eff, "peak_concurrency": peak,
                                "merged": sum(1 for r in reports if r.status is ModuleStatus.merged),
                                "modules": len(reports)}
