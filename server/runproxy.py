"""The server's side of the run host (runhost.py): one child process runs every run, started
at initialize (so the first run does not wait for the openai SDK to import) and again after
it dies. Everything here runs on the server's event loop and never blocks it: the pipes are
asyncio streams."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Callable
from typing import Any

from baton.pipelines.config import Settings
from baton.pipelines.engine import OverlayDoc, RunResult
from baton.pipelines.events import Event, EventType
from baton.pipelines.models import (
    ChangeSet,
    Plan,
    Review,
    RunRecord,
    RunStatus,
    Task,
    TestReport,
    utcnow,
)

log = logging.getLogger(__name__)

LIMIT = 256 * 1024 * 1024  # a result line carries whole file texts
RELEASE_TIMEOUT_S = 30.0


class RunProxy:
    """A run in the run host as the server sees it: its record (status kept current from the
    events), cancel, release the plan gate, wait for the result."""

    def __init__(self, host: RunHost, run_id: str, record: RunRecord, on_event: Callable[[Event], None]) -> None:
        self.host, self.id, self.record, self.on_event = host, run_id, record, on_event
        self.result: asyncio.Future[RunResult] = asyncio.get_running_loop().create_future()

    def done(self) -> bool:
        return self.result.done()

    def cancel(self, reason: str) -> bool:
        """Ask the run to stop; False when it has already ended."""
        if self.done():
            return False
        self.host.send({"op": "cancel", "id": self.id, "reason": reason})
        return True

    async def release(self, plan: Plan) -> bool:
        """Hand the (edited) plan to the waiting run; False when it is not waiting any more."""
        return await self.host.release(self.id, plan)

    async def wait(self) -> RunResult:
        return await asyncio.shield(self.result)

    def event(self, ev: Event) -> None:
        if ev.type is EventType.waiting:
            self.record.status = RunStatus.waiting
        elif ev.type in (EventType.run_started, EventType.step_started) and not self.done():
            self.record.status = RunStatus.running
        self.on_event(ev)

    def finish(self, result: RunResult) -> None:
        if not self.done():
            self.record = result.record
            self.result.set_result(result)

    def fail(self, error: str) -> None:
        rec = self.record.model_copy(update={"status": RunStatus.failed, "error": error, "finished_at": utcnow()})
        self.finish(RunResult(record=rec))


class RunHost:
    """Starts the run host process on demand and routes its messages to the runs."""

    def __init__(self, log_level: str = "INFO") -> None:
        self.log_level = log_level
        self.preload: list[str] = []
        self.runs: dict[str, RunProxy] = {}
        self.proc: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()
        self._reader: asyncio.Task[None] | None = None
        self._released: dict[str, asyncio.Future[bool]] = {}
        self._stopping = False

    async def ensure(self) -> None:
        """The process, started if it is not running."""
        async with self._lock:
            if self.proc is not None and self.proc.returncode is None:
                return
            self._stopping = False
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "baton.server.runhost", self.log_level, *self.preload,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=LIMIT)
            log.info("run host started (pid %s)", self.proc.pid)
            self._reader = asyncio.get_running_loop().create_task(self._read(self.proc))

    def send(self, message: dict[str, Any]) -> None:
        if self.proc is None or self.proc.stdin is None or self.proc.returncode is not None:
            return  # it died; its runs have been failed already
        with contextlib.suppress(ConnectionError, RuntimeError):
            self.proc.stdin.write((json.dumps(message, separators=(",", ":")) + "\n").encode())

    async def start(self, run_id: str, pattern: str, task: Task, settings: Settings,
                    overlay: dict[str, OverlayDoc], gate: bool, on_event: Callable[[Event], None]) -> RunProxy:
        await self.ensure()
        record = RunRecord(id=run_id, pattern=task.pattern, task=task.text, scope=task.scope, status=RunStatus.pending)
        proxy = RunProxy(self, run_id, record, on_event)
        self.runs[run_id] = proxy
        self.send({"op": "start", "id": run_id, "pattern": pattern, "task": task.model_dump(mode="json"),
                   "settings": settings.model_dump(mode="json"), "api_key": settings.api_key_value(),
                   "overlay": {p: [d.text, d.version] for p, d in overlay.items()}, "gate": gate})
        return proxy

    async def release(self, run_id: str, plan: Plan) -> bool:
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._released[run_id] = answer
        self.send({"op": "release", "id": run_id, "plan": plan.model_dump(mode="json")})
        try:
            return await asyncio.wait_for(answer, RELEASE_TIMEOUT_S)
        except TimeoutError:
            return False
        finally:
            self._released.pop(run_id, None)

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        try:
            while line := await proc.stdout.readline():
                try:
                    self._dispatch(json.loads(line))
                except Exception:
                    log.exception("run host: could not handle %r", line[:200])
        finally:
            code = await proc.wait()
            if not self._stopping:
                log.warning("the run host exited (code %s); its runs failed, the next run starts a new one", code)
            for proxy in self.runs.values():
                proxy.fail(f"the run process exited unexpectedly (exit code {code}); see the language server's log")
            for answer in self._released.values():
                if not answer.done():
                    answer.set_result(False)

    def _dispatch(self, msg: dict[str, Any]) -> None:
        kind, proxy = msg.get("kind"), self.runs.get(msg.get("id", ""))
        if kind == "released":
            answer = self._released.get(msg["id"])
            if answer is not None and not answer.done():
                answer.set_result(bool(msg.get("ok")))
        elif proxy is None:
            return
        elif kind == "event":
            proxy.event(Event.model_validate(msg["event"]))
        elif kind == "result":
            proxy.finish(_result(msg["result"]))
        elif kind == "error":
            proxy.fail(f"the run could not run: {msg.get('message')}")

    async def shutdown(self, grace_s: float = 10.0) -> None:
        """Cancel every run, let the host record it (up to `grace_s`), then make sure it is gone."""
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        self._stopping = True
        if all(p.done() for p in self.runs.values()):
            proc.terminate()  # nothing to record: no need to wait for it to finish starting up
        else:
            self.send({"op": "shutdown"})
        try:
            await asyncio.wait_for(proc.wait(), grace_s + 2)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._reader, 5)


def _result(data: dict[str, Any]) -> RunResult:
    def load(model: Any, key: str) -> Any:
        return None if data.get(key) is None else model.model_validate(data[key])

    return RunResult(record=RunRecord.model_validate(data["record"]), changeset=load(ChangeSet, "changeset"),
                     plan=load(Plan, "plan"), review=load(Review, "review"), tests=load(TestReport, "tests"))
