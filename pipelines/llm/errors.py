"""Errors of the LLM layer, in their own module so callers can catch them without importing openai."""

from __future__ import annotations


class LLMError(Exception):
    """A model call failed for good: names the endpoint, the model, the cause and what to do."""


class AgentError(Exception):
    """An agent's tool loop could not produce a valid result (repairs, turns or time ran out)."""
