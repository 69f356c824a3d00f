"""Typed run events: one stream feeds the CLI progress display, the language server and trace.jsonl."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .models import utcnow
from .redact import redact

log = logging.getLogger(__name__)


class EventType(StrEnum):
    run_started = "run_started"
    step_started = "step_started"
    step_finished = "step_finished"
    llm_call = "llm_call"
    tool_call = "tool_call"
    handoff = "handoff"
    retry = "retry"
    failure = "failure"
    waiting = "waiting"  # the plan gate paused the run
    evaluation = "evaluation"  # a reviewer's or validator's verdict: data name, label, score, explanation
    run_finished = "run_finished"
    log = "log"


class Event(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: EventType
    run_id: str | None = None
    step: str | None = None
    role: str | None = None
    ts: datetime = Field(default_factory=utcnow)
    message: str = ""
    data: dict[str, Any] = Field(default_factory=dict)

    def to_json_line(self) -> str:
        """One trace line, with every known secret scrubbed."""
        return redact(self.model_dump_json())


EventSink = Callable[[Event], None]


class EventBus:
    """Fan-out of events to subscribers; a failing subscriber is logged, never fatal to the run."""

    def __init__(self, run_id: str | None = None) -> None:
        self.run_id = run_id
        self._subscribers: list[EventSink] = []

    def subscribe(self, sink: EventSink) -> Callable[[], None]:
        self._subscribers.append(sink)

        def unsubscribe() -> None:
            if sink in self._subscribers:
                self._subscribers.remove(sink)

        return unsubscribe

    def emit(self, type: EventType, message: str = "", **fields: Any) -> Event:
        step = fields.pop("step", None)
        role = fields.pop("role", None)
        event = Event(type=type, run_id=self.run_id, step=step, role=role, message=message, data=fields)
        self.publish(event)
        return event

    def publish(self, event: Event) -> None:
        for sink in list(self._subscribers):
            try:
                sink(event)
            except Exception:  # a broken display must not break a run
                log.exception("event subscriber %r failed on %s", sink, event.type)
