"""`ScopedLLM`: one module's view of the run's shared LLMClient.

Calls go through the shared client (its connections and its one 429 backoff, so a rate limit
slows the whole fan-out), while usage is also summed per module and checked against the
module's own budget: one module over budget fails alone, its siblings go on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import BatonError
from ..models import Role, Usage
from ..tools import ToolSpec
from .conversation import AssistantTurn, Conversation

if TYPE_CHECKING:
    from .client import LLMClient


class ModuleBudgetExceeded(BatonError):
    """One module spent more tokens or money than its own budget allows."""


class ScopedLLM:
    def __init__(self, parent: LLMClient, label: str, *, budget_tokens: int | None = None,
                 budget_cost_usd: float | None = None) -> None:
        self.parent, self.label = parent, label
        self.budget_tokens, self.budget_cost_usd = budget_tokens, budget_cost_usd
        self.usage_by_role: dict[str, Usage] = {}

    def __getattr__(self, name: str) -> object:  # role_config, endpoint, …: the shared client's
        return getattr(self.parent, name)

    @property
    def usage(self) -> Usage:
        return Usage.total(self.usage_by_role.values())

    async def turn(self, role: Role | str, conversation: Conversation, tools: list[ToolSpec], *,
                   step: str | None = None) -> AssistantTurn:
        turn = await self.parent.turn(role, conversation, tools, step=step)
        name = Role(role).value
        self.usage_by_role[name] = self.usage_by_role.get(name, Usage()) + turn.usage
        used = self.usage
        if self.budget_tokens is not None and used.total_tokens > self.budget_tokens:
            raise ModuleBudgetExceeded(f"module {self.label}: token budget exceeded: {used.total_tokens} > "
                                       f"{self.budget_tokens} (module_budget_tokens)")
        if self.budget_cost_usd is not None and used.cost_usd > self.budget_cost_usd:
            raise ModuleBudgetExceeded(f"module {self.label}: cost budget exceeded: ${used.cost_usd:.4f} > "
                                       f"${self.budget_cost_usd} (module_budget_cost_usd)")
        return turn
