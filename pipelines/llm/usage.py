"""Token and cost accounting from either API's usage object into the shared `Usage` model."""

from __future__ import annotations

from typing import Any

from ..models import Usage
from ..settings import RoleConfig


def _get(obj: Any, *path: str) -> int:
    """Nested attribute or key lookup that treats anything missing as 0 (servers differ)."""
    cur = obj
    for name in path:
        if cur is None:
            return 0
        cur = cur.get(name) if isinstance(cur, dict) else getattr(cur, name, None)
    return int(cur) if isinstance(cur, (int, float)) else 0


def chat_usage(usage: Any) -> Usage:
    """From a Chat Completions `usage` (CompletionUsage or dict)."""
    return Usage(
        calls=1,
        prompt_tokens=_get(usage, "prompt_tokens"),
        completion_tokens=_get(usage, "completion_tokens"),
        cached_tokens=_get(usage, "prompt_tokens_details", "cached_tokens"),
        reasoning_tokens=_get(usage, "completion_tokens_details", "reasoning_tokens"),
    )


def responses_usage(usage: Any) -> Usage:
    """From a Responses `usage` (ResponseUsage or dict)."""
    return Usage(
        calls=1,
        prompt_tokens=_get(usage, "input_tokens"),
        completion_tokens=_get(usage, "output_tokens"),
        cached_tokens=_get(usage, "input_tokens_details", "cached_tokens"),
        reasoning_tokens=_get(usage, "output_tokens_details", "reasoning_tokens"),
    )


def with_cost(usage: Usage, cfg: RoleConfig) -> Usage:
    """Add the cost in USD when the role has prices; cached input uses its own price if set."""
    p_in, p_out = cfg.price_input_per_mtok, cfg.price_output_per_mtok
    if p_in is None and p_out is None:
        return usage
    p_in = p_in or 0.0
    p_cached = cfg.price_cached_input_per_mtok if cfg.price_cached_input_per_mtok is not None else p_in
    cached = min(usage.cached_tokens, usage.prompt_tokens)
    cost = ((usage.prompt_tokens - cached) * p_in + cached * p_cached + usage.completion_tokens * (p_out or 0.0)) / 1e6
    return usage.model_copy(update={"cost_usd": cost})
