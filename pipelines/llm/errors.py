"""Errors of the LLM layer, in their own module so callers can catch them without importing openai."""

from __future__ import annotations

from ..errors import BatonError


class LLMError(BatonError):
    """A model call failed for good: names the endpoint, the model, the cause and what to do."""


class AgentError(BatonError):
    """An agent's tool loop could not produce a valid result (repairs, turns or time ran out)."""
