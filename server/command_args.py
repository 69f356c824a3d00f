"""What each command is called and what it accepts: one pydantic model per command.

The names and argument models are the server's command contract with every editor; a
malformed argument is a JSON-RPC InvalidParams error naming the field, and starts nothing.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel
from pygls.exceptions import JsonRpcInvalidParams

T = TypeVar("T", bound=BaseModel)

PLAN_IMPLEMENT_REVIEW = "baton.planImplementReview"
PARALLEL_MODULES = "baton.parallelModules"
TRIAGE_FIX_VALIDATE = "baton.triageFixValidate"
CANCEL_RUN = "baton.cancelRun"
CONTINUE_RUN = "baton.continueRun"
LIST_RUNS = "baton.listRuns"
SHOW_RUN = "baton.showRun"  # also writes and returns the run's trace.html
APPLY_RUN = "baton.applyRun"
SHOW_STATS = "baton.showStats"
PROPOSED_FILES = "baton.proposedFiles"
PROPOSED_CONTENT = "baton.proposedContent"
DISMISS_RUN = "baton.dismissRun"
DISMISS_FINDING = "baton.dismissFinding"


def _task_text(v: str) -> str:
    if not v.strip():
        raise ValueError("the task is empty: say what should be done")
    return v


TaskText = Annotated[str, AfterValidator(_task_text)]


class Args(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, alias_generator=to_camel)


class PlanImplementReviewArgs(Args):
    task: TaskText = Field(description="What to do.")
    scope: str | None = Field(default=None, description="file:// URI of a file or folder; default: the workspace.")
    confirm_plan: bool | None = None


class ParallelModulesArgs(Args):
    task: TaskText = Field(description="The change to make in every module.")
    modules: list[str] | None = Field(default=None, description="file:// URIs of the modules (files or folders); "
                                      "default: the decomposer splits the task.")
    confirm_plan: bool | None = None


class TriageFixValidateArgs(Args):
    """At most one failure input; none: run the test command now and triage what fails."""

    junit: str | None = Field(default=None, description="JUnit XML text.")
    log: str | None = Field(default=None, description="CI log text (pasted text that is no log is read as an issue).")
    log_uri: str | None = Field(default=None, description="file:// URI of a CI log or JUnit XML file.")
    issue: str | None = Field(default=None, description="Issue text, or GitHub issue JSON.")
    scope: str | None = Field(default=None, description="file:// URI inside the workspace folder to triage in.")
    good: str | None = Field(default=None, description="A commit where the tests passed: bisect from it.")
    tests: list[str] | None = Field(default=None, min_length=1, max_length=200,
                                    description="pytest ids to triage (a code action on a test); rerun first.")

    @field_validator("tests")
    @classmethod
    def _tests(cls, v: list[str] | None) -> list[str] | None:
        from baton.pipelines.triage.parsers import safe_test_id

        for t in v or []:
            if safe_test_id(t) is None:
                raise ValueError(f"{t[:100]!r} is not a pytest id inside the workspace (like tests/test_x.py::test_y)")
        return v

    @field_validator("junit", "log", "issue")
    @classmethod
    def _text(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("is empty: give the failure text, or leave the field out to run the tests now")
        return v

    @field_validator("log_uri")
    @classmethod
    def _uri(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith("file:"):
            raise ValueError(f"expected a file:// URI of a log or JUnit file, got {v!r}")
        return v


class RunIdArgs(Args):
    run_id: str = Field(min_length=1)


class ListRunsArgs(Args):
    limit: int = Field(default=20, ge=1, le=500)


class ProposedContentArgs(Args):
    run_id: str = Field(min_length=1)
    uri: str


class DismissFindingArgs(Args):
    run_id: str = Field(min_length=1)
    index: int | None = None


class NoArgs(Args):
    pass


def parse_args(command: str, raw: tuple[Any, ...], model: type[T]) -> T:
    """One argument object (or none when every field has a default)."""
    if len(raw) > 1:
        raise JsonRpcInvalidParams(message=f"{command}: expected one argument object, got {len(raw)} arguments")
    value = raw[0] if raw else {}
    if value is None or value == []:  # Lua's empty table {} is sent as [] by Neovim
        value = {}
    if not isinstance(value, dict):
        raise JsonRpcInvalidParams(message=f"{command}: the argument must be an object like "
                                           f"{_example(model)}, got {type(value).__name__}")
    try:
        return model.model_validate(value)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            field = ".".join(str(p) for p in err["loc"]) or "<argument>"
            msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
            problems.append(f"`{field}`: {msg}")
        raise JsonRpcInvalidParams(message=f"{command}: " + "; ".join(problems),
                                   data={"fields": [".".join(map(str, x["loc"])) for x in e.errors()]}) from None


def _example(model: type[BaseModel]) -> str:
    fields = [f.alias or n for n, f in model.model_fields.items() if f.is_required()]
    return "{" + ", ".join(f'"{f}": ...' for f in fields) + "}"
