"""The last eval's table rows for the editor's statistics view (light: no runner, no engine)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..store import RunStore
from .results import EvalReport


def latest_report(store: RunStore) -> EvalReport | None:
    """`.baton/evals/latest.json` → its report, or None (no eval yet, or files that do not parse)."""
    pointer = store.base / "evals" / "latest.json"
    try:
        eval_id = json.loads(pointer.read_text(encoding="utf-8"))["eval_id"]
        path = store.base / "evals" / Path(str(eval_id)).name / "report.json"
        return EvalReport.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError, ValidationError):
        return None


def latest_eval_rows(store: RunStore) -> dict[str, Any]:
    """`{"evalId", "evals": [{pattern, modelSet, runs, successRate, meanDurationS, ci95Low, ci95High}]}`."""
    report = latest_report(store)
    if report is None:
        return {}
    return {"evalId": report.eval_id, "evals": [
        {"pattern": g.pattern, "modelSet": g.model_set, "runs": g.runs, "successRate": g.success_rate,
         "meanDurationS": g.mean_duration_s, "ci95Low": g.ci95_low, "ci95High": g.ci95_high} for g in report.groups]}
