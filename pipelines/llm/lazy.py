"""`LazyLLMClient`: the face of `LLMClient` without the openai SDK's import (~0.5 s of CPU) on the
run's critical path.

The import runs in a background thread (prefetch.py), started by the command line as soon as
it knows the command calls models, else when the first run starts; the first model call waits
for it without blocking the event loop. Everything before that call (role checks, usage) needs no SDK.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from ..events import EventBus
from ..models import Role, Usage
from ..settings import RoleConfig, Settings
from .errors import LLMError
from .prefetch import prefetch

if TYPE_CHECKING:
    from .client import LLMClient

class LazyLLMClient:
    """Same calls as LLMClient (`turn`, `role_config`, `usage_by_role`, `aclose`); the real
    client is made at the first model call."""

    def __init__(self, settings: Settings, bus: EventBus | None = None) -> None:
        self.settings = settings
        self.bus = bus
        self.usage_by_role: dict[str, Usage] = {}
        self._real: LLMClient | None = None
        self._module = prefetch()
        self.recorder: Any = None  # `--record`: a SessionRecorder, handed to the real client

    def role_config(self, role: Role | str) -> RoleConfig:
        try:
            return self.settings.role(role)
        except (ValueError, KeyError):
            known = ", ".join(r.value for r in Role)
            raise LLMError(f"unknown role {role!r}; roles are: {known}") from None

    async def client(self) -> LLMClient:
        if self._real is None:
            module = await asyncio.wrap_future(self._module)
            if self._real is None:
                real = module.LLMClient(self.settings, self.bus)
                real.usage_by_role = self.usage_by_role  # one tally, read by the engine
                real.recorder = self.recorder
                self._real = real
        return self._real

    async def turn(self, *args: Any, **kwargs: Any) -> Any:
        return await (await self.client()).turn(*args, **kwargs)

    @property
    def usage(self) -> Usage:
        return Usage.total(self.usage_by_role.values())

    async def aclose(self) -> None:
        if self._real is not None:
            await self._real.aclose()
