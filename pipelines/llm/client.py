"""`LLMClient`: one model call per role, with our own retries, usage accounting and events.

Each role has its own model, endpoint and API. The SDK never retries (max_retries=0): we do,
so that each retry is a trace event with its cause and delay, and so a malformed or cut-off
answer is retried like a dropped connection.

One TLS context serves every client in the process (`shared_ssl_context`, llm/tls.py): building one loads
the CA certificates, ~20-40 ms of CPU, which the SDK's default HTTP client would pay for every
`AsyncOpenAI`, so once per run and endpoint. Each LLMClient still has its own HTTP clients
(connection pools, bound to the event loop that uses them), closed by its `aclose`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from openai import AsyncOpenAI, DefaultAsyncHttpxClient

from ..events import EventBus, EventType
from ..models import Role, Usage
from ..settings import RoleConfig, Settings
from ..tools import ToolSpec
from .apis import call_chat, call_responses
from .conversation import AssistantTurn, Conversation
from .errors import LLMError
from .retry import Failure, backoff_delay, classify
from .tls import shared_ssl_context
from .usage import with_cost

if TYPE_CHECKING:
    from .recording import SessionRecorder

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
# Local servers (Ollama, vLLM, llama.cpp) ignore the key, but the SDK insists on one.
PLACEHOLDER_KEY = "baton-no-key"


def is_openai_endpoint(url: str) -> bool:
    host = (urlparse(url).hostname or "").lower()
    return host == "api.openai.com" or host.endswith(".api.openai.com")


def request_bytes(cfg: RoleConfig, conversation: Conversation, tools: list[ToolSpec]) -> int:
    """About the size of the request body: the messages and tool schemas as JSON."""
    if cfg.api == "responses":
        body: list[Any] = [conversation.to_responses(), [t.responses_schema() for t in tools]]
    else:
        body = [conversation.to_chat(), [t.chat_schema() for t in tools]]
    return len(json.dumps(body, ensure_ascii=False).encode("utf-8"))


class LLMClient:
    """Talks to each role's model; sums usage per role in `usage_by_role`."""

    def __init__(self, settings: Settings, bus: EventBus | None = None) -> None:
        self.settings = settings
        self.bus = bus
        self.usage_by_role: dict[str, Usage] = {}
        self._clients: dict[tuple[str, str], AsyncOpenAI] = {}
        self.recorder: SessionRecorder | None = None  # `--record`: keeps every accepted answer
        # One backoff for every agent sharing this client (a parallel fan-out): a 429 with
        # Retry-After pauses all their calls until then, not only the call that met it.
        self._resume_at = 0.0

    # ------------------------------------------------------------------ configuration

    def role_config(self, role: Role | str) -> RoleConfig:
        try:
            return self.settings.role(role)
        except (ValueError, KeyError):
            known = ", ".join(r.value for r in Role)
            raise LLMError(f"unknown role {role!r}; roles are: {known}") from None

    def endpoint(self, role: Role | str) -> str:
        return (self.role_config(role).base_url or self.settings.base_url or DEFAULT_BASE_URL).rstrip("/")

    def _sdk_client(self, endpoint: str) -> AsyncOpenAI:
        key = self.settings.api_key_value()
        if not key:
            if is_openai_endpoint(endpoint):
                raise LLMError(
                    f"no API key for {endpoint}: set OPENAI_API_KEY (or BATON_API_KEY, or api_key in baton.toml), "
                    "or point base_url at a local OpenAI-compatible server such as Ollama"
                )
            key = PLACEHOLDER_KEY
        client = self._clients.get((endpoint, key))
        if client is None:
            # The SDK's own default client (its timeout, connection limits and redirects), but on
            # the shared TLS context; the SDK closes it when this AsyncOpenAI is closed.
            http = DefaultAsyncHttpxClient(verify=shared_ssl_context())
            client = AsyncOpenAI(api_key=key, base_url=endpoint, organization=self.settings.organization,
                                 max_retries=0, timeout=self.settings.llm_timeout_s, http_client=http)
            self._clients[(endpoint, key)] = client
        return client

    # ------------------------------------------------------------------ calls

    async def turn(self, role: Role | str, conversation: Conversation, tools: list[ToolSpec], *,
                   step: str | None = None) -> AssistantTurn:
        """One model answer for `role`, retried on transient failures. Raises LLMError when it cannot."""
        cfg = self.role_config(role)
        role_name = Role(role).value
        endpoint = self.endpoint(role)
        s = self.settings
        size = request_bytes(cfg, conversation, tools)
        if size > s.max_request_bytes:
            raise LLMError(f"{role_name}: the request to model '{cfg.model}' would be {size:,} bytes; at most "
                           f"{s.max_request_bytes:,} are allowed (max_request_bytes). A tool result or a change "
                           "put a huge text into the conversation; nothing was sent")
        client = self._sdk_client(endpoint)
        loop = asyncio.get_running_loop()
        started = loop.time()
        for attempt in range(1, s.max_retries + 2):
            await self._shared_backoff(role_name, step)
            try:
                async with asyncio.timeout(s.llm_timeout_s):
                    if cfg.api == "responses":
                        turn = await call_responses(client, cfg, conversation, tools)
                    else:
                        turn = await call_chat(client, cfg, conversation, tools, cfg.stream)
            except Exception as e:  # CancelledError is a BaseException and propagates untouched
                failure = classify(e, s.llm_timeout_s)
                if failure is None:
                    raise
                if not failure.retryable:
                    raise self._fatal(role_name, cfg, endpoint, failure) from None
                if attempt > s.max_retries:
                    raise self._gave_up(role_name, cfg, endpoint, failure, attempt, step) from None
                delay = backoff_delay(attempt, s.retry_base_delay_s, s.retry_max_delay_s, failure.retry_after)
                self._emit(EventType.retry, f"{role_name}: retry {attempt}/{s.max_retries} in {delay:.2f}s "
                           f"after {failure.cause}", role=role_name, step=step, model=cfg.model,
                           endpoint=endpoint, attempt=attempt, delay_s=round(delay, 3), cause=failure.cause,
                           status=failure.status, retry_after_s=failure.retry_after)
                if failure.status == 429:  # the provider's limit is shared: slow every caller down
                    self._resume_at = max(self._resume_at, loop.time() + delay)
                else:
                    await asyncio.sleep(delay)
                continue
            turn = self._account(role_name, cfg, endpoint, turn, loop.time() - started, attempt, step)
            if self.recorder is not None:
                self.recorder.add(cfg.model, turn, when=conversation.route)
            return turn
        raise AssertionError("unreachable: the retry loop returns or raises")

    async def _shared_backoff(self, role: str, step: str | None) -> None:
        loop = asyncio.get_running_loop()
        while (wait := self._resume_at - loop.time()) > 0:
            self._emit(EventType.log, f"{role}: waiting {wait:.2f}s: the provider asked to slow down (HTTP 429)",
                       role=role, step=step, backoff_s=round(wait, 3))
            await asyncio.sleep(wait)

    def _account(self, role: str, cfg: RoleConfig, endpoint: str, turn: AssistantTurn, duration: float,
                 attempts: int, step: str | None) -> AssistantTurn:
        usage = with_cost(turn.usage, cfg)
        turn = turn.model_copy(update={"usage": usage})
        self.usage_by_role[role] = self.usage_by_role.get(role, Usage()) + usage
        self._emit(
            EventType.llm_call,
            f"{role}: {cfg.model} {usage.prompt_tokens}+{usage.completion_tokens} tokens, "
            f"{len(turn.tool_calls)} tool calls, {duration:.1f}s",
            role=role, step=step, model=cfg.model, api=cfg.api, endpoint=endpoint,
            duration_s=round(duration, 3), attempts=attempts, prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens, cached_tokens=usage.cached_tokens,
            reasoning_tokens=usage.reasoning_tokens, cost_usd=usage.cost_usd,
            finish_reason=turn.finish_reason, tool_calls=len(turn.tool_calls),
        )
        return turn

    def _fatal(self, role: str, cfg: RoleConfig, endpoint: str, f: Failure) -> LLMError:
        """Errors retrying cannot fix, phrased as what to change."""
        model = cfg.model
        if f.status is None:
            return LLMError(f"{role}: calling model '{model}' at {endpoint} failed ({f.cause}); not retried")
        if f.status == 401:
            hint = "check the API key (OPENAI_API_KEY or BATON_API_KEY, or api_key in the settings)"
            return LLMError(f"{role}: {endpoint} rejected the API key for model '{model}' ({f.cause}); {hint}")
        if f.status == 403:
            return LLMError(f"{role}: {endpoint} refused access to model '{model}' ({f.cause}); "
                            "check that the API key may use this model")
        if f.status == 404:
            return LLMError(f"{role}: unknown model '{model}' at endpoint {endpoint} ({f.cause}); "
                            f"check roles.{role}.model and base_url")
        return LLMError(f"{role}: {endpoint} refused the request for model '{model}' ({f.cause}); not retried: "
                        f"check roles.{role} (api, reasoning_effort, temperature, max_output_tokens)")

    def _gave_up(self, role: str, cfg: RoleConfig, endpoint: str, f: Failure, attempts: int,
                 step: str | None) -> LLMError:
        msg = (f"{role}: model '{cfg.model}' at {endpoint} failed after {attempts} attempts; last cause: {f.cause}. "
               "Check that the endpoint is up and serves this model, or raise llm_timeout_s / max_retries.")
        self._emit(EventType.failure, msg, role=role, step=step, model=cfg.model, endpoint=endpoint,
                   attempts=attempts, cause=f.cause)
        return LLMError(msg)

    def _emit(self, type_: EventType, message: str, **fields: Any) -> None:
        if self.bus is not None:
            self.bus.emit(type_, message, **fields)

    @property
    def usage(self) -> Usage:
        return Usage.total(self.usage_by_role.values())

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for c in clients:
            await c.close()
