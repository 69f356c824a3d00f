"""Retry policy for model calls: which failures are worth retrying, and how long to wait.

We retry ourselves (the SDK's max_retries is 0) so every retry is a visible event with its
cause and delay, and so a malformed or truncated body is retried like a dropped connection.
"""

from __future__ import annotations

import email.utils
import json
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

import openai

from ..redact import redact

RETRY_STATUSES = frozenset({408, 409, 429})


class MalformedReply(Exception):
    """The endpoint answered 200 with something that is not a usable reply (bad JSON, cut stream)."""


@dataclass(frozen=True)
class Failure:
    retryable: bool
    cause: str
    status: int | None = None
    retry_after: float | None = None


def classify(exc: BaseException, timeout_s: float) -> Failure | None:
    """Map an exception from one attempt to a Failure; None means it is not a model-call failure."""
    if isinstance(exc, (openai.APITimeoutError, TimeoutError)):
        return Failure(True, f"no answer within {timeout_s:g}s (timeout)")
    if isinstance(exc, openai.APIConnectionError):
        inner = exc.__cause__
        detail = f"{type(inner).__name__}: {inner}" if inner is not None else exc.message
        return Failure(True, f"connection failed or dropped ({redact(detail)})")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        retryable = status in RETRY_STATUSES or status >= 500
        return Failure(retryable, f"HTTP {status}: {server_message(exc)}", status,
                       retry_after_seconds(exc.response.headers) if retryable else None)
    if isinstance(exc, (json.JSONDecodeError, MalformedReply, openai.APIResponseValidationError)):
        return Failure(True, f"malformed response ({redact(str(exc))[:200]})")
    if isinstance(exc, openai.APIError):  # e.g. an error event in the middle of a stream
        return Failure(True, f"the endpoint reported an error mid-answer ({redact(exc.message)[:200]})")
    if isinstance(exc, openai.OpenAIError):  # SDK-side problems (configuration); retrying cannot help
        return Failure(False, f"{type(exc).__name__}: {redact(str(exc))[:300]}")
    return None


def server_message(exc: openai.APIStatusError) -> str:
    """The endpoint's own error message, short and with secrets scrubbed."""
    body = exc.body
    msg: object = None
    if isinstance(body, Mapping):
        err = body.get("error", body)
        msg = err.get("message") if isinstance(err, Mapping) else err
    text = str(msg) if msg else exc.message
    return redact(text)[:500]


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds asked by `retry-after-ms`, or `retry-after` as seconds or an HTTP date."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    parsed = email.utils.parsedate_tz(value)
    if parsed is None:
        return None
    return max(0.0, email.utils.mktime_tz(parsed) - time.time())


def backoff_delay(attempt: int, base: float, cap: float, retry_after: float | None = None) -> float:
    """Delay before retry number `attempt` (1-based).

    Retry-After is honoured (never undercut) up to `cap`; otherwise exponential backoff with
    "equal jitter" (half fixed, half random), so concurrent agents do not retry in lockstep.
    """
    if retry_after is not None:
        return min(cap, retry_after + random.uniform(0, min(0.1, retry_after * 0.1)))
    exp = min(cap, base * (2 ** (attempt - 1)))
    return exp / 2 + random.uniform(0, exp / 2)
