"""Record a real session's model answers as a script for the scripted server (`--record FILE`).

Each answer the LLM client accepts is appended, per model, in the order it arrived; replaying
the script with `baton scripted-llm` (or an eval case's `session`) gives the pipeline the same
answers, so a real session becomes a deterministic regression case. Agents that call one model
at once (the module agents of `baton parallel`) ask in another order on every run: their answers
carry their conversation's route (`Conversation.route`, the module's heading) as `when`, so the
replay hands each answer to the request with that content, whatever the order. Answers are untrusted text:
known secrets (API keys, registered secret values) are scrubbed and absolute paths (the
workspace, sandboxes, the home folder) are made relative before anything is written.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from pathlib import Path
from typing import Any

from ..redact import redact
from .conversation import AssistantTurn
from .script import RecordingMeta, Script, ScriptedReply, ScriptedToolCall

# The sandbox folders Baton makes (`baton-sandbox-XXXX/ws`) wherever the temp dir is.
_SANDBOX = re.compile(r"(?:/[^\s\"'`]*?)?/baton-sandbox-[A-Za-z0-9_]+/ws(?=/|\b)/?")


class SessionRecorder:
    """Collects accepted model answers; thread-safe (agents of a run answer concurrently)."""

    def __init__(self, workspace: Path | str | None = None, meta: RecordingMeta | None = None) -> None:
        self.workspace = str(Path(workspace).resolve()) if workspace is not None else None
        self.meta = meta
        self._replies: dict[str, list[ScriptedReply]] = {}
        self._lock = threading.Lock()

    def add(self, model: str, turn: AssistantTurn, when: str | None = None) -> None:
        """Keep one accepted answer; `when` (text only its agent's requests hold) routes it on replay."""
        calls = [ScriptedToolCall(name=c.name, arguments=self._arguments(c.arguments)) for c in turn.tool_calls]
        content = self.scrub(turn.content) if turn.content else None
        if not content and not calls:
            content = " "  # an empty answer (a script reply needs a message) replays as a blank one
        reply = ScriptedReply(content=content, tool_calls=calls, when=[self.scrub(when)] if when else [])
        with self._lock:
            self._replies.setdefault(model, []).append(reply)

    @property
    def calls(self) -> int:
        with self._lock:
            return sum(len(v) for v in self._replies.values())

    def script(self) -> Script:
        with self._lock:
            models = {m: list(r) for m, r in self._replies.items()}
        return Script(models=models or {"*": []}, meta=self.meta)

    def to_json(self) -> str:
        data = self.script().model_dump(mode="json", exclude_none=True, exclude_defaults=True)
        data.setdefault("models", {})
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"

    def save(self, path: Path | str) -> Path:
        """Write the script atomically (a cancelled run still leaves a whole file, never half of one)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".baton-record-", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(self.to_json())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    # ------------------------------------------------------------------ scrubbing

    def scrub(self, text: str) -> str:
        text = redact(text)
        if self.workspace:
            text = text.replace(self.workspace + "/", "").replace(self.workspace, ".")
        text = _SANDBOX.sub("", text)
        home = os.path.expanduser("~")
        if home not in ("", "/"):
            text = text.replace(home + "/", "~/")
        return text

    def _arguments(self, raw: str) -> dict[str, Any] | str:
        try:
            parsed = json.loads(raw)
        except (json.JSONDecodeError, TypeError):
            return self.scrub(raw or "")  # malformed JSON replays as the same malformed text
        if isinstance(parsed, dict):
            return _scrub_tree(parsed, self.scrub)
        return self.scrub(raw)


def _scrub_tree(value: Any, scrub: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, list):
        return [_scrub_tree(v, scrub) for v in value]
    if isinstance(value, dict):
        return {k: _scrub_tree(v, scrub) for k, v in value.items()}
    return value


def recorder_for(workspace: Path, settings: Any, task: Any, run_id: str | None = None) -> SessionRecorder:
    """A recorder whose script names each role's model (so a replay needs no --models)."""
    from .. import __version__

    meta = RecordingMeta(roles={r.value: c.model for r, c in settings.roles.items()}, pattern=task.pattern.value,
                         task=task.text, run_id=run_id, baton_version=__version__)
    return SessionRecorder(workspace, meta)
