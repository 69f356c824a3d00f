"""An agent = role prompt + tool set + output model + the role's model config, run as a
bounded tool-calling loop. One Agent object is one conversation, so a revision round
continues it (the model keeps its context and the provider's prompt cache still applies).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from ..engine import RunContext
from ..events import EventType
from ..llm.conversation import Conversation
from ..llm.loop import run_tool_loop
from ..models import ChangesSubmission, ModuleSplit, Plan, Review, Role, Triage
from ..tools import Tool

T = TypeVar("T", bound=BaseModel)

READ_ONLY_ROLES = frozenset({Role.planner, Role.reviewer, Role.triager, Role.decomposer})


@dataclass(frozen=True)
class AgentSpec(Generic[T]):
    role: Role
    submit_name: str
    submit_model: type[T]

    @property
    def prompt(self) -> str:
        return load_prompt(self.role.value)


PLANNER = AgentSpec(Role.planner, "submit_plan", Plan)
IMPLEMENTER = AgentSpec(Role.implementer, "submit_changes", ChangesSubmission)
REVIEWER = AgentSpec(Role.reviewer, "submit_review", Review)
TRIAGER = AgentSpec(Role.triager, "submit_triage", Triage)
DECOMPOSER = AgentSpec(Role.decomposer, "submit_modules", ModuleSplit)


@cache
def load_prompt(name: str) -> str:
    """Role prompts are text files next to the agents (pipelines/agents/prompts/<role>.md)."""
    return resources.files(__package__).joinpath("prompts", f"{name}.md").read_text(encoding="utf-8")


def render(template: str, **fields: object) -> str:
    """Fill a message template (prompts/<template>.md) with named fields."""
    return load_prompt(template).format(**fields).strip()


class Agent(Generic[T]):
    def __init__(self, ctx: RunContext, spec: AgentSpec[T], tools: list[Tool], context: str) -> None:
        if spec.role in READ_ONLY_ROLES and any(t.writes for t in tools):
            names = [t.name for t in tools if t.writes]
            raise ValueError(f"the {spec.role.value} may not have write tools ({', '.join(names)})")
        self.ctx, self.spec, self.tools = ctx, spec, tools
        # System prompt and the shared context (repo map) come first and never change, so
        # providers' prompt caching applies on every later turn.
        self.conversation = Conversation(system=spec.prompt, user=context)

    async def run(self, message: str, *, step: str | None = None, on_submit: Any = None) -> T:
        self.conversation.user(message)
        s = self.ctx.settings  # the step's own timeout (RunContext.step) bounds wall time
        out = await run_tool_loop(
            self.ctx.llm, self.spec.role, self.conversation, self.tools,
            submit_name=self.spec.submit_name, submit_model=self.spec.submit_model,
            max_turns=s.max_turns, max_repairs=s.max_repairs, bus=self.ctx.bus, step=step,
            on_submit=on_submit,
        )
        if isinstance(out, Review):  # every pattern's reviewer verdict, for traces and OpenTelemetry
            self.ctx.bus.emit(EventType.evaluation, f"review {out.verdict}", step=step, role=self.spec.role.value,
                              name="baton.review", label=out.verdict, score=1.0 if out.verdict == "approved" else 0.0,
                              explanation=out.summary.strip()[:2000])
        return out
