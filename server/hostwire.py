"""The messages between the language server (runproxy.py) and its run host (runhost.py).

One JSON object per line each way, each a pydantic model, told apart by `op` (to the host) or
`kind` (from it): a discriminated union, so a message of an unknown shape is an error that
names the field, not a KeyError three calls later. The host's first line is `hello` with
PROTOCOL_VERSION: a server and a host from two different Baton installs (the package was
upgraded while the editor kept the old server running) refuse to talk instead of
misreading each other.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from baton.pipelines.events import Event
from baton.pipelines.models import ChangeSet, Plan, Review, RunRecord, Task, TestReport

PROTOCOL_VERSION = 2  # 2: the host's log records travel as `log` messages


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ----------------------------------------------------------------- server → host


class StartRun(_Message):
    op: Literal["start"] = "start"
    id: str
    pattern: str = Field(description="module:function of the pattern to run")
    task: Task
    settings: dict[str, Any] = Field(description="Settings.model_dump(mode='json'): the key travels apart")
    api_key: str | None = None
    overlay: dict[str, tuple[str, int | None]] = Field(default_factory=dict, description="path → (text, version)")
    gate: bool = False


class CancelRun(_Message):
    op: Literal["cancel"] = "cancel"
    id: str
    reason: str


class ReleasePlan(_Message):
    op: Literal["release"] = "release"
    id: str
    plan: Plan


class Shutdown(_Message):
    op: Literal["shutdown"] = "shutdown"


ToHost = Annotated[StartRun | CancelRun | ReleasePlan | Shutdown, Field(discriminator="op")]


# ----------------------------------------------------------------- host → server


class Hello(_Message):
    kind: Literal["hello"] = "hello"
    protocol: int
    pid: int
    version: str


class RunEvent(_Message):
    kind: Literal["event"] = "event"
    id: str
    event: Event


class RunEnded(_Message):
    kind: Literal["result"] = "result"
    id: str
    record: RunRecord
    changeset: ChangeSet | None = None
    plan: Plan | None = None
    review: Review | None = None
    tests: TestReport | None = None


class Released(_Message):
    kind: Literal["released"] = "released"
    id: str
    ok: bool


class RunError(_Message):
    kind: Literal["error"] = "error"
    id: str
    message: str


class HostLog(_Message):
    """One of the host's log records (secrets scrubbed): the server passes it on to the editor
    as window/logMessage with the record's level, so every editor sees Warning as a warning."""

    kind: Literal["log"] = "log"
    level: int = Field(description="The logging level number (logging.INFO, logging.WARNING, ...).")
    name: str = Field(description="The logger's name, e.g. baton.pipelines.recovery.")
    message: str = Field(description="The formatted message, with the traceback if there is one.")


FromHost = Annotated[Hello | RunEvent | RunEnded | Released | RunError | HostLog, Field(discriminator="kind")]

TO_HOST: TypeAdapter[ToHost] = TypeAdapter(ToHost)
FROM_HOST: TypeAdapter[FromHost] = TypeAdapter(FromHost)


def encode(message: _Message) -> bytes:
    """One line of the protocol (secrets are not scrubbed here: the pipe is private)."""
    return message.model_dump_json().encode("utf-8") + b"\n"
