"""Pydantic hand-off types: the only things agents, the engine, the CLI and the server pass.

Every artifact under `.baton/runs/<id>/` and every submit tool's JSON schema comes from
these models, so a change here is a change of Baton's wire format. The types live in
`handoffs/`, one module per stage; this module is the one place to import them from.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from .handoffs.base import Pattern, Role, utcnow
from .handoffs.changes import ChangeSet, ChangesSubmission, Edit, EditKind
from .handoffs.modules import ModuleReport, ModuleSplit, ModuleStatus, ModuleTask
from .handoffs.plan import Decision, Plan, PlanStep
from .handoffs.records import RunRecord, RunStatus, StepRecord, Usage
from .handoffs.task import Scope, Task
from .handoffs.triage import Failure, FailureReport, Reproduction, Triage, TriageRequest
from .handoffs.verdicts import Finding, Interpreter, Review, Severity, TestReport

__all__ = [
    "HANDOFF_MODELS", "ChangeSet", "ChangesSubmission", "Decision", "Edit", "EditKind", "Failure",
    "FailureReport", "Finding", "Interpreter", "ModuleReport", "ModuleSplit", "ModuleStatus",
    "ModuleTask", "Pattern", "Plan", "PlanStep", "Reproduction", "Review", "Role", "RunRecord",
    "RunStatus", "Scope", "Severity", "StepRecord", "Task", "TestReport", "Triage", "TriageRequest",
    "Usage", "json_schemas", "utcnow",
]

HANDOFF_MODELS: dict[str, type[BaseModel]] = {
    m.__name__: m
    for m in (
        Task,
        Scope,
        Plan,
        PlanStep,
        Decision,
        Edit,
        ChangeSet,
        ChangesSubmission,
        TestReport,
        Review,
        Finding,
        Triage,
        Failure,
        FailureReport,
        Reproduction,
        TriageRequest,
        ModuleSplit,
        ModuleTask,
        ModuleReport,
        Usage,
        StepRecord,
        RunRecord,
    )
}


def json_schemas() -> dict[str, dict[str, Any]]:
    """The JSON schema of every hand-off type, generated from the models themselves."""
    return {name: m.model_json_schema() for name, m in HANDOFF_MODELS.items()}
